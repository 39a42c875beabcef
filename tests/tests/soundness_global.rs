//! Regression tests for the soundness audit (issue 10) that change global
//! state: the installed reporter, the panic hook, the collector queue. They
//! run in sequence inside one test, and no capture runs beside them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tracekit::{InMemoryReporter, Reporter, Span, SpanBatch, start_active_span, trace_fn};

#[test]
fn soundness_with_global_state() {
    a_panic_hook_that_traces_sees_a_consistent_state();
    flush_reaches_the_jobs_of_a_long_lived_worker();
    a_reporter_flushing_from_flush_or_drop_does_not_hang();
    a_guard_removes_only_the_reporter_it_installed();
    the_queue_accepts_exactly_its_capacity_under_contention();
}

/// Runs `f` on its own thread and fails if it does not return in time: a
/// deadlock shows as a failure, not as a hung test run.
fn within(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        panic!("{what}: still running after 20 s (deadlock?)");
    }
}

#[trace_fn]
fn explode(why: &str) -> u32 {
    panic!("{why}")
}

#[trace_fn]
fn job(n: u64) -> u64 {
    n + 1
}

/// Item 2 (and 1): a panic hook that calls tracekit runs in the middle of
/// whatever panicked. It must find the thread's tracing state whole, and
/// nothing inside tracekit may panic into it.
fn a_panic_hook_that_traces_sees_a_consistent_state() {
    let memory = InMemoryReporter::new();
    let guard = tracekit::set_reporter(memory.clone());
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let calls = hook_calls.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        calls.fetch_add(1, Ordering::SeqCst);
        tracekit::current_span().set_tag("seen.by.hook", true);
        let hook = start_active_span("panic hook");
        hook.set_tag("panic.message", info.to_string());
        drop(Span::start("inside the hook"));
    }));

    // Once a crash inside tracekit (item 1); must not panic at all.
    let nested = std::panic::catch_unwind(|| {
        tracekit::thread::spawn(|| {
            tracekit::thread::spawn(|| drop(Span::start("grandchild")))
                .join()
                .unwrap()
        })
        .join()
        .unwrap()
    });
    let in_tracekit = hook_calls.swap(0, Ordering::SeqCst);

    // A panic in user code under a traced function: the hook traces inside it.
    let caught = std::panic::catch_unwind(|| {
        let _request = start_active_span("request");
        explode("boom")
    });
    let _ = std::panic::take_hook();
    std::panic::set_hook(previous);
    tracekit::flush();
    drop(guard);

    assert!(nested.is_ok(), "tracekit panicked");
    assert_eq!(in_tracekit, 0, "the panic hook ran: something panicked");
    assert!(caught.is_err());
    assert_eq!(hook_calls.load(Ordering::SeqCst), 1);
    if !tracekit::TRACE_ALL {
        assert!(memory.spans().is_empty(), "nothing recorded");
        return;
    }
    let spans = memory.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"))
    };
    assert!(find("grandchild").parent_id().is_none());
    let explode = find("explode");
    assert!(explode.is_error());
    assert_eq!(explode.tag("seen.by.hook").unwrap().as_bool(), Some(true));
    assert_eq!(find("panic hook").parent_id(), Some(explode.span_id()));
    assert_eq!(
        find("inside the hook").parent_id(),
        Some(find("panic hook").span_id())
    );
    assert_eq!(explode.parent_id(), Some(find("request").span_id()));
}

/// Item 3: `flush()` on one thread delivers the finished jobs of a worker
/// that still runs inside the context it was started in.
fn flush_reaches_the_jobs_of_a_long_lived_worker() {
    let memory = InMemoryReporter::new();
    let guard = tracekit::set_reporter(memory.clone());
    let (done_tx, done_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let worker = {
        let _request = start_active_span("request");
        tracekit::thread::spawn(move || {
            for n in 0..3 {
                job(n);
            }
            done_tx.send(()).unwrap();
            let _ = stop_rx.recv_timeout(Duration::from_secs(30));
        })
    };
    done_rx.recv().unwrap();
    tracekit::flush();
    let jobs = memory.spans().iter().filter(|s| s.name() == "job").count();
    stop_tx.send(()).unwrap();
    worker.join().unwrap();
    drop(guard);
    assert_eq!(jobs, if tracekit::TRACE_ALL { 3 } else { 0 });
}

/// Calls `tracekit::flush()` from its own `flush` and `drop`, as a reporter
/// wrapping another (a tee, an exporter that flushes its sink) may.
struct FlushesBack(Arc<AtomicUsize>);
impl Reporter for FlushesBack {
    fn report(&mut self, spans: SpanBatch) {
        self.0.fetch_add(spans.len(), Ordering::SeqCst);
    }
    fn flush(&mut self) {
        tracekit::flush();
    }
}
impl Drop for FlushesBack {
    fn drop(&mut self) {
        tracekit::flush();
    }
}

/// Item 5.
fn a_reporter_flushing_from_flush_or_drop_does_not_hang() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    within("flush() with a reporter whose flush() flushes", move || {
        let guard = tracekit::set_reporter(FlushesBack(s));
        drop(Span::start("one"));
        tracekit::flush();
        drop(guard); // flushes it, then drops it
    });
    assert_eq!(
        seen.load(Ordering::SeqCst),
        usize::from(tracekit::TRACE_ALL)
    );

    let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (f, s) = (first.clone(), second.clone());
    within("replacing a reporter whose drop flushes", move || {
        let a = tracekit::set_reporter(FlushesBack(f));
        drop(Span::start("to the first"));
        let b = tracekit::set_reporter(FlushesBack(s)); // flushes and drops the first
        drop(Span::start("to the second"));
        drop(b);
        drop(a);
    });
    assert_eq!(
        first.load(Ordering::SeqCst),
        usize::from(tracekit::TRACE_ALL)
    );
    assert_eq!(
        second.load(Ordering::SeqCst),
        usize::from(tracekit::TRACE_ALL)
    );
}

