//! Request series at their edges, as users hit them: a gRPC response with
//! no gRPC status, a gRPC body dropped before its status, a method the
//! server does not have, an error recorded on a request span that is not
//! sampled, empty names, the scheme a server was reached by; and the
//! `/metrics` handler's methods.

use axum::http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::future::Future;
use tower::{Layer, ServiceExt, service_fn};
use tracekit::metrics::{self, RequestMetrics};
use tracekit_tests::{attribute, block_on, poll_once};

/// The one series of `instrument` whose attributes include `pairs`, by
/// their text; `None` when there is none.
fn series(instrument: &str, pairs: &[(&str, &str)]) -> Option<RequestMetrics> {
    let snapshot = metrics::snapshot();
    let mut found = snapshot.requests().iter().filter(|r| {
        r.instrument() == instrument
            && pairs.iter().all(|(k, v)| {
                r.attributes()
                    .iter()
                    .any(|(k2, v2)| k2 == k && v2.to_string() == *v)
            })
    });
    let one = found.next().cloned();
    assert!(found.next().is_none(), "one series of {pairs:?}");
    one
}

/// The headers of a request whose caller did not sample its trace (a server
/// span continues the trace in its headers, not the current span).
fn unsampled_headers() -> Vec<(String, String)> {
    vec![(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_owned(),
    )]
}

/// The series of `instrument` with `pairs` counted one call, measured to a
/// time given as its end that was before its start (about no time),
/// however long the caller slept before finishing it.
fn assert_one_call_of_about_no_time(instrument: &str, pairs: &[(&str, &str)]) {
    let s = series(instrument, pairs).expect("counted");
    assert_eq!(s.calls(), 1);
    assert!(
        s.duration().sum() < std::time::Duration::from_millis(25),
        "{:?}: measured to the drop, not to the time given",
        s.duration().sum()
    );
}

/// A service that answers every request with an empty response that
/// `edit` shaped (its status, a header, its version).
fn answering(
    edit: fn(&mut Response<String>),
) -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<String>, Infallible>>,
> + Clone {
    service_fn(move |_: Request<String>| async move {
        let mut r = Response::new(String::new());
        edit(&mut r);
        Ok::<_, Infallible>(r)
    })
}

fn grpc_request(path: &str) -> Request<String> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .body(String::new())
        .unwrap()
}

#[test]
fn a_grpc_response_without_a_grpc_status_is_counted_by_its_http_status() {
    metrics::set_enabled(true);
    // A proxy's 503, no grpc-status: UNAVAILABLE (14), a server error.
    let unavailable = answering(|r| {
        *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    });
    let svc = tracekit_tower::TraceLayer::new().layer(unavailable);
    let response = block_on(svc.oneshot(grpc_request("/shop.Cart/Add"))).unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(response);
    if !tracekit::TRACE_ALL {
        assert!(metrics::snapshot().requests().is_empty());
        return;
    }
    // No gRPC service answered: the caller's names name no series.
    assert!(series("rpc.server.duration", &[("rpc.method", "Add")]).is_none());
    let s = series(
        "rpc.server.duration",
        &[("rpc.method", "_OTHER"), ("rpc.grpc.status_code", "14")],
    )
    .expect("counted");
    assert_eq!(s.route(), None, "no rpc.service");
    // OpenTelemetry's RPC conventions name a failed call by its status.
    assert_eq!(
        (s.calls(), s.errors(), s.error_type()),
        (1, 1, Some("UNAVAILABLE"))
    );
    assert!(
        series("rpc.server.duration", &[("rpc.grpc.status_code", "503")]).is_none(),
        "an HTTP status is never a gRPC status"
    );
}

#[test]
fn a_grpc_body_dropped_before_its_status_is_cancelled() {
    metrics::set_enabled(true);
    // 200 and no grpc-status in the headers: the status would come in the
    // trailers, but the body is dropped first.
    let streaming = service_fn(|_: Request<String>| async {
        let mut r = Response::new(String::from("partial"));
        r.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        Ok::<_, Infallible>(r)
    });
    let svc = tracekit_tower::TraceLayer::new().layer(streaming);
    let response = block_on(svc.oneshot(grpc_request("/shop.Cart/Watch"))).unwrap();
    drop(response);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series("rpc.server.duration", &[("rpc.method", "Watch")]).expect("counted");
    assert_eq!(s.status_code(), Some(1), "CANCELLED, not the HTTP 200");
    // CANCELLED is not the server's error.
    assert_eq!((s.calls(), s.errors()), (1, 0));
}

#[tracekit::trace_fn]
fn release_the_handlers_lock() {}

