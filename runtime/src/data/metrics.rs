//! Span-derived metrics as every layer shares them: the switch, the
//! duration buckets, each trace point's slot in the tables, and the
//! per-slot counters a thread writes and the collector reads.
//!
//! A duration is counted in one of 16 buckets per power of two of
//! nanoseconds (below 16 ns, one bucket per nanosecond): a bucket spans at
//! most 1/16 of its lower bound, so a quantile read from the buckets is
//! within 6.25% of the exact one. The index is a leading-zero count and two
//! shifts, cheap enough for the hot path.

use crate::data::clock::{Calibration, Stamp};
use crate::data::trace_point::{Metadata, Point};
use crate::data::value::Value;
use std::borrow::Cow;
use std::cell::{Cell, OnceCell, UnsafeCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

/// Metrics are counted (`tracekit::metrics::set_enabled`).
pub(crate) static ON: AtomicBool = AtomicBool::new(false);

/// Whether metrics are counted: one load.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Buckets per power of two, as a shift.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Octaves counted past the first 16 ns: every `u64` of nanoseconds has a
/// bucket (the last octave starts at 2^63 ns), so the hot path needs no
/// clamp.
const OCTAVES: usize = 64 - SUB_BITS as usize;
/// Buckets in a histogram.
pub(crate) const BUCKETS: usize = SUB * (OCTAVES + 1);

/// The bucket of a duration of `ns` nanoseconds.
#[inline(always)]
pub(crate) fn bucket_of(ns: u64) -> usize {
    // Setting bit SUB_BITS leaves the top bit of a longer duration where it
    // is and makes a shorter one's octave the first: one formula, no branch.
    // Below 16 ns the octave term is 0 and the shift is 0 (bucket = ns);
    // above, `ns >> shift` is 16 plus the sub-bucket.
    // The largest index is 59 x 16 + 31 = BUCKETS - 1 (`u64::MAX`).
    let shift = 63 - (ns | SUB as u64).leading_zeros() - SUB_BITS;
    ((shift as usize) << SUB_BITS) + (ns >> shift) as usize
}

/// The smallest duration (ns) of bucket `i`.
pub(crate) fn lower_bound(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i >> SUB_BITS) as u32 + SUB_BITS - 1;
    ((SUB + (i & (SUB - 1))) as u64) << (e - SUB_BITS)
}

/// One past the largest duration (ns) of bucket `i` (the last bucket has
/// no end: `u64::MAX`).
pub(crate) fn upper_bound(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        u64::MAX
    } else {
        lower_bound(i + 1)
    }
}

/// Trace points with a slot of their own; later ones share the overflow
/// slot (`otel.metric.overflow`).
pub(crate) const SLOTS: usize = 2048;
/// The slot counting every point past the first `SLOTS - 2` (slot 0 is
/// never given).
pub(crate) const OVERFLOW: usize = SLOTS - 1;

/// The points by slot (slot 0 is never given: it means "none yet"), and
/// how many slots were given. A fixed array: giving a slot allocates
/// nothing under the lock, so an allocator that traces cannot re-enter it.
static POINTS: Mutex<Points> = Mutex::new(Points {
    given: 1,
    by_slot: [None; SLOTS],
});

struct Points {
    given: usize,
    by_slot: [Option<Point>; SLOTS],
}

/// The slot of `point`, given on first use.
#[inline(always)]
pub(crate) fn slot_of(point: Point, slot: &AtomicU16) -> usize {
    match slot.load(Ordering::Relaxed) {
        0 => assign(point, slot),
        s => usize::from(s),
    }
}

#[cold]
#[inline(never)]
fn assign(point: Point, slot: &AtomicU16) -> usize {
    let mut points = lock(&POINTS);
    // Another thread may have given it one while this one waited.
    let given = slot.load(Ordering::Relaxed);
    if given != 0 {
        return usize::from(given);
    }
    let s = points.given.min(OVERFLOW);
    if s < OVERFLOW {
        points.by_slot[s] = Some(point);
        points.given += 1;
    }
    slot.store(s as u16, Ordering::Relaxed);
    s
}

/// The point of each slot given so far (index = slot; `None` at 0).
pub(crate) fn points() -> Vec<Option<Point>> {
    // Copied out first: the vector is made once the lock is let go.
    let (given, by_slot) = {
        let points = lock(&POINTS);
        (points.given, points.by_slot)
    };
    by_slot[..given].to_vec()
}

/// How a call ended, as the counters tell it apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    Ok,
    /// It returned an `Err` (of this type: its Rust type name), a panic
    /// unwound through it ([`PANIC`]), or its span has an error status
    /// ([`OTHER`] when nothing names the error).
    Error(&'static str),
}

/// The bucket bounds advised for `tracekit.function.duration`: 1 µs to
/// 10 s, a function's range rather than only a request's. Prometheus's
/// function buckets by default, and OTLP's explicit ones when the
/// environment asks for explicit buckets.
///
/// ```
/// assert_eq!(tracekit::metrics::FUNCTION_BOUNDS[0], std::time::Duration::from_micros(1));
/// ```
pub const FUNCTION_BOUNDS: [Duration; 18] = {
    const US: [u64; 18] = [
        1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000,
    ];
    let mut b = [Duration::ZERO; 18];
    let mut i = 0;
    while i < US.len() {
        b[i] = Duration::from_micros(US[i]);
        i += 1;
    }
    b
};

/// The bucket bounds OpenTelemetry's HTTP conventions advise for request
/// durations: 5 ms to 10 s. Prometheus's request buckets by default, and
/// OTLP's explicit ones for the HTTP instruments when the environment asks
/// for explicit buckets.
///
/// ```
/// assert_eq!(tracekit::metrics::REQUEST_BOUNDS[0], std::time::Duration::from_millis(5));
/// ```
pub const REQUEST_BOUNDS: [Duration; 14] = {
    const MS: [u64; 14] = [
        5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 7_500, 10_000,
    ];
    let mut b = [Duration::ZERO; 14];
    let mut i = 0;
    while i < MS.len() {
        b[i] = Duration::from_millis(MS[i]);
        i += 1;
    }
    b
};

/// The `error.type` of a call a panic unwound through.
pub(crate) const PANIC: &str = "panic";
/// The `error.type` of a failure nothing names (OpenTelemetry's fallback),
/// and of the error types past a point's limit.
pub(crate) const OTHER: &str = "_OTHER";

/// One series' counters in one table: the duration buckets (whose sum is
/// the number of calls counted in them), the errors and the total time of
/// those calls. A trace point's own counters hold its calls that succeeded
/// and how many failed; its failed calls' durations are series of their
/// own, by error type ([`error_series`]).
/// Written by one thread only (a load and a store each, no read-modify-write
/// instruction) and read by the collector.
pub(crate) struct Counts {
    pub(crate) buckets: [AtomicU64; BUCKETS],
    pub(crate) errors: AtomicU64,
    pub(crate) sum_ns: AtomicU64,
}

impl Counts {
    pub(crate) fn new() -> Counts {
        Counts {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            errors: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Counts one call of a trace point: one that succeeded in the
    /// buckets, a failed one in `errors` only (its duration goes to its
    /// error type's series, [`error_series`]). Only the table's own writer
    /// calls it.
    #[inline(always)]
    pub(crate) fn add_call(&self, ns: u64, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.add(ns, false),
            Outcome::Error(_) => bump_errors(&self.errors),
        }
    }

    /// Counts one call of the trace point with slot `slot`, these being its
    /// counters: [`Counts::add_call`], and a failed call's duration in its
    /// error type's series, on this thread ([`error_series`]).
    #[inline(always)]
    pub(crate) fn count(&self, slot: usize, ns: u64, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.add(ns, false),
            Outcome::Error(error_type) => self.count_failed(slot, error_type, ns),
        }
    }

    /// [`Counts::count`] for a failed call: not counted at all from inside
    /// the bookkeeping (an allocator's call), where its error type's series
    /// cannot be, so that the failed calls and the series agree.
    #[cold]
    #[inline(never)]
    fn count_failed(&self, slot: usize, error_type: &'static str, ns: u64) {
        if in_bookkeeping() {
            return;
        }
        // The series first: a snapshot reads the errors before the series,
        // so it never sees more errors than calls.
        as_bookkeeping(|| error_series(slot, error_type, ns));
        bump_errors(&self.errors);
    }

    /// [`Counts::count`] by the bookkeeping itself (the collector counting
    /// what arrived), which counts a failed call's series at once.
    #[inline(always)]
    pub(crate) fn count_keeping(&self, slot: usize, ns: u64, outcome: Outcome) {
        self.add_call(ns, outcome);
        if let Outcome::Error(error_type) = outcome {
            error_series(slot, error_type, ns);
        }
    }

    /// Counts one call of `ns` nanoseconds in the buckets, and as an error
    /// when `failed`. Only the table's own writer calls it.
    #[inline(always)]
    pub(crate) fn add(&self, ns: u64, failed: bool) {
        let i = bucket_of(ns);
        debug_assert!(i < BUCKETS);
        // SAFETY: `bucket_of` is below `BUCKETS` for every `u64` (its
        // largest, for `u64::MAX`, is `BUCKETS - 1`; tested below), and
        // the index saves the hot path a bounds test.
        bump(unsafe { self.buckets.get_unchecked(i) }, 1);
        bump(&self.sum_ns, ns);
        if failed {
            bump(&self.errors, 1);
        }
    }
}

