//! Setting up where spans go: installing the reporter, and flushing. These
//! touch both this thread's state (its finished spans are handed over first)
//! and the collector, so they sit above both.

use crate::collect::collector;
use crate::report::Reporter;
use std::time::{Duration, Instant};

/// Installs the global reporter and starts the background collector.
/// Dropping the guard delivers every span finished so far and uninstalls the
/// reporter.
///
/// There is one reporter at a time. Installing another replaces it: the
/// earlier one gets every span finished before the call, is flushed, and
/// dropped; its guard then does nothing. Each guard uninstalls only the
/// reporter it installed, so guards may drop in any order: dropping an
/// older guard leaves a newer reporter in place, and dropping the newest
/// leaves no reporter (the one it replaced is gone, not restored). To send
/// spans to several places, install one reporter that forwards to them.
///
/// ```
/// let memory = tracekit::InMemoryReporter::new();
/// {
///     let _guard = tracekit::set_reporter(memory.clone());
///     let _s = tracekit::start_active_span("job");
/// }
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(memory.spans().iter().any(|s| s.name() == "job"));
/// ```
#[must_use = "the reporter is flushed and uninstalled when the guard drops"]
pub fn set_reporter(reporter: impl Reporter) -> ReporterGuard {
    if !crate::TRACE_ALL {
        // Nothing is installed; the reporter goes at once, and a panic in
        // its drop stays here, as it would in a guard's.
        collector::call_reporter("drop", || drop(reporter));
        return ReporterGuard { generation: 0 };
    }
    crate::api::panic::install_hook();
    crate::api::metrics::from_env(reporter.wants_metrics());
    flush();
    let (generation, old) = collector::install(Box::new(reporter));
    // Outside the collector's lock: the old reporter's `flush` and `drop`
    // may call `tracekit::flush()` themselves.
    if let Some(mut old) = old {
        collector::call_reporter("flush", || old.flush());
        collector::call_reporter("drop", || drop(old));
    }
    ReporterGuard { generation }
}

/// Delivers every span finished so far on this thread, and every span other
/// threads have handed over, to the reporter, then flushes it.
///
/// A thread hands its finished spans over when its last open span (a guard
/// on its call stack, or an owned span it has entered) closes and when a
/// future it polls starts to wait: a few spans (a request's) go to the
/// thread's outbox, which the background collector takes every 10 ms and
/// `flush` takes at once, more go to the collector's queue. A thread that
/// stays inside one long span (a worker's loop, a server's `main` span)
/// hands over what finished under it with the first span it finishes after
/// about 50-100 ms. Spans finished under a span that is still open on a
/// thread that has stopped tracing altogether wait for that span.
///
/// ```
/// tracekit::flush();
/// ```
pub fn flush() {
    if crate::TRACE_ALL {
        crate::local::flush_thread();
        collector::deliver();
    }
}

/// Flushes and uninstalls the reporter when dropped; see [`set_reporter`].
pub struct ReporterGuard {
    /// The generation of the reporter this guard installed; 0 for none.
    generation: u64,
}

impl ReporterGuard {
    /// Delivers every span finished so far, then uninstalls and drops the
    /// reporter, all by one deadline: `OTEL_BSP_EXPORT_TIMEOUT`
    /// (milliseconds) from now, else [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT)
    /// (5 s). For a [`BatchReporter`](crate::BatchReporter) that is every
    /// batch it still holds, every retry, and every reporter behind a
    /// [`Tee`](crate::Tee); what is not exported by then is dropped, counted
    /// and said on stderr. The same as dropping the guard, said out loud.
    ///
    /// ```
    /// let memory = tracekit::InMemoryReporter::new();
    /// let guard = tracekit::set_reporter(memory.clone());
    /// drop(tracekit::Span::start("last words"));
    /// guard.shutdown();
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(memory.spans().iter().any(|s| s.name() == "last words"));
    /// ```
    pub fn shutdown(self) {}

    /// [`shutdown`](Self::shutdown) with a deadline `timeout` from now.
    ///
    /// ```
    /// let guard = tracekit::set_reporter(tracekit::ConsoleReporter::stdout());
    /// guard.shutdown_within(std::time::Duration::from_secs(2));
    /// ```
    pub fn shutdown_within(mut self, timeout: Duration) {
        self.finish(crate::data::clock::instant_after(timeout));
    }

    fn finish(&mut self, deadline: Instant) {
        let generation = std::mem::take(&mut self.generation);
        if generation == 0 {
            return;
        }
        crate::local::flush_thread();
        // Everything queued goes to the reporter as it is uninstalled; it
        // is then shut down and dropped outside the lock, as in
        // `set_reporter`.
        match collector::uninstall(generation) {
            Some(mut mine) => {
                collector::call_reporter("shutdown", || mine.shutdown(deadline));
                collector::call_reporter("drop", || drop(mine));
            }
            // Replaced since: what finished goes to the newer one.
            None => collector::deliver(),
        }
    }
}

impl Drop for ReporterGuard {
    fn drop(&mut self) {
        if self.generation != 0 {
            self.finish(crate::data::clock::instant_after(
                crate::report::shutdown_timeout(),
            ));
        }
    }
}
