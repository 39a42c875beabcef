//! The current-span context as code sees it: [`SpanContext`] (a span's
//! identity), [`Context`] (where a thread is, to carry to another thread or
//! task), and [`CurrentSpan`] (the innermost active span, from anywhere).
//! The per-thread stack behind them lives in `local`.

use crate::data::clock::Stamp;
use crate::data::error_parts::ErrorParts;
use crate::data::parts::{Event, Fields, SpanKind, Status};
use crate::data::raw::Edit;
pub use crate::data::span_context::SpanContext;
use crate::data::value::{Key, Value};
use crate::local::{State, Token, marks, pop_local, with_state};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A snapshot of "where we are" on this thread: the current span (if any),
/// to be re-entered on another thread or task so work there joins the trace.
///
/// ```
/// let _request = tracekit::start_active_span("request");
/// let cx = tracekit::Context::current();
/// std::thread::spawn(move || {
///     let _guard = cx.attach();
///     let _child = tracekit::start_active_span("worker"); // a child of "request"
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub(crate) span: Option<SpanContext>,
    pub(crate) capture: u32,
}

impl Context {
    /// The context of this thread now.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::Context::current().span_context().is_none());
    /// let _s = tracekit::start_active_span("s");
    /// assert!(tracekit::Context::current().span_context().is_some());
    /// ```
    pub fn current() -> Context {
        if !crate::TRACE_ALL {
            return Context::default();
        }
        with_state(|s| match s.stack.len().checked_sub(1) {
            // An attached empty context has no span: it propagates as "no
            // parent", with its capture.
            Some(top) => Context {
                span: s.span_context(top),
                capture: s.capture_of(top),
            },
            None => Context {
                span: None,
                capture: s.capture,
            },
        })
        .unwrap_or_default()
    }

    /// A context whose current span is `span` (for example one extracted from
    /// request headers).
    ///
    /// ```
    /// use tracekit::{Context, SpanContext, SpanId, TraceId};
    /// let remote = SpanContext::remote(TraceId::random(), SpanId::random(), true);
    /// let _g = Context::from_span_context(remote.clone()).attach();
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(tracekit::current_span().context().unwrap().span_id(), remote.span_id());
    /// ```
    pub fn from_span_context(span: SpanContext) -> Context {
        let capture = if crate::TRACE_ALL {
            with_state(|s| s.capture).unwrap_or(0)
        } else {
            0
        };
        Context {
            span: Some(span),
            capture,
        }
    }

