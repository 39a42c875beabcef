//! Carriers: where propagated values are written and read (HTTP headers,
//! message headers, any string map).

use std::collections::{BTreeMap, HashMap};

/// Somewhere to write propagation fields, such as request headers.
///
/// Keys arrive lowercase; implementations store them as given.
///
/// ```
/// use tracekit::propagation::Injector;
/// let mut headers = std::collections::HashMap::new();
/// headers.set("traceparent", "00-...".to_owned());
/// assert!(headers.contains_key("traceparent"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a carrier tracekit can write headers into",
    label = "not an `Injector`",
    note = "carriers: `HashMap<String, String>`, `BTreeMap<String, String>`, `Vec<(String, String)>`, or your own `impl Injector`",
    note = "for `http::HeaderMap` (axum, hyper, reqwest, tonic) enable tracekit's `http` feature: `tracekit = {{ version = \"0.1\", features = [\"http\"] }}`"
)]
pub trait Injector {
    /// Sets `key` to `value`, replacing an earlier value.
    fn set(&mut self, key: &str, value: String);
}

/// Somewhere to read propagation fields from, matching keys without regard
/// to ASCII case (header names are case-insensitive).
///
/// ```
/// use tracekit::propagation::Extractor;
/// let headers = vec![("TraceParent".to_owned(), "x".to_owned())];
/// assert_eq!(headers.get("traceparent"), Some("x"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a carrier tracekit can read headers from",
    label = "not an `Extractor`",
    note = "carriers: `HashMap<String, String>`, `BTreeMap<String, String>`, `Vec<(String, String)>`, or your own `impl Extractor`",
    note = "for `http::HeaderMap` (axum, hyper, reqwest, tonic) enable tracekit's `http` feature: `tracekit = {{ version = \"0.1\", features = [\"http\"] }}`"
)]
pub trait Extractor {
    /// The value of `key`, when there is exactly one; the first one otherwise.
    fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).into_iter().next()
    }

    /// Every value of `key` (a header may be repeated).
    fn get_all(&self, key: &str) -> Vec<&str>;

    /// Every key, for prefixed fields such as Jaeger's `uberctx-*`.
    fn keys(&self) -> Vec<&str>;
}

