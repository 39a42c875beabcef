// One attribute, four mistakes: all four are reported in one build.
#[tracekit::trace_fn(name = "", kind = "sever", skip(nope), level = "debug")]
fn handler(id: u64) -> u64 {
    id
}

fn main() {}
