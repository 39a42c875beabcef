//! OTLP export against a scripted receiver on loopback: what arrives
//! (protobuf, JSON, gzip, headers, resource, every span field), the span
//! limits, retries and their limits, a backend that is down or slow, and
//! configuration from the environment.

use prost::Message;
use serde_json::Value as Json;
use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tracekit::{BatchConfig, Exporter, Reporter, Span, SpanKind, SpanRecord};
use tracekit_otlp::proto;
use tracekit_otlp::{Compression, OtlpConfig, OtlpExporter, Protocol, Resource};
use tracekit_tests::env_of;
use tracekit_tests::stub::{Reply, Stub};

/// A small trace with every field OTLP carries: a server span continuing a
/// remote parent (with trace state), typed tags, an event, a link and an error.
fn trace() -> Vec<SpanRecord> {
    let ((), c) = tracekit::testing::capture(|| {
        let remote = tracekit::SpanContext::remote(
            tracekit::TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap(),
            tracekit::SpanId::from_u64(0xb7ad6b7169203331).unwrap(),
            true,
        )
        .with_trace_state("rojo=00f067aa0ba902b7");
        // The remote context stands in when tracing is compiled out.
        let other = Span::start("earlier job")
            .context()
            .unwrap_or_else(|| remote.clone());
        let mut server = Span::builder("GET /users/{id}")
            .kind(SpanKind::Server)
            .child_of(&remote)
            .follows_from(&other)
            .tag("http.method", "GET")
            .tag("http.status_code", 500)
            .tag("ratio", 0.5)
            .tag("cached", false)
            .tag("big", u64::MAX)
            .start();
        server.add_event("cache-miss", [("key", "user:7")]);
        {
            let _g = server.enter();
            drop(Span::start("db.query"));
        }
        server.record_error(&std::io::Error::other("db down"));
    });
    c.spans().to_vec()
}

/// What `trace-all` off means for an exporter: the workload records nothing,
/// and exporting what it recorded succeeds without sending a request.
fn off_records_and_sends_nothing() {
    let stub = Stub::start([]);
    let spans = trace();
    assert!(spans.is_empty(), "nothing recorded");
    export(&config(&stub), spans, Duration::from_secs(5)).expect("an empty batch is no error");
    assert!(stub.received().is_empty(), "nothing sent");
}

fn config(stub: &Stub) -> OtlpConfig {
    OtlpConfig::new(
        &stub.url(),
        Resource::new("users-api").with("service.version", "1.2.3"),
    )
}

fn export(
    config: &OtlpConfig,
    batch: Vec<SpanRecord>,
    within: Duration,
) -> Result<(), tracekit::ExportError> {
    OtlpExporter::new(config).export(batch, Instant::now() + within)
}

fn attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a proto::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn decode(body: &[u8]) -> proto::ExportTraceServiceRequest {
    proto::ExportTraceServiceRequest::decode(body).expect("a valid ExportTraceServiceRequest")
}

