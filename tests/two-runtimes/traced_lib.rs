//! One of the two libraries of the two-runtimes check (see
//! scripts/two-runtimes.sh): traced functions, and what this library's own
//! copy of tracekit says about them.

#[tracekit::trace_fn]
pub fn work(n: u64) -> u64 {
    n + 1
}

#[tracekit::trace_fn]
pub fn outer(n: u64) -> u64 {
    work(n)
}

/// Whether tracing is compiled in.
pub fn compiled_in() -> bool {
    tracekit::TRACE_ALL
}

/// `module::name` of every trace point this copy of tracekit lists.
pub fn listed() -> Vec<String> {
    let mut names: Vec<String> = tracekit::trace_points()
        .map(|p| format!("{}::{}", p.module_path(), p.name()))
        .collect();
    names.sort();
    names
}

/// Switches all of this copy's tracing.
pub fn set_enabled(on: bool) {
    tracekit::set_enabled(on);
}

/// Switches this copy's point named `name`.
pub fn switch_point(name: &str, on: bool) {
    for p in tracekit::trace_points().filter(|p| p.name() == name) {
        p.set_enabled(on);
    }
}

/// The spans a call of `outer` records under this copy, innermost first.
pub fn recorded() -> Vec<String> {
    let (_, c) = tracekit::testing::capture(|| outer(1));
    c.spans().iter().map(|s| s.name().to_owned()).collect()
}
