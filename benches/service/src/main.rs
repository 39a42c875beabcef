//! What tracing adds to a real service's request (issue 28).
//!
//! The service: an axum 0.8 router with one route, `GET /users/{id}`. Its
//! handler awaits `load_user(id)`, which calls `check_cache(id)` and
//! `query_db(id)`; each of those spins for about 1 µs of CPU (a busy loop
//! with `black_box`, its length calibrated once, see `calibrate`), and the
//! handler answers the user as JSON. The server runs on a current-thread
//! tokio runtime on its own OS thread.
//!
//! The client, in the same process on another thread (a current-thread
//! runtime of its own), is a closed loop over `--connections` (16) HTTP/1.1
//! keep-alive connections on loopback, each sending its next request as soon
//! as the previous response's body is read. It sends `--warmup` (20,000)
//! requests, then the `--requests` (200,000) that are measured: the wall time
//! (requests per second), each request's latency (p50, p99), and the
//! process's user + system CPU time from `getrusage(RUSAGE_SELF)` (every
//! thread: client, server, and the tracer's own threads), per request.
//! After the run the tracer is flushed and shut down, and the spans it
//! delivered are compared with the spans the requests made (4 per request,
//! warm-up included); the peak RSS is `VmHWM`. One line goes to stdout:
//! `RESULT mode=... rps=... p50_us=... p99_us=... cpu_us_per_req=...
//! rss_kib=... spans_expected=... spans_delivered=... spans_lost=...`.
//!
//! One mode per process (`service <mode>`), so that no mode pays for
//! another's set-up; `run.sh` runs them in rotated order. The three
//! functions exist once per flavour (the `handlers!` macro stamps out the
//! same code under a different attribute), so `untraced` runs no tracing
//! code at all. The modes, and what each records per request:
//!
//! - `untraced`: no layer, no attribute, nothing installed.
//! - `tracekit`: `tracekit_tower::TraceLayer` (the server span, named
//!   `GET /users/{id}`, with the stable HTTP server attributes, the request
//!   id, which it also echoes in the response, and the status) and
//!   `#[tracekit::trace_fn]` on the three functions (each records its `id`
//!   argument); the reporter counts the spans and drops them.
//! - `tracekit-otlp`: the same, exported by `tracekit_otlp::reporter` to the
//!   loopback receiver `--otlp` (`otlp-sink`, its own process), every other
//!   setting at its default: whether the defaults lose spans is the point.
//! - `tracing-otel`: tower-http's `TraceLayer::new_for_http()` (its default
//!   span, `request` with method, uri and version, and its default
//!   request/response events), `#[tracing::instrument]` on the three
//!   functions (records `id`), a `tracing-subscriber` registry with the
//!   `tracing-opentelemetry` layer, and an SDK tracer provider whose batch
//!   processor (default settings) exports to an exporter that counts and
//!   drops.
//! - `tracing-otel-otlp`: the same, with opentelemetry-otlp's HTTP/protobuf
//!   exporter (reqwest blocking client) to `--otlp`, default settings.
//! - `fastrace`: a root span per request opened by a ten-line axum
//!   middleware (`fastrace_root`: method, route, status), `#[fastrace::trace]`
//!   on the three functions (no arguments), and a reporter that counts and
//!   drops. fastrace records less per request than tracekit does.
//!
//! Fairness: every mode runs the same handler code, answers the same JSON
//! (serialised the same way) and is driven by the same client; only the
//! attribute on the three functions, the router's layer and the tracer
//! installed differ, and nothing of another mode is installed (no `tracing`
//! subscriber outside the two `tracing-otel` modes, no tracekit reporter
//! outside the two tracekit modes). The busy loop's length is measured once
//! by `run.sh` (`service calibrate`) and passed to every run (`--spin`), so
//! every mode does the same work. The client's CPU time is in every mode's
//! figure alike, so it cancels out of "added"; the tracers' background
//! threads are in it too, which is the point. Spans of the warm-up exported
//! during the measured requests and spans of the measured requests exported
//! after them roughly cancel in a steady state. `--show-spans N` prints the
//! first N spans a discarding reporter gets, to see what a mode records.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Spans per request: the server (or root) span and the three functions.
const SPANS_PER_REQUEST: u64 = 4;

// ---------------------------------------------------------------------------
// The work.

/// Iterations of `spin` that make about 1 µs; set once at start-up.
static SPIN: AtomicU64 = AtomicU64::new(0);

