//! Span-derived metrics over OTLP/HTTP: tracekit's metrics snapshot,
//! every `interval`, as an `ExportMetricsServiceRequest` to `/v1/metrics`,
//! from a thread of its own; the last interval is sent at shutdown.

use crate::config::{Compression, Protocol};
use crate::env::Lookup;
use crate::exporter::{Sender, Signal};
use crate::{Resource, encode, json, proto};
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tracekit::ExportError;
use tracekit::metrics::{Histogram, Metrics};

/// Whether each export sends totals since metrics were first switched on,
/// or what changed since the last export
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
///
/// ```
/// assert_eq!(tracekit_otlp::Temporality::default(), tracekit_otlp::Temporality::Cumulative);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Temporality {
    /// Totals since counting began (metrics first switched on;
    /// OpenTelemetry's default).
    #[default]
    Cumulative,
    /// What changed since the last export to the same endpoint, headers
    /// and resource, whichever exporter made it; series with no new call
    /// are left out.
    Delta,
}

/// How durations are sent
/// (`OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`).
///
/// ```
/// use std::time::Duration;
/// let explicit = tracekit_otlp::HistogramAggregation::Explicit(vec![Duration::from_millis(10)]);
/// # drop(explicit);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistogramAggregation {
    /// Base-2 exponential buckets, at most this many (OpenTelemetry's
    /// `base2_exponential_bucket_histogram`, 160 by default): the scale is
    /// the finest at which every duration fits, and at most 3 (tracekit
    /// counts durations in 16 equal steps per power of two, the lowest of
    /// which is wider than a scale-4 bucket).
    Exponential {
        /// The most buckets a data point may have.
        max_size: usize,
    },
    /// Buckets with these upper bounds. OpenTelemetry's default list,
    /// however given, yields to the HTTP and function instruments' advised
    /// bounds (`tracekit::metrics::REQUEST_BOUNDS`, `FUNCTION_BOUNDS`); any
    /// other list is kept as given.
    Explicit(Vec<Duration>),
}

impl Default for HistogramAggregation {
    fn default() -> HistogramAggregation {
        HistogramAggregation::Exponential { max_size: 160 }
    }
}

/// Where and how metrics are exported: the standard `OTEL_*` variables, or
/// set in code.
///
/// ```
/// let c = tracekit_otlp::OtlpMetricsConfig::new("http://localhost:4318", tracekit_otlp::Resource::new("api"));
/// assert_eq!(c.endpoint, "http://localhost:4318/v1/metrics");
/// assert_eq!(c.interval, std::time::Duration::from_secs(60));
/// ```
#[derive(Clone, Debug)]
pub struct OtlpMetricsConfig {
    /// The full URL metrics are POSTed to.
    pub endpoint: String,
    /// Extra request headers (authentication, tenant).
    pub headers: Vec<(String, String)>,
    /// The time one export may take, retries included (zero: the
    /// default, 10 s).
    pub timeout: Duration,
    /// Protobuf or JSON.
    pub protocol: Protocol,
    /// Gzip or none.
    pub compression: Compression,
    /// The process's resource (`service.name` and more).
    pub resource: Resource,
    /// How often metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL`);
    /// zero is the default, 60 s, and `Duration::MAX` exports only when
    /// flushed and at shutdown.
    pub interval: Duration,
    /// Cumulative or delta.
    pub temporality: Temporality,
    /// Exponential or explicit buckets.
    pub histogram: HistogramAggregation,
}

impl OtlpMetricsConfig {
    /// `base_url` plus `/v1/metrics`, every export a minute apart, the rest
    /// at the defaults.
    ///
    /// ```
    /// let c = tracekit_otlp::OtlpMetricsConfig::new("http://collector:4318/", tracekit_otlp::Resource::new("api"));
    /// assert_eq!(c.endpoint, "http://collector:4318/v1/metrics");
    /// ```
    pub fn new(base_url: &str, resource: Resource) -> OtlpMetricsConfig {
        OtlpMetricsConfig {
            endpoint: format!("{}/v1/metrics", base_url.trim_end_matches('/')),
            headers: Vec::new(),
            timeout: crate::config::DEFAULT_TIMEOUT,
            protocol: Protocol::HttpProtobuf,
            compression: Compression::None,
            resource,
            interval: Duration::from_secs(60),
            temporality: Temporality::Cumulative,
            histogram: HistogramAggregation::default(),
        }
    }