fn spans_of(r: &proto::ExportTraceServiceRequest) -> Vec<&proto::Span> {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

#[test]
fn protobuf_carries_resource_scope_and_every_span_field() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start([]);
    let spans = trace();
    export(&config(&stub), spans.clone(), Duration::from_secs(10)).expect("exported");
    let got = stub.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.line, "POST /v1/traces HTTP/1.1");
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    let body = decode(&req.body);

    let rs = &body.resource_spans[0];
    let res = rs.resource.as_ref().unwrap();
    use proto::Value::{BoolValue, DoubleValue, IntValue, StringValue};
    assert_eq!(
        attr(&res.attributes, "service.name"),
        Some(&StringValue("users-api".into()))
    );
    assert_eq!(
        attr(&res.attributes, "service.version"),
        Some(&StringValue("1.2.3".into()))
    );
    assert_eq!(
        attr(&res.attributes, "telemetry.sdk.name"),
        Some(&StringValue("tracekit".into()))
    );
    assert_eq!(
        attr(&res.attributes, "telemetry.sdk.language"),
        Some(&StringValue("rust".into()))
    );
    assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "tracekit");

    let sent = spans_of(&body);
    assert_eq!(sent.len(), spans.len());
    let server_rec = spans
        .iter()
        .find(|s| s.name() == "GET /users/{id}")
        .unwrap();
    let server = sent.iter().find(|s| s.name == "GET /users/{id}").unwrap();
    assert_eq!(
        server.trace_id,
        0x0af7651916cd43dd8448eb211c80319c_u128.to_be_bytes()
    );
    assert_eq!(server.span_id, server_rec.span_id().to_u64().to_be_bytes());
    assert_eq!(server.parent_span_id, 0xb7ad6b7169203331_u64.to_be_bytes());
    assert_eq!(server.trace_state, "rojo=00f067aa0ba902b7");
    assert_eq!(server.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        server.flags,
        0x01 | 0x100 | 0x200,
        "sampled, parent known to be remote"
    );
    let nanos = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    };
    assert_eq!(server.start_time_unix_nano, nanos(server_rec.start()));
    assert_eq!(server.end_time_unix_nano, nanos(server_rec.end()));
    assert_eq!(
        attr(&server.attributes, "http.method"),
        Some(&StringValue("GET".into()))
    );
    assert_eq!(
        attr(&server.attributes, "http.status_code"),
        Some(&IntValue(500))
    );
    assert_eq!(attr(&server.attributes, "ratio"), Some(&DoubleValue(0.5)));
    assert_eq!(attr(&server.attributes, "cached"), Some(&BoolValue(false)));
    assert_eq!(
        attr(&server.attributes, "big"),
        Some(&StringValue(u64::MAX.to_string()))
    );
    assert_eq!(attr(&server.attributes, "error"), Some(&BoolValue(true)));
    let status = server.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "db down"));
    let names: Vec<&str> = server.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["cache-miss", "exception"]);
    assert_eq!(
        attr(&server.events[0].attributes, "key"),
        Some(&StringValue("user:7".into()))
    );
    let earlier = spans.iter().find(|s| s.name() == "earlier job").unwrap();
    assert_eq!(server.links.len(), 1);
    assert_eq!(
        server.links[0].span_id,
        earlier.span_id().to_u64().to_be_bytes()
    );

    let child = sent.iter().find(|s| s.name == "db.query").unwrap();
    assert_eq!(child.parent_span_id, server.span_id);
    assert_eq!(child.kind, 1, "SPAN_KIND_INTERNAL");
    assert_eq!(
        child.flags,
        0x01 | 0x100,
        "sampled, parent known to be local"
    );
    assert_eq!(child.status.as_ref().unwrap().code, 0, "unset");
    let root = sent.iter().find(|s| s.name == "earlier job").unwrap();
    assert!(root.parent_span_id.is_empty());
}

#[test]
fn the_protobuf_body_decodes_to_exactly_the_otlp_messages_the_spans_make() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    // Spans of every shape: the trace above, limits hit, unicode, empty and
    // huge values, every value type, many events.
    let ((), c) = tracekit::testing::capture(|| {
        let mut s = Span::start("ünïcødé ✓");
        for i in 0..140 {
            s.set_tag(
                format!("k{i}"),
                if i % 2 == 0 {
                    tracekit::Value::from(i as i64 - 70)
                } else {
                    tracekit::Value::from("x".repeat(i))
                },
            );
        }
        s.set_tag("", "empty key");
        s.set_tag("empty", "");
        s.set_tag("neg", i64::MIN);
        s.set_tag("nan", f64::NAN.max(1.5));
        s.set_tag("u", u64::MAX);
        for i in 0..135 {
            s.add_event(
                format!("e{i}"),
                [("i", tracekit::Value::from(i as i64)), ("t", "v".into())],
            );
        }
        s.set_status(tracekit::Status::Ok);
        drop(Span::builder("").start());
    });
    let mut spans = trace();
    spans.extend(c.spans().iter().cloned());
    let stub = Stub::start([]);
    for limits in [tracekit_otlp::SpanLimits::default(), {
        let mut l = tracekit_otlp::SpanLimits::default();
        l.attribute_count = 3;
        l.event_count = 1;
        l.link_count = 0;
        l.attribute_per_event_count = 1;
        l.attribute_value_length = Some(2);
        l
    }] {
        let mut cfg = config(&stub);
        cfg.limits = limits;
        let mut encode = tracekit_otlp::__test::encoder(&cfg);
        let body = encode(&spans);
        assert_eq!(
            decode(&body),
            tracekit_otlp::__test::structs(&cfg, &spans),
            "{limits:?}"
        );
    }
}

