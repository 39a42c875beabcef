//! What tracekit's own crates and tests reach inside the runtime for: not
//! public API, names and signatures change without notice.

use crate::local::with_state;

/// The service name the environment gives (`OTEL_SERVICE_NAME`, else the
/// last `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), for `tracekit-otlp`,
/// so that its resource and the console name a process alike.
pub fn service_name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    crate::data::service::name_from(env)
}

/// The resource the environment gives, as the Prometheus text's
/// `target_info` carries it, for `tracekit-otlp`'s `Resource`.
pub fn resource_from(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    crate::data::service::resource_from(env)
}

/// `key=value,...` pairs, values percent-decoded, malformed entries skipped
/// with a warning naming `key`: for `OTEL_EXPORTER_OTLP_HEADERS`.
pub fn parse_pairs(key: &str, raw: &str) -> Vec<(String, String)> {
    crate::data::service::pairs(key, raw)
}

/// Tells `span` a panic unwound through its request or call, for metrics
/// (a request counts as failed with `error.type` `panic`, sampled or not);
/// for `tracekit-tower`, which records the panic on the span itself.
pub fn metrics_panicked(span: &mut crate::Span) {
    if let Some(d) = span.owned.as_mut() {
        d.panicked();
    }
}

/// Tells `span`, a gRPC server call's, that no gRPC service answered it (a
/// response that is not gRPC's): metrics count it under method `_OTHER`,
/// since its names are only what the caller wrote. For `tracekit-tower`.
pub fn grpc_not_served(span: &mut crate::Span) {
    if let Some(d) = span.owned.as_mut() {
        d.grpc_not_served();
    }
}

/// Tells `span` its request failed with an error in place of its response,
/// known only by its type (`std::any::type_name`, for an error that is only
/// `Display`): metrics count it failed with that `error.type`, whatever
/// status a handler recorded before (never sent). Returns the name, for
/// the span's own attribute. For `tracekit-tower`.
pub fn request_failed_with(span: &mut crate::Span, type_name: &'static str) -> String {
    match span.owned.as_mut() {
        Some(d) => {
            d.no_response();
            d.request_failed_with(type_name).into_owned()
        }
        None => crate::data::error_parts::readable_type_name(type_name).into_owned(),
    }
}

/// The `telemetry.sdk.*` resource attributes, for `tracekit-otlp`.
pub const SDK_ATTRIBUTES: [(&str, &str); 3] = crate::data::service::SDK;

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

/// The instant `after` from now, or a century from now when `after` is
/// longer (`Duration::MAX` for "never"), where adding would overflow and
/// panic. For `tracekit-otlp`'s metrics thread.
pub fn instant_after(after: std::time::Duration) -> std::time::Instant {
    crate::data::clock::instant_after(after)
}

/// Test hook: a histogram that counted one call of each of `durations` and
/// whose sum is `sum` (which a snapshot taken during a call's count may see
/// ahead of, or behind, its bucket).
pub fn histogram_of(
    durations: &[std::time::Duration],
    sum: std::time::Duration,
) -> crate::metrics::Histogram {
    crate::data::metrics::Histogram::of(durations, sum)
}