#[test]
fn a_cancelled_requests_clean_up_runs_inside_its_span() {
    // A handler holding a guard whose drop does traced work, cancelled
    // while it waits (the client went away).
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            release_the_handlers_lock();
        }
    }
    let ((), c) = tracekit::testing::capture(|| {
        let waits = service_fn(|_: Request<String>| async {
            let _guard = Guard;
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let svc = tracekit_tower::TraceLayer::new().layer(waits);
        let request = Request::builder()
            .uri("http://localhost/edges/clean-up")
            .body(String::new())
            .unwrap();
        let mut call = Box::pin(svc.oneshot(request));
        assert!(poll_once(call.as_mut()).is_pending());
        drop(call);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let request = c.span("GET");
    assert!(request.tags().any(|(k, _)| k == "cancelled"));
    let clean_up = c.span("release_the_handlers_lock");
    assert_eq!(
        clean_up.parent_id(),
        Some(request.span_id()),
        "{}",
        c.tree()
    );
}

#[test]
fn a_grpc_call_dropped_before_its_response_is_cancelled_a_failure_for_the_client_only() {
    metrics::set_enabled(true);
    // A handler that never answers, dropped: the caller left, or tonic's
    // deadline layer (in front of ours) gave up and answered CANCELLED.
    let never = || {
        service_fn(|_: Request<String>| {
            std::future::pending::<Result<Response<String>, Infallible>>()
        })
    };
    let server = tracekit_tower::TraceLayer::new().layer(never());
    let mut call = Box::pin(server.oneshot(grpc_request("/shop.Drop/Served")));
    assert!(poll_once(call.as_mut()).is_pending());
    drop(call);
    // A client's call dropped (a select!, a hedge): CANCELLED too, which
    // gRPC's conventions make a client's failure (every code but OK).
    let client = tracekit_tower::ClientLayer::new().layer(never());
    let mut request = grpc_request("/shop.Drop/Called");
    *request.uri_mut() = "http://drop.example/shop.Drop/Called".parse().unwrap();
    let mut call = Box::pin(client.oneshot(request));
    assert!(poll_once(call.as_mut()).is_pending());
    drop(call);
    if !tracekit::TRACE_ALL {
        return;
    }
    let served = series("rpc.server.duration", &[("rpc.method", "Served")]).expect("counted");
    assert_eq!(served.status_code(), Some(1), "CANCELLED, what tonic sends");
    assert_eq!(
        (served.calls(), served.errors()),
        (1, 0),
        "no server failure"
    );
    let called = series("rpc.client.duration", &[("rpc.method", "Called")]).expect("counted");
    assert_eq!(called.status_code(), Some(1), "a status on every gRPC call");
    assert_eq!(
        (called.calls(), called.errors(), called.error_type()),
        (1, 1, Some("CANCELLED"))
    );
}

/// A gRPC response body that runs `on_poll` each time it is polled, then
/// ends with trailers (`grpc-status` as given, or none).
struct GrpcBody {
    on_poll: fn(),
    status: Option<&'static str>,
    done: bool,
}

impl http_body::Body for GrpcBody {
    type Data = std::io::Cursor<Vec<u8>>;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Infallible>>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        self.done = true;
        (self.on_poll)();
        let mut trailers = axum::http::HeaderMap::new();
        if let Some(status) = self.status {
            trailers.insert("grpc-status", status.parse().unwrap());
        }
        trailers.insert("x-other", "1".parse().unwrap());
        std::task::Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
    }
}

/// A gRPC response body whose first poll fails (a stream's read error),
/// or panics.
struct BrokenBody {
    panics: bool,
}

impl http_body::Body for BrokenBody {
    type Data = std::io::Cursor<Vec<u8>>;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, std::io::Error>>> {
        if self.panics {
            panic!("the stream blew up");
        }
        std::task::Poll::Ready(Some(Err(std::io::Error::other("read failed"))))
    }
}

#[test]
fn a_grpc_body_that_fails_or_panics_ends_its_call_unknown() {
    metrics::set_enabled(true);
    // No status will come: UNKNOWN (gRPC's conventions require one on
    // every call), named by the body's error type, or `panic`.
    for (method, panics) in [("ReadFails", false), ("ReadPanics", true)] {
        let svc = tracekit_tower::TraceLayer::new().layer(service_fn(
            move |_: Request<String>| async move {
                let mut r = Response::new(BrokenBody { panics });
                r.headers_mut()
                    .insert("content-type", "application/grpc".parse().unwrap());
                Ok::<_, Infallible>(r)
            },
        ));
        let path = format!("/shop.Broken/{method}");
        let mut body = block_on(svc.oneshot(grpc_request(&path)))
            .unwrap()
            .into_body();
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(body.frame())));
        assert_eq!(read.is_err(), panics);
        drop(body);
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    for (method, error_type) in [
        ("ReadFails", "std::io::error::Error"),
        ("ReadPanics", "panic"),
    ] {
        let s = series("rpc.server.duration", &[("rpc.method", method)]).expect("counted");
        assert_eq!(
            (s.status_code(), s.calls(), s.errors(), s.error_type()),
            (Some(2), 1, 1, Some(error_type)),
            "{method}"
        );
    }
}

/// A gRPC response body that sends a message each time it is polled and
/// never ends; its drop does traced work (a stream's clean-up).
struct Endless;

impl http_body::Body for Endless {
    type Data = std::io::Cursor<Vec<u8>>;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Infallible>>> {
        let message = std::io::Cursor::new(vec![0; 5]);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(message))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        close_the_cursor();
    }
}

#[tracekit::trace_fn]
fn close_the_cursor() {}

