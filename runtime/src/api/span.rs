//! Where spans are born and finished: the explicit API ([`Span`],
//! [`SpanBuilder`], [`ActiveSpan`], [`start_active_span`]) and the
//! `#[trace_fn]` fast path. A local span is recorded into the thread's batch
//! (see `local`); an owned [`Span`] keeps its record until it finishes.

use crate::TRACE_ALL;
use crate::data::clock::Stamp;
use crate::data::parts::{Event, Fields, Link, SpanKind, Status};
use crate::data::raw::{Detached, Edit, ErrorParts};
use crate::data::span_context::SpanContext;
use crate::data::trace_point::{Metadata, Point};
use crate::data::value::{ArgRef, Key, Value};
use crate::local::{Lineage, State, Token, pop_borrowed, pop_local, with_state};
use crate::sampling::filter;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

/// Which span a new span is a child of.
#[derive(Clone)]
enum Parent {
    Current,
    Explicit(SpanContext),
    Root,
    /// A new trace forced into sampling (Jaeger's `jaeger-debug-id`).
    DebugRoot,
}

impl Parent {
    /// Where a span named `name` stands: its parent's trace, or a new one
    /// sampled here. `forced` is a `sampling.priority` given at start.
    fn lineage(&self, s: &State, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        let capture = s.capture_here();
        let mut lineage = match self {
            Parent::Current => s.lineage(name, kind, forced),
            Parent::Root => Lineage::root(capture, name, kind, forced),
            Parent::DebugRoot => Lineage::root(capture, name, kind, Some(true)),
            Parent::Explicit(cx) => Lineage::continuing(cx, capture, name, kind, forced),
        };
        if !filter::is_enabled() {
            lineage.unrecorded();
        }
        lineage
    }
}

/// The tag that forces a decision when given at a span's start: above 0
/// records the trace (marked debug), 0 drops it, as in OpenTracing.
pub(crate) const SAMPLING_PRIORITY: &str = "sampling.priority";

/// The decision a `sampling.priority` tag forces, if one is among `tags`.
fn forced(tags: &[(Key, Value)]) -> Option<bool> {
    let (_, value) = tags.iter().rev().find(|(k, _)| k == SAMPLING_PRIORITY)?;
    let priority = match value {
        Value::I64(v) => *v as f64,
        Value::U64(v) => *v as f64,
        Value::F64(v) => *v,
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.to_string().trim().parse().ok()?,
    };
    Some(priority > 0.0)
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
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "request\n  query\n");
/// ```
pub fn start_active_span(name: impl Into<Cow<'static, str>>) -> ActiveSpan {
    Span::builder(name).start_active()
}

/// Configures a span before starting it: parent, references, tags, kind and
/// start time.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    meta: Option<Point>,
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
        self.push_tag(key.into(), value.into());
        self
    }

    /// [`tag`](Self::tag) in place, for a builder filled in a loop.
    pub(crate) fn push_tag(&mut self, key: Key, value: Value) {
        if self.tags.capacity() == 0 {
            self.tags = crate::data::raw::tag_vec();
        }
        self.tags.push((key, value));
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
        let meta = meta.point();
        self.meta = Some(meta);
        self.kind = meta.kind();
        self
    }

    fn start_stamp(&self) -> Stamp {
        self.start.map_or_else(Stamp::now, Stamp::at)
    }

    /// Starts an owned span: it can move to other threads and tasks, and it
    /// finishes when dropped or on [`Span::finish`].
    ///
    /// ```
    /// let span = tracekit::Span::builder("upload").start();
    /// std::thread::spawn(move || drop(span)).join().unwrap();
    /// ```
    pub fn start(self) -> Span {
        if !TRACE_ALL {
            return Span::none();
        }
        let forced = forced(&self.tags);
        let Some(mut d) = with_state(|s| {
            let lineage = self.parent.lineage(s, &self.name, self.kind, forced);
            s.start_detached(lineage, "", self.meta, self.kind, self.start_stamp())
        }) else {
            return Span::none();
        };
        d.set_name(self.name);
        let mut tags = self.tags;
        if d.raw.records() {
            if !self.links.is_empty() {
                d.extras
                    .get_or_insert_with(Default::default)
                    .set_links(self.links);
            }
            d.set_tags(&mut tags);
        }
        crate::data::raw::give_back(tags);
        Span { owned: Some(d) }
    }

    /// Starts the span as the active span of this thread (the
    /// `start_active_span` of OpenTracing); the guard finishes it on drop.
    ///
    /// ```
    /// let span = tracekit::Span::builder("a").tag("k", 1).start_active();
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::current_span().is_recording());
    /// drop(span);
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn start_active(self) -> ActiveSpan {
        if !TRACE_ALL {
            return ActiveSpan::NONE;
        }
        let SpanBuilder {
            name,
            meta,
            parent,
            kind,
            tags,
            links,
            start,
        } = self;
        let (static_name, owned_name) = match name {
            Cow::Borrowed(s) => (s, None),
            owned => ("", Some(owned)),
        };
        let forced = forced(&tags);
        let token = with_state(|s| {
            let name = owned_name.as_deref().unwrap_or(static_name);
            let lineage = parent.lineage(s, name, kind, forced);
            let start = start.map_or_else(Stamp::now, Stamp::at);
            let token = s.start_local(lineage, static_name, meta, kind, start);
            if owned_name.is_some() || !links.is_empty() {
                if let Some(extras) = s.top_extras() {
                    extras.name = owned_name;
                    extras.set_links(links);
                }
            }
            s.add_tags(tags);
            token
        })
        .unwrap_or(0);
        ActiveSpan {
            token,
            _not_send: PhantomData,
        }
    }
}

