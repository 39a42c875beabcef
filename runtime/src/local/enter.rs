//! The start and end of a `#[trace_fn]` call: the fast paths, which write a
//! child of a local span straight into the batch and pop it again without
//! calling anything, and the general paths for everything else.

use super::*;

/// What is left to do after a pop's fast path.
pub(crate) enum PopFast {
    /// Nothing: the span is finished.
    Done,
    /// The span is finished; the batch is complete and goes to the collector.
    HandOver,
    /// The span is finished; what finished under a long-lived span goes.
    HandOverFinished,
    /// Not the common case: the general path pops.
    General,
}

impl State {
    /// `#[trace_fn]`'s start: a child of the current span (or a new root),
    /// active until [`State::pop_local`], with the values of its arguments
    /// and fields. Returns its token (0 for none) and whether some values
    /// are still to be worked out outside the state
    /// ([`crate::api::call::record_later`]). The common case, a child of a local
    /// span recorded in this batch, is written out straight; everything
    /// else takes the general path.
    #[inline(always)]
    pub(crate) fn enter(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (Token, bool) {
        // A root point's call is never a child: the general path starts
        // its trace. (The callers on the hot path test the point's state,
        // which says so, before they come here.)
        let fast = match meta.is_root() {
            false => self.enter_fast(meta, args),
            true => None,
        };
        match fast {
            Some(started) => started,
            None => self.enter_general(meta, args),
        }
    }

    /// [`State::enter`]'s common case, or `None`. It allocates nothing,
    /// calls nothing and cannot panic (see [`enter_fast`]).
    #[inline(always)]
    pub(super) fn enter_fast(&mut self, meta: Point, args: &[ArgRef<'_>]) -> Option<(Token, bool)> {
        let spans = self.batch.spans.len();
        let &Frame {
            at: slot,
            carried: false,
            ..
        } = self.stack.last()?
        else {
            return None;
        };
        // Room for the record, the frame and the values is checked first,
        // so that nothing between reading the parent and writing the child
        // can grow a buffer; the general path grows them.
        if (slot as usize) >= spans
            || spans >= self.batch.spans.capacity()
            || self.stack.len() >= self.stack.capacity()
            || self.batch.args.capacity() - self.batch.args.len() < args.len()
        {
            return None;
        }
        let span_id = crate::data::id::next_span_id_inline()?;
        let start = Stamp::now_inline()?;
        // Nothing can fail from here on. The frame first, then the record
        // field by field, then the values: few values are live at once.
        self.next_token += 1;
        self.locals += 1;
        let frame = Frame {
            token: self.next_token,
            at: spans as u32,
            carried: false,
            held_across_await: false,
            // The top frame is a recorded span, so QUIET is false and stays
            // false.
            quiet_below: false,
        };
        let depth = self.stack.len();
        let args_at = if args.is_empty() {
            NONE
        } else {
            self.batch.args.len() as u32
        };
        // SAFETY: `depth < capacity` and `spans < capacity` were checked
        // above: each write is in room the vector owns, before its length
        // covers it. The parent (`slot < spans`) is another element than
        // the one written. Every field of the new record is written, in
        // place and one by one, which the compiler keeps to plain stores (a
        // value built whole is copied through the stack);
        // `every_field_is_written` below names them all and fails to
        // compile when `RawSpan` gains one.
        unsafe {
            self.stack.as_mut_ptr().add(depth).write(frame);
            self.stack.set_len(depth + 1);
            let base = self.batch.spans.as_mut_ptr();
            let p = base.add(slot as usize).cast_const();
            let c = base.add(spans);
            (&raw mut (*c).trace_id).write((*p).trace_id);
            (&raw mut (*c).span_id).write(span_id);
            (&raw mut (*c).parent_id).write(Some((*p).span_id));
            (&raw mut (*c).start).write(start);
            (&raw mut (*c).end).write(Stamp::OPEN);
            (&raw mut (*c).name).write(meta.name());
            (&raw mut (*c).meta).write(Some(meta));
            (&raw mut (*c).inherited).write((*p).inherited);
            (&raw mut (*c).extras).write(NONE);
            (&raw mut (*c).args).write(args_at);
            // The thread's capture, else the parent's; a parent in this
            // batch already marked it as holding a capture's spans.
            let capture = if self.capture != 0 {
                self.batch.captured = true;
                self.capture
            } else {
                (*p).capture
            };
            (&raw mut (*c).capture).write(capture);
            (&raw mut (*c).flags).write((*p).flags);
            (&raw mut (*c).kind).write(meta.kind());
            (&raw mut (*c).remote_parent).write(false);
            (&raw mut (*c).tags_set).write(0);
            self.batch.spans.set_len(spans + 1);
        }
        // SAFETY: room for `args.len()` values was checked above.
        let later = unsafe { self.batch.write_args(args) };
        Some((self.next_token, later))
    }

    #[inline(never)]
    pub(super) fn enter_general(&mut self, meta: Point, args: &[ArgRef<'_>]) -> (Token, bool) {
        // A child of a span that records nothing opens no frame: it would
        // hand down the same trace, flags and baggage, and skipping it keeps
        // an unsampled call to a few loads. Context taken inside it is its
        // parent's.
        if let Some(FrameKind::Carried(c)) = self.stack.last().map(|f| self.kind(f)) {
            if c.flags & RECORDS == 0 && c.span_id.is_some() {
                return (0, false);
            }
        }
        let lineage = self.point_lineage(meta);
        let recording = lineage.flags & RECORDS != 0;
        let token = self.start_local(lineage, meta.name(), Some(meta), meta.kind(), Stamp::now());
        let mut later = false;
        if recording && !args.is_empty() {
            // The new record is the batch's last.
            self.batch.args.reserve(args.len());
            let at = self.batch.args.len() as u32;
            if let Some(raw) = self.batch.spans.last_mut() {
                raw.args = at;
            }
            // SAFETY: room for `args.len()` values was reserved above.
            later = unsafe { self.batch.write_args(args) };
        }
        (token, later)
    }

    /// Sets the values of the arguments and fields of the span `token`
    /// that were worked out after it started, by their position.
    pub(crate) fn set_args_later(&mut self, token: Token, values: Vec<(usize, Value)>) {
        let Some(FrameKind::Recorded(slot)) = self.find(token).map(|i| self.kind_at(i)) else {
            return;
        };
        let Some(start) = self.batch.spans.get(slot as usize).map(|r| r.args) else {
            return;
        };
        if start == NONE {
            return;
        }
        for (i, v) in values {
            if let Some(slot) = self.batch.args.get_mut(start as usize + i) {
                *slot = Some(v);
            }
        }
    }

    /// The common case of a pop: the innermost frame is the recorded local
    /// span `token`. Finishes it and says whether it was that case.
    #[inline(always)]
    pub(super) fn pop_top_recorded(&mut self, token: Token, end: Option<Stamp>) -> bool {
        let end = match end {
            Some(end) => end,
            None => Stamp::now(),
        };
        match self.pop_top_at(token, end, end.ticks()) {
            PopFast::Done => true,
            PopFast::HandOver => {
                self.hand_over();
                true
            }
            PopFast::HandOverFinished => {
                self.hand_over_finished();
                true
            }
            PopFast::General => false,
        }
    }

    /// The fast path of a `#[trace_fn]` call's end (see [`pop_fast`]).
    #[inline(always)]
    pub(super) fn pop_fast(&mut self, token: Token) -> PopFast {
        match Stamp::now_inline() {
            Some(end) => self.pop_top_at(token, end, Some(end.inline_ticks())),
            None => PopFast::General,
        }
    }

    /// Finishes the span `token` at `end` if its frame is the innermost and
    /// a recorded local span; says what is left to do. Allocates nothing
    /// and calls nothing.
    #[inline(always)]
    pub(super) fn pop_top_at(&mut self, token: Token, end: Stamp, ticks: Option<u64>) -> PopFast {
        let Some(&Frame {
            token: top,
            at: slot,
            carried: false,
            quiet_below,
            ..
        }) = self.stack.last()
        else {
            return PopFast::General;
        };
        if top != token {
            return PopFast::General;
        }
        // SAFETY: the stack is not empty (its last frame was just read);
        // frames are plain data, so forgetting the top one drops nothing.
        unsafe { self.stack.set_len(self.stack.len() - 1) };
        // A recorded span on top means QUIET is false now.
        if quiet_below {
            QUIET.set(true);
        }
        self.locals -= 1;
        if let Some(raw) = self.batch.spans.get_mut(slot as usize) {
            raw.end = end;
        }
        self.after_finish_ticks(ticks)
    }
}

/// The fields [`State::enter_fast`] writes into a new record, one by one:
/// all of them. The pattern has no `..`, so a field added to `RawSpan`
/// makes this fail to compile until the writer writes it too.
#[allow(dead_code)]
const fn every_field_is_written(r: RawSpan) {
    let RawSpan {
        trace_id: _,
        span_id: _,
        parent_id: _,
        start: _,
        end: _,
        name: _,
        meta: _,
        inherited: _,
        extras: _,
        args: _,
        capture: _,
        flags: _,
        kind: _,
        remote_parent: _,
        tags_set: _,
    } = r;
}
