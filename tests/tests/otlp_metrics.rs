//! OTLP metrics against a scripted receiver on loopback: what arrives
//! (protobuf and JSON, OpenTelemetry's instruments, units and attributes,
//! exponential and explicit histograms, cumulative and delta), retries, a
//! backend that is down, the last interval sent at shutdown, and the
//! configuration from the environment.

use prost::Message;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracekit_otlp::proto;
use tracekit_otlp::{
    HistogramAggregation, MetricsExporter, OtlpMetricsConfig, Protocol, Resource, Temporality,
};
use tracekit_tests::stub::{Reply, Stub};

#[tracekit::trace_fn]
fn lookup(key: u64) -> Result<u64, String> {
    if key.is_multiple_of(4) {
        Err(format!("no key {key}"))
    } else {
        Ok(key)
    }
}

#[tracekit::trace_fn]
fn find_key(key: u64) -> Result<u64, String> {
    if key.is_multiple_of(4) {
        Err(format!("no key {key}"))
    } else {
        Ok(key)
    }
}

/// Busy for `micros`; returns the time it took.
#[tracekit::trace_fn]
fn spin(micros: u64) -> Duration {
    let t = Instant::now();
    tracekit_tests::busy_wait(Duration::from_micros(micros));
    t.elapsed()
}

fn config(stub: &Stub) -> OtlpMetricsConfig {
    OtlpMetricsConfig::new(&stub.url(), Resource::new("metrics-test"))
}

fn decode(body: &[u8]) -> proto::ExportMetricsServiceRequest {
    proto::ExportMetricsServiceRequest::decode(body).expect("a valid ExportMetricsServiceRequest")
}

fn attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a proto::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn metrics_of(r: &proto::ExportMetricsServiceRequest) -> Vec<&proto::Metric> {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect()
}

/// The full path (`code.function.name`) of this file's function `name`.
fn path_of(name: &str) -> String {
    format!("{}::{name}", module_path!())
}

/// The exponential data point of the calls of the function named `name`
/// in `metric` that succeeded.
fn point<'a>(
    metric: &'a proto::Metric,
    name: &str,
) -> Option<&'a proto::ExponentialHistogramDataPoint> {
    error_point(metric, name, None)
}

/// The count, start and end of the calls of the function named `name` in
/// `r`'s function duration metric, if it has them.
fn counted(r: &proto::ExportMetricsServiceRequest, name: &str) -> Option<(u64, u64, u64)> {
    metrics_of(r)
        .iter()
        .find(|m| m.name == "tracekit.function.duration")
        .and_then(|m| point(m, name))
        .map(|p| (p.count, p.start_time_unix_nano, p.time_unix_nano))
}

/// `t` in unix nanoseconds.
fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// What `exporter` sends of the function `name` from `snapshot` at `now`.
fn export_at(
    exporter: &mut MetricsExporter,
    snapshot: &tracekit::metrics::Metrics,
    now: u64,
    name: &str,
) -> Option<(u64, u64, u64)> {
    let (r, _) = tracekit_otlp::__test::metrics_request(exporter, snapshot, now);
    counted(&r, name)
}

/// What `exporter` sends of the function `name` now, and when that is.
fn export_now(exporter: &mut MetricsExporter, name: &str) -> (Option<(u64, u64, u64)>, u64) {
    let now = unix(std::time::SystemTime::now());
    let sent = export_at(exporter, &tracekit::metrics::snapshot(), now, name);
    (sent, now)
}

/// The exponential data point of the function named `name` in `metric`
/// whose `error.type` is `error_type` (`None`: the calls that succeeded).
fn error_point<'a>(
    metric: &'a proto::Metric,
    name: &str,
    error_type: Option<&str>,
) -> Option<&'a proto::ExponentialHistogramDataPoint> {
    let Some(proto::MetricData::ExponentialHistogram(h)) = &metric.data else {
        return None;
    };
    h.data_points.iter().find(|p| {
        matches!(attr(&p.attributes, "code.function.name"), Some(proto::Value::StringValue(s)) if *s == path_of(name))
            && match (attr(&p.attributes, "error.type"), error_type) {
                (None, None) => true,
                (Some(proto::Value::StringValue(s)), Some(t)) => s == t,
                _ => false,
            }
    })
}

