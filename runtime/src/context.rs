//! The current-span context as code sees it: [`SpanContext`] (a span's
//! identity), [`Context`] (where a thread is, to carry to another thread or
//! task), and [`CurrentSpan`] (the innermost active span, from anywhere).
//! The per-thread stack behind them lives in `local`.

use crate::baggage::Baggage;
use crate::clock::Stamp;
use crate::local::{Frame, State, Token, pop_frame, with_state};
use crate::parts::{Event, SpanKind, Status};
use crate::raw::{DEBUG, Edit, ErrorParts, Inherited, SAMPLED};
use crate::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

/// The identity of a span that child spans and other processes need: trace and
/// span ids, trace flags, baggage and W3C trace state.
///
/// ```
/// let span = tracekit::Span::start("work");
/// let cx: tracekit::SpanContext = span.context().unwrap();
/// assert!(cx.is_sampled());
/// assert_eq!(cx.span_id().to_string().len(), 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) flags: u8,
    pub(crate) remote: bool,
    pub(crate) inherited: Option<Arc<Inherited>>,
}

impl SpanContext {
    /// A context received from another process (for example parsed from
    /// headers): spans started under it are children of a remote parent.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::from_u128(1).unwrap(), SpanId::from_u64(2).unwrap(), true);
    /// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::builder("handler").child_of(&cx).start()));
    /// assert_eq!(c.span("handler").parent_id(), Some(cx.span_id()));
    /// assert!(c.span("handler").has_remote_parent());
    /// ```
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            flags: if sampled { SAMPLED } else { 0 },
            remote: true,
            inherited: None,
        }
    }

    /// The trace id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().trace_id().to_string().len(), 32);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().span_id().to_string().len(), 16);
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (recorded and reported).
    ///
    /// ```
    /// assert!(tracekit::Span::start("a").context().unwrap().is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the trace was marked for debugging (Jaeger's debug flag).
    ///
    /// ```
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.flags & DEBUG != 0
    }

    /// Whether this context came from another process.
    ///
    /// ```
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The baggage item with this key.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().baggage_item("k"), None);
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.baggage().get(key)
    }

    /// The baggage, empty when there is none.
    ///
    /// ```
    /// assert!(tracekit::Span::start("a").context().unwrap().baggage().is_empty());
    /// ```
    pub fn baggage(&self) -> &Baggage {
        static EMPTY: Baggage = Baggage::EMPTY;
        self.inherited.as_deref().map_or(&EMPTY, |i| &i.baggage)
    }

    /// A copy carrying this baggage.
    ///
    /// ```
    /// use tracekit::{Baggage, SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true)
    ///     .with_baggage(Baggage::default().with("tenant", "acme"));
    /// assert_eq!(cx.baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn with_baggage(mut self, baggage: Baggage) -> SpanContext {
        let mut inherited = self.inherited.as_deref().cloned().unwrap_or_default();
        inherited.baggage = baggage;
        self.inherited = inherited.shared();
        self
    }

    /// A copy with the debug flag set or cleared (a debug trace is always sampled).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), false).with_debug(true);
    /// assert!(cx.is_debug() && cx.is_sampled());
    /// ```
    pub fn with_debug(mut self, debug: bool) -> SpanContext {
        if debug {
            self.flags |= DEBUG | SAMPLED;
        } else {
            self.flags &= !DEBUG;
        }
        self
    }

    /// The W3C `tracestate` value carried along, if any.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("vendor=1");
    /// assert_eq!(cx.trace_state(), Some("vendor=1"));
    /// ```
    pub fn trace_state(&self) -> Option<&str> {
        self.inherited
            .as_deref()
            .and_then(|i| i.trace_state.as_deref())
    }

    /// A copy carrying this W3C `tracestate` value (empty clears it).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("");
    /// assert_eq!(cx.trace_state(), None);
    /// ```
    pub fn with_trace_state(mut self, state: impl Into<String>) -> SpanContext {
        let state = state.into();
        let mut inherited = self.inherited.as_deref().cloned().unwrap_or_default();
        inherited.trace_state = (!state.is_empty()).then(|| state.into_boxed_str());
        self.inherited = inherited.shared();
        self
    }
}

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
    /// assert!(tracekit::Context::current().span_context().is_none());
    /// let _s = tracekit::start_active_span("s");
    /// assert!(tracekit::Context::current().span_context().is_some());
    /// ```
    pub fn current() -> Context {
        if !crate::ENABLED {
            return Context::default();
        }
        with_state(|s| match s.stack.last() {
            // An attached empty context has no span: it propagates as "no
            // parent", with its capture.
            Some(f) => Context {
                span: span_context(f),
                capture: f.capture,
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
    /// assert_eq!(tracekit::current_span().context().unwrap().span_id(), remote.span_id());
    /// ```
    pub fn from_span_context(span: SpanContext) -> Context {
        let capture = if crate::ENABLED {
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
        self.attach_as(false)
    }

    /// Attaches for the length of one poll of a future.
    pub(crate) fn attach_for_poll(self) -> ContextGuard {
        self.attach_as(true)
    }

    fn attach_as(self, poll: bool) -> ContextGuard {
        if !crate::ENABLED {
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
            s.push_attached(self.span, capture)
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
            (token, true) => drop(with_state(|s| s.pop_poll(token))),
            (token, false) => drop(pop_frame(token, None)),
        }
    }
}

/// The context of a frame's span; `None` for an attached empty context.
pub(crate) fn span_context(frame: &Frame) -> Option<SpanContext> {
    Some(SpanContext {
        trace_id: frame.trace_id,
        span_id: frame.span_id?,
        flags: frame.flags,
        remote: frame.remote,
        inherited: frame.inherited.clone(),
    })
}

/// A handle on the innermost active span of this thread, to tag it or log to
/// it from code that has no reference to the span.
///
/// ```
/// fn cache_lookup(key: &str) -> Option<String> {
///     tracekit::current_span().add_event("cache-miss", [("key", key.into())]);
///     None
/// }
/// let ((), c) = tracekit::testing::capture(|| {
///     let _s = tracekit::start_active_span("handler");
///     cache_lookup("user:1");
/// });
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
        if !crate::ENABLED {
            return None;
        }
        with_state(|s| {
            let top = s.stack.len().checked_sub(1)?;
            s.stack[top].is_recording().then(|| f(s, top))
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
        if !crate::ENABLED {
            return None;
        }
        with_state(|s| s.stack.last().and_then(span_context)).flatten()
    }

    /// Sets a tag on the active span.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_tag("rows", 3);
    /// });
    /// assert_eq!(c.span("a").tag("rows").unwrap().to_string(), "3");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        self.edit(Edit::Tag(key.into(), value.into()));
    }

    /// Logs a timestamped event with fields on the active span.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().add_event("retry", [("attempt", 2.into())]);
    /// ```
    pub fn add_event(
        &self,
        name: impl Into<Cow<'static, str>>,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        if self.is_recording() {
            self.edit(Edit::Event(Event::with_fields(
                name.into(),
                Stamp::now(),
                fields,
            )));
        }
    }

    /// Records an error on the active span (see [`Span::record_error`](crate::Span::record_error)).
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().record_error(&std::fmt::Error);
    /// });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        if self.is_recording() {
            self.record_error_parts(ErrorParts::of(error));
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

    /// Sets the active span's status.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_status(tracekit::Status::error("quota exceeded"));
    /// });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn set_status(&self, status: Status) {
        self.edit(Edit::Status(status));
    }

    fn edit(&self, edit: Edit) {
        self.with_top(move |s, top| s.edit(top, edit));
    }

    /// The active span's kind, when a recording local span is active.
    pub(crate) fn kind(&self) -> Option<SpanKind> {
        self.with_top(|s, top| s.kind_of(top)).flatten()
    }

    /// Sets a baggage item on the active span, inherited by spans started under it.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().set_baggage_item("user.id", "42");
    /// let child = tracekit::Span::start("b");
    /// assert_eq!(child.context().unwrap().baggage_item("user.id"), Some("42"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if !crate::ENABLED {
            return;
        }
        with_state(|s| {
            if let Some(top) = s.stack.len().checked_sub(1) {
                s.set_baggage(top, key, value);
            }
        });
    }
}
