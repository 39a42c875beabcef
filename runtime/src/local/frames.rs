//! The frame stack: what each frame stands for (a local span in the batch, an
//! owned span borrowed while it is entered, a context attached from
//! elsewhere), pushing and popping frames, and what a frame tells about its
//! span (its context, its request id, whether it records).

use super::*;

/// What a frame that carries its own ids stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// A local span that is not sampled: ids to hand down, nothing recorded.
    Local,
    /// An owned span that keeps its own record.
    Borrowed,
    /// A context from elsewhere.
    Attached,
}

/// An active span or context on this thread: 16 bytes of plain data, so
/// pushing and popping the common frame (a recorded local span) is a few
/// stores and loads with nothing to drop.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) token: Token,
    /// A recorded local span's slot in the batch, or a carried frame's
    /// index in [`State::carried`].
    pub(super) at: u32,
    /// The frame's ids live in `State::carried`, not in a record.
    pub(super) carried: bool,
    /// Found left on the stack by a guard held across `.await`, and tagged.
    pub(super) held_across_await: bool,
    /// [`QUIET`] before this frame was pushed, put back when it is popped.
    pub(super) quiet_below: bool,
}

// The size the docs state, held: a frame that grew would make every push
// and pop move more.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Frame>() == 16, "a frame is 16 bytes");

/// What a frame stands for, as read from the state.
pub(crate) enum FrameKind<'a> {
    /// A sampled local span: its ids are in its record, at this slot of the
    /// batch. The common frame, and the cheapest to push.
    Recorded(u32),
    /// Any other frame carries what a child needs.
    Carried(&'a Carried),
}

/// A frame about to be pushed.
pub(super) enum NewFrame {
    Recorded(u32),
    Carried(Carried),
}

/// The ids and inheritance of a frame without a record in the batch.
pub(crate) struct Carried {
    pub(crate) trace_id: TraceId,
    /// `None` for an attached context without a span.
    pub(crate) span_id: Option<SpanId>,
    pub(crate) inherited: Option<Arc<Inherited>>,
    pub(crate) capture: u32,
    pub(crate) flags: u8,
    pub(crate) role: Role,
    pub(crate) kind: SpanKind,
    /// The span lives in another process.
    pub(crate) remote: bool,
    /// Changes to a borrowed frame's span, until its owner takes them.
    pub(crate) queued: Queued,
    /// A borrowed request span counted for metrics: its response is queued
    /// for its owner even when it records nothing.
    pub(crate) request: bool,
}

impl Carried {
    /// Whether the frame counts as an open span of this thread, so that
    /// what finishes under it waits for it in the batch rather than being
    /// handed over at once: a local span, or an owned span that records
    /// while it is entered (a request's server span, for one poll).
    fn counted(&self) -> bool {
        self.role == Role::Local || (self.role == Role::Borrowed && self.flags & RECORDS != 0)
    }
}

