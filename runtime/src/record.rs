//! Finished spans as reporters and tests see them.

use crate::baggage::Baggage;
use crate::trace_point::Metadata;
use crate::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a span does in a distributed call, as OpenTelemetry names it.
///
/// ```
/// let span = tracekit::Span::builder("GET /users").kind(tracekit::SpanKind::Server).start();
/// # drop(span);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// Work inside one service (the default).
    #[default]
    Internal,
    /// Handling of a request from another service.
    Server,
    /// A request to another service.
    Client,
    /// Hand-off of a message to a queue.
    Producer,
    /// Processing of a message from a queue.
    Consumer,
}

impl SpanKind {
    /// The lowercase name (`"server"`, ...).
    ///
    /// ```
    /// assert_eq!(tracekit::SpanKind::Client.as_str(), "client");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// The outcome of a span.
///
/// ```
/// let s = tracekit::Status::error("timeout");
/// assert!(s.is_error());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Nothing was said (the default).
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed, with a description.
    Error {
        /// What went wrong, usually the error's `Display` text.
        description: Cow<'static, str>,
    },
}

impl Status {
    /// An error status with this description.
    ///
    /// ```
    /// assert_eq!(tracekit::Status::error("x"), tracekit::Status::Error { description: "x".into() });
    /// ```
    pub fn error(description: impl Into<Cow<'static, str>>) -> Status {
        Status::Error {
            description: description.into(),
        }
    }

    /// Whether this is an error.
    ///
    /// ```
    /// assert!(!tracekit::Status::Ok.is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        matches!(self, Status::Error { .. })
    }
}

/// A timestamped log entry on a span, with key/value fields.
///
/// ```
/// let ((), captured) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("lookup");
///     span.add_event("cache-miss", [("key", "user:42".into())]);
/// });
/// let event = &captured.span("lookup").events()[0];
/// assert_eq!(event.name(), "cache-miss");
/// assert_eq!(event.field("key").unwrap().to_string(), "user:42");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub(crate) name: Cow<'static, str>,
    pub(crate) time: SystemTime,
    pub(crate) fields: Vec<(Key, Value)>,
}

impl Event {
    /// The event's name.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", []));
    /// assert_eq!(c.span("s").events()[0].name(), "e");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it happened.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", []));
    /// let e = &c.span("s").events()[0];
    /// assert!(e.time() >= c.span("s").start());
    /// ```
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// Its fields, in the order given.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", [("k", 1.into())]));
    /// assert_eq!(c.span("s").events()[0].fields().len(), 1);
    /// ```
    pub fn fields(&self) -> &[(Key, Value)] {
        &self.fields
    }

    /// The field with this key.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", [("k", 1.into())]));
    /// assert_eq!(c.span("s").events()[0].field("k"), Some(&tracekit::Value::I64(1)));
    /// ```
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A `follows_from` reference from one span to another (an OpenTelemetry link).
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let first = tracekit::Span::start("enqueue");
///     let cx = first.context().unwrap();
///     drop(first);
///     let _job = tracekit::Span::builder("job").root().follows_from(&cx).start();
/// });
/// let link = &c.span("job").links()[0];
/// assert_eq!(link.span_id(), c.span("enqueue").span_id());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

impl Link {
    /// The trace of the referenced span.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let a = tracekit::Span::start("a"); let cx = a.context().unwrap(); drop(a);
    /// #     let _b = tracekit::Span::builder("b").follows_from(&cx).start(); });
    /// assert_eq!(c.span("b").links()[0].trace_id(), c.span("a").trace_id());
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The referenced span.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let a = tracekit::Span::start("a"); let cx = a.context().unwrap(); drop(a);
    /// #     let _b = tracekit::Span::builder("b").follows_from(&cx).start(); });
    /// assert_eq!(c.span("b").links()[0].span_id(), c.span("a").span_id());
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
}

/// The tags of a batch of spans live in one shared arena: building a record
/// costs a reference count, not an allocation per span.
#[derive(Clone)]
pub(crate) struct Tags {
    arena: Arc<Vec<(Key, Value)>>,
    range: Range<u32>,
}

impl Tags {
    pub(crate) fn new(arena: Arc<Vec<(Key, Value)>>, range: Range<u32>) -> Tags {
        Tags { arena, range }
    }

