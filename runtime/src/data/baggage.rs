//! Baggage: key/value items a span hands down to every descendant, in this
//! process and (through propagation) in others.
//!
//! One set of limits holds whatever the source (W3C `baggage`, Jaeger's
//! `uberctx-*`, the API): at most [`MAX_BAGGAGE_MEMBERS`] items and
//! [`MAX_BAGGAGE_BYTES`] bytes as a W3C `baggage` header. An item that would
//! pass either is dropped whole, counted ([`baggage_dropped`]) and reported
//! on stderr the first time, so a peer cannot grow the headers hop by hop.

use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many baggage items travel (W3C Baggage's minimum).
///
/// ```
/// let mut b = tracekit::Baggage::default();
/// for i in 0..100 {
///     b = b.with(format!("k{i}"), "v");
/// }
/// assert_eq!(b.len(), tracekit::MAX_BAGGAGE_MEMBERS);
/// ```
pub const MAX_BAGGAGE_MEMBERS: usize = 64;

/// At most this many bytes of baggage travel, measured as the W3C
/// `baggage` header that carries them.
///
/// ```
/// let b = tracekit::Baggage::default().with("big", "x".repeat(9000));
/// assert!(b.is_empty());
/// ```
pub const MAX_BAGGAGE_BYTES: usize = 8192;

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many baggage items were dropped for the limits since the program
/// started, from every source.
///
/// ```
/// let before = tracekit::baggage_dropped();
/// let _ = tracekit::Baggage::default().with("big", "x".repeat(9000));
/// assert_eq!(tracekit::baggage_dropped(), before + 1);
/// ```
pub fn baggage_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn note_dropped(key: &str) {
    if DROPPED.fetch_add(1, Ordering::Relaxed) == 0 {
        crate::data::diag::warn(format_args!(
            "baggage item {:?} dropped: over the {MAX_BAGGAGE_MEMBERS}-item / {MAX_BAGGAGE_BYTES}-byte limits (later drops are only counted: tracekit::baggage_dropped())",
            key.chars().take(64).collect::<String>()
        ));
    }
}

/// One item, with the text it arrived in when it came from a peer, so it
/// leaves as it came: re-injected baggage is never larger than what was
/// extracted.
#[derive(Clone, Debug)]
struct Item {
    key: String,
    value: String,
    /// The encoded value as a peer sent it.
    wire: Option<Box<str>>,
}

impl Item {
    /// This item's share of a W3C `baggage` header, without the comma.
    fn w3c_len(&self) -> usize {
        self.key.len()
            + 1
            + self
                .w3c_value()
                .map_or_else(|| encoded_len(&self.value), str::len)
    }

    /// The text the peer sent, when a W3C header can carry it as it is.
    fn w3c_value(&self) -> Option<&str> {
        self.wire
            .as_deref()
            .filter(|w| w.bytes().all(is_baggage_octet))
    }
}

/// The bytes a W3C baggage value may hold (baggage-octet), escapes included.
pub(crate) fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether a peer's value can go on in a header as it is: no control
/// characters and no outer spaces (UTF-8 stays as the peer sent it).
pub(crate) fn is_header_safe(wire: &str) -> bool {
    wire.bytes().all(|b| b >= 0x20 && b != 0x7f) && !wire.starts_with(' ') && !wire.ends_with(' ')
}

/// The length of `value` percent-encoded as the injectors write it (see
/// `propagation::percent::encode`: RFC 3986's unreserved bytes stay).
fn encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                1
            } else {
                3
            }
        })
        .sum()
}

/// An immutable set of baggage items; spans share it through an `Arc` and copy
/// it only when a span sets an item of its own.
///
/// ```
/// let span = tracekit::start_active_span("request");
/// span.set_baggage_item("request.id", "r-17");
/// let child = tracekit::Span::start("db");
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(child.context().unwrap().baggage_item("request.id"), Some("r-17"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Baggage {
    items: Vec<Item>,
    /// The W3C header size of all items, commas included.
    bytes: usize,
}

impl PartialEq for Baggage {
    fn eq(&self, other: &Baggage) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Eq for Baggage {}

impl Baggage {
    pub(crate) const EMPTY: Baggage = Baggage {
        items: Vec::new(),
        bytes: 0,
    };

    /// The value of this key.
    ///
    /// ```
    /// let b = tracekit::Baggage::default().with("k", "v");
    /// assert_eq!(b.get("k"), Some("v"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|i| i.key == key)
            .map(|i| i.value.as_str())
    }

    /// A copy with `key` set to `value` (replacing an earlier value). Past
    /// the limits ([`MAX_BAGGAGE_MEMBERS`], [`MAX_BAGGAGE_BYTES`]) the item
    /// is dropped and counted, and an earlier value of the key stays.
    ///
    /// ```
    /// let b = tracekit::Baggage::default().with("k", "1").with("k", "2");
    /// assert_eq!(b.get("k"), Some("2"));
    /// assert_eq!(b.len(), 1);
    /// ```
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Baggage {
        self.set(key.into(), value.into());
        self
    }

    /// Sets an item made in this process; false when the limits drop it.
    pub(crate) fn set(&mut self, key: String, value: String) -> bool {
        self.put(Item {
            key,
            value,
            wire: None,
        })
    }

    /// Sets an item that arrived from a peer as `wire` (its encoded text).
    pub(crate) fn set_from_wire(&mut self, key: String, value: String, wire: &str) -> bool {
        self.put(Item {
            key,
            value,
            wire: Some(wire.into()),
        })
    }

    fn put(&mut self, item: Item) -> bool {
        let len = item.w3c_len();
        let existing = self.items.iter().position(|i| i.key == item.key);
        let fits = match existing {
            Some(at) => self.bytes - self.items[at].w3c_len() + len <= MAX_BAGGAGE_BYTES,
            None => {
                self.items.len() < MAX_BAGGAGE_MEMBERS
                    && self.bytes + len + usize::from(!self.items.is_empty()) <= MAX_BAGGAGE_BYTES
            }
        };
        if !fits {
            note_dropped(&item.key);
            return false;
        }
        match existing {
            Some(at) => {
                self.bytes = self.bytes - self.items[at].w3c_len() + len;
                self.items[at] = item;
            }
            None => {
                self.bytes += len + usize::from(!self.items.is_empty());
                self.items.push(item);
            }
        }
        true
    }

    /// The items in insertion order.
    ///
    /// ```
    /// let b = tracekit::Baggage::default().with("a", "1");
    /// assert_eq!(b.iter().collect::<Vec<_>>(), [("a", "1")]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.items
            .iter()
            .map(|i| (i.key.as_str(), i.value.as_str()))
    }

    /// Items with the text each would travel as: what the peer sent when it
    /// can go on as it is (`w3c` asks for W3C's alphabet; otherwise what a
    /// header value may hold: no control characters, no outer spaces, UTF-8
    /// as the peer sent it), else `None` for the injector to encode.
    pub(crate) fn iter_wire(
        &self,
        w3c: bool,
    ) -> impl Iterator<Item = (&str, &str, Option<&str>)> + '_ {
        self.items.iter().map(move |i| {
            let wire = if w3c {
                i.w3c_value()
            } else {
                i.wire.as_deref().filter(|w| is_header_safe(w))
            };
            (i.key.as_str(), i.value.as_str(), wire)
        })
    }

    /// The number of items.
    ///
    /// ```
    /// assert_eq!(tracekit::Baggage::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    ///
    /// ```
    /// assert!(tracekit::Baggage::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
