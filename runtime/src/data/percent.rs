//! Percent-encoding of propagated values (baggage, Jaeger's `uberctx-*`).

/// Encodes every byte but RFC 3986's unreserved characters, so a value can
/// never break a header (no CR/LF, no `,` or `;`), space becomes `%20` and
/// `+` becomes `%2B` (peers that decode `+` as a space still read it right).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `%XX` escapes and reads `+` as a space; a `%` not followed by two
/// hex digits is kept as it is. `None` when the result is not UTF-8.
///
/// `+` for a space is form encoding, not the baggage spec, but it is what
/// OpenTelemetry Python's baggage propagator and Jaeger's Go client send;
/// a conforming sender writes a real `+` as `%2B`, so nothing is lost.
pub(crate) fn decode(value: &str) -> Option<String> {
    decode_with(value, true)
}

/// Decodes `%XX` escapes only, RFC 3986's way: a `+` stays a `+`. For the
/// `OTEL_*` variables, where a `+` is itself (a version's build metadata,
/// base64 in an `Authorization` header).
pub(crate) fn decode_exact(value: &str) -> Option<String> {
    decode_with(value, false)
}

fn decode_with(value: &str, plus_is_space: bool) -> Option<String> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if plus_is_space && b[i] == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}
