//! The span clock: a cheap monotonic tick counter, anchored to wall time once.
//!
//! Spans read the clock twice, so it must cost a few instructions: on x86_64
//! with an invariant TSC it is `rdtsc`; elsewhere it falls back to `Instant`.
//! Ticks become wall time only off the hot path, when the collector turns
//! finished spans into records ([`Anchor::to_system_time`]).
//!
//! A [`Stamp`] packs either raw ticks or an explicit wall-clock time given by
//! the user into one `u64`: the top bit marks the explicit form.

use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EXPLICIT: u64 = 1 << 63;

/// A point in time as spans store it: raw ticks, or unix nanoseconds given by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

impl Stamp {
    #[inline]
    pub(crate) fn now() -> Stamp {
        Stamp(ticks() & !EXPLICIT)
    }

    /// [`Stamp::now`] when it is a plain read of the time-stamp counter,
    /// with no call; `None` otherwise (another clock, or not set up yet),
    /// for the hot paths to leave to their general paths. No mask: a
    /// counter used as the clock is below 2^62 at start-up
    /// (`tsc_is_usable`), decades of ticks away from the explicit bit.
    #[inline(always)]
    pub(crate) fn now_inline() -> Option<Stamp> {
        (USE_TSC.load(Ordering::Relaxed) == TSC).then(|| Stamp(read_tsc()))
    }

    /// The ticks of a clock reading taken by [`Stamp::now_inline`].
    #[inline(always)]
    pub(crate) fn inline_ticks(self) -> u64 {
        self.0
    }

    /// Not a time: the end of a span that has not finished.
    pub(crate) const OPEN: Stamp = Stamp(u64::MAX);

    pub(crate) fn at(time: SystemTime) -> Stamp {
        // One below the largest explicit value, which is `OPEN` (year 2262).
        let nanos = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos().min(u128::from(!EXPLICIT - 1)) as u64)
            .unwrap_or(0);
        Stamp(nanos | EXPLICIT)
    }

    /// Whether this is a real time (not [`Stamp::OPEN`]).
    #[inline]
    pub(crate) fn is_set(self) -> bool {
        self != Stamp::OPEN
    }

    /// Ticks for a clock reading; `None` for an explicit time.
    #[inline]
    pub(crate) fn ticks(self) -> Option<u64> {
        (self.0 & EXPLICIT == 0).then_some(self.0)
    }

    /// The ticks from this stamp to `end` (0 if `end` is earlier) when both
    /// are clock readings; one test for the two.
    #[inline(always)]
    pub(crate) fn ticks_until(self, end: Stamp) -> Option<u64> {
        ((self.0 | end.0) & EXPLICIT == 0).then(|| end.0.saturating_sub(self.0))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    Tsc,
    Monotonic,
}

/// The pairing of ticks, `Instant` and `SystemTime` taken once at start-up.
pub(crate) struct Anchor {
    source: Source,
    ticks: u64,
    instant: Instant,
    unix_nanos: u128,
}

static ANCHOR: Lazy<Anchor> = Lazy::new(|| {
    let source = if tsc_is_usable() {
        Source::Tsc
    } else {
        Source::Monotonic
    };
    let instant = Instant::now();
    let unix_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let ticks = match source {
        Source::Tsc => read_tsc(),
        Source::Monotonic => 0,
    };
    Anchor {
        source,
        ticks,
        instant,
        unix_nanos,
    }
});

/// The clock source once [`ANCHOR`] is set: the hot path reads this flag
/// instead of going through the `Lazy` on every stamp.
static USE_TSC: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const TSC: u8 = 1;
const MONOTONIC: u8 = 2;

#[inline]
fn ticks() -> u64 {
    if USE_TSC.load(Ordering::Relaxed) == TSC {
        read_tsc()
    } else {
        ticks_slow()
    }
}

