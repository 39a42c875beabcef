//! Every option of `#[trace_fn(...)]` and `#[trace_impl(...)]`, checked by
//! what a user sees on the captured spans.

// The shapes users write, lints or not, are what these tests are about.
#![allow(clippy::manual_async_fn)]

use std::fmt;
use tracekit::testing::capture;
use tracekit::{SpanKind, SpanRecord, Value, trace_fn, trace_impl};

/// The tags a user set, without the `code.*` location tags.
fn user_tags(span: &SpanRecord) -> Vec<(String, String)> {
    span.tags()
        .filter(|(k, _)| !k.starts_with("code.") && !k.starts_with("sampler."))
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[trace_fn(name = "checkout.place_order")]
fn place_order(items: u32) -> u32 {
    items
}

#[test]
fn name_sets_the_span_name() {
    let (out, c) = capture(|| place_order(2));
    assert_eq!(out, 2);
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "checkout.place_order\n");
        let span = c.span("checkout.place_order");
        assert_eq!(span.tag("items"), Some(&Value::U64(2)));
        assert_eq!(
            span.tag("code.function.name")
                .map(ToString::to_string)
                .as_deref(),
            Some(concat!(module_path!(), "::place_order")),
            "the function's full path, whatever the span's name"
        );
    } else {
        assert!(c.spans().is_empty());
    }
}

#[trace_fn(skip(password, session))]
fn login(user: &str, password: &str, session: u64) -> bool {
    !user.is_empty() && !password.is_empty() && session > 0
}

#[trace_fn(skip_all)]
fn upload(data: &[u8], name: &str) -> usize {
    data.len() + name.len()
}

#[trace_fn(redact(password, token))]
fn authenticate(user: &str, password: String, token: &str, attempt: u8) -> bool {
    password.len() + token.len() > usize::from(attempt) && !user.is_empty()
}

#[test]
fn skip_skip_all_and_redact_keep_secrets_out() {
    let (out, c) = capture(|| {
        (
            login("ann", "hunter2", 9),
            upload(b"abc", "f.txt"),
            authenticate("ann", "hunter2".into(), "t0k3n", 1),
        )
    });
    assert_eq!(out, (true, 8, true));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(user_tags(c.span("login")), pairs(&[("user", "ann")]));
    assert_eq!(user_tags(c.span("upload")), pairs(&[]));
    assert_eq!(
        user_tags(c.span("authenticate")),
        pairs(&[
            ("user", "ann"),
            ("password", "[redacted]"),
            ("token", "[redacted]"),
            ("attempt", "1"),
        ])
    );
    // The secret appears nowhere in the captured spans.
    for span in c.spans() {
        for (_, v) in span.tags() {
            let text = v.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("t0k3n"),
                "{text}"
            );
        }
    }
    let point = tracekit::trace_points()
        .find(|p| p.name() == "login")
        .unwrap();
    assert_eq!(point.args().collect::<Vec<_>>(), ["user"]);
}

struct Request {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
}

struct NoDebug;

impl fmt::Display for NoDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shown through Display")
    }
}

#[trace_fn(
    skip(req, extra),
    fields(
        http.request.method = req.method,
        url.path = req.path.as_str(),
        http.request.header_count = req.headers.len(),
        db.system = "postgres",
        "literal key" = 1.5,
        r#type = "kw",
        display = %extra,
        debug = ?req.headers.first().map(|h| &h.0),
    )
)]
fn handle(req: &Request, extra: NoDebug) -> u16 {
    let NoDebug = extra;
    let found = req.path == "/" && req.method == "GET" && !req.headers.is_empty();
    if found { 200 } else { 404 }
}

#[test]
fn fields_add_tags_computed_from_the_arguments() {
    let req = Request {
        method: "GET",
        path: "/".into(),
        headers: vec![("accept".into(), "*/*".into())],
    };
    let (out, c) = capture(|| handle(&req, NoDebug));
    assert_eq!(out, 200);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let span = c.span("handle");
    assert_eq!(span.tag("http.request.method"), Some(&Value::from("GET")));
    assert_eq!(span.tag("url.path"), Some(&Value::from("/")));
    assert_eq!(span.tag("http.request.header_count"), Some(&Value::U64(1)));
    assert_eq!(span.tag("db.system"), Some(&Value::from("postgres")));
    assert_eq!(span.tag("literal key"), Some(&Value::F64(1.5)));
    assert_eq!(span.tag("type"), Some(&Value::from("kw")));
    assert_eq!(
        span.tag("display"),
        Some(&Value::from("shown through Display"))
    );
    assert_eq!(span.tag("debug"), Some(&Value::from("Some(\"accept\")")));
    // Skipped arguments stay out even though fields read them.
    assert!(span.tag("req").is_none() && span.tag("extra").is_none());
    let point = tracekit::trace_points()
        .find(|p| p.name() == "handle")
        .unwrap();
    assert_eq!(point.args().count(), 0);
    assert_eq!(point.fields().count(), 8);
    assert_eq!(point.fields().next(), Some("http.request.method"));
}

