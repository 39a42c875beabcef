//! Spans for HTTP requests: the server span of a request this service
//! handles, continuing the caller's trace, and the client span of a request
//! it sends, whose context travels in the request's headers.
//!
//! Tags follow OpenTelemetry's stable HTTP conventions by default
//! (`http.request.method`, `http.route`, `url.path`/`url.query`/`url.scheme`
//! on a server, `url.full` on a client, `server.address`/`server.port`,
//! `http.response.status_code`, `error.type`), so the service graphs and
//! request metrics of Jaeger and Tempo work; the OpenTracing names the seeds
//! used (`http.method`, `http.url`, `http.status_code`, `error = true`), or
//! both, with [`set_conventions`]. A server span is an error on 5xx; a
//! client span on 4xx and 5xx (a 404 is the caller's problem, not the
//! server's).
//!
//! Every request has a request id: a server span takes it from the
//! `x-request-id` header (or from baggage, or makes one), keeps it in
//! baggage as `request.id` (what log lines print, see `tracekit-log`),
//! [`set_response_headers`] echoes it to the caller, and client spans send
//! it on in `x-request-id` as well as in baggage.
//!
//! ```
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! use std::collections::HashMap;
//! use tracekit::http;
//!
//! let ((), c) = tracekit::testing::capture(|| {
//!     // Service A calls service B.
//!     let mut headers = HashMap::new();
//!     let mut client = http::client_span("GET", "http://b.local/users/7?full=1", &mut headers);
//!     assert!(headers.contains_key("traceparent"));
//!
//!     // Service B, on receiving `headers`:
//!     let mut server = http::server_span("GET", "/users/{id}", &headers);
//!     http::set_status_code(&mut server, 503);
//!     drop(server);
//!
//!     http::set_status_code(&mut client, 503);
//! });
//! let (client, server) = (c.span("GET"), c.span("GET /users/{id}"));
//! assert_eq!(server.parent_id(), Some(client.span_id()));
//! assert!(server.has_remote_parent() && server.is_error() && client.is_error());
//! assert_eq!(server.tag("http.response.status_code").unwrap().to_string(), "503");
//! assert_eq!(client.tag("url.full").unwrap().to_string(), "http://b.local/users/7?full=1");
//! ```

use crate::data::metrics::{Protocol, Request};
pub use crate::data::request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, REQUEST_ID_KEY};
use crate::data::value::{Key, Value};
use crate::integrations::request_id;
use crate::propagation::{self, Extractor, Injector};
use crate::{Span, SpanKind, Status};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};

/// Starts the span of an incoming request: a `server` span named
/// `"{method} {route}"` (`"HTTP {route}"` for a method the conventions do
/// not know) with `http.request.method` and `http.route` (in the
/// conventions [`set_conventions`] chose), a child of the
/// context the headers carry (configured formats, see
/// [`propagation::set_propagators`]), or the root of a new trace when they
/// carry none or a malformed one (with Jaeger configured, a
/// `jaeger-debug-id` header alone starts a debug trace tagged with it). Pass the route template (`/users/{id}`),
/// not the path, so that one endpoint gives one span name.
///
/// The request id (baggage `request.id`) is the `x-request-id` header's
/// value when it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters,
/// else the `request.id` the caller's baggage carried, else a new one in a
/// UUID's form, derived from the trace id (see the README). An
/// unacceptable header (too long, spaces, control or non-ASCII characters)
/// is replaced by a new id and the replacement is logged on stderr.
///
/// Its request metrics (`http.server.request.duration`) say `url.scheme`
/// `http`, and the route given; a handler that learns better sets the
/// span's `url.scheme` (`https`) or `http.route` tag, and the series
/// follows.
///
/// The span is not active: make it so with
/// [`in_span`](crate::FutureExt::in_span) around the handler's future, or
/// [`Span::enter`] for a synchronous handler.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
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
    server(method, Some(route), headers, None)
}

