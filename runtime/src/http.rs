//! Spans for HTTP requests: the server span of a request this service
//! handles, continuing the caller's trace, and the client span of a request
//! it sends, whose context travels in the request's headers.
//!
//! Tags follow the OpenTracing/Jaeger conventions the rest of tracekit uses:
//! `http.method`, `http.route` (server), `http.url` (client) and
//! `http.status_code`. A server span is an error on 5xx; a client span on
//! 4xx and 5xx (as OpenTelemetry's HTTP conventions say: a 404 is the
//! caller's problem, not the server's).
//!
//! Every request has a request id: a server span takes it from the
//! `x-request-id` header (or from baggage, or makes one), keeps it in
//! baggage as `request.id` (what log lines print, see `tracekit-log`),
//! [`set_response_headers`] echoes it to the caller, and client spans send
//! it on in `x-request-id` as well as in baggage.
//!
//! ```
//! use std::collections::HashMap;
//! use tracekit::http;
//!
//! let ((), c) = tracekit::testing::capture(|| {
//!     // Service A calls service B.
//!     let mut headers = HashMap::new();
//!     let mut client = http::client_span("GET", "http://b.local/users/7?full=1", &mut headers);
//!
//!     // Service B, on receiving `headers`:
//!     let mut server = http::server_span("GET", "/users/{id}", &headers);
//!     http::set_status_code(&mut server, 503);
//!     drop(server);
//!
//!     http::set_status_code(&mut client, 503);
//! });
//! let (client, server) = (c.span("GET /users/7"), c.span("GET /users/{id}"));
//! assert_eq!(server.parent_id(), Some(client.span_id()));
//! assert!(server.has_remote_parent() && server.is_error() && client.is_error());
//! assert_eq!(server.tag("http.status_code").unwrap().to_string(), "503");
//! ```

use crate::propagation::{self, Extractor, Injector};
use crate::request_id;
pub use crate::request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, REQUEST_ID_KEY};
use crate::{Span, SpanKind, Status};

/// Starts the span of an incoming request: a `server` span named
/// `"{method} {route}"` with `http.method` and `http.route`, a child of the
/// context the headers carry (configured formats, see
/// [`propagation::set_propagators`]), or the root of a new trace when they
/// carry none or a malformed one (with Jaeger configured, a
/// `jaeger-debug-id` header alone starts a debug trace tagged with it). Pass the route template (`/users/{id}`),
/// not the path, so that one endpoint gives one span name.
///
/// The request id (baggage `request.id`) is the `x-request-id` header's
/// value when it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters,
/// else the `request.id` the caller's baggage carried, else a new UUID. An
/// unacceptable header (too long, spaces, control or non-ASCII characters)
/// is replaced by a new id and the replacement is logged on stderr.
///
/// The span is not active: make it so with
/// [`in_span`](crate::FutureExt::in_span) around the handler's future, or
/// [`Span::enter`] for a synchronous handler.
///
/// ```
/// let headers = vec![(
///     "traceparent".to_owned(),
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
/// )];
/// let span = tracekit::http::server_span("POST", "/orders", &headers);
/// let cx = span.context().unwrap();
/// assert_eq!(cx.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
///
/// let headers = vec![("x-request-id".to_owned(), "r-17".to_owned())];
/// let span = tracekit::http::server_span("GET", "/", &headers);
/// assert_eq!(span.context().unwrap().baggage_item("request.id"), Some("r-17"));
/// ```
pub fn server_span(method: &str, route: &str, headers: &dyn Extractor) -> Span {
    server(method, Some(route), headers)
}

/// The server span, named `"{method} {route}"`, or by the method alone when
/// the route is unknown.
fn server(method: &str, route: Option<&str>, headers: &dyn Extractor) -> Span {
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let mut builder = Span::builder(name)
        .kind(SpanKind::Server)
        .tag("http.method", method.to_owned());
    if let Some(route) = route {
        builder = builder.tag("http.route", route.to_owned());
    }
    let mut span = propagation::continue_from(builder, headers).start();
    request_id::adopt(&mut span, headers, true);
    span
}

/// Writes the response headers of the request being handled (the current
/// span's): `x-request-id`, so the caller learns the id its request is
/// logged under. Call it where the response is built, inside the server
/// span.
///
/// ```
/// let request = vec![("x-request-id".to_owned(), "r-9".to_owned())];
/// let mut span = tracekit::http::server_span("GET", "/", &request);
/// let _active = span.enter();
/// let mut response = std::collections::HashMap::new();
/// tracekit::http::set_response_headers(&mut response);
/// assert_eq!(response["x-request-id"], "r-9");
/// ```
pub fn set_response_headers(headers: &mut dyn Injector) {
    if let Some(cx) = crate::current_span().context() {
        request_id::forward(&cx, headers);
    }
}

/// The W3C `traceresponse` header value for a span (`00-{trace}-{span}-{flags}`),
/// which tells a caller which trace its request made.
///
/// ```
/// let span = tracekit::Span::start("GET /");
/// let value = tracekit::http::traceresponse(&span.context().unwrap());
/// assert_eq!(value.len(), 55);
/// ```
pub fn traceresponse(cx: &crate::SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        cx.trace_id(),
        cx.span_id(),
        u8::from(cx.is_sampled())
    )
}

