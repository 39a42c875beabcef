//! Log lines that carry the trace: a [`log::Log`] wrapper around any logger
//! (`env_logger`, `simple_logger`, your own) that adds the current tracekit
//! span's `trace_id` and `span_id`, and chosen baggage items (by default the
//! request id, `request.id`), to every record logged inside a span, as
//! `log` key-values; and that records warnings and errors logged inside a
//! sampled span as events on that span, so they show in Jaeger beside the
//! call that logged them.
//!
//! ```
//! use log::LevelFilter;
//!
//! tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr())
//!     .install(LevelFilter::Info)
//!     .unwrap();
//!
//! let span = tracekit::start_active_span("checkout");
//! span.set_baggage_item("request.id", "r-1001");
//! log::info!("reserving stock");
//! // 2026-11-23T10:00:00.000Z INFO  rust_out: reserving stock trace_id=… span_id=… request.id=r-1001
//! ```
//!
//! Outside any span a record goes to the inner logger untouched. A span that
//! is not sampled still stamps its ids (they propagate to other services, so
//! log lines line up with traces even when the traces are sampled out); only
//! the span events need a sampled span.

#![warn(missing_docs)]

mod filter;
mod text;

use log::kv::{self, Key, Source, VisitSource};
use log::{LevelFilter, Log, Metadata, Record, SetLoggerError};
use std::borrow::Cow;
use std::io::Write as _;
use tracekit::{Event, SpanContext, SpanId, TraceId, Value};

pub use text::{KeyValues, TextLogger, format};

/// The logger most programs want, in one call: plain-text lines on stderr
/// with the time, level, target, message and every key-value (so the
/// trace id, span id and request id of the span a line was logged in),
/// filtered as `RUST_LOG` says, `info` and above when it is unset; and
/// tracekit's own messages (a bad setting, a backend down) as records of
/// target `tracekit` among them. Fails when a logger is installed already.
///
/// ```no_run
/// tracekit_log::init().expect("the first logger");
/// log::info!("listening"); // 2026-12-06T10:00:00.000Z INFO  app: listening
/// ```
pub fn init() -> Result<(), SetLoggerError> {
    let inner = TextLogger::from_env();
    let level = inner.max_level();
    TraceLogger::new(inner).install(level)
}

/// [`init`] with `env_logger` (feature `env_logger`): its `RUST_LOG`
/// filter (`info` and above when unset), tracekit's line format, so the
/// ids are printed whether or not env_logger's own `kv` feature is on.
///
/// ```no_run
/// tracekit_log::init_env_logger().expect("the first logger");
/// ```
#[cfg(feature = "env_logger")]
pub fn init_env_logger() -> Result<(), SetLoggerError> {
    let inner = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| format(buf, record))
        .build();
    let level = inner.filter();
    TraceLogger::new(inner).install(level)
}

/// tracekit's own messages as `log` records of target `tracekit`, at
/// `Warn` and `Debug`; set by [`TraceLogger::install`].
struct LogDiagnostics;

impl LogDiagnostics {
    fn level(level: tracekit::DiagnosticLevel) -> log::Level {
        match level {
            tracekit::DiagnosticLevel::Warn => log::Level::Warn,
            tracekit::DiagnosticLevel::Debug => log::Level::Debug,
        }
    }
}

impl tracekit::Diagnostics for LogDiagnostics {
    fn enabled(&self, level: tracekit::DiagnosticLevel) -> bool {
        log::log_enabled!(target: "tracekit", Self::level(level))
    }

    fn message(&self, level: tracekit::DiagnosticLevel, message: &std::fmt::Arguments<'_>) {
        log::log!(target: "tracekit", Self::level(level), "{message}");
    }
}

/// A [`log::Log`] that stamps records logged inside a tracekit span with
/// the span's ids and baggage, records them as span events at or above a
/// level, and hands them to the logger it wraps.
///
/// ```
/// use log::LevelFilter;
/// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr())
///     .baggage_keys(["request.id", "tenant"])
///     .event_level(LevelFilter::Info);
/// # drop(logger);
/// ```
pub struct TraceLogger<L> {
    inner: L,
    baggage_keys: Vec<String>,
    event_level: LevelFilter,
}

impl<L: Log> TraceLogger<L> {
    /// Wraps `inner`: stamps `trace_id`, `span_id` and `request.id`; records
    /// warnings and errors as span events.
    ///
    /// ```
    /// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr());
    /// # drop(logger);
    /// ```
    pub fn new(inner: L) -> Self {
        TraceLogger {
            inner,
            baggage_keys: vec![tracekit::http::REQUEST_ID_KEY.to_owned()],
            event_level: LevelFilter::Warn,
        }
    }