/// Which names HTTP spans' attributes get; see [`set_conventions`].
///
/// ```
/// assert_eq!(tracekit::http::Conventions::default(), tracekit::http::Conventions::Stable);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conventions {
    /// OpenTelemetry's stable HTTP conventions (the default). A client span
    /// is named by the method alone, as they say.
    #[default]
    Stable,
    /// The OpenTracing/Jaeger names: `http.method`, `http.url`,
    /// `http.status_code`, `error = true` (and `error.type` on a request
    /// that got no answer: the request's metrics count by it); a client
    /// span is named `"{method} {path}"`.
    Old,
    /// Both sets of attributes (OpenTelemetry's `http/dup`), for dashboards
    /// in transition; names as [`Stable`](Conventions::Stable).
    Both,
}

impl Conventions {
    fn old(self) -> bool {
        self != Conventions::Stable
    }

    fn stable(self) -> bool {
        self != Conventions::Old
    }

    /// The choice an `OTEL_SEMCONV_STABILITY_OPT_IN` value makes: `http`
    /// (stable), `http/dup` (both), or tracekit's `http/old`; `None` when it
    /// names none of them.
    fn from_opt_in(value: &str) -> Option<Conventions> {
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        if items.contains(&"http/dup") {
            Some(Conventions::Both)
        } else if items.contains(&"http") {
            Some(Conventions::Stable)
        } else if items.contains(&"http/old") {
            Some(Conventions::Old)
        } else {
            None
        }
    }
}

/// 0: not chosen yet (the environment decides on first use).
static CONVENTIONS: AtomicU8 = AtomicU8::new(0);

/// Chooses the attribute names of HTTP spans for the whole process (the
/// default is [`Conventions::Stable`], or what `OTEL_SEMCONV_STABILITY_OPT_IN`
/// says: `http`, `http/dup`, or `http/old`). Spans only: request metrics
/// always carry the stable names and attributes.
///
/// ```
/// tracekit::http::set_conventions(tracekit::http::Conventions::Both);
/// assert_eq!(tracekit::http::conventions(), tracekit::http::Conventions::Both);
/// # tracekit::http::set_conventions(tracekit::http::Conventions::Stable);
/// ```
pub fn set_conventions(conventions: Conventions) {
    CONVENTIONS.store(conventions as u8 + 1, Ordering::Relaxed);
}

/// The attribute names in use (see [`set_conventions`]).
///
/// ```
/// let _ = tracekit::http::conventions();
/// ```
pub fn conventions() -> Conventions {
    let mut chosen = CONVENTIONS.load(Ordering::Relaxed);
    if chosen == 0 {
        let from_env = std::env::var("OTEL_SEMCONV_STABILITY_OPT_IN")
            .ok()
            .and_then(|v| Conventions::from_opt_in(&v))
            .unwrap_or_default();
        // A `set_conventions` that raced ahead wins.
        let _ = CONVENTIONS.compare_exchange(
            0,
            from_env as u8 + 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        chosen = CONVENTIONS.load(Ordering::Relaxed);
    }
    match chosen {
        2 => Conventions::Old,
        3 => Conventions::Both,
        _ => Conventions::Stable,
    }
}

/// The method as the stable conventions record it: one of the known
/// methods ([`known_methods`]), else `_OTHER` (with the original kept
/// beside it on the span).
fn known_method(method: &str) -> Option<&'static str> {
    known_methods().iter().copied().find(|k| *k == method)
}

/// The methods the conventions know: RFC 9110's, PATCH and QUERY, or the
/// list `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` gives instead (read once a
/// process), so that a service whose methods are its own (WebDAV's
/// `PROPFIND`) names them rather than `_OTHER`.
fn known_methods() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        known_methods_from(std::env::var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS").ok())
    })
}

