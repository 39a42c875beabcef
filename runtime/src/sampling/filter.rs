//! Switches read while the program runs: all of tracing
//! ([`set_enabled`], `OTEL_SDK_DISABLED`), and each trace point
//! ([`set_filter`], `TRACEKIT_FILTER`, [`Metadata::set_enabled`]).
//!
//! A switched-off trace point is not a span at all: its calls cost one
//! relaxed load and a branch, and spans started inside it become children
//! of the nearest enabled ancestor (its parent's span), so the trace stays
//! connected. With tracing switched off, nothing is recorded: `#[trace_fn]`
//! calls are skipped like switched-off points, and spans started through
//! the API behave as unsampled (their ids still propagate, marked not
//! sampled).
//!
//! Each trace point keeps its resolved state in its own static, worked out
//! on its first call and again for every point whenever a switch moves.

use crate::data::trace_point::{Metadata, Point};
pub(crate) use crate::data::trace_point::{OFF, ON, ON_ROOT, UNRESOLVED};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Whether calls of `point` make spans: one relaxed load, and the filter's
/// answer on the first call.
#[inline(always)]
pub(crate) fn is_on(point: Point) -> bool {
    match point.state() {
        ON | ON_ROOT => true,
        OFF => false,
        _ => resolve(point),
    }
}

// A trace point's own switch, which the filter answers for; kept here (a
// data type's methods, in the layer that knows the answer) so that the
// data layer never calls up.
impl Metadata {
    /// Whether calls of this point make spans now (the filter, the
    /// switches set on it, and tracing as a whole agree).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// #[tracekit::trace_fn]
    /// fn audited() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "audited").unwrap();
    /// assert!(p.is_enabled());
    /// ```
    pub fn is_enabled(&'static self) -> bool {
        is_on(self.point())
    }

    /// Switches this point on or off while the program runs; it wins over
    /// the filter until [`set_filter`](crate::set_filter) is called again.
    /// Spans started inside a point switched off become children of the
    /// nearest enabled ancestor.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// #[tracekit::trace_fn]
    /// fn outer() { inner() }
    /// #[tracekit::trace_fn]
    /// fn inner() { leaf() }
    /// #[tracekit::trace_fn]
    /// fn leaf() {}
    ///
    /// let inner_point = tracekit::trace_points().find(|p| p.name() == "inner").unwrap();
    /// inner_point.set_enabled(false);
    /// let ((), c) = tracekit::testing::capture(outer);
    /// assert_eq!(c.tree(), "outer\n  leaf\n");
    /// inner_point.set_enabled(true);
    /// ```
    pub fn set_enabled(&'static self, on: bool) {
        set_point(self.point(), on);
    }
}

/// All of tracing: [`UNRESOLVED`] until the environment is read.
static GLOBAL: AtomicU8 = AtomicU8::new(UNRESOLVED);

struct Config {
    enabled: bool,
    directives: Vec<Directive>,
    /// Switches set on single points, by address; they win over directives.
    overrides: HashMap<usize, bool>,
}

static CONFIG: Mutex<Option<Config>> = Mutex::new(None);