// A field may change or use up what it reads, as an expression written in
// the function could; it is evaluated once, only for a span that records.
// With trace-all off the item is left as written, and only the field read `words`.
#[allow(unused_variables)]
#[trace_fn(skip_all, fields(next_id = ids.next(), first = words.into_iter().next()))]
fn take_fields(ids: &mut std::ops::Range<u64>, words: Vec<String>) -> u64 {
    ids.start
}

#[test]
fn field_expressions_run_once_and_may_use_up_what_they_read() {
    let mut ids = 10..20;
    let (left, c) = capture(|| take_fields(&mut ids, vec!["a".into(), "b".into()]));
    if !tracekit::TRACE_ALL {
        assert_eq!(left, 10);
        assert!(c.spans().is_empty());
        return;
    }
    // Evaluated once, before the body ran.
    assert_eq!(left, 11);
    let span = c.span("take_fields");
    assert_eq!(span.tag("next_id"), Some(&Value::U64(10)));
    assert_eq!(span.tag("first"), Some(&Value::from("a")));
    // Under a span that records nothing, never evaluated.
    let mut ids = 10..20;
    let (left, c) = capture(|| {
        let _dropped = tracekit::Span::builder("dropped")
            .tag("sampling.priority", 0)
            .start_active();
        take_fields(&mut ids, vec!["a".into()])
    });
    assert_eq!(left, 10);
    assert!(c.spans().is_empty());
}

#[derive(Debug)]
struct Config {
    retries: u8,
}

#[trace_fn(ret)]
fn answer() -> i64 {
    42
}

#[trace_fn(ret)]
fn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {
    s.parse()
}

#[trace_fn(ret)]
fn load_config() -> Config {
    Config { retries: 3 }
}

#[trace_fn(ret)]
fn opaque_return() -> NoDebug {
    NoDebug
}

#[trace_fn(ret)]
fn nothing() {}

#[trace_fn(ret)]
fn iter(n: u8) -> impl Iterator<Item = u8> + fmt::Debug {
    0..n
}

