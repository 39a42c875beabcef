//! Spans as a thread records them: a record written when the span starts and
//! completed in place when it ends, tags in one arena beside the records,
//! handed to the collector a batch at a time. Shared by the thread state
//! (`local`), which writes them, and the collector and reporters, which
//! read them; it depends on neither.

use crate::data::baggage::Baggage;
use crate::data::clock::Stamp;
use crate::data::parts::{Event, Link, SpanKind, Status};
use crate::data::trace_point::Point;
use crate::data::value::{ArgRef, Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::sync::Arc;

/// The trace is sampled: its spans are recorded and reported.
pub(crate) const SAMPLED: u8 = 0x01;
/// The trace is marked for debugging (Jaeger's debug flag).
pub(crate) const DEBUG: u8 = 0x02;
/// At least the right-most 7 bytes of the trace id are random: W3C Trace
/// Context Level 2's random-trace-id flag. Set where tracekit makes a trace
/// id, or read from an incoming `traceparent` (where it is `0x02`: only
/// `propagation/w3c.rs` maps between the two); no other format sends it.
pub(crate) const RANDOM: u8 = 0x04;
/// The request id (baggage `request.id`) is the one derived from the trace
/// id ([`crate::data::request_id::derive`]) unless the baggage holds one of its
/// own: a request id made here costs no allocation, and is written out only
/// where it is read. Handed down to descendants with the other flags; never
/// propagated as a flag (injection writes the id itself).
pub(crate) const DERIVED_ID: u8 = 0x08;
/// Recorded although head sampling dropped the trace, for tail keep to
/// decide (never propagated: injection writes the sampled, debug and
/// random bits only, extraction keeps only those).
pub(crate) const RECORD: u8 = 0x80;
/// Either way of being recorded.
pub(crate) const RECORDS: u8 = SAMPLED | RECORD;
/// The record moved out of its batch (an `async fn`'s span that had to
/// wait; see [`Batch::take_out`]): what stays is left out at the hand-over.
/// Never propagated.
pub(crate) const GONE: u8 = 0x40;

/// What a span hands down to every descendant besides its ids: baggage and
/// the W3C trace state. Shared; copied only when a span changes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inherited {
    pub(crate) baggage: Baggage,
    pub(crate) trace_state: Option<Box<str>>,
}

impl Inherited {
    /// `None` when there is nothing to hand down.
    pub(crate) fn shared(self) -> Option<Arc<Inherited>> {
        (!self.baggage.is_empty() || self.trace_state.is_some()).then(|| Arc::new(self))
    }
}

/// No entry in a batch's side table.
pub(crate) const NONE: u32 = u32::MAX;

/// One span as recorded: 96 bytes of plain data. What only some spans have
/// (events, links, a status, baggage) lives in tables beside the records,
/// so a batch is freed without visiting each span.
#[derive(Clone, Copy)]
pub(crate) struct RawSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) start: Stamp,
    /// [`Stamp::OPEN`] until the span finishes.
    pub(crate) end: Stamp,
    pub(crate) name: &'static str,
    pub(crate) meta: Option<Point>,
    /// Index into the batch's `inherited`, or [`NONE`].
    pub(crate) inherited: u32,
    /// Index into the batch's `extras`, or [`NONE`].
    pub(crate) extras: u32,
    /// Index into the batch's `args` of the first of the values of the
    /// `#[trace_fn]` arguments and fields (as many as its trace point names),
    /// or [`NONE`].
    pub(crate) args: u32,
    pub(crate) capture: u32,
    pub(crate) flags: u8,
    pub(crate) kind: SpanKind,
    pub(crate) remote_parent: bool,
    /// Tags set after start, up to [`TAG_LIMIT`](crate::TAG_LIMIT) (in
    /// what was padding: the record stays 96 bytes).
    pub(crate) tags_set: u8,
}

impl RawSpan {
    /// Whether the trace is sampled (reported as it is).
    pub(crate) fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the span is recorded: sampled, or kept for tail keep.
    #[inline]
    pub(crate) fn records(&self) -> bool {
        self.flags & RECORDS != 0
    }

    /// Recorded only for tail keep: buffered until its trace is decided.
    pub(crate) fn is_record_only(&self) -> bool {
        self.flags & RECORDS == RECORD
    }
}

