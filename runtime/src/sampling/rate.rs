//! Jaeger's `ratelimiting` sampler: at most N new traces a second.

use super::sampler::{Sampler, SamplingDecision, SamplingInput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Records at most `max_traces_per_second` new traces a second, with bursts
/// up to one second's worth (at least one trace), like Jaeger's
/// `ratelimiting` sampler (`sampler.type = ratelimiting`).
///
/// Lock-free: the limiter is one atomic "theoretical arrival time" (the
/// generic cell rate algorithm), moved forward by one interval per trace
/// with a compare-and-swap; a trace is refused when that time is more than
/// a burst ahead of now.
///
/// ```
/// use tracekit::sampler::{RateLimiting, Sampler};
/// let limiter = RateLimiting::new(2.0);
/// assert!(limiter.try_take());
/// assert!(limiter.try_take());
/// assert!(!limiter.try_take()); // the burst of two is used up
/// ```
#[derive(Debug)]
pub struct RateLimiting {
    rate: f64,
    /// Nanoseconds between traces at the steady rate.
    interval: u64,
    /// How far ahead of now the arrival time may run: the burst.
    burst: u64,
    /// The theoretical arrival time, in nanoseconds since `start`.
    tat: AtomicU64,
    start: Instant,
}

impl RateLimiting {
    /// A limiter of `max_traces_per_second` (0 or less refuses everything).
    ///
    /// ```
    /// let s = tracekit::sampler::RateLimiting::new(100.0);
    /// assert_eq!(s.rate(), 100.0);
    /// ```
    pub fn new(max_traces_per_second: f64) -> RateLimiting {
        let rate = if max_traces_per_second.is_finite() {
            max_traces_per_second.max(0.0)
        } else {
            0.0
        };
        let interval = if rate > 0.0 {
            (1e9 / rate).min(u64::MAX as f64 / 4.0) as u64
        } else {
            u64::MAX / 4
        };
        // Jaeger's balance: a second's worth, at least one.
        let burst_traces = rate.max(1.0);
        RateLimiting {
            rate,
            interval,
            burst: (interval as f64 * burst_traces).min(u64::MAX as f64 / 4.0) as u64,
            tat: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    /// The rate.
    ///
    /// ```
    /// assert_eq!(tracekit::sampler::RateLimiting::new(3.0).rate(), 3.0);
    /// ```
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes one trace's worth of budget; `false` when there is none.
    ///
    /// ```
    /// let none = tracekit::sampler::RateLimiting::new(0.0);
    /// assert!(!none.try_take());
    /// ```
    pub fn try_take(&self) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        let now = self.start.elapsed().as_nanos() as u64;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            if next - now > self.burst {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

impl Sampler for RateLimiting {
    fn should_sample(&self, _: &SamplingInput<'_>) -> SamplingDecision {
        SamplingDecision::new(self.try_take(), "ratelimiting", self.rate)
    }
}
