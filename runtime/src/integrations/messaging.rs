//! Spans for messages: a producer puts its span context into a message's
//! headers; the consumer, perhaps in another process and much later, runs the
//! task inside a `consumer` span of the same trace and leaves nothing behind
//! on its thread (the Celery-task-headers practice).
//!
//! Tags: `messaging.destination.name` and `messaging.operation`
//! (`publish` or `process`). The request id (baggage `request.id`) rides
//! in the message's `x-request-id` header too, and the consumer adopts it
//! from there when the baggage did not carry it (an acceptable one only, as
//! [`http::server_span`](crate::integrations::http::server_span) does).
//!
//! ```
//! use std::collections::HashMap;
//! use tracekit::messaging;
//!
//! let ((), c) = tracekit::testing::capture(|| {
//!     let mut headers = HashMap::new();
//!     drop(messaging::producer_span("emails", &mut headers)); // enqueue the message with `headers`
//!
//!     // A worker, later:
//!     let sent: Result<(), String> = messaging::consume("emails", &headers, || {
//!         let _smtp = tracekit::start_active_span("smtp.send");
//!         Err("mailbox full".to_owned())
//!     });
//!     assert!(sent.is_err());
//! });
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! assert_eq!(c.tree(), "emails publish\n  emails process\n    smtp.send\n");
//! let process = c.span("emails process");
//! assert_eq!(process.parent_id(), Some(c.span("emails publish").span_id()));
//! assert!(process.is_error());
//! ```

use crate::data::error_parts::ErrorParts;
use crate::integrations::request_id;
use crate::propagation::{self, Extractor, Injector};
use crate::{Span, SpanKind};
use std::fmt::Display;

/// Starts a `producer` span named `"{destination} publish"`, a child of the
/// current span, and writes its context into the message's `headers`. Finish
/// it once the message is handed to the queue.
///
/// ```
/// let mut headers = Vec::new();
/// let span = tracekit::messaging::producer_span("orders", &mut headers);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(headers.iter().any(|(k, _)| k == "traceparent"));
/// # drop(span);
/// ```
pub fn producer_span(destination: &str, headers: &mut dyn Injector) -> Span {
    let span = Span::builder(format!("{destination} publish"))
        .kind(SpanKind::Producer)
        .tag("messaging.destination.name", destination.to_owned())
        .tag("messaging.operation", "publish")
        .start();
    if let Some(cx) = span.context() {
        propagation::inject_context(&cx, headers);
        request_id::forward(&cx, headers);
    }
    span
}

/// Starts a `consumer` span named `"{destination} process"`, a child of the
/// context in the message's headers, or a new trace's root when they carry
/// none. Use it for async tasks with [`in_span`](crate::FutureExt::in_span);
/// [`consume`] does the whole job for synchronous ones.
///
/// ```
/// use tracekit::FutureExt;
/// # async fn send_email() {}
/// # async fn worker(headers: std::collections::HashMap<String, String>) {
/// let span = tracekit::messaging::consumer_span("emails", &headers);
/// send_email().in_span(span).await;
/// # }
/// ```
pub fn consumer_span(destination: &str, headers: &dyn Extractor) -> Span {
    let builder = Span::builder(format!("{destination} process"))
        .kind(SpanKind::Consumer)
        .tag("messaging.destination.name", destination.to_owned())
        .tag("messaging.operation", "process");
    let mut span = propagation::continue_from(builder, headers).start();
    request_id::adopt(&mut span, headers, false);
    span
}

/// Runs a task from a message inside its [`consumer_span`], active for the
/// task's duration; an `Err` marks the span as an error with the error's
/// text. When the task returns (or panics) the worker thread's context is
/// what it was before, so the next task starts clean.
///
/// ```
/// let headers: Vec<(String, String)> = Vec::new();
/// let n: Result<u32, std::num::ParseIntError> =
///     tracekit::messaging::consume("numbers", &headers, || "42".parse());
/// assert_eq!(n, Ok(42));
/// assert!(!tracekit::current_span().is_recording());
/// ```
pub fn consume<T, E: Display>(
    destination: &str,
    headers: &dyn Extractor,
    task: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let mut span = consumer_span(destination, headers);
    let result = {
        let _active = span.enter();
        let guard = PanicGuard;
        let result = task();
        std::mem::forget(guard);
        result
    };
    if let Err(e) = &result {
        span.record_error_parts(ErrorParts::message(
            std::any::type_name::<E>(),
            e.to_string(),
        ));
    }
    result
}

/// Marks the active span as failed when a task panics through it.
struct PanicGuard;

impl Drop for PanicGuard {
    fn drop(&mut self) {
        let current = crate::current_span();
        current.set_tag("error", true);
        current.set_status(crate::Status::error("panicked"));
    }
}
