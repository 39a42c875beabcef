use crate::data::clock::instant_after;
use crate::data::record::SpanRecord;
use crate::data::span_batch::SpanBatch;
use crate::report::Reporter;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sends batches of finished spans to a backend, on the export thread of a
/// [`BatchReporter`]. It may block (a network call) but must give up by
/// `deadline`; retrying within it is its own business.
///
/// ```
/// use std::time::Instant;
/// struct Stdout;
/// impl tracekit::Exporter for Stdout {
///     fn export(&mut self, batch: Vec<tracekit::SpanRecord>, _deadline: Instant) -> Result<(), tracekit::ExportError> {
///         for s in batch {
///             println!("{}", s.name());
///         }
///         Ok(())
///     }
/// }
/// let _guard = tracekit::set_reporter(tracekit::BatchReporter::new(Stdout, Default::default()));
/// ```
pub trait Exporter: Send + 'static {
    /// Exports one batch; an error means the batch is lost.
    fn export(&mut self, batch: Vec<SpanRecord>, deadline: Instant) -> Result<(), ExportError>;

    /// How many spans of the last batch exported the backend accepted the
    /// request but rejected (an OTLP partial success); asked after each
    /// `Ok` export, and counted apart from the spans exported.
    ///
    /// ```
    /// struct Nowhere;
    /// impl tracekit::Exporter for Nowhere {
    ///     fn export(&mut self, _: Vec<tracekit::SpanRecord>, _: std::time::Instant)
    ///         -> Result<(), tracekit::ExportError> { Ok(()) }
    /// }
    /// assert_eq!(tracekit::Exporter::take_rejected(&mut Nowhere), 0);
    /// ```
    fn take_rejected(&mut self) -> u64 {
        0
    }

    /// Called once, after the last batch.
    fn shutdown(&mut self) {}
}

/// Why a batch could not be exported; it has been dropped (and counted).
///
/// ```
/// let e = tracekit::ExportError::new("HTTP 400 Bad Request");
/// assert_eq!(e.to_string(), "HTTP 400 Bad Request");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError(String);

impl ExportError {
    /// An error with this message.
    ///
    /// ```
    /// let e = tracekit::ExportError::new("connection refused");
    /// # drop(e);
    /// ```
    pub fn new(message: impl Into<String>) -> ExportError {
        ExportError(message.into())
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// How a [`BatchReporter`] queues and sends spans. The defaults are
/// OpenTelemetry's batch span processor's but for the queue, which holds
/// 65,536 spans rather than 2,048: an OpenTelemetry processor is handed
/// spans one by one as they end, while tracekit's collector hands over
/// what every thread finished since its last tick (every 10 ms), and one
/// tick of a service at 200,000 spans a second is 2,000 spans, so a
/// 2,048-span queue dropped spans at every burst of load. The bound still
/// holds memory to a few tens of MiB.
///
/// ```
/// use std::time::Duration;
/// let config = tracekit::BatchConfig {
///     scheduled_delay: Duration::from_millis(500),
///     ..Default::default()
/// };
/// assert_eq!(config.max_queue_size, 65_536);
/// assert_eq!(config.max_export_batch_size, 512);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans waiting for export beyond this many are dropped (and counted).
    pub max_queue_size: usize,
    /// At most this many spans go in one export.
    pub max_export_batch_size: usize,
    /// The longest a span waits before an export starts (zero: at once;
    /// `Duration::MAX`: only when a batch is full, a flush or the
    /// shutdown). An idle export thread sleeps with no timer until spans
    /// arrive.
    pub scheduled_delay: Duration,
    /// The longest one export (with its retries), or a flush, may take.
    /// A shutdown has one deadline for all it sends instead (see
    /// [`ReporterGuard::shutdown`](crate::ReporterGuard::shutdown)); an
    /// export in it ends by whichever comes first.
    pub export_timeout: Duration,
}

/// How long a shutdown may take in all, across every batch, retry and
/// reporter, unless `OTEL_BSP_EXPORT_TIMEOUT` says otherwise: well inside
/// the 30 s Kubernetes gives a pod between SIGTERM and SIGKILL.
///
/// ```
/// assert_eq!(tracekit::DEFAULT_SHUTDOWN_TIMEOUT, std::time::Duration::from_secs(5));
/// ```
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The deadline a shutdown gets when none is given in code:
/// `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds), else
/// [`DEFAULT_SHUTDOWN_TIMEOUT`]. Read each time, so a program may set the
/// variable late.
pub(crate) fn shutdown_timeout() -> Duration {
    shutdown_timeout_from(|k| std::env::var(k).ok())
}

fn shutdown_timeout_from(var: impl Fn(&str) -> Option<String>) -> Duration {
    match var("OTEL_BSP_EXPORT_TIMEOUT").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(ms)) if ms > 0 => Duration::from_millis(ms),
        _ => DEFAULT_SHUTDOWN_TIMEOUT,
    }
}

