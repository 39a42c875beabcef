//! Where spans are born and finished: the explicit API ([`Span`],
//! [`SpanBuilder`], [`ActiveSpan`]) and the raw form a finished span takes on
//! its way to the collector.

use crate::clock::Stamp;
use crate::context::Token;
use crate::context::{
    self, Extras, Frame, FrameKind, SAMPLED, SpanContext, SpanCore, State, Tagged, with_state,
};
use crate::record::{Link, SpanKind, Status};
use crate::trace_point::Metadata;
use crate::value::{Key, Value};
use crate::{Baggage, ENABLED, SpanId, TraceId};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

/// A finished span on its way to the collector; its tags sit in the batch's arena.
pub(crate) struct RawSpan {
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) flags: u8,
    pub(crate) capture: u32,
    pub(crate) baggage: Option<Arc<Baggage>>,
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) core: SpanCore,
    pub(crate) end: Stamp,
    pub(crate) tags: Range<u32>,
}

/// The state of an owned span.
pub(crate) struct SpanData {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) flags: u8,
    pub(crate) capture: u32,
    pub(crate) baggage: Option<Arc<Baggage>>,
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) core: SpanCore,
    pub(crate) tags: Vec<(Key, Value)>,
}

impl SpanData {
    pub(crate) fn into_frame(self: Box<Self>) -> Frame {
        Frame {
            token: 0,
            trace_id: Some(self.trace_id),
            span_id: Some(self.span_id),
            flags: self.flags,
            remote: false,
            capture: self.capture,
            baggage: self.baggage.clone(),
            trace_state: self.trace_state.clone(),
            kind: FrameKind::Owned(self),
            held_across_await: false,
        }
    }

    fn context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            remote: false,
            baggage: self.baggage.clone(),
            trace_state: self.trace_state.clone(),
        }
    }

    fn recording(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    // Boxed because the span owns its data through a box; unboxing here is one move.
    #[allow(clippy::boxed_local)]
    fn into_raw(self: Box<Self>, end: Stamp) -> (RawSpan, Vec<(Key, Value)>) {
        let this = *self;
        let raw = RawSpan {
            trace_id: Some(this.trace_id),
            span_id: Some(this.span_id),
            flags: this.flags,
            capture: this.capture,
            baggage: this.baggage,
            trace_state: this.trace_state,
            core: this.core,
            end,
            tags: 0..0,
        };
        (raw, this.tags)
    }

    fn finish(self: Box<Self>, end: Stamp) {
        if !self.recording() {
            return;
        }
        let mut pending = Some(self.into_raw(end));
        with_state(|s| {
            if let Some((raw, tags)) = pending.take() {
                into_batch(s, raw, tags);
            }
        });
        if let Some((mut raw, tags)) = pending {
            // No thread state to batch in (the thread is shutting down, or
            // this runs inside tracekit itself): hand the span over alone.
            let mut batch = context::Batch::default();
            raw.tags = 0..tags.len() as u32;
            batch.captured = raw.capture != 0;
            batch.tags = tags;
            batch.spans.push(raw);
            crate::collector::submit(batch);
        }
    }
}

fn into_batch(s: &mut State, raw: RawSpan, tags: Vec<(Key, Value)>) {
    s.finish_into_batch(raw, Tagged::Owned(tags));
    // Under a local span the batch goes out with it; otherwise now.
    if !s.holds_local() {
        s.flush();
    }
}

/// Finishes an owned span into `s`'s batch (the thread's state is already
/// borrowed: its teardown).
pub(crate) fn finish_owned_in(data: Box<SpanData>, s: &mut State, end: Stamp) {
    if data.recording() {
        let (raw, tags) = data.into_raw(end);
        into_batch(s, raw, tags);
    }
}

/// Which span a new span is a child of.
#[derive(Clone)]
enum Parent {
    Current,
    Explicit(SpanContext),
    Root,
    /// A new trace forced into sampling (Jaeger's `jaeger-debug-id`).
    DebugRoot,
}

struct Ids {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    parent_remote: bool,
    flags: u8,
    capture: u32,
    baggage: Option<Arc<Baggage>>,
    trace_state: Option<Arc<str>>,
}

