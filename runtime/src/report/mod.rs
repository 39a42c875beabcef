//! Reporters: where finished spans go once they leave the application's
//! threads. Install one with [`set_reporter`](crate::set_reporter).

mod batch;
mod console;
mod memory;
mod tee;

pub use batch::{
    BatchConfig, BatchReporter, ExportError, ExportSnapshot, ExportStats, Exporter,
    InMemoryExporter,
};
pub use console::ConsoleReporter;
pub use memory::InMemoryReporter;
pub use tee::Tee;

use crate::record::SpanBatch;

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

    /// Delivers anything buffered (called by [`flush`](crate::flush) and
    /// when the install guard drops).
    fn flush(&mut self) {}
}
