//! Metrics in the Prometheus text exposition format (version 0.0.4).

use crate::data::metrics::{FunctionMetrics, Histogram, Metrics};
use std::fmt::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Renders [`Metrics`] as Prometheus text, with explicit bucket bounds.
///
/// Each trace point is one histogram series of
/// `tracekit_function_duration_seconds` (OpenTelemetry's
/// `tracekit.function.duration`, in seconds), labelled `code_function_name`
/// (the function's full path) and `code_namespace` (and `error_type` for
/// the failed calls, one series
/// per type), and one `tracekit_function_errors_total` counter.
/// The process's resource comes first as one `target_info` series of value
/// 1, its attributes as labels, as OpenTelemetry's Prometheus exporters
/// write it (the rest carry none of them). Every other series carries the
/// instrumentation scope as `otel_scope_name="tracekit"` and
/// `otel_scope_version` (OpenTelemetry's Prometheus compatibility rules;
/// [`Prometheus::scope_info`] leaves them out).
/// A call is counted in a bucket `le` when the internal bucket that holds
/// it lies wholly at or below the bound, so one within 1/16 of a power of
/// two below a bound may appear under the next bound up.
///
/// ```
/// use std::time::Duration;
/// let text = tracekit::metrics::Prometheus::new()
///     .buckets([Duration::from_millis(1), Duration::from_millis(10)])
///     .render(&tracekit::metrics::snapshot());
/// assert!(text.starts_with("# HELP target_info"));
/// assert!(text.contains("# HELP tracekit_function_duration_seconds"));
/// ```
#[derive(Clone, Debug)]
pub struct Prometheus {
    buckets: Vec<Duration>,
    request_buckets: Vec<Duration>,
    target_info: Arc<[(String, String)]>,
    scope_info: bool,
}

/// The resource the environment gives, read once: a malformed
/// `OTEL_RESOURCE_ATTRIBUTES` is said once, not at every scrape.
fn resource() -> Arc<[(String, String)]> {
    static RESOURCE: OnceLock<Arc<[(String, String)]>> = OnceLock::new();
    RESOURCE
        .get_or_init(|| crate::data::service::resource_from(&|k| std::env::var(k).ok()).into())
        .clone()
}

impl Default for Prometheus {
    fn default() -> Prometheus {
        Prometheus::new()
    }
}

impl Prometheus {
    /// Bounds from 1 µs to 10 s; `target_info` from the environment
    /// (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, read once a
    /// process; the OTLP exporters read them when each is made).
    ///
    /// ```
    /// let _ = tracekit::metrics::Prometheus::new();
    /// ```
    pub fn new() -> Prometheus {
        Prometheus {
            buckets: crate::data::metrics::FUNCTION_BOUNDS.to_vec(),
            request_buckets: crate::data::metrics::REQUEST_BOUNDS.to_vec(),
            target_info: resource(),
            scope_info: true,
        }
    }

    /// Whether every series but `target_info` carries the
    /// `otel_scope_name` and `otel_scope_version` labels (on by default, as
    /// OpenTelemetry's Prometheus exporters write them; its
    /// `scope_info_enabled` setting).
    ///
    /// ```
    /// let text = tracekit::metrics::Prometheus::new()
    ///     .scope_info(false)
    ///     .render(&tracekit::metrics::snapshot());
    /// assert!(!text.contains("otel_scope_name"));
    /// ```
    pub fn scope_info(mut self, enabled: bool) -> Prometheus {
        self.scope_info = enabled;
        self
    }

    /// The labels of a series: its own, then the scope's.
    fn series_labels(&self, own: &str) -> String {
        match (self.scope_info, own.is_empty()) {
            (false, _) => own.to_owned(),
            (true, true) => SCOPE_LABELS.to_owned(),
            (true, false) => format!("{own},{SCOPE_LABELS}"),
        }
    }