impl Ids {
    #[inline]
    fn child_of_frame(s: &State, parent: Option<&Frame>) -> Ids {
        let capture = s.capture_for(parent);
        match parent {
            Some(
                p @ Frame {
                    trace_id: Some(trace_id),
                    span_id: Some(span_id),
                    ..
                },
            ) => Ids {
                trace_id: *trace_id,
                span_id: SpanId::random(),
                parent: Some(*span_id),
                parent_remote: p.remote,
                flags: p.flags,
                capture,
                baggage: p.baggage.clone(),
                trace_state: p.trace_state.clone(),
            },
            _ => Ids::root(capture),
        }
    }

    fn root(capture: u32) -> Ids {
        Ids {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent: None,
            parent_remote: false,
            flags: SAMPLED,
            capture,
            baggage: None,
            trace_state: None,
        }
    }

    fn resolve(s: &State, parent: &Parent) -> Ids {
        match parent {
            Parent::Current => Ids::child_of_frame(s, s.stack.last()),
            Parent::Root => Ids::root(s.capture_for(s.stack.last())),
            Parent::DebugRoot => {
                let mut ids = Ids::root(s.capture_for(s.stack.last()));
                ids.flags |= crate::context::DEBUG | SAMPLED;
                ids
            }
            Parent::Explicit(cx) => Ids {
                trace_id: cx.trace_id,
                span_id: SpanId::random(),
                parent: Some(cx.span_id),
                parent_remote: cx.remote,
                flags: cx.flags,
                capture: s.capture_for(s.stack.last()),
                baggage: cx.baggage.clone(),
                trace_state: cx.trace_state.clone(),
            },
        }
    }
}

/// Starts a span as a child of the current span (or a new trace when there is
/// none) and makes it the active span of this thread until the returned guard
/// drops, which finishes it. The fastest way to trace a block.
///
/// # Guards are for sync code
/// The guard makes its span current *on this thread*. Held across `.await`,
/// it stays current while the future waits, and whatever else the thread
/// runs meanwhile (other tasks, `join!`ed futures) becomes its child. In
/// async code use `#[trace_fn]` on the `async fn`, or
/// [`FutureExt::in_span`](crate::FutureExt::in_span), which make a span
/// current only while its own future is polled. A guard found held across
/// `.await` by tracekit's futures is tagged `tracekit.guard_held_across_await`
/// and reported once on stderr. The same holds for [`Span::enter`],
/// [`Span::activate`] and [`Context::attach`](crate::Context::attach).
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let _request = tracekit::start_active_span("request");
///     let _query = tracekit::start_active_span("query");
/// });
/// assert_eq!(c.tree(), "request\n  query\n");
/// ```
pub fn start_active_span(name: impl Into<Cow<'static, str>>) -> ActiveSpan {
    Span::builder(name).start_active()
}

/// Configures a span before starting it: parent, references, tags, kind and
/// start time.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let t0 = SystemTime::now() - Duration::from_millis(30);
/// let ((), c) = tracekit::testing::capture(|| {
///     let span = tracekit::Span::builder("db.query")
///         .kind(tracekit::SpanKind::Client)
///         .tag("db.system", "postgres")
///         .start_time(t0)
///         .start();
///     span.finish_at(t0 + Duration::from_millis(12));
/// });
/// let s = c.span("db.query");
/// assert_eq!(s.start(), t0);
/// assert_eq!(s.duration(), Duration::from_millis(12));
/// ```
#[must_use = "a builder does nothing until started"]
pub struct SpanBuilder {
    name: Cow<'static, str>,
    meta: Option<&'static Metadata>,
    parent: Parent,
    kind: SpanKind,
    tags: Vec<(Key, Value)>,
    links: Vec<Link>,
    start: Option<SystemTime>,
}

impl SpanBuilder {
    /// Makes the span a child of `parent` instead of the current span.
    ///
    /// ```
    /// let parent = tracekit::Span::start("parent");
    /// let cx = parent.context().unwrap();
    /// let child = tracekit::Span::builder("child").child_of(&cx).start();
    /// assert_eq!(child.context().unwrap().trace_id(), cx.trace_id());
    /// ```
    pub fn child_of(mut self, parent: &SpanContext) -> Self {
        self.parent = Parent::Explicit(parent.clone());
        self
    }

    /// Makes the span the root of a new trace, whatever is current.
    ///
    /// ```
    /// let _outer = tracekit::start_active_span("outer");
    /// let span = tracekit::Span::builder("job").root().start();
    /// assert_ne!(span.context().unwrap().trace_id(), _outer.context().unwrap().trace_id());
    /// ```
    pub fn root(mut self) -> Self {
        self.parent = Parent::Root;
        self
    }

