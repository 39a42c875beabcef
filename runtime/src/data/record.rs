//! A [`SpanRecord`]: a finished span as reporters and tests hold it, a
//! handle on the span in its [`SpanBatch`](crate::SpanBatch) (nothing is
//! copied per span).

use super::span_batch::Shared;
use super::view::{SpanView, Tags};
use crate::data::parts::{Event, Link, SpanKind, Status};
use crate::data::trace_point::Metadata;
use crate::data::value::Value;
use crate::{SpanId, TraceId};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Writes `SpanRecord`'s accessors, each the same one of its view.
macro_rules! forward_to_view {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.view().$name($($arg),*)
            }
        )*
    };
}

/// A finished span: what reporters receive and what tests inspect. A handle
/// on the span inside its [`SpanBatch`](crate::SpanBatch): cloning costs a reference count.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let ((), captured) = tracekit::testing::capture(|| {
///     let span = tracekit::start_active_span("checkout");
///     span.set_tag("cart.items", 3);
/// });
/// let span = captured.span("checkout");
/// assert_eq!(span.tag("cart.items").unwrap().to_string(), "3");
/// assert!(span.end() >= span.start());
/// assert!(span.parent_id().is_none());
/// ```
#[derive(Clone)]
pub struct SpanRecord {
    pub(super) shared: Arc<Shared>,
    pub(super) chunk: u32,
    pub(super) index: u32,
}

impl SpanRecord {
    /// A borrowed view of the span: the same accessors, the span looked up
    /// once (for exporters reading every field of many spans).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
    /// let view = c.span("a").view();
    /// assert_eq!(view.name(), "a");
    /// ```
    #[inline]
    pub fn view(&self) -> SpanView<'_> {
        let chunk = &self.shared.chunks[self.chunk as usize];
        SpanView {
            raw: &chunk.spans[self.index as usize],
            chunk,
            cal: &self.shared.cal,
            index: self.index,
        }
    }

    /// The `testing::capture` the span belongs to, 0 for none.
    pub(crate) fn capture(&self) -> u32 {
        self.view().raw.capture
    }

    // Each of these reads the span through its view: one macro writes the
    // forwarding, the docs stay here, with the examples users read.
    forward_to_view! {
        /// The operation name.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.spans()[0].name(), "a");
        /// ```
        fn name(&self) -> &str;

        /// The trace this span belongs to.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").trace_id(), c.span("b").trace_id());
        /// ```
        fn trace_id(&self) -> TraceId;

        /// This span's id.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_ne!(c.span("a").span_id(), c.span("b").span_id());
        /// ```
        fn span_id(&self) -> SpanId;

        /// The parent span's id; `None` for the root of a trace.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| { let _a = tracekit::start_active_span("a"); drop(tracekit::Span::start("b")); });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("b").parent_id(), Some(c.span("a").span_id()));
        /// ```
        fn parent_id(&self) -> Option<SpanId>;

        /// Whether the parent lives in another process (extracted from a carrier).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(!c.span("a").has_remote_parent());
        /// ```
        fn has_remote_parent(&self) -> bool;

        /// Whether the trace was sampled (unsampled spans are normally not reported).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").is_sampled());
        /// ```
        fn is_sampled(&self) -> bool;

        /// The span kind.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").kind(), tracekit::SpanKind::Internal);
        /// ```
        fn kind(&self) -> SpanKind;

        /// When the span started.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").start() <= std::time::SystemTime::now());
        /// ```
        fn start(&self) -> SystemTime;

        /// When the span finished.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").end() >= c.span("a").start());
        /// ```
        fn end(&self) -> SystemTime;

        /// When the span started, in nanoseconds since the Unix epoch (what OTLP
        /// and most wire formats carry; cheaper than [`start`](Self::start)).
        ///
        /// ```
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// let s = c.span("a");
        /// assert!(s.start_unix_nanos() <= s.end_unix_nanos());
        /// ```
        fn start_unix_nanos(&self) -> u64;

        /// When the span finished, in nanoseconds since the Unix epoch.
        ///
        /// ```
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// let s = c.span("a");
        /// assert_eq!(s.end_unix_nanos() as u128, s.end().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        /// ```
        fn end_unix_nanos(&self) -> u64;

        /// `end - start`, zero if the clock went backwards.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").duration() < std::time::Duration::from_secs(5));
        /// ```
        fn duration(&self) -> Duration;

        /// The tag with this key, including the `code.*` tags of instrumented
        /// functions; the last value set wins.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| tracekit::start_active_span("a").set_tag("k", true));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").tag("k"), Some(&tracekit::Value::Bool(true)));
        /// assert_eq!(c.span("a").tag("nope"), None);
        /// ```
        fn tag(&self, key: &str) -> Option<&Value>;

        /// Every tag: the arguments and `fields` of a `#[trace_fn]` span first,
        /// then the others in the order recorded, the `code.*` tags last.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| {
        /// #     let _root = tracekit::start_active_span("root");
        /// #     tracekit::start_active_span("a").set_tag("k", 1);
        /// # });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").tags().count(), 1);
        /// // A new trace's first span says which sampler recorded it:
        /// assert_eq!(c.span("root").tag("sampler.type").unwrap().to_string(), "const");
        /// ```
        fn tags(&self) -> Tags<'_>;

        /// The timestamped events (logs), in the order recorded.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").events().is_empty());
        /// ```
        fn events(&self) -> &[Event];

        /// How many events the span logged past [`EVENT_LIMIT`](crate::EVENT_LIMIT)
        /// (they are not in [`events`](Self::events)).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").dropped_events(), 0);
        /// ```
        fn dropped_events(&self) -> u32;

        /// How many links the span was given past [`LINK_LIMIT`](crate::LINK_LIMIT)
        /// (they are not in [`links`](Self::links)).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").dropped_links(), 0);
        /// ```
        fn dropped_links(&self) -> u32;

        /// How many tags with new keys were set past
        /// [`TAG_LIMIT`](crate::TAG_LIMIT) (they are not in [`tags`](Self::tags)).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").dropped_tags(), 0);
        /// ```
        fn dropped_tags(&self) -> u32;

        /// The `follows_from` references.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").links().is_empty());
        /// ```
        fn links(&self) -> &[Link];

        /// The status.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").status(), &tracekit::Status::Unset);
        /// ```
        fn status(&self) -> &Status;

        /// Whether the span failed (its status is an error).
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| {
        /// #     tracekit::start_active_span("a").record_error(&std::fmt::Error); });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").is_error());
        /// ```
        fn is_error(&self) -> bool;

        /// The baggage item with this key, inherited from the span's ancestors.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| {
        /// #     let a = tracekit::start_active_span("a"); a.set_baggage_item("user", "7");
        /// #     drop(tracekit::Span::start("b")); });
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("b").baggage_item("user"), Some("7"));
        /// ```
        fn baggage_item(&self, key: &str) -> Option<&str>;

        /// All baggage items.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").baggage().count(), 0);
        /// ```
        fn baggage(&self) -> impl Iterator<Item = (&str, &str)> + '_;

        /// The W3C `tracestate` carried by the trace, if any.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert_eq!(c.span("a").trace_state(), None);
        /// ```
        fn trace_state(&self) -> Option<&str>;
        /// Where the instrumented function is, for spans made by `#[trace_fn]`.
        ///
        /// ```
        /// # let ((), c) = tracekit::testing::capture(|| drop(tracekit::Span::start("a")));
        /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
        /// assert!(c.span("a").trace_point().is_none());
        /// ```
        fn trace_point(&self) -> Option<&'static Metadata>;
    }
}

impl fmt::Debug for SpanRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}
