use crate::data::record::SpanRecord;
use crate::data::span_batch::SpanBatch;
use crate::report::Reporter;
use std::sync::{Arc, Mutex};

/// Keeps every reported span in memory; clones share the same store.
///
/// ```
/// let memory = tracekit::InMemoryReporter::new();
/// let guard = tracekit::set_reporter(memory.clone());
/// drop(tracekit::Span::start("a"));
/// drop(guard);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(memory.spans().iter().filter(|s| s.name() == "a").count(), 1);
/// ```
#[derive(Clone, Default)]
pub struct InMemoryReporter {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
}

impl InMemoryReporter {
    /// An empty store.
    ///
    /// ```
    /// assert!(tracekit::InMemoryReporter::new().spans().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the spans reported so far.
    ///
    /// ```
    /// let m = tracekit::InMemoryReporter::new();
    /// assert_eq!(m.spans().len(), 0);
    /// ```
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Removes and returns the spans reported so far.
    ///
    /// ```
    /// let m = tracekit::InMemoryReporter::new();
    /// assert!(m.take().is_empty());
    /// ```
    pub fn take(&self) -> Vec<SpanRecord> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Reporter for InMemoryReporter {
    fn report(&mut self, spans: SpanBatch) {
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(spans.iter());
    }
}