#[test]
fn json_follows_the_otlp_json_rules_and_gzip_and_headers_are_sent() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start([]);
    let mut c = config(&stub);
    c.protocol = Protocol::HttpJson;
    c.compression = Compression::Gzip;
    c.headers = vec![("x-api-key".into(), "secret 1".into())];
    export(&c, trace(), Duration::from_secs(10)).expect("exported");
    let req = &stub.received()[0];
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("x-api-key"), Some("secret 1"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(req.body.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    let json: Json = serde_json::from_str(&text).expect("valid JSON");
    let spans = &json["resourceSpans"][0]["scopeSpans"][0]["spans"];
    let server = spans
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "GET /users/{id}")
        .unwrap();
    assert_eq!(
        server["traceId"], "0af7651916cd43dd8448eb211c80319c",
        "hex, not base64"
    );
    assert_eq!(server["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(server["kind"], 2, "enums are integers");
    assert!(
        server["startTimeUnixNano"].is_string(),
        "64-bit integers are strings"
    );
    let attrs = server["attributes"].as_array().unwrap();
    let value = |k: &str| attrs.iter().find(|a| a["key"] == k).unwrap()["value"].clone();
    assert_eq!(
        value("http.status_code"),
        serde_json::json!({"intValue": "500"})
    );
    assert_eq!(value("cached"), serde_json::json!({"boolValue": false}));
    assert_eq!(value("ratio"), serde_json::json!({"doubleValue": 0.5}));
    assert_eq!(
        value("http.method"),
        serde_json::json!({"stringValue": "GET"})
    );
    assert_eq!(
        server["status"],
        serde_json::json!({"message": "db down", "code": 2})
    );
    assert_eq!(
        json["resourceSpans"][0]["resource"]["attributes"][0],
        serde_json::json!({"key": "service.name", "value": {"stringValue": "users-api"}})
    );
}

#[test]
fn span_limits_cap_attributes_events_and_links_and_count_what_was_dropped() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let ((), c) = tracekit::testing::capture(|| {
        // A child, so the root's sampler tags do not count.
        let _root = tracekit::start_active_span("root");
        let mut s = Span::start("busy");
        for i in 0..200 {
            s.set_tag(format!("k{i}"), i);
        }
        s.set_tag("k0", "replaced, not added");
        for i in 0..130 {
            s.add_event(format!("e{i}"), ());
        }
        s.set_tag("long", "é".repeat(10));
    });
    let stub = Stub::start([]);
    let mut cfg = config(&stub);
    cfg.limits.attribute_value_length = Some(5);
    export(&cfg, vec![c.span("busy").clone()], Duration::from_secs(10)).unwrap();
    let body = decode(&stub.received()[0].body);
    let s = spans_of(&body)[0];
    assert_eq!(s.attributes.len(), 128);
    assert_eq!(
        s.dropped_attributes_count,
        200 + 1 - 128,
        "k128..k199 and long"
    );
    assert_eq!(
        attr(&s.attributes, "k0"),
        Some(&proto::Value::StringValue("repla".into())),
        "the later value, cut at 5 bytes"
    );
    assert_eq!(s.events.len(), 128);
    assert_eq!(s.dropped_events_count, 2);
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start([
        Reply::status(503).header("Retry-After", "1"),
        Reply::status(429),
        Reply::status(502),
    ]);
    export(&config(&stub), trace(), Duration::from_secs(30)).expect("exported on the fourth try");
    let got = stub.received();
    assert_eq!(got.len(), 4);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {:?}",
        got[1].at - got[0].at
    );
    assert!(
        got.windows(2).all(|w| w[0].body == w[1].body),
        "the same batch each time"
    );
}

