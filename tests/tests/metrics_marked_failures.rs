//! A traced call that says it failed through `current_span()` (an error
//! status, a recorded error, OpenTracing's `error = true` tag) counts as
//! failed whether or not its trace was sampled: the sampled call's span
//! holds the status, the unsampled call has no span and is marked instead.
//! Each scenario runs sampled, then unsampled, and the two must count the
//! same. (A process of its own: the sampler is global.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context as TaskContext, Poll};
use tracekit::sampler::{ParentBased, TraceIdRatio, set_sampler};
use tracekit::{Context, SpanContext, SpanId, Status, TraceId, metrics, trace_fn};
use tracekit_tests::{error_types, poll_once, unit_error, unsampled_parent};

unit_error!(Timeout, "timed out");
unit_error!(GaveUp, "gave up");

/// Roots the sampler drops; a sampled parent makes calls sampled.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::mem::forget(set_sampler(ParentBased::new(TraceIdRatio::new(0.0))));
    });
    metrics::set_enabled(true);
}

fn sampled_parent() -> SpanContext {
    SpanContext::remote(
        TraceId::from_u128(0x1bf92f3577b34da6a3ce929d0e0e4736).expect("non-zero"),
        SpanId::from_u64(0x10f067aa0ba902b7).expect("non-zero"),
        true,
    )
}

/// The calls and error types of each of `names` that `run` added, counted
/// sampled (under a sampled parent) and then unsampled: both, to compare.
fn sampled_and_not(names: &[&str], mut run: impl FnMut()) -> Vec<Counted> {
    let mut out = Vec::new();
    for (sampled, parent) in [(true, sampled_parent()), (false, unsampled_parent())] {
        let before = counted(names);
        let ((), captured) = tracekit::testing::capture(|| {
            let _attached = Context::from_span_context(parent).attach();
            run();
        });
        // What each run is said to be, it is.
        let recorded = names
            .iter()
            .any(|n| captured.spans().iter().any(|s| s.name() == *n));
        assert_eq!(
            recorded,
            sampled && tracekit::TRACE_ALL,
            "sampled: {sampled}"
        );
        tracekit::flush();
        out.push(counted(names).since(&before));
    }
    out
}

/// A function's name, calls, and failed calls by error type.
type Function = (String, u64, Vec<(String, u64)>);

#[derive(Debug, PartialEq)]
struct Counted(Vec<Function>);

/// What a test expects of a function, as [`Function`].
type Expected<'a> = (&'a str, u64, &'a [(&'a str, u64)]);

fn counted(names: &[&str]) -> Counted {
    let snapshot = metrics::snapshot();
    Counted(
        names
            .iter()
            .map(|n| {
                let calls = snapshot.function(n).map_or(0, |f| f.calls());
                (n.to_string(), calls, error_types(n))
            })
            .collect(),
    )
}

impl Counted {
    fn since(&self, before: &Counted) -> Counted {
        Counted(
            self.0
                .iter()
                .zip(&before.0)
                .map(|((n, calls, types), (_, calls0, types0))| {
                    let types = types
                        .iter()
                        .map(|(t, c)| {
                            let c0 = types0.iter().find(|(t0, _)| t0 == t).map_or(0, |x| x.1);
                            (t.clone(), c - c0)
                        })
                        .filter(|(_, c)| *c > 0)
                        .collect();
                    (n.clone(), calls - calls0, types)
                })
                .collect(),
        )
    }
}

fn expect(runs: Vec<Counted>, expected: &[Expected<'_>]) {
    let expected = Counted(
        expected
            .iter()
            .map(|(n, c, t)| {
                (
                    n.to_string(),
                    *c,
                    t.iter().map(|(t, c)| (t.to_string(), *c)).collect(),
                )
            })
            .collect(),
    );
    assert_eq!(runs[0], expected, "sampled");
    assert_eq!(runs[1], expected, "unsampled");
}

fn other() -> &'static str {
    "_OTHER"
}

fn timeout() -> String {
    std::any::type_name::<Timeout>().to_owned()
}

#[trace_fn]
fn marked_by_status(fail: bool) {
    if fail {
        tracekit::current_span().set_status(Status::error("quota exceeded"));
    }
}

#[trace_fn]
fn marked_by_record(fail: bool) {
    if fail {
        tracekit::current_span().record_error(&Timeout);
    }
}

