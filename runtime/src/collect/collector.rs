//! Where finished spans leave the application's threads: each thread hands
//! over whole batches through a lock-free, bounded queue; a background thread
//! (or a flush) gathers them into one [`SpanBatch`] for the installed
//! [`Reporter`] and for running [`testing::capture`](crate::api::testing::capture)
//! calls. Installing the reporter is the collector's business too: it owns
//! the registry, and sees a reporter only through the trait.
//!
//! The queue ([`crate::collect::queue`]) never makes a producer wait. A batch that
//! would take it past [`QUEUE_CAPACITY`] spans is dropped and counted; the
//! count is exact, so a batch that fits is never dropped because another
//! one did not. Spans of a running [`testing::capture`](crate::api::testing::capture)
//! are never dropped: a test must see everything its code did, and the
//! capture holds them anyway.

use crate::collect::queue::{BatchQueue, Push};
use crate::data::batch::Batch;
use crate::data::clock::Calibration;
use crate::data::record::SpanRecord;
use crate::data::span_batch::SpanBatch;
use crate::report::Reporter;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many finished spans may wait for the collector before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1 << 16;

/// How often the background collector hands spans to the reporter.
const INTERVAL: Duration = Duration::from_millis(10);
/// How often the collector folds the metric tables of ended threads.
const RETIRE_EVERY: Duration = Duration::from_secs(1);

#[cfg(not(tracekit_loom))]
static QUEUE: BatchQueue<Batch> = BatchQueue::new();
#[cfg(tracekit_loom)]
static QUEUE: Lazy<BatchQueue<Batch>> = Lazy::new(BatchQueue::new);
/// A reporter is installed (1) plus the number of running captures: nobody
/// listening means batches are dropped at once, without counting as losses.
pub(crate) static LISTENERS: AtomicUsize = AtomicUsize::new(0);
static SUBMITTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicU64 = AtomicU64::new(0);
static REPORTER_PANICS: AtomicU64 = AtomicU64::new(0);

/// Counters of the collector, for monitoring the tracer itself.
///
/// ```
/// let stats = tracekit::collector_stats();
/// assert!(stats.spans_dropped <= stats.spans_submitted);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectorStats {
    /// Finished spans handed to the queue while someone was listening.
    pub spans_submitted: u64,
    /// Spans dropped because the queue was full.
    pub spans_dropped: u64,
    /// Spans delivered to the installed reporter.
    pub spans_reported: u64,
    /// Calls into a reporter (`report`, `flush`, its drop) that panicked.
    /// The panic is caught wherever the call is made, so a broken reporter
    /// loses its spans, never the program; stderr says so once.
    pub reporter_panics: u64,
}

/// The collector's counters since the program started.
///
/// ```
/// let before = tracekit::collector_stats();
/// assert!(tracekit::collector_stats().spans_submitted >= before.spans_submitted);
/// ```
pub fn collector_stats() -> CollectorStats {
    CollectorStats {
        spans_submitted: SUBMITTED.load(Ordering::Relaxed),
        spans_dropped: DROPPED.load(Ordering::Relaxed),
        spans_reported: REPORTED.load(Ordering::Relaxed),
        reporter_panics: REPORTER_PANICS.load(Ordering::Relaxed),
    }
}

/// Runs `f`, a call into a reporter, catching a panic in it: on every way a
/// span is delivered (the collector's tick, `flush()`, the guard's drop,
/// which may run while the program unwinds, where a second panic aborts).
/// A panic is counted in [`CollectorStats::reporter_panics`] and said once.
pub(crate) fn call_reporter(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        REPORTER_PANICS.fetch_add(1, Ordering::Relaxed);
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            crate::data::diag::warn(format_args!(
                "the reporter panicked in {what}; its spans are lost and tracing goes on \
                 (counted in collector_stats().reporter_panics; said once)"
            ));
        }
    }
}

