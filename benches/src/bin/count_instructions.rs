//! Runs one contender for a given number of root spans and flushes, for
//! `valgrind --tool=callgrind` to count instructions (all threads, the
//! collector's work included). `benches/run.sh` runs it twice with different
//! counts and divides the difference by the extra calls, which cancels
//! start-up and set-up costs.
//!
//! Usage: `count-instructions <contender> <roots> [sync|async|method]`

use tracekit_benches::{Contender, Harness, KEEP_UP_ROOTS, contender_arg, or_exit, workload_arg};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let contender = or_exit(contender_arg(&name));
    let roots: u64 = match args.next().map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: count-instructions <contender> <roots> [sync|async|method]");
            std::process::exit(2);
        }
    };
    let workload = or_exit(workload_arg(args.next()));
    let Some(harness) = Harness::new(contender) else {
        eprintln!("{name} needs the `peers` feature of tracekit-benches");
        std::process::exit(2);
    };
    // The trace points are listed in this optimised, link-time-optimised
    // build too (the linker section survives the linker's garbage collection).
    if tracekit::TRACE_ALL && contender == Contender::Tracekit {
        let listed = tracekit::trace_points()
            .filter(|p| p.name().contains("tracekit_add"))
            .count();
        if listed != 3 {
            eprintln!("{listed} of the 3 trace points of the benchmark are listed");
            std::process::exit(1);
        }
    }
    // Warm up: first-use initialisation (clock, thread-locals, collector thread).
    for _ in 0..10 {
        std::hint::black_box(harness.run(workload));
    }
    harness.flush();
    for i in 1..=roots {
        std::hint::black_box(harness.run(workload));
        if i % KEEP_UP_ROOTS == 0 {
            harness.keep_up();
        }
    }
    harness.flush();
    // Everything was delivered: a count that includes dropped spans would
    // flatter whoever dropped them.
    if let Some(dropped) = harness.dropped().filter(|&d| d != 0) {
        eprintln!("{dropped} spans were dropped; this count is not valid");
        std::process::exit(1);
    }
}
