//! A scrape serves what the collector has counted and never runs the
//! reporter itself: with the reporter stuck inside `report` (a console
//! writing to a full pipe, a slow reporter of one's own), `/metrics` and
//! `prometheus_text()` still answer, on their own thread, and once the
//! reporter goes on every call is counted (a process of its own: the
//! reporter is global).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;
use tower::{Service, ServiceExt};
use tracekit::{Reporter, SpanBatch};

/// A reporter stuck in every `report` until released, telling on which
/// thread it was called.
struct Stuck {
    called_on: mpsc::Sender<ThreadId>,
    gate: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Reporter for Stuck {
    fn report(&mut self, _spans: SpanBatch) {
        let _ = self.called_on.send(std::thread::current().id());
        let _ = self.gate.lock().unwrap().recv();
    }
}

#[tracekit::trace_fn]
fn handle(i: u64) -> u64 {
    i + 1
}

/// The calls of `handle` in a Prometheus text.
fn calls_in(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| {
            l.starts_with("tracekit_function_duration_seconds_count{")
                && l.contains("code_function_name=\"metrics_scrape_reporter::handle\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn a_scrape_answers_while_the_reporter_is_stuck_and_never_runs_it() {
    let (called_on, calls) = mpsc::channel();
    let (release, gate) = mpsc::channel();
    let guard = tracekit::set_reporter(Stuck {
        called_on,
        gate: Arc::new(Mutex::new(gate)),
    });
    tracekit::metrics::set_enabled(true);
    for i in 0..100 {
        handle(i);
    }
    // The collector takes this thread's spans at its next tick and is then
    // stuck in `report`; a scrape that delivered them itself would be stuck
    // in it too, or behind it.
    // Both scrapes on a thread of their own, so that one stuck behind the
    // reporter fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let text = tracekit::metrics::prometheus_text();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let served = runtime.block_on(async {
            let mut service = tracekit_tower::PrometheusService::new();
            let request = axum::http::Request::get("/metrics").body(()).unwrap();
            let response = ServiceExt::<axum::http::Request<()>>::ready(&mut service)
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap();
            response.into_body()
        });
        let _ = done_tx.send((std::thread::current().id(), text, served));
    });
    let scraped = done_rx.recv_timeout(Duration::from_secs(30));
    // Let the reporter go, whatever happened, so the guard can shut down.
    for _ in 0..1000 {
        let _ = release.send(());
    }
    let (scraper, text, served) =
        scraped.expect("the scrapes answered while the reporter was stuck");
    assert!(text.contains("# TYPE tracekit_function_duration_seconds histogram"));
    assert!(served.contains("# TYPE tracekit_function_duration_seconds histogram"));
    // Once delivered, every call is counted.
    tracekit::flush();
    let after = tracekit::metrics::prometheus_text();
    drop(guard);
    let reporters: Vec<ThreadId> = calls.try_iter().collect();
    assert!(
        !reporters.contains(&scraper),
        "the reporter ran on the scraping thread"
    );
    if tracekit::TRACE_ALL {
        assert_eq!(calls_in(&after), Some(100), "{after}");
    }
}
