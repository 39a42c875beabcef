//! The current-span context: a per-thread stack of frames, and the handles
//! that carry a context to another thread, task or process.
//!
//! A frame is pushed when a span becomes active and popped when its guard
//! drops. Spans started by `#[trace_fn]` (and [`start_active_span`]) live
//! *inside* their frame and keep their tags in a per-thread arena, so starting
//! and finishing one allocates nothing. An owned [`Span`] (which may cross
//! threads) is moved into its frame while active and back out after.
//!
//! [`start_active_span`]: crate::start_active_span
//! [`Span`]: crate::Span

use crate::baggage::Baggage;
use crate::clock::Stamp;
use crate::collector;
use crate::record::{Event, Link, SpanKind, Status};
use crate::span::{RawSpan, SpanData};
use crate::trace_point::Metadata;
use crate::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) const SAMPLED: u8 = 0x01;

/// Names a frame on this thread's stack for the guard that pops it. 64 bits
/// so that it cannot wrap in practice (a new span every nanosecond wraps it
/// after 584 years): a long-lived guard never addresses a newer frame.
pub(crate) type Token = u64;
pub(crate) const DEBUG: u8 = 0x02;

/// The identity of a span that child spans and other processes need: trace and
/// span ids, trace flags, baggage and W3C trace state.
///
/// ```
/// let span = tracekit::Span::start("work");
/// let cx: tracekit::SpanContext = span.context().unwrap();
/// assert!(cx.is_sampled());
/// assert_eq!(cx.span_id().to_string().len(), 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) flags: u8,
    pub(crate) remote: bool,
    pub(crate) baggage: Option<Arc<Baggage>>,
    pub(crate) trace_state: Option<Arc<str>>,
}

impl SpanContext {
    /// A context received from another process (for example parsed from
    /// headers): spans started under it are children of a remote parent.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::from_u128(1).unwrap(), SpanId::from_u64(2).unwrap(), true);
    /// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::builder("handler").child_of(&cx).start()));
    /// assert_eq!(c.span("handler").parent_id(), Some(cx.span_id()));
    /// assert!(c.span("handler").has_remote_parent());
    /// ```
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            flags: if sampled { SAMPLED } else { 0 },
            remote: true,
            baggage: None,
            trace_state: None,
        }
    }

    /// The trace id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().trace_id().to_string().len(), 32);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().span_id().to_string().len(), 16);
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (recorded and reported).
    ///
    /// ```
    /// assert!(tracekit::Span::start("a").context().unwrap().is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the trace was marked for debugging (Jaeger's debug flag).
    ///
    /// ```
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.flags & DEBUG != 0
    }

    /// Whether this context came from another process.
    ///
    /// ```
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The baggage item with this key.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// assert_eq!(s.context().unwrap().baggage_item("k"), None);
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.baggage.as_deref().and_then(|b| b.get(key))
    }

    /// The baggage, empty when there is none.
    ///
    /// ```
    /// assert!(tracekit::Span::start("a").context().unwrap().baggage().is_empty());
    /// ```
    pub fn baggage(&self) -> &Baggage {
        static EMPTY: Baggage = Baggage::EMPTY;
        self.baggage.as_deref().unwrap_or(&EMPTY)
    }

    /// A copy carrying this baggage.
    ///
    /// ```
    /// use tracekit::{Baggage, SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true)
    ///     .with_baggage(Baggage::default().with("tenant", "acme"));
    /// assert_eq!(cx.baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn with_baggage(mut self, baggage: Baggage) -> SpanContext {
        self.baggage = (!baggage.is_empty()).then(|| Arc::new(baggage));
        self
    }

    /// A copy with the debug flag set or cleared (a debug trace is always sampled).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), false).with_debug(true);
    /// assert!(cx.is_debug() && cx.is_sampled());
    /// ```
    pub fn with_debug(mut self, debug: bool) -> SpanContext {
        if debug {
            self.flags |= DEBUG | SAMPLED;
        } else {
            self.flags &= !DEBUG;
        }
        self
    }

    /// The W3C `tracestate` value carried along, if any.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("vendor=1");
    /// assert_eq!(cx.trace_state(), Some("vendor=1"));
    /// ```
    pub fn trace_state(&self) -> Option<&str> {
        self.trace_state.as_deref()
    }

    /// A copy carrying this W3C `tracestate` value (empty clears it).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("");
    /// assert_eq!(cx.trace_state(), None);
    /// ```
    pub fn with_trace_state(mut self, state: impl Into<String>) -> SpanContext {
        let state = state.into();
        self.trace_state = (!state.is_empty()).then(|| Arc::from(state));
        self
    }
}