/// The values of every pair whose key is `key` in any ASCII case.
fn matching<'a, K, V>(pairs: impl Iterator<Item = (K, V)>, key: &str) -> Vec<&'a str>
where
    K: AsRef<str>,
    V: Into<&'a str>,
{
    pairs
        .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.into())
        .collect()
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        // Replace a differently cased copy rather than sending both.
        self.retain(|k, _| !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get_all(&self, key: &str) -> Vec<&str> {
        matching(self.iter().map(|(k, v)| (k, v.as_str())), key)
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl Injector for BTreeMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

impl Extractor for BTreeMap<String, String> {
    fn get_all(&self, key: &str) -> Vec<&str> {
        matching(self.iter().map(|(k, v)| (k, v.as_str())), key)
    }

    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }
}

impl Extractor for Vec<(String, String)> {
    fn get_all(&self, key: &str) -> Vec<&str> {
        matching(self.iter().map(|(k, v)| (k, v.as_str())), key)
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, key: &str, value: String) {
        (**self).set(key, value)
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get_all(&self, key: &str) -> Vec<&str> {
        (**self).get_all(key)
    }

    fn keys(&self) -> Vec<&str> {
        (**self).keys()
    }
}

#[cfg(feature = "http")]
mod http_headers {
    use super::{Extractor, Injector};
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// The names tracekit reads and writes, made once. A `HeaderName` made
    /// from bytes copies them into an allocation when it is not one of
    /// `http`'s standard names (only `content-type` here is), and a look-up by `&str`
    /// parses the name every time.
    pub(super) static KNOWN: [HeaderName; 16] = [
        HeaderName::from_static("traceparent"),
        HeaderName::from_static("tracestate"),
        HeaderName::from_static("baggage"),
        HeaderName::from_static("x-request-id"),
        HeaderName::from_static("traceresponse"),
        HeaderName::from_static("b3"),
        HeaderName::from_static("x-b3-traceid"),
        HeaderName::from_static("x-b3-spanid"),
        HeaderName::from_static("x-b3-parentspanid"),
        HeaderName::from_static("x-b3-sampled"),
        HeaderName::from_static("x-b3-flags"),
        HeaderName::from_static("uber-trace-id"),
        HeaderName::from_static("jaeger-debug-id"),
        HeaderName::from_static("host"),
        // A standard name (made without an allocation), but a look-up by
        // `&str` parses it all the same.
        http::header::CONTENT_TYPE,
        HeaderName::from_static("grpc-status"),
    ];

    pub(super) fn known(key: &str) -> Option<&'static HeaderName> {
        let at = match key {
            "traceparent" => 0,
            "tracestate" => 1,
            "baggage" => 2,
            "x-request-id" => 3,
            "traceresponse" => 4,
            "b3" => 5,
            "x-b3-traceid" => 6,
            "x-b3-spanid" => 7,
            "x-b3-parentspanid" => 8,
            "x-b3-sampled" => 9,
            "x-b3-flags" => 10,
            "uber-trace-id" => 11,
            "jaeger-debug-id" => 12,
            "host" => 13,
            "content-type" => 14,
            "grpc-status" => 15,
            _ => return None,
        };
        KNOWN.get(at)
    }

    impl Injector for HeaderMap {
        fn set(&mut self, key: &str, value: String) {
            // Propagators only produce valid names and values; anything else
            // is left out rather than sent malformed. The value takes the
            // string's buffer over (no copy).
            let name = match known(key) {
                Some(name) => Some(name.clone()),
                None => HeaderName::from_bytes(key.as_bytes()).ok(),
            };
            if let (Some(name), Ok(value)) = (name, HeaderValue::try_from(value)) {
                self.insert(name, value);
            }
        }
    }

    impl Extractor for HeaderMap {
        fn get(&self, key: &str) -> Option<&str> {
            // The first readable value, without gathering them all.
            let values = match known(key) {
                Some(name) => HeaderMap::get_all(self, name),
                None => HeaderMap::get_all(self, key),
            };
            values.iter().find_map(|v| v.to_str().ok())
        }

        fn get_all(&self, key: &str) -> Vec<&str> {
            // HeaderMap names are lowercase already; lookups by `&str` are
            // case-insensitive.
            let values = match known(key) {
                Some(name) => HeaderMap::get_all(self, name),
                None => HeaderMap::get_all(self, key),
            };
            values.iter().filter_map(|v| v.to_str().ok()).collect()
        }

        fn keys(&self) -> Vec<&str> {
            HeaderMap::keys(self).map(HeaderName::as_str).collect()
        }
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::{Extractor, Injector};
    use http::HeaderMap;

    #[test]
    fn the_known_names_are_where_their_keys_say() {
        for name in &super::http_headers::KNOWN {
            assert_eq!(
                super::http_headers::known(name.as_str()).map(|n| n.as_str()),
                Some(name.as_str())
            );
        }
    }

    #[test]
    fn header_map_is_a_carrier() {
        let mut h = HeaderMap::new();
        Injector::set(&mut h, "traceparent", "v1".to_owned());
        Injector::set(&mut h, "bad header", "v".to_owned());
        Injector::set(&mut h, "baggage", "a\r\nb".to_owned());
        assert_eq!(h.len(), 1, "invalid names and values are left out");
        h.append("TraceState", "a=1".parse().unwrap());
        h.append("tracestate", "b=2".parse().unwrap());
        assert_eq!(Extractor::get(&h, "TRACEPARENT"), Some("v1"));
        assert_eq!(Extractor::get_all(&h, "tracestate"), ["a=1", "b=2"]);
        assert_eq!(Extractor::keys(&h).len(), 2);
    }
}
