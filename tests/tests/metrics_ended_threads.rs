//! The metric tables of threads that ended are let go of by the collector
//! on its own, not only when someone takes a snapshot: a service that
//! starts a thread per job, with metrics on and nothing scraping them,
//! keeps no memory for its ended threads, and their counts stay. Measured
//! by a global allocator that counts the bytes held (a process of its own).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};
use tracekit::sampler::{TraceIdRatio, set_sampler};

struct Held;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: the system allocator's calls, unchanged; only counted.
unsafe impl GlobalAlloc for Held {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Held = Held;

#[tracekit::trace_fn]
fn job(i: u64) -> u64 {
    i + 1
}

const THREADS: u64 = 200;

#[test]
fn ended_threads_tables_are_let_go_of_without_a_snapshot() {
    if !tracekit::TRACE_ALL {
        return;
    }
    // Every call unsampled: each thread counts it in a table of its own.
    let _sampler = set_sampler(TraceIdRatio::new(0.0));
    tracekit::metrics::set_enabled(true);
    // One thread first, so that what every thread shares (the point's
    // slot, the collector) is made before the count starts.
    std::thread::spawn(|| job(0)).join().unwrap();
    let before = HELD.load(Ordering::Relaxed);
    for i in 0..THREADS {
        std::thread::spawn(move || job(i)).join().unwrap();
    }
    // Not asserted here: the collector's fold may run during the loop and
    // free the first threads' tables already (what is asserted below).
    let grown = HELD.load(Ordering::Relaxed) - before;
    // The collector folds them on its own (about once a second); no
    // snapshot is taken until they are gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut held = grown;
    while held > THREADS as isize * 2_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        held = HELD.load(Ordering::Relaxed) - before;
    }
    assert!(
        held <= THREADS as isize * 2_000,
        "{held} bytes still held for {THREADS} ended threads (was {grown})"
    );
    // And their calls are all counted still.
    let calls = tracekit::metrics::collected()
        .function("job")
        .map_or(0, |f| f.calls());
    assert_eq!(calls, THREADS + 1);
}
