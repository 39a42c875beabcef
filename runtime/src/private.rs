//! Support for the code `#[trace_fn]` generates. Not public API: names and
//! signatures change without notice.
//!
//! The work lives here, in non-generic functions, so each instrumented
//! function grows by a few calls only.

use crate::local::{Token, pop_local, pop_local_taking, with_state};
use crate::raw::{Edit, ErrorParts};
use crate::span;
use crate::value::Value;
use crate::{Span, ToValue};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

pub use crate::future::{AsyncSpan, InSpan, TracedAsync};
pub use crate::trace_point::{Metadata, TracePoint};
#[cfg(not(tracekit_elf_points))]
pub use inventory;

/// The service name the environment gives (`OTEL_SERVICE_NAME`, else the
/// last `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), for `tracekit-otlp`,
/// so that its resource and the console name a process alike.
pub fn service_name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    crate::service::name_from(env)
}

/// The baggage percent-decoding, for `tracekit-otlp`'s `OTEL_*` values
/// (which follow the same W3C Baggage rules).
pub fn percent_decode(value: &str) -> Option<String> {
    crate::propagation::percent_decode(value)
}

/// The span of a sync function call, active until dropped; it holds the
/// values of the `N` arguments and fields until then, and records them with
/// the end of the span (one visit to the thread's state instead of two).
pub struct LocalGuard<const N: usize> {
    token: Token,
    recording: bool,
    /// The body returned: a drop without it is a panic unwinding.
    returned: bool,
    /// `args` holds the values: computed only when the span records (so
    /// only with a token).
    has_args: bool,
    /// Uninitialised unless `has_args`, so that a guard without a span
    /// writes and drops nothing here.
    args: MaybeUninit<[Option<Value>; N]>,
    _not_send: PhantomData<*const ()>,
}

impl<const N: usize> LocalGuard<N> {
    /// Starts the span as a child of the current span (or a new root). If
    /// computing the argument values next panics, this guard records it.
    #[inline(always)]
    pub fn start(meta: &'static Metadata) -> LocalGuard<N> {
        // Under an unsampled span, or at a point switched off, the call
        // does not visit the thread state: two loads and branches.
        let state = meta.state();
        let (token, recording) = if state == crate::filter::ON && !crate::local::is_quiet() {
            span::enter_local(meta)
        } else if state == crate::filter::UNRESOLVED {
            span::enter_local_unresolved(meta)
        } else {
            (0, false)
        };
        LocalGuard {
            token,
            recording,
            returned: false,
            has_args: false,
            args: MaybeUninit::uninit(),
            _not_send: PhantomData,
        }
    }

    /// Keeps the argument and field values (computed only when the span
    /// records) until the span ends.
    #[inline(always)]
    pub fn set_args(&mut self, values: [Option<Value>; N]) {
        self.args = MaybeUninit::new(values);
        self.has_args = true;
    }
}

impl<const N: usize> LocalGuard<N> {
    /// Whether argument values need to be computed at all.
    #[inline(always)]
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Says the body returned (normally, or with `return` or `?`).
    #[inline(always)]
    pub fn returned(&mut self) {
        self.returned = true;
    }

    /// Records an `Err` return as an error.
    #[inline]
    pub fn outcome(&self, outcome: Option<Outcome<'_>>) {
        if let Some(outcome) = outcome {
            self.record_outcome(outcome);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_outcome(&self, outcome: Outcome<'_>) {
        self.record(outcome.parts());
    }

    #[cold]
    #[inline(never)]
    fn record(&self, parts: ErrorParts) {
        if self.recording {
            let token = self.token;
            let edits = parts.into_edits();
            with_state(move |s| {
                if let Some(i) = s.find(token) {
                    for e in edits {
                        s.edit(i, e);
                    }
                }
            });
        }
    }

    /// Records the return value as the tag `return`.
    #[inline]
    pub fn ret(&self, value: Option<Value>) {
        if let (Some(value), true) = (value, self.recording) {
            self.tag_return(value);
        }
    }

    #[inline(never)]
    fn tag_return(&self, value: Value) {
        let token = self.token;
        with_state(move |s| {
            if let Some(i) = s.find(token) {
                s.edit(i, Edit::Mark(Cow::Borrowed(RETURN), value));
            }
        });
    }

    #[cold]
    #[inline(never)]
    fn panicked(&self) {
        self.record(ErrorParts::message(
            "panic",
            crate::panic::message_for(self.token),
        ));
    }
}

/// The tag key of a `ret` value.
const RETURN: &str = "return";

impl<const N: usize> Drop for LocalGuard<N> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.token != 0 {
            self.finish();
        }
    }
}

