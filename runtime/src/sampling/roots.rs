//! Where traces may start: anywhere (the default), or only at a service's
//! entry points. With `trace-all` on, every instrumented function called
//! outside any span starts a trace of its own: a constructor at start-up, a
//! background refresh, a helper a test calls directly. A service that wants
//! traces only for the work it serves says [`Roots::EntryPoints`]: then a
//! `#[trace_fn]` call outside any span records nothing unless its point is
//! an entry point (kind server or consumer, or `#[trace_fn(root)]`). Spans
//! started by hand (`Span::start`, `start_active_span`, the builder) are
//! asked for explicitly and are not held back.

use crate::data::parts::SpanKind;
use crate::data::trace_point::Point;
use std::sync::atomic::{AtomicU8, Ordering};

/// Which `#[trace_fn]` calls outside any span start a trace; see
/// [`set_roots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Roots {
    /// Every one (the default).
    #[default]
    Anywhere,
    /// Only entry points: functions of kind server or consumer
    /// (`#[trace_fn(kind = "server")]`) and `#[trace_fn(root)]` ones. Other
    /// calls outside any span record nothing and cost what an unsampled
    /// call costs; under a span they are traced as usual.
    EntryPoints,
}

const UNREAD: u8 = 0;
const ANYWHERE: u8 = 1;
const ENTRY_POINTS: u8 = 2;

static ROOTS: AtomicU8 = AtomicU8::new(UNREAD);

/// Sets where traces may start, for the whole process, overriding
/// `TRACEKIT_ROOTS`.
///
/// ```
/// use tracekit::sampler::{Roots, set_roots};
///
/// #[tracekit::trace_fn]
/// fn load_config() -> u32 { 7 }
///
/// set_roots(Roots::EntryPoints);
/// let (_, c) = tracekit::testing::capture(|| load_config());
/// assert!(c.spans().is_empty()); // outside any span: not an entry point
/// let (_, c) = tracekit::testing::capture(|| {
///     let _request = tracekit::start_active_span("request");
///     load_config()
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "request\n  load_config\n");
/// # set_roots(Roots::Anywhere);
/// ```
pub fn set_roots(roots: Roots) {
    let value = match roots {
        Roots::Anywhere => ANYWHERE,
        Roots::EntryPoints => ENTRY_POINTS,
    };
    ROOTS.store(value, Ordering::Relaxed);
}

/// Where traces may start now: what [`set_roots`] set, else
/// `TRACEKIT_ROOTS` (`anywhere`, the default, or `entry_points`).
///
/// ```
/// assert_eq!(tracekit::sampler::roots(), tracekit::sampler::Roots::Anywhere);
/// ```
pub fn roots() -> Roots {
    let value = match ROOTS.load(Ordering::Relaxed) {
        UNREAD => {
            let read = from_env(std::env::var("TRACEKIT_ROOTS").ok().as_deref());
            // A `set_roots` meanwhile wins.
            let _ = ROOTS.compare_exchange(UNREAD, read, Ordering::Relaxed, Ordering::Relaxed);
            ROOTS.load(Ordering::Relaxed)
        }
        value => value,
    };
    if value == ENTRY_POINTS {
        Roots::EntryPoints
    } else {
        Roots::Anywhere
    }
}

fn from_env(value: Option<&str>) -> u8 {
    match value.map(str::trim) {
        None | Some("") => ANYWHERE,
        Some(v) if v.eq_ignore_ascii_case("anywhere") => ANYWHERE,
        Some(v)
            if v.eq_ignore_ascii_case("entry_points") || v.eq_ignore_ascii_case("entry-points") =>
        {
            ENTRY_POINTS
        }
        Some(v) => {
            crate::data::diag::warn(format_args!(
                "TRACEKIT_ROOTS={v:?} is neither `anywhere` nor `entry_points`; using `anywhere`"
            ));
            ANYWHERE
        }
    }
}

/// Whether a call of `point` outside any span may start a trace.
#[inline]
pub(crate) fn may_start(point: Point) -> bool {
    roots() == Roots::Anywhere
        || point.is_root()
        || matches!(point.kind(), SpanKind::Server | SpanKind::Consumer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_policy_and_a_typo_keeps_the_default() {
        assert_eq!(from_env(None), ANYWHERE);
        assert_eq!(from_env(Some("entry_points")), ENTRY_POINTS);
        assert_eq!(from_env(Some(" Entry-Points ")), ENTRY_POINTS);
        assert_eq!(from_env(Some("anywhere")), ANYWHERE);
        assert_eq!(from_env(Some("entrypoints")), ANYWHERE);
    }
}
