//! The values of a traced call's arguments and `fields(...)`, chosen by
//! autoref specialization: what each type can give at least cost.

use super::*;
use crate::ToValue;
use crate::data::value::{ArgRef, Value};
use std::borrow::Cow;

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
            hot! {
                fn __tk_plain(&self) -> ArgRef<'_> {
                    ArgRef::$make(*self as $to)
                }
            }
        }
    )*};
}
plain!(u64 as u64: u8, u16, u32, u64, usize);
plain!(i64 as i64: i8, i16, i32, i64, isize);
plain!(f64 as f64: f32, f64);
plain!(bool as bool: bool);
impl Plain for str {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            ArgRef::Str(self)
        }
    }
}
impl Plain for String {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            ArgRef::Str(self)
        }
    }
}
impl Plain for Cow<'_, str> {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            ArgRef::Str(self)
        }
    }
}
impl<T: Plain + ?Sized> Plain for &T {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            (**self).__tk_plain()
        }
    }
}
impl<T: Plain + ?Sized> Plain for &mut T {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            (**self).__tk_plain()
        }
    }
}
impl<T: Plain + ?Sized> Plain for Box<T> {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            (**self).__tk_plain()
        }
    }
}
impl<T: Plain + ?Sized> Plain for std::sync::Arc<T> {
    hot! {
        fn __tk_plain(&self) -> ArgRef<'_> {
            (**self).__tk_plain()
        }
    }
}

/// Plain values: copied as they are.
pub trait ViaPlain {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain + ?Sized> ViaPlain for &&&&&Arg<'_, T> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            self.0.__tk_plain()
        }
    }
}

/// `Option` of a plain value: `Some(x)` is recorded as `x`, `None` is left out.
pub trait ViaPlainOption {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain> ViaPlainOption for &&&&Arg<'_, Option<T>> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), Plain::__tk_plain)
        }
    }
}

/// A borrowed `Option` of a plain value, as [`ViaPlainOption`].
pub trait ViaPlainOptionRef {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: Plain> ViaPlainOptionRef for &&&&Arg<'_, &Option<T>> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), Plain::__tk_plain)
        }
    }
}

/// `Option` of a typed value: `Some(x)` is recorded as `x`, with its type;
/// `None` is left out.
pub trait ViaOption {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaOption for &&&Arg<'_, Option<T>> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
        }
    }
}

/// A borrowed `Option` of a typed value, as [`ViaOption`].
pub trait ViaOptionRef {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaOptionRef for &&&Arg<'_, &Option<T>> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            self.0.as_ref().map_or(ArgRef::skip(), |v| ArgRef::Value(v))
        }
    }
}

/// Typed values.
pub trait ViaToValue {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ToValue> ViaToValue for &&Arg<'_, T> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            ArgRef::Value(self.0)
        }
    }
}

/// `Debug` text.
pub trait ViaDebug {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: std::fmt::Debug> ViaDebug for &Arg<'_, T> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            ArgRef::Debug(self.0)
        }
    }
}

/// Neither: the argument is left out.
pub trait ViaNothing {
    fn __tk_arg(&self) -> ArgRef<'_>;
}
impl<T: ?Sized> ViaNothing for Arg<'_, T> {
    hot! {
        fn __tk_arg(&self) -> ArgRef<'_> {
            ArgRef::skip()
        }
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
    hot! {
        pub fn new(f: F) -> FieldOnce<F> {
            FieldOnce(std::cell::Cell::new(Some(f)))
        }
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
