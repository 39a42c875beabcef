//! # tracekit
//!
//! Distributed tracing with almost no code: put [`#[trace_fn]`](trace_fn) on a
//! function, or [`#[trace_impl]`](trace_impl) on an `impl` block, and every
//! call becomes a span, a child of the current span, named after the function
//! (`Type::method` inside an impl), its arguments recorded as tags, `Err`
//! returns and panics marked as errors.
//!
//! ```
//! use tracekit::{trace_fn, trace_impl};
//!
//! struct Repo;
//!
//! #[trace_impl]
//! impl Repo {
//!     fn find(&self, id: u64) -> Result<String, std::io::Error> {
//!         if id == 0 {
//!             return Err(std::io::Error::other("no user 0"));
//!         }
//!         Ok(format!("user {id}"))
//!     }
//! }
//!
//! #[trace_fn]
//! fn handle(repo: &Repo, id: u64) -> String {
//!     repo.find(id).unwrap_or_default()
//! }
//!
//! let (_, captured) = tracekit::testing::capture(|| {
//!     handle(&Repo, 7);
//!     handle(&Repo, 0);
//! });
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! assert_eq!(captured.roots().len(), 2);
//! let find = &captured.children(captured.roots()[1])[0];
//! assert_eq!(find.name(), "Repo::find");
//! assert_eq!(find.tag("id").unwrap().to_string(), "0");
//! assert!(find.is_error());
//! ```
//!
//! ## Where things are
//! A span flows one way through the crate's folders, each using only the
//! ones after it (`ARCHITECTURE.md`, at the root of the repository, draws
//! the path and says where the unsafe code is; a test checks the order):
//! - **`integrations`** (the [`http`], [`grpc`] and [`messaging`] modules):
//!   the spans of requests and messages, and the request id;
//! - **`propagation`**: a context written into headers and read back;
//! - **`api`**: a span is born in [`Span::start`], [`start_active_span`] or
//!   a `#[trace_fn]` call, and finished when its guard drops (the call
//!   returns); the current context ([`current_span`], [`Context`]),
//!   futures ([`FutureExt`]), threads, setup ([`set_reporter`]) and
//!   [`testing`];
//! - **`local`**, this thread's state: the stack of active frames and the
//!   batch its spans are recorded into, finished in place, and handed over
//!   whole when the thread's last local span closes;
//! - **`sampling`**: whether a trace is recorded ([`sampler`]) and whether a
//!   trace point is switched on ([`set_filter`]);
//! - **`collect`**: where finished spans leave the threads: an outbox per
//!   thread and a bounded lock-free queue, taken by the background thread,
//!   which delivers them as one [`SpanBatch`] to the installed [`Reporter`];
//! - **`report`**: what a reporter is, and the ones tracekit ships
//!   ([`BatchReporter`] in front of an [`Exporter`] such as OTLP);
//! - **`data`**: what every layer shares: ids, the clock, values, trace
//!   points, records as threads write them and as reporters read them.
//!
//! [`testing::capture`] collects the spans of a closure for assertions.
//! [`metrics`] counts every traced call and request, with its errors and
//! durations, however traces are sampled (counted where a call finishes or
//! where the collector takes its record, summed in `collect`).
//!
//! ## The `trace-all` feature
//! On by default. Without it (`default-features = false`) every attribute
//! expands to its item unchanged and the explicit API does nothing: no ids,
//! no clock reads, nothing reported.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// The functions a traced call goes through on every call (the glue
/// `#[trace_fn]`'s expansion calls, and the constructors of its argument
/// values): inlined without fail in an optimised build, where the call's
/// cost is measured, and only suggested in a debug one, whose build time
/// every instrumented function pays (see PERFORMANCE.md, "Code per
/// instrumented function").
macro_rules! hot {
    ($(#[$attr:meta])* $vis:vis const fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg_attr(not(debug_assertions), inline(always))]
        #[cfg_attr(debug_assertions, inline)]
        $vis const fn $($rest)*
    };
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg_attr(not(debug_assertions), inline(always))]
        #[cfg_attr(debug_assertions, inline)]
        $vis fn $($rest)*
    };
}

// The layers, from the top: each module uses only the layers below it
// (runtime/tests/layers.rs checks it; ARCHITECTURE.md draws it).
mod api;
mod collect;
mod data;
mod integrations;
mod local;
pub mod propagation;
mod report;
mod sampling;

pub use api::metrics;
pub use api::private as __private;
#[cfg(feature = "signal")]
pub use api::signal;
#[doc(hidden)]
pub use api::support as __support;
#[cfg(feature = "tokio")]
pub use api::task;
pub use api::{testing, thread};
pub use integrations::{grpc, http, messaging};
pub use sampling::sampler;