#[trace_fn]
fn marked_by_tag(fail: bool) {
    if fail {
        tracekit::current_span().set_tag("error", true);
    }
}

#[test]
fn a_status_a_recorded_error_and_the_error_tag_count_sampled_or_not() {
    setup();
    let runs = sampled_and_not(
        &["marked_by_status", "marked_by_record", "marked_by_tag"],
        || {
            for i in 0..10 {
                marked_by_status(i % 2 == 0);
                marked_by_record(i % 5 == 0);
                marked_by_tag(i < 3);
            }
        },
    );
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    expect(
        runs,
        &[
            ("marked_by_status", 10, &[(other(), 5)]),
            ("marked_by_record", 10, &[(&t, 2)]),
            ("marked_by_tag", 10, &[(other(), 3)]),
        ],
    );
}

#[trace_fn]
fn quiet_helper() {}

#[trace_fn]
fn helper_that_fails() {
    tracekit::current_span().record_error(&Timeout);
}

/// Marks itself, then calls a helper: the helper did not fail.
#[trace_fn]
fn marks_then_calls() {
    tracekit::current_span().set_status(Status::error("x"));
    quiet_helper();
}

/// Calls a helper that fails, then succeeds itself.
#[trace_fn]
fn calls_a_failing_helper() {
    helper_that_fails();
    quiet_helper();
}

/// Its helper fails, and so does it, after.
#[trace_fn]
fn both_fail() {
    helper_that_fails();
    tracekit::current_span().set_tag("error", true);
}

/// Records an error it recovered from, then returns an `Err` of its own:
/// the `Err` names the failure, as it was the last.
#[trace_fn]
fn records_then_errs() -> Result<(), GaveUp> {
    tracekit::current_span().record_error(&Timeout);
    Err(GaveUp)
}

