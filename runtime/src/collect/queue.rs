//! The bounded, lock-free queue between the threads that finish spans and
//! the collector: a stack of items that producers push with one
//! compare-and-swap and the consumer takes whole with one swap, so a
//! producer never waits. Each item weighs a number of spans; an item that
//! would take the queue past its capacity is refused, and the count is
//! exact: room is only ever reserved when it is there, so an item that fits
//! is never refused because another did not.
//!
//! Generic over the item and free of the collector's statics, so that the
//! model tests (`--cfg tracekit_loom`) check it under every interleaving.

use crate::data::sync::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};
use std::ptr;

struct Node<T> {
    next: UnsafeCell<*mut Node<T>>,
    weight: usize,
    item: UnsafeCell<Option<T>>,
}

/// The queue; see the module's documentation.
pub(crate) struct BatchQueue<T> {
    head: AtomicPtr<Node<T>>,
    /// The weight of everything pushed and not yet taken.
    queued: AtomicUsize,
    /// Emptied nodes, for the next pushes: a push then allocates nothing,
    /// and a node is not freed on the consumer's thread. Reached with
    /// `try_lock` only; a producer that finds it busy allocates.
    spare: crate::data::sync::Mutex<Vec<Box<Node<T>>>>,
}

/// How many emptied nodes are kept.
const MAX_SPARE_NODES: usize = 1024;

/// What became of a push.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push<T> {
    /// In the queue; `wake` when this push took the queue's weight across
    /// the mark given (exactly one push does, each time it is crossed).
    Queued { wake: bool },
    /// It would not fit; nothing changed, and the item is given back.
    Full(T),
}

// SAFETY: items move from the pushing thread to the taking one, so `T` must
// be `Send`; the nodes are reached only through the atomic head, by one
// thread at a time (a producer before it publishes, the consumer after it
// swapped the whole list out).
unsafe impl<T: Send> Send for BatchQueue<T> {}
// SAFETY: as above; `&BatchQueue` only pushes and takes.
unsafe impl<T: Send> Sync for BatchQueue<T> {}

impl<T> BatchQueue<T> {
    /// An empty queue.
    #[cfg(not(tracekit_loom))]
    pub(crate) const fn new() -> BatchQueue<T> {
        BatchQueue {
            head: AtomicPtr::new(ptr::null_mut()),
            queued: AtomicUsize::new(0),
            spare: crate::data::sync::Mutex::new(Vec::new()),
        }
    }

    /// An empty queue (loom's atomics have no `const` constructor).
    #[cfg(tracekit_loom)]
    pub(crate) fn new() -> BatchQueue<T> {
        BatchQueue {
            head: AtomicPtr::new(ptr::null_mut()),
            queued: AtomicUsize::new(0),
            spare: crate::data::sync::Mutex::new(Vec::new()),
        }
    }

    /// The weight queued now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Pushes `item`, of `weight`, unless the queue would then weigh more
    /// than `capacity`. `wake_at`: the mark whose crossing the caller wants
    /// to know about (to wake the consumer early).
    pub(crate) fn push(&self, item: T, weight: usize, capacity: usize, wake_at: usize) -> Push<T> {
        let Some(before) = self.reserve(weight, capacity) else {
            return Push::Full(item);
        };
        let spare = match self.spare.try_lock() {
            Ok(mut spare) => spare.pop(),
            Err(_) => None,
        };
        let node = match spare {
            Some(mut node) => {
                node.weight = weight;
                node.item.with_mut(|slot| {
                    // SAFETY: a spare node is this thread's alone.
                    unsafe { *slot = Some(item) }
                });
                Box::into_raw(node)
            }
            None => Box::into_raw(Box::new(Node {
                next: UnsafeCell::new(ptr::null_mut()),
                weight,
                item: UnsafeCell::new(Some(item)),
            })),
        };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is this thread's alone until the exchange
            // below publishes it.
            unsafe { (*node).next.with_mut(|next| *next = head) };
            // Release: the node's contents happen before the consumer's
            // acquiring swap that finds it (directly, or through the nodes
            // pushed on top of it, whose exchanges continue this release).
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        Push::Queued {
            wake: before < wake_at && before + weight >= wake_at,
        }
    }

