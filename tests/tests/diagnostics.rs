//! tracekit's own messages through a sink of the program's
//! (`set_diagnostics`), as `tracekit-log` sets one: warnings, debug
//! messages only when the sink wants them, the hint that a traced call
//! outside any span started a trace of its own (once per function), and a
//! sink whose own code makes tracekit speak again. One sink per process:
//! this binary's tests share it, each looking for its own messages.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tracekit::{DiagnosticLevel, Diagnostics, trace_fn};
use tracekit_tests::env_of;

static SAID: Mutex<Vec<(DiagnosticLevel, String)>> = Mutex::new(Vec::new());
static DEBUG: AtomicBool = AtomicBool::new(true);

struct Collect;

impl Diagnostics for Collect {
    fn enabled(&self, level: DiagnosticLevel) -> bool {
        level == DiagnosticLevel::Warn || DEBUG.load(Ordering::Relaxed)
    }

    fn message(&self, level: DiagnosticLevel, message: &std::fmt::Arguments<'_>) {
        let text = message.to_string();
        if text.contains("make tracekit speak") {
            // A sink that logs through code which makes tracekit speak in
            // turn: that goes to stderr, not round again.
            let _ = tracekit::BatchConfig::from_lookup(|k| {
                (k == "OTEL_BSP_EXPORT_TIMEOUT").then(|| "never".to_owned())
            });
        }
        SAID.lock().unwrap().push((level, text));
    }
}

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracekit::set_diagnostics(Collect).unwrap());
}

fn said(containing: &str) -> Vec<(DiagnosticLevel, String)> {
    SAID.lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(containing))
        .cloned()
        .collect()
}

#[test]
fn a_second_sink_is_refused_and_the_first_stays() {
    install();
    struct Other;
    impl Diagnostics for Other {
        fn enabled(&self, _: DiagnosticLevel) -> bool {
            true
        }
        fn message(&self, _: DiagnosticLevel, _: &std::fmt::Arguments<'_>) {}
    }
    assert!(tracekit::set_diagnostics(Other).is_err());
    let _ = tracekit::BatchConfig::from_lookup(|k| {
        (k == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| "second-sink".to_owned())
    });
    assert_eq!(said("second-sink").len(), 1);
}

#[test]
fn warnings_go_to_the_sink_without_the_stderr_prefix() {
    install();
    let _ = tracekit::BatchConfig::from_lookup(|k| {
        (k == "OTEL_BSP_SCHEDULE_DELAY").then(|| "soon".to_owned())
    });
    let got = said("OTEL_BSP_SCHEDULE_DELAY");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, DiagnosticLevel::Warn);
    assert_eq!(
        got[0].1,
        "OTEL_BSP_SCHEDULE_DELAY=\"soon\" is not a positive integer; using 5000"
    );
}

#[test]
fn a_bad_otlp_metrics_variable_is_named_in_its_warning_once() {
    install();
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "5s-for-metrics"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc-for-metrics"),
        ("OTEL_BSP_SCHEDULE_DELAY", "later-for-metrics"),
    ]);
    let _ = tracekit_otlp::__test::metrics_config(&env);
    for (value, variable) in [
        ("5s-for-metrics", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"),
        ("grpc-for-metrics", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
    ] {
        let got = said(value);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].1.contains(&format!("{variable}=\"{value}\"")),
            "{got:?}"
        );
    }
    assert!(
        said("later-for-metrics").is_empty(),
        "metrics read no span batching variable"
    );
}

#[trace_fn]
fn refresh_cache() -> u32 {
    1
}

#[trace_fn]
fn in_a_request() -> u32 {
    2
}

#[test]
fn a_traced_call_outside_any_span_is_pointed_out_once_at_debug_level() {
    install();
    refresh_cache();
    refresh_cache();
    {
        let _request = tracekit::start_active_span("request");
        in_a_request();
    }
    let hints = said("was called outside any span");
    let about = |name: &str| {
        hints
            .iter()
            .filter(|(_, m)| m.starts_with(&format!("`{name}`")))
            .count()
    };
    if !tracekit::TRACE_ALL {
        assert!(hints.is_empty());
        return;
    }
    assert_eq!(about("refresh_cache"), 1, "{hints:?}");
    assert_eq!(about("in_a_request"), 0, "{hints:?}");
    assert!(hints.iter().all(|(l, _)| *l == DiagnosticLevel::Debug));
    assert!(hints[0].1.contains("tracekit::task::spawn"), "{hints:?}");
}

#[test]
fn a_sink_whose_code_makes_tracekit_speak_does_not_loop() {
    install();
    let _ = tracekit::BatchConfig::from_lookup(|k| {
        (k == "OTEL_BSP_MAX_EXPORT_BATCH_SIZE").then(|| "make tracekit speak".to_owned())
    });
    // The message that made the sink speak arrived once; the one said
    // from inside the sink went to stderr instead.
    assert_eq!(said("make tracekit speak").len(), 1);
    assert!(said("OTEL_BSP_EXPORT_TIMEOUT").is_empty());
}

#[test]
fn otlp_over_grpc_is_said_to_need_the_http_port() {
    install();
    let env = env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC")]);
    let c = tracekit_otlp::OtlpConfig::from_lookup(&env);
    assert_eq!(c.protocol, tracekit_otlp::Protocol::HttpProtobuf);
    let got = said("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\"");
    assert!(!got.is_empty(), "{got:?}");
    assert!(got[0].1.contains("4318"), "{got:?}");
}

#[test]
fn an_unknown_metrics_exporter_is_said_not_silently_dropped() {
    install();
    let env = env_of(&[
        ("OTEL_METRICS_EXPORTER", "otlp_http-typo"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
    ]);
    assert!(!tracekit_otlp::__test::metrics_wanted(&env));
    let got = said("otlp_http-typo");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].1.contains("OTEL_METRICS_EXPORTER"), "{got:?}");
    // An empty item of the list (a trailing comma) is no name at all.
    let trailing = env_of(&[
        ("OTEL_METRICS_EXPORTER", "otlp, "),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
    ]);
    assert!(tracekit_otlp::__test::metrics_wanted(&trailing));
    assert!(said("names \"\"").is_empty());
}