#[test]
fn a_grpc_stream_dropped_early_is_cancelled_on_both_sides() {
    metrics::set_enabled(true);
    let endless = || {
        service_fn(|_: Request<String>| async {
            let mut r = Response::new(Endless);
            r.headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
            Ok::<_, Infallible>(r)
        })
    };
    let ((), c) = tracekit::testing::capture(|| {
        let server = tracekit_tower::TraceLayer::new().layer(endless());
        let response = block_on(server.oneshot(grpc_request("/shop.Feed/Subscribe"))).unwrap();
        let mut body = response.into_body();
        assert!(block_on(body.frame()).is_some());
        drop(body);
        // A client reads one message and stops (a take(1), a select!).
        let client = tracekit_tower::ClientLayer::new().layer(endless());
        let mut request = grpc_request("/shop.Feed/Follow");
        *request.uri_mut() = "http://feed.example/shop.Feed/Follow".parse().unwrap();
        let mut body = block_on(client.oneshot(request)).unwrap().into_body();
        assert!(block_on(body.frame()).is_some());
        drop(body);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let watch = series("rpc.server.duration", &[("rpc.method", "Subscribe")]).expect("counted");
    assert_eq!(
        (watch.status_code(), watch.errors()),
        (Some(1), 0),
        "CANCELLED"
    );
    let follow = series("rpc.client.duration", &[("rpc.method", "Follow")]).expect("counted");
    assert_eq!(
        (follow.status_code(), follow.errors()),
        (Some(1), 1),
        "CANCELLED, a client's failure"
    );
    // Each stream's clean-up is its call's.
    for name in ["shop.Feed/Subscribe", "shop.Feed/Follow"] {
        let call = c.span(name);
        assert!(
            c.spans()
                .iter()
                .any(|s| s.name() == "close_the_cursor" && s.parent_id() == Some(call.span_id())),
            "{name}:\n{}",
            c.tree()
        );
    }
}

#[tracekit::trace_fn]
fn read_rows_lazily() {}

#[test]
fn a_grpc_body_does_its_work_inside_the_call_and_its_trailers_end_it() {
    metrics::set_enabled(true);
    fn streaming(status: Option<&'static str>) -> Response<GrpcBody> {
        let mut r = Response::new(GrpcBody {
            on_poll: read_rows_lazily,
            status,
            done: false,
        });
        r.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        r
    }
    let ((), c) = tracekit::testing::capture(|| {
        for (method, status) in [("Stream", Some("0")), ("NoStatus", None)] {
            let svc = tracekit_tower::TraceLayer::new().layer(service_fn(
                move |_: Request<String>| async move { Ok::<_, Infallible>(streaming(status)) },
            ));
            let response =
                block_on(svc.oneshot(grpc_request(&format!("/shop.Rows/{method}")))).unwrap();
            // As hyper does: the trailers are the last frame it reads.
            let mut body = response.into_body();
            let frame = block_on(body.frame());
            assert!(frame.is_some_and(|f| f.is_ok_and(|f| f.is_trailers())));
            drop(body);
        }
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    // Each call's lazy read is a child of its span, not a trace of its own.
    for method in ["Stream", "NoStatus"] {
        let call = c.span(&format!("shop.Rows/{method}"));
        let reads = c
            .spans()
            .iter()
            .filter(|s| s.name() == "read_rows_lazily" && s.parent_id() == Some(call.span_id()))
            .count();
        assert_eq!(reads, 1, "{method}:\n{}", c.tree());
        assert!(
            !call.tags().any(|(k, _)| k == "cancelled"),
            "{method}: ended by its trailers, not cancelled at the drop"
        );
    }
    let ok = series("rpc.server.duration", &[("rpc.method", "Stream")]).expect("counted");
    assert_eq!((ok.status_code(), ok.errors()), (Some(0), 0));
    // Trailers with no grpc-status: UNKNOWN, as a client reads it.
    let missing = series("rpc.server.duration", &[("rpc.method", "NoStatus")]).expect("counted");
    assert_eq!((missing.status_code(), missing.errors()), (Some(2), 1));
}

#[test]
fn methods_a_grpc_server_does_not_have_share_one_series() {
    metrics::set_enabled(true);
    let unimplemented = answering(|r| {
        r.headers_mut().insert("grpc-status", "12".parse().unwrap());
    });
    let svc = tracekit_tower::TraceLayer::new().layer(unimplemented);
    for i in 0..5 {
        let path = format!("/scan{i}.Probe/Method{i}");
        let _ = block_on(svc.clone().oneshot(grpc_request(&path))).unwrap();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series("rpc.server.duration", &[("rpc.grpc.status_code", "12")]).expect("counted");
    assert_eq!((s.method(), s.route(), s.calls()), ("_OTHER", None, 5));
}

#[test]
fn a_grpc_request_a_plain_route_answers_names_no_series() {
    metrics::set_enabled(true);
    // A caller sends gRPC's content type to a service with no gRPC in it,
    // one made-up path after another: a 200 in plain text each time.
    let plain = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("hello")))
    });
    let svc = tracekit_tower::TraceLayer::new().layer(plain);
    for i in 0..5 {
        let path = format!("/made{i}.Up/Name{i}");
        let response = block_on(svc.clone().oneshot(grpc_request(&path))).unwrap();
        let mut body = response.into_body();
        if i % 2 == 0 {
            let all = block_on(body.collect()).unwrap().to_bytes();
            assert_eq!(all, "hello", "the answer passes through");
        } else {
            // As hyper does: read until the body says it has nothing
            // left, then drop it without the last poll.
            let frame = block_on(body.frame()).unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "hello");
            assert!(http_body::Body::is_end_stream(&body));
            drop(body);
        }
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    for i in 0..5 {
        let name = format!("Name{i}");
        assert!(
            series("rpc.server.duration", &[("rpc.method", &name)]).is_none(),
            "{name} named a series"
        );
    }
    let others: Vec<RequestMetrics> = metrics::snapshot()
        .requests()
        .iter()
        .filter(|r| {
            r.instrument() == "rpc.server.duration"
                && r.method() == "_OTHER"
                && r.status_code() == Some(2)
        })
        .cloned()
        .collect();
    // Each body ended with no gRPC status: UNKNOWN, as the caller reads it.
    assert_eq!(others.len(), 1, "{others:?}");
    assert_eq!(
        (others[0].route(), others[0].calls(), others[0].errors()),
        (None, 5, 5)
    );
}

#[test]
fn an_error_recorded_on_an_unsampled_request_counts_as_a_failure() {
    metrics::set_enabled(true);
    let _unsampled =
        tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
    let mut span =
        tracekit::http::client_span("GET", "http://refused.example:81/x", &mut Vec::new());
    assert!(!span.is_recording());
    span.record_error(&std::io::Error::other("connection refused"));
    drop(span);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.client.request.duration",
        &[("server.address", "refused.example")],
    )
    .expect("counted");
    assert_eq!((s.calls(), s.errors()), (1, 1));
    assert_eq!(s.error_type(), Some("std::io::error::Error"));
}

