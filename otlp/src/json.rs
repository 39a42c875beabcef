//! OTLP/JSON: the protobuf messages in the JSON mapping OTLP specifies —
//! lowerCamelCase field names, trace and span ids as hex (not base64),
//! 64-bit integers as strings, enums as integers, default values left out.

use crate::proto;
use std::fmt::Write;

/// The JSON text of the request for one batch.
pub(crate) fn body(
    resource: &proto::Resource,
    limits: &crate::SpanLimits,
    spans: &[tracekit::SpanRecord],
) -> String {
    request(&crate::encode::request(resource, limits, spans))
}

/// The JSON text of a request.
fn request(r: &proto::ExportTraceServiceRequest) -> String {
    let mut w = Json::default();
    w.object(|w| {
        w.array("resourceSpans", &r.resource_spans, |w, rs| {
            w.object(|w| {
                resource(w, rs.resource.as_ref());
                w.array("scopeSpans", &rs.scope_spans, |w, ss| {
                    w.object(|w| {
                        scope(w, ss.scope.as_ref());
                        w.array("spans", &ss.spans, span);
                        w.string("schemaUrl", &ss.schema_url);
                    });
                });
                w.string("schemaUrl", &rs.schema_url);
            });
        });
    });
    w.out
}

/// A request's `resource`, if it has one.
fn resource(w: &mut Json, res: Option<&proto::Resource>) {
    if let Some(res) = res {
        w.key("resource");
        w.object(|w| {
            w.array("attributes", &res.attributes, key_value);
            w.uint("droppedAttributesCount", res.dropped_attributes_count);
        });
    }
}

/// A request's instrumentation `scope`, if it has one.
fn scope(w: &mut Json, scope: Option<&proto::InstrumentationScope>) {
    if let Some(scope) = scope {
        w.key("scope");
        w.object(|w| {
            w.string("name", &scope.name);
            w.string("version", &scope.version);
        });
    }
}

fn span(w: &mut Json, s: &proto::Span) {
    w.object(|w| {
        w.hex("traceId", &s.trace_id);
        w.hex("spanId", &s.span_id);
        w.string("traceState", &s.trace_state);
        w.hex("parentSpanId", &s.parent_span_id);
        w.uint("flags", s.flags);
        w.string("name", &s.name);
        w.int("kind", s.kind);
        w.u64_string("startTimeUnixNano", s.start_time_unix_nano);
        w.u64_string("endTimeUnixNano", s.end_time_unix_nano);
        w.array("attributes", &s.attributes, key_value);
        w.uint("droppedAttributesCount", s.dropped_attributes_count);
        w.array("events", &s.events, |w, e| {
            w.object(|w| {
                w.u64_string("timeUnixNano", e.time_unix_nano);
                w.string("name", &e.name);
                w.array("attributes", &e.attributes, key_value);
                w.uint("droppedAttributesCount", e.dropped_attributes_count);
            });
        });
        w.uint("droppedEventsCount", s.dropped_events_count);
        w.array("links", &s.links, |w, l| {
            w.object(|w| {
                w.hex("traceId", &l.trace_id);
                w.hex("spanId", &l.span_id);
                w.string("traceState", &l.trace_state);
                w.array("attributes", &l.attributes, key_value);
                w.uint("flags", l.flags);
            });
        });
        w.uint("droppedLinksCount", s.dropped_links_count);
        if let Some(st) = &s.status {
            w.key("status");
            w.object(|w| {
                w.string("message", &st.message);
                w.int("code", st.code);
            });
        }
    });
}

/// The JSON text of a metrics request.
pub(crate) fn metrics(r: &proto::ExportMetricsServiceRequest) -> String {
    let mut w = Json::default();
    w.object(|w| {
        w.array("resourceMetrics", &r.resource_metrics, |w, rm| {
            w.object(|w| {
                resource(w, rm.resource.as_ref());
                w.array("scopeMetrics", &rm.scope_metrics, |w, sm| {
                    w.object(|w| {
                        scope(w, sm.scope.as_ref());
                        w.array("metrics", &sm.metrics, metric);
                        w.string("schemaUrl", &sm.schema_url);
                    });
                });
                w.string("schemaUrl", &rm.schema_url);
            });
        });
    });
    w.out
}

