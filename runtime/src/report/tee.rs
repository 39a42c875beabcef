//! More than one destination: every batch goes to each reporter of a [`Tee`]
//! (the console and OTLP, say). A batch is shared, not copied: each
//! reporter gets a handle on the same spans.

use super::Reporter;
use crate::data::span_batch::SpanBatch;
use std::time::Instant;

/// A reporter that hands every batch to each of its reporters, in order.
///
/// ```
/// let both = tracekit::Tee::new()
///     .with(tracekit::ConsoleReporter::stderr())
///     .with(tracekit::InMemoryReporter::new());
/// let _guard = tracekit::set_reporter(both);
/// ```
#[derive(Default)]
pub struct Tee {
    reporters: Vec<Box<dyn Reporter>>,
}

impl Tee {
    /// A tee with no reporters yet.
    ///
    /// ```
    /// let tee = tracekit::Tee::new();
    /// # drop(tee);
    /// ```
    pub fn new() -> Self {
        Tee::default()
    }

    /// Adds a destination.
    ///
    /// ```
    /// let tee = tracekit::Tee::new().with(tracekit::ConsoleReporter::stdout());
    /// # drop(tee);
    /// ```
    pub fn with(mut self, reporter: impl Reporter) -> Self {
        self.reporters.push(Box::new(reporter));
        self
    }
}

impl Reporter for Tee {
    fn report(&mut self, spans: SpanBatch) {
        let Some((last, first)) = self.reporters.split_last_mut() else {
            return;
        };
        for reporter in first {
            reporter.report(spans.clone());
        }
        last.report(spans);
    }

    fn flush(&mut self) {
        for reporter in &mut self.reporters {
            reporter.flush();
        }
    }

    fn shutdown(&mut self, deadline: Instant) {
        for reporter in &mut self.reporters {
            reporter.shutdown(deadline);
        }
    }

    fn wants_metrics(&self) -> bool {
        self.reporters.iter().any(|r| r.wants_metrics())
    }
}

/// A reporter that may be absent: `set_reporter((console, tracekit_otlp::from_env()))`
/// exports over OTLP only when it is configured.
///
/// ```
/// let otlp: Option<tracekit::InMemoryReporter> = None;
/// let _guard = tracekit::set_reporter((tracekit::ConsoleReporter::stdout(), otlp));
/// ```
impl<R: Reporter> Reporter for Option<R> {
    fn report(&mut self, spans: SpanBatch) {
        if let Some(reporter) = self {
            reporter.report(spans);
        }
    }

    fn flush(&mut self) {
        if let Some(reporter) = self {
            reporter.flush();
        }
    }

    fn shutdown(&mut self, deadline: Instant) {
        if let Some(reporter) = self {
            reporter.shutdown(deadline);
        }
    }

    fn wants_metrics(&self) -> bool {
        self.as_ref().is_some_and(R::wants_metrics)
    }
}

/// Two reporters as one: `set_reporter((console, otlp))`.
impl<A: Reporter, B: Reporter> Reporter for (A, B) {
    fn report(&mut self, spans: SpanBatch) {
        self.0.report(spans.clone());
        self.1.report(spans);
    }

    fn flush(&mut self) {
        self.0.flush();
        self.1.flush();
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.0.shutdown(deadline);
        self.1.shutdown(deadline);
    }

    fn wants_metrics(&self) -> bool {
        self.0.wants_metrics() || self.1.wants_metrics()
    }
}

/// Three reporters as one.
impl<A: Reporter, B: Reporter, C: Reporter> Reporter for (A, B, C) {
    fn report(&mut self, spans: SpanBatch) {
        self.0.report(spans.clone());
        self.1.report(spans.clone());
        self.2.report(spans);
    }

    fn flush(&mut self) {
        self.0.flush();
        self.1.flush();
        self.2.flush();
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.0.shutdown(deadline);
        self.1.shutdown(deadline);
        self.2.shutdown(deadline);
    }

    fn wants_metrics(&self) -> bool {
        self.0.wants_metrics() || self.1.wants_metrics() || self.2.wants_metrics()
    }
}
