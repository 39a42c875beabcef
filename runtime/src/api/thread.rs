//! Threads that start in the trace of the code that spawned them.

use crate::api::context::Context;
use std::thread::JoinHandle;

/// Spawns a thread, like [`std::thread::spawn`], that runs `f` inside the
/// current context: spans started there are children of the current span.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let _parent = tracekit::start_active_span("parent");
///     tracekit::thread::spawn(|| drop(tracekit::Span::start("child")))
///         .join()
///         .unwrap();
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "parent\n  child\n");
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cx = Context::current();
    std::thread::spawn(move || {
        let _guard = cx.attach();
        f()
    })
}
