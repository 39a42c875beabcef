#[tracekit::trace_fn]
const fn f() -> u8 {
    1
}

fn main() {}
