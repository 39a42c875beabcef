//! Jaeger's native headers: `uber-trace-id`, `uberctx-*` baggage and
//! `jaeger-debug-id`.

use super::{ExtractError, Extracted, Extractor, Injector, baggage};
use crate::data::id::{SpanId, TraceId};
use crate::data::percent;
use crate::data::raw::{DEBUG, SAMPLED};
use crate::data::span_context::SpanContext;

pub(crate) const UBER_TRACE_ID: &str = "uber-trace-id";
pub(crate) const BAGGAGE_PREFIX: &str = "uberctx-";
pub(crate) const DEBUG_ID: &str = "jaeger-debug-id";

pub(crate) fn inject(cx: &SpanContext, carrier: &mut dyn Injector) {
    let mut flags = 0u8;
    if cx.is_sampled() {
        flags |= SAMPLED;
    }
    if cx.is_debug() {
        flags |= DEBUG | SAMPLED;
    }
    // The parent span id field is deprecated; 0 as Jaeger's clients send.
    carrier.set(
        UBER_TRACE_ID,
        format!(
            "{:032x}:{:016x}:{:016x}:{flags:02x}",
            cx.trace_id().to_u128(),
            cx.span_id().to_u64(),
            0
        ),
    );
    for (key, value, wire) in cx.baggage().iter_wire(false) {
        // The key becomes part of a header name: it must be a lowercase token.
        if baggage::is_token(key) {
            let value = match wire {
                // As the peer sent it: re-injected is never larger.
                Some(wire) => wire.to_owned(),
                None => percent::encode(value),
            };
            carrier.set(
                &format!("{BAGGAGE_PREFIX}{}", key.to_ascii_lowercase()),
                value,
            );
        }
    }
}

/// A `jaeger-debug-id` worth honouring: Jaeger configured, a value of
/// printable ASCII, at most 256 bytes (it becomes a tag).
pub(crate) fn debug_id(
    propagators: &super::Propagators,
    carrier: &dyn Extractor,
) -> Option<String> {
    if !propagators.formats().contains(&super::Format::Jaeger) {
        return None;
    }
    let value = carrier.get(DEBUG_ID)?.trim();
    let ok = !value.is_empty()
        && value.len() <= 256
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    ok.then(|| value.to_owned())
}

fn malformed(reason: &'static str) -> ExtractError {
    ExtractError::Malformed {
        field: UBER_TRACE_ID,
        reason,
    }
}

fn hex(s: &str, max: usize) -> Option<u128> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

pub(crate) fn extract(carrier: &dyn Extractor, found: &mut Extracted) -> Result<(), ExtractError> {
    // Baggage travels even without a trace id.
    for key in carrier.keys() {
        if key.len() > BAGGAGE_PREFIX.len()
            && key.is_char_boundary(BAGGAGE_PREFIX.len())
            && key[..BAGGAGE_PREFIX.len()].eq_ignore_ascii_case(BAGGAGE_PREFIX)
        {
            // A key that is not a token could not be sent on: not taken.
            let name = key[BAGGAGE_PREFIX.len()..].to_ascii_lowercase();
            if !baggage::is_token(&name) {
                continue;
            }
            // Past the limits the item is dropped and counted by Baggage.
            // A value with control characters is not a header value: dropped.
            let wire = carrier
                .get(key)
                .map(|v| v.trim_matches([' ', '\t']))
                .filter(|w| crate::data::baggage::is_header_safe(w));
            if let Some((wire, value)) = wire.and_then(|w| Some((w, percent::decode(w)?))) {
                found.baggage_mut().set_from_wire(name, value, wire);
            }
        }
    }
    let values = carrier.get_all(UBER_TRACE_ID);
    let value = match values.as_slice() {
        [] => return Err(ExtractError::Missing(UBER_TRACE_ID)),
        [one] => *one,
        _ => return Err(ExtractError::Repeated(UBER_TRACE_ID)),
    };
    // Some HTTP stacks URL-encode the colons.
    let decoded;
    let value = if value.contains('%') {
        decoded = value.replace("%3A", ":").replace("%3a", ":");
        decoded.as_str()
    } else {
        value
    };
    let parts: Vec<&str> = value.trim().split(':').collect();
    let [trace, span, _parent, flags] = parts.as_slice() else {
        return Err(malformed("expected trace-id:span-id:parent-id:flags"));
    };
    let trace_id = hex(trace, 32)
        .and_then(TraceId::from_u128)
        .ok_or_else(|| malformed("trace id is not 1 to 32 hex digits, or zero"))?;
    let span_id = hex(span, 16)
        .and_then(|v| u64::try_from(v).ok())
        .and_then(SpanId::from_u64)
        .ok_or_else(|| malformed("span id is not 1 to 16 hex digits, or zero"))?;
    let bits = hex(flags, 2).ok_or_else(|| malformed("flags are not hex"))? as u8;
    let mut flags = bits & SAMPLED;
    if bits & DEBUG != 0 || carrier.get(DEBUG_ID).is_some() {
        flags |= DEBUG | SAMPLED;
    }
    found.set_ids(trace_id, span_id, flags, None);
    Ok(())
}
