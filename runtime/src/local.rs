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

use crate::clock::Stamp;
use crate::collector;
use crate::parts::SpanKind;
use crate::raw::{Batch, Edit, Inherited, RawSpan, SAMPLED, Tag};
use crate::trace_point::Metadata;
use crate::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::sync::Arc;

/// Names a frame for the guard that pops it. 64 bits so that it cannot wrap
/// in practice (a new span every nanosecond wraps it after 584 years): a
/// long-lived guard never addresses a newer frame.
pub(crate) type Token = u64;

/// What a frame stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// A span recorded in this thread's batch, at `slot`.
    Local,
    /// An owned span that keeps its own record.
    Borrowed,
    /// A context from elsewhere.
    Attached,
}

/// No record: an attached frame, or a span that is not sampled.
const NO_SLOT: u32 = u32::MAX;

/// An active span or context on this thread: what a child needs from its
/// parent, and where the span's record is. 56 bytes.
pub(crate) struct Frame {
    pub(crate) token: Token,
    pub(crate) trace_id: TraceId,
    /// `None` for an attached context without a span.
    pub(crate) span_id: Option<SpanId>,
    pub(crate) inherited: Option<Arc<Inherited>>,
    pub(crate) capture: u32,
    slot: u32,
    pub(crate) flags: u8,
    pub(crate) role: Role,
    pub(crate) kind: SpanKind,
    /// The span lives in another process.
    pub(crate) remote: bool,
    /// Found left on the stack by a guard held across `.await`, and tagged.
    held_across_await: bool,
}

impl Frame {
    /// Whether changes made to this frame are recorded.
    #[inline]
    pub(crate) fn is_recording(&self) -> bool {
        self.slot != NO_SLOT || (self.role == Role::Borrowed && self.flags & SAMPLED != 0)
    }
}

/// Where a new span stands in its trace: everything it takes from its parent.
pub(crate) struct Lineage {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) remote_parent: bool,
    pub(crate) flags: u8,
    pub(crate) capture: u32,
    pub(crate) inherited: Option<Arc<Inherited>>,
}

impl Lineage {
    /// The first span of a new trace.
    pub(crate) fn root(capture: u32) -> Lineage {
        Lineage {
            trace_id: TraceId::random(),
            parent_id: None,
            remote_parent: false,
            flags: SAMPLED,
            capture,
            inherited: None,
        }
    }

    /// A new span of this lineage, recorded from `start`.
    #[inline]
    pub(crate) fn raw(
        self,
        name: &'static str,
        meta: Option<&'static Metadata>,
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
            inherited: self.inherited,
            extras: None,
            capture: self.capture,
            flags: self.flags,
            kind,
            remote_parent: self.remote_parent,
        }
    }
}

/// Hand over what finished under a long-lived span once the first of it
/// finished this many ticks ago (about 30-100 ms of TSC, 100 ms of the
/// monotonic fallback)...
const MAX_AGE_TICKS: u64 = 100_000_000;
/// ...or once this many spans wait.
const MAX_BATCH_SPANS: usize = 1024;

pub(crate) struct State {
    pub(crate) stack: Vec<Frame>,
    batch: Batch,
    /// Changes to borrowed frames' spans, by frame, until their owners take them.
    edits: Vec<(Token, Edit)>,
    next_token: Token,
    /// Frames holding local spans: the batch is complete when none is left.
    locals: u32,
    /// The tick of the first span finished since the last hand-over; 0 for none.
    first_finish: u64,
    /// The `testing::capture` this thread is running, 0 for none.
    pub(crate) capture: u32,
}

impl State {
    const fn new() -> State {
        State {
            stack: Vec::new(),
            batch: Batch {
                spans: Vec::new(),
                tags: Vec::new(),
                captured: false,
            },
            edits: Vec::new(),
            next_token: 0,
            locals: 0,
            first_finish: 0,
            capture: 0,
        }
    }

    /// The capture a span started here belongs to: the thread's own, else
    /// its parent's.
    #[inline]
    pub(crate) fn capture_for(&self, parent: Option<&Frame>) -> u32 {
        match (self.capture, parent) {
            (0, Some(p)) => p.capture,
            (c, _) => c,
        }
    }