thread_local! {
    /// Set while this thread holds [`CONFIG`]. The filter allocates under
    /// the lock (the environment, a point's path, its table of switches),
    /// and a global allocator that calls a traced function comes back here
    /// on the same thread: that call must not wait for the lock it is
    /// running under.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// The filter's configuration, locked; see [`HOLDING`].
struct ConfigGuard(MutexGuard<'static, Option<Config>>);

impl Drop for ConfigGuard {
    fn drop(&mut self) {
        let _ = HOLDING.try_with(|h| h.set(false));
    }
}

impl std::ops::Deref for ConfigGuard {
    type Target = Option<Config>;
    fn deref(&self) -> &Option<Config> {
        &self.0
    }
}

impl std::ops::DerefMut for ConfigGuard {
    fn deref_mut(&mut self) -> &mut Option<Config> {
        &mut self.0
    }
}

/// The configuration, read from the environment on first use; `None` when
/// this thread already holds it (re-entered from its own allocations).
fn config() -> Option<ConfigGuard> {
    if HOLDING.try_with(|h| h.get()).unwrap_or(true) {
        return None;
    }
    let guard = CONFIG.lock().unwrap_or_else(|p| p.into_inner());
    let _ = HOLDING.try_with(|h| h.set(true));
    let mut guard = ConfigGuard(guard);
    if guard.is_none() {
        let enabled = !std::env::var("OTEL_SDK_DISABLED")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let directives = match std::env::var("TRACEKIT_FILTER") {
            Ok(spec) => parse_lenient(&spec),
            Err(_) => Vec::new(),
        };
        GLOBAL.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
        *guard = Some(Config {
            enabled,
            directives,
            overrides: HashMap::new(),
        });
    }
    Some(guard)
}

/// Whether tracing is switched on (it is unless [`set_enabled`]`(false)`
/// or `OTEL_SDK_DISABLED=true`).
///
/// ```
/// assert!(tracekit::is_enabled());
/// ```
#[inline]
pub fn is_enabled() -> bool {
    match GLOBAL.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        // Re-entered while the filter works itself out: on, as by default.
        _ => config().is_none_or(|g| g.as_ref().is_some_and(|c| c.enabled)),
    }
}

/// Switches all of tracing on or off while the program runs. Off, nothing
/// is recorded: `#[trace_fn]` calls cost a load and a branch, spans started
/// through the API are unsampled (ids still propagate, marked not sampled).
/// Spans already open finish and are reported as usual. (Called from a
/// global allocator while this thread's filter is busy under its own lock,
/// it does nothing rather than wait for itself.)
///
/// ```
/// tracekit::set_enabled(false);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(!tracekit::Span::start("skipped").is_recording());
/// tracekit::set_enabled(true);
/// assert!(tracekit::Span::start("kept").is_recording());
/// ```
pub fn set_enabled(enabled: bool) {
    let Some(mut guard) = config() else { return };
    if let Some(c) = guard.as_mut() {
        c.enabled = enabled;
        GLOBAL.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
        apply(c);
    }
}

/// Replaces the trace point filter (and any switches set on single points)
/// with `spec`, the syntax of `TRACEKIT_FILTER`: comma-separated
/// `pattern=on` or `pattern=off` (a bare `pattern` means on), where a
/// pattern is a glob (`*` any text, `?` one character) matched against a
/// point's module path, its span name, and `module::function`. The last
/// directive that matches a point decides; a point no directive matches is
/// on. On error nothing changes.
///
/// ```
/// mod db {
///     #[tracekit::trace_fn]
///     pub fn query() {}
/// }
/// #[tracekit::trace_fn]
/// fn handler() { db::query() }
///
/// tracekit::set_filter("*::db=off").unwrap();
/// let ((), c) = tracekit::testing::capture(handler);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "handler\n");
/// tracekit::set_filter("").unwrap();
/// ```
pub fn set_filter(spec: &str) -> Result<(), FilterError> {
    let directives = parse(spec)?;
    let Some(mut guard) = config() else {
        return Ok(());
    };
    if let Some(c) = guard.as_mut() {
        c.directives = directives;
        c.overrides.clear();
        apply(c);
    }
    Ok(())
}

/// A filter that could not be read, with the directive at fault.
///
/// ```
/// let e = tracekit::set_filter("db=maybe").unwrap_err();
/// assert_eq!(e.directive(), "db=maybe");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    directive: String,
    why: &'static str,
}

impl FilterError {
    /// The directive that could not be read.
    ///
    /// ```
    /// assert_eq!(tracekit::set_filter("=off").unwrap_err().directive(), "=off");
    /// ```
    pub fn directive(&self) -> &str {
        &self.directive
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad trace point filter {:?}: {}",
            self.directive, self.why
        )
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug)]
struct Directive {
    pattern: String,
    on: bool,
}

