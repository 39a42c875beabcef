//! The request id: one id per incoming request, taken from `x-request-id` or
//! made here, kept in baggage as `request.id` so that every span, every log
//! line and every downstream call of the request carries it. The HTTP and
//! messaging helpers adopt and forward it; this module is the one place
//! that decides what an acceptable id is.

use crate::propagation::{Extractor, Injector};
use crate::{Span, SpanContext, TraceId};
use std::sync::atomic::{AtomicU64, Ordering};

/// The header a request id arrives and leaves in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The baggage key the request id is kept under (what log lines print).
pub const REQUEST_ID_KEY: &str = "request.id";

/// The longest request id accepted from a peer, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a peer's request id can be kept: 1 to [`MAX_REQUEST_ID_LEN`]
/// visible ASCII characters (no spaces, no control characters, nothing a
/// log line or a header could be split on).
pub(crate) fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A new request id: a random version-4 UUID in its usual text form.
pub(crate) fn generate() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = TraceId::random().to_u128();
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let mut id = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(char::from(HEX[(bits >> (124 - 4 * i)) as usize & 0xf]));
    }
    id
}

/// Gives `span` the request's id: the `x-request-id` header's when it is
/// acceptable, else the one that came in baggage, else (when `make`) a new
/// one. An id that is not acceptable, in the header or in baggage, is
/// replaced, and the replacement is logged (without the peer's text, which
/// may be hostile): what log lines print is always a clean id.
pub(crate) fn adopt(span: &mut Span, headers: &dyn Extractor, make: bool) {
    let Some(cx) = span.context() else {
        return;
    };
    let id = match headers.get(REQUEST_ID_HEADER) {
        Some(given) if is_acceptable(given) => given.to_owned(),
        Some(given) => {
            let id = generate();
            report_replaced(REQUEST_ID_HEADER, given.len(), &id);
            id
        }
        None => match cx.baggage_item(REQUEST_ID_KEY) {
            Some(inherited) if is_acceptable(inherited) => return,
            Some(inherited) => {
                let id = generate();
                report_replaced("baggage request.id", inherited.len(), &id);
                id
            }
            None if make => generate(),
            None => return,
        },
    };
    if cx.baggage_item(REQUEST_ID_KEY) != Some(id.as_str()) {
        span.set_baggage_item(REQUEST_ID_KEY, id);
    }
}

/// Writes the request id of `cx` (if any) into `headers`, for peers that read
/// `x-request-id` rather than baggage.
pub(crate) fn forward(cx: &SpanContext, headers: &mut dyn Injector) {
    if let Some(id) = cx
        .baggage_item(REQUEST_ID_KEY)
        .filter(|id| is_acceptable(id))
    {
        headers.set(REQUEST_ID_HEADER, id.to_owned());
    }
}

/// Logs a replaced request id: the first ten, then every 1,024th, so a
/// flood of bad headers cannot flood stderr.
fn report_replaced(from: &str, len: usize, id: &str) {
    static REPLACED: AtomicU64 = AtomicU64::new(0);
    let n = REPLACED.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= 10 || n % 1024 == 0 {
        crate::diag::warn(format_args!(
            "{from} of {len} bytes rejected (at most {MAX_REQUEST_ID_LEN} visible \
             ASCII characters); using {id} instead ({n} replaced so far)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptable_ids() {
        assert!(is_acceptable("r-1001"));
        assert!(is_acceptable(&"a".repeat(MAX_REQUEST_ID_LEN)));
        for bad in [
            "",
            "a b",
            "a\r\nb",
            "é",
            "\u{7f}",
            &"a".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            assert!(!is_acceptable(bad), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_uuids_v4() {
        let id = generate();
        assert!(is_acceptable(&id));
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(generate(), id);
    }
}
