//! Sampling and run-time control as a service sees them: which traces are
//! recorded, what an unsampled trace still carries to the next service, the
//! switches that turn tracing or single trace points off while the program
//! runs, and tail keep. The sampler and the switches are global: the tests
//! here take turns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracekit::propagation::Propagators;
use tracekit::sampler::{
    self, AlwaysOff, AlwaysOn, JaegerRemote, ParentBased, RateLimiting, TailKeep, TraceIdRatio,
    set_sampler, set_tail_keep,
};
use tracekit::testing::capture;
use tracekit::{Span, SpanContext, SpanId, TraceId, current_span, trace_fn};
use tracekit_tests::stub::{Reply, Stub};

fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

#[trace_fn]
fn root_call(i: u64) -> u64 {
    child_call(i) + 1
}

#[trace_fn]
fn child_call(i: u64) -> u64 {
    i * 2
}

#[test]
fn a_quarter_of_100k_roots_is_recorded_at_ratio_0_25() {
    let _turn = serial();
    let _s = set_sampler(TraceIdRatio::new(0.25));
    let ((), c) = capture(|| {
        for i in 0..100_000 {
            root_call(i);
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let roots = c.roots();
    let share = roots.len() as f64 / 100_000.0;
    assert!((0.24..=0.26).contains(&share), "{share}");
    // Whole traces: every recorded root has its child, and nothing else.
    assert_eq!(c.spans().len(), 2 * roots.len());
    let root = roots[0];
    assert_eq!(
        root.tag("sampler.type").unwrap().to_string(),
        "probabilistic"
    );
    assert_eq!(root.tag("sampler.param").unwrap().to_string(), "0.25");
    assert!(c.children(root)[0].tag("sampler.type").is_none());
}

#[test]
fn the_default_records_everything_and_says_so_on_the_root() {
    let _turn = serial();
    let (_, c) = capture(|| root_call(1));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert_eq!(c.tree(), "root_call\n  child_call\n");
    let root = c.span("root_call");
    assert_eq!(root.tag("sampler.type").unwrap().to_string(), "const");
    assert_eq!(root.tag("sampler.param").unwrap().to_string(), "true");
}

#[test]
fn rate_limiting_lets_through_a_burst_then_the_rate() {
    let _turn = serial();
    let made = Instant::now();
    let limiter = RateLimiting::new(100.0);
    let t0 = Instant::now();
    let burst = (0..10_000).filter(|_| limiter.try_take()).count();
    let took = t0.elapsed().as_secs_f64();
    assert!(
        (100..=100 + (took * 100.0).ceil() as usize).contains(&burst),
        "burst {burst} in {took}s"
    );
    // Four threads at once, for 300 ms: no more than the rate allows, and
    // the limiter never lets everything through nor refuses everything.
    let t0 = Instant::now();
    let taken = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while t0.elapsed() < Duration::from_millis(300) {
                    if limiter.try_take() {
                        taken.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = t0.elapsed().as_secs_f64();
    let taken = taken.into_inner();
    // Never more than the first burst and the rate since the limiter was
    // made, however long this thread was held up between the two.
    let lifetime = made.elapsed().as_secs_f64();
    assert!(
        (burst + taken) as f64 <= 100.0 + lifetime * 100.0 + 1.0,
        "{burst} + {taken} in {lifetime}s"
    );
    assert!(taken >= 10, "{taken} in {elapsed}s");
}

#[test]
fn a_rate_limited_sampler_records_at_most_the_rate() {
    let _turn = serial();
    let _s = set_sampler(RateLimiting::new(20.0));
    let t0 = Instant::now();
    let ((), c) = capture(|| {
        for i in 0..5000 {
            root_call(i);
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let allowed = 20.0 + t0.elapsed().as_secs_f64() * 20.0 + 1.0;
    let roots = c.roots();
    assert!(
        roots.len() >= 20 && roots.len() as f64 <= allowed,
        "{}",
        roots.len()
    );
    assert_eq!(
        roots[0].tag("sampler.type").unwrap().to_string(),
        "ratelimiting"
    );
}

fn remote(sampled: bool) -> SpanContext {
    SpanContext::remote(
        TraceId::from_u128(0xabc).unwrap(),
        SpanId::from_u64(0xdef).unwrap(),
        sampled,
    )
}

#[test]
fn parent_based_follows_the_remote_parent_and_a_debug_parent_always_wins() {
    let _turn = serial();
    let start = |parent: &SpanContext| Span::builder("server").child_of(parent).start();
    // The default: parentbased_always_on.
    assert_eq!(start(&remote(true)).is_recording(), tracekit::TRACE_ALL);
    assert!(!start(&remote(false)).is_recording());
    {
        let _s = set_sampler(ParentBased::new(AlwaysOff));
        assert_eq!(start(&remote(true)).is_recording(), tracekit::TRACE_ALL);
        assert!(!Span::start("new trace").is_recording());
    }
    {
        // Not parent-based: the sampler decides even under a sampled parent...
        let _s = set_sampler(AlwaysOff);
        assert!(!start(&remote(true)).is_recording());
        // ...but a debug parent (B3 `d`, Jaeger debug flag) is recorded.
        assert_eq!(
            start(&remote(true).with_debug(true)).is_recording(),
            tracekit::TRACE_ALL
        );
    }
    {
        let _s = set_sampler(AlwaysOn);
        assert_eq!(start(&remote(false)).is_recording(), tracekit::TRACE_ALL);
    }
}

/// An argument whose `Debug` counts how often it is formatted.
struct Counted;
static FORMATTED: AtomicUsize = AtomicUsize::new(0);
impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        FORMATTED.fetch_add(1, Ordering::Relaxed);
        f.write_str("Counted")
    }
}

#[trace_fn]
fn handle(order: &Counted) -> HashMap<String, String> {
    let _ = order;
    let mut headers = HashMap::new();
    call_downstream(&mut headers, &Counted);
    headers
}

#[trace_fn]
fn call_downstream(headers: &mut HashMap<String, String>, payload: &Counted) {
    let _ = payload;
    if let Some(cx) = current_span().context() {
        Propagators::parse("tracecontext,baggage,b3multi,jaeger")
            .unwrap()
            .inject_context(&cx, headers);
    }
}

#[test]
fn an_unsampled_trace_carries_its_ids_flag_and_baggage_and_records_nothing() {
    let _turn = serial();
    let _s = set_sampler(AlwaysOff);
    FORMATTED.store(0, Ordering::Relaxed);
    let (headers, c) = capture(|| {
        let root = tracekit::start_active_span("request");
        root.set_baggage_item("user", "ann");
        let cx = root.context();
        (handle(&Counted), cx)
    });
    let (headers, root_cx) = headers;
    assert!(c.spans().is_empty(), "{}", c.tree());
    assert_eq!(FORMATTED.load(Ordering::Relaxed), 0, "arguments formatted");
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let root_cx = root_cx.unwrap();
    assert!(!root_cx.is_sampled());
    let trace = format!("{:032x}", root_cx.trace_id().to_u128());
    let traceparent = &headers["traceparent"];
    assert!(traceparent.contains(&trace), "{traceparent}");
    // Not sampled; the random-trace-id flag of a root tracekit started.
    assert!(traceparent.ends_with("-02"), "{traceparent}");
    assert_eq!(headers["baggage"], "user=ann");
    assert_eq!(headers["x-b3-sampled"], "0");
    assert!(headers["uber-trace-id"].ends_with(":00"), "{headers:?}");
    // The next service agrees: not sampled, same trace.
    let downstream = Propagators::default().extract(&headers).unwrap();
    assert!(!downstream.is_sampled());
    assert_eq!(downstream.trace_id(), root_cx.trace_id());
    assert_eq!(downstream.baggage_item("user"), Some("ann"));

    // Sampled, the same arguments are formatted once each.
    drop(_s);
    let (_, c) = capture(|| handle(&Counted));
    assert_eq!(c.spans().len(), 2);
    assert_eq!(FORMATTED.load(Ordering::Relaxed), 2);
}

#[test]
fn sampling_priority_at_start_forces_the_decision() {
    let _turn = serial();
    {
        let _s = set_sampler(AlwaysOff);
        let ((), c) = capture(|| {
            let span = Span::builder("forced")
                .tag("sampling.priority", 1)
                .start_active();
            let cx = span.context();
            assert_eq!(
                cx.as_ref().is_some_and(|c| c.is_debug()),
                tracekit::TRACE_ALL
            );
            child_call(1);
        });
        if tracekit::TRACE_ALL {
            assert_eq!(c.tree(), "forced\n  child_call\n");
            assert!(c.span("forced").tag("sampler.type").is_none());
        }
    }
    let ((), c) = capture(|| {
        let _dropped = Span::builder("dropped")
            .tag("sampling.priority", 0)
            .start_active();
        child_call(1);
        // A child can force its own subtree in.
        let _kept = Span::builder("kept").tag("sampling.priority", 2).start();
    });
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "kept\n");
    }
}

#[test]
fn a_jaeger_debug_id_starts_a_recorded_trace_whatever_the_sampler_says() {
    let _turn = serial();
    let _s = set_sampler(AlwaysOff);
    tracekit::propagation::set_propagators(Propagators::parse("tracecontext,jaeger").unwrap());
    let headers: HashMap<String, String> = [("jaeger-debug-id".into(), "abc-123".into())].into();
    let ((), c) = capture(|| {
        let span = tracekit::http::server_span("GET", "/debug", &headers);
        assert_eq!(
            span.context().is_some_and(|c| c.is_debug()),
            tracekit::TRACE_ALL
        );
    });
    tracekit::propagation::set_propagators(Propagators::default());
    if tracekit::TRACE_ALL {
        assert_eq!(
            c.span("GET /debug")
                .tag("jaeger-debug-id")
                .unwrap()
                .to_string(),
            "abc-123"
        );
    }
}

#[test]
fn otel_variables_choose_the_sampler_and_bad_values_keep_the_default() {
    let _turn = serial();
    let env = |name: &'static str, arg: Option<&'static str>| {
        move |k: &str| match k {
            "OTEL_TRACES_SAMPLER" => Some(name.to_owned()),
            "OTEL_TRACES_SAMPLER_ARG" => arg.map(str::to_owned),
            _ => None,
        }
    };
    let recorded = |s: std::sync::Arc<dyn tracekit::sampler::Sampler>| {
        let _s = set_sampler(s);
        let n = (0..2000)
            .filter(|_| Span::builder("r").root().start().is_recording())
            .count();
        let under_unsampled = Span::builder("c")
            .child_of(&remote(false))
            .start()
            .is_recording();
        (n, under_unsampled)
    };
    let get = |name, arg| sampler::from_env_lookup(env(name, arg));
    let all = if tracekit::TRACE_ALL { 2000 } else { 0 };
    assert_eq!(
        recorded(get("always_on", None).unwrap()),
        (all, tracekit::TRACE_ALL)
    );
    assert_eq!(recorded(get("always_off", None).unwrap()), (0, false));
    assert_eq!(
        recorded(get("parentbased_always_on", None).unwrap()),
        (all, false)
    );
    assert_eq!(
        recorded(get("parentbased_always_off", None).unwrap()),
        (0, false)
    );
    let (n, _) = recorded(get("traceidratio", Some("0.5")).unwrap());
    assert!(!tracekit::TRACE_ALL || (850..1150).contains(&n), "{n}");
    let (n, under) = recorded(get("parentbased_traceidratio", Some(" 0.1 ")).unwrap());
    assert!(!tracekit::TRACE_ALL || (120..300).contains(&n), "{n}");
    assert!(!under);
    // No argument: a ratio of 1.
    assert_eq!(recorded(get("traceidratio", None).unwrap()).0, all);
    for (name, arg) in [
        ("traceidratio", Some("1.5")),
        ("traceidratio", Some("half")),
        ("parentbased_traceidratio", Some("-0.1")),
        ("sometimes", None),
        ("jaeger_remote", Some("pollingIntervalMs=soon")),
        ("jaeger_remote", Some("initialSamplingRate=2")),
        ("parentbased_jaeger_remote", Some("endpoint")),
    ] {
        assert!(get(name, arg).is_none(), "{name} {arg:?} accepted");
    }
    assert!(sampler::from_env_lookup(|_| None).is_none());
}

/// The strategy a Jaeger agent serves.
fn strategy(body: &str) -> Reply {
    Reply::status(200)
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())
}

fn share_recorded(n: usize) -> f64 {
    (0..n)
        .filter(|_| Span::builder("GET /users").root().start().is_recording())
        .count() as f64
        / n as f64
}

/// Waits until `f` holds, up to `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn remote_strategies_are_followed_within_a_polling_interval_and_outages_keep_the_last() {
    let _turn = serial();
    if !tracekit::TRACE_ALL {
        return;
    }
    let stub = Stub::start([]);
    stub.reply_always(strategy(
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1.0}}"#,
    ));
    let interval = Duration::from_millis(200);
    let remote = JaegerRemote::builder("users-api")
        .endpoint(format!("{}/sampling", stub.url()))
        .polling_interval(interval)
        .initial_sampling_rate(0.0)
        .build();
    let _s = set_sampler(ParentBased::new(remote));
    // The first poll happens at once. (The waits allow a loaded machine
    // ten intervals; the elapsed time below is what the test is about.)
    assert!(eventually(interval * 10, || share_recorded(200) == 1.0));
    let line = &stub.received()[0].line;
    assert!(
        line.starts_with("GET /sampling?service=users-api "),
        "{line}"
    );

    // A change is used at the next poll: within one interval and the poll
    // itself, bounded here at five intervals for a loaded machine (the
    // default interval is a minute, so this is still the poll's doing).
    stub.reply_always(strategy(
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0}}"#,
    ));
    let t0 = Instant::now();
    assert!(eventually(interval * 10, || share_recorded(200) == 0.0));
    assert!(t0.elapsed() < interval * 5, "{:?}", t0.elapsed());

    // Per-operation: this operation at 1, others by the default (0).
    stub.reply_always(strategy(
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0},
            "operationSampling":{"defaultSamplingProbability":0.0,
              "defaultLowerBoundTracesPerSecond":0.0,
              "perOperationStrategies":[{"operation":"GET /users",
                "probabilisticSampling":{"samplingRate":1.0}}]}}"#,
    ));
    assert!(eventually(interval * 10, || share_recorded(100) == 1.0));
    assert!(!Span::builder("GET /other").root().start().is_recording());

    // An endpoint without a path is asked at `/`.
    let _bare = JaegerRemote::builder("bare")
        .endpoint(stub.url())
        .polling_interval(interval)
        .build();
    assert!(eventually(interval * 10, || stub
        .received()
        .iter()
        .any(|r| r.line.starts_with("GET /?service=bare "))));
    drop(_bare);

    // Garbage, a server error, then nobody listening: the last good
    // strategy stays, and no request waits. Each answer is asserted once
    // the next poll has come: a poller asks again only after it has dealt
    // with the answer before.
    let polls = || {
        stub.received()
            .iter()
            .filter(|r| r.line.starts_with("GET /sampling?service=users-api "))
            .count()
    };
    for reply in [strategy("{not json"), Reply::status(500)] {
        stub.reply_always(reply);
        let n = polls();
        assert!(eventually(interval * 10, || polls() > n + 1));
        assert_eq!(share_recorded(100), 1.0);
    }
    stub.stop();
    std::thread::sleep(interval * 3);
    let t0 = Instant::now();
    assert_eq!(share_recorded(1000), 1.0);
    assert!(t0.elapsed() < Duration::from_secs(1), "decisions waited");
}

