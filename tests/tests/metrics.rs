//! Span-derived metrics: every call of a traced function counted, with its
//! errors and durations, whatever was sampled.

use std::time::{Duration, Instant};
use tracekit::metrics::{self, FunctionMetrics};
use tracekit_tests::{error_types, poll_once, unsampled_parent};

fn function(name: &str) -> Option<FunctionMetrics> {
    metrics::snapshot().function(name).cloned()
}

fn calls(name: &str) -> u64 {
    function(name).map_or(0, |f| f.calls())
}

/// Each call's own time, measured inside its body (`inner`), and the time
/// around the call (`outer`): its span's duration lies between the two,
/// however the scheduler stretched the call.
struct Timed {
    inner: Vec<Duration>,
    outer: Vec<Duration>,
}

impl Timed {
    /// Times `call`, which returns the time its body took.
    fn new(n: u64, call: impl Fn(u64) -> Duration) -> Timed {
        let (mut inner, mut outer): (Vec<_>, Vec<_>) = (0..n)
            .map(|i| {
                let t = Instant::now();
                let body = call(i);
                (body, t.elapsed())
            })
            .unzip();
        inner.sort();
        outer.sort();
        Timed { inner, outer }
    }

    /// `h` agrees with the calls at the quantiles `qs`: the q-quantile of
    /// the spans lies between those of `inner` and `outer` (each span lies
    /// between its two), read from a bucket within 1/16 of it, through the
    /// tick rate, measured against the system clock early in the process
    /// (within a few percent: 0.95 to 1.03). The sum likewise.
    fn assert_agrees(&self, h: &metrics::Histogram, qs: &[f64]) {
        let n = self.inner.len();
        assert_eq!(h.count(), n as u64);
        for &q in qs {
            let rank = ((q * n as f64).ceil() as usize).max(1) - 1;
            let (lo, hi) = (
                self.inner[rank].as_nanos() as f64,
                self.outer[rank].as_nanos() as f64,
            );
            let got = h.quantile(q).unwrap().as_nanos() as f64;
            assert!(
                got >= lo * 15.0 / 16.0 * 0.95 - 2_000.0
                    && got <= hi * 17.0 / 16.0 * 1.03 + 2_000.0,
                "p{q}: {got} ns from the buckets; the calls took {lo} ns inside, {hi} ns around"
            );
        }
        let (inner, outer): (Duration, Duration) =
            (self.inner.iter().sum(), self.outer.iter().sum());
        assert!(
            h.sum() * 100 >= inner * 95 && h.sum() * 100 <= outer * 103,
            "{:?}: {inner:?} inside, {outer:?} around",
            h.sum(),
        );
    }
}

#[tracekit::trace_fn]
fn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {
    s.parse()
}

#[tracekit::trace_fn]
fn may_panic(fail: bool) -> u32 {
    if fail {
        panic!("metrics test panic");
    }
    1
}

#[test]
fn calls_errors_and_panics_are_counted() {
    metrics::set_enabled(true);
    for s in ["80", "x", "443", "", "8080"] {
        let _ = parse_port(s);
    }
    for fail in [false, true, false] {
        let _ = std::panic::catch_unwind(|| may_panic(fail));
    }
    if !tracekit::TRACE_ALL {
        assert!(metrics::snapshot().functions().is_empty());
        assert!(!metrics::enabled());
        return;
    }
    let p = function("parse_port").unwrap();
    assert_eq!((p.calls(), p.errors()), (5, 2));
    assert_eq!(p.point().unwrap().function(), "parse_port");
    let m = function("may_panic").unwrap();
    assert_eq!((m.calls(), m.errors()), (3, 1));
}

#[tracekit::trace_fn]
fn leaf() {}

#[tracekit::trace_fn]
fn branch() {
    leaf();
    leaf();
}

