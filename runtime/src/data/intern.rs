//! Strings made once and kept for the life of the program: the names of
//! server spans (`GET /users/{id}`) and the tag values drawn from a small
//! set (a route template, a host). A request then records them as static
//! text: no allocation, nothing to free on the collector thread.
//!
//! Bounded: at most [`MAX_STRINGS`] strings and [`MAX_BYTES`] bytes are
//! kept; past that, callers make owned text as before. A thread keeps a
//! small cache of its own in front of the shared set, so a hit takes no
//! lock.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::RwLock;

/// The most strings kept: far more routes and hosts than a service has.
pub(crate) const MAX_STRINGS: usize = 4096;
/// The most bytes kept, in all.
pub(crate) const MAX_BYTES: usize = 256 * 1024;
/// The longest string kept (longer ones are not a template).
const MAX_LEN: usize = 256;

struct Kept {
    strings: HashSet<&'static str>,
    bytes: usize,
}

static KEPT: RwLock<Option<Kept>> = RwLock::new(None);

/// A thread's cache: a few slots, by hash.
const SLOTS: usize = 64;

thread_local! {
    static CACHE: [Cell<&'static str>; SLOTS] = const { [const { Cell::new("") }; SLOTS] };
}

/// Where the last few `joined` calls' parts were in memory, and what they
/// gave: a route template handed over by a router is the same string every
/// request, so the common call is a comparison of a few addresses.
type ByAddress = [(usize, usize); 3];
const RECENT: usize = 8;

thread_local! {
    static RECENT_BY_ADDRESS: [Cell<(ByAddress, &'static str)>; RECENT] =
        const { [const { Cell::new(([(0, 0); 3], "")) }; RECENT] };
    static NEXT_RECENT: Cell<usize> = const { Cell::new(0) };
}

fn addresses(parts: &[&str]) -> Option<ByAddress> {
    let mut key = [(0, 0); 3];
    if parts.len() > key.len() {
        return None;
    }
    for (k, p) in key.iter_mut().zip(parts) {
        *k = (p.as_ptr() as usize, p.len());
    }
    Some(key)
}

/// `parts` joined, as a string kept for the program's life; `None` when the
/// result is empty, too long, or the bounds are reached.
pub(crate) fn joined(parts: &[&str]) -> Option<&'static str> {
    let by_address = addresses(parts);
    if let Some(key) = by_address {
        let hit = RECENT_BY_ADDRESS
            .try_with(|recent| {
                // The same addresses may hold other text by now (a buffer
                // freed and reused): the text is compared too, which is
                // still cheaper than hashing it.
                recent
                    .iter()
                    .map(Cell::get)
                    .find(|(k, s)| *k == key && !s.is_empty() && is_joined(s, parts))
                    .map(|(_, s)| s)
            })
            .ok()
            .flatten();
        if hit.is_some() {
            return hit;
        }
    }
    let found = joined_by_text(parts)?;
    if let Some(key) = by_address {
        let _ = RECENT_BY_ADDRESS.try_with(|recent| {
            let at = NEXT_RECENT.with(|n| {
                let at = n.get();
                n.set((at + 1) % RECENT);
                at
            });
            recent[at].set((key, found));
        });
    }
    Some(found)
}

/// Whether `s` is `parts` joined.
fn is_joined(s: &str, parts: &[&str]) -> bool {
    let mut rest = s.as_bytes();
    for p in parts {
        match rest.strip_prefix(p.as_bytes()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// [`joined`], looked up by the text.
fn joined_by_text(parts: &[&str]) -> Option<&'static str> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len == 0 || len > MAX_LEN {
        return None;
    }
    let mut buf = [0u8; MAX_LEN];
    let key = match parts {
        [one] => *one,
        _ => {
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(p.as_bytes());
                at += p.len();
            }
            // The parts are whole strings, so their concatenation is UTF-8.
            std::str::from_utf8(&buf[..len]).ok()?
        }
    };
    let slot = slot_of(key);
    if let Some(s) = cached(slot, key) {
        return Some(s);
    }
    let s = shared(key)?;
    let _ = CACHE.try_with(|c| c[slot].set(s));
    Some(s)
}

/// Where `key` goes in a thread's cache.
fn slot_of(key: &str) -> usize {
    (hash(key) % SLOTS as u64) as usize
}

/// `key` as this thread's cache holds it at `slot`, if it does.
fn cached(slot: usize, key: &str) -> Option<&'static str> {
    CACHE
        .try_with(|c| {
            let s = c[slot].get();
            (s == key).then_some(s)
        })
        .ok()
        .flatten()
}

/// `s`, kept for the program's life; see [`joined`].
pub(crate) fn string(s: &str) -> Option<&'static str> {
    joined(&[s])
}