/// Item 8: dropping the guard of a reporter that has since been replaced
/// leaves the newer reporter installed.
fn a_guard_removes_only_the_reporter_it_installed() {
    let (a, b) = (InMemoryReporter::new(), InMemoryReporter::new());
    let guard_a = tracekit::set_reporter(a.clone());
    drop(Span::start("for a"));
    let guard_b = tracekit::set_reporter(b.clone());
    drop(guard_a);
    drop(Span::start("for b"));
    tracekit::flush();
    let names = |m: &InMemoryReporter| {
        m.spans()
            .iter()
            .map(|s| s.name().to_owned())
            .collect::<Vec<_>>()
    };
    if tracekit::TRACE_ALL {
        assert_eq!(names(&a), ["for a"]);
        assert_eq!(names(&b), ["for b"]);
    }
    drop(guard_b);
    drop(Span::start("for nobody"));
    tracekit::flush();
    if tracekit::TRACE_ALL {
        assert_eq!(names(&b), ["for b"]);
    }
    assert!(names(&a).len() <= 1);
}

/// A reporter that holds the collector until told to go on, and says when
/// it is holding it.
struct Stall {
    holding: mpsc::Sender<()>,
    go: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
    seen: Arc<AtomicUsize>,
}
impl Reporter for Stall {
    fn report(&mut self, spans: SpanBatch) {
        let gate = self.go.lock().unwrap().take();
        if let Some(go) = gate {
            let _ = self.holding.send(());
            let _ = go.recv();
        }
        self.seen.fetch_add(spans.len(), Ordering::SeqCst);
    }
}

/// One finished trace of `n` spans, handed over as one batch.
fn trace_of(n: usize) {
    let _root = start_active_span("root");
    for _ in 1..n {
        drop(start_active_span("child"));
    }
}

/// Item 9: with the collector held, the queue takes spans until exactly
/// its capacity. Batches that do not fit are dropped while, at the same
/// time, small batches that do fit must all be taken.
fn the_queue_accepts_exactly_its_capacity_under_contention() {
    let (holding_tx, holding_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let guard = tracekit::set_reporter(Stall {
        holding: holding_tx,
        go: Arc::new(Mutex::new(Some(go_rx))),
        seen: seen.clone(),
    });
    let before = tracekit::collector_stats();
    drop(Span::start("first"));
    if tracekit::TRACE_ALL {
        holding_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    // Fill the queue to all but `room` spans. Each trace is made on a
    // thread of its own, whose end hands it to the queue at once (a live
    // thread gathers what it finishes in its outbox until the collector's
    // next tick, which the stalled collector never takes).
    let on_own_thread = |f: Box<dyn FnOnce() + Send>| std::thread::spawn(f).join().unwrap();
    let room = 200;
    let mut filled = 0;
    while filled < tracekit::QUEUE_CAPACITY - room {
        let n = (tracekit::QUEUE_CAPACITY - room - filled).min(1000);
        on_own_thread(Box::new(move || trace_of(n)));
        filled += n;
    }
    // Three threads offer batches that can never fit while one offers
    // `room` single spans, each of which fits.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammers: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    trace_of(256);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    for _ in 0..room {
        on_own_thread(Box::new(|| drop(Span::start("single"))));
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    let after = tracekit::collector_stats();
    let _ = go_tx.send(());
    drop(guard);
    if !tracekit::TRACE_ALL {
        assert_eq!(after, before);
        return;
    }
    let submitted = after.spans_submitted - before.spans_submitted;
    let dropped = after.spans_dropped - before.spans_dropped;
    // Everything but the first span (taken by the held collector) competed
    // for the queue; it holds exactly its capacity.
    assert_eq!(
        submitted - 1 - dropped,
        tracekit::QUEUE_CAPACITY as u64,
        "submitted {submitted}, dropped {dropped}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), tracekit::QUEUE_CAPACITY + 1);
}
