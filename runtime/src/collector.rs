//! Where finished spans leave the application's threads: each thread hands
//! over whole batches through a lock-free, bounded queue; a background thread
//! (or a flush) turns them into [`SpanRecord`]s for the reporter and for
//! running [`testing::capture`](crate::testing::capture) calls.
//!
//! The queue is a stack of batches that producers push with one
//! compare-and-swap and the consumer takes whole with one swap, so a
//! producer never waits. When the queue holds more than [`QUEUE_CAPACITY`]
//! spans, new batches are dropped and counted.

use crate::clock::Calibration;
use crate::context::{Batch, SAMPLED, events_of};
use crate::record::{SpanRecord, Status, Tags};
use crate::report::Reporter;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How many finished spans may wait for the collector before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1 << 16;

/// How often the background collector hands spans to the reporter.
const INTERVAL: Duration = Duration::from_millis(10);

struct Node {
    next: *mut Node,
    batch: Batch,
}

static HEAD: AtomicPtr<Node> = AtomicPtr::new(ptr::null_mut());
static QUEUED: AtomicUsize = AtomicUsize::new(0);
/// A reporter is installed (1) plus the number of running captures: nobody
/// listening means batches are dropped at once, without counting as losses.
pub(crate) static LISTENERS: AtomicUsize = AtomicUsize::new(0);
static SUBMITTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicU64 = AtomicU64::new(0);

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
    }
}

pub(crate) fn submit(batch: Batch) {
    if LISTENERS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let n = batch.spans.len();
    SUBMITTED.fetch_add(n as u64, Ordering::Relaxed);
    if QUEUED.fetch_add(n, Ordering::Relaxed) + n > QUEUE_CAPACITY {
        QUEUED.fetch_sub(n, Ordering::Relaxed);
        DROPPED.fetch_add(n as u64, Ordering::Relaxed);
        return;
    }
    let node = Box::into_raw(Box::new(Node {
        next: ptr::null_mut(),
        batch,
    }));
    let mut head = HEAD.load(Ordering::Relaxed);
    loop {
        // SAFETY: `node` is ours until the exchange publishes it.
        unsafe { (*node).next = head };
        match HEAD.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Everything the collector routes to; locked only by the collector thread,
/// flushes and install/uninstall, never by the threads that make spans.
pub(crate) struct Sinks {
    pub(crate) reporter: Option<Box<dyn Reporter>>,
    pub(crate) captures: HashMap<u32, Vec<SpanRecord>>,
}

static SINKS: Lazy<Mutex<Sinks>> = Lazy::new(|| {
    Mutex::new(Sinks {
        reporter: None,
        captures: HashMap::new(),
    })
});

pub(crate) fn sinks() -> MutexGuard<'static, Sinks> {
    // A reporter that panicked must not stop tracing for good.
    SINKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes everything queued so far and delivers it. Returns how many spans.
pub(crate) fn drain(sinks: &mut Sinks) -> usize {
    let mut head = HEAD.swap(ptr::null_mut(), Ordering::Acquire);
    if head.is_null() {
        return 0;
    }
    // The stack holds the newest batch first; deliver oldest first.
    let mut batches = Vec::new();
    while !head.is_null() {
        // SAFETY: every node was made by `Box::into_raw` in `submit`, and the
        // swap above gave this thread sole ownership of the whole list.
        let node = unsafe { Box::from_raw(head) };
        head = node.next;
        batches.push(node.batch);
    }
    let cal = Calibration::now();
    let mut records = Vec::new();
    for batch in batches.into_iter().rev() {
        QUEUED.fetch_sub(batch.spans.len(), Ordering::Relaxed);
        to_records(batch, &cal, &mut records);
    }
    let n = records.len();
    if !sinks.captures.is_empty() {
        for r in records.iter().filter(|r| r.capture != 0) {
            if let Some(store) = sinks.captures.get_mut(&r.capture) {
                store.push(r.clone());
            }
        }
    }
    if let Some(reporter) = sinks.reporter.as_mut() {
        REPORTED.fetch_add(n as u64, Ordering::Relaxed);
        // Cleared on drop, so a panicking reporter does not leave `flush()`
        // disabled on this thread.
        struct Reporting;
        impl Drop for Reporting {
            fn drop(&mut self) {
                IN_REPORTER.with(|r| r.set(false));
            }
        }
        IN_REPORTER.with(|r| r.set(true));
        let _reporting = Reporting;
        reporter.report(records);
    }
    n
}

thread_local! {
    /// Set while this thread runs a reporter, which holds the sinks lock: a
    /// reporter calling `flush()` must not wait for itself.
    static IN_REPORTER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn to_records(mut batch: Batch, cal: &Calibration, out: &mut Vec<SpanRecord>) {
    // Tags set on a span while another was on top of it are kept aside; move
    // them next to the rest so each record's tags are one slice of the arena.
    for raw in &mut batch.spans {
        if let Some(extra) = raw.core.extras.as_mut().filter(|e| !e.tags.is_empty()) {
            let start = batch.tags.len();
            batch
                .tags
                .extend_from_within(raw.tags.start as usize..raw.tags.end as usize);
            batch.tags.append(&mut extra.tags);
            raw.tags = start as u32..batch.tags.len() as u32;
        }
    }
    let arena = Arc::new(batch.tags);
    out.reserve(batch.spans.len());
    for raw in batch.spans {
        let (Some(trace_id), Some(span_id)) = (raw.trace_id, raw.span_id) else {
            continue;
        };
        let mut core = raw.core;
        let (events, links, status) = match core.extras.as_deref_mut() {
            Some(extras) => (
                events_of(extras, cal),
                std::mem::take(&mut extras.links),
                std::mem::take(&mut extras.status),
            ),
            None => (Vec::new(), Vec::new(), Status::Unset),
        };
        out.push(SpanRecord {
            trace_id,
            span_id,
            parent_id: core.parent,
            remote_parent: core.parent_remote,
            sampled: raw.flags & SAMPLED != 0,
            name: core.name,
            kind: core.kind,
            start: cal.to_system_time(core.start),
            end: cal.to_system_time(raw.end),
            tags: Tags::new(arena.clone(), raw.tags),
            code: core.meta,
            events,
            links,
            status,
            baggage: raw.baggage,
            trace_state: raw.trace_state,
            capture: raw.capture,
        });
    }
}

/// Hands this thread's finished spans over and delivers everything queued.
pub(crate) fn flush_all() {
    crate::context::flush_thread();
    if IN_REPORTER.with(|r| r.get()) {
        return;
    }
    let mut sinks = sinks();
    drain(&mut sinks);
    if let Some(r) = sinks.reporter.as_mut() {
        r.flush();
    }
}

static BACKGROUND: Lazy<std::thread::Thread> = Lazy::new(|| {
    std::thread::Builder::new()
        .name("tracekit-collector".into())
        .spawn(|| {
            loop {
                std::thread::park_timeout(INTERVAL);
                // A panicking reporter loses its batch, not the collector:
                // without this the thread would die and nothing would be
                // delivered until someone called `flush()`.
                let _ = std::panic::catch_unwind(|| {
                    let mut sinks = sinks();
                    if sinks.reporter.is_some() {
                        drain(&mut sinks);
                    }
                });
            }
        })
        .map(|h| h.thread().clone())
        .unwrap_or_else(|_| std::thread::current())
});

pub(crate) fn ensure_background() {
    Lazy::force(&BACKGROUND);
}
