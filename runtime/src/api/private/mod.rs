//! Support for the code `#[trace_fn]` generates. Not public API: names and
//! signatures change without notice.
//!
//! The work lives here, in non-generic functions, so each instrumented
//! function grows by a few calls only.

use crate::Span;
use crate::api::span;
use crate::data::error_parts::ErrorParts;
use crate::data::metrics::Outcome;
use crate::data::raw::Edit;
use crate::data::value::{Value, debug_text, display_text};
use crate::local::{Token, with_state};
use std::borrow::Cow;
use std::marker::PhantomData;

pub use crate::data::value::ArgRef;

mod args;
mod ret;

pub use args::*;
use ret::concrete_type_of;
pub use ret::*;

pub use crate::api::future::{AsyncSpan, InSpan, QuietAsync, TracedAsync};
pub use crate::data::parts::SpanKind;
pub use crate::data::trace_point::{Metadata, Point, TracePoint};
#[cfg(not(tracekit_elf_points))]
pub use inventory;

/// The span of a sync function call. Its argument values were recorded
/// when it started ([`LocalGuard::start`]), so the guard holds only the
/// span's token: the same code for every function. The body's return ends
/// it ([`LocalGuard::end`]); a drop is a panic unwinding through the call.
pub struct LocalGuard {
    token: Token,
    _not_send: PhantomData<*const ()>,
}

impl LocalGuard {
    hot! {
        /// No span yet.
        pub const fn new() -> LocalGuard {
            LocalGuard {
                token: 0,
                _not_send: PhantomData,
            }
        }
    }

    hot! {
        /// Starts the span as a child of the current span (or a new root),
        /// recording `args`, the values of the arguments and fields.
        pub fn start(&mut self, meta: &'static Metadata, args: &[ArgRef<'_>]) {
            self.token = crate::api::call::enter_local(meta.point(), args);
        }
    }

    hot! {
        /// A call that starts no span (its thread's span records nothing, or
        /// its point is off): counted for metrics while they are on, at the
        /// cost of one load and a branch while they are off.
        pub fn count(&mut self, meta: &'static Metadata) {
            if crate::data::metrics::on() {
                self.token = crate::local::metrics::enter_quiet(meta.point());
            }
        }
    }

    hot! {
        /// Ends the span of a call whose body returned (normally, or with
        /// `return` or `?`): a test and a call, or nothing for a call that
        /// opened no span.
        pub fn end(self) {
            let token = self.into_token();
            if token != 0 {
                end_call(token);
            }
        }
    }

    hot! {
        /// Gives up the guard for a call whose body returned, leaving the end
        /// of its span to the caller; 0 for no span.
        fn into_token(self) -> Token {
            let token = self.token;
            std::mem::forget(self);
            token
        }
    }

    hot! {
        /// Ends the span of a call whose body returned through `end`, a
        /// function of its token; nothing for a call that opened no span.
        fn end_with(self, end: impl FnOnce(Token)) {
            let token = self.into_token();
            if token != 0 {
                end(token);
            }
        }
    }

    hot! {
        /// [`LocalGuard::end`], recording `value` as the tag `return`.
        pub fn end_ret(self, outcome: Option<&dyn ErrOutcome>, value: ArgRef<'_>) {
            let token = self.token;
            std::mem::forget(self);
            if token != 0 {
                end_ret(token, outcome, value);
            }
        }
    }
}

hot! {
    /// Whether a call of `meta` may start a span: the thread's top span
    /// records, and the point is not switched off (it is on, or not worked out
    /// yet: the start works a point out on its first call that can record).
    /// Under an unsampled span, or at a point switched off, this is two loads
    /// and branches, and the call builds none of its argument values.
    pub fn starts(meta: &'static Metadata) -> bool {
        // The point's test is one byte against one constant (a point not worked
        // out yet goes the way of one switched on): less code at each call
        // site than telling the three states apart here. The thread's flag
        // first: in that order the compiler keeps the arguments where they are
        // on the way around the span.
        !crate::local::is_quiet() && meta.point().state() != crate::sampling::filter::OFF
    }
}

