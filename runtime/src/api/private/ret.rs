//! The end of a traced call whose result the span inspects: an `Err` as an
//! error (by the richest way its type allows), and the value `ret` records.

use super::*;
use crate::ToValue;
use crate::data::value::ArgRef;
use crate::local::Token;

/// Wraps a return value for error detection.
pub struct Ret<'a, T: ?Sized>(pub &'a T);

// The end of a call's span with its `Result` inspected: out of line, one
// copy for each `Result` type and view (not for each function).
#[inline(never)]
fn end_viewed<T, E, V: ErrOutcome>(token: Token, r: &Result<T, E>, view: impl Fn(&E) -> &V) {
    match r {
        Ok(_) => crate::local::pop_returned(token),
        Err(e) => end_err(token, view(e)),
    }
}

/// One level of `Err` inspection: the trait the macros call through
/// `$refs` references (the richer the view, the more references, so
/// method resolution tries it first), seeing an `Err(e)` as `$view`.
macro_rules! err_level {
    ($(#[$doc:meta])* $name:ident for [$($refs:tt)*] where E: [$($bound:tt)*] as $view:ident) => {
        $(#[$doc])*
        pub trait $name {
            fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
            fn __tk_end(&self, guard: LocalGuard);
        }
        impl<T, E: $($bound)*> $name for $($refs)* Ret<'_, Result<T, E>> {
            hot! {
                fn __tk_end(&self, guard: LocalGuard) {
                    guard.end_with(|token| end_viewed(token, self.0, $view::of));
                }
            }

            hot! {
                fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
                    match self.0 {
                        Ok(_) => None,
                        Err(e) => Some($view::of(e)),
                    }
                }
            }
        }
    };
}

err_level! {
    /// `Err(e)` where `e: Error`: message, type and source chain.
    ErrAsError for [&&&&&&] where E: [std::error::Error] as AsError
}

err_level! {
    /// `Err(e)` where `e` can be viewed as an error (`Box<dyn Error + Send + Sync>`,
    /// `anyhow::Error`): message and source chain, type named after `E`.
    ErrAsDynError for [&&&&&] where E: [AsRef<dyn std::error::Error + Send + Sync + 'static>] as AsDynError
}

err_level! {
    /// `Err(e)` where `e` can be viewed as an error that is not `Send + Sync`
    /// (`Box<dyn Error>`, what `main` and many examples return): as
    /// [`ErrAsDynError`]. (`Box<dyn Error + Send>` is neither: it is `Display`.)
    ErrAsLocalDynError for [&&&&] where E: [AsRef<dyn std::error::Error + 'static>] as AsLocalDynError
}

/// The type inside a boxed error, when it is one of the standard library's
/// errors (what `?` most often boxes): `std::io::Error` reads better than
/// `Box<dyn Error + Send + Sync>`. Other types cannot be named from a trait
/// object.
#[cold]
#[inline(never)]
pub(super) fn concrete_type_of(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
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

err_level! {
    /// `Err(e)` where `e: Display`.
    ErrAsDisplay for [&&&] where E: [std::fmt::Display] as AsDisplay
}

err_level! {
    /// `Err(e)` where `e: Debug`.
    ErrAsDebug for [&&] where E: [std::fmt::Debug] as AsDebug
}

err_level! {
    /// `Err(e)` of any other type.
    ErrOpaque for [&] where E: [Sized] as Opaque
}

/// Not a `Result`: nothing to record.
pub trait NotAResult {
    fn __tk_outcome(&self) -> Option<&dyn ErrOutcome>;
    fn __tk_end(&self, guard: LocalGuard);
}
impl<T: ?Sized> NotAResult for Ret<'_, T> {
    hot! {
        fn __tk_end(&self, guard: LocalGuard) {
            guard.end();
        }
    }

    hot! {
        fn __tk_outcome(&self) -> Option<&dyn ErrOutcome> {
            None
        }
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
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            match self.0 {
                Ok(Some(v)) => ArgRef::Value(v),
                _ => ArgRef::skip(),
            }
        }
    }
}

/// `Some(v)` where `v: ToValue`: recorded as `v`; `None` records nothing.
pub trait RetOption {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue> RetOption for &&&&&&Ret<'_, Option<T>> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
        }
    }
}

/// `Ok(v)` where `v: ToValue`.
pub trait RetOkToValue {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue, E> RetOkToValue for &&&&&Ret<'_, Result<T, E>> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
        }
    }
}

/// `Ok(v)` where `v: Debug`.
pub trait RetOkDebug {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug, E> RetOkDebug for &&&&Ret<'_, Result<T, E>> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Debug(v))
        }
    }
}

/// `Ok(v)` of any other type, or `Err`: nothing.
pub trait RetOkOpaque {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T, E> RetOkOpaque for &&&Ret<'_, Result<T, E>> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            ArgRef::skip()
        }
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
    hot! {
        fn __tk_redacted(&self) -> ArgRef<'static> {
            if self.0.is_ok() {
                redacted()
            } else {
                ArgRef::skip()
            }
        }
    }
}

/// Any other value: the placeholder.
pub trait RetRedacted {
    fn __tk_redacted(&self) -> ArgRef<'static>;
}
impl<T: ?Sized> RetRedacted for Ret<'_, T> {
    hot! {
        fn __tk_redacted(&self) -> ArgRef<'static> {
            redacted()
        }
    }
}

/// A typed return value.
pub trait RetToValue {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ToValue> RetToValue for &&Ret<'_, T> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            ArgRef::Value(self.0)
        }
    }
}

/// The `Debug` text of a return value.
pub trait RetDebug {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug> RetDebug for &Ret<'_, T> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            ArgRef::Debug(self.0)
        }
    }
}

/// A return value of any other type: nothing.
pub trait RetOpaque {
    fn __tk_return(&self) -> ArgRef<'_>;
}
impl<T: ?Sized> RetOpaque for Ret<'_, T> {
    hot! {
        fn __tk_return(&self) -> ArgRef<'_> {
            ArgRef::skip()
        }
    }
}