pub(crate) fn submit(batch: Batch) {
    if LISTENERS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let n = batch.spans.len();
    SUBMITTED.fetch_add(n as u64, Ordering::Relaxed);
    let capacity = if batch.captured {
        usize::MAX
    } else {
        QUEUE_CAPACITY
    };
    // Past half full, the collector is woken instead of waiting for its tick.
    match QUEUE.push(batch, n, capacity, QUEUE_CAPACITY / 2) {
        Push::Full(batch) => {
            DROPPED.fetch_add(n as u64, Ordering::Relaxed);
            // The spans are lost, not their calls: metrics count them here.
            // Not from inside the metrics' bookkeeping (an allocator's
            // call handing over), which may hold the lock `observe` takes:
            // those spans' calls go uncounted.
            if crate::data::metrics::on() && !crate::data::metrics::in_bookkeeping() {
                crate::collect::metrics::observe(std::slice::from_ref(&batch), None);
            }
            // Its buffers serve the thread's next batch, so a full queue
            // does not also mean an allocation per hand-over.
            batch.recycle();
        }
        Push::Queued { wake: true } => wake_background(),
        Push::Queued { wake: false } => {}
    }
}

/// A thread's finished spans, gathered between collector ticks: a thread
/// adds what completes (a request's spans, a job's) under a lock no one
/// else takes but the collector, once a tick; the spans then leave the
/// thread a tick's worth at a time, in one batch, rather than a batch a
/// request; past 1,024 spans the thread hands them over itself (a bigger
/// outbox only grows colder in the cache: in the service benchmark 1,024
/// cost less than 4,096 and no more than 256). The thread's own buffers are
/// reused as they were; the outbox's come from the spare pool. Each tick, every flush and every
/// capture takes what the outboxes hold, so a span waits here at most
/// until the next tick, whatever its thread does next (it may wait idle).
pub(crate) struct Outbox {
    held: Mutex<Batch>,
}

/// Spans an outbox holds before the thread hands them over itself.
const OUTBOX_SPANS: usize = 1024;

static OUTBOXES: Mutex<Vec<std::sync::Weak<Outbox>>> = Mutex::new(Vec::new());

impl Outbox {
    /// A new outbox, registered for the collector to reach.
    pub(crate) fn new() -> std::sync::Arc<Outbox> {
        let outbox = std::sync::Arc::new(Outbox {
            held: Mutex::new(Batch::default()),
        });
        let mut all = OUTBOXES.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(std::sync::Arc::downgrade(&outbox));
        outbox
    }

    /// Moves what `batch` holds here (`batch` is left empty, its buffers
    /// kept), or hands it all over when the outbox is full. `false` when the
    /// collector holds the outbox just now: the caller submits instead.
    pub(crate) fn stash(&self, batch: &mut Batch) -> bool {
        let Ok(mut held) = self.held.try_lock() else {
            return false;
        };
        if LISTENERS.load(Ordering::Relaxed) == 0 {
            // Nobody listens: dropped at once, as `submit` does.
            batch.clear();
            return true;
        }
        if held.spans.is_empty() && held.spans.capacity() == 0 {
            // Taken at the last tick: the thread's buffers move here whole
            // and it gets spare ones, rather than a copy into empty ones.
            std::mem::swap(&mut *held, batch);
            *batch = Batch::reuse_or_with_capacity(16, 32, 32);
        } else {
            held.append_drain(batch);
        }
        if held.spans.len() >= OUTBOX_SPANS {
            // Queued before the outbox is let go: a drain, which takes the
            // outboxes before the queue, finds these spans in one or the
            // other, never between the two.
            let full = std::mem::replace(&mut *held, Batch::reuse_or_with_capacity(64, 128, 128));
            submit(full);
        }
        true
    }

