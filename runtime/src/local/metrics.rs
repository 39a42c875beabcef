//! Calls that record no span, counted for metrics on this thread: a
//! `#[trace_fn]` call under an unsampled span, or one that starts a trace
//! the sampler (or the roots setting) drops. A sampled call is counted by
//! the collector from its record instead (`collect/metrics.rs`), so it
//! costs this thread nothing more.
//!
//! Such a call's guard holds a counted token ([`is_counted`]). Most carry
//! everything the count needs: the point's slot and the low bits of the
//! call's start ticks, so starting and ending one touches no thread state
//! but the table. A call that opened a frame besides (an unsampled root's,
//! which its children must see) holds [`TOKEN`] instead, and its entry on
//! this thread's stack of counted calls says where its time started and
//! which frame to pop. The counters are this thread's own table
//! (`data/metrics.rs`), which the collector reads and sums.

use super::{State, Token, marks, with_state};
use crate::data::clock::Stamp;
use crate::data::metrics::{self, Outcome};
use crate::data::trace_point::Point;
use crate::sampling::filter;
use std::cell::{Cell, UnsafeCell};
use std::sync::Mutex;

/// The token of a call counted here that opened a frame besides: no
/// span's (tokens count up from 1), and no [`enter_quiet`] token's (its
/// slot field is 0, a slot no point is given). Its end finds no counters
/// for slot 0 and so takes the slow path, which tells it apart: the common
/// end tests nothing for it.
pub(crate) const TOKEN: Token = COUNTED;

/// Set in every counted token: span tokens count up from 1 and never reach
/// it.
const COUNTED: u64 = 1 << 63;
/// Where a counted token holds its point's slot (11 bits, below bit 62).
const SLOT_SHIFT: u32 = 51;
/// The start ticks a counted token holds. A duration is read modulo 2^51
/// ticks, and one of 2^50 or more is taken for a clock that went back
/// (0): a call is measured right up to 2^50 ticks, four days at 3 GHz.
const START_BITS: u64 = (1 << SLOT_SHIFT) - 1;

/// Whether `token` is a call counted here ([`enter_quiet`] or [`enter`]),
/// not a span's.
#[inline(always)]
pub(crate) fn is_counted(token: Token) -> bool {
    token & COUNTED != 0
}

