//! Support for the code `#[trace_fn]` generates. Not public API: names and
//! signatures change without notice.
//!
//! The work lives here, in non-generic functions, so each instrumented
//! function grows by a few calls only.

use crate::api::span;
use crate::data::raw::{Edit, ErrorParts};
use crate::data::value::{Value, debug_text, display_text};
use crate::local::{Token, with_state};
use crate::{Span, ToValue};
use std::borrow::Cow;
use std::marker::PhantomData;

pub use crate::data::value::ArgRef;

pub use crate::api::future::{AsyncSpan, InSpan, QuietAsync, TracedAsync};
pub use crate::data::parts::SpanKind;
pub use crate::data::trace_point::{Metadata, Point, TracePoint};
#[cfg(not(tracekit_elf_points))]
pub use inventory;

/// The service name the environment gives (`OTEL_SERVICE_NAME`, else the
/// last `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), for `tracekit-otlp`,
/// so that its resource and the console name a process alike.
pub fn service_name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    crate::data::service::name_from(env)
}

/// The baggage percent-decoding, for `tracekit-otlp`'s `OTEL_*` values
/// (which follow the same W3C Baggage rules).
pub fn percent_decode(value: &str) -> Option<String> {
    crate::data::percent::decode(value)
}

/// The span of a sync function call. Its argument values were recorded
/// when it started ([`LocalGuard::start`]), so the guard holds only the
/// span's token: the same code for every function. The body's return ends
/// it ([`LocalGuard::end`]); a drop is a panic unwinding through the call.
pub struct LocalGuard {
    token: Token,
    _not_send: PhantomData<*const ()>,
}

impl LocalGuard {
    /// No span yet.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub const fn new() -> LocalGuard {
        LocalGuard {
            token: 0,
            _not_send: PhantomData,
        }
    }

    /// Starts the span as a child of the current span (or a new root),
    /// recording `args`, the values of the arguments and fields.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn start(&mut self, meta: &'static Metadata, args: &[ArgRef<'_>]) {
        self.token = span::enter_local(meta.point(), args);
    }

    /// Ends the span of a call whose body returned (normally, or with
    /// `return` or `?`): a test and a call, or nothing for a call that
    /// opened no span.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn end(self) {
        let token = self.into_token();
        if token != 0 {
            end_call(token);
        }
    }

    /// Gives up the guard for a call whose body returned, leaving the end
    /// of its span to the caller; 0 for no span.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_token(self) -> Token {
        let token = self.token;
        std::mem::forget(self);
        token
    }

    /// Ends the span of a call whose body returned through `end`, a
    /// function of its token; nothing for a call that opened no span.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn end_with(self, end: impl FnOnce(Token)) {
        let token = self.into_token();
        if token != 0 {
            end(token);
        }
    }

    /// [`LocalGuard::end`], recording `value` as the tag `return`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn end_ret(self, outcome: Option<&dyn ErrOutcome>, value: ArgRef<'_>) {
        let token = self.token;
        std::mem::forget(self);
        if token != 0 {
            end_ret(token, outcome, value);
        }
    }
}

/// Whether a call of `meta` may start a span: the thread's top span
/// records, and the point is not switched off (it is on, or not worked out
/// yet: the start works a point out on its first call that can record).
/// Under an unsampled span, or at a point switched off, this is two loads
/// and branches, and the call builds none of its argument values.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn starts(meta: &'static Metadata) -> bool {
    // The point's test is one byte against one constant (a point not worked
    // out yet goes the way of one switched on): 9 bytes of code a call site
    // fewer than telling the three states apart here. The thread's flag
    // first: in that order the compiler keeps the arguments where they are
    // on the way around the span (2 instructions fewer for an unsampled
    // call, measured with benches/check-instructions.sh's counter).
    !crate::local::is_quiet() && meta.point().state() != crate::sampling::filter::OFF
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
/// not inspected).
///
/// `extern "C"` so that the compiler knows it cannot unwind: every landing
/// pad that calls it then needs no pad of its own for a panic inside it
/// (which would abort the process anyway, as any panic in a drop during
/// unwinding does; here the abort happens inside instead). About 45 bytes a
/// traced function fewer.
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
    crate::local::pop_returned(token);
}

/// Ends the span of a call that returned an `Err`.
#[cold]
#[inline(never)]
fn end_err(token: Token, outcome: &dyn ErrOutcome) {
    record_outcome(token, outcome);
    crate::local::pop_returned(token);
}