/// About 1 µs of CPU, the same in every mode: a fixed number of rounds of a
/// multiply-rotate that the optimiser cannot fold away.
#[inline(never)]
fn spin(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..SPIN.load(Ordering::Relaxed) {
        x = black_box(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    x
}

/// The number of `spin` iterations that take 1 µs here: the fastest of a
/// few timed runs, so a busy machine makes it err long rather than short.
fn calibrate() -> u64 {
    const PROBE: u64 = 2_000_000;
    SPIN.store(PROBE, Ordering::Relaxed);
    let fastest = (0..7)
        .map(|i| {
            let t = Instant::now();
            black_box(spin(i));
            t.elapsed()
        })
        .min()
        .expect("seven runs");
    (PROBE as f64 * 1_000.0 / fastest.as_nanos() as f64)
        .round()
        .max(1.0) as u64
}

/// What the service answers.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct User {
    id: u64,
    name: String,
    cached: bool,
    score: u64,
}

/// A JSON response: the content type and the serialised value.
type JsonBody = (
    [(axum::http::HeaderName, axum::http::HeaderValue); 1],
    Vec<u8>,
);

fn json(value: &impl Serialize) -> JsonBody {
    let body = serde_json::to_vec(value).expect("a user serialises");
    let json = axum::http::HeaderValue::from_static("application/json");
    ([(axum::http::header::CONTENT_TYPE, json)], body)
}

/// The three functions of a request and the handler, once per flavour of
/// instrumentation: the attribute given goes on each of the three.
macro_rules! handlers {
    ($flavour:ident $(, #[$attr:meta])?) => {
        mod $flavour {
            use super::*;

            $(#[$attr])?
            pub async fn load_user(id: u64) -> User {
                let cached = check_cache(id);
                let score = query_db(id);
                User {
                    id,
                    name: format!("user-{id}"),
                    cached,
                    score,
                }
            }

            $(#[$attr])?
            pub fn check_cache(id: u64) -> bool {
                spin(id) & 1 == 0
            }

            $(#[$attr])?
            pub fn query_db(id: u64) -> u64 {
                spin(id ^ 0x5555) % 1000
            }

            pub async fn get_user(Path(id): Path<u64>) -> JsonBody {
                json(&load_user(id).await)
            }
        }
    };
}

handlers!(plain);
handlers!(with_tracekit, #[tracekit::trace_fn]);
handlers!(with_tracing, #[tracing::instrument]);
handlers!(with_fastrace, #[fastrace::trace]);

/// fastrace's root span per request: method, route and status, and the
/// request's future run in it. The route is axum's template.
async fn fastrace_root(
    route: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use fastrace::prelude::*;
    let method = request.method().as_str().to_owned();
    let route = route.as_str().to_owned();
    let root = Span::root(format!("{method} {route}"), SpanContext::random())
        .with_properties(|| [("http.request.method", method), ("http.route", route)]);
    async move {
        let response = next.run(request).await;
        LocalSpan::add_property(|| {
            (
                "http.response.status_code",
                response.status().as_str().to_owned(),
            )
        });
        response
    }
    .in_span(root)
    .await
}

// ---------------------------------------------------------------------------
// The modes.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Untraced,
    Tracekit,
    TracekitOtlp,
    TracingOtel,
    TracingOtelOtlp,
    Fastrace,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Untraced,
        Mode::Tracekit,
        Mode::TracekitOtlp,
        Mode::TracingOtel,
        Mode::TracingOtelOtlp,
        Mode::Fastrace,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Tracekit => "tracekit",
            Mode::TracekitOtlp => "tracekit-otlp",
            Mode::TracingOtel => "tracing-otel",
            Mode::TracingOtelOtlp => "tracing-otel-otlp",
            Mode::Fastrace => "fastrace",
        }
    }

    fn is_otlp(self) -> bool {
        matches!(self, Mode::TracekitOtlp | Mode::TracingOtelOtlp)
    }

    fn is_tracekit(self) -> bool {
        matches!(self, Mode::Tracekit | Mode::TracekitOtlp)
    }

    fn app(self) -> Router {
        let route = "/users/{id}";
        match self {
            Mode::Untraced => Router::new().route(route, get(plain::get_user)),
            Mode::Tracekit | Mode::TracekitOtlp => Router::new()
                .route(route, get(with_tracekit::get_user))
                .layer(tracekit_tower::TraceLayer::new()),
            Mode::TracingOtel | Mode::TracingOtelOtlp => Router::new()
                .route(route, get(with_tracing::get_user))
                .layer(tower_http::trace::TraceLayer::new_for_http()),
            Mode::Fastrace => Router::new()
                .route(route, get(with_fastrace::get_user))
                .layer(axum::middleware::from_fn(fastrace_root)),
        }
    }
}

/// Spans the discarding reporters still print to stderr (`--show-spans`), to
/// see what each mode records.
static SHOW: AtomicU64 = AtomicU64::new(0);

fn show<T: std::fmt::Debug>(spans: impl IntoIterator<Item = T>) {
    if SHOW.load(Ordering::Relaxed) > 0 {
        for span in spans {
            if SHOW
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err()
            {
                break;
            }
            eprintln!("{span:#?}");
        }
    }
}

/// Spans counted by a discarding reporter or exporter.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl Counter {
    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl tracekit::Reporter for Counter {
    fn report(&mut self, spans: tracekit::SpanBatch) {
        self.add(spans.len());
        show(spans.views());
        black_box(spans);
    }
}

impl fastrace::collector::Reporter for Counter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.add(spans.len());
        show(&spans);
        black_box(spans);
    }
}

#[derive(Debug)]
struct OtelCounter(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for OtelCounter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        show(&batch);
        black_box(batch);
        Ok(())
    }
}

/// A mode's tracer, installed before the server starts.
enum Tracer {
    None,
    Tracekit {
        guard: tracekit::ReporterGuard,
        counter: Option<Counter>,
        export: Option<tracekit::ExportStats>,
    },
    Otel {
        provider: opentelemetry_sdk::trace::SdkTracerProvider,
        counter: Option<Counter>,
    },
    Fastrace(Counter),
}

const SERVICE_NAME: &str = "tracekit-bench-service";

impl Tracer {
    fn install(mode: Mode, otlp: Option<&str>) -> Tracer {
        match mode {
            Mode::Untraced => Tracer::None,
            Mode::Tracekit => {
                let counter = Counter::default();
                Tracer::Tracekit {
                    guard: tracekit::set_reporter(counter.clone()),
                    counter: Some(counter),
                    export: None,
                }
            }
            Mode::TracekitOtlp => {
                let url = otlp.expect("checked");
                let config =
                    tracekit_otlp::OtlpConfig::new(url, tracekit_otlp::Resource::new(SERVICE_NAME));
                let reporter = tracekit_otlp::reporter(config);
                let export = reporter.stats();
                Tracer::Tracekit {
                    guard: tracekit::set_reporter(reporter),
                    counter: None,
                    export: Some(export),
                }
            }
            Mode::TracingOtel | Mode::TracingOtelOtlp => {
                use opentelemetry::trace::TracerProvider as _;
                use tracing_subscriber::layer::SubscriberExt;
                let builder = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(SERVICE_NAME)
                        .build(),
                );
                let (provider, counter) = match otlp {
                    Some(url) if mode == Mode::TracingOtelOtlp => {
                        use opentelemetry_otlp::WithExportConfig;
                        let exporter = opentelemetry_otlp::SpanExporter::builder()
                            .with_http()
                            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                            .with_endpoint(format!("{url}/v1/traces"))
                            .build()
                            .expect("an opentelemetry-otlp exporter");
                        (builder.with_batch_exporter(exporter).build(), None)
                    }
                    _ => {
                        let counter = Counter::default();
                        let exporter = OtelCounter(Arc::clone(&counter.0));
                        (builder.with_batch_exporter(exporter).build(), Some(counter))
                    }
                };
                let subscriber = tracing_subscriber::registry().with(
                    tracing_opentelemetry::layer().with_tracer(provider.tracer(SERVICE_NAME)),
                );
                tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
                Tracer::Otel { provider, counter }
            }
            Mode::Fastrace => {
                let counter = Counter::default();
                fastrace::set_reporter(counter.clone(), fastrace::collector::Config::default());
                Tracer::Fastrace(counter)
            }
        }
    }

    /// Delivers everything, stops the tracer and says how many spans it
    /// delivered to its discarding sink (`None` when they went to the OTLP
    /// receiver, which is asked instead), with the tracer's own counts.
    fn finish(self) -> (Option<u64>, Vec<(&'static str, u64)>) {
        match self {
            Tracer::None => (Some(0), Vec::new()),
            Tracer::Tracekit {
                guard,
                counter,
                export,
            } => {
                guard.shutdown();
                let stats = tracekit::collector_stats();
                let mut notes = vec![("collector_dropped", stats.spans_dropped)];
                if let Some(export) = export {
                    let s = export.snapshot();
                    notes.extend([
                        ("export_queue_full", s.spans_dropped_queue_full),
                        ("export_failed", s.spans_dropped_export_failed),
                        ("export_shutdown_dropped", s.spans_dropped_shutdown),
                        ("exported", s.spans_exported),
                    ]);
                }
                (counter.map(|c| c.get()), notes)
            }
            Tracer::Otel { provider, counter } => {
                if let Err(e) = provider.force_flush() {
                    eprintln!("service: the tracer provider's flush failed: {e}");
                }
                if let Err(e) = provider.shutdown() {
                    eprintln!("service: the tracer provider's shutdown failed: {e}");
                }
                (counter.map(|c| c.get()), Vec::new())
            }
            Tracer::Fastrace(counter) => {
                fastrace::flush();
                (Some(counter.get()), Vec::new())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The server and the client.

/// Starts the server on its own thread; returns its address and what stops
/// it (the thread then hands over what it traced, and ends).
fn start_server(mode: Mode) -> (std::net::SocketAddr, impl FnOnce()) {
    use axum::serve::ListenerExt;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("bound");
    let app = mode.app();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the server's runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("a tokio listener")
                    .tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                tokio::select! {
                    r = axum::serve(listener, app) => r.expect("the server"),
                    _ = stopped => {}
                }
            });
            drop(rt);
            if mode.is_tracekit() {
                // Whatever this thread still holds goes to the collector.
                tracekit::flush();
            }
        })
        .expect("the server thread");
    let stop = move || {
        let _ = stop.send(());
        thread.join().expect("the server thread ended well");
    };
    (addr, stop)
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// One phase of the closed loop: `count` requests over the connections,
/// each connection sending its next request when the last one's body is
/// read. Returns the connections and the latencies in nanoseconds.
async fn closed_loop(
    senders: Vec<Sender>,
    count: u64,
    first_id: u64,
    keep: bool,
) -> (Vec<Sender>, Vec<u32>) {
    let tickets = Arc::new(AtomicU64::new(0));
    let per = if keep {
        count as usize / senders.len() + 1
    } else {
        0
    };
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let tickets = Arc::clone(&tickets);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per);
                loop {
                    let n = tickets.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    let id = (first_id + n) % 100_000;
                    let request = hyper::Request::get(format!("/users/{id}"))
                        .header(hyper::header::HOST, "127.0.0.1")
                        .body(Empty::<Bytes>::new())
                        .expect("a request");
                    let start = Instant::now();
                    sender.ready().await.expect("the connection is open");
                    let response = sender.send_request(request).await.expect("a response");
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .expect("the body")
                        .to_bytes();
                    let took = start.elapsed();
                    assert_eq!(status, hyper::StatusCode::OK, "GET /users/{id}");
                    if n == 0 {
                        let user: User = serde_json::from_slice(&body).expect("JSON");
                        assert_eq!(user.id, id, "the user asked for");
                    }
                    if keep {
                        latencies.push(u32::try_from(took.as_nanos()).unwrap_or(u32::MAX));
                    }
                }
                (sender, latencies)
            })
        })
        .collect();
    let mut senders = Vec::new();
    let mut all = Vec::with_capacity(if keep { count as usize } else { 0 });
    for task in tasks {
        let (sender, latencies) = task.await.expect("a client task");
        senders.push(sender);
        all.extend(latencies);
    }
    (senders, all)
}

