//! Spans active on this thread: [`start_active_span`] and its
//! [`ActiveSpan`] guard, which records the span in place in the thread's
//! batch, and the [`Entered`] guard of an owned span made current.

use super::span::{Span, finish};
use crate::data::clock::Stamp;
use crate::data::error_parts::ErrorParts;
use crate::data::parts::{Event, Fields, Status};
use crate::data::raw::Edit;
use crate::data::span_context::SpanContext;
use crate::data::value::{Key, Value};
use crate::local::{State, Token, pop_borrowed, pop_local, with_state};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::SystemTime;

/// Starts a span as a child of the current span (or a new trace when there is
/// none) and makes it the active span of this thread until the returned guard
/// drops, which finishes it. The fastest way to trace a block.
///
/// # Guards are for sync code
/// The guard makes its span current *on this thread*. Held across `.await`,
/// it stays current while the future waits, and whatever else the thread
/// runs meanwhile (other tasks, `join!`ed futures) becomes its child. In
/// async code use `#[trace_fn]` on the `async fn`, or
/// [`FutureExt::in_span`](crate::FutureExt::in_span), which make a span
/// current only while its own future is polled. A guard found held across
/// `.await` by tracekit's futures is tagged `tracekit.guard_held_across_await`
/// and reported once on stderr. The same holds for [`Span::enter`],
/// [`Span::activate`] and [`Context::attach`](crate::Context::attach).
///
/// The guard is not `Send`, so in a future that must be `Send` (anything
/// given to `tokio::spawn` or an axum handler) holding it across `.await`
/// fails to compile with "future cannot be sent between threads safely"
/// and a note that `ActiveSpan` (or `*const ()`) is not `Send`. Write
/// instead:
///
/// ```
/// use tracekit::FutureExt;
/// # async fn query() {}
/// async fn handler() {
///     // not: let _g = tracekit::start_active_span("load"); query().await;
///     async { query().await }
///         .in_span(tracekit::Span::start("load"))
///         .await;
/// }
/// # let _ = handler();
/// ```
///
/// or put `#[trace_fn]` on an `async fn` that does the work; a guard in a
/// block that ends before the `.await` is fine.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let _request = tracekit::start_active_span("request");
///     let _query = tracekit::start_active_span("query");
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(c.tree(), "request\n  query\n");
/// ```
pub fn start_active_span(name: impl Into<Cow<'static, str>>) -> ActiveSpan {
    Span::builder(name).start_active()
}

/// The guard of [`Span::enter`]: restores the previous active span on drop and
/// gives the span back.
#[must_use = "the span stops being active as soon as the guard drops"]
pub struct Entered<'a> {
    pub(super) span: &'a mut Span,
    pub(super) token: Token,
    pub(super) _not_send: PhantomData<*const ()>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.token != 0 {
            let edits = pop_borrowed(self.token);
            self.span.take_edits(edits);
        }
    }
}

impl Entered<'_> {
    /// Finishes the span while it is still current, then restores the span
    /// that was current before: what finished under it leaves the thread
    /// together with it, in one hand-over, instead of in two (the
    /// server span of a request that completes in one poll).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// let ((), c) = tracekit::testing::capture(|| {
    ///     let mut request = tracekit::Span::start("request");
    ///     let entered = request.enter();
    ///     drop(tracekit::Span::start("child"));
    ///     entered.finish();
    /// });
    /// assert_eq!(c.tree(), "request\n  child\n");
    /// ```
    pub fn finish(mut self) {
        let token = std::mem::take(&mut self.token);
        finish_current(self.span, token, Stamp::now());
    }
}

