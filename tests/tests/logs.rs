//! Log lines that carry the trace (`tracekit-log`): ids and the request id on
//! every line logged inside a span, warnings and errors as span events. One
//! `log` logger serves a whole test binary, so each test reads only the lines
//! its own thread logged.

use log::LevelFilter;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use tracekit::testing::capture;
use tracekit::{SpanContext, SpanId, TraceId, Value, http, messaging};

/// A plain-text logger keeping each thread's lines (what a user's logger
/// would print, through `tracekit_log::format`).
struct Lines(Mutex<Vec<(ThreadId, String)>>);

impl log::Log for Lines {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut line = Vec::new();
        tracekit_log::format(&mut line, record).unwrap();
        let line = String::from_utf8(line).unwrap();
        let me = std::thread::current().id();
        self.0.lock().unwrap().push((me, line));
    }

    fn flush(&self) {}
}

fn lines() -> &'static Lines {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // The wrapper owns a logger that forwards to the shared one.
        struct Shared;
        impl log::Log for Shared {
            fn enabled(&self, m: &log::Metadata<'_>) -> bool {
                log::Log::enabled(shared(), m)
            }
            fn log(&self, r: &log::Record<'_>) {
                log::Log::log(shared(), r)
            }
            fn flush(&self) {}
        }
        tracekit_log::TraceLogger::new(Shared)
            .install(LevelFilter::Info)
            .unwrap();
    });
    shared()
}

fn shared() -> &'static Lines {
    static LINES: Lines = Lines(Mutex::new(Vec::new()));
    &LINES
}

/// The lines this thread logged since the last call.
fn take_mine() -> Vec<String> {
    let me = std::thread::current().id();
    let mut all = lines().0.lock().unwrap();
    let (mine, rest) = all.drain(..).partition(|(t, _)| *t == me);
    *all = rest;
    mine.into_iter().map(|(_, l)| l).collect()
}

/// `key=value` pairs at the end of a line.
fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn ids_are_on_lines_logged_inside_a_span_only() {
    lines();
    log::info!("before");
    let span = tracekit::start_active_span("checkout");
    span.set_baggage_item("request.id", "r-1001");
    let cx = span.context();
    log::info!(user = "ann"; "inside");
    drop(span);
    log::info!("after");
    let got = take_mine();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].ends_with(" INFO  logs: before\n"), "{}", got[0]);
    assert!(got[2].ends_with(" INFO  logs: after\n"), "{}", got[2]);
    let inside = fields(&got[1]);
    if !tracekit::TRACE_ALL {
        assert!(
            got[1].ends_with(" INFO  logs: inside user=ann\n"),
            "{}",
            got[1]
        );
        return;
    }
    let cx = cx.unwrap();
    assert_eq!(inside["trace_id"], cx.trace_id().to_string());
    assert_eq!(inside["span_id"], cx.span_id().to_string());
    assert_eq!(inside["request.id"], "r-1001");
    assert_eq!(inside["user"], "ann", "the record's own key-values stay");
}

#[test]
fn an_unsampled_span_stamps_its_ids_but_records_no_events() {
    if !tracekit::TRACE_ALL {
        return;
    }
    lines();
    let remote = SpanContext::remote(
        TraceId::from_u128(0xabc).unwrap(),
        SpanId::from_u64(0xdef).unwrap(),
        false,
    );
    let ((), c) = capture(|| {
        let span = tracekit::Span::builder("handler")
            .child_of(&remote)
            .start()
            .activate();
        assert!(!span.is_recording());
        log::warn!("slow");
    });
    assert!(c.spans().is_empty());
    let got = take_mine();
    assert_eq!(fields(&got[0])["trace_id"], remote.trace_id().to_string());
    assert_ne!(fields(&got[0])["span_id"], remote.span_id().to_string());
}

