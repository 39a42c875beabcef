//! What the exporter sends where: in code, or from the standard
//! `OTEL_*` variables.

use crate::encode::SpanLimits;
use crate::env::Lookup;
use crate::resource::Resource;
use std::time::Duration;
use tracekit::BatchConfig;

/// The body format.
///
/// ```
/// assert_eq!(tracekit_otlp::Protocol::default(), tracekit_otlp::Protocol::HttpProtobuf);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: `application/x-protobuf` (the default).
    #[default]
    HttpProtobuf,
    /// `http/json`: `application/json`.
    HttpJson,
}

/// Compression of the request body.
///
/// ```
/// assert_eq!(tracekit_otlp::Compression::default(), tracekit_otlp::Compression::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Sent as is (the default).
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// Where and how spans are exported.
///
/// ```
/// use tracekit_otlp::{OtlpConfig, Protocol, Resource};
/// let config = OtlpConfig {
///     protocol: Protocol::HttpJson,
///     ..OtlpConfig::new("http://tempo:4318", Resource::new("checkout"))
/// };
/// assert_eq!(config.endpoint, "http://tempo:4318/v1/traces");
/// ```
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    /// The full URL spans are POSTed to (`.../v1/traces`).
    pub endpoint: String,
    /// Extra request headers (an API key, say).
    pub headers: Vec<(String, String)>,
    /// The longest one HTTP request may take (zero: the default, 10 s).
    pub timeout: Duration,
    /// Protobuf or JSON.
    pub protocol: Protocol,
    /// Body compression.
    pub compression: Compression,
    /// Who emits the spans.
    pub resource: Resource,
    /// Caps on each span.
    pub limits: SpanLimits,
    /// Queueing and batching.
    pub batch: BatchConfig,
}

/// The bound on one request when none is given (`OTEL_EXPORTER_OTLP_TIMEOUT`'s
/// default, 10 s); a timeout of zero set in code means it too.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an OTLP/HTTP receiver listens by default.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

impl OtlpConfig {
    /// Sends to an OTLP/HTTP base URL (`/v1/traces` is appended) with
    /// every other setting at its default.
    ///
    /// ```
    /// let c = tracekit_otlp::OtlpConfig::new("http://localhost:4318/", tracekit_otlp::Resource::new("a"));
    /// assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
    /// ```
    pub fn new(base_url: &str, resource: Resource) -> OtlpConfig {
        OtlpConfig {
            endpoint: traces_url(base_url),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            protocol: Protocol::default(),
            compression: Compression::default(),
            resource,
            limits: SpanLimits::default(),
            batch: BatchConfig::default(),
        }
    }

    /// From the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces`),
    /// `..._HEADERS`, `..._TIMEOUT` (ms), `..._PROTOCOL` (`http/protobuf`,
    /// `http/json`), `..._COMPRESSION` (`gzip`, `none`) — each also in its
    /// `_TRACES_` form, which wins — with `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, the span limits and `OTEL_BSP_*`. A bad
    /// value is a warning on stderr and the default.
    ///
    /// ```
    /// let c = tracekit_otlp::OtlpConfig::from_env();
    /// assert!(c.endpoint.ends_with("/v1/traces") || std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_ok());
    /// ```
    pub fn from_env() -> OtlpConfig {
        OtlpConfig::from_lookup(&crate::env::process())
    }

    #[doc(hidden)]
    pub fn from_lookup(env: &Lookup<'_>) -> OtlpConfig {
        // The signal-specific variable wins over the general one.
        let var = |name: &str| -> Option<String> {
            env(&format!("OTEL_EXPORTER_OTLP_TRACES_{name}"))
                .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")))
                .map(|v| v.trim().to_owned())
        };
        let endpoint = match env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => traces_url(
                env("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .unwrap_or(DEFAULT_ENDPOINT),
            ),
        };
        let mut config = OtlpConfig::new(DEFAULT_ENDPOINT, Resource::from_lookup(env));
        config.endpoint = endpoint;
        if let Some(raw) = var("HEADERS") {
            config.headers = crate::env::pairs("OTEL_EXPORTER_OTLP_HEADERS", &raw);
        }
        let timeout_key = if env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
        } else {
            "OTEL_EXPORTER_OTLP_TIMEOUT"
        };
        config.timeout = crate::env::millis(env, timeout_key, config.timeout);
        if let Some(raw) = var("PROTOCOL") {
            config.protocol = match raw.as_str() {
                "http/protobuf" => Protocol::HttpProtobuf,
                "http/json" => Protocol::HttpJson,
                other => {
                    crate::warn(format_args!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported (http/protobuf, http/json); using http/protobuf"
                    ));
                    Protocol::HttpProtobuf
                }
            };
        }
        if let Some(raw) = var("COMPRESSION") {
            config.compression = match raw.as_str() {
                "gzip" => Compression::Gzip,
                "none" | "" => Compression::None,
                other => {
                    crate::warn(format_args!(
                        "OTEL_EXPORTER_OTLP_COMPRESSION={other:?} is not supported (gzip, none); sending uncompressed"
                    ));
                    Compression::None
                }
            };
        }
        config.limits = SpanLimits::from_lookup(env);
        config.batch = BatchConfig::from_lookup(env);
        config
    }
}

/// Whether the standard variables ask for OTLP export: an endpoint is set
/// and `OTEL_SDK_DISABLED` is not `true`.
pub(crate) fn wanted(env: &Lookup<'_>) -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return false;
    }
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
}

fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}
