//! Future adapters that keep the right span current across `.await`, on
//! whichever thread polls the future.

use crate::clock::Stamp;
use crate::context::Context;
use crate::local::{Token, with_state};
use crate::span::Span;
use crate::value::Value;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

/// Extension methods on every future.
///
/// ```
/// use tracekit::FutureExt;
/// # let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
/// let ((), c) = tracekit::testing::capture(|| rt.block_on(async {
///     let span = tracekit::Span::start("request");
///     async {
///         let _child = tracekit::start_active_span("parse");
///         tokio::task::yield_now().await;
///     }
///     .in_span(span)
///     .await;
/// }));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "request\n  parse\n");
/// ```
pub trait FutureExt: Future + Sized {
    /// Makes `span` current on every poll of this future, finishes it when
    /// the future completes, and marks it `cancelled` if the future is
    /// dropped first.
    fn in_span(self, span: Span) -> InSpan<Self> {
        InSpan::new(span, self)
    }

    /// Captures the current context now and re-enters it on every poll, so a
    /// future spawned onto another task or thread stays in this trace.
    ///
    /// ```
    /// use tracekit::FutureExt;
    /// # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    /// let ((), c) = tracekit::testing::capture(|| rt.block_on(async {
    ///     let _root = tracekit::start_active_span("root");
    ///     let task = tokio::spawn(async {
    ///         drop(tracekit::Span::start("in task"));
    ///     }.in_current_span());
    ///     drop(_root);
    ///     task.await.unwrap();
    /// }));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.tree(), "root\n  in task\n");
    /// ```
    fn in_current_span(self) -> WithContext<Self> {
        WithContext {
            cx: Context::current(),
            inner: self,
        }
    }
}

impl<F: Future> FutureExt for F {}

/// A future with a span made current on every poll; see [`FutureExt::in_span`].
#[must_use = "futures do nothing unless polled"]
pub struct InSpan<F, const N: usize = 0> {
    span: Span,
    /// The values of a `#[trace_fn]`'s arguments, recorded when the span ends.
    args: [Option<Value>; N],
    inner: ManuallyDrop<F>,
    done: bool,
}

impl<F> InSpan<F> {
    /// Wraps `inner` so `span` is current whenever it runs.
    ///
    /// ```
    /// let fut = tracekit::InSpan::new(tracekit::Span::start("s"), async { 1 });
    /// # drop(fut);
    /// ```
    pub fn new(span: Span, inner: F) -> InSpan<F> {
        InSpan::with_args(span, [], inner)
    }
}

impl<F, const N: usize> InSpan<F, N> {
    #[doc(hidden)]
    pub fn with_args(span: Span, args: [Option<Value>; N], inner: F) -> InSpan<F, N> {
        InSpan {
            span,
            args,
            inner: ManuallyDrop::new(inner),
            done: false,
        }
    }
}

/// Keeps `span` current for one poll; on drop gives it what was done to it
/// meanwhile, and, if the poll did not return (a panic is unwinding through
/// it), records the panic and finishes the span.
pub(crate) struct Current<'a> {
    span: &'a mut Span,
    args: &'a mut [Option<Value>],
    token: Token,
    pub(crate) returned: bool,
}

impl<'a> Current<'a> {
    #[inline]
    pub(crate) fn enter(span: &'a mut Span, args: &'a mut [Option<Value>]) -> Current<'a> {
        let token = span.push_current();
        Current {
            span,
            args,
            token,
            returned: false,
        }
    }
}

impl Drop for Current<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.token != 0 {
            let edits = with_state(|s| s.pop_poll(self.token, true)).unwrap_or_default();
            if !edits.is_empty() {
                self.span.take_edits(edits);
            }
        }
        if !self.returned {
            self.panicked();
        }
    }
}

impl Current<'_> {
    #[cold]
    #[inline(never)]
    fn panicked(&mut self) {
        let message = crate::panic::message_for(self.token);
        self.span
            .record_error_parts(crate::raw::ErrorParts::message("panic", message));
        self.span.finish_with(Stamp::now(), self.args);
    }
}

impl<F: Future, const N: usize> Future for InSpan<F, N> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is never moved out of the pinned struct; `span`,
        // `args` and `done` are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned `InSpan`, and `inner` is never
        // moved out of it (it is dropped in place in `drop`), so it is pinned too.
        let inner = unsafe { Pin::new_unchecked(&mut *this.inner) };
        if this.span.owned.is_none() {
            // No span (not sampled, switched off): just the inner future.
            let polled = inner.poll(cx);
            this.done = polled.is_ready();
            if !this.done {
                // As below: what finished so far may go out while it waits.
                crate::local::flush_thread();
            }
            return polled;
        }
        let mut current = Current::enter(&mut this.span, &mut this.args);
        let polled = inner.poll(cx);
        current.returned = true;
        drop(current);
        match polled {
            Poll::Ready(out) => {
                this.done = true;
                this.span.finish_with(Stamp::now(), &mut this.args);
                Poll::Ready(out)
            }
            Poll::Pending => {
                // The thread may idle now: what finished so far goes out, so
                // a trace is not held back by a long-lived span below.
                crate::local::flush_thread();
                Poll::Pending
            }
        }
    }
}

impl<F, const N: usize> Drop for InSpan<F, N> {
    fn drop(&mut self) {
        if self.span.owned.is_none() {
            // SAFETY: dropped exactly once, here, in place (it stays pinned).
            unsafe { ManuallyDrop::drop(&mut self.inner) };
            return;
        }
        {
            // The inner future's own clean-up runs inside the span.
            let mut current = Current::enter(&mut self.span, &mut self.args);
            // SAFETY: dropped exactly once, here, in place (it stays pinned).
            unsafe { ManuallyDrop::drop(&mut self.inner) };
            current.returned = true;
        }
        if !self.done {
            self.span.set_tag("cancelled", true);
            self.span.finish_with(Stamp::now(), &mut self.args);
        }
    }
}

/// A future that re-enters a captured context on every poll; see
/// [`FutureExt::in_current_span`].
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F> {
    cx: Context,
    inner: F,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `cx` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this.cx.clone().attach_for_poll();
        // SAFETY: `inner` lives in the pinned `WithContext` and is never
        // moved out of it, so pinning the field is sound.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}
