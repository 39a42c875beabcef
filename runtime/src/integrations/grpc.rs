//! Spans for gRPC calls, as OpenTelemetry's RPC conventions name them: a
//! server span named `{package.Service}/{Method}` with `rpc.system =
//! "grpc"`, `rpc.service`, `rpc.method`, and the call's status as
//! `rpc.grpc.status_code`. gRPC runs over HTTP/2, so the context travels in
//! the request's headers (metadata) like any HTTP request's.
//!
//! ```
//! let headers = vec![("content-type".to_owned(), "application/grpc".to_owned())];
//! # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
//! assert!(tracekit::grpc::is_grpc(&headers));
//! let ((), c) = tracekit::testing::capture(|| {
//!     let mut span = tracekit::grpc::server_span("/shop.Inventory/Reserve", &headers);
//!     tracekit::grpc::set_status_code(&mut span, 14); // UNAVAILABLE
//! });
//! let span = c.span("shop.Inventory/Reserve");
//! assert_eq!(span.tag("rpc.service").unwrap().to_string(), "shop.Inventory");
//! assert!(span.is_error());
//! ```

use crate::data::intern::kept_text;
use crate::data::metrics::{Protocol, Request};
use crate::integrations::request_id;
use crate::propagation::{self, Extractor, Injector};
use crate::{Span, SpanKind, Status, Value};
use std::borrow::Cow;

/// Whether a request is a gRPC call: `content-type: application/grpc`,
/// alone or with a `+format` or parameters. gRPC-Web
/// (`application/grpc-web...`) is not: its status travels inside the
/// body, which a layer outside tonic-web cannot read, so it is traced as
/// the HTTP request it is.
///
/// ```
/// let of = |t: &str| vec![("content-type".to_owned(), t.to_owned())];
/// assert!(tracekit::grpc::is_grpc(&of("application/grpc+proto")));
/// assert!(!tracekit::grpc::is_grpc(&of("application/grpc-web+proto")));
/// assert!(!tracekit::grpc::is_grpc(&of("text/html")));
/// ```
pub fn is_grpc(headers: &dyn Extractor) -> bool {
    headers.get("content-type").is_some_and(|t| {
        t.strip_prefix("application/grpc")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
    })
}

/// The `server` span of an incoming call to `path` (`/package.Service/Method`),
/// a child of the context in its headers or a new trace's root, with the
/// request id adopted as [`http::server_span`](crate::integrations::http::server_span)
/// does. A path of another shape names the span by the path.
///
/// ```
/// let span = tracekit::grpc::server_span("/helloworld.Greeter/SayHello", &Vec::new());
/// # drop(span);
/// ```
pub fn server_span(path: &str, headers: &dyn Extractor) -> Span {
    let builder = builder(path).kind(SpanKind::Server);
    let mut span = propagation::continue_from(builder, headers).start_then(|b| tags(b, path));
    request_id::adopt(&mut span, headers, true);
    counted(&mut span, path, true);
    span
}

/// Counts a gRPC span for metrics, by service and method. A server's
/// names are its caller's words until a service answers: looked up among
/// the kept strings, not kept (the series key keeps them once the call
/// was served, `Request::counted_key`).
fn counted(span: &mut Span, path: &str, server: bool) {
    crate::integrations::http::counted(span, || {
        let (service, method) = split(path);
        let text = |s: &str| match server {
            true => {
                crate::data::intern::kept(s).map_or_else(|| Cow::Owned(s.to_owned()), Cow::Borrowed)
            }
            false => kept_text(s),
        };
        let mut r = Request::new(
            Protocol::Grpc,
            server,
            method.map_or(Cow::Borrowed("_OTHER"), text),
        );
        r.key.route = service.map(text);
        r
    });
}