/// A snapshot of "where we are" on this thread: the current span (if any),
/// to be re-entered on another thread or task so work there joins the trace.
///
/// ```
/// let _request = tracekit::start_active_span("request");
/// let cx = tracekit::Context::current();
/// std::thread::spawn(move || {
///     let _guard = cx.attach();
///     let _child = tracekit::start_active_span("worker"); // a child of "request"
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub(crate) span: Option<SpanContext>,
    pub(crate) capture: u32,
}

impl Context {
    /// The context of this thread now.
    ///
    /// ```
    /// assert!(tracekit::Context::current().span_context().is_none());
    /// let _s = tracekit::start_active_span("s");
    /// assert!(tracekit::Context::current().span_context().is_some());
    /// ```
    pub fn current() -> Context {
        if !crate::ENABLED {
            return Context::default();
        }
        with_state(|s| match s.stack.last() {
            // An attached empty context has no span: it propagates as "no
            // parent", with its capture.
            Some(f) => Context {
                span: f.span_context(),
                capture: f.capture,
            },
            None => Context {
                span: None,
                capture: s.capture,
            },
        })
        .unwrap_or_default()
    }

    /// A context whose current span is `span` (for example one extracted from
    /// request headers).
    ///
    /// ```
    /// use tracekit::{Context, SpanContext, SpanId, TraceId};
    /// let remote = SpanContext::remote(TraceId::random(), SpanId::random(), true);
    /// let _g = Context::from_span_context(remote.clone()).attach();
    /// assert_eq!(tracekit::current_span().context().unwrap().span_id(), remote.span_id());
    /// ```
    pub fn from_span_context(span: SpanContext) -> Context {
        let capture = if crate::ENABLED {
            with_state(|s| s.capture).unwrap_or(0)
        } else {
            0
        };
        Context {
            span: Some(span),
            capture,
        }
    }

    /// The current span's context, if there is a current span.
    ///
    /// ```
    /// assert!(tracekit::Context::default().span_context().is_none());
    /// ```
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.span.as_ref()
    }

    /// Makes this context current on this thread until the guard drops. For
    /// sync code: in a future use
    /// [`FutureExt::in_current_span`](crate::FutureExt::in_current_span)
    /// (see [`start_active_span`](crate::start_active_span) on guards and `.await`).
    ///
    /// ```
    /// let cx = tracekit::Context::current();
    /// let guard = cx.attach();
    /// drop(guard);
    /// ```
    pub fn attach(self) -> ContextGuard {
        self.attach_as(false)
    }

    /// Attaches for the length of one poll of a future.
    pub(crate) fn attach_for_poll(self) -> ContextGuard {
        self.attach_as(true)
    }

    fn attach_as(self, poll: bool) -> ContextGuard {
        if !crate::ENABLED {
            return ContextGuard {
                token: 0,
                poll,
                _not_send: PhantomData,
            };
        }
        let token = with_state(|s| {
            let capture = if s.capture != 0 {
                s.capture
            } else {
                self.capture
            };
            let frame = match self.span {
                Some(cx) => Frame {
                    token: 0,
                    trace_id: Some(cx.trace_id),
                    span_id: Some(cx.span_id),
                    flags: cx.flags,
                    remote: cx.remote,
                    capture,
                    baggage: cx.baggage,
                    trace_state: cx.trace_state,
                    kind: FrameKind::Attached,
                    held_across_await: false,
                },
                None => Frame {
                    token: 0,
                    trace_id: None,
                    span_id: None,
                    flags: 0,
                    remote: false,
                    capture,
                    baggage: None,
                    trace_state: None,
                    kind: FrameKind::Attached,
                    held_across_await: false,
                },
            };
            s.push(frame)
        })
        .unwrap_or(0);
        ContextGuard {
            token,
            poll,
            _not_send: PhantomData,
        }
    }
}

/// Restores the previous context when dropped. Not `Send`: it belongs to the
/// thread that attached the context.
#[must_use = "the context is detached as soon as the guard drops"]
pub struct ContextGuard {
    token: Token,
    /// Attached for one poll of a future (`in_current_span`).
    poll: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        match (self.token, self.poll) {
            (0, _) => {}
            (token, true) => drop(pop_poll_frame(token)),
            (token, false) => drop(pop_frame(token, None)),
        }
    }
}

