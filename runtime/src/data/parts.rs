//! What a span is made of besides its ids: its kind, status, events and
//! links. Leaf types, shared by every layer.

use crate::data::clock::Stamp;
use crate::data::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

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
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let ((), captured) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("lookup");
///     span.add_event("cache-miss", [("key", "user:42")]);
/// });
/// let event = &captured.span("lookup").events()[0];
/// assert_eq!(event.name(), "cache-miss");
/// assert_eq!(event.field("key").unwrap().to_string(), "user:42");
/// ```
#[derive(Clone, PartialEq)]
pub struct Event {
    pub(crate) name: Cow<'static, str>,
    /// Wall time, filled in from `stamp` when the collector takes the span.
    pub(crate) time: SystemTime,
    pub(crate) stamp: Stamp,
    pub(crate) fields: Vec<(Key, Value)>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("time", &self.time)
            .field("fields", &self.fields)
            .finish()
    }
}

/// Key/value fields of an event, taken the way [`set_tag`](crate::Span::set_tag)
/// takes one: each key `impl Into<Key>`, each value `impl Into<Value>`.
///
/// Implemented for arrays, vectors and slices of `(key, value)` pairs, and for
/// `()` meaning "no fields". The values of one array share a type; for mixed
/// types, make the first one a [`Value`] and the others follow
/// (`[("user", Value::from(id)), ("retry", true.into())]`), or build an
/// [`Event`] with [`with_field`](Event::with_field).
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// use tracekit::Value;
/// let user_id = 42u64;
/// let ((), c) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("send");
///     span.add_event("sent", [("user_id", user_id)]);
///     span.add_event("mixed", [("user_id", Value::from(user_id)), ("retry", true.into())]);
///     span.add_event("keys made at run time", vec![(format!("k{}", 1), "v")]);
///     span.add_event("bare", ());
/// });
/// let events = c.span("send").events();
/// assert_eq!(events[0].field("user_id"), Some(&Value::U64(42)));
/// assert_eq!(events[1].field("retry"), Some(&Value::Bool(true)));
/// assert_eq!(events[2].field("k1").unwrap().to_string(), "v");
/// assert!(events[3].fields().is_empty());
/// ```
pub trait Fields {
    /// The fields as the span stores them.
    fn into_fields(self) -> Vec<(Key, Value)>;
}

impl Fields for () {
    fn into_fields(self) -> Vec<(Key, Value)> {
        Vec::new()
    }
}

impl<K: Into<Key>, V: Into<Value>, const N: usize> Fields for [(K, V); N] {
    fn into_fields(self) -> Vec<(Key, Value)> {
        self.into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }
}

impl<K: Into<Key>, V: Into<Value>> Fields for Vec<(K, V)> {
    fn into_fields(self) -> Vec<(Key, Value)> {
        self.into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }
}

impl<K: Into<Key> + Clone, V: Into<Value> + Clone> Fields for &[(K, V)] {
    fn into_fields(self) -> Vec<(Key, Value)> {
        self.iter()
            .map(|(k, v)| (k.clone().into(), v.clone().into()))
            .collect()
    }
}

/// At most this many events stay on one span; later ones are counted as
/// dropped (OpenTelemetry's default `OTEL_SPAN_EVENT_COUNT_LIMIT`), so a
/// span that logs in a loop cannot grow without bound. A later `exception`
/// (an error recorded, the call's `Err` or panic) takes the last event's
/// place instead, which is counted: a full span still shows how it failed.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("loop");
///     for i in 0..200 {
///         span.add_event("tick", [("i", i)]);
///     }
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.span("loop").events().len(), tracekit::EVENT_LIMIT);
/// assert_eq!(c.span("loop").dropped_events(), 200 - tracekit::EVENT_LIMIT as u32);
/// ```
pub const EVENT_LIMIT: usize = 128;

