//! A metrics snapshot (a Prometheus scrape, an OTLP metrics export) never
//! waits for the traces' exporter: with the exporter stuck in an export, a
//! snapshot still returns at once, with every call counted (a process of
//! its own: the reporter is global).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracekit::{BatchConfig, BatchReporter, ExportError, Exporter, SpanRecord};

/// An exporter stuck in every export until released.
struct Stuck(Arc<Mutex<mpsc::Receiver<()>>>);

impl Exporter for Stuck {
    fn export(&mut self, _batch: Vec<SpanRecord>, _deadline: Instant) -> Result<(), ExportError> {
        let _ = self.0.lock().unwrap().recv();
        Ok(())
    }
}

#[tracekit::trace_fn]
fn handle(i: u64) -> u64 {
    i + 1
}

#[test]
fn a_snapshot_does_not_wait_for_a_stuck_export() {
    let (release, stuck) = mpsc::channel();
    let config = BatchConfig {
        // Long enough that a flush waiting for it would be plain to see.
        export_timeout: Duration::from_secs(120),
        scheduled_delay: Duration::from_millis(1),
        ..BatchConfig::default()
    };
    let guard = tracekit::set_reporter(BatchReporter::new(
        Stuck(Arc::new(Mutex::new(stuck))),
        config,
    ));
    tracekit::metrics::set_enabled(true);
    for i in 0..100 {
        handle(i);
    }
    // The snapshot on a thread of its own, so that a snapshot stuck behind
    // the export fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let calls = tracekit::metrics::snapshot()
            .function("handle")
            .map_or(0, |f| f.calls());
        let _ = done_tx.send(calls);
    });
    let calls = done_rx.recv_timeout(Duration::from_secs(30));
    // Let the exporter go, whatever happened, so the guard can shut down.
    for _ in 0..1000 {
        let _ = release.send(());
    }
    let calls = calls.expect("the snapshot returned while the export was stuck");
    drop(guard);
    assert_eq!(calls, if tracekit::TRACE_ALL { 100 } else { 0 });
}