/// Spans accepted by every [`BatchReporter`] and neither exported nor
/// dropped yet: what a process that stops now would lose.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// Spans waiting in (or being sent by) every batch reporter.
pub(crate) fn pending_spans() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_queue_size: 65_536,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_secs(5),
            export_timeout: Duration::from_secs(30),
        }
    }
}

impl BatchConfig {
    /// The defaults, overridden by `OTEL_BSP_MAX_QUEUE_SIZE`,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` and
    /// `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds). A bad value is reported on
    /// stderr and the default kept.
    ///
    /// ```
    /// let config = tracekit::BatchConfig::from_env();
    /// assert!(config.max_export_batch_size <= config.max_queue_size);
    /// ```
    pub fn from_env() -> BatchConfig {
        BatchConfig::from_lookup(|k| std::env::var(k).ok())
    }

    #[doc(hidden)]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> BatchConfig {
        let d = BatchConfig::default();
        let number = |key: &str, default: u64| -> u64 {
            // Empty is unset, as OpenTelemetry's configuration says.
            let Some(raw) = var(key).filter(|v| !v.trim().is_empty()) else {
                return default;
            };
            match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    crate::data::diag::warn(format_args!(
                        "{key}={raw:?} is not a positive integer; using {default}"
                    ));
                    default
                }
            }
        };
        let ms = |d: Duration| d.as_millis() as u64;
        let mut c = BatchConfig {
            max_queue_size: number("OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue_size as u64) as usize,
            max_export_batch_size: number(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                d.max_export_batch_size as u64,
            ) as usize,
            scheduled_delay: Duration::from_millis(number(
                "OTEL_BSP_SCHEDULE_DELAY",
                ms(d.scheduled_delay),
            )),
            export_timeout: Duration::from_millis(number(
                "OTEL_BSP_EXPORT_TIMEOUT",
                ms(d.export_timeout),
            )),
        };
        if c.max_export_batch_size > c.max_queue_size {
            crate::data::diag::warn(format_args!(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE {} exceeds the queue size {}; using {}",
                c.max_export_batch_size, c.max_queue_size, c.max_queue_size
            ));
            c.max_export_batch_size = c.max_queue_size;
        }
        c
    }
}

/// Counters of a [`BatchReporter`], readable while it runs.
///
/// ```
/// let reporter = tracekit::BatchReporter::new(tracekit::InMemoryExporter::default(), Default::default());
/// let stats = reporter.stats();
/// assert_eq!(stats.snapshot().spans_exported, 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ExportStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    exported: AtomicU64,
    rejected: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_export_failed: AtomicU64,
    dropped_shutdown: AtomicU64,
    export_errors: AtomicU64,
}

impl Counters {
    /// `n` spans left the queue without being exported.
    fn dropped(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        PENDING.fetch_sub(n, Ordering::Relaxed);
    }
}

/// The counters at one moment; add [`collector_stats`](crate::collector_stats)
/// for the spans finished by the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSnapshot {
    /// Spans accepted into the export queue.
    pub spans_queued: u64,
    /// Spans the backend accepted.
    pub spans_exported: u64,
    /// Spans the backend rejected in a request it otherwise accepted (an
    /// OTLP partial success).
    pub spans_rejected: u64,
    /// Spans dropped because the export queue was full.
    pub spans_dropped_queue_full: u64,
    /// Spans dropped because their export failed.
    pub spans_dropped_export_failed: u64,
    /// Spans still queued when a shutdown's deadline passed, or reported
    /// after the shutdown began.
    pub spans_dropped_shutdown: u64,
    /// Failed exports (each drops one batch).
    pub export_errors: u64,
}