/// The known methods a value of `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`
/// makes: comma-separated and case-sensitive, a whole list in place of the
/// default one (as the conventions say), not additions to it; unset or
/// empty, the default.
fn known_methods_from(value: Option<String>) -> Vec<&'static str> {
    const DEFAULT: [&str; 10] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
    ];
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return DEFAULT.to_vec();
    };
    let known: Vec<&'static str> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| match DEFAULT.iter().find(|d| **d == m) {
            Some(d) => *d,
            // Once a process, from the operator's list: kept for its life.
            None => crate::data::intern::string(m)
                .unwrap_or_else(|| Box::leak(m.to_owned().into_boxed_str())),
        })
        .collect();
    if known.is_empty() {
        // `,` alone would make every method, GET too, `_OTHER`.
        crate::data::diag::warn(format_args!(
            "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS={value:?} names no method; using the default list"
        ));
        return DEFAULT.to_vec();
    }
    known
}

/// A request's target as the server saw it.
struct Target<'a> {
    path: &'a str,
    query: Option<&'a str>,
    scheme: Option<&'a str>,
    /// `network.protocol.version`: `1.1`, `2`, ...
    version: Option<&'static str>,
}

/// `host[:port]` (or `[v6]:port`) as an address and a port.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

fn method_tags(c: Conventions, method: &str, mut tag: impl FnMut(Key, Value)) {
    if c.old() {
        let value = match known_method(method) {
            Some(m) => Value::from_static(m),
            // A caller's own method: copied, not kept.
            None => method.into(),
        };
        tag("http.method".into(), value);
    }
    if c.stable() {
        match known_method(method) {
            Some(m) => tag("http.request.method".into(), Value::from_static(m)),
            None => {
                tag("http.request.method".into(), Value::from_static("_OTHER"));
                tag("http.request.method_original".into(), method.into());
            }
        }
    }
}

/// Text drawn from a small set (a method, a route template, a host, a
/// scheme): kept once for the program's life, so each request records it
/// without an allocation; copied (inline when short) once the set is full.
fn kept(text: &str) -> Value {
    match crate::data::intern::string(text) {
        Some(s) => Value::from_static(s),
        None => Value::from(text),
    }
}

/// The server span, named `"{method} {route}"`, or by the method alone when
/// the route is unknown. Its name, and every tag but the path and the
/// query, are static text or numbers (see [`kept`]); a path or query of up
/// to 22 bytes is held inline: a request makes no allocation here.
fn server(
    method: &str,
    route: Option<&str>,
    headers: &dyn Extractor,
    target: Option<Target<'_>>,
) -> Span {
    let c = conventions();
    // A method the conventions do not know names the span `HTTP`, as they
    // say: the caller chose it, and it must name neither a new operation
    // in the backend nor a string kept here for good.
    let shown = known_method(method).unwrap_or("HTTP");
    // "{method} {route}" kept once: the name, and the route as its end.
    let kept_name = route.and_then(|route| crate::data::intern::joined(&[shown, " ", route]));
    let name: std::borrow::Cow<'static, str> = match (route, kept_name) {
        (_, Some(name)) => name.into(),
        (Some(route), None) => format!("{shown} {route}").into(),
        (None, None) => shown.into(),
    };
    let builder = Span::builder(name).kind(SpanKind::Server);
    let mut span = propagation::continue_from(builder, headers).start_then(|builder| {
        method_tags(c, method, |k, v| builder.push_tag(k, v));
        if let Some(route) = route {
            let value = match kept_name.and_then(|n| n.get(shown.len() + 1..)) {
                Some(kept_route) => Value::from_static(kept_route),
                None => kept(route),
            };
            builder.push_tag("http.route".into(), value);
        }
        if c.stable() {
            if let Some(t) = &target {
                builder.push_tag("url.path".into(), t.path.into());
                if let Some(q) = t.query {
                    builder.push_tag("url.query".into(), q.into());
                }
                let scheme = static_scheme(t.scheme).map_or_else(
                    || Value::from(t.scheme.unwrap_or_default()),
                    Value::from_static,
                );
                builder.push_tag("url.scheme".into(), scheme);
            }
            if let Some(host) = headers.get("host") {
                // The caller's text: kept only within its share.
                address_tags(builder, host, None, &crate::data::intern::SERVER_HOSTS);
            }
        }
        // In every convention, as the request's metrics count by it.
        if let Some(version) = target.as_ref().and_then(|t| t.version) {
            builder.push_tag(
                "network.protocol.version".into(),
                Value::from_static(version),
            );
        }
    });
    request_id::adopt(&mut span, headers, true);
    counted(&mut span, || {
        let mut r = Request::new(Protocol::Http, true, method_for_metrics(method));
        // Any scheme but `https` is counted as `http`: the caller writes it
        // (an absolute-form target, HTTP/2's `:scheme`), and a made-up one
        // would be a series of its own. With no request at hand
        // (`server_span`), `http` too, unless the span is told otherwise
        // (`url.scheme` set on it): the conventions require one.
        r.key.scheme = Some(
            target
                .as_ref()
                .and_then(|t| static_scheme(t.scheme))
                .unwrap_or("http"),
        );
        r.key.version = target.as_ref().and_then(|t| t.version);
        r.key.route = route.map(
            |route| match kept_name.and_then(|n| n.get(shown.len() + 1..)) {
                Some(kept_route) => Cow::Borrowed(kept_route),
                None => crate::data::intern::kept_text(route),
            },
        );
        r
    });
    span
}

