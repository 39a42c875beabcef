//! The request id: one id per incoming request, taken from `x-request-id` or
//! made here, kept in baggage as `request.id` so that every span, every log
//! line and every downstream call of the request carries it. The HTTP and
//! messaging helpers adopt and forward it through here; what an acceptable
//! id is, and how tracekit makes one, is `data/request_id.rs`.

use crate::data::request_id::{
    MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, REQUEST_ID_KEY, derive, generate, is_acceptable,
};
use crate::propagation::{Extractor, Injector};
use crate::{Span, SpanContext};
use std::sync::atomic::{AtomicU64, Ordering};

/// Gives `span` the request's id: the `x-request-id` header's when it is
/// acceptable, else the one that came in baggage, else (when `make`) a new
/// one. An id that is not acceptable, in the header or in baggage, is
/// replaced, and the replacement is logged (without the peer's text, which
/// may be hostile): what log lines print is always a clean id.
pub(crate) fn adopt(span: &mut Span, headers: &dyn Extractor, make: bool) {
    let Some((trace, inherited)) = span.request_id_parts() else {
        return;
    };
    let id = match headers.get(REQUEST_ID_HEADER) {
        // The id this process derives for the trace (a tracekit peer of
        // the same process, or a retry): nothing to store.
        Some(given) if given.as_bytes() == derive(trace) && inherited.is_none() => {
            span.derive_request_id();
            return;
        }
        Some(given) if is_acceptable(given) => given.to_owned(),
        Some(given) => {
            let id = generate();
            report_replaced(REQUEST_ID_HEADER, given.len(), &id);
            id
        }
        None => match inherited.as_deref() {
            Some(inherited) if is_acceptable(inherited) => return,
            Some(inherited) => {
                let id = generate();
                report_replaced("baggage request.id", inherited.len(), &id);
                id
            }
            // Made here: derived from the trace id, stored nowhere.
            None if make => {
                span.derive_request_id();
                return;
            }
            None => return,
        },
    };
    if inherited.as_deref() != Some(id.as_str()) {
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
        crate::data::diag::warn(format_args!(
            "{from} of {len} bytes rejected (at most {MAX_REQUEST_ID_LEN} visible \
             ASCII characters); using {id} instead ({n} replaced so far)"
        ));
    }
}
