//! Capturing spans in tests: run code, get back every span it produced.

use crate::collector;
use crate::record::SpanRecord;
use crate::tree;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_CAPTURE: AtomicU32 = AtomicU32::new(1);

/// Runs `f` and returns its result with every span of every trace started
/// inside it, including spans finished on other threads or tasks (that
/// carried the context along) before `capture` returns.
///
/// Safe under cargo's parallel tests: each call sees only its own traces.
/// Works with or without a global reporter installed.
///
/// ```
/// #[tracekit::trace_fn]
/// fn add(a: u64, b: u64) -> u64 { a + b }
///
/// let (sum, captured) = tracekit::testing::capture(|| add(2, 3));
/// assert_eq!(sum, 5);
/// let span = captured.span("add");
/// assert_eq!(span.tag("a").unwrap().to_string(), "2");
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    if !crate::ENABLED {
        return (f(), Captured { spans: Vec::new() });
    }
    let id = NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed).max(1);
    collector::sinks().captures.insert(id, Vec::new());
    collector::LISTENERS.fetch_add(1, Ordering::SeqCst);
    // Drains while `f` runs, so the capture is not bounded by the queue.
    collector::ensure_background();
    crate::panic::install_hook();
    let previous = crate::local::with_state(|s| std::mem::replace(&mut s.capture, id));
    // Restores the thread and unregisters even when `f` panics.
    struct Session {
        id: u32,
        previous: Option<u32>,
    }
    impl Session {
        fn finish(&mut self) -> Vec<SpanRecord> {
            if let Some(prev) = self.previous.take() {
                crate::local::with_state(|s| s.capture = prev);
            }
            crate::local::flush_thread();
            let mut sinks = collector::sinks();
            collector::drain(&mut sinks);
            let spans = sinks.captures.remove(&self.id);
            if spans.is_some() {
                collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
            }
            spans.unwrap_or_default()
        }
    }
    impl Drop for Session {
        fn drop(&mut self) {
            self.finish();
        }
    }
    let mut session = Session { id, previous };
    let result = f();
    let mut spans = session.finish();
    // Spans arrive in batches per thread; the order users reason about is
    // the order they finished.
    spans.sort_by_key(SpanRecord::end);
    (result, Captured { spans })
}

/// The spans recorded by [`capture`], with helpers to assert on them.
#[derive(Clone, Debug)]
pub struct Captured {
    spans: Vec<SpanRecord>,
}

impl Captured {
    /// Every captured span, in the order they finished.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {});
    /// assert!(c.spans().is_empty());
    /// ```
    pub fn spans(&self) -> &[SpanRecord] {
        &self.spans
    }

    /// The one span with this name.
    ///
    /// # Panics
    /// If there is no such span or several, listing all captured names.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("only")));
    /// assert_eq!(c.span("only").name(), "only");
    /// ```
    #[track_caller]
    pub fn span(&self, name: &str) -> &SpanRecord {
        let mut found = self.spans.iter().filter(|s| s.name() == name);
        match (found.next(), found.next()) {
            (Some(s), None) => s,
            (first, _) => {
                let names: Vec<&str> = self.spans.iter().map(|s| s.name()).collect();
                let what = if first.is_none() {
                    "no span"
                } else {
                    "several spans"
                };
                panic!("{what} named {name:?}; captured spans: {names:?}")
            }
        }
    }

    /// The spans named `name` (any number).
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| { drop(tracekit::Span::start("x")); drop(tracekit::Span::start("x")); });
    /// assert_eq!(c.spans_named("x").len(), 2);
    /// ```
    pub fn spans_named(&self, name: &str) -> Vec<&SpanRecord> {
        self.spans.iter().filter(|s| s.name() == name).collect()
    }

    /// The children of `parent`, in start order.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _p = tracekit::start_active_span("p");
    ///     drop(tracekit::Span::start("a"));
    ///     drop(tracekit::Span::start("b"));
    /// });
    /// let names: Vec<_> = c.children(c.span("p")).iter().map(|s| s.name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn children(&self, parent: &SpanRecord) -> Vec<&SpanRecord> {
        let mut kids: Vec<&SpanRecord> = self
            .spans
            .iter()
            .filter(|s| {
                s.trace_id() == parent.trace_id()
                    && s.parent_id() == Some(parent.span_id())
                    && s.span_id() != parent.span_id()
            })
            .collect();
        kids.sort_by_key(|s| s.start());
        kids
    }

    /// The spans whose parent was not captured, in start order.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| { let _p = tracekit::start_active_span("p"); });
    /// assert_eq!(c.roots()[0].name(), "p");
    /// ```
    pub fn roots(&self) -> Vec<&SpanRecord> {
        tree::roots(&self.spans)
            .into_iter()
            .map(|i| &self.spans[i])
            .collect()
    }

    /// One line per span: two spaces per depth, then the name; children in start order.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _a = tracekit::start_active_span("a");
    ///     let _b = tracekit::start_active_span("b");
    /// });
    /// assert_eq!(c.tree(), "a\n  b\n");
    /// ```
    pub fn tree(&self) -> String {
        let mut out = String::new();
        for (depth, i) in tree::depth_first(&self.spans) {
            for _ in 0..depth {
                out.push_str("  ");
            }
            out.push_str(self.spans[i].name());
            out.push('\n');
        }
        out
    }
}