/// Counts `span` as a request for metrics, while they are on, sampled or
/// not: `request` says its series, and the response recorded on the span
/// completes it.
pub(crate) fn counted(span: &mut Span, request: impl FnOnce() -> Request) {
    if crate::data::metrics::on() {
        if let Some(d) = span.owned.as_mut() {
            d.request = Some(Box::new(request()));
        }
    }
}

/// `http.request.method` as metrics count it: a known method, or `_OTHER`.
fn method_for_metrics(method: &str) -> Cow<'static, str> {
    Cow::Borrowed(known_method(method).unwrap_or("_OTHER"))
}

/// `server.address` and `server.port` of `authority` (`host[:port]`), the
/// port `default_port` when it names none: the server a request went to,
/// on either side of it; the host kept within `share` of the kept strings.
fn address_tags(
    builder: &mut crate::SpanBuilder,
    authority: &str,
    default_port: Option<u16>,
    share: &crate::data::intern::Share,
) {
    let (address, port) = host_and_port(authority);
    builder.push_tag(
        "server.address".into(),
        share
            .string(address)
            .map_or_else(|| address.into(), Value::from_static),
    );
    if let Some(port) = port.or(default_port) {
        builder.push_tag("server.port".into(), i64::from(port).into());
    }
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
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(response["x-request-id"], "r-9");
/// ```
pub fn set_response_headers(headers: &mut dyn Injector) {
    if !crate::TRACE_ALL {
        return;
    }
    let id = crate::local::with_state(|s| {
        let top = s.stack.len().checked_sub(1)?;
        s.request_id(top)
    });
    if let Some(id) = id.flatten() {
        headers.set(REQUEST_ID_HEADER, id);
    }
}

/// [`set_response_headers`] for the request of `span`, which need not be
/// current: `x-request-id`, so the caller learns the id its request is
/// logged under.
///
/// ```
/// let request = vec![("x-request-id".to_owned(), "r-9".to_owned())];
/// let span = tracekit::http::server_span("GET", "/", &request);
/// let mut response = std::collections::HashMap::new();
/// tracekit::http::set_response_headers_for(&span, &mut response);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert_eq!(response["x-request-id"], "r-9");
/// ```
pub fn set_response_headers_for(span: &Span, headers: &mut dyn Injector) {
    if let Some(id) = span.request_id() {
        headers.set(REQUEST_ID_HEADER, id);
    }
}

/// The W3C `traceresponse` header value for a span (`00-{trace}-{span}-{flags}`),
/// which tells a caller which trace its request made.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// let span = tracekit::Span::start("GET /");
/// let value = tracekit::http::traceresponse(&span.context().unwrap());
/// assert_eq!(value.len(), 55);
/// ```
pub fn traceresponse(cx: &crate::SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        cx.trace_id(),
        cx.span_id(),
        crate::propagation::w3c_trace_flags(cx)
    )
}