#[test]
fn server_series_say_the_scheme_and_no_empty_names() {
    metrics::set_enabled(true);
    // A status no other test here answers: its series is this one.
    let ok = answering(|r| {
        *r.status_mut() = StatusCode::NON_AUTHORITATIVE_INFORMATION;
    });
    let svc = tracekit_tower::TraceLayer::new().layer(ok);
    let request = Request::builder()
        .uri("/edges/scheme")
        .body(String::new())
        .unwrap();
    let _ = block_on(svc.oneshot(request)).unwrap();
    // A route that is empty text: no route, not `http_route=""`.
    let mut empty = tracekit::http::server_span("GET", "", &Vec::new());
    tracekit::http::set_status_code(&mut empty, 418);
    drop(empty);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.server.request.duration",
        &[("http.response.status_code", "203"), ("url.scheme", "http")],
    );
    assert!(s.is_some(), "a server reached by http says so");
    let teapot = series(
        "http.server.request.duration",
        &[("http.response.status_code", "418")],
    )
    .expect("counted");
    assert_eq!(teapot.route(), None);
    let text = metrics::prometheus_text();
    assert!(!text.contains("=\"\""), "an empty label in\n{text}");
}

#[test]
fn a_scheme_the_caller_makes_up_is_counted_as_http() {
    metrics::set_enabled(true);
    let accepted = answering(|r| {
        *r.status_mut() = StatusCode::ACCEPTED;
    });
    let svc = tracekit_tower::TraceLayer::new().layer(accepted);
    // Absolute-form targets: the scheme is whatever the caller wrote.
    for target in ["zz0://x/a", "zz1://x/b", "https://x/c", "HTTP://x/d"] {
        let request = Request::builder().uri(target).body(String::new()).unwrap();
        let _ = block_on(svc.clone().oneshot(request)).unwrap();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let schemes: Vec<(String, u64)> = metrics::snapshot()
        .requests()
        .iter()
        .filter(|r| r.status_code() == Some(202))
        .map(|r| (attribute(r, "url.scheme").unwrap_or_default(), r.calls()))
        .collect();
    let mut schemes = schemes;
    schemes.sort();
    assert_eq!(schemes, [("http".to_owned(), 3), ("https".to_owned(), 1)]);
}

#[test]
fn a_route_and_scheme_learnt_after_the_start_name_the_series() {
    metrics::set_enabled(true);
    // A server span made by hand (a framework with no tower layer): it
    // knows no scheme, and its handler learns the route template later.
    let mut span = tracekit::http::server_span("GET", "", &unsampled_headers());
    span.set_tag("http.route", "/edges/late/{id}");
    span.set_tag("url.scheme", "https");
    tracekit::http::set_status_code(&mut span, 204);
    drop(span);
    // Another with neither: `http`, the conventions' required scheme.
    let mut plain = tracekit::http::server_span("GET", "/edges/plain", &Vec::new());
    tracekit::http::set_status_code(&mut plain, 204);
    drop(plain);
    if !tracekit::TRACE_ALL {
        return;
    }
    let late = series(
        "http.server.request.duration",
        &[("http.route", "/edges/late/{id}")],
    )
    .expect("counted under the route learnt");
    let scheme = |r: &RequestMetrics| attribute(r, "url.scheme");
    assert_eq!(scheme(&late).as_deref(), Some("https"));
    let plain = series(
        "http.server.request.duration",
        &[("http.route", "/edges/plain")],
    )
    .expect("counted");
    assert_eq!(scheme(&plain).as_deref(), Some("http"));
}

#[test]
fn a_client_counts_the_version_its_response_came_in() {
    metrics::set_enabled(true);
    // Asked for as HTTP/1.1, answered in HTTP/2 (negotiated by ALPN).
    let h2 = answering(|r| {
        *r.version_mut() = axum::http::Version::HTTP_2;
    });
    let client = tracekit_tower::ClientLayer::new().layer(h2);
    let request = Request::builder()
        .uri("http://h2.example/edges/version")
        .body(String::new())
        .unwrap();
    let _ = block_on(client.oneshot(request)).unwrap();
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.client.request.duration",
        &[("server.address", "h2.example")],
    )
    .expect("counted");
    assert_eq!(
        attribute(&s, "network.protocol.version").as_deref(),
        Some("2")
    );
}

