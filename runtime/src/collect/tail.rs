//! Tail keep: traces head sampling dropped are still recorded (record
//! only), held here per trace until their local root span finishes, and
//! reported when something in them failed or the root was slow; otherwise
//! dropped. Runs on the collector's side, under its lock, never on the
//! thread that made the spans.
//!
//! Only the part of a trace recorded in this process can be kept this way:
//! the services upstream and downstream decided by the head sampling flag
//! they were given, which said "not sampled".

use crate::TraceId;
use crate::data::batch::Batch;
use crate::data::clock::Calibration;
use crate::data::raw::{RawSpan, Tag};
use crate::data::value::Value;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The tag on the local root of a trace kept by tail keep: `error` or
/// `slow`.
pub const KEPT_TAG: &str = "sampling.tail_kept";

/// What traces head sampling dropped are kept anyway, and how much memory
/// waiting for their roots may take.
///
/// ```
/// use std::time::Duration;
/// use tracekit::sampler::{set_sampler, set_tail_keep, TailKeep, TraceIdRatio};
/// let _sampler = set_sampler(TraceIdRatio::new(0.01));
/// let _tail = set_tail_keep(TailKeep::new().slower_than(Duration::from_millis(500)));
/// ```
#[derive(Clone, Debug)]
pub struct TailKeep {
    slow: Option<Duration>,
    errors: bool,
    max_spans_per_trace: usize,
    max_traces: usize,
}

impl Default for TailKeep {
    fn default() -> TailKeep {
        TailKeep::new()
    }
}

impl TailKeep {
    /// Keeps traces with an error, holding at most 1,000 spans of a trace
    /// and 1,000 traces at once.
    ///
    /// ```
    /// let keep = tracekit::sampler::TailKeep::new();
    /// # drop(keep);
    /// ```
    pub fn new() -> TailKeep {
        TailKeep {
            slow: None,
            errors: true,
            max_spans_per_trace: 1000,
            max_traces: 1000,
        }
    }

    /// Also keeps traces whose local root ran longer than `threshold`.
    ///
    /// ```
    /// let keep = tracekit::sampler::TailKeep::new().slower_than(std::time::Duration::from_secs(1));
    /// # drop(keep);
    /// ```
    pub fn slower_than(mut self, threshold: Duration) -> TailKeep {
        self.slow = Some(threshold);
        self
    }

    /// Whether a span in error keeps its trace (on by default).
    ///
    /// ```
    /// let slow_only = tracekit::sampler::TailKeep::new()
    ///     .on_error(false)
    ///     .slower_than(std::time::Duration::from_millis(200));
    /// # drop(slow_only);
    /// ```
    pub fn on_error(mut self, keep: bool) -> TailKeep {
        self.errors = keep;
        self
    }

    /// The most spans held for one trace; later ones are dropped and
    /// counted (the trace, if kept, is reported without them). The local
    /// root is always kept, even past the limit.
    ///
    /// ```
    /// let keep = tracekit::sampler::TailKeep::new().max_spans_per_trace(200);
    /// # drop(keep);
    /// ```
    pub fn max_spans_per_trace(mut self, n: usize) -> TailKeep {
        self.max_spans_per_trace = n.max(1);
        self
    }

    /// The most traces held at once; when full, the oldest is dropped and
    /// counted.
    ///
    /// ```
    /// let keep = tracekit::sampler::TailKeep::new().max_traces(10_000);
    /// # drop(keep);
    /// ```
    pub fn max_traces(mut self, n: usize) -> TailKeep {
        self.max_traces = n.max(1);
        self
    }
}

/// What tail keep did since the program started.
///
/// ```
/// let stats = tracekit::sampler::tail_stats();
/// assert!(stats.kept_traces <= stats.kept_traces + stats.dropped_traces);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailStats {
    /// Traces reported because they failed or were slow.
    pub kept_traces: u64,
    /// Traces dropped at their root, as head sampling asked.
    pub dropped_traces: u64,
    /// Traces dropped before their root finished, to stay within
    /// `max_traces`.
    pub evicted_traces: u64,
    /// Spans dropped beyond `max_spans_per_trace`, and those of evicted
    /// traces.
    pub dropped_spans: u64,
}