/// User + system CPU time of the whole process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given; all zeros is a valid
    // `rusage`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The process's peak resident set, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One request to the OTLP sink's control endpoints (`GET /count`, `POST
/// /reset`); returns the body.
fn ask_sink(base: &str, method: &str, path: &str) -> std::io::Result<String> {
    let host = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "the sink answered {:?}",
            head.lines().next()
        )));
    }
    Ok(body.trim().to_owned())
}

fn sink_count(base: &str) -> u64 {
    ask_sink(base, "GET", "/count")
        .and_then(|b| b.parse().map_err(std::io::Error::other))
        .unwrap_or_else(|e| {
            eprintln!("service: cannot read the sink's count at {base}: {e}");
            std::process::exit(1)
        })
}

// ---------------------------------------------------------------------------

struct Args {
    mode: Mode,
    requests: u64,
    warmup: u64,
    connections: usize,
    otlp: Option<String>,
    spin: Option<u64>,
}

const USAGE: &str =
    "usage: service <untraced|tracekit|tracekit-otlp|tracing-otel|tracing-otel-otlp|fastrace> \
[--requests N] [--warmup N] [--connections N] [--otlp http://127.0.0.1:PORT] [--spin ITERATIONS] [--show-spans N]
       service calibrate   (prints the spin iterations that make 1 µs)";

