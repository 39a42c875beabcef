//! `tracekit-log` around `env_logger` as a user gets it: without its `kv`
//! feature (this crate depends on env_logger with no features at all, so
//! nothing in the build turns it on). Its default format then prints no
//! key-values, so no ids; tracekit's format, `init_env_logger()` and
//! `init()` print them. Installing a logger is once per process, so each
//! installation runs in a child process of its own.

use log::Log;
use std::process::Output;
use tracekit_tests::SharedBuffer;

const MODE: &str = "TRACEKIT_LOG_CHILD";

/// One log line through `TraceLogger` around `inner`, inside a span with a
/// request id, without installing anything; what `pipe` got.
fn one_line(
    inner: env_logger::Logger,
    pipe: &SharedBuffer,
) -> (String, Option<tracekit::SpanContext>) {
    let logger = tracekit_log::TraceLogger::new(inner);
    let span = tracekit::start_active_span("request");
    span.set_baggage_item("request.id", "r-5");
    logger.log(
        &log::Record::builder()
            .args(format_args!("inside"))
            .level(log::Level::Info)
            .target("shop")
            .build(),
    );
    logger.flush();
    (pipe.text(), span.context())
}

fn assert_ids(line: &str, cx: Option<tracekit::SpanContext>) {
    assert!(line.contains("inside"), "{line}");
    match cx {
        Some(cx) => {
            assert!(
                line.contains(&format!("trace_id={}", cx.trace_id())),
                "{line}"
            );
            assert!(
                line.contains(&format!("span_id={}", cx.span_id())),
                "{line}"
            );
            assert!(line.contains("request.id=r-5"), "{line}");
        }
        None => assert!(!line.contains("trace_id="), "{line}"),
    }
}

#[test]
fn env_loggers_own_format_without_kv_drops_the_ids_the_trap_the_readme_names() {
    let pipe = SharedBuffer::default();
    let inner = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(pipe.clone())))
        .build();
    let (line, _) = one_line(inner, &pipe);
    assert!(line.contains("inside"), "{line}");
    // Were env_logger's `kv` feature on in this build, its format would
    // print them: this also shows the test runs without it.
    assert!(!line.contains("trace_id="), "{line}");
}

#[test]
fn tracekits_format_in_env_logger_prints_the_ids_without_kv() {
    let pipe = SharedBuffer::default();
    let inner = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .format(|buf, record| tracekit_log::format(buf, record))
        .target(env_logger::Target::Pipe(Box::new(pipe.clone())))
        .build();
    let (line, cx) = one_line(inner, &pipe);
    assert!(line.contains(" INFO  shop: inside"), "{line}");
    assert_ids(&line, cx);
}

/// The programs the tests below run in children.
#[test]
fn child_program() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    match mode.as_str() {
        "init_env_logger" => tracekit_log::init_env_logger().unwrap(),
        "init" => tracekit_log::init().unwrap(),
        // env_logger's builder with no filter keeps only errors.
        "unfiltered" => tracekit_log::TraceLogger::new(env_logger::Builder::new().build())
            .install(log::LevelFilter::Info)
            .unwrap(),
        other => panic!("unknown mode {other}"),
    }
    log::info!("outside");
    let span = tracekit::start_active_span("request");
    span.set_baggage_item("request.id", "r-7");
    log::info!("inside");
    if let Some(cx) = span.context() {
        println!("trace_id={} span_id={}", cx.trace_id(), cx.span_id());
    }
    // One of tracekit's own messages: a bad setting it ignores.
    let _ = tracekit::BatchConfig::from_lookup(|k| {
        (k == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| "lots".to_owned())
    });
    log::logger().flush();
}

fn child(mode: &str, rust_log: Option<&str>) -> Output {
    let mut cmd = tracekit_tests::child_test("child_program");
    cmd.env(MODE, mode);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    let out = cmd.output().expect("the child runs");
    assert!(out.status.success(), "{out:?}");
    out
}

/// The ids the child printed, and its stderr.
fn ids_and_log(out: &Output) -> (Option<String>, String) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The test harness's own "test child_program ... " may start the line.
    let ids = stdout
        .lines()
        .find_map(|l| l.find("trace_id=").map(|at| l[at..].trim().to_owned()));
    (ids, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_logged_with_ids(out: &Output) {
    let (ids, log) = ids_and_log(out);
    let inside = log
        .lines()
        .find(|l| l.contains("inside"))
        .unwrap_or_else(|| panic!("an info line at the default level: {log}"));
    match ids {
        Some(ids) => {
            for id in ids.split(' ') {
                assert!(inside.contains(id), "{inside}");
            }
            assert!(inside.contains("request.id=r-7"), "{inside}");
        }
        None => assert!(!inside.contains("trace_id="), "{inside}"),
    }
    let outside = log
        .lines()
        .find(|l| l.contains("outside"))
        .expect("outside");
    assert!(!outside.contains("trace_id="), "{outside}");
    // tracekit's own warning came through the logger, as a record of
    // target `tracekit`, not as a raw line.
    let warning = log
        .lines()
        .find(|l| l.contains("OTEL_BSP_MAX_QUEUE_SIZE"))
        .unwrap_or_else(|| panic!("tracekit's warning: {log}"));
    assert!(warning.contains(" WARN  tracekit: "), "{warning}");
}

#[test]
fn init_env_logger_logs_info_with_the_ids_when_rust_log_is_unset() {
    assert_logged_with_ids(&child("init_env_logger", None));
}

#[test]
fn init_logs_info_with_the_ids_when_rust_log_is_unset() {
    assert_logged_with_ids(&child("init", None));
}

#[test]
fn init_follows_rust_log() {
    let (_, log) = ids_and_log(&child("init", Some("warn")));
    assert!(!log.contains("inside"), "{log}");
    assert!(log.contains(" WARN  tracekit: "), "{log}");
}

#[test]
fn installing_over_a_logger_that_keeps_only_errors_says_so() {
    let (_, log) = ids_and_log(&child("unfiltered", None));
    assert!(
        log.contains("tracekit-log: installed for INFO records, but the wrapped logger drops them"),
        "{log}"
    );
    assert!(!log.contains("inside"), "{log}");
}
