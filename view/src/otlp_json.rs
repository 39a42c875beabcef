//! Reading OTLP JSON: the file `FileExporter` writes (one
//! `ExportTraceServiceRequest` a line) or a single document, as the OTLP
//! JSON encoding defines it (hex ids, 64-bit integers as strings, enums as
//! integers). Lenient where the spec allows: unknown fields are ignored,
//! numbers may come as numbers or strings, enums as integers or names.

use crate::model::{Attr, SpanEvent, SpanLink, TraceData, ViewResource, ViewScope, ViewSpan};
use serde_json::Value;
use std::fmt;

/// Why an input could not be read at all.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The input is empty (or only whitespace).
    Empty,
    /// The input is not text: it has NUL bytes or is not UTF-8.
    Binary,
    /// The input is text, but no line of it is an OTLP JSON document.
    NotOtlp {
        /// The problem with the first line.
        first: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Empty => write!(f, "the input is empty"),
            ReadError::Binary => write!(
                f,
                "the input is binary, not OTLP JSON (for protobuf, export with OTEL_EXPORTER_OTLP_PROTOCOL=http/json or use FileExporter)"
            ),
            ReadError::NotOtlp { first } => {
                write!(f, "no line of the input is OTLP JSON ({first})")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads OTLP JSON into `data`, adding its spans. Lines that are not OTLP
/// JSON are skipped and named in `data.warnings` with their line number.
///
/// ```
/// let line = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
///   "scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",
///   "name":"GET /","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":"5000"}]}]}]}"#;
/// let mut data = tracekit_view::TraceData::default();
/// tracekit_view::read_otlp_json(line.as_bytes(), &mut data).unwrap();
/// assert_eq!(data.spans[0].name, "GET /");
/// assert_eq!(data.resources[data.spans[0].resource].service_name(), "api");
/// ```
pub fn read_otlp_json(input: &[u8], data: &mut TraceData) -> Result<(), ReadError> {
    if input.contains(&0) {
        return Err(ReadError::Binary);
    }
    let text = std::str::from_utf8(input).map_err(|_| ReadError::Binary)?;
    if text.trim().is_empty() {
        return Err(ReadError::Empty);
    }
    // A single (perhaps pretty-printed) document first; else JSON lines.
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        return match request(&doc, data, "") {
            Ok(()) => {
                data.drop_duplicates();
                Ok(())
            }
            Err(e) => Err(ReadError::NotOtlp { first: e }),
        };
    }
    let mut good = 0usize;
    let mut first_problem = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let outcome = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|doc| request(&doc, data, &format!("line {}: ", i + 1)));
        match outcome {
            Ok(()) => good += 1,
            Err(e) => {
                let problem = format!("line {}: {e}; skipped", i + 1);
                first_problem.get_or_insert_with(|| problem.clone());
                data.warnings.push(problem);
            }
        }
    }
    if good == 0 {
        data.warnings.clear();
        return Err(ReadError::NotOtlp {
            first: first_problem.unwrap_or_default(),
        });
    }
    data.drop_duplicates();
    Ok(())
}

/// One `ExportTraceServiceRequest`; `at` says where it is in the input
/// (`"line 7: "`), for the warnings about the spans it skips.
fn request(doc: &Value, data: &mut TraceData, at: &str) -> Result<(), String> {
    let Some(all) = doc.get("resourceSpans").and_then(Value::as_array) else {
        return Err("no resourceSpans array".to_owned());
    };
    for rs in all {
        let resource = ViewResource {
            attrs: attrs(rs.get("resource").and_then(|r| r.get("attributes"))),
        };
        let resource = data.resource_index(resource);
        for ss in array(rs.get("scopeSpans")) {
            let scope = ss.get("scope");
            let scope = data.scope_index(ViewScope {
                name: text(scope.and_then(|s| s.get("name"))),
                version: text(scope.and_then(|s| s.get("version"))),
            });
            for span in array(ss.get("spans")) {
                match read_span(span, resource, scope) {
                    Ok(s) => {
                        // No end, or one before the start: a span that did
                        // not finish when it was written; drawn with no
                        // duration, and said.
                        if nanos(span.get("endTimeUnixNano")) < s.start {
                            data.warnings.push(format!(
                                "{at}span {:?} has no valid endTimeUnixNano (unfinished?); shown with no duration",
                                s.name
                            ));
                        }
                        data.spans.push(s)
                    }
                    Err(e) => data.warnings.push(format!("{at}{e}")),
                }
            }
        }
    }
    Ok(())
}

