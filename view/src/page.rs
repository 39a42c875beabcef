//! The HTML page: one file, everything inline (no network), the spans as a
//! JSON island that the page's script reads with `JSON.parse` and shows with
//! `textContent` only, so no span name or tag can become markup.

use crate::model::{Attr, TraceData};
use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("page.html");
const DATA_MARK: &str = "/*TRACEKIT_DATA*/";

/// Renders `data` as a self-contained HTML page titled `title`.
///
/// ```
/// let page = tracekit_view::render_html(&tracekit_view::TraceData::default(), "empty");
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert!(!page.contains("http://") && !page.contains("https://"));
/// ```
pub fn render_html(data: &TraceData, title: &str) -> String {
    let json = page_data(data, title).to_string();
    // Inside <script>, `</script>` or `<!--` in a string would end or bend
    // the element; `<` occurs in JSON only inside strings, where \u003c
    // means the same character.
    let json = json.replace('<', "\\u003c");
    let mut out = String::with_capacity(TEMPLATE.len() + json.len());
    match TEMPLATE.split_once(DATA_MARK) {
        Some((head, tail)) => {
            out.push_str(head);
            out.push_str(&json);
            out.push_str(tail);
        }
        None => out.push_str(TEMPLATE),
    }
    out
}

/// The JSON the page reads: spans as compact arrays, times in nanoseconds
/// from the earliest start (JavaScript numbers are exact to 2^53, about 104
/// days of nanoseconds; Unix times in nanoseconds are not).
fn page_data(data: &TraceData, title: &str) -> Value {
    let base = data.spans.iter().map(|s| s.start).min().unwrap_or(0);
    let off = |t: u64| t.saturating_sub(base).min(1 << 53);
    let warnings = data.warnings.clone();
    let mut spans = Vec::with_capacity(data.spans.len());
    for s in &data.spans {
        let events: Vec<Value> = s
            .events
            .iter()
            .map(|e| json!([off(e.time), e.name, flat(&e.attrs)]))
            .collect();
        let links: Vec<Value> = s
            .links
            .iter()
            .map(|l| json!([l.trace_id, l.span_id]))
            .collect();
        spans.push(json!([
            s.trace_id,
            s.span_id,
            s.parent_id,
            s.name,
            s.kind,
            off(s.start),
            s.end.saturating_sub(s.start),
            if s.is_error() { 2 } else { s.status },
            s.status_message,
            flat(&s.attrs),
            events,
            links,
            s.resource,
            s.scope,
            s.unfinished,
        ]));
    }
    let resources: Vec<Value> = data.resources.iter().map(|r| flat(&r.attrs)).collect();
    let services: Vec<&str> = data.resources.iter().map(|r| r.service_name()).collect();
    let scopes: Vec<Value> = data
        .scopes
        .iter()
        .map(|s| json!([s.name, s.version]))
        .collect();
    json!({
        "title": title,
        "base": base.to_string(),
        "services": services,
        "resources": resources,
        "scopes": scopes,
        "spans": spans,
        "warnings": warnings,
    })
}

/// Attributes as one flat array: key, text, kind, key, text, kind, ...
fn flat(attrs: &[Attr]) -> Value {
    let mut out = Vec::with_capacity(attrs.len() * 3);
    for a in attrs {
        out.push(Value::from(a.key.as_str()));
        out.push(Value::from(a.text.as_str()));
        out.push(Value::from(a.kind.to_string()));
    }
    Value::Array(out)
}
