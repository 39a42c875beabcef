//! Finished spans as reporters and tests see them: a [`SpanBatch`] of
//! [`SpanRecord`]s, each a handle on a span in the batches the threads
//! handed over (nothing is copied per span).

use crate::clock::Calibration;
use crate::parts::{Event, Link, SpanKind, Status};
use crate::raw::{Batch, Extras, Inherited, RawSpan, Tag};
use crate::trace_point::Metadata;
use crate::value::Value;
use crate::{SpanId, TraceId};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// The finished spans the collector delivers to a [`Reporter`](crate::Reporter)
/// at once: the batches several threads handed over, shared rather than
/// copied. Cloning it, or taking a [`SpanRecord`] out of it, costs a
/// reference count; the spans are freed when the last handle goes.
///
/// ```
/// struct Names(Vec<String>);
/// impl tracekit::Reporter for Names {
///     fn report(&mut self, batch: tracekit::SpanBatch) {
///         self.0.extend(batch.iter().map(|span| span.name().to_owned()));
///     }
/// }
/// let _guard = tracekit::set_reporter(Names(Vec::new()));
/// ```
#[derive(Clone)]
pub struct SpanBatch {
    spans: Spans,
}

#[derive(Clone)]
enum Spans {
    /// As the collector delivers them.
    Shared(Arc<Shared>),
    /// Gathered from elsewhere (`From<Vec<SpanRecord>>`).
    Records(Arc<[SpanRecord]>),
}

struct Shared {
    chunks: Vec<Chunk>,
    len: usize,
    cal: Calibration,
}

/// One thread's hand-over.
struct Chunk {
    spans: Vec<RawSpan>,
    tags: Vec<Tag>,
    args: Vec<Option<Value>>,
    extras: Vec<Extras>,
    inherited: Vec<Arc<Inherited>>,
    /// Where each span's tags are in `tags`, worked out on first use: a
    /// reporter that only counts spans never pays for it.
    index: OnceLock<TagIndex>,
}

/// Span `i`'s tags are `tags[order[k]]` (or `tags[k]` when the arena is
/// already in span order) for `k` in `starts[i]..starts[i + 1]`.
struct TagIndex {
    starts: Vec<u32>,
    order: Option<Vec<u32>>,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // The buffers go back for a thread's next hand-over.
        Batch {
            spans: std::mem::take(&mut self.spans),
            tags: std::mem::take(&mut self.tags),
            args: std::mem::take(&mut self.args),
            extras: std::mem::take(&mut self.extras),
            inherited: std::mem::take(&mut self.inherited),
            captured: false,
        }
        .recycle();
    }
}

impl Chunk {
    fn index(&self) -> &TagIndex {
        self.index.get_or_init(|| {
            let n = self.spans.len();
            let mut starts = vec![0u32; n + 1];
            let mut in_order = true;
            let mut previous = 0;
            for t in &self.tags {
                let span = (t.span as usize).min(n);
                if span < n {
                    starts[span + 1] += 1;
                }
                in_order &= t.span >= previous;
                previous = t.span;
            }
            for i in 0..n {
                starts[i + 1] += starts[i];
            }
            let order = (!in_order).then(|| {
                // A stable counting sort: a span's tags keep their order.
                let mut next = starts.clone();
                let mut order = vec![0u32; starts[n] as usize];
                for (j, t) in self.tags.iter().enumerate() {
                    if (t.span as usize) < n {
                        let slot = &mut next[t.span as usize];
                        order[*slot as usize] = j as u32;
                        *slot += 1;
                    }
                }
                order
            });
            TagIndex { starts, order }
        })
    }
}

impl SpanBatch {
    /// Takes over the batches threads handed over, converting event times
    /// with one calibration for all of them.
    pub(crate) fn new(batches: Vec<Batch>, cal: Calibration) -> SpanBatch {
        let mut len = 0;
        let chunks = batches
            .into_iter()
            .map(|mut b| {
                len += b.spans.len();
                for extras in &mut b.extras {
                    for e in &mut extras.events {
                        e.time = cal.to_system_time(e.stamp);
                    }
                }
                Chunk {
                    spans: b.spans,
                    tags: b.tags,
                    args: b.args,
                    extras: b.extras,
                    inherited: b.inherited,
                    index: OnceLock::new(),
                }
            })
            .collect();
        SpanBatch {
            spans: Spans::Shared(Arc::new(Shared { chunks, len, cal })),
        }
    }

