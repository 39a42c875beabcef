//! Where metrics are summed: the collector counts every recorded span of a
//! trace point as its batch arrives (before tail keep drops any), and a
//! snapshot adds the tables in which threads counted the calls that
//! recorded nothing (`local/metrics.rs`). A table whose thread has ended is
//! folded into one of retired counts.

use crate::data::batch::Batch;
use crate::data::clock::Calibration;
use crate::data::metrics::lock;
use crate::data::metrics::{
    self, Counts, FunctionMetrics, Metrics, Outcome, RequestKey, RequestMetrics, RequestTable,
    Table,
};
use crate::data::raw::{GONE, NONE};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The collector's own counts (recorded spans) and those of ended threads.
/// Written only under this lock, so its single-writer counters hold.
static SUMS: Mutex<Option<Sums>> = Mutex::new(None);

struct Sums {
    recorded: Table,
    retired: Table,
    /// The request counts of ended threads.
    retired_requests: RequestTable,
}

/// Counts every finished span of a trace point in `batches`, before tail
/// keep decides which to keep: at the collector's tick (`calibration` its
/// clock's), or where a full queue drops a batch (`None`: the tick rate as
/// last measured; a span given explicit times is measured then).
pub(crate) fn observe(batches: &[Batch], calibration: Option<&Calibration>) {
    if let Some(c) = calibration {
        metrics::NANOS_PER_TICK_Q32.store(c.nanos_per_tick_q32(), Ordering::Relaxed);
    }
    let mut sums = lock(&SUMS);
    let sums = sums.get_or_insert_with(|| Sums {
        recorded: Table::default(),
        retired: Table::default(),
        retired_requests: RequestTable::default(),
    });
    let recorded = &sums.recorded;
    for batch in batches {
        for raw in &batch.spans {
            let Some(point) = raw.meta else { continue };
            if raw.flags & GONE != 0 || !raw.end.is_set() {
                continue;
            }
            let ns = metrics::span_nanos(raw.start, raw.end, calibration);
            let failed = raw.extras != NONE
                && batch
                    .extras
                    .get(raw.extras as usize)
                    .is_some_and(|e| e.status.is_error());
            let outcome = if failed { Outcome::Error } else { Outcome::Ok };
            recorded.counts(point.metrics_slot()).add(ns, outcome);
        }
    }
}

/// Every trace point's metrics as of now: what the collector counted and
/// what each thread's table holds.
pub(crate) fn snapshot() -> Metrics {
    let points = metrics::points();
    let mut by_slot: Vec<Option<FunctionMetrics>> = vec![None; metrics::SLOTS];
    let mut add = |table: &Table| {
        for (slot, counts) in table.each() {
            by_slot[slot]
                .get_or_insert_with(|| FunctionMetrics::new(points.get(slot).copied().flatten()))
                .add_counts(counts);
        }
    };
    let mut sums = lock(&SUMS);
    let sums = sums.get_or_insert_with(|| Sums {
        recorded: Table::default(),
        retired: Table::default(),
        retired_requests: RequestTable::default(),
    });
    {
        let mut threads = lock(&metrics::THREADS);
        // A table only the list still holds belongs to an ended thread:
        // its counts join the retired ones (this lock makes the collector
        // their only writer).
        threads.retain(|t| {
            if Arc::strong_count(t) > 1 {
                return true;
            }
            for (slot, counts) in t.each() {
                sums.retired.counts(slot).merge(counts);
            }
            false
        });
        for t in threads.iter() {
            add(t);
        }
    }
    add(&sums.recorded);
    add(&sums.retired);
    Metrics {
        functions: by_slot.into_iter().flatten().collect(),
        requests: requests(&mut sums.retired_requests),
    }
}

/// Every request series: the threads' tables summed, with an ended
/// thread's folded into `retired`.
fn requests(retired: &mut RequestTable) -> Vec<RequestMetrics> {
    let mut by_key: HashMap<RequestKey, RequestMetrics> = HashMap::new();
    let mut add = |table: &RequestTable| {
        for (key, counts) in &table.series {
            by_key
                .entry(key.clone())
                .or_insert_with(|| RequestMetrics::new(key.clone()))
                .add_counts(counts);
        }
    };
    let mut threads = lock(&metrics::REQUEST_THREADS);
    threads.retain(|t| {
        let table = lock(t);
        if Arc::strong_count(t) > 1 {
            add(&table);
            return true;
        }
        for (key, counts) in &table.series {
            retired
                .series
                .entry(key.clone())
                .or_insert_with(|| Box::new(Counts::new()))
                .merge(counts);
        }
        false
    });
    drop(threads);
    add(retired);
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