    /// From the standard variables: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`
    /// (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/metrics`);
    /// `OTEL_EXPORTER_OTLP_{HEADERS,TIMEOUT,PROTOCOL,COMPRESSION}`, each also
    /// in a `_METRICS_` form, which wins; `OTEL_METRIC_EXPORT_INTERVAL` (ms,
    /// 60000); `OTEL_METRIC_EXPORT_TIMEOUT` (ms, 30000: an export, retries
    /// included, takes the shorter of it and the exporter's own timeout);
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
    /// (`cumulative`, `delta`, `lowmemory` = delta here) and
    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`
    /// (`base2_exponential_bucket_histogram`, tracekit's default, or
    /// `explicit_bucket_histogram` with OpenTelemetry's default bounds, the
    /// SDKs' own default, for a backend without exponential histograms;
    /// instruments with advised bounds get those: the HTTP durations 5 ms
    /// to 10 s, functions `tracekit::metrics::FUNCTION_BOUNDS`).
    /// An empty variable is an unset one (an empty `_METRICS_` form leaves
    /// the general variable in force).
    /// A bad value is a warning and the default.
    ///
    /// ```
    /// let c = tracekit_otlp::OtlpMetricsConfig::from_env();
    /// assert!(c.endpoint.ends_with("/v1/metrics") || std::env::var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_ok());
    /// ```
    pub fn from_env() -> OtlpMetricsConfig {
        OtlpMetricsConfig::from_lookup(&crate::env::process())
    }

