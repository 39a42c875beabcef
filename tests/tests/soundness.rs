//! Regression tests for the soundness audit (issue 10) that need no global
//! reporter: each runs inside its own `testing::capture`, so they run in
//! parallel. The ones that install a reporter or a panic hook live in
//! `soundness_global.rs`; the re-entrant allocator in `reentrancy.rs`.
//!
//! Written against what a user sees, so they hold through any rework of the
//! span core.

use std::sync::mpsc;
use std::time::Duration;
use tracekit::testing::capture;
use tracekit::{Context, FutureExt, Span, Value, start_active_span, trace_fn};

#[trace_fn]
fn job(n: u64) -> u64 {
    n * 2
}

/// Item 1: a thread started outside any span holds an empty context; a
/// thread it starts in turn must see "no parent", not crash.
#[test]
fn a_thread_started_outside_any_span_can_start_threads() {
    let ((), c) = capture(|| {
        tracekit::thread::spawn(|| {
            assert!(Context::current().span_context().is_none());
            tracekit::thread::spawn(|| drop(Span::start("grandchild")))
                .join()
                .expect("the inner thread must not panic");
            drop(Span::start("child"));
        })
        .join()
        .expect("the outer thread must not panic");
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    // Both are roots of their own traces, and both were captured: an empty
    // context still carries the capture across threads.
    assert!(c.span("grandchild").parent_id().is_none());
    assert!(c.span("child").parent_id().is_none());
    assert_ne!(c.span("grandchild").trace_id(), c.span("child").trace_id());
}

/// Item 1, async form: a task spawned with `.in_current_span()` outside any
/// span spawns another the same way.
#[test]
fn a_task_spawned_outside_any_span_can_spawn_tasks_in_its_context() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let ((), c) = capture(|| {
        rt.block_on(async {
            tokio::spawn(
                async {
                    tokio::spawn(async { drop(Span::start("inner task")) }.in_current_span())
                        .await
                        .expect("the inner task must not panic");
                    // The empty context, current while polling, also reads as empty.
                    assert!(tracekit::current_span().context().is_none());
                    assert!(Context::current().span_context().is_none());
                }
                .in_current_span(),
            )
            .await
            .expect("the outer task must not panic");
        })
    });
    if tracekit::TRACE_ALL {
        assert!(c.span("inner task").parent_id().is_none());
    }
}

/// Item 1: re-entering an attached empty context, and attaching the context
/// of a context, keeps "no parent".
#[test]
fn an_empty_context_propagates_as_no_parent() {
    let ((), c) = capture(|| {
        let _empty = Context::default().attach();
        let again = Context::current();
        assert!(again.span_context().is_none());
        let _nested = again.attach();
        assert!(tracekit::current_span().context().is_none());
        assert!(!tracekit::current_span().is_recording());
        tracekit::current_span().set_tag("nowhere", 1);
        drop(Span::start("root here"));
        job(1);
    });
    if tracekit::TRACE_ALL {
        assert!(c.span("root here").parent_id().is_none());
        assert!(c.span("job").parent_id().is_none());
        assert!(c.span("root here").tag("nowhere").is_none());
    }
}

/// Item 3: a worker started with `tracekit::thread::spawn` holds an attached
/// context for its whole life. Its finished jobs must leave the thread when
/// each job ends, not when the worker exits.
#[test]
fn a_long_lived_worker_delivers_its_jobs_while_it_lives() {
    let (done_tx, done_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (worker, c) = capture(|| {
        let _request = start_active_span("request");
        let worker = tracekit::thread::spawn(move || {
            for n in 0..3 {
                job(n);
            }
            done_tx.send(()).unwrap();
            // Still alive, still inside its attached context, when the
            // capture ends.
            let _ = stop_rx.recv_timeout(Duration::from_secs(30));
        });
        done_rx.recv().unwrap();
        worker // joined after the capture
    });
    stop_tx.send(()).unwrap();
    worker.join().unwrap();
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let jobs = c.spans_named("job");
    assert_eq!(jobs.len(), 3, "{}", c.tree());
    for j in jobs {
        assert_eq!(j.parent_id(), Some(c.span("request").span_id()));
    }
}

/// Item 3, same thread: a long-lived `Context::attach()` around a loop.
#[test]
fn spans_under_a_long_lived_attached_context_are_handed_over_as_they_finish() {
    let (done_tx, done_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (worker, c) = capture(|| {
        let cx = Context::current();
        let worker = std::thread::spawn(move || {
            let _attached = cx.attach();
            for n in 0..3 {
                let _s = start_active_span("loop job");
                job(n);
            }
            done_tx.send(()).unwrap();
            let _ = stop_rx.recv_timeout(Duration::from_secs(30));
        });
        done_rx.recv().unwrap();
        worker
    });
    stop_tx.send(()).unwrap();
    worker.join().unwrap();
    if tracekit::TRACE_ALL {
        assert_eq!(c.spans_named("loop job").len(), 3, "{}", c.tree());
        assert_eq!(c.spans_named("job").len(), 3, "{}", c.tree());
    }
}

thread_local! {
    // Set before tracekit's own thread state, so it is destroyed after it.
    static KEPT: std::cell::RefCell<Option<tracekit::ActiveSpan>> =
        const { std::cell::RefCell::new(None) };
    static KEPT_OWNED: std::cell::RefCell<Option<Span>> = const { std::cell::RefCell::new(None) };
}

/// Item 4: spans still open when a thread's tracing state is torn down (a
/// guard kept in the user's own thread-local, whose destructor runs after
/// tracekit's) are finished and marked, not lost.
#[test]
fn spans_still_open_at_thread_exit_are_finished_and_marked() {
    let ((), c) = capture(|| {
        let cx = Context::current();
        std::thread::spawn(move || {
            // The user's thread-locals come first, so they are torn down
            // after tracekit's (destructors run in reverse order).
            KEPT.with(|_| {});
            KEPT_OWNED.with(|_| {});
            let _cx = cx.attach();
            let span = start_active_span("kept in a thread-local");
            span.set_tag("set", true);
            let inner = start_active_span("also open");
            KEPT.with(|k| *k.borrow_mut() = Some(span));
            std::mem::forget(inner);
            KEPT_OWNED.with(|k| *k.borrow_mut() = Some(Span::start("owned in a thread-local")));
            drop(Span::start("finished normally"));
        })
        .join()
        .unwrap();
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let kept = c.span("kept in a thread-local");
    assert_eq!(kept.tag("set"), Some(&Value::Bool(true)));
    assert_eq!(kept.tag("unfinished"), Some(&Value::Bool(true)));
    let open = c.span("also open");
    assert_eq!(open.tag("unfinished"), Some(&Value::Bool(true)));
    assert_eq!(open.parent_id(), Some(kept.span_id()));
    assert_eq!(c.span("finished normally").tag("unfinished"), None);
    // An owned span is not on the thread's stack: it finishes when its own
    // destructor runs, whenever that is.
    assert_eq!(
        c.span("owned in a thread-local").parent_id(),
        Some(open.span_id())
    );
}

/// Item 6: a capture without any reporter installed sees every span, however
/// many, even past the collector queue's capacity.
#[test]
fn capture_without_a_reporter_keeps_everything_past_the_queue_capacity() {
    let calls = tracekit::QUEUE_CAPACITY as u64 + 34_464;
    let ((), c) = capture(|| {
        for n in 0..calls {
            job(n);
        }
    });
    if tracekit::TRACE_ALL {
        assert_eq!(c.spans().len() as u64, calls);
    } else {
        assert!(c.spans().is_empty());
    }
}

/// Item 6, nested: the same number of spans under one root.
#[test]
fn capture_keeps_everything_under_one_root_past_the_queue_capacity() {
    let calls = tracekit::QUEUE_CAPACITY as u64 + 1_000;
    let ((), c) = capture(|| {
        let _root = start_active_span("root");
        for n in 0..calls {
            job(n);
        }
    });
    if tracekit::TRACE_ALL {
        assert_eq!(c.spans().len() as u64, calls + 1);
    }
}

/// Item 7: however many spans a thread starts while a guard lives, the
/// guard still addresses its own span. The hook stands for that many span
/// starts without making them.
#[test]
fn a_long_lived_guard_keeps_addressing_its_own_span_after_billions_of_spans() {
    for skipped in [
        (1u64 << 32) - 3,
        (1 << 32) - 2,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
    ] {
        let ((), c) = capture(|| {
            let root = start_active_span("root");
            tracekit::__support::skip_span_starts(skipped);
            let nested = start_active_span("nested");
            root.set_tag("on", "root");
            nested.set_tag("on", "nested");
            drop(nested);
            root.set_tag("after", true);
        });
        if !tracekit::TRACE_ALL {
            continue;
        }
        let (root, nested) = (c.span("root"), c.span("nested"));
        assert_eq!(root.tag("on").unwrap().to_string(), "root", "{skipped}");
        assert_eq!(nested.tag("on").unwrap().to_string(), "nested", "{skipped}");
        assert_eq!(root.tag("after"), Some(&Value::Bool(true)), "{skipped}");
        assert_eq!(nested.parent_id(), Some(root.span_id()));
    }
}

#[trace_fn]
async fn holds_a_guard_across_await() {
    let _wrong = start_active_span("held across await");
    tokio::task::yield_now().await;
}

#[trace_fn]
async fn runs_meanwhile() {}

/// Noted by the audit: a guard held across `.await` stays on the thread
/// while its future waits. That misuse cannot be repaired, but it shows: the
/// span is tagged (and stderr says so once).
#[test]
fn a_guard_held_across_await_is_flagged_on_its_span() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), c) = capture(|| {
        rt.block_on(async {
            tokio::join!(holds_a_guard_across_await(), runs_meanwhile());
        })
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let held = c.span("held across await");
    assert_eq!(
        held.tag("tracekit.guard_held_across_await"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        c.span("holds_a_guard_across_await")
            .tag("tracekit.guard_held_across_await"),
        None
    );
}