fn fail(message: &str) -> ! {
    eprintln!("service: {message}\n{USAGE}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("calibrate") => {
            println!("{}", calibrate());
            std::process::exit(0)
        }
        Some(name) => Mode::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| fail(&format!("unknown mode {name:?}"))),
        None => fail("which mode?"),
    };
    let mut parsed = Args {
        mode,
        requests: 200_000,
        warmup: 20_000,
        connections: 16,
        otlp: None,
        spin: None,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let number = || -> u64 {
            value
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| fail(&format!("{flag} {value:?} is not a number")))
        };
        match flag.as_str() {
            "--requests" => parsed.requests = number(),
            "--warmup" => parsed.warmup = number(),
            "--connections" => parsed.connections = number().max(1) as usize,
            "--spin" => parsed.spin = Some(number().max(1)),
            "--show-spans" => SHOW.store(number(), Ordering::Relaxed),
            "--otlp" => parsed.otlp = Some(value.trim_end_matches('/').to_owned()),
            _ => fail(&format!("unknown option {flag}")),
        }
    }
    if parsed.mode.is_otlp() && parsed.otlp.is_none() {
        fail(&format!(
            "{} needs --otlp (the URL otlp-sink listens on)",
            parsed.mode.name()
        ));
    }
    if parsed.mode.is_tracekit() && !tracekit::TRACE_ALL {
        fail("this build has tracekit's spans compiled out (built without the trace-all feature)");
    }
    if parsed.requests == 0 {
        fail("--requests must be at least 1");
    }
    parsed
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1_000.0
}