impl Default for LocalGuard {
    fn default() -> LocalGuard {
        LocalGuard::new()
    }
}

impl Drop for LocalGuard {
    /// Reached by a panic unwinding through the call (a normal return goes
    /// through [`LocalGuard::end`]), or by a body run in place that left
    /// early through a macro the expansion took for one that cannot.
    #[inline]
    fn drop(&mut self) {
        unwound(self.token);
    }
}

/// Ends the span `token` (0: none) of a call whose guard dropped: as a
/// panic when one is unwinding, else as a call that returned (its result
/// not inspected). A call that returns early from a destructor run by
/// another panic's unwind counts as that panic: telling them apart would
/// need the hook's record of the last panic, which a panic resumed with
/// `resume_unwind` or raised under a later hook never updates.
///
/// `extern "C"` so that the compiler knows it cannot unwind: every landing
/// pad that calls it then needs no pad of its own for a panic inside it
/// (which would abort the process anyway, as any panic in a drop during
/// unwinding does; here the abort happens inside instead), and each traced
/// function is that much smaller.
#[inline(never)]
extern "C" fn unwound(token: Token) {
    if token != 0 {
        if std::thread::panicking() {
            panicked(token);
        } else {
            end_call(token);
        }
    }
}

/// Ends the span of a call that returned.
#[inline(never)]
fn end_call(token: Token) {
    if crate::local::metrics::is_counted(token) {
        crate::local::metrics::end_counted_inline(token, Outcome::Ok);
    } else {
        crate::local::pop_returned(token);
    }
}

/// Ends the span of a call that returned an `Err`.
#[cold]
#[inline(never)]
fn end_err(token: Token, outcome: &dyn ErrOutcome) {
    if crate::local::metrics::is_counted(token) {
        crate::local::end_counted(token, Outcome::Error(outcome.__tk_error_type()));
        return;
    }
    let ending = EndOnUnwind(token);
    record_outcome(token, outcome);
    std::mem::forget(ending);
    crate::local::pop_returned(token);
}

/// Ends the span of a call that records its return value.
#[inline(never)]
fn end_ret(token: Token, outcome: Option<&dyn ErrOutcome>, value: ArgRef<'_>) {
    if crate::local::metrics::is_counted(token) {
        let failed = match outcome {
            Some(outcome) => Outcome::Error(outcome.__tk_error_type()),
            None => Outcome::Ok,
        };
        crate::local::end_counted(token, failed);
        return;
    }
    let ending = EndOnUnwind(token);
    if let Some(outcome) = outcome {
        record_outcome(token, outcome);
    }
    if !value.is_skip() {
        record_return(token, value);
    }
    std::mem::forget(ending);
    crate::local::pop_returned(token);
}

/// Ends the span `token` as a panic if dropped: held while user code that
/// may panic runs for a span whose guard is gone (an error's `Display`, a
/// value's `Debug`), so that its frame does not stay on the thread.
pub(crate) struct EndOnUnwind(pub(crate) Token);

impl Drop for EndOnUnwind {
    fn drop(&mut self) {
        panicked(self.0);
    }
}

#[cold]
#[inline(never)]
fn panicked(token: Token) {
    let message = crate::api::panic::message_for(token);
    edit(token, ErrorParts::message("panic", message).into_edits());
    crate::local::pop_local(token, None);
}

/// Records an error outcome on the span `token`, if it records.
fn record_outcome(token: Token, outcome: &dyn ErrOutcome) {
    if is_recording(token) {
        // Formatting the error runs user code: before the state is held.
        let edits = outcome.__tk_parts().0.into_edits();
        edit(token, edits);
    }
}