#[test]
fn a_remote_sampler_with_nobody_listening_keeps_its_initial_rate() {
    let _turn = serial();
    if !tracekit::TRACE_ALL {
        return;
    }
    let port = tracekit_tests::free_port();
    let remote = JaegerRemote::builder("api")
        .endpoint(format!("http://127.0.0.1:{port}/sampling"))
        .polling_interval(Duration::from_millis(50))
        .initial_sampling_rate(1.0)
        .build();
    let _s = set_sampler(remote);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(share_recorded(200), 1.0);
}

mod db {
    #[tracekit::trace_fn]
    pub fn query(sql: &str) -> usize {
        super::cache::get(sql)
    }
}

mod cache {
    #[tracekit::trace_fn]
    pub fn get(key: &str) -> usize {
        key.len()
    }
}

#[trace_fn]
fn endpoint() -> usize {
    db::query("select 1")
}

#[test]
fn trace_points_switched_off_are_skipped_and_their_children_move_up() {
    let _turn = serial();
    let run = || capture(endpoint).1.tree();
    if !tracekit::TRACE_ALL {
        assert_eq!(run(), "");
        return;
    }
    assert_eq!(run(), "endpoint\n  query\n    get\n");
    tracekit::set_filter("sampling::db=off").unwrap();
    assert_eq!(run(), "endpoint\n  get\n");
    // Globs on the module path and on the span name; the last match wins.
    tracekit::set_filter("sampling::*=off, *::cache::get=on").unwrap();
    assert_eq!(run(), "get\n");
    tracekit::set_filter("off,query").unwrap();
    assert_eq!(run(), "query\n");
    tracekit::set_filter("").unwrap();
    assert_eq!(run(), "endpoint\n  query\n    get\n");
    // A bad filter changes nothing.
    let e = tracekit::set_filter("db=sometimes").unwrap_err();
    assert_eq!(e.directive(), "db=sometimes");
    assert_eq!(run(), "endpoint\n  query\n    get\n");

    // One point at a time, listed with its state.
    let point = |name: &str| tracekit::trace_points().find(|p| p.name() == name).unwrap();
    point("get").set_enabled(false);
    assert!(!point("get").is_enabled());
    assert_eq!(run(), "endpoint\n  query\n");
    let off: Vec<_> = tracekit::trace_points()
        .filter(|p| !p.is_enabled())
        .map(|p| p.name())
        .collect();
    assert_eq!(off, ["get"]);
    point("get").set_enabled(true);
    assert_eq!(run(), "endpoint\n  query\n    get\n");
    tracekit::set_filter("").unwrap();
}

