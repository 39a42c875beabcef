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
        struct Countdown;
        impl tonic::server::ServerStreamingService<HelloRequest> for Countdown {
            type Response = HelloReply;
            type ResponseStream = tonic::codegen::tokio_stream::Iter<
                std::vec::IntoIter<Result<HelloReply, tonic::Status>>,
            >;
            type Future = BoxFuture<Result<tonic::Response<Self::ResponseStream>, tonic::Status>>;
            fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
                Box::pin(async move {
                    // Two messages, then a failure: the status comes in the trailers.
                    let name = request.into_inner().name;
                    let mut items: Vec<Result<HelloReply, tonic::Status>> = (1..=2)
                        .map(|n| {
                            Ok(HelloReply {
                                message: format!("{name} {n}"),
                            })
                        })
                        .collect();
                    if name == "lossy" {
                        items.push(Err(tonic::Status::data_loss("lost the rest")));
                    }
                    Ok(tonic::Response::new(tonic::codegen::tokio_stream::iter(
                        items,
                    )))
                })
            }
        }
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(match path.as_str() {
                "/test.Greeter/Countdown" => grpc.server_streaming(Countdown, request).await,
                _ => grpc.unary(SayHello, request).await,
            })
        })
    }
}

/// Serves [`Greeter`] behind `tracekit_tower::TraceLayer` on a free port
/// of this host, on the current runtime.
async fn serve() -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tracekit_tower::TraceLayer::new())
            .add_service(Greeter)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, server)
}

/// A plain channel to `addr`.
async fn connect(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Calls SayHello for each name through a channel traced by
/// `tracekit_tower::ClientLayer` (a client span per call, its context in the
/// call's metadata); returns each reply's message or status code.
async fn call(addr: std::net::SocketAddr, names: &[&str]) -> Vec<Result<String, tonic::Code>> {
    let channel = tower::ServiceBuilder::new()
        .layer(tracekit_tower::ClientLayer::new())
        .service(connect(addr).await);
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
            let (addr, server) = serve().await;
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
    if !tracekit::TRACE_ALL {
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
    // A unary success has its OK status in the trailers: read there.
    let ok: Vec<_> = servers
        .iter()
        .chain(&clients)
        .filter(|s| !s.is_error())
        .collect();
    assert_eq!(ok.len(), 2);
    for s in ok {
        assert_eq!(
            s.tag("rpc.grpc.status_code"),
            Some(&Value::I64(0)),
            "{:?}",
            s.kind()
        );
    }
}

#[test]
fn a_server_stream_is_traced_until_its_trailers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (got, c) = capture(|| {
        rt.block_on(async {
            let (addr, server) = serve().await;
            let channel = connect(addr).await;
            let channel = tower::ServiceBuilder::new()
                .layer(tracekit_tower::ClientLayer::new())
                .service(channel);
            let mut client = tonic::client::Grpc::new(channel);
            let mut got = Vec::new();
            for name in ["steady", "lossy"] {
                client.ready().await.unwrap();
                let mut stream = client
                    .server_streaming::<_, HelloReply, _>(
                        tonic::Request::new(HelloRequest {
                            name: name.to_owned(),
                        }),
                        http::uri::PathAndQuery::from_static("/test.Greeter/Countdown"),
                        tonic_prost::ProstCodec::default(),
                    )
                    .await
                    .unwrap()
                    .into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(m)) => got.push(Ok(m.message)),
                        Ok(None) => break,
                        Err(status) => {
                            got.push(Err(status.code()));
                            break;
                        }
                    }
                }
            }
            server.abort();
            got
        })
    });
    assert_eq!(
        got,
        [
            Ok("steady 1".to_owned()),
            Ok("steady 2".to_owned()),
            Ok("lossy 1".to_owned()),
            Ok("lossy 2".to_owned()),
            Err(tonic::Code::DataLoss),
        ]
    );
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    for kind in [SpanKind::Server, SpanKind::Client] {
        let spans: Vec<_> = c
            .spans_named("test.Greeter/Countdown")
            .into_iter()
            .filter(|s| s.kind() == kind)
            .collect();
        assert_eq!(spans.len(), 2, "{kind:?}");
        let codes: Vec<_> = spans
            .iter()
            .map(|s| s.tag("rpc.grpc.status_code").cloned())
            .collect();
        assert!(codes.contains(&Some(Value::I64(0))), "{kind:?}: {codes:?}");
        assert!(codes.contains(&Some(Value::I64(15))), "{kind:?}: {codes:?}");
        assert_eq!(
            spans.iter().filter(|s| s.is_error()).count(),
            1,
            "{kind:?}: DATA_LOSS only"
        );
    }
}