/// The rarely used parts of a span.
#[derive(Default)]
pub(crate) struct Extras {
    /// A name made at run time (a static name lives in the record).
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
    /// Events past [`EVENT_LIMIT`](crate::EVENT_LIMIT), counted.
    pub(crate) dropped_events: u32,
    /// Links past [`LINK_LIMIT`](crate::LINK_LIMIT), counted.
    pub(crate) dropped_links: u32,
    /// New tag keys past [`TAG_LIMIT`](crate::TAG_LIMIT), counted.
    pub(crate) dropped_tags: u32,
}

impl Extras {
    /// Takes the links given at start, keeping at most `LINK_LIMIT`.
    pub(crate) fn set_links(&mut self, mut links: Vec<Link>) {
        let over = links.len().saturating_sub(crate::data::parts::LINK_LIMIT);
        links.truncate(crate::data::parts::LINK_LIMIT);
        self.links = links;
        self.dropped_links = u32::try_from(over).unwrap_or(u32::MAX);
    }

    /// Applies a change that is neither a tag nor baggage.
    pub(crate) fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Event(e) if self.events.len() < crate::data::parts::EVENT_LIMIT => {
                self.events.push(e)
            }
            Edit::Event(_) => self.dropped_events = self.dropped_events.saturating_add(1),
            Edit::Status(s) => self.status = s,
            Edit::Link(l) if self.links.len() < crate::data::parts::LINK_LIMIT => {
                self.links.push(l)
            }
            Edit::Link(_) => self.dropped_links = self.dropped_links.saturating_add(1),
            Edit::Dropped(d) => {
                self.dropped_tags = self.dropped_tags.saturating_add(d.tags);
                self.dropped_events = self.dropped_events.saturating_add(d.events);
                self.dropped_links = self.dropped_links.saturating_add(d.links);
            }
            Edit::Tag(..) | Edit::Mark(..) | Edit::Inherited(_) => {}
        }
    }
}

/// `tags_set` once the span holds `TAG_LIMIT` tags with distinct keys: a
/// new key is then dropped at once, with no search for repeats to merge.
const TAGS_FULL: u8 = u8::MAX;

/// Merges the repeated keys among the tags at positions `at` (one span's,
/// in the order set) into the first of each, which takes the last value,
/// as readers would see it; removes the repeats from `arena`. Returns how
/// many went. Runs only when a span reaches `TAG_LIMIT`.
#[cold]
fn merge_repeats<T>(
    arena: &mut Vec<T>,
    at: &[usize],
    key: impl Fn(&T) -> &Key,
    value: impl Fn(&mut T) -> &mut Value,
) -> usize {
    let mut first: Vec<usize> = Vec::with_capacity(at.len());
    let mut repeats: Vec<usize> = Vec::new();
    for &j in at {
        match first.iter().find(|&&i| key(&arena[i]) == key(&arena[j])) {
            Some(&i) => {
                let v = std::mem::replace(value(&mut arena[j]), Value::Bool(false));
                *value(&mut arena[i]) = v;
                repeats.push(j);
            }
            None => first.push(j),
        }
    }
    if !repeats.is_empty() {
        let mut position = 0;
        let mut next = repeats.iter().peekable();
        arena.retain(|_| {
            let drop = next.peek() == Some(&&position);
            if drop {
                next.next();
            }
            position += 1;
            !drop
        });
    }
    repeats.len()
}

/// After merging `removed` repeats of a full span (none when it is already
/// marked full): whether a new key fits. If not, the span is marked full so
/// later new keys skip the merge.
fn room_after_merge(raw: &mut RawSpan, removed: usize) -> bool {
    if removed == 0 {
        raw.tags_set = TAGS_FULL;
        return false;
    }
    let left = usize::from(raw.tags_set).saturating_sub(removed);
    raw.tags_set = u8::try_from(left).unwrap_or(TAGS_FULL);
    true
}

/// A tag in a batch's arena, with the index of its span in the batch.
pub(crate) struct Tag {
    pub(crate) span: u32,
    pub(crate) key: Key,
    pub(crate) value: Value,
}

/// A change to a span after it started.
pub(crate) enum Edit {
    /// A tag set through the API, counted against `TAG_LIMIT`.
    Tag(Key, Value),
    /// A tag tracekit sets itself (`error`, `unfinished`, the return value):
    /// a few per span at most, and never dropped.
    Mark(Key, Value),
    Event(Event),
    Status(Status),
    Link(Link),
    Inherited(Option<Arc<Inherited>>),
    /// What a queue of changes dropped at the span's limits, to be counted.
    Dropped(Dropped),
}

/// Tags, events and links dropped at a span's limits, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) tags: u32,
    pub(crate) events: u32,
    pub(crate) links: u32,
}