#[test]
fn switched_off_tracing_records_nothing_and_still_hands_down_ids() {
    let _turn = serial();
    tracekit::set_enabled(false);
    assert!(!tracekit::is_enabled());
    let ((), c) = capture(|| {
        endpoint();
        let span = Span::start("explicit");
        assert!(!span.is_recording());
        // Ids still propagate, marked not sampled.
        assert_eq!(
            span.context().is_some_and(|c| !c.is_sampled()),
            tracekit::TRACE_ALL
        );
        let child = Span::builder("under remote")
            .child_of(&remote(true))
            .start();
        assert!(!child.is_recording());
    });
    tracekit::set_enabled(true);
    assert!(c.spans().is_empty());
    assert!(tracekit::trace_points().all(|p| p.is_enabled()));
    assert_eq!(
        capture(endpoint).1.spans().len(),
        if tracekit::TRACE_ALL { 3 } else { 0 }
    );
}

#[trace_fn]
async fn flaky_lookup() -> Result<u32, std::fmt::Error> {
    Err(std::fmt::Error)
}

#[trace_fn]
async fn lookup_or_default() -> u32 {
    flaky_lookup().await.unwrap_or(7)
}

#[test]
fn a_switched_off_async_fn_leaves_its_callers_span_alone() {
    let _turn = serial();
    if !tracekit::TRACE_ALL {
        return; // no trace points without `trace-all`
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let point = tracekit::trace_points()
        .find(|p| p.name() == "flaky_lookup")
        .unwrap();
    point.set_enabled(false);
    let (n, c) = capture(|| rt.block_on(lookup_or_default()));
    point.set_enabled(true);
    assert_eq!(n, 7);
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "lookup_or_default\n");
        let caller = c.span("lookup_or_default");
        assert!(
            !caller.is_error(),
            "the switched-off callee's Err marked its caller"
        );
        assert!(caller.events().is_empty());
    }
}

