//! A wrapper that keeps a value out of every span, log line and error
//! message: the recipe for a type that must never be recorded.

use crate::data::value::{ToValue, Value};
use std::fmt;

/// What a redacted value is recorded as.
pub(crate) const REDACTED: &str = "[redacted]";

/// A value that is never recorded: as an argument, a field (`key = x`,
/// `%x`, `?x`), a return value, or inside another type's derived `Debug`
/// or an error's `Display`, it shows as `[redacted]`. The value itself is
/// reached only through [`expose`](Secret::expose).
///
/// `redact(...)` hides a value at one function; `Secret` hides it wherever
/// it goes, including functions traced later by someone who does not know
/// it is secret. Give a type's sensitive fields this type and its derived
/// `Debug` is safe to record.
///
/// ```
/// use tracekit::{Secret, trace_fn};
///
/// #[derive(Debug)]
/// struct Login {
///     user: String,
///     password: Secret<String>,
/// }
///
/// #[trace_fn]
/// fn sign_in(login: &Login) -> bool {
///     login.password.expose() == "hunter2"
/// }
///
/// let login = Login { user: "ann".into(), password: Secret::new("hunter2".into()) };
/// let (ok, c) = tracekit::testing::capture(|| sign_in(&login));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(ok);
/// let recorded = c.span("sign_in").tag("login").unwrap().to_string();
/// assert_eq!(recorded, r#"Login { user: "ann", password: [redacted] }"#);
/// ```
#[derive(Clone, Copy, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    ///
    /// ```
    /// let key = tracekit::Secret::new("sk-123");
    /// assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
    /// ```
    pub const fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value, for the code that needs it.
    ///
    /// ```
    /// let key = tracekit::Secret::new("sk-123");
    /// assert_eq!(*key.expose(), "sk-123");
    /// ```
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// The value, unwrapped.
    ///
    /// ```
    /// assert_eq!(tracekit::Secret::new(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> ToValue for Secret<T> {
    fn to_value(&self) -> Value {
        Value::from_static(REDACTED)
    }
}

impl<T> From<Secret<T>> for Value {
    fn from(_: Secret<T>) -> Value {
        Value::from_static(REDACTED)
    }
}

impl<T> From<&Secret<T>> for Value {
    fn from(_: &Secret<T>) -> Value {
        Value::from_static(REDACTED)
    }
}