#[test]
fn other_statuses_drop_the_batch_at_once_with_the_reason() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    for status in [400, 401, 404, 413, 500] {
        let stub = Stub::start([Reply::status(status).body("bad\nthing")]);
        let err = export(&config(&stub), trace(), Duration::from_secs(30)).unwrap_err();
        assert_eq!(
            stub.received().len(),
            1,
            "HTTP {status} must not be retried"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("HTTP {status}")) && text.contains("bad thing"),
            "{text}"
        );
    }
}

#[test]
fn a_retry_after_past_the_export_timeout_gives_up_instead_of_waiting() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start([Reply::status(503).header("Retry-After", "3600")]);
    let started = Instant::now();
    let err = export(&config(&stub), trace(), Duration::from_secs(5)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for nothing"
    );
    assert!(err.to_string().contains("export timeout"), "{err}");
    assert_eq!(stub.received().len(), 1);
}

#[test]
fn a_retry_after_of_years_or_of_a_far_date_gives_up_without_a_panic() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    // u64::MAX seconds would overflow an `Instant` added to now; a date
    // eight thousand years off is a wait no export timeout allows.
    for after in ["18446744073709551615", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let stub = Stub::start([Reply::status(503).header("Retry-After", after)]);
        let err = export(&config(&stub), trace(), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("export timeout"), "{after}: {err}");
        assert_eq!(stub.received().len(), 1, "{after}");
    }
}

#[test]
fn a_retry_after_of_zero_still_backs_off() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    // A proxy answering every try at once with "now" must not get a busy
    // loop for the whole export timeout: the backoff (at least 50, 100,
    // 200, 400 ms) is the floor, so 1 s holds at most 5 tries.
    let stub = Stub::start((0..50).map(|_| Reply::status(503).header("Retry-After", "0")));
    export(&config(&stub), trace(), Duration::from_secs(1)).unwrap_err();
    let got = stub.received();
    assert!((2..=5).contains(&got.len()), "{} tries", got.len());
    for (i, w) in got.windows(2).enumerate() {
        let floor = Duration::from_millis(50 << i);
        assert!(
            w[1].at - w[0].at >= floor,
            "try {} came {:?} after the one before",
            i + 2,
            w[1].at - w[0].at
        );
    }
}

#[test]
fn a_slow_backend_is_cut_off_by_the_timeouts() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start((0..20).map(|_| Reply::status(200).delay(Duration::from_secs(10))));
    let mut c = config(&stub);
    c.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = export(&c, trace(), Duration::from_secs(2)).unwrap_err();
    // A liveness bound, far above the 2 s deadline: never the 10 s reply.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(!stub.received().is_empty());
    let _ = err;
}

#[test]
fn a_backend_that_is_down_costs_the_application_nothing_and_spans_are_counted() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let port = tracekit_tests::free_port();
    let c = OtlpConfig {
        batch: BatchConfig {
            max_queue_size: 64,
            max_export_batch_size: 16,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::from_millis(300),
        },
        ..OtlpConfig::new(&format!("http://127.0.0.1:{port}"), Resource::new("down"))
    };
    let reporter = tracekit_otlp::reporter(c);
    let stats = reporter.stats();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reporter = reporter;
        for _ in 0..50 {
            reporter.report(tracekit::SpanBatch::from(trace()));
        }
        let _ = tx.send(reporter);
    });
    let reporter = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("reporting never waits for the backend");
    drop(reporter); // shutdown: everything, by one deadline
    let s = stats.snapshot();
    assert_eq!(s.spans_exported, 0);
    assert!(s.export_errors >= 1, "{s:?}");
    assert_eq!(
        s.spans_queued, s.spans_dropped_export_failed,
        "every queued span was tried and counted: {s:?}"
    );
    assert!(
        s.spans_dropped_queue_full > 0,
        "the queue stayed bounded: {s:?}"
    );
}