/// Everything a local span needs besides its ids; shared by frames and owned spans.
pub(crate) struct SpanCore {
    pub(crate) name: Cow<'static, str>,
    pub(crate) meta: Option<&'static Metadata>,
    pub(crate) parent: Option<SpanId>,
    pub(crate) parent_remote: bool,
    pub(crate) kind: SpanKind,
    pub(crate) start: Stamp,
    pub(crate) extras: Option<Box<Extras>>,
}

/// An event as recorded: name, time, fields.
pub(crate) type RawEvent = (Cow<'static, str>, Stamp, Vec<(Key, Value)>);

/// The rarely used parts of a span, allocated only when used.
#[derive(Default)]
pub(crate) struct Extras {
    /// Tags set while another span was on top of this one's frame.
    pub(crate) tags: Vec<(Key, Value)>,
    pub(crate) events: Vec<RawEvent>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
}

impl SpanCore {
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }
}

pub(crate) enum FrameKind {
    /// A span living in its frame; its tags start at this index of the arena.
    Local(SpanCore, u32),
    /// An owned span, moved in while active.
    Owned(Box<SpanData>),
    /// A context from elsewhere: only ids, no span to record into.
    Attached,
}

pub(crate) struct Frame {
    pub(crate) token: Token,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) flags: u8,
    pub(crate) remote: bool,
    pub(crate) capture: u32,
    pub(crate) baggage: Option<Arc<Baggage>>,
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) kind: FrameKind,
    /// Found left on the stack by a guard held across `.await`, and tagged.
    pub(crate) held_across_await: bool,
}

impl Frame {
    /// The context of the frame's span; `None` for an attached empty context.
    pub(crate) fn span_context(&self) -> Option<SpanContext> {
        Some(SpanContext {
            trace_id: self.trace_id?,
            span_id: self.span_id?,
            flags: self.flags,
            remote: self.remote,
            baggage: self.baggage.clone(),
            trace_state: self.trace_state.clone(),
        })
    }

    pub(crate) fn is_recording(&self) -> bool {
        self.flags & SAMPLED != 0 && !matches!(self.kind, FrameKind::Attached)
    }
}

/// The finished spans of one thread, waiting to be handed to the collector
/// together: one hand-off for many spans.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) spans: Vec<RawSpan>,
    pub(crate) tags: Vec<(Key, Value)>,
    oldest: u64,
    /// Holds spans of a `testing::capture`, which are never dropped.
    pub(crate) captured: bool,
}

/// Flush a batch that has waited this many ticks (about 50-100 ms) even while
/// the thread stays inside an active span.
const MAX_AGE_TICKS: u64 = 100_000_000;
const MAX_BATCH_SPANS: usize = 1024;

pub(crate) struct State {
    pub(crate) stack: Vec<Frame>,
    /// Tags of the local spans on the stack, in stack order.
    pub(crate) open_tags: Vec<(Key, Value)>,
    pub(crate) batch: Batch,
    next_token: Token,
    /// How many frames on the stack hold local spans: finished spans leave
    /// the thread when the last of them closes.
    locals: u32,
    /// The `testing::capture` this thread is running, 0 for none.
    pub(crate) capture: u32,
}

