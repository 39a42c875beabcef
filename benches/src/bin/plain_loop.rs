//! Times one contender as a plain loop, the way a user checking a claim
//! would: its own process (nothing else installed), a warm-up, then rounds
//! of roots with [`CALLS_PER_ROOT`] calls each for a fixed time. Prints the
//! median of the rounds' nanoseconds per call, and what the contender
//! dropped. Background collection runs as it would in a service; the
//! measured thread pays whatever the contender makes it pay.
//!
//! Usage: `plain-loop <contender> [sync|async|method] [seconds]`

use std::time::{Duration, Instant};
use tracekit_benches::{CALLS_PER_ROOT, Harness, Workload, contender_arg, or_exit, workload_arg};

const ROUNDS: u32 = 7;
const ROOTS_PER_CHECK: u64 = 64;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let contender = or_exit(contender_arg(&name));
    let workload = or_exit(workload_arg(args.next()));
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let Some(harness) = Harness::new(contender) else {
        eprintln!("{name} needs the `peers` feature of tracekit-benches");
        std::process::exit(2);
    };
    let round = Duration::from_secs_f64(seconds / f64::from(ROUNDS));
    // Warm-up: first use of the clock, thread-locals, the collector thread.
    let warm = Instant::now();
    while warm.elapsed() < round / 2 {
        std::hint::black_box(harness.run(workload));
    }
    let mut per_call = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut roots = 0u64;
        loop {
            for _ in 0..ROOTS_PER_CHECK {
                std::hint::black_box(harness.run(workload));
            }
            roots += ROOTS_PER_CHECK;
            if start.elapsed() >= round {
                break;
            }
        }
        let calls = roots * CALLS_PER_ROOT;
        per_call.push(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    harness.flush();
    per_call.sort_by(f64::total_cmp);
    let median = per_call[per_call.len() / 2];
    let dropped = harness.dropped().map_or("-".to_owned(), |d| d.to_string());
    println!(
        "{name} {workload} median {median:.1} ns/call (rounds {:.1}..{:.1}) dropped {dropped}",
        per_call[0],
        per_call[per_call.len() - 1],
        workload = match workload {
            Workload::SyncFn => "sync",
            Workload::AsyncFn => "async",
            Workload::Method => "method",
        }
    );
}
