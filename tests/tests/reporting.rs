//! Reporting: the console tree, flush on guard drop, and the bounded queue
//! that drops (and counts) rather than blocking the application.
//!
//! One test per binary concern: the stalled-reporter test below blocks the
//! collector, so this file holds no capture-based tests.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracekit::{ConsoleReporter, Reporter, Span, SpanBatch, start_active_span, trace_fn};
use tracekit_tests::SharedBuffer;

#[trace_fn]
fn lookup(key: &str) -> Result<u32, std::io::Error> {
    if key == "bad" {
        return Err(std::io::Error::other("not found"));
    }
    Ok(1)
}

/// A reporter that holds the collector until told to go on.
struct Stalled {
    gate: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
    /// Told when the reporter starts waiting at the gate.
    stalled: mpsc::Sender<()>,
    seen: Arc<Mutex<usize>>,
}
impl Reporter for Stalled {
    fn report(&mut self, spans: SpanBatch) {
        if let Some(rx) = self.gate.lock().unwrap().take() {
            let _ = self.stalled.send(());
            let _ = rx.recv();
        }
        *self.seen.lock().unwrap() += spans.len();
    }
}

#[test]
fn reporting() {
    // Run in sequence: they share the one global reporter slot.
    console_prints_each_trace_as_a_tree();
    console_shows_what_joins_the_parts_of_a_trace_across_processes();
    a_stalled_reporter_never_blocks_the_application();
    a_reporter_that_flushes_from_inside_does_not_deadlock();
    a_panicking_reporter_does_not_disable_flush();
    a_reporter_panic_on_the_collector_thread_does_not_stop_reporting();
    a_waiting_future_hands_over_what_finished_before_it_waits();
}

/// Under a long-lived span (a server's `main` span), spans finished inside
/// a future must not wait for that span to end: when the future waits
/// (returns `Pending`), the thread hands over what finished so far.
fn a_waiting_future_hands_over_what_finished_before_it_waits() {
    let seen = hands_over_before_waiting("before_wait", |ready, seen| {
        Box::pin(tracekit::FutureExt::in_span(
            async move {
                drop(Span::start("before_wait"));
                ready.send(()).unwrap();
                seen.await.unwrap()
            },
            Span::start("request"),
        ))
    });
    assert_eq!(
        seen,
        tracekit::TRACE_ALL,
        "the finished span reached the reporter while `main` was active"
    );
    // The same through an `async fn` whose own trace point is switched off
    // (it has no span, so nothing of tracekit's is around its future but
    // what the attribute put there).
    let point = tracekit::trace_points().find(|p| p.name() == "waits_switched_off");
    assert_eq!(
        point.is_some(),
        tracekit::TRACE_ALL,
        "the trace point is listed"
    );
    let _off = point.map(SwitchedOff::new);
    let seen = hands_over_before_waiting("before_wait_off", |ready, seen| {
        Box::pin(waits_switched_off(ready, seen))
    });
    assert_eq!(
        seen,
        tracekit::TRACE_ALL,
        "the span finished inside a switched-off async fn reached the reporter while it waited"
    );
}

