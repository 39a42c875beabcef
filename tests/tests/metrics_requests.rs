//! Request metrics: every HTTP request a service serves or makes is
//! counted by route, method, status and error, with OpenTelemetry's
//! instruments and attributes, even when its trace is sampled out.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tracekit::metrics::{self, RequestMetrics};
use tracekit::sampler::{TraceIdRatio, set_sampler};

async fn stock(axum::extract::Path(item): axum::extract::Path<u64>) -> Result<String, StatusCode> {
    match item {
        0 => Err(StatusCode::NOT_FOUND),
        13 => Err(StatusCode::INTERNAL_SERVER_ERROR),
        n => Ok((n * 3).to_string()),
    }
}

fn inventory() -> Router {
    Router::new()
        .route("/stock/{item}", get(stock))
        .layer(tracekit_tower::TraceLayer::new())
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracekit_reqwest::TraceMiddleware)
        .build()
}

fn series<'a>(
    all: &'a [RequestMetrics],
    instrument: &str,
    status: u32,
) -> Option<&'a RequestMetrics> {
    all.iter()
        .find(|r| r.instrument() == instrument && r.status_code() == Some(status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_by_route_status_and_error_at_one_percent() {
    let _sampler = set_sampler(TraceIdRatio::new(0.01));
    metrics::set_enabled(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    tokio::spawn(async move { axum::serve(listener, inventory()).await });
    let client = client();
    // 200 requests: item 0 is missing (404), item 13 fails (500).
    let mut statuses = std::collections::HashMap::new();
    for i in 0..200u64 {
        let item = i % 20;
        let reply = client
            .get(format!("{base}/stock/{item}"))
            .send()
            .await
            .unwrap();
        *statuses.entry(reply.status().as_u16()).or_insert(0u64) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&180));
    let snapshot = metrics::snapshot();
    if !tracekit::TRACE_ALL {
        assert!(snapshot.requests().is_empty());
        return;
    }
    let all = snapshot.requests();
    // The server side: by route template, method and status; 5xx is an
    // error there, 4xx is not.
    let ok = series(all, "http.server.request.duration", 200).unwrap();
    assert_eq!(
        (ok.route(), ok.method(), ok.calls(), ok.errors()),
        (Some("/stock/{item}"), "GET", 180, 0)
    );
    assert_eq!(ok.error_type(), None);
    let missing = series(all, "http.server.request.duration", 404).unwrap();
    assert_eq!(
        (missing.calls(), missing.errors(), missing.error_type()),
        (10, 0, None)
    );
    let failed = series(all, "http.server.request.duration", 500).unwrap();
    assert_eq!(
        (failed.calls(), failed.errors(), failed.error_type()),
        (10, 10, Some("500"))
    );
    // The client side: by server address and port; 4xx is an error there.
    let c_ok = series(all, "http.client.request.duration", 200).unwrap();
    assert_eq!(
        (c_ok.calls(), c_ok.server()),
        (180, Some(("127.0.0.1", Some(port))))
    );
    // The version the response came back in (reqwest to axum: HTTP/1.1).
    assert_eq!(
        tracekit_tests::attribute(c_ok, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    let c_missing = series(all, "http.client.request.duration", 404).unwrap();
    assert_eq!(
        (
            c_missing.calls(),
            c_missing.errors(),
            c_missing.error_type()
        ),
        (10, 10, Some("404"))
    );
    assert_eq!(
        ok.attributes()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        [
            "http.request.method=GET",
            "url.scheme=http",
            "http.route=/stock/{item}",
            "http.response.status_code=200",
            "network.protocol.version=1.1"
        ]
    );
    // A client request's duration holds its server's.
    assert!(c_ok.duration().sum() >= ok.duration().sum());
    let text = metrics::Prometheus::new().render(&snapshot);
    assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
    let line = format!(
        "http_server_request_duration_seconds_count{{http_request_method=\"GET\",url_scheme=\"http\",http_route=\"/stock/{{item}}\",http_response_status_code=\"500\",network_protocol_version=\"1.1\",error_type=\"500\",{}}} 10\n",
        tracekit_tests::SCOPE_LABELS
    );
    assert!(text.contains(&line), "{text}");
}

#[tokio::test]
async fn a_request_that_gets_no_answer_counts_with_its_error_type() {
    metrics::set_enabled(true);
    // Nothing listens on this port (bound, then closed).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for _ in 0..3 {
        assert!(
            client()
                .get(format!("http://127.0.0.1:{port}/x"))
                .send()
                .await
                .is_err()
        );
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = metrics::snapshot();
    let refused = snapshot
        .requests()
        .iter()
        .find(|r| r.server() == Some(("127.0.0.1", Some(port))))
        .unwrap();
    assert_eq!(
        (refused.calls(), refused.errors(), refused.status_code()),
        (3, 3, None)
    );
    assert_eq!(refused.error_type(), Some("connect"));
}
