//! Calls that record no span, counted for metrics on this thread: a
//! `#[trace_fn]` call under an unsampled span, or one that starts a trace
//! the sampler (or the roots setting) drops. A sampled call is counted by
//! the collector from its record instead (`collect/metrics.rs`), so it
//! costs this thread nothing more.
//!
//! Such a call's guard holds [`TOKEN`]; the entry on this thread's stack of
//! counted calls says where its time started and which frame, if any, the
//! call opened besides (an unsampled root's, which its children must see).
//! The counters are this thread's own table (`data/metrics.rs`), which the
//! collector reads and sums. The stack lives in a thread-local without a
//! destructor, so reaching it is one thread-local access.

use super::{State, Token, with_state};
use crate::data::clock::Stamp;
use crate::data::metrics::{self, Outcome};
use crate::data::trace_point::Point;
use crate::sampling::filter;
use std::cell::{Cell, UnsafeCell};

/// The token of a call counted here: no span's (tokens count up from 1).
pub(crate) const TOKEN: Token = Token::MAX;

/// Counted calls nested deeper than this on one thread are not counted
/// (their guards hold no token).
const DEPTH: usize = 256;

/// A counted call in progress.
#[derive(Clone, Copy)]
struct Counted {
    point: Option<Point>,
    start: u64,
    /// The frame the call opened besides, 0 for none.
    inner: Token,
}

struct Calls {
    depth: Cell<usize>,
    stack: UnsafeCell<[Counted; DEPTH]>,
}

thread_local! {
    static CALLS: Calls = const {
        Calls {
            depth: Cell::new(0),
            stack: UnsafeCell::new([Counted { point: None, start: 0, inner: 0 }; DEPTH]),
        }
    };
}

#[inline(always)]
fn now() -> u64 {
    match Stamp::now_inline() {
        Some(s) => s.inline_ticks(),
        None => now_slow(),
    }
}

#[cold]
#[inline(never)]
fn now_slow() -> u64 {
    Stamp::now().ticks().unwrap_or(0)
}

/// Starts counting a call of `point` that records no span and opened the
/// frame `inner` (0: none). Returns the token for its guard: [`TOKEN`], or
/// `inner` itself when the call is not counted (its point is switched off,
/// or too deep).
#[inline(never)]
pub(crate) fn enter(point: Point, inner: Token) -> Token {
    if !filter::is_on(point) {
        return inner;
    }
    let start = now();
    CALLS.with(|c| {
        let depth = c.depth.get();
        if depth >= DEPTH {
            return inner;
        }
        // SAFETY: this thread's own stack; nothing else holds a reference
        // into it (nothing here calls out), and `depth < DEPTH`.
        unsafe {
            (*c.stack.get())[depth] = Counted {
                point: Some(point),
                start,
                inner,
            };
        }
        c.depth.set(depth + 1);
        TOKEN
    })
}

/// Ends the innermost counted call as `outcome`, and pops the frame it
/// opened besides. The common case (this thread's table and the point's
/// counters made, no frame to pop) calls nothing.
#[inline(never)]
pub(crate) fn end_counted(outcome: Outcome) {
    let end = now();
    let call = CALLS.with(|c| {
        let depth = c.depth.get().checked_sub(1)?;
        c.depth.set(depth);
        // SAFETY: as in `enter`; `depth < DEPTH`.
        Some(unsafe { (*c.stack.get())[depth] })
    });
    let Some(Counted {
        point: Some(point),
        start,
        inner,
    }) = call
    else {
        return;
    };
    metrics::count_call(
        point,
        metrics::ticks_to_nanos(end.saturating_sub(start)),
        outcome,
    );
    if inner != 0 {
        pop_inner(inner);
    }
}

thread_local! {
    /// Set when the `async fn` whose counted future is being polled here
    /// returned an `Err` ([`failed`]).
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

/// The start of an `async fn` call with no span, counted: its point (if
/// switched on) and the time of its first poll.
pub(crate) fn start_async(point: Point) -> Option<(Point, u64)> {
    filter::is_on(point).then(|| (point, now()))
}

/// Polls a counted `async fn` call's future; says whether the call
/// returned an `Err` in that poll (its own, not a nested call's: each
/// counted poll keeps its own flag).
#[inline]
pub(crate) fn poll_counted<R>(poll: impl FnOnce() -> R) -> (R, bool) {
    let outer = FAILED.replace(false);
    let r = poll();
    (r, FAILED.replace(outer))
}

/// Marks the `async fn` call being polled here as failed; its generated
/// code calls this when it returns an `Err` and has no span to record it.
pub(crate) fn failed() {
    FAILED.set(true);
}

/// Counts a finished `async fn` call with no span.
pub(crate) fn end_async(point: Point, start: u64, failed: bool) {
    let outcome = if failed { Outcome::Error } else { Outcome::Ok };
    metrics::count_call(
        point,
        metrics::ticks_to_nanos(now().saturating_sub(start)),
        outcome,
    );
}

#[cold]
fn pop_inner(inner: Token) {
    if inner != 0 {
        with_state(|s: &mut State| s.pop_local(inner, None));
    }
}