    /// Makes the span the root of a new trace that is sampled whatever the
    /// sampler says, and marked debug.
    pub(crate) fn debug_root(mut self) -> Self {
        self.parent = Parent::DebugRoot;
        self
    }

    /// Adds a `follows_from` reference to another span.
    ///
    /// ```
    /// let a = tracekit::Span::start("a");
    /// let b = tracekit::Span::builder("b").follows_from(&a.context().unwrap()).start();
    /// # drop(b);
    /// ```
    pub fn follows_from(mut self, cx: &SpanContext) -> Self {
        self.links.push(Link {
            trace_id: cx.trace_id,
            span_id: cx.span_id,
        });
        self
    }

    /// Sets a tag from the start.
    ///
    /// ```
    /// let s = tracekit::Span::builder("a").tag("peer.service", "redis").start();
    /// # drop(s);
    /// ```
    pub fn tag(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Sets the span kind.
    ///
    /// ```
    /// let s = tracekit::Span::builder("GET /").kind(tracekit::SpanKind::Server).start();
    /// # drop(s);
    /// ```
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Starts the span at an explicit wall-clock time instead of now.
    ///
    /// ```
    /// let s = tracekit::Span::builder("a").start_time(std::time::SystemTime::now()).start();
    /// # drop(s);
    /// ```
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start = Some(time);
        self
    }

    #[doc(hidden)]
    pub fn trace_point(mut self, meta: &'static Metadata) -> Self {
        self.meta = Some(meta);
        self.kind = meta.kind();
        self
    }

    fn core(&mut self, ids: &Ids) -> SpanCore {
        let links = std::mem::take(&mut self.links);
        SpanCore {
            name: std::mem::take(&mut self.name),
            meta: self.meta,
            parent: ids.parent,
            parent_remote: ids.parent_remote,
            kind: self.kind,
            start: self.start.map_or_else(Stamp::now, Stamp::at),
            extras: (!links.is_empty()).then(|| {
                Box::new(Extras {
                    links,
                    ..Extras::default()
                })
            }),
        }
    }

    /// Starts an owned span: it can move to other threads and tasks, and it
    /// finishes when dropped or on [`Span::finish`].
    ///
    /// ```
    /// let span = tracekit::Span::builder("upload").start();
    /// std::thread::spawn(move || drop(span)).join().unwrap();
    /// ```
    pub fn start(mut self) -> Span {
        if !ENABLED {
            return Span::none();
        }
        let Some(ids) = with_state(|s| Ids::resolve(s, &self.parent)) else {
            return Span::none();
        };
        let core = self.core(&ids);
        Span {
            data: Some(Box::new(SpanData {
                trace_id: ids.trace_id,
                span_id: ids.span_id,
                flags: ids.flags,
                capture: ids.capture,
                baggage: ids.baggage,
                trace_state: ids.trace_state,
                core,
                tags: if ids.flags & SAMPLED != 0 {
                    self.tags
                } else {
                    Vec::new()
                },
            })),
        }
    }

    /// Starts the span as the active span of this thread (the
    /// `start_active_span` of OpenTracing); the guard finishes it on drop.
    ///
    /// ```
    /// let span = tracekit::Span::builder("a").tag("k", 1).start_active();
    /// assert!(tracekit::current_span().is_recording());
    /// drop(span);
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn start_active(mut self) -> ActiveSpan {
        if !ENABLED {
            return ActiveSpan::NONE;
        }
        let token = with_state(|s| {
            let ids = Ids::resolve(s, &self.parent);
            let core = self.core(&ids);
            let tag_start = s.open_tags.len() as u32;
            if ids.flags & SAMPLED != 0 {
                s.open_tags.append(&mut self.tags);
            }
            s.push(Frame {
                token: 0,
                trace_id: Some(ids.trace_id),
                span_id: Some(ids.span_id),
                flags: ids.flags,
                remote: false,
                capture: ids.capture,
                baggage: ids.baggage,
                trace_state: ids.trace_state,
                kind: FrameKind::Local(core, tag_start),
                held_across_await: false,
            })
        })
        .unwrap_or(0);
        ActiveSpan {
            token,
            _not_send: PhantomData,
        }
    }
}

