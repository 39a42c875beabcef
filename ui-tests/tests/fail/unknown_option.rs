#[tracekit::trace_fn(nmae = "x", level = 3)]
fn f() {}

fn main() {}