fn metric(w: &mut Json, m: &proto::Metric) {
    w.object(|w| {
        w.string("name", &m.name);
        w.string("description", &m.description);
        w.string("unit", &m.unit);
        match &m.data {
            Some(proto::MetricData::Sum(s)) => {
                w.key("sum");
                w.object(|w| {
                    w.array("dataPoints", &s.data_points, |w, p| {
                        w.object(|w| {
                            point_head(w, &p.attributes, p.start_time_unix_nano, p.time_unix_nano);
                            if let Some(i) = p.as_int {
                                w.key("asInt");
                                let _ = write!(w.out, "\"{i}\"");
                            }
                            w.uint("flags", p.flags);
                        });
                    });
                    w.int("aggregationTemporality", s.aggregation_temporality);
                    if s.is_monotonic {
                        w.key("isMonotonic");
                        w.out.push_str("true");
                    }
                });
            }
            Some(proto::MetricData::Histogram(h)) => {
                w.key("histogram");
                w.object(|w| {
                    w.array("dataPoints", &h.data_points, |w, p| {
                        w.object(|w| {
                            point_head(w, &p.attributes, p.start_time_unix_nano, p.time_unix_nano);
                            count_and_sum(w, p.count, p.sum);
                            w.u64_strings("bucketCounts", &p.bucket_counts);
                            w.doubles("explicitBounds", &p.explicit_bounds);
                            w.uint("flags", p.flags);
                        });
                    });
                    w.int("aggregationTemporality", h.aggregation_temporality);
                });
            }
            Some(proto::MetricData::ExponentialHistogram(h)) => {
                w.key("exponentialHistogram");
                w.object(|w| {
                    w.array("dataPoints", &h.data_points, |w, p| {
                        w.object(|w| {
                            point_head(w, &p.attributes, p.start_time_unix_nano, p.time_unix_nano);
                            count_and_sum(w, p.count, p.sum);
                            w.int("scale", p.scale);
                            w.u64_string("zeroCount", p.zero_count);
                            if let Some(b) = &p.positive {
                                w.key("positive");
                                w.object(|w| {
                                    w.int("offset", b.offset);
                                    w.u64_strings("bucketCounts", &b.bucket_counts);
                                });
                            }
                            w.uint("flags", p.flags);
                        });
                    });
                    w.int("aggregationTemporality", h.aggregation_temporality);
                });
            }
            None => {}
        }
    });
}

/// What every data point begins with: its attributes and its times.
fn point_head(w: &mut Json, attributes: &[proto::KeyValue], start: u64, time: u64) {
    w.array("attributes", attributes, key_value);
    w.u64_string("startTimeUnixNano", start);
    w.u64_string("timeUnixNano", time);
}

/// A histogram point's count and sum.
fn count_and_sum(w: &mut Json, count: u64, sum: Option<f64>) {
    w.u64_string("count", count);
    if let Some(sum) = sum {
        w.double("sum", sum);
    }
}

fn key_value(w: &mut Json, kv: &proto::KeyValue) {
    w.object(|w| {
        w.string("key", &kv.key);
        w.key("value");
        w.object(|w| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(proto::Value::StringValue(s)) => w.field_str("stringValue", s),
            Some(proto::Value::BoolValue(b)) => {
                w.key("boolValue");
                w.out.push_str(if *b { "true" } else { "false" });
            }
            Some(proto::Value::IntValue(i)) => {
                w.key("intValue");
                let _ = write!(w.out, "\"{i}\"");
            }
            Some(proto::Value::DoubleValue(d)) => w.double("doubleValue", *d),
            None => {}
        });
    });
}

#[derive(Default)]
struct Json {
    out: String,
    /// Whether the current object or array already has a member.
    first: Vec<bool>,
}

impl Json {
    fn comma(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(',');
            }
            *first = false;
        }
    }

    fn key(&mut self, k: &str) {
        self.comma();
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn object(&mut self, body: impl FnOnce(&mut Json)) {
        self.out.push('{');
        self.first.push(true);
        body(self);
        self.first.pop();
        self.out.push('}');
    }

    fn array<T>(&mut self, key: &str, items: &[T], mut each: impl FnMut(&mut Json, &T)) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        self.first.push(true);
        for item in items {
            self.comma();
            // The element opens its own scope; the comma is already written.
            self.first.push(true);
            each(self, item);
            self.first.pop();
        }
        self.first.pop();
        self.out.push(']');
    }

    fn string(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.field_str(key, v);
        }
    }

    fn field_str(&mut self, key: &str, v: &str) {
        self.key(key);
        escape(&mut self.out, v);
    }

    fn hex(&mut self, key: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('"');
        for b in bytes {
            let _ = write!(self.out, "{b:02x}");
        }
        self.out.push('"');
    }

    fn uint(&mut self, key: &str, v: u32) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "{v}");
        }
    }

    fn int(&mut self, key: &str, v: i32) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "{v}");
        }
    }

    /// A number, written as the protobuf JSON mapping spells it: JSON has
    /// no NaN or infinities, so those are strings.
    fn double(&mut self, key: &str, d: f64) {
        self.key(key);
        self.number(d);
    }

    fn number(&mut self, d: f64) {
        if d.is_nan() {
            self.out.push_str("\"NaN\"");
        } else if d.is_infinite() {
            self.out.push_str(if d > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
        } else {
            let _ = write!(self.out, "{d:?}");
        }
    }

    fn doubles(&mut self, key: &str, v: &[f64]) {
        if v.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, d) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.number(*d);
        }
        self.out.push(']');
    }

    /// 64-bit integers as strings, as the mapping says.
    fn u64_strings(&mut self, key: &str, v: &[u64]) {
        if v.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, n) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "\"{n}\"");
        }
        self.out.push(']');
    }

    fn u64_string(&mut self, key: &str, v: u64) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "\"{v}\"");
        }
    }
}

fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