fn errors_of(metric: &proto::Metric, name: &str) -> Option<i64> {
    let Some(proto::MetricData::Sum(s)) = &metric.data else {
        return None;
    };
    s.data_points
        .iter()
        .find(|p| matches!(attr(&p.attributes, "code.function.name"), Some(proto::Value::StringValue(s)) if *s == path_of(name)))
        .and_then(|p| p.as_int)
}

#[test]
fn protobuf_export_carries_every_call_in_an_exponential_histogram() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    for key in 1..=40 {
        let _ = find_key(key);
    }
    let mut exporter = MetricsExporter::new(&config(&stub));
    exporter
        .export(
            &tracekit::metrics::snapshot(),
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
    if !tracekit::TRACE_ALL {
        assert!(stub.received().is_empty(), "nothing to send");
        return;
    }
    let received = stub.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].line, "POST /v1/metrics HTTP/1.1");
    assert_eq!(
        received[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let request = decode(&received[0].body);
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    assert!(
        matches!(attr(&resource.attributes, "service.name"), Some(proto::Value::StringValue(s)) if s == "metrics-test")
    );
    let metrics = metrics_of(&request);
    let duration = metrics
        .iter()
        .find(|m| m.name == "tracekit.function.duration")
        .unwrap();
    assert_eq!(duration.unit, "s");
    let Some(proto::MetricData::ExponentialHistogram(h)) = &duration.data else {
        panic!("an exponential histogram by default");
    };
    assert_eq!(h.aggregation_temporality, proto::CUMULATIVE);
    // The 30 calls that succeeded, and the 10 that returned an Err in a
    // series of their own with its error.type.
    let failed = error_point(duration, "find_key", Some("alloc::string::String")).unwrap();
    for (p, n) in [(point(duration, "find_key").unwrap(), 30), (failed, 10)] {
        assert_eq!(p.count, n);
        let buckets = p.positive.as_ref().unwrap();
        assert_eq!(buckets.bucket_counts.iter().sum::<u64>() + p.zero_count, n);
        assert!(buckets.bucket_counts.len() <= 160 && p.scale <= 3);
        assert!(
            matches!(attr(&p.attributes, "code.namespace"), Some(proto::Value::StringValue(s)) if s == "otlp_metrics")
        );
        assert!(p.start_time_unix_nano > 0 && p.time_unix_nano >= p.start_time_unix_nano);
    }
    let errors = metrics
        .iter()
        .find(|m| m.name == "tracekit.function.errors")
        .unwrap();
    assert_eq!(errors_of(errors, "find_key"), Some(10));
}

#[test]
fn exponential_buckets_hold_each_duration_where_it_lies() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    // Each call's span lies between the time its body took and the time
    // around the call (seconds), however the scheduler stretched it.
    let timed = |micros: u64| {
        let t = Instant::now();
        let inner = spin(micros);
        (inner.as_secs_f64(), t.elapsed().as_secs_f64())
    };
    let calls: Vec<(f64, f64)> = [2_000; 10]
        .into_iter()
        .chain([20_000; 5])
        .map(timed)
        .collect();
    let mut exporter = MetricsExporter::new(&config(&stub));
    let (request, _) =
        tracekit_otlp::__test::metrics_request(&mut exporter, &tracekit::metrics::snapshot(), 1);
    if !tracekit::TRACE_ALL {
        return;
    }
    let metrics = metrics_of(&request);
    let p = point(
        metrics
            .iter()
            .find(|m| m.name == "tracekit.function.duration")
            .unwrap(),
        "spin",
    )
    .unwrap();
    let base = 2f64.powf(2f64.powi(-p.scale));
    let buckets = p.positive.as_ref().unwrap();
    assert_eq!(buckets.bucket_counts.iter().sum::<u64>(), 15);
    // Bucket i holds (base^i, base^(i+1)] seconds. At every bucket's upper
    // bound, the spans counted at or below it are at least the calls that
    // took clearly less around them, and at most those that took not
    // clearly more inside: "clearly" is 12%, tracekit's own bucket (1/16 of
    // a power of two) and the tick rate's calibration (a few percent).
    let mut at_or_below = 0;
    for (i, n) in buckets.bucket_counts.iter().enumerate() {
        at_or_below += n;
        let bound = base.powi(buckets.offset + i as i32 + 1);
        let surely = calls
            .iter()
            .filter(|&&(_, outer)| outer * 1.12 <= bound)
            .count() as u64;
        let maybe = calls
            .iter()
            .filter(|&&(inner, _)| inner * 0.88 <= bound)
            .count() as u64;
        assert!(
            surely <= at_or_below && at_or_below <= maybe,
            "{at_or_below} at or below {bound} s; calls {calls:?}; {p:?}"
        );
    }
    let inner: f64 = calls.iter().map(|c| c.0).sum();
    let outer: f64 = calls.iter().map(|c| c.1).sum();
    let sum = p.sum.unwrap();
    assert!(
        sum <= outer * 1.03 && sum >= inner * 0.95,
        "{sum} s; {inner} s inside, {outer} s around"
    );
}

