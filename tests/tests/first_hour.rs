//! What a new user trips over in the first hour (issue 15), one test each.

use tracekit::testing::capture;
use tracekit::{Value, trace_fn};

#[trace_fn]
fn load(id: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Err(format!("no row {id}").into())
}

#[test]
fn a_boxed_error_has_a_type_name_a_person_can_read() {
    let (r, c) = capture(|| load(7));
    assert!(r.is_err());
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let event = &c.span("load").events()[0];
    assert_eq!(
        event.field("exception.type"),
        Some(&Value::from("Box<dyn Error + Send + Sync>"))
    );
    assert_eq!(
        event.field("exception.message"),
        Some(&Value::from("no row 7"))
    );
}

#[trace_fn]
async fn find(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id
}

#[trace_fn]
async fn handler() -> u64 {
    use tracekit::FutureExt;
    let task = tokio::spawn(async { find(2).await }.in_current_span());
    find(1).await + task.await.unwrap()
}

fn check_handler_tree(c: &tracekit::testing::Captured) {
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.spans_named("find").len(), 2);
    let handler = c.span("handler");
    for f in c.spans_named("find") {
        assert_eq!(f.parent_id(), Some(handler.span_id()));
    }
}

#[tokio::test]
async fn capture_async_on_a_current_thread_runtime() {
    let (sum, c) = tracekit::testing::capture_async(handler()).await;
    assert_eq!(sum, 3);
    check_handler_tree(&c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_async_on_a_multi_thread_runtime() {
    for _ in 0..20 {
        let (sum, c) = tracekit::testing::capture_async(async { handler().await }).await;
        assert_eq!(sum, 3);
        check_handler_tree(&c);
    }
}

#[test]
fn capture_of_a_future_that_never_ran_fails_loudly() {
    if !cfg!(feature = "trace-all") {
        return;
    }
    let panic = std::panic::catch_unwind(|| {
        let (_future, _c) = capture(|| find(7));
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("capture_async"), "{message}");
    assert!(message.contains("find"), "{message}");
}

#[trace_fn]
fn greet(name: Option<&str>, count: Option<u64>, missing: Option<u64>) -> usize {
    name.map_or(0, str::len) + count.unwrap_or(0) as usize + missing.unwrap_or(0) as usize
}

#[test]
fn options_are_recorded_as_their_value_and_none_is_left_out() {
    let (_, c) = capture(|| greet(Some("ann"), Some(3), None));
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("greet");
    assert_eq!(s.tag("name"), Some(&Value::from("ann")));
    assert_eq!(s.tag("count"), Some(&Value::U64(3)));
    assert_eq!(s.tag("missing"), None);
}

#[derive(Debug)]
#[allow(dead_code)]
struct Blob(Vec<u8>);

#[trace_fn]
fn store(blob: &Blob) -> usize {
    blob.0.len()
}

#[test]
fn huge_debug_text_is_cut() {
    let blob = Blob(vec![7; 10_000_000]);
    let (n, c) = capture(|| store(&blob));
    assert_eq!(n, 10_000_000);
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let text = c.span("store").tag("blob").unwrap().to_string();
    assert!(text.starts_with("Blob([7, 7, 7"), "{}", &text[..40]);
    assert!(text.ends_with('…'));
    assert!(text.len() <= tracekit::MAX_TEXT_LEN + '…'.len_utf8());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_spawn_keeps_the_trace_and_tokio_spawn_does_not() {
    use tracekit::FutureExt;
    let ((), c) = tracekit::testing::capture_async(async {
        async {
            tracekit::task::spawn(find(1)).await.unwrap();
            // A plain tokio::spawn: the task has no current span.
            tokio::spawn(find(2)).await.unwrap();
        }
        .in_span(tracekit::Span::start("request"))
        .await
    })
    .await;
    if !cfg!(feature = "trace-all") {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let request = c.span("request");
    let finds = c.spans_named("find");
    let kept: Vec<_> = finds
        .iter()
        .filter(|f| f.parent_id() == Some(request.span_id()))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].tag("id"), Some(&Value::U64(1)));
}
