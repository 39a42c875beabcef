//! Spans across `.await` on a multi-threaded tokio runtime.

use std::time::Duration;
use tracekit::testing::capture;
use tracekit::{FutureExt, Span, Value, trace_fn, trace_impl};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[trace_fn]
async fn fetch(id: u64) -> Result<String, std::io::Error> {
    // Hop threads: yield and sleep so the rest runs wherever tokio puts it.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    decode(id)?;
    if id == 0 {
        return Err(std::io::Error::other("id 0 is reserved"));
    }
    Ok(format!("item{id}"))
}

#[trace_fn]
fn decode(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

#[trace_fn]
async fn handler(ids: Vec<u64>) -> usize {
    let mut ok = 0;
    for id in ids {
        tokio::task::yield_now().await;
        if fetch(id).await.is_ok() {
            ok += 1;
        }
    }
    ok
}

#[test]
fn async_children_keep_their_parent_across_awaits_and_threads() {
    let rt = runtime();
    let (ok, c) = capture(|| {
        rt.block_on(async {
            tokio::spawn(handler(vec![1, 0, 2]).in_current_span())
                .await
                .unwrap()
        })
    });
    assert_eq!(ok, 2);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "handler\n  fetch\n    decode\n  fetch\n    decode\n  fetch\n    decode\n"
    );
    let handler = c.span("handler");
    assert_eq!(handler.tag("ids").unwrap().to_string(), "[1, 0, 2]");
    let fetches = c.children(handler);
    assert_eq!(fetches[0].tag("id"), Some(&Value::U64(1)));
    assert!(!fetches[0].is_error());
    assert!(fetches[1].is_error());
    assert_eq!(
        fetches[1].status(),
        &tracekit::Status::error("id 0 is reserved")
    );
    for f in &fetches {
        assert_eq!(f.trace_id(), handler.trace_id());
        // 2 ms slept, less the clock calibration's error.
        assert!(f.duration() >= Duration::from_micros(1_900));
    }
}

#[test]
fn many_concurrent_tasks_each_get_their_own_tree() {
    let rt = runtime();
    let (n, c) = capture(|| {
        rt.block_on(async {
            let tasks: Vec<_> = (1..=20u64)
                .map(|i| {
                    let root = Span::builder(format!("request{i}")).root().start();
                    tokio::spawn(async move { fetch(i).await.unwrap() }.in_span(root))
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                t.await.unwrap();
                n += 1;
            }
            n
        })
    });
    assert_eq!(n, 20);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    assert_eq!(c.roots().len(), 20);
    for i in 1..=20u64 {
        let root = c.span(&format!("request{i}"));
        let kids = c.children(root);
        assert_eq!(kids.len(), 1, "request{i}");
        assert_eq!(kids[0].tag("id"), Some(&Value::U64(i)));
        assert_eq!(c.children(kids[0])[0].name(), "decode");
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

struct Service {
    prefix: String,
}

#[trace_impl]
impl Service {
    async fn call(&self, n: u32) -> String {
        tokio::task::yield_now().await;
        format!("{}{n}", self.prefix)
    }
}

#[test]
fn traced_async_fns_stay_send_and_methods_work() {
    let rt = runtime();
    let svc = std::sync::Arc::new(Service { prefix: "p".into() });
    let (s, c) = capture(|| {
        rt.block_on(async {
            let svc = svc.clone();
            let fut = assert_send(async move { svc.call(4).await });
            tokio::spawn(fut.in_current_span()).await.unwrap()
        })
    });
    assert_eq!(s, "p4");
    if tracekit::TRACE_ALL {
        assert_eq!(c.span("Service::call").tag("n"), Some(&Value::U64(4)));
    }
}

#[trace_fn]
async fn slow() -> u8 {
    let _inner = tracekit::start_active_span("inner");
    drop(_inner);
    tokio::time::sleep(Duration::from_secs(10)).await;
    1
}

#[test]
fn a_cancelled_future_finishes_its_span_marked_cancelled() {
    let rt = runtime();
    let (r, c) = capture(|| {
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(20), slow()).await })
    });
    assert!(r.is_err());
    if tracekit::TRACE_ALL {
        let s = c.span("slow");
        assert_eq!(s.tag("cancelled"), Some(&Value::Bool(true)));
        assert!(s.duration() >= Duration::from_millis(15));
        assert_eq!(c.tree(), "slow\n  inner\n");
    }
}

#[trace_fn]
async fn async_panics(flag: bool) -> u8 {
    tokio::task::yield_now().await;
    if flag {
        panic!("async boom");
    }
    0
}

#[test]
fn a_panic_in_an_async_fn_marks_its_span() {
    let rt = runtime();
    let (r, c) =
        capture(|| rt.block_on(async { tokio::spawn(async_panics(true).in_current_span()).await }));
    assert!(r.unwrap_err().is_panic());
    if tracekit::TRACE_ALL {
        let s = c.span("async_panics");
        assert!(s.is_error());
        assert_eq!(s.status(), &tracekit::Status::error("async boom"));
    }
}

#[trace_fn]
async fn traced_leaf(a: u64) -> u64 {
    a + 1
}

async fn plain_leaf(a: u64) -> u64 {
    a + 1
}

#[trace_fn]
async fn traced_caller(a: u64) -> u64 {
    traced_leaf(a).await
}

async fn plain_caller(a: u64) -> u64 {
    plain_leaf(a).await
}

/// What a traced `async fn` adds to its future's size: the span's 16-byte
/// slot and the body's own future beside the function's (nothing per
/// path not taken). Nested calls add it once a level. A regression here is
/// memory in every task that awaits traced code.
#[test]
fn a_traced_async_fn_future_stays_small() {
    let added = |traced: usize, plain: usize| traced - plain;
    let leaf = added(size_of_val(&traced_leaf(1)), size_of_val(&plain_leaf(1)));
    let caller = added(
        size_of_val(&traced_caller(1)),
        size_of_val(&plain_caller(1)),
    );
    if tracekit::TRACE_ALL {
        assert!(
            leaf <= 48,
            "a traced async fn's future grew by {leaf} bytes"
        );
        assert!(caller <= 2 * 48, "two levels grew by {caller} bytes");
    } else {
        assert_eq!((leaf, caller), (0, 0));
    }
}
