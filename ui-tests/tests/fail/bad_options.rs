#[tracekit::trace_fn(name = "")]
fn empty_name() {}

#[tracekit::trace_fn(name = 3)]
fn number_name() {}

#[tracekit::trace_fn(skip(b))]
fn skip_unknown(a: u8) -> u8 {
    a
}

#[tracekit::trace_fn(skip_all, skip(a))]
fn skip_both(a: u8) -> u8 {
    a
}

#[tracekit::trace_fn(name = "a", name = "b")]
fn duplicate() {}

#[tracekit::trace_fn(name = "a\0b")]
fn nul_in_name() {}

fn main() {}