impl<const N: usize> LocalGuard<N> {
    // Out of line, so the drop left in each function is a test and a call
    // (and nothing at all for a call that opened no span).
    #[inline(never)]
    fn finish(&mut self) {
        if !self.returned {
            self.panicked();
        }
        if self.has_args && N != 0 {
            // SAFETY: `has_args` says the values are there; they are given
            // up here, in `drop`, and never read or dropped again.
            unsafe { pop_local_taking(self.token, self.args.as_mut_ptr().cast(), N) }
        } else {
            pop_local(self.token, None)
        }
    }
}

/// Calls a function body wrapped in a closure. Taking `FnOnce` lets the
/// body move out of what it captured (return `self` as given, say), which
/// a closure called on the spot would not be inferred to allow.
#[inline(always)]
pub fn call<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Starts the owned span of an `async fn` call or of a function returning a
/// future, a child of the current span.
#[inline]
pub fn start_owned(meta: &'static Metadata) -> Span {
    span::start_traced(meta)
}

/// Starts the span of an `async fn` call, a child of the current span; the
/// generated code awaits its [`TracedAsync`] right away.
#[inline(always)]
pub fn start_async(meta: &'static Metadata) -> AsyncSpan {
    let state = meta.state();
    if (state == crate::filter::ON && !crate::local::is_quiet())
        || state == crate::filter::UNRESOLVED
    {
        start_async_here(meta)
    } else {
        AsyncSpan::none()
    }
}

#[inline(never)]
fn start_async_here(meta: &'static Metadata) -> AsyncSpan {
    if meta.starts_here() {
        AsyncSpan::start(meta)
    } else {
        AsyncSpan::none()
    }
}

/// Runs the sync part of a function returning a future, with its span
/// current; a panic marks the span and finishes it.
pub fn enter_future<F>(span: &mut Span, args: &mut [Option<Value>], body: impl FnOnce() -> F) -> F {
    let mut current = crate::future::Current::enter(span, args);
    let future = body();
    current.returned = true;
    future
}

/// The argument and field values of an owned span, computed only when it
/// records; `N` nothing otherwise.
#[inline(always)]
pub fn owned_args<const N: usize>(
    recording: bool,
    values: impl FnOnce() -> [Option<Value>; N],
) -> [Option<Value>; N] {
    if recording {
        values()
    } else {
        [const { None }; N]
    }
}

/// Records an `Err` output on the current span (the `async fn`'s own span,
/// current while its future is polled).
pub fn current_outcome(outcome: Option<Outcome<'_>>) {
    if let Some(outcome) = outcome {
        crate::current_span().record_error_parts(outcome.parts());
    }
}

/// Whether the current span records (the span of the `async fn` or future
/// being polled).
pub fn current_is_recording() -> bool {
    crate::current_span().is_recording()
}

/// Records a return value on the current span as the tag `return`.
pub fn current_return(value: Option<Value>) {
    if let Some(value) = value {
        crate::current_span().set_tag(RETURN, value);
    }
}

/// The value recorded for a `redact(...)` argument.
#[inline]
pub fn redacted() -> Value {
    Value::from_static(crate::secret::REDACTED)
}

/// The `Display` text of a `%value` field.
#[inline]
pub fn display<T: std::fmt::Display + ?Sized>(value: &T) -> Value {
    Value::Str(Cow::Owned(display_text(&value)))
}

/// The `Debug` text of a `?value` field.
#[inline]
pub fn debug<T: std::fmt::Debug + ?Sized>(value: &T) -> Value {
    Value::Str(Cow::Owned(debug_text(&value)))
}

/// Formatting behind a `dyn`: one copy of the code for every type.
#[inline(never)]
fn display_text(value: &dyn std::fmt::Display) -> String {
    bounded(format_args!("{value}"))
}

#[inline(never)]
fn debug_text(value: &dyn std::fmt::Debug) -> String {
    bounded(format_args!("{value:?}"))
}

/// The text of `args`, cut at [`crate::value::max_text_len`] bytes.
fn bounded(args: std::fmt::Arguments<'_>) -> String {
    struct Limited(String, usize);
    impl std::fmt::Write for Limited {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let room = self.1.saturating_sub(self.0.len());
            if s.len() <= room {
                self.0.push_str(s);
                return Ok(());
            }
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.0.push_str(&s[..cut]);
            // An error stops the formatting: the rest is never produced.
            Err(std::fmt::Error)
        }
    }
    let mut out = Limited(String::new(), crate::value::max_text_len());
    if std::fmt::write(&mut out, args).is_err() {
        out.0.push('…');
    }
    out.0
}

