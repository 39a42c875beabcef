//! Spans for the calls a service makes and takes: HTTP requests, gRPC
//! calls, messages. Each starts the right kind of span, carries the context
//! through the propagation formats, and keeps the request id
//! (`request_id`).

pub mod grpc;
pub mod http;
pub mod messaging;
pub(crate) mod request_id;