#[test]
fn each_failure_goes_to_the_call_it_was_said_in() {
    setup();
    let names = [
        "quiet_helper",
        "helper_that_fails",
        "marks_then_calls",
        "calls_a_failing_helper",
        "both_fail",
        "records_then_errs",
    ];
    let runs = sampled_and_not(&names, || {
        marks_then_calls();
        calls_a_failing_helper();
        both_fail();
        let _ = records_then_errs();
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    let gave_up = std::any::type_name::<GaveUp>().to_owned();
    expect(
        runs,
        &[
            ("quiet_helper", 2, &[]),
            ("helper_that_fails", 2, &[(&t, 2)]),
            ("marks_then_calls", 1, &[(other(), 1)]),
            ("calls_a_failing_helper", 1, &[]),
            ("both_fail", 1, &[(other(), 1)]),
            ("records_then_errs", 1, &[(&gave_up, 1)]),
        ],
    );
}

/// Fails a span of its own making, not itself.
#[trace_fn]
fn fails_its_own_span() {
    let mut mine = tracekit::Span::start("mine");
    {
        let _in = mine.enter();
        tracekit::current_span().set_status(Status::error("x"));
    }
    drop(mine);
    quiet_helper_after();
}

#[trace_fn]
fn quiet_helper_after() {}

#[test]
fn a_failure_said_of_another_span_is_not_the_calls() {
    setup();
    let runs = sampled_and_not(&["fails_its_own_span", "quiet_helper_after"], || {
        fails_its_own_span();
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    expect(
        runs,
        &[
            ("fails_its_own_span", 1, &[]),
            ("quiet_helper_after", 1, &[]),
        ],
    );
}

#[trace_fn]
fn after_the_scope_failed() {}

#[test]
fn a_failure_said_outside_any_call_leaves_later_calls_alone() {
    setup();
    let before = counted(&["after_the_scope_failed"]);
    {
        let _attached = Context::from_span_context(unsampled_parent()).attach();
        // The attached context's own failure: no traced call to count it.
        tracekit::current_span().set_status(Status::error("x"));
        tracekit::current_span().record_error(&Timeout);
        after_the_scope_failed();
    }
    after_the_scope_failed();
    {
        let _attached = Context::from_span_context(unsampled_parent()).attach();
        after_the_scope_failed();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let after = counted(&["after_the_scope_failed"]).since(&before);
    assert_eq!(
        after,
        Counted(vec![("after_the_scope_failed".to_owned(), 3, vec![])])
    );
}

/// Pending once, then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Says it failed, then waits, then succeeds.
#[trace_fn]
async fn fails_then_waits() {
    tracekit::current_span().record_error(&Timeout);
    YieldOnce(false).await;
}

/// Waits, then says it failed.
#[trace_fn]
async fn waits_then_fails() {
    YieldOnce(false).await;
    tracekit::current_span().set_status(Status::error("x"));
}

/// Waits and succeeds.
#[trace_fn]
async fn waits_and_succeeds() {
    YieldOnce(false).await;
}

#[test]
fn an_async_call_keeps_its_failure_across_a_wait() {
    setup();
    let names = ["fails_then_waits", "waits_then_fails", "waits_and_succeeds"];
    let runs = sampled_and_not(&names, || {
        tracekit_tests::block_on(fails_then_waits());
        tracekit_tests::block_on(waits_then_fails());
        // Two tasks on one thread, polled by turns: the failure said in
        // the second's first poll is its own, not the first's, which
        // started before it and finishes first.
        let mut first = std::pin::pin!(waits_and_succeeds());
        let mut second = std::pin::pin!(fails_then_waits());
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        assert!(poll_once(first.as_mut()).is_ready());
        assert!(poll_once(second.as_mut()).is_ready());
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    expect(
        runs,
        &[
            ("fails_then_waits", 2, &[(&t, 2)]),
            ("waits_then_fails", 1, &[(other(), 1)]),
            ("waits_and_succeeds", 1, &[]),
        ],
    );
}

/// [`fails_then_waits`], for a test of its own (metrics are per function,
/// and tests run at once).
#[trace_fn]
async fn fails_then_is_dropped() {
    tracekit::current_span().record_error(&Timeout);
    YieldOnce(false).await;
}

#[test]
fn an_async_call_dropped_after_failing_counts_its_failure() {
    setup();
    let runs = sampled_and_not(&["fails_then_is_dropped"], || {
        let mut call = Box::pin(fails_then_is_dropped());
        assert!(poll_once(call.as_mut()).is_pending());
        drop(call);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    expect(runs, &[("fails_then_is_dropped", 1, &[(&t, 1)])]);
}

/// A root (no parent): the sampler drops its trace.
#[trace_fn]
fn root_that_fails() {
    quiet_helper_in_root();
    tracekit::current_span().set_tag("error", true);
}

#[trace_fn]
fn quiet_helper_in_root() {}

/// Names its failure in one poll and says it again, unnamed, in the next:
/// the name holds, as the last `exception` event's does when sampled.
#[trace_fn]
async fn async_root_that_fails() {
    YieldOnce(false).await;
    tracekit::current_span().record_error(&Timeout);
    YieldOnce(false).await;
    tracekit::current_span().set_status(Status::error("still"));
}

#[test]
fn roots_the_sampler_drops_count_their_failures() {
    setup();
    let names = [
        "root_that_fails",
        "quiet_helper_in_root",
        "async_root_that_fails",
    ];
    let before = counted(&names);
    root_that_fails();
    tracekit_tests::block_on(async_root_that_fails());
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    let unsampled = counted(&names).since(&before);
    let runs = sampled_and_not(&names, || {
        root_that_fails();
        tracekit_tests::block_on(async_root_that_fails());
    });
    assert_eq!(unsampled, runs[0], "roots the sampler dropped");
    expect(
        runs,
        &[
            ("root_that_fails", 1, &[(other(), 1)]),
            ("quiet_helper_in_root", 1, &[]),
            ("async_root_that_fails", 1, &[(&t, 1)]),
        ],
    );
}

/// Fails through `current_span()`, inside a request's handler.
#[trace_fn]
fn handler_step_fails() {
    tracekit::current_span().record_error(&Timeout);
}

#[trace_fn]
async fn async_handler_step_fails() {
    YieldOnce(false).await;
    tracekit::current_span().set_status(Status::error("x"));
}

/// The calls, errors and error type of the server series of `route`,
/// counted since `before` (the same series read then).
fn served(route: &str) -> (u64, u64, Option<String>) {
    let snapshot = metrics::snapshot();
    snapshot
        .requests()
        .iter()
        .find(|r| r.instrument() == "http.server.request.duration" && r.route() == Some(route))
        .map_or((0, 0, None), |r| {
            (r.calls(), r.errors(), r.error_type().map(str::to_owned))
        })
}

fn headers(sampled: bool) -> Vec<(String, String)> {
    let flags = if sampled { "01" } else { "00" };
    vec![(
        "traceparent".to_owned(),
        format!("00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
    )]
}

#[test]
fn a_failure_in_a_handlers_traced_call_is_the_calls_and_one_beside_them_the_requests() {
    setup();
    let names = ["handler_step_fails", "async_handler_step_fails"];
    let mut runs = Vec::new();
    for sampled in [true, false] {
        let before = counted(&names);
        // The handler's traced calls fail; the request is answered 200.
        let mut span = tracekit::http::server_span("GET", "/marked/calls", &headers(sampled));
        assert_eq!(span.is_recording(), sampled && tracekit::TRACE_ALL);
        {
            let _in = span.enter();
            handler_step_fails();
            tracekit_tests::block_on(async_handler_step_fails());
        }
        tracekit::http::set_status_code(&mut span, 200);
        drop(span);
        // The handler itself fails, beside its traced call, with no
        // status code to say otherwise.
        let mut span = tracekit::http::server_span("GET", "/marked/direct", &headers(sampled));
        {
            let _in = span.enter();
            quiet_helper_in_handler();
            tracekit::current_span().record_error(&Timeout);
        }
        drop(span);
        tracekit::flush();
        runs.push((
            counted(&names).since(&before),
            served("/marked/calls"),
            served("/marked/direct"),
        ));
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    let readable = "metrics_marked_failures::Timeout".to_owned();
    for (i, (functions, calls, direct)) in runs.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(
            *functions,
            Counted(vec![
                ("handler_step_fails".to_owned(), 1, vec![(t.clone(), 1)]),
                (
                    "async_handler_step_fails".to_owned(),
                    1,
                    vec![(other().to_owned(), 1)]
                ),
            ]),
            "run {i}"
        );
        // Counted cumulatively over the two runs.
        assert_eq!(*calls, (n, 0, None), "run {i}: the request did not fail");
        assert_eq!(*direct, (n, n, Some(readable.clone())), "run {i}");
    }
}

#[trace_fn]
fn quiet_helper_in_handler() {}

#[trace_fn]
fn fails_after_many_scope_failures() {
    tracekit::current_span().set_status(Status::error("x"));
}

#[test]
fn failures_said_outside_any_call_do_not_crowd_out_a_calls() {
    setup();
    let before = counted(&["fails_after_many_scope_failures"]);
    {
        let _attached = Context::from_span_context(unsampled_parent()).attach();
        // More than a thread keeps, none of them a call's.
        for _ in 0..200 {
            tracekit::current_span().set_status(Status::error("x"));
        }
        fails_after_many_scope_failures();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(
        counted(&["fails_after_many_scope_failures"]).since(&before),
        Counted(vec![(
            "fails_after_many_scope_failures".to_owned(),
            1,
            vec![(other().to_owned(), 1)]
        )])
    );
}

/// Says it failed, waits, and is finished on another thread.
#[trace_fn]
async fn fails_then_moves() {
    tracekit::current_span().record_error(&Timeout);
    YieldOnce(false).await;
}

#[test]
fn an_async_call_that_fails_and_moves_to_another_thread_keeps_its_failure() {
    setup();
    let runs = sampled_and_not(&["fails_then_moves"], || {
        let mut call = Box::pin(fails_then_moves());
        assert!(poll_once(call.as_mut()).is_pending());
        // Finished elsewhere, where nothing was marked.
        std::thread::spawn(move || assert!(poll_once(call.as_mut()).is_ready()))
            .join()
            .unwrap();
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let t = timeout();
    expect(runs, &[("fails_then_moves", 1, &[(&t, 1)])]);
}

/// The scenarios above with the clock that stands in where there is no
/// usable time-stamp counter (`Instant`), in a process each.
#[test]
fn the_same_holds_on_the_monotonic_clock() {
    if !tracekit::TRACE_ALL || std::env::var_os("TRACEKIT_CLOCK").is_some() {
        return;
    }
    for name in [
        "a_status_a_recorded_error_and_the_error_tag_count_sampled_or_not",
        "each_failure_goes_to_the_call_it_was_said_in",
        "an_async_call_keeps_its_failure_across_a_wait",
        "roots_the_sampler_drops_count_their_failures",
    ] {
        let out = tracekit_tests::child_test(name)
            .env("TRACEKIT_CLOCK", "monotonic")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