#[test]
fn json_export_follows_the_otlp_json_mapping() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    for key in 1..=8 {
        let _ = lookup(key);
    }
    let mut c = config(&stub);
    c.protocol = Protocol::HttpJson;
    MetricsExporter::new(&c)
        .export(
            &tracekit::metrics::snapshot(),
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
    if !tracekit::TRACE_ALL {
        return;
    }
    let received = stub.received();
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let json: Json = serde_json::from_slice(&received[0].body).unwrap();
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    assert_eq!(
        json["resourceMetrics"][0]["scopeMetrics"][0]["scope"]["name"],
        "tracekit"
    );
    let duration = metrics
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "tracekit.function.duration")
        .unwrap();
    assert_eq!(duration["unit"], "s");
    let h = &duration["exponentialHistogram"];
    assert_eq!(h["aggregationTemporality"], 2);
    let p = h["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["value"]["stringValue"] == path_of("lookup").as_str())
                && p["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["key"] != "error.type")
        })
        .unwrap();
    // 64-bit integers are strings in OTLP/JSON; the sum is a number.
    assert!(p["count"].as_str().unwrap().parse::<u64>().unwrap() >= 6);
    assert!(p["sum"].is_f64());
    assert!(p["positive"]["bucketCounts"][0].is_string());
    assert!(p["startTimeUnixNano"].is_string());
}

#[test]
fn delta_temporality_sends_what_changed_since_the_last_export() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    let mut c = config(&stub);
    c.temporality = Temporality::Delta;
    // A stream of this test's own (a stub's port may be another's before).
    c.resource = Resource::new("delta-temporality");
    let mut exporter = MetricsExporter::new(&c);
    let take = |exporter: &mut MetricsExporter, now| {
        let (r, _) =
            tracekit_otlp::__test::metrics_request(exporter, &tracekit::metrics::snapshot(), now);
        r
    };
    #[tracekit::trace_fn]
    fn delta_probe() {}
    #[tracekit::trace_fn]
    fn only_first() {}
    for _ in 0..3 {
        delta_probe();
    }
    only_first();
    let first = take(&mut exporter, 1_000);
    for _ in 0..2 {
        delta_probe();
    }
    let second = take(&mut exporter, 2_000);
    if !tracekit::TRACE_ALL {
        return;
    }
    let (n, _, end) = counted(&first, "delta_probe").unwrap();
    assert_eq!((n, end), (3, 1_000));
    assert_eq!(
        counted(&second, "delta_probe"),
        Some((2, 1_000, 2_000)),
        "from the last export on"
    );
    assert_eq!(
        counted(&second, "only_first"),
        None,
        "nothing new: left out"
    );
    let Some(proto::MetricData::ExponentialHistogram(h)) = &metrics_of(&second)[0].data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, proto::DELTA);
}

#[test]
fn exports_start_where_counting_started_and_a_new_delta_exporter_goes_on() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    #[tracekit::trace_fn]
    fn restart_probe() {}
    let take = |exporter: &mut MetricsExporter| export_now(exporter, "restart_probe");
    let mut delta = config(&stub);
    delta.temporality = Temporality::Delta;
    // A stream of this test's own (a stub's port may be another's before).
    delta.resource = Resource::new("delta-restarted");
    let mut cumulative = MetricsExporter::new(&config(&stub));
    for _ in 0..4 {
        restart_probe();
    }
    // A delta exporter, made, used once and dropped (a guard restarted).
    let (first, t1) = take(&mut MetricsExporter::new(&delta));
    for _ in 0..2 {
        restart_probe();
    }
    let (second, t2) = take(&mut MetricsExporter::new(&delta));
    let (whole, _) = take(&mut cumulative);
    let (again, _) = take(&mut cumulative);
    if !tracekit::TRACE_ALL {
        return;
    }
    let counting = unix(tracekit::metrics::snapshot().start_time().unwrap());
    // The first delta: every call since counting started; the next
    // exporter's: only what came after the first one's export.
    assert_eq!(first, Some((4, counting, t1)));
    assert_eq!(second, Some((2, t1, t2)), "not the first 4 again");
    // Cumulative: from counting's start, whenever the exporter was made,
    // the same start in every export.
    let (n, start, _) = whole.unwrap();
    assert_eq!((n, start), (6, counting));
    assert_eq!(again.map(|p| p.1), Some(counting));
}