    /// The current span's context, if there is a current span.
    ///
    /// ```
    /// assert!(tracekit::Context::default().span_context().is_none());
    /// ```
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.span.as_ref()
    }

    /// Makes this context current on this thread until the guard drops. For
    /// sync code: in a future use
    /// [`FutureExt::in_current_span`](crate::FutureExt::in_current_span)
    /// (see [`start_active_span`](crate::start_active_span) on guards and `.await`).
    ///
    /// ```
    /// let cx = tracekit::Context::current();
    /// let guard = cx.attach();
    /// drop(guard);
    /// ```
    pub fn attach(self) -> ContextGuard {
        self.attach_as(false, false)
    }

    /// [`attach`](Self::attach) for the context of a span of this process
    /// that stays open while attached: a bridge entering a span it keeps
    /// elsewhere (a `tracing` span in `tracekit-tracing`). Spans that finish
    /// under it leave this thread in one batch when the guard drops (or every
    /// ~50–100 ms or 1,024 spans, as under any open span) instead of one at
    /// a time; so do not hold it on a thread that then waits for long.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let span = tracekit::Span::start("held elsewhere");
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _in = tracekit::Context::from_span_context(span.context().unwrap()).attach_open_span();
    ///     drop(tracekit::Span::start("child"));
    /// });
    /// assert_eq!(c.span("child").parent_id(), Some(span.context().unwrap().span_id()));
    /// ```
    pub fn attach_open_span(self) -> ContextGuard {
        self.attach_as(false, true)
    }

    /// Runs `f` with this context attached, and detaches it when `f`
    /// returns (or panics). The way into a closure that takes arguments,
    /// such as rayon's `map` and `for_each`: the spans `f` starts are
    /// children of this context's span, on whichever thread runs it.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// #[tracekit::trace_fn]
    /// fn price(item: u32) -> u32 { item * 10 }
    ///
    /// let (total, c) = tracekit::testing::capture(|| {
    ///     let _order = tracekit::start_active_span("order");
    ///     let cx = tracekit::Context::current();
    ///     std::thread::scope(|s| {
    ///         let cx = &cx;
    ///         let parts: Vec<_> = (1..=2)
    ///             .map(|item| s.spawn(move || cx.in_scope(|| price(item))))
    ///             .collect();
    ///         parts.into_iter().map(|p| p.join().unwrap()).sum::<u32>()
    ///     })
    /// });
    /// assert_eq!(total, 30);
    /// assert_eq!(c.tree(), "order\n  price\n  price\n");
    /// ```
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _attached = self.clone().attach();
        f()
    }

    /// `f`, made to run inside this context wherever it is called: for a
    /// callback, a thread pool's job, a scoped thread, your own executor.
    /// Work handed to any of them leaves the current span behind unless it
    /// is carried like this (futures carry it with
    /// [`FutureExt::in_current_span`](crate::FutureExt::in_current_span);
    /// [`thread::spawn`](crate::thread::spawn) and
    /// `task::spawn` (feature `tokio`) do it for you). For closures
    /// called more than once see [`wrap_mut`](Self::wrap_mut) and
    /// [`wrap_fn`](Self::wrap_fn); for closures with arguments,
    /// [`in_scope`](Self::in_scope).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _request = tracekit::start_active_span("request");
    ///     let job = tracekit::Context::current().wrap(|| drop(tracekit::Span::start("job")));
    ///     std::thread::spawn(job).join().unwrap(); // a pool's worker, say
    /// });
    /// assert_eq!(c.tree(), "request\n  job\n");
    /// ```
    pub fn wrap<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || {
            let _attached = self.attach();
            f()
        }
    }

    /// [`wrap`](Self::wrap) for a closure called more than once, one call
    /// at a time (`FnMut`): each call runs inside this context.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _stream = tracekit::start_active_span("stream");
    ///     let mut seen = 0;
    ///     let mut on_chunk = tracekit::Context::current().wrap_mut(|| {
    ///         seen += 1;
    ///         drop(tracekit::Span::start("chunk"));
    ///     });
    ///     std::thread::scope(|s| drop(s.spawn(|| { on_chunk(); on_chunk(); })));
    /// });
    /// assert_eq!(c.tree(), "stream\n  chunk\n  chunk\n");
    /// ```
    pub fn wrap_mut<R>(self, mut f: impl FnMut() -> R) -> impl FnMut() -> R {
        move || {
            let _attached = self.clone().attach();
            f()
        }
    }

    /// [`wrap`](Self::wrap) for a closure that may be called from several
    /// threads at once (`Fn`, and `Sync` when `f` is): each call runs
    /// inside this context.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _batch = tracekit::start_active_span("batch");
    ///     let work = tracekit::Context::current().wrap_fn(|| drop(tracekit::Span::start("work")));
    ///     std::thread::scope(|s| {
    ///         s.spawn(&work);
    ///         s.spawn(&work);
    ///     });
    /// });
    /// assert_eq!(c.tree(), "batch\n  work\n  work\n");
    /// ```
    pub fn wrap_fn<R>(self, f: impl Fn() -> R) -> impl Fn() -> R {
        move || {
            let _attached = self.clone().attach();
            f()
        }
    }

    /// Attaches for the length of one poll of a future.
    pub(crate) fn attach_for_poll(self) -> ContextGuard {
        self.attach_as(true, false)
    }

    fn attach_as(self, poll: bool, open: bool) -> ContextGuard {
        if !crate::TRACE_ALL {
            return ContextGuard {
                token: 0,
                poll,
                _not_send: PhantomData,
            };
        }
        let token = with_state(|s| {
            let capture = if s.capture != 0 {
                s.capture
            } else {
                self.capture
            };
            s.push_attached(self.span, capture, open)
        })
        .unwrap_or(0);
        ContextGuard {
            token,
            poll,
            _not_send: PhantomData,
        }
    }
}

/// Restores the previous context when dropped. Not `Send`: it belongs to the
/// thread that attached the context.
#[must_use = "the context is detached as soon as the guard drops"]
pub struct ContextGuard {
    token: Token,
    /// Attached for one poll of a future (`in_current_span`).
    poll: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        match (self.token, self.poll) {
            (0, _) => {}
            (token, true) => drop(with_state(|s| s.pop_poll(token, false))),
            (token, false) => pop_local(token, None),
        }
    }
}

/// A handle on the innermost active span of this thread, to tag it or log to
/// it from code that has no reference to the span.
///
/// ```
/// fn cache_lookup(key: &str) -> Option<String> {
///     tracekit::current_span().add_event("cache-miss", [("key", key)]);
///     None
/// }
/// let ((), c) = tracekit::testing::capture(|| {
///     let _s = tracekit::start_active_span("handler");
///     cache_lookup("user:1");
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.span("handler").events()[0].name(), "cache-miss");
/// ```
pub fn current_span() -> CurrentSpan {
    CurrentSpan {
        _not_send: PhantomData,
    }
}

