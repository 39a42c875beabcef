//! Floods and threads: tracekit's memory stays bounded and every span is
//! either reported or counted as dropped. Each scenario runs in a child
//! process of its own, so the collector's counters and the peak RSS are its
//! alone. `TRACEKIT_FLOOD_SPANS` sets the flood's size (CI: 1,000,000; the
//! long form in RELIABILITY.md: 10,000,000 in release).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHILD: &str = "TRACEKIT_FLOOD_CHILD";

/// Counts what it is given; `delay` per span makes it slow.
struct Counting {
    got: Arc<AtomicU64>,
    delay: Duration,
}

impl tracekit::Reporter for Counting {
    fn report(&mut self, spans: tracekit::SpanBatch) {
        self.got.fetch_add(spans.len() as u64, Ordering::Relaxed);
        // Spun, not slept: a sleep this short overshoots by a millisecond.
        tracekit_tests::busy_wait(self.delay * spans.len() as u32);
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What a child reports back on its last line.
#[derive(Debug)]
struct Outcome {
    made: u64,
    reported: u64,
    dropped: u64,
    counted: u64,
    seen_while_open: u64,
    peak_rss_kib: u64,
}

fn run_child(mode: &str) -> Outcome {
    let out = tracekit_tests::child_test("child_program")
        .env(CHILD, mode)
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("OUTCOME "))
        .unwrap_or_else(|| panic!("{mode}: no outcome in {stdout}"));
    let n: Vec<u64> = line
        .split(' ')
        .map(|x| x.parse().expect("number"))
        .collect();
    let outcome = Outcome {
        made: n[0],
        reported: n[1],
        dropped: n[2],
        counted: n[3],
        seen_while_open: n[4],
        peak_rss_kib: n[5],
    };
    println!("{mode}: {outcome:?}");
    outcome
}

/// Spans in roots of 100 (one root, 99 children), as requests are.
fn make_requests(spans: u64) {
    for _ in 0..spans / 100 {
        let _root = tracekit::start_active_span("request");
        for _ in 0..99 {
            drop(tracekit::Span::start("step"));
        }
    }
}

#[test]
fn child_program() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let got = Arc::new(AtomicU64::new(0));
    // 50,000 spans a second: far slower than a loop makes them.
    let delay = if mode == "flood" {
        Duration::from_micros(20)
    } else {
        Duration::ZERO
    };
    let guard = tracekit::set_reporter(Counting {
        got: got.clone(),
        delay,
    });
    let before = tracekit::collector_stats();
    let mut seen_while_open = 0;
    let made = match mode.as_str() {
        "flood" => {
            let n = std::env::var("TRACEKIT_FLOOD_SPANS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000u64);
            make_requests(n);
            n
        }
        "threads" => {
            let threads: Vec<_> = (0..64)
                .map(|_| std::thread::spawn(|| make_requests(10_000)))
                .collect();
            for t in threads {
                t.join().expect("thread");
            }
            64 * 10_000
        }
        "short-lived" => {
            for _ in 0..1_000 {
                std::thread::spawn(|| {
                    let _root = tracekit::start_active_span("job");
                    drop(tracekit::Span::start("step"));
                })
                .join()
                .expect("thread");
            }
            2_000
        }
        "long-open" => {
            // The process's own span stays open throughout; what finishes
            // under it must still leave, or memory grows with every child.
            let root = tracekit::start_active_span("main");
            let n = 3_000_000u64;
            let started = Instant::now();
            for i in 0..n {
                drop(tracekit::Span::start("step"));
                if i % 100_000 == 0 && started.elapsed() > Duration::from_millis(300) {
                    seen_while_open = seen_while_open.max(got.load(Ordering::Relaxed));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
            drop(tracekit::Span::start("last"));
            seen_while_open = seen_while_open.max(got.load(Ordering::Relaxed));
            drop(root);
            n + 2
        }
        other => panic!("unknown mode {other}"),
    };
    drop(guard);
    let after = tracekit::collector_stats();
    println!(
        "\nOUTCOME {made} {} {} {} {seen_while_open} {}",
        after.spans_reported - before.spans_reported,
        after.spans_dropped - before.spans_dropped,
        got.load(Ordering::Relaxed),
        peak_rss_kib()
    );
}

#[test]
fn a_flood_into_a_slow_reporter_stays_bounded_and_counted() {
    let o = run_child("flood");
    if !cfg!(feature = "trace-all") {
        assert_eq!((o.reported, o.dropped, o.counted), (0, 0, 0));
        return;
    }
    assert_eq!(
        o.reported, o.counted,
        "the counter says what the reporter got"
    );
    assert_eq!(
        o.reported + o.dropped,
        o.made,
        "every span reported or counted"
    );
    assert!(o.dropped > 0, "a reporter this slow must shed load: {o:?}");
    assert!(
        o.peak_rss_kib < 256 * 1024,
        "peak RSS {} KiB",
        o.peak_rss_kib
    );
}

#[test]
fn sixty_four_threads_lose_nothing_but_what_is_counted() {
    let o = run_child("threads");
    if !cfg!(feature = "trace-all") {
        return;
    }
    assert_eq!(o.reported, o.counted);
    assert_eq!(o.reported + o.dropped, o.made, "{o:?}");
}

#[test]
fn short_lived_threads_deliver_their_spans() {
    let o = run_child("short-lived");
    if !cfg!(feature = "trace-all") {
        return;
    }
    assert_eq!(
        (o.reported, o.dropped, o.counted),
        (o.made, 0, o.made),
        "{o:?}"
    );
}

#[test]
fn a_span_open_for_the_whole_process_pins_nothing() {
    let o = run_child("long-open");
    if !cfg!(feature = "trace-all") {
        return;
    }
    assert!(
        o.seen_while_open > 0,
        "nothing left while the root was open: {o:?}"
    );
    assert_eq!(o.reported + o.dropped, o.made, "{o:?}");
    // Three million finished spans held back would be hundreds of MiB.
    assert!(
        o.peak_rss_kib < 128 * 1024,
        "peak RSS {} KiB",
        o.peak_rss_kib
    );
}