    /// The lineage of a child of the current frame, or of a new root.
    #[inline]
    pub(crate) fn lineage(&self) -> Lineage {
        let top = self.stack.last();
        match top {
            Some(
                p @ Frame {
                    span_id: Some(id), ..
                },
            ) => Lineage {
                trace_id: p.trace_id,
                parent_id: Some(*id),
                remote_parent: p.remote,
                flags: p.flags,
                capture: self.capture_for(top),
                inherited: p.inherited.clone(),
            },
            _ => Lineage::root(self.capture_for(top)),
        }
    }

    #[inline]
    fn push(&mut self, mut frame: Frame) -> Token {
        self.next_token += 1;
        frame.token = self.next_token;
        self.locals += u32::from(frame.role == Role::Local);
        self.stack.push(frame);
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

    /// Starts a local span: its record goes into the batch now (if the
    /// trace is sampled), its frame onto the stack.
    #[inline]
    pub(crate) fn start_local(&mut self, raw: RawSpan) -> Token {
        let mut frame = Frame {
            token: 0,
            trace_id: raw.trace_id,
            span_id: Some(raw.span_id),
            inherited: raw.inherited.clone(),
            capture: raw.capture,
            slot: NO_SLOT,
            flags: raw.flags,
            role: Role::Local,
            kind: raw.kind,
            remote: false,
            held_across_await: false,
        };
        if raw.is_sampled() {
            let slot = self.batch.spans.len() as u32;
            frame.slot = slot;
            self.batch.captured |= raw.capture != 0;
            self.batch.spans.push(raw);
        }
        self.push(frame)
    }

    /// Tags the span of the top frame.
    pub(crate) fn add_tags(&mut self, tags: Vec<(Key, Value)>) {
        if let Some(top) = self.stack.len().checked_sub(1) {
            for (key, value) in tags {
                self.edit(top, Edit::Tag(key, value));
            }
        }
    }

    /// Makes an owned span current; its record stays with its owner.
    #[inline]
    pub(crate) fn push_borrowed(&mut self, raw: &RawSpan) -> Token {
        self.push(Frame {
            token: 0,
            trace_id: raw.trace_id,
            span_id: Some(raw.span_id),
            inherited: raw.inherited.clone(),
            capture: raw.capture,
            slot: NO_SLOT,
            flags: raw.flags,
            role: Role::Borrowed,
            kind: raw.kind,
            remote: false,
            held_across_await: false,
        })
    }

    /// Makes a context from elsewhere current.
    pub(crate) fn push_attached(&mut self, cx: Option<crate::SpanContext>, capture: u32) -> Token {
        let frame = match cx {
            Some(cx) => Frame {
                token: 0,
                trace_id: cx.trace_id,
                span_id: Some(cx.span_id),
                inherited: cx.inherited,
                capture,
                slot: NO_SLOT,
                flags: cx.flags,
                role: Role::Attached,
                kind: SpanKind::Internal,
                remote: cx.remote,
                held_across_await: false,
            },
            None => Frame {
                token: 0,
                trace_id: TraceId::from_u128(1).unwrap_or_else(TraceId::random),
                span_id: None,
                inherited: None,
                capture,
                slot: NO_SLOT,
                flags: 0,
                role: Role::Attached,
                kind: SpanKind::Internal,
                remote: false,
                held_across_await: false,
            },
        };
        self.push(frame)
    }

    /// The index of the frame with this token, searched from the top.
    #[inline]
    pub(crate) fn find(&self, token: Token) -> Option<usize> {
        match self.stack.last() {
            Some(top) if top.token == token => Some(self.stack.len() - 1),
            _ => self.stack.iter().rposition(|f| f.token == token),
        }
    }

    /// The kind of the span of the frame at `index`.
    pub(crate) fn kind_of(&self, index: usize) -> Option<SpanKind> {
        let f = &self.stack[index];
        (f.role != Role::Attached).then_some(f.kind)
    }

    /// Records a change to the span of the frame at `index`.
    pub(crate) fn edit(&mut self, index: usize, edit: Edit) {
        let frame = &mut self.stack[index];
        if !frame.is_recording() {
            return;
        }
        if let Edit::Inherited(i) = &edit {
            frame.inherited = i.clone();
        }
        let (slot, token) = (frame.slot as usize, frame.token);
        match frame.role {
            Role::Local => match edit {
                Edit::Tag(key, value) => self.batch.tags.push(Tag {
                    span: slot as u32,
                    key,
                    value,
                }),
                other => {
                    if let Some(raw) = self.batch.spans.get_mut(slot) {
                        raw.apply(other);
                    }
                }
            },
            Role::Borrowed => self.edits.push((token, edit)),
            Role::Attached => {}
        }
    }

    /// Sets tags on the span of the frame at `index` under the names of its
    /// trace point (the `#[trace_fn]` arguments and fields).
    #[inline]
    pub(crate) fn tag_args(
        &mut self,
        index: usize,
        names: &'static [&'static str],
        values: &mut [Option<Value>],
    ) {
        let slot = self.stack[index].slot;
        if slot == NO_SLOT || self.stack[index].role != Role::Local {
            return;
        }
        for (name, value) in names.iter().zip(values) {
            if let Some(value) = value.take() {
                self.batch.tags.push(Tag {
                    span: slot,
                    key: Cow::Borrowed(name),
                    value,
                });
            }
        }
    }

