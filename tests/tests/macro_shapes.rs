//! Every function shape users write, traced: receivers, generics, `unsafe`
//! and `extern` fns, `impl Trait`, futures returned by hand or by
//! `async-trait`, `async fn` in traits, functions made by `macro_rules!`.

// The shapes users write, lints or not, are what these tests are about.
#![allow(
    clippy::manual_async_fn,
    clippy::boxed_local,
    clippy::multiple_bound_locations
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracekit::testing::capture;
use tracekit::{FutureExt, Value, trace_fn, trace_impl};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Counter {
    n: u32,
}

#[trace_impl]
impl Counter {
    fn new(n: u32) -> Self {
        Counter { n }
    }
    fn get(&self) -> u32 {
        self.n
    }
    fn bump(&mut self, by: u32) -> u32 {
        self.n += by;
        self.n
    }
    fn into_inner(self) -> u32 {
        self.n
    }
    fn boxed(self: Box<Self>) -> u32 {
        self.n
    }
    fn shared(self: Arc<Self>) -> u32 {
        self.n
    }
    fn pinned(self: Pin<&mut Self>, by: u32) -> u32 {
        let this = self.get_mut();
        this.n += by;
        this.n
    }
    fn generic<T: Into<u32> + Copy, const N: usize>(&self, items: [T; N]) -> u32
    where
        T: std::fmt::Debug,
    {
        items.iter().map(|&i| i.into()).sum::<u32>() + self.n
    }
    fn longest<'a>(&self, a: &'a str, b: &'a str) -> &'a str {
        if a.len() >= b.len() { a } else { b }
    }
}

#[test]
fn every_receiver_shape_is_a_type_method_span() {
    let (out, c) = capture(|| {
        let mut counter = Counter::new(1);
        let a = counter.get();
        let b = counter.bump(2);
        let c = Box::new(Counter { n: 10 }).boxed();
        let d = Arc::new(Counter { n: 20 }).shared();
        let mut pinned = Counter { n: 30 };
        let e = Pin::new(&mut pinned).pinned(1);
        let f = counter.generic([1u8, 2u8]);
        let g = counter.longest("ab", "abc").len() as u32;
        let h = counter.into_inner();
        [a, b, c, d, e, f, g, h]
    });
    assert_eq!(out, [1, 3, 10, 20, 31, 6, 3, 3]);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let names: Vec<&str> = c.spans().iter().map(|s| s.name()).collect();
    for name in [
        "Counter::new",
        "Counter::get",
        "Counter::bump",
        "Counter::boxed",
        "Counter::shared",
        "Counter::pinned",
        "Counter::generic",
        "Counter::longest",
        "Counter::into_inner",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(c.span("Counter::new").tag("n"), Some(&Value::U64(1)));
    assert_eq!(c.span("Counter::pinned").tag("by"), Some(&Value::U64(1)));
    assert_eq!(
        c.span("Counter::generic")
            .tag("items")
            .map(ToString::to_string),
        Some("[1, 2]".to_owned())
    );
    assert_eq!(
        c.span("Counter::longest").tag("b"),
        Some(&Value::from("abc"))
    );
    // `self` is never recorded.
    assert!(c.spans().iter().all(|s| s.tag("self").is_none()));
}

#[trace_fn]
unsafe fn read_raw(p: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *p }
}

#[trace_fn]
extern "C" fn c_callback(x: i32) -> i32 {
    x * 2
}

#[trace_fn]
unsafe extern "C" fn unsafe_c_callback(x: i32) -> i32 {
    x + 1
}

#[test]
fn unsafe_and_extern_fns_are_traced() {
    let value = 5u32;
    let (out, c) = capture(|| {
        // SAFETY: `value` outlives the call.
        let a = unsafe { read_raw(&value) };
        let f: extern "C" fn(i32) -> i32 = c_callback;
        // SAFETY: no preconditions.
        let b = unsafe { unsafe_c_callback(f(3)) };
        (a, b)
    });
    assert_eq!(out, (5, 7));
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "read_raw\nc_callback\nunsafe_c_callback\n");
        assert_eq!(c.span("c_callback").tag("x"), Some(&Value::I64(3)));
    }
}

#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad input: {}", self.0)
    }
}

impl std::error::Error for BadInput {}

impl From<std::num::ParseIntError> for BadInput {
    fn from(e: std::num::ParseIntError) -> Self {
        BadInput(e.to_string())
    }
}

#[trace_fn]
fn total(values: impl IntoIterator<Item = u32>) -> u32 {
    values.into_iter().sum()
}

#[trace_fn]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

