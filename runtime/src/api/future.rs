//! Future adapters that keep the right span current across `.await`, on
//! whichever thread polls the future.

use crate::api::context::Context;
use crate::api::span::Span;
use crate::data::clock::Stamp;
use crate::data::metrics::Outcome;
use crate::data::raw::Edit;
use crate::data::trace_point::{Metadata, Point};
use crate::data::value::{ArgRef, Value};
use crate::local::{AsyncStart, Token, with_state};
use std::borrow::Cow;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
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
pub struct InSpan<F> {
    span: Span,
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
        InSpan {
            span,
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
    token: Token,
    pub(crate) returned: bool,
}

impl<'a> Current<'a> {
    /// The failures said through `current_span()` under this frame while
    /// its span records nothing, that no counted call took
    /// (`local/marks.rs`): `None` when there were none, else the last
    /// recorded error's type, if any named one.
    pub(crate) fn marked_failure(&self) -> Option<Option<&'static str>> {
        match self.token {
            0 => None,
            frame => crate::local::marks::take_of(frame),
        }
    }

    #[inline]
    pub(crate) fn enter(span: &'a mut Span) -> Current<'a> {
        let token = span.push_current();
        Current {
            span,
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
        // A span that records nothing but counts its call or request for
        // metrics is told it failed, too.
        self.span.mark_panicked(self.token);
        self.span.finish_with(Stamp::now());
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is never moved out of the pinned struct; `span`,
        // `args` and `done` are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned `InSpan`, and `inner` is never
        // moved out of it (it is dropped in place in `drop`), so it is pinned too.
        let inner = unsafe { Pin::new_unchecked(&mut *this.inner) };
        poll_owned(&mut this.span, &mut this.done, inner, cx)
    }
}

impl<F> Drop for InSpan<F> {
    fn drop(&mut self) {
        // SAFETY: `inner` is dropped exactly once, here, in place (it stays pinned).
        unsafe { drop_owned(&mut self.span, self.done, &mut self.inner) };
    }
}

/// The span of an `async fn` call, where it lives. It starts as a local span
/// of the thread the call starts on, recorded in place in that thread's
/// batch like a sync call's, so a call that completes in its first poll
/// costs what a sync call does and nothing of it is moved. Only when the
/// first poll returns `Pending` does the span move out of the thread, once,
/// into a box its future owns, to be made current on every later poll
/// wherever it runs.
#[doc(hidden)]
pub struct AsyncSpan(ManuallyDrop<AsyncState>);

enum AsyncState {
    /// On this thread's stack since the call started, until its first poll
    /// ends (the generated code awaits the future right after starting it).
    Local {
        token: NonZeroU64,
        epoch: u32,
        tags_from: u32,
    },
    /// No span (switched off, or under a span that records nothing), or,
    /// once the first poll had to wait, the span moved out of the thread.
    /// 16 bytes in all, so a call passes it back in registers.
    Other(Option<Box<Span>>),
}

// Passed back in registers: the size its docs state, held.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    size_of::<AsyncState>() == 16,
    "an async span's state is 16 bytes"
);

/// No span.
const NOTHING: AsyncState = AsyncState::Other(None);

impl AsyncSpan {
    /// Starts the span of an `async fn` call, a child of the current span,
    /// with the values of its arguments and fields.
    #[inline(never)]
    pub(crate) fn start(meta: Point, args: &[ArgRef<'_>]) -> AsyncSpan {
        // The first call of the point works its switch out.
        if meta.state() != crate::sampling::filter::ON {
            return AsyncSpan::start_unresolved(meta, args);
        }
        if let Some((token, later, epoch, tags_from)) = crate::local::start_async_fast(meta, args) {
            if later {
                crate::api::call::record_later(token, args);
            }
            if let Some(token) = NonZeroU64::new(token) {
                return AsyncSpan(ManuallyDrop::new(AsyncState::Local {
                    token,
                    epoch,
                    tags_from,
                }));
            }
        }
        AsyncSpan::start_general(meta, args)
    }

    #[cold]
    #[inline(never)]
    fn start_unresolved(meta: Point, args: &[ArgRef<'_>]) -> AsyncSpan {
        if crate::local::starts_here(meta) {
            AsyncSpan::start_general(meta, args)
        } else {
            AsyncSpan::none()
        }
    }

    #[inline(never)]
    fn start_general(meta: Point, args: &[ArgRef<'_>]) -> AsyncSpan {
        let started = with_state(|s| {
            let (start, later) = s.start_async(meta, args);
            let state = match start {
                AsyncStart::Nothing => NOTHING,
                AsyncStart::Local {
                    token,
                    epoch,
                    tags_from,
                } => match NonZeroU64::new(token) {
                    Some(token) => AsyncState::Local {
                        token,
                        epoch,
                        tags_from,
                    },
                    None => NOTHING,
                },
                AsyncStart::Owned(d) => AsyncState::Other(Some(Box::new(Span { owned: Some(d) }))),
            };
            (state, later)
        });
        let (state, later) = started.unwrap_or((NOTHING, false));
        if let (AsyncState::Local { token, .. }, true) = (&state, later) {
            crate::api::call::record_later(token.get(), args);
        }
        AsyncSpan(ManuallyDrop::new(state))
    }

    /// No span.
    #[inline]
    pub const fn none() -> AsyncSpan {
        AsyncSpan(ManuallyDrop::new(NOTHING))
    }

    /// Whether the span records (so its argument values are wanted).
    #[inline]
    pub fn is_recording(&self) -> bool {
        match &*self.0 {
            AsyncState::Other(None) => false,
            AsyncState::Local { .. } => true,
            AsyncState::Other(Some(span)) => span.is_recording(),
        }
    }

    /// Whether the call is counted for metrics by its span, which records
    /// nothing (a trace the sampler dropped): its `Err` is told to it.
    #[inline]
    pub(crate) fn counts_unrecorded(&self) -> bool {
        matches!(&*self.0, AsyncState::Other(Some(span)) if super::private::counts_unrecorded(span))
    }

    /// Ends a local span whose first poll did not return: the body panicked
    /// (`panicked`), or the future was dropped before it ran to its first
    /// wait.
    #[cold]
    #[inline(never)]
    fn end_local(&mut self, panicked: bool) {
        if let AsyncState::Local { token, .. } = *self.0 {
            let token = token.get();
            let mark = if panicked {
                crate::data::error_parts::ErrorParts::message(
                    "panic",
                    crate::api::panic::message_for(token),
                )
                .into_edits()
                .into_iter()
                .collect()
            } else {
                vec![Edit::Mark(Cow::Borrowed("cancelled"), Value::Bool(true))]
            };
            with_state(|s| {
                if let Some(i) = s.find(token) {
                    for e in mark {
                        s.edit(i, e);
                    }
                }
            });
            crate::local::pop_local(token, None);
        }
        *self.0 = NOTHING;
    }
}

impl Drop for AsyncSpan {
    /// Nothing to do for the common span-less future, tested inline; the
    /// state is dropped by hand so that no drop glue is called for it.
    #[inline]
    fn drop(&mut self) {
        if !matches!(*self.0, AsyncState::Other(None)) {
            self.drop_span();
        }
    }
}

impl AsyncSpan {
    #[cold]
    #[inline(never)]
    fn drop_span(&mut self) {
        // Local only before its future took it over: computing an
        // argument's value panicked.
        if matches!(*self.0, AsyncState::Local { .. }) {
            self.end_local(std::thread::panicking());
        }
        // SAFETY: dropped once, here, in `drop`.
        unsafe { ManuallyDrop::drop(&mut self.0) };
    }
}

/// The future of an `async fn` call with its span; see [`AsyncSpan`].
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct TracedAsync<F> {
    span: AsyncSpan,
    inner: ManuallyDrop<F>,
    done: bool,
}

impl<F> TracedAsync<F> {
    #[doc(hidden)]
    #[inline]
    pub fn new(span: AsyncSpan, inner: F) -> TracedAsync<F> {
        TracedAsync {
            span,
            inner: ManuallyDrop::new(inner),
            done: false,
        }
    }
}

/// The future of an `async fn` call that has no span of its own (its trace
/// point is off, or the current span records nothing): the body's future,
/// which hands over what finished on this thread when it has to wait, as
/// [`TracedAsync`] does. Nothing else to do: the caller's context is current
/// whenever it is polled.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct QuietAsync<F, E> {
    inner: F,
    /// While metrics are on: the call's counted token (its point and the
    /// ticks of its first poll), until it is counted; 0 otherwise. Marked
    /// with [`POLLING`] while its future is polled, and left marked by a
    /// panic unwinding through the poll (its generated `async` body is then
    /// poisoned: it is never polled again, only dropped).
    token: Token,
    /// An output's `error.type` if it is an `Err`, for the count.
    is_err: E,
}

impl<F: Future, E: Fn(&F::Output) -> Option<&'static str>> QuietAsync<F, E> {
    /// An `async fn` call of `meta` with no span, counted while metrics are
    /// on (made at its first poll, which is when its time starts): one load
    /// and a branch while they are off.
    #[doc(hidden)]
    #[inline(always)]
    pub fn new(meta: &'static Metadata, inner: F, is_err: E) -> QuietAsync<F, E> {
        QuietAsync {
            inner,
            token: match crate::data::metrics::on() {
                true => crate::local::metrics::enter_quiet(meta.point()),
                false => 0,
            },
            is_err,
        }
    }
}

impl<F: Future, E: Fn(&F::Output) -> Option<&'static str>> Future for QuietAsync<F, E> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: never moved out (the
        // `Drop` impl does not touch it), and `QuietAsync` has no `Unpin`
        // impl; `token` and `is_err` are plain data, not pinned.
        let (inner, token, is_err) = unsafe {
            let this = self.get_unchecked_mut();
            (
                Pin::new_unchecked(&mut this.inner),
                &mut this.token,
                &this.is_err,
            )
        };
        // Marked while polled: a panic unwinding through this poll leaves
        // the mark for the drop to see (the call's own panic, whatever else
        // is unwinding when it drops). Marked whether counted or not, with
        // no landing pad and no test before the poll: either costs every
        // traced `async fn` instructions, sampled or not (measured).
        let counted = *token;
        *token = counted | POLLING;
        let polled = poll_quiet(inner, cx);
        *token = counted;
        if counted != 0 {
            match &polled {
                Poll::Ready(output) => {
                    *token = 0;
                    match is_err(output) {
                        None => crate::local::metrics::end_counted_ok(counted),
                        Some(t) => crate::local::metrics::end_counted(counted, Outcome::Error(t)),
                    }
                }
                // A failure marked in this poll goes with the future.
                Poll::Pending if crate::data::metrics::is_diverted() => {
                    *token = crate::local::metrics::settle_pending(counted);
                }
                Poll::Pending => {}
            }
        }
        polled
    }
}

