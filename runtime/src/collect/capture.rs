//! Which running capture (`testing::capture`) a trace belongs to. A
//! capture's id travels with the thread state, so it reaches the spans its
//! code starts, but not the spans of a second service in the same process
//! that a request reaches over the network: those continue a remote parent
//! and start with no capture. Here a trace started inside a capture is
//! remembered, so a span entering the process with that trace joins the
//! capture; and such spans are counted until they arrive, so the capture
//! can wait for a server that finishes its span after the client has its
//! response. Nothing here runs unless a capture is running.

use crate::data::id::TraceId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Captures running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

struct Registry {
    /// The capture each trace started (or continued) inside one belongs to.
    traces: HashMap<TraceId, u32>,
    /// Per capture: recorded spans that entered one of its traces from a
    /// remote parent and have not reached the collector yet.
    entered: HashMap<u32, usize>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let registry = guard.get_or_insert_with(|| Registry {
        traces: HashMap::new(),
        entered: HashMap::new(),
    });
    f(registry)
}

/// A capture begins.
pub(crate) fn begin() {
    RUNNING.fetch_add(1, Ordering::SeqCst);
}

/// Capture `id` ended: its traces are forgotten.
pub(crate) fn end(id: u32) {
    registry(|r| {
        r.traces.retain(|_, c| *c != id);
        r.entered.remove(&id);
    });
    RUNNING.fetch_sub(1, Ordering::SeqCst);
}

/// A new trace started inside capture `id` (not 0).
#[cold]
pub(crate) fn started(trace: TraceId, id: u32) {
    registry(|r| {
        r.traces.insert(trace, id);
    });
}

/// The capture of a span continuing a remote parent in `trace`: `capture`
/// when it has one already (the trace is then remembered as that
/// capture's), else the capture that started the trace, else 0. One that
/// `records` is counted until it arrives.
#[inline]
pub(crate) fn entering(trace: TraceId, capture: u32, records: bool) -> u32 {
    if capture == 0 && RUNNING.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    entering_slow(trace, capture, records)
}

#[cold]
fn entering_slow(trace: TraceId, capture: u32, records: bool) -> u32 {
    registry(|r| {
        let id = match capture {
            0 => r.traces.get(&trace).copied().unwrap_or(0),
            id => {
                r.traces.entry(trace).or_insert(id);
                id
            }
        };
        if id != 0 && records {
            *r.entered.entry(id).or_default() += 1;
        }
        id
    })
}

/// Spans counted by [`entering`] reached the collector, one per entry of
/// `ids`.
pub(crate) fn arrived(ids: &[u32]) {
    registry(|r| {
        for id in ids {
            if let Some(n) = r.entered.get_mut(id) {
                *n = n.saturating_sub(1);
            }
        }
    });
}

/// Spans of capture `id` that entered from a remote parent and have not
/// arrived.
pub(crate) fn pending(id: u32) -> usize {
    registry(|r| r.entered.get(&id).copied().unwrap_or(0))
}