/// `?` inside a function returning `Result<impl Trait, E>` converts errors
/// into `E` as before.
#[trace_fn]
fn parse_all(input: &str) -> Result<impl Iterator<Item = u32>, BadInput> {
    let mut out = Vec::new();
    for part in input.split(',') {
        if part.is_empty() {
            return Err(BadInput("empty".into()));
        }
        out.push(part.trim().parse::<u32>()?);
    }
    Ok(out.into_iter())
}

#[test]
fn impl_trait_arguments_and_returns() {
    let (out, c) = capture(|| {
        (
            total([1, 2, 3]),
            evens(5).count(),
            parse_all("1, 2").map(Iterator::sum::<u32>).ok(),
            parse_all("1,x").is_err(),
            parse_all("1,").is_err(),
        )
    });
    assert_eq!(out, (6, 3, Some(3), true, true));
    if tracekit::TRACE_ALL {
        let parses = c.spans_named("parse_all");
        assert!(!parses[0].is_error());
        assert!(parses[1].is_error() && parses[2].is_error());
        assert_eq!(c.span("evens").tag("limit"), Some(&Value::U64(5)));
    }
}

/// Attributes around the traced function stay where they were.
mod attributes {
    use tracekit::trace_fn;

    /// Documented, must-use, cfg-gated: all of it kept.
    #[must_use]
    #[trace_fn]
    #[inline]
    pub fn documented(x: u8) -> u8 {
        x
    }

    #[cfg(any())]
    #[trace_fn]
    pub fn compiled_out() -> u8 {
        compile_error!("cfg must remove this function")
    }

    #[trace_fn]
    #[cfg(not(any()))]
    pub fn compiled_in() -> u8 {
        1
    }

    #[trace_fn]
    #[cfg(any())]
    pub fn removed_after_trace_fn() -> u8 {
        compile_error!("cfg after the attribute must remove this function too")
    }
}

#[test]
fn other_attributes_are_kept() {
    let (out, c) = capture(|| attributes::documented(4) + attributes::compiled_in());
    assert_eq!(out, 5);
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "documented\ncompiled_in\n");
    }
}

macro_rules! traced_getter {
    ($name:ident, $arg:ident: $ty:ty => $body:expr) => {
        #[trace_fn]
        fn $name($arg: $ty) -> $ty {
            $body
        }
    };
}

traced_getter!(double, x: u64 => x * 2);
traced_getter!(shout, s: String => s.to_uppercase());

// A body passed in as a `block` fragment reaches the attribute wrapped in an
// invisible group, not as the item's own braces.
macro_rules! traced_with_body {
    ($name:ident($arg:ident: $ty:ty) -> $ret:ty $body:block) => {
        #[trace_fn]
        fn $name($arg: $ty) -> $ret $body
    };
}

traced_with_body!(halve(x: u64) -> Result<u64, BadInput> {
    if x.is_multiple_of(2) { Ok(x / 2) } else { Err(BadInput("odd".into())) }
});

// A whole function passed in as an `item` fragment.
macro_rules! traced_item {
    ($f:item) => {
        #[trace_fn]
        $f
    };
}

traced_item! {
    fn triple(x: u64) -> u64 {
        x * 3
    }
}

/// An argument under `#[cfg]` may not exist once configuration is applied
/// (the attribute sees it before), so it is not recorded; the others are.
#[trace_fn]
fn configured(
    #[cfg(target_os = "none")] gone: u8,
    #[cfg(not(target_os = "none"))] kept_by_cfg: u8,
    plain: u8,
) -> u8 {
    kept_by_cfg + plain
}

macro_rules! traced_impl {
    ($ty:ident) => {
        struct $ty;
        #[trace_impl]
        impl $ty {
            fn hello(&self, who: &str) -> String {
                format!("hello {who}")
            }
        }
    };
}

traced_impl!(Greeter);

#[test]
fn functions_from_macro_rules_are_traced() {
    let (out, c) = capture(|| {
        (
            double(21),
            shout("hi".into()),
            Greeter.hello("ann"),
            halve(3).is_err(),
            triple(2),
            configured(1, 2),
        )
    });
    assert_eq!(
        out,
        (42, "HI".to_owned(), "hello ann".to_owned(), true, 6, 3)
    );
    if tracekit::TRACE_ALL {
        assert_eq!(
            c.tree(),
            "double\nshout\nGreeter::hello\nhalve\ntriple\nconfigured\n"
        );
        let configured = c.span("configured");
        assert_eq!(configured.tag("plain"), Some(&Value::U64(2)));
        assert_eq!(configured.tag("kept_by_cfg"), None);
        assert_eq!(c.span("triple").tag("x"), Some(&Value::U64(2)));
        assert_eq!(c.span("halve").tag("x"), Some(&Value::U64(3)));
        assert!(c.span("halve").is_error());
        assert_eq!(c.span("double").tag("x"), Some(&Value::U64(21)));
        assert_eq!(c.span("shout").tag("s"), Some(&Value::from("hi")));
        assert_eq!(
            c.span("Greeter::hello").tag("who"),
            Some(&Value::from("ann"))
        );
    }
}