impl State {
    const fn new() -> State {
        State {
            stack: Vec::new(),
            open_tags: Vec::new(),
            batch: Batch {
                spans: Vec::new(),
                tags: Vec::new(),
                oldest: 0,
                captured: false,
            },
            next_token: 0,
            locals: 0,
            capture: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, mut frame: Frame) -> Token {
        self.next_token += 1;
        frame.token = self.next_token;
        self.locals += u32::from(matches!(frame.kind, FrameKind::Local(..)));
        self.stack.push(frame);
        self.next_token
    }

    /// Advances the tokens as if `n` frames had been pushed (a test hook).
    pub(crate) fn skip_tokens(&mut self, n: u64) {
        self.next_token = self.next_token.saturating_add(n);
    }

    /// The index of the frame with this token, searched from the top.
    #[inline]
    pub(crate) fn find(&self, token: Token) -> Option<usize> {
        self.stack.iter().rposition(|f| f.token == token)
    }

    /// Records a tag on the frame at `index`.
    pub(crate) fn tag(&mut self, index: usize, key: Key, value: Value) {
        let top = index + 1 == self.stack.len();
        match &mut self.stack[index].kind {
            FrameKind::Local(_, _) if top => self.open_tags.push((key, value)),
            FrameKind::Local(core, _) => core.extras().tags.push((key, value)),
            FrameKind::Owned(data) => data.tags.push((key, value)),
            FrameKind::Attached => {}
        }
    }

    /// The capture a new span started here belongs to.
    #[inline]
    pub(crate) fn capture_for(&self, parent: Option<&Frame>) -> u32 {
        match (self.capture, parent) {
            (0, Some(p)) => p.capture,
            (c, _) => c,
        }
    }

    /// Moves a finished span into the batch; `tags` are drained from `open_tags`.
    pub(crate) fn finish_into_batch(&mut self, mut raw: RawSpan, tags: Tagged) {
        let start = self.batch.tags.len() as u32;
        match tags {
            Tagged::Arena(from, to) if to == self.open_tags.len() => {
                move_tail(&mut self.open_tags, from, &mut self.batch.tags)
            }
            Tagged::Arena(from, to) => self.batch.tags.extend(self.open_tags.drain(from..to)),
            Tagged::Owned(v) => self.batch.tags.extend(v),
        }
        raw.tags = start..self.batch.tags.len() as u32;
        if self.batch.spans.is_empty() {
            self.batch.oldest = raw.end.ticks().unwrap_or(0);
        }
        let end = raw.end.ticks();
        self.batch.captured |= raw.capture != 0;
        self.batch.spans.push(raw);
        let old = match end {
            Some(end) => end.wrapping_sub(self.batch.oldest) > MAX_AGE_TICKS,
            None => false,
        };
        if old || self.batch.spans.len() >= MAX_BATCH_SPANS {
            self.flush();
        }
    }

    /// Whether a local span (one finished by a guard on this thread's call
    /// stack) is active: the batch goes out when the last of them finishes.
    #[inline]
    pub(crate) fn holds_local(&self) -> bool {
        self.locals != 0
    }

    /// Hands the batch to the collector.
    pub(crate) fn flush(&mut self) {
        if self.batch.spans.is_empty() {
            return;
        }
        let spans_cap = self.batch.spans.capacity();
        let tags_cap = self.batch.tags.capacity();
        let batch = std::mem::replace(
            &mut self.batch,
            Batch {
                spans: Vec::with_capacity(spans_cap.min(MAX_BATCH_SPANS)),
                tags: Vec::with_capacity(tags_cap.min(4 * MAX_BATCH_SPANS)),
                oldest: 0,
                captured: false,
            },
        );
        collector::submit(batch);
    }
}

/// Moves `from[start..]` to the end of `to`: the common case of finishing the
/// innermost span, without the per-element cost of a `Drain`.
#[inline]
fn move_tail<T>(from: &mut Vec<T>, start: usize, to: &mut Vec<T>) {
    let n = from.len() - start;
    to.reserve(n);
    // SAFETY: the `n` elements after `start` are initialised; they are copied
    // bit for bit into reserved space of `to`, then `from` forgets them, so
    // each is owned exactly once.
    unsafe {
        std::ptr::copy_nonoverlapping(from.as_ptr().add(start), to.as_mut_ptr().add(to.len()), n);
        from.set_len(start);
        to.set_len(to.len() + n);
    }
}

pub(crate) enum Tagged {
    Arena(usize, usize),
    Owned(Vec<(Key, Value)>),
}

struct StateCell {
    /// Set while a `&mut State` is out; see [`with_state`].
    busy: Cell<bool>,
    state: UnsafeCell<State>,
}

impl Drop for StateCell {
    fn drop(&mut self) {
        // The thread is ending. Spans still open here are finished now and
        // marked: their guards, if they live in a thread-local destroyed
        // after this one, will find nothing to close. Then everything
        // finished is handed over.
        let s = self.state.get_mut();
        let end = Stamp::now();
        while let Some(top) = s.stack.len().checked_sub(1) {
            if s.stack[top].is_recording() {
                s.tag(top, Cow::Borrowed("unfinished"), Value::Bool(true));
            }
            let token = s.stack[top].token;
            if let Some(owned) = pop(s, token, Some(end)) {
                crate::span::finish_owned_in(owned, s, end);
            }
        }
        s.flush();
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
#[inline]
pub(crate) fn flush_thread() {
    with_state(|s| s.flush());
}

/// Pops the frame with `token`; a local span in it is finished at `end` (or
/// now). Frames above it, if guards were dropped out of order, stay.
pub(crate) fn pop_frame(token: Token, end: Option<Stamp>) -> Option<Box<SpanData>> {
    with_state(|s| pop(s, token, end)).flatten()
}

/// Pops the frame a future pushed for one poll. Anything above it was pushed
/// during the poll by a guard that is still alive: a guard held across
/// `.await`. It stays on this thread's stack while the future waits, and
/// whatever runs on the thread meanwhile (other tasks, `join!`ed futures)
/// takes it as its parent. That cannot be undone here; it is tagged on the
/// span and said once on stderr, so the misuse shows.
pub(crate) fn pop_poll_frame(token: Token) -> Option<Box<SpanData>> {
    with_state(|s| {
        if let Some(index) = s.find(token) {
            if index + 1 < s.stack.len() {
                flag_held_across_await(s, index + 1);
            }
        }
        pop(s, token, None)
    })
    .flatten()
}

#[cold]
fn flag_held_across_await(s: &mut State, from: usize) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    for i in from..s.stack.len() {
        if s.stack[i].held_across_await {
            continue;
        }
        s.stack[i].held_across_await = true;
        if s.stack[i].is_recording() {
            s.tag(i, Cow::Borrowed(HELD_ACROSS_AWAIT), Value::Bool(true));
        }
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let name = frame_core(&mut s.stack[i]).map_or("an attached context".into(), |c| {
                format!("span {:?}", c.name)
            });
            eprintln!(
                "tracekit: the guard of {name} was held across .await; spans started on \
                 this thread while it waits get the wrong parent. In async code use \
                 #[trace_fn] or FutureExt::in_span instead of guards. (Said once.)"
            );
        }
    }
}

/// The tag on a span whose guard was held across `.await`.
pub(crate) const HELD_ACROSS_AWAIT: &str = "tracekit.guard_held_across_await";

fn pop(s: &mut State, token: Token, end: Option<Stamp>) -> Option<Box<SpanData>> {
    let index = s.find(token)?;
    if let FrameKind::Local(_, tag_start) = s.stack[index].kind {
        // The arena holds this span's tags up to the next local frame above
        // (there is none when the innermost span finishes, the usual case).
        let above = index + 1;
        let tag_end = s.stack[above..]
            .iter()
            .find_map(|f| match f.kind {
                FrameKind::Local(_, start) => Some(start as usize),
                _ => None,
            })
            .unwrap_or(s.open_tags.len());
        let moved = tag_end as u32 - tag_start;
        if moved != 0 {
            for f in &mut s.stack[above..] {
                if let FrameKind::Local(_, start) = &mut f.kind {
                    *start -= moved;
                }
            }
        }
        let frame = s.stack.remove(index);
        s.locals -= 1;
        finish_local(s, frame, end, tag_end);
        // The last local span on this thread closed: its trace (as far
        // as this thread goes) is complete. Attached contexts and owned
        // spans below may live much longer (a worker's whole life), so
        // they do not hold the batch back.
        if s.locals == 0 {
            s.flush();
        }
        return None;
    }
    let frame = s.stack.remove(index);
    // Leaving an owned span's poll or an attached context: whatever
    // finished inside is handed over now, unless a local span below will
    // take it out when it finishes (it cannot outlive this thread's call
    // stack). Flushing per poll would cost an `async fn` call a hand-over.
    if !s.holds_local() {
        s.flush();
    }
    match frame.kind {
        FrameKind::Owned(data) => Some(data),
        _ => None,
    }
}

/// Finishes the local span of a popped frame; its tags are
/// `open_tags[tag_start..tag_end]`.
#[inline]
fn finish_local(s: &mut State, frame: Frame, end: Option<Stamp>, tag_end: usize) {
    let FrameKind::Local(core, tag_start) = frame.kind else {
        return;
    };
    let tag_start = tag_start as usize;
    if frame.flags & SAMPLED != 0 {
        let raw = RawSpan {
            trace_id: frame.trace_id,
            span_id: frame.span_id,
            flags: frame.flags,
            capture: frame.capture,
            baggage: frame.baggage,
            trace_state: frame.trace_state,
            core,
            end: end.unwrap_or_else(Stamp::now),
            tags: 0..0,
        };
        s.finish_into_batch(raw, Tagged::Arena(tag_start, tag_end));
    } else {
        s.open_tags.drain(tag_start..tag_end);
    }
}

/// A handle on the innermost active span of this thread, to tag it or log to
/// it from code that has no reference to the span.
///
/// ```
/// fn cache_lookup(key: &str) -> Option<String> {
///     tracekit::current_span().add_event("cache-miss", [("key", key.into())]);
///     None
/// }
/// let ((), c) = tracekit::testing::capture(|| {
///     let _s = tracekit::start_active_span("handler");
///     cache_lookup("user:1");
/// });
/// assert_eq!(c.span("handler").events()[0].name(), "cache-miss");
/// ```
pub fn current_span() -> CurrentSpan {
    CurrentSpan {
        _not_send: PhantomData,
    }
}

/// The innermost active span of this thread; see [`current_span`]. When no
/// span is active, every method does nothing.
pub struct CurrentSpan {
    _not_send: PhantomData<*const ()>,
}

impl CurrentSpan {
    fn with_top<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        if !crate::ENABLED {
            return None;
        }
        with_state(|s| {
            let top = s.stack.len().checked_sub(1)?;
            s.stack[top].is_recording().then(|| f(s, top))
        })
        .flatten()
    }