impl Counts {
    /// Adds what `other` holds (its writer's and this one's the same thread).
    pub(crate) fn merge(&self, other: &Counts) {
        for (mine, theirs) in self.buckets.iter().zip(&other.buckets) {
            bump(mine, theirs.load(Ordering::Relaxed));
        }
        bump(&self.errors, other.errors.load(Ordering::Relaxed));
        bump(&self.sum_ns, other.sum_ns.load(Ordering::Relaxed));
    }
}

/// Adds `n` to a counter only this thread writes.
#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Adds a failed call to `errors` after its error-type series was counted:
/// a snapshot that sees it (an acquire load) sees that series too.
#[inline]
fn bump_errors(errors: &AtomicU64) {
    errors.store(
        errors.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Release,
    );
}

/// A table of counters by slot, each made on the slot's first count.
pub(crate) struct Table {
    slots: [AtomicPtr<Counts>; SLOTS],
}

/// The table of a thread that has counted nothing yet: every slot empty,
/// never written (see [`count_slow`]).
static EMPTY: Table = Table::new();

/// The table a thread reads while it holds failures marked on calls that
/// record nothing ([`divert`]): every slot empty, never written, so that
/// every count on the thread takes the slow path, which settles them.
static DIVERTED: Table = Table::new();

impl Table {
    /// A table with every slot empty.
    const fn new() -> Table {
        Table {
            slots: [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS],
        }
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::new()
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: made by `Box::into_raw` in `make` and owned by the
                // table alone, which is going.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

impl Table {
    /// The counters of `slot` (at most [`OVERFLOW`]; the mask keeps any
    /// index in bounds without a test), made if need be. Only the table's
    /// writer calls it.
    #[inline(always)]
    pub(crate) fn counts(&self, slot: usize) -> &Counts {
        let cell = &self.slots[slot & OVERFLOW];
        let p = cell.load(Ordering::Acquire);
        if p.is_null() {
            return make(cell);
        }
        // SAFETY: a non-null slot holds a `Box` the table owns until it
        // drops, and the table outlives this borrow.
        unsafe { &*p }
    }

    /// The counters of `slot` if they were made.
    #[inline(always)]
    pub(crate) fn made(&self, slot: usize) -> Option<&Counts> {
        let p = self.slots[slot & OVERFLOW].load(Ordering::Acquire);
        // SAFETY: as in `counts`.
        unsafe { p.as_ref() }
    }

    /// Each slot in use and its counters.
    pub(crate) fn each(&self) -> impl Iterator<Item = (usize, &Counts)> {
        self.slots.iter().enumerate().filter_map(|(i, c)| {
            let p = c.load(Ordering::Acquire);
            // SAFETY: as in `counts`.
            (!p.is_null()).then(|| (i, unsafe { &*p }))
        })
    }
}

/// Makes a slot's counters: its writer alone stores into an empty slot, so
/// no other store can race this one; readers see it published (`Release`).
#[cold]
#[inline(never)]
fn make(cell: &AtomicPtr<Counts>) -> &Counts {
    let p = Box::into_raw(Box::new(Counts::new()));
    cell.store(p, Ordering::Release);
    // SAFETY: just made, owned by the table from here on.
    unsafe { &*p }
}

/// The tick rate, as nanoseconds per tick times 2^32: the hot path turns a
/// call's ticks into nanoseconds with a multiply and a shift. Set when
/// metrics are switched on and at every collector tick.
pub(crate) static NANOS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(1 << 32);

/// `ticks` in nanoseconds.
#[inline(always)]
pub(crate) fn ticks_to_nanos(ticks: u64) -> u64 {
    ticks_to_nanos_at(ticks, NANOS_PER_TICK_Q32.load(Ordering::Relaxed))
}

/// `ticks << SHIFT` (with its top `SHIFT` bits clear before the shift) in
/// nanoseconds: the multiply's own shift undoes it.
#[inline(always)]
pub(crate) fn shifted_ticks_to_nanos<const SHIFT: u32>(shifted: u64) -> u64 {
    let q32 = NANOS_PER_TICK_Q32.load(Ordering::Relaxed);
    ((u128::from(shifted) * u128::from(q32)) >> (32 + SHIFT)) as u64
}

/// `ticks` in nanoseconds at `q32` nanoseconds per tick times 2^32.
#[inline(always)]
pub(crate) fn ticks_to_nanos_at(ticks: u64, q32: u64) -> u64 {
    ((u128::from(ticks) * u128::from(q32)) >> 32) as u64
}

/// The tables of threads that count calls with no span; a snapshot sums
/// them (`collect/metrics.rs`).
pub(crate) static THREADS: Mutex<Vec<Arc<Table>>> = Mutex::new(Vec::new());

/// Adds a thread's table to those a snapshot reads.
pub(crate) fn register(table: Arc<Table>) {
    lock(&THREADS).push(table);
}

/// Owns this thread's table while the thread runs; its drop lets go of it
/// (the collector folds what it counted into the retired counts).
struct Owner(#[allow(dead_code)] Arc<Table>);

impl Drop for Owner {
    fn drop(&mut self) {
        if is_diverted() {
            REAL.set(&EMPTY);
        } else {
            TABLE.set(&EMPTY);
        }
    }
}

thread_local! {
    /// This thread's table; [`EMPTY`] until its first count and after the
    /// thread's tear-down began, so that the hot path needs no null test.
    /// No destructor: reaching it is one thread-local access.
    static TABLE: Cell<*const Table> = const { Cell::new(&EMPTY) };
    /// This thread's table while [`TABLE`] is [`DIVERTED`].
    static REAL: Cell<*const Table> = const { Cell::new(&EMPTY) };
    static OWNER: UnsafeCell<Option<Owner>> = const { UnsafeCell::new(None) };
}

/// Sends every count on this thread down the slow path (the caller's, from
/// [`count_if_made`]) until [`undivert`]: how a thread holding failures
/// marked on calls that record nothing has them settled at those calls'
/// ends, with nothing tested on the common path. Counting still works while
/// diverted, into the thread's own table.
pub(crate) fn divert() {
    let table = TABLE.get();
    if !std::ptr::eq(table, &DIVERTED) {
        REAL.set(table);
        TABLE.set(&DIVERTED);
    }
}

/// Ends [`divert`].
pub(crate) fn undivert() {
    if is_diverted() {
        TABLE.set(REAL.get());
    }
}

/// This thread's table, diverted or not.
fn real_table() -> *const Table {
    match is_diverted() {
        true => REAL.get(),
        false => TABLE.get(),
    }
}

/// [`count_if_made`] into this thread's own table, diverted or not: the
/// slow path's count once it settled what diverted it.
pub(crate) fn count_real_if_made(slot: usize, ns: u64, outcome: Outcome) -> bool {
    // SAFETY: as in `count_if_made`; `REAL` holds what `TABLE` held.
    count_in(unsafe { &*real_table() }, slot, ns, outcome)
}

/// Whether this thread's counts are [`divert`]ed.
#[inline]
pub(crate) fn is_diverted() -> bool {
    std::ptr::eq(TABLE.get(), &DIVERTED)
}

/// Counts a call of `point` that took `ns` nanoseconds and recorded no
/// span, in this thread's table.
#[inline(always)]
pub(crate) fn count_call(point: Point, ns: u64, outcome: Outcome) {
    count_slot(point.metrics_slot(), ns, outcome);
}

/// Counts a call of the point with slot `slot` that took `ns` nanoseconds
/// and recorded no span, in this thread's table. The common case (the
/// table and the slot's counters made) calls nothing.
#[inline(always)]
pub(crate) fn count_slot(slot: usize, ns: u64, outcome: Outcome) {
    // Every point's slot is at least 1: nothing to do for 0 (and nothing
    // made for it, which would hide the marker `count_if_made` leaves to
    // its caller).
    if !count_if_made(slot, ns, outcome) && slot != 0 && !count_real_if_made(slot, ns, outcome) {
        count_slow(slot, ns, outcome);
    }
}

/// [`count_slot`] when the counters of `slot` are at hand; `false` when
/// they are not: not made yet on this thread, counts [`divert`]ed, or
/// `slot` 0 (no point's: the caller's marker for a call counted some other
/// way). The caller tells these apart on its slow path, where
/// [`count_slow`] counts.
#[inline(always)]
pub(crate) fn count_if_made(slot: usize, ns: u64, outcome: Outcome) -> bool {
    // SAFETY: `EMPTY` or `DIVERTED`, or set by `own_table` from the `Arc`
    // that `OWNER` holds and reset to `EMPTY` before that `Arc` goes.
    count_in(unsafe { &*TABLE.get() }, slot, ns, outcome)
}

/// Counts in `table` when the counters of `slot` are made there.
#[inline(always)]
fn count_in(table: &Table, slot: usize, ns: u64, outcome: Outcome) -> bool {
    match table.made(slot) {
        Some(c) => {
            c.count(slot, ns, outcome);
            true
        }
        None => false,
    }
}

/// This thread's counters of `slot`: how many calls, their total
/// nanoseconds, and how many in the first bucket (0 ns).
#[cfg(test)]
pub(crate) fn thread_counts(slot: usize) -> Option<(u64, u64, u64)> {
    // SAFETY: as in `count_slot`.
    let table = unsafe { &*real_table() };
    table.made(slot).map(|c| {
        (
            c.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum(),
            c.sum_ns.load(Ordering::Relaxed),
            c.buckets[0].load(Ordering::Relaxed),
        )
    })
}

/// [`count_slot`] the first time (a table or counters to make), or as the
/// thread ends (in the late table).
#[cold]
#[inline(never)]
pub(crate) fn count_slow(slot: usize, ns: u64, outcome: Outcome) {
    unless_bookkeeping(|| {
        // The error's series first, as in `count_failed`.
        if let Outcome::Error(error_type) = outcome {
            error_series(slot, error_type, ns);
        }
        let mut table = real_table();
        if std::ptr::eq(table, &EMPTY) {
            table = own_table();
        }
        if std::ptr::eq(table, &EMPTY) {
            count_late(slot, ns, outcome);
        } else {
            // SAFETY: as in `count_slot`.
            unsafe { &*table }.counts(slot).add_call(ns, outcome);
        }
    });
}

/// The table of calls counted after their thread's own table went (a
/// traced call in another thread-local's destructor): one for the
/// process, written under its lock, which only such calls take. Its `Arc`
/// here keeps it listed for good.
static LATE: Mutex<Option<Arc<Table>>> = Mutex::new(None);

/// Counts a call as its thread ends, in the [`LATE`] table (its error
/// type aside).
fn count_late(slot: usize, ns: u64, outcome: Outcome) {
    let mut late = lock(&LATE);
    let table = late.get_or_insert_with(|| {
        let table = Arc::new(Table::new());
        register(Arc::clone(&table));
        table
    });
    // The lock makes this its only writer.
    table.counts(slot).add_call(ns, outcome);
}

thread_local! {
    /// Set while this thread is inside the metrics' own bookkeeping: code
    /// that holds a lock of theirs and may allocate (a table or series
    /// made, a snapshot). No destructor, so it is there however far the
    /// thread's tear-down has gone.
    static BOOKKEEPING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as the metrics' bookkeeping on this thread. A call counted
/// from inside it (by an allocator that traces, as a table grows) finds
/// [`unless_bookkeeping`] refusing: it is not counted, rather than wait on
/// a lock its own thread holds.
pub(crate) fn as_bookkeeping<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BOOKKEEPING.set(self.0);
        }
    }
    let _restore = Restore(BOOKKEEPING.replace(true));
    f()
}

/// Whether this thread is inside the metrics' bookkeeping.
pub(crate) fn in_bookkeeping() -> bool {
    BOOKKEEPING.get()
}

/// [`as_bookkeeping`], or `None` without running `f` when this thread is
/// inside the bookkeeping already.
fn unless_bookkeeping<R>(f: impl FnOnce() -> R) -> Option<R> {
    match BOOKKEEPING.get() {
        true => None,
        false => Some(as_bookkeeping(f)),
    }
}

/// A new table of series, listed in `threads` for snapshots to read.
fn listed<T: Default>(threads: &Mutex<Vec<Arc<Mutex<T>>>>) -> Arc<Mutex<T>> {
    let table = Arc::new(Mutex::new(T::default()));
    lock(threads).push(Arc::clone(&table));
    table
}

/// Runs `count` on this thread's table of series in `own`, or, once the
/// thread's tear-down has taken it, on the process's table for such late
/// calls, `late`. Both are listed in `threads`. Only as the bookkeeping
/// (it allocates under their locks).
fn count_series<T: Default>(
    own: &'static std::thread::LocalKey<OnceCell<Arc<Mutex<T>>>>,
    late: &'static OnceLock<Arc<Mutex<T>>>,
    threads: &'static Mutex<Vec<Arc<Mutex<T>>>>,
    count: impl FnOnce(&mut T),
) {
    let mut count = Some(count);
    let _ = own.try_with(|cell| {
        if let Some(count) = count.take() {
            count(&mut lock(cell.get_or_init(|| listed(threads))));
        }
    });
    if let Some(count) = count {
        count(&mut lock(late.get_or_init(|| listed(threads))));
    }
}

/// A function's failed calls of one `error.type`: its slot and the type
/// (a Rust type name as `std::any::type_name` gives it, [`PANIC`] or
/// [`OTHER`]; as exported, readable and admitted, in an [`ErrorTable`]'s
/// series).
pub(crate) type ErrorKey = (usize, &'static str);

/// Error types counted apart per trace point; later ones are counted as
/// [`OTHER`].
pub(crate) const ERROR_TYPES_PER_POINT: usize = 16;
/// Error types counted apart in the process (over every point); later ones
/// are counted as their point's [`OTHER`], so a point's failed calls stay
/// its own.
pub(crate) const ERROR_SERIES: usize = 2000;

/// A thread's counters of failed calls by function and error type: their
/// durations (a function's own counters, `Table`, count only how many
/// failed), so that each series only ever grows.
#[derive(Default)]
pub(crate) struct ErrorTable {
    /// By the type as exported (readable, admitted).
    pub(crate) series: HashMap<ErrorKey, Box<Counts>>,
    /// The exported type of each type as counted: worked out (and
    /// admitted against the limits) once per thread.
    names: HashMap<ErrorKey, &'static str>,
}

/// The error tables of every thread that counted a failed call.
pub(crate) static ERROR_THREADS: Mutex<Vec<Arc<Mutex<ErrorTable>>>> = Mutex::new(Vec::new());

/// The error types admitted per slot, against [`ERROR_TYPES_PER_POINT`],
/// and how many in all, against [`ERROR_SERIES`].
#[derive(Default)]
struct ErrorTypes {
    by_slot: HashMap<usize, HashSet<&'static str>>,
    total: usize,
}

impl ErrorTypes {
    /// `error_type` if slot `slot` may count another error type, else
    /// [`OTHER`].
    fn admit(&mut self, slot: usize, error_type: &'static str) -> &'static str {
        let types = self.by_slot.entry(slot).or_default();
        if error_type == OTHER || types.contains(error_type) {
            return error_type;
        }
        if types.len() < ERROR_TYPES_PER_POINT && self.total < ERROR_SERIES {
            types.insert(error_type);
            self.total += 1;
            error_type
        } else {
            OTHER
        }
    }
}

static ERROR_TYPES: Mutex<Option<ErrorTypes>> = Mutex::new(None);

thread_local! {
    static ERRORS: OnceCell<Arc<Mutex<ErrorTable>>> = const { OnceCell::new() };
}

/// Counts a failed call of slot `slot` by its error type, in this thread's
/// error table; only as the bookkeeping. Off the common path: only failed
/// calls come here, and the table's lock is this thread's own (a snapshot
/// takes it briefly), so an error storm on many threads contends on
/// nothing shared.
fn error_series(slot: usize, error_type: &'static str, ns: u64) {
    static LATE_ERRORS: OnceLock<Arc<Mutex<ErrorTable>>> = OnceLock::new();
    count_series(&ERRORS, &LATE_ERRORS, &ERROR_THREADS, |table| {
        let name = match table.names.get(&(slot, error_type)) {
            Some(&name) => name,
            None => {
                let name = admit_error_type(slot, exported_name(error_type));
                table.names.insert((slot, error_type), name);
                name
            }
        };
        table
            .series
            .entry((slot, name))
            .or_insert_with(|| Box::new(Counts::new()))
            .add(ns, true);
    });
}

/// A type name as `error.type` says it (a trait object's paths cut, as a
/// span's `exception.type` says it too), kept as static text: one series
/// however the type was named when counted (`_OTHER` once the kept
/// strings are full).
fn exported_name(error_type: &'static str) -> &'static str {
    match crate::data::error_parts::readable_type_name(error_type) {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => crate::data::intern::string(&name).unwrap_or(OTHER),
    }
}

/// `error_type` if slot `slot` may count another error type, else
/// [`OTHER`].
fn admit_error_type(slot: usize, error_type: &'static str) -> &'static str {
    lock(&ERROR_TYPES)
        .get_or_insert_with(ErrorTypes::default)
        .admit(slot, error_type)
}

/// Makes and registers this thread's table; [`EMPTY`] once the thread is
/// ending.
fn own_table() -> *const Table {
    OWNER
        .try_with(|o| {
            let table = Arc::new(Table::default());
            register(Arc::clone(&table));
            let p = Arc::as_ptr(&table);
            // SAFETY: this thread's own cell, not borrowed elsewhere (the
            // only other access is its destructor).
            unsafe { *o.get() = Some(Owner(table)) };
            if is_diverted() {
                REAL.set(p);
            } else {
                TABLE.set(p);
            }
            p
        })
        .unwrap_or(&EMPTY)
}

/// A poisoned lock's data is still whole here: every update is a store.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The protocol of a request span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    Http,
    Grpc,
}

/// What a request's series is told apart by: OpenTelemetry's attributes
/// of `http.server.request.duration`, `http.client.request.duration`,
/// `rpc.server.duration` and `rpc.client.duration`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RequestKey {
    pub(crate) protocol: Protocol,
    pub(crate) server: bool,
    /// `http.request.method` (a known method or `_OTHER`), or `rpc.method`.
    pub(crate) method: Cow<'static, str>,
    /// `http.route` (servers), or `rpc.service`.
    pub(crate) route: Option<Cow<'static, str>>,
    /// `http.response.status_code`, or `rpc.grpc.status_code`.
    pub(crate) status: Option<u32>,
    pub(crate) error_type: Option<Cow<'static, str>>,
    /// `server.address` and `server.port` (HTTP clients).
    pub(crate) address: Option<Cow<'static, str>>,
    pub(crate) port: Option<u16>,
    /// `url.scheme` (HTTP servers that know it).
    pub(crate) scheme: Option<&'static str>,
    /// `network.protocol.version` (HTTP: `1.1`, `2`, ...), when known.
    pub(crate) version: Option<&'static str>,
    /// The series of every key past the series limit.
    pub(crate) overflow: bool,
}

/// A request span counted for metrics, sampled or not: its key, filled in
/// as the response is recorded on the span.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) key: RequestKey,
    /// The span has an error status (or the old `error = true` tag).
    pub(crate) failed: bool,
    /// The type of an error recorded on the span: its `error.type` when it
    /// failed with no status code and nothing else names it.
    pub(crate) exception_type: Option<Cow<'static, str>>,
    /// The request ended with no response (a panic, an error in its
    /// place): it failed, and an HTTP status code recorded before (never
    /// sent) is no attribute.
    pub(crate) no_response: bool,
    /// A gRPC server's call that no gRPC service answered (the response
    /// is not gRPC's): its service and method are only what the caller
    /// wrote, so it is counted as an unknown method.
    pub(crate) not_served: bool,
}

impl Request {
    pub(crate) fn new(protocol: Protocol, server: bool, method: Cow<'static, str>) -> Request {
        Request {
            key: RequestKey {
                protocol,
                server,
                method,
                route: None,
                status: None,
                error_type: None,
                address: None,
                port: None,
                scheme: None,
                version: None,
                overflow: false,
            },
            failed: false,
            exception_type: None,
            no_response: false,
            not_served: false,
        }
    }

    /// Learns from a tag set on the span what its series needs. A status
    /// code is its protocol's own (an HTTP status on a gRPC span, such as
    /// the 200 that carries every gRPC response, is not its gRPC status),
    /// as a signed or an unsigned number.
    pub(crate) fn observe(&mut self, key: &str, value: &Value) {
        let status_key = match self.key.protocol {
            Protocol::Http => matches!(key, "http.response.status_code" | "http.status_code"),
            Protocol::Grpc => key == "rpc.grpc.status_code",
        };
        match (key, value) {
            (_, Value::I64(code)) if status_key => self.key.status = u32::try_from(*code).ok(),
            (_, Value::U64(code)) if status_key => self.key.status = u32::try_from(*code).ok(),
            ("error.type", v) => {
                let text = match v {
                    Value::Str(t) => t.as_str().to_owned(),
                    other => other.to_string(),
                };
                // An empty label is no label in Prometheus: no error type.
                self.key.error_type = (!text.is_empty()).then_some(Cow::Owned(text));
            }
            ("error", Value::Bool(true)) => self.failed = true,
            // Learnt after the span started (a handler that knows its
            // route template, a server behind TLS): HTTP servers' series
            // follow. A scheme is `https` or `http`, never free text; a
            // route must be a template (`/users/{id}`), as at the start.
            ("http.route", Value::Str(route))
                if self.key.protocol == Protocol::Http && self.key.server =>
            {
                self.key.route = Some(crate::data::intern::kept_text(route.as_str()));
            }
            ("network.protocol.version", Value::Str(version))
                if self.key.protocol == Protocol::Http =>
            {
                // Static text from a short list: never a caller's words; a
                // value not on it leaves what was known.
                if let Some(known) = ["0.9", "1.0", "1.1", "2", "3"]
                    .into_iter()
                    .find(|v| *v == version.as_str())
                {
                    self.key.version = Some(known);
                }
            }
            ("url.scheme", Value::Str(scheme))
                if self.key.protocol == Protocol::Http && self.key.server =>
            {
                self.key.scheme = Some(match scheme.as_str().eq_ignore_ascii_case("https") {
                    true => "https",
                    false => "http",
                });
            }
            _ => {}
        }
    }

    /// The series key as counted, and whether the request failed, as
    /// OpenTelemetry's HTTP and RPC conventions say: a request answered
    /// with a status code failed if and only if that code is a failure
    /// ([`status_fails`]), whatever was recorded on the way (a handler's
    /// error answered with a 400, an inner layer's 500 that an outer one
    /// replaced), and only then has an `error.type`: the one set on its
    /// span, else its code (gRPC's by name, `UNAVAILABLE`). A request that
    /// ended with no response (a panic, an error in its place; on a
    /// client, one that had no status yet) failed, whatever status was
    /// recorded before (an HTTP one is dropped: it was never sent; a gRPC
    /// call's is UNKNOWN), named by what ended it
    /// (`panic`, the error's type) over an `error.type` set on its span. A
    /// request with no status failed if it is marked so (an error status,
    /// `error = true`) or names an `error.type`: that one, else the type of
    /// the error recorded on it, else `_OTHER`. Empty text is no attribute
    /// (Prometheus reads an empty label as an absent one, which would make
    /// two series one). A gRPC server's call of a method it does not have
    /// (UNIMPLEMENTED), or one no gRPC service answered
    /// ([`Request::not_served`]), is counted under method `_OTHER` and no
    /// service, as the conventions say: its names come from whoever calls,
    /// and would fill the series; a served call's names are kept from then
    /// on.
    fn counted_key(&mut self) -> (&RequestKey, bool) {
        let k = &mut self.key;
        for text in [&mut k.route, &mut k.address] {
            if text.as_deref() == Some("") {
                *text = None;
            }
        }
        if k.protocol == Protocol::Grpc && k.server {
            if k.status == Some(GRPC_UNIMPLEMENTED) || self.not_served {
                k.method = Cow::Borrowed("_OTHER");
                k.route = None;
            } else {
                // Served: the names are the service's own, kept from now on
                // (the caller's copies were not, see `grpc::counted`).
                keep(&mut k.method);
                if let Some(service) = k.route.as_mut() {
                    keep(service);
                }
            }
        }
        // A server's response never went out; a client that had its status
        // before a panic (in the code handling the response) had its answer.
        let no_response = self.no_response && (k.server || k.status.is_none());
        if no_response {
            k.status = match k.protocol {
                // Never sent: no attribute.
                Protocol::Http => None,
                // gRPC's conventions require a status on every call: one
                // that ended with none sent or received is UNKNOWN.
                Protocol::Grpc => Some(GRPC_UNKNOWN),
            };
        }
        let failed = match k.status {
            _ if no_response => {
                // What took the response's place names it (`panic`, the
                // error's type), over an `error.type` a status recorded
                // before set on the span.
                let named = self.exception_type.take().or(k.error_type.take());
                k.error_type = Some(named.unwrap_or(Cow::Borrowed("_OTHER")));
                true
            }
            Some(code) if status_fails(k.protocol, k.server, code) => {
                if k.error_type.is_none() {
                    k.error_type = Some(match (k.protocol, grpc_status_name(code)) {
                        (Protocol::Grpc, Some(name)) => Cow::Borrowed(name),
                        _ => Cow::Owned(code.to_string()),
                    });
                }
                true
            }
            Some(_) => {
                k.error_type = None;
                false
            }
            None => {
                let failed = self.failed || k.error_type.is_some();
                if failed && k.error_type.is_none() {
                    k.error_type = Some(
                        self.exception_type
                            .take()
                            .unwrap_or(Cow::Borrowed("_OTHER")),
                    );
                }
                failed
            }
        };
        (&self.key, failed)
    }
}

/// gRPC's name of status `code` (`UNAVAILABLE` for 14), which
/// OpenTelemetry's RPC conventions give as a failed call's `error.type`.
fn grpc_status_name(code: u32) -> Option<&'static str> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(usize::try_from(code).ok()?).copied()
}

/// `text` as a kept string if it can be kept (an allocation less for each
/// series key made of it from now on).
fn keep(text: &mut Cow<'static, str>) {
    let kept = match text {
        Cow::Owned(owned) => crate::data::intern::string(owned),
        Cow::Borrowed(_) => None,
    };
    if let Some(kept) = kept {
        *text = Cow::Borrowed(kept);
    }
}

/// gRPC's UNKNOWN status: a call that ended with none.
const GRPC_UNKNOWN: u32 = 2;

/// gRPC's UNIMPLEMENTED status: no such method.
const GRPC_UNIMPLEMENTED: u32 = 12;

/// Whether a response's status code says the request failed, as
/// OpenTelemetry's conventions say. HTTP: a server's at 5xx (a 4xx is the
/// client's mistake), a client's at 4xx and 5xx, anyone's at a code that
/// is not a status (outside 100 to 599). gRPC: a server's at UNKNOWN,
/// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS or a
/// code past 16 (NOT_FOUND and the like are the client's), a client's at
/// every code but OK.
pub(crate) fn status_fails(protocol: Protocol, server: bool, code: u32) -> bool {
    match protocol {
        Protocol::Http => match code {
            100..=399 => false,
            400..=499 => !server,
            _ => true,
        },
        Protocol::Grpc if server => matches!(code, 2 | 4 | 12 | 13 | 14 | 15) || code > 16,
        Protocol::Grpc => code != 0,
    }
}

/// A duration in a few characters: `950ns`, `12.3µs`, `4.56ms`, `1.234s`.
/// The unit is chosen after rounding, so 999,960 ns is `1.00ms`, not
/// `1000.0µs`. Also the console's trace tree's, from a microsecond up.
pub(crate) fn short(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns.round() < 1e3 {
        format!("{ns:.0}ns")
    } else if (ns / 1e2).round() < 1e4 {
        format!("{:.1}µs", ns / 1e3)
    } else if (ns / 1e4).round() < 1e5 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.3}s", ns / 1e9)
    }
}