#[test]
fn calls_under_an_unsampled_span_count_too() {
    metrics::set_enabled(true);
    // Under a remote parent that was not sampled, calls open no spans.
    let ((), captured) = tracekit::testing::capture(|| {
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        for _ in 0..10 {
            branch();
        }
    });
    assert!(captured.spans().is_empty());
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(calls("branch"), 10);
    assert_eq!(calls("leaf"), 20);
}

#[tracekit::trace_fn]
fn on_a_worker(i: u64) -> u64 {
    i * 2
}

#[test]
fn calls_on_threads_that_ended_still_count() {
    metrics::set_enabled(true);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for i in 0..250 {
                    on_a_worker(i);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(calls("on_a_worker"), 1000);
}

mod quiet {
    #[tracekit::trace_fn]
    pub fn switched_off() {}
}

#[test]
fn a_point_switched_off_counts_nothing() {
    metrics::set_enabled(true);
    if !tracekit::TRACE_ALL {
        quiet::switched_off();
        assert!(metrics::snapshot().function("switched_off").is_none());
        return;
    }
    let point = tracekit::trace_points()
        .find(|p| p.name() == "switched_off")
        .unwrap();
    point.set_enabled(false);
    for _ in 0..5 {
        quiet::switched_off();
    }
    assert_eq!(calls("switched_off"), 0);
    point.set_enabled(true);
    quiet::switched_off();
    assert_eq!(calls("switched_off"), 1);
}

/// Busy for `micros`; returns the time it took.
#[tracekit::trace_fn]
fn spin(micros: u64) -> Duration {
    let t = Instant::now();
    tracekit_tests::busy_wait(Duration::from_micros(micros));
    t.elapsed()
}

#[test]
fn quantiles_agree_with_the_exact_durations_within_a_bucket() {
    metrics::set_enabled(true);
    let timed = Timed::new(200, |i| spin(100 + (i * 37) % 900));
    if !tracekit::TRACE_ALL {
        return;
    }
    timed.assert_agrees(function("spin").unwrap().duration(), &[0.5, 0.9, 0.99]);
}

#[test]
fn prometheus_text_has_buckets_sum_count_and_errors() {
    metrics::set_enabled(true);
    for s in ["1", "2", "nope"] {
        let _ = parse_port_for_prometheus(s);
    }
    let text = metrics::Prometheus::new()
        .buckets([Duration::from_micros(1), Duration::from_secs(1)])
        .render(&metrics::snapshot());
    if !tracekit::TRACE_ALL {
        assert!(!text.contains("_bucket{"));
        return;
    }
    let labels =
        "code_function_name=\"metrics::parse_port_for_prometheus\",code_namespace=\"metrics\"";
    // The two calls that succeeded, and the failed one in a series of its
    // own, labelled with its error type.
    // The scope's labels last, as OpenTelemetry's exporters write them.
    let scope = tracekit_tests::SCOPE_LABELS;
    let failed = format!("{labels},error_type=\"core::num::error::ParseIntError\",{scope}");
    for (series, n) in [(format!("{labels},{scope}"), 2), (failed, 1)] {
        for line in [
            format!("tracekit_function_duration_seconds_bucket{{{series},le=\"1\"}} {n}\n"),
            format!("tracekit_function_duration_seconds_bucket{{{series},le=\"+Inf\"}} {n}\n"),
            format!("tracekit_function_duration_seconds_count{{{series}}} {n}\n"),
        ] {
            assert!(text.contains(&line), "{line} in\n{text}");
        }
    }
    assert!(text.contains(&format!(
        "tracekit_function_errors_total{{{labels},{scope}}} 1\n"
    )));
    // Every series' buckets never decrease.
    let mut last: Option<(String, u64)> = None;
    for line in text
        .lines()
        .filter(|l| l.starts_with("tracekit_function_duration_seconds_bucket"))
    {
        let (series, n) = line.rsplit_once(' ').unwrap();
        let key = series.split(",le=").next().unwrap().to_owned();
        let n: u64 = n.parse().unwrap();
        if let Some((k, prev)) = &last
            && *k == key
        {
            assert!(n >= *prev, "{line}");
        }
        last = Some((key, n));
    }
}

#[tracekit::trace_fn]
fn parse_port_for_prometheus(s: &str) -> Result<u16, std::num::ParseIntError> {
    s.parse()
}

#[tracekit::trace_fn]
async fn fetch(id: u64) -> Result<u64, String> {
    tokio::task::yield_now().await;
    inner_fetch(id).await?;
    if id.is_multiple_of(3) {
        Err(format!("{id} not found"))
    } else {
        Ok(id)
    }
}

#[tracekit::trace_fn]
async fn inner_fetch(id: u64) -> Result<u64, String> {
    // An error of a nested call is its own, not its caller's.
    if id.is_multiple_of(5) {
        Err("inner".to_owned())
    } else {
        Ok(id)
    }
}

#[tokio::test]
async fn async_calls_count_sampled_or_not_with_their_errors() {
    metrics::set_enabled(true);
    // 1..=30 under an unsampled parent, 31..=60 sampled (roots).
    for id in 1..=30u64 {
        let call = {
            let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
            tracekit::FutureExt::in_current_span(fetch(id))
        };
        let _ = call.await;
    }
    for id in 31..=60u64 {
        let _ = fetch(id).await;
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let f = function("fetch").unwrap();
    let i = function("inner_fetch").unwrap();
    assert_eq!(i.calls(), 60);
    assert_eq!(i.errors(), 12, "multiples of 5 in 1..=60");
    // fetch fails on multiples of 3, and where inner_fetch failed (`?`).
    let failing = (1..=60u64)
        .filter(|id| id.is_multiple_of(3) || id.is_multiple_of(5))
        .count() as u64;
    assert_eq!((f.calls(), f.errors()), (60, failing));
}

/// Busy for `micros`; returns the time it took.
#[tracekit::trace_fn]
fn spin_unsampled(micros: u64) -> Duration {
    let t = Instant::now();
    tracekit_tests::busy_wait(Duration::from_micros(micros));
    t.elapsed()
}

#[test]
fn unsampled_calls_have_their_exact_durations_too() {
    metrics::set_enabled(true);
    let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
    let timed = Timed::new(200, |i| spin_unsampled(50 + (i * 53) % 2000));
    if !tracekit::TRACE_ALL {
        return;
    }
    timed.assert_agrees(
        function("spin_unsampled").unwrap().duration(),
        &[0.1, 0.5, 0.9, 0.99],
    );
}

#[tracekit::trace_fn]
async fn nap(millis: u64) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if millis == 0 {
        return Err("no nap".to_owned());
    }
    Ok(())
}

#[tokio::test]
async fn an_unsampled_async_call_is_timed_from_first_poll_to_completion() {
    metrics::set_enabled(true);
    // Each call waits (returns Pending) at least once: its time runs across
    // its polls, not only the last one.
    let mut outside = Duration::ZERO;
    for millis in [0, 5, 10, 20] {
        let call = {
            let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
            tracekit::FutureExt::in_current_span(nap(millis))
        };
        let t = Instant::now();
        let _ = call.await;
        outside += t.elapsed();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let f = function("nap").unwrap();
    assert_eq!((f.calls(), f.errors()), (4, 1));
    let sum = f.duration().sum();
    // Within the clock's calibration (see the quantile tests).
    assert!(
        sum >= Duration::from_millis(34) && sum * 100 <= outside * 103,
        "{sum:?} counted, {outside:?} around the calls"
    );
    // The 20 ms call lies in a bucket at or above 20 ms.
    assert!(f.duration().count_at_most(Duration::from_millis(19)) <= 3);
    assert!(f.duration().quantile(1.0).unwrap() >= Duration::from_millis(19));
}

#[tracekit::trace_fn]
async fn panics_or_waits(panic: bool) -> u32 {
    tokio::task::yield_now().await;
    if panic {
        panic!("metrics test async panic");
    }
    std::future::pending::<()>().await;
    1
}

#[tokio::test]
async fn an_unsampled_async_call_that_panics_or_is_dropped_still_counts() {
    metrics::set_enabled(true);
    let (panicking, dropped) = {
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        (
            tracekit::FutureExt::in_current_span(panics_or_waits(true)),
            tracekit::FutureExt::in_current_span(panics_or_waits(false)),
        )
    };
    let caught = tokio::spawn(panicking).await;
    assert!(caught.unwrap_err().is_panic());
    // Dropped while it waits, after its first poll: a call that ended
    // early, not an error.
    let waited = tokio::time::timeout(Duration::from_millis(5), dropped).await;
    assert!(waited.is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let f = function("panics_or_waits").unwrap();
    assert_eq!((f.calls(), f.errors()), (2, 1));
}

tracekit_tests::unit_error!(Timeout, "timed out");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Fails with a boxed `Timeout` on multiples of 3, with an `io::Error`
/// behind the box on multiples of 5 (not 3), with a boxed `&str` on
/// multiples of 7 (not 3 or 5).
#[tracekit::trace_fn]
fn call_backend(i: u64) -> Result<u64, BoxError> {
    if i.is_multiple_of(3) {
        Err(Box::new(Timeout))
    } else if i.is_multiple_of(5) {
        Err(Box::new(std::io::Error::other("refused")))
    } else if i.is_multiple_of(7) {
        Err("no route".into())
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
async fn call_backend_async(i: u64) -> Result<u64, Timeout> {
    tokio::task::yield_now().await;
    if i.is_multiple_of(4) {
        Err(Timeout)
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
fn panics_when(panic: bool) {
    if panic {
        panic!("metrics test panic by type");
    }
}

fn error_type_counts(name: &str) -> (u64, Vec<(String, u64)>) {
    let f = function(name).unwrap();
    let by_type = f
        .error_types()
        .map(|(t, h)| (t.to_owned(), h.count()))
        .collect();
    (f.succeeded().count(), by_type)
}

#[tokio::test]
async fn failed_calls_are_counted_by_error_type_sampled_or_not() {
    metrics::set_enabled(true);
    // 1..=105 twice: sampled (roots), then under an unsampled parent.
    for i in 1..=105u64 {
        let _ = call_backend(i);
    }
    {
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        for i in 1..=105u64 {
            let _ = call_backend(i);
        }
        for panic in [true, false, true] {
            let _ = std::panic::catch_unwind(|| panics_when(panic));
        }
    }
    for panic in [true, false] {
        let _ = std::panic::catch_unwind(|| panics_when(panic));
    }
    for i in 1..=8u64 {
        let _ = call_backend_async(i).await;
        let call = {
            let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
            tracekit::FutureExt::in_current_span(call_backend_async(i))
        };
        let _ = call.await;
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let threes = 105 / 3;
    let fives = (1..=105u64).filter(|i| i % 5 == 0 && i % 3 != 0).count() as u64;
    let sevens = (1..=105u64)
        .filter(|i| i % 7 == 0 && i % 3 != 0 && i % 5 != 0)
        .count() as u64;
    let (succeeded, by_type) = error_type_counts("call_backend");
    assert_eq!(succeeded, 2 * (105 - threes - fives - sevens));
    // Sorted by type. A type behind the box is named where tracekit can
    // tell it (the standard library's errors); the rest are the box.
    assert_eq!(
        by_type,
        vec![
            (
                "Box<dyn Error + Send + Sync>".to_owned(),
                2 * (threes + sevens)
            ),
            (
                std::any::type_name::<std::io::Error>().to_owned(),
                2 * fives
            ),
        ]
    );
    let f = function("call_backend").unwrap();
    assert_eq!(f.errors(), 2 * (threes + fives + sevens));
    assert_eq!(f.calls(), 210);
    assert_eq!(
        error_type_counts("panics_when"),
        (2, vec![("panic".to_owned(), 3)])
    );
    assert_eq!(
        error_type_counts("call_backend_async"),
        (12, vec![("metrics::Timeout".to_owned(), 4)])
    );
}

#[tracekit::trace_fn]
fn fails_in_many_ways(i: u64) -> Result<(), String> {
    // A function whose errors are all `String`: one type, however many
    // messages.
    Err(format!("failure {i}"))
}

#[test]
fn one_error_type_is_one_series_whatever_the_messages() {
    metrics::set_enabled(true);
    for i in 0..50 {
        let _ = fails_in_many_ways(i);
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(
        error_type_counts("fails_in_many_ways"),
        (0, vec![(std::any::type_name::<String>().to_owned(), 50)])
    );
}

/// Sets an error status on its own span, with nothing naming the error.
#[tracekit::trace_fn]
fn marks_itself_failed() {
    tracekit::current_span().set_status(tracekit::Status::error("quota exceeded"));
}

#[test]
fn an_error_status_nothing_names_is_counted_as_other() {
    metrics::set_enabled(true);
    for _ in 0..3 {
        marks_itself_failed();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    tracekit::flush();
    let f = function("marks_itself_failed").unwrap();
    assert_eq!(f.errors(), 3);
    assert_eq!(
        error_type_counts("marks_itself_failed"),
        (0, vec![("_OTHER".to_owned(), 3)])
    );
}

macro_rules! error_types {
    ($($name:ident),*) => {
        $(tracekit_tests::unit_error!($name, stringify!($name));)*
        /// Fails with the `i`th of 20 error types, each a type of its own
        /// (through a generic helper, so each `Err` has its own type).
        #[tracekit::trace_fn]
        fn fails_with(i: usize) -> Result<(), String> {
            let mut k = 0;
            $(
                if k == i {
                    return fail_as::<$name>($name).map_err(|e| e.to_string());
                }
                k += 1;
            )*
            let _ = k;
            Ok(())
        }
    };
}

#[tracekit::trace_fn]
fn fail_as<E: std::error::Error>(e: E) -> Result<(), E> {
    Err(e)
}

error_types!(
    E0, E1, E2, E3, E4, E5, E6, E7, E8, E9, E10, E11, E12, E13, E14, E15, E16, E17, E18, E19
);

#[test]
fn a_point_counts_16_error_types_apart_and_the_rest_as_other() {
    metrics::set_enabled(true);
    for i in 0..20 {
        let _ = fails_with(i);
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let (succeeded, by_type) = error_type_counts("fail_as");
    assert_eq!(succeeded, 0);
    assert_eq!(by_type.len(), 17, "{by_type:?}");
    assert!(by_type.contains(&("_OTHER".to_owned(), 4)), "{by_type:?}");
    assert!(by_type.iter().all(|(_, n)| *n == 1 || *n == 4));
    assert_eq!(function("fail_as").unwrap().calls(), 20);
}

#[tracekit::trace_fn]
async fn waits_then_maybe_panics(panic: bool) {
    tokio::task::yield_now().await;
    if panic {
        panic!("metrics test: panics in its second poll");
    }
    std::future::pending::<()>().await;
}

#[test]
fn an_unsampled_async_call_fails_by_its_own_panic_not_anothers() {
    metrics::set_enabled(true);
    let (mut panics, mut waits) = {
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        (
            Box::pin(tracekit::FutureExt::in_current_span(
                waits_then_maybe_panics(true),
            )),
            Box::pin(tracekit::FutureExt::in_current_span(
                waits_then_maybe_panics(false),
            )),
        )
    };
    // Both started (their time runs) and wait.
    assert!(poll_once(panics.as_mut()).is_pending());
    assert!(poll_once(waits.as_mut()).is_pending());
    // A panic through its own poll, caught there: the call failed, though
    // its future is dropped later, when nothing is unwinding.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = poll_once(panics.as_mut());
    }));
    assert!(caught.is_err());
    drop(panics);
    // Dropped while another panic unwinds: cancelled, not failed.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _waits = waits;
        panic!("metrics test: someone else's panic");
    }));
    assert!(caught.is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let f = function("waits_then_maybe_panics").unwrap();
    assert_eq!((f.calls(), f.errors()), (2, 1));
    assert_eq!(
        error_type_counts("waits_then_maybe_panics"),
        (1, vec![("panic".to_owned(), 1)])
    );
}

/// Fails on odd numbers.
#[tracekit::trace_fn]
fn fails_when_odd(i: u64) -> Result<u64, Timeout> {
    if !i.is_multiple_of(2) {
        Err(Timeout)
    } else {
        Ok(i)
    }
}

/// Makes traced calls from its destructor, which runs as its thread ends.
struct CallsAtThreadEnd;

impl Drop for CallsAtThreadEnd {
    fn drop(&mut self) {
        for i in [1, 2, 5] {
            let _ = fails_when_odd(i);
        }
    }
}

thread_local! {
    static CALLS_AT_THREAD_END: CallsAtThreadEnd = const { CallsAtThreadEnd };
}

#[test]
fn calls_made_as_a_thread_ends_count_with_their_error_types() {
    metrics::set_enabled(true);
    std::thread::spawn(|| {
        // Touched before any of tracekit's thread-locals, so that its
        // destructor runs after theirs (they go in the reverse order of
        // their first use): its calls find this thread's tables gone.
        CALLS_AT_THREAD_END.with(|_| {});
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        let _ = fails_when_odd(3);
    })
    .join()
    .unwrap();
    if !tracekit::TRACE_ALL {
        return;
    }
    let f = function("fails_when_odd").unwrap();
    assert_eq!((f.calls(), f.errors()), (4, 3));
    assert_eq!(
        error_type_counts("fails_when_odd"),
        (1, vec![("metrics::Timeout".to_owned(), 3)])
    );
}

tracekit_tests::unit_error!(GaveUp, "gave up");

/// Records the error of a try it recovered from, then fails otherwise.
#[tracekit::trace_fn]
fn fetch_with_retry() -> Result<(), GaveUp> {
    tracekit::current_span().record_error(&Timeout);
    Err(GaveUp)
}

/// Records more events than a span keeps, then fails.
#[tracekit::trace_fn]
fn fails_after_many_steps() -> Result<(), GaveUp> {
    let span = tracekit::current_span();
    for i in 0..200u64 {
        span.add_event("step", [("i", i)]);
    }
    Err(GaveUp)
}

/// What `main` and many examples return: a box that is not `Send + Sync`.
#[tracekit::trace_fn]
fn read_settings(path: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?)
}

#[test]
fn a_failed_call_is_counted_by_its_own_outcome_sampled_or_not() {
    metrics::set_enabled(true);
    for _ in 0..3 {
        let _ = fetch_with_retry();
        let _ = read_settings("/nonexistent/tracekit/settings.toml");
        let _ = fails_after_many_steps();
    }
    {
        let _attached = tracekit::Context::from_span_context(unsampled_parent()).attach();
        for _ in 0..2 {
            let _ = fetch_with_retry();
            let _ = read_settings("/nonexistent/tracekit/settings.toml");
            let _ = fails_after_many_steps();
        }
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    // The `Err` returned, not the error recorded on the way (which a
    // sampled call's span also shows): one series, sampled or not.
    assert_eq!(
        error_types("fetch_with_retry"),
        [("metrics::GaveUp".to_owned(), 5)]
    );
    // Past the span's event limit too: its outcome keeps a place.
    assert_eq!(
        error_types("fails_after_many_steps"),
        [("metrics::GaveUp".to_owned(), 5)]
    );
    // The standard library's error inside a `Box<dyn Error>`.
    assert_eq!(
        error_types("read_settings"),
        [("std::io::error::Error".to_owned(), 5)]
    );
}