/// Finishes `span` at `end` while its borrowed frame `token` (0: none) is
/// still current, its queued changes applied first: what finished under
/// it leaves the thread with it, in one hand-over.
fn finish_current(span: &mut Span, token: Token, end: Stamp) {
    let Some(mut d) = span.owned.take() else {
        if token != 0 {
            drop(pop_borrowed(token));
        }
        return;
    };
    let done = token != 0 && with_state(|s| s.finish_borrowed(token, &mut d, end)).unwrap_or(false);
    if !done {
        if token != 0 {
            for edit in pop_borrowed(token) {
                d.apply(edit);
            }
        }
        finish(d, end);
    }
}

impl std::ops::Deref for Entered<'_> {
    type Target = Span;
    fn deref(&self) -> &Span {
        self.span
    }
}

impl std::ops::DerefMut for Entered<'_> {
    /// The span itself, to change while it is current; what was changed
    /// through `current_span()` so far is applied first, so later changes
    /// win as they would after the guard drops.
    fn deref_mut(&mut self) -> &mut Span {
        if self.token != 0 {
            let edits = with_state(|s| s.take_queued(self.token)).unwrap_or_default();
            self.span.take_edits(edits);
        }
        self.span
    }
}

/// An active span that finishes when dropped; returned by
/// [`start_active_span`], [`SpanBuilder::start_active`](crate::SpanBuilder::start_active) and [`Span::activate`].
/// Not `Send`: it belongs to the thread where it is active. A panic that
/// unwinds through it marks the span failed with the panic's message, as
/// a traced function's span is (and a request span counts as failed, with
/// `error.type` `panic`, for metrics).
///
/// ```
/// let span = tracekit::start_active_span("checkout");
/// span.set_tag("items", 3);
/// span.add_event("paid", [("amount", 12.5)]);
/// ```
#[must_use = "the span finishes as soon as the guard drops"]
pub struct ActiveSpan {
    pub(super) token: Token,
    /// A request span made active ([`Span::activate`]): it stays owned here,
    /// current through a borrowed frame as [`Span::enter`] makes it, so
    /// that it is counted for metrics when it finishes, with what was
    /// recorded on it, sampled or not.
    pub(super) request: Option<Box<Span>>,
    pub(super) _not_send: PhantomData<*const ()>,
}

impl ActiveSpan {
    pub(super) const NONE: ActiveSpan = ActiveSpan {
        token: 0,
        request: None,
        _not_send: PhantomData,
    };

    /// A request span, active until the guard drops.
    pub(super) fn request(span: Span) -> ActiveSpan {
        let token = span.push_current();
        ActiveSpan {
            token,
            request: Some(Box::new(span)),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` on this span's frame when `test` says so of it.
    fn with_if<R>(
        &self,
        test: impl FnOnce(&State, usize) -> bool,
        f: impl FnOnce(&mut State, usize) -> R,
    ) -> Option<R> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| {
            let i = s.find(self.token)?;
            test(s, i).then(|| f(s, i))
        })
        .flatten()
    }

    /// Runs `f` on this span's frame when it keeps what is done to it: it
    /// records, or it is a request span counted for metrics.
    fn with_kept<R>(&self, f: impl FnOnce(&mut State, usize) -> R) -> Option<R> {
        self.with_if(State::keeps_changes, f)
    }

    /// Whether the span records.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::start_active_span("a").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.with_if(State::is_recording, |_, _| ()).is_some()
    }

    /// The span's context.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::start_active_span("a").context().is_some());
    /// ```
    pub fn context(&self) -> Option<SpanContext> {
        if self.token == 0 {
            return None;
        }
        with_state(|s| s.find(self.token).and_then(|i| s.span_context(i))).flatten()
    }

    fn edit(&self, edit: Edit) {
        self.with_kept(move |s, i| s.edit(i, edit));
    }

    /// Sets a tag.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_tag("k", "v");
    /// ```
    pub fn set_tag(&self, key: impl Into<Key>, value: impl Into<Value>) {
        self.edit(Edit::Tag(key.into(), value.into()));
    }

    /// Logs a timestamped event with fields.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event("e", [("k", 1)]);
    /// ```
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, fields: impl Fields) {
        self.add_event_stamped(name.into(), Stamp::now(), fields);
    }

    /// Logs an event at an explicit time.
    ///
    /// ```
    /// tracekit::start_active_span("a").add_event_at("e", std::time::SystemTime::now(), [("k", 1)]);
    /// ```
    pub fn add_event_at(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        fields: impl Fields,
    ) {
        self.add_event_stamped(name.into(), Stamp::at(time), fields);
    }

    /// Adds an event made with [`Event::new`](crate::Event::new) (see
    /// [`Span::record_event`]).
    ///
    /// ```
    /// tracekit::start_active_span("a").record_event(tracekit::Event::new("e").with_field("k", 1));
    /// ```
    pub fn record_event(&self, event: Event) {
        if self.is_recording() {
            self.edit(Edit::Event(event));
        }
    }

    fn add_event_stamped(&self, name: Cow<'static, str>, at: Stamp, fields: impl Fields) {
        if self.is_recording() {
            self.edit(Edit::Event(Event::with_fields(name, at, fields)));
        }
    }

    /// Records an error (see [`Span::record_error`]).
    ///
    /// ```
    /// tracekit::start_active_span("a").record_error(&std::fmt::Error);
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.record_error_parts(|| ErrorParts::of(error));
    }

