//! The thread's state as a whole: what it holds, the one way to reach it
//! (`with_state`, which a re-entrant call cannot pass), and its tear-down
//! when the thread ends.

use super::*;

thread_local! {
    pub(super) static STATE: StateCell = const {
        StateCell {
            busy: Cell::new(false),
            state: UnsafeCell::new(ManuallyDrop::new(State::new())),
        }
    };
    pub(super) static TEAR_DOWN: TearDown = const { TearDown };
}

/// One thread's tracing state: its stack of frames, the batch its spans are
/// recorded in, and what decides when that batch leaves.
pub(crate) struct State {
    pub(crate) stack: Vec<Frame>,
    /// The ids of the carried frames on `stack`, in stack order.
    pub(super) carried: Vec<Carried>,
    pub(super) batch: Batch,
    pub(super) next_token: Token,
    /// Frames holding local spans: the batch is complete when none is left.
    pub(super) locals: u32,
    /// When what finished since the last hand-over goes, in ticks: the
    /// first finish's tick plus [`MAX_AGE_TICKS`]; 0 for nothing finished.
    pub(super) hand_over_at: u64,
    /// The `testing::capture` this thread is running, 0 for none.
    pub(crate) capture: u32,
    /// The thread's tear-down is registered (see [`State::ensure_tear_down`]).
    pub(super) tear_down_registered: bool,
    /// Counts the times what is in the batch was renumbered: hand-overs,
    /// and merges of a span's repeated tags out of the arena.
    pub(super) epoch: u32,
    /// Where finished spans wait for the collector's next tick; made when
    /// the thread first hands spans over.
    pub(super) outbox: Option<Arc<collector::Outbox>>,
}

pub(super) struct StateCell {
    /// Set while a `&mut State` is out, and for good once the state is torn
    /// down; see [`with_state`].
    pub(super) busy: Cell<bool>,
    /// Without a destructor of its own, so that reaching it is a plain
    /// thread-local access, with no "is the destructor registered yet"
    /// test on every span; [`TearDown`] finishes and frees it.
    pub(super) state: UnsafeCell<ManuallyDrop<State>>,
}

/// Finishes the thread's open spans, hands everything over and frees the
/// state when the thread ends. Registered when the thread first gives the
/// state something to hold ([`State::ensure_tear_down`]).
pub(super) struct TearDown;

impl Drop for TearDown {
    fn drop(&mut self) {
        let _ = STATE.try_with(|cell| {
            // A thread ends outside any `with_state`, so this is false.
            if cell.busy.replace(true) {
                return;
            }
            // SAFETY: `busy` was false and now stays true for good: this is
            // the last `&mut State` of the thread (every `with_state` after
            // this returns `None`), and the state is dropped once, here.
            unsafe {
                let state = &mut *cell.state.get();
                state.tear_down();
                ManuallyDrop::drop(state);
            }
        });
    }
}

/// Runs `f` on this thread's state; `None` once the thread's state is torn
/// down, and `None` (doing nothing) when called from inside another
/// `with_state` on the same thread.
///
/// Nothing inside `f` may panic or run user code, with one exception that
/// cannot be ruled out: a custom global allocator, called when a buffer
/// grows. An allocator (or a panic hook, should anything panic here) that
/// calls tracekit re-enters this function; the busy flag turns that call
/// into a no-op instead of a second `&mut State`.
#[inline]
pub(crate) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE
        .try_with(|cell| {
            if cell.busy.replace(true) {
                return None;
            }
            // Clears the flag on every way out, unwinding included.
            struct Release<'a>(&'a Cell<bool>);
            impl Drop for Release<'_> {
                #[inline]
                fn drop(&mut self) {
                    self.0.set(false);
                }
            }
            let _release = Release(&cell.busy);
            // SAFETY: `busy` was false and is now true until `_release`
            // drops, so this is the only `&mut State` of this thread: every
            // other way to the state goes through this function and returns
            // above. The cell is thread-local, so no other thread sees it.
            Some(f(unsafe { &mut *cell.state.get() }))
        })
        .ok()
        .flatten()
}

/// Runs `f`, which neither allocates, nor calls anything, nor panics, on
/// this thread's state; `None` when the state is busy (see [`with_state`]).
/// Such an `f` cannot be re-entered, so the busy flag is read, not set.
#[inline(always)]
pub(super) fn with_state_inline<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|cell| {
        if cell.busy.get() {
            return None;
        }
        // SAFETY: no `&mut State` of this thread is out (`busy` is false),
        // and `f` cannot let one be made while it runs: it calls nothing
        // (no allocator, no user code, no panic). The cell is thread-local.
        Some(f(unsafe { &mut *cell.state.get() }))
    })
}

impl State {
    pub(super) const fn new() -> State {
        State {
            stack: Vec::new(),
            carried: Vec::new(),
            batch: Batch {
                spans: Vec::new(),
                tags: Vec::new(),
                args: Vec::new(),
                extras: Vec::new(),
                inherited: Vec::new(),
                captured: false,
                gone: 0,
            },
            next_token: 0,
            locals: 0,
            hand_over_at: 0,
            capture: 0,
            tear_down_registered: false,
            epoch: 0,
            outbox: None,
        }
    }

    /// Makes sure the thread's spans are finished and handed over when it
    /// ends. Every path that first gives the state something to hold (a
    /// frame, a finished span) passes here; the fast paths only act on a
    /// frame already pushed, so they never need to.
    #[inline]
    pub(super) fn ensure_tear_down(&mut self) {
        if !self.tear_down_registered {
            self.register_tear_down();
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn register_tear_down(&mut self) {
        // Touching the guard registers its destructor. When the thread is
        // already past its own (a span started by a later thread-local's
        // destructor), the span is still recorded and handed over when it
        // finishes; only the state's buffers are not freed.
        let _ = TEAR_DOWN.try_with(|_| ());
        self.tear_down_registered = true;
    }

    /// The thread is ending: spans still open are finished now, tagged
    /// `unfinished` (their guards, if they live in a thread-local destroyed
    /// after this one, will find nothing to close), and everything goes to
    /// the collector.
    pub(super) fn tear_down(&mut self) {
        let end = Stamp::now();
        while let Some(top) = self.stack.len().checked_sub(1) {
            self.edit(
                top,
                Edit::Mark(Cow::Borrowed("unfinished"), Value::Bool(true)),
            );
            // A borrowed span's owner finishes it when it drops, wherever
            // that is; its pending changes go with the thread.
            let token = self.stack[top].token;
            self.pop_local(token, Some(end));
        }
        self.hand_over();
        // Nothing of an ending thread waits for a tick.
        if let Some(outbox) = self.outbox.take() {
            outbox.hand_over();
        }
    }
}
