//! Failures marked through `current_span()` (an error status, a recorded
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
//! it started ([`take_since`]), a call that opened a frame those still left
//! under it ([`take_of`]). A mark whose frame is gone with no call to
//! take it (made under a span the user started, say) is dropped.

use super::{Token, with_state};
use crate::data::metrics;
use std::cell::RefCell;

/// A failure marked on what ran under a frame that records nothing.
#[derive(Clone, Copy)]
struct Mark {
    /// When, in ticks.
    at: u64,
    /// The length of the stack, and its top frame's token.
    depth: usize,
    frame: Token,
    /// The type of a recorded error; `None` for a status or a tag, which
    /// name none.
    error_type: Option<&'static str>,
}

/// Marks kept at most on a thread; a later one is dropped (only a frame
/// that records nothing and counts nothing, marked that often and still
/// current, holds this many).
const MAX_MARKS: usize = 64;

thread_local! {
    /// This thread's marks, oldest first.
    static MARKS: RefCell<Vec<Mark>> = const { RefCell::new(Vec::new()) };
}

/// Marks a failure on the counted call running here, when the current
/// span records nothing and metrics are on: `error_type` is a recorded
/// error's type (`std::any::type_name`), `None` for an error status or the
/// `error = true` tag.
#[cold]
#[inline(never)]
pub(crate) fn mark_failed(error_type: Option<&'static str>) {
    if !crate::TRACE_ALL || !metrics::on() {
        return;
    }
    let at = super::metrics::now();
    with_state(|s| {
        let top = s.stack.len().checked_sub(1)?;
        if s.keeps_changes(top) {
            return None;
        }
        let mark = Mark {
            at,
            depth: s.stack.len(),
            frame: s.stack[top].token,
            error_type,
        };
        MARKS
            .try_with(|m| {
                let mut m = m.try_borrow_mut().ok()?;
                m.retain(|k| frame_alive(&s.stack, k));
                if m.len() < MAX_MARKS {
                    m.push(mark);
                }
                metrics::divert();
                Some(())
            })
            .ok()
            .flatten()
    });
}

/// Whether the frame a mark was made under is still on `stack`.
fn frame_alive(stack: &[super::Frame], mark: &Mark) -> bool {
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
    const MASK: u64 = (1 << 51) - 1;
    let running = now.wrapping_sub(start) & MASK;
    take(|m| now.wrapping_sub(m.at) & MASK < running)
}

/// Takes the marks still left under the frame `frame`, the top one, which
/// the call ending now opened (see [`take_since`] for what it returns).
pub(crate) fn take_of(frame: Token) -> Option<Option<&'static str>> {
    take(|m| m.frame == frame)
}

/// Takes the marks made under the top frame that `belongs` says are the
/// ending call's; drops those whose frame is gone; ends the diversion when
/// none are left.
fn take(belongs: impl Fn(&Mark) -> bool) -> Option<Option<&'static str>> {
    if !metrics::is_diverted() {
        return None;
    }
    with_state(|s| {
        MARKS
            .try_with(|m| {
                let mut m = m.try_borrow_mut().ok()?;
                let depth = s.stack.len();
                let mut taken: Option<Option<&'static str>> = None;
                m.retain(|k| {
                    if !frame_alive(&s.stack, k) {
                        return false;
                    }
                    if k.depth != depth || !belongs(k) {
                        return true;
                    }
                    // The last error recorded names the failure, as the
                    // last `exception` event names a sampled call's.
                    let named = taken.flatten();
                    taken = Some(k.error_type.or(named));
                    false
                });
                if m.is_empty() {
                    metrics::undivert();
                }
                taken
            })
            .ok()
            .flatten()
    })
    .flatten()
}
