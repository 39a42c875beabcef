//! Capturing spans in tests: run code, get back every span it produced.

use crate::collect::{capture, collector};
use crate::data::record::SpanRecord;
use crate::report::tree;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

static NEXT_CAPTURE: AtomicU32 = AtomicU32::new(1);

/// Runs `f` and returns its result with every span of every trace started
/// inside it, including spans finished on other threads or tasks (that
/// carried the context along) before `capture` returns, and the spans of
/// another service of this process that those traces reached over the
/// network (a test server called over HTTP): such a span joins the capture
/// by its trace id, and one still open when `f` returns is waited for, up
/// to a second.
///
/// Safe under cargo's parallel tests: each call sees only its own traces.
/// Works with or without a global reporter installed.
///
/// ```
/// #[tracekit::trace_fn]
/// fn add(a: u64, b: u64) -> u64 { a + b }
///
/// let (sum, captured) = tracekit::testing::capture(|| add(2, 3));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(sum, 5);
/// let span = captured.span("add");
/// assert_eq!(span.tag("a").unwrap().to_string(), "2");
/// ```
///
/// For async code use [`capture_async`]: a closure that only builds a
/// future runs none of it. `capture` panics, saying so, when its closure
/// returned what looks like a future (an `async fn`'s or block's future, a
/// boxed `dyn Future`) and no span was recorded.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    if !crate::TRACE_ALL {
        return (f(), Captured { spans: Vec::new() });
    }
    let mut session = Session::start();
    let previous = crate::local::with_state(|s| std::mem::replace(&mut s.capture, session.id));
    session.previous = previous;
    let result = f();
    let captured = session.finish();
    let returned = std::any::type_name::<R>();
    if looks_like_a_future(returned) {
        if captured.spans.is_empty() {
            panic!(
                "tracekit::testing::capture: the closure returned `{returned}`, which looks like \
                 a future that was never run, and no span was recorded. For async code use \
                 `tracekit::testing::capture_async(async {{ ... }}).await`."
            );
        }
        // Some spans were recorded (a function returning a future starts
        // its span at the call), but what the future does when it runs
        // later is not in this capture.
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            crate::data::diag::warn(format_args!(
                "testing::capture: the closure returned `{returned}`, which looks like \
                 a future; what it does when it runs is not captured. For async code use \
                 `capture_async`. (Said once.)"
            ));
        }
    }
    (result, captured)
}

/// Whether a type's name is that of a future: an `async fn`'s or block's
/// (named like a closure, so a returned closure is taken for one too), a
/// boxed `dyn Future`, or tracekit's own.
/// Stable Rust cannot ask whether a type implements `Future`.
fn looks_like_a_future(type_name: &str) -> bool {
    type_name.ends_with("{{closure}}")
        || type_name.contains("Future<")
        || type_name.starts_with("tracekit::future::")
}

/// [`capture`] for async code: awaits `future` and returns its output with
/// every span of every trace started inside it, including those of tasks
/// spawned with [`in_current_span`](crate::FutureExt::in_current_span) that
/// finished before it completed. Works on current-thread and multi-thread
/// runtimes (the future may move between threads between polls).
///
/// ```
/// #[tracekit::trace_fn]
/// async fn find(id: u64) -> u64 { id }
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let (id, captured) = tracekit::testing::capture_async(async { find(2).await }).await;
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(id, 2);
/// assert_eq!(captured.tree(), "find\n");
/// # });
/// ```
pub async fn capture_async<F: Future>(future: F) -> (F::Output, Captured) {
    if !crate::TRACE_ALL {
        return (future.await, Captured { spans: Vec::new() });
    }
    let session = Session::start();
    let result = Capturing {
        inner: Box::pin(future),
        id: session.id,
    }
    .await;
    // Spans that entered the capture's traces from another service in this
    // process may finish after the reply that ended the code under test;
    // they are waited for here, letting the executor run them meanwhile.
    let deadline = std::time::Instant::now() + ENTERED_WAIT;
    while session.entered_pending() && std::time::Instant::now() < deadline {
        YieldNow(false).await;
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    (result, session.finish())
}

/// How long a capture waits, after its code returned, for spans that
/// entered its traces from a remote parent (a second service of the same
/// process, called over the network) and have not finished.
const ENTERED_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Returns `Pending` once (waking itself), so the executor runs other tasks.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A future polled with its capture's id on whichever thread polls it.
struct Capturing<F> {
    inner: Pin<Box<F>>,
    id: u32,
}

impl<F: Future> Future for Capturing<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let id = self.id;
        let previous = crate::local::with_state(|s| std::mem::replace(&mut s.capture, id));
        // Put back even when the poll panics.
        struct Restore(Option<u32>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(previous) = self.0 {
                    crate::local::with_state(|s| s.capture = previous);
                }
            }
        }
        let _restore = Restore(previous);
        self.inner.as_mut().poll(cx)
    }
}

/// One capture: registered with the collector until it finishes, which
/// also happens when the code under test panics.
struct Session {
    id: u32,
    /// The thread's capture before [`capture`] set its own.
    previous: Option<u32>,
    done: bool,
}

impl Session {
    fn start() -> Session {
        let id = NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed).max(1);
        collector::sinks().captures.insert(id, Vec::new());
        collector::LISTENERS.fetch_add(1, Ordering::SeqCst);
        capture::begin();
        // Drains while the code runs, so the capture is not bounded by the queue.
        collector::ensure_background();
        crate::api::panic::install_hook();
        Session {
            id,
            previous: None,
            done: false,
        }
    }

    fn finish(mut self) -> Captured {
        let mut spans = self.collect();
        // Spans arrive in batches per thread; the order users reason about
        // is the order they finished.
        spans.sort_by_key(SpanRecord::end);
        Captured { spans }
    }

    /// Whether spans that entered this capture's traces from a remote
    /// parent have still not arrived (what arrived so far is delivered
    /// first).
    fn entered_pending(&self) -> bool {
        crate::local::flush_thread();
        collector::drain(&mut collector::sinks());
        capture::pending(self.id) != 0
    }

    fn collect(&mut self) -> Vec<SpanRecord> {
        self.done = true;
        if let Some(prev) = self.previous.take() {
            crate::local::with_state(|s| s.capture = prev);
        }
        // Spans of another service of this process, on other threads: wait
        // (a little) for the ones that started and have not arrived.
        let deadline = std::time::Instant::now() + ENTERED_WAIT;
        while self.entered_pending() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        crate::local::flush_thread();
        let mut sinks = collector::sinks();
        collector::drain(&mut sinks);
        let spans = sinks.captures.remove(&self.id);
        if spans.is_some() {
            collector::LISTENERS.fetch_sub(1, Ordering::SeqCst);
            capture::end(self.id);
        }
        spans.unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.done {
            self.collect();
        }
    }
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.spans_named("x").len(), 2);
    /// ```
    pub fn spans_named(&self, name: &str) -> Vec<&SpanRecord> {
        self.spans.iter().filter(|s| s.name() == name).collect()
    }

    /// The children of `parent`, in start order.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
