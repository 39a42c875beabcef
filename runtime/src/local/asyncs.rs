//! The span of an `async fn`: started in place like a sync call's, moved out
//! into its future when a first poll has to wait; and guards held across
//! `.await`, which are flagged.

use super::*;

/// How the span of an `async fn` call started; see [`State::start_async`].
pub(crate) enum AsyncStart {
    /// No span: switched off, or under a span that records nothing.
    Nothing,
    /// A local span of this thread, recorded in its batch.
    Local {
        token: Token,
        /// [`State::epoch`] at the start, and where the span's tags begin.
        epoch: u32,
        tags_from: u32,
    },
    /// A span that records nothing but carries ids.
    Owned(Detached),
}

/// The tag on a span whose guard was held across `.await`.
pub(crate) const HELD_ACROSS_AWAIT: &str = "tracekit.guard_held_across_await";

impl State {
    /// Starts the span of an `async fn` call as a local span of this thread
    /// (see [`crate::api::future::TracedAsync`]): in place in the batch, like a
    /// sync call's, until the first poll ends.
    /// Returns also whether some argument values are still to be worked
    /// out, as [`State::enter`] does.
    #[inline(always)]
    pub(crate) fn start_async(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (AsyncStart, bool) {
        let tags_from = self.batch.tags.len() as u32;
        let epoch = self.epoch;
        let (token, later) = self.enter(meta, args);
        if token == 0 {
            return (AsyncStart::Nothing, false);
        }
        let index = self.stack.len() - 1;
        if self.is_recording(index) {
            let start = AsyncStart::Local {
                token,
                epoch,
                tags_from,
            };
            return (start, later);
        }
        // Not recorded, but its ids go on (a new trace the sampler
        // dropped): they move out at once, to travel with the future.
        match self.detach(token, Some(meta), epoch, tags_from) {
            Some(d) => (AsyncStart::Owned(d), false),
            None => (AsyncStart::Nothing, false),
        }
    }

    /// Moves the local span `token` (started by [`State::start_async`])
    /// out of the thread: its frame is popped and its record, side parts
    /// and tags go into the returned span, for its future to keep while it
    /// waits. Guards left above it were held across `.await` (see
    /// [`State::pop_poll`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn detach(
        &mut self,
        token: Token,
        meta: Option<Point>,
        epoch: u32,
        tags_from: u32,
    ) -> Option<Detached> {
        let index = self.find(token)?;
        if index + 1 < self.stack.len() {
            self.flag_held_across_await(index + 1);
        }
        let (frame, carried) = self.remove(token)?;
        self.locals -= 1;
        let detached = match carried {
            None => {
                // A renumbering since the start (a hand-over, a merge of
                // repeated tags) moved the tags: look through all of them.
                let from = if epoch == self.epoch { tags_from } else { 0 };
                self.batch.take_out(frame.at as usize, from as usize)
            }
            Some(c) => c.span_id.map(|span_id| Detached {
                raw: RawSpan {
                    trace_id: c.trace_id,
                    span_id,
                    parent_id: None,
                    start: Stamp::now(),
                    end: Stamp::OPEN,
                    name: meta.map_or("", |m| m.name()),
                    meta,
                    inherited: NONE,
                    extras: NONE,
                    args: NONE,
                    capture: c.capture,
                    flags: c.flags,
                    kind: c.kind,
                    remote_parent: c.remote,
                    tags_set: 0,
                },
                inherited: c.inherited,
                extras: None,
                tags: Vec::new(),
                args: Box::default(),
                request: None,
                failed: None,
            }),
        };
        self.hand_over_if_done();
        detached
    }

    /// Pops the frame a future pushed for one poll. Anything above it was
    /// pushed during the poll by a guard that is still alive: a guard held
    /// across `.await`. It stays on this thread's stack while the future
    /// waits, and whatever runs on the thread meanwhile takes it as its
    /// parent. That cannot be undone here; it is tagged on the span and said
    /// once on stderr, so the misuse shows.
    pub(crate) fn pop_poll(&mut self, token: Token, borrowed: bool) -> Vec<Edit> {
        if let Some(index) = self.find(token) {
            if index + 1 < self.stack.len() {
                self.flag_held_across_await(index + 1);
            }
        }
        if borrowed {
            self.pop_borrowed(token)
        } else {
            self.pop_local(token, None);
            Vec::new()
        }
    }

    #[cold]
    pub(super) fn flag_held_across_await(&mut self, from: usize) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        for i in from..self.stack.len() {
            if self.stack[i].held_across_await {
                continue;
            }
            self.stack[i].held_across_await = true;
            self.edit(
                i,
                Edit::Mark(Cow::Borrowed(HELD_ACROSS_AWAIT), Value::Bool(true)),
            );
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                let what = match self.kind_at(i) {
                    FrameKind::Recorded(slot) => self
                        .batch
                        .spans
                        .get(slot as usize)
                        .map_or("a span".to_owned(), |r| format!("span {:?}", r.name)),
                    FrameKind::Carried(_) => "a span or context".to_owned(),
                };
                crate::data::diag::warn(format_args!(
                    "the guard of {what} was held across .await; spans started on \
                     this thread while it waits get the wrong parent. In async code use \
                     #[trace_fn] or FutureExt::in_span instead of guards. (Said once.)"
                ));
            }
        }
    }
}