#[test]
fn the_metrics_handler_answers_get_and_head_only() {
    let svc = tracekit_tower::PrometheusService::new();
    let call = |method: Method| {
        let request = Request::builder()
            .method(method)
            .uri("/metrics")
            .body(())
            .unwrap();
        let response = block_on(svc.clone().oneshot(request)).unwrap();
        let (parts, body) = response.into_parts();
        let body = block_on(body.collect()).unwrap().to_bytes();
        (parts, body)
    };
    let (get, body) = call(Method::GET);
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(
        get.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(body.starts_with(b"# HELP"));
    let (head, body) = call(Method::HEAD);
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-type"], get.headers["content-type"]);
    // The body a GET would get, for the server to size and not send.
    assert!(body.starts_with(b"# HELP"));
    let (post, _) = call(Method::POST);
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET, HEAD");
}

#[test]
fn the_table_tells_series_apart() {
    metrics::set_enabled(true);
    for port in [8001, 8002] {
        let url = format!("http://table.example:{port}/x");
        let mut span = tracekit::http::client_span("GET", &url, &mut Vec::new());
        span.record_error(&std::io::Error::other("down"));
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let table = metrics::snapshot().table();
    for port in [8001, 8002] {
        let row = format!("called GET table.example:{port} - std::io::error::Error ");
        assert!(table.contains(&row), "no {row:?} in\n{table}");
    }
}

#[test]
fn an_unsampled_request_finished_at_a_given_time_is_measured_to_it() {
    metrics::set_enabled(true);
    let _unsampled =
        tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
    let before = std::time::SystemTime::now();
    let span = tracekit::http::client_span("GET", "http://finish-at.example/x", &mut Vec::new());
    std::thread::sleep(std::time::Duration::from_millis(50));
    // Finished where it began: however long the sleep, about no time.
    span.finish_at(before);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_one_call_of_about_no_time(
        "http.client.request.duration",
        &[("server.address", "finish-at.example")],
    );
}

#[test]
fn an_error_recorded_through_the_current_span_of_an_unsampled_request_counts() {
    metrics::set_enabled(true);
    let mut span = tracekit::http::server_span("GET", "/edges/current-error", &unsampled_headers());
    assert!(!span.is_recording());
    {
        let _entered = span.enter();
        // A handler with no reference to the span.
        tracekit::current_span().record_error(&std::io::Error::other("disk"));
    }
    drop(span);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.server.request.duration",
        &[("http.route", "/edges/current-error")],
    )
    .expect("counted");
    assert_eq!((s.calls(), s.errors()), (1, 1));
    assert_eq!(s.error_type(), Some("std::io::error::Error"));
}

#[test]
fn a_request_whose_status_is_no_failure_did_not_fail() {
    metrics::set_enabled(true);
    // A handler records its validation error and answers 400 (the
    // client's mistake, no server failure), or answers 200 all the same;
    // an inner layer's 500 replaced by an outer one's 200. OpenTelemetry's
    // HTTP conventions: a request that got a status code failed only if
    // that code is a failure, and only a failure has an `error.type`.
    for (route, code) in [("/edges/invalid", 400), ("/edges/ok-anyway", 200)] {
        let mut span = tracekit::http::server_span("POST", route, &Vec::new());
        span.record_error(&std::fmt::Error);
        tracekit::http::set_status_code(&mut span, code);
        drop(span);
    }
    let mut span = tracekit::http::server_span("POST", "/edges/replaced", &Vec::new());
    tracekit::http::set_status_code(&mut span, 500);
    tracekit::http::set_status_code(&mut span, 200);
    drop(span);
    // A server's 500 with an error recorded is named by its code.
    let mut span = tracekit::http::server_span("POST", "/edges/broken", &Vec::new());
    span.record_error(&std::fmt::Error);
    tracekit::http::set_status_code(&mut span, 500);
    drop(span);
    if !tracekit::TRACE_ALL {
        return;
    }
    for (route, error_type) in [
        ("/edges/invalid", None),
        ("/edges/ok-anyway", None),
        ("/edges/replaced", None),
        ("/edges/broken", Some("500")),
    ] {
        let s = series("http.server.request.duration", &[("http.route", route)]).expect("counted");
        let errors = u64::from(error_type.is_some());
        assert_eq!((s.calls(), s.errors()), (1, errors), "{route}");
        assert_eq!(s.error_type(), error_type, "{route}");
    }
}

#[test]
fn an_unsampled_request_made_active_is_counted_when_it_ends() {
    metrics::set_enabled(true);
    let span = tracekit::http::server_span("GET", "/edges/activate", &unsampled_headers());
    assert!(!span.is_recording());
    let active = span.activate();
    // The handler sets the status through the current span, then takes time.
    tracekit::http::set_current_status_code(503);
    std::thread::sleep(std::time::Duration::from_millis(20));
    if tracekit::TRACE_ALL {
        assert!(
            series(
                "http.server.request.duration",
                &[("http.route", "/edges/activate")]
            )
            .is_none(),
            "counted only when it ends"
        );
    }
    drop(active);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.server.request.duration",
        &[("http.route", "/edges/activate")],
    )
    .expect("counted");
    assert_eq!(
        s.status_code(),
        Some(503),
        "the status set while it was active"
    );
    assert_eq!((s.calls(), s.errors()), (1, 1));
    assert!(
        // 20 ms slept, less the clock calibration's error.
        s.duration().sum() >= std::time::Duration::from_millis(19),
        "{:?}: measured to the guard's drop",
        s.duration().sum()
    );
}