/// Records `value` as the tag `return` on the span `token`, if it records.
fn record_return(token: Token, value: ArgRef<'_>) {
    if is_recording(token) {
        if let Some(value) = value.value() {
            edit(token, [Edit::Mark(Cow::Borrowed(RETURN), value)]);
        }
    }
}

fn is_recording(token: Token) -> bool {
    with_state(|s| s.find(token).is_some_and(|i| s.is_recording(i))).unwrap_or(false)
}

fn edit(token: Token, edits: impl IntoIterator<Item = Edit>) {
    with_state(move |s| {
        if let Some(i) = s.find(token) {
            for e in edits {
                s.edit(i, e);
            }
        }
    });
}

/// The tag key of a `ret` value.
const RETURN: &str = "return";

hot! {
    /// Calls a function body wrapped in a closure. Taking `FnOnce` lets the
    /// body move out of what it captured (return `self` as given, say), which
    /// a closure called on the spot would not be inferred to allow.
    pub fn call<R>(body: impl FnOnce() -> R) -> R {
        body()
    }
}

/// Starts the owned span of a function returning a future, a child of the
/// current span, with the values of its arguments and fields.
#[inline(never)]
pub fn start_owned(meta: &'static Metadata, args: &[ArgRef<'_>]) -> Span {
    span::start_traced(meta.point(), args)
}

hot! {
    /// Starts the span of an `async fn` call, a child of the current span; the
    /// generated code awaits its [`TracedAsync`] right away.
    pub fn start_async(meta: &'static Metadata, args: &[ArgRef<'_>]) -> AsyncSpan {
        AsyncSpan::start(meta.point(), args)
    }
}

/// The span of a function returning a future that starts none (under a
/// span that records nothing, or switched off): none, or while metrics
/// count, one that records nothing, for the call to be counted when it
/// goes.
#[inline]
pub fn quiet_owned(meta: &'static Metadata) -> Span {
    if crate::data::metrics::on() {
        span::start_counted(meta.point())
    } else {
        Span::none()
    }
}

/// Whether the call is counted for metrics by its span, which records
/// nothing: its `Err` is told to it.
pub(crate) fn counts_unrecorded(span: &Span) -> bool {
    span.owned
        .as_ref()
        .is_some_and(|d| d.unrecorded_point().is_some())
}

/// [`own`]: the call's own span records its output.
pub const OWN_RECORDING: u8 = 1;
/// [`own`]: the call's own span records nothing but counts the call for
/// metrics, and is told of an `Err`.
pub const OWN_COUNTING: u8 = 2;

/// The span of a call that takes its output ([`own`]): an async fn's or a
/// future-returning fn's.
pub trait OwnSpan {
    /// Whether it records.
    fn __tk_records(&self) -> bool;
    /// Whether it records nothing but counts the call for metrics.
    fn __tk_counts(&self) -> bool;
}

impl OwnSpan for Span {
    #[inline]
    fn __tk_records(&self) -> bool {
        self.is_recording()
    }
    #[inline]
    fn __tk_counts(&self) -> bool {
        counts_unrecorded(self)
    }
}

impl OwnSpan for AsyncSpan {
    #[inline]
    fn __tk_records(&self) -> bool {
        self.is_recording()
    }
    #[inline]
    fn __tk_counts(&self) -> bool {
        self.counts_unrecorded()
    }
}

/// How the call's own span `span` takes its output: [`OWN_RECORDING`],
/// [`OWN_COUNTING`], or 0 (none: no span, or one that neither records nor
/// counts).
#[inline]
pub fn own(span: &impl OwnSpan) -> u8 {
    if span.__tk_records() {
        OWN_RECORDING
    } else if span.__tk_counts() {
        OWN_COUNTING
    } else {
        0
    }
}

/// Runs the sync part of a function returning a future, with its span
/// current; a panic marks the span and finishes it.
pub fn enter_future<F>(span: &mut Span, body: impl FnOnce() -> F) -> F {
    let mut current = crate::api::future::Current::enter(span);
    let future = body();
    current.returned = true;
    let marked = current.marked_failure();
    drop(current);
    // A failure marked on the call while its span records nothing.
    if let (Some(error_type), Some(d)) = (marked, span.owned.as_mut()) {
        d.call_marked_failed(error_type);
    }
    future
}

