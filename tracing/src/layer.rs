//! The layer: a `tracing` span becomes a tracekit span when it is created,
//! is made current on tracekit's per-thread stack while it is entered, and
//! finishes when it closes; `tracing` events become span events.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Debug;
use tracekit::{Context, ContextGuard, Event, Span, SpanContext, SpanKind, Status, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

/// A `tracing_subscriber::Layer` that records `tracing` spans and events in
/// tracekit's traces.
///
/// - A span gets the `tracing` span's name (or its `otel.name` field), its
///   fields as typed tags, `level` and `target` tags, and the kind given by
///   an `otel.kind` field (`server`, `client`, `producer`, `consumer`).
///   `otel.status_code = "ERROR"` (with `otel.status_message`) marks it as
///   an error.
/// - Its parent is the explicit `parent:` when one is given, else whatever
///   is current: the innermost tracekit span or entered `tracing` span.
/// - Events at or above [`event_level`](Self::event_level) (default `WARN`)
///   are recorded on the innermost span (named by their message, with
///   `level`, `target` and their fields), bounded by
///   [`tracekit::EVENT_LIMIT`].
///
/// Filter it as any layer: `TracekitLayer::new().with_filter(EnvFilter::new("tower_http=debug"))`
/// bridges only what the filter lets through.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry()
///     .with(tracekit_tracing::TracekitLayer::new().event_level(tracing::Level::INFO));
/// # drop(subscriber);
/// ```
#[derive(Clone, Debug)]
pub struct TracekitLayer {
    event_level: LevelFilter,
}

impl Default for TracekitLayer {
    fn default() -> Self {
        TracekitLayer::new()
    }
}

impl TracekitLayer {
    /// A layer recording spans, and events at `WARN` and `ERROR`.
    ///
    /// ```
    /// let layer = tracekit_tracing::TracekitLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> Self {
        TracekitLayer {
            event_level: LevelFilter::WARN,
        }
    }

    /// The least severe event level recorded as a span event
    /// (`LevelFilter::OFF` for none, `TRACE` for all).
    ///
    /// ```
    /// let layer = tracekit_tracing::TracekitLayer::new().event_level(tracing::Level::DEBUG);
    /// # drop(layer);
    /// ```
    pub fn event_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.event_level = level.into();
        self
    }
}

/// What the layer keeps in a `tracing` span's extensions.
struct Bridged {
    span: Span,
    cx: Option<SpanContext>,
}

