//! This thread's tracing state: the stack of active frames and the batch of
//! spans recorded here since the last hand-over to the collector.
//!
//! - A *local* span (`#[trace_fn]` on a sync fn, `start_active_span`) is
//!   written into the batch when it starts and finished there, in place,
//!   when its guard drops. Its frame only says which record is its own.
//! - An *owned* span ([`Span`](crate::Span), the span of an `async fn`)
//!   keeps its record itself and joins the batch when it finishes. While it
//!   is current (entered, or its future being polled) a *borrowed* frame
//!   stands for it; changes made through `current_span()` then wait beside
//!   the stack until the frame is popped and the owner takes them, so the
//!   thread state never points into memory it does not own.
//! - An *attached* frame is a context from elsewhere: ids to be a parent,
//!   nothing to record into.
//!
//! When the last local span of the thread closes, everything in the batch
//! has finished, and it goes to the collector in one hand-over. A thread
//! that stays inside a long span hands over what finished under it every
//! [`MAX_AGE_TICKS`] or [`MAX_BATCH_SPANS`].

use crate::collect::collector;
use crate::data::clock::Stamp;
use crate::data::parts::SpanKind;
use crate::data::raw::{
    Batch, DEBUG, Detached, Dropped, Edit, Extras, GONE, Inherited, NONE, RECORD, RECORDS, RawSpan,
    SAMPLED, Tag,
};
use crate::data::span_context::SpanContext;
use crate::data::trace_point::Point;
use crate::data::value::{ArgRef, Key, Value};
use crate::sampling::filter;
use crate::sampling::sampler::{self, SamplingInput};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// Names a frame for the guard that pops it. 64 bits so that it cannot wrap
/// in practice (a new span every nanosecond wraps it after 584 years): a
/// long-lived guard never addresses a newer frame.
pub(crate) type Token = u64;

/// What a frame that carries its own ids stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// A local span that is not sampled: ids to hand down, nothing recorded.
    Local,
    /// An owned span that keeps its own record.
    Borrowed,
    /// A context from elsewhere.
    Attached,
}

/// An active span or context on this thread: 16 bytes of plain data, so
/// pushing and popping the common frame (a recorded local span) is a few
/// stores and loads with nothing to drop.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) token: Token,
    /// A recorded local span's slot in the batch, or a carried frame's
    /// index in [`State::carried`].
    at: u32,
    /// The frame's ids live in `State::carried`, not in a record.
    carried: bool,
    /// Found left on the stack by a guard held across `.await`, and tagged.
    held_across_await: bool,
    /// [`QUIET`] before this frame was pushed, put back when it is popped.
    quiet_below: bool,
}

/// What a frame stands for, as read from the state.
pub(crate) enum FrameKind<'a> {
    /// A sampled local span: its ids are in its record, at this slot of the
    /// batch. The common frame, and the cheapest to push.
    Recorded(u32),
    /// Any other frame carries what a child needs.
    Carried(&'a Carried),
}

/// A frame about to be pushed.
enum NewFrame {
    Recorded(u32),
    Carried(Carried),
}

/// The ids and inheritance of a frame without a record in the batch.
pub(crate) struct Carried {
    pub(crate) trace_id: TraceId,
    /// `None` for an attached context without a span.
    pub(crate) span_id: Option<SpanId>,
    pub(crate) inherited: Option<Arc<Inherited>>,
    pub(crate) capture: u32,
    pub(crate) flags: u8,
    pub(crate) role: Role,
    pub(crate) kind: SpanKind,
    /// The span lives in another process.
    pub(crate) remote: bool,
    /// Changes to a borrowed frame's span, until its owner takes them.
    pub(crate) queued: Queued,
}

impl Carried {
    /// Whether the frame counts as an open span of this thread, so that
    /// what finishes under it waits for it in the batch rather than being
    /// handed over at once: a local span, or an owned span that records
    /// while it is entered (a request's server span, for one poll).
    fn counted(&self) -> bool {
        self.role == Role::Local || (self.role == Role::Borrowed && self.flags & RECORDS != 0)
    }
}

/// Changes made to an owned span while it is current on this thread (an
/// entered [`Span`](crate::Span), an `async fn` after its first wait),
/// held until its owner takes them back. The span's own limits apply as
/// each change is queued, not when the owner takes them: however long the
/// span stays entered, the queue holds at most `TAG_LIMIT` tags (a key
/// already queued takes its new value in place), `EVENT_LIMIT` events and
/// `LINK_LIMIT` links, one status, one change of baggage, and one mark of
/// each key; what is dropped is counted and handed back with the rest.
#[derive(Default)]
pub(crate) struct Queued {
    edits: Vec<Edit>,
    tags: u32,
    events: u32,
    links: u32,
    dropped: Dropped,
}

impl Queued {
    /// Queues `edit` within the limits. Each call looks through the queue
    /// at most once, and the queue is bounded, so a span entered for a
    /// million changes costs a million bounded steps.
    pub(crate) fn push(&mut self, edit: Edit) {
        use crate::data::parts::{EVENT_LIMIT, LINK_LIMIT, TAG_LIMIT};
        match edit {
            Edit::Tag(key, value) => {
                if (self.tags as usize) < TAG_LIMIT {
                    self.tags += 1;
                    self.edits.push(Edit::Tag(key, value));
                    return;
                }
                if let Some(slot) = self.last_mut(|e| matches!(e, Edit::Tag(k, _) if *k == key)) {
                    *slot = Edit::Tag(key, value);
                    return;
                }
                // Full of distinct keys? Repeats set earlier make room.
                if self.merge_tag_repeats() {
                    self.tags += 1;
                    self.edits.push(Edit::Tag(key, value));
                } else {
                    self.dropped.tags = self.dropped.tags.saturating_add(1);
                }
            }
            Edit::Event(e) if (self.events as usize) < EVENT_LIMIT => {
                self.events += 1;
                self.edits.push(Edit::Event(e));
            }
            Edit::Event(_) => self.dropped.events = self.dropped.events.saturating_add(1),
            Edit::Link(l) if (self.links as usize) < LINK_LIMIT => {
                self.links += 1;
                self.edits.push(Edit::Link(l));
            }
            Edit::Link(_) => self.dropped.links = self.dropped.links.saturating_add(1),
            Edit::Mark(key, value) => {
                match self.last_mut(|e| matches!(e, Edit::Mark(k, _) if *k == key)) {
                    Some(slot) => *slot = Edit::Mark(key, value),
                    None => self.edits.push(Edit::Mark(key, value)),
                }
            }
            Edit::Status(status) => match self.last_mut(|e| matches!(e, Edit::Status(_))) {
                Some(slot) => *slot = Edit::Status(status),
                None => self.edits.push(Edit::Status(status)),
            },
            Edit::Inherited(i) => match self.last_mut(|e| matches!(e, Edit::Inherited(_))) {
                Some(slot) => *slot = Edit::Inherited(i),
                None => self.edits.push(Edit::Inherited(i)),
            },
            Edit::Dropped(d) => self.dropped.add(d),
        }
    }

    fn last_mut(&mut self, which: impl Fn(&Edit) -> bool) -> Option<&mut Edit> {
        self.edits.iter_mut().rev().find(|e| which(e))
    }