impl Dropped {
    pub(crate) fn add(&mut self, other: Dropped) {
        self.tags = self.tags.saturating_add(other.tags);
        self.events = self.events.saturating_add(other.events);
        self.links = self.links.saturating_add(other.links);
    }
}

/// The tags of an owned span or a builder, in a vector that comes back
/// once the span is in its batch: starting an owned span (a server span
/// with its eight tags) then allocates nothing in steady state.
pub(crate) type TagVec = Vec<(Key, Value)>;

/// How many emptied tag vectors a thread keeps, and the biggest kept.
const SPARE_TAG_VECS: usize = 16;
const SPARE_TAG_CAPACITY: usize = 64;

thread_local! {
    static SPARE_TAGS: std::cell::Cell<Vec<TagVec>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An empty tag vector with room for a few tags: a spare one of this
/// thread's, or a new one.
pub(crate) fn tag_vec() -> TagVec {
    SPARE_TAGS
        .try_with(|spare| {
            let mut all = spare.take();
            let v = all.pop();
            spare.set(all);
            v
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(8))
}

/// Keeps an emptied tag vector for this thread's next span.
pub(crate) fn give_back(mut v: TagVec) {
    if v.capacity() == 0 || v.capacity() > SPARE_TAG_CAPACITY {
        return;
    }
    v.clear();
    let _ = SPARE_TAGS.try_with(|spare| {
        let mut all = spare.take();
        if all.len() < SPARE_TAG_VECS {
            if all.capacity() == 0 {
                all.reserve_exact(SPARE_TAG_VECS);
            }
            all.push(v);
        }
        spare.set(all);
    });
}

/// A span that lives outside any batch until it finishes (an owned
/// [`Span`](crate::Span)): its record, and its side parts held directly.
pub(crate) struct Detached {
    pub(crate) raw: RawSpan,
    pub(crate) inherited: Option<Arc<Inherited>>,
    pub(crate) extras: Option<Box<Extras>>,
    pub(crate) tags: Vec<(Key, Value)>,
    /// The values of its `#[trace_fn]` arguments and fields, if it has any.
    pub(crate) args: Box<[Option<Value>]>,
}

impl Detached {
    pub(crate) fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Tag(k, v) => self.set_tag(k, v),
            Edit::Mark(k, v) => self.tags_mut().push((k, v)),
            Edit::Inherited(i) => self.inherited = i,
            other => self
                .extras
                .get_or_insert_with(Default::default)
                .apply(other),
        }
    }

    /// Adds a tag set through the API. Past `TAG_LIMIT`, a key the span
    /// already has still takes its new value; a new key is counted.
    pub(crate) fn set_tag(&mut self, key: Key, value: Value) {
        if usize::from(self.raw.tags_set) >= crate::data::parts::TAG_LIMIT {
            if let Some((_, v)) = self.tags.iter_mut().rev().find(|(k, _)| *k == key) {
                *v = value;
                return;
            }
            let removed = if self.raw.tags_set == TAGS_FULL {
                0
            } else {
                let at: Vec<usize> = (0..self.tags.len()).collect();
                merge_repeats(&mut self.tags, &at, |t| &t.0, |t| &mut t.1)
            };
            if !room_after_merge(&mut self.raw, removed) {
                let e = self.extras.get_or_insert_with(Default::default);
                e.dropped_tags = e.dropped_tags.saturating_add(1);
                return;
            }
        }
        self.raw.tags_set += 1;
        self.tags_mut().push((key, value));
    }

    /// Adds the tags a builder was given (leaving `tags` empty): as one
    /// move while they fit under the limit, else one by one.
    pub(crate) fn set_tags(&mut self, tags: &mut TagVec) {
        let room = crate::data::parts::TAG_LIMIT.saturating_sub(usize::from(self.raw.tags_set));
        if tags.len() <= room && self.raw.tags_set != TAGS_FULL {
            self.raw.tags_set += tags.len() as u8;
            if self.tags.is_empty() {
                std::mem::swap(&mut self.tags, tags);
            } else {
                self.tags_mut().append(tags);
            }
            return;
        }
        for (k, v) in tags.drain(..) {
            self.set_tag(k, v);
        }
    }

    /// The tags, in a spare vector of this thread's once there are any.
    fn tags_mut(&mut self) -> &mut TagVec {
        if self.tags.capacity() == 0 {
            self.tags = tag_vec();
        }
        &mut self.tags
    }

    /// Sets the name; a static one costs nothing, an owned one an allocation.
    pub(crate) fn set_name(&mut self, name: Cow<'static, str>) {
        match name {
            Cow::Borrowed(s) => self.raw.name = s,
            owned => {
                self.extras.get_or_insert_with(Default::default).name = Some(owned);
            }
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self.extras.as_deref().and_then(|e| e.name.as_deref()) {
            Some(owned) => owned,
            None => self.raw.name,
        }
    }
}

/// Emptied batches whose buffers the next hand-overs reuse, so that handing
/// a batch over does not allocate. Reached with `try_lock` only: a thread
/// that finds it busy allocates rather than waits.
#[cfg(not(tracekit_loom))]
static SPARE: Pool<Batch> = Pool::new(MAX_SPARE, MAX_SPARE_SPANS_IN_ALL);
#[cfg(tracekit_loom)]
static SPARE: once_cell::sync::Lazy<Pool<Batch>> =
    once_cell::sync::Lazy::new(|| Pool::new(MAX_SPARE, MAX_SPARE_SPANS_IN_ALL));
/// The memory kept is bounded by the records it has room for, in all (about
/// 1.5 MiB of records, their arguments and tags beside), so that a service
/// handing over many small batches between two collector ticks reuses them
/// all, and a burst of big ones is not hoarded.
const MAX_SPARE_SPANS_IN_ALL: usize = 16_384;
const MAX_SPARE: usize = 1024;
/// Buffers of batches bigger than this are freed, not kept.
const MAX_SPARE_SPANS: usize = 4096;

/// A pool of spare items, bounded in number and in their weight in all,
/// reached with `try_lock` only: a thread that finds it busy does without
/// rather than wait.
pub(crate) struct Pool<T> {
    inner: crate::data::sync::Mutex<PoolInner<T>>,
    max_items: usize,
    max_weight: usize,
}

struct PoolInner<T> {
    items: Vec<(T, usize)>,
    weight: usize,
}

impl<T> Pool<T> {
    #[cfg(not(tracekit_loom))]
    pub(crate) const fn new(max_items: usize, max_weight: usize) -> Pool<T> {
        Pool {
            inner: crate::data::sync::Mutex::new(PoolInner {
                items: Vec::new(),
                weight: 0,
            }),
            max_items,
            max_weight,
        }
    }

    #[cfg(tracekit_loom)]
    pub(crate) fn new(max_items: usize, max_weight: usize) -> Pool<T> {
        Pool {
            inner: crate::data::sync::Mutex::new(PoolInner {
                items: Vec::new(),
                weight: 0,
            }),
            max_items,
            max_weight,
        }
    }

    /// A spare item, if one is there and the pool is free.
    pub(crate) fn take(&self) -> Option<T> {
        let mut inner = self.inner.try_lock().ok()?;
        let (item, weight) = inner.items.pop()?;
        inner.weight -= weight;
        Some(item)
    }

    /// Keeps `item` of `weight` for later, unless the pool is busy or full
    /// (then it is dropped, outside the lock).
    pub(crate) fn put(&self, item: T, weight: usize) {
        let refused = match self.inner.try_lock() {
            Ok(mut inner) => {
                let room = inner.weight + weight;
                if inner.items.len() < self.max_items && room <= self.max_weight {
                    inner.weight = room;
                    inner.items.push((item, weight));
                    None
                } else {
                    Some(item)
                }
            }
            Err(_) => Some(item),
        };
        drop(refused);
    }
}

/// Spans recorded on one thread since its last hand-over, their tags, and
/// the side tables their records point into.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) spans: Vec<RawSpan>,
    pub(crate) tags: Vec<Tag>,
    /// The values of `#[trace_fn]` arguments and fields, a run per span.
    pub(crate) args: Vec<Option<Value>>,
    pub(crate) extras: Vec<Extras>,
    pub(crate) inherited: Vec<Arc<Inherited>>,
    /// Holds spans of a `testing::capture`, which are never dropped.
    pub(crate) captured: bool,
    /// Records marked [`GONE`], left out at the hand-over.
    pub(crate) gone: u32,
}

