//! A global allocator that makes traced calls (a tracking allocator) while
//! the metrics do their own bookkeeping, which allocates under their locks:
//! a trace point's first count, a thread's first table, a failed call's
//! error-type series, a snapshot, a call counted as its thread ends, a
//! request's series and the route or host kept for it.
//! The allocator's calls are counted or not, but never wait on a lock
//! their own thread holds, and the calls around them count exactly.
//!
//! The allocator traces on armed threads only, so the tests of this binary
//! stay apart.

use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static INSIDE: Cell<bool> = const { Cell::new(false) };
    /// An allocation of this many bytes makes a call that fails with a
    /// boxed error, whose readable type name is kept as static text when
    /// it is first counted.
    static FAIL_AT_SIZE: Cell<usize> = const { Cell::new(0) };
    /// As [`ARMED`], with points of its own.
    static ARMED_FOR_REQUESTS: Cell<bool> = const { Cell::new(false) };
}

#[tracekit::trace_fn]
fn in_allocator() {}

#[tracekit::trace_fn]
fn failing_in_allocator() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

#[tracekit::trace_fn]
fn in_request_allocator() {}

#[tracekit::trace_fn]
fn failing_in_request_allocator() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

#[tracekit::trace_fn]
fn failing_with_a_boxed_error() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("refused".into())
}

/// Makes two traced calls, one failing, for every allocation while armed.
struct TracingAllocator;

impl TracingAllocator {
    fn trace(size: usize) {
        if ARMED.get() && !INSIDE.replace(true) {
            in_allocator();
            let _ = failing_in_allocator();
            INSIDE.set(false);
        }
        if ARMED_FOR_REQUESTS.get() && !INSIDE.replace(true) {
            in_request_allocator();
            let _ = failing_in_request_allocator();
            INSIDE.set(false);
        }
        if FAIL_AT_SIZE.get() == size && !INSIDE.replace(true) {
            let _ = failing_with_a_boxed_error();
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

#[test]
fn a_failed_call_made_while_a_route_is_kept_does_not_deadlock() {
    // A route seen for the first time is kept for the program's life under
    // a write lock, in a copy the length of "GET {route}". The allocator
    // fails a call when it makes that copy: the call's error type, a boxed
    // error's name, is kept as static text too, from inside that lock.
    let route = format!("/reentrancy/{}/{{id}}", "r".repeat(120));
    let kept_len = "GET ".len() + route.len();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        tracekit::metrics::set_enabled(true);
        let attached =
            tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
        FAIL_AT_SIZE.set(kept_len);
        let span = tracekit::http::server_span("GET", &route, &Vec::new());
        FAIL_AT_SIZE.set(0);
        drop((span, attached));
        let _ = done.send(());
    });
    assert_eq!(
        finished.recv_timeout(Duration::from_secs(20)),
        Ok(()),
        "a deadlock holds the thread that keeps the route"
    );
    if !tracekit::TRACE_ALL {
        return;
    }
    // Counted, as one call that failed; its type could not be kept from
    // inside the lock, so it is counted under `_OTHER`.
    let metrics = tracekit::metrics::snapshot();
    let failed = metrics
        .function("failing_with_a_boxed_error")
        .expect("the allocator's call was counted");
    assert_eq!((failed.calls(), failed.errors()), (1, 1));
    let by_type: Vec<(&str, u64)> = failed.error_types().map(|(t, h)| (t, h.count())).collect();
    assert_eq!(by_type, [("_OTHER", 1)]);
}

#[test]
fn requests_made_while_the_allocator_traces_count_exactly() {
    // Server and client request spans, sampled and not, each with a new
    // route or host (kept as static text, under a lock), each counted in
    // a request series (made under a lock) when it ends: every allocation
    // on the way makes two traced calls, one failing.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        tracekit::metrics::set_enabled(true);
        ARMED_FOR_REQUESTS.set(true);
        for sampled in [true, false] {
            let _attached = (!sampled).then(|| {
                tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach()
            });
            for i in 0..4 {
                let route = format!("/armed/{sampled}/{i}/{{id}}");
                let mut server = tracekit::http::server_span("GET", &route, &Vec::new());
                tracekit::http::set_status_code(&mut server, if i % 2 == 0 { 200 } else { 503 });
                let url = format!("http://armed-{sampled}-{i}.example:8080/x");
                let mut client = tracekit::http::client_span("POST", &url, &mut Vec::new());
                tracekit::http::set_status_code(&mut client, 404);
                drop((client, server));
            }
        }
        let snapshot = tracekit::metrics::snapshot();
        ARMED_FOR_REQUESTS.set(false);
        let _ = done.send(snapshot);
    });
    let snapshot = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a deadlock holds the thread that made the requests");
    if !tracekit::TRACE_ALL {
        return;
    }
    let ours = |name: &str| {
        snapshot
            .requests()
            .iter()
            .filter(|r| r.instrument() == name)
            .filter(|r| {
                r.route().is_some_and(|r| r.starts_with("/armed/"))
                    || r.server()
                        .is_some_and(|(host, _)| host.starts_with("armed-"))
            })
            .map(|r| (r.calls(), r.errors()))
            .fold((0, 0), |(c, e), (c2, e2)| (c + c2, e + e2))
    };
    // The allocator's own calls: as many fail as were made, whichever
    // were counted (the other tests' allocator calls are other points).
    let made = snapshot.function("in_request_allocator").expect("counted");
    let failed = snapshot
        .function("failing_in_request_allocator")
        .expect("counted");
    assert!(made.calls() > 0);
    assert_eq!(failed.calls(), failed.errors());
    // 8 of each, half the server's failed (503), every client's (404).
    assert_eq!(ours("http.server.request.duration"), (8, 4));
    assert_eq!(ours("http.client.request.duration"), (8, 8));
}
