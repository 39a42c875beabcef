//! Reporters: where finished spans go once they leave the application's
//! threads. Install one with [`set_reporter`](crate::set_reporter).

mod batch;
mod console;
mod memory;
pub(crate) mod prometheus;
mod tee;
pub(crate) mod tree;

pub use batch::{
    BatchConfig, BatchReporter, DEFAULT_SHUTDOWN_TIMEOUT, ExportError, ExportSnapshot, ExportStats,
    Exporter, InMemoryExporter,
};
pub(crate) use batch::{pending_spans, shutdown_timeout};
pub use console::ConsoleReporter;
pub use memory::InMemoryReporter;
pub use tee::Tee;

use crate::data::span_batch::SpanBatch;

/// Receives batches of finished spans, on the collector's background thread.
///
/// ```
/// struct Count(usize);
/// impl tracekit::Reporter for Count {
///     fn report(&mut self, spans: tracekit::SpanBatch) {
///         self.0 += spans.len();
///     }
/// }
/// let _guard = tracekit::set_reporter(Count(0));
/// ```
pub trait Reporter: Send + 'static {
    /// Takes the spans finished since the last call (never empty), the
    /// batches of each thread in the order they were handed over.
    fn report(&mut self, spans: SpanBatch);

    /// Delivers anything buffered (called by [`flush`](crate::flush)).
    fn flush(&mut self) {}

    /// Delivers anything buffered and stops, by `deadline`: the last call a
    /// reporter gets, when its install guard drops or
    /// [`shuts down`](crate::ReporterGuard::shutdown). What it cannot
    /// deliver by then it drops (and counts, if it counts). One deadline for
    /// everything: a reporter that forwards to others passes it on.
    ///
    /// The default flushes.
    ///
    /// ```
    /// use std::time::Instant;
    /// struct Buffered(Vec<String>);
    /// impl tracekit::Reporter for Buffered {
    ///     fn report(&mut self, spans: tracekit::SpanBatch) {
    ///         self.0.extend(spans.iter().map(|s| s.name().to_owned()));
    ///     }
    ///     fn shutdown(&mut self, deadline: Instant) {
    ///         while let Some(name) = self.0.pop() {
    ///             if Instant::now() >= deadline {
    ///                 break; // out of time: the rest is dropped
    ///             }
    ///             println!("{name}");
    ///         }
    ///     }
    /// }
    /// let guard = tracekit::set_reporter(Buffered(Vec::new()));
    /// guard.shutdown();
    /// ```
    fn shutdown(&mut self, deadline: std::time::Instant) {
        let _ = deadline;
        self.flush();
    }

    /// Whether the reporter reads metrics (the console's table at exit):
    /// installing one that does switches them on. The default is no.
    ///
    /// ```
    /// use tracekit::Reporter;
    /// let console = tracekit::ConsoleReporter::stdout().with_metrics_table(true);
    /// assert!(console.wants_metrics());
    /// assert!(!tracekit::InMemoryReporter::new().wants_metrics());
    /// ```
    fn wants_metrics(&self) -> bool {
        false
    }
}