    /// The baggage items stamped on each record (instead of `request.id`),
    /// under their baggage keys; an item the span does not have is left out.
    ///
    /// ```
    /// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr())
    ///     .baggage_keys(["request.id", "user.id"]);
    /// # drop(logger);
    /// ```
    pub fn baggage_keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.baggage_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The least severe level recorded as a span event (default `Warn`;
    /// `Off` records none, `Trace` every record). Events past
    /// [`tracekit::EVENT_LIMIT`] on one span are counted as dropped.
    ///
    /// ```
    /// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr())
    ///     .event_level(log::LevelFilter::Debug);
    /// # drop(logger);
    /// ```
    pub fn event_level(mut self, level: LevelFilter) -> Self {
        self.event_level = level;
        self
    }

    /// The wrapped logger.
    ///
    /// ```
    /// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr());
    /// let _inner: &tracekit_log::TextLogger = logger.inner();
    /// ```
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Installs this logger as `log`'s global logger and sets `log`'s
    /// maximum level to `max_level` (or to the event level, if that is more
    /// verbose, so span events are not filtered out before they arrive).
    /// tracekit's own messages go to it from then on, as records of target
    /// `tracekit` (see [`tracekit::set_diagnostics`]). When the wrapped
    /// logger itself lets less through than `max_level` for targets its
    /// filter does not name (`env_logger` without `RUST_LOG` keeps only
    /// errors), that is said on stderr: the lines would be missing, not
    /// their ids.
    ///
    /// ```
    /// let logger = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr());
    /// logger.install(log::LevelFilter::Info).unwrap();
    /// // A second logger is refused, as `log` refuses it:
    /// let again = tracekit_log::TraceLogger::new(tracekit_log::TextLogger::stderr());
    /// assert!(again.install(log::LevelFilter::Info).is_err());
    /// ```
    pub fn install(self, max_level: LevelFilter) -> Result<(), SetLoggerError>
    where
        L: Send + Sync + 'static,
    {
        let level = max_level.max(self.event_level);
        if let Some(wanted) = max_level.to_level() {
            let probe = Metadata::builder().level(wanted).target("").build();
            if !self.inner.enabled(&probe) {
                let _ = writeln!(
                    std::io::stderr(),
                    "tracekit-log: installed for {wanted} records, but the wrapped logger \
                     drops them for targets its filter does not name (env_logger without \
                     RUST_LOG keeps only errors): set RUST_LOG, or its builder's filter_level"
                );
            }
        }
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(level);
        // A program whose diagnostics already go elsewhere keeps them there.
        let _ = tracekit::set_diagnostics(LogDiagnostics);
        Ok(())
    }

    fn records_events(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.event_level && tracekit::current_span().is_recording()
    }
}

impl<L: Log> Log for TraceLogger<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata) || self.records_events(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let Some(cx) = tracekit::current_span().context() else {
            if self.inner.enabled(record.metadata()) {
                self.inner.log(record);
            }
            return;
        };
        if self.records_events(record.metadata()) {
            tracekit::current_span().record_event(event_of(record));
        }
        if self.inner.enabled(record.metadata()) {
            let stamped = Stamped {
                trace_id: cx.trace_id(),
                span_id: cx.span_id(),
                items: baggage_items(&cx, &self.baggage_keys),
                rest: record.key_values(),
            };
            self.inner
                .log(&record.to_builder().key_values(&stamped).build());
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// A record's own key-values followed by the span's ids and baggage items.
struct Stamped<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    items: Vec<(&'a str, Cow<'a, str>)>,
    rest: &'a dyn Source,
}

/// The chosen baggage items of `cx`. Baggage comes from peers: a value with
/// control characters is written escaped and quoted, so it cannot forge a
/// log line.
fn baggage_items<'a>(cx: &'a SpanContext, keys: &'a [String]) -> Vec<(&'a str, Cow<'a, str>)> {
    keys.iter()
        .filter_map(|key| {
            let value = cx.baggage_item(key)?;
            let value = match value.contains(char::is_control) {
                true => Cow::Owned(format!("{value:?}")),
                false => Cow::Borrowed(value),
            };
            Some((key.as_str(), value))
        })
        .collect()
}

impl Source for Stamped<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        self.rest.visit(visitor)?;
        visitor.visit_pair(
            Key::from("trace_id"),
            kv::Value::from_display(&self.trace_id),
        )?;
        visitor.visit_pair(Key::from("span_id"), kv::Value::from_display(&self.span_id))?;
        for (key, value) in &self.items {
            visitor.visit_pair(Key::from(*key), kv::Value::from(value.as_ref()))?;
        }
        Ok(())
    }
}

/// A record as a span event: named by its message, with `level`, `target`
/// and its key-values as typed fields.
fn event_of(record: &Record<'_>) -> Event {
    let name: Cow<'static, str> = match record.args().as_str() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(record.args().to_string()),
    };
    let event = Event::new(name)
        .with_field("level", record.level().as_str())
        .with_field("target", record.target().to_owned());
    let mut fields = Fields(Vec::new());
    // A key-value that fails to visit is left out; the event keeps the rest.
    let _ = record.key_values().visit(&mut fields);
    fields
        .0
        .into_iter()
        .fold(event, |event, (k, v)| event.with_field(k, v))
}

struct Fields(Vec<(String, Value)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let value = if let Some(v) = value.to_bool() {
            Value::Bool(v)
        } else if let Some(v) = value.to_i64() {
            Value::I64(v)
        } else if let Some(v) = value.to_u64() {
            Value::U64(v)
        } else if let Some(v) = value.to_f64() {
            Value::F64(v)
        } else if let Some(v) = value.to_borrowed_str() {
            Value::from(v.to_owned())
        } else {
            Value::from(value.to_string())
        };
        self.0.push((key.as_str().to_owned(), value));
        Ok(())
    }
}