#[trace_fn]
fn checkout(fail: bool, wait: Duration, extra: usize) -> Result<(), std::fmt::Error> {
    for i in 0..extra {
        child_call(i as u64);
    }
    std::thread::sleep(wait);
    if fail {
        payment()?;
    }
    Ok(())
}

#[trace_fn]
fn payment() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

#[test]
fn tail_keep_reports_failed_and_slow_traces_that_head_sampling_dropped() {
    let _turn = serial();
    let _s = set_sampler(AlwaysOff);
    let _tail = set_tail_keep(
        TailKeep::new()
            // Far from the fast traces' time: a first call's set-up or a
            // stall on a loaded machine must not make one slow.
            .slower_than(Duration::from_millis(500))
            .max_spans_per_trace(10),
    );
    let before = sampler::tail_stats();
    let ((), c) = capture(|| {
        checkout(false, Duration::ZERO, 2).unwrap(); // dropped
        checkout(true, Duration::ZERO, 1).unwrap_err(); // kept: error
        checkout(false, Duration::from_millis(600), 0).unwrap(); // kept: slow
        checkout(true, Duration::ZERO, 30).unwrap_err(); // kept, cut to 10 spans
    });
    let after = sampler::tail_stats();
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let roots = c.roots();
    assert_eq!(roots.len(), 3, "{}", c.tree());
    let reasons: Vec<String> = roots
        .iter()
        .map(|r| r.tag(sampler::KEPT_TAG).unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["error", "slow", "error"]);
    // Head sampling's flag is not rewritten: the trace was not sampled
    // upstream, and the record says so.
    assert!(!roots[0].is_sampled());
    assert_eq!(c.children(roots[0]).len(), 2, "{}", c.tree());
    assert!(
        c.children(roots[0])
            .iter()
            .any(|s| s.name() == "payment" && s.is_error())
    );
    let big = roots[2];
    let in_big = c
        .spans()
        .iter()
        .filter(|s| s.trace_id() == big.trace_id())
        .count();
    assert_eq!(in_big, 10);
    assert_eq!(after.kept_traces - before.kept_traces, 3);
    assert_eq!(after.dropped_traces - before.dropped_traces, 1);
    assert_eq!(after.dropped_spans - before.dropped_spans, 32 - 10);
}

