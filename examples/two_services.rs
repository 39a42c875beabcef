//! Two services in two processes, one trace. `frontend` (this process) starts
//! `backend` as a child process of itself, serves HTTP with axum, and a
//! reqwest client calls it; the frontend calls the backend twice, and the
//! second call fails. Both servers trace their requests with
//! `tracekit_tower::TraceLayer`, the frontend's client with
//! `tracekit_reqwest::TraceMiddleware`. The W3C `traceparent` header joins the backend's spans
//! to the frontend's client spans, and the `baggage` header carries the
//! request id into the backend. Each process prints its part of the trace
//! under its own service name, and logs on stderr, every line inside a
//! request stamped with its trace id and request id.
//!
//! Both services serve their metrics at `/metrics` (Prometheus text), and
//! the frontend reads its own after the call; with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, each also exports its spans and its
//! metrics (`http.server.request.duration`, ...) over OTLP.
//!
//! ```text
//! cargo run --example two_services
//! ```

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tracekit::trace_fn;

#[tokio::main]
async fn main() {
    let role = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "frontend".to_owned());
    let reporter = tracekit_examples::install_reporter(&role);
    // Metrics over OTLP when an endpoint is set (every
    // OTEL_METRIC_EXPORT_INTERVAL, and once more when dropped).
    let otlp_metrics = tracekit_otlp::metrics_from_env_as(&role);
    tracekit_examples::install_logger();
    let outcome = match role.as_str() {
        "frontend" => frontend().await,
        "backend" => backend().await,
        other => Err(format!(
            "unknown role {other:?}; expected frontend or backend"
        )),
    };
    // The servers have shut down gracefully: deliver every finished span
    // (OTLP batches wait up to 5 s) before the process ends, also on the
    // error path, which `process::exit` would otherwise cut short. The
    // metrics' last interval goes out first: it counts the last requests.
    drop(otlp_metrics);
    reporter.shutdown();
    if let Err(e) = outcome {
        eprintln!("two_services {role}: {e}");
        std::process::exit(1);
    }
}

// ---- backend -------------------------------------------------------------

#[derive(Debug)]
struct OutOfStock(String);

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is out of stock", self.0)
    }
}

impl std::error::Error for OutOfStock {}

#[trace_fn]
async fn reserve_stock(item: &str) -> Result<u32, OutOfStock> {
    let left = query_stock(item).await;
    if left == 0 {
        log::warn!(item; "out of stock");
        return Err(OutOfStock(item.to_owned()));
    }
    log::info!(item, left; "reserved");
    Ok(left - 1)
}

#[trace_fn(kind = "client", fields(db.system = "postgres"))]
async fn query_stock(item: &str) -> u32 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    if item == "gizmo" { 0 } else { 12 }
}

