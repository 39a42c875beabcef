#[tracekit::trace_fn(root = true)]
fn job() {}

#[tracekit::trace_fn(root, root)]
fn twice() {}

fn main() {}
