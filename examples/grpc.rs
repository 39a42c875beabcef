//! A gRPC call inside a trace: a tonic server behind
//! `tracekit_tower::TraceLayer`, and a tonic client whose channel is traced
//! by `tracekit_tower::ClientLayer`, in one process. The client's `checkout`
//! calls `shop.Inventory/Reserve` twice; the second call fails with
//! UNAVAILABLE. The service is written by hand, the way tonic's code
//! generator would write it, so the example needs no `protoc`.
//!
//! ```text
//! cargo run --example grpc
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codegen::http;
use tracekit::{FutureExt, trace_fn};

#[derive(Clone, PartialEq, prost_derive::Message)]
pub struct ReserveRequest {
    #[prost(string, tag = "1")]
    pub item: String,
}

#[derive(Clone, PartialEq, prost_derive::Message)]
pub struct ReserveReply {
    #[prost(uint32, tag = "1")]
    pub left: u32,
}

/// The handler: a child of the server span of its call.
#[trace_fn]
async fn reserve(item: String) -> Result<tonic::Response<ReserveReply>, tonic::Status> {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    match item.as_str() {
        "gizmo" => Err(tonic::Status::unavailable("the gizmo warehouse is offline")),
        _ => Ok(tonic::Response::new(ReserveReply { left: 11 })),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `shop.Inventory`, as tonic's generated server code would route it.
#[derive(Clone)]
struct Inventory;

impl tonic::server::NamedService for Inventory {
    const NAME: &'static str = "shop.Inventory";
}

impl tower::Service<http::Request<tonic::body::Body>> for Inventory {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        struct Reserve;
        impl tonic::server::UnaryService<ReserveRequest> for Reserve {
            type Response = ReserveReply;
            type Future = BoxFuture<Result<tonic::Response<ReserveReply>, tonic::Status>>;
            fn call(&mut self, request: tonic::Request<ReserveRequest>) -> Self::Future {
                Box::pin(reserve(request.into_inner().item))
            }
        }
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Reserve, request).await)
        })
    }
}

/// The client side of the trace: one span, two calls under it.
#[trace_fn(skip(client))]
async fn checkout<S>(client: &mut tonic::client::Grpc<S>, cart: u64) -> u32
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut reserved = 0;
    for item in ["book", "gizmo"] {
        if client.ready().await.is_err() {
            continue;
        }
        let reply = client
            .unary::<_, ReserveReply, _>(
                tonic::Request::new(ReserveRequest {
                    item: item.to_owned(),
                }),
                http::uri::PathAndQuery::from_static("/shop.Inventory/Reserve"),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        match reply {
            Ok(_) => reserved += 1,
            Err(status) => println!(
                "client <- cart {cart}, {item}: {:?} {}",
                status.code(),
                status.message()
            ),
        }
    }
    reserved
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _reporter = tracekit_examples::install_reporter("grpc");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tracekit::task::spawn(
        tonic::transport::Server::builder()
            .layer(tracekit_tower::TraceLayer::new())
            .add_service(Inventory)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let channel = tower::ServiceBuilder::new()
        .layer(tracekit_tower::ClientLayer::new())
        .service(channel);
    let mut client = tonic::client::Grpc::new(channel);
    let reserved = checkout(&mut client, 42)
        .in_span(tracekit::Span::builder("order").root().start())
        .await;
    println!("client <- reserved {reserved} of 2 items");
    server.abort();
    Ok(())
}
