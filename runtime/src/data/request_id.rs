//! Request ids as data: what an acceptable id is, and the id tracekit makes
//! for a trace, derived from its trace id. Which id a request takes, and
//! where it is written, is `integrations/request_id.rs`'s business.

use crate::data::baggage::Baggage;
use crate::data::id::TraceId;

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

/// The length of a request id tracekit makes (a UUID's text).
pub(crate) const DERIVED_LEN: usize = 36;

/// The request id tracekit makes for a request of trace `trace`: a
/// version-4 UUID in its usual text form, worked out from the trace id
/// (already random: no second random source) through a bijective mix
/// keyed once per process, so that the id a caller is told (in
/// `x-request-id`) does not give away the trace id. The same trace always
/// gives the same id in this process, so the id need not be stored: spans
/// carry [`DERIVED_ID`](crate::data::raw::DERIVED_ID) and the id is written out
/// where it is read.
pub(crate) fn derive(trace: TraceId) -> [u8; DERIVED_LEN] {
    static KEY: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let key = *KEY.get_or_init(|| TraceId::random().to_u128());
    // Odd multipliers and xor-shifts are each invertible modulo 2^128.
    let mut x = trace.to_u128() ^ key;
    x ^= x >> 64;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    x ^= x >> 67;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93_2b6b_d5f6_9dbc_07e5);
    x ^= x >> 61;
    uuid_text(x)
}

/// `bits` as a version-4 UUID's text (the version and variant bits set).
fn uuid_text(bits: u128) -> [u8; DERIVED_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let bytes = bits.to_be_bytes();
    let mut id = [b'-'; DERIVED_LEN];
    // Where each byte's two digits go: 8-4-4-4-12 digits.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    for (b, at) in bytes.iter().zip(AT) {
        id[at] = HEX[usize::from(b >> 4)];
        id[at + 1] = HEX[usize::from(b & 0xf)];
    }
    id
}

/// The derived id's text.
pub(crate) fn derived_str(id: &[u8; DERIVED_LEN]) -> &str {
    // The id is made of ASCII hex digits and dashes only.
    std::str::from_utf8(id).unwrap_or_default()
}

/// A new request id that belongs to no trace (a replacement for a peer's
/// unacceptable one, which must differ from the derived id of its trace).
pub(crate) fn generate() -> String {
    derived_str(&uuid_text(TraceId::random().to_u128())).to_owned()
}

/// The request id `baggage` and `flags` give a span of trace `trace`: the
/// baggage's `request.id`, else the derived one.
pub(crate) fn of<'a>(
    baggage: Option<&'a Baggage>,
    flags: u8,
    trace: TraceId,
    buf: &'a mut [u8; DERIVED_LEN],
) -> Option<&'a str> {
    if let Some(id) = baggage.and_then(|b| b.get(REQUEST_ID_KEY)) {
        return Some(id);
    }
    if flags & crate::data::raw::DERIVED_ID == 0 {
        return None;
    }
    *buf = derive(trace);
    Some(derived_str(buf))
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
        let trace = TraceId::random();
        let derived = derive(trace);
        assert_eq!(derive(trace), derived, "the same trace, the same id");
        assert!(is_acceptable(derived_str(&derived)));
        assert_ne!(
            derived_str(&derive(TraceId::random())),
            derived_str(&derived)
        );
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(generate(), id);
        let hex: String = derived_str(&derived).replace('-', "");
        assert_ne!(
            hex,
            format!("{:032x}", trace.to_u128()),
            "the id does not give the trace id away"
        );
    }
}