    /// Sets the attributes of `target_info` (by default the resource the
    /// environment gives); none leaves it out. Names are written as
    /// Prometheus labels: `service.name` is `service_name`.
    ///
    /// ```
    /// let text = tracekit::metrics::Prometheus::new()
    ///     .target_info([("service.name", "checkout"), ("deployment.environment", "prod")])
    ///     .render(&tracekit::metrics::snapshot());
    /// assert!(text.contains("target_info{deployment_environment=\"prod\",service_name=\"checkout\"} 1"));
    /// ```
    pub fn target_info<K: Into<String>, V: Into<String>>(
        mut self,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Prometheus {
        self.target_info = attributes
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Sets `service.name` in `target_info`, keeping the resource's other
    /// attributes: for a program that is several services (one per
    /// process role), as `tracekit_otlp::metrics_from_env_as` does for OTLP.
    ///
    /// ```
    /// let text = tracekit::metrics::Prometheus::new()
    ///     .service_name("backend")
    ///     .render(&tracekit::metrics::snapshot());
    /// assert!(text.contains("service_name=\"backend\""));
    /// ```
    pub fn service_name(mut self, name: impl Into<String>) -> Prometheus {
        let name = name.into();
        let mut attributes: Vec<(String, String)> = self
            .target_info
            .iter()
            .filter(|(k, _)| k != "service.name")
            .cloned()
            .collect();
        attributes.push(("service.name".to_owned(), name));
        self.target_info = attributes.into();
        self
    }

    /// Sets the bucket bounds (sorted and deduplicated here; `+Inf` is
    /// always added).
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = tracekit::metrics::Prometheus::new().buckets([Duration::from_millis(5)]);
    /// ```
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = Duration>) -> Prometheus {
        self.buckets = sorted(bounds);
        self
    }

    /// Sets the bucket bounds of request durations (HTTP and gRPC; by
    /// default OpenTelemetry's, 5 ms to 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = tracekit::metrics::Prometheus::new().request_buckets([Duration::from_millis(1)]);
    /// ```
    pub fn request_buckets(mut self, bounds: impl IntoIterator<Item = Duration>) -> Prometheus {
        self.request_buckets = sorted(bounds);
        self
    }

    /// The text Prometheus scrapes, for every function and request series
    /// in `metrics`.
    ///
    /// ```
    /// let text = tracekit::metrics::Prometheus::new().render(&tracekit::metrics::snapshot());
    /// assert!(text.contains("# TYPE tracekit_function_errors_total counter"));
    /// ```
    pub fn render(&self, metrics: &Metrics) -> String {
        let mut out = String::new();
        if let Some(labels) = info_labels(&self.target_info) {
            out.push_str(
                "# HELP target_info Target metadata\n\
                 # TYPE target_info gauge\n",
            );
            let _ = writeln!(out, "target_info{{{labels}}} 1");
        }
        out.push_str(
            "# HELP tracekit_function_duration_seconds Duration of traced function calls, sampled or not.\n\
             # TYPE tracekit_function_duration_seconds histogram\n",
        );
        for f in metrics.functions() {
            // The calls that succeeded, then the failed ones by error_type:
            // each its own series, which only ever grows. A function's
            // first series is left out while it is empty and others exist.
            let labels = labels(f);
            for (i, (error_type, h)) in f.series().enumerate() {
                if i == 0 && h.count() == 0 && f.series().nth(1).is_some() {
                    continue;
                }
                let labels = match error_type {
                    Some(t) => {
                        self.series_labels(&format!("{labels},error_type=\"{}\"", escape(t)))
                    }
                    None => self.series_labels(&labels),
                };
                histogram(
                    &mut out,
                    "tracekit_function_duration_seconds",
                    &labels,
                    h,
                    &self.buckets,
                    seconds,
                );
            }
        }
        out.push_str(
            "# HELP tracekit_function_errors_total Traced function calls that failed: an Err, a panic or an error status.\n\
             # TYPE tracekit_function_errors_total counter\n",
        );
        for f in metrics.functions() {
            let _ = writeln!(
                out,
                "tracekit_function_errors_total{{{}}} {}",
                self.series_labels(&labels(f)),
                f.errors()
            );
        }
        self.render_requests(metrics, &mut out);
        out
    }

    /// The request series, one histogram family per instrument.
    fn render_requests(&self, metrics: &Metrics, out: &mut String) {
        let mut instruments: Vec<&'static str> =
            metrics.requests().iter().map(|r| r.instrument()).collect();
        instruments.sort_unstable();
        instruments.dedup();
        for instrument in instruments {
            // OpenTelemetry's rpc durations are in milliseconds, HTTP's in
            // seconds.
            let millis = instrument.starts_with("rpc.");
            let name = format!(
                "{}_{}",
                instrument.replace('.', "_"),
                if millis { "milliseconds" } else { "seconds" }
            );
            let nanos_per_unit = if millis { 1e6 } else { 1e9 };
            let unit = |d: Duration| in_unit(d, nanos_per_unit);
            let _ = writeln!(
                out,
                "# HELP {name} {instrument}, every request counted, sampled or not."
            );
            let _ = writeln!(out, "# TYPE {name} histogram");
            for r in metrics
                .requests()
                .iter()
                .filter(|r| r.instrument() == instrument)
            {
                let labels = r
                    .attributes()
                    .iter()
                    .map(|(k, v)| format!("{}=\"{}\"", k.replace('.', "_"), escape(&v.to_string())))
                    .collect::<Vec<_>>()
                    .join(",");
                let labels = self.series_labels(&labels);
                histogram(
                    out,
                    &name,
                    &labels,
                    r.duration(),
                    &self.request_buckets,
                    unit,
                );
            }
        }
    }
}

/// The instrumentation scope as labels: the scope the OTLP exporter sends
/// the same metrics under.
const SCOPE_LABELS: &str = concat!(
    "otel_scope_name=\"tracekit\",otel_scope_version=\"",
    env!("CARGO_PKG_VERSION"),
    "\""
);

/// Bounds as a renderer keeps them: ascending, each once.
fn sorted(bounds: impl IntoIterator<Item = Duration>) -> Vec<Duration> {
    let mut bounds: Vec<Duration> = bounds.into_iter().collect();
    bounds.sort();
    bounds.dedup();
    bounds
}

/// One histogram series: a line per bound and `+Inf`, its sum and its
/// count, durations written by `unit`.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    h: &Histogram,
    bounds: &[Duration],
    unit: impl Fn(Duration) -> String,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    for bound in bounds {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {}",
            unit(*bound),
            h.count_at_most(*bound)
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
        h.count()
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", unit(h.sum()));
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
}

/// A duration in a unit of `nanos_per_unit` nanoseconds (1e9: seconds,
/// 1e6: milliseconds), as Prometheus reads a float.
fn in_unit(d: Duration, nanos_per_unit: f64) -> String {
    // Divided once, which rounds once: `as_secs_f64` adds the whole seconds
    // to the fraction, and a multiply of the seconds by 1000 rounds again
    // (1.118 s would read 1.1179999999999999, 9.999 ms 9.998999999999999:
    // an `le` no other exporter writes).
    format!("{}", d.as_nanos() as f64 / nanos_per_unit)
}

/// A duration in seconds.
fn seconds(d: Duration) -> String {
    in_unit(d, 1e9)
}

/// `code_function_name` and `code_namespace`, or the overflow series' label.
fn labels(f: &FunctionMetrics) -> String {
    match f.point() {
        Some(p) => format!(
            "code_function_name=\"{}\",code_namespace=\"{}\"",
            escape(p.path()),
            escape(p.namespace())
        ),
        None => "otel_metric_overflow=\"true\"".to_owned(),
    }
}

/// Resource attributes as one series' labels: each key once with its last
/// value, names made Prometheus label names, in name order; the values of
/// keys whose names came out the same are joined with `;` in the order of
/// those keys (OpenTelemetry's rule). `None` for none.
fn info_labels(attributes: &[(String, String)]) -> Option<String> {
    let mut unique: Vec<(&str, &str)> = Vec::new();
    for (k, v) in attributes {
        match unique.iter_mut().find(|(k2, _)| k2 == k) {
            Some(slot) => slot.1 = v,
            None => unique.push((k, v)),
        }
    }
    let mut named: Vec<(String, &str, &str)> = unique
        .into_iter()
        .map(|(k, v)| (label_name(k), k, v))
        .collect();
    named.sort_unstable();
    let mut labels: Vec<(String, String)> = Vec::new();
    for (name, _, value) in named {
        match labels.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(value);
            }
            _ => labels.push((name, value.to_owned())),
        }
    }
    let text = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",");
    (!text.is_empty()).then_some(text)
}