/// At most this many links stay on one span; later ones are counted as
/// dropped (OpenTelemetry's default `OTEL_SPAN_LINK_COUNT_LIMIT`).
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let ((), c) = tracekit::testing::capture(|| {
///     let other = tracekit::Span::start("other");
///     let cx = other.context().unwrap();
///     let mut b = tracekit::Span::builder("fan-in");
///     for _ in 0..200 {
///         b = b.follows_from(&cx);
///     }
///     drop(b.start());
/// });
/// assert_eq!(c.span("fan-in").links().len(), tracekit::LINK_LIMIT);
/// assert_eq!(c.span("fan-in").dropped_links(), 200 - tracekit::LINK_LIMIT as u32);
/// ```
pub const LINK_LIMIT: usize = 128;

/// At most this many tag keys set after a span starts (`set_tag`, a
/// builder's `tag`) stay on it (OpenTelemetry's default
/// `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`). Past it, a key the span already has
/// still takes its new value, and a new key is counted as dropped.
/// `#[trace_fn]` arguments and fields are fixed by the code and not counted,
/// nor are the tags tracekit sets itself (`error`, the return value).
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let ((), c) = tracekit::testing::capture(|| {
///     let mut span = tracekit::Span::start("loop");
///     for i in 0..200 {
///         span.set_tag("progress", i);
///         span.set_tag(format!("item.{i}"), i);
///     }
/// });
/// let span = c.span("loop");
/// let set = span.tags().filter(|(k, _)| !k.starts_with("sampler."));
/// assert_eq!(set.count(), tracekit::TAG_LIMIT);
/// assert_eq!(span.tag("progress").unwrap().to_string(), "199", "the last value wins");
/// assert_eq!(span.dropped_tags(), 200 - 127, "item.127 to item.199");
/// ```
pub const TAG_LIMIT: usize = 128;

impl Event {
    /// An event named `name`, stamped now, without fields yet; add it to a
    /// span with [`record_event`](crate::Span::record_event). For fields
    /// whose keys are made at run time (a log record's key-values).
    ///
    /// ```
    /// let key = String::from("user.id");
    /// let event = tracekit::Event::new("login").with_field(key, 42);
    /// assert_eq!(event.field("user.id"), Some(&tracekit::Value::I64(42)));
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Event {
        Event::stamped(name.into(), Stamp::now(), Vec::new())
    }

    /// Adds a field.
    ///
    /// ```
    /// let e = tracekit::Event::new("retry").with_field("attempt", 2);
    /// assert_eq!(e.fields().len(), 1);
    /// ```
    pub fn with_field(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Event {
        self.fields.push((key.into(), value.into()));
        self
    }

    /// An event with fields as the API takes them.
    pub(crate) fn with_fields(name: Cow<'static, str>, stamp: Stamp, fields: impl Fields) -> Event {
        Event::stamped(name, stamp, fields.into_fields())
    }

    /// An event stamped by the span clock (or at an explicit time).
    pub(crate) fn stamped(
        name: Cow<'static, str>,
        stamp: Stamp,
        fields: Vec<(Key, Value)>,
    ) -> Event {
        Event {
            name,
            time: UNIX_EPOCH,
            stamp,
            fields,
        }
    }

    /// The event's name.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", ()));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("s").events()[0].name(), "e");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it happened.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", ()));
    /// let e = &c.span("s").events()[0];
    /// assert!(e.time() >= c.span("s").start());
    /// ```
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// Its fields, in the order given.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", [("k", 1)]));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("s").events()[0].fields().len(), 1);
    /// ```
    pub fn fields(&self) -> &[(Key, Value)] {
        &self.fields
    }

    /// The field with this key.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("s").add_event("e", [("k", 1)]));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("s").events()[0].field("k"), Some(&tracekit::Value::I64(1)));
    /// ```
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A `follows_from` reference from one span to another (an OpenTelemetry link).
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let a = tracekit::Span::start("a"); let cx = a.context().unwrap(); drop(a);
    /// #     let _b = tracekit::Span::builder("b").follows_from(&cx).start(); });
    /// assert_eq!(c.span("b").links()[0].span_id(), c.span("a").span_id());
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
}
