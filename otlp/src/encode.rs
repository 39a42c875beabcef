//! Finished spans to an OTLP `ExportTraceServiceRequest`, with the span
//! limits applied. Both wire forms (protobuf and JSON) encode this one model.

use crate::env::Lookup;
use crate::proto;
use crate::resource::Resource;
use std::time::{SystemTime, UNIX_EPOCH};
use tracekit::{SpanKind, SpanRecord, SpanView, Status, Value};

/// Caps on what one span carries, as OpenTelemetry defines them: what is
/// over a cap is left out and counted in the span's `dropped_*_count`.
///
/// ```
/// let limits = tracekit_otlp::SpanLimits::default();
/// assert_eq!(limits.attribute_count, 128);
/// assert_eq!(limits.attribute_value_length, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanLimits {
    /// Attributes (tags) per span.
    pub attribute_count: usize,
    /// Events per span.
    pub event_count: usize,
    /// Links per span.
    pub link_count: usize,
    /// Attributes per event.
    pub attribute_per_event_count: usize,
    /// Attributes per link.
    pub attribute_per_link_count: usize,
    /// Longest string value, in bytes (cut at a character boundary); none by default.
    pub attribute_value_length: Option<usize>,
}

impl Default for SpanLimits {
    fn default() -> SpanLimits {
        SpanLimits {
            attribute_count: 128,
            event_count: 128,
            link_count: 128,
            attribute_per_event_count: 128,
            attribute_per_link_count: 128,
            attribute_value_length: None,
        }
    }
}

impl SpanLimits {
    /// The defaults, overridden by `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (or
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT`), `OTEL_SPAN_EVENT_COUNT_LIMIT`,
    /// `OTEL_SPAN_LINK_COUNT_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`,
    /// `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` and
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (or
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    ///
    /// ```
    /// let limits = tracekit_otlp::SpanLimits::from_env();
    /// # drop(limits);
    /// ```
    pub fn from_env() -> SpanLimits {
        SpanLimits::from_lookup(&crate::env::process())
    }

    pub(crate) fn from_lookup(env: &Lookup<'_>) -> SpanLimits {
        let d = SpanLimits::default();
        let n = |specific: &str, general: &str, default: usize| {
            let key = if env(specific).is_some() {
                specific
            } else {
                general
            };
            crate::env::number(env, key, default as u64) as usize
        };
        let length = [
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ]
        .into_iter()
        .find(|k| env(k).is_some())
        .map(|k| crate::env::number(env, k, u64::MAX) as usize)
        .filter(|&l| l != usize::MAX);
        SpanLimits {
            attribute_count: n(
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
                d.attribute_count,
            ),
            event_count: n("OTEL_SPAN_EVENT_COUNT_LIMIT", "", d.event_count),
            link_count: n("OTEL_SPAN_LINK_COUNT_LIMIT", "", d.link_count),
            attribute_per_event_count: n(
                "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
                d.attribute_per_event_count,
            ),
            attribute_per_link_count: n(
                "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
                d.attribute_per_link_count,
            ),
            attribute_value_length: length,
        }
    }
}

pub(crate) const SCOPE_NAME: &str = "tracekit";

