#[tracekit::trace_fn]
fn f(a: u8) -> u8 {
    let s: String = a;
    1
}

fn main() {}
