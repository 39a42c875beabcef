//! Spans as a thread records them: a record written when the span starts and
//! completed in place when it ends, tags in one arena beside the records,
//! handed to the collector a batch at a time. Shared by the thread state
//! (`local`), which writes them, and the collector and reporters, which
//! read them; it depends on neither.

use crate::data::baggage::Baggage;
use crate::data::clock::Stamp;
use crate::data::parts::{Event, Link, SpanKind, Status};
use crate::data::trace_point::Point;
use crate::data::value::{Key, Value};
use crate::{SpanId, TraceId};
use std::borrow::Cow;
use std::sync::Arc;

/// The name of the event an error is recorded as (OpenTelemetry's).
pub(crate) const EXCEPTION: &str = "exception";

/// The trace is sampled: its spans are recorded and reported.
pub(crate) const SAMPLED: u8 = 0x01;
/// The trace is marked for debugging (Jaeger's debug flag).
pub(crate) const DEBUG: u8 = 0x02;
/// At least the right-most 7 bytes of the trace id are random: W3C Trace
/// Context Level 2's random-trace-id flag. Set where tracekit makes a trace
/// id, or read from an incoming `traceparent` (where it is `0x02`: only
/// `propagation/w3c.rs` maps between the two); no other format sends it.
pub(crate) const RANDOM: u8 = 0x04;
/// The request id (baggage `request.id`) is the one derived from the trace
/// id ([`crate::data::request_id::derive`]) unless the baggage holds one of its
/// own: a request id made here costs no allocation, and is written out only
/// where it is read. Handed down to descendants with the other flags; never
/// propagated as a flag (injection writes the id itself).
pub(crate) const DERIVED_ID: u8 = 0x08;
/// Recorded although head sampling dropped the trace, for tail keep to
/// decide (never propagated: injection writes the sampled, debug and
/// random bits only, extraction keeps only those).
pub(crate) const RECORD: u8 = 0x80;
/// Either way of being recorded.
pub(crate) const RECORDS: u8 = SAMPLED | RECORD;
/// The record moved out of its batch (an `async fn`'s span that had to
/// wait; see [`Batch::take_out`]): what stays is left out at the hand-over.
/// Never propagated.
pub(crate) const GONE: u8 = 0x40;

/// What a span hands down to every descendant besides its ids: baggage and
/// the W3C trace state. Shared; copied only when a span changes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inherited {
    pub(crate) baggage: Baggage,
    pub(crate) trace_state: Option<Box<str>>,
}

impl Inherited {
    /// `None` when there is nothing to hand down.
    pub(crate) fn shared(self) -> Option<Arc<Inherited>> {
        (!self.baggage.is_empty() || self.trace_state.is_some()).then(|| Arc::new(self))
    }
}

/// No entry in a batch's side table.
pub(crate) const NONE: u32 = u32::MAX;

/// One span as recorded: 96 bytes of plain data. What only some spans have
/// (events, links, a status, baggage) lives in tables beside the records,
/// so a batch is freed without visiting each span.
#[derive(Clone, Copy)]
pub(crate) struct RawSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) start: Stamp,
    /// [`Stamp::OPEN`] until the span finishes.
    pub(crate) end: Stamp,
    pub(crate) name: &'static str,
    pub(crate) meta: Option<Point>,
    /// Index into the batch's `inherited`, or [`NONE`].
    pub(crate) inherited: u32,
    /// Index into the batch's `extras`, or [`NONE`].
    pub(crate) extras: u32,
    /// Index into the batch's `args` of the first of the values of the
    /// `#[trace_fn]` arguments and fields (as many as its trace point names),
    /// or [`NONE`].
    pub(crate) args: u32,
    pub(crate) capture: u32,
    pub(crate) flags: u8,
    pub(crate) kind: SpanKind,
    pub(crate) remote_parent: bool,
    /// Tags set after start, up to [`TAG_LIMIT`](crate::TAG_LIMIT) (in
    /// what was padding: the record stays 96 bytes).
    pub(crate) tags_set: u8,
}

// The size the docs state, held: a field that makes the record grow must
// fit in what was padding, or be weighed against every span's cost.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<RawSpan>() == 96, "a record is 96 bytes");

impl RawSpan {
    /// Whether the trace is sampled (reported as it is).
    pub(crate) fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the span is recorded: sampled, or kept for tail keep.
    #[inline]
    pub(crate) fn records(&self) -> bool {
        self.flags & RECORDS != 0
    }

    /// Recorded only for tail keep: buffered until its trace is decided.
    pub(crate) fn is_record_only(&self) -> bool {
        self.flags & RECORDS == RECORD
    }
}

/// The rarely used parts of a span.
#[derive(Default)]
pub(crate) struct Extras {
    /// A name made at run time (a static name lives in the record).
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
    /// Events past [`EVENT_LIMIT`](crate::EVENT_LIMIT), counted.
    pub(crate) dropped_events: u32,
    /// Links past [`LINK_LIMIT`](crate::LINK_LIMIT), counted.
    pub(crate) dropped_links: u32,
    /// New tag keys past [`TAG_LIMIT`](crate::TAG_LIMIT), counted.
    pub(crate) dropped_tags: u32,
}