/// A trace point switched off until dropped (so a failed assertion does
/// not leave it off for what runs next).
struct SwitchedOff(&'static tracekit::Metadata);
impl SwitchedOff {
    fn new(point: &'static tracekit::Metadata) -> SwitchedOff {
        point.set_enabled(false);
        SwitchedOff(point)
    }
}
impl Drop for SwitchedOff {
    fn drop(&mut self) {
        self.0.set_enabled(true);
    }
}

#[trace_fn(skip_all)]
async fn waits_switched_off(
    ready: mpsc::Sender<()>,
    seen: tokio::sync::oneshot::Receiver<bool>,
) -> bool {
    drop(Span::start("before_wait_off"));
    ready.send(()).unwrap();
    seen.await.unwrap()
}

type Waiting = std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>;

/// Runs the future `make` builds under a `main` span; it finishes a span
/// named `name`, then waits until a watcher thread has seen that span reach
/// the reporter, or given up. Whether it was seen.
fn hands_over_before_waiting(
    name: &'static str,
    make: impl FnOnce(mpsc::Sender<()>, tokio::sync::oneshot::Receiver<bool>) -> Waiting,
) -> bool {
    let memory = tracekit::InMemoryReporter::new();
    let _guard = tracekit::set_reporter(memory.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<bool>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let watcher = {
        let memory = memory.clone();
        std::thread::spawn(move || {
            ready_rx.recv().unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut seen = false;
            while !seen && Instant::now() < deadline {
                // Delivers what reached the collector; this thread has no spans.
                tracekit::flush();
                seen = memory.spans().iter().any(|s| s.name() == name);
                std::thread::sleep(Duration::from_millis(5));
            }
            seen_tx.send(seen).unwrap();
        })
    };
    let _main = start_active_span("main");
    let seen = rt.block_on(make(ready_tx, seen_rx));
    watcher.join().unwrap();
    seen
}

/// Panics on the first batch it gets on the thread `panic_on`
/// (`None`: on any thread other than the test's), records the names of the rest.
struct PanicsOnce {
    panic_on: Option<std::thread::ThreadId>,
    test_thread: std::thread::ThreadId,
    panicked: bool,
    names: Arc<Mutex<Vec<String>>>,
}
impl Reporter for PanicsOnce {
    fn report(&mut self, spans: SpanBatch) {
        let here = std::thread::current().id();
        let target = match self.panic_on {
            Some(t) => here == t,
            None => here != self.test_thread,
        };
        if target && !self.panicked {
            self.panicked = true;
            panic!("reporter bug");
        }
        let mut names = self.names.lock().unwrap();
        names.extend(spans.iter().map(|s| s.name().to_string()));
    }
}

fn panics_once(panic_on: Option<std::thread::ThreadId>) -> (PanicsOnce, Arc<Mutex<Vec<String>>>) {
    let names = Arc::new(Mutex::new(Vec::new()));
    let r = PanicsOnce {
        panic_on,
        test_thread: std::thread::current().id(),
        panicked: false,
        names: names.clone(),
    };
    (r, names)
}

fn a_panicking_reporter_does_not_disable_flush() {
    let (reporter, names) = panics_once(Some(std::thread::current().id()));
    let guard = tracekit::set_reporter(reporter);
    drop(Span::start("lost"));
    // The collector thread may deliver "lost" first; the reporter then
    // panics on this thread in one of the flushes below, which catch it
    // (issue 27: it used to escape flush()) and count it.
    let before = tracekit::collector_stats().reporter_panics;
    tracekit::flush();
    drop(Span::start("next"));
    tracekit::flush();
    let panicked = tracekit::collector_stats().reporter_panics - before;
    assert_eq!(panicked, u64::from(tracekit::TRACE_ALL));
    // flush() on this thread still delivers after its reporter panicked here.
    drop(Span::start("delivered"));
    tracekit::flush();
    let seen = names.lock().unwrap().clone();
    assert_eq!(
        seen.iter().any(|n| n == "delivered"),
        tracekit::TRACE_ALL,
        "{seen:?}"
    );
    drop(guard);
}

fn a_reporter_panic_on_the_collector_thread_does_not_stop_reporting() {
    let (reporter, names) = panics_once(None);
    let guard = tracekit::set_reporter(reporter);
    // Wait, without flushing, until the collector thread has delivered
    // (it panics on its first batch, then must go on).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    while tracekit::TRACE_ALL && Instant::now() < deadline {
        drop(Span::start(format!("span{i}")));
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
        if names.lock().unwrap().len() >= 3 {
            break;
        }
    }
    let delivered = names.lock().unwrap().len();
    drop(guard);
    assert_eq!(
        delivered >= 3,
        tracekit::TRACE_ALL,
        "background delivered {delivered} after a panic"
    );
}

/// Calls `tracekit::flush()` from inside `report`, as a reporter wrapping
/// another library might.
struct Reentrant(Arc<Mutex<usize>>);
impl Reporter for Reentrant {
    fn report(&mut self, spans: SpanBatch) {
        tracekit::flush();
        *self.0.lock().unwrap() += spans.len();
    }
}

fn a_reporter_that_flushes_from_inside_does_not_deadlock() {
    let seen = Arc::new(Mutex::new(0));
    let guard = tracekit::set_reporter(Reentrant(seen.clone()));
    drop(Span::start("one"));
    tracekit::flush();
    drop(guard);
    assert_eq!(*seen.lock().unwrap(), usize::from(tracekit::TRACE_ALL));
}

fn console_prints_each_trace_as_a_tree() {
    let out = SharedBuffer::default();
    let guard = tracekit::set_reporter(ConsoleReporter::to_writer(out.clone()));
    {
        let request = start_active_span("GET /users/:id");
        request.set_tag("http.method", "GET");
        let _ = lookup("good");
        let _ = lookup("bad");
        tracekit::current_span().add_event("cache-miss", [("key", "users:7")]);
    }
    drop(guard); // flushes
    let text = out.text();
    if !tracekit::TRACE_ALL {
        assert!(text.is_empty(), "{text}");
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("trace "), "{text}");
    assert!(lines[1].starts_with("  GET /users/:id "), "{text}");
    assert!(lines[1].contains("http.method=\"GET\""), "{text}");
    assert!(
        lines[2].starts_with("    · cache-miss key=users:7"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("    lookup ") && lines[3].contains("key=\"good\""),
        "{text}"
    );
    assert!(
        lines[4].contains("key=\"bad\"") && lines[4].contains("ERROR: not found"),
        "{text}"
    );
    // Durations are printed with a unit.
    assert!(lines[1].contains("µs") || lines[1].contains("ms"), "{text}");
    assert!(
        !text.contains("code."),
        "code location is off by default: {text}"
    );
}

fn console_shows_what_joins_the_parts_of_a_trace_across_processes() {
    let out = SharedBuffer::default();
    let guard = tracekit::set_reporter(
        ConsoleReporter::to_writer(out.clone()).with_service_name("backend"),
    );
    let mut headers = std::collections::HashMap::new();
    let client_id = {
        let request = start_active_span("handler");
        request.set_baggage_item("request.id", "r-9");
        let client = tracekit::http::client_span("GET", "/stock", &mut headers);
        client.context().map(|c| c.span_id())
    };
    drop(tracekit::http::server_span("GET", "/stock", &headers));
    drop(guard);
    let text = out.text();
    if !tracekit::TRACE_ALL {
        assert!(text.is_empty(), "{text}");
        return;
    }
    let client_id = client_id.unwrap();
    let client = text.lines().find(|l| l.contains("[client]")).unwrap();
    let server = text.lines().find(|l| l.contains("[server]")).unwrap();
    assert!(
        text.lines()
            .all(|l| !l.starts_with("trace ") || l.ends_with(" [backend]")),
        "{text}"
    );
    assert!(client.contains(&format!("span_id={client_id}")), "{text}");
    assert!(
        server.contains(&format!("remote_parent={client_id}")),
        "{text}"
    );
    assert!(server.contains("baggage.request.id=\"r-9\""), "{text}");
}

fn a_stalled_reporter_never_blocks_the_application() {
    let (tx, rx) = mpsc::channel();
    let (stalled_tx, stalled) = mpsc::channel();
    let seen = Arc::new(Mutex::new(0));
    let guard = tracekit::set_reporter(Stalled {
        gate: Arc::new(Mutex::new(Some(rx))),
        stalled: stalled_tx,
        seen: seen.clone(),
    });
    let before = tracekit::collector_stats();
    // Give the collector a first span to stall on, and wait until it is
    // stalled in the reporter (not a guess at how long that takes).
    drop(Span::start("first"));
    if tracekit::TRACE_ALL {
        stalled
            .recv_timeout(Duration::from_secs(20))
            .expect("the collector delivered the first span");
    }
    let roots = tracekit::QUEUE_CAPACITY * 2 / 1000;
    let n = roots * 1000;
    let started = Instant::now();
    for _ in 0..roots {
        let _root = start_active_span("root");
        for _ in 0..999 {
            drop(start_active_span("child"));
        }
    }
    let elapsed = started.elapsed();
    let after = tracekit::collector_stats();
    let _ = tx.send(()); // nobody listens when tracing is compiled out
    drop(guard);
    if !tracekit::TRACE_ALL {
        assert_eq!(after, before);
        return;
    }
    // Nothing waited for the stalled reporter: the loop ran to the end, and
    // what did not fit in the queue was dropped and counted.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let dropped = after.spans_dropped - before.spans_dropped;
    assert!(
        dropped >= (n - tracekit::QUEUE_CAPACITY) as u64,
        "dropped {dropped}"
    );
    let delivered = *seen.lock().unwrap() as u64;
    assert!(
        delivered >= (tracekit::QUEUE_CAPACITY / 2) as u64,
        "delivered {delivered}"
    );
    assert_eq!(delivered + dropped, n as u64 + 1);
}
