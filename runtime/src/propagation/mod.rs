//! Cross-process propagation: a span context (and its baggage) written into
//! request or message headers by one process and read back by the next, so
//! both land in one trace.
//!
//! Formats: W3C Trace Context and W3C Baggage (the default), Jaeger, and B3
//! single and multi header. Choose them in code with [`Propagators`] or with
//! the standard `OTEL_PROPAGATORS` variable.
//!
//! ```
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! use std::collections::HashMap;
//! use tracekit::{Span, propagation};
//!
//! // Service A: inject the active span's context into the outgoing headers.
//! let span = tracekit::start_active_span("call backend");
//! span.set_baggage_item("request.id", "r-17");
//! let mut headers = HashMap::new();
//! propagation::inject(&mut headers);
//! drop(span);
//!
//! // Service B: extract it and start the server span as its child.
//! let parent = propagation::extract(&headers).expect("a valid parent");
//! let server = Span::builder("GET /users").child_of(&parent).start();
//! assert_eq!(server.context().unwrap().trace_id(), parent.trace_id());
//! assert_eq!(parent.baggage_item("request.id"), Some("r-17"));
//! ```

mod b3;
mod baggage;
mod carrier;
mod jaeger;
mod w3c;

pub use carrier::{Extractor, Injector};

pub(crate) use w3c::trace_flags as w3c_trace_flags;

use crate::api::context::current_span;
use crate::api::span_builder::SpanBuilder;
use crate::data::baggage::Baggage;
use crate::data::id::{SpanId, TraceId};
use crate::data::span_context::SpanContext;
use std::fmt;
use std::sync::{Arc, RwLock};

/// One propagation format.
///
/// ```
/// assert_eq!(tracekit::propagation::Format::B3Multi.name(), "b3multi");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// B3 single header `b3`.
    B3,
    /// B3 multi headers `x-b3-*`.
    B3Multi,
    /// Jaeger `uber-trace-id`, `uberctx-*` baggage and `jaeger-debug-id`.
    Jaeger,
}