    /// Keeps the first of each queued tag key, with its last value, as a
    /// span at its limit does. Whether any went.
    #[cold]
    fn merge_tag_repeats(&mut self) -> bool {
        let before = self.edits.len();
        let mut kept: Vec<(Key, usize)> = Vec::new();
        let mut out: Vec<Edit> = Vec::with_capacity(before);
        for edit in std::mem::take(&mut self.edits) {
            match edit {
                Edit::Tag(key, value) => match kept.iter().find(|(k, _)| *k == key) {
                    Some(&(_, at)) => out[at] = Edit::Tag(key, value),
                    None => {
                        kept.push((key.clone(), out.len()));
                        out.push(Edit::Tag(key, value));
                    }
                },
                other => out.push(other),
            }
        }
        self.tags = kept.len() as u32;
        self.edits = out;
        self.edits.len() < before
    }

    /// The changes, in the order made, with what was dropped counted last.
    pub(crate) fn into_edits(self) -> Vec<Edit> {
        let mut edits = self.edits;
        if self.dropped != Dropped::default() {
            edits.push(Edit::Dropped(self.dropped));
        }
        edits
    }
}

/// How the span of an `async fn` call started; see [`State::start_async`].
pub(crate) enum AsyncStart {
    /// No span: switched off, or under a span that records nothing.
    Nothing,
    /// A local span of this thread, recorded in its batch.
    Local {
        token: Token,
        /// [`State::epoch`] at the start, and where the span's tags begin.
        epoch: u32,
        tags_from: u32,
    },
    /// A span that records nothing but carries ids.
    Owned(Detached),
}

/// What is left to do after a pop's fast path.
pub(crate) enum PopFast {
    /// Nothing: the span is finished.
    Done,
    /// The span is finished; the batch is complete and goes to the collector.
    HandOver,
    /// The span is finished; what finished under a long-lived span goes.
    HandOverFinished,
    /// Not the common case: the general path pops.
    General,
}

/// What a new span inherits: nothing, its parent's entry in this batch's
/// table, or a shared copy.
pub(crate) enum Inherit {
    Nothing,
    InBatch(u32),
    Shared(Arc<Inherited>),
}

/// Where a new span stands in its trace: everything it takes from its parent.
pub(crate) struct Lineage {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) remote_parent: bool,
    pub(crate) flags: u8,
    pub(crate) capture: u32,
    pub(crate) inherit: Inherit,
    /// The sampler's `sampler.type` and `sampler.param`, for a sampled span
    /// where a trace starts or enters this process.
    pub(crate) sampler_tags: Option<(&'static str, Value)>,
}

impl Lineage {
    /// The first span of a new trace, recorded as the sampler decides (or
    /// as `forced`: a `sampling.priority` given at start).
    pub(crate) fn root(capture: u32, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        let mut lineage = Lineage {
            // All 128 bits random: W3C's random-trace-id flag holds.
            trace_id: TraceId::random(),
            parent_id: None,
            remote_parent: false,
            flags: crate::data::raw::RANDOM,
            capture,
            inherit: Inherit::Nothing,
            sampler_tags: None,
        };
        lineage.decide(None, name, kind, forced);
        lineage
    }

    /// A span continuing `parent` given explicitly (a remote parent from
    /// request headers, or `child_of`): the sampler decides again, and a
    /// debug parent is always followed.
    pub(crate) fn continuing(
        parent: &SpanContext,
        capture: u32,
        name: &str,
        kind: SpanKind,
        forced: Option<bool>,
    ) -> Lineage {
        let mut lineage = Lineage {
            trace_id: parent.trace_id,
            parent_id: Some(parent.span_id),
            remote_parent: parent.remote,
            flags: parent.flags,
            capture,
            inherit: match &parent.inherited {
                Some(i) => Inherit::Shared(i.clone()),
                None => Inherit::Nothing,
            },
            sampler_tags: None,
        };
        if parent.flags & DEBUG != 0 && forced.is_none() {
            lineage.flags |= SAMPLED;
        } else {
            lineage.decide(Some(parent), name, kind, forced);
        }
        lineage
    }

    /// Sets the sampled flag as decided; a trace head sampling drops is
    /// still recorded (record-only) when tail keep wants it.
    fn decide(
        &mut self,
        parent: Option<&SpanContext>,
        name: &str,
        kind: SpanKind,
        forced: Option<bool>,
    ) {
        let keep = match forced {
            Some(f) => {
                self.force(f);
                return;
            }
            None if !filter::is_enabled() => false,
            None => {
                let decision = sampler::decide(&SamplingInput {
                    parent,
                    trace_id: self.trace_id,
                    name,
                    kind,
                });
                let keep = decision.is_sampled();
                // Jaeger clients tag where the decision is made, for a new
                // trace; a span following its parent's flag says nothing.
                if keep && parent.is_none() {
                    self.sampler_tags = Some(decision.into_tags());
                }
                keep
            }
        };
        self.flags &= !RECORDS;
        if keep {
            self.flags |= SAMPLED;
        } else if collector::tail_keep_enabled() && filter::is_enabled() {
            self.flags |= RECORD;
        } else {
            self.flags &= !DEBUG;
        }
    }

    /// Applies a forced decision: sampled and debug, or not recorded.
    pub(crate) fn force(&mut self, sampled: bool) {
        if sampled {
            self.flags = (self.flags & !RECORD) | SAMPLED | DEBUG;
        } else {
            self.flags &= !(RECORDS | DEBUG);
        }
        self.sampler_tags = None;
    }

    /// Records nothing (tracing is switched off), ids still handed down.
    pub(crate) fn unrecorded(&mut self) {
        self.flags &= !RECORDS;
        self.sampler_tags = None;
    }

    /// The record of a new span of this lineage (its side parts unset).
    #[inline]
    fn raw(
        &self,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> RawSpan {
        RawSpan {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_id: self.parent_id,
            start,
            end: Stamp::OPEN,
            name,
            meta,
            inherited: NONE,
            extras: NONE,
            args: NONE,
            capture: self.capture,
            flags: self.flags,
            kind,
            remote_parent: self.remote_parent,
            tags_set: 0,
        }
    }
}

/// Hand over what finished under a long-lived span once the first of it
/// finished this many ticks ago (about 30-100 ms of TSC, 100 ms of the
/// monotonic fallback)...
const MAX_AGE_TICKS: u64 = 100_000_000;
/// ...or once this many spans wait.
const MAX_BATCH_SPANS: usize = 1024;
/// A hand-over of at most this many spans goes to the thread's outbox;
/// see [`State::hand_over`].
const STASH_SPANS: usize = 32;

pub(crate) struct State {
    pub(crate) stack: Vec<Frame>,
    /// The ids of the carried frames on `stack`, in stack order.
    carried: Vec<Carried>,
    batch: Batch,
    next_token: Token,
    /// Frames holding local spans: the batch is complete when none is left.
    locals: u32,
    /// When what finished since the last hand-over goes, in ticks: the
    /// first finish's tick plus [`MAX_AGE_TICKS`]; 0 for nothing finished.
    hand_over_at: u64,
    /// The `testing::capture` this thread is running, 0 for none.
    pub(crate) capture: u32,
    /// The thread's tear-down is registered (see [`State::ensure_tear_down`]).
    tear_down_registered: bool,
    /// Counts the times what is in the batch was renumbered: hand-overs,
    /// and merges of a span's repeated tags out of the arena.
    epoch: u32,
    /// Where finished spans wait for the collector's next tick; made when
    /// the thread first hands spans over.
    outbox: Option<Arc<collector::Outbox>>,
}

impl State {
    const fn new() -> State {
        State {
            stack: Vec::new(),
            carried: Vec::new(),
            batch: Batch {
                spans: Vec::new(),
                tags: Vec::new(),
                args: Vec::new(),
                extras: Vec::new(),
                inherited: Vec::new(),
                captured: false,
                gone: 0,
            },
            next_token: 0,
            locals: 0,
            hand_over_at: 0,
            capture: 0,
            tear_down_registered: false,
            epoch: 0,
            outbox: None,
        }
    }

