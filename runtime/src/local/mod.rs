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
//! [`MAX_AGE_TICKS`](hand_over::MAX_AGE_TICKS) or
//! [`MAX_BATCH_SPANS`](hand_over::MAX_BATCH_SPANS).

use crate::collect::collector;
use crate::data::batch::Batch;
use crate::data::clock::Stamp;
use crate::data::detached::Detached;
use crate::data::metrics::Outcome;
use crate::data::parts::SpanKind;
use crate::data::raw::{
    DEBUG, Dropped, Edit, Extras, GONE, Inherited, NONE, RECORD, RECORDS, RawSpan, SAMPLED, Tag,
};
use crate::data::span_context::SpanContext;
use crate::data::trace_point::Point;
use crate::data::value::{ArgRef, Key, Value};
use crate::sampling::filter;
use crate::sampling::roots;
use crate::sampling::sampler::{self, SamplingInput};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::sync::Arc;

mod asyncs;
mod edits;
mod enter;
mod frames;
mod hand_over;
mod lineage;
pub(crate) mod marks;
pub(crate) mod metrics;
mod state;

pub(crate) use asyncs::AsyncStart;
use edits::Queued;
pub(crate) use enter::PopFast;
use frames::{Carried, Frame, FrameKind, NewFrame, Role};
pub(crate) use lineage::Lineage;
use state::with_state_inline;
pub(crate) use state::{State, with_state};

/// Names a frame for the guard that pops it. 64 bits so that it cannot wrap
/// in practice (a new span every nanosecond wraps it after 584 years): a
/// long-lived guard never addresses a newer frame.
pub(crate) type Token = u64;

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

/// Pops a local or attached frame; see [`State::pop_local`]. A call
/// counted for metrics only ([`metrics::is_counted`]) ends as an error:
/// this is the way out of a panic.
#[inline(never)]
pub(crate) fn pop_local(token: Token, end: Option<Stamp>) {
    if metrics::is_counted(token) {
        end_counted(token, Outcome::Error(crate::data::metrics::PANIC));
        return;
    }
    with_state(|s| s.pop_local(token, end));
}

/// Whether the frame `token` (0: none) is a span that records.
pub(crate) fn records(token: Token) -> bool {
    token != 0 && with_state(|s| s.find(token).is_some_and(|i| s.is_recording(i))).unwrap_or(false)
}

pub(crate) use metrics::end_counted;

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
    // A call counted for metrics only has no frame: the fast path never
    // finds it.
    if metrics::is_counted(token) {
        end_counted(token, Outcome::Ok);
        return;
    }
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