impl Batch {
    pub(crate) fn with_capacity(spans: usize, tags: usize, args: usize) -> Batch {
        Batch {
            spans: Vec::with_capacity(spans),
            tags: Vec::with_capacity(tags),
            args: Vec::with_capacity(args),
            ..Batch::default()
        }
    }

    /// An empty batch, on the buffers of one handed over earlier when any
    /// are spare, else newly allocated with these capacities.
    pub(crate) fn reuse_or_with_capacity(spans: usize, tags: usize, args: usize) -> Batch {
        if let Some(batch) = SPARE.take() {
            return batch;
        }
        Batch::with_capacity(spans, tags, args)
    }

    /// Empties the batch (dropping its contents) and keeps its buffers for a
    /// later hand-over, unless enough are kept or they are too big to hoard.
    pub(crate) fn recycle(mut self) {
        if self.spans.capacity() > MAX_SPARE_SPANS || self.spans.capacity() == 0 {
            return;
        }
        self.spans.clear();
        self.tags.clear();
        self.args.clear();
        self.extras.clear();
        self.inherited.clear();
        self.captured = false;
        self.gone = 0;
        let weight = self.spans.capacity();
        SPARE.put(self, weight);
    }

    /// Appends the values of `args` that are at hand, a `None` in place of
    /// each of the others; says whether there were others (to be set once
    /// worked out, outside the thread state).
    ///
    /// # Safety
    /// The arena has room for `args.len()` more values.
    #[inline(always)]
    pub(crate) unsafe fn write_args(&mut self, args: &[ArgRef<'_>]) -> bool {
        let len = self.args.len();
        let mut later = false;
        // SAFETY: the caller's promise: `len + args.len()` is within the
        // capacity, and each value is written before the length covers it.
        unsafe {
            let to = self.args.as_mut_ptr().add(len);
            for (i, arg) in args.iter().enumerate() {
                let slot = to.add(i);
                let value = match arg.immediate() {
                    Ok(value) => value,
                    Err(()) => {
                        later = true;
                        None
                    }
                };
                slot.write(value);
            }
            self.args.set_len(len + args.len());
        }
        later
    }

    /// The index of `inherited` in the table, adding it unless it is the
    /// last one added (children of one span share their parent's).
    pub(crate) fn intern(&mut self, inherited: Option<Arc<Inherited>>) -> u32 {
        let Some(i) = inherited else { return NONE };
        match self.inherited.last() {
            Some(last) if Arc::ptr_eq(last, &i) => (self.inherited.len() - 1) as u32,
            _ => {
                self.inherited.push(i);
                (self.inherited.len() - 1) as u32
            }
        }
    }

    /// The inherited parts at `index`.
    pub(crate) fn inherited_at(&self, index: u32) -> Option<&Arc<Inherited>> {
        self.inherited.get(index as usize)
    }

    /// The extras of the span at `slot`, made on first use.
    pub(crate) fn extras_of(&mut self, slot: usize) -> Option<&mut Extras> {
        let raw = self.spans.get_mut(slot)?;
        if raw.extras == NONE {
            raw.extras = self.extras.len() as u32;
            self.extras.push(Extras::default());
        }
        self.extras.get_mut(raw.extras as usize)
    }

    /// Adds a tag set through the API to the span at `slot`, as
    /// [`Detached::set_tag`] does. Past the limit it looks for the key in
    /// the whole arena, which only a span tagged in a loop ever pays.
    /// Returns whether repeats were merged out of the arena: the tags after
    /// them moved down, so positions taken before are stale.
    #[must_use]
    pub(crate) fn set_tag(&mut self, slot: u32, key: Key, value: Value) -> bool {
        let Some(raw) = self.spans.get_mut(slot as usize) else {
            return false;
        };
        let full = raw.tags_set == TAGS_FULL;
        if usize::from(raw.tags_set) >= crate::data::parts::TAG_LIMIT {
            if let Some(t) = self
                .tags
                .iter_mut()
                .rev()
                .find(|t| t.span == slot && t.key == key)
            {
                t.value = value;
                return false;
            }
            let removed = if full {
                0
            } else {
                let at: Vec<usize> = (0..self.tags.len())
                    .filter(|&i| self.tags[i].span == slot)
                    .collect();
                merge_repeats(&mut self.tags, &at, |t| &t.key, |t| &mut t.value)
            };
            let room = match self.spans.get_mut(slot as usize) {
                Some(raw) => room_after_merge(raw, removed),
                None => false,
            };
            if !room {
                if let Some(e) = self.extras_of(slot as usize) {
                    e.dropped_tags = e.dropped_tags.saturating_add(1);
                }
                return removed != 0;
            }
            self.push_tag(slot, key, value);
            return removed != 0;
        }
        self.push_tag(slot, key, value);
        false
    }

    fn push_tag(&mut self, slot: u32, key: Key, value: Value) {
        if let Some(raw) = self.spans.get_mut(slot as usize) {
            raw.tags_set += 1;
        }
        self.tags.push(Tag {
            span: slot,
            key,
            value,
        });
    }

    /// Adds a span that lived outside the batch, taking its parts (the
    /// record is copied, the rest moved; `d` is left empty).
    pub(crate) fn push(&mut self, d: &mut Detached) {
        let slot = self.spans.len();
        let mut raw = d.raw;
        raw.inherited = self.intern(d.inherited.take());
        raw.extras = match d.extras.take() {
            Some(e) => {
                self.extras.push(*e);
                (self.extras.len() - 1) as u32
            }
            None => NONE,
        };
        self.captured |= raw.capture != 0;
        self.spans.push(raw);
        if d.tags.capacity() != 0 {
            let span = slot as u32;
            let mut tags = std::mem::take(&mut d.tags);
            self.tags
                .extend(tags.drain(..).map(|(key, value)| Tag { span, key, value }));
            give_back(tags);
        }
        if !d.args.is_empty() {
            let args = std::mem::take(&mut d.args);
            if let Some(raw) = self.spans.last_mut() {
                raw.args = self.args.len() as u32;
            }
            self.args.extend(args);
        }
    }

    /// Moves the span at `slot` out of the batch, with its side parts and
    /// its tags, which are all at or after `tags_from` in the arena; its
    /// record stays behind marked [`GONE`]. For a span that outlives the
    /// thread's batch: an `async fn`'s that has to wait.
    #[cold]
    pub(crate) fn take_out(&mut self, slot: usize, tags_from: usize) -> Option<Detached> {
        let raw = self.spans.get_mut(slot)?;
        let mut out = *raw;
        raw.flags |= GONE;
        raw.end = Stamp::now();
        raw.extras = NONE;
        self.gone += 1;
        let inherited = self.inherited.get(out.inherited as usize).cloned();
        out.inherited = NONE;
        let extras = match std::mem::replace(&mut out.extras, NONE) {
            NONE => None,
            i => self
                .extras
                .get_mut(i as usize)
                .map(|e| Box::new(std::mem::take(e))),
        };
        let mut tags = Vec::new();
        let from = tags_from.min(self.tags.len());
        if self.tags[from..].iter().any(|t| t.span == slot as u32) {
            let rest: Vec<Tag> = self.tags.drain(from..).collect();
            for t in rest {
                if t.span == slot as u32 {
                    tags.push((t.key, t.value));
                } else {
                    self.tags.push(t);
                }
            }
        }
        let args = match std::mem::replace(&mut out.args, NONE) {
            NONE => Box::default(),
            i => {
                let from = (i as usize).min(self.args.len());
                let n = out.meta.map_or(0, |m| m.n_tags());
                let to = (from + n).min(self.args.len());
                self.args[from..to].iter_mut().map(Option::take).collect()
            }
        };
        Some(Detached {
            raw: out,
            inherited,
            extras,
            tags,
            args,
        })
    }

    /// The batch without the records marked [`GONE`].
    #[cold]
    pub(crate) fn without_gone(self) -> Batch {
        if self.gone == 0 {
            return self;
        }
        let (mut groups, _) = self.scatter(2, &mut |raw| usize::from(raw.flags & GONE != 0));
        groups.swap_remove(0)
    }

    /// Moves each span, with its side parts and tags, into the batch of its
    /// group (numbered by `group_of`; at least `groups` are returned, more
    /// if `group_of` asks). Returns the groups, and where each span went:
    /// its group and its index there. `group_of` is a `dyn` so that this
    /// one copy serves every caller: all of them are off the hot path, and
    /// each generic copy was about 5 KB of every program's binary.
    pub(crate) fn scatter(
        self,
        groups: usize,
        group_of: &mut dyn FnMut(&RawSpan) -> usize,
    ) -> (Vec<Batch>, Vec<(u32, u32)>) {
        // Each group gets the inherited parts its spans use (shared
        // handles), renumbered: old index to new, per group.
        let inherited = self.inherited;
        let mut renumbered: Vec<std::collections::HashMap<u32, u32>> = Vec::new();
        let mut out: Vec<Batch> = (0..groups).map(|_| Batch::default()).collect();
        let mut extras: Vec<Option<Extras>> = self.extras.into_iter().map(Some).collect();
        let mut args = self.args;
        let mut moved = Vec::with_capacity(self.spans.len());
        for mut raw in self.spans {
            let g = group_of(&raw);
            while out.len() <= g {
                out.push(Batch::default());
            }
            let to = &mut out[g];
            if let Some(shared) = inherited.get(raw.inherited as usize) {
                if renumbered.len() <= g {
                    renumbered.resize_with(g + 1, Default::default);
                }
                raw.inherited = *renumbered[g].entry(raw.inherited).or_insert_with(|| {
                    to.inherited.push(shared.clone());
                    (to.inherited.len() - 1) as u32
                });
            } else {
                raw.inherited = NONE;
            }
            raw.extras = match extras.get_mut(raw.extras as usize).and_then(Option::take) {
                Some(e) => {
                    to.extras.push(e);
                    (to.extras.len() - 1) as u32
                }
                None => NONE,
            };
            if raw.args != NONE {
                let n = raw.meta.map_or(0, |m| m.n_tags());
                let from = (raw.args as usize).min(args.len());
                let end = (from + n).min(args.len());
                raw.args = to.args.len() as u32;
                to.args.extend(args[from..end].iter_mut().map(Option::take));
            }
            to.captured |= raw.capture != 0;
            moved.push((g as u32, to.spans.len() as u32));
            to.spans.push(raw);
        }
        for mut tag in self.tags {
            if let Some(&(g, n)) = moved.get(tag.span as usize) {
                tag.span = n;
                out[g as usize].tags.push(tag);
            }
        }
        (out, moved)
    }

    /// Moves what `other` holds to the end of this batch, leaving it empty
    /// with its buffers kept (for its thread's next spans).
    pub(crate) fn append_drain(&mut self, other: &mut Batch) {
        let (spans, extras, args, inherited) = (
            self.spans.len() as u32,
            self.extras.len() as u32,
            self.args.len() as u32,
            self.inherited.len() as u32,
        );
        let shift = |i: u32, by: u32| if i == NONE { NONE } else { i + by };
        self.spans.extend(other.spans.drain(..).map(|mut raw| {
            raw.extras = shift(raw.extras, extras);
            raw.args = shift(raw.args, args);
            raw.inherited = shift(raw.inherited, inherited);
            raw
        }));
        self.tags.extend(other.tags.drain(..).map(|mut t| {
            t.span += spans;
            t
        }));
        self.extras.append(&mut other.extras);
        self.args.append(&mut other.args);
        self.inherited.append(&mut other.inherited);
        self.captured |= std::mem::take(&mut other.captured);
        self.gone += std::mem::take(&mut other.gone);
    }

    /// Drops what the batch holds, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.tags.clear();
        self.args.clear();
        self.extras.clear();
        self.inherited.clear();
        self.captured = false;
        self.gone = 0;
    }