#[test]
fn a_sampled_request_made_active_records_its_children_and_status() {
    metrics::set_enabled(true);
    let ((), c) = tracekit::testing::capture(|| {
        let active =
            tracekit::http::server_span("GET", "/edges/activate-sampled", &Vec::new()).activate();
        drop(tracekit::start_active_span("child"));
        tracekit::http::set_current_status_code(201);
        drop(active);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let request = c.span("GET /edges/activate-sampled");
    assert_eq!(c.span("child").parent_id(), Some(request.span_id()));
    assert!(!request.is_error());
    let s = series(
        "http.server.request.duration",
        &[("http.route", "/edges/activate-sampled")],
    )
    .expect("counted");
    assert_eq!((s.status_code(), s.calls(), s.errors()), (Some(201), 1, 0));
}

#[test]
fn a_panic_through_an_active_request_counts_it_failed() {
    metrics::set_enabled(true);
    let ((), c) = tracekit::testing::capture(|| {
        let caught = std::panic::catch_unwind(|| {
            let _active =
                tracekit::http::server_span("GET", "/edges/panic-sampled", &Vec::new()).activate();
            panic!("handler blew up");
        });
        assert!(caught.is_err());
        let caught = std::panic::catch_unwind(|| {
            let span =
                tracekit::http::server_span("GET", "/edges/panic-unsampled", &unsampled_headers());
            assert!(!span.is_recording());
            let _active = span.activate();
            panic!("handler blew up");
        });
        assert!(caught.is_err());
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let span = c.span("GET /edges/panic-sampled");
    assert!(span.is_error(), "the sampled span shows the panic");
    for route in ["/edges/panic-sampled", "/edges/panic-unsampled"] {
        let s = series("http.server.request.duration", &[("http.route", route)])
            .unwrap_or_else(|| panic!("{route} counted"));
        assert_eq!((s.calls(), s.errors()), (1, 1), "{route}");
        assert_eq!(s.error_type(), Some("panic"), "{route}");
    }
}

#[test]
fn a_panic_through_an_unsampled_request_run_by_finish_after_counts_it_failed() {
    metrics::set_enabled(true);
    let _unsampled =
        tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
    let caught = std::panic::catch_unwind(|| {
        tracekit::http::client_span("GET", "http://panic.example/x", &mut Vec::new())
            .finish_after(|| panic!("callback blew up"))
    });
    assert!(caught.is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.client.request.duration",
        &[("server.address", "panic.example")],
    )
    .expect("counted");
    assert_eq!(
        (s.calls(), s.errors(), s.error_type()),
        (1, 1, Some("panic"))
    );
}

#[test]
fn an_unsampled_request_made_active_and_finished_at_a_given_time_is_measured_to_it() {
    metrics::set_enabled(true);
    let before = std::time::SystemTime::now();
    let span = tracekit::http::server_span("GET", "/edges/active-finish-at", &unsampled_headers());
    assert!(!span.is_recording());
    let active = span.activate();
    std::thread::sleep(std::time::Duration::from_millis(50));
    active.finish_at(before);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_one_call_of_about_no_time(
        "http.server.request.duration",
        &[("http.route", "/edges/active-finish-at")],
    );
}

#[test]
fn a_panic_through_the_tower_layer_counts_the_request_failed() {
    metrics::set_enabled(true);
    let panics = service_fn(|_: Request<String>| async {
        if true {
            panic!("handler bug");
        }
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let svc = tracekit_tower::TraceLayer::new().layer(panics);
    let request = Request::builder()
        .method(Method::PATCH)
        .uri("http://localhost/edges/tower-panic")
        .header("traceparent", &unsampled_headers()[0].1)
        .body(String::new())
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(svc.oneshot(request))
    }));
    assert!(caught.is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.server.request.duration",
        &[("http.request.method", "PATCH")],
    )
    .expect("counted");
    assert_eq!(
        (s.calls(), s.errors(), s.error_type()),
        (1, 1, Some("panic"))
    );
}

/// A service whose `call` itself panics, before any future exists.
#[derive(Clone)]
struct PanicsInCall;

impl tower::Service<Request<String>> for PanicsInCall {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        panic!("call bug")
    }
}

#[test]
fn a_status_set_before_a_panic_or_an_error_was_never_sent() {
    metrics::set_enabled(true);
    // The handler sets its status through the current span (as README
    // shows), then panics or fails: no response went out, so the status
    // decides nothing; the request failed, named by what ended it.
    let then_panics = service_fn(|_: Request<String>| async {
        tracekit::http::set_current_status_code(200);
        if true {
            panic!("after the status");
        }
        Ok::<_, std::io::Error>(Response::new(String::new()))
    });
    let then_fails = service_fn(|_: Request<String>| async {
        tracekit::http::set_current_status_code(200);
        Err::<Response<String>, _>(std::io::Error::other("after the status"))
    });
    let request = |method: Method| {
        Request::builder()
            .method(method)
            .uri("http://localhost/edges/status-then")
            .header("traceparent", &unsampled_headers()[0].1)
            .body(String::new())
            .unwrap()
    };
    let svc = tracekit_tower::TraceLayer::new().layer(then_panics);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = block_on(svc.oneshot(request(Method::TRACE)));
    }));
    assert!(caught.is_err());
    let svc = tracekit_tower::TraceLayer::new().layer(then_fails);
    assert!(block_on(svc.oneshot(request(Method::OPTIONS))).is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    for (method, error_type) in [("TRACE", "panic"), ("OPTIONS", "std::io::error::Error")] {
        let s = series(
            "http.server.request.duration",
            &[("http.request.method", method)],
        )
        .expect("counted");
        assert_eq!(
            (s.calls(), s.errors(), s.error_type(), s.status_code()),
            (1, 1, Some(error_type), None),
            "{method}"
        );
    }
}