impl Format {
    /// The name `OTEL_PROPAGATORS` uses.
    ///
    /// ```
    /// assert_eq!(tracekit::propagation::Format::TraceContext.name(), "tracecontext");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Format::TraceContext => "tracecontext",
            Format::Baggage => "baggage",
            Format::B3 => "b3",
            Format::B3Multi => "b3multi",
            Format::Jaeger => "jaeger",
        }
    }

    fn inject(self, cx: &SpanContext, carrier: &mut dyn Injector) {
        match self {
            Format::TraceContext => w3c::inject(cx, carrier),
            Format::Baggage => baggage::inject(cx.baggage(), carrier),
            Format::B3 => b3::inject_single(cx, carrier),
            Format::B3Multi => b3::inject_multi(cx, carrier),
            Format::Jaeger => jaeger::inject(cx, carrier),
        }
    }

    fn extract(self, carrier: &dyn Extractor, found: &mut Extracted) -> Result<(), ExtractError> {
        match self {
            Format::TraceContext => w3c::extract(carrier, found),
            Format::Baggage => baggage::extract(carrier, found),
            Format::B3 => b3::extract_single(carrier, found),
            Format::B3Multi => b3::extract_multi(carrier, found),
            Format::Jaeger => jaeger::extract(carrier, found),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        let all = [
            Format::TraceContext,
            Format::Baggage,
            Format::B3,
            Format::B3Multi,
            Format::Jaeger,
        ];
        let s = s.trim();
        all.into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A propagator name that is not one of `tracecontext`, `baggage`, `b3`,
/// `b3multi`, `jaeger`, `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown propagator {:?}; expected tracecontext, baggage, b3, b3multi, jaeger or none",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

/// Why no parent context was extracted. Extraction never fails a request:
/// [`Propagators::extract`] gives `None` and the server span starts a new
/// trace; [`Propagators::try_extract`] says why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractError {
    /// The header is not there.
    Missing(&'static str),
    /// The header came more than once where only one is allowed.
    Repeated(&'static str),
    /// The header is there but breaks its format.
    Malformed {
        /// The header.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No propagator is configured (`OTEL_PROPAGATORS=none`).
    Disabled,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Missing(h) => write!(f, "no `{h}` header"),
            ExtractError::Repeated(h) => write!(f, "`{h}` header repeated"),
            ExtractError::Malformed { field, reason } => write!(f, "malformed `{field}`: {reason}"),
            ExtractError::Disabled => f.write_str("propagation is disabled"),
        }
    }
}

impl std::error::Error for ExtractError {}

/// What the formats found so far, merged in order.
#[derive(Default)]
pub(crate) struct Extracted {
    ids: Option<(TraceId, SpanId, u8, Option<Box<str>>)>,
    baggage: Baggage,
}

impl Extracted {
    pub(crate) fn set_ids(
        &mut self,
        trace: TraceId,
        span: SpanId,
        mut flags: u8,
        state: Option<Box<str>>,
    ) {
        // Only `traceparent` says whether a trace id is random; a later
        // format naming the same trace takes over the ids, not that fact.
        if let Some((_, _, earlier, _)) = self.ids.as_ref().filter(|ids| ids.0 == trace) {
            flags |= earlier & crate::data::raw::RANDOM;
        }
        self.ids = Some((trace, span, flags, state));
    }

    pub(crate) fn baggage_mut(&mut self) -> &mut Baggage {
        &mut self.baggage
    }
}

/// The formats in use, in order: injection writes every one; extraction
/// reads every one, a later format's ids replacing an earlier one's and
/// baggage merging.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// use tracekit::propagation::{Format, Propagators};
/// let p = Propagators::new([Format::TraceContext, Format::B3Multi]);
/// let cx = tracekit::Span::start("a").context().unwrap();
/// let mut headers = Vec::new();
/// p.inject_context(&cx, &mut headers);
/// assert!(headers.iter().any(|(k, _)| k == "traceparent"));
/// assert!(headers.iter().any(|(k, _)| k == "x-b3-traceid"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Propagators {
    formats: Vec<Format>,
}

impl Default for Propagators {
    /// W3C Trace Context then W3C Baggage, as OpenTelemetry's default.
    fn default() -> Propagators {
        Propagators::new([Format::TraceContext, Format::Baggage])
    }
}

impl Propagators {
    /// These formats, in this order.
    ///
    /// ```
    /// let p = tracekit::propagation::Propagators::new([tracekit::propagation::Format::Jaeger]);
    /// assert_eq!(p.formats(), [tracekit::propagation::Format::Jaeger]);
    /// ```
    pub fn new(formats: impl IntoIterator<Item = Format>) -> Propagators {
        let mut list: Vec<Format> = Vec::new();
        for f in formats {
            if !list.contains(&f) {
                list.push(f);
            }
        }
        Propagators { formats: list }
    }

    /// No propagation at all.
    ///
    /// ```
    /// assert!(tracekit::propagation::Propagators::none().formats().is_empty());
    /// ```
    pub fn none() -> Propagators {
        Propagators {
            formats: Vec::new(),
        }
    }

    /// The formats, in order.
    ///
    /// ```
    /// assert_eq!(tracekit::propagation::Propagators::default().formats().len(), 2);
    /// ```
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// Parses an `OTEL_PROPAGATORS` value: comma-separated names. An empty
    /// value gives the default; `none` alone disables propagation.
    ///
    /// ```
    /// use tracekit::propagation::{Format, Propagators};
    /// let p = Propagators::parse("b3multi, jaeger").unwrap();
    /// assert_eq!(p.formats(), [Format::B3Multi, Format::Jaeger]);
    /// assert!(Propagators::parse("xray").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Propagators, UnknownFormat> {
        let names: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Propagators::default());
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case("none")) {
            return Ok(Propagators::none());
        }
        names
            .into_iter()
            .map(str::parse)
            .collect::<Result<Vec<Format>, _>>()
            .map(Propagators::new)
    }

    /// From `OTEL_PROPAGATORS`: unknown names are left out with a warning on
    /// stderr, and an unset variable gives the default.
    ///
    /// ```
    /// let p = tracekit::propagation::Propagators::from_env();
    /// # let _ = p;
    /// ```
    pub fn from_env() -> Propagators {
        let Ok(value) = std::env::var("OTEL_PROPAGATORS") else {
            return Propagators::default();
        };
        match Propagators::parse(&value) {
            Ok(p) => p,
            Err(_) => {
                let known: Vec<Format> = value
                    .split(',')
                    .filter_map(|n| match n.parse::<Format>() {
                        Ok(f) => Some(f),
                        Err(e) => {
                            if !n.trim().is_empty() {
                                crate::data::diag::warn(format_args!(
                                    "OTEL_PROPAGATORS: {e}; ignored"
                                ));
                            }
                            None
                        }
                    })
                    .collect();
                Propagators::new(known)
            }
        }
    }

    /// Writes `cx` into `carrier` in every format.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::from_u128(1).unwrap(), SpanId::from_u64(2).unwrap(), true);
    /// let mut headers = std::collections::HashMap::new();
    /// tracekit::propagation::Propagators::default().inject_context(&cx, &mut headers);
    /// assert_eq!(headers["traceparent"], "00-00000000000000000000000000000001-0000000000000002-01");
    /// ```
    pub fn inject_context(&self, cx: &SpanContext, carrier: &mut dyn Injector) {
        for f in &self.formats {
            f.inject(cx, carrier);
        }
    }

    /// Reads a remote parent from `carrier`; `None` when there is none or it
    /// is malformed, so the caller starts a new trace.
    ///
    /// ```
    /// let headers = vec![("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned())];
    /// let cx = tracekit::propagation::Propagators::default().extract(&headers).unwrap();
    /// assert!(cx.is_remote() && cx.is_sampled());
    /// ```
    pub fn extract(&self, carrier: &dyn Extractor) -> Option<SpanContext> {
        self.try_extract(carrier).ok()
    }

    /// Like [`extract`](Self::extract), saying why there is no parent.
    ///
    /// ```
    /// use tracekit::propagation::{ExtractError, Propagators};
    /// let headers = vec![("traceparent".to_owned(), "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01".to_owned())];
    /// let err = Propagators::default().try_extract(&headers).unwrap_err();
    /// assert!(matches!(err, ExtractError::Malformed { field: "traceparent", .. }));
    /// ```
    pub fn try_extract(&self, carrier: &dyn Extractor) -> Result<SpanContext, ExtractError> {
        let mut found = Extracted::default();
        // The reason to report: a malformed header beats a missing one.
        let (mut malformed, mut missing) = (None, None);
        for f in &self.formats {
            // A format that finds nothing (or garbage) leaves the others' result alone.
            match f.extract(carrier, &mut found) {
                Ok(()) => {}
                Err(ExtractError::Missing(h)) => {
                    if *f != Format::Baggage {
                        missing.get_or_insert(ExtractError::Missing(h));
                    }
                }
                Err(e) => {
                    malformed.get_or_insert(e);
                }
            }
        }
        match found.ids {
            Some((trace_id, span_id, flags, state)) => {
                let mut cx =
                    SpanContext::remote(trace_id, span_id, flags & crate::data::raw::SAMPLED != 0)
                        .with_debug(flags & crate::data::raw::DEBUG != 0)
                        .with_random(flags & crate::data::raw::RANDOM != 0);
                cx.inherited = crate::data::raw::Inherited {
                    baggage: found.baggage,
                    trace_state: state,
                }
                .shared();
                Ok(cx)
            }
            None if self.formats.is_empty() => Err(ExtractError::Disabled),
            None => Err(malformed
                .or(missing)
                .unwrap_or(ExtractError::Missing(w3c::TRACEPARENT))),
        }
    }
}

