//! W3C Trace Context: the `traceparent` and `tracestate` headers
//! (<https://www.w3.org/TR/trace-context/>).

use super::{ExtractError, Extracted, Extractor, Injector};
use crate::id::{SpanId, TraceId};
use crate::raw::SAMPLED;
use crate::span_context::SpanContext;

pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";
const MAX_MEMBERS: usize = 32;
/// What every vendor must forward of `tracestate`; longer lists are cut.
const MAX_TRACESTATE_BYTES: usize = 512;

pub(crate) fn inject(cx: &SpanContext, carrier: &mut dyn Injector) {
    // Only the sampled bit is defined for version 00; debug is not a W3C flag.
    let flags = u8::from(cx.is_sampled());
    carrier.set(
        TRACEPARENT,
        format!(
            "00-{:032x}-{:016x}-{flags:02x}",
            cx.trace_id().to_u128(),
            cx.span_id().to_u64()
        ),
    );
    if let Some(state) = cx.trace_state() {
        // A trace state set in code is checked like a received one, so no
        // malformed header (or CR/LF) ever leaves.
        if parse_tracestate(&[state]).is_some() {
            carrier.set(TRACESTATE, state.to_owned());
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
    Ok((trace_id, span_id, flags & SAMPLED))
}

/// Validates `tracestate` header values (repeated headers are one list) and
/// returns the list to forward, or `None` when it must be dropped whole.
pub(crate) fn parse_tracestate(values: &[&str]) -> Option<String> {
    let mut members: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) || keys.contains(&key) {
                return None;
            }
            keys.push(key);
            members.push(member);
        }
    }
    if members.is_empty() || members.len() > MAX_MEMBERS {
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

fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    match key.split_once('@') {
        None => {
            !b.is_empty()
                && b.len() <= 256
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            !t.is_empty()
                && t.len() <= 241
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && !s.is_empty()
                && s.len() <= 14
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| key_char(c))
        }
    }
}

fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    !b.is_empty()
        && b.len() <= 256
        && nblk(b[b.len() - 1])
        && b.iter().all(|&c| c == b' ' || nblk(c))
}
