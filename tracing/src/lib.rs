//! `tracing` inside tracekit traces. Libraries such as hyper, reqwest,
//! tower-http, sqlx and tonic describe their work with `tracing` spans and
//! events; [`TracekitLayer`] turns them into tracekit spans and span events
//! of the current tracekit trace, both ways round: a `tracing` span entered
//! under a tracekit span is its child, and a tracekit span (a `#[trace_fn]`
//! call) started inside a `tracing` span is that span's child.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(tracekit_tracing::TracekitLayer::new());
//! let ((), c) = tracekit::testing::capture(|| {
//!     tracing::subscriber::with_default(subscriber, || {
//!         let _request = tracekit::start_active_span("request");
//!         tracing::info_span!("pool.get", size = 8).in_scope(|| {
//!             let _query = tracekit::start_active_span("query");
//!         });
//!     })
//! });
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! assert_eq!(c.tree(), "request\n  pool.get\n    query\n");
//! assert_eq!(c.span("pool.get").tag("size"), Some(&tracekit::Value::I64(8)));
//! ```
//!
//! With the `fmt` feature (on by default), [`WithTraceIds`] puts the
//! current span's `trace_id`, `span_id` and request id on every line that
//! `tracing_subscriber::fmt` writes inside a span, in text and in JSON.

#![warn(missing_docs)]

#[cfg(feature = "fmt")]
mod fmt;
mod layer;

#[cfg(feature = "fmt")]
pub use fmt::WithTraceIds;
pub use layer::TracekitLayer;
