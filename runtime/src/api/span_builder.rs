//! Where spans are born through the explicit API: a [`SpanBuilder`] works
//! out a new span's parent (the current span, an explicit context, a new
//! root) and starts it owned ([`Span`]) or active on this thread
//! ([`ActiveSpan`]).

use super::active_span::ActiveSpan;
use super::span::Span;
use crate::TRACE_ALL;
use crate::data::clock::Stamp;
use crate::data::parts::{Link, SpanKind};
use crate::data::span_context::SpanContext;
use crate::data::trace_point::{Metadata, Point};
use crate::data::value::{Key, Value};
use crate::local::{Lineage, State, with_state};
use crate::sampling::filter;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::SystemTime;

/// Which span a new span is a child of.
#[derive(Clone)]
pub(super) enum Parent {
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
    pub(super) name: Cow<'static, str>,
    pub(super) meta: Option<Point>,
    pub(super) parent: Parent,
    pub(super) kind: SpanKind,
    pub(super) tags: Vec<(Key, Value)>,
    pub(super) links: Vec<Link>,
    pub(super) start: Option<SystemTime>,
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
            self.tags = crate::data::detached::tag_vec();
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
        self.start_then(|_| {})
    }

    /// [`start`](Self::start), with the tags `recorded` adds only when the
    /// span records: no sampler reads them, so a request that is not
    /// sampled builds none of them (no copies of its path or host).
    pub(crate) fn start_then(mut self, recorded: impl FnOnce(&mut SpanBuilder)) -> Span {
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
        if d.raw.records() {
            recorded(&mut self);
            if !self.links.is_empty() {
                d.extras
                    .get_or_insert_with(Default::default)
                    .set_links(std::mem::take(&mut self.links));
            }
            d.set_tags(&mut self.tags);
        }
        d.set_name(self.name);
        crate::data::detached::give_back(self.tags);
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
            request: None,
            _not_send: PhantomData,
        }
    }
}