    /// How many spans.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Count(Arc<Mutex<usize>>);
    /// impl tracekit::Reporter for Count {
    ///     fn report(&mut self, batch: tracekit::SpanBatch) {
    ///         *self.0.lock().unwrap() += batch.len();
    ///     }
    /// }
    /// let count = Count::default();
    /// let guard = tracekit::set_reporter(count.clone());
    /// drop(tracekit::Span::start("a"));
    /// drop(guard);
    /// assert_eq!(*count.0.lock().unwrap(), 1);
    /// ```
    pub fn len(&self) -> usize {
        match &self.spans {
            Spans::Shared(s) => s.len,
            Spans::Records(r) => r.len(),
        }
    }

    /// Whether there are no spans (the collector does not deliver empty
    /// batches).
    ///
    /// ```
    /// struct NeverEmpty;
    /// impl tracekit::Reporter for NeverEmpty {
    ///     fn report(&mut self, batch: tracekit::SpanBatch) {
    ///         assert!(!batch.is_empty());
    ///     }
    /// }
    /// let _guard = tracekit::set_reporter(NeverEmpty);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The spans: each thread's spans together, in the order they started
    /// (a span made with [`Span`](crate::Span) comes in where it finished).
    ///
    /// ```
    /// struct Print;
    /// impl tracekit::Reporter for Print {
    ///     fn report(&mut self, batch: tracekit::SpanBatch) {
    ///         for span in batch.iter() {
    ///             println!("{} took {:?}", span.name(), span.duration());
    ///         }
    ///     }
    /// }
    /// let _guard = tracekit::set_reporter(Print);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = SpanRecord> + '_ {
        let (shared, records) = match &self.spans {
            Spans::Shared(s) => (Some(s), &[][..]),
            Spans::Records(r) => (None, &r[..]),
        };
        shared
            .into_iter()
            .flat_map(|shared| {
                shared
                    .chunks
                    .iter()
                    .enumerate()
                    .flat_map(move |(c, chunk)| {
                        (0..chunk.spans.len()).map(move |i| SpanRecord {
                            shared: shared.clone(),
                            chunk: c as u32,
                            index: i as u32,
                        })
                    })
            })
            .chain(records.iter().cloned())
    }

    /// The spans as a vector of records.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Keep(Arc<Mutex<Vec<tracekit::SpanRecord>>>);
    /// impl tracekit::Reporter for Keep {
    ///     fn report(&mut self, batch: tracekit::SpanBatch) {
    ///         self.0.lock().unwrap().extend(batch.to_vec());
    ///     }
    /// }
    /// let keep = Keep::default();
    /// let guard = tracekit::set_reporter(keep.clone());
    /// drop(tracekit::Span::start("a"));
    /// drop(guard);
    /// assert_eq!(keep.0.lock().unwrap()[0].name(), "a");
    /// ```
    pub fn to_vec(&self) -> Vec<SpanRecord> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.iter());
        out
    }
}

/// A batch of records gathered from elsewhere: to forward spans to another
/// reporter, or to feed one in a test.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
/// let batch = tracekit::SpanBatch::from(c.spans().to_vec());
/// assert_eq!(batch.len(), 1);
/// ```
impl From<Vec<SpanRecord>> for SpanBatch {
    fn from(records: Vec<SpanRecord>) -> SpanBatch {
        SpanBatch {
            spans: Spans::Records(records.into()),
        }
    }
}

impl fmt::Debug for SpanBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A finished span: what reporters receive and what tests inspect. A handle
/// on the span inside its [`SpanBatch`]: cloning costs a reference count.
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
    shared: Arc<Shared>,
    chunk: u32,
    index: u32,
}

impl SpanRecord {
    fn chunk(&self) -> &Chunk {
        &self.shared.chunks[self.chunk as usize]
    }

    fn raw(&self) -> &RawSpan {
        &self.chunk().spans[self.index as usize]
    }

    fn extras(&self) -> Option<&Extras> {
        self.chunk().extras.get(self.raw().extras as usize)
    }

    fn inherited(&self) -> Option<&Inherited> {
        self.chunk()
            .inherited
            .get(self.raw().inherited as usize)
            .map(|i| &**i)
    }

    /// The `testing::capture` the span belongs to, 0 for none.
    pub(crate) fn capture(&self) -> u32 {
        self.raw().capture
    }