/// Ends the span of a call that records its return value.
#[inline(never)]
fn end_ret(token: Token, outcome: Option<&dyn ErrOutcome>, value: ArgRef<'_>) {
    if let Some(outcome) = outcome {
        record_outcome(token, outcome);
    }
    if !value.is_skip() {
        record_return(token, value);
    }
    crate::local::pop_returned(token);
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

/// Calls a function body wrapped in a closure. Taking `FnOnce` lets the
/// body move out of what it captured (return `self` as given, say), which
/// a closure called on the spot would not be inferred to allow.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn call<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Starts the owned span of a function returning a future, a child of the
/// current span, with the values of its arguments and fields.
#[inline(never)]
pub fn start_owned(meta: &'static Metadata, args: &[ArgRef<'_>]) -> Span {
    span::start_traced(meta.point(), args)
}

/// Starts the span of an `async fn` call, a child of the current span; the
/// generated code awaits its [`TracedAsync`] right away.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn start_async(meta: &'static Metadata, args: &[ArgRef<'_>]) -> AsyncSpan {
    AsyncSpan::start(meta.point(), args)
}

/// Runs the sync part of a function returning a future, with its span
/// current; a panic marks the span and finishes it.
pub fn enter_future<F>(span: &mut Span, body: impl FnOnce() -> F) -> F {
    let mut current = crate::api::future::Current::enter(span);
    let future = body();
    current.returned = true;
    future
}

/// Records an `Err` output on the current span (the `async fn`'s own span,
/// current while its future is polled).
pub fn current_outcome(outcome: Option<&dyn ErrOutcome>) {
    if let Some(outcome) = outcome {
        crate::current_span().record_error_parts(outcome.__tk_parts().0);
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

/// The value recorded for a `redact(...)` argument or field.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub const fn redacted() -> ArgRef<'static> {
    ArgRef::static_str(crate::data::secret::REDACTED)
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
            #[cfg_attr(not(debug_assertions), inline(always))]
            #[cfg_attr(debug_assertions, inline)]
            fn of(e: &E) -> &$name<E> {
                // SAFETY: `$name` is `#[repr(transparent)]` over `E`, so
                // the two references have the same layout and validity.
                unsafe { &*(e as *const E as *const $name<E>) }
            }
        }
    )*};
}
wrappers!(
    /// An error with its source chain.
    AsError,
    /// An error reached through `AsRef<dyn Error>` (a boxed error, `anyhow::Error`).
    AsDynError,
    /// An error type that is only `Display`.
    AsDisplay,
    /// An error type that is only `Debug`.
    AsDebug,
    /// An error type with nothing to show.
    Opaque
);

impl<E: std::error::Error> ErrOutcome for AsError<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::of_dyn(&self.0, std::any::type_name::<E>()))
    }
}

impl<E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ErrOutcome for AsDynError<E> {
    fn __tk_parts(&self) -> Parts {
        let e = self.0.as_ref();
        let ty = concrete_type_of(e).unwrap_or(std::any::type_name::<E>());
        Parts(ErrorParts::of_dyn(e, ty))
    }
}

impl<E: std::fmt::Display> ErrOutcome for AsDisplay<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            std::any::type_name::<E>(),
            display_text(&self.0),
        ))
    }
}

impl<E: std::fmt::Debug> ErrOutcome for AsDebug<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            std::any::type_name::<E>(),
            debug_text(&self.0),
        ))
    }
}

impl<E> ErrOutcome for Opaque<E> {
    fn __tk_parts(&self) -> Parts {
        Parts(ErrorParts::message(
            std::any::type_name::<E>(),
            "error".to_owned(),
        ))
    }
}

// Autoref specialization: the macro calls `(&&&&&Arg(&x)).__tk_arg()`;
// method resolution picks the impl with the most references that applies,
// so plain values beat typed values, which beat `Debug` text, which beats
// leaving the argument out. No argument type can break the build through
// the selection. (An argument whose type is written as a plain number,
// `bool` or `str` skips it: the macro names `Plain` outright, which fails,
// at the argument, only for a crate's own type under such a name.)