pub use api::active_span::{ActiveSpan, Entered, start_active_span};
pub use api::context::{Context, ContextGuard, CurrentSpan, current_span};
pub use api::future::{FutureExt, InSpan, WithContext};
pub use api::setup::{ReporterGuard, flush, set_reporter};
pub use api::span::Span;
pub use api::span_builder::SpanBuilder;
pub use collect::collector::{CollectorStats, QUEUE_CAPACITY, collector_stats};
pub use data::baggage::{Baggage, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS, baggage_dropped};
pub use data::diag::{DiagnosticLevel, Diagnostics, SetDiagnosticsError, set_diagnostics};
pub use data::id::{SpanId, TraceId};
pub use data::parts::{EVENT_LIMIT, Event, Fields, LINK_LIMIT, Link, SpanKind, Status, TAG_LIMIT};
pub use data::record::SpanRecord;
pub use data::secret::Secret;
pub use data::span_batch::SpanBatch;
pub use data::span_context::SpanContext;
pub use data::text::{INLINE_TEXT, Text};
pub use data::trace_point::{Metadata, trace_points};
pub use data::value::{Key, MAX_TEXT_LEN, ToValue, Value, max_text_len, set_max_text_len};
pub use data::view::{SpanView, Tags};
pub use report::{
    BatchConfig, BatchReporter, ConsoleReporter, DEFAULT_SHUTDOWN_TIMEOUT, ExportError,
    ExportSnapshot, ExportStats, Exporter, InMemoryExporter, InMemoryReporter, Reporter, Tee,
};
pub use sampling::filter::{FilterError, is_enabled, set_enabled, set_filter};

