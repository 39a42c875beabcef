//! An error broken into what a span records: `error = true`, an error
//! status, an `exception` event with the type, the message and the
//! `source()` chain.

use super::raw::*;
use crate::data::clock::Stamp;
use crate::data::parts::{Event, Status};
use crate::data::value::{Key, Value};
use std::borrow::Cow;

/// A type name as an error's type reads best: a trait object's paths cut
/// to their last segment (`Box<dyn Error + Send + Sync>`, not
/// `alloc::boxed::Box<dyn core::error::Error + core::marker::Send + ...>`);
/// a concrete type keeps its module path, which tells where it comes from.
pub(crate) fn readable_type_name(name: &'static str) -> Cow<'static, str> {
    if !name.contains("dyn ") {
        return Cow::Borrowed(name);
    }
    let last = |path: &str| path.rsplit("::").next().unwrap_or("").to_owned();
    let mut out = String::with_capacity(name.len());
    let mut path = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            out.push_str(&last(&path));
            path.clear();
            out.push(c);
        }
    }
    out.push_str(&last(&path));
    Cow::Owned(out)
}

/// An error broken into what a span records: tag `error = true`, an error
/// status with the error's text, and an `exception` event with its type,
/// message and `source()` chain. Built before the thread state is touched,
/// because formatting an error runs user code.
pub(crate) struct ErrorParts {
    type_name: Cow<'static, str>,
    message: String,
    sources: Vec<String>,
}

impl ErrorParts {
    pub(crate) fn of<E: std::error::Error + ?Sized>(error: &E) -> ErrorParts {
        ErrorParts::chain(
            std::any::type_name::<E>(),
            error.to_string(),
            error.source(),
        )
    }

    /// [`ErrorParts::of`] for an error already behind a `dyn`.
    pub(crate) fn of_dyn(error: &dyn std::error::Error, type_name: &'static str) -> ErrorParts {
        ErrorParts::chain(type_name, error.to_string(), error.source())
    }

    /// The non-generic part: one copy for every error type.
    #[inline(never)]
    fn chain(
        type_name: &'static str,
        message: String,
        mut next: Option<&dyn std::error::Error>,
    ) -> ErrorParts {
        let mut sources = Vec::new();
        while let Some(e) = next {
            sources.push(e.to_string());
            next = e.source();
            if sources.len() >= 32 {
                break; // a cyclic or absurd chain must not hang the program
            }
        }
        ErrorParts {
            type_name: Cow::Borrowed(type_name),
            message,
            sources,
        }
    }

    pub(crate) fn message(type_name: &'static str, message: String) -> ErrorParts {
        ErrorParts {
            type_name: Cow::Borrowed(type_name),
            message,
            sources: Vec::new(),
        }
    }

    /// The changes that record the error, stamped now.
    pub(crate) fn into_edits(self) -> [Edit; 3] {
        let mut fields: Vec<(Key, Value)> = Vec::with_capacity(2 + self.sources.len());
        let type_name = match self.type_name {
            Cow::Borrowed(name) => readable_type_name(name),
            owned => owned,
        };
        fields.push((Cow::Borrowed("exception.type"), Value::from(type_name)));
        fields.push((
            Cow::Borrowed("exception.message"),
            Value::from(self.message.clone()),
        ));
        for (i, s) in self.sources.into_iter().enumerate() {
            fields.push((
                Cow::Owned(format!("exception.source.{}", i + 1)),
                Value::from(s),
            ));
        }
        [
            Edit::Mark(Cow::Borrowed("error"), Value::Bool(true)),
            Edit::Status(Status::error(self.message)),
            Edit::Event(Event::stamped(
                Cow::Borrowed(crate::data::raw::EXCEPTION),
                Stamp::now(),
                fields,
            )),
        ]
    }
}

#[cfg(test)]
mod type_name_tests {
    use super::readable_type_name;

    #[test]
    fn trait_objects_read_short_and_concrete_types_keep_their_paths() {
        assert_eq!(
            readable_type_name(std::any::type_name::<
                Box<dyn std::error::Error + Send + Sync>,
            >()),
            "Box<dyn Error + Send + Sync>"
        );
        assert_eq!(
            readable_type_name(std::any::type_name::<std::io::Error>()),
            std::any::type_name::<std::io::Error>()
        );
        assert_eq!(
            readable_type_name("alloc::sync::Arc<dyn my::Trait<x::Y>>"),
            "Arc<dyn Trait<Y>>"
        );
    }
}