/// The hot path of `#[trace_fn]` on a sync function: a child of the current
/// span (or a new root), active until the guard drops.
#[inline]
pub(crate) fn enter_local(meta: &'static Metadata) -> (Token, bool) {
    with_state(|s| {
        let ids = Ids::child_of_frame(s, s.stack.last());
        let tag_start = s.open_tags.len() as u32;
        let recording = ids.flags & SAMPLED != 0;
        let token = s.push(Frame {
            token: 0,
            trace_id: Some(ids.trace_id),
            span_id: Some(ids.span_id),
            flags: ids.flags,
            remote: false,
            capture: ids.capture,
            baggage: ids.baggage,
            trace_state: ids.trace_state,
            kind: FrameKind::Local(
                SpanCore {
                    name: Cow::Borrowed(meta.name()),
                    meta: Some(meta),
                    parent: ids.parent,
                    parent_remote: ids.parent_remote,
                    kind: meta.kind(),
                    start: Stamp::now(),
                    extras: None,
                },
                tag_start,
            ),
            held_across_await: false,
        });
        (token, recording)
    })
    .unwrap_or((0, false))
}

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
///     span.add_event("flushed", []);
/// });
/// assert_eq!(c.tree(), "batch\n  item\n");
/// ```
pub struct Span {
    pub(crate) data: Option<Box<SpanData>>,
}

impl Span {
    /// Starts a span as a child of the current span, or as a new root.
    ///
    /// ```
    /// let span = tracekit::Span::start("work");
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
        Span { data: None }
    }

    /// Whether this span records tags and will be reported.
    ///
    /// ```
    /// assert!(tracekit::Span::start("a").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.recording())
    }

    /// The span's context, to start children elsewhere or to inject into a carrier.
    ///
    /// ```
    /// let span = tracekit::Span::start("a");
    /// let cx = span.context().unwrap();
    /// assert_eq!(cx.trace_id().to_string().len(), 32);
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        self.data.as_ref().map(|d| d.context())
    }

    /// The kind given at the start (internal for a span that records nothing).
    pub(crate) fn kind(&self) -> SpanKind {
        self.data
            .as_ref()
            .map_or(SpanKind::Internal, |d| d.core.kind)
    }

    /// Sets a tag (a later value for the same key wins).
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_tag("http.status_code", 200);
    /// ```
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            d.tags.push((key.into(), value.into()));
        }
    }

    /// Logs a timestamped event with fields.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.add_event("cache-miss", [("key", "k1".into())]);
    /// ```
    pub fn add_event(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        self.push_event(name.into(), Stamp::now(), fields);
    }

    /// Logs an event at an explicit time.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.add_event_at("received", std::time::SystemTime::now(), [("bytes", 512.into())]);
    /// ```
    pub fn add_event_at(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        self.push_event(name.into(), Stamp::at(time), fields);
    }

    fn push_event(
        &mut self,
        name: Cow<'static, str>,
        at: Stamp,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            let fields = fields
                .into_iter()
                .map(|(k, v)| (Key::Borrowed(k), v))
                .collect();
            d.core.extras().events.push((name, at, fields));
        }
    }

    /// Records an error: tag `error = true`, status error with the error's
    /// `Display` text, and an `exception` event with `exception.type`,
    /// `exception.message` and each `source()` as `exception.source.1`, `.2`, ...
    ///
    /// ```
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
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            ErrorParts::of(error).apply_to(&mut d.core, &mut d.tags);
        }
    }

    pub(crate) fn record_error_parts(&mut self, parts: ErrorParts) {
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            parts.apply_to(&mut d.core, &mut d.tags);
        }
    }

    /// Sets the status.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_status(tracekit::Status::Ok);
    /// ```
    pub fn set_status(&mut self, status: Status) {
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            d.core.extras().status = status;
        }
    }

    /// Adds a `follows_from` reference after the start.
    ///
    /// ```
    /// let a = tracekit::Span::start("a");
    /// let mut b = tracekit::Span::start("b");
    /// b.add_follows_from(&a.context().unwrap());
    /// ```
    pub fn add_follows_from(&mut self, cx: &SpanContext) {
        if let Some(d) = self.data.as_mut().filter(|d| d.recording()) {
            d.core.extras().links.push(Link {
                trace_id: cx.trace_id,
                span_id: cx.span_id,
            });
        }
    }

    /// Sets a baggage item, inherited by spans started under this one from now on.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_baggage_item("tenant", "acme");
    /// assert_eq!(span.context().unwrap().baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn set_baggage_item(&mut self, key: impl Into<String>, value: impl Into<String>) {
        if let Some(d) = self.data.as_mut() {
            let mut baggage = d.baggage.as_deref().cloned().unwrap_or_default();
            baggage.set(key.into(), value.into());
            d.baggage = Some(Arc::new(baggage));
        }
    }

    /// Makes this span the active span of this thread until the guard drops
    /// (OpenTracing's `activate(span, finish_on_close=False)`); the span stays yours.
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// {
    ///     let _g = span.enter();
    ///     assert!(tracekit::current_span().is_recording());
    /// }
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn enter(&mut self) -> Entered<'_> {
        let token = match self.data.take() {
            Some(d) => with_state(|s| s.push(d.into_frame())).unwrap_or(0),
            None => 0,
        };
        Entered {
            span: self,
            token,
            _not_send: PhantomData,
        }
    }

    /// Makes this span active on this thread and finishes it when the guard
    /// drops (`activate(span, finish_on_close=True)`).
    ///
    /// ```
    /// let span = tracekit::Span::start("a");
    /// let active = span.activate();
    /// assert!(tracekit::current_span().is_recording());
    /// drop(active);
    /// ```
    pub fn activate(mut self) -> ActiveSpan {
        let token = match self.data.take() {
            Some(d) => with_state(|s| s.push(d.into_frame())).unwrap_or(0),
            None => 0,
        };
        ActiveSpan {
            token,
            _not_send: PhantomData,
        }
    }

    /// Finishes the span now (the same as dropping it).
    ///
    /// ```
    /// tracekit::Span::start("a").finish();
    /// ```
    pub fn finish(self) {}

    /// Finishes the span at an explicit time.
    ///
    /// ```
    /// tracekit::Span::start("a").finish_at(std::time::SystemTime::now());
    /// ```
    pub fn finish_at(mut self, time: SystemTime) {
        if let Some(d) = self.data.take() {
            d.finish(Stamp::at(time));
        }
    }

    pub(crate) fn take_data(&mut self) -> Option<Box<SpanData>> {
        self.data.take()
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(d) = self.data.take() {
            d.finish(Stamp::now());
        }
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.data {
            Some(d) => write!(f, "Span({:?}, {}/{})", d.core.name, d.trace_id, d.span_id),
            None => f.write_str("Span(none)"),
        }
    }
}

