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
    /// `OTEL_RESOURCE_ATTRIBUTES`, the span limits and `OTEL_BSP_*`. An
    /// empty variable is an unset one; a bad value is a warning on stderr
    /// naming the variable, and is ignored (the general variable, else the
    /// default, holds).
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
        let t = Transport::from_lookup(env, "TRACES");
        OtlpConfig {
            endpoint: t.endpoint.unwrap_or_else(|| traces_url(&t.base)),
            headers: t.headers,
            timeout: t.timeout,
            protocol: t.protocol,
            compression: t.compression,
            resource: Resource::from_lookup(env),
            limits: SpanLimits::from_lookup(env),
            batch: BatchConfig::from_lookup(env),
        }
    }
}

/// What the exporters of every signal read alike: each setting from its
/// signal's variable (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`), which wins,
/// or the general one (`OTEL_EXPORTER_OTLP_TIMEOUT`). An empty variable is
/// an unset one, as OpenTelemetry's configuration says (a manifest's
/// `""` does not hide the general value); a bad one is a warning that
/// names the variable it came from, and is ignored (the general variable,
/// else the default, holds). Names of protocols and compressions are
/// read in any case.
pub(crate) struct Transport {
    /// The signal's endpoint, used as is, if set.
    pub(crate) endpoint: Option<String>,
    /// The general endpoint (or the default), to which the signal's path
    /// is added.
    pub(crate) base: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) protocol: Protocol,
    pub(crate) compression: Compression,
}

impl Transport {
    /// Reads the variables of `signal` (`TRACES`, `METRICS`).
    pub(crate) fn from_lookup(env: &Lookup<'_>, signal: &str) -> Transport {
        let set = |key: &str| {
            env(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        // The first of `name`'s variables (the signal's, then the general
        // one) whose value `parse` takes. A value it refuses is a warning
        // and ignored, as OpenTelemetry says of a bad value, so the general
        // variable (or the default) holds: a typo in the metrics' own
        // protocol does not also undo a valid general one.
        fn first<T>(
            set: &dyn Fn(&str) -> Option<String>,
            signal: &str,
            name: &str,
            parse: &dyn Fn(&str, &str) -> Option<T>,
        ) -> Option<T> {
            [
                format!("OTEL_EXPORTER_OTLP_{signal}_{name}"),
                format!("OTEL_EXPORTER_OTLP_{name}"),
            ]
            .into_iter()
            .find_map(|key| set(&key).and_then(|raw| parse(&key, &raw)))
        }
        let mut t = Transport {
            endpoint: set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")),
            base: set("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            protocol: Protocol::default(),
            compression: Compression::default(),
        };
        // Headers: a variable none of whose entries is well formed is
        // ignored as a whole (its entries were each a warning).
        if let Some(headers) = first(&set, signal, "HEADERS", &|key, raw| {
            Some(crate::env::pairs(key, raw)).filter(|pairs| !pairs.is_empty())
        }) {
            t.headers = headers;
        }
        if let Some(timeout) = first(&set, signal, "TIMEOUT", &|key, raw| {
            crate::env::positive(key, raw).map(Duration::from_millis)
        }) {
            t.timeout = timeout;
        }
        let protocols = [
            ("http/protobuf", Protocol::HttpProtobuf),
            ("http/json", Protocol::HttpJson),
        ];
        if let Some(protocol) = first(&set, signal, "PROTOCOL", &|key, raw| {
            if raw.trim().eq_ignore_ascii_case("grpc") {
                // Common, and silently useless if only ignored: the port
                // such a setting comes with (4317) speaks gRPC only.
                crate::warn(format_args!(
                    "{key}=\"grpc\" is not supported: tracekit-otlp sends OTLP over HTTP \
                     (http/protobuf, http/json); point the endpoint at the receiver's OTLP/HTTP \
                     port (4318 by default), not its gRPC one (4317); ignored"
                ));
                return None;
            }
            crate::env::one_of(key, raw, &protocols)
        }) {
            t.protocol = protocol;
        }
        let compressions = [("gzip", Compression::Gzip), ("none", Compression::None)];
        if let Some(compression) = first(&set, signal, "COMPRESSION", &|key, raw| {
            crate::env::one_of(key, raw, &compressions)
        }) {
            t.compression = compression;
        }
        t
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
