//! The span of an `async fn` lives in the batch of the thread that starts
//! the call until its first poll ends, and moves out into its future only
//! when that poll returns `Pending`. What must hold either way: the span
//! keeps everything done to it (tags, events, children, arguments, errors)
//! wherever it was done, and the thread's stack is left as it was.

use tracekit::testing::{capture, capture_async};
use tracekit::{Context, Value, trace_fn};
use tracekit_tests::{YieldOnce, block_on};

#[trace_fn]
fn leaf(i: u64) -> u64 {
    i
}

#[trace_fn]
async fn quick(a: u64) -> Result<u64, std::io::Error> {
    tracekit::current_span().set_tag("phase", "only");
    tracekit::current_span().add_event("checked", [("a", a)]);
    leaf(a);
    if a == 0 {
        return Err(std::io::Error::other("zero"));
    }
    Ok(a)
}

#[test]
fn a_call_done_in_its_first_poll_keeps_everything() {
    let (r, c) = capture(|| {
        let _root = tracekit::start_active_span("root");
        (block_on(quick(3)).unwrap(), block_on(quick(0)).is_err())
    });
    assert_eq!(r, (3, true));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "root\n  quick\n    leaf\n  quick\n    leaf\n");
    let calls = c.children(c.span("root"));
    assert_eq!(calls[0].tag("a"), Some(&Value::U64(3)));
    assert_eq!(
        calls[0].tag("phase").map(ToString::to_string).as_deref(),
        Some("only")
    );
    assert_eq!(calls[0].events()[0].name(), "checked");
    assert!(!calls[0].is_error());
    assert!(calls[1].is_error());
    assert_eq!(calls[1].status(), &tracekit::Status::error("zero"));
}

#[trace_fn]
async fn waits(a: u64) -> u64 {
    tracekit::current_span().set_tag("before", true);
    tracekit::current_span().add_event("start", ());
    leaf(1);
    YieldOnce::default().await;
    tracekit::current_span().set_tag("after", true);
    leaf(2);
    a
}

#[test]
fn a_call_that_waits_moves_out_with_what_was_done_before() {
    let (r, c) = capture(|| {
        let _root = tracekit::start_active_span("root");
        let before = Context::current().span_context().cloned();
        let r = block_on(waits(5));
        // The frame of the call left the stack when it moved out.
        assert_eq!(Context::current().span_context().cloned(), before);
        r
    });
    assert_eq!(r, 5);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(c.tree(), "root\n  waits\n    leaf\n    leaf\n");
    let w = c.span("waits");
    assert_eq!(w.tag("a"), Some(&Value::U64(5)));
    assert_eq!(w.tag("before"), Some(&Value::Bool(true)));
    assert_eq!(w.tag("after"), Some(&Value::Bool(true)));
    assert_eq!(w.events().len(), 1);
    assert_eq!(w.parent_id(), Some(c.span("root").span_id()));
    for leaf in c.children(w) {
        assert_eq!(leaf.trace_id(), w.trace_id());
    }
}

#[test]
fn a_call_that_waits_on_a_multi_thread_runtime_finishes_elsewhere() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (r, c) = rt.block_on(capture_async(async {
        let _ = tokio::spawn(tracekit::FutureExt::in_current_span(async {
            let mut sum = 0;
            for i in 0..20 {
                sum += waits_on_tokio(i).await;
            }
            sum
        }))
        .await;
        7
    }));
    assert_eq!(r, 7);
    if !tracekit::TRACE_ALL {
        return;
    }
    let calls: Vec<_> = c
        .spans()
        .iter()
        .filter(|s| s.name() == "waits_on_tokio")
        .collect();
    assert_eq!(calls.len(), 20);
    for s in calls {
        assert_eq!(s.tag("before"), Some(&Value::Bool(true)));
        assert_eq!(s.tag("after"), Some(&Value::Bool(true)));
        assert_eq!(
            c.children(s).len(),
            2,
            "both leaves, before and after the wait"
        );
    }
}

#[trace_fn]
async fn waits_on_tokio(a: u64) -> u64 {
    tracekit::current_span().set_tag("before", true);
    leaf(1);
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    tracekit::current_span().set_tag("after", true);
    leaf(2);
    a
}

#[trace_fn]
async fn many_then_wait(n: u64) -> u64 {
    tracekit::current_span().set_tag("first", 1u64);
    // More children than a batch holds under an open span: the thread hands
    // over what finished in the middle of this first poll.
    for i in 0..n {
        leaf(i);
    }
    tracekit::current_span().set_tag("second", 2u64);
    YieldOnce::default().await;
    n
}

#[trace_fn]
fn tagged() {
    tracekit::current_span().set_tag("k", 1u64);
}