/// The guard of [`Span::enter`]: restores the previous active span on drop and
/// gives the span back.
#[must_use = "the span stops being active as soon as the guard drops"]
pub struct Entered<'a> {
    span: &'a mut Span,
    token: Token,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.token != 0 {
            self.span.data = context::pop_frame(self.token, None);
        }
    }
}

/// An active span that finishes when dropped; returned by
/// [`start_active_span`], [`SpanBuilder::start_active`] and [`Span::activate`].
/// Not `Send`: it belongs to the thread where it is active.
///
/// ```
/// let span = tracekit::start_active_span("checkout");
/// span.set_tag("items", 3);
/// span.add_event("paid", [("amount", 12.5.into())]);
/// ```
#[must_use = "the span finishes as soon as the guard drops"]
pub struct ActiveSpan {
    token: Token,
    _not_send: PhantomData<*const ()>,
}

impl ActiveSpan {
    const NONE: ActiveSpan = ActiveSpan {
        token: 0,
        _not_send: PhantomData,
    };

    fn with<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| {
            let i = s.find(self.token)?;
            s.stack[i].is_recording().then(|| f(s, i))
        })
        .flatten()
    }

    /// Whether the span records.
    ///
    /// ```
    /// assert!(tracekit::start_active_span("a").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.with(|_, _| ()).is_some()
    }

    /// The span's context.
    ///
    /// ```
    /// assert!(tracekit::start_active_span("a").context().is_some());
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| s.find(self.token).and_then(|i| s.stack[i].span_context())).flatten()
    }

    /// Sets a tag.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_tag("k", "v");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        self.with(move |s, i| s.tag(i, key, value));
    }

    /// Logs a timestamped event with fields.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event("e", [("k", 1.into())]);
    /// ```
    pub fn add_event(
        &self,
        name: impl Into<Cow<'static, str>>,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        self.add_event_stamped(name.into(), Stamp::now(), fields);
    }

    /// Logs an event at an explicit time.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event_at("e", std::time::SystemTime::now(), [("k", 1.into())]);
    /// ```
    pub fn add_event_at(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        self.add_event_stamped(name.into(), Stamp::at(time), fields);
    }

    fn add_event_stamped(
        &self,
        name: Cow<'static, str>,
        at: Stamp,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        if !self.is_recording() {
            return;
        }
        let fields: Vec<_> = fields
            .into_iter()
            .map(|(k, v)| (Key::Borrowed(k), v))
            .collect();
        self.with(move |s, i| {
            if let Some(core) = context::frame_core(&mut s.stack[i]) {
                core.extras().events.push((name, at, fields));
            }
        });
    }

    /// Records an error (see [`Span::record_error`]).
    ///
    /// ```
    /// tracekit::start_active_span("a").record_error(&std::fmt::Error);
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        if !self.is_recording() {
            return;
        }
        let parts = ErrorParts::of(error);
        self.with(move |s, i| parts.apply(s, i));
    }

    /// Sets the status.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_status(tracekit::Status::Ok);
    /// ```
    pub fn set_status(&self, status: Status) {
        self.with(move |s, i| {
            if let Some(core) = context::frame_core(&mut s.stack[i]) {
                core.extras().status = status;
            }
        });
    }

    /// Sets a baggage item, inherited by spans started under this one from now on.
    ///
    /// ```
    /// let a = tracekit::start_active_span("a");
    /// a.set_baggage_item("k", "v");
    /// assert_eq!(a.context().unwrap().baggage_item("k"), Some("v"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if self.token == 0 {
            return;
        }
        with_state(|s| {
            if let Some(i) = s.find(self.token) {
                context::set_baggage(&mut s.stack[i], key, value);
            }
        });
    }

    /// Finishes the span now (the same as dropping it).
    ///
    /// ```
    /// tracekit::start_active_span("a").finish();
    /// ```
    pub fn finish(self) {}

    /// Finishes the span at an explicit time.
    ///
    /// ```
    /// tracekit::start_active_span("a").finish_at(std::time::SystemTime::now());
    /// ```
    pub fn finish_at(mut self, time: SystemTime) {
        let token = std::mem::take(&mut self.token);
        close(token, Some(Stamp::at(time)));
    }
}

