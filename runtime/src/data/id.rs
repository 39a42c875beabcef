//! Trace and span identifiers, and the per-thread generator that makes them.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU64;

/// A 128-bit trace identifier, never zero; shown as 32 lowercase hex digits.
///
/// ```
/// let id = tracekit::TraceId::from_u128(0xabc).unwrap();
/// assert_eq!(id.to_string(), "00000000000000000000000000000abc");
/// ```
// Two halves rather than a `u128`: a `u128` is 16-byte aligned, which would
// pad every frame and span record that holds one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId {
    hi: u64,
    lo: u64,
}

/// A 64-bit span identifier, never zero; shown as 16 lowercase hex digits.
///
/// ```
/// let id = tracekit::SpanId::from_u64(255).unwrap();
/// assert_eq!(id.to_string(), "00000000000000ff");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// A new random trace id.
    ///
    /// ```
    /// assert_ne!(tracekit::TraceId::random(), tracekit::TraceId::random());
    /// ```
    pub fn random() -> Self {
        loop {
            let (hi, lo) = (next_u64(), next_u64());
            if hi | lo != 0 {
                return TraceId { hi, lo };
            }
        }
    }

    /// The id with this value, or `None` for zero (the invalid id).
    ///
    /// ```
    /// assert!(tracekit::TraceId::from_u128(0).is_none());
    /// ```
    pub const fn from_u128(v: u128) -> Option<Self> {
        if v == 0 {
            return None;
        }
        Some(TraceId {
            hi: (v >> 64) as u64,
            lo: v as u64,
        })
    }

    /// The id as a number.
    ///
    /// ```
    /// assert_eq!(tracekit::TraceId::from_u128(7).unwrap().to_u128(), 7);
    /// ```
    pub const fn to_u128(self) -> u128 {
        ((self.hi as u128) << 64) | self.lo as u128
    }

    /// The id in big-endian bytes, as W3C Trace Context and OTLP carry it.
    ///
    /// ```
    /// let id = tracekit::TraceId::from_u128(1).unwrap();
    /// assert_eq!(id.to_bytes()[15], 1);
    /// ```
    pub const fn to_bytes(self) -> [u8; 16] {
        self.to_u128().to_be_bytes()
    }
}

impl SpanId {
    /// A new random span id.
    ///
    /// ```
    /// assert_ne!(tracekit::SpanId::random(), tracekit::SpanId::random());
    /// ```
    pub fn random() -> Self {
        loop {
            if let Some(v) = NonZeroU64::new(next_span_u64()) {
                return SpanId(v);
            }
        }
    }

    /// The id with this value, or `None` for zero (the invalid id).
    ///
    /// ```
    /// assert!(tracekit::SpanId::from_u64(0).is_none());
    /// ```
    pub const fn from_u64(v: u64) -> Option<Self> {
        match NonZeroU64::new(v) {
            Some(v) => Some(SpanId(v)),
            None => None,
        }
    }

    /// The id as a number.
    ///
    /// ```
    /// assert_eq!(tracekit::SpanId::from_u64(7).unwrap().to_u64(), 7);
    /// ```
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The id in big-endian bytes.
    ///
    /// ```
    /// assert_eq!(tracekit::SpanId::from_u64(1).unwrap().to_bytes()[7], 1);
    /// ```
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.hi, self.lo)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.get())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

thread_local! {
    // Zero means "not seeded yet"; xorshift never reaches zero from a non-zero state.
    static RNG: Cell<u64> = const { Cell::new(0) };
    // The span id sequence; zero means "not seeded yet".
    static SPAN_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// Span ids, drawn far more often than trace ids: a per-thread Weyl
/// sequence (a random start, plus an odd constant per id) through an odd
/// multiplier. Both steps are one-to-one on `u64`, so a thread never repeats
/// an id in 2^64 draws; threads start at random points, so ids of different
/// threads meet with odds of about one in 2^64 per pair. A few instructions,
/// far fewer than xorshift's.
#[inline]
fn next_span_u64() -> u64 {
    SPAN_SEQ.with(|cell| {
        let mut x = cell.get();
        if x == 0 {
            x = next_u64();
        }
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        cell.set(x);
        x.wrapping_mul(0xd6e8_feb8_6659_fd93)
    })
}

/// The next span id when the thread's sequence is seeded and the draw is
/// not zero (once in 2^64), with no call; `None` otherwise, for the hot
/// paths to leave to their general paths, which draw with [`SpanId::random`].
#[inline(always)]
pub(crate) fn next_span_id_inline() -> Option<SpanId> {
    SPAN_SEQ.with(|cell| {
        let x = cell.get();
        if x == 0 {
            return None;
        }
        let x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        cell.set(x);
        SpanId::from_u64(x.wrapping_mul(0xd6e8_feb8_6659_fd93))
    })
}

/// A per-thread xorshift64* generator: ids need to be unique, not secret, and
/// drawing one must not take a lock or make a syscall.
#[inline]
fn next_u64() -> u64 {
    RNG.with(|cell| {
        let mut x = cell.get();
        if x == 0 {
            x = seed();
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cold]
fn seed() -> u64 {
    // RandomState is seeded from the OS once per thread; mixing in the time and
    // a stack address keeps forked processes and threads apart.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let local = 0u8;
    h.write_usize(&local as *const u8 as usize);
    h.write_u64(u64::from(std::process::id()));
    match h.finish() {
        0 => 0x9e37_79b9_7f4a_7c15,
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_width_lowercase_hex() {
        let t = TraceId::from_u128(0xABCDEF).unwrap();
        assert_eq!(t.to_string(), "00000000000000000000000000abcdef");
        let s = SpanId::from_u64(u64::MAX).unwrap();
        assert_eq!(s.to_string(), "ffffffffffffffff");
    }

    #[test]
    fn random_ids_differ_and_are_non_zero() {
        let ids: std::collections::HashSet<u64> =
            (0..10_000).map(|_| SpanId::random().to_u64()).collect();
        assert_eq!(ids.len(), 10_000);
        let other = std::thread::spawn(SpanId::random).join().unwrap();
        assert!(!ids.contains(&other.to_u64()));
    }
}