/// Set in a [`QuietAsync`]'s token while its future is polled (a counted
/// token leaves bit 62 clear).
const POLLING: Token = 1 << 62;

impl<F, E> Drop for QuietAsync<F, E> {
    /// A counted call that did not finish: a panic unwound through its poll
    /// (still marked as polled: failed), or its future was dropped before
    /// it finished (cancelled: counted as a call that returned, as a
    /// cancelled span is).
    fn drop(&mut self) {
        let counted = self.token & !POLLING;
        if counted != 0 {
            let outcome = match self.token & POLLING {
                0 => Outcome::Ok,
                _ => Outcome::Error(crate::data::metrics::PANIC),
            };
            crate::local::metrics::end_counted(counted, outcome);
        }
    }
}

/// A poll of a future with no span of its own. When it must wait, what
/// finished on this thread so far is handed over: the wait may be long, and
/// no span of this future will hand it over when it ends.
#[inline]
fn poll_quiet<F: Future>(inner: Pin<&mut F>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
    let polled = inner.poll(cx);
    if polled.is_pending() {
        crate::local::flush_thread();
    }
    polled
}

/// Ends a local span as panicked if the first poll unwinds.
struct FirstPoll<'a> {
    span: &'a mut AsyncSpan,
}

impl Drop for FirstPoll<'_> {
    fn drop(&mut self) {
        self.span.end_local(true);
    }
}

