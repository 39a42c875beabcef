//! A [`SpanBatch`]: the finished spans the collector delivers at once, the
//! batches several threads handed over, shared rather than copied.

use super::record::SpanRecord;
use super::view::SpanView;
use crate::data::batch::Batch;
use crate::data::clock::Calibration;
use crate::data::raw::{Extras, Inherited, RawSpan, Tag};
use crate::data::value::Value;
use std::fmt;
use std::sync::{Arc, OnceLock};

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

pub(super) struct Shared {
    pub(super) chunks: Vec<Chunk>,
    pub(super) len: usize,
    pub(super) cal: Calibration,
}

/// One thread's hand-over.
pub(super) struct Chunk {
    pub(super) spans: Vec<RawSpan>,
    pub(super) tags: Vec<Tag>,
    pub(super) args: Vec<Option<Value>>,
    pub(super) extras: Vec<Extras>,
    pub(super) inherited: Vec<Arc<Inherited>>,
    /// Where each span's tags are in `tags`, worked out on first use: a
    /// reporter that only counts spans never pays for it.
    pub(super) index: OnceLock<TagIndex>,
    /// The text of each span's derived request id
    /// ([`DERIVED_ID`](crate::data::raw::DERIVED_ID)), written on first read.
    pub(super) derived: OnceLock<Vec<[u8; crate::data::request_id::DERIVED_LEN]>>,
}

/// Span `i`'s tags are `tags[order[k]]` (or `tags[k]` when the arena is
/// already in span order) for `k` in `starts[i]..starts[i + 1]`.
pub(super) struct TagIndex {
    pub(super) starts: Vec<u32>,
    pub(super) order: Option<Vec<u32>>,
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
    pub(super) fn index(&self) -> &TagIndex {
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
        let (places, records) = self.places();
        places
            .map(|(shared, chunk, _, index)| SpanRecord {
                shared: shared.clone(),
                chunk,
                index,
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
        let (places, records) = self.places();
        places
            .map(|(shared, _, chunk, index)| SpanView {
                raw: &chunk.spans[index as usize],
                chunk,
                cal: &shared.cal,
                index,
            })
            .chain(records.iter().map(SpanRecord::view))
    }

    /// Where each span of a collected batch is (its batch, chunk number,
    /// chunk and index there), in order; and the records a batch built
    /// from records holds instead.
    #[allow(clippy::type_complexity)]
    fn places(
        &self,
    ) -> (
        impl Iterator<Item = (&Arc<Shared>, u32, &Chunk, u32)> + '_,
        &[SpanRecord],
    ) {
        let (shared, records) = match &self.spans {
            Spans::Shared(s) => (Some(s), &[][..]),
            Spans::Records(r) => (None, &r[..]),
        };
        let places = shared.into_iter().flat_map(|shared| {
            shared
                .chunks
                .iter()
                .enumerate()
                .flat_map(move |(c, chunk)| {
                    (0..chunk.spans.len() as u32).map(move |i| (shared, c as u32, chunk, i))
                })
        });
        (places, records)
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