    /// Takes everything queued, oldest first, and gives its room back.
    pub(crate) fn take_all(&self) -> Vec<T> {
        let mut head = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let mut items = Vec::new();
        let mut emptied = Vec::new();
        let mut weight = 0;
        while !head.is_null() {
            // SAFETY: every node was made by `Box::into_raw` in `push`, and
            // the swap gave this thread the whole list.
            let node = unsafe { Box::from_raw(head) };
            // SAFETY: the swap's acquire ordered the producer's writes
            // before these reads, and no one else reaches the node now.
            head = node.next.with(|next| unsafe { *next });
            weight += node.weight;
            // SAFETY: as above.
            if let Some(item) = node.item.with_mut(|item| unsafe { (*item).take() }) {
                items.push(item);
            }
            emptied.push(node);
        }
        items.reverse();
        self.queued.fetch_sub(weight, Ordering::Relaxed);
        if !emptied.is_empty() {
            if let Ok(mut spare) = self.spare.try_lock() {
                let room = MAX_SPARE_NODES.saturating_sub(spare.len());
                emptied.truncate(room);
                spare.append(&mut emptied);
            }
        }
        items
    }

    /// Reserves `weight` when it fits in `capacity`: the queue's weight is
    /// only ever changed to a value that obeys the capacity, so no
    /// reservation is visible to others unless it succeeded. (Adding first
    /// and taking back on overflow would let an item that does not fit push
    /// out, for a moment, one that does.) Returns the weight before.
    fn reserve(&self, weight: usize, capacity: usize) -> Option<usize> {
        let mut queued = self.queued.load(Ordering::Relaxed);
        loop {
            if queued.saturating_add(weight) > capacity {
                return None;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + weight,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(queued),
                Err(now) => queued = now,
            }
        }
    }
}

impl<T> Drop for BatchQueue<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}

#[cfg(all(test, not(tracekit_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A batch that does not fit must never, even for a moment, take room
    /// from one that does: with one slot free, a thread offering one span
    /// always gets it while others keep offering batches too big to fit.
    #[test]
    fn an_item_that_fits_is_never_refused_because_another_did_not() {
        const CAPACITY: usize = 1000;
        let q = Arc::new(BatchQueue::<u32>::new());
        assert_eq!(
            q.push(0, CAPACITY - 1, CAPACITY, usize::MAX),
            Push::Queued { wake: false }
        );
        let stop = Arc::new(AtomicBool::new(false));
        let offers: Vec<_> = (0..2)
            .map(|_| {
                let (q, stop) = (q.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(q.reserve(2, CAPACITY), None);
                    }
                })
            })
            .collect();
        let mut refused = 0;
        for _ in 0..2_000_000 {
            match q.reserve(1, CAPACITY) {
                Some(_) => {
                    q.queued.fetch_sub(1, Ordering::Relaxed);
                }
                None => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in offers {
            t.join().unwrap();
        }
        assert_eq!(refused, 0);
        assert_eq!(q.queued(), CAPACITY - 1);
    }

    #[test]
    fn items_come_out_oldest_first_and_give_their_room_back() {
        let q = BatchQueue::new();
        assert_eq!(q.push("a", 2, 4, 3), Push::Queued { wake: false });
        assert_eq!(q.push("b", 1, 4, 3), Push::Queued { wake: true });
        assert_eq!(q.push("c", 2, 4, 3), Push::Full("c"));
        assert_eq!(q.queued(), 3);
        assert_eq!(q.take_all(), ["a", "b"]);
        assert_eq!(q.queued(), 0);
        assert!(q.take_all().is_empty());
    }
}

