//! Switching metrics: `TRACEKIT_METRICS` (in child processes: the switch is
//! read once per process), tail keep's drops still counted, and the series
//! limit with its overflow series.

use tracekit::metrics;

const MODE: &str = "TRACEKIT_METRICS_TEST_CHILD";

#[tracekit::trace_fn]
fn job(i: u64) -> u64 {
    i + 1
}

/// The child: says whether metrics are on after installing a reporter and
/// asking for them in code, and how many calls were counted.
#[test]
#[ignore = "run by the_environment_switches_metrics"]
fn child_program() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let _guard = tracekit::set_reporter(tracekit::InMemoryReporter::new());
    let after_install = metrics::enabled();
    if mode == "code" {
        metrics::set_enabled(true);
    }
    for i in 0..5 {
        job(i);
    }
    let calls = metrics::snapshot().function("job").map_or(0, |f| f.calls());
    println!("OUTCOME {} {} {calls}", after_install, metrics::enabled());
}

fn run(env: &[(&str, &str)], mode: &str) -> String {
    let mut cmd = tracekit_tests::child_test("child_program");
    cmd.arg("--ignored").env(MODE, mode);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split("OUTCOME ").nth(1).map(|o| o.trim().to_owned()))
        .unwrap_or_else(|| panic!("no outcome in {stdout}"))
}

#[test]
fn the_environment_switches_metrics() {
    let on = tracekit::TRACE_ALL;
    let calls = if on { "5" } else { "0" };
    // Unset: off until the code asks.
    assert_eq!(run(&[], "none"), "false false 0");
    assert_eq!(run(&[], "code"), format!("false {on} {calls}"));
    // `on`: on as soon as a reporter is installed.
    assert_eq!(
        run(&[("TRACEKIT_METRICS", "on")], "none"),
        format!("{on} {on} {calls}")
    );
    // `off`: off whatever the code says.
    assert_eq!(run(&[("TRACEKIT_METRICS", "off")], "code"), "false false 0");
    // A bad value: as if unset (with a warning).
    assert_eq!(
        run(&[("TRACEKIT_METRICS", "sometimes")], "none"),
        "false false 0"
    );
}

#[tracekit::trace_fn]
fn maybe_slow(i: u64) -> u64 {
    i * 3
}

#[test]
fn calls_whose_traces_tail_keep_drops_are_counted() {
    // Head sampling drops every trace; tail keep records them to decide,
    // keeps only those with errors (none here), and drops the rest.
    let _sampler = tracekit::sampler::set_sampler(tracekit::sampler::AlwaysOff);
    let _tail = tracekit::sampler::set_tail_keep(tracekit::sampler::TailKeep::new());
    let _guard = tracekit::set_reporter(tracekit::InMemoryReporter::new());
    metrics::set_enabled(true);
    for i in 0..500 {
        maybe_slow(i);
    }
    let snapshot = metrics::snapshot();
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(snapshot.function("maybe_slow").unwrap().calls(), 500);
    let stats = tracekit::sampler::tail_stats();
    assert!(stats.dropped_traces >= 500, "{stats:?}");
}

#[test]
fn request_series_past_the_limit_share_an_overflow_series() {
    metrics::set_enabled(true);
    // Each route a series of its own, far past the limit of 2,000.
    for route in 0..2_100 {
        let mut span = tracekit::http::server_span("GET", &format!("/r{route}"), &Vec::new());
        tracekit::http::set_status_code(&mut span, 200);
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = metrics::snapshot();
    let own = snapshot
        .requests()
        .iter()
        .filter(|r| !r.is_overflow())
        .count();
    let overflow: Vec<_> = snapshot
        .requests()
        .iter()
        .filter(|r| r.is_overflow())
        .collect();
    assert_eq!(own, 2_000);
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].calls(), 100);
    assert_eq!(overflow[0].instrument(), "http.server.request.duration");
    assert_eq!(
        overflow[0]
            .attributes()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["otel.metric.overflow=true"]
    );
}
