//! Audit finding 4 (issue 27): the trace point filter held its lock while
//! it allocated (reading the environment, formatting a point's path,
//! growing its table of switches). A global allocator that calls a traced
//! function whose point was not worked out yet took the same lock again on
//! the same thread, and `set_enabled` never returned. The filter now turns
//! such a call into "on, worked out later", as the thread state turns a
//! re-entered call into a no-op.
//!
//! One test in this binary: the first thing it does is the first use of
//! the filter in the process.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use tracekit::trace_fn;

static ARMED: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Traces its allocations (while armed) through a `#[trace_fn]` function,
/// as a tracking allocator might.
struct TracingAllocator;

#[trace_fn]
fn allocation(size: usize) -> usize {
    CALLS.fetch_add(1, Ordering::Relaxed);
    size
}

impl TracingAllocator {
    fn trace(size: usize) {
        if !ARMED.load(Ordering::Relaxed) {
            return;
        }
        let inside = INSIDE.try_with(|i| i.replace(true)).unwrap_or(true);
        if !inside {
            allocation(size);
            let _ = INSIDE.try_with(|i| i.set(false));
        }
    }
}

#[global_allocator]
static ALLOCATOR: tracekit_tests::HookedAllocator =
    tracekit_tests::HookedAllocator::new(TracingAllocator::trace);

#[trace_fn]
fn handler(n: u64) -> u64 {
    n
}

/// Runs `f` on its own thread and fails if it does not return in time: a
/// deadlock shows as a failure, not as a hung test run.
fn within(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        // Reporting the failure allocates: the allocator must not wait for
        // the lock the stuck thread holds.
        ARMED.store(false, Ordering::Relaxed);
        panic!("{what}: still running after 30 s (deadlock)");
    }
}

#[test]
fn a_tracing_allocator_cannot_deadlock_the_filter() {
    // The filter's first use reads the environment under its lock; a
    // variable that is set is copied into an allocation.
    // SAFETY: the one test of this binary, and nothing else of it runs yet:
    // no other thread reads the environment now.
    unsafe {
        std::env::set_var("OTEL_SDK_DISABLED", "false");
        std::env::set_var("TRACEKIT_FILTER", "");
    }
    within("set_enabled, the filter's first use", || {
        ARMED.store(true, Ordering::Relaxed);
        tracekit::set_enabled(false);
        tracekit::set_enabled(true);
    });
    // A filter with patterns formats the points' paths under the lock.
    within("set_filter", || {
        tracekit::set_filter("*::nothing=off").unwrap();
        tracekit::set_enabled(false);
        tracekit::set_enabled(true);
    });
    // A switch on one point grows the table of switches under the lock.
    within("Metadata::set_enabled", || {
        for p in tracekit::trace_points() {
            p.set_enabled(p.name() != "handler");
        }
        tracekit::set_filter("").unwrap();
    });
    ARMED.store(false, Ordering::Relaxed);
    if tracekit::TRACE_ALL {
        assert!(
            CALLS.load(Ordering::Relaxed) > 0,
            "the allocator ran its traced function"
        );
    }
    // The filter still works for the program's own calls.
    tracekit::set_filter("*::handler=off").unwrap();
    let (_, c) = tracekit::testing::capture(|| {
        let _root = tracekit::start_active_span("root");
        handler(1)
    });
    tracekit::set_filter("").unwrap();
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "root\n");
}
