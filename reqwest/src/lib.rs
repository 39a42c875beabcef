//! Outgoing requests as client spans: a [`reqwest_middleware::Middleware`]
//! that starts a `client` span for each request a
//! `reqwest_middleware::ClientWithMiddleware` sends, puts its context (and
//! the request id) into the request's headers, and records the outcome.
//!
//! ```
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(tracekit_reqwest::TraceMiddleware)
//!     .build();
//! # drop(client);
//! ```
//!
//! The span is a child of the current span, named and tagged in the HTTP
//! conventions [`tracekit::http::set_conventions`] chose (by default
//! OpenTelemetry's stable ones: named by the method, with
//! `http.request.method`, `url.full`, `server.address`, `server.port`, then
//! `http.response.status_code`). A 4xx or 5xx answer is an error
//! (`error.type` is the code, in the stable conventions; `error=true` in the
//! old); so is a request that gets no answer (`error.type` is
//! `timeout`, `connect`, `request`, `redirect`, `body`, `decode` or
//! `middleware`, in the old conventions too, as the request's metrics count
//! by it; and the error is recorded as an `exception` event). The
//! span ends when the response's headers arrive: reading the body is not
//! in it, and a body that fails later does not fail it. A request dropped
//! before its answer (a timeout around `send()`) is tagged `cancelled` and
//! counted for metrics with no status, not as an error. Stack a retry
//! middleware before this one and each attempt gets its own span.

#![warn(missing_docs)]

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};
use tracekit::FutureExt;
use tracekit::http as tk;

/// Traces each request (see the crate docs).
///
/// ```
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(tracekit_reqwest::TraceMiddleware)
///     .build();
/// # drop(client);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceMiddleware;

#[async_trait::async_trait]
impl Middleware for TraceMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let (method, url) = (request.method().clone(), request.url().clone());
        let span = tk::client_span(method.as_str(), url.as_str(), request.headers_mut());
        async move {
            let result = next.run(request, extensions).await;
            let current = tracekit::current_span();
            match &result {
                Ok(response) => {
                    tk::set_current_status_code(response.status().as_u16());
                    // What was negotiated (HTTP/2 by ALPN, say), in every
                    // convention: the request's metrics count by it.
                    if let Some(version) = tk::protocol_version(response.version()) {
                        current.set_tag("network.protocol.version", version);
                    }
                }
                Err(e) => {
                    // In every convention: the request's metrics count by
                    // it, and their attributes are the stable ones.
                    current.set_tag("error.type", error_type(e));
                    current.record_error(e);
                }
            }
            result
        }
        .in_span(span)
        .await
    }
}

/// A short, low-cardinality name for why a request got no answer.
fn error_type(e: &reqwest_middleware::Error) -> &'static str {
    match e {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() => "body",
        reqwest_middleware::Error::Reqwest(e) if e.is_decode() => "decode",
        reqwest_middleware::Error::Reqwest(_) => "request",
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}