// --- Futures --------------------------------------------------------------

#[trace_fn]
async fn leaf(i: u32) -> u32 {
    tokio::task::yield_now().await;
    i
}

/// Returns a future by hand: the span starts at the call, covers every
/// poll and ends when the future completes.
#[trace_fn]
fn fetch_later(id: u32) -> impl Future<Output = Result<u32, BadInput>> + Send {
    let prepared = id + 1; // the sync part runs inside the span too
    async move {
        let v = leaf(prepared).await;
        if v > 100 {
            return Err(BadInput("too big".into()));
        }
        Ok(v)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[trace_fn]
    fn load<'a>(&'a self, index: usize) -> Pin<Box<dyn Future<Output = Option<u32>> + Send + 'a>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.items.get(index).copied()
        })
    }

    #[trace_fn(ret)]
    fn load_alias(&self, index: usize) -> BoxFuture<'_, Option<u32>> {
        Box::pin(async move { self.items.get(index).copied() })
    }
}

#[test]
fn functions_returning_futures_span_the_whole_future() {
    let rt = runtime();
    let store = Store {
        items: vec![10, 20],
    };
    let (out, c) = capture(|| {
        rt.block_on(async {
            let _root = tracekit::start_active_span("root");
            let a = fetch_later(1).await.ok();
            let b = fetch_later(200).await.is_err();
            // Spawned onto another worker: the future is `Send`.
            let c = tokio::spawn(fetch_later(2).in_current_span())
                .await
                .unwrap()
                .ok();
            let d = store.load(1).await;
            let e = store.load_alias(5).await;
            (a, b, c, d, e)
        })
    });
    assert_eq!(out, (Some(2), true, Some(3), Some(20), None));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "root\n  fetch_later\n    leaf\n  fetch_later\n    leaf\n  fetch_later\n    leaf\n  load\n  load_alias\n"
    );
    let fetches = c.spans_named("fetch_later");
    assert!(!fetches[0].is_error());
    assert!(fetches[1].is_error());
    let leaf = c.children(fetches[0])[0];
    assert!(leaf.start() >= fetches[0].start() && leaf.end() <= fetches[0].end());
    assert_eq!(c.span("load").tag("index"), Some(&Value::U64(1)));
    // `ret` of an `Option`: `None` is left out, as for arguments.
    assert_eq!(c.span("load_alias").tag("return"), None);
}

// A return type passed in as a `ty` fragment arrives in an invisible group;
// the attribute still sees a future in it.
macro_rules! traced_returning {
    ($name:ident -> $ret:ty) => {
        #[trace_fn]
        fn $name(i: u32) -> $ret {
            async move { leaf(i).await }
        }
    };
}

traced_returning!(leaf_later -> impl Future<Output = u32>);

#[test]
fn a_future_returned_through_a_macro_type_is_spanned_whole() {
    let rt = runtime();
    let (out, c) = capture(|| rt.block_on(leaf_later(4)));
    assert_eq!(out, 4);
    if tracekit::TRACE_ALL {
        // `leaf` runs at the first poll: inside `leaf_later`'s span only if
        // that span covers the future, not just the call that made it.
        assert_eq!(c.tree(), "leaf_later\n  leaf\n");
    }
}

#[test]
fn a_future_dropped_early_finishes_its_span_as_cancelled() {
    let rt = runtime();
    let (out, c) = capture(|| {
        rt.block_on(async {
            let slow = fetch_slowly();
            tokio::time::timeout(Duration::from_millis(10), slow)
                .await
                .is_err()
        })
    });
    assert!(out, "the timeout fired");
    if tracekit::TRACE_ALL {
        let span = c.span("fetch_slowly");
        assert_eq!(span.tag("cancelled"), Some(&Value::Bool(true)));
        assert!(span.duration() >= Duration::from_millis(5));
    }
}

#[trace_fn]
fn fetch_slowly() -> impl Future<Output = ()> {
    tokio::time::sleep(Duration::from_secs(60))
}

// --- async fn in traits, native and through async-trait ---------------------

trait Repository {
    async fn find(&self, id: u32) -> Option<String>;

    async fn find_or_default(&self, id: u32) -> String {
        self.find(id).await.unwrap_or_else(|| "nobody".into())
    }
}

struct Users;

#[trace_impl]
impl Repository for Users {
    async fn find(&self, id: u32) -> Option<String> {
        leaf(id).await;
        (id == 1).then(|| "ann".to_owned())
    }
}

