//! Spans lost to a full queue are still counted: metrics are exact when a
//! stuck reporter makes the collector drop spans (a process of its own: the
//! reporter is global).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tracekit::{Reporter, SpanBatch};

/// A reporter stuck in its first `report` until released.
struct Stuck {
    release: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
    entered: mpsc::Sender<()>,
}

impl Reporter for Stuck {
    fn report(&mut self, _spans: SpanBatch) {
        if let Some(rx) = self.release.lock().unwrap().take() {
            let _ = self.entered.send(());
            let _ = rx.recv();
        }
    }
}

#[tracekit::trace_fn]
fn work(i: u64) -> u64 {
    i ^ 0x5a
}

#[test]
fn calls_whose_spans_the_full_queue_drops_are_counted() {
    let (release_tx, release_rx) = mpsc::channel();
    let (entered_tx, entered_rx) = mpsc::channel();
    let guard = tracekit::set_reporter(Stuck {
        release: Arc::new(Mutex::new(Some(release_rx))),
        entered: entered_tx,
    });
    tracekit::metrics::set_enabled(true);
    // One span gets the collector into the stuck report.
    work(0);
    if tracekit::TRACE_ALL {
        // The collector takes it at its next tick.
        entered_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the collector reports");
    }
    // Far more than the queue holds, each call a trace of its own.
    let calls = (tracekit::QUEUE_CAPACITY as u64) * 3;
    for i in 0..calls {
        work(i);
    }
    let dropped = tracekit::collector_stats().spans_dropped;
    let _ = release_tx.send(());
    let snapshot = tracekit::metrics::snapshot();
    drop(guard);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert!(dropped > 0, "the queue overflowed");
    assert_eq!(snapshot.function("work").unwrap().calls(), calls + 1);
}
