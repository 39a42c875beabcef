//! Two services in one test process, the common way to test propagation:
//! "orders" calls "inventory" over HTTP on loopback. A capture of the
//! orders side gets the inventory side's spans too, in one tree, however
//! the inventory server was started: before the capture on the test's
//! runtime, on a thread and runtime of its own, or inside the capture with
//! a plain `tokio::spawn`.

use axum::Router;
use axum::routing::get;
use tracekit::testing::{Captured, capture, capture_async};
use tracekit::trace_fn;

#[trace_fn]
async fn count_stock(item: u64) -> u64 {
    tokio::task::yield_now().await;
    item * 3
}

async fn stock(axum::extract::Path(item): axum::extract::Path<u64>) -> String {
    count_stock(item).await.to_string()
}

fn inventory() -> Router {
    Router::new()
        .route("/stock/{item}", get(stock))
        .layer(tracekit_tower::TraceLayer::new().with_service_name("inventory"))
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tracekit_reqwest::TraceMiddleware)
        .build()
}

/// The orders side: one traced call that asks inventory over HTTP.
#[trace_fn]
async fn place_order(base: String, item: u64) -> u64 {
    let reply = client()
        .get(format!("{base}/stock/{item}"))
        .send()
        .await
        .unwrap();
    reply.text().await.unwrap().parse().unwrap()
}

async fn serve_inventory() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, inventory()).await });
    (base, server)
}

const TREE: &str = "place_order\n  GET\n    GET /stock/{item}\n      count_stock\n";

/// Both services' spans are in the capture, in one trace, each service's
/// entry span a child of the other's exit span.
fn assert_one_tree(c: &Captured) {
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), TREE);
    let order = c.span("place_order");
    assert!(c.spans().iter().all(|s| s.trace_id() == order.trace_id()));
    let server = c.span("GET /stock/{item}");
    assert!(server.has_remote_parent());
    // The layer names the service these requests are served by.
    assert_eq!(
        server.tag("service.name"),
        Some(&tracekit::Value::from("inventory"))
    );
    assert_eq!(server.parent_id(), Some(c.span("GET").span_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_before_the_capture_on_the_same_runtime() {
    let (base, server) = serve_inventory().await;
    for item in [1, 2, 3] {
        let (stock, c) = capture_async(place_order(base.clone(), item)).await;
        assert_eq!(stock, item * 3);
        assert_one_tree(&c);
    }
    server.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_on_the_same_single_threaded_runtime() {
    // The server's last poll may come after the client has its reply: the
    // capture lets the runtime run it while it waits.
    let (base, server) = serve_inventory().await;
    let (stock, c) = capture_async(place_order(base, 4)).await;
    assert_eq!(stock, 12);
    assert_one_tree(&c);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_spawned_inside_the_capture_with_a_plain_tokio_spawn() {
    let (stock, c) = capture_async(async {
        let (base, server) = serve_inventory().await;
        let stock = place_order(base, 5).await;
        server.abort();
        stock
    })
    .await;
    assert_eq!(stock, 15);
    assert_one_tree(&c);
}

#[test]
fn a_server_on_a_runtime_of_its_own_and_a_sync_capture() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (base, server) = serve_inventory().await;
            tx.send(base).unwrap();
            let _ = server.await;
        });
    });
    let base = rx.recv().unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stock, c) = capture(|| client_rt.block_on(place_order(base, 6)));
    assert_eq!(stock, 18);
    assert_one_tree(&c);
    drop(server);
}

/// Traces the capture did not start stay out of it, even when they reach
/// the same server while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_trace_hitting_the_same_server_stays_out() {
    let (base, server) = serve_inventory().await;
    let outside = tokio::spawn(place_order(base.clone(), 7));
    let (_, c) = capture_async(place_order(base, 8)).await;
    assert_eq!(outside.await.unwrap(), 21);
    assert_one_tree(&c);
    server.abort();
}

/// The other service's span finishes a while after the caller has its
/// answer (a server that does work after replying): the capture waits for
/// it. Without the wait it would finish 100 ms after the capture ended.
#[test]
fn a_span_of_the_other_service_still_open_when_the_closure_returns_is_waited_for() {
    let ((), c) = capture(|| {
        let _call = tracekit::start_active_span("call");
        let mut headers = std::collections::HashMap::new();
        tracekit::propagation::inject(&mut headers);
        let (replied, reply) = std::sync::mpsc::channel();
        // The other service: a thread that knows nothing of the capture.
        std::thread::spawn(move || {
            let parent = tracekit::propagation::extract(&headers);
            let mut span = tracekit::Span::builder("serve");
            if let Some(parent) = &parent {
                span = span.child_of(parent);
            }
            let span = span.kind(tracekit::SpanKind::Server).start();
            replied.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(span);
        });
        reply.recv().unwrap();
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "call\n  serve\n");
}

/// A span of the other service that never finishes does not hold the
/// capture for more than its one second.
#[test]
fn the_wait_for_the_other_service_is_bounded() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let started = std::time::Instant::now();
    let ((), c) = capture(|| {
        let _call = tracekit::start_active_span("call");
        let mut headers = std::collections::HashMap::new();
        tracekit::propagation::inject(&mut headers);
        let (replied, reply) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let parent = tracekit::propagation::extract(&headers);
            let _span = parent.map(|p| tracekit::Span::builder("stuck").child_of(&p).start());
            replied.send(()).unwrap();
            let _ = rx.recv(); // until the test ends
        });
        reply.recv().unwrap();
    });
    let waited = started.elapsed();
    drop(tx);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(c.tree(), "call\n");
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}