    /// What the frame `f` stands for.
    #[inline]
    pub(crate) fn kind(&self, f: &Frame) -> FrameKind<'_> {
        if f.carried {
            FrameKind::Carried(&self.carried[f.at as usize])
        } else {
            FrameKind::Recorded(f.at)
        }
    }

    /// What the frame at `index` stands for.
    #[inline]
    fn kind_at(&self, index: usize) -> FrameKind<'_> {
        self.kind(&self.stack[index])
    }

    /// The carried ids of the frame at `index`, if it has any.
    fn carried_mut(&mut self, index: usize) -> Option<&mut Carried> {
        let f = self.stack[index];
        f.carried.then(|| &mut self.carried[f.at as usize])
    }

    /// Makes sure the thread's spans are finished and handed over when it
    /// ends. Every path that first gives the state something to hold (a
    /// frame, a finished span) passes here; the fast paths only act on a
    /// frame already pushed, so they never need to.
    #[inline]
    fn ensure_tear_down(&mut self) {
        if !self.tear_down_registered {
            self.register_tear_down();
        }
    }

    #[cold]
    #[inline(never)]
    fn register_tear_down(&mut self) {
        // Touching the guard registers its destructor. When the thread is
        // already past its own (a span started by a later thread-local's
        // destructor), the span is still recorded and handed over when it
        // finishes; only the state's buffers are not freed.
        let _ = TEAR_DOWN.try_with(|_| ());
        self.tear_down_registered = true;
    }

    /// The capture a span started here belongs to: the thread's own, else
    /// its parent's.
    #[inline]
    fn capture_with(&self, parent: u32) -> u32 {
        if self.capture != 0 {
            self.capture
        } else {
            parent
        }
    }

    /// The capture of a span started here under the current frame.
    pub(crate) fn capture_here(&self) -> u32 {
        match self.stack.last() {
            Some(f) => self.capture_with(self.frame_capture(f)),
            None => self.capture,
        }
    }

    fn frame_capture(&self, f: &Frame) -> u32 {
        match self.kind(f) {
            FrameKind::Recorded(slot) => {
                self.batch.spans.get(slot as usize).map_or(0, |r| r.capture)
            }
            FrameKind::Carried(c) => c.capture,
        }
    }

    /// The lineage of a child of the current frame, or of a new root
    /// (named `name`, for the sampler).
    #[inline]
    pub(crate) fn lineage(&self, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        let mut lineage = self.child_lineage(name, kind, forced);
        if let (Some(f), Some(_)) = (forced, lineage.parent_id) {
            lineage.force(f);
        }
        lineage
    }

    #[inline]
    fn child_lineage(&self, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        match self.stack.last().map(|f| self.kind(f)) {
            Some(FrameKind::Recorded(slot)) => match self.batch.spans.get(slot as usize) {
                Some(p) => Lineage {
                    trace_id: p.trace_id,
                    parent_id: Some(p.span_id),
                    remote_parent: false,
                    flags: p.flags,
                    capture: self.capture_with(p.capture),
                    inherit: match p.inherited {
                        NONE => Inherit::Nothing,
                        i => Inherit::InBatch(i),
                    },
                    sampler_tags: None,
                },
                None => Lineage::root(self.capture, name, kind, forced),
            },
            Some(FrameKind::Carried(c)) => match c.span_id {
                Some(id) => Lineage {
                    trace_id: c.trace_id,
                    parent_id: Some(id),
                    remote_parent: c.remote,
                    flags: c.flags,
                    capture: self.capture_with(c.capture),
                    inherit: match &c.inherited {
                        Some(i) => Inherit::Shared(i.clone()),
                        None => Inherit::Nothing,
                    },
                    sampler_tags: None,
                },
                None => Lineage::root(self.capture_with(c.capture), name, kind, forced),
            },
            None => Lineage::root(self.capture, name, kind, forced),
        }
    }

    fn shared(&self, inherit: Inherit) -> Option<Arc<Inherited>> {
        match inherit {
            Inherit::Nothing => None,
            Inherit::InBatch(i) => self.batch.inherited_at(i).cloned(),
            Inherit::Shared(i) => Some(i),
        }
    }

    #[inline]
    fn push(&mut self, new: NewFrame, local: bool) -> Token {
        self.ensure_tear_down();
        self.next_token += 1;
        self.locals += u32::from(local);
        let (at, carried, quiet) = match new {
            NewFrame::Recorded(slot) => (slot, false, false),
            NewFrame::Carried(c) => {
                let quiet = c.flags & RECORDS == 0 && c.span_id.is_some();
                self.carried.push(c);
                ((self.carried.len() - 1) as u32, true, quiet)
            }
        };
        self.stack.push(Frame {
            token: self.next_token,
            at,
            carried,
            held_across_await: false,
            quiet_below: QUIET.replace(quiet),
        });
        self.next_token
    }

    /// The token of the newest frame pushed so far.
    pub(crate) fn newest_token(&self) -> Token {
        self.next_token
    }

    /// Advances the tokens as if `n` frames had been pushed (a test hook).
    pub(crate) fn skip_tokens(&mut self, n: u64) {
        self.next_token = self.next_token.saturating_add(n);
    }

    /// Starts a local span of `lineage`: its record goes into the batch now
    /// (if the trace is sampled), its frame onto the stack.
    #[inline]
    pub(crate) fn start_local(
        &mut self,
        lineage: Lineage,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> Token {
        let mut raw = lineage.raw(name, meta, kind, start);
        if raw.records() {
            raw.inherited = match lineage.inherit {
                Inherit::Nothing => NONE,
                Inherit::InBatch(i) => i,
                Inherit::Shared(i) => self.batch.intern(Some(i)),
            };
            let slot = self.batch.spans.len() as u32;
            self.batch.captured |= raw.capture != 0;
            self.batch.spans.push(raw);
            if let Some(tags) = lineage.sampler_tags {
                let (kind, param) = tags;
                self.batch.tags.push(Tag {
                    span: slot,
                    key: Cow::Borrowed(sampler::TYPE_TAG),
                    value: Value::from_static(kind),
                });
                self.batch.tags.push(Tag {
                    span: slot,
                    key: Cow::Borrowed(sampler::PARAM_TAG),
                    value: param,
                });
            }
            return self.push(NewFrame::Recorded(slot), true);
        }
        let carried = Carried {
            trace_id: raw.trace_id,
            span_id: Some(raw.span_id),
            inherited: self.shared(lineage.inherit),
            capture: raw.capture,
            flags: raw.flags,
            role: Role::Local,
            kind,
            remote: false,
            queued: Queued::default(),
        };
        self.push(NewFrame::Carried(carried), true)
    }

    /// `#[trace_fn]`'s start: a child of the current span (or a new root),
    /// active until [`State::pop_local`], with the values of its arguments
    /// and fields. Returns its token (0 for none) and whether some values
    /// are still to be worked out outside the state
    /// ([`crate::api::span::record_later`]). The common case, a child of a local
    /// span recorded in this batch, is written out straight; everything
    /// else takes the general path.
    #[inline(always)]
    pub(crate) fn enter(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (Token, bool) {
        match self.enter_fast(meta, args) {
            Some(started) => started,
            None => self.enter_general(meta, args),
        }
    }

    /// [`State::enter`]'s common case, or `None`. It allocates nothing,
    /// calls nothing and cannot panic (see [`enter_fast`]).
    #[inline(always)]
    fn enter_fast(&mut self, meta: Point, args: &[ArgRef<'_>]) -> Option<(Token, bool)> {
        let spans = self.batch.spans.len();
        let &Frame {
            at: slot,
            carried: false,
            ..
        } = self.stack.last()?
        else {
            return None;
        };
        // Room for the record, the frame and the values is checked first,
        // so that nothing between reading the parent and writing the child
        // can grow a buffer; the general path grows them.
        if (slot as usize) >= spans
            || spans >= self.batch.spans.capacity()
            || self.stack.len() >= self.stack.capacity()
            || self.batch.args.capacity() - self.batch.args.len() < args.len()
        {
            return None;
        }
        let span_id = crate::data::id::next_span_id_inline()?;
        let start = Stamp::now_inline()?;
        // Nothing can fail from here on. The frame first, then the record
        // field by field, then the values: few values are live at once.
        self.next_token += 1;
        self.locals += 1;
        let frame = Frame {
            token: self.next_token,
            at: spans as u32,
            carried: false,
            held_across_await: false,
            // The top frame is a recorded span, so QUIET is false and stays
            // false.
            quiet_below: false,
        };
        let depth = self.stack.len();
        let args_at = if args.is_empty() {
            NONE
        } else {
            self.batch.args.len() as u32
        };
        // SAFETY: `depth < capacity` and `spans < capacity` were checked
        // above: each write is in room the vector owns, before its length
        // covers it. The parent (`slot < spans`) is another element than
        // the one written.
        unsafe {
            self.stack.as_mut_ptr().add(depth).write(frame);
            self.stack.set_len(depth + 1);
            let base = self.batch.spans.as_mut_ptr();
            let p = base.add(slot as usize).cast_const();
            let c = base.add(spans);
            (&raw mut (*c).trace_id).write((*p).trace_id);
            (&raw mut (*c).span_id).write(span_id);
            (&raw mut (*c).parent_id).write(Some((*p).span_id));
            (&raw mut (*c).start).write(start);
            (&raw mut (*c).end).write(Stamp::OPEN);
            (&raw mut (*c).name).write(meta.name());
            (&raw mut (*c).meta).write(Some(meta));
            (&raw mut (*c).inherited).write((*p).inherited);
            (&raw mut (*c).extras).write(NONE);
            (&raw mut (*c).args).write(args_at);
            // The thread's capture, else the parent's; a parent in this
            // batch already marked it as holding a capture's spans.
            let capture = if self.capture != 0 {
                self.batch.captured = true;
                self.capture
            } else {
                (*p).capture
            };
            (&raw mut (*c).capture).write(capture);
            (&raw mut (*c).flags).write((*p).flags);
            (&raw mut (*c).kind).write(meta.kind());
            (&raw mut (*c).remote_parent).write(false);
            (&raw mut (*c).tags_set).write(0);
            self.batch.spans.set_len(spans + 1);
        }
        // SAFETY: room for `args.len()` values was checked above.
        let later = unsafe { self.batch.write_args(args) };
        Some((self.next_token, later))
    }

    #[inline(never)]
    fn enter_general(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (Token, bool) {
        // A child of a span that records nothing opens no frame: it would
        // hand down the same trace, flags and baggage, and skipping it keeps
        // an unsampled call to a few loads. Context taken inside it is its
        // parent's.
        if let Some(FrameKind::Carried(c)) = self.stack.last().map(|f| self.kind(f)) {
            if c.flags & RECORDS == 0 && c.span_id.is_some() {
                return (0, false);
            }
        }
        let lineage = self.lineage(meta.name(), meta.kind(), None);
        let recording = lineage.flags & RECORDS != 0;
        let token = self.start_local(lineage, meta.name(), Some(meta), meta.kind(), Stamp::now());
        let mut later = false;
        if recording && !args.is_empty() {
            // The new record is the batch's last.
            self.batch.args.reserve(args.len());
            let at = self.batch.args.len() as u32;
            if let Some(raw) = self.batch.spans.last_mut() {
                raw.args = at;
            }
            // SAFETY: room for `args.len()` values was reserved above.
            later = unsafe { self.batch.write_args(args) };
        }
        (token, later)
    }

    /// Sets the values of the arguments and fields of the span `token`
    /// that were worked out after it started, by their position.
    pub(crate) fn set_args_later(&mut self, token: Token, values: Vec<(usize, Value)>) {
        let Some(FrameKind::Recorded(slot)) = self.find(token).map(|i| self.kind_at(i)) else {
            return;
        };
        let Some(start) = self.batch.spans.get(slot as usize).map(|r| r.args) else {
            return;
        };
        if start == NONE {
            return;
        }
        for (i, v) in values {
            if let Some(slot) = self.batch.args.get_mut(start as usize + i) {
                *slot = Some(v);
            }
        }
    }

    /// Starts a span that lives outside the batch until it finishes.
    pub(crate) fn start_detached(
        &self,
        lineage: Lineage,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> Detached {
        let raw = lineage.raw(name, meta, kind, start);
        let tags = match lineage.sampler_tags {
            Some((kind, param)) => {
                let mut tags = crate::data::raw::tag_vec();
                tags.push((Cow::Borrowed(sampler::TYPE_TAG), Value::from_static(kind)));
                tags.push((Cow::Borrowed(sampler::PARAM_TAG), param));
                tags
            }
            None => Vec::new(),
        };
        Detached {
            raw,
            inherited: self.shared(lineage.inherit),
            extras: None,
            tags,
            args: Box::default(),
        }
    }

    /// Makes a detached span local to this thread (it finishes here, with
    /// its guard): into the batch, onto the stack.
    pub(crate) fn adopt(&mut self, d: Detached) -> Token {
        if !d.raw.records() {
            let carried = Carried {
                trace_id: d.raw.trace_id,
                span_id: Some(d.raw.span_id),
                inherited: d.inherited,
                capture: d.raw.capture,
                flags: d.raw.flags,
                role: Role::Local,
                kind: d.raw.kind,
                remote: false,
                queued: Queued::default(),
            };
            return self.push(NewFrame::Carried(carried), true);
        }
        let slot = self.batch.spans.len() as u32;
        let mut d = d;
        self.batch.push(&mut d);
        self.push(NewFrame::Recorded(slot), true)
    }

    /// Makes an owned span current; its record stays with its owner.
    #[inline]
    pub(crate) fn push_borrowed(&mut self, d: &Detached) -> Token {
        let carried = Carried {
            trace_id: d.raw.trace_id,
            span_id: Some(d.raw.span_id),
            inherited: d.inherited.clone(),
            capture: d.raw.capture,
            flags: d.raw.flags,
            role: Role::Borrowed,
            kind: d.raw.kind,
            remote: false,
            queued: Queued::default(),
        };
        let counted = carried.counted();
        self.push(NewFrame::Carried(carried), counted)
    }

    /// Makes a context from elsewhere current. `open`: it is a span of this
    /// process that stays open while attached, counted as a local span so
    /// that what finishes under it leaves in one batch when it is detached.
    pub(crate) fn push_attached(
        &mut self,
        cx: Option<SpanContext>,
        capture: u32,
        open: bool,
    ) -> Token {
        let role = if open { Role::Local } else { Role::Attached };
        let carried = match cx {
            Some(cx) => Carried {
                trace_id: cx.trace_id,
                span_id: Some(cx.span_id),
                inherited: cx.inherited,
                capture,
                flags: cx.flags,
                role,
                kind: SpanKind::Internal,
                remote: cx.remote,
                queued: Queued::default(),
            },
            None => Carried {
                trace_id: TraceId::from_u128(1).unwrap_or_else(TraceId::random),
                span_id: None,
                inherited: None,
                capture,
                flags: 0,
                role,
                kind: SpanKind::Internal,
                remote: false,
                queued: Queued::default(),
            },
        };
        self.push(NewFrame::Carried(carried), open)
    }

    /// The index of the frame with this token, searched from the top.
    #[inline]
    pub(crate) fn find(&self, token: Token) -> Option<usize> {
        match self.stack.last() {
            Some(top) if top.token == token => Some(self.stack.len() - 1),
            _ => self.stack.iter().rposition(|f| f.token == token),
        }
    }

    /// Whether changes made to the frame at `index` are recorded.
    #[inline]
    pub(crate) fn is_recording(&self, index: usize) -> bool {
        match self.kind_at(index) {
            FrameKind::Recorded(_) => true,
            FrameKind::Carried(c) => c.role == Role::Borrowed && c.flags & RECORDS != 0,
        }
    }

    /// The context of the frame at `index`; `None` for an attached empty one.
    pub(crate) fn span_context(&self, index: usize) -> Option<SpanContext> {
        match self.kind_at(index) {
            FrameKind::Recorded(slot) => {
                let raw = self.batch.spans.get(slot as usize)?;
                Some(SpanContext::local(
                    raw.trace_id,
                    raw.span_id,
                    raw.flags,
                    false,
                    self.batch.inherited_at(raw.inherited).cloned(),
                ))
            }
            FrameKind::Carried(c) => Some(SpanContext::local(
                c.trace_id,
                c.span_id?,
                c.flags,
                c.remote,
                c.inherited.clone(),
            )),
        }
    }

    /// The request id of the frame at `index`, when it has an acceptable
    /// one; no context is made for it (see [`crate::data::request_id::of`]).
    pub(crate) fn request_id(&self, index: usize) -> Option<String> {
        let (baggage, flags, trace) = match self.kind_at(index) {
            FrameKind::Recorded(slot) => {
                let raw = self.batch.spans.get(slot as usize)?;
                let inherited = self.batch.inherited_at(raw.inherited);
                (inherited.map(|i| &i.baggage), raw.flags, raw.trace_id)
            }
            FrameKind::Carried(c) => (
                c.inherited.as_deref().map(|i| &i.baggage),
                c.flags,
                c.trace_id,
            ),
        };
        let mut buf = [0; crate::data::request_id::DERIVED_LEN];
        crate::data::request_id::of(baggage, flags, trace, &mut buf)
            .filter(|id| crate::data::request_id::is_acceptable(id))
            .map(str::to_owned)
    }

    /// The capture of the frame at `index`.
    pub(crate) fn capture_of(&self, index: usize) -> u32 {
        self.frame_capture(&self.stack[index])
    }

    /// The kind of the span of the frame at `index`.
    pub(crate) fn kind_of(&self, index: usize) -> Option<SpanKind> {
        match self.kind_at(index) {
            FrameKind::Recorded(slot) => self.batch.spans.get(slot as usize).map(|r| r.kind),
            FrameKind::Carried(c) => (c.role != Role::Attached).then_some(c.kind),
        }
    }

    /// Records a change to the span of the frame at `index`.
    pub(crate) fn edit(&mut self, index: usize, edit: Edit) {
        let slot = self.stack[index].at;
        match self.carried_mut(index) {
            None => match edit {
                Edit::Tag(key, value) => {
                    if self.batch.set_tag(slot, key, value) {
                        // Tags moved down the arena: where an `async fn`
                        // found its own tags to take out is stale.
                        self.epoch = self.epoch.wrapping_add(1);
                    }
                }
                Edit::Mark(key, value) => self.batch.tags.push(Tag {
                    span: slot,
                    key,
                    value,
                }),
                Edit::Inherited(i) => {
                    let index = self.batch.intern(i);
                    if let Some(raw) = self.batch.spans.get_mut(slot as usize) {
                        raw.inherited = index;
                    }
                }
                other => {
                    if let Some(extras) = self.batch.extras_of(slot as usize) {
                        extras.apply(other);
                    }
                }
            },
            Some(c) => {
                if let Edit::Inherited(i) = &edit {
                    c.inherited = i.clone();
                }
                if c.role == Role::Borrowed && c.flags & RECORDS != 0 {
                    c.queued.push(edit);
                }
            }
        }
    }

    /// Tags the span of the top frame.
    pub(crate) fn add_tags(&mut self, tags: Vec<(Key, Value)>) {
        if let Some(top) = self.stack.len().checked_sub(1) {
            for (key, value) in tags {
                self.edit(top, Edit::Tag(key, value));
            }
        }
    }

    /// Sets the name or adds links to the local span of the top frame.
    pub(crate) fn top_extras(&mut self) -> Option<&mut Extras> {
        match *self.stack.last()? {
            Frame {
                at: slot,
                carried: false,
                ..
            } => self.batch.extras_of(slot as usize),
            _ => None,
        }
    }

    /// Sets the baggage item on the frame at `index` (and its span).
    pub(crate) fn set_baggage(&mut self, index: usize, key: String, value: String) {
        let current = match self.kind_at(index) {
            FrameKind::Recorded(slot) => self
                .batch
                .spans
                .get(slot as usize)
                .and_then(|r| self.batch.inherited_at(r.inherited)),
            FrameKind::Carried(c) => c.inherited.as_ref(),
        };
        let mut inherited = current.map(|i| (**i).clone()).unwrap_or_default();
        inherited.baggage.set(key, value);
        self.edit(index, Edit::Inherited(Some(Arc::new(inherited))));
    }

    /// Adds a finished owned span to the batch.
    #[inline]
    pub(crate) fn push_finished(&mut self, d: &mut Detached) {
        self.ensure_tear_down();
        let end = d.raw.end;
        self.batch.push(d);
        self.after_finish(end);
    }

    /// Pops the frame with `token`, finishing a local span in it at `end`
    /// (or now). Frames above it (guards dropped out of order) stay. Changes
    /// waiting for a borrowed frame's owner are dropped: use
    /// [`State::pop_borrowed`] to take them.
    #[inline(always)]
    pub(crate) fn pop_local(&mut self, token: Token, end: Option<Stamp>) {
        if !self.pop_top_recorded(token, end) {
            self.pop_local_general(token, end);
        }
    }

    /// The common case of a pop: the innermost frame is the recorded local
    /// span `token`. Finishes it and says whether it was that case.
    #[inline(always)]
    fn pop_top_recorded(&mut self, token: Token, end: Option<Stamp>) -> bool {
        let end = match end {
            Some(end) => end,
            None => Stamp::now(),
        };
        match self.pop_top_at(token, end, end.ticks()) {
            PopFast::Done => true,
            PopFast::HandOver => {
                self.hand_over();
                true
            }
            PopFast::HandOverFinished => {
                self.hand_over_finished();
                true
            }
            PopFast::General => false,
        }
    }

    /// The fast path of a `#[trace_fn]` call's end (see [`pop_fast`]).
    #[inline(always)]
    fn pop_fast(&mut self, token: Token) -> PopFast {
        match Stamp::now_inline() {
            Some(end) => self.pop_top_at(token, end, Some(end.inline_ticks())),
            None => PopFast::General,
        }
    }

    /// Finishes the span `token` at `end` if its frame is the innermost and
    /// a recorded local span; says what is left to do. Allocates nothing
    /// and calls nothing.
    #[inline(always)]
    fn pop_top_at(&mut self, token: Token, end: Stamp, ticks: Option<u64>) -> PopFast {
        let Some(&Frame {
            token: top,
            at: slot,
            carried: false,
            quiet_below,
            ..
        }) = self.stack.last()
        else {
            return PopFast::General;
        };
        if top != token {
            return PopFast::General;
        }
        // SAFETY: the stack is not empty (its last frame was just read);
        // frames are plain data, so forgetting the top one drops nothing.
        unsafe { self.stack.set_len(self.stack.len() - 1) };
        // A recorded span on top means QUIET is false now.
        if quiet_below {
            QUIET.set(true);
        }
        self.locals -= 1;
        if let Some(raw) = self.batch.spans.get_mut(slot as usize) {
            raw.end = end;
        }
        self.after_finish_ticks(ticks)
    }

    #[inline(never)]
    fn pop_local_general(&mut self, token: Token, end: Option<Stamp>) {
        let Some((frame, carried)) = self.remove(token) else {
            return;
        };
        match carried {
            None => {
                self.locals -= 1;
                let end = end.unwrap_or_else(Stamp::now);
                if let Some(raw) = self.batch.spans.get_mut(frame.at as usize) {
                    raw.end = end;
                }
                self.after_finish(end);
            }
            Some(c) => {
                if c.counted() {
                    self.locals -= 1;
                }
                self.hand_over_if_done();
            }
        }
    }

    /// Pops a borrowed frame and returns the changes its owner must take.
    #[inline]
    pub(crate) fn pop_borrowed(&mut self, token: Token) -> Vec<Edit> {
        let Some((_, carried)) = self.remove(token) else {
            return Vec::new();
        };
        if carried.as_ref().is_some_and(Carried::counted) {
            self.locals -= 1;
        }
        self.hand_over_if_done();
        carried.map_or_else(Vec::new, |c| c.queued.into_edits())
    }

    /// The changes queued so far for the borrowed frame `token`, which
    /// stays; see [`crate::api::span::Entered`]'s `DerefMut`.
    pub(crate) fn take_queued(&mut self, token: Token) -> Vec<Edit> {
        let Some(index) = self.find(token) else {
            return Vec::new();
        };
        match self.carried_mut(index) {
            Some(c) => std::mem::take(&mut c.queued).into_edits(),
            None => Vec::new(),
        }
    }

    /// Pops the borrowed frame `token` and finishes its span `d` at `end`,
    /// its queued changes applied first: what finished under the frame and
    /// the span leave in one hand-over. `false` when there is no such
    /// frame (nothing was done).
    pub(crate) fn finish_borrowed(&mut self, token: Token, d: &mut Detached, end: Stamp) -> bool {
        let Some((_, carried)) = self.remove(token) else {
            return false;
        };
        if let Some(c) = carried {
            if c.counted() {
                self.locals -= 1;
            }
            for edit in c.queued.into_edits() {
                d.apply(edit);
            }
        }
        if d.raw.records() {
            d.raw.end = end;
            self.push_finished(d);
        } else {
            self.hand_over_if_done();
        }
        true
    }

    /// Removes the frame with `token`, with its carried ids if it has them.
    #[inline]
    fn remove(&mut self, token: Token) -> Option<(Frame, Option<Carried>)> {
        match self.stack.last() {
            Some(top) if top.token == token => {
                let f = self.stack.pop()?;
                QUIET.set(f.quiet_below);
                // The top carried frame's ids are the last ones.
                let c = if f.carried { self.carried.pop() } else { None };
                Some((f, c))
            }
            _ => self.remove_below(token),
        }
    }

    /// A frame popped out of order (or not there at all).
    #[cold]
    #[inline(never)]
    fn remove_below(&mut self, token: Token) -> Option<(Frame, Option<Carried>)> {
        let index = self.stack.iter().rposition(|f| f.token == token)?;
        let f = self.stack.remove(index);
        // The frame above takes over what was below the one removed.
        if let Some(above) = self.stack.get_mut(index) {
            above.quiet_below = f.quiet_below;
        } else {
            QUIET.set(f.quiet_below);
        }
        let c = if f.carried {
            // The carried frames above move down one place in `carried`.
            for above in &mut self.stack[index..] {
                if above.carried {
                    above.at -= 1;
                }
            }
            Some(self.carried.remove(f.at as usize))
        } else {
            None
        };
        Some((f, c))
    }

    /// After a span finished: hand the batch over if it is complete, or if
    /// it has waited long enough under a span that is still open.
    #[inline(always)]
    fn after_finish(&mut self, end: Stamp) {
        match self.after_finish_at(end) {
            PopFast::HandOver => self.hand_over(),
            PopFast::HandOverFinished => self.hand_over_finished(),
            PopFast::Done | PopFast::General => {}
        }
    }

    /// What [`State::after_finish`] must do, without doing it.
    #[inline(always)]
    fn after_finish_at(&mut self, end: Stamp) -> PopFast {
        self.after_finish_ticks(end.ticks())
    }

    /// [`State::after_finish_at`] for a span that ended at `now` ticks
    /// (`None`: an explicit time).
    #[inline(always)]
    fn after_finish_ticks(&mut self, now: Option<u64>) -> PopFast {
        if self.locals == 0 {
            return PopFast::HandOver;
        }
        let Some(now) = now else {
            return PopFast::Done;
        };
        if now >= self.hand_over_at {
            if self.hand_over_at != 0 {
                return PopFast::HandOverFinished;
            }
            self.hand_over_at = now.saturating_add(MAX_AGE_TICKS).max(1);
        }
        if self.batch.spans.len() >= MAX_BATCH_SPANS {
            return PopFast::HandOverFinished;
        }
        PopFast::Done
    }

    #[inline]
    fn hand_over_if_done(&mut self) {
        if self.locals == 0 {
            self.hand_over();
        }
    }

    /// Hands the whole batch to the collector: every span in it finished.
    #[inline(never)]
    pub(crate) fn hand_over(&mut self) {
        self.hand_over_at = 0;
        self.epoch = self.epoch.wrapping_add(1);
        if self.batch.spans.is_empty() {
            return;
        }
        // A few spans (a request's): copied into the thread's outbox, and
        // the batch keeps its buffers for the next ones; they leave with
        // the outbox, a few hundred at a time. A bigger batch is worth a
        // hand-over of its own, and the copy would cost more than it saves.
        if self.batch.gone == 0
            && self.batch.spans.len() <= STASH_SPANS
            && self.batch.spans.capacity() <= 4 * MAX_BATCH_SPANS
            && self.stash_batch()
        {
            return;
        }
        let next = Batch::reuse_or_with_capacity(
            self.batch.spans.len().min(MAX_BATCH_SPANS),
            self.batch.tags.len().min(4 * MAX_BATCH_SPANS),
            self.batch.args.len().min(4 * MAX_BATCH_SPANS),
        );
        let mut out = std::mem::replace(&mut self.batch, next);
        if out.gone != 0 {
            out = out.without_gone();
        }
        if out.spans.len() <= STASH_SPANS {
            self.stash_or_submit(out);
        } else {
            collector::submit(out);
        }
    }

    /// Moves the thread's batch into its outbox; `false` when the outbox
    /// is busy (the collector is taking it).
    fn stash_batch(&mut self) -> bool {
        let outbox = self.outbox.get_or_insert_with(collector::Outbox::new);
        outbox.stash(&mut self.batch)
    }

    /// Gives `out` to the outbox, or to the collector when the outbox is
    /// busy.
    fn stash_or_submit(&mut self, mut out: Batch) {
        if out.spans.is_empty() {
            return;
        }
        let outbox = self.outbox.get_or_insert_with(collector::Outbox::new);
        if !outbox.stash(&mut out) {
            collector::submit(out);
        }
    }

    /// Hands over the finished spans and keeps the open ones (the local
    /// spans still on the stack), renumbered.
    #[cold]
    #[inline(never)]
    pub(crate) fn hand_over_finished(&mut self) {
        if self.locals == 0 {
            return self.hand_over();
        }
        self.hand_over_at = 0;
        self.epoch = self.epoch.wrapping_add(1);
        // Finished, still open, and moved out (left behind).
        let (mut groups, moved) = std::mem::take(&mut self.batch).scatter(3, &mut |raw| {
            if raw.flags & GONE != 0 {
                2
            } else {
                usize::from(!raw.end.is_set())
            }
        });
        for f in &mut self.stack {
            if !f.carried {
                f.at = moved.get(f.at as usize).map_or(u32::MAX, |&(_, n)| n);
            }
        }
        drop(groups.pop());
        self.batch = groups.pop().unwrap_or_default();
        let out = groups.pop().unwrap_or_default();
        if out.spans.len() <= STASH_SPANS {
            self.stash_or_submit(out);
        } else if !out.spans.is_empty() {
            collector::submit(out);
        }
    }

    /// Starts the span of an `async fn` call as a local span of this thread
    /// (see [`crate::api::future::TracedAsync`]): in place in the batch, like a
    /// sync call's, until the first poll ends.
    /// Returns also whether some argument values are still to be worked
    /// out, as [`State::enter`] does.
    #[inline(always)]
    pub(crate) fn start_async(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (AsyncStart, bool) {
        let tags_from = self.batch.tags.len() as u32;
        let epoch = self.epoch;
        let (token, later) = self.enter(meta, args);
        if token == 0 {
            return (AsyncStart::Nothing, false);
        }
        let index = self.stack.len() - 1;
        if self.is_recording(index) {
            let start = AsyncStart::Local {
                token,
                epoch,
                tags_from,
            };
            return (start, later);
        }
        // Not recorded, but its ids go on (a new trace the sampler
        // dropped): they move out at once, to travel with the future.
        match self.detach(token, Some(meta), epoch, tags_from) {
            Some(d) => (AsyncStart::Owned(d), false),
            None => (AsyncStart::Nothing, false),
        }
    }

    /// Moves the local span `token` (started by [`State::start_async`])
    /// out of the thread: its frame is popped and its record, side parts
    /// and tags go into the returned span, for its future to keep while it
    /// waits. Guards left above it were held across `.await` (see
    /// [`State::pop_poll`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn detach(
        &mut self,
        token: Token,
        meta: Option<Point>,
        epoch: u32,
        tags_from: u32,
    ) -> Option<Detached> {
        let index = self.find(token)?;
        if index + 1 < self.stack.len() {
            self.flag_held_across_await(index + 1);
        }
        let (frame, carried) = self.remove(token)?;
        self.locals -= 1;
        let detached = match carried {
            None => {
                // A renumbering since the start (a hand-over, a merge of
                // repeated tags) moved the tags: look through all of them.
                let from = if epoch == self.epoch { tags_from } else { 0 };
                self.batch.take_out(frame.at as usize, from as usize)
            }
            Some(c) => c.span_id.map(|span_id| Detached {
                raw: RawSpan {
                    trace_id: c.trace_id,
                    span_id,
                    parent_id: None,
                    start: Stamp::now(),
                    end: Stamp::OPEN,
                    name: meta.map_or("", |m| m.name()),
                    meta,
                    inherited: NONE,
                    extras: NONE,
                    args: NONE,
                    capture: c.capture,
                    flags: c.flags,
                    kind: c.kind,
                    remote_parent: c.remote,
                    tags_set: 0,
                },
                inherited: c.inherited,
                extras: None,
                tags: Vec::new(),
                args: Box::default(),
            }),
        };
        self.hand_over_if_done();
        detached
    }

    /// Pops the frame a future pushed for one poll. Anything above it was
    /// pushed during the poll by a guard that is still alive: a guard held
    /// across `.await`. It stays on this thread's stack while the future
    /// waits, and whatever runs on the thread meanwhile takes it as its
    /// parent. That cannot be undone here; it is tagged on the span and said
    /// once on stderr, so the misuse shows.
    pub(crate) fn pop_poll(&mut self, token: Token, borrowed: bool) -> Vec<Edit> {
        if let Some(index) = self.find(token) {
            if index + 1 < self.stack.len() {
                self.flag_held_across_await(index + 1);
            }
        }
        if borrowed {
            self.pop_borrowed(token)
        } else {
            self.pop_local(token, None);
            Vec::new()
        }
    }

    #[cold]
    fn flag_held_across_await(&mut self, from: usize) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        for i in from..self.stack.len() {
            if self.stack[i].held_across_await {
                continue;
            }
            self.stack[i].held_across_await = true;
            self.edit(
                i,
                Edit::Mark(Cow::Borrowed(HELD_ACROSS_AWAIT), Value::Bool(true)),
            );
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                let what = match self.kind_at(i) {
                    FrameKind::Recorded(slot) => self
                        .batch
                        .spans
                        .get(slot as usize)
                        .map_or("a span".to_owned(), |r| format!("span {:?}", r.name)),
                    FrameKind::Carried(_) => "a span or context".to_owned(),
                };
                eprintln!(
                    "tracekit: the guard of {what} was held across .await; spans started on \
                     this thread while it waits get the wrong parent. In async code use \
                     #[trace_fn] or FutureExt::in_span instead of guards. (Said once.)"
                );
            }
        }
    }

    /// The thread is ending: spans still open are finished now, tagged
    /// `unfinished` (their guards, if they live in a thread-local destroyed
    /// after this one, will find nothing to close), and everything goes to
    /// the collector.
    fn tear_down(&mut self) {
        let end = Stamp::now();
        while let Some(top) = self.stack.len().checked_sub(1) {
            self.edit(
                top,
                Edit::Mark(Cow::Borrowed("unfinished"), Value::Bool(true)),
            );
            // A borrowed span's owner finishes it when it drops, wherever
            // that is; its pending changes go with the thread.
            let token = self.stack[top].token;
            self.pop_local(token, Some(end));
        }
        self.hand_over();
        // Nothing of an ending thread waits for a tick.
        if let Some(outbox) = self.outbox.take() {
            outbox.hand_over();
        }
    }
}

thread_local! {
    /// Whether the thread's top frame is a span that records nothing, so
    /// a `#[trace_fn]` call under it need not visit the thread state at
    /// all. Kept beside [`STATE`], without a destructor, so that reading it
    /// is a single load.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Whether a call of `point` starts a span here: the point is on, and the
/// thread's top span records something (under one that records nothing, a
/// call opens no span at all).
#[inline]
pub(crate) fn starts_here(point: Point) -> bool {
    filter::is_on(point) && !is_quiet()
}

/// Whether a `#[trace_fn]` call started now would record nothing: the top
/// frame is an unsampled span.
#[inline(always)]
pub(crate) fn is_quiet() -> bool {
    QUIET.get()
}

/// The tag on a span whose guard was held across `.await`.
pub(crate) const HELD_ACROSS_AWAIT: &str = "tracekit.guard_held_across_await";

struct StateCell {
    /// Set while a `&mut State` is out, and for good once the state is torn
    /// down; see [`with_state`].
    busy: Cell<bool>,
    /// Without a destructor of its own, so that reaching it is a plain
    /// thread-local access, with no "is the destructor registered yet"
    /// test on every span; [`TearDown`] finishes and frees it.
    state: UnsafeCell<ManuallyDrop<State>>,
}

/// Finishes the thread's open spans, hands everything over and frees the
/// state when the thread ends. Registered when the thread first gives the
/// state something to hold ([`State::ensure_tear_down`]).
struct TearDown;

impl Drop for TearDown {
    fn drop(&mut self) {
        let _ = STATE.try_with(|cell| {
            // A thread ends outside any `with_state`, so this is false.
            if cell.busy.replace(true) {
                return;
            }
            // SAFETY: `busy` was false and now stays true for good: this is
            // the last `&mut State` of the thread (every `with_state` after
            // this returns `None`), and the state is dropped once, here.
            unsafe {
                let state = &mut *cell.state.get();
                state.tear_down();
                ManuallyDrop::drop(state);
            }
        });
    }
}

thread_local! {
    static STATE: StateCell = const {
        StateCell {
            busy: Cell::new(false),
            state: UnsafeCell::new(ManuallyDrop::new(State::new())),
        }
    };
    static TEAR_DOWN: TearDown = const { TearDown };
}

/// Runs `f` on this thread's state; `None` once the thread's state is torn
/// down, and `None` (doing nothing) when called from inside another
/// `with_state` on the same thread.
///
/// Nothing inside `f` may panic or run user code, with one exception that
/// cannot be ruled out: a custom global allocator, called when a buffer
/// grows. An allocator (or a panic hook, should anything panic here) that
/// calls tracekit re-enters this function; the busy flag turns that call
/// into a no-op instead of a second `&mut State`.
#[inline]
pub(crate) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE
        .try_with(|cell| {
            if cell.busy.replace(true) {
                return None;
            }
            // Clears the flag on every way out, unwinding included.
            struct Release<'a>(&'a Cell<bool>);
            impl Drop for Release<'_> {
                #[inline]
                fn drop(&mut self) {
                    self.0.set(false);
                }
            }
            let _release = Release(&cell.busy);
            // SAFETY: `busy` was false and is now true until `_release`
            // drops, so this is the only `&mut State` of this thread: every
            // other way to the state goes through this function and returns
            // above. The cell is thread-local, so no other thread sees it.
            Some(f(unsafe { &mut *cell.state.get() }))
        })
        .ok()
        .flatten()
}

