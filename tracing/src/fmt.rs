//! Trace ids on `tracing_subscriber::fmt` lines: a wrapper around any event
//! format that adds the current tracekit span's ids to what it writes.

use std::fmt;
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event format that writes `trace_id`, `span_id` and chosen baggage
/// items (default `request.id`) of the current tracekit span on every line
/// written inside a span: appended as ` trace_id=…` to a text line, or as
/// top-level members of a JSON line (`{"trace_id":"…",…}`). Outside any
/// span the line is the inner format's, unchanged.
///
/// Lines are formatted into a buffer first, so ANSI colours are off for the
/// formats it wraps.
///
/// ```
/// use tracing_subscriber::fmt::format;
/// let text = tracing_subscriber::fmt()
///     .event_format(tracekit_tracing::WithTraceIds::new(format().with_ansi(false)));
/// let json = tracing_subscriber::fmt()
///     .event_format(tracekit_tracing::WithTraceIds::new(format().json()));
/// # drop((text, json));
/// ```
#[derive(Clone, Debug)]
pub struct WithTraceIds<F> {
    inner: F,
    baggage_keys: Vec<String>,
}

impl<F> WithTraceIds<F> {
    /// Wraps `inner`, stamping `trace_id`, `span_id` and `request.id`.
    ///
    /// ```
    /// let f = tracekit_tracing::WithTraceIds::new(tracing_subscriber::fmt::format());
    /// # drop(f);
    /// ```
    pub fn new(inner: F) -> Self {
        WithTraceIds {
            inner,
            baggage_keys: vec![tracekit::http::REQUEST_ID_KEY.to_owned()],
        }
    }

    /// The baggage items stamped (instead of `request.id`).
    ///
    /// ```
    /// let f = tracekit_tracing::WithTraceIds::new(tracing_subscriber::fmt::format())
    ///     .baggage_keys(["request.id", "tenant"]);
    /// # drop(f);
    /// ```
    pub fn baggage_keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.baggage_keys = keys.into_iter().map(Into::into).collect();
        self
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(cx) = tracekit::current_span().context() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let items = self
            .baggage_keys
            .iter()
            .filter_map(|k| cx.baggage_item(k).map(|v| (k.as_str(), v)));
        if let Some(rest) = line.strip_prefix('{') {
            // JSON: the ids become the object's first members.
            write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                cx.trace_id(),
                cx.span_id()
            )?;
            for (key, value) in items {
                writer.write_char(',')?;
                json_string(&mut writer, key)?;
                writer.write_char(':')?;
                json_string(&mut writer, value)?;
            }
            if !rest.starts_with('}') {
                writer.write_char(',')?;
            }
            writer.write_str(rest)
        } else {
            // Text: the ids go at the end of the line, before its newline.
            let body = line.strip_suffix('\n').unwrap_or(&line);
            write!(
                writer,
                "{body} trace_id={} span_id={}",
                cx.trace_id(),
                cx.span_id()
            )?;
            for (key, value) in items {
                if value.is_empty()
                    || value.contains(|c: char| {
                        c.is_whitespace() || c.is_control() || c == '"' || c == '='
                    })
                {
                    write!(writer, " {key}={value:?}")?;
                } else {
                    write!(writer, " {key}={value}")?;
                }
            }
            if body.len() < line.len() {
                writer.write_char('\n')?;
            }
            Ok(())
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(out: &mut Writer<'_>, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}
