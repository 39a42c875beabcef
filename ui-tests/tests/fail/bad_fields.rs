#[tracekit::trace_fn(fields(user.id))]
fn no_value(id: u64) -> u64 {
    id
}

#[tracekit::trace_fn(fields(a = 1, b = 2, a = 3))]
fn duplicate_key() {}

#[tracekit::trace_fn(fields(db. = 1))]
fn trailing_dot() {}

#[tracekit::trace_fn(fields("" = 1))]
fn empty_key() {}

#[tracekit::trace_fn(fields(a = 1), fields(b = 2))]
fn fields_twice() {}

#[tracekit::trace_fn(fields("a\0b" = 1))]
fn nul_in_key() {}

fn main() {}
