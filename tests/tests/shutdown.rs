//! A process stopped by SIGTERM or SIGINT with spans still waiting in the
//! exporter's batch (as under OTLP's 5 s delay): without a shutdown path they are
//! lost; with `tracekit::signal::shutdown_on_signal` every one is written
//! before the process exits with 128 + the signal's number.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "TRACEKIT_SHUTDOWN_CHILD";
const OUT: &str = "TRACEKIT_SHUTDOWN_OUT";

/// The program under test, run in a child process by the tests below: it
/// exports to a file with a batch delay no test outlasts, finishes some spans,
/// says "ready" and serves forever.
#[test]
fn child_program() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let path = std::env::var(OUT).expect("output path");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let file = tracekit_otlp::FileExporter::create(&path, tracekit_otlp::Resource::new("svc"))
            .expect("file");
        // A batch that waits for nothing but a shutdown: the default 5 s
        // delay could pass, on a loaded machine, between "ready" and the
        // signal, and export what the tests without a shutdown path expect
        // lost.
        let config = tracekit::BatchConfig {
            scheduled_delay: Duration::from_secs(600),
            ..tracekit::BatchConfig::default()
        };
        let guard = tracekit::set_reporter(tracekit::BatchReporter::new(file, config));
        match mode.as_str() {
            "helper" => tracekit::signal::shutdown_on_signal(guard).expect("handlers"),
            // No shutdown path: the guard would drop at the end of main,
            // which a signal never reaches.
            _ => std::mem::forget(guard),
        }
        for i in 0..3 {
            let _request = tracekit::Span::start(format!("request-{i}"));
        }
        // No flush: that would export at once. The spans wait in the
        // exporter's batch, as a live service's do.
        tokio::time::sleep(Duration::from_millis(200)).await;
        println!("\nready");
        if mode == "exit" {
            // Ending the process past the guard, as `process::exit` does.
            std::process::exit(0);
        }
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
}

/// Runs the child, sends `signal` once it is ready, and returns how it
/// ended with what it exported.
fn run_child(mode: &str, signal: &str) -> (ExitStatus, String) {
    let out = std::env::temp_dir().join(format!(
        "tracekit-shutdown-{}-{mode}-{signal}.jsonl",
        std::process::id()
    ));
    let mut child = tracekit_tests::child_test("child_program")
        .env(CHILD, mode)
        .env(OUT, &out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert!(
        lines.any(|l| l.map(|l| l.trim() == "ready").unwrap_or(false)),
        "the child never got ready"
    );
    if !signal.is_empty() {
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the child did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let exported = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    (status, exported)
}

fn exported_names(exported: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in exported.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).expect("an OTLP JSON line");
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    names.push(span["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    names.sort();
    names
}

#[test]
fn without_a_shutdown_path_a_sigterm_loses_the_batch() {
    let (status, exported) = run_child("none", "TERM");
    assert_eq!(status.signal(), Some(15), "killed by SIGTERM: {status:?}");
    assert_eq!(exported_names(&exported), Vec::<String>::new());
}

#[test]
fn process_exit_past_the_guard_loses_the_batch() {
    // What the README warns about: nothing runs the guard's drop.
    let (status, exported) = run_child("exit", "");
    assert_eq!(status.code(), Some(0));
    assert_eq!(exported_names(&exported), Vec::<String>::new());
}

#[test]
fn shutdown_on_signal_exports_everything_on_sigterm() {
    let (status, exported) = run_child("helper", "TERM");
    assert_eq!(status.code(), Some(143), "{status:?}");
    let want: Vec<String> = if cfg!(feature = "trace-all") {
        (0..3).map(|i| format!("request-{i}")).collect()
    } else {
        Vec::new()
    };
    assert_eq!(exported_names(&exported), want);
}

#[test]
fn shutdown_on_signal_exports_everything_on_sigint() {
    let (status, exported) = run_child("helper", "INT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let expected = if cfg!(feature = "trace-all") { 3 } else { 0 };
    assert_eq!(exported_names(&exported).len(), expected);
}

#[test]
fn outside_a_runtime_the_helper_says_so() {
    let guard = tracekit::set_reporter(tracekit::InMemoryReporter::new());
    let err = tracekit::signal::shutdown_on_signal(guard).expect_err("no runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[test]
fn terminated_resolves_on_sigint() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let waiting = tokio::spawn(tracekit::signal::terminated());
        // The handlers are registered on the task's first poll; give it a
        // turn, then signal this very process (the handler replaces the
        // default action, so the test runner lives on).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let pid = std::process::id().to_string();
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("resolved within 10 s")
            .expect("joined");
    });
}

#[test]
fn a_runtime_without_its_io_driver_is_an_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let guard = tracekit::set_reporter(tracekit::InMemoryReporter::new());
        let err = tracekit::signal::shutdown_on_signal(guard).expect_err("no I/O driver");
        assert!(err.to_string().contains("enable_all"), "{err}");
    });
}