/// When metrics were first switched on ([`Metrics::start_time`]).
pub(crate) static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// How a reporter in the layers below takes a snapshot at exit (the
/// console's table): set where metrics are switched on.
pub(crate) static SNAPSHOT: OnceLock<fn() -> Metrics> = OnceLock::new();

/// Distinct request series allowed in the process; later ones are counted
/// in one overflow series per protocol and side (`otel.metric.overflow`).
pub(crate) const REQUEST_SERIES: usize = 2000;

/// The request series seen in the process, against the limit.
static SERIES: Mutex<Option<HashSet<RequestKey>>> = Mutex::new(None);

/// A thread's request counters by series.
#[derive(Default)]
pub(crate) struct RequestTable {
    pub(crate) series: HashMap<RequestKey, Box<Counts>>,
    /// Keys the process refused (past [`REQUEST_SERIES`]) that this thread
    /// saw, counted as their side's overflow series without asking again:
    /// past the limit, a key's every request would otherwise take the
    /// process's lock. At most [`REFUSED_KEPT`]; then it starts afresh.
    refused: HashSet<RequestKey>,
}

/// Refused request keys a thread remembers.
const REFUSED_KEPT: usize = 256;

/// The request tables of every thread that counted one.
pub(crate) static REQUEST_THREADS: Mutex<Vec<Arc<Mutex<RequestTable>>>> = Mutex::new(Vec::new());

