//! A thread's batch of spans: the records, the tags in one arena beside
//! them, and the side tables the records point into; handed to the
//! collector whole, its buffers reused through a bounded pool of spares.

use super::detached::*;
use super::raw::*;
use crate::data::clock::Stamp;
use crate::data::value::{ArgRef, Key, Value};
use std::sync::Arc;

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

impl<T> PoolInner<T> {
    const EMPTY: PoolInner<T> = PoolInner {
        items: Vec::new(),
        weight: 0,
    };
}

impl<T> Pool<T> {
    #[cfg(not(tracekit_loom))]
    pub(crate) const fn new(max_items: usize, max_weight: usize) -> Pool<T> {
        Pool {
            inner: crate::data::sync::Mutex::new(PoolInner::EMPTY),
            max_items,
            max_weight,
        }
    }

    #[cfg(tracekit_loom)]
    pub(crate) fn new(max_items: usize, max_weight: usize) -> Pool<T> {
        Pool {
            inner: crate::data::sync::Mutex::new(PoolInner::EMPTY),
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
        self.clear();
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
        if is_error_tag(&key, &value) {
            if let Some(e) = self.extras_of(slot as usize) {
                e.fail_unset();
            }
        }
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
            request: None,
            failed: None,
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
    /// a generic copy for each would weigh on every program's binary.
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