    /// What the outbox holds, if anything; spare buffers take its place.
    fn take(&self) -> Option<Batch> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.spans.is_empty() {
            return None;
        }
        Some(std::mem::replace(
            &mut *held,
            Batch::reuse_or_with_capacity(64, 128, 128),
        ))
    }

    /// Hands over what it holds (its thread ends). Queued before the
    /// outbox is let go, as a full one is in [`Outbox::stash`]: taken out
    /// first and queued after, the spans were for a moment in neither place
    /// a drain looks, and a flush or capture that ran just then missed spans
    /// finished before it (a scoped thread's, its scope over while the
    /// thread exited).
    pub(crate) fn hand_over(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if !held.spans.is_empty() {
            submit(std::mem::take(&mut *held));
        }
    }
}

/// What every outbox holds, counted as submitted.
fn take_outboxes() -> Vec<Batch> {
    let outboxes: Vec<std::sync::Arc<Outbox>> = {
        let mut all = OUTBOXES.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(std::sync::Weak::upgrade).collect()
    };
    let mut batches = Vec::new();
    for outbox in outboxes {
        if let Some(batch) = outbox.take() {
            SUBMITTED.fetch_add(batch.spans.len() as u64, Ordering::Relaxed);
            batches.push(batch);
        }
    }
    batches
}

/// Finished spans not delivered yet: waiting for the collector, or in a
/// [`BatchReporter`](crate::BatchReporter)'s queue or export. (Spans still
/// in a thread's batch are not counted.)
#[cfg_attr(not(feature = "signal"), allow(dead_code))]
pub(crate) fn undelivered() -> u64 {
    QUEUE.queued() as u64 + crate::report::pending_spans()
}

/// Everything the collector routes to; locked only by the collector thread,
/// flushes and install/uninstall, never by the threads that make spans.
pub(crate) struct Sinks {
    pub(crate) reporter: Option<Installed>,
    pub(crate) captures: HashMap<u32, Vec<SpanRecord>>,
    /// The generation of the last reporter installed.
    pub(crate) generation: u64,
}

/// The installed reporter, with the generation its guard knows it by.
pub(crate) struct Installed {
    pub(crate) generation: u64,
    pub(crate) reporter: Box<dyn Reporter>,
}

static SINKS: Lazy<Mutex<Sinks>> = Lazy::new(|| {
    Mutex::new(Sinks {
        reporter: None,
        captures: HashMap::new(),
        generation: 0,
    })
});

