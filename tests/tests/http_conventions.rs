//! The attribute names of HTTP spans in each convention mode. The mode is
//! process-wide, so this binary has one test that walks through the modes.
#![cfg(feature = "trace-all")]

use tracekit::http::{self, Conventions};
use tracekit::testing::capture;
use tracekit::{SpanRecord, Value};

type Headers = Vec<(String, String)>;

/// A client call and the server span it makes, both answered 503.
fn one_call() -> tracekit::testing::Captured {
    capture(|| {
        let mut out = Vec::new();
        let mut client = http::client_span(
            "GET",
            "https://u:pw@api.example.com/v1/items/7?x=1",
            &mut out,
        );
        let mut incoming: Headers = out;
        incoming.push(("host".to_owned(), "api.example.com:8443".to_owned()));
        let mut server = http::server_span("GET", "/v1/items/{id}", &incoming);
        http::set_status_code(&mut server, 503);
        drop(server);
        http::set_status_code(&mut client, 503);
    })
    .1
}

/// The client span of `c`.
fn client_of(c: &tracekit::testing::Captured) -> &SpanRecord {
    c.spans()
        .iter()
        .find(|s| s.kind() == tracekit::SpanKind::Client)
        .expect("a client span")
}

fn keys(s: &SpanRecord) -> Vec<String> {
    let mut k: Vec<String> = s
        .tags()
        .map(|(k, _)| k.to_string())
        .filter(|k| !k.starts_with("sampler."))
        .collect();
    k.sort();
    k
}

#[test]
fn stable_old_and_both() {
    assert_eq!(http::conventions(), Conventions::Stable, "the default");
    let c = one_call();
    let client = c.span("GET");
    assert_eq!(
        keys(client),
        [
            "error.type",
            "http.request.method",
            "http.response.status_code",
            "server.address",
            "server.port",
            "url.full"
        ]
    );
    assert_eq!(
        client.tag("url.full"),
        Some(&Value::from(
            "https://REDACTED:REDACTED@api.example.com/v1/items/7?x=1"
        )),
        "credentials are never recorded"
    );
    assert_eq!(client.tag("server.port"), Some(&Value::I64(443)));
    let server = c.span("GET /v1/items/{id}");
    assert_eq!(
        keys(server),
        [
            "error.type",
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "server.address",
            "server.port"
        ]
    );
    assert_eq!(server.tag("server.port"), Some(&Value::I64(8443)));
    assert_eq!(server.tag("error.type"), Some(&Value::from("503")));
    assert!(server.is_error() && client.is_error());

    http::set_conventions(Conventions::Old);
    let c = one_call();
    let client = c.span("GET /v1/items/7");
    assert_eq!(
        keys(client),
        ["error", "http.method", "http.status_code", "http.url"]
    );
    // The old name holds no credentials either (left out, as the old
    // conventions say).
    assert_eq!(
        client.tag("http.url"),
        Some(&Value::from("https://api.example.com/v1/items/7?x=1"))
    );
    let server = c.span("GET /v1/items/{id}");
    assert_eq!(
        keys(server),
        ["error", "http.method", "http.route", "http.status_code"]
    );
    assert_eq!(server.tag("error"), Some(&Value::Bool(true)));

    // The integrations follow the choice: a real request through the
    // reqwest middleware and the tower layer, in the old names.
    let c = through_the_integrations();
    let client = client_of(&c);
    assert!(
        client.name().starts_with("GET /items/"),
        "{}",
        client.name()
    );
    // The protocol version too, in every convention: the request metrics
    // count by it, under the stable names.
    assert_eq!(
        keys(client),
        [
            "error",
            "http.method",
            "http.status_code",
            "http.url",
            "network.protocol.version"
        ]
    );
    let server = c.span("GET /items/{id}");
    assert_eq!(
        keys(server),
        [
            "error",
            "http.method",
            "http.route",
            "http.status_code",
            "http.url",
            "network.protocol.version"
        ]
    );

    // A request that gets no answer: its metrics say why (error.type
    // "connect") whatever the span's names, as the metrics' attributes are
    // the stable ones in every mode; the span says it too.
    tracekit::metrics::set_enabled(true);
    let port = tracekit_tests::free_port();
    let c = refused_call(port);
    let client = client_of(&c);
    assert!(client.is_error());
    assert_eq!(client.tag("error.type"), Some(&Value::from("connect")));
    let snapshot = tracekit::metrics::snapshot();
    let refused = snapshot
        .requests()
        .iter()
        .find(|r| r.server() == Some(("127.0.0.1", Some(port))))
        .expect("the refused call's series");
    assert_eq!(
        (refused.calls(), refused.errors(), refused.error_type()),
        (1, 1, Some("connect"))
    );
    // And through tower's ClientLayer: the error's type, on the span too.
    let ((), c) = capture(|| {
        use tower::{Layer, ServiceExt};
        let refused = tower::service_fn(|_: axum::http::Request<String>| async {
            Err::<axum::http::Response<String>, _>(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))
        });
        let client = tracekit_tower::ClientLayer::new().layer(refused);
        let request = axum::http::Request::get("http://refused-old.example/x")
            .body(String::new())
            .unwrap();
        assert!(tracekit_tests::block_on(client.oneshot(request)).is_err());
    });
    let client = client_of(&c);
    assert_eq!(
        client.tag("error.type"),
        Some(&Value::from("std::io::error::Error"))
    );

    http::set_conventions(Conventions::Both);
    let c = one_call();
    let client = c.span("GET");
    assert_eq!(
        keys(client),
        [
            "error",
            "error.type",
            "http.method",
            "http.request.method",
            "http.response.status_code",
            "http.status_code",
            "http.url",
            "server.address",
            "server.port",
            "url.full"
        ]
    );

    // An unknown method is `_OTHER`, with the original beside it.
    http::set_conventions(Conventions::Stable);
    let ((), c) = capture(|| {
        drop(http::client_span(
            "PURGE",
            "http://cache/x",
            &mut Vec::new(),
        ))
    });
    let s = c.span("HTTP");
    assert_eq!(s.tag("http.request.method"), Some(&Value::from("_OTHER")));
    assert_eq!(
        s.tag("http.request.method_original"),
        Some(&Value::from("PURGE"))
    );
}