    /// Moves all of `other` to the end of this batch.
    pub(crate) fn append(&mut self, other: Batch) {
        let (spans, extras, args, inherited) = (
            self.spans.len() as u32,
            self.extras.len() as u32,
            self.args.len() as u32,
            self.inherited.len() as u32,
        );
        let shift = |i: u32, by: u32| if i == NONE { NONE } else { i + by };
        self.spans.extend(other.spans.into_iter().map(|mut raw| {
            raw.extras = shift(raw.extras, extras);
            raw.args = shift(raw.args, args);
            raw.inherited = shift(raw.inherited, inherited);
            raw
        }));
        self.tags.extend(other.tags.into_iter().map(|mut t| {
            t.span += spans;
            t
        }));
        self.extras.extend(other.extras);
        self.args.extend(other.args);
        self.inherited.extend(other.inherited);
        self.captured |= other.captured;
    }

    /// Whether the span at `slot` ended in error.
    pub(crate) fn is_error(&self, slot: usize) -> bool {
        self.spans
            .get(slot)
            .and_then(|r| self.extras.get(r.extras as usize))
            .is_some_and(|e| e.status.is_error())
    }
}

/// A type name a person can read: a trait object's paths are cut to their
/// last segment (`Box<dyn Error + Send + Sync>`, not
/// `alloc::boxed::Box<dyn core::error::Error + core::marker::Send + ...>`);
/// a concrete type keeps its module path, which tells where it comes from.
fn readable_type_name(name: &'static str) -> Cow<'static, str> {
    if !name.contains("dyn ") {
        return Cow::Borrowed(name);
    }
    let last = |path: &str| path.rsplit("::").next().unwrap_or("").to_owned();
    let mut out = String::with_capacity(name.len());
    let mut path = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            out.push_str(&last(&path));
            path.clear();
            out.push(c);
        }
    }
    out.push_str(&last(&path));
    Cow::Owned(out)
}

