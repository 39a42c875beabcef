//! Every option, alone and combined, on `#[trace_fn]` and `#[trace_impl]`.

#![deny(warnings)]

use tracekit::{trace_fn, trace_impl};

mod telemetry {
    #[allow(unused_imports)]
    pub use tracekit as reexported;
}

struct Request {
    method: &'static str,
    id: u64,
}

struct NotDebug;

impl std::fmt::Display for NotDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nd")
    }
}

#[trace_fn(name = "custom.name")]
fn named() {}

#[trace_fn(skip(b))]
fn skip_one(a: u8, b: NotDebug) -> u8 {
    let _ = b;
    a
}

#[trace_fn(skip_all)]
fn skip_everything(a: u8, b: u8) -> u8 {
    a + b
}

#[trace_fn(redact(password))]
fn redacted(user: &str, password: &str) -> bool {
    user != password
}

#[trace_fn(ret, fields(auth.token = 1, "x-key" = %NotDebug, r#type = 2), redact(r#return, auth.token, "x-key", r#type, return))]
fn redacted_fields_and_return(r#return: u8) -> u8 {
    r#return
}

#[trace_fn(skip(req), fields(http.method = req.method, request.id = req.id, "x-key" = 1, shown = %NotDebug, debugged = ?req.id))]
fn with_fields(req: &Request) -> u64 {
    req.id
}

#[trace_fn(ret)]
fn with_ret() -> Result<String, std::fmt::Error> {
    Ok("done".into())
}

#[trace_fn(ret = true, err = false)]
fn quiet_error() -> Result<u8, String> {
    Err("expected".into())
}

#[trace_fn(err = true)]
fn loud_error() -> Result<u8, String> {
    Ok(1)
}

#[trace_fn(kind = "server")]
fn server() {}

#[trace_fn(kind = "client")]
async fn client() {}

#[trace_fn(kind = "producer", ret)]
fn producer() -> u8 {
    1
}

#[trace_fn(kind = "consumer")]
fn consumer() {}

#[trace_fn(kind = "internal")]
fn internal() {}

#[trace_fn(crate = telemetry::reexported)]
fn via_reexport(x: u8) -> u8 {
    x
}

#[trace_fn(crate = "crate::telemetry::reexported", ret, kind = "client", fields(a.b = 1))]
async fn via_reexport_async(x: u8) -> u8 {
    x
}

#[trace_fn(
    name = "everything",
    skip(b),
    redact(c),
    fields(sum = a + 1),
    ret,
    err = false,
    kind = "server",
    crate = ::tracekit,
)]
fn everything(a: u8, b: u8, c: &str) -> Result<u8, String> {
    let _ = (b, c);
    Ok(a)
}

struct Accounts {
    region: &'static str,
}

#[trace_impl(skip(token), redact(password, region, return), fields(region = self.region), ret, err = false, kind = "server", crate = tracekit)]
impl Accounts {
    fn login(&self, user: &str, password: &str, token: u64) -> bool {
        let _ = (user, password, token);
        true
    }
    #[trace_fn(skip_all, kind = "internal", ret = false, fields(extra = 1))]
    fn audit(&self, password: &str) -> usize {
        password.len()
    }
    #[trace_fn]
    fn plain(&self) {}
    #[no_trace]
    fn untraced(&self) {}
}

#[tracekit::trace_fn(root)]
fn job(id: u64) -> u64 {
    id
}

#[tracekit::trace_fn(root, kind = "consumer", name = "nightly")]
async fn nightly() {}

fn main() {
    named();
    let _ = skip_one(1, NotDebug);
    let _ = skip_everything(1, 2);
    let _ = redacted("a", "b");
    let _ = redacted_fields_and_return(1);
    let _ = with_fields(&Request { method: "GET", id: 1 });
    let _ = with_ret();
    let _ = quiet_error();
    let _ = loud_error();
    server();
    consumer();
    internal();
    let _ = job(1);
    let _ = producer();
    let _ = via_reexport(1);
    let _ = everything(1, 2, "c");
    let a = Accounts { region: "eu" };
    let _ = a.login("u", "p", 1);
    let _ = a.audit("p");
    a.plain();
    a.untraced();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        client().await;
        nightly().await;
        let _ = via_reexport_async(1).await;
    });
}
