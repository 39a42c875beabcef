#[tracekit::trace_fn(ret = "yes")]
fn ret_string() -> u8 {
    1
}

#[tracekit::trace_fn(err = 0)]
fn err_number() -> Result<u8, String> {
    Ok(1)
}

#[tracekit::trace_fn(err, err = false)]
fn err_twice() -> Result<u8, String> {
    Ok(1)
}

#[tracekit::trace_fn(crate = 5)]
fn crate_number() {}

fn main() {}