impl State {
    /// What the frame `f` stands for.
    #[inline]
    pub(crate) fn kind(&self, f: &Frame) -> FrameKind<'_> {
        if f.carried {
            FrameKind::Carried(&self.carried[f.at as usize])
        } else {
            FrameKind::Recorded(f.at)
        }
    }

    /// What the frame at `index` stands for.
    #[inline]
    pub(super) fn kind_at(&self, index: usize) -> FrameKind<'_> {
        self.kind(&self.stack[index])
    }

    /// The carried ids of the frame at `index`, if it has any.
    pub(super) fn carried_mut(&mut self, index: usize) -> Option<&mut Carried> {
        let f = self.stack[index];
        f.carried.then(|| &mut self.carried[f.at as usize])
    }

    #[inline]
    pub(super) fn push(&mut self, new: NewFrame, local: bool) -> Token {
        self.ensure_tear_down();
        self.next_token += 1;
        self.locals += u32::from(local);
        let (at, carried, quiet) = match new {
            NewFrame::Recorded(slot) => (slot, false, false),
            NewFrame::Carried(c) => {
                let quiet = c.flags & RECORDS == 0 && c.span_id.is_some();
                self.carried.push(c);
                ((self.carried.len() - 1) as u32, true, quiet)
            }
        };
        self.stack.push(Frame {
            token: self.next_token,
            at,
            carried,
            held_across_await: false,
            quiet_below: QUIET.replace(quiet),
        });
        self.next_token
    }

    /// The token of the newest frame pushed so far.
    pub(crate) fn newest_token(&self) -> Token {
        self.next_token
    }

    /// Advances the tokens as if `n` frames had been pushed (a test hook).
    pub(crate) fn skip_tokens(&mut self, n: u64) {
        self.next_token = self.next_token.saturating_add(n);
    }

    /// Makes an owned span current; its record stays with its owner.
    #[inline]
    pub(crate) fn push_borrowed(&mut self, d: &Detached) -> Token {
        let carried = Carried {
            trace_id: d.raw.trace_id,
            span_id: Some(d.raw.span_id),
            inherited: d.inherited.clone(),
            capture: d.raw.capture,
            flags: d.raw.flags,
            role: Role::Borrowed,
            kind: d.raw.kind,
            remote: false,
            queued: Queued::default(),
            request: d.request.is_some(),
        };
        let counted = carried.counted();
        self.push(NewFrame::Carried(carried), counted)
    }

    /// Makes a context from elsewhere current. `open`: it is a span of this
    /// process that stays open while attached, counted as a local span so
    /// that what finishes under it leaves in one batch when it is detached.
    pub(crate) fn push_attached(
        &mut self,
        cx: Option<SpanContext>,
        capture: u32,
        open: bool,
    ) -> Token {
        let role = if open { Role::Local } else { Role::Attached };
        let carried = match cx {
            Some(cx) => Carried {
                trace_id: cx.trace_id,
                span_id: Some(cx.span_id),
                inherited: cx.inherited,
                capture,
                flags: cx.flags,
                role,
                kind: SpanKind::Internal,
                remote: cx.remote,
                queued: Queued::default(),
                request: false,
            },
            None => Carried {
                trace_id: TraceId::from_u128(1).unwrap_or_else(TraceId::random),
                span_id: None,
                inherited: None,
                capture,
                flags: 0,
                role,
                kind: SpanKind::Internal,
                remote: false,
                queued: Queued::default(),
                request: false,
            },
        };
        self.push(NewFrame::Carried(carried), open)
    }

    /// Makes a detached span local to this thread (it finishes here, with
    /// its guard): into the batch, onto the stack.
    pub(crate) fn adopt(&mut self, mut d: Detached) -> Token {
        if !d.raw.records() {
            let carried = Carried {
                trace_id: d.raw.trace_id,
                span_id: Some(d.raw.span_id),
                inherited: d.inherited.take(),
                capture: d.raw.capture,
                flags: d.raw.flags,
                role: Role::Local,
                kind: d.raw.kind,
                remote: false,
                queued: Queued::default(),
                request: false,
            };
            return self.push(NewFrame::Carried(carried), true);
        }
        let slot = self.batch.spans.len() as u32;
        let mut d = d;
        self.batch.push(&mut d);
        self.push(NewFrame::Recorded(slot), true)
    }

    /// The index of the frame with this token, searched from the top.
    #[inline]
    pub(crate) fn find(&self, token: Token) -> Option<usize> {
        match self.stack.last() {
            Some(top) if top.token == token => Some(self.stack.len() - 1),
            _ => self.stack.iter().rposition(|f| f.token == token),
        }
    }

    /// Removes the frame with `token`, with its carried ids if it has them.
    #[inline]
    pub(super) fn remove(&mut self, token: Token) -> Option<(Frame, Option<Carried>)> {
        match self.stack.last() {
            Some(top) if top.token == token => {
                let f = self.stack.pop()?;
                QUIET.set(f.quiet_below);
                // The top carried frame's ids are the last ones.
                let c = if f.carried { self.carried.pop() } else { None };
                Some((f, c))
            }
            _ => self.remove_below(token),
        }
    }

    /// A frame popped out of order (or not there at all).
    #[cold]
    #[inline(never)]
    pub(super) fn remove_below(&mut self, token: Token) -> Option<(Frame, Option<Carried>)> {
        let index = self.stack.iter().rposition(|f| f.token == token)?;
        let f = self.stack.remove(index);
        // The frame above takes over what was below the one removed.
        if let Some(above) = self.stack.get_mut(index) {
            above.quiet_below = f.quiet_below;
        } else {
            QUIET.set(f.quiet_below);
        }
        let c = if f.carried {
            // The carried frames above move down one place in `carried`.
            for above in &mut self.stack[index..] {
                if above.carried {
                    above.at -= 1;
                }
            }
            Some(self.carried.remove(f.at as usize))
        } else {
            None
        };
        Some((f, c))
    }

    /// Pops the frame with `token`, finishing a local span in it at `end`
    /// (or now). Frames above it (guards dropped out of order) stay. Changes
    /// waiting for a borrowed frame's owner are dropped: use
    /// [`State::pop_borrowed`] to take them.
    #[inline(always)]
    pub(crate) fn pop_local(&mut self, token: Token, end: Option<Stamp>) {
        if !self.pop_top_recorded(token, end) {
            self.pop_local_general(token, end);
        }
    }

    #[inline(never)]
    pub(super) fn pop_local_general(&mut self, token: Token, end: Option<Stamp>) {
        let Some((frame, carried)) = self.remove(token) else {
            return;
        };
        match carried {
            None => {
                self.locals -= 1;
                let end = end.unwrap_or_else(Stamp::now);
                if let Some(raw) = self.batch.spans.get_mut(frame.at as usize) {
                    raw.end = end;
                }
                self.after_finish(end);
            }
            Some(c) => {
                if c.counted() {
                    self.locals -= 1;
                }
                self.hand_over_if_done();
            }
        }
    }

    /// Pops a borrowed frame and returns the changes its owner must take.
    #[inline]
    pub(crate) fn pop_borrowed(&mut self, token: Token) -> Vec<Edit> {
        let failures = super::marks::request_failures(self, token);
        let Some((_, carried)) = self.remove(token) else {
            return Vec::new();
        };
        if carried.as_ref().is_some_and(Carried::counted) {
            self.locals -= 1;
        }
        self.hand_over_if_done();
        let mut edits = carried.map_or_else(Vec::new, |c| c.queued.into_edits());
        edits.extend(failures);
        edits
    }

    /// The changes queued so far for the borrowed frame `token`, which
    /// stays; see [`crate::api::active_span::Entered`]'s `DerefMut`.
    pub(crate) fn take_queued(&mut self, token: Token) -> Vec<Edit> {
        let Some(index) = self.find(token) else {
            return Vec::new();
        };
        match self.carried_mut(index) {
            Some(c) => std::mem::take(&mut c.queued).into_edits(),
            None => Vec::new(),
        }
    }

    /// Pops the borrowed frame `token` and finishes its span `d` at `end`,
    /// its queued changes applied first: what finished under the frame and
    /// the span leave in one hand-over. `false` when there is no such
    /// frame (nothing was done).
    pub(crate) fn finish_borrowed(&mut self, token: Token, d: &mut Detached, end: Stamp) -> bool {
        let failures = super::marks::request_failures(self, token);
        let Some((_, carried)) = self.remove(token) else {
            return false;
        };
        if let Some(c) = carried {
            if c.counted() {
                self.locals -= 1;
            }
            for edit in c.queued.into_edits() {
                d.apply(edit);
            }
        }
        for edit in failures {
            d.apply(edit);
        }
        // Set on an unrecorded span too: metrics measure it to `end`.
        d.raw.end = end;
        if d.raw.records() {
            self.push_finished(d);
        } else {
            self.hand_over_if_done();
        }
        true
    }

    /// Whether changes made to the frame at `index` are recorded.
    #[inline]
    pub(crate) fn is_recording(&self, index: usize) -> bool {
        match self.kind_at(index) {
            FrameKind::Recorded(_) => true,
            FrameKind::Carried(c) => c.role == Role::Borrowed && c.flags & RECORDS != 0,
        }
    }

    /// The context of the frame at `index`; `None` for an attached empty one.
    pub(crate) fn span_context(&self, index: usize) -> Option<SpanContext> {
        match self.kind_at(index) {
            FrameKind::Recorded(slot) => {
                let raw = self.batch.spans.get(slot as usize)?;
                Some(SpanContext::local(
                    raw.trace_id,
                    raw.span_id,
                    raw.flags,
                    false,
                    self.batch.inherited_at(raw.inherited).cloned(),
                ))
            }
            FrameKind::Carried(c) => Some(SpanContext::local(
                c.trace_id,
                c.span_id?,
                c.flags,
                c.remote,
                c.inherited.clone(),
            )),
        }
    }

    /// The request id of the frame at `index`, when it has an acceptable
    /// one; no context is made for it (see [`crate::data::request_id::of`]).
    pub(crate) fn request_id(&self, index: usize) -> Option<String> {
        let (baggage, flags, trace) = match self.kind_at(index) {
            FrameKind::Recorded(slot) => {
                let raw = self.batch.spans.get(slot as usize)?;
                let inherited = self.batch.inherited_at(raw.inherited);
                (inherited.map(|i| &i.baggage), raw.flags, raw.trace_id)
            }
            FrameKind::Carried(c) => (
                c.inherited.as_deref().map(|i| &i.baggage),
                c.flags,
                c.trace_id,
            ),
        };
        let mut buf = [0; crate::data::request_id::DERIVED_LEN];
        crate::data::request_id::of(baggage, flags, trace, &mut buf)
            .filter(|id| crate::data::request_id::is_acceptable(id))
            .map(str::to_owned)
    }

    /// The capture of the frame at `index`.
    pub(crate) fn capture_of(&self, index: usize) -> u32 {
        self.frame_capture(&self.stack[index])
    }

    /// The kind of the span of the frame at `index`.
    /// Whether changes to the frame at `index` are kept: it records, or it
    /// is a request span counted for metrics.
    #[inline]
    pub(crate) fn keeps_changes(&self, index: usize) -> bool {
        match self.kind_at(index) {
            FrameKind::Recorded(_) => true,
            FrameKind::Carried(c) => {
                c.role == Role::Borrowed && (c.flags & RECORDS != 0 || c.request)
            }
        }
    }

    pub(crate) fn kind_of(&self, index: usize) -> Option<SpanKind> {
        match self.kind_at(index) {
            FrameKind::Recorded(slot) => self.batch.spans.get(slot as usize).map(|r| r.kind),
            FrameKind::Carried(c) => (c.role != Role::Attached).then_some(c.kind),
        }
    }

    /// The capture a span started here belongs to: the thread's own, else
    /// its parent's.
    #[inline]
    pub(super) fn capture_with(&self, parent: u32) -> u32 {
        if self.capture != 0 {
            self.capture
        } else {
            parent
        }
    }

    /// The capture of a span started here under the current frame.
    pub(crate) fn capture_here(&self) -> u32 {
        match self.stack.last() {
            Some(f) => self.capture_with(self.frame_capture(f)),
            None => self.capture,
        }
    }

    pub(super) fn frame_capture(&self, f: &Frame) -> u32 {
        match self.kind(f) {
            FrameKind::Recorded(slot) => {
                self.batch.spans.get(slot as usize).map_or(0, |r| r.capture)
            }
            FrameKind::Carried(c) => c.capture,
        }
    }
}