#[test]
fn warnings_and_errors_become_span_events_with_typed_fields() {
    lines();
    let ((), c) = capture(|| {
        let _span = tracekit::start_active_span("reserve");
        log::info!("routine");
        log::warn!(item = "gizmo", left = 0, retry = true; "stock low");
        log::error!("out of {}", "stock");
    });
    let got = take_mine();
    assert_eq!(got.len(), 3);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let events = c.span("reserve").events();
    assert_eq!(events.len(), 2, "info is below the default event level");
    assert_eq!(events[0].name(), "stock low");
    assert_eq!(events[0].field("level"), Some(&Value::from("WARN")));
    assert_eq!(events[0].field("target"), Some(&Value::from("logs")));
    assert_eq!(events[0].field("item"), Some(&Value::from("gizmo")));
    assert_eq!(events[0].field("left"), Some(&Value::I64(0)));
    assert_eq!(events[0].field("retry"), Some(&Value::Bool(true)));
    assert_eq!(events[1].name(), "out of stock");
    assert_eq!(events[1].field("level"), Some(&Value::from("ERROR")));
}

#[test]
fn span_events_from_logs_are_bounded_and_counted() {
    lines();
    let ((), c) = capture(|| {
        let _span = tracekit::start_active_span("chatty");
        for i in 0..200 {
            log::warn!(i = i; "again");
        }
    });
    assert_eq!(take_mine().len(), 200, "every line is still logged");
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let span = c.span("chatty");
    assert_eq!(span.events().len(), tracekit::EVENT_LIMIT);
    assert_eq!(span.dropped_events(), 200 - tracekit::EVENT_LIMIT as u32);
    assert_eq!(span.events()[0].field("i"), Some(&Value::I64(0)));
}

#[test]
fn a_workers_lines_show_the_jobs_request_id_until_the_job_ends() {
    lines();
    let mut message = HashMap::new();
    {
        let request = http::server_span(
            "POST",
            "/orders",
            &vec![("x-request-id".to_owned(), "r-2002".to_owned())],
        )
        .activate();
        drop(messaging::producer_span("emails", &mut message));
        drop(request);
    }
    // The worker thread, later.
    std::thread::spawn(move || {
        let _ = messaging::consume("emails", &message, || {
            log::info!("sending");
            Ok::<_, String>(())
        });
        log::info!("idle");
        let got = take_mine();
        if tracekit::TRACE_ALL {
            assert_eq!(fields(&got[0])["request.id"], "r-2002");
            assert!(fields(&got[0]).contains_key("trace_id"));
        }
        assert!(!got[1].contains("request.id") && !got[1].contains("trace_id"));
    })
    .join()
    .unwrap();
}

#[test]
fn a_malformed_request_id_never_reaches_a_log_line() {
    lines();
    let hostile = "a\r\nlevel=ERROR forged line";
    let request = http::server_span(
        "GET",
        "/",
        &vec![("x-request-id".to_owned(), hostile.to_owned())],
    )
    .activate();
    log::info!("handled");
    drop(request);
    let got = take_mine();
    assert!(got.iter().all(|l| !l.contains("forged")), "{got:?}");
    let handled = got
        .iter()
        .find(|l| l.contains("handled"))
        .expect("the line");
    if tracekit::TRACE_ALL {
        assert_eq!(fields(handled)["request.id"].len(), 36, "{handled}");
        // The replacement is said through the program's logger, as a
        // warning of target `tracekit`, without the peer's text.
        let warning = got
            .iter()
            .find(|l| l.contains(" WARN  tracekit: x-request-id of 26 bytes rejected"))
            .unwrap_or_else(|| panic!("the replacement is logged: {got:?}"));
        assert!(!warning.contains("forged"), "{warning}");
    }
}

#[test]
fn a_baggage_value_with_control_characters_cannot_forge_a_line() {
    lines();
    let span = tracekit::start_active_span("request");
    span.set_baggage_item("request.id", "r-1\nERROR forged: line");
    log::info!("handled");
    drop(span);
    let got = take_mine();
    assert_eq!(got.len(), 1);
    let line = got[0].strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "{line}");
    if tracekit::TRACE_ALL {
        assert!(
            line.contains(r#"request.id="\"r-1\\nERROR forged: line\"""#),
            "{line}"
        );
    }
}
