//! Three groups, one per shape of the traced function, the same work in
//! each: a function with two `u64` arguments called 100 times under an
//! active root span, delivered to a discarding reporter. Reported per call;
//! `benches/run.sh` adds the `trace-all` off run, the ratios and the
//! instruction counts.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracekit_benches::{CALLS_PER_ROOT, Contender, Harness, Workload};

fn two_u64_args(c: &mut Criterion) {
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.group());
        group.throughput(Throughput::Elements(CALLS_PER_ROOT));
        for contender in Contender::ALL {
            let Some(harness) = Harness::new(contender) else {
                continue;
            };
            group.bench_function(contender.name(), |b| {
                b.iter(|| harness.run(workload));
            });
            harness.flush();
        }
        group.finish();
    }
}

criterion_group!(benches, two_u64_args);
criterion_main!(benches);
