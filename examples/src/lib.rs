//! The examples are the `[[example]]` targets of this package; this library
//! holds what they share.

use tracekit::{ConsoleReporter, ReporterGuard};

/// Log lines on stderr, each logged inside a span stamped with its
/// `trace_id`, `span_id` and `request.id` (tracekit-log around a plain-text
/// logger); warnings and errors also become events of the span.
pub fn install_logger() {
    let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr());
    if let Err(e) = logger.install(log::LevelFilter::Info) {
        eprintln!("no log lines: {e}");
    }
}

/// Where an example's spans go: over OTLP/HTTP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set — Jaeger,
/// Tempo, a Collector — under this service name, else to the console. The
/// guard exports what is left when `main` returns.
pub fn install_reporter(service: &str) -> ReporterGuard {
    if let Some(otlp) = tracekit_otlp::from_env_as(service) {
        eprintln!("{service}: exporting spans over OTLP");
        return tracekit::set_reporter(otlp);
    }
    tracekit::set_reporter(ConsoleReporter::stdout().with_service_name(service))
}
