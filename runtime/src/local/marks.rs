//! Failures said through `current_span()` (an error status, a recorded
//! error, the `error = true` tag) while the current span records nothing,
//! so that a call counted for metrics without a span fails as a sampled one
//! would: a sampled call's status says it failed, an unsampled call has no
//! span for the status to go on.
//!
//! A mark is kept on this thread with when it was made and the frame that
//! was current, and this thread's counts are diverted
//! ([`metrics::divert`](crate::data::metrics::divert)) while any is kept, so
//! that the end of every counted call takes the slow path and settles them;
//! the common end tests nothing. A mark belongs to the innermost counted
//! call that was running under that frame when it was made: a call that
//! opened no frame takes the marks made under the frame it ran under after
//! it started ([`take_since`]); a call that opened a frame, or a request
//! span that records nothing, those still left under it ([`take_of`],
//! [`request_failures`]).
//! A mark whose frame is gone with no call to take it (made under a span
//! the user started, say) is dropped.

use super::state::with_state_inline;
use super::{Frame, FrameKind, State, Token, with_state};
use crate::data::error_parts::ErrorParts;
use crate::data::metrics;
use crate::data::parts::Status;
use crate::data::raw::{Edit, RECORDS};
use std::cell::RefCell;

/// A failure marked on what ran under a frame that records nothing.
#[derive(Clone, Copy)]
struct Mark {
    /// When, in ticks: later than any clock read before it on this thread
    /// ([`mark_failed`] waits for the next tick).
    at: u64,
    /// The length of the stack, and its top frame's token.
    depth: usize,
    frame: Token,
    /// The type of a recorded error; `None` for a status or a tag, which
    /// name none.
    error_type: Option<&'static str>,
}

/// Marks kept at most on a thread; the oldest goes for a new one (only a
/// frame that records nothing, marked that often with no counted call
/// running and still current, holds this many).
const MAX_MARKS: usize = 64;

/// Ticks after which a mark is dropped unsettled: half the span of ticks a
/// counted call's token holds, so that its age never wraps there (two days
/// at 3 GHz; no call is measured past four).
const MAX_AGE: u64 = 1 << 49;

/// The low 51 bits of ticks a counted call's token holds.
const TOKEN_TICKS: u64 = (1 << 51) - 1;

thread_local! {
    /// This thread's marks, oldest first.
    static MARKS: RefCell<Vec<Mark>> = const { RefCell::new(Vec::new()) };
}

/// Marks a failure on the counted call running here (or the request span
/// current here), when the current span records nothing and metrics are
/// on: `error_type` is a recorded error's type (`std::any::type_name`),
/// `None` for an error status or the `error = true` tag. Whether it was
/// marked.
#[cold]
#[inline(never)]
pub(crate) fn mark_failed(error_type: Option<&'static str>) -> bool {
    if !crate::TRACE_ALL || !metrics::on() {
        return false;
    }
    let unrecorded = with_state(|s| {
        s.stack
            .len()
            .checked_sub(1)
            .is_some_and(|t| !s.is_recording(t))
    });
    if unrecorded != Some(true) {
        return false;
    }
    // The next tick: every clock read before this call (the start of the
    // call it belongs to) is then earlier, and any read after (the start of
    // a call made next) is not, however coarse the clock.
    // (Bounded: a clock that stood still would not hold the thread.)
    let before = super::metrics::now();
    let mut at = super::metrics::now();
    for _ in 0..1 << 10 {
        if at != before {
            break;
        }
        std::hint::spin_loop();
        at = super::metrics::now();
    }
    // The stack is as checked above: nothing on this thread ran since.
    with_state(|s| {
        let top = s.stack.len().checked_sub(1)?;
        let mark = Mark {
            at,
            depth: s.stack.len(),
            frame: s.stack[top].token,
            error_type,
        };
        MARKS
            .try_with(|m| {
                let mut m = m.try_borrow_mut().ok()?;
                m.retain(|k| frame_alive(&s.stack, k) && at.wrapping_sub(k.at) < MAX_AGE);
                if m.len() >= MAX_MARKS {
                    m.remove(0);
                }
                m.push(mark);
                metrics::divert();
                Some(())
            })
            .ok()
            .flatten()
    })
    .flatten()
    .is_some()
}

