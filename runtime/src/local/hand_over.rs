//! When finished spans leave the thread: the whole batch once the last open
//! span closes (a few spans into the thread's outbox, more to the queue),
//! or what finished under a long-lived span once it is old or many.

use super::*;

/// Hand over what finished under a long-lived span once the first of it
/// finished this many ticks ago (about 30-100 ms of TSC, 100 ms of the
/// monotonic fallback)...
pub(super) const MAX_AGE_TICKS: u64 = 100_000_000;

/// ...or once this many spans wait.
pub(super) const MAX_BATCH_SPANS: usize = 1024;

/// A hand-over of at most this many spans goes to the thread's outbox;
/// see [`State::hand_over`].
pub(super) const STASH_SPANS: usize = 32;

impl State {
    /// Adds a finished owned span to the batch.
    #[inline]
    pub(crate) fn push_finished(&mut self, d: &mut Detached) {
        self.ensure_tear_down();
        let end = d.raw.end;
        self.batch.push(d);
        self.after_finish(end);
    }

    /// After a span finished: hand the batch over if it is complete, or if
    /// it has waited long enough under a span that is still open.
    #[inline(always)]
    pub(super) fn after_finish(&mut self, end: Stamp) {
        match self.after_finish_at(end) {
            PopFast::HandOver => self.hand_over(),
            PopFast::HandOverFinished => self.hand_over_finished(),
            PopFast::Done | PopFast::General => {}
        }
    }

    /// What [`State::after_finish`] must do, without doing it.
    #[inline(always)]
    pub(super) fn after_finish_at(&mut self, end: Stamp) -> PopFast {
        self.after_finish_ticks(end.ticks())
    }

    /// [`State::after_finish_at`] for a span that ended at `now` ticks
    /// (`None`: an explicit time).
    #[inline(always)]
    pub(super) fn after_finish_ticks(&mut self, now: Option<u64>) -> PopFast {
        if self.locals == 0 {
            return PopFast::HandOver;
        }
        let Some(now) = now else {
            return PopFast::Done;
        };
        if now >= self.hand_over_at {
            if self.hand_over_at != 0 {
                return PopFast::HandOverFinished;
            }
            self.hand_over_at = now.saturating_add(MAX_AGE_TICKS).max(1);
        }
        if self.batch.spans.len() >= MAX_BATCH_SPANS {
            return PopFast::HandOverFinished;
        }
        PopFast::Done
    }

    #[inline]
    pub(super) fn hand_over_if_done(&mut self) {
        if self.locals == 0 {
            self.hand_over();
        }
    }

    /// Hands the whole batch to the collector: every span in it finished.
    #[inline(never)]
    pub(crate) fn hand_over(&mut self) {
        self.hand_over_at = 0;
        self.epoch = self.epoch.wrapping_add(1);
        if self.batch.spans.is_empty() {
            return;
        }
        // A few spans (a request's): copied into the thread's outbox, and
        // the batch keeps its buffers for the next ones; they leave with
        // the outbox, a few hundred at a time. A bigger batch is worth a
        // hand-over of its own, and the copy would cost more than it saves.
        if self.batch.gone == 0
            && self.batch.spans.len() <= STASH_SPANS
            && self.batch.spans.capacity() <= 4 * MAX_BATCH_SPANS
            && self.stash_batch()
        {
            return;
        }
        let next = Batch::reuse_or_with_capacity(
            self.batch.spans.len().min(MAX_BATCH_SPANS),
            self.batch.tags.len().min(4 * MAX_BATCH_SPANS),
            self.batch.args.len().min(4 * MAX_BATCH_SPANS),
        );
        let mut out = std::mem::replace(&mut self.batch, next);
        if out.gone != 0 {
            out = out.without_gone();
        }
        if out.spans.len() <= STASH_SPANS {
            self.stash_or_submit(out);
        } else {
            collector::submit(out);
        }
    }

    /// Moves the thread's batch into its outbox; `false` when the outbox
    /// is busy (the collector is taking it).
    pub(super) fn stash_batch(&mut self) -> bool {
        let outbox = self.outbox.get_or_insert_with(collector::Outbox::new);
        outbox.stash(&mut self.batch)
    }

    /// Gives `out` to the outbox, or to the collector when the outbox is
    /// busy.
    pub(super) fn stash_or_submit(&mut self, mut out: Batch) {
        if out.spans.is_empty() {
            return;
        }
        let outbox = self.outbox.get_or_insert_with(collector::Outbox::new);
        if !outbox.stash(&mut out) {
            collector::submit(out);
        }
    }

    /// Hands over the finished spans and keeps the open ones (the local
    /// spans still on the stack), renumbered.
    #[cold]
    #[inline(never)]
    pub(crate) fn hand_over_finished(&mut self) {
        if self.locals == 0 {
            return self.hand_over();
        }
        self.hand_over_at = 0;
        self.epoch = self.epoch.wrapping_add(1);
        // Finished, still open, and moved out (left behind).
        let (mut groups, moved) = std::mem::take(&mut self.batch).scatter(3, &mut |raw| {
            if raw.flags & GONE != 0 {
                2
            } else {
                usize::from(!raw.end.is_set())
            }
        });
        for f in &mut self.stack {
            if !f.carried {
                f.at = moved.get(f.at as usize).map_or(u32::MAX, |&(_, n)| n);
            }
        }
        drop(groups.pop());
        self.batch = groups.pop().unwrap_or_default();
        let out = groups.pop().unwrap_or_default();
        if out.spans.len() <= STASH_SPANS {
            self.stash_or_submit(out);
        } else if !out.spans.is_empty() {
            collector::submit(out);
        }
    }
}
