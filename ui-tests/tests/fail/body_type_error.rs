#[tracekit::trace_fn]
fn f(a: u8) -> u8 {
    let s: String = a;
    1
}

#[tracekit::trace_fn]
async fn g(a: u8) -> Result<u8, String> {
    let n: u8 = "x".parse()?;
    Ok(a + n)
}

#[tracekit::trace_fn]
fn h(a: u8) -> impl std::future::Future<Output = u8> {
    async move { a + "1" }
}

fn main() {}
