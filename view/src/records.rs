//! The spans of this process, as the viewer shows them: the same model the
//! OTLP JSON reader fills, so a page made by [`HtmlReporter`](crate::HtmlReporter)
//! and one made from an exported file look the same.

use crate::model::{Attr, SpanEvent, SpanLink, TraceData, ViewResource, ViewScope, ViewSpan};
use std::time::{SystemTime, UNIX_EPOCH};
use tracekit::{SpanKind, SpanView, Status, Value};

/// Adds finished spans to `data`, under `resource`.
pub(crate) fn add<'a>(
    data: &mut TraceData,
    resource: &ViewResource,
    spans: impl Iterator<Item = SpanView<'a>>,
) {
    let resource = data.resource_index(resource.clone());
    let scope = data.scope_index(ViewScope {
        name: "tracekit".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    });
    for s in spans {
        let (status, status_message) = match s.status() {
            Status::Unset => (0, String::new()),
            Status::Ok => (1, String::new()),
            Status::Error { description } => (2, description.to_string()),
        };
        data.spans.push(
            ViewSpan {
                trace_id: s.trace_id().to_string(),
                span_id: s.span_id().to_string(),
                parent_id: s.parent_id().map(|p| p.to_string()).unwrap_or_default(),
                name: s.name().to_owned(),
                kind: match s.kind() {
                    SpanKind::Internal => 1,
                    SpanKind::Server => 2,
                    SpanKind::Client => 3,
                    SpanKind::Producer => 4,
                    SpanKind::Consumer => 5,
                },
                start: s.start_unix_nanos(),
                end: s.end_unix_nanos().max(s.start_unix_nanos()),
                unfinished: s.end_unix_nanos() < s.start_unix_nanos(),
                status,
                status_message,
                attrs: s.tags().map(|(k, v)| attr(k, v)).collect(),
                events: s
                    .events()
                    .iter()
                    .map(|e| SpanEvent {
                        time: unix_nanos(e.time()),
                        name: e.name().to_owned(),
                        attrs: e.fields().iter().map(|(k, v)| attr(k, v)).collect(),
                    })
                    .collect(),
                links: s
                    .links()
                    .iter()
                    .map(|l| SpanLink {
                        trace_id: l.trace_id().to_string(),
                        span_id: l.span_id().to_string(),
                    })
                    .collect(),
                resource,
                scope,
            }
            .with_unfinished_tag(),
        );
    }
}

fn attr(key: &str, value: &Value) -> Attr {
    let kind = match value {
        Value::Bool(_) => 'b',
        Value::I64(_) | Value::U64(_) => 'i',
        Value::F64(_) => 'd',
        Value::Str(_) => 's',
    };
    let text = match value {
        Value::Str(s) => s.to_string(),
        other => other.to_string(),
    };
    Attr::new(key, text, kind)
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
