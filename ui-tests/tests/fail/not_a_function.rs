#[tracekit::trace_fn]
struct S;

#[tracekit::trace_fn]
const LIMIT: u8 = 3;

#[tracekit::trace_fn]
enum E {
    A,
}

#[tracekit::trace_impl]
fn g() {}

#[tracekit::trace_impl]
struct T;

trait Store {
    #[tracekit::trace_fn]
    fn get(&self, key: &str) -> Option<u8>;
}

fn main() {}