async fn reserve(Path(item): Path<String>) -> Response {
    log::info!(item; "reserve");
    match reserve_stock(&item).await {
        Ok(left) => format!("reserved {item}, {left} left").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `/metrics` for the service `role`: its `target_info` says `role`, not
/// the process's name.
fn prometheus_for(role: &str) -> tracekit_tower::PrometheusService {
    tracekit_tower::PrometheusService::with(tracekit::metrics::Prometheus::new().service_name(role))
}

async fn backend() -> Result<(), String> {
    let app = Router::new()
        .route("/inventory/{item}/reserve", get(reserve))
        // A server span for every request, continuing the caller's trace.
        .layer(tracekit_tower::TraceLayer::new())
        // Prometheus text, not traced (added after the layer), its
        // target_info named as the spans and OTLP metrics are.
        .route_service("/metrics", prometheus_for("backend"));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The frontend reads the address from this first line.
    println!("listening on {addr}");
    // The frontend stops us with SIGTERM, as a service manager would (or
    // closes our stdin where it cannot send one); Ctrl-C does too.
    // In-flight requests finish, then `main` shuts the reporter down. Stdin
    // is read on a plain thread: tokio's stdin reader would keep the
    // runtime, and so the process, alive after SIGTERM.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    tracekit::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let stop = async {
        let why = tokio::select! {
            _ = stdin_closed => "stdin closed",
            () = tracekit::signal::terminated() => "SIGTERM",
        };
        eprintln!("backend: {why}, shutting down");
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| format!("backend server: {e}"))
}

// ---- frontend ------------------------------------------------------------

struct Frontend {
    http: reqwest_middleware::ClientWithMiddleware,
    backend: String,
}

#[trace_fn(skip(app))]
async fn checkout(app: &Frontend, cart: u64) -> String {
    let mut reserved = 0;
    for item in ["book", "gizmo"] {
        let url = format!("{}/inventory/{item}/reserve", app.backend);
        let reply = async {
            let response = app.http.get(&url).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest_middleware::Error>((status, response.text().await?))
        };
        match reply.await {
            Ok((200, _)) => reserved += 1,
            Ok((status, body)) => {
                tracekit::current_span().add_event(
                    "reservation failed",
                    [
                        ("item", tracekit::Value::from(item)),
                        ("status", i64::from(status).into()),
                        ("reason", body.into()),
                    ],
                );
            }
            Err(e) => tracekit::current_span().record_error(&e),
        }
    }
    format!("cart {cart}: reserved {reserved} of 2 items")
}

async fn checkout_route(State(app): State<Arc<Frontend>>, Path(cart): Path<u64>) -> String {
    log::info!(cart; "checkout");
    checkout(&app, cart).await
}

async fn frontend() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // The backend keeps the default sampler, parent-based: it records a
    // trace exactly when the frontend's request says "sampled". Run with
    // `OTEL_TRACES_SAMPLER=always_off` to see both stay silent.
    let mut child = tokio::process::Command::new(exe)
        .arg("backend")
        .env_remove("OTEL_TRACES_SAMPLER")
        .env_remove("OTEL_TRACES_SAMPLER_ARG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the backend: {e}"))?;
    let mut child_out = BufReader::new(child.stdout.take().ok_or("no backend stdout")?);
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(10), child_out.read_line(&mut first))
        .await
        .map_err(|_| "the backend did not start within 10 s".to_owned())?
        .map_err(|e| format!("reading the backend's address: {e}"))?;
    let backend_addr = first
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("the backend said {first:?}"))?;

    let app = Arc::new(Frontend {
        // A client span for every request, its context in the headers.
        http: reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(tracekit_reqwest::TraceMiddleware)
            .build(),
        backend: format!("http://{backend_addr}"),
    });
    let router = Router::new()
        .route("/checkout/{cart}", get(checkout_route))
        .layer(tracekit_tower::TraceLayer::new().with_traceresponse(true))
        .route_service("/metrics", prometheus_for("frontend"))
        .with_state(app);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tracekit::task::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // The user: an untraced client, so the frontend starts the trace.
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/checkout/42"))
        .header("x-request-id", "r-1001")
        .send()
        .await
        .map_err(|e| format!("calling the frontend: {e}"))?;
    let status = response.status();
    let traceresponse = response
        .headers()
        .get("traceresponse")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut parts = traceresponse.split('-').skip(1);
    let trace = parts.next().unwrap_or("?");
    // trace-flags is a bit field: sampled is its lowest bit (a trace the
    // frontend started also has the random-trace-id bit, 0x02).
    let sampled = parts
        .nth(1)
        .and_then(|flags| u8::from_str_radix(flags, 16).ok())
        .is_some_and(|flags| flags & 0x01 != 0);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    let not = if sampled { "" } else { ", not sampled" };
    println!("client <- {status} {body} (trace {trace}{not})");
    println!("client <- x-request-id: {request_id}");

    // The frontend's metrics, as Prometheus scrapes them: the request just
    // served, counted whether or not its trace was sampled.
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .map_err(|e| format!("reading /metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("reading /metrics: {e}"))?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("target_info{")
            || l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains("http_route=\"/checkout/{cart}\"")
    }) {
        println!("client <- /metrics: {line}");
    }

    let _ = stop.send(());
    let _ = server.await;
    tracekit::flush();

    // Stop the backend as a service manager would, with SIGTERM (closing
    // its stdin where that cannot be sent): it stops taking requests,
    // finishes what is in flight, delivers its spans and exits. Then show
    // its part of the trace after ours.
    let terminated = child.id().is_some_and(|pid| {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !terminated {
        drop(child.stdin.take());
    }
    let mut rest = String::new();
    let _ = child_out.read_to_string(&mut rest).await;
    let exit = child.wait().await.map_err(|e| e.to_string())?;
    print!("{rest}");
    if !exit.success() {
        return Err(format!("the backend exited with {exit}"));
    }
    Ok(())
}