thread_local! {
    static REQUESTS: OnceCell<Arc<Mutex<RequestTable>>> = const { OnceCell::new() };
}

/// The nanoseconds from `start` to `end`: from the ticks when both are
/// clock readings (the tick rate as last measured), else through
/// `calibration` (measured now when `None`), for times given explicitly.
pub(crate) fn span_nanos(start: Stamp, end: Stamp, calibration: Option<&Calibration>) -> u64 {
    match (start.ticks(), end.ticks()) {
        (Some(s), Some(e)) => ticks_to_nanos(e.saturating_sub(s)),
        _ => {
            let now;
            let c = match calibration {
                Some(c) => c,
                None => {
                    now = Calibration::now();
                    &now
                }
            };
            c.unix_nanos(end).saturating_sub(c.unix_nanos(start))
        }
    }
}

/// Counts a finished request span that took `ns` nanoseconds on this
/// thread.
pub(crate) fn count_request(request: &mut Request, ns: u64) {
    let (key, failed) = request.counted_key();
    static LATE_REQUESTS: OnceLock<Arc<Mutex<RequestTable>>> = OnceLock::new();
    unless_bookkeeping(|| {
        count_series(&REQUESTS, &LATE_REQUESTS, &REQUEST_THREADS, |table| {
            if let Some(c) = table.series.get(key) {
                c.add(ns, failed);
                return;
            }
            let admitted = if table.refused.contains(key) {
                overflow_of(key)
            } else {
                let admitted = admit(key);
                if admitted.overflow {
                    if table.refused.len() >= REFUSED_KEPT {
                        table.refused.clear();
                    }
                    table.refused.insert(key.clone());
                }
                admitted
            };
            table
                .series
                .entry(admitted)
                .or_insert_with(|| Box::new(Counts::new()))
                .add(ns, failed);
        });
    });
}

