//! An owned [`Span`]: started where it begins, moved to other threads and
//! tasks, finished when dropped; its record stays with it until then (see
//! `local` for how its frame stands in while it is entered).

use crate::data::clock::Stamp;
use crate::data::detached::Detached;
use crate::data::error_parts::ErrorParts;
use crate::data::parts::{Event, Fields, Link, SpanKind, Status};
use crate::data::raw::Edit;
use crate::data::span_context::SpanContext;
use crate::data::trace_point::Point;
use crate::data::value::{ArgRef, Key, Value};
use crate::local::{Token, with_state};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use super::active_span::{ActiveSpan, Entered};
use super::span_builder::{Parent, SpanBuilder};

/// An owned span: it can be moved to another thread or task, made active with
/// [`Span::enter`] or [`in_span`](crate::FutureExt::in_span), and finishes when
/// dropped (or at [`Span::finish_at`]).
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let mut span = tracekit::Span::start("batch");
///     span.set_tag("size", 10);
///     {
///         let _active = span.enter();
///         let _item = tracekit::start_active_span("item"); // child of "batch"
///     }
///     span.add_event("flushed", ());
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "batch\n  item\n");
/// ```
pub struct Span {
    pub(crate) owned: Option<Detached>,
}

impl Span {
    /// Starts a span as a child of the current span, or as a new root.
    ///
    /// ```
    /// let span = tracekit::Span::start("work");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(span.is_recording());
    /// ```
    pub fn start(name: impl Into<Cow<'static, str>>) -> Span {
        Span::builder(name).start()
    }

    /// A builder for a span with this name.
    ///
    /// ```
    /// let span = tracekit::Span::builder("work").tag("n", 1).start();
    /// # drop(span);
    /// ```
    pub fn builder(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        SpanBuilder {
            name: name.into(),
            meta: None,
            parent: Parent::Current,
            kind: SpanKind::Internal,
            tags: Vec::new(),
            links: Vec::new(),
            start: None,
        }
    }

    /// A span that records nothing (what every constructor returns when the
    /// `trace-all` feature is off).
    ///
    /// ```
    /// let span = tracekit::Span::none();
    /// assert!(!span.is_recording());
    /// assert!(span.context().is_none());
    /// ```
    pub const fn none() -> Span {
        Span { owned: None }
    }

    fn recording(&mut self) -> Option<&mut Detached> {
        self.owned.as_mut().filter(|o| o.raw.records())
    }

