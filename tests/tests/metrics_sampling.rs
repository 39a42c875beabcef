//! Metrics are exact however traces are sampled: 100,000 calls at a 1%
//! trace-id ratio, most of them roots the sampler drops, are all counted,
//! with their errors, and a call made before metrics were on is not.

use tracekit::metrics;
use tracekit::sampler::{TraceIdRatio, set_sampler};

#[tracekit::trace_fn]
fn handle(i: u64) -> Result<u64, String> {
    lookup(i);
    if i.is_multiple_of(7) {
        Err(format!("request {i} failed"))
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
fn lookup(i: u64) -> u64 {
    i + 1
}

#[test]
fn every_call_counts_at_a_one_percent_ratio() {
    let _sampler = set_sampler(TraceIdRatio::new(0.01));
    let reporter = tracekit::InMemoryReporter::new();
    let _installed = tracekit::set_reporter(reporter.clone());
    // Before metrics are on: not counted.
    let _ = handle(1);
    tracekit::flush();
    metrics::set_enabled(true);
    const CALLS: u64 = 100_000;
    for i in 0..CALLS {
        let _ = handle(i);
    }
    let snapshot = metrics::snapshot();
    tracekit::flush();
    if !tracekit::TRACE_ALL {
        assert!(snapshot.functions().is_empty());
        return;
    }
    let h = snapshot.function("handle").unwrap();
    assert_eq!(h.calls(), CALLS);
    assert_eq!(h.errors(), CALLS.div_ceil(7));
    assert_eq!(snapshot.function("lookup").unwrap().calls(), CALLS);
    // Both ways of counting were used: some traces were sampled (about
    // 1,000 roots; 500 is 15 standard deviations below), most were not.
    let sampled = reporter
        .spans()
        .iter()
        .filter(|s| s.name() == "handle")
        .count();
    assert!((500..2_000).contains(&sampled), "{sampled} sampled");
}
