//! What one span can hold is bounded as OpenTelemetry's span limits are:
//! events and links past 128 are counted, not kept, and the count reaches
//! the backend; argument text stops at `MAX_TEXT_LEN`.

use tracekit::{EVENT_LIMIT, LINK_LIMIT, Span, SpanContext, SpanId, TraceId};
use tracekit_otlp::{OtlpConfig, Resource};

#[test]
fn links_past_the_limit_are_counted_from_the_builder_and_after_start() {
    let ((), c) = tracekit::testing::capture(|| {
        // A remote context to link to, so the test runs with trace-all off too.
        let cx = SpanContext::remote(
            TraceId::from_u128(7).expect("non-zero"),
            SpanId::from_u64(9).expect("non-zero"),
            true,
        );
        let mut b = Span::builder("builder");
        for _ in 0..150 {
            b = b.follows_from(&cx);
        }
        drop(b.start());
        let mut later = Span::start("later");
        for _ in 0..300 {
            later.add_follows_from(&cx);
        }
    });
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.span("builder").links().len(), LINK_LIMIT);
    assert_eq!(c.span("builder").dropped_links(), 150 - LINK_LIMIT as u32);
    assert_eq!(c.span("later").links().len(), LINK_LIMIT);
    assert_eq!(c.span("later").dropped_links(), 300 - LINK_LIMIT as u32);

    // The counts reach OTLP's dropped_links_count / dropped_events_count.
    let config = OtlpConfig::new("http://localhost:4318", Resource::new("t"));
    let req = tracekit_otlp::__test::structs(&config, c.spans());
    let spans: Vec<_> = req.resource_spans[0].scope_spans[0].spans.iter().collect();
    let later = spans.iter().find(|s| s.name == "later").unwrap();
    assert_eq!(later.links.len(), LINK_LIMIT);
    assert_eq!(later.dropped_links_count, 300 - LINK_LIMIT as u32);
}

#[test]
fn a_span_logging_in_a_loop_keeps_128_events_and_counts_the_rest() {
    let ((), c) = tracekit::testing::capture(|| {
        let s = tracekit::start_active_span("loop");
        for i in 0..10_000 {
            s.add_event("tick", [("i", i)]);
        }
    });
    if !cfg!(feature = "trace-all") {
        return;
    }
    assert_eq!(c.span("loop").events().len(), EVENT_LIMIT);
    assert_eq!(c.span("loop").dropped_events(), 10_000 - EVENT_LIMIT as u32);
}

#[tracekit::trace_fn]
fn store(blob: &[u8]) -> usize {
    blob.len()
}

#[test]
fn the_text_limit_is_set_at_run_time() {
    // The only test in this binary that formats arguments, so changing the
    // global limit disturbs no other.
    tracekit::set_max_text_len(16);
    let (_, c) = tracekit::testing::capture(|| store(&[7; 100]));
    assert_eq!(tracekit::max_text_len(), 16);
    tracekit::set_max_text_len(tracekit::MAX_TEXT_LEN);
    if !cfg!(feature = "trace-all") {
        return;
    }
    let text = c.span("store").tag("blob").unwrap().to_string();
    assert_eq!(text, "[7, 7, 7, 7, 7, …", "16 bytes, then …");
    let (_, c) = tracekit::testing::capture(|| store(&[7; 100]));
    assert_eq!(
        c.span("store").tag("blob").unwrap().to_string().len(),
        300,
        "the default limit keeps all 300 bytes"
    );
}