    /// Records the error `parts` gives, made only when the frame keeps it
    /// (making them may run user code: not while the state is held).
    fn record_error_parts(&self, parts: impl FnOnce() -> ErrorParts) {
        if self.with_kept(|_, _| ()).is_some() {
            let edits = parts().into_edits();
            self.with_kept(move |s, i| {
                for e in edits {
                    s.edit(i, e);
                }
            });
        }
    }

    /// Sets the status.
    ///
    /// ```
    /// tracekit::start_active_span("a").set_status(tracekit::Status::Ok);
    /// ```
    pub fn set_status(&self, status: Status) {
        self.edit(Edit::Status(status));
    }

    /// Sets a baggage item, inherited by spans started under this one from now on.
    ///
    /// ```
    /// let a = tracekit::start_active_span("a");
    /// a.set_baggage_item("k", "v");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(a.context().unwrap().baggage_item("k"), Some("v"));
    /// ```
    pub fn set_baggage_item(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if self.token == 0 {
            return;
        }
        with_state(|s| {
            if let Some(i) = s.find(self.token) {
                s.set_baggage(i, key, value);
            }
        });
    }

    /// Finishes the span now (the same as dropping it).
    ///
    /// ```
    /// tracekit::start_active_span("a").finish();
    /// ```
    pub fn finish(self) {}

    /// Finishes the span at an explicit time.
    ///
    /// ```
    /// tracekit::start_active_span("a").finish_at(std::time::SystemTime::now());
    /// ```
    pub fn finish_at(mut self, time: SystemTime) {
        let token = std::mem::take(&mut self.token);
        if let Some(mut span) = self.request.take() {
            finish_current(&mut span, token, Stamp::at(time));
            return;
        }
        if token != 0 {
            pop_local(token, Some(Stamp::at(time)));
        }
    }
}

impl Drop for ActiveSpan {
    /// Finishes the span; one a panic unwinds through is marked failed
    /// with it, as a traced function's is.
    fn drop(&mut self) {
        let panicking = std::thread::panicking()
            && (self.token == 0 || crate::api::panic::unwinding_through(self.token));
        if let Some(mut span) = self.request.take() {
            if panicking {
                if self.token != 0 {
                    span.take_edits(pop_borrowed(self.token));
                }
                span.mark_panicked(self.token);
            } else {
                finish_current(&mut span, self.token, Stamp::now());
            }
            return;
        }
        if self.token != 0 {
            if panicking {
                self.record_error_parts(|| {
                    ErrorParts::message("panic", crate::api::panic::message_for(self.token))
                });
            }
            pop_local(self.token, None);
        }
    }
}