impl ExportStats {
    /// The counters now.
    ///
    /// ```
    /// let stats = tracekit::ExportStats::default();
    /// assert_eq!(stats.snapshot().export_errors, 0);
    /// ```
    pub fn snapshot(&self) -> ExportSnapshot {
        let c = &self.0;
        ExportSnapshot {
            spans_queued: c.queued.load(Ordering::Relaxed),
            spans_exported: c.exported.load(Ordering::Relaxed),
            spans_rejected: c.rejected.load(Ordering::Relaxed),
            spans_dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
            spans_dropped_export_failed: c.dropped_export_failed.load(Ordering::Relaxed),
            spans_dropped_shutdown: c.dropped_shutdown.load(Ordering::Relaxed),
            export_errors: c.export_errors.load(Ordering::Relaxed),
        }
    }
}

struct Queue {
    spans: VecDeque<SpanRecord>,
    /// Flushes asked for and flushes done; a flush waits for its number.
    flush_asked: u64,
    flush_done: u64,
    /// The shutdown's deadline, once it began: what is queued is exported
    /// until then, the rest dropped.
    stop: Option<Instant>,
    /// Spans the export thread took and is sending now.
    in_flight: usize,
    /// The export thread has returned.
    exited: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the export thread: a full batch, a flush, a shutdown.
    wake: Condvar,
    /// Wakes flushing and shutting-down callers.
    done: Condvar,
    config: BatchConfig,
    stats: ExportStats,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the export thread until `finished` holds or `until`
    /// passes; returns the lock and whether it finished.
    fn wait_for<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        until: Instant,
        finished: impl Fn(&Queue) -> bool,
    ) -> (MutexGuard<'a, Queue>, bool) {
        while !finished(&q) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (q, false);
            }
            q = self
                .done
                .wait_timeout(q, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        (q, true)
    }
}