#[test]
fn the_interceptor_carries_the_context_in_the_metadata() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (reply, c) = capture(|| {
        rt.block_on(async {
            let (addr, server) = serve().await;
            let channel = connect(addr).await;
            let channel = tonic::service::interceptor::InterceptedService::new(
                channel,
                tracekit_tower::propagate,
            );
            let mut client = tonic::client::Grpc::new(channel);
            let mut caller = tracekit::Span::start("caller");
            caller.set_baggage_item("request.id", "r-grpc");
            let reply = async {
                client.ready().await.unwrap();
                client
                    .unary::<_, HelloReply, _>(
                        tonic::Request::new(HelloRequest {
                            name: "ann".to_owned(),
                        }),
                        http::uri::PathAndQuery::from_static("/test.Greeter/SayHello"),
                        tonic_prost::ProstCodec::default(),
                    )
                    .await
                    .map(|r| r.into_inner().message)
            }
            .in_span(caller)
            .await;
            server.abort();
            reply
        })
    });
    assert_eq!(reply.unwrap(), "hello ann");
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let server = c.span("test.Greeter/SayHello");
    assert_eq!(server.kind(), SpanKind::Server);
    assert_eq!(server.parent_id(), Some(c.span("caller").span_id()));
    assert_eq!(server.baggage_item("request.id"), Some("r-grpc"));
    let handler = c.span("say_hello");
    assert_eq!(handler.parent_id(), Some(server.span_id()));
}

#[test]
fn grpc_calls_are_counted_by_service_method_and_status() {
    tracekit::metrics::set_enabled(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let served = |code: u32| {
        tracekit::metrics::snapshot()
            .requests()
            .iter()
            .filter(|r| r.instrument() == "rpc.server.duration" && r.method() == "SayHello")
            .filter(|r| r.status_code() == Some(code))
            .map(|r| r.calls())
            .sum::<u64>()
    };
    let replies = rt.block_on(async {
        let (addr, server) = serve().await;
        let replies = call(addr, &["ann", "bo", "nobody"]).await;
        // A unary success's server span ends with its trailers, which
        // may leave after the client has its reply: wait for both.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tracekit::TRACE_ALL && served(0) < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        server.abort();
        replies
    });
    assert_eq!(replies.len(), 3);
    if !tracekit::TRACE_ALL {
        return;
    }
    let snapshot = tracekit::metrics::snapshot();
    let series = |instrument: &str, code: u32| {
        snapshot
            .requests()
            .iter()
            .find(|r| {
                r.instrument() == instrument
                    && r.method() == "SayHello"
                    && r.status_code() == Some(code)
            })
            .map(|r| {
                (
                    r.route().map(str::to_owned),
                    r.method().to_owned(),
                    r.calls(),
                    r.errors(),
                )
            })
    };
    let greeter = Some("test.Greeter".to_owned());
    assert!(series("rpc.server.duration", 0).unwrap().2 >= 2);
    assert_eq!(series("rpc.server.duration", 0).unwrap().0, greeter);
    assert_eq!(series("rpc.server.duration", 0).unwrap().1, "SayHello");
    // UNAVAILABLE (14) is an error on both sides.
    let failed = series("rpc.server.duration", 14).unwrap();
    assert!(failed.2 >= 1 && failed.3 == failed.2);
    let client_failed = series("rpc.client.duration", 14).unwrap();
    assert!(client_failed.2 >= 1 && client_failed.3 == client_failed.2);
    let text = tracekit::metrics::Prometheus::new().render(&snapshot);
    assert!(
        text.contains("# TYPE rpc_server_duration_milliseconds histogram"),
        "{text}"
    );
}