/// What `work` records, run to its end on a runtime of its own.
fn captured_on_runtime(work: impl std::future::Future<Output = ()>) -> tracekit::testing::Captured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    capture(|| rt.block_on(work)).1
}

/// A reqwest client whose requests `TraceMiddleware` traces.
fn traced_client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracekit_reqwest::TraceMiddleware)
        .build()
}

/// A reqwest call through `TraceMiddleware` to an axum route behind
/// `TraceLayer` that answers 503.
fn through_the_integrations() -> tracekit::testing::Captured {
    captured_on_runtime(async {
        let app = axum::Router::new()
            .route(
                "/items/{id}",
                axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "") }),
            )
            .layer(tracekit_tower::TraceLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let status = traced_client()
            .get(format!("{base}/items/7"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 503);
        server.abort();
    })
}

/// A reqwest call through `TraceMiddleware` to a loopback port nobody
/// listens on.
fn refused_call(port: u16) -> tracekit::testing::Captured {
    captured_on_runtime(async move {
        let sent = traced_client()
            .get(format!("http://127.0.0.1:{port}/items/7"))
            .send()
            .await;
        assert!(sent.is_err(), "nobody listens on {port}");
    })
}

/// Set in the child process of [`known_methods_come_from_the_environment`].
const KNOWN_METHODS_CHILD: &str = "TRACEKIT_TEST_KNOWN_METHODS_CHILD";

#[test]
#[ignore = "run in a process of its own by known_methods_come_from_the_environment"]
fn known_methods_child() {
    if std::env::var(KNOWN_METHODS_CHILD).is_err() {
        return;
    }
    tracekit::metrics::set_enabled(true);
    let (_, c) = capture(|| {
        for method in ["PROPFIND", "POST"] {
            let mut span = http::server_span(method, "/dav/{path}", &Vec::new());
            http::set_status_code(&mut span, 207);
        }
    });
    for s in c.spans() {
        let method = s.tag("http.request.method").map(|v| v.to_string());
        let original = s.tag("http.request.method_original").map(|v| v.to_string());
        println!("SPAN {method:?} {original:?}");
    }
    for r in tracekit::metrics::snapshot().requests() {
        if r.route() == Some("/dav/{path}") {
            println!("SERIES {} {}", r.method(), r.calls());
        }
    }
}

#[test]
fn known_methods_come_from_the_environment() {
    let out = tracekit_tests::child_test("known_methods_child")
        .arg("--ignored")
        .env(KNOWN_METHODS_CHILD, "1")
        // A whole list: POST is no longer known.
        .env("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "GET,PROPFIND")
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // The harness may print its own words before the first line.
    let mut lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| {
            l.find("SPAN ")
                .or_else(|| l.find("SERIES "))
                .map(|i| &l[i..])
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "SERIES PROPFIND 1",
            "SERIES _OTHER 1",
            "SPAN Some(\"PROPFIND\") None",
            "SPAN Some(\"_OTHER\") Some(\"POST\")",
        ],
        "{stdout}"
    );
}