fn read_span(v: &Value, resource: usize, scope: usize) -> Result<ViewSpan, String> {
    let name = text(v.get("name"));
    let trace_id = hex_id(v.get("traceId"), 32)
        .ok_or_else(|| format!("span {name:?} has no valid traceId; skipped"))?;
    let span_id = hex_id(v.get("spanId"), 16)
        .ok_or_else(|| format!("span {name:?} has no valid spanId; skipped"))?;
    let parent_id = hex_id(v.get("parentSpanId"), 16).unwrap_or_default();
    // Without a start the span has no place in time; kept, it would move
    // every other span's offset (the page's times run from the earliest
    // start).
    let start = nanos(v.get("startTimeUnixNano"));
    if start == 0 {
        return Err(format!(
            "span {name:?} has no valid startTimeUnixNano; skipped"
        ));
    }
    let end = nanos(v.get("endTimeUnixNano")).max(start);
    let status = v.get("status");
    let events = array(v.get("events"))
        .map(|e| SpanEvent {
            time: nanos(e.get("timeUnixNano")),
            name: text(e.get("name")),
            attrs: attrs(e.get("attributes")),
        })
        .collect();
    let links = array(v.get("links"))
        .filter_map(|l| {
            Some(SpanLink {
                trace_id: hex_id(l.get("traceId"), 32)?,
                span_id: hex_id(l.get("spanId"), 16)?,
            })
        })
        .collect();
    Ok(ViewSpan {
        trace_id,
        span_id,
        // An all-zero parent means none, as some producers write it.
        parent_id: if parent_id.bytes().all(|b| b == b'0') {
            String::new()
        } else {
            parent_id
        },
        name,
        kind: enum_code(
            v.get("kind"),
            &[
                "SPAN_KIND_UNSPECIFIED",
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_CONSUMER",
            ],
        ),
        start,
        end,
        unfinished: nanos(v.get("endTimeUnixNano")) < start,
        status: enum_code(
            status.and_then(|s| s.get("code")),
            &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
        ),
        status_message: text(status.and_then(|s| s.get("message"))),
        attrs: attrs(v.get("attributes")),
        events,
        links,
        resource,
        scope,
    }
    .with_unfinished_tag())
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A lowercase hex id of `len` digits; OTLP JSON writes hex, but a
/// zero-length or malformed one is treated as absent.
fn hex_id(v: Option<&Value>, len: usize) -> Option<String> {
    let s = v?.as_str()?;
    (s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// A 64-bit count of nanoseconds, written as a string (the spec) or a number.
fn nanos(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// An enum, as the integer the spec asks for or its name.
fn enum_code(v: Option<&Value>, names: &[&str]) -> u8 {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => names.iter().position(|n| n == s).unwrap_or(0) as u8,
        _ => 0,
    }
}

fn attrs(v: Option<&Value>) -> Vec<Attr> {
    array(v)
        .map(|kv| {
            let (value, kind) = any_value(kv.get("value"));
            Attr {
                key: text(kv.get("key")),
                text: value,
                kind,
            }
        })
        .collect()
}

/// An `AnyValue` as text and kind.
fn any_value(v: Option<&Value>) -> (String, char) {
    let Some(Value::Object(o)) = v else {
        return (String::new(), 's');
    };
    if let Some(s) = o.get("stringValue").and_then(Value::as_str) {
        return (s.to_owned(), 's');
    }
    if let Some(i) = o.get("intValue") {
        let t = match i {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return (t, 'i');
    }
    if let Some(d) = o.get("doubleValue") {
        let t = match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return (t, 'd');
    }
    if let Some(b) = o.get("boolValue").and_then(Value::as_bool) {
        return (b.to_string(), 'b');
    }
    if let Some(a) = o.get("arrayValue") {
        let items: Vec<String> = array(a.get("values"))
            .map(|x| any_value(Some(x)).0)
            .collect();
        return (format!("[{}]", items.join(", ")), 'a');
    }
    if let Some(k) = o.get("kvlistValue") {
        let items: Vec<String> = attrs(k.get("values"))
            .into_iter()
            .map(|a| format!("{}={}", a.key, a.text))
            .collect();
        return (format!("{{{}}}", items.join(", ")), 'k');
    }
    if let Some(b) = o.get("bytesValue").and_then(Value::as_str) {
        return (b.to_owned(), 'x');
    }
    (String::new(), 's')
}
