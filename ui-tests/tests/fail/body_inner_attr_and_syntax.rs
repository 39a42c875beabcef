// The body is handed back as written: its inner attributes still apply to
// the whole function, and a syntax error in it is the compiler's own,
// at the offending token.

#[tracekit::trace_fn]
fn linted(a: u8) -> u8 {
    #![deny(unused_variables)]
    let unused = a;
    1
}

#[tracekit::trace_fn]
fn broken(a: u8) -> u8 {
    let b = a +;
    b
}

fn main() {}