    /// Whether this span records tags and will be reported.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::Span::start("a").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.owned.as_ref().is_some_and(|o| o.raw.records())
    }

    /// The span's context, to start children elsewhere or to inject into a carrier.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let span = tracekit::Span::start("a");
    /// let cx = span.context().unwrap();
    /// assert_eq!(cx.trace_id().to_string().len(), 32);
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        self.owned.as_ref().map(|o| {
            SpanContext::local(
                o.raw.trace_id,
                o.raw.span_id,
                o.raw.flags,
                false,
                o.inherited.clone(),
            )
        })
    }

    /// The trace id and the request id the span already has (its
    /// baggage's, or the derived one), for `request_id::adopt`.
    pub(crate) fn request_id_parts(&self) -> Option<(crate::TraceId, Option<String>)> {
        let o = self.owned.as_ref()?;
        let mut buf = [0; crate::data::request_id::DERIVED_LEN];
        let baggage = o.inherited.as_deref().map(|i| &i.baggage);
        let id = crate::data::request_id::of(baggage, o.raw.flags, o.raw.trace_id, &mut buf);
        Some((o.raw.trace_id, id.map(str::to_owned)))
    }

    /// The span's request id, when it has an acceptable one.
    pub(crate) fn request_id(&self) -> Option<String> {
        let o = self.owned.as_ref()?;
        let mut buf = [0; crate::data::request_id::DERIVED_LEN];
        let baggage = o.inherited.as_deref().map(|i| &i.baggage);
        crate::data::request_id::of(baggage, o.raw.flags, o.raw.trace_id, &mut buf)
            .filter(|id| crate::data::request_id::is_acceptable(id))
            .map(str::to_owned)
    }

    /// Gives the span (and what starts under it) the request id derived
    /// from its trace id; see [`crate::data::raw::DERIVED_ID`].
    pub(crate) fn derive_request_id(&mut self) {
        if let Some(o) = self.owned.as_mut() {
            o.raw.flags |= crate::data::raw::DERIVED_ID;
        }
    }

    /// The kind given at the start (internal for a span that records nothing).
    pub(crate) fn kind(&self) -> SpanKind {
        self.owned
            .as_ref()
            .map_or(SpanKind::Internal, |o| o.raw.kind)
    }

    /// Sets a tag (a later value for the same key wins). OpenTracing's
    /// `error = true` also makes a status still unset an error (with no
    /// description), as OpenTelemetry maps that tag.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_tag("http.status_code", 200);
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// let mut failed = tracekit::Span::start("b");
    /// failed.set_tag("error", true);
    /// # drop(failed);
    /// # });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # assert!(c.span("b").is_error());
    /// ```
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        if let Some(r) = self.owned.as_mut().and_then(|o| o.request.as_mut()) {
            r.observe(&key, &value);
        }
        if let Some(o) = self.recording() {
            o.set_tag(key, value);
        }
    }

    /// Logs a timestamped event with fields.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.add_event("cache-miss", [("key", "k1")]);
    /// ```
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, fields: impl Fields) {
        self.push_event(name.into(), Stamp::now(), fields);
    }

    /// Logs an event at an explicit time.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.add_event_at("received", std::time::SystemTime::now(), [("bytes", 512)]);
    /// ```
    pub fn add_event_at(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        fields: impl Fields,
    ) {
        self.push_event(name.into(), Stamp::at(time), fields);
    }

    /// Adds an event made with [`Event::new`](crate::Event::new), for fields
    /// whose keys are made at run time.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.record_event(tracekit::Event::new("log").with_field(String::from("k"), "v"));
    /// ```
    pub fn record_event(&mut self, event: Event) {
        if let Some(o) = self.recording() {
            o.apply(Edit::Event(event));
        }
    }

    fn push_event(&mut self, name: Cow<'static, str>, at: Stamp, fields: impl Fields) {
        if let Some(o) = self.recording() {
            o.apply(Edit::Event(Event::with_fields(name, at, fields)));
        }
    }

    /// Records an error: tag `error = true`, status error with the error's
    /// `Display` text, and an `exception` event with `exception.type`,
    /// `exception.message` and each `source()` as `exception.source.1`, `.2`, ...
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let mut span = tracekit::Span::start("read");
    ///     let err = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
    ///     span.record_error(&err);
    /// });
    /// let s = c.span("read");
    /// assert!(s.is_error());
    /// assert_eq!(s.events()[0].field("exception.message").unwrap().to_string(), "no such file");
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        // A request span counts as failed for metrics, sampled or not.
        if let Some(d) = self.owned.as_mut() {
            d.request_failed_with(std::any::type_name::<E>());
        }
        if self.is_recording() {
            self.record_error_parts(ErrorParts::of(error));
        }
    }

    /// Marks a panic unwinding through the span's scope (`token`, its
    /// frame): its call or request counts as failed, and a span that
    /// records gets the panic as its error.
    #[cold]
    pub(crate) fn mark_panicked(&mut self, token: Token) {
        let message = crate::api::panic::message_for(token);
        self.record_error_parts(ErrorParts::message("panic", message));
        if let Some(d) = self.owned.as_mut() {
            d.panicked();
        }
    }

    pub(crate) fn record_error_parts(&mut self, parts: ErrorParts) {
        if let Some(o) = self.recording() {
            for edit in parts.into_edits() {
                o.apply(edit);
            }
        }
    }

    /// Sets the status.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_status(tracekit::Status::Ok);
    /// ```
    pub fn set_status(&mut self, status: Status) {
        if status.is_error() {
            if let Some(r) = self.owned.as_mut().and_then(|o| o.request.as_mut()) {
                r.failed = true;
            }
        }
        if let Some(o) = self.recording() {
            o.apply(Edit::Status(status));
        }
    }

    /// Adds a `follows_from` reference after the start.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let a = tracekit::Span::start("a");
    /// let mut b = tracekit::Span::start("b");
    /// b.add_follows_from(&a.context().unwrap());
    /// ```
    pub fn add_follows_from(&mut self, cx: &SpanContext) {
        if let Some(o) = self.recording() {
            o.apply(Edit::Link(Link {
                trace_id: cx.trace_id,
                span_id: cx.span_id,
            }));
        }
    }

    /// Sets a baggage item, inherited by spans started under this one from now on.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_baggage_item("tenant", "acme");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(span.context().unwrap().baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn set_baggage_item(&mut self, key: impl Into<String>, value: impl Into<String>) {
        if let Some(o) = self.owned.as_mut() {
            let mut inherited = o.inherited.as_deref().cloned().unwrap_or_default();
            inherited.baggage.set(key.into(), value.into());
            o.inherited = Some(Arc::new(inherited));
        }
    }

    /// Makes this span the active span of this thread until the guard drops
    /// (OpenTracing's `activate(span, finish_on_close=False)`); the span stays yours.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let mut span = tracekit::Span::start("a");
    /// {
    ///     let _g = span.enter();
    ///     assert!(tracekit::current_span().is_recording());
    /// }
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn enter(&mut self) -> Entered<'_> {
        let token = self.push_current();
        Entered {
            span: self,
            token,
            _not_send: PhantomData,
        }
    }

    /// Pushes a frame standing for this span; 0 when there is none.
    #[inline]
    pub(crate) fn push_current(&self) -> Token {
        match &self.owned {
            Some(o) => with_state(|s| s.push_borrowed(o)).unwrap_or(0),
            None => 0,
        }
    }

    /// Takes what was done to this span while it was current.
    #[inline]
    pub(crate) fn take_edits(&mut self, edits: Vec<Edit>) {
        if let Some(o) = self.owned.as_mut() {
            for edit in edits {
                o.apply(edit);
            }
        }
    }

    /// Makes this span active on this thread and finishes it when the guard
    /// drops (`activate(span, finish_on_close=True)`). From here on it is
    /// recorded like a span from [`start_active_span`](crate::start_active_span).
    /// A request span ([`http::server_span`](crate::http::server_span) and
    /// the like) is counted for metrics when the guard drops, with the
    /// status set while it was active, whether it is sampled or not.
    ///
    /// ```
    /// let span = tracekit::Span::start("a");
    /// let active = span.activate();
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::current_span().is_recording());
    /// drop(active);
    /// ```
    pub fn activate(mut self) -> ActiveSpan {
        if self.owned.as_ref().is_some_and(|o| o.request.is_some()) {
            return ActiveSpan::request(self);
        }
        let Some(owned) = self.owned.take() else {
            return ActiveSpan::NONE;
        };
        let mut pending = Some(owned);
        let token = with_state(|s| pending.take().map(|d| s.adopt(d))).flatten();
        match (token, pending) {
            (Some(token), _) => ActiveSpan {
                token,
                request: None,
                _not_send: PhantomData,
            },
            // No thread state to join: the span stays owned by the guard's
            // absence, so finish it now rather than lose it.
            (None, Some(owned)) => {
                finish(owned, Stamp::now());
                ActiveSpan::NONE
            }
            (None, None) => ActiveSpan::NONE,
        }
    }

    /// Finishes the span now (the same as dropping it).
    ///
    /// ```
    /// tracekit::Span::start("a").finish();
    /// ```
    pub fn finish(self) {}

    /// Runs `f` as this span's last piece of work, then finishes the span:
    /// for a completion callback, where work begun elsewhere ends (the
    /// span started before the call, carried into the callback, current
    /// while it runs). A panic in `f` marks the span as an error and still
    /// finishes it. Tag the outcome inside `f` through the span, or through
    /// [`current_span`](crate::current_span) from code that has no
    /// reference to it.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// // An API that completes on a thread of its own.
    /// fn send_sms(phone: &str, on_done: impl FnOnce(Result<u32, String>) + Send + 'static) {
    ///     let ok = !phone.is_empty();
    ///     std::thread::spawn(move || on_done(if ok { Ok(1) } else { Err("no number".into()) }));
    /// }
    ///
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _order = tracekit::start_active_span("order");
    ///     let span = tracekit::Span::start("send_sms");
    ///     let (tx, rx) = std::sync::mpsc::channel();
    ///     send_sms("", move |status| {
    ///         span.finish_after(|| {
    ///             let current = tracekit::current_span();
    ///             current.set_tag("status", if status.is_ok() { "sent" } else { "failed" });
    ///             if let Err(e) = &status {
    ///                 current.set_status(tracekit::Status::error(e.clone()));
    ///             }
    ///             drop(tracekit::Span::start("on_done"));
    ///         });
    ///         tx.send(()).unwrap();
    ///     });
    ///     rx.recv().unwrap(); // the test waits for the callback
    /// });
    /// let sms = c.span("send_sms");
    /// assert_eq!(sms.tag("status").unwrap().to_string(), "failed");
    /// assert!(sms.is_error());
    /// assert_eq!(c.tree(), "order\n  send_sms\n    on_done\n");
    /// ```
    pub fn finish_after<R>(self, f: impl FnOnce() -> R) -> R {
        /// Leaves the span, marks a panic, and finishes it, on every way out.
        struct Last {
            span: Span,
            token: Token,
            returned: bool,
        }
        impl Drop for Last {
            fn drop(&mut self) {
                if self.token != 0 {
                    let edits = crate::local::pop_borrowed(self.token);
                    self.span.take_edits(edits);
                }
                // Not `thread::panicking()`: `f` may run in a destructor
                // while some other panic unwinds, and return.
                if !self.returned {
                    self.span.mark_panicked(self.token);
                }
            }
        }
        let token = self.push_current();
        let mut last = Last {
            span: self,
            token,
            returned: false,
        };
        let result = f();
        last.returned = true;
        result
    }

    /// Finishes the span at an explicit time.
    ///
    /// ```
    /// tracekit::Span::start("a").finish_at(std::time::SystemTime::now());
    /// ```
    pub fn finish_at(mut self, time: SystemTime) {
        if let Some(o) = self.owned.take() {
            finish(o, Stamp::at(time));
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish_with(Stamp::now());
    }
}

