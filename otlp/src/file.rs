//! OTLP JSON lines in a file: one `ExportTraceServiceRequest` a line, for CI
//! artifacts and offline viewing (the OpenTelemetry Collector's file
//! exporter writes the same form).

use crate::encode::{self, SpanLimits};
use crate::resource::Resource;
use crate::{json, proto};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;
use tracekit::{ExportError, Exporter, SpanRecord};

/// Appends each batch to a file as one line of OTLP JSON.
///
/// ```
/// let path = std::env::temp_dir().join(format!("tracekit-doc-{}.jsonl", std::process::id()));
/// let file = tracekit_otlp::FileExporter::create(&path, tracekit_otlp::Resource::new("doc")).unwrap();
/// {
///     let _guard = tracekit::set_reporter(tracekit::BatchReporter::new(file, Default::default()));
///     let _span = tracekit::start_active_span("job");
/// }
/// let text = std::fs::read_to_string(&path).unwrap();
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(text.starts_with("{\"resourceSpans\""));
/// # std::fs::remove_file(path).unwrap();
/// ```
pub struct FileExporter {
    out: BufWriter<File>,
    resource: proto::Resource,
    limits: SpanLimits,
}

impl FileExporter {
    /// Creates (or truncates) the file.
    ///
    /// ```no_run
    /// let f = tracekit_otlp::FileExporter::create("traces.jsonl", tracekit_otlp::Resource::from_env())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, resource: Resource) -> std::io::Result<FileExporter> {
        Ok(FileExporter {
            out: BufWriter::new(File::create(path)?),
            resource: encode::resource(&resource),
            limits: SpanLimits::default(),
        })
    }
}

impl Exporter for FileExporter {
    fn export(&mut self, batch: Vec<SpanRecord>, _deadline: Instant) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let line = json::body(&self.resource, &self.limits, &batch);
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(|e| ExportError::new(format!("writing spans to the file: {e}")))
    }
}
