//! A real tonic gRPC server behind `tracekit_tower::TraceLayer`, called by a
//! tonic client over loopback: the server span is named by service and
//! method, continues the caller's trace, is current in the handler, and
//! records the gRPC status. The service is written by hand (what tonic's
//! code generator would write), so the test needs no `protoc`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codegen::http;
use tracekit::testing::capture;
use tracekit::{FutureExt, SpanKind, Value, trace_fn};

const ON: bool = cfg!(feature = "trace-all");

#[derive(Clone, PartialEq, prost_derive::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost_derive::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

#[trace_fn]
async fn say_hello(name: String) -> Result<tonic::Response<HelloReply>, tonic::Status> {
    tokio::task::yield_now().await;
    if name == "nobody" {
        return Err(tonic::Status::unavailable("no one home"));
    }
    Ok(tonic::Response::new(HelloReply {
        message: format!("hello {name}"),
    }))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[derive(Clone)]
struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "test.Greeter";
}

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        struct SayHello;
        impl tonic::server::UnaryService<HelloRequest> for SayHello {
            type Response = HelloReply;
            type Future = BoxFuture<Result<tonic::Response<HelloReply>, tonic::Status>>;
            fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
                Box::pin(say_hello(request.into_inner().name))
            }
        }
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(SayHello, request).await)
        })
    }
}

/// Calls SayHello for each name through a channel traced by
/// `tracekit_tower::ClientLayer` (a client span per call, its context in the
/// call's metadata); returns each reply's message or status code.
async fn call(addr: std::net::SocketAddr, names: &[&str]) -> Vec<Result<String, tonic::Code>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = tower::ServiceBuilder::new()
        .layer(tracekit_tower::ClientLayer::new())
        .service(channel);
    let mut client = tonic::client::Grpc::new(channel);
    let mut out = Vec::new();
    for name in names {
        let request = tonic::Request::new(HelloRequest {
            name: (*name).to_owned(),
        });
        client.ready().await.unwrap();
        let reply = client
            .unary::<_, HelloReply, _>(
                request,
                http::uri::PathAndQuery::from_static("/test.Greeter/SayHello"),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        out.push(reply.map(|r| r.into_inner().message).map_err(|s| s.code()));
    }
    out
}

#[test]
fn tonic_unary_calls_are_traced_by_the_layer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (replies, c) = capture(|| {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(
                tonic::transport::Server::builder()
                    .layer(tracekit_tower::TraceLayer::new())
                    .add_service(Greeter)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
            );
            let replies = call(addr, &["ann", "nobody"])
                .in_span(tracekit::Span::start("calls"))
                .await;
            server.abort();
            replies
        })
    });
    assert_eq!(
        replies,
        [Ok("hello ann".to_owned()), Err(tonic::Code::Unavailable)]
    );
    if !ON {
        assert!(c.spans().is_empty());
        return;
    }
    let servers: Vec<_> = c
        .spans_named("test.Greeter/SayHello")
        .into_iter()
        .filter(|s| s.kind() == SpanKind::Server)
        .collect();
    let clients: Vec<_> = c
        .spans_named("test.Greeter/SayHello")
        .into_iter()
        .filter(|s| s.kind() == SpanKind::Client)
        .collect();
    assert_eq!((servers.len(), clients.len()), (2, 2));
    for (server, client) in servers.iter().zip(&clients) {
        assert_eq!(
            server.parent_id(),
            Some(client.span_id()),
            "one trace across the call"
        );
        assert_eq!(server.tag("rpc.system"), Some(&Value::from("grpc")));
        assert_eq!(
            server.tag("rpc.service"),
            Some(&Value::from("test.Greeter"))
        );
        assert_eq!(server.tag("rpc.method"), Some(&Value::from("SayHello")));
    }
    // The handler's span is a child of the server span.
    for handler in c.spans_named("say_hello") {
        assert!(
            servers
                .iter()
                .any(|s| Some(s.span_id()) == handler.parent_id())
        );
    }
    // tonic answers an error as trailers-only: grpc-status in the headers,
    // seen on both sides.
    for side in [&servers, &clients] {
        let failed: Vec<_> = side.iter().filter(|s| s.is_error()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].tag("rpc.grpc.status_code"), Some(&Value::I64(14)));
    }
    for client in &clients {
        assert_eq!(client.parent_id(), Some(c.span("calls").span_id()));
    }
}