#[cold]
fn ticks_slow() -> u64 {
    let anchor = &*ANCHOR;
    let flag = match anchor.source {
        Source::Tsc => TSC,
        Source::Monotonic => MONOTONIC,
    };
    USE_TSC.store(flag, Ordering::Relaxed);
    match anchor.source {
        Source::Tsc => read_tsc(),
        Source::Monotonic => anchor.instant.elapsed().as_nanos() as u64,
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions; `tsc_is_usable` checked it exists.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    0
}

#[cfg(target_arch = "x86_64")]
fn tsc_is_usable() -> bool {
    if std::env::var_os("TRACEKIT_CLOCK").is_some_and(|v| v == "monotonic") {
        return false;
    }
    // An invariant TSC ticks at a constant rate in every power state and is
    // synchronised across cores; without it ticks are not comparable.
    // `__cpuid` is a safe fn on recent toolchains and an unsafe one on the
    // oldest this crate supports (`rust-version`); the block serves both.
    #[allow(unused_unsafe)]
    // SAFETY: the cpuid instruction exists on every x86_64 processor and only
    // reads processor information; leaf 0x8000_0007 is asked for only when
    // leaf 0x8000_0000 says it exists.
    let invariant_tsc = unsafe {
        let max_ext = core::arch::x86_64::__cpuid(0x8000_0000).eax;
        max_ext >= 0x8000_0007 && core::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
    };
    // Stamps keep their top bit for explicit times: a counter far from it
    // (a virtual machine's can start anywhere) is needed.
    if read_tsc() >= 1 << 62 {
        return false;
    }
    if invariant_tsc {
        return true;
    }
    // Hypervisors and emulators often hide the cpuid bit while the kernel,
    // which measured the TSC at boot, still vouches for it.
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|flags| {
                let has = |f: &str| flags.split_whitespace().any(|w| w == f);
                has("constant_tsc") && has("nonstop_tsc")
            })
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_is_usable() -> bool {
    false
}

/// Converts stamps to wall time with one calibration shared by a whole batch.
pub(crate) struct Calibration {
    base_ticks: u64,
    base_unix_nanos: u64,
    /// Nanoseconds per tick in 32.32 fixed point: integer math per span, no
    /// (software) 128-bit float conversions.
    nanos_per_tick_q32: u64,
}

impl Calibration {
    /// The calibration as of now: the longer the process has run, the finer
    /// the measured tick rate.
    pub(crate) fn now() -> Calibration {
        let anchor = &*ANCHOR;
        let nanos_per_tick = match anchor.source {
            Source::Monotonic => 1.0,
            Source::Tsc => {
                let mut elapsed = anchor.instant.elapsed();
                let mut now_ticks = read_tsc();
                if elapsed < Duration::from_micros(200) {
                    // Too short to measure a rate; wait a little (off the hot path).
                    std::thread::sleep(Duration::from_micros(200) - elapsed);
                    elapsed = anchor.instant.elapsed();
                    now_ticks = read_tsc();
                }
                let dt = now_ticks.wrapping_sub(anchor.ticks);
                if dt == 0 {
                    1.0
                } else {
                    elapsed.as_nanos() as f64 / dt as f64
                }
            }
        };
        Calibration {
            base_ticks: anchor.ticks,
            base_unix_nanos: anchor.unix_nanos.min(u128::from(u64::MAX)) as u64,
            nanos_per_tick_q32: (nanos_per_tick * 4_294_967_296.0) as u64,
        }
    }

    /// Nanoseconds per tick, times 2^32.
    pub(crate) fn nanos_per_tick_q32(&self) -> u64 {
        self.nanos_per_tick_q32
    }

    #[inline]
    pub(crate) fn unix_nanos(&self, stamp: Stamp) -> u64 {
        match stamp.ticks() {
            None => stamp.0 & !EXPLICIT,
            Some(t) => {
                // A tick before the anchor cannot come from this process's clock
                // reads; clamp rather than wrap.
                let delta = t.saturating_sub(self.base_ticks);
                let offset = (u128::from(delta) * u128::from(self.nanos_per_tick_q32)) >> 32;
                self.base_unix_nanos.saturating_add(offset as u64)
            }
        }
    }

    pub(crate) fn to_system_time(&self, stamp: Stamp) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos(stamp))
    }
}

/// The instant `after` from now, or a century from now when `after` is
/// longer (a timeout or delay set to `Duration::MAX` for "never"): adding
/// it would overflow the `Instant` and panic.
pub(crate) fn instant_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stamp converts to the anchor's wall time plus the monotonic time
    /// since the anchor: bracketed by `Instant`s read around the stamp, with
    /// no allowance but the rate's half a percent (tested below) over the
    /// time since the anchor. Comparing with `SystemTime::now()` instead
    /// would need slack for the wall clock being stepped after the anchor.
    #[test]
    fn ticks_convert_to_the_anchors_wall_time_plus_monotonic_time() {
        let anchor = &*ANCHOR;
        let _ = Stamp::now(); // sets the clock source
        std::thread::sleep(Duration::from_millis(5));
        let before = Instant::now();
        let stamp = Stamp::now();
        let after = Instant::now();
        let cal = Calibration::now();
        let got = u128::from(cal.unix_nanos(stamp));
        let since = |i: Instant| (i - anchor.instant).as_nanos();
        let (lo, hi) = (since(before), since(after));
        let rate_slack = hi / 200;
        assert!(
            got + rate_slack >= anchor.unix_nanos + lo
                && got <= anchor.unix_nanos + hi + rate_slack,
            "{got} not in {}..{} (+/- {rate_slack})",
            anchor.unix_nanos + lo,
            anchor.unix_nanos + hi
        );
    }

    /// The measured tick rate is right to a fraction of a percent: a clock
    /// 5% off would stretch or shrink every span by as much. Each stamp is
    /// read between two `Instant`s, so the true interval between the stamps
    /// is bracketed however the thread is scheduled; only the rate can fail
    /// this.
    #[test]
    fn converted_durations_agree_with_instant_to_half_a_percent() {
        let bracket = || {
            let before = Instant::now();
            let stamp = Stamp::now();
            (before, stamp, Instant::now())
        };
        let (a0, s0, b0) = bracket();
        std::thread::sleep(Duration::from_millis(300));
        let (a1, s1, b1) = bracket();
        let cal = Calibration::now();
        let got = cal.unix_nanos(s1) - cal.unix_nanos(s0);
        let shortest = (a1 - b0).as_nanos() as f64;
        let longest = (b1 - a0).as_nanos() as f64;
        assert!(
            got as f64 >= shortest * 0.995 && got as f64 <= longest * 1.005,
            "{got} ns converted, {shortest}..{longest} ns by Instant"
        );
    }

    #[test]
    fn explicit_times_round_trip() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(Calibration::now().to_system_time(Stamp::at(t)), t);
        assert_eq!(Stamp::at(t).ticks(), None);
    }
}
