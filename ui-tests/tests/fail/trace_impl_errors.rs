struct Cache;

#[tracekit::trace_impl(name = "cache")]
impl Cache {
    fn get(&self) {}

    #[trace_fn(kind = "clientt")]
    fn put(&self) {}

    #[no_trace(really)]
    fn len(&self) -> usize {
        0
    }

    #[trace_fn = "x"]
    fn clear(&self) {}

    const fn cap(&self) -> usize {
        0
    }
}

fn main() {}
