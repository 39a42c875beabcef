//! A loopback OTLP/HTTP receiver for the service benchmark, in a process of
//! its own so that its CPU time is not counted in the service's.
//!
//! `otlp-sink [--port N] [--addr-file PATH]` listens on 127.0.0.1 (port 0 by
//! default: one the system picks), prints `http://127.0.0.1:PORT` on stdout
//! and, when asked, writes it to PATH too. It answers:
//! - `POST /v1/traces`: `200` with an empty `ExportTraceServiceResponse`
//!   (protobuf; every field at its default is zero bytes), after counting the
//!   request's spans (body gzip-decoded when `Content-Encoding: gzip`); a
//!   body that does not decode is a `400`, counted apart;
//! - `GET /count`: the spans counted so far, as a decimal number;
//! - `GET /stats`: `spans=N requests=N bad=N`;
//! - `POST /reset`: zeroes the counters.
//!
//! Only the nesting down to the spans is decoded (resource spans → scope
//! spans → spans): prost skips every other field, and each span is counted
//! without being read.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// `ExportTraceServiceRequest`, its `resource_spans` (field 1) only.
#[derive(Clone, PartialEq, prost::Message)]
struct TracesRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`, its `scope_spans` (field 2) only.
#[derive(Clone, PartialEq, prost::Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

/// `ScopeSpans`, its `spans` (field 2), each decoded as an empty message.
#[derive(Clone, PartialEq, prost::Message)]
struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    spans: Vec<SpanStub>,
}

/// A `Span` with none of its fields kept.
#[derive(Clone, PartialEq, prost::Message)]
struct SpanStub {}

static SPANS: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);

fn count_spans(body: &[u8]) -> Result<u64, String> {
    let request = <TracesRequest as prost::Message>::decode(body).map_err(|e| e.to_string())?;
    Ok(request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum())
}

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("a response")
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let text = "text/plain";
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/traces") => {
            let gzip = request
                .headers()
                .get(hyper::header::CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let body = request.into_body().collect().await?.to_bytes();
            let decoded = if gzip {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut plain)
                    .map(|_| Bytes::from(plain))
                    .map_err(|e| format!("gzip: {e}"))
            } else {
                Ok(body)
            };
            REQUESTS.fetch_add(1, Ordering::Relaxed);
            match decoded.and_then(|b| count_spans(&b)) {
                Ok(n) => {
                    SPANS.fetch_add(n, Ordering::Relaxed);
                    answer(StatusCode::OK, "application/x-protobuf", Bytes::new())
                }
                Err(e) => {
                    if BAD.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("otlp-sink: a request that does not decode: {e}");
                    }
                    answer(StatusCode::BAD_REQUEST, text, e)
                }
            }
        }
        (&Method::GET, "/count") => answer(
            StatusCode::OK,
            text,
            SPANS.load(Ordering::Relaxed).to_string(),
        ),
        (&Method::GET, "/stats") => answer(
            StatusCode::OK,
            text,
            format!(
                "spans={} requests={} bad={}",
                SPANS.load(Ordering::Relaxed),
                REQUESTS.load(Ordering::Relaxed),
                BAD.load(Ordering::Relaxed)
            ),
        ),
        (&Method::POST, "/reset") => {
            for counter in [&SPANS, &REQUESTS, &BAD] {
                counter.store(0, Ordering::Relaxed);
            }
            answer(StatusCode::OK, text, "0")
        }
        _ => answer(StatusCode::NOT_FOUND, text, "not found"),
    };
    Ok(response)
}

fn main() {
    let mut port = 0u16;
    let mut addr_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse().expect("--port takes a number"),
            ("--addr-file", Some(path)) => addr_file = Some(path),
            _ => {
                eprintln!("usage: otlp-sink [--port N] [--addr-file PATH]");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        println!("{url}");
        if let Some(path) = addr_file {
            // Written whole, then renamed, so a reader never sees half of it.
            let partial = format!("{path}.partial");
            std::fs::write(&partial, format!("{url}\n")).expect("the address file");
            std::fs::rename(&partial, &path).expect("the address file");
        }
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    eprintln!("otlp-sink: a connection ended badly: {e}");
                }
            });
        }
    });
}