/// Whether the frame a mark was made under is still on `stack`.
fn frame_alive(stack: &[Frame], mark: &Mark) -> bool {
    mark.depth
        .checked_sub(1)
        .and_then(|i| stack.get(i))
        .is_some_and(|f| f.token == mark.frame)
}

/// Takes the marks of a call that opened no frame, ending now (`now`
/// ticks) under the top frame, which started at `start` (the low 51 bits of
/// its ticks, as its token holds them): those made under that frame after
/// it started. `None` when there are none, else the last recorded error's
/// type (`Some(None)` when none was named).
pub(crate) fn take_since(start: u64, now: u64) -> Option<Option<&'static str>> {
    let running = now.wrapping_sub(start) & TOKEN_TICKS;
    // The common case on a thread that keeps a mark no call takes (said
    // under a span of the user's, say): the newest made before this call
    // started, under a frame still current, so nothing is this call's and
    // nothing goes yet. Told without the thread state's borrow.
    if let Some(newest) = newest() {
        let before = now.wrapping_sub(newest.at) & TOKEN_TICKS >= running;
        if before && with_state_inline(|s| frame_alive(&s.stack, &newest)) == Some(true) {
            return None;
        }
    }
    take(|s, m| {
        m.depth == s.stack.len()
            && now.wrapping_sub(m.at) < MAX_AGE
            && now.wrapping_sub(m.at) & TOKEN_TICKS < running
    })
}

/// This thread's newest mark.
fn newest() -> Option<Mark> {
    MARKS
        .try_with(|m| m.try_borrow().ok()?.last().copied())
        .ok()
        .flatten()
}

/// Takes the marks still left under the frame `frame`, which the call
/// ending now opened (see [`take_since`] for what it returns).
pub(crate) fn take_of(frame: Token) -> Option<Option<&'static str>> {
    take(|_, m| m.frame == frame)
}

/// The failures marked under the frame `frame`, about to be popped, that
/// no counted call took, as changes for its owner, when it is a request
/// span that records nothing (whose series counts them); none otherwise.
pub(crate) fn request_failures(s: &State, frame: Token) -> Vec<Edit> {
    if !metrics::is_diverted() {
        return Vec::new();
    }
    let request = s.find(frame).is_some_and(
        |i| matches!(s.kind_at(i), FrameKind::Carried(c) if c.request && c.flags & RECORDS == 0),
    );
    if !request {
        return Vec::new();
    }
    match take_in(s, |_, m| m.frame == frame) {
        None => Vec::new(),
        // What `record_error` would have recorded, but its text.
        Some(Some(t)) => ErrorParts::message(t, String::new()).into_edits().into(),
        Some(None) => vec![Edit::Status(Status::error(""))],
    }
}

/// Takes the marks `belongs` says are the ending call's (newest first: a
/// call takes those made since it started, the newest); ends the diversion
/// when none are left.
fn take(belongs: impl Fn(&State, &Mark) -> bool) -> Option<Option<&'static str>> {
    if !metrics::is_diverted() {
        return None;
    }
    with_state(|s| take_in(s, belongs)).flatten()
}

/// [`take`] inside the thread state, on a diverted thread.
fn take_in(s: &State, belongs: impl Fn(&State, &Mark) -> bool) -> Option<Option<&'static str>> {
    MARKS
        .try_with(|m| {
            let mut m = m.try_borrow_mut().ok()?;
            // A frame gone is gone for good; the newest marks are the
            // ending call's if any are.
            while m.last().is_some_and(|k| !frame_alive(&s.stack, k)) {
                m.pop();
            }
            let mut taken: Option<Option<&'static str>> = None;
            let mut i = m.len();
            while i > 0 && belongs(s, &m[i - 1]) && frame_alive(&s.stack, &m[i - 1]) {
                i -= 1;
                // The last error recorded names the failure, as the last
                // `exception` event names a sampled call's.
                let named = taken.flatten().or(m[i].error_type);
                taken = Some(named);
            }
            m.truncate(i);
            // Older marks whose frames are gone wait to be the newest
            // (above) or the next mark (which drops them); when all are
            // gone, the last pop leaves none.
            if m.is_empty() {
                metrics::undivert();
            }
            taken
        })
        .ok()
        .flatten()
}
