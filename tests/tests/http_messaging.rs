//! The helpers for the two places a trace crosses a process: HTTP requests
//! (server and client spans) and messages (producer and consumer spans).

use std::collections::HashMap;
use std::sync::mpsc;
use tracekit::testing::capture;
use tracekit::{FutureExt, SpanKind, Value, http, messaging};

type Headers = HashMap<String, String>;

#[test]
fn a_call_between_services_is_one_trace_client_then_server() {
    let ((), c) = capture(|| {
        let _handler = tracekit::start_active_span("frontend handler");
        let mut headers = Headers::new();
        let mut client =
            http::client_span("GET", "http://backend:8080/users/7?full=1", &mut headers);
        // The backend, on its side of the wire:
        let mut server = http::server_span("GET", "/users/{id}", &headers);
        drop(server.enter());
        http::set_status_code(&mut server, 200);
        drop(server);
        http::set_status_code(&mut client, 200);
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    // OpenTelemetry's stable conventions (the default): a client span is
    // named by its method; ids in its path do not make new span names.
    assert_eq!(c.tree(), "frontend handler\n  GET\n    GET /users/{id}\n");
    let (client, server) = (c.span("GET"), c.span("GET /users/{id}"));
    assert_eq!(client.kind(), SpanKind::Client);
    assert_eq!(server.kind(), SpanKind::Server);
    assert!(server.has_remote_parent() && !client.has_remote_parent());
    assert_eq!(server.trace_id(), client.trace_id());
    assert_eq!(client.tag("http.request.method"), Some(&Value::from("GET")));
    assert_eq!(
        client.tag("url.full"),
        Some(&Value::from("http://backend:8080/users/7?full=1"))
    );
    assert_eq!(client.tag("server.address"), Some(&Value::from("backend")));
    assert_eq!(client.tag("server.port"), Some(&Value::I64(8080)));
    assert_eq!(server.tag("http.route"), Some(&Value::from("/users/{id}")));
    assert_eq!(server.tag("http.request.method"), Some(&Value::from("GET")));
    for s in [client, server] {
        assert_eq!(s.tag("http.response.status_code"), Some(&Value::I64(200)));
        assert!(s.tag("http.method").is_none() && s.tag("error.type").is_none());
        assert!(!s.is_error());
    }
}

#[test]
fn a_request_without_or_with_a_bad_parent_starts_a_new_trace() {
    let cases: [(&str, Headers); 3] = [
        ("none", Headers::new()),
        (
            "uppercase",
            [(
                "traceparent".to_owned(),
                "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01".to_owned(),
            )]
            .into(),
        ),
        (
            "garbage",
            [("traceparent".to_owned(), "\u{0}\u{ff}--".to_owned())].into(),
        ),
    ];
    let ((), c) = capture(|| {
        // A worker thread still inside some unrelated span must not adopt the request.
        let _leftover = tracekit::start_active_span("leftover");
        for (name, headers) in &cases {
            drop(http::server_span("POST", name, headers));
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let leftover = c.span("leftover");
    for (name, _) in &cases {
        let s = c.span(&format!("POST {name}"));
        assert_eq!(s.parent_id(), None, "{name}");
        assert_ne!(s.trace_id(), leftover.trace_id(), "{name}");
    }
}

#[test]
fn server_spans_fail_on_5xx_and_client_spans_on_4xx_too() {
    let ((), c) = capture(|| {
        for code in [200u16, 302, 404, 503, 999] {
            let mut s = http::server_span("GET", &format!("/s{code}"), &Headers::new());
            http::set_status_code(&mut s, code);
            let mut c = http::client_span("GET", &format!("/c{code}"), &mut Headers::new());
            http::set_status_code(&mut c, code);
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    // Client spans are all named "GET": found by their URL.
    let find = |name: &str| {
        c.spans()
            .iter()
            .find(|s| {
                s.name() == name
                    || (s.tag("url.full").map(|v| v.to_string()).as_deref()
                        == name.strip_prefix("GET "))
            })
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let error = |name: &str| {
        let s = find(name);
        assert!(s.tag("http.response.status_code").is_some(), "{name}");
        s.is_error().then(|| s.status().clone())
    };
    assert_eq!(error("GET /s200"), None);
    assert_eq!(error("GET /s302"), None);
    assert_eq!(error("GET /s404"), None);
    assert_eq!(
        error("GET /c404"),
        Some(tracekit::Status::error("HTTP 404"))
    );
    assert_eq!(
        error("GET /s503"),
        Some(tracekit::Status::error("HTTP 503"))
    );
    assert_eq!(
        error("GET /c503"),
        Some(tracekit::Status::error("HTTP 503"))
    );
    assert_eq!(
        error("GET /s999"),
        Some(tracekit::Status::error("invalid HTTP status code 999"))
    );
    assert_eq!(
        c.span("GET /s503").tag("error.type"),
        Some(&Value::from("503"))
    );
    assert_eq!(
        find("GET /c404").tag("error.type"),
        Some(&Value::from("404"))
    );
    assert!(c.span("GET /s404").tag("error.type").is_none());
}

#[test]
fn a_middleware_records_the_status_on_the_span_it_moved_into_the_future() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (status, c) = capture(|| {
        rt.block_on(async {
            let span = http::server_span("GET", "/slow", &Headers::new());
            async {
                let inner = tracekit::Span::start("handler");
                tokio::task::yield_now().await;
                drop(inner);
                http::set_current_status_code(500);
                500
            }
            .in_span(span)
            .await
        })
    });
    assert_eq!(status, 500);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert_eq!(c.tree(), "GET /slow\n  handler\n");
    let s = c.span("GET /slow");
    assert_eq!(s.tag("http.response.status_code"), Some(&Value::I64(500)));
    assert!(s.is_error());
}

#[test]
fn the_client_span_is_the_parent_the_headers_carry_and_baggage_goes_along() {
    let mut headers = Headers::new();
    let ((), c) = capture(|| {
        let handler = tracekit::start_active_span("handler");
        handler.set_baggage_item("request.id", "r-17");
        drop(http::client_span("PUT", "/items/1", &mut headers));
    });
    if !tracekit::TRACE_ALL {
        assert!(headers.is_empty(), "nothing to propagate with tracing off");
        return;
    }
    let client = c.span("PUT");
    let parent = tracekit::propagation::extract(&headers).expect("a parent");
    assert_eq!(parent.span_id(), client.span_id());
    assert_eq!(parent.baggage_item("request.id"), Some("r-17"));
}

#[test]
fn a_job_joins_the_producer_trace_on_a_worker_thread_and_leaves_it_clean() {
    let (tx, rx) = mpsc::channel::<(u32, Headers)>();
    // The worker stands for another process: it sees only the messages.
    let worker = std::thread::spawn(move || {
        capture(|| {
            let mut results = Vec::new();
            for (n, headers) in rx {
                let r: Result<u32, String> = messaging::consume("jobs", &headers, || {
                    let _step = tracekit::start_active_span("job step");
                    if n == 2 {
                        Err(format!("job {n} failed"))
                    } else {
                        Ok(n * 10)
                    }
                });
                // Nothing of the job stays active between jobs.
                assert!(tracekit::current_span().context().is_none());
                results.push(r);
            }
            results
        })
    });
    let ((), producer) = capture(|| {
        let request = tracekit::start_active_span("request");
        request.set_baggage_item("user.id", "42");
        for n in 1..=2 {
            let mut headers = Headers::new();
            drop(messaging::producer_span("jobs", &mut headers));
            tx.send((n, headers)).unwrap();
        }
    });
    drop(tx);
    let (results, worker) = worker.join().unwrap();
    assert_eq!(results, [Ok(10), Err("job 2 failed".to_owned())]);
    if !tracekit::TRACE_ALL {
        assert!(worker.spans().is_empty());
        return;
    }
    assert_eq!(producer.tree(), "request\n  jobs publish\n  jobs publish\n");
    assert_eq!(
        worker.tree(),
        "jobs process\n  job step\njobs process\n  job step\n"
    );
    let publishes = producer.spans_named("jobs publish");
    let consumers = worker.spans_named("jobs process");
    for (publish, process) in publishes.iter().zip(&consumers) {
        assert_eq!(publish.kind(), SpanKind::Producer);
        assert_eq!(process.kind(), SpanKind::Consumer);
        assert_eq!(process.trace_id(), producer.span("request").trace_id());
        assert_eq!(process.parent_id(), Some(publish.span_id()));
        assert!(process.has_remote_parent());
        assert_eq!(process.baggage_item("user.id"), Some("42"));
        assert_eq!(
            process.tag("messaging.destination.name"),
            Some(&Value::from("jobs"))
        );
    }
    assert!(!consumers[0].is_error());
    assert_eq!(
        consumers[1].status(),
        &tracekit::Status::error("job 2 failed")
    );
}

#[test]
fn a_panicking_job_is_an_error_and_the_worker_thread_is_clean_after() {
    let ((), c) = capture(|| {
        let caught = std::panic::catch_unwind(|| {
            messaging::consume::<(), String>("jobs", &Headers::new(), || panic!("boom"))
        });
        assert!(caught.is_err());
        assert!(tracekit::current_span().context().is_none());
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("jobs process");
    assert!(s.is_error());
    assert_eq!(s.parent_id(), None);
}

#[test]
fn a_jaeger_debug_id_alone_starts_a_debug_trace_tagged_with_it() {
    use tracekit::propagation::{Format, Propagators, set_propagators};
    // A superset of the default, so the other tests here see no difference.
    set_propagators(Propagators::new([
        Format::TraceContext,
        Format::Baggage,
        Format::Jaeger,
    ]));
    let with =
        |value: &str| -> Headers { [("jaeger-debug-id".to_owned(), value.to_owned())].into() };
    let ((), c) = capture(|| {
        let _leftover = tracekit::start_active_span("leftover");
        let debug = http::server_span("GET", "/debug", &with("  tk-debug-1 "));
        assert_eq!(
            debug
                .context()
                .is_some_and(|cx| cx.is_debug() && cx.is_sampled()),
            tracekit::TRACE_ALL
        );
        drop(debug);
        drop(messaging::consumer_span("jobs", &with("tk-debug-2")));
        // Not a usable id: a plain new trace.
        drop(http::server_span("GET", "/bad", &with("\u{7}")));
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let debug = c.span("GET /debug");
    assert_eq!(debug.parent_id(), None);
    assert_eq!(
        debug.tag("jaeger-debug-id"),
        Some(&Value::from("tk-debug-1"))
    );
    assert_eq!(
        c.span("jobs process").tag("jaeger-debug-id"),
        Some(&Value::from("tk-debug-2"))
    );
    let bad = c.span("GET /bad");
    assert_eq!((bad.parent_id(), bad.tag("jaeger-debug-id")), (None, None));
}

// ---- request ids ---------------------------------------------------------

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn request_id_of(span: &tracekit::Span) -> Option<String> {
    span.context()?
        .baggage_item(http::REQUEST_ID_KEY)
        .map(str::to_owned)
}

#[test]
fn a_server_span_takes_the_request_id_echoes_it_and_sends_it_on() {
    let mut server = http::server_span("GET", "/", &headers(&[("X-Request-Id", "r-1001")]));
    if !tracekit::TRACE_ALL {
        assert!(request_id_of(&server).is_none());
        return;
    }
    assert_eq!(request_id_of(&server).as_deref(), Some("r-1001"));
    let _active = server.enter();
    // Echoed to the caller,
    let mut response = Headers::new();
    http::set_response_headers(&mut response);
    assert_eq!(response["x-request-id"], "r-1001");
    // and sent on by client and producer spans, in baggage and in x-request-id.
    let mut out = Headers::new();
    drop(http::client_span("GET", "http://b/", &mut out));
    assert_eq!(out["x-request-id"], "r-1001");
    assert!(out["baggage"].contains("request.id=r-1001"), "{out:?}");
    let mut message = Headers::new();
    drop(messaging::producer_span("jobs", &mut message));
    assert_eq!(message["x-request-id"], "r-1001");
}

#[test]
fn a_request_without_an_id_gets_a_new_one_or_keeps_the_one_in_its_baggage() {
    if !tracekit::TRACE_ALL {
        return;
    }
    let a = request_id_of(&http::server_span("GET", "/", &Headers::new())).unwrap();
    let b = request_id_of(&http::server_span("GET", "/", &Headers::new())).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36, "a UUID: {a}");
    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let upstream = headers(&[("traceparent", PARENT), ("baggage", "request.id=r-77")]);
    assert_eq!(
        request_id_of(&http::server_span("GET", "/", &upstream)).as_deref(),
        Some("r-77")
    );
    // The header wins over baggage.
    let both = headers(&[
        ("traceparent", PARENT),
        ("baggage", "request.id=r-77"),
        ("x-request-id", "r-78"),
    ]);
    assert_eq!(
        request_id_of(&http::server_span("GET", "/", &both)).as_deref(),
        Some("r-78")
    );
}

#[test]
fn a_malformed_or_oversized_request_id_is_replaced() {
    if !tracekit::TRACE_ALL {
        return;
    }
    let long = "r".repeat(http::MAX_REQUEST_ID_LEN + 1);
    for bad in [long.as_str(), "two words", "tab\there", "caf\u{e9}", ""] {
        let span = http::server_span("GET", "/", &headers(&[("x-request-id", bad)]));
        let id = request_id_of(&span).unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "replaced by a UUID: {id}");
        // What is sent on is the replacement, never the peer's text.
        let _active = tracekit::Span::builder("call")
            .child_of(&span.context().unwrap())
            .start()
            .activate();
        let mut out = Headers::new();
        drop(http::client_span("GET", "http://b/", &mut out));
        assert_eq!(out["x-request-id"], id);
    }
    let longest = "r".repeat(http::MAX_REQUEST_ID_LEN);
    let span = http::server_span("GET", "/", &headers(&[("x-request-id", &longest)]));
    assert_eq!(request_id_of(&span).as_deref(), Some(longest.as_str()));
}

#[test]
fn a_job_runs_under_its_messages_request_id_and_leaves_none_behind() {
    let message = headers(&[("x-request-id", "job-9")]);
    let seen = messaging::consume("jobs", &message, || {
        Ok::<_, String>(
            tracekit::current_span()
                .context()
                .and_then(|cx| cx.baggage_item("request.id").map(str::to_owned)),
        )
    });
    let after = tracekit::current_span().context();
    if !tracekit::TRACE_ALL {
        assert_eq!(seen, Ok(None));
        return;
    }
    assert_eq!(seen.unwrap().as_deref(), Some("job-9"));
    assert!(after.is_none());
    // A message without one gets none made up: the producer's trace decides.
    let none = messaging::consume("jobs", &Headers::new(), || {
        Ok::<_, String>(
            tracekit::current_span()
                .context()
                .and_then(|cx| cx.baggage_item("request.id").map(str::to_owned)),
        )
    });
    assert_eq!(none, Ok(None));
}

#[test]
fn a_malformed_request_id_in_baggage_is_replaced_too() {
    if !tracekit::TRACE_ALL {
        return;
    }
    let message = headers(&[
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("baggage", "request.id=a%0Ab"),
    ]);
    let id = messaging::consume("jobs", &message, || {
        Ok::<_, String>(
            tracekit::current_span()
                .context()
                .and_then(|cx| cx.baggage_item("request.id").map(str::to_owned)),
        )
    })
    .unwrap()
    .unwrap();
    assert_eq!(id.len(), 36, "replaced by a UUID: {id:?}");
    let server = http::server_span("GET", "/", &message);
    assert_eq!(request_id_of(&server).unwrap().len(), 36);
}
