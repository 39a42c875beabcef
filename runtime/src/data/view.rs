//! A [`SpanView`]: a finished span borrowed from its batch, and what it is
//! read through (the accessors every other form of a record forwards to,
//! and its [`Tags`]).

use super::span_batch::Chunk;
use crate::data::clock::Calibration;
use crate::data::parts::{Event, Link, SpanKind, Status};
use crate::data::raw::{Extras, Inherited, NONE, RawSpan, Tag};
use crate::data::trace_point::Metadata;
use crate::data::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::fmt;
use std::time::{Duration, SystemTime};

/// A finished span, borrowed from its batch: what [`SpanRecord`](crate::SpanRecord) gives,
/// without a reference count, for reading many fields of many spans.
///
/// ```
/// struct Names;
/// impl tracekit::Reporter for Names {
///     fn report(&mut self, batch: tracekit::SpanBatch) {
///         for span in batch.views() {
///             println!("{} {}", span.name(), span.duration().as_micros());
///         }
///     }
/// }
/// let _guard = tracekit::set_reporter(Names);
/// ```
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    pub(super) raw: &'a RawSpan,
    pub(super) chunk: &'a Chunk,
    pub(super) cal: &'a Calibration,
    pub(super) index: u32,
}

impl<'a> SpanView<'a> {
    #[inline]
    fn chunk(&self) -> &'a Chunk {
        self.chunk
    }

    #[inline]
    fn raw(&self) -> &'a RawSpan {
        self.raw
    }

    #[inline]
    fn extras(&self) -> Option<&'a Extras> {
        self.chunk().extras.get(self.raw().extras as usize)
    }

    #[inline]
    fn inherited(&self) -> Option<&'a Inherited> {
        self.chunk()
            .inherited
            .get(self.raw().inherited as usize)
            .map(|i| &**i)
    }

    /// See [`SpanRecord::name`](crate::SpanRecord::name).
    #[inline]
    pub fn name(&self) -> &'a str {
        match self.extras().and_then(|e| e.name.as_deref()) {
            Some(owned) => owned,
            None => self.raw().name,
        }
    }

    /// See [`SpanRecord::trace_id`](crate::SpanRecord::trace_id).
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.raw().trace_id
    }

    /// See [`SpanRecord::span_id`](crate::SpanRecord::span_id).
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.raw().span_id
    }

    /// See [`SpanRecord::parent_id`](crate::SpanRecord::parent_id).
    #[inline]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.raw().parent_id
    }

    /// See [`SpanRecord::has_remote_parent`](crate::SpanRecord::has_remote_parent).
    #[inline]
    pub fn has_remote_parent(&self) -> bool {
        self.raw().remote_parent
    }

    /// See [`SpanRecord::is_sampled`](crate::SpanRecord::is_sampled).
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.raw().is_sampled()
    }

    /// See [`SpanRecord::kind`](crate::SpanRecord::kind).
    #[inline]
    pub fn kind(&self) -> SpanKind {
        self.raw().kind
    }

    /// See [`SpanRecord::start`](crate::SpanRecord::start).
    #[inline]
    pub fn start(&self) -> SystemTime {
        self.cal.to_system_time(self.raw().start)
    }

    /// See [`SpanRecord::end`](crate::SpanRecord::end).
    #[inline]
    pub fn end(&self) -> SystemTime {
        let raw = self.raw();
        // A record handed over unfinished cannot happen; if it did, it
        // would read as a span of no length rather than one that never ends.
        let end = if raw.end.is_set() { raw.end } else { raw.start };
        self.cal.to_system_time(end)
    }

    /// See [`SpanRecord::start_unix_nanos`](crate::SpanRecord::start_unix_nanos).
    #[inline]
    pub fn start_unix_nanos(&self) -> u64 {
        self.cal.unix_nanos(self.raw().start)
    }

    /// See [`SpanRecord::end_unix_nanos`](crate::SpanRecord::end_unix_nanos).
    #[inline]
    pub fn end_unix_nanos(&self) -> u64 {
        let raw = self.raw();
        let end = if raw.end.is_set() { raw.end } else { raw.start };
        self.cal.unix_nanos(end)
    }

    /// See [`SpanRecord::duration`](crate::SpanRecord::duration).
    #[inline]
    pub fn duration(&self) -> Duration {
        self.end().duration_since(self.start()).unwrap_or_default()
    }

    /// See [`SpanRecord::tag`](crate::SpanRecord::tag).
    #[inline]
    pub fn tag(&self, key: &str) -> Option<&'a Value> {
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// See [`SpanRecord::tags`](crate::SpanRecord::tags).
    #[inline]
    pub fn tags(&self) -> Tags<'a> {
        let chunk = self.chunk();
        let raw = self.raw();
        let index = chunk.index();
        let i = self.index as usize;
        let (from, to) = (index.starts[i] as usize, index.starts[i + 1] as usize);
        let args = match (raw.meta, raw.args) {
            (Some(meta), start) if start != NONE => {
                let start = start as usize;
                let values = chunk.args.get(start..start + meta.n_tags()).unwrap_or(&[]);
                Some((meta.metadata().tag_names(), values.iter()))
            }
            _ => None,
        };
        let named = match index.order.as_deref() {
            None => Named::Run(chunk.tags.get(from..to).unwrap_or(&[]).iter()),
            Some(order) => Named::Sorted {
                tags: &chunk.tags,
                order: order.get(from..to).unwrap_or(&[]).iter(),
            },
        };
        Tags {
            args,
            named,
            code: raw
                .meta
                .map_or(&[][..], |m| m.metadata().code_tags())
                .iter(),
        }
    }

    /// See [`SpanRecord::events`](crate::SpanRecord::events).
    #[inline]
    pub fn events(&self) -> &'a [Event] {
        self.extras().map_or(&[], |e| &e.events)
    }

    /// See [`SpanRecord::dropped_events`](crate::SpanRecord::dropped_events).
    #[inline]
    pub fn dropped_events(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_events)
    }

    /// See [`SpanRecord::dropped_links`](crate::SpanRecord::dropped_links).
    #[inline]
    pub fn dropped_links(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_links)
    }

    /// See [`SpanRecord::dropped_tags`](crate::SpanRecord::dropped_tags).
    #[inline]
    pub fn dropped_tags(&self) -> u32 {
        self.extras().map_or(0, |e| e.dropped_tags)
    }

    /// See [`SpanRecord::links`](crate::SpanRecord::links).
    #[inline]
    pub fn links(&self) -> &'a [Link] {
        self.extras().map_or(&[], |e| &e.links)
    }

    /// See [`SpanRecord::status`](crate::SpanRecord::status).
    #[inline]
    pub fn status(&self) -> &'a Status {
        static UNSET: Status = Status::Unset;
        self.extras().map_or(&UNSET, |e| &e.status)
    }

    /// See [`SpanRecord::is_error`](crate::SpanRecord::is_error).
    #[inline]
    pub fn is_error(&self) -> bool {
        self.status().is_error()
    }

    /// See [`SpanRecord::baggage_item`](crate::SpanRecord::baggage_item).
    #[inline]
    pub fn baggage_item(&self, key: &str) -> Option<&'a str> {
        match self.inherited().and_then(|i| i.baggage.get(key)) {
            Some(value) => Some(value),
            None if key == crate::data::request_id::REQUEST_ID_KEY => self.derived_id(),
            None => None,
        }
    }

    /// See [`SpanRecord::baggage`](crate::SpanRecord::baggage).
    #[inline]
    pub fn baggage(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let own = self.inherited().into_iter().flat_map(|i| i.baggage.iter());
        let derived = self
            .inherited()
            .is_none_or(|i| {
                i.baggage
                    .get(crate::data::request_id::REQUEST_ID_KEY)
                    .is_none()
            })
            .then(|| self.derived_id())
            .flatten()
            .map(|id| (crate::data::request_id::REQUEST_ID_KEY, id));
        own.chain(derived)
    }

    /// The request id derived from the trace id, for a span that has one.
    fn derived_id(&self) -> Option<&'a str> {
        if self.raw().flags & crate::data::raw::DERIVED_ID == 0 {
            return None;
        }
        let chunk = self.chunk();
        let ids = chunk.derived.get_or_init(|| {
            chunk
                .spans
                .iter()
                .map(|r| {
                    if r.flags & crate::data::raw::DERIVED_ID != 0 {
                        crate::data::request_id::derive(r.trace_id)
                    } else {
                        [0; crate::data::request_id::DERIVED_LEN]
                    }
                })
                .collect()
        });
        ids.get(self.index as usize)
            .map(crate::data::request_id::derived_str)
    }

    /// See [`SpanRecord::trace_state`](crate::SpanRecord::trace_state).
    #[inline]
    pub fn trace_state(&self) -> Option<&'a str> {
        self.inherited().and_then(|i| i.trace_state.as_deref())
    }

    /// See [`SpanRecord::trace_point`](crate::SpanRecord::trace_point).
    #[inline]
    pub fn trace_point(&self) -> Option<&'static Metadata> {
        self.raw().meta.map(|p| p.metadata())
    }
}

