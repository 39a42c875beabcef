//! Counting the calls that record nothing allocates nothing: under an
//! unsampled parent, with metrics on or off, a traced sync fn, `async fn`
//! and future-returning fn make no allocation per call in steady state
//! (the first call of a point makes its counters). Counted by a counting
//! global allocator: a count, not a time.
//!
//! One test in this binary: the allocator counts this test's thread only.

use std::cell::Cell;
use std::future::Future;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

impl Counting {
    fn note(_size: usize) {
        let _ = COUNTING.try_with(|on| {
            if on.get() {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            }
        });
    }
}

#[global_allocator]
static ALLOCATOR: tracekit_tests::HookedAllocator =
    tracekit_tests::HookedAllocator::new(Counting::note);

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

/// Polls a future that never waits to completion.
fn poll<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Allocations on this thread over `n` calls of `shape`, after as many to
/// warm up.
fn allocations(shape: &str, n: u64) -> u64 {
    let run = |counting: bool| {
        COUNTING.with(|c| c.set(counting));
        for i in 0..n {
            match shape {
                "sync" => drop(sync_call(i)),
                "async" => drop(poll(async_call(i))),
                _ => drop(poll(returns_future(i))),
            }
        }
        COUNTING.with(|c| c.set(false));
    };
    run(false);
    COUNT.with(|c| c.set(0));
    run(true);
    COUNT.with(Cell::get)
}

#[test]
fn unsampled_calls_allocate_nothing_whether_counted_or_not() {
    let parent = tracekit::SpanContext::remote(
        tracekit::TraceId::from_u128(0x6bf92f3577b34da6a3ce929d0e0e4736).unwrap(),
        tracekit::SpanId::from_u64(0x20f067aa0ba902b7).unwrap(),
        false,
    );
    let _attached = tracekit::Context::from_span_context(parent).attach();
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
