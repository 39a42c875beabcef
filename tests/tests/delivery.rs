//! When finished spans reach the reporter (issue 28): a thread gathers what
//! it finishes in its outbox, which the collector takes every tick, so a
//! request's spans leave the thread together, and a thread that goes idle
//! right after still has its spans delivered, by the next tick or by a
//! `flush()` on any thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracekit::{Reporter, Span, SpanBatch, trace_fn};

/// Keeps the names of each batch it is given, batch by batch.
#[derive(Clone, Default)]
struct Batches(Arc<Mutex<Vec<Vec<String>>>>);

impl Reporter for Batches {
    fn report(&mut self, spans: SpanBatch) {
        let names = spans.iter().map(|s| s.name().to_owned()).collect();
        self.0.lock().unwrap().push(names);
    }
}

impl Batches {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().flatten().cloned().collect()
    }
}

#[trace_fn]
fn step(n: u64) -> u64 {
    n + 1
}

/// A request as a server layer runs it: an owned span entered for the
/// poll, functions called under it, the span finished before the poll ends.
fn request(name: &'static str) {
    let mut span = Span::start(name);
    let entered = span.enter();
    for i in 0..3 {
        step(i);
    }
    entered.finish();
}

/// The one test of this binary that installs a reporter: the cases run in
/// turn.
#[test]
fn delivery() {
    a_request_leaves_with_its_children_in_one_batch();
    an_idle_thread_s_spans_arrive_with_the_next_tick();
    flush_reaches_the_spans_of_an_idle_thread();
}

fn a_request_leaves_with_its_children_in_one_batch() {
    let batches = Batches::default();
    let guard = tracekit::set_reporter(batches.clone());
    request("one request");
    tracekit::flush();
    drop(guard);
    let got = batches.0.lock().unwrap().clone();
    if !tracekit::TRACE_ALL {
        assert!(got.iter().all(Vec::is_empty));
        return;
    }
    let with_request: Vec<&Vec<String>> = got
        .iter()
        .filter(|b| b.iter().any(|n| n == "one request"))
        .collect();
    assert_eq!(with_request.len(), 1);
    assert_eq!(
        with_request[0].iter().filter(|n| *n == "step").count(),
        3,
        "the children came in the same batch: {got:?}"
    );
}

/// Runs a request on a thread that then waits, alive and idle, until told
/// to end; returns the sender that ends it.
fn idle_thread_after_a_request(
    name: &'static str,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (done_tx, done_rx) = mpsc::channel();
    let (end_tx, end_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        request(name);
        done_tx.send(()).unwrap();
        let _ = end_rx.recv();
    });
    done_rx.recv().unwrap();
    (end_tx, thread)
}

fn an_idle_thread_s_spans_arrive_with_the_next_tick() {
    let batches = Batches::default();
    let guard = tracekit::set_reporter(batches.clone());
    let (end, thread) = idle_thread_after_a_request("idle request");
    // No flush: the collector's tick takes the idle thread's outbox. (A
    // liveness bound: it takes a tick, 10 ms.)
    let start = Instant::now();
    let arrived = loop {
        let n = batches
            .all()
            .iter()
            .filter(|n| *n == "idle request")
            .count();
        if n == 1 || !tracekit::TRACE_ALL || start.elapsed() > Duration::from_secs(20) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    end.send(()).unwrap();
    thread.join().unwrap();
    drop(guard);
    assert_eq!(arrived, usize::from(tracekit::TRACE_ALL));
}

fn flush_reaches_the_spans_of_an_idle_thread() {
    let batches = Batches::default();
    let guard = tracekit::set_reporter(batches.clone());
    let (end, thread) = idle_thread_after_a_request("flushed request");
    tracekit::flush();
    let names = batches.all();
    end.send(()).unwrap();
    thread.join().unwrap();
    drop(guard);
    let expected = if tracekit::TRACE_ALL { 4 } else { 0 };
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "flushed request" || *n == "step")
            .count(),
        expected,
        "{names:?}"
    );
}
