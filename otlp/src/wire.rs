//! OTLP protobuf written straight from the finished spans: no message
//! structs in between, so no `String` per key and value and no `Vec` per id.
//! The result decodes to exactly what [`encode::request`] builds (a test
//! checks it); the JSON form is still written from those structs.

use crate::encode::{self, Scalar, SpanLimits};
use tracekit::{SpanRecord, Value};

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const FIXED32: u8 = 5;

/// Scratch buffers reused from batch to batch by one exporter.
#[derive(Default)]
pub(crate) struct Writer {
    span: Vec<u8>,
    event: Vec<u8>,
    scope: Vec<u8>,
}

impl Writer {
    /// An `ExportTraceServiceRequest` with one resource (already encoded)
    /// and one scope holding `spans`.
    pub(crate) fn request(
        &mut self,
        resource: &[u8],
        limits: &SpanLimits,
        spans: &[SpanRecord],
    ) -> Vec<u8> {
        let mut scope = std::mem::take(&mut self.scope);
        scope.clear();
        // ScopeSpans.scope
        let name = encode::SCOPE_NAME;
        let version = env!("CARGO_PKG_VERSION");
        let scope_len = field_len(name.len()) + field_len(version.len());
        key(&mut scope, 1, LEN);
        varint(&mut scope, scope_len as u64);
        str_field(&mut scope, 1, name);
        str_field(&mut scope, 2, version);
        for s in spans {
            self.span(s, limits);
            bytes_field(&mut scope, 2, &self.span);
        }
        let resource_spans_len = field_len(resource.len()) + field_len(scope.len());
        let mut out = Vec::with_capacity(field_len(resource_spans_len));
        key(&mut out, 1, LEN);
        varint(&mut out, resource_spans_len as u64);
        bytes_field(&mut out, 1, resource);
        bytes_field(&mut out, 2, &scope);
        self.scope = scope;
        out
    }

    fn span(&mut self, s: &SpanRecord, limits: &SpanLimits) {
        let s = &s.view();
        let b = &mut self.span;
        b.clear();
        bytes_field(b, 1, &s.trace_id().to_u128().to_be_bytes());
        bytes_field(b, 2, &s.span_id().to_u64().to_be_bytes());
        if let Some(state) = s.trace_state().filter(|t| !t.is_empty()) {
            str_field(b, 3, state);
        }
        if let Some(parent) = s.parent_id() {
            bytes_field(b, 4, &parent.to_u64().to_be_bytes());
        }
        if !s.name().is_empty() {
            str_field(b, 5, s.name());
        }
        let kind = encode::kind(s.kind());
        if kind != 0 {
            key(b, 6, VARINT);
            varint(b, kind as u64);
        }
        fixed64_field(b, 7, s.start_unix_nanos());
        fixed64_field(b, 8, s.end_unix_nanos());
        let (kept, dropped) = encode::select(s.tags(), limits.attribute_count);
        for (k, v) in kept {
            key_value(b, 9, k, v, limits.attribute_value_length);
        }
        count_field(b, 10, dropped.saturating_add(s.dropped_tags()));

        let events = s.events();
        for e in events.iter().take(limits.event_count) {
            let eb = &mut self.event;
            eb.clear();
            fixed64_field(eb, 1, encode::unix_nanos(e.time()));
            if !e.name().is_empty() {
                str_field(eb, 2, e.name());
            }
            let fields = e.fields().iter().map(|(k, v)| (&**k, v));
            let (kept, dropped) = encode::select(fields, limits.attribute_per_event_count);
            for (k, v) in kept {
                key_value(eb, 3, k, v, limits.attribute_value_length);
            }
            count_field(eb, 4, dropped);
            bytes_field(b, 11, eb);
        }
        count_field(
            b,
            12,
            encode::count(events.len().saturating_sub(limits.event_count))
                .saturating_add(s.dropped_events()),
        );

        let links = s.links();
        for l in links.iter().take(limits.link_count) {
            let len = field_len(16) + field_len(8) + 1 + 4;
            key(b, 13, LEN);
            varint(b, len as u64);
            bytes_field(b, 1, &l.trace_id().to_u128().to_be_bytes());
            bytes_field(b, 2, &l.span_id().to_u64().to_be_bytes());
            key(b, 6, FIXED32);
            b.extend_from_slice(
                &(crate::proto::FLAG_SAMPLED | crate::proto::FLAG_HAS_IS_REMOTE).to_le_bytes(),
            );
        }
        count_field(
            b,
            14,
            encode::count(links.len().saturating_sub(limits.link_count))
                .saturating_add(s.dropped_links()),
        );

        let (code, message) = encode::status(s);
        let status_len = if message.is_empty() {
            0
        } else {
            field_len(message.len())
        } + if code != 0 { 2 } else { 0 };
        key(b, 15, LEN);
        varint(b, status_len as u64);
        if !message.is_empty() {
            str_field(b, 2, message);
        }
        if code != 0 {
            key(b, 3, VARINT);
            varint(b, code as u64);
        }

        let flags = encode::flags(s);
        if flags != 0 {
            key(b, 16, FIXED32);
            b.extend_from_slice(&flags.to_le_bytes());
        }
    }
}

/// A `KeyValue` as field `field` of the enclosing message.
fn key_value(b: &mut Vec<u8>, field: u32, k: &str, v: &Value, max_len: Option<usize>) {
    let value = encode::scalar(v, max_len);
    let any_len = match &value {
        Scalar::Str(s) => field_len(s.len()),
        Scalar::Bool(_) => 2,
        Scalar::Int(i) => 1 + varint_len(*i as u64),
        Scalar::Double(_) => 9,
    };
    let kv_len = if k.is_empty() { 0 } else { field_len(k.len()) } + field_len(any_len);
    key(b, field, LEN);
    varint(b, kv_len as u64);
    if !k.is_empty() {
        str_field(b, 1, k);
    }
    key(b, 2, LEN);
    varint(b, any_len as u64);
    match value {
        Scalar::Str(s) => str_field(b, 1, &s),
        Scalar::Bool(x) => {
            key(b, 2, VARINT);
            b.push(u8::from(x));
        }
        Scalar::Int(i) => {
            key(b, 3, VARINT);
            varint(b, i as u64);
        }
        Scalar::Double(d) => {
            key(b, 4, FIXED64);
            b.extend_from_slice(&d.to_bits().to_le_bytes());
        }
    }
}

fn key(b: &mut Vec<u8>, field: u32, wire: u8) {
    varint(b, u64::from(field << 3 | u32::from(wire)));
}

fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 7 bits a byte; zero still takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The encoded size of a length-delimited field of `len` bytes (the fields
/// sized here are all numbered below 16: a one-byte key).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn bytes_field(b: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(b, field, LEN);
    varint(b, bytes.len() as u64);
    b.extend_from_slice(bytes);
}

fn str_field(b: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(b, field, s.as_bytes());
}

fn fixed64_field(b: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(b, field, FIXED64);
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn count_field(b: &mut Vec<u8>, field: u32, n: u32) {
    if n != 0 {
        key(b, field, VARINT);
        varint(b, u64::from(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX, i64::MIN as u64] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
