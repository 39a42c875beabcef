use std::sync::Arc;
use tracekit::{trace_fn, trace_impl};

#[trace_fn]
fn free(a: u64, b: &str) -> u64 {
    a + b.len() as u64
}

#[trace_fn]
fn unit() {}

#[trace_fn]
fn generic<T: Clone + std::fmt::Debug, const N: usize>(items: [T; N]) -> Vec<T>
where
    T: Send,
{
    items.to_vec()
}

#[trace_fn]
fn question(s: &str) -> Result<u8, std::num::ParseIntError> {
    let v: u8 = s.parse()?;
    if v == 0 {
        return Ok(1);
    }
    Ok(v)
}

#[trace_fn]
async fn asynchronous(x: u32) -> Result<u32, String> {
    if x == 0 {
        return Err("zero".into());
    }
    Ok(x)
}

struct S {
    v: u8,
}

#[trace_impl]
impl S {
    fn by_ref(&self) -> u8 {
        self.v
    }
    fn by_mut(&mut self, v: u8) {
        self.v = v;
    }
    fn by_value(self) -> u8 {
        self.v
    }
    fn boxed(self: Box<Self>) -> u8 {
        self.v
    }
    fn arc(self: Arc<Self>) -> u8 {
        self.v
    }
    fn assoc() -> Self {
        S { v: 0 }
    }
    #[trace_fn(name = "custom")]
    fn renamed(&self) {}
    #[no_trace]
    fn hidden(&self) {}
    const LIMIT: u8 = 3;
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let _ = free(1, "x");
    unit();
    let _ = generic([1u8, 2]);
    let _ = question("3");
    assert_send(asynchronous(1));
    let mut s = S::assoc();
    s.by_mut(S::LIMIT);
    let _ = s.by_ref();
    s.renamed();
    s.hidden();
    let _ = Box::new(S { v: 1 }).boxed();
    let _ = Arc::new(S { v: 1 }).arc();
    let _ = s.by_value();
}
