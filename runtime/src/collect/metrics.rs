//! Where metrics are summed: the collector counts every recorded span of a
//! trace point as its batch arrives (before tail keep drops any), and a
//! snapshot adds the tables in which threads counted the calls that
//! recorded nothing (`local/metrics.rs`). A table whose thread has ended is
//! folded into one of retired counts.

use crate::data::batch::Batch;
use crate::data::clock::{Calibration, Stamp};
use crate::data::intern;
use crate::data::metrics::lock;
use crate::data::metrics::{
    self, Counts, ErrorTable, FunctionMetrics, Metrics, Outcome, RequestKey, RequestMetrics,
    RequestTable, Table,
};
use crate::data::raw::{GONE, NONE};
use crate::data::value::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Mutex};

/// The collector's own counts (recorded spans) and those of ended threads.
/// Written only under this lock, so its single-writer counters hold.
static SUMS: Mutex<Option<Sums>> = Mutex::new(None);

struct Sums {
    recorded: Table,
    retired: Table,
    /// The request counts of ended threads.
    retired_requests: RequestTable,
    /// The failed calls by error type of ended threads.
    retired_errors: ErrorTable,
}

impl Sums {
    fn new() -> Sums {
        Sums {
            recorded: Table::default(),
            retired: Table::default(),
            retired_requests: RequestTable::default(),
            retired_errors: ErrorTable::default(),
        }
    }
}

/// Counts every finished span of a trace point in `batches`, before tail
/// keep decides which to keep: at the collector's tick (`calibration` its
/// clock's), or where a full queue drops a batch (`None`: the tick rate as
/// last measured; a span given explicit times is measured then). As the
/// metrics' bookkeeping: it holds their lock while it allocates.
pub(crate) fn observe(batches: &[Batch], calibration: Option<&Calibration>) {
    metrics::as_bookkeeping(|| observe_now(batches, calibration));
}

fn observe_now(batches: &[Batch], calibration: Option<&Calibration>) {
    if let Some(c) = calibration {
        metrics::NANOS_PER_TICK_Q32.store(c.nanos_per_tick_q32(), Ordering::Relaxed);
    }
    let mut sums = lock(&SUMS);
    let sums = sums.get_or_insert_with(Sums::new);
    let recorded = &sums.recorded;
    let q32 = metrics::NANOS_PER_TICK_Q32.load(Ordering::Relaxed);
    for batch in batches {
        for raw in &batch.spans {
            let Some(point) = raw.meta else { continue };
            if raw.flags & GONE != 0 {
                continue;
            }
            let ns = match raw.start.ticks_until(raw.end) {
                Some(ticks) => metrics::ticks_to_nanos_at(ticks, q32),
                None if !raw.end.is_set() => continue,
                None => explicit_nanos(raw.start, raw.end, calibration),
            };
            let slot = point.metrics_slot();
            let counts = recorded.counts(slot);
            // Most spans have no extras: their outcome is known here.
            match raw.extras {
                NONE => counts.count_keeping(slot, ns, Outcome::Ok),
                extras => {
                    let outcome = error_type(batch, extras).map_or(Outcome::Ok, Outcome::Error);
                    counts.count_keeping(slot, ns, outcome);
                }
            }
        }
    }
}

/// A span given an explicit start or end: measured with the calibration.
#[cold]
#[inline(never)]
fn explicit_nanos(start: Stamp, end: Stamp, calibration: Option<&Calibration>) -> u64 {
    metrics::span_nanos(start, end, calibration)
}

/// The `error.type` of a span whose extras say it failed (an error
/// status): its last `exception` event's type, kept as static text
/// (`_OTHER` when it has none, or once the kept strings are full); `None`
/// when it did not fail. The last, because the call's own outcome (its
/// `Err`, its panic) is recorded after anything its body recorded: an
/// unsampled call, counted from that outcome alone, gets the same type.
#[cold]
#[inline(never)]
fn error_type(batch: &Batch, extras: u32) -> Option<&'static str> {
    let extras = batch.extras.get(extras as usize)?;
    if !extras.status.is_error() {
        return None;
    }
    let named = extras
        .events
        .iter()
        .rev()
        .find(|e| e.name == crate::data::raw::EXCEPTION)
        .and_then(|e| match e.field("exception.type") {
            Some(Value::Str(t)) => intern::string(t.as_str()),
            _ => None,
        });
    Some(named.unwrap_or(metrics::OTHER))
}

/// Every trace point's metrics as of now: what the collector counted and
/// what each thread's table holds. Taken as the metrics' bookkeeping: it
/// holds their locks while it allocates.
pub(crate) fn snapshot() -> Metrics {
    metrics::as_bookkeeping(snapshot_now)
}