fn global() -> &'static RwLock<Arc<Propagators>> {
    static GLOBAL: once_cell::sync::OnceCell<RwLock<Arc<Propagators>>> =
        once_cell::sync::OnceCell::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Propagators::from_env())))
}

fn current() -> Arc<Propagators> {
    match global().read() {
        Ok(p) => Arc::clone(&p),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}

/// Sets the formats [`inject`] and [`extract`] use (by default
/// `OTEL_PROPAGATORS`, or W3C Trace Context and Baggage).
///
/// ```
/// use tracekit::propagation::{self, Format, Propagators};
/// propagation::set_propagators(Propagators::new([Format::TraceContext, Format::Baggage]));
/// ```
pub fn set_propagators(propagators: Propagators) {
    let mut slot = match global().write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    *slot = Arc::new(propagators);
}

/// Writes the active span's context into `carrier` with the configured
/// formats; nothing when no span is active.
///
/// ```
/// let _span = tracekit::start_active_span("client call");
/// let mut headers = std::collections::HashMap::new();
/// tracekit::propagation::inject(&mut headers);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(headers.contains_key("traceparent"));
/// ```
pub fn inject(carrier: &mut dyn Injector) {
    if let Some(cx) = current_span().context() {
        current().inject_context(&cx, carrier);
    }
}

/// Writes `cx` into `carrier` with the configured formats.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let cx = tracekit::Span::start("a").context().unwrap();
/// let mut headers = std::collections::BTreeMap::new();
/// tracekit::propagation::inject_context(&cx, &mut headers);
/// assert!(headers.contains_key("traceparent"));
/// ```
pub fn inject_context(cx: &SpanContext, carrier: &mut dyn Injector) {
    current().inject_context(cx, carrier);
}

/// Reads a remote parent from `carrier` with the configured formats; `None`
/// (start a new trace) when it is missing or malformed.
///
/// ```
/// let headers: Vec<(String, String)> = Vec::new();
/// assert!(tracekit::propagation::extract(&headers).is_none());
/// ```
pub fn extract(carrier: &dyn Extractor) -> Option<SpanContext> {
    match current().try_extract(carrier) {
        Ok(cx) => Some(cx),
        Err(e) => {
            debug_log(&e);
            None
        }
    }
}

/// Sets the parent of a span that starts where a request or message comes
/// in: the remote context the carrier holds; else, when Jaeger is configured
/// and the carrier has a `jaeger-debug-id`, a new debug (force-sampled)
/// trace tagged with that id, as Jaeger does; else a new trace. Never the
/// thread's current span: a worker's leftovers must not adopt a request.
pub(crate) fn continue_from(builder: SpanBuilder, carrier: &dyn Extractor) -> SpanBuilder {
    let propagators = current();
    match propagators.try_extract(carrier) {
        Ok(parent) => builder.child_of(&parent),
        Err(e) => {
            debug_log(&e);
            match jaeger::debug_id(&propagators, carrier) {
                Some(id) => builder.debug_root().tag(jaeger::DEBUG_ID, id),
                None => builder.root(),
            }
        }
    }
}

/// At debug level (`TRACEKIT_LOG=debug`, or the `tracekit` log target),
/// says why a request carried no usable parent (a missing header is normal
/// and not reported).
fn debug_log(e: &ExtractError) {
    if !matches!(e, ExtractError::Missing(_)) {
        crate::data::diag::debug(format_args!(
            "no parent extracted, starting a new trace: {e}"
        ));
    }
}