impl fmt::Debug for SpanView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<_> = self.tags().collect();
        f.debug_struct("SpanRecord")
            .field("name", &self.name())
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("parent_id", &self.parent_id())
            .field("kind", &self.kind())
            .field("duration", &self.duration())
            .field("status", self.status())
            .field("tags", &tags)
            .field("events", &self.events())
            .field("links", &self.links())
            .finish()
    }
}

/// The tags of a [`SpanRecord`](crate::SpanRecord); see [`SpanRecord::tags`](crate::SpanRecord::tags).
pub struct Tags<'a> {
    args: Option<(TagNames, std::slice::Iter<'a, Option<Value>>)>,
    named: Named<'a>,
    code: std::slice::Iter<'static, (Key, Value)>,
}

/// The names of a trace point's arguments and fields.
type TagNames = std::iter::Take<std::str::Split<'static, char>>;

enum Named<'a> {
    Run(std::slice::Iter<'a, Tag>),
    Sorted {
        tags: &'a [Tag],
        order: std::slice::Iter<'a, u32>,
    },
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a Value)> {
        if let Some((names, values)) = &mut self.args {
            for value in values.by_ref() {
                let name = names.next()?;
                if let Some(value) = value {
                    return Some((name, value));
                }
            }
            self.args = None;
        }
        let named = match &mut self.named {
            Named::Run(tags) => tags.next(),
            Named::Sorted { tags, order } => order.next().and_then(|&j| tags.get(j as usize)),
        };
        if let Some(tag) = named {
            return Some((&tag.key, &tag.value));
        }
        self.code.next().map(|(k, v)| (&**k, v))
    }
}
