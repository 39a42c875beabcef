//! Counting the calls that record nothing allocates nothing: under an
//! unsampled parent, with metrics on or off, a traced sync fn, `async fn`
//! and future-returning fn make no allocation per call in steady state
//! (the first call of a point makes its counters). Counted by a counting
//! global allocator: a count, not a time.
//!
//! One test in this binary: the allocator counts this test's thread only.

use std::future::Future;
use tracekit_tests::{allocations, block_on};

#[global_allocator]
static ALLOCATOR: tracekit_tests::HookedAllocator =
    tracekit_tests::HookedAllocator::new(allocations::note);

#[tracekit::trace_fn]
fn sync_call(i: u64) -> Result<u64, std::fmt::Error> {
    if i.is_multiple_of(4) {
        Err(std::fmt::Error)
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
async fn async_call(i: u64) -> Result<u64, std::fmt::Error> {
    if i.is_multiple_of(4) {
        Err(std::fmt::Error)
    } else {
        Ok(i)
    }
}

/// The shape under test: a sync fn returning a future.
#[allow(clippy::manual_async_fn)]
#[tracekit::trace_fn]
fn returns_future(i: u64) -> impl Future<Output = u64> {
    async move { i + 1 }
}

/// Allocations on this thread over `n` calls of `shape`, after as many to
/// warm up.
fn allocations(shape: &str, n: u64) -> u64 {
    allocations::after_warm_up(|counting| {
        allocations::set_counting(counting);
        for i in 0..n {
            match shape {
                "sync" => drop(sync_call(i)),
                "async" => drop(block_on(async_call(i))),
                _ => drop(block_on(returns_future(i))),
            }
        }
        allocations::set_counting(false);
    })
}

#[test]
fn unsampled_calls_allocate_nothing_whether_counted_or_not() {
    let _attached =
        tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
    for metrics_on in [false, true] {
        tracekit::metrics::set_enabled(metrics_on);
        for shape in ["sync", "async", "future"] {
            assert_eq!(
                allocations(shape, 1_000),
                0,
                "{shape} calls, metrics {}",
                if metrics_on { "on" } else { "off" }
            );
        }
    }
    if tracekit::TRACE_ALL {
        let metrics = tracekit::metrics::snapshot();
        let sync = metrics.function("sync_call").expect("counted");
        assert_eq!((sync.calls(), sync.errors()), (2_000, 500));
        let future = metrics.function("returns_future").expect("counted");
        assert_eq!(future.calls(), 2_000);
    }
}