/// `key` if the process may count another series, else its side's
/// overflow series.
fn admit(key: &RequestKey) -> RequestKey {
    let mut series = lock(&SERIES);
    let series = series.get_or_insert_with(HashSet::new);
    if series.contains(key) {
        return key.clone();
    }
    if series.len() < REQUEST_SERIES {
        series.insert(key.clone());
        return key.clone();
    }
    overflow_of(key)
}

/// The overflow series of `key`'s side.
fn overflow_of(key: &RequestKey) -> RequestKey {
    RequestKey {
        protocol: key.protocol,
        server: key.server,
        method: Cow::Borrowed(""),
        route: None,
        status: None,
        error_type: None,
        address: None,
        port: None,
        scheme: None,
        version: None,
        overflow: true,
    }
}

/// The durations of a trace point's calls, counted in buckets of at most
/// 1/16 of a power of two of nanoseconds each.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
/// #[tracekit::trace_fn]
/// fn lookup() {}
///
/// tracekit::metrics::set_enabled(true);
/// for _ in 0..10 { lookup(); }
/// let metrics = tracekit::metrics::snapshot();
/// let f = metrics.function("lookup").unwrap();
/// assert_eq!(f.duration().count(), 10);
/// assert!(f.duration().quantile(0.99).is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    sum_ns: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            sum_ns: 0,
        }
    }
}

impl Histogram {
    /// One call of each of `durations`, summing to `sum` ([`crate::__support::histogram_of`]).
    pub(crate) fn of(durations: &[Duration], sum: Duration) -> Histogram {
        let mut h = Histogram::default();
        for d in durations {
            h.counts[bucket_of(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))] += 1;
        }
        h.sum_ns = u64::try_from(sum.as_nanos()).unwrap_or(u64::MAX);
        h
    }

    /// Adds what a table's counters hold.
    pub(crate) fn add_counts(&mut self, c: &Counts) {
        for (mine, theirs) in self.counts.iter_mut().zip(&c.buckets) {
            *mine += theirs.load(Ordering::Relaxed);
        }
        self.sum_ns = self.sum_ns.wrapping_add(c.sum_ns.load(Ordering::Relaxed));
    }

    /// Adds another histogram's counts.
    pub(crate) fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }

    /// What was counted after `earlier`, a snapshot of the same series
    /// taken before this one: a delta for exporters that send deltas.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
    /// #[tracekit::trace_fn]
    /// fn tick() {}
    /// tracekit::metrics::set_enabled(true);
    /// tick();
    /// let before = tracekit::metrics::snapshot().function("tick").unwrap().duration().clone();
    /// tick();
    /// tick();
    /// let after = tracekit::metrics::snapshot().function("tick").unwrap().duration().clone();
    /// assert_eq!(after.since(&before).count(), 2);
    /// ```
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
            // The sum is kept modulo 2^64 ns (584 years of summed time):
            // the difference is right across a wrap.
            sum_ns: self.sum_ns.wrapping_sub(earlier.sum_ns),
        }
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their total (modulo 2^64 nanoseconds, 584 years: a series whose
    /// calls sum to more starts again from 0).
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// The duration below which a fraction `q` (0 to 1) of the calls took,
    /// as the middle of the bucket that holds it (within 1/32 of a power of
    /// two of the exact one), or the total of all the calls when that is
    /// less (a single call's quantiles are its duration); `None` when
    /// nothing was counted, or `q` is not a number.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 || q.is_nan() {
            return None;
        }
        // The rank is ceil(q * n), with q * n that lands a rounding error
        // above an integer taken as that integer (0.55 * 100 is
        // 55.00000000000001, whose ceiling would be one call too high).
        let x = q.clamp(0.0, 1.0) * n as f64;
        let nearest = x.round();
        let rank = if (x - nearest).abs() <= nearest * 1e-12 {
            nearest
        } else {
            x.ceil()
        };
        let rank = (rank as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = (
                    lower_bound(i),
                    upper_bound(i).min(lower_bound(i).saturating_mul(2)),
                );
                // No call took longer than all of them together: one
                // call's quantiles are its duration, not its bucket's
                // middle. (A sum that wrapped, below `lo`, is no bound.)
                let middle = lo + (hi.saturating_sub(lo)) / 2;
                let bound = if self.sum_ns >= lo {
                    self.sum_ns
                } else {
                    u64::MAX
                };
                return Some(Duration::from_nanos(middle.min(bound)));
            }
        }
        None
    }

    /// How many calls took at most `bound`, counting a bucket only when it
    /// lies wholly at or below it: a call within 1/16 of a power of two
    /// under `bound` may be counted in the next bound up.
    pub fn count_at_most(&self, bound: Duration) -> u64 {
        let bound = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        self.counts
            .iter()
            .enumerate()
            .take_while(|&(i, _)| upper_bound(i).saturating_sub(1) <= bound)
            .map(|(_, c)| c)
            .sum()
    }

    /// The buckets that counted something: the shortest and one past the
    /// longest duration each holds, and its count.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c != 0)
            .map(|(i, &c)| {
                (
                    Duration::from_nanos(lower_bound(i)),
                    Duration::from_nanos(upper_bound(i)),
                    c,
                )
            })
    }
}

/// What metrics say of one trace point: its calls, how many failed, and
/// how long they took, sampled or not, with the failed calls by
/// `error.type`. Points with the same namespace and function (`from` in
/// two `impl From<_> for T` blocks of one module) are one series, as their
/// labels would be one series anyway.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
/// #[tracekit::trace_fn]
/// fn parse(s: &str) -> Result<u32, std::num::ParseIntError> { s.parse() }
///
/// tracekit::metrics::set_enabled(true);
/// let _ = parse("1");
/// let _ = parse("x");
/// let f = tracekit::metrics::snapshot().function("parse").cloned().unwrap();
/// assert_eq!((f.calls(), f.errors()), (2, 1));
/// assert_eq!(f.succeeded().count(), 1);
/// let (error_type, failed) = f.error_types().next().unwrap();
/// assert_eq!(error_type, "core::num::error::ParseIntError");
/// assert_eq!(failed.count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct FunctionMetrics {
    point: Option<&'static Metadata>,
    errors: u64,
    succeeded: Histogram,
    /// By `error.type`, sorted.
    failed: Vec<(Cow<'static, str>, Histogram)>,
    /// Every call: `succeeded` and each of `failed`.
    duration: Histogram,
}

impl FunctionMetrics {
    pub(crate) fn new(point: Option<Point>) -> FunctionMetrics {
        FunctionMetrics {
            point: point.map(Point::metadata),
            errors: 0,
            succeeded: Histogram::default(),
            failed: Vec::new(),
            duration: Histogram::default(),
        }
    }