/// The hot path of `#[trace_fn]` on a sync function, for a trace point
/// known to be on (or not worked out yet): a child of the current span (or
/// a new root), active until the guard drops, with the values of its
/// arguments and fields. Returns its token, 0 for none.
#[inline(never)]
pub(crate) fn enter_local(meta: Point, args: &[ArgRef<'_>]) -> Token {
    if meta.state() != filter::ON {
        return enter_unresolved(meta, args);
    }
    // Every call out of here is a tail call, so the fast path, which calls
    // nothing, saves no registers.
    match crate::local::enter_fast(meta, args) {
        Some((token, false)) => token,
        Some((token, true)) => record_later(token, args),
        None => enter_general(meta, args),
    }
}

/// [`enter_local`] at the first call of its trace point, whose switch is
/// worked out here.
#[cold]
#[inline(never)]
fn enter_unresolved(meta: Point, args: &[ArgRef<'_>]) -> Token {
    if crate::local::starts_here(meta) {
        enter_general(meta, args)
    } else {
        0
    }
}

#[inline(never)]
fn enter_general(meta: Point, args: &[ArgRef<'_>]) -> Token {
    match crate::local::enter_general(meta, args) {
        (token, true) => record_later(token, args),
        (token, false) => token,
    }
}

/// Works out the values of the arguments and fields of the new span `token`
/// that were not at hand when it started (text to copy, `Debug` output,
/// `ToValue` impls, `fields(...)` expressions), outside the thread state
/// because they may run user code, and records them.
/// Returns `token`.
#[cold]
#[inline(never)]
pub(crate) fn record_later(token: Token, args: &[ArgRef<'_>]) -> Token {
    /// A value that panics ends the span there, as a panic in the body
    /// would: its guard does not exist yet.
    struct EndOnUnwind(Token);
    impl Drop for EndOnUnwind {
        fn drop(&mut self) {
            let message = crate::api::panic::message_for(self.0);
            let token = self.0;
            with_state(|s| {
                if let Some(i) = s.find(token) {
                    for e in ErrorParts::message("panic", message).into_edits() {
                        s.edit(i, e);
                    }
                }
            });
            pop_local(token, None);
        }
    }
    let unwinding = EndOnUnwind(token);
    let values: Vec<(usize, Value)> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| a.immediate().is_err())
        .filter_map(|(i, a)| Some((i, a.value()?)))
        .collect();
    std::mem::forget(unwinding);
    with_state(|s| s.set_args_later(token, values));
    token
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

    /// Sets a tag (a later value for the same key wins).
    ///
    /// ```
    /// let mut span = tracekit::Span::start("a");
    /// span.set_tag("http.status_code", 200);
    /// ```
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(o) = self.recording() {
            o.set_tag(key.into(), value.into());
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
        if self.is_recording() {
            self.record_error_parts(ErrorParts::of(error));
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
    /// recorded like a span from [`start_active_span`].
    ///
    /// ```
    /// let span = tracekit::Span::start("a");
    /// let active = span.activate();
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::current_span().is_recording());
    /// drop(active);
    /// ```
    pub fn activate(mut self) -> ActiveSpan {
        let Some(owned) = self.owned.take() else {
            return ActiveSpan::NONE;
        };
        let mut pending = Some(owned);
        let token = with_state(|s| pending.take().map(|d| s.adopt(d))).flatten();
        match (token, pending) {
            (Some(token), _) => ActiveSpan {
                token,
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

fn finish(mut d: Detached, end: Stamp) {
    if d.raw.records() {
        d.raw.end = end;
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
        let lineage = s.lineage(meta.name(), meta.kind(), None);
        s.start_detached(lineage, meta.name(), Some(meta), meta.kind(), Stamp::now())
    });
    let mut span = Span { owned };
    if let Some(d) = span.owned.as_mut().filter(|d| d.raw.records()) {
        // Outside the thread state: a value may run user code.
        d.args = args.iter().map(ArgRef::value).collect();
    }
    span
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
            let edits = pop_borrowed(self.token);
            self.span.take_edits(edits);
        }
    }
}

impl Entered<'_> {
    /// Finishes the span while it is still current, then restores the span
    /// that was current before: what finished under it leaves the thread
    /// together with it, in one hand-over, instead of in two (the
    /// server span of a request that completes in one poll).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let mut request = tracekit::Span::start("request");
    ///     let entered = request.enter();
    ///     drop(tracekit::Span::start("child"));
    ///     entered.finish();
    /// });
    /// assert_eq!(c.tree(), "request\n  child\n");
    /// ```
    pub fn finish(mut self) {
        let token = std::mem::take(&mut self.token);
        let Some(mut d) = self.span.owned.take() else {
            if token != 0 {
                drop(pop_borrowed(token));
            }
            return;
        };
        let end = Stamp::now();
        let done =
            token != 0 && with_state(|s| s.finish_borrowed(token, &mut d, end)).unwrap_or(false);
        if !done {
            if token != 0 {
                let edits = pop_borrowed(token);
                for edit in edits {
                    d.apply(edit);
                }
            }
            finish(d, end);
        }
    }
}

impl std::ops::Deref for Entered<'_> {
    type Target = Span;
    fn deref(&self) -> &Span {
        self.span
    }
}

impl std::ops::DerefMut for Entered<'_> {
    /// The span itself, to change while it is current; what was changed
    /// through `current_span()` so far is applied first, so later changes
    /// win as they would after the guard drops.
    fn deref_mut(&mut self) -> &mut Span {
        if self.token != 0 {
            let edits = with_state(|s| s.take_queued(self.token)).unwrap_or_default();
            self.span.take_edits(edits);
        }
        self.span
    }
}

/// An active span that finishes when dropped; returned by
/// [`start_active_span`], [`SpanBuilder::start_active`] and [`Span::activate`].
/// Not `Send`: it belongs to the thread where it is active.
///
/// ```
/// let span = tracekit::start_active_span("checkout");
/// span.set_tag("items", 3);
/// span.add_event("paid", [("amount", 12.5)]);
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

    /// Runs `f` on this span's frame when it records.
    fn with<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| {
            let i = s.find(self.token)?;
            s.is_recording(i).then(|| f(s, i))
        })
        .flatten()
    }

    /// Whether the span records.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::start_active_span("a").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.with(|_, _| ()).is_some()
    }

    /// The span's context.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::start_active_span("a").context().is_some());
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| s.find(self.token).and_then(|i| s.span_context(i))).flatten()
    }

    fn edit(&self, edit: Edit) {
        self.with(move |s, i| s.edit(i, edit));
    }

    /// Sets a tag.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_tag("k", "v");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        self.edit(Edit::Tag(key.into(), value.into()));
    }

    /// Logs a timestamped event with fields.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event("e", [("k", 1)]);
    /// ```
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, fields: impl Fields) {
        self.add_event_stamped(name.into(), Stamp::now(), fields);
    }

    /// Logs an event at an explicit time.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event_at("e", std::time::SystemTime::now(), [("k", 1)]);
    /// ```
    pub fn add_event_at(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        fields: impl Fields,
    ) {
        self.add_event_stamped(name.into(), Stamp::at(time), fields);
    }

    /// Adds an event made with [`Event::new`](crate::Event::new) (see
    /// [`Span::record_event`]).
    ///
    /// ```
    /// tracekit::start_active_span("a").record_event(tracekit::Event::new("e").with_field("k", 1));
    /// ```
    pub fn record_event(&self, event: Event) {
        if self.is_recording() {
            self.edit(Edit::Event(event));
        }
    }

    fn add_event_stamped(&self, name: Cow<'static, str>, at: Stamp, fields: impl Fields) {
        if self.is_recording() {
            self.edit(Edit::Event(Event::with_fields(name, at, fields)));
        }
    }

    /// Records an error (see [`Span::record_error`]).
    ///
    /// ```
    /// tracekit::start_active_span("a").record_error(&std::fmt::Error);
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        if self.is_recording() {
            let edits = ErrorParts::of(error).into_edits();
            self.with(move |s, i| {
                for e in edits {
                    s.edit(i, e);
                }
            });
        }
    }

    /// Sets the status.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_status(tracekit::Status::Ok);
    /// ```
    pub fn set_status(&self, status: Status) {
        self.edit(Edit::Status(status));
    }

    /// Sets a baggage item, inherited by spans started under this one from now on.
    ///
    /// ```
    /// let a = tracekit::start_active_span("a");
    /// a.set_baggage_item("k", "v");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(a.context().unwrap().baggage_item("k"), Some("v"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if self.token == 0 {
            return;
        }
        with_state(|s| {
            if let Some(i) = s.find(self.token) {
                s.set_baggage(i, key, value);
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
        if token != 0 {
            pop_local(token, Some(Stamp::at(time)));
        }
    }
}

impl Drop for ActiveSpan {
    fn drop(&mut self) {
        if self.token != 0 {
            pop_local(self.token, None);
        }
    }
}