/// Model checks: every interleaving of the threads (within loom's bounds).
/// `RUSTFLAGS="--cfg tracekit_loom" cargo test -p tracekit --release --lib loom`
/// (`scripts/loom.sh`).
#[cfg(all(test, tracekit_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// With one place free, pushes of two never get in, and a push of one
    /// always does, whatever else runs.
    #[test]
    fn loom_admission_is_exact() {
        loom::model(|| {
            let q = Arc::new(BatchQueue::<u8>::new());
            assert!(matches!(q.push(0, 2, 3, usize::MAX), Push::Queued { .. }));
            let big = {
                let q = q.clone();
                thread::spawn(move || q.push(1, 2, 3, usize::MAX))
            };
            let small = q.push(2, 1, 3, usize::MAX);
            assert_eq!(big.join().unwrap(), Push::Full(1));
            assert!(matches!(small, Push::Queued { .. }));
            assert_eq!(q.queued(), 3);
            assert_eq!(q.take_all(), [0, 2]);
            assert_eq!(q.queued(), 0);
        });
    }

    /// Two producers and a consumer at once: every item pushed is taken
    /// exactly once, each producer's items in the order pushed, what did
    /// not fit is refused, and the weight ends at zero. Loom also checks
    /// that every node's contents are published before they are read.
    #[test]
    fn loom_every_item_is_taken_once_in_order_or_refused() {
        loom::model(|| {
            let q = Arc::new(BatchQueue::<(u8, u8)>::new());
            let producers: Vec<_> = (0..2u8)
                .map(|p| {
                    let q = q.clone();
                    thread::spawn(move || {
                        (0..2u8)
                            .filter(|&i| {
                                matches!(q.push((p, i), 1, 3, usize::MAX), Push::Queued { .. })
                            })
                            .collect::<Vec<u8>>()
                    })
                })
                .collect();
            let consumer = {
                let q = q.clone();
                thread::spawn(move || q.take_all())
            };
            let pushed: Vec<Vec<u8>> = producers.into_iter().map(|t| t.join().unwrap()).collect();
            let mut taken = consumer.join().unwrap();
            taken.extend(q.take_all());
            for (p, mine) in pushed.iter().enumerate() {
                let got: Vec<u8> = taken
                    .iter()
                    .filter(|t| t.0 == p as u8)
                    .map(|t| t.1)
                    .collect();
                assert_eq!(&got, mine, "producer {p}: each item once, in order");
            }
            // Only three fit at once, and the consumer may have made room.
            assert!(pushed.iter().map(Vec::len).sum::<usize>() >= 3);
            assert_eq!(q.queued(), 0);
        });
    }

    /// The mark is crossed once, so exactly one of the pushes that cross
    /// it says to wake the consumer, in whichever order they land.
    #[test]
    fn loom_one_push_wakes_for_each_crossing() {
        loom::model(|| {
            let q = Arc::new(BatchQueue::<u8>::new());
            assert_eq!(q.push(0, 1, 8, 2), Push::Queued { wake: false });
            let other = {
                let q = q.clone();
                thread::spawn(move || q.push(1, 2, 8, 2))
            };
            let mine = q.push(2, 1, 8, 2);
            let theirs = other.join().unwrap();
            let wakes = [&mine, &theirs]
                .iter()
                .filter(|p| matches!(p, Push::Queued { wake: true }))
                .count();
            assert_eq!(wakes, 1, "{mine:?} {theirs:?}");
        });
    }

    /// A thread's hand-over as it runs: a batch from the spares (or a new
    /// one), filled, pushed on the queue; the collector takes the queue,
    /// delivers, empties the batches and gives them back. Every span is
    /// delivered once or refused, and a reused batch always comes empty.
    #[test]
    fn loom_a_hand_over_round_trip_delivers_each_span_once() {
        use crate::data::batch::Pool;
        loom::model(|| {
            let queue = Arc::new(BatchQueue::<Vec<u8>>::new());
            let pool = Arc::new(Pool::<Vec<u8>>::new(4, 8));
            pool.put(Vec::with_capacity(1), 1);
            let producers: Vec<_> = (0..2u8)
                .map(|id| {
                    let (queue, pool) = (queue.clone(), pool.clone());
                    thread::spawn(move || {
                        let mut batch = pool.take().unwrap_or_default();
                        assert!(batch.is_empty(), "a reused batch comes empty");
                        batch.push(id);
                        matches!(queue.push(batch, 1, 2, usize::MAX), Push::Queued { .. })
                    })
                })
                .collect();
            let deliver = |delivered: &mut Vec<u8>| {
                for mut batch in queue.take_all() {
                    delivered.extend(batch.iter());
                    batch.clear();
                    pool.put(batch, 1);
                }
            };
            let mut delivered = Vec::new();
            deliver(&mut delivered);
            let queued: Vec<bool> = producers.into_iter().map(|t| t.join().unwrap()).collect();
            deliver(&mut delivered);
            delivered.sort();
            let want: Vec<u8> = (0..2u8).filter(|&i| queued[i as usize]).collect();
            assert_eq!(delivered, want);
        });
    }
}