    /// Adds what a table's counters of the point hold (its calls that
    /// succeeded, and how many failed).
    pub(crate) fn add_counts(&mut self, c: &Counts) {
        // Acquire: the error-type series of every error seen here were
        // counted before it (see `bump_errors`).
        self.errors += c.errors.load(Ordering::Acquire);
        self.succeeded.add_counts(c);
    }

    /// Adds what a table's counters of the point's failed calls of
    /// `error_type` (as exported) hold.
    pub(crate) fn add_error_counts(&mut self, error_type: &'static str, c: &Counts) {
        let name = Cow::Borrowed(error_type);
        match self.failed.iter_mut().find(|(n, _)| *n == name) {
            Some((_, h)) => h.add_counts(c),
            None => {
                let mut h = Histogram::default();
                h.add_counts(c);
                self.failed.push((name, h));
            }
        }
    }

    /// Names the point these counts are of.
    pub(crate) fn set_point(&mut self, point: Point) {
        self.point = Some(point.metadata());
    }

    /// Adds another point's counts to this one's (one series: both have
    /// the same namespace and function).
    pub(crate) fn absorb(&mut self, other: FunctionMetrics) {
        self.errors += other.errors;
        self.succeeded.add(&other.succeeded);
        for (name, h) in other.failed {
            match self.failed.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => mine.add(&h),
                None => self.failed.push((name, h)),
            }
        }
    }

    /// Completes a snapshot's series: every call's histogram from the
    /// parts.
    pub(crate) fn finish(&mut self) {
        self.failed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut all = self.succeeded.clone();
        for (_, h) in &self.failed {
            all.add(h);
        }
        self.duration = all;
    }

    /// The trace point (the first of those that are one series); `None`
    /// for the series that counts every point past the limit of distinct
    /// points (`otel.metric.overflow`).
    pub fn point(&self) -> Option<&'static Metadata> {
        self.point
    }

    /// The span name of the point's calls (`"otel.metric.overflow"` for
    /// the overflow series).
    pub fn name(&self) -> &'static str {
        self.point.map_or("otel.metric.overflow", |p| p.name())
    }

    /// How many calls finished.
    pub fn calls(&self) -> u64 {
        self.duration.count()
    }

    /// How many of them failed: an `Err` (with `err` recording, the
    /// default for a `Result`), a panic, or an error status set on the span.
    /// An unsampled call has no span: an error status set through
    /// [`current_span`](crate::current_span) inside it is not counted
    /// (an `Err` or a panic is), as counting it would cost every unsampled
    /// call a test.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// How long they took, all of them.
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }

    /// How long the calls that did not fail took.
    pub fn succeeded(&self) -> &Histogram {
        &self.succeeded
    }

    /// The histogram series an exporter writes for the function, each with
    /// its `error.type` (`None` for none): the calls that succeeded, then
    /// the failed ones by type. The overflow series is one series of every
    /// call, with no `error.type`: OpenTelemetry's overflow series carries
    /// `otel.metric.overflow` and nothing else.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
    /// #[tracekit::trace_fn]
    /// fn parse(s: &str) -> Result<u32, std::num::ParseIntError> { s.parse() }
    ///
    /// tracekit::metrics::set_enabled(true);
    /// let _ = parse("x");
    /// let f = tracekit::metrics::snapshot().function("parse").cloned().unwrap();
    /// let series: Vec<_> = f.series().map(|(t, h)| (t, h.count())).collect();
    /// assert_eq!(series, [(None, 0), (Some("core::num::error::ParseIntError"), 1)]);
    /// ```
    pub fn series(&self) -> impl Iterator<Item = (Option<&str>, &Histogram)> {
        let (first, failed) = match self.point {
            Some(_) => (&self.succeeded, &self.failed[..]),
            None => (&self.duration, &[][..]),
        };
        std::iter::once((None, first)).chain(failed.iter().map(|(n, h)| (Some(n.as_ref()), h)))
    }

    /// The failed calls by `error.type`, sorted by it: the error's Rust
    /// type (`core::num::error::ParseIntError`; a trait object's without
    /// paths, `Box<dyn Error + Send + Sync>`), `panic` for a panic, or
    /// `_OTHER` for an error status nothing names and for the types past
    /// the 16 a point counts apart.
    pub fn error_types(&self) -> impl Iterator<Item = (&str, &Histogram)> {
        self.failed.iter().map(|(n, h)| (n.as_ref(), h))
    }
}

/// What metrics say of one series of requests (HTTP or gRPC, server or
/// client): OpenTelemetry's instrument, its attributes, the calls, how
/// many failed, and how long they took, sampled or not.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
/// tracekit::metrics::set_enabled(true);
/// let mut span = tracekit::http::server_span("GET", "/users/{id}", &Vec::new());
/// tracekit::http::set_status_code(&mut span, 200);
/// drop(span);
/// let metrics = tracekit::metrics::snapshot();
/// let r = metrics.requests().iter().find(|r| r.route() == Some("/users/{id}")).unwrap();
/// assert_eq!(r.instrument(), "http.server.request.duration");
/// assert_eq!((r.method(), r.status_code(), r.calls()), ("GET", Some(200), 1));
/// ```
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    key: RequestKey,
    errors: u64,
    duration: Histogram,
}

impl RequestMetrics {
    pub(crate) fn new(key: RequestKey) -> RequestMetrics {
        RequestMetrics {
            key,
            errors: 0,
            duration: Histogram::default(),
        }
    }

    pub(crate) fn add_counts(&mut self, c: &Counts) {
        self.errors += c.errors.load(Ordering::Relaxed);
        self.duration.add_counts(c);
    }

    /// OpenTelemetry's name for the series' instrument:
    /// `http.server.request.duration`, `http.client.request.duration`,
    /// `rpc.server.duration` or `rpc.client.duration`.
    pub fn instrument(&self) -> &'static str {
        match (self.key.protocol, self.key.server) {
            (Protocol::Http, true) => "http.server.request.duration",
            (Protocol::Http, false) => "http.client.request.duration",
            (Protocol::Grpc, true) => "rpc.server.duration",
            (Protocol::Grpc, false) => "rpc.client.duration",
        }
    }

    /// Whether these are requests served here (else made from here).
    pub fn is_server(&self) -> bool {
        self.key.server
    }

    /// Whether these are gRPC calls (else HTTP requests).
    pub fn is_grpc(&self) -> bool {
        self.key.protocol == Protocol::Grpc
    }

    /// The HTTP method (`_OTHER` for one not in the HTTP specs), or the
    /// gRPC method.
    pub fn method(&self) -> &str {
        &self.key.method
    }

    /// The route template (HTTP servers), or the gRPC service.
    pub fn route(&self) -> Option<&str> {
        self.key.route.as_deref()
    }

    /// The response's status code (HTTP), or the gRPC status code.
    pub fn status_code(&self) -> Option<u32> {
        self.key.status
    }

    /// Why the requests failed (`error.type`): a status code, or a kind of
    /// error; `None` for requests that succeeded.
    pub fn error_type(&self) -> Option<&str> {
        self.key.error_type.as_deref()
    }

    /// The server a client called (`server.address`, `server.port`).
    pub fn server(&self) -> Option<(&str, Option<u16>)> {
        self.key.address.as_deref().map(|a| (a, self.key.port))
    }

    /// Whether this is the series that counts every request past the limit
    /// of distinct series (`otel.metric.overflow`).
    pub fn is_overflow(&self) -> bool {
        self.key.overflow
    }

    /// The series' attributes under OpenTelemetry's names.
    pub fn attributes(&self) -> Vec<(&'static str, Value)> {
        let k = &self.key;
        if k.overflow {
            return vec![("otel.metric.overflow", Value::Bool(true))];
        }
        let text = |s: &Cow<'static, str>| match s {
            Cow::Borrowed(b) => Value::from_static(b),
            Cow::Owned(o) => Value::from(o.clone()),
        };
        let mut a = Vec::with_capacity(7);
        match k.protocol {
            Protocol::Http => {
                a.push(("http.request.method", text(&k.method)));
                if let Some(scheme) = k.scheme {
                    a.push(("url.scheme", Value::from_static(scheme)));
                }
                if let Some(route) = &k.route {
                    a.push(("http.route", text(route)));
                }
                if let Some(code) = k.status {
                    a.push(("http.response.status_code", Value::I64(i64::from(code))));
                }
                if let Some(address) = &k.address {
                    a.push(("server.address", text(address)));
                }
                if let Some(port) = k.port {
                    a.push(("server.port", Value::I64(i64::from(port))));
                }
                if let Some(version) = k.version {
                    a.push(("network.protocol.version", Value::from_static(version)));
                }
            }
            Protocol::Grpc => {
                a.push(("rpc.system", Value::from_static("grpc")));
                if let Some(service) = &k.route {
                    a.push(("rpc.service", text(service)));
                }
                a.push(("rpc.method", text(&k.method)));
                if let Some(code) = k.status {
                    a.push(("rpc.grpc.status_code", Value::I64(i64::from(code))));
                }
            }
        }
        if let Some(e) = &k.error_type {
            a.push(("error.type", text(e)));
        }
        a
    }

    /// How many requests finished.
    pub fn calls(&self) -> u64 {
        self.duration.count()
    }

    /// How many of them failed.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// How long they took.
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }
}