/// Records an `Err` output on the current span (the `async fn`'s own span,
/// current while its future is polled).
pub fn current_outcome(outcome: Option<&dyn ErrOutcome>) {
    if let Some(outcome) = outcome {
        crate::current_span().record_error_parts(outcome.__tk_parts().0);
    }
}

/// Marks an `async fn` call whose span records nothing as failed for
/// metrics when `outcome` is an error (its polls are watched while it
/// counts; see `poll_owned_counting`).
pub fn quiet_outcome(outcome: Option<&dyn ErrOutcome>) {
    if let Some(outcome) = outcome {
        if crate::data::metrics::on() {
            crate::local::metrics::failed(outcome.__tk_error_type());
        }
    }
}

/// Whether the current span records (the span of the `async fn` or future
/// being polled).
pub fn current_is_recording() -> bool {
    crate::current_span().is_recording()
}

/// Records a return value on the current span as the tag `return`.
pub fn current_return(value: ArgRef<'_>) {
    if let Some(value) = value.value() {
        crate::current_span().set_tag(RETURN, value);
    }
}

hot! {
    /// The value recorded for a `redact(...)` argument or field.
    pub const fn redacted() -> ArgRef<'static> {
        ArgRef::static_str(crate::data::secret::REDACTED)
    }
}

/// The `Display` text of a `%value` field.
#[inline]
pub fn display<T: std::fmt::Display + ?Sized>(value: &T) -> Value {
    Value::Str(crate::data::value::Text::from(display_text(&value)))
}

/// The `Debug` text of a `?value` field.
#[inline]
pub fn debug<T: std::fmt::Debug + ?Sized>(value: &T) -> Value {
    Value::Str(crate::data::value::Text::from(debug_text(&value)))
}

/// What an error return is recorded as, behind one `dyn` for every
/// function: the generated code passes a reference, and the error is
/// formatted only for a span that records.
#[doc(hidden)]
pub trait ErrOutcome {
    #[doc(hidden)]
    fn __tk_parts(&self) -> Parts;
    /// The error's type for metrics' `error.type`: its Rust type name
    /// (for a `dyn Error`, the concrete type's when it is known).
    #[doc(hidden)]
    fn __tk_error_type(&self) -> &'static str;
}

/// An error broken into what a span records.
#[doc(hidden)]
pub struct Parts(ErrorParts);

/// Views `e` as a wrapper that is `#[repr(transparent)]` over it.
macro_rules! wrappers {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        #[doc(hidden)]
        #[repr(transparent)]
        pub struct $name<E: ?Sized>(E);
        impl<E: ?Sized> $name<E> {
            hot! {
                fn of(e: &E) -> &$name<E> {
                    // SAFETY: `$name` is `#[repr(transparent)]` over `E`, so
                    // the two references have the same layout and validity.
                    unsafe { &*(e as *const E as *const $name<E>) }
                }
            }
        }
    )*};
}
wrappers!(
    /// An error with its source chain.
    AsError,
    /// An error reached through `AsRef<dyn Error + Send + Sync>` (a boxed
    /// error, `anyhow::Error`).
    AsDynError,
    /// An error reached through `AsRef<dyn Error>` alone (`Box<dyn Error>`).
    AsLocalDynError,
    /// An error type that is only `Display`.
    AsDisplay,
    /// An error type that is only `Debug`.
    AsDebug,
    /// An error type with nothing to show.
    Opaque
);

impl<E: std::error::Error> ErrOutcome for AsError<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::of_dyn(&self.0, self.__tk_error_type()))
    }
    fn __tk_error_type(&self) -> &'static str {
        std::any::type_name::<E>()
    }
}

