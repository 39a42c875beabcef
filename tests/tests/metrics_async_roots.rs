//! Metrics of async fns whose traces the sampler drops: each call that
//! starts a trace has an owned span that records nothing, counted with its
//! errors when it goes (a process of its own: the sampler is global).

use tracekit::metrics;
use tracekit::sampler::{TraceIdRatio, set_sampler};

#[tracekit::trace_fn]
async fn fetch_row(i: u64) -> Result<u64, String> {
    tokio::task::yield_now().await;
    parse_cell(i).await?;
    if i.is_multiple_of(3) {
        Err(format!("row {i}"))
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
async fn parse_cell(i: u64) -> Result<u64, String> {
    // Its error is its own, not its caller's (which also fails through `?`).
    if i.is_multiple_of(5) {
        Err("bad cell".to_owned())
    } else {
        Ok(i)
    }
}

/// An async fn's call that starts a trace the sampler drops has an owned
/// span that records nothing: it is counted with its errors when it goes.
#[tokio::test]
async fn async_roots_the_sampler_drops_count_with_their_errors() {
    let _sampler = set_sampler(TraceIdRatio::new(0.0));
    metrics::set_enabled(true);
    for i in 1..=60u64 {
        let _ = fetch_row(i).await;
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = metrics::snapshot();
    let f = snapshot.function("fetch_row").unwrap();
    let failing = (1..=60u64)
        .filter(|i| i.is_multiple_of(3) || i.is_multiple_of(5))
        .count() as u64;
    assert_eq!((f.calls(), f.errors()), (60, failing));
    let c = snapshot.function("parse_cell").unwrap();
    assert_eq!((c.calls(), c.errors()), (60, 12));
}