/// Wraps an argument for value selection.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// The standard library's types whose value is at hand without running
/// user code: numbers, bools, text.
pub trait Plain {
    #[doc(hidden)]
    fn __tk_plain(&self) -> ArgRef<'_>;
}
macro_rules! plain {
    ($make:ident as $to:ty: $($t:ty),*) => {$(
        impl Plain for $t {
            #[cfg_attr(not(debug_assertions), inline(always))]
            #[cfg_attr(debug_assertions, inline)]
            fn __tk_plain(&self) -> ArgRef<'_> {
                ArgRef::$make(*self as $to)
            }
        }
    )*};
}
plain!(u64 as u64: u8, u16, u32, u64, usize);
plain!(i64 as i64: i8, i16, i32, i64, isize);
plain!(f64 as f64: f32, f64);
plain!(bool as bool: bool);
impl Plain for str {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        ArgRef::Str(self)
    }
}
impl Plain for String {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        ArgRef::Str(self)
    }
}
impl Plain for Cow<'_, str> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        ArgRef::Str(self)
    }
}
impl<T: Plain + ?Sized> Plain for &T {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        (**self).__tk_plain()
    }
}
impl<T: Plain + ?Sized> Plain for &mut T {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        (**self).__tk_plain()
    }
}
impl<T: Plain + ?Sized> Plain for Box<T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        (**self).__tk_plain()
    }
}
impl<T: Plain + ?Sized> Plain for std::sync::Arc<T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_plain(&self) -> ArgRef<'_> {
        (**self).__tk_plain()
    }
}

/// Plain values: copied as they are.
pub trait ViaPlain {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain + ?Sized> ViaPlain for &&&&&Arg<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        self.0.__tk_plain()
    }
}

/// `Option` of a plain value: `Some(x)` is recorded as `x`, `None` is left out.
pub trait ViaPlainOption {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain> ViaPlainOption for &&&&Arg<'_, Option<T>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), Plain::__tk_plain)
    }
}

/// A borrowed `Option` of a plain value, as [`ViaPlainOption`].
pub trait ViaPlainOptionRef {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain> ViaPlainOptionRef for &&&&Arg<'_, &Option<T>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), Plain::__tk_plain)
    }
}

/// `Option` of a typed value: `Some(x)` is recorded as `x`, with its type;
/// `None` is left out.
pub trait ViaOption {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaOption for &&&Arg<'_, Option<T>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
    }
}

/// A borrowed `Option` of a typed value, as [`ViaOption`].
pub trait ViaOptionRef {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaOptionRef for &&&Arg<'_, &Option<T>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
    }
}

/// Typed values.
pub trait ViaToValue {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaToValue for &&Arg<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        ArgRef::Value(self.0)
    }
}

/// `Debug` text.
pub trait ViaDebug {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug> ViaDebug for &Arg<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        ArgRef::Debug(self.0)
    }
}

/// Neither: the argument is left out.
pub trait ViaNothing {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ?Sized> ViaNothing for Arg<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_arg(&self) -> ArgRef<'_> {
        ArgRef::skip()
    }
}

/// Wraps a `fields(key = value)` value for value selection. Unlike an
/// argument, a field the user asked for must be recordable: a value that is
/// neither `ToValue` nor `Debug` is a compile error at the value.
pub struct FieldValue<'a, T: ?Sized>(pub &'a T);

/// A field value that can be recorded.
pub struct Recordable(Option<Value>);

/// A field value that cannot be recorded; [`field`] rejects it.
pub struct Unrecordable;

/// A field whose value is an `Option` of a typed value: `Some(x)` is
/// recorded as `x`, `None` leaves the field out.
pub trait FieldViaOption {
    fn __tk_field(&self) -> Recordable;
}
impl<T: ToValue> FieldViaOption for &&&FieldValue<'_, Option<T>> {
    #[inline]
    fn __tk_field(&self) -> Recordable {
        Recordable(self.0.as_ref().map(ToValue::to_value))
    }
}

/// Typed field values.
pub trait FieldViaToValue {
    fn __tk_field(&self) -> Recordable;
}
impl<T: ToValue + ?Sized> FieldViaToValue for &&FieldValue<'_, T> {
    #[inline]
    fn __tk_field(&self) -> Recordable {
        Recordable(Some(self.0.to_value()))
    }
}

/// `Debug` text of field values.
pub trait FieldViaDebug {
    fn __tk_field(&self) -> Recordable;
}
impl<T: std::fmt::Debug + ?Sized> FieldViaDebug for &FieldValue<'_, T> {
    fn __tk_field(&self) -> Recordable {
        Recordable(Some(debug(self.0)))
    }
}