thread_local! {
    /// Set while this thread holds the sinks lock. Whatever runs under it (a
    /// reporter's `report` or `flush`) and calls `flush()` must not wait for
    /// the lock it is running under.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The sinks, locked; see [`HOLDING`].
pub(crate) struct SinksGuard(MutexGuard<'static, Sinks>);

impl std::ops::Deref for SinksGuard {
    type Target = Sinks;
    fn deref(&self) -> &Sinks {
        &self.0
    }
}

impl std::ops::DerefMut for SinksGuard {
    fn deref_mut(&mut self) -> &mut Sinks {
        &mut self.0
    }
}

impl Drop for SinksGuard {
    fn drop(&mut self) {
        HOLDING.with(|h| h.set(false));
    }
}

pub(crate) fn sinks() -> SinksGuard {
    // A reporter that panicked must not stop tracing for good.
    let guard = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    HOLDING.with(|h| h.set(true));
    SinksGuard(guard)
}

/// Whether this thread runs under the sinks lock (inside a reporter).
pub(crate) fn holding_sinks() -> bool {
    HOLDING.with(|h| h.get())
}

/// Takes everything queued so far and delivers it. Returns how many spans.
pub(crate) fn drain(sinks: &mut Sinks) -> usize {
    // The outboxes before the queue: an outbox is queued under its lock (a
    // full one, an ending thread's), so its spans are in whichever of the
    // two is taken second.
    let mut batches = take_outboxes();
    batches.extend(QUEUE.take_all());
    if batches.is_empty() {
        return 0;
    }
    let calibration = Calibration::now();
    if crate::data::metrics::on() {
        crate::collect::metrics::observe(&batches, Some(&calibration));
    }
    crate::collect::tail::sift(&mut batches, &calibration);
    let captured = batches.iter().any(|b| b.captured);
    let batch = SpanBatch::new(batches, calibration);
    let n = batch.len();
    if captured && !sinks.captures.is_empty() {
        let mut entered = Vec::new();
        for r in batch.iter() {
            if let Some(store) = sinks.captures.get_mut(&r.capture()) {
                if r.has_remote_parent() {
                    entered.push(r.capture());
                }
                store.push(r);
            }
        }
        if !entered.is_empty() {
            crate::collect::capture::arrived(&entered);
        }
    }
    if let Some(installed) = sinks.reporter.as_mut() {
        REPORTED.fetch_add(n as u64, Ordering::Relaxed);
        call_reporter("report", || installed.reporter.report(batch));
    }
    n
}

/// Delivers everything queued to the reporter and flushes it. From inside
/// a reporter (this thread holds the sinks) it does nothing: the collector is
/// busy delivering already.
pub(crate) fn deliver() {
    if holding_sinks() {
        return;
    }
    let mut sinks = sinks();
    drain(&mut sinks);
    if let Some(installed) = sinks.reporter.as_mut() {
        call_reporter("flush", || installed.reporter.flush());
    }
}

/// Delivers everything queued to the reporter without flushing it (a
/// metrics snapshot: a scrape must not wait for an export). From inside a
/// reporter it does nothing.
pub(crate) fn deliver_queued() {
    if holding_sinks() {
        return;
    }
    drain(&mut sinks());
}

static BACKGROUND: Lazy<std::thread::Thread> = Lazy::new(|| {
    std::thread::Builder::new()
        .name("tracekit-collector".into())
        .spawn(|| {
            let mut last_retired = Instant::now();
            loop {
                std::thread::park_timeout(INTERVAL);
                // A panicking reporter loses its batch, not the collector
                // (`drain` catches it).
                if LISTENERS.load(Ordering::Relaxed) != 0 {
                    drain(&mut sinks());
                }
                // Ended threads' metric tables are let go of here too, not
                // only when a snapshot is taken (which may be never).
                if last_retired.elapsed() >= RETIRE_EVERY {
                    last_retired = Instant::now();
                    crate::collect::metrics::retire_ended();
                }
            }
        })
        .map(|h| h.thread().clone())
        .unwrap_or_else(|_| std::thread::current())
});

/// Whether traces head sampling drops are recorded for tail keep.
#[inline]
pub(crate) fn tail_keep_enabled() -> bool {
    crate::collect::tail::enabled()
}

/// Starts the background collector, for a reporter or a capture.
pub(crate) fn ensure_background() {
    Lazy::force(&BACKGROUND);
}

fn wake_background() {
    if let Some(t) = Lazy::get(&BACKGROUND) {
        t.unpark();
    }
}

/// Installs `reporter` in place of the one installed, if any, which is
/// returned (to be flushed and dropped outside the lock). Returns the new
/// reporter's generation.
pub(crate) fn install(reporter: Box<dyn Reporter>) -> (u64, Option<Box<dyn Reporter>>) {
    let (generation, old) = {
        let mut sinks = sinks();
        sinks.generation += 1;
        let generation = sinks.generation;
        let old = sinks.reporter.replace(Installed {
            generation,
            reporter,
        });
        if old.is_none() {
            LISTENERS.fetch_add(1, Ordering::SeqCst);
        }
        (generation, old.map(|i| i.reporter))
    };
    ensure_background();
    (generation, old)
}

/// Uninstalls the reporter of this generation, if it is still the one
/// installed, and returns it, after delivering to it everything queued.
pub(crate) fn uninstall(generation: u64) -> Option<Box<dyn Reporter>> {
    let mut sinks = sinks();
    if sinks
        .reporter
        .as_ref()
        .is_some_and(|i| i.generation == generation)
    {
        drain(&mut sinks);
        LISTENERS.fetch_sub(1, Ordering::SeqCst);
        return sinks.reporter.take().map(|i| i.reporter);
    }
    None
}