#[test]
fn a_panic_in_a_grpc_services_call_is_unknown() {
    metrics::set_enabled(true);
    let mut svc = tracekit_tower::TraceLayer::new().layer(PanicsInCall);
    let ((), c) = tracekit::testing::capture(|| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(tower::Service::call(
                &mut svc,
                grpc_request("/shop.Crash/InCall"),
            ));
        }));
        assert!(caught.is_err());
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let span = c.span("shop.Crash/InCall");
    assert_eq!(
        span.tag("rpc.grpc.status_code")
            .map(|v| v.to_string())
            .as_deref(),
        Some("2")
    );
    let s = series("rpc.server.duration", &[("rpc.method", "InCall")]).expect("counted");
    assert_eq!(
        (s.status_code(), s.errors(), s.error_type()),
        (Some(2), 1, Some("panic"))
    );
}

#[test]
fn a_panic_in_the_services_call_counts_the_request_failed() {
    metrics::set_enabled(true);
    /// Calls `svc` as a catch-panic layer above it would: the panic caught.
    fn call_caught<S: tower::Service<Request<String>>>(mut svc: S, uri: &str) {
        let request = Request::builder()
            .method(Method::DELETE)
            .uri(uri)
            .body(String::new())
            .unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(svc.call(request));
        }));
        assert!(caught.is_err());
    }
    let ((), c) = tracekit::testing::capture(|| {
        call_caught(
            tracekit_tower::TraceLayer::new().layer(PanicsInCall),
            "http://localhost/edges/call-panic",
        );
        call_caught(
            tracekit_tower::ClientLayer::new().layer(PanicsInCall),
            "http://call-panic.example/x",
        );
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let spans: Vec<_> = c.spans().iter().filter(|s| s.name() == "DELETE").collect();
    assert_eq!(spans.len(), 2, "{:?}", c.tree());
    assert!(spans.iter().all(|s| s.is_error()), "{:?}", c.tree());
    for (instrument, pair) in [
        (
            "http.server.request.duration",
            ("http.request.method", "DELETE"),
        ),
        (
            "http.client.request.duration",
            ("server.address", "call-panic.example"),
        ),
    ] {
        let s = series(instrument, &[pair]).expect("counted");
        assert_eq!(
            (s.calls(), s.errors(), s.error_type()),
            (1, 1, Some("panic")),
            "{instrument}"
        );
    }
}

#[test]
fn a_panic_caught_above_the_tower_layer_still_counts_the_request_failed() {
    metrics::set_enabled(true);
    // As a catch-panic layer outside the trace layer does: the panic is
    // caught around the poll, and the future is dropped later, when
    // nothing is unwinding.
    let panics = service_fn(|_: Request<String>| async {
        if true {
            panic!("handler bug");
        }
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let mut svc = tracekit_tower::TraceLayer::new().layer(panics);
    let request = Request::builder()
        .method(Method::PUT)
        .uri("http://localhost/edges/caught-above")
        .header("traceparent", &unsampled_headers()[0].1)
        .body(String::new())
        .unwrap();
    let mut future = Box::pin(tower::Service::call(&mut svc, request));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = poll_once(future.as_mut());
    }));
    assert!(caught.is_err());
    drop(future);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.server.request.duration",
        &[("http.request.method", "PUT")],
    )
    .expect("counted");
    assert_eq!(
        (s.calls(), s.errors(), s.error_type()),
        (1, 1, Some("panic"))
    );
}

#[test]
fn a_call_dropped_while_another_panic_unwinds_is_cancelled_not_failed() {
    metrics::set_enabled(true);
    let waits = service_fn(|_: Request<String>| {
        std::future::pending::<Result<Response<String>, Infallible>>()
    });
    let mut client = tracekit_tower::ClientLayer::new().layer(waits);
    let request = Request::builder()
        .method(Method::GET)
        .uri("http://sibling.example/x")
        .body(String::new())
        .unwrap();
    let mut future = Box::pin(tower::Service::call(&mut client, request));
    assert!(poll_once(future.as_mut()).is_pending());
    // A sibling's panic unwinds through the scope that owns the call.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _future = future;
        panic!("a sibling's panic");
    }));
    assert!(caught.is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.client.request.duration",
        &[("server.address", "sibling.example")],
    )
    .expect("counted");
    assert_eq!((s.calls(), s.errors()), (1, 0), "cancelled, not failed");
}

#[test]
fn an_error_then_a_panic_is_a_panic_sampled_or_not() {
    metrics::set_enabled(true);
    let run = |host: &str| {
        let mut span =
            tracekit::http::client_span("GET", &format!("http://{host}/x"), &mut Vec::new());
        span.record_error(&std::io::Error::other("reset"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            span.finish_after(|| panic!("then a panic"))
        }));
        assert!(caught.is_err());
    };
    let ((), _c) = tracekit::testing::capture(|| run("sampled-panic.example"));
    {
        let _unsampled =
            tracekit::Context::from_span_context(tracekit_tests::unsampled_parent()).attach();
        run("unsampled-panic.example");
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    for host in ["sampled-panic.example", "unsampled-panic.example"] {
        let s = series("http.client.request.duration", &[("server.address", host)])
            .unwrap_or_else(|| panic!("{host} counted"));
        assert_eq!((s.errors(), s.error_type()), (1, Some("panic")), "{host}");
    }
}

