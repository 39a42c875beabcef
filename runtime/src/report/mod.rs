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

/// Installs the global reporter (replacing and flushing any earlier one) and
/// starts the background collector. Dropping the guard delivers every span
/// finished so far and uninstalls the reporter.
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
        return ReporterGuard { active: false };
    }
    flush();
    {
        let mut sinks = collector::sinks();
        if let Some(mut old) = sinks.reporter.replace(Box::new(reporter)) {
            old.flush();
        } else {
            collector::LISTENERS.fetch_add(1, Ordering::SeqCst);
        }
    }
    collector::ensure_background();
    ReporterGuard { active: true }
}

/// Delivers every span finished so far on this thread, and every span other
/// threads have handed over, to the reporter, then flushes it.
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
    active: bool,
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
        if !self.active {
            return;
        }
        flush();
        let mut sinks = collector::sinks();
        if let Some(mut r) = sinks.reporter.take() {
            r.flush();
            collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
