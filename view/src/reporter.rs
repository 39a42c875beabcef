//! A reporter that writes the HTML page of every span it was given when it
//! is dropped (the reporter guard's drop or `shutdown()`), and on `flush`.

use crate::model::{Attr, TraceData, ViewResource};
use crate::page::render_html;
use std::io;
use std::path::{Path, PathBuf};
use tracekit::{Reporter, SpanBatch};

/// Past this many spans a page gets slow to load; later spans are counted
/// and left out, and the page says how many.
pub const MAX_SPANS: usize = 1_000_000;

/// Writes an HTML waterfall of the spans it receives to a file.
///
/// ```
/// let path = std::env::temp_dir().join("tracekit-doc-trace.html");
/// {
///     let _guard = tracekit::set_reporter(tracekit_view::HtmlReporter::to_file(&path)?);
///     let _span = tracekit::start_active_span("job");
/// }
/// let page = std::fs::read_to_string(&path)?;
/// # if !tracekit::TRACE_ALL { return Ok(()); } // tracing compiled out: nothing to show
/// assert!(page.contains("job"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct HtmlReporter {
    path: PathBuf,
    resource: ViewResource,
    data: TraceData,
    dropped: u64,
    dirty: bool,
}

impl HtmlReporter {
    /// Writes to `path`. The file is created now, so a path that cannot be
    /// written fails here rather than silently at exit; the page is written
    /// when the reporter is flushed or dropped.
    ///
    /// ```no_run
    /// let _guard = tracekit::set_reporter(tracekit_view::HtmlReporter::to_file("trace.html")?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_file(path: impl AsRef<Path>) -> io::Result<HtmlReporter> {
        let path = path.as_ref().to_path_buf();
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown_service".to_owned());
        let reporter = HtmlReporter {
            path,
            resource: ViewResource {
                attrs: vec![
                    Attr::new("service.name", service, 's'),
                    Attr::new("telemetry.sdk.name", "tracekit", 's'),
                ],
            },
            data: TraceData::default(),
            dropped: 0,
            dirty: true,
        };
        std::fs::write(&reporter.path, reporter.page())?;
        Ok(reporter)
    }

    /// The `service.name` the page shows (default: `OTEL_SERVICE_NAME`).
    ///
    /// ```no_run
    /// let r = tracekit_view::HtmlReporter::to_file("trace.html")?.with_service_name("checkout");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_service_name(mut self, name: impl Into<String>) -> HtmlReporter {
        self.resource.attrs[0] = Attr::new("service.name", name, 's');
        self
    }

    fn page(&self) -> String {
        let mut data = self.data.clone();
        if self.dropped > 0 {
            data.warnings.push(format!(
                "{} spans past the first {MAX_SPANS} were left out",
                self.dropped
            ));
        }
        render_html(&data, &self.path.display().to_string())
    }

    fn write(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Err(e) = std::fs::write(&self.path, self.page()) {
            eprintln!("tracekit-view: cannot write {}: {e}", self.path.display());
        }
    }
}

impl Reporter for HtmlReporter {
    fn report(&mut self, spans: SpanBatch) {
        let room = MAX_SPANS.saturating_sub(self.data.spans.len());
        let n = spans.len();
        crate::records::add(&mut self.data, &self.resource, spans.views().take(room));
        self.dropped += n.saturating_sub(room) as u64;
        self.dirty = true;
    }

    fn flush(&mut self) {
        self.write();
    }
}

impl Drop for HtmlReporter {
    fn drop(&mut self) {
        self.write();
    }
}