/// Hands this thread's finished spans to the collector.
pub(crate) fn flush_thread() {
    with_state(State::hand_over_finished);
}

/// Adds a finished owned span to this thread's batch, or, when the thread
/// state is gone (the thread is ending) or busy, hands it over alone.
pub(crate) fn finish_owned(d: &mut Detached) {
    if with_state(|s| s.push_finished(d)).is_none() {
        let mut batch = Batch::default();
        batch.push(d);
        collector::submit(batch);
    }
}

/// Pops a local or attached frame; see [`State::pop_local`].
#[inline(never)]
pub(crate) fn pop_local(token: Token, end: Option<Stamp>) {
    with_state(|s| s.pop_local(token, end));
}

/// Runs `f`, which neither allocates, nor calls anything, nor panics, on
/// this thread's state; `None` when the state is busy (see [`with_state`]).
/// Such an `f` cannot be re-entered, so the busy flag is read, not set.
#[inline(always)]
fn with_state_inline<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|cell| {
        if cell.busy.get() {
            return None;
        }
        // SAFETY: no `&mut State` of this thread is out (`busy` is false),
        // and `f` cannot let one be made while it runs: it calls nothing
        // (no allocator, no user code, no panic). The cell is thread-local.
        Some(f(unsafe { &mut *cell.state.get() }))
    })
}

