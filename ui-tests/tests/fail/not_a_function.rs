#[tracekit::trace_fn]
struct S;

#[tracekit::trace_impl]
fn g() {}

fn main() {}