/// An error return, borrowed until it is recorded: building one costs a few
/// stores in every instrumented function; turning it into what a span
/// records happens once, out of line.
pub enum Outcome<'a> {
    Error(&'a (dyn std::error::Error + 'a), &'static str),
    Display(&'a (dyn std::fmt::Display + 'a), &'static str),
    Debug(&'a (dyn std::fmt::Debug + 'a), &'static str),
    Opaque(&'static str),
}

impl Outcome<'_> {
    #[inline(never)]
    fn parts(self) -> ErrorParts {
        match self {
            Outcome::Error(e, ty) => ErrorParts::of_dyn(e, ty),
            Outcome::Display(e, ty) => ErrorParts::message(ty, display_text(e)),
            Outcome::Debug(e, ty) => ErrorParts::message(ty, debug_text(e)),
            Outcome::Opaque(ty) => ErrorParts::message(ty, "error".to_owned()),
        }
    }
}

// Autoref specialization: the macro calls `(&&&Arg(&x)).__tk_value()`; method
// resolution picks the impl with the most references that applies, so typed
// values beat `Debug` text, which beats leaving the argument out. No argument
// type can break the build.

/// Wraps an argument for value selection.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// `Option` of a typed value: `Some(x)` is recorded as `x`, with its type;
/// `None` is left out.
pub trait ViaOption {
    fn __tk_value(&self) -> Option<Value>;
}
impl<T: ToValue> ViaOption for &&&Arg<'_, Option<T>> {
    #[inline]
    fn __tk_value(&self) -> Option<Value> {
        self.0.as_ref().map(ToValue::to_value)
    }
}

/// A borrowed `Option` of a typed value, as [`ViaOption`].
pub trait ViaOptionRef {
    fn __tk_value(&self) -> Option<Value>;
}
impl<T: ToValue> ViaOptionRef for &&&Arg<'_, &Option<T>> {
    #[inline]
    fn __tk_value(&self) -> Option<Value> {
        self.0.as_ref().map(ToValue::to_value)
    }
}

/// Typed values.
pub trait ViaToValue {
    fn __tk_value(&self) -> Option<Value>;
}
impl<T: ToValue + ?Sized> ViaToValue for &&Arg<'_, T> {
    #[inline]
    fn __tk_value(&self) -> Option<Value> {
        Some(self.0.to_value())
    }
}

/// `Debug` text.
pub trait ViaDebug {
    fn __tk_value(&self) -> Option<Value>;
}
impl<T: std::fmt::Debug + ?Sized> ViaDebug for &Arg<'_, T> {
    #[inline]
    fn __tk_value(&self) -> Option<Value> {
        Some(debug(self.0))
    }
}

/// Neither: the argument is left out.
pub trait ViaNothing {
    fn __tk_value(&self) -> Option<Value>;
}
impl<T: ?Sized> ViaNothing for Arg<'_, T> {
    #[inline(always)]
    fn __tk_value(&self) -> Option<Value> {
        None
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

/// A `fields(...)` value, checked to be recordable.
#[inline]
pub fn field(value: impl IntoField) -> Option<Value> {
    value.into_field()
}

/// Wraps a return value for error detection.
pub struct Ret<'a, T: ?Sized>(pub &'a T);

/// `Err(e)` where `e: Error`: message, type and source chain.
pub trait ErrAsError {
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T, E: std::error::Error> ErrAsError for &&&&&Ret<'_, Result<T, E>> {
    #[inline]
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(Outcome::Error(e, std::any::type_name::<E>())),
        }
    }
}

/// `Err(e)` where `e` can be viewed as an error (`Box<dyn Error + Send + Sync>`,
/// `anyhow::Error`): message and source chain, type named after `E`.
pub trait ErrAsDynError {
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T, E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ErrAsDynError
    for &&&&Ret<'_, Result<T, E>>
{
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(e) => {
                let e = e.as_ref();
                let ty = concrete_type_of(e).unwrap_or(std::any::type_name::<E>());
                Some(Outcome::Error(e, ty))
            }
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
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T, E: std::fmt::Display> ErrAsDisplay for &&&Ret<'_, Result<T, E>> {
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(Outcome::Display(e, std::any::type_name::<E>())),
        }
    }
}

