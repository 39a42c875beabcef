#[tracekit::trace_fn(kind = "serverr")]
fn typo() {}

#[tracekit::trace_fn(kind = server)]
fn not_a_string() {}

#[tracekit::trace_fn(kind = "Server")]
fn wrong_case() {}

fn main() {}