#[test]
fn two_delta_exporters_of_one_stream_never_send_a_count_twice() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    #[tracekit::trace_fn]
    fn overlap_probe() {}
    let take = |exporter: &mut MetricsExporter| export_now(exporter, "overlap_probe");
    let mut delta = config(&stub);
    delta.temporality = Temporality::Delta;
    // A stream of this test's own (a stub's port may be another's before).
    delta.resource = Resource::new("two-delta-exporters");
    let mut old = MetricsExporter::new(&delta);
    for _ in 0..3 {
        overlap_probe();
    }
    let (first, t1) = take(&mut old);
    // A guard replaced: the new exporter is made while the old one lives
    // (and makes its last export after the new one's first).
    let mut new = MetricsExporter::new(&delta);
    for _ in 0..2 {
        overlap_probe();
    }
    let (second, t2) = take(&mut new);
    overlap_probe();
    let (last_of_old, t3) = take(&mut old);
    let (nothing, t4) = take(&mut new);
    // The wall clock stepped back: an empty interval, not one that ends
    // before it starts.
    overlap_probe();
    let back = t3 - 1_000_000;
    let stepped_back = export_at(
        &mut new,
        &tracekit::metrics::snapshot(),
        back,
        "overlap_probe",
    );
    // An export of a snapshot older than the stream's last (taken before
    // the other exporter's export, locked after it) sends nothing of it
    // and moves nothing back.
    let stale = tracekit::metrics::snapshot();
    overlap_probe();
    let (fresh, t6) = take(&mut new);
    let stale_point = export_at(&mut old, &stale, t6 + 1, "overlap_probe");
    overlap_probe();
    let (after, t7) = take(&mut old);
    // Another resource at the same endpoint is a stream of its own.
    let mut other = delta.clone();
    other.resource = Resource::new("another-service");
    let (other_first, t5) = take(&mut MetricsExporter::new(&other));
    // So is another tenant (a header) of the same endpoint and resource.
    let mut tenant = delta.clone();
    tenant
        .headers
        .push(("X-Scope-OrgID".to_owned(), "tenant-b".to_owned()));
    let (tenant_first, t8) = take(&mut MetricsExporter::new(&tenant));
    if !tracekit::TRACE_ALL {
        return;
    }
    let counting = unix(tracekit::metrics::snapshot().start_time().unwrap());
    assert_eq!(first, Some((3, counting, t1)));
    assert_eq!(second, Some((2, t1, t2)), "not the old exporter's 3 again");
    assert_eq!(last_of_old, Some((1, t2, t3)), "not the new one's 2 again");
    assert_eq!(nothing, None, "nothing new since the old one's export");
    assert_eq!(stepped_back, Some((1, back, back)));
    // The stepped-back export did not move the stream's start back.
    assert_eq!(fresh, Some((1, t4, t6)));
    assert_eq!(stale_point, None, "the stale snapshot's counts went out");
    assert_eq!(after, Some((1, t6 + 1, t7)), "not the fresh call again");
    assert_eq!(other_first, Some((9, counting, t5)));
    assert_eq!(tenant_first, Some((9, counting, t8)));
}

#[test]
fn explicit_buckets_when_asked() {
    let stub = Stub::start([]);
    tracekit::metrics::set_enabled(true);
    #[tracekit::trace_fn]
    fn explicit_probe() {
        tracekit_tests::busy_wait(Duration::from_millis(2));
    }
    for _ in 0..6 {
        explicit_probe();
    }
    let mut c = config(&stub);
    c.histogram =
        HistogramAggregation::Explicit(vec![Duration::from_millis(1), Duration::from_secs(1)]);
    let mut exporter = MetricsExporter::new(&c);
    let (r, _) =
        tracekit_otlp::__test::metrics_request(&mut exporter, &tracekit::metrics::snapshot(), 1);
    if !tracekit::TRACE_ALL {
        return;
    }
    let m = metrics_of(&r)
        .into_iter()
        .find(|m| m.name == "tracekit.function.duration")
        .unwrap();
    let Some(proto::MetricData::Histogram(h)) = &m.data else {
        panic!("explicit buckets")
    };
    let p = h
        .data_points
        .iter()
        .find(|p| matches!(attr(&p.attributes, "code.function.name"), Some(proto::Value::StringValue(s)) if *s == path_of("explicit_probe")))
        .unwrap();
    assert_eq!(p.explicit_bounds, [0.001, 1.0]);
    assert_eq!(p.bucket_counts.len(), 3);
    assert_eq!(p.bucket_counts[0], 0, "each call takes 2 ms or more");
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), 6);
    assert_eq!(p.count, 6);
}

