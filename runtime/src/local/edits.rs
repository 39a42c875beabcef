//! Changes to a span after it started: written in place for a span in the
//! batch, queued within the span's limits for an owned span that is
//! entered (its owner takes them back when the frame is popped).

use super::*;

/// Changes made to an owned span while it is current on this thread (an
/// entered [`Span`](crate::Span), an `async fn` after its first wait),
/// held until its owner takes them back. The span's own limits apply as
/// each change is queued, not when the owner takes them: however long the
/// span stays entered, the queue holds at most `TAG_LIMIT` tags (a key
/// already queued takes its new value in place), `EVENT_LIMIT` events and
/// `LINK_LIMIT` links, one status, one change of baggage, and one mark of
/// each key; what is dropped is counted and handed back with the rest.
#[derive(Default)]
pub(crate) struct Queued {
    pub(super) edits: Vec<Edit>,
    pub(super) tags: u32,
    pub(super) events: u32,
    pub(super) links: u32,
    pub(super) dropped: Dropped,
}

impl Queued {
    /// Queues `edit` within the limits. Each call looks through the queue
    /// at most once, and the queue is bounded, so a span entered for a
    /// million changes costs a million bounded steps.
    pub(crate) fn push(&mut self, edit: Edit) {
        use crate::data::parts::{EVENT_LIMIT, LINK_LIMIT, TAG_LIMIT};
        match edit {
            Edit::Tag(key, value) => {
                if (self.tags as usize) < TAG_LIMIT {
                    self.tags += 1;
                    self.edits.push(Edit::Tag(key, value));
                    return;
                }
                if let Some(slot) = self.last_mut(|e| matches!(e, Edit::Tag(k, _) if *k == key)) {
                    *slot = Edit::Tag(key, value);
                    return;
                }
                // Full of distinct keys? Repeats set earlier make room.
                if self.merge_tag_repeats() {
                    self.tags += 1;
                    self.edits.push(Edit::Tag(key, value));
                } else {
                    self.dropped.tags = self.dropped.tags.saturating_add(1);
                }
            }
            Edit::Event(e) if (self.events as usize) < EVENT_LIMIT => {
                self.events += 1;
                self.edits.push(Edit::Event(e));
            }
            // At the limit the latest exception takes the last event's
            // place, as on a span (`Extras::apply`): it is the outcome.
            Edit::Event(e) if e.name == crate::data::raw::EXCEPTION => {
                if let Some(last) = self.last_mut(|e| matches!(e, Edit::Event(_))) {
                    *last = Edit::Event(e);
                }
                self.dropped.events = self.dropped.events.saturating_add(1);
            }
            Edit::Event(_) => self.dropped.events = self.dropped.events.saturating_add(1),
            Edit::Link(l) if (self.links as usize) < LINK_LIMIT => {
                self.links += 1;
                self.edits.push(Edit::Link(l));
            }
            Edit::Link(_) => self.dropped.links = self.dropped.links.saturating_add(1),
            Edit::Mark(key, value) => {
                match self.last_mut(|e| matches!(e, Edit::Mark(k, _) if *k == key)) {
                    Some(slot) => *slot = Edit::Mark(key, value),
                    None => self.edits.push(Edit::Mark(key, value)),
                }
            }
            Edit::Status(status) => match self.last_mut(|e| matches!(e, Edit::Status(_))) {
                Some(slot) => *slot = Edit::Status(status),
                None => self.edits.push(Edit::Status(status)),
            },
            Edit::Inherited(i) => match self.last_mut(|e| matches!(e, Edit::Inherited(_))) {
                Some(slot) => *slot = Edit::Inherited(i),
                None => self.edits.push(Edit::Inherited(i)),
            },
            Edit::Dropped(d) => self.dropped.add(d),
        }
    }

    fn last_mut(&mut self, which: impl Fn(&Edit) -> bool) -> Option<&mut Edit> {
        self.edits.iter_mut().rev().find(|e| which(e))
    }

    /// Keeps the first of each queued tag key, with its last value, as a
    /// span at its limit does. Whether any went.
    #[cold]
    fn merge_tag_repeats(&mut self) -> bool {
        let before = self.edits.len();
        let mut kept: Vec<(Key, usize)> = Vec::new();
        let mut out: Vec<Edit> = Vec::with_capacity(before);
        for edit in std::mem::take(&mut self.edits) {
            match edit {
                Edit::Tag(key, value) => match kept.iter().find(|(k, _)| *k == key) {
                    Some(&(_, at)) => out[at] = Edit::Tag(key, value),
                    None => {
                        kept.push((key.clone(), out.len()));
                        out.push(Edit::Tag(key, value));
                    }
                },
                other => out.push(other),
            }
        }
        self.tags = kept.len() as u32;
        self.edits = out;
        self.edits.len() < before
    }