fn close(token: Token, end: Option<Stamp>) {
    if token != 0 {
        if let Some(owned) = context::pop_frame(token, end) {
            owned.finish(end.unwrap_or_else(Stamp::now));
        }
    }
}

impl Drop for ActiveSpan {
    fn drop(&mut self) {
        close(self.token, None);
    }
}

/// An error broken into what a span records, computed before touching the
/// thread's state (formatting runs user code).
pub(crate) struct ErrorParts {
    type_name: Cow<'static, str>,
    message: String,
    sources: Vec<String>,
}

impl ErrorParts {
    pub(crate) fn of<E: std::error::Error + ?Sized>(error: &E) -> ErrorParts {
        let mut sources = Vec::new();
        let mut next = error.source();
        while let Some(e) = next {
            sources.push(e.to_string());
            next = e.source();
            if sources.len() >= 32 {
                break; // a cyclic or absurd chain must not hang the program
            }
        }
        ErrorParts {
            type_name: Cow::Borrowed(std::any::type_name::<E>()),
            message: error.to_string(),
            sources,
        }
    }

    pub(crate) fn set_type_name(&mut self, name: &'static str) {
        self.type_name = Cow::Borrowed(name);
    }

    pub(crate) fn message(type_name: &'static str, message: String) -> ErrorParts {
        ErrorParts {
            type_name: Cow::Borrowed(type_name),
            message,
            sources: Vec::new(),
        }
    }

    fn event(self, core: &mut SpanCore) {
        let mut fields: Vec<(Key, Value)> = Vec::with_capacity(2 + self.sources.len());
        fields.push((Cow::Borrowed("exception.type"), Value::Str(self.type_name)));
        fields.push((
            Cow::Borrowed("exception.message"),
            Value::from(self.message.clone()),
        ));
        for (i, s) in self.sources.into_iter().enumerate() {
            fields.push((
                Cow::Owned(format!("exception.source.{}", i + 1)),
                Value::from(s),
            ));
        }
        let extras = core.extras();
        extras.status = Status::error(self.message);
        extras
            .events
            .push((Cow::Borrowed("exception"), Stamp::now(), fields));
    }

    pub(crate) fn apply(self, s: &mut State, index: usize) {
        s.tag(index, Cow::Borrowed("error"), Value::Bool(true));
        if let Some(core) = context::frame_core(&mut s.stack[index]) {
            self.event(core);
        }
    }

    pub(crate) fn apply_to(self, core: &mut SpanCore, tags: &mut Vec<(Key, Value)>) {
        tags.push((Cow::Borrowed("error"), Value::Bool(true)));
        self.event(core);
    }
}
