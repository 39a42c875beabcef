//! What tracing a request costs a server: an axum app with one route, with
//! no layer, with `tracekit_tower::TraceLayer` (spans to a discarding
//! reporter), and with tower-http's `TraceLayer` under `tracing-opentelemetry`
//! (spans to a discarding exporter). Two ways: the request handed to the
//! router in-process (what the layer itself costs), and a real HTTP/1.1
//! request over loopback with a keep-alive client (what a service sees,
//! where the network stack dominates).

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use tracekit_benches::{Contender, Harness};

async fn find(id: u64) -> u64 {
    id
}

async fn user(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    format!("user {}", find(id).await)
}

/// The contenders: a name, the harness that installs their sink, the app.
fn contenders() -> Vec<(&'static str, Contender, Router)> {
    let base = || Router::new().route("/users/{id}", get(user));
    vec![
        ("no-layer", Contender::Untraced, base()),
        (
            "tracekit-tower",
            Contender::Tracekit,
            base().layer(tracekit_tower::TraceLayer::new()),
        ),
        (
            "tower-http+tracing-opentelemetry",
            Contender::TracingOtel,
            base().layer(tower_http::trace::TraceLayer::new_for_http()),
        ),
    ]
}

fn in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("http_layer_in_process");
    for (name, contender, app) in contenders() {
        let Some(harness) = Harness::new(contender) else {
            continue;
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let request = Request::get("/users/7")
                        .body(Body::empty())
                        .expect("a request");
                    let response = app.clone().oneshot(request).await.expect("infallible");
                    assert!(response.status().is_success());
                })
            })
        });
        harness.flush();
    }
    group.finish();
}

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("http_layer_loopback");
    for (name, contender, app) in contenders() {
        let Some(harness) = Harness::new(contender) else {
            continue;
        };
        let (url, server) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let url = format!("http://{}/users/7", listener.local_addr().expect("bound"));
            (
                url,
                tokio::spawn(async move { axum::serve(listener, app).await }),
            )
        });
        let client = reqwest::Client::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let response = client.get(&url).send().await.expect("an answer");
                    assert!(response.status().is_success());
                    response.bytes().await.expect("a body")
                })
            })
        });
        server.abort();
        harness.flush();
    }
    group.finish();
}

criterion_group!(benches, in_process, loopback);
criterion_main!(benches);