#[test]
fn ret_records_the_return_value_or_the_ok_value() {
    let (_, c) = capture(|| {
        answer();
        parse_port("8080").unwrap();
        parse_port("http").unwrap_err();
        assert_eq!(load_config().retries, 3);
        opaque_return();
        nothing();
        iter(3).count();
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.span("answer").tag("return"), Some(&Value::I64(42)));
    let ports = c.spans_named("parse_port");
    assert_eq!(ports[0].tag("return"), Some(&Value::U64(8080)));
    assert!(ports[1].tag("return").is_none());
    assert!(ports[1].is_error());
    assert_eq!(
        c.span("load_config").tag("return"),
        Some(&Value::from("Config { retries: 3 }"))
    );
    assert!(c.span("opaque_return").tag("return").is_none());
    assert!(c.span("nothing").tag("return").is_none());
    // An `impl Trait` return is recorded through its concrete type.
    assert_eq!(c.span("iter").tag("return"), Some(&Value::from("0..3")));
}

tracekit_tests::unit_error!(NotFound, "not found");

#[trace_fn(err = false)]
fn lookup_expected_miss(key: &str) -> Result<u32, NotFound> {
    if key == "hit" { Ok(1) } else { Err(NotFound) }
}

#[trace_fn(err = false, ret)]
fn lookup_with_ret(key: &str) -> Result<u32, NotFound> {
    lookup_expected_miss(key)
}

#[trace_fn(err = false)]
fn still_panics() -> Result<(), NotFound> {
    panic!("boom")
}

#[test]
fn err_false_leaves_err_returns_unmarked_but_not_panics() {
    let (out, c) = capture(|| {
        let a = lookup_expected_miss("miss");
        let b = lookup_with_ret("hit");
        let p = std::panic::catch_unwind(still_panics);
        (a.is_err(), b.ok(), p.is_err())
    });
    assert_eq!(out, (true, Some(1), true));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let miss = c.spans_named("lookup_expected_miss");
    assert!(!miss[0].is_error());
    assert!(miss[0].tag("error").is_none());
    assert!(miss[0].events().is_empty());
    assert_eq!(
        c.span("lookup_with_ret").tag("return"),
        Some(&Value::U64(1))
    );
    assert!(c.span("still_panics").is_error());
}

#[trace_fn(kind = "server")]
fn serve() {}
#[trace_fn(kind = "client")]
fn call() {}
#[trace_fn(kind = "producer")]
fn publish() {}
#[trace_fn(kind = "consumer")]
async fn consume() {}
#[trace_fn(kind = "internal")]
fn internal() {}
#[trace_fn(kind = "client")]
fn send() -> impl Future<Output = u8> {
    async { 7 }
}

#[test]
fn kind_sets_the_span_kind_on_every_shape() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (_, c) = capture(|| {
        serve();
        call();
        publish();
        rt.block_on(consume());
        internal();
        rt.block_on(send());
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let kinds = [
        ("serve", SpanKind::Server),
        ("call", SpanKind::Client),
        ("publish", SpanKind::Producer),
        ("consume", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
        ("send", SpanKind::Client),
    ];
    for (name, kind) in kinds {
        assert_eq!(c.span(name).kind(), kind, "{name}");
    }
    assert_eq!(place_kind(), SpanKind::Internal);
}

fn place_kind() -> SpanKind {
    tracekit::trace_points()
        .find(|p| p.name() == "checkout.place_order")
        .unwrap()
        .kind()
}

/// A crate that re-exports tracekit for its users, as a company-wide
/// telemetry crate would.
mod telemetry {
    // Only the generated code uses it, and there is none with tracing off.
    #[cfg_attr(not(feature = "trace-all"), allow(unused_imports))]
    pub use tracekit as tk;
}

#[trace_fn(crate = telemetry::tk, kind = "client")]
fn through_reexport(x: u8) -> u8 {
    x
}

#[trace_fn(crate = "crate::telemetry::tk")]
async fn through_reexport_async(x: u8) -> u8 {
    x
}

#[test]
fn crate_points_the_generated_code_at_a_reexport() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (out, c) = capture(|| through_reexport(1) + rt.block_on(through_reexport_async(2)));
    assert_eq!(out, 3);
    if tracekit::TRACE_ALL {
        assert_eq!(c.span("through_reexport").tag("x"), Some(&Value::U64(1)));
        assert_eq!(
            c.span("through_reexport_async").tag("x"),
            Some(&Value::U64(2))
        );
    }
}

struct Accounts {
    region: &'static str,
}

#[trace_impl(skip(password), redact(card), fields(region = self.region), kind = "server", ret)]
impl Accounts {
    fn sign_in(&self, user: &str, password: &str) -> bool {
        !user.is_empty() && !password.is_empty()
    }

    fn pay(&self, user: &str, card: &str, cents: u64) -> u64 {
        let _ = (user, card);
        cents
    }

    /// A method's own options replace the impl's, option by option; its
    /// fields add to the impl's.
    #[trace_fn(
        name = "accounts.audit",
        skip_all,
        kind = "internal",
        ret = false,
        fields(audit = true)
    )]
    fn audit(&self, user: &str, password: &str) -> usize {
        user.len() + password.len()
    }

    #[no_trace]
    fn region(&self) -> &'static str {
        self.region
    }

    const BANK: &'static str = "acme";
}

#[test]
fn trace_impl_options_are_defaults_that_a_method_overrides() {
    let accounts = Accounts { region: "eu" };
    let (out, c) = capture(|| {
        (
            accounts.sign_in("ann", "pw"),
            accounts.pay("ann", "4111", 250),
            accounts.audit("ann", "pw"),
            accounts.region(),
            Accounts::BANK,
        )
    });
    assert_eq!(out, (true, 250, 5, "eu", "acme"));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert_eq!(c.spans().len(), 3);
    let sign_in = c.span("Accounts::sign_in");
    assert_eq!(
        user_tags(sign_in),
        pairs(&[("user", "ann"), ("region", "eu"), ("return", "true")])
    );
    assert_eq!(sign_in.kind(), SpanKind::Server);
    assert_eq!(
        user_tags(c.span("Accounts::pay")),
        pairs(&[
            ("user", "ann"),
            ("card", "[redacted]"),
            ("cents", "250"),
            ("region", "eu"),
            ("return", "250"),
        ])
    );
    let audit = c.span("accounts.audit");
    assert_eq!(
        user_tags(audit),
        pairs(&[("region", "eu"), ("audit", "true")])
    );
    assert_eq!(audit.kind(), SpanKind::Internal);
}
