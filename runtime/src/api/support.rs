//! What tracekit's own crates and tests reach inside the runtime for: not
//! public API, names and signatures change without notice.

use crate::local::with_state;

/// The service name the environment gives (`OTEL_SERVICE_NAME`, else the
/// last `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), for `tracekit-otlp`,
/// so that its resource and the console name a process alike.
pub fn service_name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    crate::data::service::name_from(env)
}

/// The baggage percent-decoding, for `tracekit-otlp`'s `OTEL_*` values
/// (which follow the same W3C Baggage rules).
pub fn percent_decode(value: &str) -> Option<String> {
    crate::data::percent::decode(value)
}

/// Says `message` through tracekit's diagnostics (stderr, or the sink set
/// with `set_diagnostics`), for tracekit's other crates.
pub fn warn(message: std::fmt::Arguments<'_>) {
    crate::data::diag::warn(message);
}

/// Test hook: advances this thread's span tokens as if `n` spans had been
/// started (and finished) since, without making them.
pub fn skip_span_starts(n: u64) {
    with_state(|s| s.skip_tokens(n));
}