impl Extras {
    /// Takes the links given at start, keeping at most `LINK_LIMIT`.
    pub(crate) fn set_links(&mut self, mut links: Vec<Link>) {
        let over = links.len().saturating_sub(crate::data::parts::LINK_LIMIT);
        links.truncate(crate::data::parts::LINK_LIMIT);
        self.links = links;
        self.dropped_links = u32::try_from(over).unwrap_or(u32::MAX);
    }

    /// Fails a span whose status is still unset: what OpenTracing's
    /// `error = true` tag ([`is_error_tag`]) says, by OpenTelemetry's rule
    /// for that tag, so that export, tail keep and metrics see the failure
    /// a Jaeger view shows. A status already set stays: an error's
    /// description, or an `Ok`, which is final.
    pub(crate) fn fail_unset(&mut self) {
        if self.status == Status::Unset {
            self.status = Status::error("");
        }
    }

    /// Applies a change that is neither a tag nor baggage.
    pub(crate) fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Event(e) if self.events.len() < crate::data::parts::EVENT_LIMIT => {
                self.events.push(e)
            }
            // At the limit the latest exception still has a place, in the
            // last one's: it is the call's outcome (its `Err`, its panic),
            // which metrics name the call by.
            Edit::Event(e) if e.name == EXCEPTION => {
                if let Some(last) = self.events.last_mut() {
                    *last = e;
                }
                self.dropped_events = self.dropped_events.saturating_add(1);
            }
            Edit::Event(_) => self.dropped_events = self.dropped_events.saturating_add(1),
            Edit::Status(s) => self.status = s,
            Edit::Link(l) if self.links.len() < crate::data::parts::LINK_LIMIT => {
                self.links.push(l)
            }
            Edit::Link(_) => self.dropped_links = self.dropped_links.saturating_add(1),
            Edit::Dropped(d) => {
                self.dropped_tags = self.dropped_tags.saturating_add(d.tags);
                self.dropped_events = self.dropped_events.saturating_add(d.events);
                self.dropped_links = self.dropped_links.saturating_add(d.links);
            }
            Edit::Tag(..) | Edit::Mark(..) | Edit::Inherited(_) => {}
        }
    }
}

/// Whether a tag is OpenTracing's `error = true`, which says the span failed.
#[inline]
pub(crate) fn is_error_tag(key: &str, value: &Value) -> bool {
    key == "error" && matches!(value, Value::Bool(true))
}

/// `tags_set` once the span holds `TAG_LIMIT` tags with distinct keys: a
/// new key is then dropped at once, with no search for repeats to merge.
pub(crate) const TAGS_FULL: u8 = u8::MAX;

/// Merges the repeated keys among the tags at positions `at` (one span's,
/// in the order set) into the first of each, which takes the last value,
/// as readers would see it; removes the repeats from `arena`. Returns how
/// many went. Runs only when a span reaches `TAG_LIMIT`.
#[cold]
pub(crate) fn merge_repeats<T>(
    arena: &mut Vec<T>,
    at: &[usize],
    key: impl Fn(&T) -> &Key,
    value: impl Fn(&mut T) -> &mut Value,
) -> usize {
    let mut first: Vec<usize> = Vec::with_capacity(at.len());
    let mut repeats: Vec<usize> = Vec::new();
    for &j in at {
        match first.iter().find(|&&i| key(&arena[i]) == key(&arena[j])) {
            Some(&i) => {
                let v = std::mem::replace(value(&mut arena[j]), Value::Bool(false));
                *value(&mut arena[i]) = v;
                repeats.push(j);
            }
            None => first.push(j),
        }
    }
    if !repeats.is_empty() {
        let mut position = 0;
        let mut next = repeats.iter().peekable();
        arena.retain(|_| {
            let drop = next.peek() == Some(&&position);
            if drop {
                next.next();
            }
            position += 1;
            !drop
        });
    }
    repeats.len()
}

/// After merging `removed` repeats of a full span (none when it is already
/// marked full): whether a new key fits. If not, the span is marked full so
/// later new keys skip the merge.
pub(crate) fn room_after_merge(raw: &mut RawSpan, removed: usize) -> bool {
    if removed == 0 {
        raw.tags_set = TAGS_FULL;
        return false;
    }
    let left = usize::from(raw.tags_set).saturating_sub(removed);
    raw.tags_set = u8::try_from(left).unwrap_or(TAGS_FULL);
    true
}

/// A tag in a batch's arena, with the index of its span in the batch.
pub(crate) struct Tag {
    pub(crate) span: u32,
    pub(crate) key: Key,
    pub(crate) value: Value,
}

/// A change to a span after it started.
pub(crate) enum Edit {
    /// A tag set through the API, counted against `TAG_LIMIT`.
    Tag(Key, Value),
    /// A tag tracekit sets itself (`error`, `unfinished`, the return value):
    /// a few per span at most, and never dropped.
    Mark(Key, Value),
    Event(Event),
    Status(Status),
    Link(Link),
    Inherited(Option<Arc<Inherited>>),
    /// What a queue of changes dropped at the span's limits, to be counted.
    Dropped(Dropped),
}

/// Tags, events and links dropped at a span's limits, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) tags: u32,
    pub(crate) events: u32,
    pub(crate) links: u32,
}

impl Dropped {
    pub(crate) fn add(&mut self, other: Dropped) {
        self.tags = self.tags.saturating_add(other.tags);
        self.events = self.events.saturating_add(other.events);
        self.links = self.links.saturating_add(other.links);
    }
}