fn main() {
    let args = parse_args();
    let mode = args.mode;
    let spin = args.spin.unwrap_or_else(calibrate);
    SPIN.store(spin, Ordering::Relaxed);

    let otlp = if mode.is_otlp() {
        args.otlp.as_deref()
    } else {
        None
    };
    if let Some(url) = otlp
        && let Err(e) = ask_sink(url, "POST", "/reset")
    {
        eprintln!("service: cannot reset the OTLP sink at {url}: {e}");
        std::process::exit(1);
    }
    let tracer = Tracer::install(mode, otlp);
    let (addr, stop_server) = start_server(mode);

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the client's runtime");
    let (wall, cpu, mut latencies) = client.block_on(async {
        let mut senders = Vec::new();
        let mut connections = Vec::new();
        for _ in 0..args.connections {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .expect("the server accepts");
            stream.set_nodelay(true).expect("nodelay");
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("an HTTP/1.1 connection");
            senders.push(sender);
            connections.push(tokio::spawn(connection));
        }
        let (senders, _) = closed_loop(senders, args.warmup, 0, false).await;
        let (cpu0, t0) = (cpu_time(), Instant::now());
        let (senders, latencies) = closed_loop(senders, args.requests, args.warmup, true).await;
        let (wall, cpu) = (t0.elapsed(), cpu_time() - cpu0);
        drop(senders);
        for c in connections {
            let _ = c.await;
        }
        (wall, cpu, latencies)
    });
    drop(client);
    stop_server();

    let (delivered, notes) = tracer.finish();
    let delivered = match (delivered, otlp) {
        (Some(n), _) => n,
        (None, Some(url)) => sink_count(url),
        (None, None) => unreachable!("an OTLP mode has a sink"),
    };
    let expected = if mode == Mode::Untraced {
        0
    } else {
        SPANS_PER_REQUEST * (args.warmup + args.requests)
    };

    latencies.sort_unstable();
    let n = args.requests as f64;
    let mut line = format!(
        "RESULT mode={} requests={} warmup={} connections={} spin={} rps={:.0} p50_us={:.1} \
         p99_us={:.1} cpu_us_per_req={:.3} rss_kib={} spans_expected={} spans_delivered={} \
         spans_lost={}",
        mode.name(),
        args.requests,
        args.warmup,
        args.connections,
        spin,
        n / wall.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        cpu.as_secs_f64() * 1e6 / n,
        peak_rss_kib(),
        expected,
        delivered,
        expected as i64 - delivered as i64,
    );
    for (key, value) in notes {
        line.push_str(&format!(" {key}={value}"));
    }
    println!("{line}");
}