/// The fast path of a `#[trace_fn]` call's start (see [`State::enter`]):
/// `None` when it is not the common case, for the general path.
#[inline(always)]
pub(crate) fn enter_fast(meta: Point, args: &[ArgRef<'_>]) -> Option<(Token, bool)> {
    with_state_inline(|s| s.enter_fast(meta, args)).flatten()
}

/// The fast path of an `async fn` call's start: [`enter_fast`], with what
/// [`State::detach`] needs should the span move out (the epoch and where
/// its tags begin).
#[inline(always)]
pub(crate) fn start_async_fast(
    meta: Point,
    args: &[ArgRef<'_>],
) -> Option<(Token, bool, u32, u32)> {
    with_state_inline(|s| {
        let (epoch, tags_from) = (s.epoch, s.batch.tags.len() as u32);
        let (token, later) = s.enter_fast(meta, args)?;
        Some((token, later, epoch, tags_from))
    })
    .flatten()
}

/// Ends the span of a call that returned, as the innermost frame: the fast
/// path, then what it left to do.
#[inline(always)]
pub(crate) fn pop_returned(token: Token) {
    match pop_fast(token) {
        PopFast::Done => {}
        rest => pop_rest(token, rest),
    }
}

/// The general path of a `#[trace_fn]` call's start.
#[inline(never)]
pub(crate) fn enter_general(meta: Point, args: &[ArgRef<'_>]) -> (Token, bool) {
    with_state(|s| s.enter_general(meta, args)).unwrap_or((0, false))
}

/// The fast path of the end of a `#[trace_fn]` call that returned: the
/// innermost frame is its recorded span. What is left to do goes to
/// [`pop_rest`].
#[inline(always)]
pub(crate) fn pop_fast(token: Token) -> PopFast {
    with_state_inline(|s| s.pop_fast(token)).unwrap_or(PopFast::General)
}

/// What [`pop_fast`] left to do.
#[inline(never)]
pub(crate) fn pop_rest(token: Token, rest: PopFast) {
    with_state(|s| match rest {
        PopFast::Done => {}
        PopFast::HandOver => s.hand_over(),
        PopFast::HandOverFinished => s.hand_over_finished(),
        PopFast::General => s.pop_local(token, None),
    });
}

/// Pops a borrowed frame; see [`State::pop_borrowed`].
pub(crate) fn pop_borrowed(token: Token) -> Vec<Edit> {
    with_state(|s| s.pop_borrowed(token)).unwrap_or_default()
}

#[cfg(test)]
mod queued_tests {
    use super::{Edit, Queued};
    use crate::data::parts::{EVENT_LIMIT, Event, LINK_LIMIT, Link, Status, TAG_LIMIT};
    use crate::data::value::Value;
    use crate::{SpanId, TraceId};
    use std::borrow::Cow;

    /// Many changes leave a queue no longer than the span's limits
    /// allow, with what went counted.
    #[test]
    fn the_queue_stays_within_the_limits_and_counts_what_it_drops() {
        let link = Link {
            trace_id: TraceId::from_u128(1).unwrap(),
            span_id: SpanId::from_u64(2).unwrap(),
        };
        let mut q = Queued::default();
        for i in 0..50_000u64 {
            q.push(Edit::Tag(
                Cow::Owned(format!("k{}", i % 500)),
                Value::U64(i),
            ));
            q.push(Edit::Event(Event::new("e")));
            if i % 10 == 0 {
                q.push(Edit::Link(link.clone()));
                q.push(Edit::Status(Status::error("x")));
                q.push(Edit::Mark(Cow::Borrowed("error"), Value::Bool(true)));
                q.push(Edit::Inherited(None));
            }
            assert!(q.edits.len() <= TAG_LIMIT + EVENT_LIMIT + LINK_LIMIT + 3);
        }
        let edits = q.into_edits();
        let Some(Edit::Dropped(d)) = edits.last() else {
            panic!("the count of what was dropped comes last");
        };
        assert_eq!(d.events, 50_000 - EVENT_LIMIT as u32);
        assert_eq!(d.links, 5_000 - LINK_LIMIT as u32);
        // k0..k499 in turn: once the first keys fill the limit, the others
        // go, each time round.
        assert_eq!(d.tags, 100 * (500 - TAG_LIMIT as u32));
        let tags = edits.iter().filter(|e| matches!(e, Edit::Tag(..))).count();
        assert_eq!(tags, TAG_LIMIT);
    }
}
