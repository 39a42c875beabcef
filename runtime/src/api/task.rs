//! Tokio tasks that start in the trace of the code that spawned them (the
//! `tokio` feature). A plain `tokio::spawn` starts its task with no current
//! span, so its spans begin a new trace.

use crate::api::future::FutureExt;
use std::future::Future;
use tokio::task::JoinHandle;

/// Spawns a task, like [`tokio::spawn`], that runs `future` inside the
/// current context: spans started in it are children of the current span,
/// on whichever worker thread it runs.
///
/// ```
/// use tracekit::FutureExt;
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// let ((), c) = tracekit::testing::capture(|| {
///     rt.block_on(async {
///         async {
///             tracekit::task::spawn(async { drop(tracekit::Span::start("child")) })
///                 .await
///                 .unwrap();
///         }
///         .in_span(tracekit::Span::start("request"))
///         .await
///     })
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "request\n  child\n");
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}