/// Starts the span of an outgoing request, a `client` child of the current
/// span named by its method (`"{method} {path}"` under the old conventions)
/// with `http.request.method`, `url.full`, `server.address` and
/// `server.port`, and writes its context into `headers` with
/// the configured formats, with the request id (baggage `request.id`) also
/// in `x-request-id`. Record the response with [`set_status_code`].
///
/// ```
/// let mut headers = std::collections::HashMap::new();
/// let span = tracekit::http::client_span("GET", "https://api.example.com/v1/items?page=2", &mut headers);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(headers.contains_key("traceparent"));
/// # drop(span);
/// ```
pub fn client_span(method: &str, url: &str, headers: &mut dyn Injector) -> Span {
    let target =
        scheme_and_authority(url).map(|(scheme, authority)| (authority, default_port(scheme)));
    client_span_to(method, url, target, headers)
}

/// [`client_span`] to the server `target` (its authority, and the port its
/// scheme implies), which the caller worked out: from the URL, or from the
/// `Host` header of a request whose target is in origin form (`/items`, as
/// a connection-level client sends it), as OpenTelemetry's HTTP client
/// conventions say.
fn client_span_to(
    method: &str,
    url: &str,
    target: Option<(&str, Option<u16>)>,
    headers: &mut dyn Injector,
) -> Span {
    let c = conventions();
    let name: std::borrow::Cow<'static, str> = match c {
        Conventions::Old => format!("{method} {}", path_of(url)).into(),
        _ => known_method(method).unwrap_or("HTTP").into(),
    };
    let mut span = Span::builder(name)
        .kind(SpanKind::Client)
        .start_then(|builder| {
            method_tags(c, method, |k, v| builder.push_tag(k, v));
            if c.old() {
                // Never the credentials, in any convention (the old one
                // leaves them out where the stable one writes REDACTED).
                builder.push_tag("http.url".into(), without_userinfo(url).into());
            }
            if c.stable() {
                builder.push_tag("url.full".into(), without_credentials(url).into());
                if let Some((authority, default_port)) = target {
                    address_tags(
                        builder,
                        authority,
                        default_port,
                        &crate::data::intern::CLIENT_HOSTS,
                    );
                }
            }
        });
    if let Some(cx) = span.context() {
        propagation::inject_context(&cx, headers);
        request_id::forward(&cx, headers);
    }
    counted(&mut span, || {
        let mut r = Request::new(Protocol::Http, false, method_for_metrics(method));
        if let Some((authority, default_port)) = target {
            let (address, port) = host_and_port(authority);
            r.key.address = Some(
                crate::data::intern::CLIENT_HOSTS
                    .string(address)
                    .map_or_else(|| Cow::Owned(address.to_owned()), Cow::Borrowed),
            );
            r.key.port = port.or(default_port);
        }
        r
    });
    span
}

/// Records a response status on a span from [`server_span`] or
/// [`client_span`]: the tag `http.response.status_code` (`http.status_code`
/// under the old conventions), and an error status for 5xx
/// (server) or 4xx and 5xx (client), or for a code outside 100..=599.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let mut span = tracekit::http::server_span("GET", "/", &Vec::new());
///     tracekit::http::set_status_code(&mut span, 404);
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(!c.span("GET /").is_error()); // the client asked for something absent
/// ```
pub fn set_status_code(span: &mut Span, code: u16) {
    let kind = span.kind();
    status_tags(kind, code, |k, v| span.set_tag(k, v));
    if let Some(description) = error_of(kind, code) {
        span.set_status(Status::error(description));
    }
}