/// The request for one batch.
pub(crate) fn request(
    resource: &proto::Resource,
    limits: &SpanLimits,
    spans: &[SpanRecord],
) -> proto::ExportTraceServiceRequest {
    proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![proto::ScopeSpans {
                scope: Some(proto::InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: spans.iter().map(|s| span(s, limits)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(crate) fn resource(r: &Resource) -> proto::Resource {
    proto::Resource {
        attributes: r
            .attributes()
            .iter()
            .map(|(k, v)| key_value(k, v, None))
            .collect(),
        dropped_attributes_count: 0,
    }
}

pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn kind(k: SpanKind) -> i32 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
        // A kind added later still exports, as "unspecified".
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

fn span(s: &SpanRecord, limits: &SpanLimits) -> proto::Span {
    let s = &s.view();
    let (span_attributes, dropped_attributes_count) = attributes(
        s.tags(),
        limits.attribute_count,
        limits.attribute_value_length,
    );
    let events = s.events();
    let links = s.links();
    let flags = flags(s);
    proto::Span {
        trace_id: s.trace_id().to_u128().to_be_bytes().to_vec(),
        span_id: s.span_id().to_u64().to_be_bytes().to_vec(),
        trace_state: s.trace_state().unwrap_or_default().to_owned(),
        parent_span_id: s
            .parent_id()
            .map(|p| p.to_u64().to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags,
        name: s.name().to_owned(),
        kind: kind(s.kind()),
        start_time_unix_nano: s.start_unix_nanos(),
        end_time_unix_nano: s.end_unix_nanos(),
        attributes: span_attributes,
        dropped_attributes_count: dropped_attributes_count.saturating_add(s.dropped_tags()),
        events: events
            .iter()
            .take(limits.event_count)
            .map(|e| {
                let (attributes, dropped) = attributes(
                    e.fields().iter().map(|(k, v)| (&**k, v)),
                    limits.attribute_per_event_count,
                    limits.attribute_value_length,
                );
                proto::Event {
                    time_unix_nano: unix_nanos(e.time()),
                    name: e.name().to_owned(),
                    attributes,
                    dropped_attributes_count: dropped,
                }
            })
            .collect(),
        dropped_events_count: count(events.len().saturating_sub(limits.event_count))
            .saturating_add(s.dropped_events()),
        links: links
            .iter()
            .take(limits.link_count)
            .map(|l| proto::Link {
                trace_id: l.trace_id().to_u128().to_be_bytes().to_vec(),
                span_id: l.span_id().to_u64().to_be_bytes().to_vec(),
                flags: proto::FLAG_SAMPLED | proto::FLAG_HAS_IS_REMOTE,
                ..Default::default()
            })
            .collect(),
        dropped_links_count: count(links.len().saturating_sub(limits.link_count))
            .saturating_add(s.dropped_links()),
        status: Some({
            let (code, message) = status(s);
            proto::Status {
                message: message.to_owned(),
                code,
            }
        }),
    }
}

/// `Span.flags`: sampled, and whether the parent is remote (always known).
pub(crate) fn flags(s: &SpanView<'_>) -> u32 {
    let mut flags = proto::FLAG_HAS_IS_REMOTE;
    if s.is_sampled() {
        flags |= proto::FLAG_SAMPLED;
    }
    if s.has_remote_parent() {
        flags |= proto::FLAG_IS_REMOTE;
    }
    flags
}

/// The status as `(code, message)`.
pub(crate) fn status<'a>(s: &SpanView<'a>) -> (i32, &'a str) {
    match s.status() {
        Status::Error { description } => (proto::STATUS_ERROR, description),
        Status::Ok => (proto::STATUS_OK, ""),
        _ => (proto::STATUS_UNSET, ""),
    }
}

pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Tags to attributes: a later value for a key replaces the earlier one (in
/// the earlier one's place); past `max` distinct keys, the rest are counted
/// as dropped.
pub(crate) fn select<'a>(
    tags: impl Iterator<Item = (&'a str, &'a Value)>,
    max: usize,
) -> (Vec<(&'a str, &'a Value)>, u32) {
    let mut kept: Vec<(&str, &Value)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for (k, v) in tags {
        if let Some(slot) = kept.iter_mut().find(|(key, _)| *key == k) {
            slot.1 = v;
        } else if kept.len() < max {
            kept.push((k, v));
        } else if !dropped.contains(&k) {
            dropped.push(k);
        }
    }
    (kept, count(dropped.len()))
}

fn attributes<'a>(
    tags: impl Iterator<Item = (&'a str, &'a Value)>,
    max: usize,
    max_len: Option<usize>,
) -> (Vec<proto::KeyValue>, u32) {
    let (kept, dropped) = select(tags, max);
    (
        kept.into_iter()
            .map(|(k, v)| key_value(k, v, max_len))
            .collect(),
        dropped,
    )
}

/// A tag's value as OTLP carries it.
pub(crate) enum Scalar<'a> {
    Str(std::borrow::Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
}

pub(crate) fn scalar(value: &Value, max_len: Option<usize>) -> Scalar<'_> {
    match value {
        Value::Bool(b) => Scalar::Bool(*b),
        Value::I64(i) => Scalar::Int(*i),
        // OTLP integers are signed: a u64 past i64::MAX goes as its decimal text.
        Value::U64(u) => match i64::try_from(*u) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Str(u.to_string().into()),
        },
        Value::F64(f) => Scalar::Double(*f),
        Value::Str(s) => Scalar::Str(truncate(s, max_len).into()),
        // A value kind added later still exports, as its text.
        #[allow(unreachable_patterns)]
        other => Scalar::Str(other.to_string().into()),
    }
}

fn key_value(key: &str, value: &Value, max_len: Option<usize>) -> proto::KeyValue {
    use proto::Value as V;
    let v = match scalar(value, max_len) {
        Scalar::Str(s) => V::StringValue(s.into_owned()),
        Scalar::Bool(b) => V::BoolValue(b),
        Scalar::Int(i) => V::IntValue(i),
        Scalar::Double(d) => V::DoubleValue(d),
    };
    proto::KeyValue {
        key: key.to_owned(),
        value: Some(proto::AnyValue { value: Some(v) }),
    }
}

fn truncate(s: &str, max: Option<usize>) -> &str {
    match max {
        Some(max) if s.len() > max => {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("héllo", Some(2)), "h");
        assert_eq!(truncate("héllo", Some(3)), "hé");
        assert_eq!(truncate("héllo", None), "héllo");
    }

    #[test]
    fn later_tags_replace_earlier_ones_and_extra_keys_are_counted() {
        let (a, b, c) = (Value::I64(1), Value::I64(2), Value::I64(3));
        let tags = [
            ("a", &a),
            ("b", &b),
            ("a", &c),
            ("x", &a),
            ("y", &a),
            ("x", &b),
        ];
        let (kept, dropped) = attributes(tags.into_iter(), 3, None);
        let keys: Vec<&str> = kept.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "x"]);
        assert_eq!(
            kept[0].value.as_ref().unwrap().value,
            Some(proto::Value::IntValue(3))
        );
        assert_eq!(dropped, 1);
    }
}
