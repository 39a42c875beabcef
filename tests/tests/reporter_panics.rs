//! Audit finding 5 (issue 27): a reporter that panics. The background
//! collector always caught it; `flush()` and the guard's drop did not, so a
//! guard dropped while `main` unwound (a panic with the guard alive) made a
//! second panic, and the process aborted. Every delivery path catches it
//! now, counts it, and says so once on stderr.

#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracekit::{InMemoryReporter, Reporter, SpanBatch};

const CHILD: &str = "TRACEKIT_PANICKING_REPORTER_CHILD";

/// Panics in `report`, `flush` and its drop while `broken` is set.
struct Panicky {
    broken: Arc<AtomicBool>,
}

impl Reporter for Panicky {
    fn report(&mut self, _spans: SpanBatch) {
        if self.broken.load(Ordering::SeqCst) {
            panic!("report is broken");
        }
    }
    fn flush(&mut self) {
        if self.broken.load(Ordering::SeqCst) {
            panic!("flush is broken");
        }
    }
}

impl Drop for Panicky {
    fn drop(&mut self) {
        if self.broken.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("drop is broken");
        }
    }
}

/// Run in a child process: the guard of a panicking reporter is dropped
/// while `main`'s panic unwinds.
#[test]
fn child_program() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let _guard = tracekit::set_reporter(Panicky {
        broken: Arc::new(AtomicBool::new(true)),
    });
    drop(tracekit::Span::start("request"));
    panic!("the program's own panic");
}

#[test]
fn a_guard_dropped_while_main_unwinds_does_not_abort_the_process() {
    let out = tracekit_tests::child_test("child_program")
        .env(CHILD, "1")
        .output()
        .expect("child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "the process aborted: {:?}\n{stderr}",
        out.status
    );
    // The test harness reports the program's own panic as a failed test.
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("the program's own panic"), "{stderr}");
    assert_eq!(
        stderr.matches("tracekit: the reporter panicked").count(),
        1,
        "said once: {stderr}"
    );
}

#[test]
fn flush_and_the_guard_survive_a_panicking_reporter_and_tracing_goes_on() {
    let broken = Arc::new(AtomicBool::new(true));
    let before = tracekit::collector_stats().reporter_panics;
    let guard = tracekit::set_reporter(Panicky {
        broken: broken.clone(),
    });
    drop(tracekit::Span::start("lost"));
    // report and flush both panic inside.
    tracekit::flush();
    tracekit::flush();
    // flush and drop panic inside the guard's drop.
    drop(guard);
    let panics = tracekit::collector_stats().reporter_panics - before;
    if tracekit::TRACE_ALL {
        // report once (the one span), flush twice (the two flush() calls),
        // then the guard's shutdown (a flush, by default) and drop.
        assert_eq!(panics, 5);
    } else {
        // Nothing installed: the reporter is dropped at once, and its drop
        // panics there.
        assert_eq!(panics, 1);
    }
    // A reporter installed after it gets spans as usual.
    let memory = InMemoryReporter::new();
    let guard = tracekit::set_reporter(memory.clone());
    drop(tracekit::Span::start("kept"));
    tracekit::flush();
    drop(guard);
    let names: Vec<String> = memory.spans().iter().map(|s| s.name().to_owned()).collect();
    if tracekit::TRACE_ALL {
        assert_eq!(names, ["kept"]);
    } else {
        assert!(names.is_empty());
    }
    broken.store(false, Ordering::SeqCst);
}
