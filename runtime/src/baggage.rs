//! Baggage: key/value items a span hands down to every descendant, in this
//! process and (through propagation) in others.

/// An immutable set of baggage items; spans share it through an `Arc` and copy
/// it only when a span sets an item of its own.
///
/// ```
/// let span = tracekit::start_active_span("request");
/// span.set_baggage_item("request.id", "r-17");
/// let child = tracekit::Span::start("db");
/// assert_eq!(child.context().unwrap().baggage_item("request.id"), Some("r-17"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baggage {
    items: Vec<(String, String)>,
}

impl Baggage {
    pub(crate) const EMPTY: Baggage = Baggage { items: Vec::new() };

    /// The value of this key.
    ///
    /// ```
    /// let b = tracekit::Baggage::default().with("k", "v");
    /// assert_eq!(b.get("k"), Some("v"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A copy with `key` set to `value` (replacing an earlier value).
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

    pub(crate) fn set(&mut self, key: String, value: String) {
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some(item) => item.1 = value,
            None => self.items.push((key, value)),
        }
    }

    /// The items in insertion order.
    ///
    /// ```
    /// let b = tracekit::Baggage::default().with("a", "1");
    /// assert_eq!(b.iter().collect::<Vec<_>>(), [("a", "1")]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.items.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