/// A snapshot of every trace point's metrics
/// ([`snapshot`](crate::metrics::snapshot)).
///
/// ```
/// let metrics = tracekit::metrics::snapshot();
/// for f in metrics.functions() {
///     println!("{}: {} calls, {} errors", f.name(), f.calls(), f.errors());
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub(crate) functions: Vec<FunctionMetrics>,
    pub(crate) requests: Vec<RequestMetrics>,
    pub(crate) start_time: Option<SystemTime>,
}

impl Metrics {
    /// When metrics were first switched on in this process: every count
    /// is of calls since then (the start of a cumulative series, in
    /// OpenTelemetry's terms); `None` while they never were.
    ///
    /// ```
    /// tracekit::metrics::set_enabled(true);
    /// let m = tracekit::metrics::snapshot();
    /// # if !tracekit::TRACE_ALL { return; } // metrics compiled out
    /// assert!(m.start_time().unwrap() <= std::time::SystemTime::now());
    /// ```
    pub fn start_time(&self) -> Option<SystemTime> {
        self.start_time
    }

    /// Every trace point with a counted call, in the order first counted.
    pub fn functions(&self) -> &[FunctionMetrics] {
        &self.functions
    }

    /// The first counted trace point whose span name is `name` (a
    /// `name = ...` option's, else `function` or `Type::method`), if any.
    /// Exporters tell functions apart by their full path instead
    /// (`code.function.name`, [`Metadata::path`](crate::Metadata::path)),
    /// which a `name` option does not change.
    pub fn function(&self, name: &str) -> Option<&FunctionMetrics> {
        self.functions.iter().find(|f| f.name() == name)
    }

    /// Every series of HTTP and gRPC requests, served or made.
    pub fn requests(&self) -> &[RequestMetrics] {
        &self.requests
    }