#[test]
fn a_backend_that_is_down_is_an_error_in_time_and_a_retry_succeeds() {
    tracekit::metrics::set_enabled(true);
    let _ = lookup(1);
    // Retryable first, then accepted.
    let stub = Stub::start([Reply::status(503)]);
    MetricsExporter::new(&config(&stub))
        .export(
            &tracekit::metrics::snapshot(),
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
    if tracekit::TRACE_ALL {
        assert_eq!(stub.received().len(), 2);
    }
    // Nobody listens: an error, within the deadline.
    let port = tracekit_tests::free_port();
    let c = OtlpMetricsConfig::new(&format!("http://127.0.0.1:{port}"), Resource::new("x"));
    let t = Instant::now();
    let result = MetricsExporter::new(&c).export(
        &tracekit::metrics::snapshot(),
        Instant::now() + Duration::from_millis(500),
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    if tracekit::TRACE_ALL {
        let e = result.unwrap_err().to_string();
        assert!(e.contains("cannot reach") || e.contains("gave up"), "{e}");
    }
    // An endpoint that can never work is not retried until the deadline:
    // the first attempt's error, long before it.
    let c = OtlpMetricsConfig::new("ftp://127.0.0.1:9", Resource::new("x"));
    let t = Instant::now();
    let result = MetricsExporter::new(&c).export(
        &tracekit::metrics::snapshot(),
        Instant::now() + Duration::from_secs(30),
    );
    if tracekit::TRACE_ALL {
        assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
        let e = result.unwrap_err().to_string();
        assert!(e.contains("ftp://127.0.0.1:9/v1/metrics"), "{e}");
        assert!(!e.contains("gave up"), "{e}");
    }
}

#[test]
fn the_last_interval_is_sent_at_shutdown() {
    let stub = Stub::start([]);
    let mut c = config(&stub);
    c.interval = Duration::from_secs(3600);
    let guard = tracekit_otlp::start_metrics(c);
    #[tracekit::trace_fn]
    fn before_shutdown() {}
    for _ in 0..7 {
        before_shutdown();
    }
    assert!(stub.received().is_empty(), "no export before the interval");
    drop(guard);
    if !tracekit::TRACE_ALL {
        return;
    }
    let received = stub.received();
    assert_eq!(received.len(), 1);
    let r = decode(&received[0].body);
    let m = metrics_of(&r)
        .into_iter()
        .find(|m| m.name == "tracekit.function.duration")
        .unwrap();
    assert_eq!(point(m, "before_shutdown").unwrap().count, 7);
}

#[test]
fn dropping_the_guard_waits_one_export_timeout_with_an_export_under_way() {
    if !tracekit::TRACE_ALL {
        return; // nothing counted, nothing exported
    }
    tracekit::metrics::set_enabled(true);
    let _ = lookup(1);
    // A backend that takes the connection and never answers.
    let stub = Stub::start([]);
    stub.reply_always(Reply::status(200).delay(Duration::from_secs(60)));
    let mut c = config(&stub);
    c.interval = Duration::from_millis(20);
    c.timeout = Duration::from_secs(2);
    let guard = tracekit_otlp::start_metrics(c);
    // An export is under way once the backend has its request.
    let asked = Instant::now();
    while stub.received().is_empty() && asked.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!stub.received().is_empty(), "an export reached the backend");
    let t = Instant::now();
    drop(guard);
    let took = t.elapsed();
    // The export under way had nearly all of its 2 s left, and the last
    // one another 2 s of its own: 4 s. One timeout in all now.
    assert!(
        took < Duration::from_millis(3_200),
        "the drop took {took:?}"
    );
}

#[test]
fn an_interval_of_zero_is_the_default_period_and_one_of_duration_max_is_never() {
    for interval in [Duration::ZERO, Duration::MAX] {
        let stub = Stub::start([]);
        let mut c = config(&stub);
        c.interval = interval;
        c.timeout = interval;
        // Zero would have the thread export without pause; `MAX` would
        // overflow an `Instant` and panic it.
        let guard = tracekit_otlp::start_metrics(c);
        #[tracekit::trace_fn]
        fn counted_then_flushed() {}
        counted_then_flushed();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            stub.received().is_empty(),
            "{interval:?}: {} exports before any period ended",
            stub.received().len()
        );
        // With tracing compiled out the flush sends nothing, but still
        // says whether the thread lived to make it.
        assert!(
            guard.flush(Duration::from_secs(10)),
            "{interval:?}: the flush was made"
        );
        drop(guard);
        if !tracekit::TRACE_ALL {
            continue;
        }
        assert_eq!(stub.received().len(), 2, "{interval:?}: flush and shutdown");
    }
}

