//! The framework integrations against real servers and clients on
//! loopback: `tracekit-tower`'s layer in axum and in a bare hyper service,
//! and `tracekit-reqwest`'s middleware, with and without a retry middleware.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::collections::HashMap;
use tracekit::testing::{Captured, capture};
use tracekit::{SpanKind, SpanRecord, Value, trace_fn};
use tracekit_tests::stub::{Reply, Stub};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracekit_reqwest::TraceMiddleware)
        .build()
}

#[trace_fn]
async fn find_user(id: u64) -> String {
    tokio::task::yield_now().await;
    format!("user {id}")
}

async fn user(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    find_user(id).await
}

fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route(
            "/fail",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .route(
            "/shop.Inventory/Reserve",
            post(|| async {
                (
                    [("content-type", "application/grpc"), ("grpc-status", "14")],
                    "",
                )
            }),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tracekit_tower::TraceLayer::new().with_traceresponse(true))
}

/// Serves `app` on loopback, runs `calls` against its base URL inside a
/// client span `calls`, and returns what `calls` returned and every span.
fn serve<T>(app: Router, calls: impl AsyncFnOnce(String) -> T) -> (T, Captured) {
    let rt = runtime();
    capture(|| {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            let out = {
                let _root = tracekit::Span::builder("calls").root().start().activate();
                calls(base).await
            };
            server.abort();
            out
        })
    })
}

fn server_span<'a>(c: &'a Captured, name: &str) -> &'a SpanRecord {
    let s = c.span(name);
    assert_eq!(s.kind(), SpanKind::Server, "{name}");
    s
}

#[test]
fn axum_requests_get_server_spans_named_by_route_under_the_clients_span() {
    let (replies, c) = serve(app(), async |base| {
        let http = client();
        let mut replies = HashMap::new();
        for path in ["/users/7", "/nope", "/fail", "/panic"] {
            let r = http
                .get(format!("{base}{path}"))
                .header("x-request-id", format!("r{path}"))
                .send()
                .await
                .unwrap();
            let echoed = r
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let traceresponse = r.headers().get("traceresponse").is_some();
            replies.insert(path, (r.status().as_u16(), echoed, traceresponse));
        }
        replies
    });
    assert_eq!(replies["/users/7"].0, 200);
    assert_eq!(replies["/nope"].0, 404);
    assert_eq!(replies["/fail"].0, 503);
    assert_eq!(replies["/panic"].0, 500);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        assert_eq!(replies["/users/7"].1, None);
        return;
    }
    for (path, (_, echoed, traceresponse)) in &replies {
        assert_eq!(
            echoed.as_deref(),
            Some(format!("r{path}").as_str()),
            "{path}"
        );
        assert!(traceresponse, "{path}");
    }
    // The route template names the span; the handler's calls are its children.
    let users = server_span(&c, "GET /users/{id}");
    assert_eq!(users.tag("http.route"), Some(&Value::from("/users/{id}")));
    assert_eq!(users.tag("url.path"), Some(&Value::from("/users/7")));
    assert_eq!(
        users.tag("http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(c.span("find_user").parent_id(), Some(users.span_id()));
    assert!(!users.is_error());
    // Each server span is the child of the client span that sent it, in one trace.
    let clients: Vec<&SpanRecord> = c
        .spans_named("GET")
        .into_iter()
        .filter(|s| s.kind() == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 4);
    for s in c.spans().iter().filter(|s| s.kind() == SpanKind::Server) {
        let parent = clients
            .iter()
            .find(|cl| Some(cl.span_id()) == s.parent_id());
        assert!(parent.is_some(), "{} has no client parent", s.name());
        assert_eq!(s.trace_id(), c.span("calls").trace_id());
    }
    // No route matched: the method alone, never the raw path.
    let nope = c
        .spans()
        .iter()
        .find(|s| s.kind() == SpanKind::Server && s.name() == "GET")
        .expect("the 404's span");
    assert_eq!(
        nope.tag("http.response.status_code"),
        Some(&Value::I64(404))
    );
    assert!(!nope.is_error(), "a 404 is the client's mistake");
    let fail = server_span(&c, "GET /fail");
    assert!(fail.is_error());
    assert_eq!(fail.tag("error.type"), Some(&Value::from("503")));
    // A panic caught inside the layer is a 500: an error.
    let panic = server_span(&c, "GET /panic");
    assert!(panic.is_error());
    assert_eq!(
        panic.tag("http.response.status_code"),
        Some(&Value::I64(500))
    );
    // Client spans: 4xx and 5xx are errors on the client side.
    let failed: Vec<_> = clients.iter().filter(|s| s.is_error()).collect();
    assert_eq!(failed.len(), 3);
}

#[test]
fn a_panic_that_unwinds_through_the_layer_marks_the_span() {
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("no catcher");
                }
                ""
            }),
        )
        .layer(tracekit_tower::TraceLayer::new());
    let (result, c) = serve(app, async |base| {
        client()
            .get(format!("{base}/boom"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert!(result.is_err(), "hyper drops the connection: {result:?}");
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = server_span(&c, "GET /boom");
    assert!(s.is_error());
    assert_eq!(s.status(), &tracekit::Status::error("the handler panicked"));
}

#[test]
fn a_grpc_call_is_named_by_service_and_method_with_its_status() {
    let (status, c) = serve(app(), async |base| {
        client()
            .post(format!("{base}/shop.Inventory/Reserve"))
            .header("content-type", "application/grpc")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = server_span(&c, "shop.Inventory/Reserve");
    assert_eq!(s.tag("rpc.system"), Some(&Value::from("grpc")));
    assert_eq!(s.tag("rpc.service"), Some(&Value::from("shop.Inventory")));
    assert_eq!(s.tag("rpc.method"), Some(&Value::from("Reserve")));
    assert_eq!(s.tag("rpc.grpc.status_code"), Some(&Value::I64(14)));
    assert!(s.is_error(), "UNAVAILABLE is the server's failure");
}

#[test]
fn a_bare_hyper_service_behind_the_layer() {
    use hyper::body::Incoming;
    use tower::ServiceBuilder;

    let rt = runtime();
    let (status, c) = capture(|| {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service = ServiceBuilder::new()
                    .layer(tracekit_tower::TraceLayer::new())
                    .service_fn(|_req: hyper::Request<Incoming>| async {
                        find_user(3).await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(hyper::body::Bytes::from("ok")),
                        ))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(service),
                    )
                    .await;
            });
            let status = client()
                .get(format!("{base}/items/3"))
                .send()
                .await
                .unwrap()
                .status();
            server.abort();
            status.as_u16()
        })
    });
    assert_eq!(status, 200);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c
        .spans()
        .iter()
        .find(|s| s.kind() == SpanKind::Server)
        .unwrap();
    assert_eq!(s.name(), "GET", "no router, no route: the method alone");
    assert_eq!(s.tag("url.path"), Some(&Value::from("/items/3")));
    assert_eq!(c.span("find_user").parent_id(), Some(s.span_id()));
}