#[test]
fn a_tower_client_call_that_fails_with_no_response_is_named_by_its_error() {
    metrics::set_enabled(true);
    let refused = service_fn(|_: Request<String>| async {
        Err::<Response<String>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    });
    let client = tracekit_tower::ClientLayer::new().layer(refused);
    let request = Request::builder()
        .method(Method::GET)
        .uri("http://refused-tower.example/x")
        .body(String::new())
        .unwrap();
    assert!(block_on(client.oneshot(request)).is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = series(
        "http.client.request.duration",
        &[("server.address", "refused-tower.example")],
    )
    .expect("counted");
    assert_eq!((s.calls(), s.errors()), (1, 1));
    assert_eq!(s.error_type(), Some("std::io::error::Error"), "not _OTHER");
}

#[test]
fn a_client_request_in_origin_form_is_to_the_server_its_host_header_names() {
    metrics::set_enabled(true);
    // hyper's connection-level `SendRequest` takes a path and a Host
    // header: the server is the Host header's (OpenTelemetry's client
    // conventions), not none, which would make every backend one series.
    let ok = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let client = tracekit_tower::ClientLayer::new().layer(ok);
    let ((), c) = tracekit::testing::capture(|| {
        let request = Request::builder()
            .uri("/items?page=2")
            .header("host", "origin-form.example:8081")
            .body(String::new())
            .unwrap();
        block_on(client.clone().oneshot(request)).unwrap();
        // No port in the Host header: none is made up (80 or 443 is
        // the connection's to know). A URL in the query names no server.
        let request = Request::builder()
            .uri("/items?next=http://query.example/y")
            .header("host", "no-port.example")
            .body(String::new())
            .unwrap();
        block_on(client.oneshot(request)).unwrap();
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    let spans = c.spans_named("GET");
    let tag = |i: usize, key: &str| spans[i].tag(key).map(|v| v.to_string());
    assert_eq!(
        tag(0, "server.address").as_deref(),
        Some("origin-form.example")
    );
    assert_eq!(tag(0, "server.port").as_deref(), Some("8081"));
    assert_eq!(tag(1, "server.address").as_deref(), Some("no-port.example"));
    assert_eq!(tag(1, "server.port"), None);
    let s = series(
        "http.client.request.duration",
        &[
            ("server.address", "origin-form.example"),
            ("server.port", "8081"),
        ],
    )
    .expect("counted by its Host header");
    assert_eq!(s.calls(), 1);
    let s = series(
        "http.client.request.duration",
        &[("server.address", "no-port.example")],
    )
    .expect("counted by its Host header");
    assert_eq!(s.calls(), 1);
}

#[test]
fn a_grpc_call_that_fails_with_no_response_has_a_status() {
    metrics::set_enabled(true);
    // gRPC's conventions require `rpc.grpc.status_code` on every call: a
    // client's call that got no response is UNAVAILABLE (what tonic
    // reports of a connection that failed), a server's failed service
    // UNKNOWN; the error's type stays its `error.type`.
    let refused = || {
        service_fn(|_: Request<String>| async {
            Err::<Response<String>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        })
    };
    let client = tracekit_tower::ClientLayer::new().layer(refused());
    let mut request = grpc_request("/shop.Down/Call");
    *request.uri_mut() = "http://down.example/shop.Down/Call".parse().unwrap();
    assert!(block_on(client.oneshot(request)).is_err());
    let server = tracekit_tower::TraceLayer::new().layer(refused());
    assert!(block_on(server.oneshot(grpc_request("/shop.Down/Serve"))).is_err());
    if !tracekit::TRACE_ALL {
        return;
    }
    for (instrument, method, code) in [
        ("rpc.client.duration", "Call", 14),
        ("rpc.server.duration", "Serve", 2),
    ] {
        let s = series(instrument, &[("rpc.method", method)]).expect("counted");
        assert_eq!(s.status_code(), Some(code), "{instrument}");
        assert_eq!(
            (s.calls(), s.errors(), s.error_type()),
            (1, 1, Some("std::io::error::Error")),
            "{instrument}"
        );
    }
}

/// One request over a real socket: the status line and headers (names in
/// lower case) and how many body bytes came.
async fn raw_http(port: u16, method: &str) -> (String, Vec<(String, String)>, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("{method} /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    // `connection: close`: the server ends the reply; a server that kept
    // the connection open fails the test instead of hanging it.
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut reply),
    )
    .await
    .expect("the server closed the connection")
    .unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.len())
}

#[tokio::test]
async fn served_by_axum_a_head_says_the_length_a_get_would_get() {
    metrics::set_enabled(true);
    let app =
        axum::Router::new().route_service("/metrics", tracekit_tower::PrometheusService::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let length = |headers: &[(String, String)]| {
        headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse::<usize>().unwrap())
    };
    let (status, headers, body) = raw_http(port, "GET").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(length(&headers), Some(body));
    let (status, headers, body) = raw_http(port, "HEAD").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, 0, "no body for a HEAD");
    // The headers a GET would get (RFC 9110 9.3.2), its length among them
    // (8.6: never a 0 standing for the missing body). Other tests in this
    // process count meanwhile, so it is not compared with the GET's.
    let n = length(&headers).expect("a HEAD's Content-Length");
    assert!(n > "# HELP".len(), "content-length {n}");
}