/// `Err(e)` where `e: Debug`.
pub trait ErrAsDebug {
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T, E: std::fmt::Debug> ErrAsDebug for &&Ret<'_, Result<T, E>> {
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(e) => Some(Outcome::Debug(e, std::any::type_name::<E>())),
        }
    }
}

/// `Err(e)` of any other type.
pub trait ErrOpaque {
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T, E> ErrOpaque for &Ret<'_, Result<T, E>> {
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(_) => Some(Outcome::Opaque(std::any::type_name::<E>())),
        }
    }
}

/// Not a `Result`: nothing to record.
pub trait NotAResult {
    fn __tk_outcome(&self) -> Option<Outcome<'_>>;
}
impl<T: ?Sized> NotAResult for Ret<'_, T> {
    #[inline(always)]
    fn __tk_outcome(&self) -> Option<Outcome<'_>> {
        None
    }
}

// `ret`: the `Ok` value of a `Result`, or the value itself; typed values
// before `Debug` text, as for arguments.

/// `Ok(Some(v))` where `v: ToValue`: recorded as `v`; `Ok(None)` records
/// nothing.
pub trait RetOkOption {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: ToValue, E> RetOkOption for &&&&&&Ret<'_, Result<Option<T>, E>> {
    fn __tk_return(&self) -> Option<Value> {
        match self.0 {
            Ok(Some(v)) => Some(v.to_value()),
            _ => None,
        }
    }
}

/// `Some(v)` where `v: ToValue`: recorded as `v`; `None` records nothing.
pub trait RetOption {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: ToValue> RetOption for &&&&&&Ret<'_, Option<T>> {
    fn __tk_return(&self) -> Option<Value> {
        self.0.as_ref().map(ToValue::to_value)
    }
}

/// `Ok(v)` where `v: ToValue`.
pub trait RetOkToValue {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: ToValue, E> RetOkToValue for &&&&&Ret<'_, Result<T, E>> {
    fn __tk_return(&self) -> Option<Value> {
        self.0.as_ref().ok().map(ToValue::to_value)
    }
}

/// `Ok(v)` where `v: Debug`.
pub trait RetOkDebug {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: std::fmt::Debug, E> RetOkDebug for &&&&Ret<'_, Result<T, E>> {
    fn __tk_return(&self) -> Option<Value> {
        self.0.as_ref().ok().map(|v| debug(v))
    }
}

/// `Ok(v)` of any other type, or `Err`: nothing.
pub trait RetOkOpaque {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T, E> RetOkOpaque for &&&Ret<'_, Result<T, E>> {
    fn __tk_return(&self) -> Option<Value> {
        None
    }
}

// `ret` with `redact(return)`: a placeholder wherever `ret` would record
// something, and the value itself never formatted.

/// A `Result`: the placeholder for `Ok`, nothing for `Err` (recorded as an
/// error, as without `redact`).
pub trait RetRedactedResult {
    fn __tk_redacted(&self) -> Option<Value>;
}
impl<T, E> RetRedactedResult for &Ret<'_, Result<T, E>> {
    #[inline]
    fn __tk_redacted(&self) -> Option<Value> {
        self.0.is_ok().then(redacted)
    }
}

/// Any other value: the placeholder.
pub trait RetRedacted {
    fn __tk_redacted(&self) -> Option<Value>;
}
impl<T: ?Sized> RetRedacted for Ret<'_, T> {
    #[inline]
    fn __tk_redacted(&self) -> Option<Value> {
        Some(redacted())
    }
}

/// A typed return value.
pub trait RetToValue {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: ToValue + ?Sized> RetToValue for &&Ret<'_, T> {
    fn __tk_return(&self) -> Option<Value> {
        Some(self.0.to_value())
    }
}

/// The `Debug` text of a return value.
pub trait RetDebug {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: std::fmt::Debug + ?Sized> RetDebug for &Ret<'_, T> {
    fn __tk_return(&self) -> Option<Value> {
        Some(debug(self.0))
    }
}

/// A return value of any other type: nothing.
pub trait RetOpaque {
    fn __tk_return(&self) -> Option<Value>;
}
impl<T: ?Sized> RetOpaque for Ret<'_, T> {
    fn __tk_return(&self) -> Option<Value> {
        None
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
        ViaOptionRef as _, ViaToValue as _,
    };
}

/// Test hook: advances this thread's span tokens as if `n` spans had been
/// started (and finished) since, without making them.
pub fn skip_span_starts(n: u64) {
    with_state(|s| s.skip_tokens(n));
}