/// Fails the OpenTracing way: a tag, no `Err`.
#[trace_fn]
fn tagged_failed(fail: bool) {
    if fail {
        tracekit::current_span().set_tag("error", true);
    }
}

#[test]
fn tail_keep_keeps_a_trace_failed_by_the_error_tag() {
    let _turn = serial();
    let _s = set_sampler(AlwaysOff);
    let _tail = set_tail_keep(TailKeep::new());
    let ((), c) = capture(|| {
        tagged_failed(false); // dropped
        tagged_failed(true); // kept: error
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let roots = c.roots();
    assert_eq!(roots.len(), 1, "{}", c.tree());
    assert_eq!(
        roots[0].tag(sampler::KEPT_TAG).unwrap().to_string(),
        "error"
    );
    assert_eq!(roots[0].tag("error").unwrap().to_string(), "true");
}

#[test]
fn tail_keep_holds_a_bounded_number_of_traces() {
    let _turn = serial();
    if !tracekit::TRACE_ALL {
        return;
    }
    let _s = set_sampler(AlwaysOff);
    let _tail = set_tail_keep(TailKeep::new().max_traces(3));
    let before = sampler::tail_stats();
    let ((), c) = capture(|| {
        // Five traces open at once; each has a failed child already
        // delivered while its root is still running.
        let mut roots: Vec<Span> = (0..5)
            .map(|i| Span::builder(format!("job {i}")).start())
            .collect();
        for root in &mut roots {
            let _active = root.enter();
            let _ = payment();
        }
        tracekit::flush();
        drop(roots);
    });
    let after = sampler::tail_stats();
    assert_eq!(after.evicted_traces - before.evicted_traces, 2);
    assert_eq!(after.kept_traces - before.kept_traces, 3);
    let kept: Vec<_> = c.roots().iter().map(|r| r.name().to_owned()).collect();
    assert_eq!(kept, ["job 2", "job 3", "job 4"], "{}", c.tree());
    assert_eq!(c.spans().len(), 6);
}

/// Run by `the_environment_is_read_at_start` in a process of its own, with
/// the variables under test: prints the tree of one `endpoint()` call.
#[test]
#[ignore = "run by the_environment_is_read_at_start"]
fn env_child() {
    // The trace points' first calls, under an unsampled parent: they open no
    // span, and the filter is worked out by the first call that can record.
    {
        let mut parent = Span::builder("unsampled").child_of(&remote(false)).start();
        let _active = parent.enter();
        endpoint();
    }
    let ((), c) = capture(|| {
        endpoint();
    });
    println!("TREE={:?} ENABLED={}", c.tree(), tracekit::is_enabled());
}

#[test]
fn the_environment_is_read_at_start() {
    let full = if tracekit::TRACE_ALL {
        "endpoint\n  query\n    get\n"
    } else {
        ""
    };
    /// Variables; the tree and switch the child sees; a warning it gives.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        bool,
        &'static str,
    );
    let cases: [Case; 7] = [
        (&[], full, true, ""),
        (&[("OTEL_SDK_DISABLED", "TRUE")], "", false, ""),
        (&[("OTEL_SDK_DISABLED", "false")], full, true, ""),
        (
            &[("TRACEKIT_FILTER", "sampling::db=off")],
            if tracekit::TRACE_ALL {
                "endpoint\n  get\n"
            } else {
                ""
            },
            true,
            "",
        ),
        (
            &[("TRACEKIT_FILTER", "sampling::db=maybe")],
            full,
            true,
            "TRACEKIT_FILTER",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0"),
            ],
            "",
            true,
            "",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "bogus")],
            full,
            true,
            "OTEL_TRACES_SAMPLER",
        ),
    ];
    for (vars, tree, enabled, warning) in cases {
        // Without `trace-all` no sampler is ever asked, so none is read.
        let warning = if !tracekit::TRACE_ALL && warning.starts_with("OTEL_TRACES") {
            ""
        } else {
            warning
        };
        let mut cmd = tracekit_tests::child_test("env_child");
        cmd.arg("--ignored");
        for k in [
            "OTEL_SDK_DISABLED",
            "TRACEKIT_FILTER",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(vars.iter().copied());
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{vars:?}: {stdout}{stderr}");
        let want = format!("TREE={tree:?} ENABLED={enabled}");
        assert!(
            stdout.contains(&want),
            "{vars:?}: want {want}, got {stdout}"
        );
        if warning.is_empty() {
            assert!(!stderr.contains("tracekit:"), "{vars:?}: {stderr}");
        } else {
            assert!(
                stderr.contains(&format!("tracekit: {warning}")),
                "{vars:?}: {stderr}"
            );
        }
    }
}

