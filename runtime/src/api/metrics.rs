//! Every traced function's calls, errors and durations, counted in
//! process however its traces are sampled.
//!
//! With metrics on, every call of a `#[trace_fn]` trace point counts: a
//! sampled call where its span's record arrives at the collector (before
//! tail keep drops any), a call that records nothing (under an unsampled
//! span, or a trace the sampler dropped) on its own thread, in a table of
//! that thread's that the collector sums. A point switched off by the
//! filter counts nothing. Off by default; switched on by [`set_enabled`]
//! or by `TRACEKIT_METRICS=on` when a reporter is installed
//! (`TRACEKIT_METRICS=off` keeps them off whatever the code says).
//!
//! ```
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
//! #[tracekit::trace_fn]
//! fn find(id: u64) -> Result<u64, String> {
//!     if id == 0 { Err("no such user".into()) } else { Ok(id) }
//! }
//!
//! tracekit::metrics::set_enabled(true);
//! for id in 0..4 { let _ = find(id); }
//! let metrics = tracekit::metrics::snapshot();
//! let f = metrics.function("find").unwrap();
//! assert_eq!((f.calls(), f.errors()), (4, 1));
//! let text = tracekit::metrics::Prometheus::new().render(&metrics);
//! // Labelled by the function's full path (`my_crate::find`).
//! assert!(text.lines().any(|l| l
//!     .starts_with("tracekit_function_duration_seconds_count{code_function_name=")
//!     && l.contains("::find\",")));
//! ```

use crate::collect::collector;
use crate::data::clock::Calibration;
use crate::data::metrics;
use std::sync::atomic::{AtomicU8, Ordering};

pub use crate::data::metrics::{
    FUNCTION_BOUNDS, FunctionMetrics, Histogram, Metrics, REQUEST_BOUNDS, RequestMetrics,
};
pub use crate::report::prometheus::Prometheus;

/// `TRACEKIT_METRICS` as read: not yet, on, off, or unset.
static ENV: AtomicU8 = AtomicU8::new(UNREAD);
const UNREAD: u8 = 0;
const ENV_ON: u8 = 1;
const ENV_OFF: u8 = 2;
const ENV_UNSET: u8 = 3;

fn env() -> u8 {
    match ENV.load(Ordering::Relaxed) {
        UNREAD => {
            let read = match std::env::var("TRACEKIT_METRICS") {
                Err(_) => ENV_UNSET,
                Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "on" | "1" | "true" => ENV_ON,
                    "off" | "0" | "false" => ENV_OFF,
                    _ => {
                        crate::data::diag::warn(format_args!(
                            "TRACEKIT_METRICS={v:?} is neither on nor off; metrics stay as the code sets them"
                        ));
                        ENV_UNSET
                    }
                },
            };
            ENV.store(read, Ordering::Relaxed);
            read
        }
        read => read,
    }
}

/// Switches metrics on or off for the whole process (a no-op under
/// `TRACEKIT_METRICS=off`, or with `trace-all` off). What was counted stays.
///
/// ```
/// tracekit::metrics::set_enabled(true);
/// assert_eq!(tracekit::metrics::enabled(), tracekit::TRACE_ALL);
/// ```
pub fn set_enabled(on: bool) {
    if !crate::TRACE_ALL || (on && env() == ENV_OFF) {
        return;
    }
    if on {
        metrics::STARTED.get_or_init(std::time::SystemTime::now);
        let _ = metrics::SNAPSHOT.set(snapshot);
        metrics::NANOS_PER_TICK_Q32
            .store(Calibration::now().nanos_per_tick_q32(), Ordering::Relaxed);
    }
    // Metrics listen to the collector as a reporter does: without a
    // listener, finished spans are dropped before it sees them. Listening
    // starts before counting does, so that no sampled span finished once
    // metrics count is dropped unseen.
    if on {
        collector::LISTENERS.fetch_add(1, Ordering::SeqCst);
        if metrics::ON.swap(true, Ordering::SeqCst) {
            collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
        } else {
            collector::ensure_background();
        }
    } else if metrics::ON.swap(false, Ordering::SeqCst) {
        collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether metrics are counted now.
///
/// ```
/// let _counting = tracekit::metrics::enabled();
/// ```
pub fn enabled() -> bool {
    metrics::on()
}

/// Switches metrics on when `TRACEKIT_METRICS=on`, or when the reporter
/// being installed wants them (`wanted`: the console's table); called
/// where a reporter is installed.
pub(crate) fn from_env(wanted: bool) {
    if env() == ENV_ON || wanted {
        set_enabled(true);
    }
}

/// Every trace point's metrics as of now. Spans this thread finished are
/// handed over and the collector's queue is taken first, so every call
/// that returned on this thread is in it (other threads' sampled calls as
/// of their last hand-over).
///
/// ```
/// let metrics = tracekit::metrics::snapshot();
/// assert!(metrics.functions().iter().all(|f| f.errors() <= f.calls()));
/// ```
pub fn snapshot() -> Metrics {
    if metrics::on() {
        crate::local::flush_thread();
        // Handed to the reporter, not flushed: a scrape or a metrics export
        // never waits for the traces' export.
        collector::deliver_queued();
    }
    collected()
}

/// Every trace point's metrics as the collector has counted them, taken
/// without delivering anything: what a scrape serves. Calls that recorded
/// nothing are in it as soon as they return; sampled calls once the
/// collector has taken them from their thread (it does every 10 ms, while
/// the reporter keeps up). Unlike
/// [`snapshot`] it never runs the reporter or waits for it, so a scrape on
/// an async runtime's worker thread does no exporting there.
///
/// ```
/// let metrics = tracekit::metrics::collected();
/// assert!(metrics.functions().iter().all(|f| f.errors() <= f.calls()));
/// ```
pub fn collected() -> Metrics {
    crate::collect::metrics::snapshot()
}

/// The Prometheus text of every metric the collector has counted
/// ([`collected`]), with the default buckets (see [`Prometheus`] to choose
/// them).
///
/// ```
/// let text = tracekit::metrics::prometheus_text();
/// assert!(text.contains("# TYPE tracekit_function_duration_seconds histogram"));
/// ```
pub fn prometheus_text() -> String {
    Prometheus::new().render(&collected())
}