    /// A profile of the run as a text table: each function's calls,
    /// errors, p50, p99 and total time (the most total time first), then
    /// each request series'.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to count
    /// #[tracekit::trace_fn]
    /// fn render() {}
    /// tracekit::metrics::set_enabled(true);
    /// render();
    /// let table = tracekit::metrics::snapshot().table();
    /// assert!(table.lines().any(|l| l.starts_with("render ") && l.contains(" 1 ")));
    /// ```
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        // A function's name, or its whole path when another counted
        // function has the same name (`handle` in two modules).
        let mut names: HashMap<&str, usize> = HashMap::new();
        for f in &self.functions {
            *names.entry(f.name()).or_default() += 1;
        }
        let mut rows: Vec<(String, u64, u64, &Histogram)> = self
            .functions
            .iter()
            .map(|f| {
                let name = match f.point() {
                    None => "(others: over the point limit)".to_owned(),
                    Some(p) if names[f.name()] > 1 => p.path().to_owned(),
                    Some(_) => f.name().to_owned(),
                };
                (name, f.calls(), f.errors(), f.duration())
            })
            .collect();
        rows.sort_by(|a, b| b.3.sum().cmp(&a.3.sum()).then_with(|| a.0.cmp(&b.0)));
        let mut requests: Vec<(String, u64, u64, &Histogram)> = self
            .requests
            .iter()
            .map(|r| {
                let side = if r.is_server() { "served" } else { "called" };
                let what = match (r.route(), r.server()) {
                    _ if r.is_overflow() => "(others: over the series limit)".to_owned(),
                    (Some(route), _) if r.is_grpc() => format!("{route}/{}", r.method()),
                    (Some(route), _) => format!("{} {route}", r.method()),
                    (None, Some((host, Some(port)))) => format!("{} {host}:{port}", r.method()),
                    (None, Some((host, None))) => format!("{} {host}", r.method()),
                    (None, None) => r.method().to_owned(),
                };
                let status = r.status_code().map_or("-".to_owned(), |s| s.to_string());
                // A failed series' error.type, when its status does not say it.
                let why = match r.error_type() {
                    Some(t) if r.status_code().is_none_or(|s| s.to_string() != t) => {
                        format!(" {t}")
                    }
                    _ => String::new(),
                };
                (
                    format!("{side} {what} {status}{why}"),
                    r.calls(),
                    r.errors(),
                    r.duration(),
                )
            })
            .collect();
        requests.sort_by(|a, b| b.3.sum().cmp(&a.3.sum()).then_with(|| a.0.cmp(&b.0)));
        // Every cell as text first: each column as wide as its widest.
        let cells: Vec<[String; 6]> = rows
            .iter()
            .chain(&requests)
            .map(|(name, calls, errors, h)| {
                let q = |q: f64| h.quantile(q).map_or("-".to_owned(), short);
                [
                    name.clone(),
                    calls.to_string(),
                    errors.to_string(),
                    q(0.5),
                    q(0.99),
                    short(h.sum()),
                ]
            })
            .collect();
        let titles = ["function", "calls", "errors", "p50", "p99", "total"];
        let mut width = titles.map(|t| t.chars().count());
        for row in cells.iter().chain([&titles.map(|t| t.to_owned())]) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        width[0] = width[0].max("request".len());
        let line = |out: &mut String, row: &[String; 6]| {
            let _ = write!(out, "{:<w$}", row[0], w = width[0]);
            for (cell, w) in row.iter().zip(width).skip(1) {
                let _ = write!(out, "  {cell:>w$}");
            }
            out.push('\n');
        };
        let mut out = String::new();
        let head = |out: &mut String, first: &str| {
            let mut t = titles.map(|t| t.to_owned());
            t[0] = first.to_owned();
            line(out, &t);
        };
        head(&mut out, "function");
        for row in &cells[..rows.len()] {
            line(&mut out, row);
        }
        if !requests.is_empty() {
            head(&mut out, "request");
            for row in &cells[rows.len()..] {
                line(&mut out, row);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram of `n` calls of 1, 2, ..., n microseconds.
    fn one_to(n: u64) -> Histogram {
        let mut h = Histogram::default();
        for us in 1..=n {
            h.counts[bucket_of(us * 1000)] += 1;
            h.sum_ns = h.sum_ns.wrapping_add(us * 1000);
        }
        h
    }

    #[test]
    fn a_quantile_is_the_rank_asked_for() {
        let h = one_to(100);
        // q * n that rounds just above an integer keeps that integer's rank:
        // 0.55 of 100 calls is the 55th (55 µs), 0.07 the 7th.
        for (q, us) in [(0.55, 55), (0.07, 7), (0.5, 50), (1.0, 100), (0.0, 1)] {
            let got = h.quantile(q).unwrap();
            let i = bucket_of(us * 1000);
            assert!(
                Duration::from_nanos(lower_bound(i)) <= got
                    && got < Duration::from_nanos(upper_bound(i)),
                "q={q}: {got:?}, not in the bucket of {us} µs"
            );
        }
        assert_eq!(h.quantile(f64::NAN), None);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn a_single_calls_quantiles_are_its_duration_not_its_buckets_middle() {
        // 16,000 ns is in [15,872, 16,384), whose middle, 16,128 ns, is
        // longer than the only call.
        let mut h = Histogram::default();
        h.counts[bucket_of(16_000)] += 1;
        h.sum_ns = 16_000;
        assert_eq!(h.quantile(0.99), Some(Duration::from_nanos(16_000)));
        assert_eq!(h.quantile(0.5), Some(Duration::from_nanos(16_000)));
        // A sum that wrapped (below the bucket) bounds nothing.
        h.sum_ns = 5;
        assert_eq!(h.quantile(0.99), Some(Duration::from_nanos(16_128)));
    }

    #[test]
    fn a_short_duration_takes_its_unit_after_rounding() {
        let cases = [
            (999, "999ns"),
            (1_000, "1.0µs"),
            (9_996, "10.0µs"),
            (999_949, "999.9µs"),
            (999_960, "1.00ms"),
            (999_994_000, "999.99ms"),
            (999_996_000, "1.000s"),
        ];
        for (ns, text) in cases {
            assert_eq!(short(Duration::from_nanos(ns)), text, "{ns} ns");
        }
    }

    #[test]
    fn a_delta_of_a_sum_that_wrapped_is_what_was_added() {
        let mut before = one_to(1);
        before.sum_ns = u64::MAX - 10;
        let mut after = before.clone();
        after.counts[bucket_of(100)] += 1;
        after.sum_ns = after.sum_ns.wrapping_add(100);
        let d = after.since(&before);
        assert_eq!((d.count(), d.sum()), (1, Duration::from_nanos(100)));
    }

    #[test]
    fn a_status_code_decides_whether_a_request_failed() {
        let counted = |protocol, server, tags: &[(&str, Value)], error: bool| {
            let mut r = Request::new(protocol, server, Cow::Borrowed("GET"));
            r.failed = error;
            r.exception_type = error.then_some(Cow::Borrowed("app::Invalid"));
            for (k, v) in tags {
                r.observe(k, v);
            }
            let (key, failed) = r.counted_key();
            (key.error_type.as_deref().map(str::to_owned), failed)
        };
        let code = |c: i64| ("http.response.status_code", Value::I64(c));
        let named = |t: &str| ("error.type", Value::from(t.to_owned()));
        let grpc = |c: i64| ("rpc.grpc.status_code", Value::I64(c));
        let none = (None, false);
        let failed = |t: &str| (Some(t.to_owned()), true);
        // A server's 400 with its handler's error recorded: no failure.
        assert_eq!(counted(Protocol::Http, true, &[code(400)], true), none);
        // A 500 an inner layer answered, replaced by a 200 (its error.type
        // tag stays on the span): the 200 decides.
        let replaced = [code(500), named("500"), code(200)];
        assert_eq!(counted(Protocol::Http, true, &replaced, true), none);
        // A client's 400 fails, named by its code over the error recorded.
        assert_eq!(
            counted(Protocol::Http, false, &[code(400)], true),
            failed("400")
        );
        // A failing code not marked as an error by anyone still fails.
        assert_eq!(
            counted(Protocol::Http, true, &[code(503)], false),
            failed("503")
        );
        // A failing code keeps an error.type set on its span.
        let timed_out = [code(504), named("timeout")];
        assert_eq!(
            counted(Protocol::Http, false, &timed_out, true),
            failed("timeout")
        );
        // No status: the error recorded, else _OTHER.
        assert_eq!(
            counted(Protocol::Http, true, &[], true),
            failed("app::Invalid")
        );
        let mut marked = Request::new(Protocol::Http, true, Cow::Borrowed("GET"));
        marked.observe("error", &Value::Bool(true));
        let (key, was_failed) = marked.counted_key();
        assert_eq!(
            (key.error_type.as_deref(), was_failed),
            (Some("_OTHER"), true)
        );
        // gRPC: failing codes by name; a server's NOT_FOUND is no failure.
        assert_eq!(
            counted(Protocol::Grpc, true, &[grpc(14)], false),
            failed("UNAVAILABLE")
        );
        assert_eq!(counted(Protocol::Grpc, true, &[grpc(5)], true), none);
        assert_eq!(
            counted(Protocol::Grpc, false, &[grpc(5)], false),
            failed("NOT_FOUND")
        );
        assert_eq!(
            counted(Protocol::Grpc, false, &[grpc(99)], false),
            failed("99")
        );
    }

    #[test]
    fn a_request_with_no_response_failed_whatever_status_came_before() {
        // A handler set 200 (or 500), then panicked: nothing was sent.
        for code in [200, 500] {
            let mut r = Request::new(Protocol::Http, true, Cow::Borrowed("GET"));
            r.observe("http.response.status_code", &Value::I64(code));
            if code == 500 {
                r.observe("error.type", &Value::from("500".to_owned()));
            }
            r.failed = true;
            r.no_response = true;
            r.exception_type = Some(Cow::Borrowed(PANIC));
            let (key, failed) = r.counted_key();
            assert_eq!(
                (key.status, key.error_type.as_deref(), failed),
                (None, Some(PANIC), true),
                "{code}"
            );
        }
        // A gRPC server's status never sent (OK, NOT_FOUND), or none: UNKNOWN.
        for status in [Some(0), Some(5), None] {
            let mut g = Request::new(Protocol::Grpc, true, Cow::Borrowed("Get"));
            if let Some(code) = status {
                g.observe("rpc.grpc.status_code", &Value::I64(code));
            }
            g.no_response = true;
            g.exception_type = Some(Cow::Borrowed(PANIC));
            let (key, failed) = g.counted_key();
            assert_eq!(
                (key.status, key.error_type.as_deref(), failed),
                (Some(GRPC_UNKNOWN), Some(PANIC), true),
                "{status:?}"
            );
        }
        // A client that had its 200 before the code handling it panicked:
        // its request succeeded.
        let mut c = Request::new(Protocol::Http, false, Cow::Borrowed("GET"));
        c.observe("http.response.status_code", &Value::I64(200));
        c.failed = true;
        c.no_response = true;
        c.exception_type = Some(Cow::Borrowed(PANIC));
        let (key, failed) = c.counted_key();
        assert_eq!(
            (key.status, key.error_type.as_deref(), failed),
            (Some(200), None, false)
        );
        // A gRPC call keeps its failing status and its error's type (the
        // tower layer sets both on a client's error).
        let mut g = Request::new(Protocol::Grpc, false, Cow::Borrowed("Get"));
        g.observe(
            "error.type",
            &Value::from("std::io::error::Error".to_owned()),
        );
        g.observe("rpc.grpc.status_code", &Value::I64(14));
        g.no_response = true;
        g.exception_type = Some(Cow::Borrowed("std::io::error::Error"));
        let (key, failed) = g.counted_key();
        assert_eq!(
            (key.status, key.error_type.as_deref(), failed),
            (Some(14), Some("std::io::error::Error"), true)
        );
    }

    #[test]
    fn a_request_series_takes_its_own_protocols_status() {
        // A gRPC span carries the HTTP 200 of its response: not its status.
        let mut r = Request::new(Protocol::Grpc, true, Cow::Borrowed("Get"));
        r.observe("http.response.status_code", &Value::I64(200));
        assert_eq!(r.counted_key().0.status, None);
        r.observe("rpc.grpc.status_code", &Value::U64(5));
        assert_eq!(r.counted_key().0.status, Some(5));
        // Unsigned codes count (a `u16` tag is a `U64` value).
        let mut h = Request::new(Protocol::Http, false, Cow::Borrowed("GET"));
        h.observe("rpc.grpc.status_code", &Value::I64(3));
        h.observe("http.response.status_code", &Value::U64(404));
        assert_eq!(h.counted_key().0.status, Some(404));
    }

    #[test]
    fn empty_text_is_no_attribute() {
        let mut r = Request::new(Protocol::Http, true, Cow::Borrowed("GET"));
        r.key.route = Some(Cow::Borrowed(""));
        r.key.address = Some(Cow::Borrowed(""));
        r.observe("error.type", &Value::from_static(""));
        r.failed = true;
        let (k, _) = r.counted_key();
        assert_eq!((&k.route, &k.address), (&None, &None));
        assert_eq!(k.error_type.as_deref(), Some("_OTHER"));
    }

    #[test]
    fn a_failed_request_is_named_by_status_then_by_its_error() {
        let failed = |status: Option<u32>, exception: Option<&'static str>| {
            let mut r = Request::new(Protocol::Http, false, Cow::Borrowed("GET"));
            r.key.status = status;
            r.exception_type = exception.map(Cow::Borrowed);
            r.failed = true;
            r.counted_key().0.error_type.clone()
        };
        assert_eq!(failed(Some(503), Some("io::Error")).as_deref(), Some("503"));
        assert_eq!(
            failed(None, Some("io::Error")).as_deref(),
            Some("io::Error")
        );
        assert_eq!(failed(None, None).as_deref(), Some("_OTHER"));
    }

    #[test]
    fn unknown_grpc_methods_served_share_one_series() {
        let mut r = Request::new(Protocol::Grpc, true, Cow::Borrowed("Scan"));
        r.key.route = Some(Cow::Borrowed("x.Random"));
        r.observe("rpc.grpc.status_code", &Value::I64(12));
        let (k, _) = r.counted_key();
        assert_eq!((k.method.as_ref(), &k.route), ("_OTHER", &None));
        // A client's call keeps its names: the client chose them.
        let mut c = Request::new(Protocol::Grpc, false, Cow::Borrowed("Scan"));
        c.key.route = Some(Cow::Borrowed("x.Random"));
        c.observe("rpc.grpc.status_code", &Value::I64(12));
        assert_eq!(c.counted_key().0.method.as_ref(), "Scan");
    }

    #[test]
    fn every_duration_lies_in_its_bucket() {
        let mut samples: Vec<u64> = (0..5000).collect();
        for shift in 0u32..64 {
            for d in [0u64, 1, 7, 15, 16, 17, 31] {
                samples.push((1u64 << shift).saturating_add(d << shift.saturating_sub(5)));
                samples.push((1u64 << shift).saturating_sub(1));
            }
        }
        for ns in samples {
            let i = bucket_of(ns);
            assert!(
                lower_bound(i) <= ns && ns < upper_bound(i),
                "{ns} in bucket {i}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(1 << 63), BUCKETS - SUB);
        assert_eq!(upper_bound(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn error_types_past_the_limits_are_other() {
        let mut types = ErrorTypes::default();
        let mut admit_error_type = |slot, t| types.admit(slot, t);
        let names: Vec<&'static str> = (0..ERROR_SERIES + 40)
            .map(|i| &*Box::leak(format!("E{i}").into_boxed_str()))
            .collect();
        let mut counted = 0;
        for (i, name) in names.iter().enumerate().take(ERROR_TYPES_PER_POINT + 3) {
            let t = admit_error_type(1900, name);
            if i < ERROR_TYPES_PER_POINT {
                assert_eq!(t, *name);
                counted += 1;
            } else {
                assert_eq!(t, OTHER, "type {i} of one point");
            }
        }
        // Admitted once, always admitted; `_OTHER` needs no room.
        assert_eq!(admit_error_type(1900, names[0]), names[0]);
        assert_eq!(admit_error_type(1900, OTHER), OTHER);
        // Over the process: 2,000 named series, then each point's `_OTHER`.
        let mut slot = 1000;
        let mut next = ERROR_TYPES_PER_POINT + 3;
        while counted < ERROR_SERIES {
            for _ in 0..ERROR_TYPES_PER_POINT.min(ERROR_SERIES - counted) {
                assert_eq!(admit_error_type(slot, names[next]), names[next]);
                next += 1;
                counted += 1;
            }
            slot += 1;
        }
        assert_eq!(admit_error_type(slot + 1, names[next]), OTHER);
    }

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(upper_bound(i), lower_bound(i + 1));
            let (lo, hi) = (lower_bound(i), upper_bound(i));
            assert!(hi > lo);
            if lo >= 16 {
                // At most 1/16 of the lower bound wide.
                assert!((hi - lo) * 16 <= lo, "bucket {i}: {lo}..{hi}");
            }
        }
    }
}