static KEPT: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static EVICTED: AtomicU64 = AtomicU64::new(0);
static DROPPED_SPANS: AtomicU64 = AtomicU64::new(0);

/// What tail keep has done so far.
///
/// ```
/// let _ = tracekit::sampler::tail_stats().dropped_spans;
/// ```
pub fn tail_stats() -> TailStats {
    TailStats {
        kept_traces: KEPT.load(Ordering::Relaxed),
        dropped_traces: DROPPED.load(Ordering::Relaxed),
        evicted_traces: EVICTED.load(Ordering::Relaxed),
        dropped_spans: DROPPED_SPANS.load(Ordering::Relaxed),
    }
}

/// Whether new traces head sampling drops are recorded for tail keep.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The collector's step for held traces, set once tail keep was ever on
/// (record-only spans may be in flight from then on). Set by
/// [`set_tail_keep`] rather than called directly, so that a program which
/// never turns tail keep on does not link the holding and deciding code.
static SIFT: OnceLock<fn(&mut Vec<Batch>, &Calibration)> = OnceLock::new();

static STATE: Mutex<Option<Held>> = Mutex::new(None);

/// Turns tail keep on with `keep` until the guard drops (which turns it
/// off, or back to what it replaced). Traces already held are still
/// decided when their roots finish.
///
/// ```
/// let _tail = tracekit::sampler::set_tail_keep(tracekit::sampler::TailKeep::new());
/// ```
#[must_use = "tail keep is turned off as soon as the guard drops"]
pub fn set_tail_keep(keep: TailKeep) -> TailKeepGuard {
    TailKeepGuard {
        previous: replace(Some(keep)),
    }
}

fn replace(keep: Option<TailKeep>) -> Option<TailKeep> {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let held = state.get_or_insert_with(Held::default);
    if keep.is_some() {
        // Before spans can be recorded for tail keep: none reaches a
        // reporter unsifted.
        SIFT.get_or_init(|| sift_held);
    }
    ENABLED.store(keep.is_some(), Ordering::Relaxed);
    std::mem::replace(&mut held.config, keep)
}

/// Puts back the tail keep it replaced when dropped; see [`set_tail_keep`].
pub struct TailKeepGuard {
    previous: Option<TailKeep>,
}

impl Drop for TailKeepGuard {
    fn drop(&mut self) {
        replace(self.previous.take());
    }
}

/// Whether a trace head sampling drops should be recorded.
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[derive(Default)]
struct Held {
    config: Option<TailKeep>,
    pending: HashMap<TraceId, Pending>,
    /// Arrival order of the pending traces, oldest first (for eviction).
    order: VecDeque<TraceId>,
    /// Traces decided recently, for their spans that finish after the
    /// root (on other threads): kept or not.
    decided: HashMap<TraceId, bool>,
    decided_order: VecDeque<TraceId>,
}

struct Pending {
    batch: Batch,
    error: bool,
}

/// How many decisions are remembered for late spans.
const DECIDED_MEMORY: usize = 4096;

/// Takes the record-only spans out of `batches` and holds them; adds the
/// traces decided to keep. Called by the collector before delivery.
pub(crate) fn sift(batches: &mut Vec<Batch>, calibration: &Calibration) {
    if let Some(sift) = SIFT.get() {
        sift(batches, calibration);
    }
}

fn sift_held(batches: &mut Vec<Batch>, calibration: &Calibration) {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let held = state.get_or_insert_with(Held::default);
    let config = held.config.clone().unwrap_or_default();
    let mut out = Vec::new();
    for batch in batches.iter_mut() {
        if !batch.spans.iter().any(RawSpan::is_record_only) {
            continue;
        }
        let whole = std::mem::take(batch);
        let (mut groups, _) = whole.scatter(2, &mut |r| usize::from(r.is_record_only()));
        let record_only = groups.pop().unwrap_or_default();
        *batch = groups.pop().unwrap_or_default();
        held.take(record_only, &config, calibration, &mut out);
    }
    batches.retain(|b| !b.spans.is_empty());
    batches.extend(out);
}