/// The `client` span of an outgoing call to `path`, a child of the current
/// span, named and tagged as [`server_span`] names the server's; its context
/// and request id go into the call's `headers` (its metadata).
///
/// ```
/// let mut metadata = std::collections::HashMap::new();
/// let span = tracekit::grpc::client_span("/helloworld.Greeter/SayHello", &mut metadata);
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(metadata.contains_key("traceparent"));
/// # drop(span);
/// ```
pub fn client_span(path: &str, headers: &mut dyn Injector) -> Span {
    let mut span = builder(path)
        .kind(SpanKind::Client)
        .start_then(|b| tags(b, path));
    if let Some(cx) = span.context() {
        propagation::inject_context(&cx, headers);
        request_id::forward(&cx, headers);
    }
    counted(&mut span, path, false);
    span
}

/// A span builder named for a call to `path`.
fn builder(path: &str) -> crate::SpanBuilder {
    Span::builder(match split(path) {
        (Some(s), Some(m)) => format!("{s}/{m}"),
        _ => path.to_owned(),
    })
}

/// The tags of a call to `path`, added when its span records.
fn tags(builder: &mut crate::SpanBuilder, path: &str) {
    let (service, method) = split(path);
    builder.push_tag("rpc.system".into(), Value::from_static("grpc"));
    if let Some(service) = service {
        builder.push_tag("rpc.service".into(), service.to_owned().into());
    }
    if let Some(method) = method {
        builder.push_tag("rpc.method".into(), method.to_owned().into());
    }
}

/// `/package.Service/Method` as its service and method.
fn split(path: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().filter(|s| !s.is_empty());
    let method = parts.next().filter(|m| !m.is_empty() && !m.contains('/'));
    match (service, method) {
        (Some(s), Some(m)) => (Some(s), Some(m)),
        _ => (None, None),
    }
}

/// The gRPC status code a response's headers carry (`grpc-status`, present
/// in the headers of a trailers-only response, which is how most errors
/// come back), or `None`.
///
/// ```
/// let headers = vec![("grpc-status".to_owned(), "5".to_owned())];
/// assert_eq!(tracekit::grpc::status_of(&headers), Some(5));
/// ```
pub fn status_of(headers: &dyn Extractor) -> Option<u32> {
    headers.get("grpc-status")?.trim().parse().ok()
}

/// Records a call's gRPC status: `rpc.grpc.status_code`, and an error as
/// OpenTelemetry's conventions say: on a client span every code but OK; on
/// a server span the codes that mean the server failed (UNKNOWN,
/// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), as
/// a client's mistakes (NOT_FOUND, INVALID_ARGUMENT, ...) are not the
/// server's errors.
///
/// ```
/// let ((), c) = tracekit::testing::capture(|| {
///     let mut span = tracekit::grpc::server_span("/a.B/C", &Vec::new());
///     tracekit::grpc::set_status_code(&mut span, 5); // NOT_FOUND
/// });
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(!c.span("a.B/C").is_error());
/// ```
pub fn set_status_code(span: &mut Span, code: u32) {
    span.set_tag("rpc.grpc.status_code", i64::from(code));
    if crate::data::metrics::status_fails(Protocol::Grpc, span.kind() == SpanKind::Server, code) {
        span.set_tag("error", true);
        span.set_status(Status::error(format!("gRPC status {code}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_names_are_not_kept_until_a_service_answers() {
        crate::metrics::set_enabled(true);
        for code in [12, 0] {
            let path = format!("/zz{code}.Made/Up{code}");
            let mut span = server_span(&path, &Vec::new());
            if code == 12 {
                // UNIMPLEMENTED: a method nobody serves.
                set_status_code(&mut span, code);
            }
            drop(span);
        }
        let _ = crate::metrics::snapshot();
        assert_eq!(crate::data::intern::kept("zz12.Made"), None);
        assert_eq!(crate::data::intern::kept("Up12"), None);
        if crate::TRACE_ALL {
            // Served (no status yet is no failure to name): kept once counted.
            assert_eq!(crate::data::intern::kept("zz0.Made"), Some("zz0.Made"));
            assert_eq!(crate::data::intern::kept("Up0"), Some("Up0"));
        }
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(split("/a.B/C"), (Some("a.B"), Some("C")));
        for odd in ["", "/", "/a.B", "/a.B/", "/a/b/c", "//C"] {
            assert_eq!(split(odd), (None, None), "{odd}");
        }
    }
}
