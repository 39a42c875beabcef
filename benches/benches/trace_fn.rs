//! One group, same work: a sync function with two `u64` arguments called 100
//! times under an active root span, delivered to a discarding reporter.
//! Reported per call; `benches/run.sh` adds the `trace-all` off run, the
//! ratios and the instruction counts.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracekit_benches::{CALLS_PER_ROOT, Contender, Harness};

fn sync_fn_two_args(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_fn_two_u64_args");
    group.throughput(Throughput::Elements(CALLS_PER_ROOT));
    for contender in Contender::ALL {
        let harness = Harness::new(contender);
        group.bench_function(contender.name(), |b| {
            b.iter(|| harness.run_root());
        });
        harness.flush();
    }
    group.finish();
}

criterion_group!(benches, sync_fn_two_args);
criterion_main!(benches);
