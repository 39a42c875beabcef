//! Issue 27, part 3: a shutdown with one deadline. With the backend down
//! (a closed port) or hung (a receiver that accepts and never answers), a
//! program stopping with thousands of spans buffered used to wait out the
//! export timeout once per 512-span batch: 109.6 s for 5,000 spans. Now
//! the whole shutdown (every batch, every retry) ends by one deadline,
//! `OTEL_BSP_EXPORT_TIMEOUT` or 5 s, and says how many spans it could not
//! deliver; and a second SIGTERM or SIGINT during it exits at once.
//!
//! Each scenario runs in a child process, as a service would. Times are
//! checked as liveness bounds with several seconds of slack, never as
//! performance figures.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MODE: &str = "TRACEKIT_DEADLINE_CHILD";
const SPANS: usize = 5_000;

/// The program under test, in a child: an OTLP reporter to
/// `OTEL_EXPORTER_OTLP_ENDPOINT` holding 5,000 finished spans (the batch
/// delay is long and a batch holds all of them, so none leaves before the
/// shutdown), then one of three ways to stop.
#[test]
fn child_program() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let reporter = tracekit_otlp::reporter(tracekit_otlp::OtlpConfig::from_env());
        let guard = tracekit::set_reporter(reporter);
        for i in 0..SPANS {
            drop(tracekit::Span::start(format!("job-{i}")));
        }
        match mode.as_str() {
            "guard" => {
                let t0 = Instant::now();
                guard.shutdown();
                println!("\nshutdown took {} ms", t0.elapsed().as_millis());
            }
            "helper" => {
                tracekit::signal::shutdown_on_signal(guard).expect("handlers");
                println!("\nready");
                std::future::pending::<()>().await;
            }
            // A service's graceful path, its guard dropped on the runtime's
            // own thread, which blocks the runtime while it runs.
            "terminated" => {
                // Its handlers are set up on its first poll: poll it once
                // before saying "ready", or a quick signal would find the
                // default action still in place.
                let mut stop = std::pin::pin!(tracekit::signal::terminated());
                std::future::poll_fn(|cx| {
                    let _ = stop.as_mut().poll(cx);
                    std::task::Poll::Ready(())
                })
                .await;
                println!("\nready");
                stop.await;
                println!("\nstopping");
                drop(guard);
            }
            other => panic!("unknown mode {other}"),
        }
    });
}

/// A receiver that accepts connections and never answers; counts them.
fn silent_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    (url, accepted)
}

fn child(mode: &str, endpoint: &str, timeout_ms: u64) -> Child {
    tracekit_tests::child_test("child_program")
        .env(MODE, mode)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_BSP_EXPORT_TIMEOUT", timeout_ms.to_string())
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "8192")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8192")
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("OTEL_SERVICE_NAME", "deadline")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child")
}

/// Waits for the child to end, failing past `limit`; returns its status,
/// stdout and stderr.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the child did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).ok();
    }
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err).ok();
    }
    (status, out, err)
}

/// The guard's shutdown took at most `deadline` plus a second, and said
/// that all 5,000 spans were not delivered.
fn assert_bounded_shutdown(out: &str, err: &str, deadline_ms: u128) {
    let took: u128 = out
        .lines()
        .find_map(|l| l.strip_prefix("shutdown took "))
        .and_then(|l| l.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("no time printed: {out}\n{err}"));
    if !tracekit::TRACE_ALL {
        assert!(took < 1_000, "nothing to export: {took} ms");
        assert!(!err.contains("not exported"), "{err}");
        return;
    }
    assert!(
        took <= deadline_ms + 1_000,
        "the shutdown took {took} ms, past its {deadline_ms} ms deadline\n{err}"
    );
    assert!(
        err.contains(&format!("{SPANS} of {SPANS} spans were not exported")),
        "the loss is said: {err}"
    );
}

#[test]
fn with_the_backend_down_the_shutdown_ends_by_its_deadline() {
    // A port nothing listens on: every try is refused at once, and retried.
    let dead = format!("http://127.0.0.1:{}", tracekit_tests::free_port());
    let (status, out, err) = finish(child("guard", &dead, 2_000), Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{err}");
    assert_bounded_shutdown(&out, &err, 2_000);
}

#[test]
fn with_a_receiver_that_never_answers_the_shutdown_ends_by_its_deadline() {
    let (url, accepted) = silent_receiver();
    let (status, out, err) = finish(child("guard", &url, 2_000), Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{err}");
    assert_bounded_shutdown(&out, &err, 2_000);
    if tracekit::TRACE_ALL {
        assert!(accepted.load(Ordering::SeqCst) > 0, "an export was tried");
    }
}

/// Starts `mode` against a silent receiver with a long deadline, sends the
/// first signal once it is ready, and the second once an export hangs.
fn second_signal(mode: &str, first: &str, second: &str) -> (ExitStatus, String) {
    let (url, accepted) = silent_receiver();
    let mut child = child(mode, &url, 120_000);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.trim() == "ready")),
        "the child never got ready"
    );
    let kill = |signal: &str| {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal}");
    };
    kill(first);
    if !tracekit::TRACE_ALL {
        // Nothing to export: the first signal is enough.
        let (status, _, err) = finish(child, Duration::from_secs(20));
        return (status, err);
    }
    // The shutdown is under way once its first export is stuck.
    let start = Instant::now();
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no export began");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(second);
    let (status, _, err) = finish(child, Duration::from_secs(20));
    (status, err)
}

#[test]
fn a_second_signal_during_shutdown_on_signal_exits_at_once() {
    let (status, err) = second_signal("helper", "INT", "TERM");
    if !tracekit::TRACE_ALL {
        assert_eq!(status.code(), Some(130), "{status:?}\n{err}");
        return;
    }
    assert_eq!(status.code(), Some(143), "{status:?}\n{err}");
    let line = err
        .lines()
        .find(|l| l.contains("second SIGTERM: exiting now"))
        .unwrap_or_else(|| panic!("the exit is said: {err}"));
    let n: u64 = line
        .split("; ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count: {line}"));
    assert!(n > 0 && n <= SPANS as u64, "{line}");
}

#[test]
fn a_second_signal_during_a_graceful_shutdown_exits_at_once() {
    let (status, err) = second_signal("terminated", "TERM", "INT");
    if !tracekit::TRACE_ALL {
        assert!(status.success(), "{status:?}\n{err}");
        return;
    }
    assert_eq!(status.code(), Some(130), "{status:?}\n{err}");
    assert!(err.contains("second SIGINT: exiting now"), "{err}");
    assert_eq!(status.signal(), None);
}

/// Two signals sent back to back, before the first can have been handled:
/// the second is not lost in the hand-over from the first signal's
/// listener to the one that waits for a second, so the process ends at
/// once instead of waiting out its two-minute export deadline.
#[test]
fn two_signals_back_to_back_end_the_process_at_once() {
    let (url, _accepted) = silent_receiver();
    let mut child = child("helper", &url, 120_000);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.trim() == "ready")),
        "the child never got ready"
    );
    let ok = Command::new("sh")
        .args(["-c", &format!("kill -INT {0}; kill -TERM {0}", child.id())])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill");
    let (status, _, err) = finish(child, Duration::from_secs(20));
    // Both may be pending when the first is read, in either order.
    let code = status.code();
    assert!(matches!(code, Some(130 | 143)), "{status:?}\n{err}");
    if tracekit::TRACE_ALL {
        // (With nothing to export the first signal alone ends it.)
        assert!(err.contains(": exiting now;"), "{err}");
    }
}
