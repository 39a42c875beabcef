//! W3C Trace Context Level 2: the `traceparent` and `tracestate` headers
//! (<https://www.w3.org/TR/trace-context-2/>). Level 1 headers are Level 2
//! headers without the random-trace-id flag, read and written the same way.

use super::{ExtractError, Extracted, Extractor, Injector};
use crate::data::id::{SpanId, TraceId};
use crate::data::raw::{RANDOM, SAMPLED};
use crate::data::span_context::SpanContext;

pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";
const MAX_MEMBERS: usize = 32;
/// What every vendor must forward of `tracestate`; longer lists are cut.
const MAX_TRACESTATE_BYTES: usize = 512;

/// The trace-flags bits W3C defines: sampled (Level 1) and random trace id
/// (Level 2). The others are reserved and always sent as zero.
const WIRE_SAMPLED: u8 = 0x01;
const WIRE_RANDOM: u8 = 0x02;

/// The `trace-flags` byte for a context, as `traceparent` and
/// `traceresponse` carry it. Jaeger's debug flag has no W3C bit.
pub(crate) fn trace_flags(cx: &SpanContext) -> u8 {
    let mut wire = 0;
    if cx.is_sampled() {
        wire |= WIRE_SAMPLED;
    }
    if cx.is_random() {
        wire |= WIRE_RANDOM;
    }
    wire
}

/// tracekit's flags for a received `trace-flags` byte: the two defined
/// bits, the reserved ones ignored.
fn from_wire(wire: u8) -> u8 {
    let mut flags = 0;
    if wire & WIRE_SAMPLED != 0 {
        flags |= SAMPLED;
    }
    if wire & WIRE_RANDOM != 0 {
        flags |= RANDOM;
    }
    flags
}

pub(crate) fn inject(cx: &SpanContext, carrier: &mut dyn Injector) {
    carrier.set(
        TRACEPARENT,
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            cx.trace_id().to_u128(),
            cx.span_id().to_u64(),
            trace_flags(cx)
        ),
    );
    if let Some(state) = cx.trace_state() {
        // A trace state set in code is checked like a received one (and
        // loses its repeated keys the same way), so no malformed header (or
        // CR/LF) ever leaves.
        if let Some(state) = parse_tracestate(&[state]) {
            carrier.set(TRACESTATE, state);
        }
    }
}

pub(crate) fn extract(carrier: &dyn Extractor, found: &mut Extracted) -> Result<(), ExtractError> {
    let parents = carrier.get_all(TRACEPARENT);
    let value = match parents.as_slice() {
        [] => return Err(ExtractError::Missing(TRACEPARENT)),
        [one] => *one,
        _ => return Err(ExtractError::Repeated(TRACEPARENT)),
    };
    let (trace_id, span_id, flags) = parse_traceparent(value)?;
    let state = parse_tracestate(&carrier.get_all(TRACESTATE));
    found.set_ids(trace_id, span_id, flags, state.map(String::into_boxed_str));
    Ok(())
}

fn malformed(reason: &'static str) -> ExtractError {
    ExtractError::Malformed {
        field: TRACEPARENT,
        reason,
    }
}

fn lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses a `traceparent` value: version-00 format, or a higher version
/// read by its version-00 prefix.
pub(crate) fn parse_traceparent(value: &str) -> Result<(TraceId, SpanId, u8), ExtractError> {
    let value = value.trim_matches([' ', '\t']);
    // Byte offsets below are only meaningful on ASCII.
    if !value.is_ascii() {
        return Err(malformed("not ASCII"));
    }
    if value.len() < 55 {
        return Err(malformed("shorter than 55 characters"));
    }
    let version = &value[..2];
    if !lower_hex(version) {
        return Err(malformed("version is not two lowercase hex digits"));
    }
    if version == "ff" {
        return Err(malformed("version ff is invalid"));
    }
    if version == "00" && value.len() != 55 {
        return Err(malformed("version 00 must be exactly 55 characters"));
    }
    if value.len() > 55 && value.as_bytes()[55] != b'-' {
        return Err(malformed(
            "a future version's extra fields must follow a '-'",
        ));
    }
    let b = value.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(malformed("fields are not separated by '-'"));
    }
    let (trace, span, flags) = (&value[3..35], &value[36..52], &value[53..55]);
    if !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags) {
        return Err(malformed("ids and flags must be lowercase hex"));
    }
    let trace_id = u128::from_str_radix(trace, 16)
        .ok()
        .and_then(TraceId::from_u128)
        .ok_or_else(|| malformed("trace id is all zeros"))?;
    let span_id = u64::from_str_radix(span, 16)
        .ok()
        .and_then(SpanId::from_u64)
        .ok_or_else(|| malformed("parent id is all zeros"))?;
    let flags = u8::from_str_radix(flags, 16).map_err(|_| malformed("bad flags"))?;
    // A higher version is read by the flags this version defines, too.
    Ok((trace_id, span_id, from_wire(flags)))
}