impl Held {
    fn take(&mut self, spans: Batch, config: &TailKeep, cal: &Calibration, out: &mut Vec<Batch>) {
        // One group per trace, in order of first appearance.
        let mut traces: Vec<TraceId> = Vec::new();
        let mut index: HashMap<TraceId, usize> = HashMap::new();
        let (groups, _) = spans.scatter(1, &mut |r| {
            *index.entry(r.trace_id).or_insert_with(|| {
                traces.push(r.trace_id);
                traces.len() - 1
            })
        });
        for (trace, group) in traces.into_iter().zip(groups) {
            self.take_trace(trace, group, config, cal, out);
        }
    }

    fn take_trace(
        &mut self,
        trace: TraceId,
        mut group: Batch,
        config: &TailKeep,
        cal: &Calibration,
        out: &mut Vec<Batch>,
    ) {
        if let Some(&kept) = self.decided.get(&trace) {
            if kept {
                out.push(group);
            }
            return;
        }
        let is_root = |r: &RawSpan| (r.parent_id.is_none() || r.remote_parent) && r.end.is_set();
        let root_id = group.spans.iter().find(|r| is_root(r)).map(|r| r.span_id);
        let held = self.pending.remove(&trace);
        let was_held = held.is_some();
        let mut pending = held.unwrap_or(Pending {
            batch: Batch::default(),
            error: false,
        });
        pending.error |= (0..group.spans.len()).any(|i| group.is_error(i));
        let room = config
            .max_spans_per_trace
            .saturating_sub(pending.batch.spans.len());
        if group.spans.len() > room {
            // The root always stays (it carries the decision); the newest
            // of the others are dropped.
            let mut others = room.saturating_sub(usize::from(root_id.is_some()));
            let (mut parts, _) = group.scatter(2, &mut |r| {
                if Some(r.span_id) == root_id {
                    0
                } else if others > 0 {
                    others -= 1;
                    0
                } else {
                    1
                }
            });
            let dropped = parts.pop().map_or(0, |b| b.spans.len());
            DROPPED_SPANS.fetch_add(dropped as u64, Ordering::Relaxed);
            group = parts.pop().unwrap_or_default();
        }
        let root_at = pending.batch.spans.len();
        let root = group.spans.iter().position(|r| Some(r.span_id) == root_id);
        pending.batch.append(group);
        let Some(root) = root else {
            // Wait for the root; a trace seen for the first time takes a
            // place, the oldest giving up its own when all are taken.
            if !was_held {
                if self.pending.len() >= config.max_traces {
                    self.evict_oldest();
                }
                self.order.push_back(trace);
            }
            self.pending.insert(trace, pending);
            return;
        };
        if was_held {
            self.order.retain(|t| *t != trace);
        }
        let root_slot = root_at + root;
        let raw = pending.batch.spans[root_slot];
        let took = Duration::from_nanos(
            cal.unix_nanos(raw.end)
                .saturating_sub(cal.unix_nanos(raw.start)),
        );
        let reason = if config.errors && pending.error {
            Some("error")
        } else if config.slow.is_some_and(|t| took > t) {
            Some("slow")
        } else {
            None
        };
        self.remember(trace, reason.is_some());
        match reason {
            Some(reason) => {
                KEPT.fetch_add(1, Ordering::Relaxed);
                let mut batch = pending.batch;
                batch.tags.push(Tag {
                    span: root_slot as u32,
                    key: Cow::Borrowed(KEPT_TAG),
                    value: Value::from_static(reason),
                });
                out.push(batch);
            }
            None => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn evict_oldest(&mut self) {
        while let Some(oldest) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&oldest) {
                EVICTED.fetch_add(1, Ordering::Relaxed);
                DROPPED_SPANS.fetch_add(p.batch.spans.len() as u64, Ordering::Relaxed);
                self.remember(oldest, false);
                return;
            }
        }
    }

    fn remember(&mut self, trace: TraceId, kept: bool) {
        if self.decided.insert(trace, kept).is_none() {
            self.decided_order.push_back(trace);
        }
        while self.decided_order.len() > DECIDED_MEMORY {
            if let Some(old) = self.decided_order.pop_front() {
                self.decided.remove(&old);
            }
        }
    }
}