/// Counted calls that opened a frame, nested deeper than this on one
/// thread, are not counted (their guards hold the frame's token).
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
pub(super) fn now() -> u64 {
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

/// Starts counting a call of `point` that opened no frame: its token, or 0
/// when it is not counted (its point is switched off).
///
/// Every call out of here is a tail call (rare ones), so the common case
/// saves no registers.
#[inline(never)]
pub(crate) fn enter_quiet(point: Point) -> Token {
    match point.state() {
        filter::ON | filter::ON_ROOT => {}
        filter::OFF => return 0,
        _ => return enter_unresolved(point),
    }
    match Stamp::now_inline() {
        Some(s) => started(point, s.inline_ticks()),
        None => enter_slow_clock(point),
    }
}

#[cold]
#[inline(never)]
fn enter_unresolved(point: Point) -> Token {
    if !filter::is_on(point) {
        return 0;
    }
    started(point, now())
}

#[cold]
#[inline(never)]
fn enter_slow_clock(point: Point) -> Token {
    started(point, now_slow())
}

/// The counted token of a call of `point` that started at `start` ticks.
#[inline(always)]
fn started(point: Point, start: u64) -> Token {
    match point.made_slot() {
        Some(slot) => token_of(slot, start),
        None => started_first(point, start),
    }
}

/// [`started`] for the first call of a point counted anywhere.
#[cold]
#[inline(never)]
fn started_first(point: Point, start: u64) -> Token {
    token_of(point.metrics_slot(), start)
}

/// The counted token of slot `slot` (at most `OVERFLOW`) and `start` ticks.
#[inline(always)]
fn token_of(slot: usize, start: u64) -> Token {
    // COUNTED is bit 12 of the shifted field: one `or` less.
    (slot as u64 | COUNTED >> SLOT_SHIFT) << SLOT_SHIFT | (start & START_BITS)
}

/// Starts counting a call of `point` that records no span and opened the
/// frame `inner`. Returns the token for its guard: [`TOKEN`], or `inner`
/// itself when the call is not counted (its point is switched off, or too
/// deep).
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

/// Ends the counted call `token` as `outcome`.
#[inline(never)]
pub(crate) fn end_counted(token: Token, outcome: Outcome) {
    end_counted_inline(token, outcome);
}

/// [`end_counted`] for a call that returned without an error.
#[inline(never)]
pub(crate) fn end_counted_ok(token: Token) {
    end_counted_inline(token, Outcome::Ok);
}

/// [`end_counted`], inlined where a call's end knows its outcome (the
/// common return): the common case (a token from [`enter_quiet`], this
/// thread's table and the point's counters made) calls nothing and saves
/// no registers.
#[inline(always)]
pub(crate) fn end_counted_inline(token: Token, outcome: Outcome) {
    match Stamp::now_inline() {
        Some(s) => end_at(token, s.inline_ticks(), outcome),
        None => end_slow_clock(token, outcome),
    }
}

#[cold]
#[inline(never)]
fn end_slow_clock(token: Token, outcome: Outcome) {
    end_at(token, now_slow(), outcome);
}

/// The slot a counted token holds: a slot fits its field (slots are at
/// most `OVERFLOW`, 11 bits); 0 is [`TOKEN`]'s and a parked call's.
#[inline(always)]
fn slot_of(token: Token) -> usize {
    (token >> SLOT_SHIFT) as usize & metrics::OVERFLOW
}

/// [`end_counted`] at `end` ticks.
#[inline(always)]
fn end_at(token: Token, end: u64, outcome: Outcome) {
    let slot = slot_of(token);
    // The duration modulo 2^51 ticks, shifted to the top (the token's
    // upper bits fall out). One of 2^50 or more is an end a little before
    // the start (a clock read on another core, a little behind): 0, as
    // elsewhere, off the common path.
    let shifted = end.wrapping_sub(token) << (64 - SLOT_SHIFT);
    if (shifted as i64) < 0 {
        return end_behind(token, end, outcome);
    }
    // Converted as shifted: the multiply's shift takes the 13 bits back.
    let ns = metrics::shifted_ticks_to_nanos::<{ 64 - SLOT_SHIFT }>(shifted);
    if !metrics::count_if_made(slot, ns, outcome) {
        end_slow(token, end, outcome);
    }
}

/// [`end_at`] for an end read before the start: no time.
#[cold]
#[inline(never)]
fn end_behind(token: Token, end: u64, outcome: Outcome) {
    let slot = slot_of(token);
    if !metrics::count_if_made(slot, 0, outcome) {
        end_slow(token, end, outcome);
    }
}

/// [`end_at`] when the counters are not at hand: a call that opened a
/// frame ([`TOKEN`]), one with a failure marked between polls
/// ([`settle_pending`]), counts diverted while failures are marked
/// (`marks.rs`), or a point's first count on this thread.
#[cold]
#[inline(never)]
fn end_slow(token: Token, end: u64, outcome: Outcome) {
    let slot = slot_of(token);
    // As `end_at` measured it.
    let shifted = end.wrapping_sub(token) << (64 - SLOT_SHIFT);
    let ns = match (shifted as i64) < 0 {
        true => 0,
        false => metrics::shifted_ticks_to_nanos::<{ 64 - SLOT_SHIFT }>(shifted),
    };
    if slot == 0 {
        return match token {
            TOKEN => end_stacked(end, outcome),
            parked => end_parked(parked, end, outcome),
        };
    }
    let outcome = with_marks(outcome, marks::take_since(token & START_BITS, end));
    if !metrics::count_real_if_made(slot, ns, outcome) {
        metrics::count_slow(slot, ns, outcome);
    }
}

/// A call's outcome with the failures marked on it: its own error (an
/// `Err`, a panic) if it has one, as the last said, else the marks'.
fn with_marks(outcome: Outcome, marked: Option<Option<&'static str>>) -> Outcome {
    match (outcome, marked) {
        (Outcome::Ok, Some(error_type)) => Outcome::Error(error_type.unwrap_or(metrics::OTHER)),
        (outcome, _) => outcome,
    }
}

/// A counted `async fn` call that had a failure marked on it in a poll
/// that had to wait ([`settle_pending`]): its own token, and the failure's
/// type.
struct Parked {
    token: Token,
    error_type: Option<&'static str>,
}

/// Parked calls, by the index their tokens hold (plus one, so never 0), in
/// one table for the process: such a call may end on any thread. Only
/// calls that failed and waited come here, so one lock does.
static PARKED: Mutex<Slots> = Mutex::new(Slots {
    parked: Vec::new(),
    free: Vec::new(),
});

struct Slots {
    parked: Vec<Option<Parked>>,
    free: Vec<usize>,
}

/// Takes the failures marked on the counted `async fn` call `token` in a
/// poll that had to wait (left on this thread they could go to another
/// task's call, or stay behind when it moves) into a token of its own:
/// slot 0, so that its end takes the slow path ([`end_parked`]), with its
/// index in [`PARKED`] where its start was. Returns `token` when none were
/// marked.
#[cold]
#[inline(never)]
pub(crate) fn settle_pending(token: Token) -> Token {
    let slot = slot_of(token);
    if token == TOKEN {
        return token;
    }
    // The lock is not held while the marks are read: a diverted thread
    // polls here at every wait, and only this future uses its index.
    let own = match slot {
        0 => match parked_at(&mut metrics::lock(&PARKED), token) {
            Some(p) => p.token,
            None => return token,
        },
        _ => token,
    };
    let Some(error_type) = marks::take_since(own & START_BITS, now()) else {
        return token;
    };
    let mut parked = metrics::lock(&PARKED);
    if slot == 0 {
        if let Some(p) = parked_at(&mut parked, token) {
            p.error_type = error_type.or(p.error_type);
        }
        return token;
    }
    let p = Parked { token, error_type };
    let index = match parked.free.pop() {
        Some(i) => {
            parked.parked[i] = Some(p);
            i
        }
        None => {
            parked.parked.push(Some(p));
            parked.parked.len() - 1
        }
    };
    COUNTED | (index as u64 + 1)
}

/// The index in [`PARKED`] a token with slot 0 but [`TOKEN`]'s names.
fn parked_index(token: Token) -> Option<usize> {
    usize::try_from((token & START_BITS).checked_sub(1)?).ok()
}

/// The parked call a token with slot 0 but [`TOKEN`]'s names.
fn parked_at(slots: &mut Slots, token: Token) -> Option<&mut Parked> {
    slots.parked.get_mut(parked_index(token)?)?.as_mut()
}

/// Ends a counted call that [`settle_pending`] parked: as failed, unless it
/// has an error of its own.
#[cold]
#[inline(never)]
fn end_parked(token: Token, end: u64, outcome: Outcome) {
    let parked = parked_index(token).and_then(|index| {
        let mut slots = metrics::lock(&PARKED);
        let taken = slots.parked.get_mut(index)?.take()?;
        slots.free.push(index);
        Some(taken)
    });
    let Some(p) = parked else { return };
    // Failures marked since its last wait are newer.
    let newer = marks::take_since(p.token & START_BITS, end);
    let error_type = newer.flatten().or(p.error_type);
    end_at(p.token, end, with_marks(outcome, Some(error_type)));
}

/// Ends the innermost call on this thread's stack of counted calls, and
/// pops the frame it opened besides.
#[cold]
#[inline(never)]
fn end_stacked(end: u64, outcome: Outcome) {
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
    // Failures marked under its frame that no call inside took.
    let outcome = match inner {
        0 => outcome,
        frame => with_marks(outcome, marks::take_of(frame)),
    };
    metrics::count_call(
        point,
        metrics::ticks_to_nanos(end.saturating_sub(start)),
        outcome,
    );
    if inner != 0 {
        with_state(|s: &mut State| s.pop_local(inner, None));
    }
}

thread_local! {
    /// Set when the `async fn` whose counted future is being polled here
    /// returned an `Err` ([`failed`]): its type.
    static FAILED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Polls a counted `async fn` call's future; says whether the call
/// returned an `Err` in that poll, and its type (its own, not a nested
/// call's: each counted poll keeps its own flag).
#[inline]
pub(crate) fn poll_counted<R>(poll: impl FnOnce() -> R) -> (R, Option<&'static str>) {
    let outer = FAILED.replace(None);
    let r = poll();
    (r, FAILED.replace(outer))
}

/// Marks the `async fn` call being polled here as failed with an `Err` of
/// `error_type`; its generated code calls this when it returns an `Err`
/// and has no span to record it.
pub(crate) fn failed(error_type: &'static str) {
    FAILED.set(Some(error_type));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_that_went_back_is_a_zero_duration_not_days() {
        // A slot no trace point of this test binary gets.
        let slot = 2000;
        let start = 1_000_000_000u64;
        let token = token_of(slot, start);
        end_at(token, start - 5, Outcome::Ok);
        end_at(token, start + 100, Outcome::Ok);
        // Across the 2^51 wrap of the start it holds.
        let near_wrap = START_BITS - 10;
        end_at(
            token_of(slot, near_wrap),
            (1 << SLOT_SHIFT) + 30,
            Outcome::Ok,
        );
        let (count, sum_ns, in_first) = metrics::thread_counts(slot).unwrap();
        assert_eq!(count, 3);
        assert_eq!(in_first, 1, "the backwards one is 0 ns");
        // 0, 100 and 41 ticks: nanoseconds at whatever the tick rate is
        // here, nowhere near days.
        assert!(sum_ns < 1_000_000, "{sum_ns} ns");
    }
}
