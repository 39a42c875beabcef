//! A `tower` layer that traces every request a server handles: axum, a bare
//! hyper service, tonic (all take tower layers).
//!
//! ```
//! use axum::{Router, routing::get};
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "ann" }))
//!     .layer(tracekit_tower::TraceLayer::new());
//! # drop(app);
//! ```
//!
//! `Router::layer` covers every route and the fallback (404s too). A
//! router wrapped as a whole instead (`TraceLayer::new().layer(router)`)
//! sees no `MatchedPath` (every span is named by its method alone, and the
//! routes' series are one), and answers `Response<TracedBody<Body>>`,
//! which `axum::serve` does not take (`response.map(axum::body::Body::new)`
//! makes it one): prefer `Router::layer`.
//!
//! Each request gets a `server` span, a child of the caller's context (the
//! configured propagators read the request's headers) or the root of a new
//! trace:
//! - named `{METHOD} {route}` from axum's `MatchedPath` (the route template,
//!   so ids in paths do not make every request a new span name; `HTTP` for
//!   a method the conventions do not know), or
//!   `{METHOD}` alone when the route is unknown (a 404, a layer outside the
//!   router, a bare hyper service); a gRPC request (`content-type:
//!   application/grpc`) is named `{package.Service}/{Method}` with
//!   `rpc.system`, `rpc.service`, `rpc.method`;
//! - with the request's attributes and then its status, in the HTTP
//!   conventions [`tracekit::http::set_conventions`] chose;
//! - current in the handler and in everything it awaits, so `#[trace_fn]`
//!   calls, outgoing requests and log lines join it;
//! - an error on a 5xx, on a gRPC server-side failure status (`grpc-status`
//!   in the response headers or trailers; a gRPC response with neither and
//!   an HTTP status other than 200 has the gRPC status gRPC maps that
//!   status to; a gRPC server's call dropped before its status came is
//!   CANCELLED, as tonic answers one whose deadline passed, which is no
//!   server failure (the span is `cancelled`); one whose body ends with no
//!   status, UNKNOWN; one whose service fails, or whose handler or body
//!   fails or panics, UNKNOWN), on a service
//!   error, and on a
//!   panic in the service's `call`, the handler or a gRPC body (one caught
//!   outside the layer, by `tower_http::catch_panic` above it, too:
//!   metrics count it with `error.type` `panic`; one that `catch_panic`
//!   turns into a 500 inside it is a 500). A request dropped between polls
//!   is `cancelled`, not failed, even while some other panic unwinds, and
//!   its handler's clean-up (drop guards; a dropped streaming body's too)
//!   runs inside its span;
//! - a gRPC call's span is current while its response body is polled too
//!   (a server-streaming method's stream that reads lazily), and ends with
//!   its trailers;
//! - with the request id (`x-request-id`, or a new one) in baggage and
//!   echoed in the response, and, when asked, W3C `traceresponse`.
//!
//! [`ClientLayer`] is the other side, for tower HTTP clients (a tonic
//! `Channel`, a hyper-util client): a `client` span per request, its context
//! and request id in the request's headers (a gRPC call's metadata), its
//! status recorded (any gRPC code but OK is a client-side error; a gRPC
//! call dropped before its status is CANCELLED, one that got no response
//! UNAVAILABLE).

#![warn(missing_docs)]

use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tower_layer::Layer;
use tower_service::Service;
use tracekit::{Span, Status, grpc, http as tk};

/// Traces each request through the services it wraps (see the crate docs).
///
/// ```
/// let layer = tracekit_tower::TraceLayer::new().with_traceresponse(true);
/// # drop(layer);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer {
    traceresponse: bool,
    service_name: Option<&'static str>,
}