/// The innermost active span of this thread; see [`current_span`]. When no
/// span is active, every method does nothing.
pub struct CurrentSpan {
    _not_send: PhantomData<*const ()>,
}

impl CurrentSpan {
    /// Runs `f` on the top frame when it records.
    fn with_top<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        if !crate::TRACE_ALL {
            return None;
        }
        with_state(|s| {
            let top = s.stack.len().checked_sub(1)?;
            s.is_recording(top).then(|| f(s, top))
        })
        .flatten()
    }

    /// Whether there is an active span that records.
    ///
    /// ```
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.with_top(|_, _| ()).is_some()
    }

    /// The active span's context.
    ///
    /// ```
    /// let s = tracekit::start_active_span("a");
    /// assert_eq!(tracekit::current_span().context(), s.context());
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        if !crate::TRACE_ALL {
            return None;
        }
        with_state(|s| {
            s.stack
                .len()
                .checked_sub(1)
                .and_then(|top| s.span_context(top))
        })
        .flatten()
    }

    /// Sets a tag on the active span.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_tag("rows", 3);
    /// });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").tag("rows").unwrap().to_string(), "3");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        if crate::data::raw::is_error_tag(&key, &value) && marks::mark_failed(None) {
            return;
        }
        self.edit(Edit::Tag(key, value));
    }

    /// Logs a timestamped event with fields on the active span.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().add_event("retry", [("attempt", 2)]);
    /// ```
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, fields: impl Fields) {
        if self.is_recording() {
            self.edit(Edit::Event(Event::with_fields(
                name.into(),
                Stamp::now(),
                fields,
            )));
        }
    }

    /// Adds an event made with [`Event::new`] to the active span (see
    /// [`Span::record_event`](crate::Span::record_event)).
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().record_event(tracekit::Event::new("e").with_field("k", 1));
    /// ```
    pub fn record_event(&self, event: Event) {
        if self.is_recording() {
            self.edit(Edit::Event(event));
        }
    }

    /// Records an error on the active span (see [`Span::record_error`](crate::Span::record_error)).
    /// Where the active span records nothing, the traced call running here
    /// still counts as failed for metrics, named by the error's type.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().record_error(&std::fmt::Error);
    /// });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        // A span that records, or an entered request span that records
        // nothing but is counted for metrics (its failure and error type
        // count, sampled or not).
        if marks::mark_failed(Some(std::any::type_name::<E>())) {
            return;
        }
        let kept = self.with_kept(|_, _| ()).is_some();
        if kept {
            let edits = ErrorParts::of(error).into_edits();
            self.with_kept(move |s, top| {
                for e in edits {
                    s.edit(top, e);
                }
            });
        }
    }

    pub(crate) fn record_error_parts(&self, parts: ErrorParts) {
        let edits = parts.into_edits();
        self.with_top(move |s, top| {
            for e in edits {
                s.edit(top, e);
            }
        });
    }

    /// Sets the active span's status. Where the active span records
    /// nothing (an unsampled trace), an error status still fails the
    /// traced call running here for metrics, as it would a sampled one.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_status(tracekit::Status::error("quota exceeded"));
    /// });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn set_status(&self, status: Status) {
        if status.is_error() && marks::mark_failed(None) {
            return;
        }
        self.edit(Edit::Status(status));
    }

    /// Changes the active span: one that records, or a request span
    /// counted for metrics (whose tags say what its series is). A failure
    /// said of one that records nothing is marked instead
    /// (`local/marks.rs`), for the traced call counted while it is
    /// active, or the request span itself when no such call takes it.
    fn edit(&self, edit: Edit) {
        self.with_kept(move |s, top| s.edit(top, edit));
    }

    /// The active span's kind, when a span that records, or a request span
    /// counted for metrics, is active.
    pub(crate) fn kind(&self) -> Option<SpanKind> {
        self.with_kept(|s, top| s.kind_of(top)).flatten()
    }

    /// [`CurrentSpan::with_top`] for a span whose changes are kept.
    fn with_kept<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        if !crate::TRACE_ALL {
            return None;
        }
        with_state(|s| {
            let top = s.stack.len().checked_sub(1)?;
            s.keeps_changes(top).then(|| f(s, top))
        })
        .flatten()
    }

    /// Sets a baggage item on the active span, inherited by spans started under it.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().set_baggage_item("user.id", "42");
    /// let child = tracekit::Span::start("b");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(child.context().unwrap().baggage_item("user.id"), Some("42"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if !crate::TRACE_ALL {
            return;
        }
        with_state(|s| {
            if let Some(top) = s.stack.len().checked_sub(1) {
                s.set_baggage(top, key, value);
            }
        });
    }
}
