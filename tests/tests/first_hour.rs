//! What a new user trips over in the first hour (issue 15), one test each.

use tracekit::testing::capture;
use tracekit::{Value, trace_fn};

#[trace_fn]
fn load(id: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Err(format!("no row {id}").into())
}

#[test]
fn a_boxed_error_has_a_type_name_a_person_can_read() {
    let (r, c) = capture(|| load(7));
    assert!(r.is_err());
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let event = &c.span("load").events()[0];
    assert_eq!(
        event.field("exception.type"),
        Some(&Value::from("Box<dyn Error + Send + Sync>"))
    );
    assert_eq!(
        event.field("exception.message"),
        Some(&Value::from("no row 7"))
    );
}

#[trace_fn]
fn open_config(path: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(std::fs::read_to_string(path)?)
}

#[trace_fn]
fn open_settings(path: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?)
}

#[trace_fn]
fn port(text: &str) -> anyhow_like::Result<u16> {
    Ok(text.parse::<u16>()?)
}

/// What `anyhow::Result` is to the macro: a boxed error behind `AsRef`.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[test]
fn a_boxed_standard_error_is_named_by_the_type_inside_the_box() {
    let (_, c) = capture(|| {
        let _ = open_config("/nonexistent/tracekit.toml");
        let _ = open_settings("/nonexistent/tracekit.toml");
        let _ = port("http");
    });
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let ty = |name: &str| c.span(name).events()[0].field("exception.type").cloned();
    for boxed in ["open_config", "open_settings"] {
        assert_eq!(ty(boxed), Some(Value::from("std::io::error::Error")));
    }
    assert_eq!(
        ty("port"),
        Some(Value::from("core::num::error::ParseIntError"))
    );
}

#[trace_fn]
async fn find(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id
}

#[trace_fn]
async fn handler() -> u64 {
    use tracekit::FutureExt;
    let task = tokio::spawn(async { find(2).await }.in_current_span());
    find(1).await + task.await.unwrap()
}

fn check_handler_tree(c: &tracekit::testing::Captured) {
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.spans_named("find").len(), 2);
    let handler = c.span("handler");
    for f in c.spans_named("find") {
        assert_eq!(f.parent_id(), Some(handler.span_id()));
    }
}

#[tokio::test]
async fn capture_async_on_a_current_thread_runtime() {
    let (sum, c) = tracekit::testing::capture_async(handler()).await;
    assert_eq!(sum, 3);
    check_handler_tree(&c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_async_on_a_multi_thread_runtime() {
    for _ in 0..20 {
        let (sum, c) = tracekit::testing::capture_async(async { handler().await }).await;
        assert_eq!(sum, 3);
        check_handler_tree(&c);
    }
}

/// Polls `f` to completion, each poll on a thread of its own (inside
/// `rt`'s context, so that it can spawn and sleep): the future moves to
/// another thread at every wait, whatever a scheduler would have done.
fn run_hopping<F>(rt: &tokio::runtime::Handle, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    use std::sync::{Arc, Condvar, Mutex};
    use std::task::{Context, Poll, Wake, Waker};
    struct Woken(Mutex<bool>, Condvar);
    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() = true;
            self.1.notify_one();
        }
    }
    let woken = Arc::new(Woken(Mutex::new(false), Condvar::new()));
    let waker = Waker::from(woken.clone());
    let mut f = Box::pin(f);
    loop {
        let polled = std::thread::scope(|s| {
            s.spawn(|| {
                let _rt = rt.enter();
                f.as_mut().poll(&mut Context::from_waker(&waker))
            })
            .join()
            .unwrap()
        });
        if let Poll::Ready(out) = polled {
            return out;
        }
        let mut w = woken.0.lock().unwrap();
        while !*w {
            w = woken.1.wait(w).unwrap();
        }
        *w = false;
    }
}