impl TraceLayer {
    /// A layer with the defaults: no `traceresponse` header.
    ///
    /// ```
    /// let layer = tracekit_tower::TraceLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> Self {
        TraceLayer::default()
    }

    /// Adds W3C `traceresponse` to every response, telling the caller which
    /// trace its request made (off by default: it reveals the trace id).
    ///
    /// ```
    /// let layer = tracekit_tower::TraceLayer::new().with_traceresponse(true);
    /// # drop(layer);
    /// ```
    pub fn with_traceresponse(mut self, on: bool) -> Self {
        self.traceresponse = on;
        self
    }

    /// Names the service these requests are served by, as the tag
    /// `service.name` on each server span: for several services in one
    /// process (a test of two services, a monolith's parts), which share
    /// the process's `OTEL_SERVICE_NAME`. `tracekit-view` shows such a span
    /// and everything under it as that service.
    ///
    /// ```
    /// let layer = tracekit_tower::TraceLayer::new().with_service_name("inventory");
    /// # drop(layer);
    /// ```
    pub fn with_service_name(mut self, name: &'static str) -> Self {
        self.service_name = Some(name);
        self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService {
            inner,
            traceresponse: self.traceresponse,
            service_name: self.service_name,
        }
    }
}

/// The service [`TraceLayer`] makes.
///
/// ```
/// use tower_layer::Layer;
/// # #[derive(Clone)] struct MyService;
/// let service = tracekit_tower::TraceLayer::new().layer(MyService);
/// # drop(service);
/// ```
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    inner: S,
    traceresponse: bool,
    service_name: Option<&'static str>,
}

impl<S, B, R> Service<Request<B>> for TraceService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Display,
{
    type Response = Response<TracedBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture<S::Future> {
        let is_grpc = grpc::is_grpc(request.headers());
        let mut span = if is_grpc {
            grpc::server_span(request.uri().path(), request.headers())
        } else {
            tk::server_span_for(&request, route_of(&request))
        };
        if let Some(name) = self.service_name {
            span.set_tag("service.name", tracekit::Value::from_static(name));
        }
        // Work the service does in `call` belongs to the request too.
        let inner = in_call(&mut span, is_grpc, "the handler panicked", || {
            self.inner.call(request)
        });
        ResponseFuture {
            inner: Some(inner),
            span: Some(span),
            is_grpc,
            server: true,
            traceresponse: self.traceresponse,
            polling: false,
        }
    }
}

/// Traces each request a tower HTTP client sends (see the crate docs).
///
/// ```
/// use tower_layer::Layer;
/// # #[derive(Clone)] struct Channel;
/// let traced = tracekit_tower::ClientLayer::new().layer(Channel);
/// # drop(traced);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientLayer;

impl ClientLayer {
    /// A client layer.
    ///
    /// ```
    /// let layer = tracekit_tower::ClientLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> Self {
        ClientLayer
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService { inner }
    }
}

/// The service [`ClientLayer`] makes.
///
/// ```
/// use tower_layer::Layer;
/// # #[derive(Clone)] struct Channel;
/// let service: tracekit_tower::ClientService<Channel> = tracekit_tower::ClientLayer::new().layer(Channel);
/// # drop(service);
/// ```
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Display,
{
    type Response = Response<TracedBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> ResponseFuture<S::Future> {
        let is_grpc = grpc::is_grpc(request.headers());
        let mut span = if is_grpc {
            let path = request.uri().path().to_owned();
            grpc::client_span(&path, request.headers_mut())
        } else {
            tk::client_span_for(&mut request)
        };
        let inner = in_call(
            &mut span,
            is_grpc,
            "panicked while sending the request",
            || self.inner.call(request),
        );
        ResponseFuture {
            inner: Some(inner),
            span: Some(span),
            is_grpc,
            server: false,
            traceresponse: false,
            polling: false,
        }
    }
}

/// The route template axum matched, when axum routed the request.
fn route_of<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str());
    }
    let _ = request;
    None
}

