//! The start of a `#[trace_fn]` call on a sync function: the fast path
//! first, the general one for everything else, and the argument values
//! worked out after the start when they need user code.

use crate::data::trace_point::Point;
use crate::data::value::{ArgRef, Value};
use crate::local::{Token, with_state};
use crate::sampling::filter;

/// The hot path of `#[trace_fn]` on a sync function, for a trace point
/// known to be on (or not worked out yet): a child of the current span (or
/// a new root), active until the guard drops, with the values of its
/// arguments and fields. Returns its token, 0 for none.
#[inline(never)]
pub(crate) fn enter_local(meta: Point, args: &[ArgRef<'_>]) -> Token {
    if meta.state() != filter::ON {
        return enter_unresolved(meta, args);
    }
    // Every call out of here is a tail call, so the fast path, which calls
    // nothing, saves no registers.
    match crate::local::enter_fast(meta, args) {
        Some((token, false)) => token,
        Some((token, true)) => record_later(token, args),
        None => enter_general(meta, args),
    }
}

/// [`enter_local`] at the first call of its trace point, whose switch is
/// worked out here.
#[cold]
#[inline(never)]
fn enter_unresolved(meta: Point, args: &[ArgRef<'_>]) -> Token {
    if crate::local::starts_here(meta) {
        enter_general(meta, args)
    } else {
        0
    }
}

#[inline(never)]
fn enter_general(meta: Point, args: &[ArgRef<'_>]) -> Token {
    let token = match crate::local::enter_general(meta, args) {
        (token, true) => record_later(token, args),
        (token, false) => token,
    };
    // A call that records nothing (a trace the sampler or the roots
    // setting dropped) still counts for metrics; its frame, which its
    // children see, is popped when the count ends.
    if crate::data::metrics::on() && !crate::local::records(token) {
        return match token {
            0 => crate::local::metrics::enter_quiet(meta),
            frame => crate::local::metrics::enter(meta, frame),
        };
    }
    token
}

/// Works out the values of the arguments and fields of the new span `token`
/// that were not at hand when it started (text to copy, `Debug` output,
/// `ToValue` impls, `fields(...)` expressions), outside the thread state
/// because they may run user code, and records them.
/// Returns `token`.
#[cold]
#[inline(never)]
pub(crate) fn record_later(token: Token, args: &[ArgRef<'_>]) -> Token {
    // A value that panics ends the span there, as a panic in the body
    // would: its guard does not exist yet.
    let unwinding = crate::api::private::EndOnUnwind(token);
    let values: Vec<(usize, Value)> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| a.immediate().is_err())
        .filter_map(|(i, a)| Some((i, a.value()?)))
        .collect();
    std::mem::forget(unwinding);
    with_state(|s| s.set_args_later(token, values));
    token
}