#[test]
fn capture_async_whose_own_future_moves_between_threads() {
    // Eight captures at once, each future polled on a new thread after
    // every wait (it used to rely on tokio moving tasks between workers,
    // which it need not do: 1 run in 6 nothing moved). Each sees its own
    // traces only, wherever it was polled.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let drivers: Vec<_> = (0..8)
            .map(|_| {
                let rt = rt.handle();
                s.spawn(move || {
                    let mut threads = std::collections::HashSet::new();
                    let (sum, c) = run_hopping(
                        rt,
                        tracekit::testing::capture_async(async {
                            let mut sum = 0;
                            for _ in 0..5 {
                                threads.insert(std::thread::current().id());
                                sum += handler().await;
                                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                                // Pending once for sure: the next round runs
                                // on another thread.
                                tracekit_tests::YieldOnce::default().await;
                            }
                            threads.insert(std::thread::current().id());
                            sum
                        }),
                    );
                    (sum, c, threads.len())
                })
            })
            .collect();
        drivers.into_iter().map(|d| d.join().unwrap()).collect()
    });
    for (sum, c, threads) in results {
        assert_eq!(sum, 15);
        // At least one wait a round, each followed by a poll elsewhere.
        assert!(threads >= 6, "polled on {threads} threads");
        if cfg!(feature = "trace-all") {
            assert_eq!(c.spans_named("handler").len(), 5);
            assert_eq!(c.roots().len(), 5, "its own five traces, no one else's");
        } else {
            assert!(c.spans().is_empty());
        }
    }
}

#[test]
fn capture_of_a_future_that_never_ran_fails_loudly() {
    if !cfg!(feature = "trace-all") {
        return;
    }
    let panic = std::panic::catch_unwind(|| {
        let (_future, _c) = capture(|| find(7));
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("capture_async"), "{message}");
    assert!(message.contains("find"), "{message}");
}

#[trace_fn]
fn greet(name: Option<&str>, count: Option<u64>, missing: Option<u64>) -> usize {
    name.map_or(0, str::len) + count.unwrap_or(0) as usize + missing.unwrap_or(0) as usize
}

#[test]
fn options_are_recorded_as_their_value_and_none_is_left_out() {
    let (_, c) = capture(|| greet(Some("ann"), Some(3), None));
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("greet");
    assert_eq!(s.tag("name"), Some(&Value::from("ann")));
    assert_eq!(s.tag("count"), Some(&Value::U64(3)));
    assert_eq!(s.tag("missing"), None);
}

#[trace_fn(ret, fields(nick = nick_of(id), none = nick_of(0)))]
fn lookup(id: u64, alias: &Option<String>) -> Option<u64> {
    alias.as_ref().map(|_| id)
}

#[trace_fn(ret)]
fn parse_opt(text: &str) -> Result<Option<u64>, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some)
}

// Only called by `fields(...)`, which is not expanded with tracing off.
#[cfg_attr(not(feature = "trace-all"), allow(dead_code))]
fn nick_of(id: u64) -> Option<&'static str> {
    (id != 0).then_some("bo")
}

#[test]
fn options_in_fields_return_values_and_borrowed_arguments_read_as_their_value() {
    let alias = Some("b".to_owned());
    let (_, c) = capture(|| {
        lookup(7, &alias);
        lookup(8, &None);
        parse_opt("42").unwrap();
        parse_opt("").unwrap();
    });
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let calls: Vec<_> = c.spans().iter().filter(|s| s.name() == "lookup").collect();
    assert_eq!(calls[0].tag("alias"), Some(&Value::from("b")));
    assert_eq!(calls[0].tag("return"), Some(&Value::U64(7)));
    assert_eq!(calls[0].tag("nick"), Some(&Value::from("bo")));
    assert_eq!(calls[0].tag("none"), None, "a None field is left out");
    assert_eq!(calls[1].tag("alias"), None);
    assert_eq!(calls[1].tag("return"), None, "a None return is left out");
    let parses: Vec<_> = c
        .spans()
        .iter()
        .filter(|s| s.name() == "parse_opt")
        .collect();
    assert_eq!(parses[0].tag("return"), Some(&Value::U64(42)));
    assert_eq!(parses[1].tag("return"), None);
}