pin_project! {
    /// The response future of [`TraceService`] and [`ClientService`]: the
    /// inner future, polled with the request's span current.
    pub struct ResponseFuture<F> {
        // `None` once dropped early, in its span (see the drop).
        #[pin]
        inner: Option<F>,
        span: Option<Span>,
        is_grpc: bool,
        server: bool,
        traceresponse: bool,
        // Set while the inner future is polled: still set at the drop, its
        // poll did not return (it panicked, whether the panic is caught
        // above, by a catch-panic layer, or still unwinding); clear, the
        // future was dropped between polls (cancelled), even while some
        // other panic unwinds.
        polling: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(span) = this.span.as_mut() {
                if *this.polling {
                    tracekit::__support::metrics_panicked(span);
                    if *this.is_grpc {
                        // No status came: UNKNOWN, as gRPC names a call
                        // that ended without one.
                        grpc::set_status_code(span, GRPC_UNKNOWN);
                    }
                    span.set_tag("error", true);
                    span.set_status(Status::error(if *this.server {
                        "the handler panicked"
                    } else {
                        "panicked while waiting for the response"
                    }));
                } else {
                    // Dropped before the response: the client went away,
                    // or a timeout above gave up on it. A gRPC call is
                    // then CANCELLED (OpenTelemetry's gRPC conventions
                    // require a status on every call): what tonic answers
                    // when its deadline layer, in front of every layer of
                    // ours, gives up, and what a client reports of a call
                    // it dropped (a failure on a client, as every code but
                    // OK; not on a server). An HTTP call stays a cancel.
                    span.set_tag("cancelled", true);
                    if *this.is_grpc {
                        grpc::set_status_code(span, GRPC_CANCELLED);
                    }
                    // The handler's clean-up (its drop guards, what they
                    // log or trace) belongs to the request: in its span,
                    // as `in_span` does.
                    let _in = span.enter();
                    this.inner.set(None);
                }
            }
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    E: Display,
{
    type Output = Result<Response<TracedBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            unreachable!("only the drop empties it, and nothing polls a dropped future")
        };
        let Some(span) = this.span.as_mut() else {
            return inner
                .poll(cx)
                .map_ok(|r| r.map(|body| TracedBody::new(body, None)));
        };
        let mut entered = span.enter();
        *this.polling = true;
        let poll = inner.poll(cx);
        *this.polling = false;
        let result = ready!(poll);
        if *this.server && !*this.is_grpc {
            // An HTTP request's span ends with its response: recorded and
            // finished while still current, so that it leaves the thread
            // together with what finished under it.
            let side = Side {
                is_grpc: false,
                server: true,
                traceresponse: *this.traceresponse,
            };
            let result = side.record(result, &mut entered);
            entered.finish();
            *this.span = None;
            return Poll::Ready(result.map(|r| r.map(|body| TracedBody::new(body, None))));
        }
        drop(entered);
        let Some(span) = this.span.take() else {
            return Poll::Ready(result.map(|r| r.map(|body| TracedBody::new(body, None))));
        };
        let side = Side {
            is_grpc: *this.is_grpc,
            server: *this.server,
            traceresponse: *this.traceresponse,
        };
        let (result, span) = side.finish(result, span);
        Poll::Ready(result.map(|r| r.map(|body| TracedBody::new(body, span))))
    }
}

/// Which end of which kind of call a span stands for.
struct Side {
    is_grpc: bool,
    server: bool,
    traceresponse: bool,
}

impl Side {
    /// Records the response on the span. A gRPC span goes on with the body
    /// (its status may come in the trailers, after a stream of messages);
    /// any other ends here.
    fn finish<R, E: Display>(
        &self,
        result: Result<Response<R>, E>,
        mut span: Span,
    ) -> (Result<Response<R>, E>, Option<Span>) {
        let (result, status_known) = self.record_status(result, &mut span);
        let keep = self.is_grpc && !status_known && result.is_ok();
        (result, keep.then_some(span))
    }

    /// [`Side::finish`] for an HTTP server span, which always ends here.
    fn record<R, E: Display>(
        &self,
        result: Result<Response<R>, E>,
        span: &mut Span,
    ) -> Result<Response<R>, E> {
        self.record_status(result, span).0
    }