fn parse(spec: &str) -> Result<Vec<Directive>, FilterError> {
    let mut out = Vec::new();
    for raw in spec.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        let bad = |why| FilterError {
            directive: item.to_owned(),
            why,
        };
        let (pattern, on) = match item.split_once('=') {
            None if item == "off" => ("*", false),
            None => (item, true),
            Some((p, v)) => {
                let on = match v.trim().to_ascii_lowercase().as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    _ => return Err(bad("the state must be on or off")),
                };
                (p.trim(), on)
            }
        };
        if pattern.is_empty() {
            return Err(bad("the pattern is empty"));
        }
        out.push(Directive {
            pattern: pattern.to_owned(),
            on,
        });
    }
    Ok(out)
}

/// `TRACEKIT_FILTER`: a bad value is reported and ignored, whole.
fn parse_lenient(spec: &str) -> Vec<Directive> {
    parse(spec).unwrap_or_else(|e| {
        crate::data::diag::warn(format_args!("TRACEKIT_FILTER: {e}; no filter applied"));
        Vec::new()
    })
}

/// Whether `glob` matches all of `text`.
fn glob(glob: &[u8], text: &[u8]) -> bool {
    // Greedy with one backtrack point: linear enough for trace point names.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

fn matches(pattern: &str, point: &Metadata) -> bool {
    let p = pattern.as_bytes();
    glob(p, point.module_path().as_bytes())
        || glob(p, point.name().as_bytes())
        || glob(
            p,
            format!("{}::{}", point.module_path(), point.function()).as_bytes(),
        )
}

fn state_of(c: &Config, point: Point) -> u8 {
    let on = c.enabled
        && match c.overrides.get(&point.addr()) {
            Some(&on) => on,
            None => c
                .directives
                .iter()
                .rev()
                .find(|d| matches(&d.pattern, point.metadata()))
                .is_none_or(|d| d.on),
        };
    if on { self::on(point) } else { OFF }
}

/// Works every registered point's state out again.
fn apply(c: &Config) {
    for point in crate::trace_points().map(Metadata::point) {
        point.set_state(state_of(c, point));
    }
}

/// Works out a point's state on its first call; whether it is on.
#[cold]
#[inline(never)]
pub(crate) fn resolve(point: Point) -> bool {
    // Re-entered (a traced allocation under the filter's own lock): on for
    // this call, worked out on a later one.
    let Some(guard) = config() else { return true };
    let state = guard.as_ref().map_or(on(point), |c| state_of(c, point));
    point.set_state(state);
    state != OFF
}

/// The state of `point` switched on: a root point's calls never take a
/// child's fast path.
fn on(point: Point) -> u8 {
    if point.is_root() { ON_ROOT } else { ON }
}

/// Switches one point on or off; see [`Metadata::set_enabled`].
pub(crate) fn set_point(point: Point, on: bool) {
    let Some(mut guard) = config() else { return };
    if let Some(c) = guard.as_mut() {
        c.overrides.insert(point.addr(), on);
        point.set_state(state_of(c, point));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_strings() {
        let g = |p: &str, t: &str| glob(p.as_bytes(), t.as_bytes());
        assert!(g("myapp::db", "myapp::db"));
        assert!(!g("myapp::db", "myapp::db::pool"));
        assert!(g("myapp::cache::*", "myapp::cache::redis"));
        assert!(!g("myapp::cache::*", "myapp::cache"));
        assert!(g("*::db", "a::b::db"));
        assert!(g("*", ""));
        assert!(g("a*b*c", "axxbyyc"));
        assert!(!g("a*b*c", "axxbyy"));
        assert!(g("Repo::?ind", "Repo::find"));
        assert!(g("**x", "abx"));
    }

    #[test]
    fn directives_parse_and_bad_ones_are_named() {
        let d = parse(" a=off , b , off,c=ON").unwrap();
        let got: Vec<_> = d.iter().map(|d| (d.pattern.as_str(), d.on)).collect();
        assert_eq!(got, [("a", false), ("b", true), ("*", false), ("c", true)]);
        assert_eq!(parse("a=maybe").unwrap_err().directive(), "a=maybe");
        assert_eq!(parse("ok,=on").unwrap_err().directive(), "=on");
        assert!(parse("").unwrap().is_empty());
    }
}