#[trace_impl]
trait Cache {
    fn key(&self) -> &str;

    async fn warm(&self, entries: usize) -> usize {
        tokio::task::yield_now().await;
        entries + self.key().len()
    }
}

impl Cache for Users {
    fn key(&self) -> &str {
        "users"
    }
}

#[test]
fn async_fn_in_traits() {
    let rt = runtime();
    let (out, c) = capture(|| {
        rt.block_on(async {
            let _root = tracekit::start_active_span("root");
            // The future of a concrete impl is `Send` and can be spawned.
            let spawned = tokio::spawn(async { Users.find(1).await }.in_current_span());
            (
                spawned.await.unwrap(),
                Users.find_or_default(2).await,
                Users.warm(3).await,
            )
        })
    });
    assert_eq!(out, (Some("ann".into()), "nobody".into(), 8));
    if tracekit::TRACE_ALL {
        assert_eq!(
            c.tree(),
            "root\n  Users::find\n    leaf\n  Users::find\n    leaf\n  Cache::warm\n"
        );
        assert_eq!(c.span("Cache::warm").tag("entries"), Some(&Value::U64(3)));
    }
}

#[async_trait::async_trait]
trait Mailer {
    async fn send(&self, to: &str, body: String) -> Result<usize, BadInput>;
}

struct SmtpAbove;
struct SmtpBelow;
struct SmtpMethod;

// `#[trace_impl]` first: it sees `async fn`s, which `async-trait` then boxes.
#[trace_impl]
#[async_trait::async_trait]
impl Mailer for SmtpAbove {
    async fn send(&self, to: &str, body: String) -> Result<usize, BadInput> {
        if to.is_empty() {
            return Err(BadInput("no recipient".into()));
        }
        let len: u32 = body.len().to_string().parse()?;
        Ok(leaf(len).await as usize)
    }
}

// `async-trait` first: `#[trace_impl]` sees the `Pin<Box<dyn Future>>` it made.
#[async_trait::async_trait]
#[trace_impl]
impl Mailer for SmtpBelow {
    async fn send(&self, to: &str, body: String) -> Result<usize, BadInput> {
        if to.is_empty() {
            return Err(BadInput("no recipient".into()));
        }
        let len: u32 = body.len().to_string().parse()?;
        Ok(leaf(len).await as usize)
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMethod {
    #[trace_fn(name = "smtp.send")]
    async fn send(&self, to: &str, body: String) -> Result<usize, BadInput> {
        let _ = to;
        Ok(leaf(body.len() as u32).await as usize)
    }
}

#[test]
fn async_trait_with_the_attribute_above_or_below() {
    let rt = runtime();
    let (out, c) = capture(|| {
        rt.block_on(async {
            let _root = tracekit::start_active_span("root");
            let mailers: [Box<dyn Mailer + Send + Sync>; 3] = [
                Box::new(SmtpAbove),
                Box::new(SmtpBelow),
                Box::new(SmtpMethod),
            ];
            let mut sent = Vec::new();
            for m in &mailers {
                sent.push(m.send("ann@example.com", "hi".into()).await.ok());
            }
            sent.push(mailers[0].send("", "x".into()).await.ok());
            sent.push(mailers[1].send("", "x".into()).await.ok());
            sent
        })
    });
    assert_eq!(out, [Some(2), Some(2), Some(2), None, None]);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert_eq!(
        c.tree(),
        "root\n  SmtpAbove::send\n    leaf\n  SmtpBelow::send\n    leaf\n  smtp.send\n    leaf\n  SmtpAbove::send\n  SmtpBelow::send\n"
    );
    for name in ["SmtpAbove::send", "SmtpBelow::send"] {
        let spans = c.spans_named(name);
        assert_eq!(
            spans[0].tag("to"),
            Some(&Value::from("ann@example.com")),
            "{name}"
        );
        assert_eq!(spans[0].tag("body"), Some(&Value::from("hi")), "{name}");
        assert!(!spans[0].is_error() && spans[1].is_error(), "{name}");
    }
}

// --- an error type that borrows ------------------------------------------------

/// An error that borrows its input cannot be inspected (the `Err` would
/// have to outlive the call for its type and chain): `err = false`, which
/// the README names for it, keeps the function traced.
#[trace_fn(err = false)]
fn parse_borrowed<'a>(text: &'a str) -> Result<u8, Box<dyn std::error::Error + 'a>> {
    text.parse::<u8>()
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + 'a>)
}

#[test]
fn a_borrowing_error_type_is_traced_with_err_false() {
    let (r, c) = capture(|| parse_borrowed("x"));
    assert!(r.is_err());
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert!(!c.span("parse_borrowed").is_error(), "err = false");
}