/// The tags of a response status, in the conventions in use, each handed
/// to `tag`.
fn status_tags(kind: SpanKind, code: u16, mut tag: impl FnMut(&'static str, Value)) {
    let c = conventions();
    let failed = error_of(kind, code).is_some();
    if c.old() {
        tag("http.status_code", Value::I64(i64::from(code)));
        if failed {
            tag("error", Value::Bool(true));
        }
    }
    if c.stable() {
        tag("http.response.status_code", Value::I64(i64::from(code)));
        if failed {
            tag("error.type", Value::from(code.to_string()));
        }
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
    let Some(kind) = current.kind() else { return };
    status_tags(kind, code, |k, v| current.set_tag(k, v));
    if let Some(description) = error_of(kind, code) {
        current.set_status(Status::error(description));
    }
}

fn error_of(kind: SpanKind, code: u16) -> Option<String> {
    if !(100..=599).contains(&code) {
        return Some(format!("invalid HTTP status code {code}"));
    }
    crate::data::metrics::status_fails(Protocol::Http, kind == SpanKind::Server, code.into())
        .then(|| format!("HTTP {code}"))
}

/// A server's scheme as static text, `http` when the request names none;
/// `None` for any other than `http` and `https` (a caller's made-up one).
fn static_scheme(scheme: Option<&str>) -> Option<&'static str> {
    match scheme {
        None | Some("http") => Some("http"),
        Some("https") => Some("https"),
        Some(_) => None,
    }
}

/// The port a URL of `scheme` goes to when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// A URL's scheme and authority (`user@host:port`), when it has them.
fn scheme_and_authority(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    // A scheme is a letter, then letters, digits, `+`, `-` and `.`
    // (RFC 3986): `/r?to=http://x` is a path, not a URL of scheme `/r?to=http`.
    let mut chars = scheme.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end]))
}

/// A URL without `user:password@` (OpenTelemetry: never record
/// credentials): `REDACTED:REDACTED@` in its place, as the stable
/// `url.full` says.
fn without_credentials(url: &str) -> String {
    userinfo_as(url, "REDACTED:REDACTED@")
}

/// A URL with no `user:password@` at all, as the old conventions'
/// `http.url` says.
fn without_userinfo(url: &str) -> String {
    userinfo_as(url, "")
}

/// `url` with its `user:password@`, if any, replaced by `userinfo`. Read
/// loosely (anything before `://` as the scheme): redacting a malformed
/// URL's credentials does no harm, missing them would.
fn userinfo_as(url: &str, userinfo: &str) -> String {
    let loose = url.split_once("://").map(|(scheme, rest)| {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        (scheme, &rest[..end])
    });
    match loose {
        Some((scheme, authority)) if authority.contains('@') => {
            let host = authority.rsplit('@').next().unwrap_or("");
            let rest = &url[scheme.len() + 3 + authority.len()..];
            format!("{scheme}://{userinfo}{host}{rest}")
        }
        _ => url.to_owned(),
    }
}

