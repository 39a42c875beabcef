//! [`Text`]: the text of a tag or field value, held without an allocation
//! when it can be: borrowed for the whole program, or, when short, inline.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How many bytes of text fit inline, in the space a `String` takes.
pub const INLINE_TEXT: usize = 22;

/// The text of a [`Value::Str`](crate::Value::Str): a string that lives for
/// the whole program (no copy), a short one held inline (up to 22 bytes, no
/// allocation: a path, an id, a user name), or an owned one. Reads as a
/// `&str` (it derefs to one), compares and hashes as one.
///
/// ```
/// use tracekit::Text;
/// let path = Text::from("/users/42");
/// assert_eq!(&*path, "/users/42");
/// assert!(path.is_inline());
/// assert_eq!(Text::from_static("GET"), "GET");
/// assert!(!Text::from("a longer text than fits inline").is_inline());
/// ```
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Owned(String),
}

impl Text {
    /// Text that lives for the whole program: nothing is copied.
    ///
    /// ```
    /// const GET: tracekit::Text = tracekit::Text::from_static("GET");
    /// assert_eq!(GET.as_str(), "GET");
    /// ```
    pub const fn from_static(s: &'static str) -> Text {
        Text(Repr::Static(s))
    }

    /// A copy of `s`: inline when it fits, owned when it does not.
    ///
    /// ```
    /// assert!(tracekit::Text::copy_of("short").is_inline());
    /// ```
    pub fn copy_of(s: &str) -> Text {
        if s.len() <= INLINE_TEXT {
            let mut bytes = [0; INLINE_TEXT];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Text(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Text(Repr::Owned(s.to_owned()))
        }
    }

    /// The text.
    ///
    /// ```
    /// assert_eq!(tracekit::Text::from("a").as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: `bytes` is a copy of a whole `&str` (`copy_of`
                // copies `s.len()` bytes of a `str`, cut nowhere else), so it
                // is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Owned(s) => s,
        }
    }

    /// Whether the text is held inline (made without an allocation).
    ///
    /// ```
    /// assert!(tracekit::Text::from("id-7").is_inline());
    /// ```
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The text as an owned `String` (no copy when it is one already).
    ///
    /// ```
    /// assert_eq!(tracekit::Text::from("a").into_string(), "a");
    /// ```
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Owned(s) => s,
            _ => self.as_str().to_owned(),
        }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::from_static("")
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::copy_of(s)
    }
}

impl From<String> for Text {
    /// Takes the string over (no copy, whatever its length).
    fn from(s: String) -> Text {
        Text(Repr::Owned(s))
    }
}

impl From<Cow<'static, str>> for Text {
    fn from(s: Cow<'static, str>) -> Text {
        match s {
            Cow::Borrowed(s) => Text::from_static(s),
            Cow::Owned(s) => Text::from(s),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_and_compares_as_its_text() {
        let long = "x".repeat(INLINE_TEXT + 1);
        let exact = "é".repeat(INLINE_TEXT / 2);
        assert_eq!(exact.len(), INLINE_TEXT);
        for (text, inline) in [
            (Text::from(""), true),
            (Text::from(exact.as_str()), true),
            (Text::from(long.as_str()), false),
            (Text::from(String::from("owned")), false),
            (Text::from_static("static"), false),
        ] {
            assert_eq!(text.is_inline(), inline, "{text:?}");
            let copy = Text::from(String::from(text.as_str()));
            assert_eq!(text, copy);
            assert_eq!(text.to_string(), text.as_str());
        }
        assert_eq!(&*Text::from(exact.as_str()), exact);
        assert_eq!(Text::from(long.as_str()).into_string(), long);
    }

    #[test]
    fn a_value_of_text_is_no_bigger_than_before() {
        // Cow<'static, str> made `Value` 32 bytes.
        assert_eq!(size_of::<crate::Value>(), 32);
    }
}