impl<F: Future> Future for TracedAsync<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is never moved out of the pinned struct; `span`
        // and `done` are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned `TracedAsync`, and `inner` is
        // never moved out of it (it is dropped in place in `drop`).
        let inner = unsafe { Pin::new_unchecked(&mut *this.inner) };
        match &mut *this.span.0 {
            // `done` matters only to a span; there is none.
            AsyncState::Other(None) => poll_quiet(inner, cx),
            &mut AsyncState::Local {
                token,
                epoch,
                tags_from,
            } => {
                let token = token.get();
                let first = FirstPoll {
                    span: &mut this.span,
                };
                let polled = inner.poll(cx);
                std::mem::forget(first);
                match polled {
                    Poll::Ready(out) => {
                        // The span is emptied after its pop, which calls
                        // out: the drop that follows then sees it empty.
                        crate::local::pop_returned(token);
                        this.done = true;
                        *this.span.0 = NOTHING;
                        Poll::Ready(out)
                    }
                    Poll::Pending => {
                        let moved =
                            with_state(|s| s.detach(token, None, epoch, tags_from)).flatten();
                        *this.span.0 = match moved {
                            Some(d) => AsyncState::Other(Some(Box::new(Span { owned: Some(d) }))),
                            None => NOTHING,
                        };
                        crate::local::flush_thread();
                        Poll::Pending
                    }
                }
            }
            AsyncState::Other(Some(span)) => poll_owned(span, &mut this.done, inner, cx),
        }
    }
}

