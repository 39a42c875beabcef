use crate::data::record::SpanRecord;
use crate::data::span_batch::SpanBatch;
use crate::report::Reporter;
use crate::{SpanId, TraceId};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// Prints each finished trace as an indented tree with durations, tags,
/// events and errors. A trace is printed when its local root finishes; spans
/// that finish later (detached tasks) are printed as a continuation.
///
/// ```
/// let _guard = tracekit::set_reporter(tracekit::ConsoleReporter::stdout());
/// let _s = tracekit::start_active_span("hello");
/// ```
pub struct ConsoleReporter {
    out: Box<dyn Write + Send>,
    pending: HashMap<TraceId, Vec<SpanRecord>>,
    show_code: bool,
    service: Option<String>,
    /// Print the metrics table when the reporter goes.
    table: bool,
}

/// Traces with no finished root are printed anyway past this many spans,
/// so an endless trace cannot hold memory forever.
const MAX_PENDING_SPANS: usize = 10_000;

impl ConsoleReporter {
    /// Prints to standard output.
    ///
    /// ```
    /// let r = tracekit::ConsoleReporter::stdout();
    /// # drop(r);
    /// ```
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Prints to standard error.
    ///
    /// ```
    /// let r = tracekit::ConsoleReporter::stderr();
    /// # drop(r);
    /// ```
    pub fn stderr() -> Self {
        Self::to_writer(std::io::stderr())
    }

    /// Prints to any writer. Every constructor names the service as the
    /// OTLP exporter does: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else no name (see
    /// [`with_service_name`](Self::with_service_name)).
    ///
    /// ```
    /// let r = tracekit::ConsoleReporter::to_writer(Vec::new());
    /// # drop(r);
    /// ```
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        ConsoleReporter {
            out: Box::new(out),
            pending: HashMap::new(),
            show_code: false,
            service: crate::data::service::name_from(&|k| std::env::var(k).ok()),
            table: false,
        }
    }

    /// Also prints the `code.*` tags (function, module, file, line).
    ///
    /// ```
    /// let r = tracekit::ConsoleReporter::stdout().with_code_location(true);
    /// # drop(r);
    /// ```
    pub fn with_code_location(mut self, show: bool) -> Self {
        self.show_code = show;
        self
    }

    /// Names the service on each trace's first line, so that the parts of
    /// one trace printed by several processes can be told apart.
    ///
    /// ```
    /// let r = tracekit::ConsoleReporter::stdout().with_service_name("backend");
    /// # drop(r);
    /// ```
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// Prints a profile of the run at the guard's shutdown, on the
    /// reporter's own stream after the last traces: every function's calls,
    /// errors, p50, p99 and total time (a call inside another of the same
    /// function counts again: metrics count calls, not a tree), then the
    /// request series. Installing the reporter switches metrics on; under
    /// `TRACEKIT_METRICS=off` a line says there is no table.
    ///
    /// ```
    /// let _guard = tracekit::set_reporter(tracekit::ConsoleReporter::stdout().with_metrics_table(true));
    /// ```
    pub fn with_metrics_table(mut self, show: bool) -> Self {
        self.table = show;
        self
    }

    fn print(&mut self, trace_id: TraceId, spans: Vec<SpanRecord>, complete: bool) {
        let mut text = String::new();
        let _ = write!(text, "trace {trace_id}");
        if let Some(service) = &self.service {
            let _ = write!(text, " [{service}]");
        }
        let _ = writeln!(text, "{}", if complete { "" } else { " (continued)" });
        for (depth, i) in crate::report::tree::depth_first(&spans) {
            let s = &spans[i];
            let indent = "  ".repeat(depth + 1);
            let _ = write!(text, "{indent}{} {}", s.name(), fmt_duration(s.duration()));
            if s.kind() != crate::SpanKind::Internal {
                let _ = write!(text, " [{}]", s.kind().as_str());
            }
            // What joins this process's part of a trace to another's: the
            // span id a client sends, the remote parent a server got, and
            // the baggage that came with it.
            if matches!(
                s.kind(),
                crate::SpanKind::Client | crate::SpanKind::Producer
            ) {
                let _ = write!(text, " span_id={}", s.span_id());
            }
            if let (true, Some(parent)) = (s.has_remote_parent(), s.parent_id()) {
                let _ = write!(text, " remote_parent={parent}");
                for (k, v) in s.baggage() {
                    let _ = write!(text, " baggage.{k}={v:?}");
                }
            }
            for (k, v) in s.tags() {
                if !self.show_code && k.starts_with("code.") {
                    continue;
                }
                match v {
                    crate::Value::Str(_) => {
                        let _ = write!(text, " {k}={v:?}", v = v.to_string());
                    }
                    _ => {
                        let _ = write!(text, " {k}={v}");
                    }
                }
            }
            match s.status() {
                // A failure no one described (the `error = true` tag's).
                crate::Status::Error { description } if description.is_empty() => {
                    text.push_str(" ERROR");
                }
                crate::Status::Error { description } => {
                    let _ = write!(text, " ERROR: {description}");
                }
                _ => {}
            }
            text.push('\n');
            for e in s.events() {
                let _ = write!(text, "{indent}  · {}", e.name());
                for (k, v) in e.fields() {
                    let _ = write!(text, " {k}={v}");
                }
                text.push('\n');
            }
            if s.dropped_tags() > 0 {
                let _ = writeln!(text, "{indent}  · ({} more tags dropped)", s.dropped_tags());
            }
            if s.dropped_events() > 0 {
                let _ = writeln!(
                    text,
                    "{indent}  · ({} more events dropped)",
                    s.dropped_events()
                );
            }
        }
        // A closed pipe must not take the collector down; the trace is lost, not the program.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

/// A span's duration as the metrics table writes one (`12.3µs`, `4.56ms`,
/// `1.234s`), but in microseconds below one too (`0.5µs`).
fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_micros(1) {
        return format!("{:.1}µs", d.as_secs_f64() * 1e6);
    }
    crate::data::metrics::short(d)
}