// ---- the client middleware -----------------------------------------------

/// Retries a request once when it is answered 503, as a retry middleware would.
struct RetryOn503;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOn503 {
    async fn handle(
        &self,
        req: reqwest::Request,
        ext: &mut axum::http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = req.try_clone();
        let first = next.clone().run(req, ext).await?;
        match again {
            Some(again) if first.status() == 503 => next.run(again, ext).await,
            _ => Ok(first),
        }
    }
}

#[test]
fn the_middleware_sends_the_context_and_records_each_attempt() {
    let stub = Stub::start([Reply::status(503), Reply::status(200)]);
    let rt = runtime();
    let (status, c) = capture(|| {
        rt.block_on(async {
            let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(RetryOn503)
                .with(tracekit_reqwest::TraceMiddleware)
                .build();
            let _root = tracekit::start_active_span("job");
            http.get(format!("{}/v1/items?page=2", stub.url()))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    assert_eq!(status, 200);
    let received = stub.received();
    assert_eq!(received.len(), 2);
    if !tracekit::TRACE_ALL {
        assert!(received[0].header("traceparent").is_none());
        return;
    }
    let attempts: Vec<&SpanRecord> = c.spans_named("GET");
    assert_eq!(attempts.len(), 2, "one span per attempt");
    for (attempt, got) in attempts.iter().zip(&received) {
        assert_eq!(attempt.parent_id(), Some(c.span("job").span_id()));
        assert_eq!(attempt.kind(), SpanKind::Client);
        let sent = got.header("traceparent").unwrap();
        assert!(sent.contains(&attempt.span_id().to_string()), "{sent}");
        assert_eq!(
            attempt.tag("url.full"),
            Some(&Value::from(format!("{}/v1/items?page=2", stub.url())))
        );
    }
    assert!(attempts[0].is_error());
    assert_eq!(attempts[0].tag("error.type"), Some(&Value::from("503")));
    assert!(!attempts[1].is_error());
}

#[test]
fn a_request_that_gets_no_answer_is_an_error_with_its_kind() {
    let rt = runtime();
    let (result, c) = capture(|| {
        rt.block_on(async {
            client()
                .get(format!("http://127.0.0.1:{}/", tracekit_tests::free_port()))
                .send()
                .await
        })
    });
    assert!(result.is_err());
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("GET");
    assert!(s.is_error());
    assert_eq!(s.tag("error.type"), Some(&Value::from("connect")));
    assert_eq!(s.events()[0].name(), "exception");
}