    /// Whether there is an active span that records.
    ///
    /// ```
    /// assert!(!tracekit::current_span().is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.with_top(|_, _| ()).is_some()
    }

    /// The active span's context.
    ///
    /// ```
    /// let s = tracekit::start_active_span("a");
    /// assert_eq!(tracekit::current_span().context(), s.context());
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        if !crate::ENABLED {
            return None;
        }
        with_state(|s| s.stack.last().and_then(Frame::span_context)).flatten()
    }

    /// Sets a tag on the active span.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_tag("rows", 3);
    /// });
    /// assert_eq!(c.span("a").tag("rows").unwrap().to_string(), "3");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        self.with_top(move |s, top| s.tag(top, key, value));
    }

    /// Logs a timestamped event with fields on the active span.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().add_event("retry", [("attempt", 2.into())]);
    /// ```
    pub fn add_event(
        &self,
        name: impl Into<Cow<'static, str>>,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        let event = (
            name.into(),
            Stamp::now(),
            fields
                .into_iter()
                .map(|(k, v)| (Key::Borrowed(k), v))
                .collect(),
        );
        self.with_top(move |s, top| {
            frame_core(&mut s.stack[top]).map(|c| c.extras().events.push(event))
        });
    }

    /// Records an error on the active span (see [`Span::record_error`](crate::Span::record_error)).
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().record_error(&std::fmt::Error);
    /// });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        let parts = crate::span::ErrorParts::of(error);
        self.with_top(move |s, top| parts.apply(s, top));
    }

    /// Sets the active span's status.
    ///
    /// ```
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let _s = tracekit::start_active_span("a");
    ///     tracekit::current_span().set_status(tracekit::Status::error("quota exceeded"));
    /// });
    /// assert!(c.span("a").is_error());
    /// ```
    pub fn set_status(&self, status: Status) {
        self.with_top(move |s, top| {
            frame_core(&mut s.stack[top]).map(|c| c.extras().status = status)
        });
    }

    /// The active span's kind, when a recording span is active.
    pub(crate) fn kind(&self) -> Option<SpanKind> {
        self.with_top(|s, top| frame_core(&mut s.stack[top]).map(|c| c.kind))
            .flatten()
    }

    /// Sets a baggage item on the active span, inherited by spans started under it.
    ///
    /// ```
    /// let _s = tracekit::start_active_span("a");
    /// tracekit::current_span().set_baggage_item("user.id", "42");
    /// let child = tracekit::Span::start("b");
    /// assert_eq!(child.context().unwrap().baggage_item("user.id"), Some("42"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if !crate::ENABLED {
            return;
        }
        with_state(|s| {
            if let Some(f) = s.stack.last_mut() {
                set_baggage(f, key, value);
            }
        });
    }
}

pub(crate) fn set_baggage(frame: &mut Frame, key: String, value: String) {
    let mut baggage = frame.baggage.as_deref().cloned().unwrap_or_default();
    baggage.set(key, value);
    let baggage = Arc::new(baggage);
    if let FrameKind::Owned(data) = &mut frame.kind {
        data.baggage = Some(baggage.clone());
    }
    frame.baggage = Some(baggage);
}

pub(crate) fn frame_core(frame: &mut Frame) -> Option<&mut SpanCore> {
    match &mut frame.kind {
        FrameKind::Local(core, _) => Some(core),
        FrameKind::Owned(data) => Some(&mut data.core),
        FrameKind::Attached => None,
    }
}

/// Converts recorded event tuples for a record.
pub(crate) fn events_of(extras: &mut Extras, cal: &crate::clock::Calibration) -> Vec<Event> {
    extras
        .events
        .drain(..)
        .map(|(name, stamp, fields)| Event {
            name,
            time: cal.to_system_time(stamp),
            fields,
        })
        .collect()
}