thread_local! {
    /// The contexts this thread attached for entered `tracing` spans, innermost last.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

impl<S> tracing_subscriber::Layer<S> for TracekitLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = attrs.metadata();
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let name = match fields.name.take() {
            Some(name) => Cow::Owned(name),
            None => Cow::Borrowed(meta.name()),
        };
        let mut builder = Span::builder(name)
            .kind(fields.kind.unwrap_or_default())
            .tag("level", Value::from_static(level_name(meta.level())))
            .tag("target", Value::from_static(meta.target()));
        if attrs.is_root() {
            builder = builder.root();
        } else if let Some(parent) = attrs.parent() {
            // An explicit parent: its nearest bridged ancestor (a filter may
            // have left the parent itself out).
            let bridged = ctx.span(parent).and_then(|p| {
                p.scope()
                    .find_map(|s| s.extensions().get::<Bridged>().and_then(|b| b.cx.clone()))
            });
            if let Some(cx) = bridged {
                builder = builder.child_of(&cx);
            }
        }
        for (key, value) in fields.tags {
            builder = builder.tag(key, value);
        }
        let mut started = builder.start();
        if let Some(status) = fields.status.take() {
            started.set_status(status);
        }
        let cx = started.context();
        span.extensions_mut().insert(Bridged { span: started, cx });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else {
            return;
        };
        if !bridged.span.is_recording() {
            return;
        }
        let mut fields = Fields::default();
        values.record(&mut fields);
        for (key, value) in fields.tags {
            bridged.span.set_tag(key, value);
        }
        if let Some(status) = fields.status {
            bridged.span.set_status(status);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let Some(cause) = ctx
            .span(follows)
            .and_then(|s| s.extensions().get::<Bridged>().and_then(|b| b.cx.clone()))
        else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            if let Some(bridged) = span.extensions_mut().get_mut::<Bridged>() {
                bridged.span.add_follows_from(&cause);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(cx) = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<Bridged>().and_then(|b| b.cx.clone()))
        else {
            return;
        };
        let guard = Context::from_span_context(cx).attach_open_span();
        // A thread being torn down has no stack left to keep the guard on;
        // dropping it at once detaches the context again.
        let _ = ENTERED.try_with(|entered| entered.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let guard = ENTERED
            .try_with(|entered| {
                let mut entered = entered.borrow_mut();
                let at = entered.iter().rposition(|(entered, _)| entered == id)?;
                Some(entered.remove(at).1)
            })
            .ok()
            .flatten();
        // Dropped outside the borrow: detaching calls into tracekit.
        drop(guard);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let bridged = ctx
            .span(&id)
            .and_then(|s| s.extensions_mut().remove::<Bridged>());
        drop(bridged);
    }

    fn on_event(&self, event: &tracing_core::Event<'_>, ctx: LayerContext<'_, S>) {
        let meta = event.metadata();
        if self.event_level < *meta.level() {
            return;
        }
        // The span the event belongs to: its explicit parent's, or the
        // innermost current one (a tracekit span started inside the entered
        // `tracing` span is more inner than that span).
        let owner = if event.is_root() {
            return;
        } else if let Some(parent) = event.parent() {
            ctx.span(parent)
        } else {
            ctx.lookup_current().filter(|s| {
                let current = tracekit::current_span().context().map(|c| c.span_id());
                let bridged = s
                    .extensions()
                    .get::<Bridged>()
                    .and_then(|b| b.cx.as_ref().map(|c| c.span_id()));
                bridged.is_some() && bridged == current
            })
        };
        let recording = match &owner {
            Some(span) => span
                .extensions()
                .get::<Bridged>()
                .is_some_and(|b| b.span.is_recording()),
            None => tracekit::current_span().is_recording(),
        };
        if !recording {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let record = event_of(meta, fields);
        match owner {
            Some(span) => {
                if let Some(bridged) = span.extensions_mut().get_mut::<Bridged>() {
                    bridged.span.record_event(record);
                }
            }
            None => tracekit::current_span().record_event(record),
        }
    }
}

/// An event as a span event: named by its message, with `level`, `target`
/// and its fields.
fn event_of(meta: &'static Metadata<'static>, fields: Fields) -> Event {
    let name = fields.message.unwrap_or_else(|| meta.name().to_owned());
    let event = Event::new(name)
        .with_field("level", Value::from_static(level_name(meta.level())))
        .with_field("target", Value::from_static(meta.target()));
    fields
        .tags
        .into_iter()
        .fold(event, |event, (key, value)| event.with_field(key, value))
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// The fields of a span or event as tracekit values, with the names
/// OpenTelemetry's bridges give a meaning taken out.
#[derive(Default)]
struct Fields {
    tags: Vec<(&'static str, Value)>,
    message: Option<String>,
    name: Option<String>,
    kind: Option<SpanKind>,
    status: Option<Status>,
    status_message: Option<String>,
}

impl Fields {
    fn text(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = Some(text),
            "otel.name" => self.name = Some(text),
            "otel.kind" => self.kind = kind_of(&text),
            "otel.status_message" => {
                if let Some(Status::Error { description }) = &mut self.status {
                    *description = Cow::Owned(text);
                } else {
                    self.status_message = Some(text);
                }
            }
            "otel.status_code" => {
                self.status = match text.to_ascii_uppercase().as_str() {
                    "ERROR" => Some(Status::error(
                        self.status_message
                            .take()
                            .unwrap_or_else(|| "error".to_owned()),
                    )),
                    "OK" => Some(Status::Ok),
                    _ => None,
                }
            }
            name => self.tags.push((name, Value::from(text))),
        }
    }
}

fn kind_of(text: &str) -> Option<SpanKind> {
    Some(match text.to_ascii_lowercase().as_str() {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.tags.push((field.name(), Value::F64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.tags.push((field.name(), Value::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.tags.push((field.name(), Value::U64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.tags.push((field.name(), Value::Bool(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.text(field, format!("{value:?}"));
    }
}