#[test]
fn shutdown_exports_everything_when_the_backend_is_up() {
    if !tracekit::TRACE_ALL {
        return off_records_and_sends_nothing();
    }
    let stub = Stub::start([]);
    let c = OtlpConfig {
        batch: BatchConfig {
            max_export_batch_size: 7,
            scheduled_delay: Duration::from_secs(3600),
            ..BatchConfig::default()
        },
        ..config(&stub)
    };
    let mut reporter = tracekit_otlp::reporter(c);
    let stats = reporter.stats();
    let mut sent = 0;
    for _ in 0..10 {
        let t = trace();
        sent += t.len();
        reporter.report(tracekit::SpanBatch::from(t));
    }
    drop(reporter);
    let arrived: usize = stub
        .received()
        .iter()
        .map(|r| spans_of(&decode(&r.body)).len())
        .sum();
    assert_eq!(arrived, sent);
    assert_eq!(stats.snapshot().spans_exported as usize, sent);
    assert!(
        stub.received()
            .iter()
            .all(|r| spans_of(&decode(&r.body)).len() <= 7)
    );
}

#[test]
fn the_file_sink_writes_one_json_request_a_line() {
    let path = std::env::temp_dir().join(format!("tracekit-otlp-{}.jsonl", std::process::id()));
    let mut file = tracekit_otlp::FileExporter::create(&path, Resource::new("offline")).unwrap();
    file.export(trace(), Instant::now()).unwrap();
    file.export(trace(), Instant::now()).unwrap();
    drop(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    if !tracekit::TRACE_ALL {
        assert_eq!(text, "", "nothing recorded, nothing written");
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for line in lines {
        let json: Json = serde_json::from_str(line).unwrap();
        assert_eq!(
            json["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}

#[test]
fn a_bad_signal_variable_is_ignored_and_the_general_one_holds() {
    // OpenTelemetry: a bad value is ignored, as if unset. A typo in the
    // traces' own form must not undo a valid general setting (the shared
    // credentials, the protocol the collector speaks).
    let c = OtlpConfig::from_lookup(&env_of(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5s"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20k"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "no-equals-sign"),
    ]));
    assert_eq!(c.protocol, Protocol::HttpJson);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(
        c.headers,
        [("authorization".to_owned(), "Bearer k".to_owned())]
    );
    // Enumerated values are read in any case.
    let c = OtlpConfig::from_lookup(&env_of(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/JSON"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZip"),
    ]));
    assert_eq!(c.protocol, Protocol::HttpJson);
    assert_eq!(c.compression, Compression::Gzip);
}

#[test]
fn the_standard_variables_configure_the_exporter() {
    let c = OtlpConfig::from_lookup(&env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=abc%20def, tenant=acme",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment=prod%2Ceu",
        ),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "10"),
    ]));
    assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(
        c.headers,
        [
            ("api-key".to_owned(), "abc def".to_owned()),
            ("tenant".to_owned(), "acme".to_owned())
        ]
    );
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert_eq!(c.protocol, Protocol::HttpJson);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.resource.service_name(), "checkout");
    assert!(
        c.resource
            .attributes()
            .iter()
            .any(|(k, v)| k == "deployment.environment" && v.to_string() == "prod,eu")
    );
    assert_eq!(c.batch.max_export_batch_size, 64);
    assert_eq!(c.limits.event_count, 10);

    // The traces endpoint is used as is and wins.
    let c = OtlpConfig::from_lookup(&env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://b:9999/custom/path",
        ),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
    ]));
    assert_eq!(c.endpoint, "http://b:9999/custom/path");
    assert_eq!(c.resource.service_name(), "from-attrs");

    // Bad values: the defaults, never a panic.
    let c = OtlpConfig::from_lookup(&env_of(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign,=nokey,ok=1"),
        ("OTEL_RESOURCE_ATTRIBUTES", "broken,bad=%FF%FE"),
    ]));
    assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.compression, Compression::None);
    assert_eq!(c.headers, [("ok".to_owned(), "1".to_owned())]);
    assert!(c.resource.service_name().starts_with("unknown_service"));

    assert!(!tracekit_otlp::__test::wanted(&env_of(&[])));
    assert!(tracekit_otlp::__test::wanted(&env_of(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://x:4318"
    )])));
    assert!(!tracekit_otlp::__test::wanted(&env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
        ("OTEL_SDK_DISABLED", "true"),
    ])));
}
