//! Reporters: where finished spans go once they leave the application's
//! threads. Install one with [`set_reporter`].

mod batch;
mod console;
mod memory;

pub use batch::{
    BatchConfig, BatchReporter, ExportError, ExportSnapshot, ExportStats, Exporter,
    InMemoryExporter,
};
pub use console::ConsoleReporter;
pub use memory::InMemoryReporter;

use crate::collector;
use crate::record::SpanRecord;
use std::sync::atomic::Ordering;

/// Receives batches of finished spans, on the collector's background thread.
///
/// ```
/// struct Count(usize);
/// impl tracekit::Reporter for Count {
///     fn report(&mut self, spans: Vec<tracekit::SpanRecord>) {
///         self.0 += spans.len();
///     }
/// }
/// let _guard = tracekit::set_reporter(Count(0));
/// ```
pub trait Reporter: Send + 'static {
    /// Takes a batch of finished spans, oldest batch first.
    fn report(&mut self, spans: Vec<SpanRecord>);

    /// Delivers anything buffered (called by [`flush`] and when the install
    /// guard drops).
    fn flush(&mut self) {}
}

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
/// assert!(memory.spans().iter().any(|s| s.name() == "job"));
/// ```
#[must_use = "the reporter is flushed and uninstalled when the guard drops"]
pub fn set_reporter(reporter: impl Reporter) -> ReporterGuard {
    if !crate::ENABLED {
        return ReporterGuard { generation: 0 };
    }
    flush();
    let (generation, old) = {
        let mut sinks = collector::sinks();
        sinks.generation += 1;
        let generation = sinks.generation;
        let old = sinks.reporter.replace(collector::Installed {
            generation,
            reporter: Box::new(reporter),
        });
        if old.is_none() {
            collector::LISTENERS.fetch_add(1, Ordering::SeqCst);
        }
        (generation, old)
    };
    // Outside the lock: the old reporter's `flush` and `drop` may call
    // `tracekit::flush()` themselves.
    if let Some(mut old) = old {
        old.reporter.flush();
    }
    collector::ensure_background();
    ReporterGuard { generation }
}

/// Delivers every span finished so far on this thread, and every span other
/// threads have handed over, to the reporter, then flushes it.
///
/// A thread hands its finished spans over when its last open span (a guard
/// on its call stack) closes and when a future it polls starts to wait; a
/// thread that stays inside one long span (a worker's loop, a server's
/// `main` span) hands over what finished under it with the first span it
/// finishes after about 50-100 ms. Spans finished under a span that is still
/// open on a thread that has stopped tracing altogether wait for that span.
///
/// ```
/// tracekit::flush();
/// ```
pub fn flush() {
    if crate::ENABLED {
        collector::flush_all();
    }
}

/// Flushes and uninstalls the reporter when dropped; see [`set_reporter`].
pub struct ReporterGuard {
    /// The generation of the reporter this guard installed; 0 for none.
    generation: u64,
}

impl ReporterGuard {
    /// Delivers every span finished so far, then uninstalls and drops the
    /// reporter (for a [`BatchReporter`], after its last export, bounded by
    /// the export timeout). The same as dropping the guard, said out loud.
    ///
    /// ```
    /// let memory = tracekit::InMemoryReporter::new();
    /// let guard = tracekit::set_reporter(memory.clone());
    /// drop(tracekit::Span::start("last words"));
    /// guard.shutdown();
    /// assert!(memory.spans().iter().any(|s| s.name() == "last words"));
    /// ```
    pub fn shutdown(self) {}
}

impl Drop for ReporterGuard {
    fn drop(&mut self) {
        if self.generation == 0 {
            return;
        }
        flush();
        let mine = {
            let mut sinks = collector::sinks();
            let mine = sinks
                .reporter
                .as_ref()
                .is_some_and(|i| i.generation == self.generation);
            if mine {
                collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
            }
            mine.then(|| sinks.reporter.take()).flatten()
        };
        // Outside the lock, as in `set_reporter`.
        if let Some(mut installed) = mine {
            installed.reporter.flush();
        }
    }
}
