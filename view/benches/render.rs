//! What it costs to turn 100,000 spans into a page: reading the OTLP JSON
//! lines, and writing the HTML (and the Perfetto JSON). The browser side,
//! time to first render of the same page, is measured by
//! `bash scripts/view-browser-test.sh --bench 100000`.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use tracekit_view::{TraceData, read_otlp_json, render_html, render_perfetto};

const SPANS: usize = 100_000;

/// Traces of 1,000 spans (trees four wide), as `FileExporter` writes them:
/// batches of 512 spans a line, with a few tags each.
fn otlp_lines() -> String {
    let base: u64 = 1_700_000_000_000_000_000;
    let mut out = String::new();
    let mut batch = Vec::new();
    for i in 0..SPANS {
        let k = i % 1000;
        let mut span = json!({
            "traceId": format!("{:032x}", 1 + i / 1000),
            "spanId": format!("{:016x}", 1 + i),
            "name": format!("op-{}", k % 37),
            "kind": 1,
            "startTimeUnixNano": (base + k as u64 * 10_000).to_string(),
            "endTimeUnixNano": (base + k as u64 * 10_000 + 5_000_000 - (k as u64 % 50) * 10_000).to_string(),
            "attributes": [
                {"key": "i", "value": {"intValue": i.to_string()}},
                {"key": "user", "value": {"stringValue": format!("u{}", i % 500)}},
            ],
            "status": if k % 97 == 0 { json!({"code": 2, "message": "failed"}) } else { json!({}) },
        });
        if k > 0 {
            span["parentSpanId"] = json!(format!("{:016x}", 1 + (i - k) + (k - 1) / 4));
        }
        batch.push(span);
        if batch.len() == 512 || i + 1 == SPANS {
            let line = json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": batch}],
            }]});
            out.push_str(&line.to_string());
            out.push('\n');
            batch = Vec::new();
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let input = otlp_lines();
    let mut data = TraceData::default();
    read_otlp_json(input.as_bytes(), &mut data).expect("valid input");
    assert_eq!(data.spans.len(), SPANS);
    let mut g = c.benchmark_group("view_100k_spans");
    g.sample_size(10);
    g.bench_function("read_otlp_json", |b| {
        b.iter(|| {
            let mut d = TraceData::default();
            read_otlp_json(black_box(input.as_bytes()), &mut d).expect("valid");
            d
        })
    });
    g.bench_function("render_html", |b| {
        b.iter(|| render_html(black_box(&data), "bench"))
    });
    g.bench_function("render_perfetto", |b| {
        b.iter(|| render_perfetto(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
