//! What a program calls: spans and their guards (`span`), the current
//! context and its hand-over to threads and futures (`context`, `future`,
//! `thread`, `task`), setting up where spans go (`setup`, `signal`), and
//! capturing spans in tests (`testing`). `private` is what `#[trace_fn]`'s
//! generated code calls, `support` what tracekit's own crates and tests
//! reach for. Everything here works through the thread state
//! (`local`) and the layers below it.

pub(crate) mod active_span;
pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod future;
pub mod metrics;
pub(crate) mod panic;
#[doc(hidden)]
pub mod private;
pub(crate) mod setup;
#[cfg(feature = "signal")]
pub mod signal;
pub(crate) mod span;
pub(crate) mod span_builder;
#[doc(hidden)]
pub mod support;
#[cfg(feature = "tokio")]
pub mod task;
pub mod testing;
pub mod thread;