/// The path of a URL or of a request target, without query or fragment.
fn path_of(url: &str) -> &str {
    let rest = match scheme_and_authority(url) {
        Some((scheme, authority)) => &url[scheme.len() + 3 + authority.len()..],
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
        let uri = request.uri();
        let target = Target {
            path: uri.path(),
            query: uri.query(),
            scheme: uri.scheme_str(),
            version: protocol_version(request.version()),
        };
        let mut span = server(
            request.method().as_str(),
            route,
            request.headers(),
            Some(target),
        );
        if conventions().old() {
            span.set_tag("http.url", without_userinfo(&uri.to_string()));
        }
        span
    }

    /// An HTTP version as OpenTelemetry's `network.protocol.version` says
    /// it: `1.1`, `2`, `3`, ... A client records its response's (what was
    /// negotiated, not what was asked for) on its span with this name, in
    /// every convention: its request metrics count by it.
    ///
    /// ```
    /// assert_eq!(tracekit::http::protocol_version(http::Version::HTTP_2), Some("2"));
    /// assert_eq!(tracekit::http::protocol_version(http::Version::HTTP_11), Some("1.1"));
    /// ```
    pub fn protocol_version(version: ::http::Version) -> Option<&'static str> {
        Some(match version {
            ::http::Version::HTTP_09 => "0.9",
            ::http::Version::HTTP_10 => "1.0",
            ::http::Version::HTTP_11 => "1.1",
            ::http::Version::HTTP_2 => "2",
            ::http::Version::HTTP_3 => "3",
            _ => return None,
        })
    }

    /// [`client_span`] for an [`http::Request`] about to be sent: the
    /// context goes into the request's own headers. A request whose URI is
    /// a path only (hyper's connection-level `SendRequest` takes one) is to
    /// the server its `Host` header names (`server.address`,
    /// `server.port` when it has one).
    ///
    /// ```
    /// let mut req = http::Request::get("http://backend:8080/items").body(()).unwrap();
    /// let span = tracekit::http::client_span_for(&mut req);
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(req.headers().contains_key("traceparent"));
    /// # drop(span);
    /// ```
    pub fn client_span_for<B>(request: &mut ::http::Request<B>) -> Span {
        let method = request.method().as_str().to_owned();
        let url = request.uri().to_string();
        // A path only: nothing in it (not a `://` in its query) names the
        // server; the Host header does, with no port it does not say (its
        // scheme is the connection's).
        let host = match request.uri().authority() {
            Some(_) => None,
            None => Some(
                request
                    .headers()
                    .get(::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty()),
            ),
        };
        let target = match &host {
            Some(host) => host.as_deref().map(|h| (h, None)),
            None => super::scheme_and_authority(&url)
                .map(|(scheme, authority)| (authority, super::default_port(scheme))),
        };
        super::client_span_to(&method, &url, target, request.headers_mut())
    }
}

