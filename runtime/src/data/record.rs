//! Finished spans as reporters and tests see them: a [`SpanBatch`] of
//! [`SpanRecord`]s, each a handle on a span in the batches the threads
//! handed over (nothing is copied per span).

use crate::data::clock::Calibration;
use crate::data::parts::{Event, Link, SpanKind, Status};
use crate::data::raw::{Batch, Extras, Inherited, NONE, RawSpan, Tag};
use crate::data::trace_point::Metadata;
use crate::data::value::{Key, Value};
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
    /// The text of each span's derived request id
    /// ([`DERIVED_ID`](crate::data::raw::DERIVED_ID)), written on first read.
    derived: OnceLock<Vec<[u8; crate::data::request_id::DERIVED_LEN]>>,
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
            gone: 0,
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
                    derived: OnceLock::new(),
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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

    /// The spans, borrowed: no reference count per span.
    ///
    /// ```
    /// struct Count(usize);
    /// impl tracekit::Reporter for Count {
    ///     fn report(&mut self, batch: tracekit::SpanBatch) {
    ///         self.0 += batch.views().filter(|s| s.is_error()).count();
    ///     }
    /// }
    /// let _guard = tracekit::set_reporter(Count(0));
    /// ```
    pub fn views(&self) -> impl Iterator<Item = SpanView<'_>> + '_ {
        let (shared, records) = match &self.spans {
            Spans::Shared(s) => (Some(s), &[][..]),
            Spans::Records(r) => (None, &r[..]),
        };
        shared
            .into_iter()
            .flat_map(|shared| {
                shared.chunks.iter().flat_map(move |chunk| {
                    (0..chunk.spans.len()).map(move |i| SpanView {
                        raw: &chunk.spans[i],
                        chunk,
                        cal: &shared.cal,
                        index: i as u32,
                    })
                })
            })
            .chain(records.iter().map(SpanRecord::view))
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
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    /// A borrowed view of the span: the same accessors, the span looked up
    /// once (for exporters reading every field of many spans).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// let view = c.span("a").view();
    /// assert_eq!(view.name(), "a");
    /// ```
    #[inline]
    pub fn view(&self) -> SpanView<'_> {
        let chunk = &self.shared.chunks[self.chunk as usize];
        SpanView {
            raw: &chunk.spans[self.index as usize],
            chunk,
            cal: &self.shared.cal,
            index: self.index,
        }
    }

    /// The `testing::capture` the span belongs to, 0 for none.
    pub(crate) fn capture(&self) -> u32 {
        self.view().raw.capture
    }

    /// The operation name.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.spans()[0].name(), "a");
    /// ```
    #[inline]
    pub fn name(&self) -> &str {
        self.view().name()
    }

    /// The trace this span belongs to.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").trace_id(), c.span("b").trace_id());
    /// ```
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.view().trace_id()
    }

    /// This span's id.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_ne!(c.span("a").span_id(), c.span("b").span_id());
    /// ```
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.view().span_id()
    }

    /// The parent span's id; `None` for the root of a trace.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("b").parent_id(), Some(c.span("a").span_id()));
    /// ```
    #[inline]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.view().parent_id()
    }

    /// Whether the parent lives in another process (extracted from a carrier).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(!c.span("a").has_remote_parent());
    /// ```
    #[inline]
    pub fn has_remote_parent(&self) -> bool {
        self.view().has_remote_parent()
    }

    /// Whether the trace was sampled (unsampled spans are normally not reported).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").is_sampled());
    /// ```
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.view().is_sampled()
    }

    /// The span kind.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").kind(), tracekit::SpanKind::Internal);
    /// ```
    #[inline]
    pub fn kind(&self) -> SpanKind {
        self.view().kind()
    }

    /// When the span started.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").start() <= std::time::SystemTime::now());
    /// ```
    #[inline]
    pub fn start(&self) -> SystemTime {
        self.view().start()
    }

    /// When the span finished.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").end() >= c.span("a").start());
    /// ```
    #[inline]
    pub fn end(&self) -> SystemTime {
        self.view().end()
    }

    /// When the span started, in nanoseconds since the Unix epoch (what OTLP
    /// and most wire formats carry; cheaper than [`start`](Self::start)).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// let s = c.span("a");
    /// assert!(s.start_unix_nanos() <= s.end_unix_nanos());
    /// ```
    #[inline]
    pub fn start_unix_nanos(&self) -> u64 {
        self.view().start_unix_nanos()
    }

    /// When the span finished, in nanoseconds since the Unix epoch.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// let s = c.span("a");
    /// assert_eq!(s.end_unix_nanos() as u128, s.end().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    /// ```
    #[inline]
    pub fn end_unix_nanos(&self) -> u64 {
        self.view().end_unix_nanos()
    }

    /// `end - start`, zero if the clock went backwards.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").duration() < std::time::Duration::from_secs(5));
    /// ```
    #[inline]
    pub fn duration(&self) -> Duration {
        self.view().duration()
    }

    /// The tag with this key, including the `code.*` tags of instrumented
    /// functions; the last value set wins.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", true));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").tag("k"), Some(&tracekit::Value::Bool(true)));
    /// assert_eq!(c.span("a").tag("nope"), None);
    /// ```
    #[inline]
    pub fn tag(&self, key: &str) -> Option<&Value> {
        self.view().tag(key)
    }

    /// Every tag: the arguments and `fields` of a `#[trace_fn]` span first,
    /// then the others in the order recorded, the `code.*` tags last.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let _root = tracekit::start_active_span("root");
    /// #     tracekit::start_active_span("a").set_tag("k", 1);
    /// # });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").tags().count(), 1);
    /// // A new trace's first span says which sampler recorded it:
    /// assert_eq!(c.span("root").tag("sampler.type").unwrap().to_string(), "const");
    /// ```
    #[inline]
    pub fn tags(&self) -> Tags<'_> {
        self.view().tags()
    }

    /// The timestamped events (logs), in the order recorded.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").events().is_empty());
    /// ```
    #[inline]
    pub fn events(&self) -> &[Event] {
        self.view().events()
    }

    /// How many events the span logged past [`EVENT_LIMIT`](crate::EVENT_LIMIT)
    /// (they are not in [`events`](Self::events)).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").dropped_events(), 0);
    /// ```
    #[inline]
    pub fn dropped_events(&self) -> u32 {
        self.view().dropped_events()
    }

    /// How many links the span was given past [`LINK_LIMIT`](crate::LINK_LIMIT)
    /// (they are not in [`links`](Self::links)).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").dropped_links(), 0);
    /// ```
    #[inline]
    pub fn dropped_links(&self) -> u32 {
        self.view().dropped_links()
    }

    /// How many tags with new keys were set past
    /// [`TAG_LIMIT`](crate::TAG_LIMIT) (they are not in [`tags`](Self::tags)).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").dropped_tags(), 0);
    /// ```
    #[inline]
    pub fn dropped_tags(&self) -> u32 {
        self.view().dropped_tags()
    }

    /// The `follows_from` references.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").links().is_empty());
    /// ```
    #[inline]
    pub fn links(&self) -> &[Link] {
        self.view().links()
    }

    /// The status.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").status(), &tracekit::Status::Unset);
    /// ```
    #[inline]
    pub fn status(&self) -> &Status {
        self.view().status()
    }

    /// Whether the span failed (its status is an error).
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     tracekit::start_active_span("a").record_error(&std::fmt::Error); });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").is_error());
    /// ```
    #[inline]
    pub fn is_error(&self) -> bool {
        self.view().is_error()
    }

    /// The baggage item with this key, inherited from the span's ancestors.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| {
    /// #     let a = tracekit::start_active_span("a"); a.set_baggage_item("user", "7");
    /// #     drop(tracekit::Span::start("b")); });
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("b").baggage_item("user"), Some("7"));
    /// ```
    #[inline]
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.view().baggage_item(key)
    }

    /// All baggage items.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").baggage().count(), 0);
    /// ```
    #[inline]
    pub fn baggage(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.view().baggage()
    }

    /// The W3C `tracestate` carried by the trace, if any.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("a").trace_state(), None);
    /// ```
    #[inline]
    pub fn trace_state(&self) -> Option<&str> {
        self.view().trace_state()
    }

    /// Where the instrumented function is, for spans made by `#[trace_fn]`.
    ///
    /// ```
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(c.span("a").trace_point().is_none());
    /// ```
    #[inline]
    pub fn trace_point(&self) -> Option<&'static Metadata> {
        self.view().trace_point()
    }
}