/// Starts the span of an outgoing request, a `client` child of the current
/// span named `"{method} {path}"` (the URL's path, without query) with
/// `http.method` and `http.url`, and writes its context into `headers` with
/// the configured formats, with the request id (baggage `request.id`) also
/// in `x-request-id`. Record the response with [`set_status_code`].
///
/// ```
/// let mut headers = std::collections::HashMap::new();
/// let span = tracekit::http::client_span("GET", "https://api.example.com/v1/items?page=2", &mut headers);
/// assert!(headers.contains_key("traceparent"));
/// # drop(span);
/// ```
pub fn client_span(method: &str, url: &str, headers: &mut dyn Injector) -> Span {
    let span = Span::builder(format!("{method} {}", path_of(url)))
        .kind(SpanKind::Client)
        .tag("http.method", method.to_owned())
        .tag("http.url", url.to_owned())
        .start();
    if let Some(cx) = span.context() {
        propagation::inject_context(&cx, headers);
        request_id::forward(&cx, headers);
    }
    span
}

/// Records a response status on a span from [`server_span`] or
/// [`client_span`]: the tag `http.status_code`, and an error status for 5xx
/// (server) or 4xx and 5xx (client), or for a code outside 100..=599.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let mut span = tracekit::http::server_span("GET", "/", &Vec::new());
///     tracekit::http::set_status_code(&mut span, 404);
/// });
/// assert!(!c.span("GET /").is_error()); // the client asked for something absent
/// ```
pub fn set_status_code(span: &mut Span, code: u16) {
    let kind = span.kind();
    span.set_tag("http.status_code", i64::from(code));
    if let Some(description) = error_of(kind, code) {
        span.set_tag("error", true);
        span.set_status(Status::error(description));
    }
}

/// [`set_status_code`] on the active span, for where the span was moved into
/// [`in_span`](crate::FutureExt::in_span): an axum middleware, say.
///
/// ```
/// use tracekit::FutureExt;
/// # async fn handler() -> u16 { 200 }
/// # async fn serve(headers: Vec<(String, String)>) -> u16 {
/// let span = tracekit::http::server_span("GET", "/health", &headers);
/// async {
///     let status = handler().await;
///     tracekit::http::set_current_status_code(status);
///     status
/// }
/// .in_span(span)
/// .await
/// # }
/// ```
pub fn set_current_status_code(code: u16) {
    let current = crate::current_span();
    current.set_tag("http.status_code", i64::from(code));
    if let Some(description) = current.kind().and_then(|k| error_of(k, code)) {
        current.set_tag("error", true);
        current.set_status(Status::error(description));
    }
}

fn error_of(kind: SpanKind, code: u16) -> Option<String> {
    let failed = match code {
        100..=399 => false,
        400..=499 => kind != SpanKind::Server,
        500..=599 => true,
        _ => return Some(format!("invalid HTTP status code {code}")),
    };
    failed.then(|| format!("HTTP {code}"))
}

/// The path of a URL or of a request target, without query or fragment.
fn path_of(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) => &after[j..],
                None => "/",
            }
        }
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match &rest[..end] {
        "" => "/",
        p => p,
    }
}

#[cfg(feature = "http")]
mod requests {
    use super::*;

    /// [`server_span`] for an [`http::Request`]: the method and headers
    /// from the request, `http.url` from its URI, and the route when the
    /// router knows it (axum's `MatchedPath`); without one, the span is
    /// named by the method alone so that ids in paths do not make every
    /// request a new span name.
    ///
    /// ```
    /// let req = http::Request::get("/users/7").body(()).unwrap();
    /// let span = tracekit::http::server_span_for(&req, Some("/users/{id}"));
    /// # drop(span);
    /// ```
    pub fn server_span_for<B>(request: &::http::Request<B>, route: Option<&str>) -> Span {
        let mut span = server(request.method().as_str(), route, request.headers());
        span.set_tag("http.url", request.uri().to_string());
        span
    }

    /// [`client_span`] for an [`http::Request`] about to be sent: the
    /// context goes into the request's own headers.
    ///
    /// ```
    /// let mut req = http::Request::get("http://backend:8080/items").body(()).unwrap();
    /// let span = tracekit::http::client_span_for(&mut req);
    /// assert!(req.headers().contains_key("traceparent"));
    /// # drop(span);
    /// ```
    pub fn client_span_for<B>(request: &mut ::http::Request<B>) -> Span {
        let method = request.method().as_str().to_owned();
        let url = request.uri().to_string();
        client_span(&method, &url, request.headers_mut())
    }
}

#[cfg(feature = "http")]
pub use requests::{client_span_for, server_span_for};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_urls_and_targets() {
        for (url, path) in [
            ("http://a.b/users/7?x=1", "/users/7"),
            ("https://a.b:8443", "/"),
            ("https://a.b?x", "/"),
            ("/users/7#frag", "/users/7"),
            ("", "/"),
            ("http://a.b/#", "/"),
        ] {
            assert_eq!(path_of(url), path, "{url}");
        }
    }

    #[test]
    fn which_codes_are_errors() {
        assert_eq!(error_of(SpanKind::Server, 200), None);
        assert_eq!(error_of(SpanKind::Server, 404), None);
        assert_eq!(error_of(SpanKind::Client, 404).as_deref(), Some("HTTP 404"));
        assert_eq!(error_of(SpanKind::Server, 500).as_deref(), Some("HTTP 500"));
        assert!(error_of(SpanKind::Server, 600).unwrap().contains("invalid"));
        assert!(error_of(SpanKind::Client, 42).unwrap().contains("invalid"));
    }
}