/// Traces a function: every call becomes a span, a child of the current span.
///
/// Arguments are recorded as tags under their names (`self` is left out):
/// integers, floats, bools and strings keep their type, other `Debug` types
/// are recorded as text, and types without `Debug` are left out. No
/// argument type breaks the build, but one: a type of the crate's own
/// written with the name of a number, `bool` or `str` (a `struct u8`), which
/// is taken for the primitive and fails at the argument (skip it with
/// `skip(...)`). An `Err` return and a panic mark the span
/// as an error (tag `error = true`, error status, an `exception` event with
/// the message and the `source()` chain).
///
/// ```
/// #[tracekit::trace_fn]
/// fn checkout(user: &str, items: u32) -> Result<u32, std::fmt::Error> {
///     Ok(items * 10)
/// }
///
/// let (total, c) = tracekit::testing::capture(|| checkout("ann", 3));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(total.unwrap(), 30);
/// assert_eq!(c.span("checkout").tag("user").unwrap().to_string(), "ann");
/// ```
///
/// # Function shapes
///
/// Any function with a body: free functions and methods with every receiver
/// (`&self`, `&mut self`, `self`, `self: Box<Self>`, `self: Arc<Self>`,
/// `self: Pin<&mut Self>`), generics, lifetimes and const generics,
/// `impl Trait` arguments and returns, `unsafe fn`, `extern "C" fn`, pattern
/// arguments (each bound name is recorded), functions made by `macro_rules!`.
/// `return` and `?` behave as before; other attributes (`#[must_use]`,
/// `#[cfg]`, docs) are kept. An argument under `#[cfg(...)]` is not
/// recorded: the attribute runs before configuration, so it cannot know
/// whether that argument exists. A `const fn` is rejected: it cannot do run-time
/// work.
///
/// Futures get a span that covers all of their work:
/// - an `async fn` (also in traits): the span starts at the first poll;
/// - a function returning `impl Future` or `Pin<Box<dyn Future>>` (or a
///   `BoxFuture` alias), which is what `async-trait` generates: the span
///   starts at the call and ends when the returned future completes.
///
/// Either way a future dropped before completion (cancelled, for example by
/// `tokio::time::timeout`) finishes its span tagged `cancelled = true`, and
/// the future stays `Send` whenever the body is.
///
/// ```
/// use std::{future::Future, pin::Pin};
///
/// #[tracekit::trace_fn]
/// async fn fetch(id: u64) -> u64 { id }
///
/// #[tracekit::trace_fn]
/// fn fetch_boxed(id: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
///     Box::pin(async move { fetch(id).await })
/// }
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let (_, c) = tracekit::testing::capture(|| rt.block_on(fetch_boxed(7)));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "fetch_boxed\n  fetch\n");
/// ```
///
/// # Options
///
/// Options combine freely: `#[trace_fn(name = "db.query", skip(conn), kind = "client")]`.
/// Every misuse (an unknown or repeated option, a name that is not an
/// argument, a bad kind) is a compile error at the offending token, also
/// with the `trace-all` feature off.
///
/// ## `name = "..."`
/// The span name, instead of the function's name.
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn(name = "orders.place")]
/// fn place() {}
/// # let (_, c) = tracekit::testing::capture(place);
/// # assert_eq!(c.tree(), "orders.place\n");
/// ```
///
/// ## `skip(a, b)`, `skip_all`
/// Leaves those arguments out (all of them with `skip_all`).
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn(skip(conn))]
/// fn query(conn: &mut Vec<u8>, sql: &str) { conn.clear(); }
/// # let (_, c) = tracekit::testing::capture(|| query(&mut vec![1], "SELECT 1"));
/// # assert!(c.span("query").tag("conn").is_none());
/// # assert!(c.span("query").tag("sql").is_some());
/// ```
///
/// ## `redact(password, auth.token, return)`
/// Records an argument, a field (by its key; `"x-api-key"` in quotes works
/// too) or the value `ret` records (`return`) as `"[redacted]"`: the tag
/// shows the value was there, never the value. A redacted field's
/// expression is not evaluated. For a type that must never be recorded by
/// any function, use [`Secret`].
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn(ret, skip(token), fields(auth.token = token), redact(password, auth.token, return))]
/// fn login(user: &str, password: &str, token: &str) -> String {
///     format!("session-of-{user}")
/// }
///
/// let (_, c) = tracekit::testing::capture(|| login("ann", "hunter2", "t0k3n"));
/// let span = c.span("login");
/// for key in ["password", "auth.token", "return"] {
///     assert_eq!(span.tag(key).unwrap().to_string(), "[redacted]");
/// }
/// # assert!(span.tag("token").is_none());
/// ```
///
/// ## `fields(key = value, ...)`
/// Extra tags computed from the arguments (or anything in scope, `self`
/// included) when the span starts. Keys may be dotted (`db.system`) or
/// string literals. A value is recorded like an argument: typed, else as
/// `Debug` text; `%value` records its `Display` text and `?value` its `Debug`
/// text. A value that implements neither `ToValue` nor `Debug` is a compile
/// error at the value. A value is evaluated once, when the span starts and
/// only if it records (never under an unsampled span); the result is
/// borrowed, never moved. The expression runs in a closure: `?` or `return`
/// inside it do not leave the function.
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// struct Request { method: &'static str, path: String }
///
/// #[tracekit::trace_fn(skip(req), fields(http.request.method = req.method, url.path = %req.path, db.system = "postgres"))]
/// fn handle(req: &Request) -> u16 { 200 }
///
/// let req = Request { method: "GET", path: "/users".into() };
/// let (_, c) = tracekit::testing::capture(|| handle(&req));
/// let span = c.span("handle");
/// assert_eq!(span.tag("http.request.method").unwrap().to_string(), "GET");
/// assert_eq!(span.tag("url.path").unwrap().to_string(), "/users");
/// assert_eq!(span.tag("db.system").unwrap().to_string(), "postgres");
/// ```
///
/// ## `ret`
/// Records the return value as the tag `return`: the `Ok` value of a
/// `Result` (nothing for an `Err`, which is recorded as an error anyway).
/// `ret = false` turns it off again for one method of a `#[trace_impl]`.
/// ```
/// #[tracekit::trace_fn(ret)]
/// fn port(s: &str) -> Result<u16, std::num::ParseIntError> { s.parse() }
///
/// let (_, c) = tracekit::testing::capture(|| port("8080"));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.span("port").tag("return"), Some(&tracekit::Value::U64(8080)));
/// ```
///
/// ## `err = false`
/// An `Err` return does not mark the span as an error: for functions where
/// `Err` is an expected answer (a cache miss). A panic still does.
/// ```
/// #[tracekit::trace_fn(err = false)]
/// fn cached(key: &str) -> Result<u32, String> { Err("miss".into()) }
///
/// let (_, c) = tracekit::testing::capture(|| cached("k"));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(!c.span("cached").is_error());
/// ```
///
/// ## `kind = "server" | "client" | "producer" | "consumer" | "internal"`
/// The [`SpanKind`]; `internal` by default.
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn(kind = "client")]
/// fn call_backend() {}
/// # let (_, c) = tracekit::testing::capture(call_backend);
/// # assert_eq!(c.span("call_backend").kind(), tracekit::SpanKind::Client);
/// ```
///
/// ## `root`
/// Every call starts a new trace, even under a current span (a job
/// runner's per-job function, a cron tick), and the function is an entry
/// point under [`Roots::EntryPoints`](sampler::Roots). (Called inside a
/// trace that is not sampled, it records nothing, as any call there.)
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn(root)]
/// fn run_job(id: u64) {}
///
/// let (_, c) = tracekit::testing::capture(|| {
///     let _poller = tracekit::start_active_span("poll");
///     run_job(1);
/// });
/// assert_eq!(c.span("run_job").parent_id(), None);
/// assert_ne!(c.span("run_job").trace_id(), c.span("poll").trace_id());
/// ```
///
/// ## `crate = path`
/// Where the generated code finds `tracekit`, when your crate reaches it
/// through a re-export (a company-wide telemetry crate); `crate = "path"`
/// works too.
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// mod telemetry { pub use tracekit as tk; }
///
/// #[tracekit::trace_fn(crate = telemetry::tk)]
/// fn work() {}
/// # let (_, c) = tracekit::testing::capture(work);
/// # assert_eq!(c.tree(), "work\n");
/// ```
pub use tracekit_macros::trace_fn;

