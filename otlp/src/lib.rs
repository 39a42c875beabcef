//! Export tracekit spans over OTLP/HTTP — protobuf or JSON — to Jaeger
//! (1.35+ and 2), Grafana Tempo, the OpenTelemetry Collector or any other
//! OTLP receiver, off the application's threads.
//!
//! ```no_run
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=checkout
//! let _guard = match tracekit_otlp::from_env() {
//!     Some(otlp) => tracekit::set_reporter(otlp),
//!     None => tracekit::set_reporter(tracekit::ConsoleReporter::stdout()),
//! };
//! // ... the guard's drop exports what is left, by one deadline for all of it (5 s).
//! ```
//!
//! The pipeline: the collector hands finished spans to a
//! [`BatchReporter`] (bounded queue, batches, its
//! own thread), which calls [`OtlpExporter`] with each batch. When the
//! backend is slow or down, spans are dropped and counted
//! ([`ExportStats`](tracekit::ExportStats)); the application never waits.

#![warn(missing_docs)]

mod config;
mod encode;
mod env;
mod exporter;
mod file;
mod json;
mod metrics;
#[doc(hidden)]
pub mod proto;
mod resource;
mod wire;

pub use config::{Compression, DEFAULT_ENDPOINT, OtlpConfig, Protocol};
pub use encode::SpanLimits;
pub use exporter::OtlpExporter;
pub use file::FileExporter;
pub use metrics::{
    HistogramAggregation, MetricsExporter, MetricsGuard, OtlpMetricsConfig, Temporality,
    metrics_from_env, metrics_from_env_as, start_metrics,
};
pub use resource::Resource;

use tracekit::BatchReporter;

/// A reporter exporting to this configuration: an [`OtlpExporter`] behind a
/// [`BatchReporter`] with the configuration's batch settings.
///
/// ```
/// let config = tracekit_otlp::OtlpConfig::new("http://localhost:4318", tracekit_otlp::Resource::new("api"));
/// let reporter = tracekit_otlp::reporter(config);
/// let stats = reporter.stats(); // read it while the reporter runs
/// # drop(reporter);
/// # let _ = stats;
/// ```
pub fn reporter(config: OtlpConfig) -> BatchReporter {
    BatchReporter::new(OtlpExporter::new(&config), config.batch)
}

/// The reporter the standard variables ask for, or `None` when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is unset or
/// `OTEL_SDK_DISABLED=true`; see [`OtlpConfig::from_env`].
///
/// ```
/// if let Some(otlp) = tracekit_otlp::from_env() {
///     let _guard = tracekit::set_reporter(otlp);
/// }
/// ```
pub fn from_env() -> Option<BatchReporter> {
    config::wanted(&env::process()).then(|| reporter(OtlpConfig::from_env()))
}

/// [`from_env`], with this `service.name` whatever `OTEL_SERVICE_NAME`
/// says: for programs that are several services (one per process role).
///
/// ```
/// let reporter = tracekit_otlp::from_env_as("backend");
/// # drop(reporter);
/// ```
pub fn from_env_as(service_name: &str) -> Option<BatchReporter> {
    config::wanted(&env::process()).then(|| {
        let mut config = OtlpConfig::from_env();
        config.resource = config
            .resource
            .with("service.name", service_name.to_owned());
        reporter(config)
    })
}

/// Configuration mistakes and export trouble: through tracekit's
/// diagnostics (one line on stderr, or the program's logger).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    tracekit::__support::warn(format_args!("otlp: {message}"));
}

#[doc(hidden)]
pub mod __test {
    //! For the crate's own tests: encoding without sending.
    use super::*;

    /// The bodies an exporter for `config` would send, before compression.
    pub fn encoder(config: &OtlpConfig) -> impl FnMut(&[tracekit::SpanRecord]) -> Vec<u8> {
        let mut exporter = OtlpExporter::new(config);
        move |batch| exporter.body(batch).0
    }

    /// The request as message structs, what the protobuf body must decode to.
    pub fn structs(
        config: &OtlpConfig,
        batch: &[tracekit::SpanRecord],
    ) -> proto::ExportTraceServiceRequest {
        encode::request(&encode::resource(&config.resource), &config.limits, batch)
    }

    /// Whether the variables ask for OTLP export.
    pub fn wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
        config::wanted(env)
    }

    /// Whether the variables ask for OTLP metrics.
    pub fn metrics_wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
        metrics::wanted(env)
    }

    /// The metrics configuration these variables make.
    pub fn metrics_config(env: &dyn Fn(&str) -> Option<String>) -> OtlpMetricsConfig {
        OtlpMetricsConfig::from_lookup(env)
    }

    /// The metrics request an exporter makes of `metrics` at `now`, as
    /// message structs, and its JSON text.
    pub fn metrics_request(
        exporter: &mut MetricsExporter,
        metrics: &tracekit::metrics::Metrics,
        now: u64,
    ) -> (proto::ExportMetricsServiceRequest, String) {
        let r = exporter.request(metrics, now);
        let json = json::metrics(&r);
        (r, json)
    }
}