    /// Records the response (or the error) on the span; says whether a
    /// gRPC status was found.
    fn record_status<R, E: Display>(
        &self,
        mut result: Result<Response<R>, E>,
        span: &mut Span,
    ) -> (Result<Response<R>, E>, bool) {
        let mut status_known = false;
        match &mut result {
            Ok(response) => {
                let http_status = response.status().as_u16();
                if self.is_grpc {
                    // A gRPC call's outcome is its gRPC status (below); its
                    // HTTP status is recorded as it is, with no error of
                    // its own.
                    let c = tk::conventions();
                    if c != tk::Conventions::Old {
                        span.set_tag("http.response.status_code", i64::from(http_status));
                    }
                    if c != tk::Conventions::Stable {
                        span.set_tag("http.status_code", i64::from(http_status));
                    }
                } else {
                    tk::set_status_code(span, http_status);
                }
                // A client's version is its response's: what was negotiated.
                // (A server's came from its request, at the start.)
                if !self.server {
                    if let Some(version) = tk::protocol_version(response.version()) {
                        span.set_tag("network.protocol.version", version);
                    }
                }
                if self.is_grpc {
                    // A gRPC request answered by something else (a plain
                    // route, a proxy): its path named no method anyone
                    // serves, and must not name a series.
                    if self.server && !grpc::is_grpc(response.headers()) {
                        tracekit::__support::grpc_not_served(span);
                    }
                    let code = match grpc::status_of(response.headers()) {
                        Some(code) => Some(code),
                        // No gRPC status and not 200 (a proxy's 503): the
                        // call's status is the HTTP status mapped.
                        None if response.status() != StatusCode::OK => {
                            Some(grpc_status_of_http(response.status().as_u16()))
                        }
                        None => None,
                    };
                    if let Some(code) = code {
                        grpc::set_status_code(span, code);
                        status_known = true;
                    }
                }
                if self.server {
                    tk::set_response_headers_for(span, response.headers_mut());
                    if self.traceresponse {
                        if let Some(value) = span
                            .context()
                            .and_then(|cx| HeaderValue::from_str(&tk::traceresponse(&cx)).ok())
                        {
                            response.headers_mut().insert("traceresponse", value);
                        }
                    }
                }
            }
            Err(e) => {
                // No status came: the error's type names the failure (a
                // connection refused by a hyper client, a timeout layer's
                // error), as `error.type` for metrics and the span, in
                // every convention (as tracekit-reqwest's).
                let error_type =
                    tracekit::__support::request_failed_with(span, std::any::type_name::<E>());
                span.set_tag("error.type", error_type);
                if self.is_grpc {
                    // The status gRPC's conventions require on every call:
                    // a client's call that got no response is UNAVAILABLE,
                    // as tonic reports a connection that failed; a
                    // server's service that failed answered nothing,
                    // UNKNOWN.
                    let code = if self.server {
                        GRPC_UNKNOWN
                    } else {
                        GRPC_UNAVAILABLE
                    };
                    grpc::set_status_code(span, code);
                }
                span.set_tag("error", true);
                span.set_status(Status::error(e.to_string()));
            }
        }
        (result, status_known)
    }
}

/// Runs the inner service's `call` inside `span`. A panic out of it (which
/// a catch-panic layer above may answer with a 500) fails the span and the
/// request's metrics (`error.type` `panic`), as a panic in its future does;
/// a gRPC call's status is then UNKNOWN.
fn in_call<T>(span: &mut Span, is_grpc: bool, what: &'static str, call: impl FnOnce() -> T) -> T {
    struct Calling<'a> {
        entered: tracekit::Entered<'a>,
        returned: bool,
        is_grpc: bool,
        what: &'static str,
    }
    impl Drop for Calling<'_> {
        fn drop(&mut self) {
            if !self.returned {
                tracekit::__support::metrics_panicked(&mut self.entered);
                if self.is_grpc {
                    grpc::set_status_code(&mut self.entered, GRPC_UNKNOWN);
                }
                self.entered.set_tag("error", true);
                self.entered.set_status(Status::error(self.what));
            }
        }
    }
    let mut calling = Calling {
        entered: span.enter(),
        returned: false,
        is_grpc,
        what,
    };
    let inner = call();
    calling.returned = true;
    inner
}