    /// Sets the baggage item on the frame at `index` (and its span).
    pub(crate) fn set_baggage(&mut self, index: usize, key: String, value: String) {
        let frame = &self.stack[index];
        let mut inherited = frame.inherited.as_deref().cloned().unwrap_or_default();
        inherited.baggage.set(key, value);
        let inherited = Some(Arc::new(inherited));
        if frame.is_recording() {
            self.edit(index, Edit::Inherited(inherited));
        } else {
            self.stack[index].inherited = inherited;
        }
    }

    /// Adds a finished owned span to the batch.
    pub(crate) fn push_finished(&mut self, raw: RawSpan, tags: Vec<(Key, Value)>) {
        let end = raw.end;
        self.batch.push(raw, tags);
        self.after_finish(end);
    }

    /// Pops the frame with `token`. A local span in it finishes at `end`;
    /// for a borrowed frame, returns the changes its owner must take. Frames
    /// above it (guards dropped out of order) stay.
    pub(crate) fn pop(&mut self, token: Token, end: Option<Stamp>) -> Vec<Edit> {
        let Some(index) = self.find(token) else {
            return Vec::new();
        };
        let frame = self.stack.remove(index);
        match frame.role {
            Role::Local => {
                self.locals -= 1;
                let end = end.unwrap_or_else(Stamp::now);
                if let Some(raw) = self.batch.spans.get_mut(frame.slot as usize) {
                    raw.end = end;
                }
                self.after_finish(end);
                Vec::new()
            }
            Role::Borrowed => {
                let edits = self.take_edits(token);
                self.hand_over_if_done();
                edits
            }
            Role::Attached => {
                self.hand_over_if_done();
                Vec::new()
            }
        }
    }

    fn take_edits(&mut self, token: Token) -> Vec<Edit> {
        if self.edits.is_empty() {
            return Vec::new();
        }
        let mut mine = Vec::new();
        let mut i = 0;
        while i < self.edits.len() {
            if self.edits[i].0 == token {
                mine.push(self.edits.remove(i).1);
            } else {
                i += 1;
            }
        }
        mine
    }

    /// After a span finished: hand the batch over if it is complete, or if
    /// it has waited long enough under a span that is still open.
    #[inline]
    fn after_finish(&mut self, end: Stamp) {
        if self.locals == 0 {
            return self.hand_over();
        }
        let Some(now) = end.ticks() else { return };
        if self.first_finish == 0 {
            self.first_finish = now.max(1);
        } else if now.wrapping_sub(self.first_finish) > MAX_AGE_TICKS
            || self.batch.spans.len() >= MAX_BATCH_SPANS
        {
            self.hand_over_finished();
        }
    }

    #[inline]
    fn hand_over_if_done(&mut self) {
        if self.locals == 0 {
            self.hand_over();
        }
    }

    /// Hands the whole batch to the collector: every span in it finished.
    pub(crate) fn hand_over(&mut self) {
        self.first_finish = 0;
        if self.batch.spans.is_empty() {
            return;
        }
        let next = Batch::with_capacity(
            self.batch.spans.len().min(MAX_BATCH_SPANS),
            self.batch.tags.len().min(4 * MAX_BATCH_SPANS),
        );
        collector::submit(std::mem::replace(&mut self.batch, next));
    }