#[derive(Debug)]
#[allow(dead_code)]
struct Blob(Vec<u8>);

#[trace_fn]
fn store(blob: &Blob) -> usize {
    blob.0.len()
}

#[test]
fn huge_debug_text_is_cut() {
    let blob = Blob(vec![7; 10_000_000]);
    let (n, c) = capture(|| store(&blob));
    assert_eq!(n, 10_000_000);
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let text = c.span("store").tag("blob").unwrap().to_string();
    assert!(text.starts_with("Blob([7, 7, 7"), "{}", &text[..40]);
    assert!(text.ends_with('…'));
    assert!(text.len() <= tracekit::MAX_TEXT_LEN + '…'.len_utf8());
}

#[trace_fn]
async fn spawned(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_spawn_keeps_the_trace_and_tokio_spawn_does_not() {
    use tracekit::FutureExt;
    // The plain-spawned task's span is in no capture (it is in no trace of
    // the test's), so a reporter is what sees it.
    let everything = tracekit::InMemoryReporter::new();
    let _guard = tracekit::set_reporter(everything.clone());
    let ((), c) = tracekit::testing::capture_async(async {
        async {
            tracekit::task::spawn(spawned(1)).await.unwrap();
            // A plain tokio::spawn: the task has no current span.
            tokio::spawn(spawned(2)).await.unwrap();
        }
        .in_span(tracekit::Span::start("request"))
        .await
    })
    .await;
    tracekit::flush();
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        assert!(everything.spans().is_empty(), "nothing reported");
        return;
    }
    let request = c.span("request");
    let kept = c.spans_named("spawned");
    assert_eq!(kept.len(), 1, "only the task::spawn one is in the trace");
    assert_eq!(kept[0].parent_id(), Some(request.span_id()));
    assert_eq!(kept[0].tag("id"), Some(&Value::U64(1)));
    let reported = everything.spans();
    let lost = reported
        .iter()
        .find(|s| s.name() == "spawned" && s.tag("id") == Some(&Value::U64(2)))
        .expect("the plain-spawned call is reported");
    assert_eq!(lost.parent_id(), None, "a new root");
    assert_ne!(lost.trace_id(), request.trace_id(), "a new trace");
}

/// The console names the service as the OTLP exporter does, from the
/// environment the program starts with (a child process, so the variables
/// are its own).
#[test]
fn the_console_names_the_service_from_the_environment() {
    if std::env::var_os("TK_CONSOLE_CHILD").is_some() {
        let _reporter = tracekit::set_reporter(tracekit::ConsoleReporter::stdout());
        drop(tracekit::start_active_span("checkout"));
        return;
    }
    let run = |vars: &[(&str, &str)]| {
        let mut cmd =
            tracekit_tests::child_test("the_console_names_the_service_from_the_environment");
        cmd.env("TK_CONSOLE_CHILD", "1")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_RESOURCE_ATTRIBUTES");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the child runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let named = run(&[("OTEL_SERVICE_NAME", "cart-api")]);
    let from_attributes = run(&[("OTEL_RESOURCE_ATTRIBUTES", "team=a,service.name=pay%20api")]);
    let unnamed = run(&[]);
    if !cfg!(feature = "trace-all") {
        assert!(!named.contains("checkout"), "nothing printed: {named}");
        return;
    }
    assert!(named.contains("[cart-api]"), "{named}");
    assert!(from_attributes.contains("[pay api]"), "{from_attributes}");
    assert!(unnamed.contains("checkout"), "{unnamed}");
    assert!(
        !unnamed.contains('['),
        "no name without the variables: {unnamed}"
    );
}