fn snapshot_now() -> Metrics {
    let mut by_slot: Vec<Option<FunctionMetrics>> = vec![None; metrics::SLOTS];
    let mut add = |table: &Table| {
        for (slot, counts) in table.each() {
            by_slot[slot]
                .get_or_insert_with(|| FunctionMetrics::new(None))
                .add_counts(counts);
        }
    };
    let mut sums = lock(&SUMS);
    let sums = sums.get_or_insert_with(Sums::new);
    {
        let mut threads = lock(&metrics::THREADS);
        retire_tables(&mut threads, &sums.retired);
        for t in threads.iter() {
            add(t);
        }
    }
    add(&sums.recorded);
    add(&sums.retired);
    each_series(
        &metrics::ERROR_THREADS,
        |t: &ErrorTable| &t.series,
        &mut sums.retired_errors.series,
        |&(slot, error_type), counts| {
            by_slot[slot & metrics::OVERFLOW]
                .get_or_insert_with(|| FunctionMetrics::new(None))
                .add_error_counts(error_type, counts);
        },
    );
    // Which point each slot is, read after every count: a slot is given
    // (under its lock) before anything is counted in it, so a point whose
    // first call raced this snapshot is named, not taken for the overflow.
    let points = metrics::points();
    let mut overflow: Option<FunctionMetrics> = None;
    for (slot, f) in by_slot.iter_mut().enumerate() {
        let Some(mut counted) = f.take() else {
            continue;
        };
        match points.get(slot).copied().flatten() {
            Some(p) => {
                counted.set_point(p);
                *f = Some(counted);
            }
            None => match overflow.as_mut() {
                Some(o) => o.absorb(counted),
                None => overflow = Some(counted),
            },
        }
    }
    by_slot[metrics::OVERFLOW] = overflow;
    // Points that exporters could not tell apart (the same namespace and
    // function: `from` in two `impl From<_> for T` blocks) are one series.
    let mut functions: Vec<FunctionMetrics> = Vec::new();
    let mut by_series: HashMap<(&'static str, &'static str), usize> = HashMap::new();
    for f in by_slot.into_iter().flatten() {
        let Some(p) = f.point() else {
            functions.push(f);
            continue;
        };
        match by_series.entry((p.namespace(), p.function())) {
            Entry::Occupied(at) => functions[*at.get()].absorb(f),
            Entry::Vacant(at) => {
                at.insert(functions.len());
                functions.push(f);
            }
        }
    }
    functions.iter_mut().for_each(FunctionMetrics::finish);
    Metrics {
        start_time: metrics::STARTED.get().copied(),
        functions,
        requests: requests(&mut sums.retired_requests),
    }
}

/// Folds the tables of the threads that ended into the retired counts and
/// lets go of them: on the collector's tick (`collector.rs`, about once a
/// second), so that a process whose threads come and go keeps no table of
/// theirs however seldom a snapshot is taken, and at every snapshot.
pub(crate) fn retire_ended() {
    metrics::as_bookkeeping(|| {
        let mut sums = lock(&SUMS);
        let sums = sums.get_or_insert_with(Sums::new);
        retire_tables(&mut lock(&metrics::THREADS), &sums.retired);
        retire_series(
            &mut lock(&metrics::ERROR_THREADS),
            |t: &ErrorTable| &t.series,
            &mut sums.retired_errors.series,
        );
        retire_series(
            &mut lock(&metrics::REQUEST_THREADS),
            |t: &RequestTable| &t.series,
            &mut sums.retired_requests.series,
        );
    });
}

/// Folds the tables in `threads` that only the list still holds (their
/// threads ended) into `retired`, under [`SUMS`], which makes the collector
/// their only writer.
fn retire_tables(threads: &mut Vec<Arc<Table>>, retired: &Table) {
    threads.retain(|t| {
        if Arc::strong_count(t) > 1 {
            return true;
        }
        // The ended thread's last counts happened before its `Arc` went
        // (a release): seen from here on.
        fence(Ordering::Acquire);
        for (slot, counts) in t.each() {
            retired.counts(slot).merge(counts);
        }
        false
    });
}

/// [`retire_tables`] for tables of series by key (`series`).
fn retire_series<K: Clone + Eq + Hash, T>(
    threads: &mut Vec<Arc<Mutex<T>>>,
    series: impl Fn(&T) -> &HashMap<K, Box<Counts>>,
    retired: &mut HashMap<K, Box<Counts>>,
) {
    threads.retain(|t| {
        if Arc::strong_count(t) > 1 {
            return true;
        }
        for (key, counts) in series(&lock(t)) {
            retired
                .entry(key.clone())
                .or_insert_with(|| Box::new(Counts::new()))
                .merge(counts);
        }
        false
    });
}

/// Every series of the per-thread tables `threads` (a table's series by
/// key, `series`), an ended thread's first folded into `retired`, each
/// given to `add`.
fn each_series<K: Clone + Eq + Hash, T>(
    threads: &Mutex<Vec<Arc<Mutex<T>>>>,
    series: impl Fn(&T) -> &HashMap<K, Box<Counts>>,
    retired: &mut HashMap<K, Box<Counts>>,
    mut add: impl FnMut(&K, &Counts),
) {
    let mut threads = lock(threads);
    retire_series(&mut threads, &series, retired);
    for t in threads.iter() {
        for (key, counts) in series(&lock(t)) {
            add(key, counts);
        }
    }
    drop(threads);
    for (key, counts) in retired.iter() {
        add(key, counts);
    }
}

/// Every request series: the threads' tables summed, with an ended
/// thread's folded into `retired`.
fn requests(retired: &mut RequestTable) -> Vec<RequestMetrics> {
    let mut by_key: HashMap<RequestKey, RequestMetrics> = HashMap::new();
    each_series(
        &metrics::REQUEST_THREADS,
        |t: &RequestTable| &t.series,
        &mut retired.series,
        |key, counts| {
            by_key
                .entry(key.clone())
                .or_insert_with(|| RequestMetrics::new(key.clone()))
                .add_counts(counts);
        },
    );
    let mut all: Vec<RequestMetrics> = by_key.into_values().collect();
    all.sort_by(|a, b| {
        (a.instrument(), a.route(), a.method(), a.status_code()).cmp(&(
            b.instrument(),
            b.route(),
            b.method(),
            b.status_code(),
        ))
    });
    all
}