/// An `async fn` that starts a trace the sampler drops, and waits: its
/// ids move out with its future and are the same after the wait.
#[test]
fn an_unsampled_call_that_waits_still_carries_its_ids() {
    let _turn = serial();
    let _sampler = set_sampler(tracekit::sampler::AlwaysOff);
    let (ids, c) = capture(|| tracekit_tests::block_on(carries()));
    assert!(c.spans().is_empty(), "nothing recorded");
    if !tracekit::TRACE_ALL {
        return;
    }
    let (before, after) = ids;
    let before = before.expect("a context before the wait");
    assert_eq!(Some(before.clone()), after, "the same span after the wait");
    assert!(!before.is_sampled());
}

#[trace_fn]
async fn carries() -> (Option<tracekit::SpanContext>, Option<tracekit::SpanContext>) {
    let before = tracekit::current_span().context();
    tracekit_tests::YieldOnce::default().await;
    (before, tracekit::current_span().context())
}

/// Under an unsampled root, a traced `async fn` opens no span of its own:
/// across a wait and a move to another worker thread its context is still
/// the root's (ids and the sampled=0 flag), and nothing is recorded.
#[test]
fn an_async_fn_under_an_unsampled_root_keeps_the_roots_context_across_threads() {
    let _turn = serial();
    let _sampler = set_sampler(tracekit::sampler::AlwaysOff);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ((root, seen), c) = capture(|| {
        rt.block_on(async {
            let root = Span::start("request");
            let root_context = root.context();
            let task = tokio::spawn(tracekit::FutureExt::in_span(hops_threads(), root));
            (root_context, task.await.unwrap())
        })
    });
    assert!(c.spans().is_empty(), "nothing recorded");
    if !tracekit::TRACE_ALL {
        return;
    }
    let root = root.expect("an unsampled root still has ids");
    assert!(!root.is_sampled());
    let (before, after) = seen;
    assert_eq!(before.as_ref(), Some(&root), "before the wait");
    assert_eq!(after.as_ref(), Some(&root), "after the wait and the hop");
}

#[trace_fn]
async fn hops_threads() -> (Option<SpanContext>, Option<SpanContext>) {
    let before = current_span().context();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    (before, current_span().context())
}