pin_project! {
    /// A response body that, for a gRPC call whose status comes in the
    /// trailers (a streaming response, or a unary one that succeeded),
    /// records that status and finishes the call's span when the body ends
    /// (or is dropped, tagged `cancelled` if it did not end). Any other body
    /// passes through untouched.
    pub struct TracedBody<B> {
        // `None` once dropped early, in its span (see the drop).
        #[pin]
        inner: Option<B>,
        span: Option<Span>,
        // As [`ResponseFuture`]'s: set while the inner body is polled.
        polling: bool,
        // Set when the inner body said it had nothing left
        // (`is_end_stream`): a server drops it then, unpolled, and that
        // is its end (with no status), not a cancel.
        ended: AtomicBool,
    }

    impl<B> PinnedDrop for TracedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(span) = this.span.as_mut() {
                if *this.polling {
                    // The body's poll did not return: it panicked, and
                    // the call ended with no status.
                    tracekit::__support::metrics_panicked(span);
                    grpc::set_status_code(span, GRPC_UNKNOWN);
                    span.set_tag("error", true);
                    span.set_status(Status::error("the response body panicked"));
                } else if this.ended.load(Ordering::Relaxed) {
                    // Ended with no trailers, so with no status.
                    grpc::set_status_code(span, GRPC_UNKNOWN);
                } else {
                    // Dropped before its end: the caller went away, or a
                    // client stopped reading. The call is CANCELLED, as
                    // a response dropped before it came. What the body
                    // cleans up, a stream's drop guards, is the call's: in
                    // its span.
                    span.set_tag("cancelled", true);
                    grpc::set_status_code(span, GRPC_CANCELLED);
                    let _in = span.enter();
                    this.inner.set(None);
                }
            }
        }
    }
}

/// gRPC's CANCELLED status: the call ended before its status came.
const GRPC_CANCELLED: u32 = 1;
/// gRPC's UNKNOWN status: what a client reads from a call that ended
/// without one.
const GRPC_UNKNOWN: u32 = 2;
/// gRPC's UNAVAILABLE status: a client's call that got no response.
const GRPC_UNAVAILABLE: u32 = 14;

/// The gRPC status of a response that carries none, from its HTTP status,
/// as gRPC's HTTP-to-gRPC status mapping says.
fn grpc_status_of_http(status: u16) -> u32 {
    match status {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => GRPC_UNKNOWN,
    }
}

impl<B> TracedBody<B> {
    /// `body`, ending `span` (a call's) with it, or passed through
    /// untouched with no span.
    fn new(body: B, span: Option<Span>) -> TracedBody<B> {
        TracedBody {
            inner: Some(body),
            span,
            polling: false,
            ended: AtomicBool::new(false),
        }
    }
}

