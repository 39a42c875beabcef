//! OTLP export, side by side in one run:
//! - `otlp export`: one 512-span batch POSTed as OTLP/HTTP protobuf to the
//!   same loopback receiver, by tracekit-otlp and by opentelemetry-otlp
//!   (reqwest blocking client), in spans per second;
//! - `otlp encode`: tracekit-otlp's encoding alone;
//! - `app thread while exporting`: what a traced call costs the application
//!   while the exporter talks to a backend that is up, slow (1 s a
//!   response) or down (nothing listens).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};
use tracekit::{Exporter as _, SpanRecord};
use tracekit_benches::{block_on, sink_server};

const BATCH: usize = 512;

/// The same span both ways: a name, five attributes of four types, one
/// event, a parent.
fn tracekit_batch() -> Vec<SpanRecord> {
    let ((), c) = tracekit::testing::capture(|| {
        let root = tracekit::start_active_span("request");
        for i in 0..BATCH - 1 {
            let mut s = tracekit::Span::start("db.query");
            s.set_tag("db.system", "postgres");
            s.set_tag("db.statement", "SELECT * FROM users WHERE id = $1");
            s.set_tag("rows", i as i64);
            s.set_tag("cached", false);
            s.set_tag("ratio", 0.25);
            s.add_event("retry", [("attempt", 1)]);
        }
        drop(root);
    });
    c.spans().to_vec()
}

fn otel_batch() -> Vec<SpanData> {
    let trace_id = TraceId::from_bytes(tracekit::TraceId::random().to_u128().to_be_bytes());
    let now = SystemTime::now();
    (0..BATCH)
        .map(|i| SpanData {
            span_context: SpanContext::new(
                trace_id,
                SpanId::from_bytes((i as u64 + 2).to_be_bytes()),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from_bytes(1u64.to_be_bytes()),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "db.query".into(),
            start_time: now,
            end_time: now + Duration::from_micros(30),
            attributes: vec![
                KeyValue::new("db.system", "postgres"),
                KeyValue::new("db.statement", "SELECT * FROM users WHERE id = $1"),
                KeyValue::new("rows", i as i64),
                KeyValue::new("cached", false),
                KeyValue::new("ratio", 0.25),
            ],
            dropped_attributes_count: 0,
            events: {
                let mut events = SpanEvents::default();
                events.events.push(opentelemetry::trace::Event::new(
                    "retry",
                    now,
                    vec![KeyValue::new("attempt", 1i64)],
                    0,
                ));
                events
            },
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("bench").build(),
        })
        .collect()
}

fn export(c: &mut Criterion) {
    let url = sink_server(Duration::ZERO);
    let config = tracekit_otlp::OtlpConfig::new(&url, tracekit_otlp::Resource::new("bench"));
    let mut ours = tracekit_otlp::OtlpExporter::new(&config);
    let theirs = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/traces"))
        .build()
        .expect("an opentelemetry-otlp exporter");
    let (tk, ot) = (tracekit_batch(), otel_batch());
    assert_eq!((tk.len(), ot.len()), (BATCH, BATCH));

    let mut g = c.benchmark_group("otlp export");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("tracekit-otlp", |b| {
        b.iter_batched(
            || tk.clone(),
            |batch| {
                ours.export(batch, Instant::now() + Duration::from_secs(30))
                    .expect("exported")
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("opentelemetry-otlp", |b| {
        b.iter_batched(
            || ot.clone(),
            |batch| block_on(theirs.export(batch)).expect("exported"),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut encode = tracekit_otlp::__test::encoder(&config);
    let mut g = c.benchmark_group("otlp encode");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("tracekit-otlp", |b| b.iter(|| black_box(encode(&tk))));
    g.finish();
}

#[tracekit::trace_fn]
fn traced(n: u64) -> u64 {
    black_box(n) + 1
}

/// 100 traced calls under a root, with spans flowing to an OTLP exporter.
fn app_thread(c: &mut Criterion) {
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        format!("http://{}", l.local_addr().expect("bound"))
    };
    let backends = [
        ("backend up", sink_server(Duration::ZERO)),
        ("backend slow", sink_server(Duration::from_secs(1))),
        ("backend down", down),
    ];
    let mut g = c.benchmark_group("app thread while exporting");
    g.throughput(Throughput::Elements(101));
    for (name, url) in backends {
        let config = tracekit_otlp::OtlpConfig {
            batch: tracekit::BatchConfig {
                scheduled_delay: Duration::from_millis(100),
                export_timeout: Duration::from_secs(2),
                ..Default::default()
            },
            ..tracekit_otlp::OtlpConfig::new(&url, tracekit_otlp::Resource::new("bench"))
        };
        let reporter = tracekit_otlp::reporter(config);
        let stats = reporter.stats();
        let guard = tracekit::set_reporter(reporter);
        g.bench_function(name, |b| {
            b.iter(|| {
                let _root = tracekit::start_active_span("root");
                for i in 0..100 {
                    black_box(traced(i));
                }
            })
        });
        guard.shutdown();
        let s = stats.snapshot();
        eprintln!(
            "{name}: exported {}, dropped (queue full) {}, dropped (export failed) {}, export errors {}",
            s.spans_exported,
            s.spans_dropped_queue_full,
            s.spans_dropped_export_failed,
            s.export_errors
        );
    }
    g.finish();
}

criterion_group!(benches, export, app_thread);
criterion_main!(benches);
