//! A span that lives outside any batch until it finishes: an owned
//! [`Span`](crate::Span)'s record, with its side parts held directly, and
//! the thread's spare tag vectors it borrows.

use super::raw::*;
use crate::data::clock::Stamp;
use crate::data::metrics::{self, Outcome, Request};
use crate::data::value::{Key, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// The tags of an owned span or a builder, in a vector that comes back
/// once the span is in its batch: starting an owned span (a server span
/// with its eight tags) then allocates nothing in steady state.
pub(crate) type TagVec = Vec<(Key, Value)>;

/// How many emptied tag vectors a thread keeps, and the biggest kept.
const SPARE_TAG_VECS: usize = 16;
const SPARE_TAG_CAPACITY: usize = 64;

thread_local! {
    static SPARE_TAGS: std::cell::Cell<Vec<TagVec>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An empty tag vector with room for a few tags: a spare one of this
/// thread's, or a new one.
pub(crate) fn tag_vec() -> TagVec {
    SPARE_TAGS
        .try_with(|spare| {
            let mut all = spare.take();
            let v = all.pop();
            spare.set(all);
            v
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(8))
}

/// Keeps an emptied tag vector for this thread's next span.
pub(crate) fn give_back(mut v: TagVec) {
    if v.capacity() == 0 || v.capacity() > SPARE_TAG_CAPACITY {
        return;
    }
    v.clear();
    let _ = SPARE_TAGS.try_with(|spare| {
        let mut all = spare.take();
        if all.len() < SPARE_TAG_VECS {
            if all.capacity() == 0 {
                all.reserve_exact(SPARE_TAG_VECS);
            }
            all.push(v);
        }
        spare.set(all);
    });
}

/// A span that lives outside any batch until it finishes (an owned
/// [`Span`](crate::Span)): its record, and its side parts held directly.
pub(crate) struct Detached {
    pub(crate) raw: RawSpan,
    pub(crate) inherited: Option<Arc<Inherited>>,
    pub(crate) extras: Option<Box<Extras>>,
    pub(crate) tags: Vec<(Key, Value)>,
    /// The values of its `#[trace_fn]` arguments and fields, if it has any.
    pub(crate) args: Box<[Option<Value>]>,
    /// A request span counted for metrics (sampled or not), counted when
    /// the span goes.
    pub(crate) request: Option<Box<Request>>,
    /// The call of a trace point this span stands for failed (an `Err`
    /// of this type), known although the span records nothing: for metrics.
    pub(crate) failed: Option<&'static str>,
}

impl Drop for Detached {
    /// A span's record goes when the span finishes (its parts moved to the
    /// batch first if it records): the one place every way of finishing
    /// passes, so a request is counted here, once.
    fn drop(&mut self) {
        if !metrics::on() {
            return;
        }
        let end = if self.raw.end.is_set() {
            self.raw.end
        } else {
            Stamp::now()
        };
        // A trace point's call whose span records nothing (a trace the
        // sampler dropped) is counted here; a recorded one, from its
        // record, by the collector.
        if let Some(point) = self.unrecorded_point() {
            let outcome = match self.failed {
                Some(error_type) => Outcome::Error(error_type),
                None => Outcome::Ok,
            };
            metrics::count_call(
                point,
                metrics::span_nanos(self.raw.start, end, None),
                outcome,
            );
        }
        if let Some(mut request) = self.request.take() {
            metrics::count_request(&mut request, metrics::span_nanos(self.raw.start, end, None));
        }
    }
}

impl Detached {
    /// The trace point of a call this span stands for without recording it
    /// (a trace the sampler dropped): metrics count such a call when the
    /// span goes, its `Err` learnt as its future is polled.
    pub(crate) fn unrecorded_point(&self) -> Option<crate::data::trace_point::Point> {
        self.raw.meta.filter(|_| !self.raw.records())
    }

    /// Tells a span that stands for a call without recording it that the
    /// call failed (an `Err` of `error_type`, or a panic): metrics count
    /// it so when the span goes. A span that records keeps its error in
    /// its record.
    pub(crate) fn call_failed(&mut self, error_type: &'static str) {
        if self.unrecorded_point().is_some() {
            self.failed = Some(error_type);
        }
    }

    /// [`Detached::call_failed`] for a failure said through
    /// `current_span()` (`local/marks.rs`): one that names no error type
    /// keeps the type an earlier one named, as a sampled call's last
    /// `exception` event does.
    pub(crate) fn call_marked_failed(&mut self, error_type: Option<&'static str>) {
        let named = error_type.or(self.failed);
        self.call_failed(named.unwrap_or(metrics::OTHER));
    }

    /// Tells a request span its request failed with an error of type
    /// `type_name` (`std::any::type_name`), which is its `error.type` when
    /// no status code says it; the readable name, to record on the span.
    pub(crate) fn request_failed_with(
        &mut self,
        type_name: &'static str,
    ) -> std::borrow::Cow<'static, str> {
        let name = crate::data::error_parts::readable_type_name(type_name);
        if let Some(r) = self.request.as_mut() {
            r.failed = true;
            r.exception_type = Some(name.clone());
        }
        name
    }

    /// Tells the span its gRPC call was answered by no gRPC service (see
    /// [`metrics::Request::not_served`]).
    pub(crate) fn grpc_not_served(&mut self) {
        if let Some(r) = self.request.as_mut() {
            r.not_served = true;
        }
    }

    /// Tells the span a panic unwound through its call or request: both
    /// are counted failed, a request's `error.type` `panic`, over an error
    /// recorded or an `error.type` set before (what ended the request was
    /// the panic, and a sampled span says so in its record), whatever
    /// status code a server recorded before it (never sent); a client that
    /// had its status before the panic had its answer.
    pub(crate) fn panicked(&mut self) {
        self.call_failed(metrics::PANIC);
        if let Some(r) = self.request.as_mut() {
            r.failed = true;
            r.no_response = true;
            r.exception_type = Some(std::borrow::Cow::Borrowed(metrics::PANIC));
        }
    }

    /// Tells a request span it ended with no response (an error in its
    /// place, from a tower service): a status code recorded before was
    /// never sent, and decides nothing.
    pub(crate) fn no_response(&mut self) {
        if let Some(r) = self.request.as_mut() {
            r.no_response = true;
        }
    }

    pub(crate) fn apply(&mut self, edit: Edit) {
        if let Some(r) = self.request.as_mut() {
            match &edit {
                Edit::Tag(k, v) | Edit::Mark(k, v) => r.observe(k, v),
                Edit::Status(s) if s.is_error() => r.failed = true,
                // A recorded error's type: the request's error.type when no
                // status code says it.
                Edit::Event(e) if e.name == crate::data::raw::EXCEPTION => {
                    if let Some(v) = e.field("exception.type") {
                        r.exception_type = Some(std::borrow::Cow::Owned(v.to_string()));
                    }
                }
                _ => {}
            }
        }
        match edit {
            Edit::Tag(k, v) => self.set_tag(k, v),
            Edit::Mark(k, v) => self.tags_mut().push((k, v)),
            Edit::Inherited(i) => self.inherited = i,
            other => self
                .extras
                .get_or_insert_with(Default::default)
                .apply(other),
        }
    }

    /// Adds a tag set through the API. Past `TAG_LIMIT`, a key the span
    /// already has still takes its new value; a new key is counted.
    pub(crate) fn set_tag(&mut self, key: Key, value: Value) {
        if is_error_tag(&key, &value) {
            self.extras
                .get_or_insert_with(Default::default)
                .fail_unset();
        }
        if usize::from(self.raw.tags_set) >= crate::data::parts::TAG_LIMIT {
            if let Some((_, v)) = self.tags.iter_mut().rev().find(|(k, _)| *k == key) {
                *v = value;
                return;
            }
            let removed = if self.raw.tags_set == TAGS_FULL {
                0
            } else {
                let at: Vec<usize> = (0..self.tags.len()).collect();
                merge_repeats(&mut self.tags, &at, |t| &t.0, |t| &mut t.1)
            };
            if !room_after_merge(&mut self.raw, removed) {
                let e = self.extras.get_or_insert_with(Default::default);
                e.dropped_tags = e.dropped_tags.saturating_add(1);
                return;
            }
        }
        self.raw.tags_set += 1;
        self.tags_mut().push((key, value));
    }

    /// Adds the tags a builder was given (leaving `tags` empty): as one
    /// move while they fit under the limit, else one by one.
    pub(crate) fn set_tags(&mut self, tags: &mut TagVec) {
        let room = crate::data::parts::TAG_LIMIT.saturating_sub(usize::from(self.raw.tags_set));
        if tags.len() <= room && self.raw.tags_set != TAGS_FULL {
            // As one by one: a later `false` does not undo it.
            if tags.iter().any(|(k, v)| is_error_tag(k, v)) {
                self.extras
                    .get_or_insert_with(Default::default)
                    .fail_unset();
            }
            self.raw.tags_set += tags.len() as u8;
            if self.tags.is_empty() {
                std::mem::swap(&mut self.tags, tags);
            } else {
                self.tags_mut().append(tags);
            }
            return;
        }
        for (k, v) in tags.drain(..) {
            self.set_tag(k, v);
        }
    }

    /// The tags, in a spare vector of this thread's once there are any.
    fn tags_mut(&mut self) -> &mut TagVec {
        if self.tags.capacity() == 0 {
            self.tags = tag_vec();
        }
        &mut self.tags
    }

    /// Sets the name; a static one costs nothing, an owned one an allocation.
    pub(crate) fn set_name(&mut self, name: Cow<'static, str>) {
        match name {
            Cow::Borrowed(s) => self.raw.name = s,
            owned => {
                self.extras.get_or_insert_with(Default::default).name = Some(owned);
            }
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self.extras.as_deref().and_then(|e| e.name.as_deref()) {
            Some(owned) => owned,
            None => self.raw.name,
        }
    }
}
