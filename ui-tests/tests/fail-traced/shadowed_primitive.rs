// An argument's type written as a plain number, bool or `str` is recorded
// with the plain conversion, chosen from the written name: a crate's own
// type that takes such a name fails to build with tracing on, at the
// argument.
#![allow(non_camel_case_types)]

struct u64;

#[tracekit::trace_fn]
fn load(id: u64) {
    let _ = id;
}

fn main() {
    load(u64);
}
