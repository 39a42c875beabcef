//! A span's identity as other spans and other processes need it: ids,
//! trace flags, baggage and W3C trace state. Plain data.

use crate::data::baggage::Baggage;
use crate::data::raw::{DEBUG, DERIVED_ID, Inherited, RANDOM, SAMPLED};
use crate::{SpanId, TraceId};
use std::sync::Arc;

/// The identity of a span that child spans and other processes need: trace and
/// span ids, trace flags, baggage and W3C trace state.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let span = tracekit::Span::start("work");
/// let cx: tracekit::SpanContext = span.context().unwrap();
/// assert!(cx.is_sampled());
/// assert_eq!(cx.span_id().to_string().len(), 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) flags: u8,
    pub(crate) remote: bool,
    pub(crate) inherited: Option<Arc<Inherited>>,
}

impl SpanContext {
    /// The context of a span of this process. A request id derived from
    /// the trace id ([`crate::data::raw::DERIVED_ID`]) is written into its
    /// baggage here, where a context is taken (a log line, a call to
    /// another service), so that everything that reads baggage sees it.
    pub(crate) fn local(
        trace_id: TraceId,
        span_id: SpanId,
        flags: u8,
        remote: bool,
        mut inherited: Option<Arc<Inherited>>,
    ) -> SpanContext {
        let has_own = |i: &Option<Arc<Inherited>>| {
            i.as_deref().is_some_and(|i| {
                i.baggage
                    .get(crate::data::request_id::REQUEST_ID_KEY)
                    .is_some()
            })
        };
        if flags & DERIVED_ID != 0 && !has_own(&inherited) {
            let id = crate::data::request_id::derive(trace_id);
            let mut with = inherited.as_deref().cloned().unwrap_or_default();
            with.baggage.set(
                crate::data::request_id::REQUEST_ID_KEY.to_owned(),
                crate::data::request_id::derived_str(&id).to_owned(),
            );
            inherited = with.shared();
        }
        SpanContext {
            trace_id,
            span_id,
            flags,
            remote,
            inherited,
        }
    }

    /// A context received from another process (for example parsed from
    /// headers): spans started under it are children of a remote parent.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::from_u128(1).unwrap(), SpanId::from_u64(2).unwrap(), true);
    /// let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::builder("handler").child_of(&cx).start()));
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(c.span("handler").parent_id(), Some(cx.span_id()));
    /// assert!(c.span("handler").has_remote_parent());
    /// ```
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            flags: if sampled { SAMPLED } else { 0 },
            remote: true,
            inherited: None,
        }
    }

    /// The trace id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(s.context().unwrap().trace_id().to_string().len(), 32);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(s.context().unwrap().span_id().to_string().len(), 16);
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (recorded and reported).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::Span::start("a").context().unwrap().is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the trace was marked for debugging (Jaeger's debug flag).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.flags & DEBUG != 0
    }

    /// Whether the trace id is known to be random in at least its right-most
    /// 7 bytes (W3C Trace Context Level 2's random-trace-id flag): true for
    /// every trace tracekit starts, and for a remote parent whose
    /// `traceparent` had the flag. Samplers and sharding that read the
    /// trace id's low bits can rely on them being uniform only then.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::Span::start("a").context().unwrap().is_random());
    /// ```
    pub fn is_random(&self) -> bool {
        self.flags & RANDOM != 0
    }

    /// Whether this context came from another process.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(!tracekit::Span::start("a").context().unwrap().is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The baggage item with this key.
    ///
    /// ```
    /// let s = tracekit::Span::start("a");
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert_eq!(s.context().unwrap().baggage_item("k"), None);
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.baggage().get(key)
    }

    /// The baggage, empty when there is none.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::Span::start("a").context().unwrap().baggage().is_empty());
    /// ```
    pub fn baggage(&self) -> &Baggage {
        static EMPTY: Baggage = Baggage::EMPTY;
        self.inherited.as_deref().map_or(&EMPTY, |i| &i.baggage)
    }

    /// A copy carrying this baggage.
    ///
    /// ```
    /// use tracekit::{Baggage, SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true)
    ///     .with_baggage(Baggage::default().with("tenant", "acme"));
    /// assert_eq!(cx.baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn with_baggage(mut self, baggage: Baggage) -> SpanContext {
        let mut inherited = self.inherited.as_deref().cloned().unwrap_or_default();
        inherited.baggage = baggage;
        self.inherited = inherited.shared();
        self
    }

    /// A copy with the debug flag set or cleared (a debug trace is always sampled).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), false).with_debug(true);
    /// assert!(cx.is_debug() && cx.is_sampled());
    /// ```
    pub fn with_debug(mut self, debug: bool) -> SpanContext {
        if debug {
            self.flags |= DEBUG | SAMPLED;
        } else {
            self.flags &= !DEBUG;
        }
        self
    }

    /// A copy with the random-trace-id flag set or cleared: say whether the
    /// trace id's right-most 7 bytes were chosen at random, when a context
    /// is built from a header tracekit does not read itself. The flag goes
    /// out in `traceparent`, so a wrong `true` misleads every service after.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_random(true);
    /// let mut headers = std::collections::HashMap::new();
    /// tracekit::propagation::Propagators::default().inject_context(&cx, &mut headers);
    /// assert!(cx.is_random() && headers["traceparent"].ends_with("-03"));
    /// ```
    pub fn with_random(mut self, random: bool) -> SpanContext {
        if random {
            self.flags |= RANDOM;
        } else {
            self.flags &= !RANDOM;
        }
        self
    }

    /// The W3C `tracestate` value carried along, if any.
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("vendor=1");
    /// assert_eq!(cx.trace_state(), Some("vendor=1"));
    /// ```
    pub fn trace_state(&self) -> Option<&str> {
        self.inherited
            .as_deref()
            .and_then(|i| i.trace_state.as_deref())
    }

    /// A copy carrying this W3C `tracestate` value (empty clears it).
    ///
    /// ```
    /// use tracekit::{SpanContext, SpanId, TraceId};
    /// let cx = SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state("");
    /// assert_eq!(cx.trace_state(), None);
    /// ```
    pub fn with_trace_state(mut self, state: impl Into<String>) -> SpanContext {
        let state = state.into();
        let mut inherited = self.inherited.as_deref().cloned().unwrap_or_default();
        inherited.trace_state = (!state.is_empty()).then(|| state.into_boxed_str());
        self.inherited = inherited.shared();
        self
    }
}