#[cfg(feature = "http")]
pub use requests::{client_span_for, protocol_version, server_span_for};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_method_and_host_are_not_kept() {
        let headers = vec![("host".to_owned(), "made-up-host.example:81".to_owned())];
        let ((), c) = crate::testing::capture(|| {
            drop(server_span("MADEUPMETHOD", "/kept/{id}", &headers));
        });
        for text in ["MADEUPMETHOD", "MADEUPMETHOD /kept/{id}"] {
            assert_eq!(crate::data::intern::kept(text), None, "{text}");
        }
        if crate::TRACE_ALL {
            // Named as the conventions name a method they do not know.
            let span = c.span("HTTP /kept/{id}");
            assert_eq!(
                span.tag("server.address")
                    .map(ToString::to_string)
                    .as_deref(),
                Some("made-up-host.example")
            );
        }
        // Hosts: their share of the kept strings, and no more.
        for i in 0..200 {
            let headers = vec![("host".to_owned(), format!("host-{i}.flood.example"))];
            drop(server_span("GET", "/kept/{id}", &headers));
        }
        // How many of `n` names made by `name` are kept.
        let kept_of = |n: usize, name: fn(usize) -> String| {
            (0..n)
                .filter(|&i| crate::data::intern::kept(&name(i)).is_some())
                .count()
        };
        let kept = kept_of(200, |i| format!("host-{i}.flood.example"));
        assert!(kept <= 64, "{kept} of 200 hosts kept");
        if crate::TRACE_ALL {
            assert!(kept > 0, "the first hosts are kept");
        }
        // And the hosts clients call (a webhook sender's): theirs.
        crate::metrics::set_enabled(true);
        for i in 0..300 {
            let url = format!("https://hook-{i}.flood.example/x");
            drop(client_span("POST", &url, &mut Vec::new()));
        }
        let kept = kept_of(300, |i| format!("hook-{i}.flood.example"));
        assert!(kept <= 256, "{kept} of 300 client hosts kept");
        if crate::TRACE_ALL {
            // A share of its own: the servers' full one took none of it.
            assert!(kept > 64, "{kept} client hosts kept");
        }
    }

    #[test]
    fn urls_lose_their_credentials_in_each_conventions_way() {
        let url = "https://u:p@a.b:1/x?y=@z";
        assert_eq!(without_userinfo(url), "https://a.b:1/x?y=@z");
        assert_eq!(
            without_credentials(url),
            "https://REDACTED:REDACTED@a.b:1/x?y=@z"
        );
        // An @ past the authority is no user's.
        assert_eq!(without_userinfo("https://a.b/x@y"), "https://a.b/x@y");
        assert_eq!(without_userinfo("/just/a/path"), "/just/a/path");
    }

    #[test]
    fn the_known_methods_variable_replaces_the_list() {
        let default = known_methods_from(None);
        assert!(default.contains(&"GET") && default.contains(&"QUERY"));
        assert_eq!(
            known_methods_from(Some(" ".into())),
            default,
            "empty: unset"
        );
        assert_eq!(
            known_methods_from(Some("GET, PROPFIND,,MKCOL ".into())),
            ["GET", "PROPFIND", "MKCOL"],
            "a whole list, not additions"
        );
        assert_eq!(
            known_methods_from(Some("propfind".into())),
            ["propfind"],
            "case-sensitive"
        );
        assert_eq!(
            known_methods_from(Some(" , ,".into())),
            default,
            "no method named: the default, not an empty list"
        );
    }

    #[test]
    fn paths_of_urls_and_targets() {
        for (url, path) in [
            ("http://a.b/users/7?x=1", "/users/7"),
            ("https://a.b:8443", "/"),
            ("https://a.b?x", "/"),
            ("/users/7#frag", "/users/7"),
            ("", "/"),
            ("http://a.b/#", "/"),
            // A `://` in a query is no scheme: the target is a path.
            ("/r?to=http://x.example/y", "/r"),
            ("svc+unix://a/b", "/b"),
        ] {
            assert_eq!(path_of(url), path, "{url}");
        }
        assert_eq!(scheme_and_authority("/r?to=http://x.example/y"), None);
        assert_eq!(scheme_and_authority("1http://x"), None);
        assert_eq!(
            scheme_and_authority("https://x.example:8443/p"),
            Some(("https", "x.example:8443"))
        );
    }

    #[test]
    fn hosts_ports_and_credentials() {
        assert_eq!(host_and_port("a.b:8080"), ("a.b", Some(8080)));
        assert_eq!(host_and_port("a.b"), ("a.b", None));
        assert_eq!(host_and_port("[::1]:9"), ("::1", Some(9)));
        assert_eq!(host_and_port("[::1]"), ("::1", None));
        assert_eq!(host_and_port("u:p@a.b:1"), ("a.b", Some(1)));
        assert_eq!(host_and_port("a.b:x"), ("a.b", None));
        assert_eq!(
            without_credentials("https://u:p@a.b:1/x?y"),
            "https://REDACTED:REDACTED@a.b:1/x?y"
        );
        assert_eq!(without_credentials("https://a.b/x@y"), "https://a.b/x@y");
        // A malformed URL's credentials are redacted all the same.
        assert_eq!(
            without_credentials(" https://u:secret@a.b/x"),
            " https://REDACTED:REDACTED@a.b/x"
        );
        assert_eq!(scheme_and_authority("http://a.b?x"), Some(("http", "a.b")));
        assert_eq!(scheme_and_authority("/x"), None);
    }

    #[test]
    fn opt_in_values() {
        assert_eq!(Conventions::from_opt_in("http"), Some(Conventions::Stable));
        assert_eq!(
            Conventions::from_opt_in("database, http/dup"),
            Some(Conventions::Both)
        );
        assert_eq!(Conventions::from_opt_in("http/old"), Some(Conventions::Old));
        assert_eq!(Conventions::from_opt_in("database"), None);
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