/// Traces every method of an `impl` block as `Type::method`.
///
/// Works on inherent impls, trait impls, generic impls (`impl<T> Cache<T>`
/// gives `Cache::get`), and on `trait` definitions, where it traces the
/// default method bodies. Associated consts, types and macros pass through
/// untouched; a method opts out with `#[no_trace]`.
///
/// ```
/// struct Cache;
/// #[tracekit::trace_impl]
/// impl Cache {
///     fn get(&self, key: &str) -> Option<u64> { None }
///     #[no_trace]
///     fn len(&self) -> usize { 0 }
/// }
/// let (_, c) = tracekit::testing::capture(|| { Cache.get("k"); Cache.len(); });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "Cache::get\n");
/// ```
///
/// # Options
///
/// The options of [`#[trace_fn]`](trace_fn) except `name`, as defaults for
/// every method. A method's own `#[trace_fn(...)]` overrides them option by
/// option; its `fields` and `redact` add to the impl's. A default `skip`
/// name applies to the methods that have that argument, and must be an
/// argument of at least one of them; a default `redact` name may also be a
/// field of one of them.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// struct Accounts { region: &'static str }
///
/// #[tracekit::trace_impl(redact(password), fields(region = self.region), kind = "server")]
/// impl Accounts {
///     fn login(&self, user: &str, password: &str) -> bool { true }
///
///     #[trace_fn(name = "accounts.audit", kind = "internal")]
///     fn audit(&self, user: &str) {}
/// }
///
/// let accounts = Accounts { region: "eu" };
/// let (_, c) = tracekit::testing::capture(|| { accounts.login("ann", "pw"); accounts.audit("ann"); });
/// let login = c.span("Accounts::login");
/// assert_eq!(login.tag("password").unwrap().to_string(), "[redacted]");
/// assert_eq!(login.tag("region").unwrap().to_string(), "eu");
/// assert_eq!(login.kind(), tracekit::SpanKind::Server);
/// assert_eq!(c.span("accounts.audit").kind(), tracekit::SpanKind::Internal);
/// ```
///
/// # With `async-trait`
///
/// Put `#[trace_impl]` above or below `#[async_trait]`: above, it traces the
/// `async fn`s before they are boxed; below, it traces the boxed futures
/// `async-trait` made. Both give one span per call covering the whole future.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[async_trait::async_trait]
/// trait Mailer { async fn send(&self, to: &str) -> Result<(), String>; }
///
/// struct Smtp;
///
/// #[tracekit::trace_impl]
/// #[async_trait::async_trait]
/// impl Mailer for Smtp {
///     async fn send(&self, to: &str) -> Result<(), String> { Ok(()) }
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # let (_, c) = tracekit::testing::capture(|| rt.block_on(Smtp.send("ann")));
/// # assert_eq!(c.span("Smtp::send").tag("to").unwrap().to_string(), "ann");
/// ```
pub use tracekit_macros::trace_impl;

/// Whether tracing is compiled in: the `trace-all` feature, on by default.
/// With it off every attribute expands to the untouched item and nothing is
/// recorded, so a test that asserts recorded spans checks this first (or
/// asserts that nothing was recorded).
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
/// if tracekit::TRACE_ALL {
///     assert_eq!(c.tree(), "a\n");
/// } else {
///     assert!(c.spans().is_empty());
/// }
/// ```
pub const TRACE_ALL: bool = cfg!(feature = "trace-all");
