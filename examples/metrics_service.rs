//! Metrics from traces, exact at any sampling rate: an "orders" service
//! whose functions and requests are counted even when 99 traces in 100 are
//! dropped. It serves `GET /orders/{id}` (traced with `tracekit-tower`, its
//! repository with `#[trace_impl]`), Prometheus text at `/metrics`, and
//! exports the same metrics over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `..._METRICS_ENDPOINT`) is set. It then calls itself `--requests N`
//! times (after `--start-after SECS`, spread over `--spread SECS`), prints
//! what it served and a per-function table, and serves on until SIGINT or
//! SIGTERM (or exits at once with `--exit`); the last interval of metrics
//! is exported on the way out.
//!
//! ```text
//! OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 \
//!   cargo run --example metrics_service -- --requests 1000 --exit
//! ```

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use std::time::{Duration, Instant};

struct OrderRepository;

#[derive(Debug)]
struct NotFound(u64);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no order {}", self.0)
    }
}

impl std::error::Error for NotFound {}

#[tracekit::trace_impl]
impl OrderRepository {
    /// About 100 µs of work; every tenth order is missing.
    async fn find(&self, id: u64) -> Result<u64, NotFound> {
        check_cache(id);
        let until = Instant::now() + Duration::from_micros(100);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        if id.is_multiple_of(10) {
            Err(NotFound(id))
        } else {
            Ok(id * 7)
        }
    }
}

#[tracekit::trace_fn]
fn check_cache(id: u64) -> bool {
    id.is_multiple_of(3)
}

async fn order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    if id == 13 {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    match OrderRepository.find(id).await {
        Ok(total) => Ok(total.to_string()),
        Err(_) => Err(StatusCode::NOT_FOUND),
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let requests: u64 = arg("--requests")
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let port: u16 = arg("--port").and_then(|n| n.parse().ok()).unwrap_or(0);
    let exit = std::env::args().any(|a| a == "--exit");
    // For a scraper to watch the load: wait before it, spread it out.
    let start_after: f64 = arg("--start-after")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    let spread: f64 = arg("--spread").and_then(|n| n.parse().ok()).unwrap_or(0.0);
    // Traces to OTLP or nowhere (this example is about metrics: an absent
    // reporter keeps nothing); metrics to OTLP when an endpoint is set, and
    // to Prometheus at /metrics, all three as the service "orders".
    let traces = tracekit::set_reporter(tracekit_otlp::from_env_as("orders"));
    let otlp_metrics = tracekit_otlp::metrics_from_env_as("orders");
    let prometheus = tracekit::metrics::Prometheus::new().service_name("orders");
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .layer(tracekit_tower::TraceLayer::new())
        // After the layer: scrapes are neither traced nor counted.
        .route_service(
            "/metrics",
            tracekit_tower::PrometheusService::with(prometheus),
        );
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("metrics_service: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = tracekit::task::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(tracekit::signal::terminated())
            .await
    });
    println!("listening on http://{addr}");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracekit_reqwest::TraceMiddleware)
        .build();
    let mut by_status = std::collections::BTreeMap::new();
    tokio::time::sleep(Duration::from_secs_f64(start_after)).await;
    let pause = Duration::from_secs_f64(spread / requests.max(1) as f64);
    for i in 0..requests {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let status = match client
            .get(format!("http://{addr}/orders/{}", i % 50))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        };
        *by_status.entry(status).or_insert(0u64) += 1;
    }
    let served: Vec<String> = by_status
        .iter()
        .map(|(s, n)| format!("{n} × {s}"))
        .collect();
    println!("made {requests} requests: {}", served.join(", "));
    let sampled = tracekit::collector_stats().spans_submitted;
    println!("spans recorded (sampled): {sampled}");
    print!("{}", tracekit::metrics::snapshot().table());
    println!("ready");
    if !exit {
        let _ = server.await;
    }
    // The last interval of metrics, then what is left of the traces.
    drop(otlp_metrics);
    traces.shutdown();
}
