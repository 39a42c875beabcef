//! The service the W3C Trace Context test suite tests
//! (<https://github.com/w3c/trace-context>, `test/`): an axum server traced
//! by `tracekit_tower::TraceLayer` whose `POST /test` takes a JSON list of
//! `{"url": ..., "arguments": ...}` and, for each item in order, POSTs its
//! `arguments` as JSON to its `url` with a reqwest client traced by
//! `tracekit_reqwest::TraceMiddleware`. Each call is a client span of the
//! request's server span, so its `traceparent` continues the incoming trace
//! (same trace id and flags, its own parent id) or, when the incoming one is
//! missing or malformed, the new trace the server span started; its
//! `tracestate` is the one received, as tracekit reads it. The answer comes
//! after every call: a list of `{"url", "status"}` (or `"error"`).
//!
//! ```text
//! cargo run --example w3c_service                  # listens on 127.0.0.1:5000
//! cargo run --example w3c_service -- 127.0.0.1:0   # any free port
//! ```
//!
//! The first line on stdout is `listening on http://ADDRESS/test`; the
//! spans follow, as every example prints them. SIGTERM or Ctrl-C stops it.
//! It POSTs to whatever URL it is given: keep it on a loopback address.
//! README.md says how to run the official suite against it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The address the suite's README uses.
const DEFAULT_ADDR: &str = "127.0.0.1:5000";

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let reporter = tracekit_examples::install_reporter("w3c_service");
    let outcome = serve(&addr).await;
    reporter.shutdown();
    if let Err(e) = outcome {
        eprintln!("w3c_service: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: &str) -> Result<(), String> {
    // The suite gives a request 5 s in all, callbacks included.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(4))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let http = reqwest_middleware::ClientBuilder::new(client)
        .with(tracekit_reqwest::TraceMiddleware)
        .build();
    let app = Router::new()
        .route("/test", post(test))
        .layer(tracekit_tower::TraceLayer::new())
        .with_state(Arc::new(http));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{local}/test");
    axum::serve(listener, app)
        .with_graceful_shutdown(tracekit::signal::terminated())
        .await
        .map_err(|e| format!("server: {e}"))
}

/// The calls a `/test` body asks for: `(url, arguments)`, or why the body
/// is not a list of them.
fn calls(body: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let list: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(items) = list else {
        return Err("expected a JSON list".to_owned());
    };
    items
        .into_iter()
        .map(|item| {
            let url = item["url"]
                .as_str()
                .ok_or_else(|| format!("an item without a \"url\" string: {item}"))?
                .to_owned();
            // No arguments means an empty list, as the suite sends them.
            let arguments = match item.get("arguments") {
                Some(a) if !a.is_null() => a.clone(),
                _ => json!([]),
            };
            Ok((url, arguments))
        })
        .collect()
}

async fn test(
    State(http): State<Arc<reqwest_middleware::ClientWithMiddleware>>,
    body: Bytes,
) -> Response {
    let calls = match calls(&body) {
        Ok(calls) => calls,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut results = Vec::with_capacity(calls.len());
    // In order, each answered before the next and all before ours: the
    // suite reads what reached it once this request is answered.
    for (url, arguments) in calls {
        let sent = http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(arguments.to_string())
            .send()
            .await;
        results.push(match sent {
            Ok(response) => json!({"url": url, "status": response.status().as_u16()}),
            Err(e) => json!({"url": url, "error": e.to_string()}),
        });
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        Value::Array(results).to_string(),
    )
        .into_response()
}
