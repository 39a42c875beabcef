//! Tag values that keep their type: integers, floats, bools and strings.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tag key: a static string on the hot path, an owned one when built at run time.
pub type Key = Cow<'static, str>;

/// A typed tag or event-field value.
///
/// Integers, floats, bools and strings keep their type; anything else is
/// recorded as text. `Display` shows strings without quotes.
///
/// ```
/// use tracekit::Value;
/// assert_eq!(Value::from(42u16), Value::U64(42));
/// assert_eq!(Value::from("GET").to_string(), "GET");
/// assert_eq!(Value::from(-1.5).to_string(), "-1.5");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// Text.
    Str(Cow<'static, str>),
}

impl Value {
    /// A string value borrowed for the life of the program (no allocation).
    ///
    /// ```
    /// assert_eq!(tracekit::Value::from_static("redis").to_string(), "redis");
    /// ```
    pub const fn from_static(s: &'static str) -> Value {
        Value::Str(Cow::Borrowed(s))
    }

    /// The text of a string value.
    ///
    /// ```
    /// assert_eq!(tracekit::Value::from("a").as_str(), Some("a"));
    /// assert_eq!(tracekit::Value::from(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer that fits in `i64`.
    ///
    /// ```
    /// assert_eq!(tracekit::Value::from(3u8).as_i64(), Some(3));
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) => Some(v),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value of a bool.
    ///
    /// ```
    /// assert_eq!(tracekit::Value::from(true).as_bool(), Some(true));
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => fmt::Display::fmt(v, f),
            Value::I64(v) => fmt::Display::fmt(v, f),
            Value::U64(v) => fmt::Display::fmt(v, f),
            Value::F64(v) => fmt::Display::fmt(v, f),
            Value::Str(v) => f.write_str(v),
        }
    }
}

macro_rules! from_int {
    ($variant:ident as $to:ty: $($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Value {
                Value::$variant(v as $to)
            }
        }
        impl ToValue for $t {
            #[inline]
            fn to_value(&self) -> Value {
                Value::$variant(*self as $to)
            }
        }
    )*};
}
from_int!(I64 as i64: i8, i16, i32, i64, isize);
from_int!(U64 as u64: u8, u16, u32, u64, usize);
from_int!(F64 as f64: f32, f64);

macro_rules! from_wide_int {
    ($($t:ty => $narrow:ty, $variant:ident);*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                match <$narrow>::try_from(v) {
                    Ok(n) => Value::$variant(n),
                    Err(_) => Value::Str(Cow::Owned(v.to_string())),
                }
            }
        }
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
from_wide_int!(i128 => i64, I64; u128 => u64, U64);

impl From<bool> for Value {
    #[inline]
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<char> for Value {
    fn from(v: char) -> Value {
        Value::Str(Cow::Owned(v.to_string()))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(Cow::Owned(v.to_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        Value::Str(v)
    }
}

/// By default, at most this many bytes of an argument's or field's
/// `Debug`/`Display` text are recorded by `#[trace_fn]`; longer text is cut
/// (on a character boundary) and ends with `…`. Formatting stops there, so a
/// huge value (a 100 MB `Vec`) costs no more than a kilobyte of text.
/// [`set_max_text_len`] or `TRACEKIT_MAX_TEXT_LEN` changes the limit.
///
/// ```
/// #[derive(Debug)]
/// struct Blob(Vec<u8>);
/// #[tracekit::trace_fn]
/// fn store(blob: &Blob) {}
/// let ((), c) = tracekit::testing::capture(|| store(&Blob(vec![0; 1 << 20])));
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(c.span("store").tag("blob").unwrap().to_string().ends_with('…'));
/// ```
pub const MAX_TEXT_LEN: usize = 1024;

/// `usize::MAX` until first read: then `TRACEKIT_MAX_TEXT_LEN` or the default.
static TEXT_LEN: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets how many bytes of `Debug`/`Display` text an argument or field
/// records (default [`MAX_TEXT_LEN`], or `TRACEKIT_MAX_TEXT_LEN` at start).
///
/// ```no_run
/// // Early in main: keep at most 256 bytes of each argument's text.
/// tracekit::set_max_text_len(256);
/// ```
pub fn set_max_text_len(bytes: usize) {
    TEXT_LEN.store(bytes.min(usize::MAX - 1), Ordering::Relaxed);
}

/// The limit [`set_max_text_len`] sets.
///
/// ```
/// assert!(tracekit::max_text_len() > 0);
/// ```
pub fn max_text_len() -> usize {
    match TEXT_LEN.load(Ordering::Relaxed) {
        usize::MAX => {
            let from_env = std::env::var("TRACEKIT_MAX_TEXT_LEN").ok();
            let len = match from_env.as_deref().map(str::trim).map(str::parse::<usize>) {
                None => MAX_TEXT_LEN,
                Some(Ok(n)) => n.min(usize::MAX - 1),
                Some(Err(_)) => {
                    crate::diag::warn(format_args!(
                        "TRACEKIT_MAX_TEXT_LEN={:?} is not a number of bytes; using {MAX_TEXT_LEN}",
                        from_env.unwrap_or_default()
                    ));
                    MAX_TEXT_LEN
                }
            };
            // A racing set_max_text_len wins over the environment.
            let _ =
                TEXT_LEN.compare_exchange(usize::MAX, len, Ordering::Relaxed, Ordering::Relaxed);
            TEXT_LEN.load(Ordering::Relaxed)
        }
        n => n,
    }
}

/// Types that record themselves as a typed [`Value`].
///
/// `#[trace_fn]` records an argument through this trait when its type has it,
/// through `Debug` text otherwise, and leaves it out when it has neither.
///
/// ```
/// use tracekit::{ToValue, Value};
/// assert_eq!("x".to_value(), Value::from("x"));
/// assert_eq!((&7u32).to_value(), Value::U64(7));
/// ```
pub trait ToValue {
    /// The value to record.
    fn to_value(&self) -> Value;
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}
impl ToValue for char {
    fn to_value(&self) -> Value {
        Value::from(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::from(self)
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::from(self.as_str())
    }
}
impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::from(&**self)
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for &mut T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for std::sync::Arc<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_type_and_display_bare() {
        assert_eq!(Value::from(-3i8), Value::I64(-3));
        assert_eq!(Value::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert!(matches!(Value::from(u128::MAX), Value::Str(_)));
        assert_eq!(Value::from(5u128), Value::U64(5));
        assert_eq!(Value::from(2.5f32), Value::F64(2.5));
        assert_eq!(Value::from(String::from("a b")).to_string(), "a b");
        assert_eq!(Value::from(false).to_string(), "false");
    }
}