    fn as_slice(&self) -> &[(Key, Value)] {
        &self.arena[self.range.start as usize..self.range.end as usize]
    }
}

/// A finished span: what reporters receive and what tests inspect.
///
/// ```
/// let ((), captured) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("checkout");
///     span.set_tag("cart.items", 3);
/// });
/// let span = captured.span("checkout");
/// assert_eq!(span.tag("cart.items").unwrap().to_string(), "3");
/// assert!(span.end() >= span.start());
/// assert!(span.parent_id().is_none());
/// ```
#[derive(Clone)]
pub struct SpanRecord {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) remote_parent: bool,
    pub(crate) sampled: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) tags: Tags,
    pub(crate) code: Option<&'static Metadata>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
    pub(crate) baggage: Option<Arc<Baggage>>,
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) capture: u32,
}

impl SpanRecord {
    /// The operation name.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.spans()[0].name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trace this span belongs to.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_eq!(c.span("a").trace_id(), c.span("b").trace_id());
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This span's id.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_ne!(c.span("a").span_id(), c.span("b").span_id());
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The parent span's id; `None` for the root of a trace.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_eq!(c.span("b").parent_id(), Some(c.span("a").span_id()));
    /// ```
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent_id
    }

    /// Whether the parent lives in another process (extracted from a carrier).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(!c.span("a").has_remote_parent());
    /// ```
    pub fn has_remote_parent(&self) -> bool {
        self.remote_parent
    }

    /// Whether the trace was sampled (unsampled spans are normally not reported).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The span kind.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").kind(), tracekit::SpanKind::Internal);
    /// ```
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// When the span started.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").start() <= std::time::SystemTime::now());
    /// ```
    pub fn start(&self) -> SystemTime {
        self.start
    }

    /// When the span finished.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").end() >= c.span("a").start());
    /// ```
    pub fn end(&self) -> SystemTime {
        self.end
    }

    /// `end - start`, zero if the clock went backwards.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").duration() < std::time::Duration::from_secs(5));
    /// ```
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }

    /// The tag with this key, including the `code.*` tags of instrumented functions.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", true));
    /// assert_eq!(c.span("a").tag("k"), Some(&tracekit::Value::Bool(true)));
    /// assert_eq!(c.span("a").tag("nope"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&Value> {
        // The last write of a key wins, as with a map.
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Every tag, in the order recorded; the `code.*` tags come last.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", 1));
    /// assert_eq!(c.span("a").tags().count(), 1);
    /// ```
    pub fn tags(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        let code = self.code.map(|m| m.code_tags()).unwrap_or(&[]);
        self.tags
            .as_slice()
            .iter()
            .chain(code.iter())
            .map(|(k, v)| (&**k, v))
    }

    /// The timestamped events (logs), in the order recorded.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").events().is_empty());
    /// ```
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The `follows_from` references.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").links().is_empty());
    /// ```
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The status.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").status(), &tracekit::Status::Unset);
    /// ```
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Whether the span failed (its status is an error).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     tracekit::start_active_span("a").record_error(&std::fmt::Error); });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        self.status.is_error()
    }

    /// The baggage item with this key, inherited from the span's ancestors.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let a = tracekit::start_active_span("a"); a.set_baggage_item("user", "7");
    /// #     drop(tracekit::Span::start("b")); });
    /// assert_eq!(c.span("b").baggage_item("user"), Some("7"));
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.baggage.as_deref().and_then(|b| b.get(key))
    }

    /// All baggage items.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").baggage().count(), 0);
    /// ```
    pub fn baggage(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.baggage.as_deref().into_iter().flat_map(|b| b.iter())
    }

    /// The W3C `tracestate` carried by the trace, if any.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").trace_state(), None);
    /// ```
    pub fn trace_state(&self) -> Option<&str> {
        self.trace_state.as_deref()
    }

    /// Where the instrumented function is, for spans made by `#[trace_fn]`.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").trace_point().is_none());
    /// ```
    pub fn trace_point(&self) -> Option<&'static Metadata> {
        self.code
    }
}

impl fmt::Debug for SpanRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<_> = self.tags().collect();
        f.debug_struct("SpanRecord")
            .field("name", &self.name)
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("parent_id", &self.parent_id)
            .field("kind", &self.kind)
            .field("duration", &self.duration())
            .field("status", &self.status)
            .field("tags", &tags)
            .field("events", &self.events)
            .field("links", &self.links)
            .finish()
    }
}