/// An attribute name as a Prometheus label name: every character but
/// ASCII letters, digits and `_` becomes `_`, a run of `_` one `_`
/// (OpenTelemetry's rule, which also keeps clear of the reserved `__`),
/// and a name that would start with a digit, or be empty, gets `key_`
/// before it.
fn label_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn resource_attributes_become_label_names() {
        assert_eq!(label_name("service.name"), "service_name");
        assert_eq!(label_name("k8s.pod-name"), "k8s_pod_name");
        assert_eq!(label_name("k8s..pod"), "k8s_pod", "a run of _ is one");
        assert_eq!(label_name("2fa"), "key_2fa");
        assert_eq!(label_name("__meta"), "_meta", "never the reserved __");
        assert_eq!(label_name(""), "key_");
        assert_eq!(label_name("héllo"), "h_llo");
        let attributes = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        // Given out of key order: joined in key order ("host.id" < "host_id").
        assert_eq!(
            info_labels(&attributes(&[
                ("service.name", "a\"b"),
                ("host_id", "2"),
                ("host.id", "1"),
            ]))
            .as_deref(),
            Some("host_id=\"1;2\",service_name=\"a\\\"b\""),
            "sorted, escaped, names that came out the same joined by key"
        );
        // A key given twice: its last value, not both.
        assert_eq!(
            info_labels(&attributes(&[("team", "a"), ("team", "b")])).as_deref(),
            Some("team=\"b\"")
        );
        assert_eq!(info_labels(&[]), None);
    }

    #[test]
    fn seconds_print_as_floats() {
        assert_eq!(seconds(Duration::from_micros(1)), "0.000001");
        assert_eq!(seconds(Duration::from_secs(10)), "10");
        assert_eq!(seconds(Duration::from_millis(75)), "0.075");
        assert_eq!(seconds(Duration::from_millis(7_500)), "7.5");
        // Bounds past a second are rounded once, as OTLP's are.
        assert_eq!(seconds(Duration::from_millis(1_118)), "1.118");
        assert_eq!(seconds(Duration::from_micros(1_500_001)), "1.500001");
    }

    #[test]
    fn milliseconds_print_as_written() {
        assert_eq!(in_unit(Duration::from_micros(9_999), 1e6), "9.999");
        assert_eq!(in_unit(Duration::from_micros(2_500), 1e6), "2.5");
        assert_eq!(in_unit(Duration::from_secs(10), 1e6), "10000");
    }
}