/// Field values of any other type.
pub trait FieldUnrecordable {
    fn __tk_field(&self) -> Unrecordable;
}
impl<T: ?Sized> FieldUnrecordable for FieldValue<'_, T> {
    fn __tk_field(&self) -> Unrecordable {
        Unrecordable
    }
}

/// What [`field`] accepts.
#[diagnostic::on_unimplemented(
    message = "this field value cannot be recorded: its type implements neither `tracekit::ToValue` nor `Debug`",
    label = "not recordable",
    note = "record its `Display` text with `key = %value`, or record one of its parts"
)]
pub trait IntoField {
    #[doc(hidden)]
    fn into_field(self) -> Option<Value>;
}
impl IntoField for Recordable {
    #[inline]
    fn into_field(self) -> Option<Value> {
        self.0
    }
}

/// A `fields(...)` expression, evaluated (once) only for a span that
/// records: a closure called at most once, so the expression may move or
/// change what it uses, as it could written in the function.
pub struct FieldOnce<F>(std::cell::Cell<Option<F>>);

impl<F: FnOnce() -> Option<Value>> FieldOnce<F> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn new(f: F) -> FieldOnce<F> {
        FieldOnce(std::cell::Cell::new(Some(f)))
    }
}

impl<F: FnOnce() -> Option<Value>> crate::data::value::FieldFn for FieldOnce<F> {
    fn take_value(&self) -> Option<Value> {
        self.0.take().and_then(|f| f())
    }
}

/// A `fields(...)` value, checked to be recordable.
#[inline]
pub fn field(value: impl IntoField) -> Option<Value> {
    value.into_field()
}

/// Wraps a return value for error detection.
pub struct Ret<'a, T: ?Sized>(pub &'a T);

// The end of a call's span with its `Result` inspected: out of line, one
// copy for each `Result` type (not for each function).

#[inline(never)]
fn end_as_error<T, E: std::error::Error>(token: Token, r: &Result<T, E>) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, AsError::of(e)),
    }
}

#[inline(never)]
fn end_as_dyn_error<T, E: AsRef<dyn std::error::Error + Send + Sync + 'static>>(
    token: Token,
    r: &Result<T, E>,
) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, AsDynError::of(e)),
    }
}

#[inline(never)]
fn end_as_display<T, E: std::fmt::Display>(token: Token, r: &Result<T, E>) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, AsDisplay::of(e)),
    }
}

#[inline(never)]
fn end_as_debug<T, E: std::fmt::Debug>(token: Token, r: &Result<T, E>) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, AsDebug::of(e)),
    }
}

#[inline(never)]
fn end_opaque<T, E>(token: Token, r: &Result<T, E>) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, Opaque::of(e)),
    }
}

/// `Err(e)` where `e: Error`: message, type and source chain.
pub trait ErrAsError {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T, E: std::error::Error> ErrAsError for &&&&&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end_with(|token| end_as_error(token, self.0));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(AsError::of(e)),
        }
    }
}

/// `Err(e)` where `e` can be viewed as an error (`Box<dyn Error + Send + Sync>`,
/// `anyhow::Error`): message and source chain, type named after `E`.
pub trait ErrAsDynError {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T, E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ErrAsDynError
    for &&&&Ret<'_, Result<T, E>>
{
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end_with(|token| end_as_dyn_error(token, self.0));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(AsDynError::of(e)),
        }
    }
}

/// The type inside a boxed error, when it is one of the standard library's
/// errors (what `?` most often boxes): `std::io::Error` reads better than
/// `Box<dyn Error + Send + Sync>`. Other types cannot be named from a trait
/// object.
#[cold]
#[inline(never)]
fn concrete_type_of(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<&'static str> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if e.is::<$t>() {
                return Some(std::any::type_name::<$t>());
            })*
        };
    }
    first_of!(
        std::io::Error,
        std::fmt::Error,
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::num::TryFromIntError,
        std::str::Utf8Error,
        std::string::FromUtf8Error,
        std::str::ParseBoolError,
        std::char::ParseCharError,
        std::net::AddrParseError,
        std::time::SystemTimeError,
        std::env::VarError,
        std::array::TryFromSliceError,
        std::ffi::NulError,
    );
    None
}

/// `Err(e)` where `e: Display`.
pub trait ErrAsDisplay {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T, E: std::fmt::Display> ErrAsDisplay for &&&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end_with(|token| end_as_display(token, self.0));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(AsDisplay::of(e)),
        }
    }
}