/// An error broken into what a span records: tag `error = true`, an error
/// status with the error's text, and an `exception` event with its type,
/// message and `source()` chain. Built before the thread state is touched,
/// because formatting an error runs user code.
pub(crate) struct ErrorParts {
    type_name: Cow<'static, str>,
    message: String,
    sources: Vec<String>,
}

impl ErrorParts {
    pub(crate) fn of<E: std::error::Error + ?Sized>(error: &E) -> ErrorParts {
        ErrorParts::chain(
            std::any::type_name::<E>(),
            error.to_string(),
            error.source(),
        )
    }

    /// [`ErrorParts::of`] for an error already behind a `dyn`.
    pub(crate) fn of_dyn(error: &dyn std::error::Error, type_name: &'static str) -> ErrorParts {
        ErrorParts::chain(type_name, error.to_string(), error.source())
    }

    /// The non-generic part: one copy for every error type.
    #[inline(never)]
    fn chain(
        type_name: &'static str,
        message: String,
        mut next: Option<&dyn std::error::Error>,
    ) -> ErrorParts {
        let mut sources = Vec::new();
        while let Some(e) = next {
            sources.push(e.to_string());
            next = e.source();
            if sources.len() >= 32 {
                break; // a cyclic or absurd chain must not hang the program
            }
        }
        ErrorParts {
            type_name: Cow::Borrowed(type_name),
            message,
            sources,
        }
    }