/// Text kept for the program's life when it can be (a route, a host), so
/// that a series key costs no allocation; else a copy.
pub(crate) fn kept_text(s: &str) -> std::borrow::Cow<'static, str> {
    match string(s) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(s.to_owned()),
    }
}

/// `s` if it is kept already, never keeping it: for text a caller chose
/// (a request's path, a `Host` header), which must not fill the set that
/// the program's own templates share.
pub(crate) fn kept(s: &str) -> Option<&'static str> {
    if s.is_empty() || s.len() > MAX_LEN || KEEPING.get() {
        return None;
    }
    if let Some(k) = cached(slot_of(s), s) {
        return Some(k);
    }
    let kept = KEPT.read().unwrap_or_else(|e| e.into_inner());
    kept.as_ref().and_then(|k| k.strings.get(s)).copied()
}

/// A share of the kept strings for text that takes a few values in
/// practice but any number in principle (a `Host` header a caller writes,
/// the hosts a webhook sender calls): kept while the share lasts, then
/// only found if kept already. Text that takes a new value each time fills
/// its share, not the set the program's route templates need.
pub(crate) struct Share {
    taken: std::sync::atomic::AtomicUsize,
    limit: usize,
}

impl Share {
    /// A share of `limit` strings.
    pub(crate) const fn new(limit: usize) -> Share {
        Share {
            taken: std::sync::atomic::AtomicUsize::new(0),
            limit,
        }
    }

    /// `s` kept, within this share.
    pub(crate) fn string(&self, s: &str) -> Option<&'static str> {
        use std::sync::atomic::Ordering;
        if let Some(k) = kept(s) {
            return Some(k);
        }
        if self.taken.load(Ordering::Relaxed) >= self.limit {
            return None;
        }
        // Charged only for a string kept (not for one too long, or refused
        // when the set is full); threads racing past the test above may
        // overshoot the limit by their number, never by more.
        let k = string(s)?;
        self.taken.fetch_add(1, Ordering::Relaxed);
        Some(k)
    }
}

/// The `Host` headers servers see: the few names a service is reached by.
pub(crate) static SERVER_HOSTS: Share = Share::new(64);
/// The hosts clients call: the services a program talks to.
pub(crate) static CLIENT_HOSTS: Share = Share::new(256);

fn shared(key: &str) -> Option<&'static str> {
    // Kept under the write lock, which allocates: a string asked for from
    // inside (by an allocator that traces) is neither looked up nor kept,
    // rather than wait on the lock this thread holds (a read waits for it
    // as a write does).
    if KEEPING.get() {
        return None;
    }
    {
        let kept = KEPT.read().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = kept.as_ref().and_then(|k| k.strings.get(key)) {
            return Some(s);
        }
    }
    KEEPING.set(true);
    let s = keep(key);
    KEEPING.set(false);
    s
}

thread_local! {
    /// Set while this thread holds the write lock of [`KEPT`]. No
    /// destructor: there at every stage of the thread's tear-down.
    static KEEPING: Cell<bool> = const { Cell::new(false) };
}

/// [`shared`] under the write lock.
fn keep(key: &str) -> Option<&'static str> {
    let mut kept = KEPT.write().unwrap_or_else(|e| e.into_inner());
    let kept = kept.get_or_insert_with(|| Kept {
        strings: HashSet::new(),
        bytes: 0,
    });
    if let Some(s) = kept.strings.get(key) {
        return Some(s);
    }
    if kept.strings.len() >= MAX_STRINGS || kept.bytes + key.len() > MAX_BYTES {
        return None;
    }
    let s: &'static str = Box::leak(key.to_owned().into_boxed_str());
    kept.bytes += s.len();
    kept.strings.insert(s);
    Some(s)
}

/// FNV-1a: a few short strings, no need for more.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_the_same_static_string() {
        let a = joined(&["GET", " ", "/users/{id}"]).unwrap();
        let b = joined(&["GET /users/", "{id}"]).unwrap();
        assert_eq!(a, "GET /users/{id}");
        assert!(std::ptr::eq(a, b), "kept once");
        let other = std::thread::spawn(|| joined(&["GET /users/{id}"]).unwrap().as_ptr() as usize)
            .join()
            .unwrap();
        assert_eq!(other, a.as_ptr() as usize, "shared across threads");
        assert_eq!(joined(&[""]), None);
        assert_eq!(string(&"x".repeat(MAX_LEN + 1)), None);
        assert_eq!(string("é/ü"), Some("é/ü"));
    }

    #[test]
    fn new_text_at_an_address_seen_before_is_not_taken_for_the_old() {
        let mut buf = String::from("host-a:1");
        let a = string(&buf).unwrap();
        // Same address, same length, other text.
        buf.replace_range(.., "host-b:2");
        let b = string(&buf).unwrap();
        assert_eq!((a, b), ("host-a:1", "host-b:2"));
    }
}