impl Span {
    /// Finishes the span where it is (without moving it); leaves
    /// `Span::none()`.
    #[inline]
    pub(crate) fn finish_with(&mut self, end: Stamp) {
        if let Some(d) = self.owned.as_mut() {
            if d.raw.records() {
                d.raw.end = end;
                crate::local::finish_owned(d);
            }
            self.owned = None;
        }
    }
}

pub(super) fn finish(mut d: Detached, end: Stamp) {
    // Set whether it records or not: metrics measure an unrecorded
    // request's or call's time to it when `d` goes.
    d.raw.end = end;
    if d.raw.records() {
        crate::local::finish_owned(&mut d);
    }
}

/// The start of the span of a function returning a future: a child of the
/// current span, owned by its future, with the values of its arguments and
/// fields.
pub(crate) fn start_traced(meta: Point, args: &[ArgRef<'_>]) -> Span {
    // The first call of the point works its switch out.
    if !crate::local::starts_here(meta) {
        return Span::none();
    }
    let owned = with_state(|s| {
        let lineage = s.point_lineage(meta);
        s.start_detached(lineage, meta.name(), Some(meta), meta.kind(), Stamp::now())
    });
    let mut span = Span { owned };
    if let Some(d) = span.owned.as_mut().filter(|d| d.raw.records()) {
        // Outside the thread state: a value may run user code.
        d.args = args.iter().map(ArgRef::value).collect();
    }
    span
}

/// [`start_traced`]'s counterpart for a call that starts no span while
/// metrics count: a span of its point that records nothing (its context is
/// its parent's unsampled one), counted when it goes.
#[cold]
#[inline(never)]
pub(crate) fn start_counted(meta: Point) -> Span {
    if !crate::sampling::filter::is_on(meta) {
        return Span::none();
    }
    let owned = with_state(|s| {
        let lineage = s.point_lineage(meta);
        s.start_detached(lineage, meta.name(), Some(meta), meta.kind(), Stamp::now())
    });
    Span { owned }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.owned {
            Some(o) => write!(
                f,
                "Span({:?}, {}/{})",
                o.name(),
                o.raw.trace_id,
                o.raw.span_id
            ),
            None => f.write_str("Span(none)"),
        }
    }
}
