//! See a trace without a backend: a self-contained HTML waterfall, a
//! Perfetto (Chrome trace-event) export, and the `tracekit-view` CLI that
//! makes either from an OTLP JSON file.
//!
//! ```no_run
//! // The spans of this process, as a page written when the guard drops:
//! let _guard = tracekit::set_reporter(tracekit_view::HtmlReporter::to_file("trace.html")?);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! From a file `FileExporter` wrote (or any OTLP JSON):
//! `cargo run -p tracekit-view -- traces.jsonl -o trace.html`, or
//! `--format perfetto -o trace.json` for <https://ui.perfetto.dev>.

#![warn(missing_docs)]

mod model;
mod otlp_json;
mod page;
mod perfetto;
mod records;
mod reporter;

pub use model::{Attr, SpanEvent, SpanLink, TraceData, ViewResource, ViewScope, ViewSpan};
pub use otlp_json::{ReadError, read_otlp_json};
pub use page::render_html;
pub use perfetto::render_perfetto;
pub use reporter::{HtmlReporter, MAX_SPANS};

/// The spans of a finished batch in the viewer's model, as
/// [`HtmlReporter`] records them (for tests and tools that build pages).
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
/// let data = tracekit_view::from_records(c.spans(), "svc");
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(data.spans[0].name, "a");
/// ```
pub fn from_records(spans: &[tracekit::SpanRecord], service_name: &str) -> TraceData {
    let mut data = TraceData::default();
    let resource = ViewResource {
        attrs: vec![Attr::new("service.name", service_name, 's')],
    };
    records::add(&mut data, &resource, spans.iter().map(|s| s.view()));
    data
}
