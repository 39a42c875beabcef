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
    // Their durations by error type, told to the span that records nothing.
    let string = std::any::type_name::<String>();
    let by_type = |m: &tracekit::metrics::FunctionMetrics| -> Vec<(String, u64)> {
        m.error_types()
            .map(|(t, h)| (t.to_owned(), h.count()))
            .collect()
    };
    assert_eq!(by_type(f), vec![(string.to_owned(), failing)]);
    assert_eq!(by_type(c), vec![(string.to_owned(), 12)]);
    assert_eq!(f.succeeded().count(), 60 - failing);
}

/// A sync fn returning a future: its span starts at the call (the shape
/// under test, so not an `async fn`).
#[allow(clippy::manual_async_fn)]
#[tracekit::trace_fn]
fn load_page(i: u64) -> impl std::future::Future<Output = Result<u64, String>> {
    async move {
        tokio::task::yield_now().await;
        if i.is_multiple_of(4) {
            Err(format!("page {i}"))
        } else {
            Ok(i)
        }
    }
}

#[tracekit::trace_fn]
async fn render_site(pages: u64) -> u64 {
    let mut ok = 0;
    for i in 1..=pages {
        ok += u64::from(load_page(i).await.is_ok());
    }
    ok
}

/// Under a root the sampler drops (so the calls below start no span at all)
/// and as roots of their own, future-returning fns count with their errors.
#[tokio::test]
async fn future_returning_fns_count_sampled_out_with_their_errors() {
    let _sampler = set_sampler(TraceIdRatio::new(0.0));
    metrics::set_enabled(true);
    assert_eq!(render_site(20).await, 15);
    for i in 21..=40 {
        let _ = load_page(i).await;
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = metrics::snapshot();
    let p = snapshot.function("load_page").unwrap();
    assert_eq!((p.calls(), p.errors()), (40, 10));
    let (error_type, failed) = p.error_types().next().unwrap();
    assert_eq!(
        (error_type, failed.count()),
        (std::any::type_name::<String>(), 10)
    );
    assert_eq!(snapshot.function("render_site").unwrap().calls(), 1);
}

#[tracekit::trace_fn]
async fn crashes(panic: bool) -> u32 {
    tokio::task::yield_now().await;
    if panic {
        panic!("metrics test: a sampled-out root panics");
    }
    1
}

/// A panic in a call whose span records nothing (a root the sampler
/// dropped) counts it as failed, by the type `panic`.
#[tokio::test]
async fn a_sampled_out_root_that_panics_counts_as_a_panic() {
    let _sampler = set_sampler(TraceIdRatio::new(0.0));
    metrics::set_enabled(true);
    for panic in [true, false, true] {
        let joined = tokio::spawn(crashes(panic)).await;
        assert_eq!(joined.is_err(), panic);
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = metrics::snapshot();
    let f = snapshot.function("crashes").unwrap();
    assert_eq!((f.calls(), f.errors()), (3, 2));
    let by_type: Vec<(&str, u64)> = f.error_types().map(|(t, h)| (t, h.count())).collect();
    assert_eq!(by_type, vec![("panic", 2)]);
}