    pub(crate) fn from_lookup(env: &Lookup<'_>) -> OtlpMetricsConfig {
        let shared = crate::config::Transport::from_lookup(env, "METRICS");
        // An empty value is an unset one, as the SDKs' configuration says.
        let set = |key: &str| {
            env(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint = shared
            .endpoint
            .unwrap_or_else(|| format!("{}/v1/metrics", shared.base.trim_end_matches('/')));
        let interval = crate::env::millis(env, "OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_INTERVAL);
        // The periodic reader's bound on one export (the SDKs' 30 s by
        // default) over the exporter's own: the shorter of the two holds.
        let timeout = shared.timeout.min(crate::env::millis(
            env,
            "OTEL_METRIC_EXPORT_TIMEOUT",
            DEFAULT_EXPORT_TIMEOUT,
        ));
        let temporality = match set("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("cumulative") => Temporality::Cumulative,
            Some("delta" | "lowmemory") => Temporality::Delta,
            Some(other) => {
                crate::warn(format_args!(
                    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE={other:?} is not cumulative, delta or lowmemory; using cumulative"
                ));
                Temporality::Cumulative
            }
        };
        let histogram = match set("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("base2_exponential_bucket_histogram") => HistogramAggregation::default(),
            Some("explicit_bucket_histogram") => HistogramAggregation::Explicit(
                OTEL_DEFAULT_BOUNDS_MS
                    .iter()
                    .map(|&ms| Duration::from_millis(ms))
                    .collect(),
            ),
            Some(other) => {
                crate::warn(format_args!(
                    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION={other:?} is not supported; using base2_exponential_bucket_histogram"
                ));
                HistogramAggregation::default()
            }
        };
        OtlpMetricsConfig {
            endpoint,
            headers: shared.headers,
            timeout,
            protocol: shared.protocol,
            compression: shared.compression,
            resource: Resource::from_lookup(env),
            interval,
            temporality,
            histogram,
        }
    }
}

/// OpenTelemetry's default explicit bounds, read as milliseconds (the
/// SDKs' defaults are unit-less: 0 to 10,000).
const OTEL_DEFAULT_BOUNDS_MS: [u64; 15] = [
    0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 7_500, 10_000,
];

/// Whether the variables ask for OTLP metrics: an endpoint is set (the
/// shared one, or the metrics one) and `OTEL_SDK_DISABLED` is not `true`,
/// and `OTEL_METRICS_EXPORTER` is unset or names `otlp`.
pub(crate) fn wanted(env: &Lookup<'_>) -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || env("OTEL_METRICS_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
    {
        return false;
    }
    // A list of exporters (`otlp`, the default; `prometheus`, `console`):
    // OTLP only when it is named.
    if let Some(exporters) = env("OTEL_METRICS_EXPORTER").filter(|v| !v.trim().is_empty()) {
        // A name no SDK knows is a typo the user should hear of (the
        // specification's rule for an unknown value): said, and it names
        // no OTLP export.
        let known = ["otlp", "prometheus", "console", "logging", "none"];
        for e in exporters
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if !known.iter().any(|k| e.eq_ignore_ascii_case(k)) {
                crate::warn(format_args!(
                    "OTEL_METRICS_EXPORTER names {e:?}, which is not an exporter \
                     (otlp, prometheus, console, logging, none); ignored"
                ));
            }
        }
        if !exporters
            .split(',')
            .any(|e| e.trim().eq_ignore_ascii_case("otlp"))
        {
            return false;
        }
    }
    [
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Encodes tracekit's metrics as OTLP and sends them: one request per
/// export, every series a data point.
///
/// ```
/// let mut e = tracekit_otlp::MetricsExporter::new(&tracekit_otlp::OtlpMetricsConfig::new(
///     "http://localhost:4318",
///     tracekit_otlp::Resource::new("api"),
/// ));
/// # drop(e);
/// ```
pub struct MetricsExporter {
    sender: Sender,
    protocol: Protocol,
    resource: proto::Resource,
    temporality: Temporality,
    histogram: HistogramAggregation,
    /// When the exporter started: the start of every cumulative point
    /// when the snapshot does not say when counting began.
    start: u64,
    /// The delta stream it adds to: its endpoint and resource (see
    /// [`BASELINES`]).
    stream: String,
}

/// What a delta stream (one endpoint, its headers and one resource) was
/// last sent: when,
/// and each series as it stood. Kept per stream, not per exporter, and
/// read and moved under one lock by each export: an exporter made again
/// (a guard restarted) or two alive at once (a guard replaced, the new one
/// made before the old one drops) send what changed since the stream's
/// last export, never counts the stream already carried; an export whose
/// snapshot is older than the baseline (taken before another exporter's
/// export, locked after it) sends nothing and moves nothing back. An
/// export that fails loses its interval, as the SDKs' delta readers do.
#[derive(Default)]
struct Baseline {
    /// The start of every delta point; `None` before the first export
    /// (counting's start then).
    last: Option<u64>,
    /// Each series as last exported, by its id.
    previous: HashMap<String, (Histogram, u64)>,
}

static BASELINES: Mutex<Option<HashMap<String, Baseline>>> = Mutex::new(None);

impl MetricsExporter {
    /// An exporter for this configuration (its `interval` is the periodic
    /// export's business: [`start_metrics`]).
    pub fn new(config: &OtlpMetricsConfig) -> MetricsExporter {
        let now = encode::unix_nanos(SystemTime::now());
        let resource = encode::resource(&config.resource);
        // The resource's attributes in key order: the same resource given
        // in another order is the same stream.
        let mut attributes: Vec<String> = config
            .resource
            .attributes()
            .iter()
            .map(|(k, v)| format!("{k:?}={v:?}"))
            .collect();
        attributes.sort();
        // The headers too: two tenants of one endpoint are two streams.
        let mut headers: Vec<String> = config
            .headers
            .iter()
            .map(|(k, v)| format!("{:?}={v:?}", k.to_ascii_lowercase()))
            .collect();
        headers.sort();
        let stream = format!(
            "{:?} {} {}",
            config.endpoint,
            headers.join(","),
            attributes.join(",")
        );
        MetricsExporter {
            sender: Sender::new(
                &config.endpoint,
                &config.headers,
                config.timeout,
                config.compression,
                Signal::Metrics,
            ),
            protocol: config.protocol,
            resource,
            temporality: config.temporality,
            // Bounds ascending, each once, as OTLP's explicit bounds must be.
            histogram: match &config.histogram {
                HistogramAggregation::Explicit(bounds) => {
                    let mut bounds = bounds.clone();
                    bounds.sort();
                    bounds.dedup();
                    HistogramAggregation::Explicit(bounds)
                }
                other => other.clone(),
            },
            start: now,
            stream,
        }
    }

    /// Sends `metrics` (a [`tracekit::metrics::snapshot`]), retrying until
    /// `deadline`. Nothing is sent when there is nothing to say. A delta
    /// export moves its stream's baseline before it sends: one that fails
    /// loses its interval (as the SDKs' delta readers do), and a snapshot
    /// older than the stream's last export sends nothing of it.
    pub fn export(&mut self, metrics: &Metrics, deadline: Instant) -> Result<(), ExportError> {
        let request = self.request(metrics, encode::unix_nanos(SystemTime::now()));
        let points: usize = request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        if points == 0 {
            return Ok(());
        }
        let (body, content_type) = match self.protocol {
            Protocol::HttpProtobuf => (request.encode_to_vec(), "application/x-protobuf"),
            Protocol::HttpJson => (json::metrics(&request).into_bytes(), "application/json"),
        };
        self.sender.post(body, content_type, deadline).map(|_| ())
    }

    /// The request for `metrics` at `now` (unix nanoseconds); moves the
    /// delta baseline to it.
    pub(crate) fn request(
        &mut self,
        metrics: &Metrics,
        now: u64,
    ) -> proto::ExportMetricsServiceRequest {
        let delta = self.temporality == Temporality::Delta;
        // Counts run from when metrics were first switched on: a cumulative
        // point starts there, and so does the first delta point.
        let counting = metrics
            .start_time()
            .map_or(self.start, encode::unix_nanos)
            .min(now);
        // A delta export holds its stream's baseline throughout, so that
        // another exporter of the stream sends after it, from its `now`.
        let mut baselines = delta.then(|| BASELINES.lock().unwrap_or_else(|e| e.into_inner()));
        let mut scratch = Baseline::default();
        let baseline = match baselines.as_mut() {
            Some(b) => b
                .get_or_insert_with(HashMap::new)
                .entry(self.stream.clone())
                .or_default(),
            None => &mut scratch,
        };
        let start = match (delta, baseline.last) {
            // Clamped: a wall clock stepped back gives an empty interval,
            // never one that ends before it starts.
            (true, Some(last)) => last.min(now),
            _ => counting,
        };
        let temporality = if delta {
            proto::DELTA
        } else {
            proto::CUMULATIVE
        };
        let mut instruments: Vec<Instrument> = Vec::new();
        for f in metrics.functions() {
            let (id, attributes) = match f.point() {
                Some(p) => (
                    format!("f:{}:{}", p.namespace(), p.function()),
                    vec![
                        kv(
                            "code.function.name",
                            proto::Value::StringValue(p.path().to_owned()),
                        ),
                        kv(
                            "code.namespace",
                            proto::Value::StringValue(p.namespace().to_owned()),
                        ),
                    ],
                ),
                None => (
                    "f:overflow".to_owned(),
                    vec![kv("otel.metric.overflow", proto::Value::BoolValue(true))],
                ),
            };
            // The calls that succeeded, then the failed ones by error.type:
            // each its own series, which only ever grows.
            let mut errors = 0;
            for (error_type, h) in f.series() {
                let (histogram, attributes) = match error_type {
                    None => {
                        let (histogram, e) = since(baseline, id.clone(), h, f.errors(), delta);
                        errors = e;
                        (histogram, attributes.clone())
                    }
                    Some(t) => {
                        let (histogram, _) = since(baseline, format!("{id}:{t}"), h, 0, delta);
                        let mut attributes = attributes.clone();
                        attributes.push(kv("error.type", proto::Value::StringValue(t.to_owned())));
                        (histogram, attributes)
                    }
                };
                if histogram.count() > 0 {
                    instrument(&mut instruments, FUNCTION, "s").push(histogram, attributes);
                }
            }
            if errors > 0 || !delta {
                instrument(&mut instruments, FUNCTION_ERRORS, "{error}")
                    .errors
                    .push(proto::NumberDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        as_int: Some(i64::try_from(errors).unwrap_or(i64::MAX)),
                        flags: 0,
                    });
            }
        }
        for r in metrics.requests() {
            let attributes: Vec<proto::KeyValue> = r
                .attributes()
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        tracekit::Value::I64(i) => proto::Value::IntValue(*i),
                        tracekit::Value::Bool(b) => proto::Value::BoolValue(*b),
                        other => proto::Value::StringValue(other.to_string()),
                    };
                    kv(k, value)
                })
                .collect();
            // Values quoted and escaped (`Debug`): a route holding `,` or
            // `=` cannot read as another series' attributes.
            let id = format!(
                "r:{}:{}",
                r.instrument(),
                r.attributes()
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let (histogram, _) = since(baseline, id, r.duration(), r.errors(), delta);
            if histogram.count() == 0 {
                continue;
            }
            let unit = if r.is_grpc() { "ms" } else { "s" };
            instrument(&mut instruments, r.instrument(), unit).push(histogram, attributes);
        }
        if delta {
            // Never back: an older snapshot's export, or a wall clock
            // stepped back, leaves the next start where it was.
            baseline.last = Some(baseline.last.map_or(now, |last| last.max(now)));
        }
        drop(baselines);
        let metrics = instruments
            .into_iter()
            .map(|i| self.metric(i, start, now, temporality))
            .collect();
        proto::ExportMetricsServiceRequest {
            resource_metrics: vec![proto::ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![proto::ScopeMetrics {
                    scope: Some(proto::InstrumentationScope {
                        name: "tracekit".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn metric(&self, i: Instrument, start: u64, now: u64, temporality: i32) -> proto::Metric {
        // Durations are divided by the nanoseconds in a unit, which rounds
        // once: a multiply by 1e-9 (not exact in binary) would send 75 ms
        // as 0.07500000000000001, not the bound other SDKs send.
        let ns_per_unit = if i.unit == "ms" { 1e6 } else { 1e9 };
        if i.name == FUNCTION_ERRORS {
            return proto::Metric {
                name: i.name.to_owned(),
                description:
                    "Traced function calls that failed: an Err, a panic or an error status."
                        .to_owned(),
                unit: i.unit.to_owned(),
                data: Some(proto::MetricData::Sum(proto::Sum {
                    data_points: i.errors,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
            };
        }
        let description = match i.name {
            FUNCTION => "Duration of traced function calls, sampled or not.",
            "http.server.request.duration" => "Duration of HTTP server requests.",
            "http.client.request.duration" => "Duration of HTTP client requests.",
            "rpc.server.duration" => "Duration of inbound RPCs.",
            _ => "Duration of outbound RPCs.",
        };
        let data = match &self.histogram {
            HistogramAggregation::Exponential { max_size } => {
                proto::MetricData::ExponentialHistogram(proto::ExponentialHistogram {
                    data_points: i
                        .points
                        .iter()
                        .map(|(h, attributes)| {
                            exponential_point(h, attributes, ns_per_unit, *max_size, start, now)
                        })
                        .collect(),
                    aggregation_temporality: temporality,
                })
            }
            HistogramAggregation::Explicit(bounds) => {
                let bounds = advised(i.name, bounds);
                proto::MetricData::Histogram(proto::Histogram {
                    data_points: i
                        .points
                        .iter()
                        .map(|(h, attributes)| {
                            explicit_point(h, attributes, bounds, ns_per_unit, start, now)
                        })
                        .collect(),
                    aggregation_temporality: temporality,
                })
            }
        };
        proto::Metric {
            name: i.name.to_owned(),
            description: description.to_owned(),
            unit: i.unit.to_owned(),
            data: Some(data),
        }
    }
}

/// The bounds instrument `name` gets: OpenTelemetry's default list (what
/// the environment's `explicit_bucket_histogram` gives) yields to the
/// instrument's advice, as the SDKs apply advice when no view sets bounds:
/// the HTTP durations' 5 ms to 10 s ([`tracekit::metrics::REQUEST_BOUNDS`],
/// the same `le` set as other SDKs send), and tracekit's own function
/// instrument's 1 µs to 10 s ([`tracekit::metrics::FUNCTION_BOUNDS`]: a
/// 100 µs call is not in a first bucket that runs to 5 ms). Told by the
/// values: that list written in code yields too; any other list is a
/// view's, kept as given.
fn advised<'a>(name: &str, bounds: &'a [Duration]) -> &'a [Duration] {
    let default = bounds.len() == OTEL_DEFAULT_BOUNDS_MS.len()
        && bounds
            .iter()
            .zip(OTEL_DEFAULT_BOUNDS_MS)
            .all(|(b, ms)| *b == Duration::from_millis(ms));
    match default {
        true if name.starts_with("http.") => &tracekit::metrics::REQUEST_BOUNDS,
        true if name == FUNCTION => &tracekit::metrics::FUNCTION_BOUNDS,
        _ => bounds,
    }
}

/// tracekit's instrument for plain functions.
const FUNCTION: &str = "tracekit.function.duration";
/// And its error counter.
const FUNCTION_ERRORS: &str = "tracekit.function.errors";

/// One instrument's data points, gathered before encoding.
struct Instrument {
    name: &'static str,
    unit: &'static str,
    points: Vec<(Histogram, Vec<proto::KeyValue>)>,
    errors: Vec<proto::NumberDataPoint>,
}

impl Instrument {
    fn push(&mut self, h: Histogram, attributes: Vec<proto::KeyValue>) {
        self.points.push((h, attributes));
    }
}

fn instrument<'a>(
    all: &'a mut Vec<Instrument>,
    name: &'static str,
    unit: &'static str,
) -> &'a mut Instrument {
    match all.iter().position(|i| i.name == name) {
        Some(at) => &mut all[at],
        None => {
            all.push(Instrument {
                name,
                unit,
                points: Vec::new(),
                errors: Vec::new(),
            });
            let last = all.len() - 1;
            &mut all[last]
        }
    }
}

fn kv(key: &str, value: proto::Value) -> proto::KeyValue {
    proto::KeyValue {
        key: key.to_owned(),
        value: Some(proto::AnyValue { value: Some(value) }),
    }
}

/// A duration bucket's representative value in the instrument's unit: its
/// middle (a bucket one nanosecond wide holds only its lower bound).
fn middle(lower: Duration, upper: Duration, ns_per_unit: f64) -> f64 {
    let (lo, hi) = (lower.as_nanos() as f64, upper.as_nanos() as f64);
    let mid = if hi - lo <= 1.0 {
        lo
    } else {
        lo + (hi - lo) / 2.0
    };
    mid / ns_per_unit
}

/// The exponential bucket index of `v` at `scale`: bucket `i` holds
/// (base^i, base^(i+1)] with base = 2^(2^-scale).
fn index(v: f64, scale: i32) -> i64 {
    (v.log2() * 2f64.powi(scale)).ceil() as i64 - 1
}

/// The finest scale that fits, at most 3. tracekit's buckets are 1/16 of
/// a power of two wide, in equal steps, so the lowest in each power of two
/// spans a ratio of 17/16, more than a scale-4 bucket (2^(1/16)): at scale
/// 4 some buckets could never be filled, and a heatmap would show stripes
/// that are not in the data. A scale-3 bucket (2^(1/8)) always holds the
/// middle of one of tracekit's.
const MAX_SCALE: i32 = 3;
const MIN_SCALE: i32 = -10;

fn exponential_point(
    h: &Histogram,
    attributes: &[proto::KeyValue],
    ns_per_unit: f64,
    max_size: usize,
    start: u64,
    now: u64,
) -> proto::ExponentialHistogramDataPoint {
    let mut zero = 0;
    let mut values: Vec<(f64, u64)> = Vec::new();
    for (lower, upper, n) in h.buckets() {
        let v = middle(lower, upper, ns_per_unit);
        if v <= 0.0 {
            zero += n;
        } else {
            values.push((v, n));
        }
    }
    let max_size = i64::try_from(max_size.max(1)).unwrap_or(i64::MAX);
    let mut scale = MAX_SCALE;
    let (mut offset, mut counts) = (0, Vec::new());
    if let (Some(first), Some(last)) = (values.first(), values.last()) {
        while scale > MIN_SCALE && index(last.0, scale) - index(first.0, scale) + 1 > max_size {
            scale -= 1;
        }
        let low = index(first.0, scale);
        counts = vec![0u64; (index(last.0, scale) - low + 1) as usize];
        for (v, n) in &values {
            counts[(index(*v, scale) - low) as usize] += n;
        }
        offset = low as i32;
    }
    proto::ExponentialHistogramDataPoint {
        attributes: attributes.to_vec(),
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: h.count(),
        sum: Some(h.sum().as_nanos() as f64 / ns_per_unit),
        scale,
        zero_count: zero,
        positive: Some(proto::Buckets {
            offset,
            bucket_counts: counts,
        }),
        flags: 0,
    }
}

fn explicit_point(
    h: &Histogram,
    attributes: &[proto::KeyValue],
    bounds: &[Duration],
    ns_per_unit: f64,
    start: u64,
    now: u64,
) -> proto::HistogramDataPoint {
    let mut counts = Vec::with_capacity(bounds.len() + 1);
    let mut below = 0;
    for b in bounds {
        let at_most = h.count_at_most(*b);
        counts.push(at_most.saturating_sub(below));
        below = at_most;
    }
    counts.push(h.count().saturating_sub(below));
    proto::HistogramDataPoint {
        attributes: attributes.to_vec(),
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: h.count(),
        sum: Some(h.sum().as_nanos() as f64 / ns_per_unit),
        bucket_counts: counts,
        explicit_bounds: bounds
            .iter()
            .map(|b| b.as_nanos() as f64 / ns_per_unit)
            .collect(),
        flags: 0,
    }
}

/// Exports tracekit's metrics every interval on a thread of its own, and
/// once more when dropped (the last interval), within the export timeout.
/// Made by [`start_metrics`] or [`metrics_from_env`].
///
/// ```no_run
/// let config = tracekit_otlp::OtlpMetricsConfig::new("http://localhost:4318", tracekit_otlp::Resource::new("api"));
/// let metrics = tracekit_otlp::start_metrics(config);
/// // ... serve ...
/// drop(metrics); // sends what the last interval counted
/// ```
#[must_use = "metrics are exported only while the guard lives: `let _ = ...` drops it at once"]
pub struct MetricsGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    stop: bool,
    /// When the guard was dropped: the last export ends within the
    /// timeout from then, however long the one under way took.
    stop_at: Option<Instant>,
    /// Exports asked for by `flush`, and made.
    asked: u64,
    made: u64,
    /// Exports that failed, for the tests and the curious.
    failures: u64,
}

/// The series `id` and its error count as an export sends them: the whole
/// of them (cumulative), or what changed since the stream's last export
/// (delta), which `baseline` then holds.
fn since(
    baseline: &mut Baseline,
    id: String,
    h: &Histogram,
    errors: u64,
    delta: bool,
) -> (Histogram, u64) {
    if !delta {
        return (h.clone(), errors);
    }
    let (d, e, kept) = match baseline.previous.get(&id) {
        // Counts only grow: fewer than the baseline's is a snapshot taken
        // before the one the stream last sent, all of it sent already.
        Some((before, before_errors)) if h.count() < before.count() || errors < *before_errors => {
            return (Histogram::default(), 0);
        }
        Some((before, before_errors)) => {
            let d = h.since(before);
            // Nothing new counted in the histogram: its baseline stays, so
            // that a sum read ahead of its call's bucket (a snapshot taken
            // while the call was being counted) goes out with that call
            // next time instead of into a baseline no point was sent from.
            // The error count moves on its own: a function's failed calls
            // are counted apart from the succeeded ones this series holds.
            let kept = match d.count() {
                0 => before.clone(),
                _ => h.clone(),
            };
            (d, errors - before_errors, kept)
        }
        None => {
            let kept = match h.count() {
                0 => Histogram::default(),
                _ => h.clone(),
            };
            (kept.clone(), errors, kept)
        }
    };
    baseline.previous.insert(id, (kept, errors));
    (d, e)
}

/// Starts exporting tracekit's metrics as `config` says, and switches
/// metrics on ([`tracekit::metrics::set_enabled`]).
///
/// ```no_run
/// let _metrics = tracekit_otlp::start_metrics(tracekit_otlp::OtlpMetricsConfig::from_env());
/// ```
#[must_use = "metrics are exported only while the guard lives: `let _ = ...` drops it at once"]
pub fn start_metrics(config: OtlpMetricsConfig) -> MetricsGuard {
    tracekit::metrics::set_enabled(true);
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
    });
    let mut exporter = MetricsExporter::new(&config);
    // Zero is no period and no time at all: the SDKs' defaults instead,
    // not a thread exporting without pause.
    let interval = match config.interval {
        Duration::ZERO => DEFAULT_INTERVAL,
        d => d,
    };
    let timeout = match config.timeout {
        Duration::ZERO => crate::config::DEFAULT_TIMEOUT,
        d => d,
    };
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("tracekit-otlp-metrics".into())
        .spawn(move || {
            let shared = for_thread;
            // Exports keep to a fixed period, however long each takes (a
            // backend that is down takes the whole timeout); a flush asked
            // for in between does not move it.
            let mut next = tracekit::__support::instant_after(interval);
            loop {
                let (stop, stop_at, asked, made) = {
                    let state = lock(&shared.state);
                    let wait = next.saturating_duration_since(Instant::now());
                    let (state, _) = shared
                        .wake
                        .wait_timeout_while(state, wait, |s| !s.stop && s.asked == s.made)
                        .unwrap_or_else(|e| e.into_inner());
                    (state.stop, state.stop_at, state.asked, state.made)
                };
                let now = Instant::now();
                if now >= next {
                    next = next.checked_add(interval).unwrap_or(next);
                    if next <= now {
                        next = tracekit::__support::instant_after(interval);
                    }
                }
                // A flush or the last export counts every call that
                // returned (the collector's queue taken here, so the
                // reporter may run on this thread); a periodic one what the
                // collector has counted, so a slow reporter never holds up
                // the metrics.
                let metrics = if stop || asked > made {
                    tracekit::metrics::snapshot()
                } else {
                    tracekit::metrics::collected()
                };
                // Once the guard is dropped, its drop waits one timeout in
                // all: an export under way then (a backend that hangs) uses
                // some of it, and the last export has what is left.
                let deadline = tracekit::__support::instant_after(timeout);
                let deadline = match stop_at.and_then(|at| at.checked_add(timeout)) {
                    Some(end) => deadline.min(end),
                    None => deadline,
                };
                let result = exporter.export(&metrics, deadline);
                if let Err(e) = &result {
                    crate::warn(format_args!("metrics export failed: {e}"));
                }
                let mut state = lock(&shared.state);
                state.made = state.made.max(asked);
                state.failures += u64::from(result.is_err());
                shared.wake.notify_all();
                if stop {
                    return;
                }
            }
        })
        .ok();
    if thread.is_none() {
        crate::warn(format_args!(
            "cannot start the metrics thread; metrics are not exported"
        ));
    }
    MetricsGuard { shared, thread }
}

/// The metrics export the standard variables ask for, or `None` when no
/// OTLP endpoint is set, `OTEL_METRICS_EXPORTER` does not name `otlp`
/// (`none`, `prometheus`) or
/// `OTEL_SDK_DISABLED=true`; see [`OtlpMetricsConfig::from_env`].
///
/// ```
/// let _metrics = tracekit_otlp::metrics_from_env();
/// ```
#[must_use = "metrics are exported only while the guard lives: `let _ = ...` drops it at once"]
pub fn metrics_from_env() -> Option<MetricsGuard> {
    wanted(&crate::env::process()).then(|| start_metrics(OtlpMetricsConfig::from_env()))
}

/// [`metrics_from_env`], with this `service.name` whatever
/// `OTEL_SERVICE_NAME` says: for programs that are several services (one
/// per process role), as [`from_env_as`](crate::from_env_as) is for spans.
///
/// ```
/// let _metrics = tracekit_otlp::metrics_from_env_as("backend");
/// ```
#[must_use = "metrics are exported only while the guard lives: `let _ = ...` drops it at once"]
pub fn metrics_from_env_as(service_name: &str) -> Option<MetricsGuard> {
    wanted(&crate::env::process()).then(|| {
        let mut config = OtlpMetricsConfig::from_env();
        config.resource = config
            .resource
            .with("service.name", service_name.to_owned());
        start_metrics(config)
    })
}

/// The periodic export's period when none is given (the SDKs' 60 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The periodic reader's bound on one export when
/// `OTEL_METRIC_EXPORT_TIMEOUT` is unset (the SDKs' 30 s).
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MetricsGuard {
    /// Exports now, and waits for it (at most `timeout`). Returns whether
    /// the export was made and succeeded.
    ///
    /// ```no_run
    /// # let metrics = tracekit_otlp::start_metrics(tracekit_otlp::OtlpMetricsConfig::from_env());
    /// metrics.flush(std::time::Duration::from_secs(5));
    /// ```
    pub fn flush(&self, timeout: Duration) -> bool {
        if self.thread.is_none() {
            return false;
        }
        let mut state = lock(&self.shared.state);
        let failures = state.failures;
        state.asked += 1;
        let want = state.asked;
        self.shared.wake.notify_all();
        let (state, _) = self
            .shared
            .wake
            .wait_timeout_while(state, timeout, |s| s.made < want)
            .unwrap_or_else(|e| e.into_inner());
        state.made >= want && state.failures == failures
    }
}

impl Drop for MetricsGuard {
    /// Sends the last interval, then stops the thread: within the export
    /// timeout from now, an export under way included.
    fn drop(&mut self) {
        {
            let mut state = lock(&self.shared.state);
            state.stop = true;
            state.stop_at = Some(Instant::now());
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_durations_take_their_advice_over_the_default_bounds() {
        let default: Vec<Duration> = OTEL_DEFAULT_BOUNDS_MS
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        let http = advised("http.server.request.duration", &default);
        assert_eq!(http.first(), Some(&Duration::from_millis(5)), "no 0 bound");
        assert_eq!(http, &default[1..], "the default without its 0");
        assert_eq!(advised("http.client.request.duration", &default), http);
        let functions = advised(FUNCTION, &default);
        assert_eq!(functions.first(), Some(&Duration::from_micros(1)));
        assert_eq!(functions.last(), Some(&Duration::from_secs(10)));
        // RPC has no advice: the default as it is.
        assert_eq!(advised("rpc.server.duration", &default), &default[..]);
        // Bounds set in code are a view's: kept as given.
        let own = [Duration::ZERO, Duration::from_millis(1)];
        assert_eq!(advised("http.server.request.duration", &own), &own[..]);
    }

    /// tracekit's buckets in one power of two of nanoseconds, `2^e`:
    /// 16 equal steps (the runtime's documented layout).
    fn octave(e: u32) -> impl Iterator<Item = (Duration, Duration)> {
        let step = 1u64 << (e - 4);
        (16..32).map(move |k| {
            (
                Duration::from_nanos(k * step),
                Duration::from_nanos((k + 1) * step),
            )
        })
    }

    /// The exponential buckets the middles of tracekit's buckets over a few
    /// powers of two fall in, at `scale`: whether every one between the
    /// first and the last is reached.
    fn no_stripes(scale: i32) -> bool {
        let mut hit: Vec<i64> = (10..14)
            .flat_map(octave)
            .map(|(lo, hi)| index(middle(lo, hi, 1e9), scale))
            .collect();
        hit.dedup();
        hit.windows(2).all(|w| w[1] == w[0] + 1)
    }

    #[test]
    fn every_exponential_bucket_can_be_filled_at_the_largest_scale() {
        assert!(no_stripes(MAX_SCALE));
        // One finer, and some buckets would stay empty whatever the data.
        assert!(!no_stripes(MAX_SCALE + 1));
    }

    #[test]
    fn a_delta_sum_read_ahead_of_its_bucket_goes_out_with_its_call() {
        let ms = Duration::from_millis;
        let of = tracekit::__support::histogram_of;
        let mut b = Baseline::default();
        let (first, _) = since(&mut b, "f".into(), &of(&[ms(1)], ms(1)), 0, true);
        assert_eq!((first.count(), first.sum()), (1, ms(1)));
        // Taken while a 10 s call was being counted: its sum is in, its
        // bucket not yet. No histogram point goes out.
        let (torn, _) = since(&mut b, "f".into(), &of(&[ms(1)], ms(10_001)), 0, true);
        assert_eq!(torn.count(), 0);
        // The next has all of it: the call goes out whole.
        let whole = of(&[ms(1), ms(10_000)], ms(10_001));
        let (next, _) = since(&mut b, "f".into(), &whole, 0, true);
        assert_eq!((next.count(), next.sum()), (1, ms(10_000)));
        // A function that only fails has no new succeeded call, and its
        // failures go out each interval all the same.
        for failed in 1..=3 {
            let (h, errors) = since(&mut b, "f".into(), &whole, failed, true);
            assert_eq!((h.count(), errors), (0, 1), "interval {failed}");
        }
        // A series first seen with nothing counted but its sum waits too,
        // and its errors go out at once.
        let (early, errors) = since(&mut b, "g".into(), &of(&[], ms(5)), 2, true);
        assert_eq!((early.count(), errors), (0, 2));
        let (later, _) = since(&mut b, "g".into(), &of(&[ms(5)], ms(5)), 2, true);
        assert_eq!((later.count(), later.sum()), (1, ms(5)));
    }

    #[test]
    fn explicit_bounds_are_sent_ascending_and_once() {
        let mut c = OtlpMetricsConfig::new("http://localhost:4318", crate::Resource::new("x"));
        let ms = Duration::from_millis;
        c.histogram = HistogramAggregation::Explicit(vec![ms(10), ms(1), ms(10), ms(5)]);
        let e = MetricsExporter::new(&c);
        assert_eq!(
            e.histogram,
            HistogramAggregation::Explicit(vec![ms(1), ms(5), ms(10)])
        );
    }

    #[test]
    fn bounds_and_sums_read_as_written() {
        let h = tracekit::metrics::Histogram::default();
        let bounds = [Duration::from_millis(75), Duration::from_millis(7_500)];
        let seconds = explicit_point(&h, &[], &bounds, 1e9, 0, 0);
        assert_eq!(seconds.explicit_bounds, [0.075, 7.5]);
        let millis = explicit_point(&h, &[], &[Duration::from_micros(9_999)], 1e6, 0, 0);
        assert_eq!(millis.explicit_bounds, [9.999]);
    }
}
