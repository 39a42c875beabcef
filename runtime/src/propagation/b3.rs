//! Zipkin's B3 headers: the single `b3` header and the `x-b3-*` headers
//! (<https://github.com/openzipkin/b3-propagation>).

use super::{ExtractError, Extracted, Extractor, Injector};
use crate::data::id::{SpanId, TraceId};
use crate::data::raw::{DEBUG, SAMPLED};
use crate::data::span_context::SpanContext;

pub(crate) const B3: &str = "b3";
pub(crate) const TRACE_ID: &str = "x-b3-traceid";
pub(crate) const SPAN_ID: &str = "x-b3-spanid";
pub(crate) const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
pub(crate) const SAMPLED_HEADER: &str = "x-b3-sampled";
pub(crate) const FLAGS: &str = "x-b3-flags";

fn ids(cx: &SpanContext) -> (String, String) {
    (
        format!("{:032x}", cx.trace_id().to_u128()),
        format!("{:016x}", cx.span_id().to_u64()),
    )
}

pub(crate) fn inject_single(cx: &SpanContext, carrier: &mut dyn Injector) {
    let (trace, span) = ids(cx);
    let sampled = if cx.is_debug() {
        "d"
    } else if cx.is_sampled() {
        "1"
    } else {
        "0"
    };
    carrier.set(B3, format!("{trace}-{span}-{sampled}"));
}

pub(crate) fn inject_multi(cx: &SpanContext, carrier: &mut dyn Injector) {
    let (trace, span) = ids(cx);
    carrier.set(TRACE_ID, trace);
    carrier.set(SPAN_ID, span);
    if cx.is_debug() {
        // Debug implies sampled; the spec says not to send both.
        carrier.set(FLAGS, "1".to_owned());
    } else {
        carrier.set(
            SAMPLED_HEADER,
            if cx.is_sampled() { "1" } else { "0" }.to_owned(),
        );
    }
}

fn malformed(field: &'static str, reason: &'static str) -> ExtractError {
    ExtractError::Malformed { field, reason }
}

fn trace_id(s: &str, field: &'static str) -> Result<TraceId, ExtractError> {
    let ok = (s.len() == 16 || s.len() == 32) && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| u128::from_str_radix(s, 16).ok())
        .flatten()
        .and_then(TraceId::from_u128)
        .ok_or_else(|| malformed(field, "trace id is not 16 or 32 hex digits, or zero"))
}

fn span_id(s: &str, field: &'static str) -> Result<SpanId, ExtractError> {
    let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
        .and_then(SpanId::from_u64)
        .ok_or_else(|| malformed(field, "span id is not 16 hex digits, or zero"))
}

/// The flags for a sampling state; `None` (deferred) leaves the decision to
/// this process, which samples.
fn sampling(state: Option<&str>, field: &'static str) -> Result<u8, ExtractError> {
    match state {
        None => Ok(SAMPLED),
        Some("1") | Some("true") => Ok(SAMPLED),
        Some("0") | Some("false") => Ok(0),
        Some("d") => Ok(SAMPLED | DEBUG),
        Some(_) => Err(malformed(field, "sampling state is not 1, 0 or d")),
    }
}

fn one<'a>(carrier: &'a dyn Extractor, key: &'static str) -> Result<Option<&'a str>, ExtractError> {
    match carrier.get_all(key).as_slice() {
        [] => Ok(None),
        [v] => Ok(Some(v.trim())),
        _ => Err(ExtractError::Repeated(key)),
    }
}

pub(crate) fn extract_single(
    carrier: &dyn Extractor,
    found: &mut Extracted,
) -> Result<(), ExtractError> {
    let value = one(carrier, B3)?.ok_or(ExtractError::Missing(B3))?;
    let parts: Vec<&str> = value.split('-').collect();
    match parts.as_slice() {
        // A sampling decision alone has no parent to join.
        [state] => {
            sampling(Some(state), B3)?;
            Err(ExtractError::Missing(B3))
        }
        [trace, span, rest @ ..] if rest.len() <= 2 => {
            let trace = trace_id(trace, B3)?;
            let span = span_id(span, B3)?;
            let flags = sampling(rest.first().copied(), B3)?;
            if let Some(parent) = rest.get(1) {
                span_id(parent, B3)?;
            }
            found.set_ids(trace, span, flags, None);
            Ok(())
        }
        _ => Err(malformed(
            B3,
            "expected traceid-spanid[-sampled[-parentspanid]]",
        )),
    }
}

pub(crate) fn extract_multi(
    carrier: &dyn Extractor,
    found: &mut Extracted,
) -> Result<(), ExtractError> {
    let trace = one(carrier, TRACE_ID)?.ok_or(ExtractError::Missing(TRACE_ID))?;
    let span = one(carrier, SPAN_ID)?.ok_or(ExtractError::Missing(SPAN_ID))?;
    let trace = trace_id(trace, TRACE_ID)?;
    let span = span_id(span, SPAN_ID)?;
    let mut flags = sampling(one(carrier, SAMPLED_HEADER)?, SAMPLED_HEADER)?;
    if one(carrier, FLAGS)? == Some("1") {
        flags |= SAMPLED | DEBUG;
    }
    if let Some(parent) = one(carrier, PARENT_SPAN_ID)? {
        span_id(parent, PARENT_SPAN_ID)?;
    }
    found.set_ids(trace, span, flags, None);
    Ok(())
}