    /// The operation name.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.spans()[0].name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        match self.extras().and_then(|e| e.name.as_deref()) {
            Some(owned) => owned,
            None => self.raw().name,
        }
    }

    /// The trace this span belongs to.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_eq!(c.span("a").trace_id(), c.span("b").trace_id());
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.raw().trace_id
    }

    /// This span's id.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_ne!(c.span("a").span_id(), c.span("b").span_id());
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.raw().span_id
    }

    /// The parent span's id; `None` for the root of a trace.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// assert_eq!(c.span("b").parent_id(), Some(c.span("a").span_id()));
    /// ```
    pub fn parent_id(&self) -> Option<SpanId> {
        self.raw().parent_id
    }

    /// Whether the parent lives in another process (extracted from a carrier).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(!c.span("a").has_remote_parent());
    /// ```
    pub fn has_remote_parent(&self) -> bool {
        self.raw().remote_parent
    }

    /// Whether the trace was sampled (unsampled spans are normally not reported).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.raw().is_sampled()
    }

    /// The span kind.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").kind(), tracekit::SpanKind::Internal);
    /// ```
    pub fn kind(&self) -> SpanKind {
        self.raw().kind
    }

    /// When the span started.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").start() <= std::time::SystemTime::now());
    /// ```
    pub fn start(&self) -> SystemTime {
        self.shared.cal.to_system_time(self.raw().start)
    }

    /// When the span finished.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").end() >= c.span("a").start());
    /// ```
    pub fn end(&self) -> SystemTime {
        let raw = self.raw();
        // A record handed over unfinished cannot happen; if it did, it
        // would read as a span of no length rather than one that never ends.
        let end = if raw.end.is_set() { raw.end } else { raw.start };
        self.shared.cal.to_system_time(end)
    }

    /// `end - start`, zero if the clock went backwards.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").duration() < std::time::Duration::from_secs(5));
    /// ```
    pub fn duration(&self) -> Duration {
        self.end().duration_since(self.start()).unwrap_or_default()
    }

    /// The tag with this key, including the `code.*` tags of instrumented
    /// functions; the last value set wins.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", true));
    /// assert_eq!(c.span("a").tag("k"), Some(&tracekit::Value::Bool(true)));
    /// assert_eq!(c.span("a").tag("nope"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&Value> {
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Every tag: the arguments and `fields` of a `#[trace_fn]` span first,
    /// then the others in the order recorded, the `code.*` tags last.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", 1));
    /// assert_eq!(c.span("a").tags().count(), 1);
    /// ```
    pub fn tags(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        let chunk = self.chunk();
        let index = chunk.index();
        let i = self.index as usize;
        let (from, to) = (index.starts[i] as usize, index.starts[i + 1] as usize);
        let order = index.order.as_deref();
        let raw = self.raw();
        let code = raw.meta.map(|m| m.code_tags()).unwrap_or(&[]);
        Batch::args_of(&chunk.args, raw)
            .chain((from..to).map(move |k| {
                let tag = &chunk.tags[order.map_or(k, |o| o[k] as usize)];
                (&*tag.key, &tag.value)
            }))
            .chain(code.iter().map(|(k, v)| (&**k, v)))
    }

    /// The timestamped events (logs), in the order recorded.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").events().is_empty());
    /// ```
    pub fn events(&self) -> &[Event] {
        self.extras().map_or(&[], |e| &e.events)
    }

    /// The `follows_from` references.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").links().is_empty());
    /// ```
    pub fn links(&self) -> &[Link] {
        self.extras().map_or(&[], |e| &e.links)
    }

    /// The status.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").status(), &tracekit::Status::Unset);
    /// ```
    pub fn status(&self) -> &Status {
        static UNSET: Status = Status::Unset;
        self.extras().map_or(&UNSET, |e| &e.status)
    }

    /// Whether the span failed (its status is an error).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     tracekit::start_active_span("a").record_error(&std::fmt::Error); });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        self.status().is_error()
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
        self.inherited().and_then(|i| i.baggage.get(key))
    }

    /// All baggage items.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").baggage().count(), 0);
    /// ```
    pub fn baggage(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.inherited().into_iter().flat_map(|i| i.baggage.iter())
    }

    /// The W3C `tracestate` carried by the trace, if any.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert_eq!(c.span("a").trace_state(), None);
    /// ```
    pub fn trace_state(&self) -> Option<&str> {
        self.inherited().and_then(|i| i.trace_state.as_deref())
    }

    /// Where the instrumented function is, for spans made by `#[trace_fn]`.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// assert!(c.span("a").trace_point().is_none());
    /// ```
    pub fn trace_point(&self) -> Option<&'static Metadata> {
        self.raw().meta
    }
}

impl fmt::Debug for SpanRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<_> = self.tags().collect();
        f.debug_struct("SpanRecord")
            .field("name", &self.name())
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("parent_id", &self.parent_id())
            .field("kind", &self.kind())
            .field("duration", &self.duration())
            .field("status", self.status())
            .field("tags", &tags)
            .field("events", &self.events())
            .field("links", &self.links())
            .finish()
    }
}