    /// Hands over the finished spans and keeps the open ones (the local
    /// spans still on the stack), renumbered.
    pub(crate) fn hand_over_finished(&mut self) {
        if self.locals == 0 {
            return self.hand_over();
        }
        self.first_finish = 0;
        const OUT: u32 = 1 << 31;
        let old = std::mem::take(&mut self.batch);
        let mut out = Batch::with_capacity(old.spans.len(), old.tags.len());
        let mut kept = Batch::default();
        let mut renumber = Vec::with_capacity(old.spans.len());
        for raw in old.spans {
            if raw.end.is_set() {
                renumber.push(OUT | out.spans.len() as u32);
                out.captured |= raw.capture != 0;
                out.spans.push(raw);
            } else {
                renumber.push(kept.spans.len() as u32);
                kept.captured |= raw.capture != 0;
                kept.spans.push(raw);
            }
        }
        for mut tag in old.tags {
            match renumber.get(tag.span as usize) {
                Some(&n) if n & OUT != 0 => {
                    tag.span = n & !OUT;
                    out.tags.push(tag);
                }
                Some(&n) => {
                    tag.span = n;
                    kept.tags.push(tag);
                }
                None => {}
            }
        }
        for f in &mut self.stack {
            if f.role == Role::Local && f.slot != NO_SLOT {
                f.slot = renumber.get(f.slot as usize).map_or(NO_SLOT, |&n| n & !OUT);
            }
        }
        self.batch = kept;
        if !out.spans.is_empty() {
            collector::submit(out);
        }
    }

    /// Pops the frame a future pushed for one poll. Anything above it was
    /// pushed during the poll by a guard that is still alive: a guard held
    /// across `.await`. It stays on this thread's stack while the future
    /// waits, and whatever runs on the thread meanwhile takes it as its
    /// parent. That cannot be undone here; it is tagged on the span and said
    /// once on stderr, so the misuse shows.
    pub(crate) fn pop_poll(&mut self, token: Token) -> Vec<Edit> {
        if let Some(index) = self.find(token) {
            if index + 1 < self.stack.len() {
                self.flag_held_across_await(index + 1);
            }
        }
        self.pop(token, None)
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
                Edit::Tag(Cow::Borrowed(HELD_ACROSS_AWAIT), Value::Bool(true)),
            );
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                let what = match self.stack[i].slot {
                    NO_SLOT => "a span or context".to_owned(),
                    slot => format!("span {:?}", self.batch.spans[slot as usize].name),
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
                Edit::Tag(Cow::Borrowed("unfinished"), Value::Bool(true)),
            );
            let token = self.stack[top].token;
            // A borrowed span's owner finishes it when it drops, wherever
            // that is; its pending changes go with the thread.
            drop(self.pop(token, Some(end)));
        }
        self.hand_over();
    }
}

/// The tag on a span whose guard was held across `.await`.
pub(crate) const HELD_ACROSS_AWAIT: &str = "tracekit.guard_held_across_await";

struct StateCell {
    /// Set while a `&mut State` is out; see [`with_state`].
    busy: Cell<bool>,
    state: UnsafeCell<State>,
}

impl Drop for StateCell {
    fn drop(&mut self) {
        self.state.get_mut().tear_down();
    }
}

thread_local! {
    static STATE: StateCell = const {
        StateCell {
            busy: Cell::new(false),
            state: UnsafeCell::new(State::new()),
        }
    };
}

/// Runs `f` on this thread's state; `None` while the thread is being torn
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
pub(crate) fn finish_owned(raw: RawSpan, tags: Vec<(Key, Value)>) {
    let mut pending = Some((raw, tags));
    with_state(|s| {
        if let Some((raw, tags)) = pending.take() {
            s.push_finished(raw, tags);
        }
    });
    if let Some((raw, tags)) = pending {
        let mut batch = Batch::default();
        batch.push(raw, tags);
        collector::submit(batch);
    }
}

/// Pops a frame; see [`State::pop`].
#[inline]
pub(crate) fn pop_frame(token: Token, end: Option<Stamp>) -> Vec<Edit> {
    with_state(|s| s.pop(token, end)).unwrap_or_default()
}