#[test]
fn the_configuration_comes_from_the_standard_variables() {
    let vars = |pairs: &[(&str, &str)]| {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    };
    let env = vars(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=blue"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            "explicit_bucket_histogram",
        ),
        ("OTEL_SERVICE_NAME", "orders"),
    ]);
    assert!(tracekit_otlp::__test::metrics_wanted(&env));
    let c = tracekit_otlp::__test::metrics_config(&env);
    assert_eq!(c.endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(c.protocol, Protocol::HttpJson, "the _METRICS_ form wins");
    assert_eq!(c.headers, [("x-tenant".to_owned(), "blue".to_owned())]);
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.temporality, Temporality::Delta);
    assert!(matches!(&c.histogram, HistogramAggregation::Explicit(b) if b.len() == 15));
    assert_eq!(c.resource.service_name(), "orders");
    let own = tracekit_otlp::__test::metrics_config(&vars(&[(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "http://m:9000/x",
    )]));
    assert_eq!(own.endpoint, "http://m:9000/x", "used as is");
    assert_eq!(
        own.timeout,
        Duration::from_secs(10),
        "the exporter's default"
    );
    // The reader's export timeout bounds the exporter's, never lengthens it.
    let timeouts = |exporter: &str, reader: &str| {
        tracekit_otlp::__test::metrics_config(&vars(&[
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", exporter),
            ("OTEL_METRIC_EXPORT_TIMEOUT", reader),
        ]))
        .timeout
    };
    assert_eq!(timeouts("10000", "2500"), Duration::from_millis(2500));
    assert_eq!(timeouts("1000", "2500"), Duration::from_secs(1));
    assert_eq!(
        timeouts("60000", "soon"),
        Duration::from_secs(30),
        "bad: 30 s"
    );
    // An empty endpoint is an unset one; a padded one is trimmed.
    let empty = vars(&[
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "  "),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", " http://c:4318 "),
    ]);
    assert!(tracekit_otlp::__test::metrics_wanted(&empty));
    let empty = tracekit_otlp::__test::metrics_config(&empty);
    assert_eq!(empty.endpoint, "http://c:4318/v1/metrics");
    // An empty _METRICS_ form is unset too: the general value holds (a
    // manifest's "" must not drop the shared credentials).
    let empty = tracekit_otlp::__test::metrics_config(&vars(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20k"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", ""),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "4000"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", " "),
        ("OTEL_METRIC_EXPORT_INTERVAL", ""),
    ]));
    assert_eq!(
        empty.headers,
        [("authorization".to_owned(), "Bearer k".to_owned())]
    );
    assert_eq!(empty.timeout, Duration::from_secs(4));
    assert_eq!(empty.interval, Duration::from_secs(60));
    // Bad values: the defaults.
    let bad = tracekit_otlp::__test::metrics_config(&vars(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            "median",
        ),
    ]));
    assert_eq!(bad.interval, Duration::from_secs(60));
    assert_eq!(bad.temporality, Temporality::Cumulative);
    assert_eq!(
        bad.histogram,
        HistogramAggregation::Exponential { max_size: 160 }
    );
    // Not wanted without an endpoint, or when switched off.
    assert!(!tracekit_otlp::__test::metrics_wanted(&vars(&[])));
    for exporters in ["none", "prometheus", "console, prometheus"] {
        assert!(!tracekit_otlp::__test::metrics_wanted(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", exporters),
        ])));
    }
    for exporters in ["otlp", "prometheus,OTLP", " "] {
        assert!(tracekit_otlp::__test::metrics_wanted(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", exporters),
        ])));
    }
}