/// `Err(e)` where `e: Debug`.
pub trait ErrAsDebug {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T, E: std::fmt::Debug> ErrAsDebug for &&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end_with(|token| end_as_debug(token, self.0));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(AsDebug::of(e)),
        }
    }
}

/// `Err(e)` of any other type.
pub trait ErrOpaque {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T, E> ErrOpaque for &Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end_with(|token| end_opaque(token, self.0));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(Opaque::of(e)),
        }
    }
}

/// Not a `Result`: nothing to record.
pub trait NotAResult {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T: ?Sized> NotAResult for Ret<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_end(&self, guard: LocalGuard) {
        guard.end();
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
        None
    }
}

// `ret`: the `Ok` value of a `Result`, or the value itself; typed values
// before `Debug` text, as for arguments. Turned into a value only for a
// span that records.

/// `Ok(Some(v))` where `v: ToValue`: recorded as `v`; `Ok(None)` records
/// nothing.
pub trait RetOkOption {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue, E> RetOkOption for &&&&&&Ret<'_, Result<Option<T>, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        match self.0 {
            Ok(Some(v)) => ArgRef::Value(v),
            _ => ArgRef::skip(),
        }
    }
}

/// `Some(v)` where `v: ToValue`: recorded as `v`; `None` records nothing.
pub trait RetOption {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue> RetOption for &&&&&&Ret<'_, Option<T>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
    }
}

/// `Ok(v)` where `v: ToValue`.
pub trait RetOkToValue {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue, E> RetOkToValue for &&&&&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
    }
}

/// `Ok(v)` where `v: Debug`.
pub trait RetOkDebug {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug, E> RetOkDebug for &&&&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Debug(v))
    }
}

/// `Ok(v)` of any other type, or `Err`: nothing.
pub trait RetOkOpaque {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T, E> RetOkOpaque for &&&Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        ArgRef::skip()
    }
}

// `ret` with `redact(return)`: a placeholder wherever `ret` would record
// something, and the value itself never formatted.

/// A `Result`: the placeholder for `Ok`, nothing for `Err` (recorded as an
/// error, as without `redact`).
pub trait RetRedactedResult {
    fn __tk_redacted(&self) -> ArgRef<'static>;
}
impl<T, E> RetRedactedResult for &Ret<'_, Result<T, E>> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_redacted(&self) -> ArgRef<'static> {
        if self.0.is_ok() {
            redacted()
        } else {
            ArgRef::skip()
        }
    }
}

/// Any other value: the placeholder.
pub trait RetRedacted {
    fn __tk_redacted(&self) -> ArgRef<'static>;
}
impl<T: ?Sized> RetRedacted for Ret<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_redacted(&self) -> ArgRef<'static> {
        redacted()
    }
}

/// A typed return value.
pub trait RetToValue {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue> RetToValue for &&Ret<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        ArgRef::Value(self.0)
    }
}

/// The `Debug` text of a return value.
pub trait RetDebug {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug> RetDebug for &Ret<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        ArgRef::Debug(self.0)
    }
}

/// A return value of any other type: nothing.
pub trait RetOpaque {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ?Sized> RetOpaque for Ret<'_, T> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn __tk_return(&self) -> ArgRef<'_> {
        ArgRef::skip()
    }
}

/// Imported by generated code for the method resolution above.
pub mod select {
    pub use super::{
        ErrAsDebug as _, ErrAsDisplay as _, ErrAsDynError as _, ErrAsError as _, ErrOpaque as _,
        FieldUnrecordable as _, FieldViaDebug as _, FieldViaOption as _, FieldViaToValue as _,
        NotAResult as _, RetDebug as _, RetOkDebug as _, RetOkOpaque as _, RetOkOption as _,
        RetOkToValue as _, RetOpaque as _, RetOption as _, RetRedacted as _,
        RetRedactedResult as _, RetToValue as _, ViaDebug as _, ViaNothing as _, ViaOption as _,
        ViaOptionRef as _, ViaPlain as _, ViaPlainOption as _, ViaPlainOptionRef as _,
        ViaToValue as _,
    };
}

/// Test hook: advances this thread's span tokens as if `n` spans had been
/// started (and finished) since, without making them.
pub fn skip_span_starts(n: u64) {
    with_state(|s| s.skip_tokens(n));
}
