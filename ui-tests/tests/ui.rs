//! Code that must compile, and misuse that must fail with a clear error at
//! the offending token. Refresh the snapshots with `TRYBUILD=overwrite`.
//!
//! `fail/` fails with tracing on and off: options are checked either way.
//! `fail-traced/` holds errors that only exist in the generated code, such
//! as a `fields(...)` value that cannot be recorded.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
    if cfg!(feature = "trace-all") {
        t.compile_fail("tests/fail-traced/*.rs");
    }
}