/// A finished span, borrowed from its batch: what [`SpanRecord`] gives,
/// without a reference count, for reading many fields of many spans.
///
/// ```
/// struct Names;
/// impl tracekit::Reporter for Names {
///     fn report(&mut self, batch: tracekit::SpanBatch) {
///         for span in batch.views() {
///             println!("{} {}", span.name(), span.duration().as_micros());
///         }
///     }
/// }
/// let _guard = tracekit::set_reporter(Names);
/// ```
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    raw: &'a RawSpan,
    chunk: &'a Chunk,
    cal: &'a Calibration,
    index: u32,
}

impl<'a> SpanView<'a> {
    #[inline]
    fn chunk(&self) -> &'a Chunk {
        self.chunk
    }

    #[inline]
    fn raw(&self) -> &'a RawSpan {
        self.raw
    }

    #[inline]
    fn extras(&self) -> Option<&'a Extras> {
        self.chunk().extras.get(self.raw().extras as usize)
    }

    #[inline]
    fn inherited(&self) -> Option<&'a Inherited> {
        self.chunk()
            .inherited
            .get(self.raw().inherited as usize)
            .map(|i| &**i)
    }

    /// See [`SpanRecord::name`].
    #[inline]
    pub fn name(&self) -> &'a str {
        match self.extras().and_then(|e| e.name.as_deref()) {
            Some(owned) => owned,
            None => self.raw().name,
        }
    }

    /// See [`SpanRecord::trace_id`].
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.raw().trace_id
    }

    /// See [`SpanRecord::span_id`].
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.raw().span_id
    }

    /// See [`SpanRecord::parent_id`].
    #[inline]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.raw().parent_id
    }

    /// See [`SpanRecord::has_remote_parent`].
    #[inline]
    pub fn has_remote_parent(&self) -> bool {
        self.raw().remote_parent
    }

    /// See [`SpanRecord::is_sampled`].
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.raw().is_sampled()
    }

    /// See [`SpanRecord::kind`].
    #[inline]
    pub fn kind(&self) -> SpanKind {
        self.raw().kind
    }

    /// See [`SpanRecord::start`].
    #[inline]
    pub fn start(&self) -> SystemTime {
        self.cal.to_system_time(self.raw().start)
    }

    /// See [`SpanRecord::end`].
    #[inline]
    pub fn end(&self) -> SystemTime {
        let raw = self.raw();
        // A record handed over unfinished cannot happen; if it did, it
        // would read as a span of no length rather than one that never ends.
        let end = if raw.end.is_set() { raw.end } else { raw.start };
        self.cal.to_system_time(end)
    }

    /// See [`SpanRecord::start_unix_nanos`].
    #[inline]
    pub fn start_unix_nanos(&self) -> u64 {
        self.cal.unix_nanos(self.raw().start)
    }

    /// See [`SpanRecord::end_unix_nanos`].
    #[inline]
    pub fn end_unix_nanos(&self) -> u64 {
        let raw = self.raw();
        let end = if raw.end.is_set() { raw.end } else { raw.start };
        self.cal.unix_nanos(end)
    }

    /// See [`SpanRecord::duration`].
    #[inline]
    pub fn duration(&self) -> Duration {
        self.end().duration_since(self.start()).unwrap_or_default()
    }

    /// See [`SpanRecord::tag`].
    #[inline]
    pub fn tag(&self, key: &str) -> Option<&'a Value> {
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// See [`SpanRecord::tags`].
    #[inline]
    pub fn tags(&self) -> Tags<'a> {
        let chunk = self.chunk();
        let raw = self.raw();
        let index = chunk.index();
        let i = self.index as usize;
        let (from, to) = (index.starts[i] as usize, index.starts[i + 1] as usize);
        let args = match (raw.meta, raw.args) {
            (Some(meta), start) if start != NONE => {
                let start = start as usize;
                let values = chunk.args.get(start..start + meta.n_tags()).unwrap_or(&[]);
                Some((meta.metadata().tag_names(), values.iter()))
            }
            _ => None,
        };
        let named = match index.order.as_deref() {
            None => Named::Run(chunk.tags.get(from..to).unwrap_or(&[]).iter()),
            Some(order) => Named::Sorted {
                tags: &chunk.tags,
                order: order.get(from..to).unwrap_or(&[]).iter(),
            },
        };
        Tags {
            args,
            named,
            code: raw
                .meta
                .map_or(&[][..], |m| m.metadata().code_tags())
                .iter(),
        }
    }

    /// See [`SpanRecord::events`].
    #[inline]
    pub fn events(&self) -> &'a [Event] {
        self.extras().map_or(&[], |e| &e.events)
    }

    /// See [`SpanRecord::dropped_events`].
    #[inline]
    pub fn dropped_events(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_events)
    }

    /// See [`SpanRecord::dropped_links`].
    #[inline]
    pub fn dropped_links(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_links)
    }

    /// See [`SpanRecord::dropped_tags`].
    #[inline]
    pub fn dropped_tags(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_tags)
    }

    /// See [`SpanRecord::links`].
    #[inline]
    pub fn links(&self) -> &'a [Link] {
        self.extras().map_or(&[], |e| &e.links)
    }

    /// See [`SpanRecord::status`].
    #[inline]
    pub fn status(&self) -> &'a Status {
        static UNSET: Status = Status::Unset;
        self.extras().map_or(&UNSET, |e| &e.status)
    }

    /// See [`SpanRecord::is_error`].
    #[inline]
    pub fn is_error(&self) -> bool {
        self.status().is_error()
    }

    /// See [`SpanRecord::baggage_item`].
    #[inline]
    pub fn baggage_item(&self, key: &str) -> Option<&'a str> {
        match self.inherited().and_then(|i| i.baggage.get(key)) {
            Some(value) => Some(value),
            None if key == crate::data::request_id::REQUEST_ID_KEY => self.derived_id(),
            None => None,
        }
    }

    /// See [`SpanRecord::baggage`].
    #[inline]
    pub fn baggage(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let own = self.inherited().into_iter().flat_map(|i| i.baggage.iter());
        let derived = self
            .inherited()
            .is_none_or(|i| {
                i.baggage
                    .get(crate::data::request_id::REQUEST_ID_KEY)
                    .is_none()
            })
            .then(|| self.derived_id())
            .flatten()
            .map(|id| (crate::data::request_id::REQUEST_ID_KEY, id));
        own.chain(derived)
    }

    /// The request id derived from the trace id, for a span that has one.
    fn derived_id(&self) -> Option<&'a str> {
        if self.raw().flags & crate::data::raw::DERIVED_ID == 0 {
            return None;
        }
        let chunk = self.chunk();
        let ids = chunk.derived.get_or_init(|| {
            chunk
                .spans
                .iter()
                .map(|r| {
                    if r.flags & crate::data::raw::DERIVED_ID != 0 {
                        crate::data::request_id::derive(r.trace_id)
                    } else {
                        [0; crate::data::request_id::DERIVED_LEN]
                    }
                })
                .collect()
        });
        ids.get(self.index as usize)
            .map(crate::data::request_id::derived_str)
    }

    /// See [`SpanRecord::trace_state`].
    #[inline]
    pub fn trace_state(&self) -> Option<&'a str> {
        self.inherited().and_then(|i| i.trace_state.as_deref())
    }

    /// See [`SpanRecord::trace_point`].
    #[inline]
    pub fn trace_point(&self) -> Option<&'static Metadata> {
        self.raw().meta.map(|p| p.metadata())
    }
}

impl fmt::Debug for SpanRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl fmt::Debug for SpanView<'_> {
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

/// The tags of a [`SpanRecord`]; see [`SpanRecord::tags`].
pub struct Tags<'a> {
    args: Option<(TagNames, std::slice::Iter<'a, Option<Value>>)>,
    named: Named<'a>,
    code: std::slice::Iter<'static, (Key, Value)>,
}

/// The names of a trace point's arguments and fields.
type TagNames = std::iter::Take<std::str::Split<'static, char>>;

enum Named<'a> {
    Run(std::slice::Iter<'a, Tag>),
    Sorted {
        tags: &'a [Tag],
        order: std::slice::Iter<'a, u32>,
    },
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a Value)> {
        if let Some((names, values)) = &mut self.args {
            for value in values.by_ref() {
                let name = names.next()?;
                if let Some(value) = value {
                    return Some((name, value));
                }
            }
            self.args = None;
        }
        let named = match &mut self.named {
            Named::Run(tags) => tags.next(),
            Named::Sorted { tags, order } => order.next().and_then(|&j| tags.get(j as usize)),
        };
        if let Some(tag) = named {
            return Some((&tag.key, &tag.value));
        }
        self.code.next().map(|(k, v)| (&**k, v))
    }
}