impl<B: http_body::Body> http_body::Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        // Only the drop empties it.
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        *this.polling = true;
        // What the body does when polled (a stream that reads lazily, as
        // a server-streaming method's does) is the call's work: inside
        // its span.
        let poll = match this.span.as_mut() {
            Some(span) => {
                let _in = span.enter();
                inner.poll_frame(cx)
            }
            None => inner.poll_frame(cx),
        };
        *this.polling = false;
        let frame = ready!(poll);
        if let Some(span) = this.span.as_mut() {
            match &frame {
                Some(Ok(f)) => {
                    // Trailers end the call (nothing is read after them),
                    // with its status or, missing one, UNKNOWN.
                    if let Some(trailers) = f.trailers_ref() {
                        let code = grpc::status_of(trailers).unwrap_or(GRPC_UNKNOWN);
                        grpc::set_status_code(span, code);
                        drop(this.span.take());
                    }
                }
                Some(Err(e)) => {
                    // No status will come: UNKNOWN, the call failed with
                    // the body's error, named by its type.
                    let error_type = tracekit::__support::request_failed_with(
                        span,
                        std::any::type_name::<B::Error>(),
                    );
                    span.set_tag("error.type", error_type);
                    grpc::set_status_code(span, GRPC_UNKNOWN);
                    span.set_tag("error", true);
                    span.set_status(Status::error("the response body failed"));
                    let _ = e;
                    drop(this.span.take());
                }
                None => {
                    // Ended with no trailers, so with no status.
                    grpc::set_status_code(span, GRPC_UNKNOWN);
                    drop(this.span.take());
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.as_ref().is_none_or(|b| b.is_end_stream());
        if ended && self.span.is_some() {
            self.ended.store(true, Ordering::Relaxed);
        }
        ended
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// A tonic interceptor that puts the current span's context, and its request
/// id, into a call's metadata, for a client built with an interceptor rather
/// than a layer. It only propagates; [`ClientLayer`] also times the call as
/// a client span.
///
/// ```
/// # fn f<Channel>(channel: Channel) {
/// let channel = tonic::service::interceptor::InterceptedService::new(channel, tracekit_tower::propagate);
/// # drop(channel);
/// # }
/// ```
#[cfg(feature = "tonic")]
pub fn propagate(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(cx) = tracekit::current_span().context() {
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        tracekit::propagation::inject_context(&cx, &mut headers);
        if let Some(id) = cx.baggage_item(tk::REQUEST_ID_KEY) {
            if let Ok(value) = HeaderValue::from_str(id) {
                headers.insert(tk::REQUEST_ID_HEADER, value);
            }
        }
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    }
    Ok(request)
}

/// Serves tracekit's metrics in the Prometheus text format: mount it where
/// Prometheus scrapes (`/metrics`). Making one switches metrics on. It
/// answers GET, and HEAD with the same response (the body included: a
/// server such as hyper under axum sends no body for a HEAD and takes its
/// `Content-Length` from the one given, the length a GET would get); any
/// other method gets 405 with `Allow: GET, HEAD`.
///
/// ```
/// use axum::Router;
///
/// let app: Router = Router::new()
///     .route_service("/metrics", tracekit_tower::PrometheusService::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct PrometheusService {
    renderer: tracekit::metrics::Prometheus,
}

impl Default for PrometheusService {
    fn default() -> PrometheusService {
        PrometheusService::new()
    }
}

impl PrometheusService {
    /// With the default buckets ([`tracekit::metrics::Prometheus::new`]).
    ///
    /// ```
    /// let _metrics = tracekit_tower::PrometheusService::new();
    /// ```
    pub fn new() -> PrometheusService {
        PrometheusService::with(tracekit::metrics::Prometheus::new())
    }

    /// With a renderer of one's own (its buckets, `target_info`,
    /// `scope_info`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = tracekit::metrics::Prometheus::new().buckets([Duration::from_millis(1)]);
    /// let _metrics = tracekit_tower::PrometheusService::with(p);
    /// ```
    pub fn with(renderer: tracekit::metrics::Prometheus) -> PrometheusService {
        tracekit::metrics::set_enabled(true);
        PrometheusService { renderer }
    }
}

impl<B> Service<Request<B>> for PrometheusService {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<String>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        let mut response = if method == http::Method::GET || method == http::Method::HEAD {
            // HEAD renders too: a server sends no body for it but takes its
            // `Content-Length` from the body's size (axum does), which must
            // be the size a GET would get.
            // What the collector has counted: a scrape never runs the
            // reporter on this (the runtime's) thread.
            Response::new(self.renderer.render(&tracekit::metrics::collected()))
        } else {
            let mut refused = Response::new(String::new());
            *refused.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            refused
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return std::future::ready(Ok(refused));
        };
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        std::future::ready(Ok(response))
    }
}
