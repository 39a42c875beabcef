// An `http::HeaderMap` is a carrier only with tracekit's `http` feature;
// without it the error says which feature to enable.
fn main() {
    let mut outgoing = http::HeaderMap::new();
    let _client = tracekit::http::client_span("GET", "http://backend/", &mut outgoing);
    let incoming = http::HeaderMap::new();
    let _server = tracekit::http::server_span("GET", "/", &incoming);
}
