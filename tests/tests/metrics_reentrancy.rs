//! A global allocator that makes traced calls (a tracking allocator) while
//! the metrics do their own bookkeeping, which allocates under their locks:
//! a trace point's first count, a thread's first table, a failed call's
//! error-type series, a snapshot, and a call counted as its thread ends.
//! The allocator's calls are counted or not, but never wait on a lock
//! their own thread holds, and the calls around them count exactly.
//!
//! One test in this binary: the allocator traces on armed threads only.

use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

#[tracekit::trace_fn]
fn in_allocator() {}

#[tracekit::trace_fn]
fn failing_in_allocator() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

/// Makes two traced calls, one failing, for every allocation while armed.
struct TracingAllocator;

impl TracingAllocator {
    fn trace(_size: usize) {
        if ARMED.get() && !INSIDE.replace(true) {
            in_allocator();
            let _ = failing_in_allocator();
            INSIDE.set(false);
        }
    }
}

#[global_allocator]
static ALLOCATOR: tracekit_tests::HookedAllocator =
    tracekit_tests::HookedAllocator::new(TracingAllocator::trace);

#[tracekit::trace_fn]
fn first_point(i: u64) -> Result<u64, std::fmt::Error> {
    if i.is_multiple_of(2) {
        Err(std::fmt::Error)
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
fn at_thread_end() {}

/// Makes a traced call from its destructor, as its thread ends, with the
/// allocator armed.
struct CallsAtThreadEnd(mpsc::Sender<&'static str>);

impl Drop for CallsAtThreadEnd {
    fn drop(&mut self) {
        ARMED.set(true);
        at_thread_end();
        ARMED.set(false);
        let _ = self.0.send("thread end");
    }
}

thread_local! {
    static CALLS_AT_THREAD_END: Cell<Option<CallsAtThreadEnd>> = const { Cell::new(None) };
}

#[test]
fn an_allocator_that_traces_inside_the_metrics_bookkeeping_does_not_deadlock() {
    tracekit::metrics::set_enabled(true);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        // Made before any of tracekit's thread-locals, so that its
        // destructor runs after theirs (they go in the reverse order of
        // their first use): its call finds this thread's tables gone.
        CALLS_AT_THREAD_END.set(Some(CallsAtThreadEnd(done.clone())));
        // Under an unsampled parent: every call is counted on this thread.
        let attached =
            tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
        ARMED.set(true);
        // This thread's first table, a point's first slot and counters, a
        // failed call's first error-type series: each allocates.
        for i in 0..6 {
            let _ = first_point(i);
        }
        let _ = done.send("calls");
        let snapshot = tracekit::metrics::snapshot();
        let _ = done.send("snapshot");
        ARMED.set(false);
        drop((snapshot, attached));
        at_thread_end();
    });
    for step in ["calls", "snapshot", "thread end"] {
        assert_eq!(
            finished.recv_timeout(Duration::from_secs(20)),
            Ok(step),
            "a deadlock holds the thread before it"
        );
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let metrics = tracekit::metrics::snapshot();
    let first = metrics.function("first_point").expect("counted");
    assert_eq!((first.calls(), first.errors()), (6, 3));
    let by_type: Vec<(&str, u64)> = first.error_types().map(|(t, h)| (t, h.count())).collect();
    assert_eq!(by_type, [("core::fmt::Error", 3)]);
    assert_eq!(
        metrics.function("at_thread_end").map(|f| f.calls()),
        Some(2)
    );
    // The allocator's own calls count, but for those made inside the
    // bookkeeping: as many succeed as fail, whichever were counted.
    let inner = metrics.function("in_allocator").expect("counted").calls();
    let failed = metrics.function("failing_in_allocator").expect("counted");
    assert!(inner > 0);
    assert_eq!(failed.calls(), failed.errors());
}
