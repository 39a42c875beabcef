//! What one metrics record costs, side by side, for `valgrind --tool=callgrind`
//! to count (`benches/run-metrics.sh` runs it twice and divides the
//! difference by the extra calls):
//!
//! - `otel`: OpenTelemetry's SDK, a `Histogram<f64>` with the attributes
//!   tracekit's function series carry (`code.function.name`,
//!   `code.namespace`), recording a duration the caller already has.
//! - `otel-timed`: the same, with the duration measured around the call
//!   (`Instant::now()` twice), as a hand-written span metric would.
//! - `tracekit`: an unsampled `#[trace_fn]` call with metrics on (its
//!   duration measured and counted), minus the same call with metrics off
//!   when the script subtracts the `tracekit-off` run.
//!
//! Usage: `count-metrics <otel|otel-timed|tracekit|tracekit-off> <calls>`

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use std::hint::black_box;
use std::time::Instant;

#[tracekit::trace_fn]
#[inline(never)]
fn counted(a: u64) -> u64 {
    black_box(a) ^ 2
}

#[inline(never)]
fn plain(a: u64) -> u64 {
    black_box(a) ^ 2
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let Some(calls) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
        eprintln!("usage: count-metrics <otel|otel-timed|tracekit|tracekit-off> <calls>");
        std::process::exit(2);
    };
    match what.as_str() {
        "otel" | "otel-timed" => {
            let provider = SdkMeterProvider::builder()
                .with_reader(ManualReader::builder().build())
                .build();
            let histogram = provider
                .meter("count-metrics")
                .f64_histogram("tracekit.function.duration")
                .with_unit("s")
                .build();
            let attributes = [
                KeyValue::new("code.function.name", "count_metrics::counted"),
                KeyValue::new("code.namespace", "count_metrics"),
            ];
            let timed = what == "otel-timed";
            for i in 0..calls {
                if timed {
                    let start = Instant::now();
                    black_box(plain(i));
                    histogram.record(start.elapsed().as_secs_f64(), &attributes);
                } else {
                    black_box(plain(i));
                    histogram.record(black_box(1.5e-6), &attributes);
                }
            }
            black_box(&provider);
        }
        "tracekit" | "tracekit-off" => {
            tracekit::metrics::set_enabled(what == "tracekit");
            let _sampler = tracekit::sampler::set_sampler(tracekit::sampler::AlwaysOff);
            // Under an unsampled root: each call records no span.
            let _root = tracekit::start_active_span("root");
            for i in 0..calls {
                black_box(counted(i));
            }
        }
        other => {
            eprintln!("unknown {other:?}");
            std::process::exit(2);
        }
    }
}