#[test]
fn a_hand_over_during_the_first_poll_loses_none_of_the_tags() {
    let (r, c) = capture(|| {
        let _root = tracekit::start_active_span("root");
        // Tags in the batch before the call starts: after the hand-over
        // renumbers the arena, the call's tags sit where these were.
        for _ in 0..300 {
            tagged();
        }
        block_on(many_then_wait(3000))
    });
    assert_eq!(r, 3000);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = c.span("many_then_wait");
    assert_eq!(s.tag("first"), Some(&Value::U64(1)));
    assert_eq!(s.tag("second"), Some(&Value::U64(2)));
    assert_eq!(c.children(s).len(), 3000);
    assert_eq!(
        c.spans()
            .iter()
            .filter(|x| x.name() == "many_then_wait")
            .count(),
        1,
        "the record left behind when the span moved out is not reported"
    );
}

#[trace_fn]
async fn panics_at_once(flag: bool) -> u8 {
    leaf(1);
    if flag {
        panic!("first poll boom");
    }
    0
}

#[test]
fn a_panic_in_the_first_poll_marks_the_span_and_leaves_the_stack_clean() {
    let (after, c) = capture(|| {
        let _root = tracekit::start_active_span("root");
        let before = Context::current().span_context().cloned();
        let r = std::panic::catch_unwind(|| block_on(panics_at_once(true)));
        assert!(r.is_err());
        let after = Context::current().span_context().cloned();
        assert_eq!(after, before);
        let _next = tracekit::start_active_span("next");
        after.is_some()
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert!(after);
    let s = c.span("panics_at_once");
    assert!(s.is_error());
    assert_eq!(s.status(), &tracekit::Status::error("first poll boom"));
    assert_eq!(s.parent_id(), Some(c.span("root").span_id()));
    assert_eq!(c.span("next").parent_id(), Some(c.span("root").span_id()));
}

// Only called by `fields(...)`, which is not expanded with tracing off.
#[cfg_attr(not(feature = "trace-all"), allow(dead_code))]
fn explode() -> u64 {
    panic!("field boom")
}

#[trace_fn(fields(boom = explode()))]
async fn bad_field() -> u8 {
    1
}

#[test]
fn a_panic_computing_a_field_ends_the_span_it_started() {
    let (ok, c) = capture(|| {
        let _root = tracekit::start_active_span("root");
        let before = Context::current().span_context().cloned();
        let r = std::panic::catch_unwind(|| block_on(bad_field()));
        // With tracing compiled out the field is never computed.
        assert_eq!(r.is_err(), tracekit::TRACE_ALL);
        Context::current().span_context().cloned() == before
    });
    assert!(ok, "the stack is as it was");
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = c.span("bad_field");
    assert!(s.is_error());
    assert_eq!(s.parent_id(), Some(c.span("root").span_id()));
}

#[trace_fn(skip(outer))]
async fn tags_beside_a_full_parent(outer: &tracekit::ActiveSpan) -> u64 {
    tracekit::current_span().set_tag("mine", 7u64);
    // A new key on the parent, which is at the limit with a key repeated:
    // its repeats are merged out of the arena, below this call's tags.
    outer.set_tag("outer.new", true);
    YieldOnce::default().await;
    tracekit::current_span().set_tag("after", true);
    1
}

/// Audit finding 3 (issue 27): a merge of the parent's repeated tags during
/// the call's first poll moved the call's tags below where it looked for
/// them when it moved out, and `mine` was lost.
#[test]
fn a_parent_merging_its_tags_during_the_first_poll_loses_none_of_the_calls() {
    let (r, c) = capture(|| {
        let outer = tracekit::start_active_span("outer");
        // The limit is reached with `k0` set twice: 127 keys, 128 tags.
        outer.set_tag("k0", 0u64);
        outer.set_tag("k0", 1000u64);
        for i in 1..tracekit::TAG_LIMIT - 1 {
            outer.set_tag(format!("k{i}"), i as u64);
        }
        block_on(tags_beside_a_full_parent(&outer))
    });
    assert_eq!(r, 1);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let s = c.span("tags_beside_a_full_parent");
    assert_eq!(s.tag("mine"), Some(&Value::U64(7)));
    assert_eq!(s.tag("after"), Some(&Value::Bool(true)));
    let outer = c.span("outer");
    assert_eq!(outer.tag("k0"), Some(&Value::U64(1000)));
    assert_eq!(outer.tag("outer.new"), Some(&Value::Bool(true)));
    assert_eq!(outer.dropped_tags(), 0);
    assert!(
        outer.tags().all(|(k, _)| k != "mine"),
        "no tag of the call landed on its parent"
    );
}