    pub(crate) fn message(type_name: &'static str, message: String) -> ErrorParts {
        ErrorParts {
            type_name: Cow::Borrowed(type_name),
            message,
            sources: Vec::new(),
        }
    }

    /// The changes that record the error, stamped now.
    pub(crate) fn into_edits(self) -> [Edit; 3] {
        let mut fields: Vec<(Key, Value)> = Vec::with_capacity(2 + self.sources.len());
        let type_name = match self.type_name {
            Cow::Borrowed(name) => readable_type_name(name),
            owned => owned,
        };
        fields.push((Cow::Borrowed("exception.type"), Value::from(type_name)));
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
        [
            Edit::Mark(Cow::Borrowed("error"), Value::Bool(true)),
            Edit::Status(Status::error(self.message)),
            Edit::Event(Event::stamped(
                Cow::Borrowed("exception"),
                Stamp::now(),
                fields,
            )),
        ]
    }
}

#[cfg(test)]
mod type_name_tests {
    use super::readable_type_name;

    #[test]
    fn trait_objects_read_short_and_concrete_types_keep_their_paths() {
        assert_eq!(
            readable_type_name(std::any::type_name::<
                Box<dyn std::error::Error + Send + Sync>,
            >()),
            "Box<dyn Error + Send + Sync>"
        );
        assert_eq!(
            readable_type_name(std::any::type_name::<std::io::Error>()),
            std::any::type_name::<std::io::Error>()
        );
        assert_eq!(
            readable_type_name("alloc::sync::Arc<dyn my::Trait<x::Y>>"),
            "Arc<dyn Trait<Y>>"
        );
    }
}

