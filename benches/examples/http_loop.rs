//! The in-process part of `benches/http_layer.rs` as a plain loop:
//! `http_loop <no-layer|tracekit-tower|tower-http> <requests>` hands that
//! many requests to the router and prints the time per request. tracekit's
//! finished spans are delivered on the measuring thread every 1,024
//! requests; with `NO_KEEP_UP=1` the background collector delivers them, as
//! in criterion and in a service.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use std::time::Instant;
use tower::ServiceExt;
use tracekit_benches::{Contender, Harness};

async fn user(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    format!("user {id}")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let base = Router::new().route("/users/{id}", get(user));
    let (contender, app) = match name.as_str() {
        "no-layer" => (Contender::Untraced, base),
        "tracekit-tower" => (
            Contender::Tracekit,
            base.layer(tracekit_tower::TraceLayer::new()),
        ),
        "tower-http" => (
            Contender::TracingOtel,
            base.layer(tower_http::trace::TraceLayer::new_for_http()),
        ),
        other => {
            eprintln!("unknown contender {other:?}: no-layer, tracekit-tower or tower-http");
            std::process::exit(2);
        }
    };
    let Some(harness) = Harness::new(contender) else {
        eprintln!("{name} needs the `peers` feature of tracekit-benches");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let start = Instant::now();
    for i in 0..n {
        rt.block_on(async {
            let request = Request::get(format!("/users/{i}"))
                .body(Body::empty())
                .expect("a request");
            let response = app.clone().oneshot(request).await.expect("infallible");
            assert!(response.status().is_success());
        });
        if i % 1024 == 0 && std::env::var_os("NO_KEEP_UP").is_none() {
            harness.keep_up();
        }
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    harness.flush();
    println!(
        "{name} {per:.0} ns/request, dropped {:?}",
        harness.dropped()
    );
}
