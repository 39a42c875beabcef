//! The Chrome trace-event format (JSON), which Perfetto UI and
//! `chrome://tracing` open: a process per service, and per trace as many
//! threads ("lanes") as it takes to keep every lane properly nested, since
//! these viewers draw a thread's complete events as a stack.

use crate::model::{Attr, TraceData, ViewSpan};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Renders `data` as a Chrome trace-event JSON document.
///
/// ```
/// let json = tracekit_view::render_perfetto(&tracekit_view::TraceData::default());
/// assert!(json.contains("\"traceEvents\""));
/// ```
pub fn render_perfetto(data: &TraceData) -> String {
    let base = data.spans.iter().map(|s| s.start).min().unwrap_or(0);
    let micros = |t: u64| t.saturating_sub(base) as f64 / 1000.0;
    let mut events = Vec::with_capacity(data.spans.len() + 16);
    // One process per service name, numbered from 1.
    let mut pids: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &data.resources {
        let next = pids.len() as u64 + 1;
        pids.entry(r.service_name()).or_insert(next);
    }
    for (name, pid) in &pids {
        events.push(
            json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": name}}),
        );
    }
    // Group by (process, trace); lay each group out in nested lanes.
    let mut groups: BTreeMap<(u64, &str), Vec<&ViewSpan>> = BTreeMap::new();
    for s in &data.spans {
        let service = data
            .resources
            .get(s.resource)
            .map_or("unknown_service", |r| r.service_name());
        let pid = pids.get(service).copied().unwrap_or(0);
        groups.entry((pid, &s.trace_id)).or_default().push(s);
    }
    let mut next_tid = 1u64;
    for ((pid, trace), mut spans) in groups {
        spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut lanes: Vec<(u64, Vec<u64>)> = Vec::new();
        for s in spans {
            for (_, stack) in lanes.iter_mut() {
                while stack.last().is_some_and(|&end| end <= s.start) {
                    stack.pop();
                }
            }
            let lane = match lanes
                .iter()
                .position(|(_, stack)| stack.last().is_none_or(|&end| end >= s.end))
            {
                Some(i) => i,
                None => {
                    let tid = next_tid;
                    next_tid += 1;
                    events.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                        "args": {"name": format!("trace {} · lane {}", &trace[..8.min(trace.len())], lanes.len() + 1)}}));
                    lanes.push((tid, Vec::new()));
                    lanes.len() - 1
                }
            };
            let (tid, stack) = &mut lanes[lane];
            stack.push(s.end);
            let mut args = attrs_map(&s.attrs);
            args.insert("span_id".into(), s.span_id.clone().into());
            args.insert("trace_id".into(), s.trace_id.clone().into());
            if !s.parent_id.is_empty() {
                args.insert("parent_id".into(), s.parent_id.clone().into());
            }
            if s.is_error() {
                args.insert("error".into(), true.into());
                if !s.status_message.is_empty() {
                    args.insert("status.message".into(), s.status_message.clone().into());
                }
            }
            events.push(json!({"ph": "X", "name": s.name, "cat": kind_name(s.kind),
                "pid": pid, "tid": *tid, "ts": micros(s.start),
                "dur": (s.end - s.start) as f64 / 1000.0, "args": args}));
            for e in &s.events {
                events.push(
                    json!({"ph": "i", "s": "t", "name": e.name, "pid": pid, "tid": *tid,
                    "ts": micros(e.time), "args": attrs_map(&e.attrs)}),
                );
            }
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ns",
        "otherData": {"source": "tracekit-view", "base_unix_nanos": base.to_string()}})
    .to_string()
}

fn attrs_map(attrs: &[Attr]) -> Map<String, Value> {
    attrs
        .iter()
        .map(|a| (a.key.clone(), Value::from(a.text.as_str())))
        .collect()
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "internal",
    }
}
