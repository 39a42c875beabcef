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
//! assert_eq!(captured.roots().len(), 2);
//! let find = &captured.children(captured.roots()[1])[0];
//! assert_eq!(find.name(), "Repo::find");
//! assert_eq!(find.tag("id").unwrap().to_string(), "0");
//! assert!(find.is_error());
//! ```
//!
//! ## Where things are
//! - a span is born in [`span`](Span) (`Span::start`, [`start_active_span`],
//!   and the `#[trace_fn]` fast path), lives on the per-thread stack of
//!   [`Context`] while active, and is finished when its guard drops;
//! - it leaves the thread in a batch for the collector, which hands
//!   [`SpanRecord`]s to the installed [`Reporter`] on a background thread;
//! - [`testing::capture`] collects the spans of a closure for assertions.
//!
//! ## The `trace-all` feature
//! On by default. Without it (`default-features = false`) every attribute
//! expands to its item unchanged and the explicit API does nothing: no ids,
//! no clock reads, nothing reported.

#![warn(missing_docs)]

mod baggage;
mod clock;
mod collector;
mod context;
mod future;
mod id;
mod record;
mod report;
mod span;
pub mod testing;
pub mod thread;
mod trace_point;
mod tree;
mod value;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use baggage::Baggage;
pub use collector::{CollectorStats, QUEUE_CAPACITY, collector_stats};
pub use context::{Context, ContextGuard, CurrentSpan, SpanContext, current_span};
pub use future::{FutureExt, InSpan, WithContext};
pub use id::{SpanId, TraceId};
pub use record::{Event, Link, SpanKind, SpanRecord, Status};
pub use report::{ConsoleReporter, InMemoryReporter, Reporter, ReporterGuard, flush, set_reporter};
pub use span::{ActiveSpan, Entered, Span, SpanBuilder, start_active_span};
pub use trace_point::{Metadata, trace_points};
pub use value::{Key, ToValue, Value};

/// Traces a function: every call becomes a span, a child of the current span.
///
/// Arguments are recorded as tags under their names (`self` is left out):
/// integers, floats, bools and strings keep their type, other `Debug` types
/// are recorded as text, and types without `Debug` are left out. An `Err`
/// return and a panic mark the span as an error. Works on sync and `async fn`s.
///
/// ```
/// #[tracekit::trace_fn]
/// fn checkout(user: &str, items: u32) -> Result<u32, std::fmt::Error> {
///     Ok(items * 10)
/// }
///
/// let (total, c) = tracekit::testing::capture(|| checkout("ann", 3));
/// assert_eq!(total.unwrap(), 30);
/// assert_eq!(c.span("checkout").tag("user").unwrap().to_string(), "ann");
/// ```
pub use tracekit_macros::trace_fn;

/// Traces every method of an `impl` block as `Type::method`.
///
/// A method can set its own options with `#[trace_fn(...)]` or opt out with
/// `#[no_trace]`.
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
/// assert_eq!(c.tree(), "Cache::get\n");
/// ```
pub use tracekit_macros::trace_impl;

/// Whether tracing is compiled in (the `trace-all` feature).
pub(crate) const ENABLED: bool = cfg!(feature = "trace-all");