    /// The changes, in the order made, with what was dropped counted last.
    pub(crate) fn into_edits(self) -> Vec<Edit> {
        let mut edits = self.edits;
        if self.dropped != Dropped::default() {
            edits.push(Edit::Dropped(self.dropped));
        }
        edits
    }
}

impl State {
    /// Records a change to the span of the frame at `index`.
    pub(crate) fn edit(&mut self, index: usize, edit: Edit) {
        let slot = self.stack[index].at;
        match self.carried_mut(index) {
            None => match edit {
                Edit::Tag(key, value) => {
                    if self.batch.set_tag(slot, key, value) {
                        // Tags moved down the arena: where an `async fn`
                        // found its own tags to take out is stale.
                        self.epoch = self.epoch.wrapping_add(1);
                    }
                }
                Edit::Mark(key, value) => self.batch.tags.push(Tag {
                    span: slot,
                    key,
                    value,
                }),
                Edit::Inherited(i) => {
                    let index = self.batch.intern(i);
                    if let Some(raw) = self.batch.spans.get_mut(slot as usize) {
                        raw.inherited = index;
                    }
                }
                other => {
                    if let Some(extras) = self.batch.extras_of(slot as usize) {
                        extras.apply(other);
                    }
                }
            },
            Some(c) => {
                if let Edit::Inherited(i) = &edit {
                    c.inherited = i.clone();
                }
                if c.role == Role::Borrowed && (c.flags & RECORDS != 0 || c.request) {
                    c.queued.push(edit);
                }
            }
        }
    }

    /// Tags the span of the top frame.
    pub(crate) fn add_tags(&mut self, tags: Vec<(Key, Value)>) {
        if let Some(top) = self.stack.len().checked_sub(1) {
            for (key, value) in tags {
                self.edit(top, Edit::Tag(key, value));
            }
        }
    }

    /// Sets the name or adds links to the local span of the top frame.
    pub(crate) fn top_extras(&mut self) -> Option<&mut Extras> {
        match *self.stack.last()? {
            Frame {
                at: slot,
                carried: false,
                ..
            } => self.batch.extras_of(slot as usize),
            _ => None,
        }
    }

    /// Sets the baggage item on the frame at `index` (and its span).
    pub(crate) fn set_baggage(&mut self, index: usize, key: String, value: String) {
        let current = match self.kind_at(index) {
            FrameKind::Recorded(slot) => self
                .batch
                .spans
                .get(slot as usize)
                .and_then(|r| self.batch.inherited_at(r.inherited)),
            FrameKind::Carried(c) => c.inherited.as_ref(),
        };
        let mut inherited = current.map(|i| (**i).clone()).unwrap_or_default();
        inherited.baggage.set(key, value);
        self.edit(index, Edit::Inherited(Some(Arc::new(inherited))));
    }
}

#[cfg(test)]
mod queued_tests {
    use super::{Edit, Queued};
    use crate::data::parts::{EVENT_LIMIT, Event, LINK_LIMIT, Link, Status, TAG_LIMIT};
    use crate::data::value::Value;
    use crate::{SpanId, TraceId};
    use std::borrow::Cow;

    /// Many changes leave a queue no longer than the span's limits
    /// allow, with what went counted.
    #[test]
    fn the_queue_stays_within_the_limits_and_counts_what_it_drops() {
        let link = Link {
            trace_id: TraceId::from_u128(1).unwrap(),
            span_id: SpanId::from_u64(2).unwrap(),
        };
        let mut q = Queued::default();
        for i in 0..50_000u64 {
            q.push(Edit::Tag(
                Cow::Owned(format!("k{}", i % 500)),
                Value::U64(i),
            ));
            q.push(Edit::Event(Event::new("e")));
            if i % 10 == 0 {
                q.push(Edit::Link(link.clone()));
                q.push(Edit::Status(Status::error("x")));
                q.push(Edit::Mark(Cow::Borrowed("error"), Value::Bool(true)));
                q.push(Edit::Inherited(None));
            }
            assert!(q.edits.len() <= TAG_LIMIT + EVENT_LIMIT + LINK_LIMIT + 3);
        }
        let edits = q.into_edits();
        let Some(Edit::Dropped(d)) = edits.last() else {
            panic!("the count of what was dropped comes last");
        };
        assert_eq!(d.events, 50_000 - EVENT_LIMIT as u32);
        assert_eq!(d.links, 5_000 - LINK_LIMIT as u32);
        // k0..k499 in turn: once the first keys fill the limit, the others
        // go, each time round.
        assert_eq!(d.tags, 100 * (500 - TAG_LIMIT as u32));
        let tags = edits.iter().filter(|e| matches!(e, Edit::Tag(..))).count();
        assert_eq!(tags, TAG_LIMIT);
    }
}