/// Validates `tracestate` header values (repeated headers are one list) and
/// returns the list to forward, or `None` when it must be dropped whole.
///
/// Level 2 leaves a vendor free to drop a list it cannot parse, or its
/// invalid members; the W3C test suite expects the first (a list with a key
/// starting with `@`, or an empty value, loses its valid members too), as
/// do the OpenTelemetry SDKs. So a member that breaks the grammar drops the
/// list, and so do more than 32 members. What is merely redundant goes
/// alone: empty members, and a repeated key (its first member stays, as
/// Level 2 allows vendors to discard duplicates they did not make).
pub(crate) fn parse_tracestate(values: &[&str]) -> Option<String> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) {
                return None;
            }
            if members.iter().any(|&(k, _)| k == key) {
                continue;
            }
            // Past 32 distinct keys the list is dropped, so the look-up
            // above never scans more than 32.
            if members.len() == MAX_MEMBERS {
                return None;
            }
            members.push((key, member));
        }
    }
    let mut members: Vec<&str> = members.into_iter().map(|(_, m)| m).collect();
    if members.is_empty() {
        return None;
    }
    // Past 512 bytes, drop members over 128 bytes first, then from the end
    // (the spec's order), so a forwarded list never grows.
    let size = |m: &[&str]| m.iter().map(|x| x.len()).sum::<usize>() + m.len().saturating_sub(1);
    if size(&members) > MAX_TRACESTATE_BYTES {
        members.retain(|m| m.len() <= 128);
        while size(&members) > MAX_TRACESTATE_BYTES {
            members.pop();
        }
    }
    (!members.is_empty()).then(|| members.join(","))
}

/// Level 2's `keychar`: `lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// Level 2's `key = (lcalpha / DIGIT) 0*255(keychar)`. Every Level 1 key
/// (`tenant@system` included) is one.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() <= 256
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|&c| key_char(c))
}

/// Level 2's `value = 0*255(chr) nblk-chr`: printable ASCII but `,` and
/// `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    !b.is_empty()
        && b.len() <= 256
        && nblk(b[b.len() - 1])
        && b.iter().all(|&c| c == b' ' || nblk(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_level_2_grammar() {
        let max = "a".repeat(256);
        for key in [
            "a",
            "0",
            "9abc",
            "foo@",
            "foo@@bar",
            "a@b@c",
            "t@vvvvvvvvvvvvvvv",
            "a_-*/@z",
            &max,
        ] {
            assert!(valid_key(key), "{key:?}");
        }
        let over = "a".repeat(257);
        for key in [
            "", "@foo", "_a", "-a", "*a", "/a", "Foo", "fOo", "foo bar", "foo ", "foo.bar", "foo=",
            "ключ", &over,
        ] {
            assert!(!valid_key(key), "{key:?}");
        }
    }

    #[test]
    fn values_are_printable_ascii_without_comma_or_equals_or_a_trailing_space() {
        let max = "v".repeat(256);
        for value in [" leading", "a b", "!", "~", &max] {
            assert!(valid_value(value), "{value:?}");
        }
        let over = "v".repeat(257);
        for value in [
            "",
            " ",
            "trailing ",
            "a,b",
            "a=b",
            "tab\tin",
            "é",
            "\u{7f}",
            &over,
        ] {
            assert!(!valid_value(value), "{value:?}");
        }
    }

    #[test]
    fn only_the_two_defined_flags_cross_the_wire() {
        for wire in 0..=u8::MAX {
            let flags = from_wire(wire);
            assert_eq!(flags & !(SAMPLED | RANDOM), 0, "{wire:#04x}");
            let cx = SpanContext {
                trace_id: TraceId::from_u128(1).unwrap(),
                span_id: SpanId::from_u64(1).unwrap(),
                flags,
                remote: true,
                inherited: None,
            };
            assert_eq!(trace_flags(&cx), wire & 0x03, "{wire:#04x}");
        }
    }
}