impl<E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ErrOutcome for AsDynError<E> {
    fn __tk_parts(&self) -> Parts {
        let e = self.0.as_ref();
        Parts(ErrorParts::of_dyn(e, self.__tk_error_type()))
    }
    fn __tk_error_type(&self) -> &'static str {
        concrete_type_of(self.0.as_ref()).unwrap_or(std::any::type_name::<E>())
    }
}

impl<E: AsRef<dyn std::error::Error + 'static>> ErrOutcome for AsLocalDynError<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::of_dyn(self.0.as_ref(), self.__tk_error_type()))
    }
    fn __tk_error_type(&self) -> &'static str {
        concrete_type_of(self.0.as_ref()).unwrap_or(std::any::type_name::<E>())
    }
}

impl<E: std::fmt::Display> ErrOutcome for AsDisplay<E> {
    fn __tk_error_type(&self) -> &'static str {
        std::any::type_name::<E>()
    }
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            self.__tk_error_type(),
            display_text(&self.0),
        ))
    }
}

impl<E: std::fmt::Debug> ErrOutcome for AsDebug<E> {
    fn __tk_error_type(&self) -> &'static str {
        std::any::type_name::<E>()
    }
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            self.__tk_error_type(),
            debug_text(&self.0),
        ))
    }
}

impl<E> ErrOutcome for Opaque<E> {
    fn __tk_error_type(&self) -> &'static str {
        std::any::type_name::<E>()
    }
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            self.__tk_error_type(),
            "error".to_owned(),
        ))
    }
}

/// Imported by generated code for the method resolution above.
pub mod select {
    pub use super::{
        ErrAsDebug as _, ErrAsDisplay as _, ErrAsDynError as _, ErrAsError as _,
        ErrAsLocalDynError as _, ErrOpaque as _, FieldUnrecordable as _, FieldViaDebug as _,
        FieldViaOption as _, FieldViaToValue as _, NotAResult as _, RetDebug as _, RetOkDebug as _,
        RetOkOpaque as _, RetOkOption as _, RetOkToValue as _, RetOpaque as _, RetOption as _,
        RetRedacted as _, RetRedactedResult as _, RetToValue as _, ViaDebug as _, ViaNothing as _,
        ViaOption as _, ViaOptionRef as _, ViaPlain as _, ViaPlainOption as _,
        ViaPlainOptionRef as _, ViaToValue as _,
    };
}

// How generated code declares its trace point: a `Metadata` static (data
// layer, re-exported here) registered where `trace_points` lists it.

/// Declares the trace point `$meta`, a static with these strings and the
/// rest of `Metadata::new`'s arguments, where [`trace_points`](crate::trace_points) finds
/// it. Used by generated code.
#[cfg(tracekit_elf_points)]
#[doc(hidden)]
#[macro_export]
macro_rules! __tk_trace_point {
    ($meta:ident $strings:tt $($rest:tt)*) => {
        static $meta: $crate::__private::Metadata<[u8; $strings.len()]> =
            $crate::__private::Metadata::new($strings, $($rest)*);
        #[used]
        #[unsafe(link_section = $crate::__tk_points_section!())]
        static __TK_POINT: ::core::option::Option<$crate::__private::Point> =
            ::core::option::Option::Some($crate::__private::Metadata::point(&$meta));
    };
}

/// Declares the trace point `$meta`, a static with these strings and the
/// rest of `Metadata::new`'s arguments, where [`trace_points`](crate::trace_points) finds
/// it. Used by generated code.
#[cfg(not(tracekit_elf_points))]
#[doc(hidden)]
#[macro_export]
macro_rules! __tk_trace_point {
    ($meta:ident $strings:tt $($rest:tt)*) => {
        static $meta: $crate::__private::Metadata<[u8; $strings.len()]> =
            $crate::__private::Metadata::new($strings, $($rest)*);
        $crate::__private::inventory::submit! {
            $crate::__private::TracePoint($crate::__private::Metadata::point(&$meta))
        }
    };
}