impl<F> Drop for TracedAsync<F> {
    #[inline]
    fn drop(&mut self) {
        match &mut *self.span.0 {
            AsyncState::Other(None) => {
                // SAFETY: dropped exactly once, here, in place (it stays pinned).
                unsafe { ManuallyDrop::drop(&mut self.inner) };
            }
            _ => self.drop_with_span(),
        }
    }
}

impl<F> TracedAsync<F> {
    #[cold]
    fn drop_with_span(&mut self) {
        match &mut *self.span.0 {
            AsyncState::Other(None) => {
                // SAFETY: dropped exactly once, here, in place (it stays pinned).
                unsafe { ManuallyDrop::drop(&mut self.inner) };
            }
            AsyncState::Local { .. } => {
                // Dropped before its first poll ended; its frame is still on
                // this thread's stack, so the inner future's clean-up runs
                // inside the span.
                // SAFETY: as above.
                unsafe { ManuallyDrop::drop(&mut self.inner) };
                self.span.end_local(false);
            }
            AsyncState::Other(Some(span)) => {
                // SAFETY: as above; `drop_owned` drops it once.
                unsafe { drop_owned(span, self.done, &mut self.inner) };
            }
        }
    }
}

/// A poll of a future whose span it owns: the span is current for the poll
/// and finished when the future completes.
#[inline]
fn poll_owned<F: Future>(
    span: &mut Span,
    done: &mut bool,
    inner: Pin<&mut F>,
    cx: &mut TaskContext<'_>,
) -> Poll<F::Output> {
    if span.owned.is_none() {
        // No span (not sampled, switched off): just the inner future.
        let polled = poll_quiet(inner, cx);
        *done = polled.is_ready();
        return polled;
    }
    let polled = if crate::data::metrics::on() {
        poll_owned_counting(span, inner, cx)
    } else {
        let mut current = Current::enter(span);
        let polled = inner.poll(cx);
        current.returned = true;
        polled
    };
    match polled {
        Poll::Ready(out) => {
            *done = true;
            span.finish_with(Stamp::now());
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

/// [`poll_owned`]'s poll of the inner future while metrics count: a call
/// of a trace point whose span records nothing is counted when the span
/// goes, and its `Err` is learnt here.
#[inline(never)]
fn poll_owned_counting<F: Future>(
    span: &mut Span,
    inner: Pin<&mut F>,
    cx: &mut TaskContext<'_>,
) -> Poll<F::Output> {
    let counted = super::private::counts_unrecorded(span);
    let mut current = Current::enter(span);
    let (polled, failed, marked) = if counted {
        let (polled, failed) = crate::local::metrics::poll_counted(|| inner.poll(cx));
        // A failure said of it in this poll (`current_span().set_status`).
        (polled, failed, current.marked_failure())
    } else {
        (inner.poll(cx), None, None)
    };
    current.returned = true;
    drop(current);
    if let Some(d) = span.owned.as_mut() {
        // Its `Err` is its last word.
        match (failed, marked) {
            (Some(error_type), _) => d.call_failed(error_type),
            (None, Some(error_type)) => d.call_marked_failed(error_type),
            (None, None) => {}
        }
    }
    polled
}

/// Drops the inner future of a future whose span it owns, inside the span,
/// and finishes the span as cancelled if the future had not completed.
///
/// # Safety
/// `inner` is dropped here and must not be used or dropped again.
unsafe fn drop_owned<F>(span: &mut Span, done: bool, inner: &mut ManuallyDrop<F>) {
    if span.owned.is_none() {
        // SAFETY: the caller's promise.
        unsafe { ManuallyDrop::drop(inner) };
        return;
    }
    {
        // The inner future's own clean-up runs inside the span.
        let mut current = Current::enter(span);
        // SAFETY: the caller's promise.
        unsafe { ManuallyDrop::drop(inner) };
        current.returned = true;
    }
    if !done {
        span.set_tag("cancelled", true);
        span.finish_with(Stamp::now());
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