/// A [`Reporter`] that queues finished spans (bounded; when full, new spans
/// are dropped and counted, never waited for) and hands them in batches to an
/// [`Exporter`] on its own thread, when a batch is full or the scheduled
/// delay has passed. [`flush`](crate::flush) exports everything queued,
/// waiting at most the export timeout; dropping the install guard (or the
/// reporter) shuts it down: everything queued is exported by one deadline
/// for all of it (see [`ReporterGuard::shutdown`](crate::ReporterGuard::shutdown)),
/// and what is left then is dropped and counted.
///
/// ```
/// let memory = tracekit::InMemoryExporter::default();
/// let reporter = tracekit::BatchReporter::new(memory.clone(), tracekit::BatchConfig::default());
/// let stats = reporter.stats();
/// {
///     let _guard = tracekit::set_reporter(reporter);
///     let _span = tracekit::start_active_span("job");
/// } // the guard's drop exports what is left
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(memory.spans().len(), 1);
/// assert_eq!(stats.snapshot().spans_exported, 1);
/// ```
pub struct BatchReporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BatchReporter {
    /// Starts the export thread.
    ///
    /// ```
    /// let r = tracekit::BatchReporter::new(tracekit::InMemoryExporter::default(), Default::default());
    /// # drop(r);
    /// ```
    pub fn new(exporter: impl Exporter, config: BatchConfig) -> BatchReporter {
        let config = BatchConfig {
            max_queue_size: config.max_queue_size.max(1),
            max_export_batch_size: config.max_export_batch_size.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                spans: VecDeque::new(),
                flush_asked: 0,
                flush_done: 0,
                stop: None,
                in_flight: 0,
                exited: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            config,
            stats: ExportStats::default(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tracekit-export".into())
            .spawn(move || export_loop(&worker, exporter))
            .map_err(|e| {
                crate::data::diag::warn(format_args!("cannot start the export thread: {e}"))
            })
            .ok();
        BatchReporter { shared, thread }
    }

    /// The counters, to read while the reporter runs.
    ///
    /// ```
    /// let r = tracekit::BatchReporter::new(tracekit::InMemoryExporter::default(), Default::default());
    /// assert_eq!(r.stats().snapshot().spans_dropped_queue_full, 0);
    /// ```
    pub fn stats(&self) -> ExportStats {
        self.shared.stats.clone()
    }
}

impl Reporter for BatchReporter {
    fn report(&mut self, spans: SpanBatch) {
        let sh = &self.shared;
        let counters = &sh.stats.0;
        let n = spans.len();
        if self.thread.is_none() {
            counters
                .dropped_queue_full
                .fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        let mut q = sh.lock();
        if q.stop.is_some() {
            counters
                .dropped_shutdown
                .fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        let was_empty = q.spans.is_empty();
        let room = sh.config.max_queue_size.saturating_sub(q.spans.len());
        let dropped = n.saturating_sub(room);
        q.spans.extend(spans.iter().take(room));
        counters
            .queued
            .fetch_add((n - dropped) as u64, Ordering::Relaxed);
        PENDING.fetch_add((n - dropped) as u64, Ordering::Relaxed);
        counters
            .dropped_queue_full
            .fetch_add(dropped as u64, Ordering::Relaxed);
        // The idle export thread sleeps until spans arrive (its delay
        // starts then), and a full batch goes at once.
        if (was_empty && !q.spans.is_empty()) || q.spans.len() >= sh.config.max_export_batch_size {
            sh.wake.notify_one();
        }
    }

    fn flush(&mut self) {
        if self.thread.is_none() {
            return;
        }
        let sh = &self.shared;
        let deadline = instant_after(sh.config.export_timeout);
        let mut q = sh.lock();
        q.flush_asked += 1;
        let mine = q.flush_asked;
        sh.wake.notify_one();
        let (q, done) = sh.wait_for(q, deadline, |q| q.flush_done >= mine || q.exited);
        if !done {
            crate::data::diag::warn(format_args!(
                "flush gave up after {:?}: {} spans still wait for export, which goes on \
                 in the background",
                sh.config.export_timeout,
                q.spans.len() + q.in_flight
            ));
        }
    }

    /// Exports what is queued by `deadline`, in as many batches as it
    /// takes, each export cut off at the deadline too; drops and counts
    /// what is left then, and returns. The export thread ends with it (or,
    /// should an exporter overrun its deadline, is left to finish alone).
    fn shutdown(&mut self, deadline: Instant) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let sh = &self.shared;
        let counters = &sh.stats.0;
        let started = Instant::now();
        let exported_before =
            counters.exported.load(Ordering::Relaxed) + counters.rejected.load(Ordering::Relaxed);
        let mut q = sh.lock();
        let to_deliver = (q.spans.len() + q.in_flight) as u64;
        q.stop = Some(deadline);
        sh.wake.notify_one();
        // A moment past the deadline, for the export thread to see it and
        // drop what is left itself.
        let give_up = deadline.checked_add(SHUTDOWN_GRACE).unwrap_or(deadline);
        let (mut q, exited) = sh.wait_for(q, give_up, |q| q.exited);
        // An exporter past its deadline still holds its batch: the queue
        // behind it goes now.
        let left_behind = q.spans.len() as u64;
        q.spans.clear();
        drop(q);
        counters.dropped(&counters.dropped_shutdown, left_behind);
        let delivered = counters.exported.load(Ordering::Relaxed)
            + counters.rejected.load(Ordering::Relaxed)
            - exported_before;
        let lost = to_deliver.saturating_sub(delivered);
        if lost > 0 {
            crate::data::diag::warn(format_args!(
                "shutdown: {lost} of {to_deliver} spans were not exported by its deadline \
                 ({:?}){}; dropped",
                deadline.saturating_duration_since(started),
                if exited {
                    ""
                } else {
                    ", an exporter still runs past it"
                }
            ));
        }
        if exited {
            let _ = thread.join();
        }
    }
}

/// How long a shutdown waits past its deadline for the export thread to
/// notice it, drop what is left and return.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

impl Drop for BatchReporter {
    fn drop(&mut self) {
        // Dropped without a shutdown (replaced, or never installed): one
        // now, with the default deadline.
        self.shutdown(instant_after(shutdown_timeout()));
    }
}

fn export_loop(sh: &Shared, mut exporter: impl Exporter) {
    let batch_size = sh.config.max_export_batch_size;
    let counters = &sh.stats.0;
    let mut next_due = instant_after(sh.config.scheduled_delay);
    loop {
        let (batch, flush_upto, stop) = {
            let mut q = sh.lock();
            loop {
                let due = Instant::now() >= next_due;
                if q.stop.is_some()
                    || q.flush_asked > q.flush_done
                    || q.spans.len() >= batch_size
                    || (due && !q.spans.is_empty())
                {
                    break;
                }
                if q.spans.is_empty() {
                    // Nothing waits: sleep until spans arrive (`report`
                    // wakes the thread), a flush or the shutdown, with no
                    // timer; the arrivals then get the whole delay.
                    q = sh.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                    next_due = instant_after(sh.config.scheduled_delay);
                    continue;
                }
                let wait = next_due.saturating_duration_since(Instant::now());
                q = sh
                    .wake
                    .wait_timeout(q, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            if q.stop.is_some_and(|deadline| Instant::now() >= deadline) {
                // The shutdown's time is up: nothing more is sent.
                let left = q.spans.len() as u64;
                q.spans.clear();
                counters.dropped(&counters.dropped_shutdown, left);
            }
            let n = q.spans.len().min(batch_size);
            let batch: Vec<SpanRecord> = q.spans.drain(..n).collect();
            q.in_flight = batch.len();
            // A flush is done once the queue it saw is empty.
            let flush_upto =
                (q.spans.is_empty() && q.flush_asked > q.flush_done).then_some(q.flush_asked);
            (batch, flush_upto, q.stop)
        };
        if !batch.is_empty() {
            // In a shutdown, every export ends by its deadline.
            let deadline = instant_after(sh.config.export_timeout);
            let deadline = stop.map_or(deadline, |stop| stop.min(deadline));
            export_one(sh, &mut exporter, batch, deadline);
            next_due = instant_after(sh.config.scheduled_delay);
        }
        let mut q = sh.lock();
        q.in_flight = 0;
        if let Some(upto) = flush_upto {
            q.flush_done = q.flush_done.max(upto);
            sh.done.notify_all();
        }
        if stop.is_some() && q.spans.is_empty() {
            drop(q);
            exporter.shutdown();
            sh.lock().exited = true;
            sh.done.notify_all();
            return;
        }
    }
}

fn export_one(
    sh: &Shared,
    exporter: &mut impl Exporter,
    batch: Vec<SpanRecord>,
    deadline: Instant,
) {
    let counters = &sh.stats.0;
    let n = batch.len() as u64;
    // An exporter that panics loses its batch, not the export thread.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        exporter.export(batch, deadline)
    }))
    .unwrap_or_else(|_| Err(ExportError::new("the exporter panicked")));
    PENDING.fetch_sub(n, Ordering::Relaxed);
    match outcome {
        Ok(()) => {
            let rejected = exporter.take_rejected().min(n);
            counters.exported.fetch_add(n - rejected, Ordering::Relaxed);
            counters.rejected.fetch_add(rejected, Ordering::Relaxed);
        }
        Err(e) => {
            counters.export_errors.fetch_add(1, Ordering::Relaxed);
            counters
                .dropped_export_failed
                .fetch_add(n, Ordering::Relaxed);
            crate::data::diag::warn(format_args!("export of {n} spans failed, dropped: {e}"));
        }
    }
}

/// An [`Exporter`] that keeps what it is given, for tests.
///
/// ```
/// let memory = tracekit::InMemoryExporter::default();
/// let _guard = tracekit::set_reporter(tracekit::BatchReporter::new(memory.clone(), Default::default()));
/// # drop(_guard);
/// assert!(memory.spans().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct InMemoryExporter {
    batches: Arc<Mutex<Vec<Vec<SpanRecord>>>>,
}

impl InMemoryExporter {
    /// Every span exported so far, in order.
    ///
    /// ```
    /// assert!(tracekit::InMemoryExporter::default().spans().is_empty());
    /// ```
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.batches().into_iter().flatten().collect()
    }

    /// The batches exported so far.
    ///
    /// ```
    /// assert!(tracekit::InMemoryExporter::default().batches().is_empty());
    /// ```
    pub fn batches(&self) -> Vec<Vec<SpanRecord>> {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Exporter for InMemoryExporter {
    fn export(&mut self, batch: Vec<SpanRecord>, _deadline: Instant) -> Result<(), ExportError> {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(batch);
        Ok(())
    }
}