/// Model checks of the spare pool (`bash scripts/loom.sh`).
#[cfg(all(test, tracekit_loom))]
mod loom_models {
    use super::Pool;
    use loom::sync::Arc;
    use loom::thread;

    /// Threads taking and giving back at once never wait for one another,
    /// never take one item twice, and never leave the pool over its bounds
    /// or its weight miscounted.
    #[test]
    fn loom_the_pool_stays_within_its_bounds_and_counts_its_weight() {
        loom::model(|| {
            let pool = Arc::new(Pool::<u32>::new(2, 5));
            pool.put(1, 2);
            let workers: Vec<_> = (0..2u32)
                .map(|w| {
                    let pool = pool.clone();
                    thread::spawn(move || {
                        let got = pool.take();
                        pool.put(10 + w, 3);
                        got
                    })
                })
                .collect();
            let got: Vec<Option<u32>> = workers.into_iter().map(|t| t.join().unwrap()).collect();
            // The one spare item went to one worker at most.
            assert!(got.iter().filter(|g| **g == Some(1)).count() <= 1);
            let inner = pool.inner.try_lock().unwrap();
            assert!(inner.items.len() <= 2);
            assert!(inner.weight <= 5);
            assert_eq!(
                inner.weight,
                inner.items.iter().map(|(_, w)| w).sum::<usize>()
            );
        });
    }
}