fn is_local_root(s: &SpanRecord) -> bool {
    s.parent_id().is_none() || s.has_remote_parent()
}

impl Reporter for ConsoleReporter {
    fn report(&mut self, spans: SpanBatch) {
        let mut done: Vec<(TraceId, SpanId)> = Vec::new();
        for s in spans.iter() {
            if is_local_root(&s) {
                done.push((s.trace_id(), s.span_id()));
            }
            self.pending.entry(s.trace_id()).or_default().push(s);
        }
        for (trace_id, _) in done {
            if let Some(spans) = self.pending.remove(&trace_id) {
                self.print(trace_id, spans, true);
            }
        }
        let total: usize = self.pending.values().map(Vec::len).sum();
        if total > MAX_PENDING_SPANS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let pending: Vec<_> = self.pending.drain().collect();
        for (trace_id, spans) in pending {
            self.print(trace_id, spans, false);
        }
    }

    fn shutdown(&mut self, _deadline: std::time::Instant) {
        self.flush();
        self.print_table();
    }

    fn wants_metrics(&self) -> bool {
        self.table
    }
}

impl ConsoleReporter {
    /// The metrics table, at shutdown (a reporter replaced by another, or
    /// never installed, prints none).
    fn print_table(&mut self) {
        if !self.table {
            return;
        }
        // Set wherever metrics were switched on: only `TRACEKIT_METRICS=off`
        // keeps a reporter that asks for them from switching them on.
        let text = match crate::data::metrics::SNAPSHOT.get() {
            Some(snapshot) => snapshot().table(),
            None => "metrics table: none, metrics are off (TRACEKIT_METRICS=off)\n".to_owned(),
        };
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_duration;
    use std::time::Duration;

    #[test]
    fn a_duration_takes_its_unit_after_rounding() {
        let cases = [
            (500, "0.5µs"),
            (999, "1.0µs"),
            (1_000, "1.0µs"),
            (999_940, "999.9µs"),
            (999_960, "1.00ms"),
            (999_994_000, "999.99ms"),
            (999_996_000, "1.000s"),
        ];
        for (ns, text) in cases {
            assert_eq!(fmt_duration(Duration::from_nanos(ns)), text, "{ns} ns");
        }
    }
}
