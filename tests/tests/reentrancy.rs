//! Item 2 of the soundness audit (issue 10): code that runs *inside*
//! tracekit's thread state and calls tracekit again. The one kind of user
//! code that can run there is the global allocator; one that traces its own
//! calls (a tracking allocator) re-enters tracekit whenever tracekit grows
//! a buffer. That must degrade to a no-op for the inner call, never to two
//! live `&mut` borrows of the same state.

use std::cell::Cell;
use tracekit::testing::capture;
use tracekit::{Span, start_active_span, trace_fn};

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Starts a span (with a tag, and a child) for every allocation while armed.
struct TracingAllocator;

impl TracingAllocator {
    fn trace(size: usize) {
        let armed = ARMED.try_with(Cell::get).unwrap_or(false);
        let inside = INSIDE.try_with(|i| i.replace(true)).unwrap_or(true);
        if armed && !inside {
            let span = start_active_span("alloc");
            span.set_tag("size", size as u64);
            drop(Span::start("alloc.child"));
            tracekit::current_span().set_tag("after", true);
            drop(span);
        }
        if !inside {
            let _ = INSIDE.try_with(|i| i.set(false));
        }
    }
}

#[global_allocator]
static ALLOCATOR: tracekit_tests::HookedAllocator =
    tracekit_tests::HookedAllocator::new(TracingAllocator::trace);

#[trace_fn]
fn level(depth: u32, label: String) -> usize {
    if depth == 0 {
        return label.len();
    }
    // Each level allocates (the label) and records a tag that grows
    // tracekit's tag storage, so tracekit's buffers grow under the spans.
    let span = tracekit::current_span();
    span.set_tag(format!("depth.{depth}"), depth);
    span.add_event("descend", [("to", depth - 1)]);
    level(depth - 1, format!("{label}/{depth}"))
}

#[test]
fn an_allocator_that_traces_inside_tracekit_cannot_corrupt_its_state() {
    ARMED.with(|a| a.set(true));
    let (len, c) = capture(|| {
        let mut total = 0;
        for round in 0..20 {
            let _round = start_active_span("round");
            total += level(60, format!("r{round}"));
        }
        total
    });
    ARMED.with(|a| a.set(false));
    assert!(len > 0);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    // Whatever the allocator managed to record, the user's spans are whole:
    // 20 rounds, each a chain of 61 `level` spans with the right parents
    // and their own tags.
    let rounds = c.spans_named("round");
    assert_eq!(rounds.len(), 20);
    let levels = c.spans_named("level");
    assert_eq!(levels.len(), 20 * 61);
    for l in &levels {
        let depth = l.tag("depth").and_then(|v| v.as_i64()).unwrap();
        let parent = c
            .spans()
            .iter()
            .find(|p| Some(p.span_id()) == l.parent_id())
            .expect("every level has its parent captured");
        if depth == 60 {
            assert_eq!(parent.name(), "round");
        } else {
            assert_eq!(parent.name(), "level");
            let pd = parent.tag("depth").and_then(|v| v.as_i64()).unwrap();
            assert_eq!(pd, depth + 1);
        }
        if depth > 0 {
            let key = format!("depth.{depth}");
            assert_eq!(l.tag(&key).and_then(|v| v.as_i64()), Some(depth));
            assert_eq!(l.events().len(), 1);
        }
    }
    // Spans the allocator started from outside tracekit's state were
    // recorded like any other, each with its child.
    for a in c.spans_named("alloc") {
        assert!(a.tag("size").is_some());
        assert_eq!(a.tag("after").and_then(|v| v.as_bool()), Some(true));
    }
    assert_eq!(
        c.spans_named("alloc").len(),
        c.spans_named("alloc.child").len()
    );
}
