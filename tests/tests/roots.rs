//! Where traces start: by default every traced call outside any span
//! starts one; under `Roots::EntryPoints` only entry points do (server and
//! consumer kinds, `#[trace_fn(root)]`), and `#[trace_fn(root)]` makes
//! every call a new trace, even under a span. The policy is process-wide:
//! the tests of this binary run one after another (a lock), each setting
//! the policy it needs.

use std::sync::Mutex;
use tracekit::sampler::{Roots, set_roots};
use tracekit::testing::{capture, capture_async};
use tracekit::{SpanKind, start_active_span, trace_fn, trace_impl};

static POLICY: Mutex<()> = Mutex::new(());

fn with_roots<R>(roots: Roots, f: impl FnOnce() -> R) -> R {
    let _one_at_a_time = POLICY.lock().unwrap_or_else(|e| e.into_inner());
    set_roots(roots);
    let out = f();
    set_roots(Roots::Anywhere);
    out
}

struct OrderRepository;

#[trace_impl]
impl OrderRepository {
    /// An associated function without `self`: a constructor at start-up.
    fn seeded() -> OrderRepository {
        OrderRepository
    }

    fn find(&self, id: u64) -> u64 {
        id
    }
}

#[trace_fn(kind = "server")]
fn handle_request(id: u64) -> u64 {
    OrderRepository::seeded().find(id)
}

#[trace_fn(kind = "consumer")]
fn process_message(id: u64) -> u64 {
    id
}

#[trace_fn(root)]
fn run_job(id: u64) -> u64 {
    OrderRepository.find(id)
}

#[trace_fn]
async fn load(id: u64) -> u64 {
    OrderRepository.find(id)
}

#[trace_fn(root)]
async fn nightly(id: u64) -> u64 {
    load(id).await
}

#[test]
fn by_default_a_call_outside_any_span_starts_a_trace() {
    let (_, c) = with_roots(Roots::Anywhere, || {
        capture(|| OrderRepository::seeded().find(1))
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "OrderRepository::seeded\nOrderRepository::find\n");
}

#[test]
fn under_entry_points_only_a_helper_outside_any_span_records_nothing() {
    let (id, c) = with_roots(Roots::EntryPoints, || {
        capture(|| {
            let repo = OrderRepository::seeded();
            repo.find(1)
        })
    });
    assert_eq!(id, 1);
    assert!(c.spans().is_empty(), "{}", c.tree());
}

#[test]
fn under_entry_points_entry_points_start_traces_and_their_callees_are_children() {
    let ((a, b, d), c) = with_roots(Roots::EntryPoints, || {
        capture(|| (handle_request(2), process_message(3), run_job(4)))
    });
    assert_eq!((a, b, d), (2, 3, 4));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "handle_request\n  OrderRepository::seeded\n  OrderRepository::find\n\
         process_message\n\
         run_job\n  OrderRepository::find\n"
    );
    assert_eq!(c.span("handle_request").kind(), SpanKind::Server);
    assert_eq!(c.span("process_message").kind(), SpanKind::Consumer);
}

#[test]
fn under_entry_points_spans_started_by_hand_are_never_held_back() {
    let (_, c) = with_roots(Roots::EntryPoints, || {
        capture(|| {
            let _request = start_active_span("request");
            OrderRepository::seeded();
        })
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(c.tree(), "request\n  OrderRepository::seeded\n");
}

#[test]
fn a_root_function_starts_a_new_trace_even_under_a_span() {
    let (_, c) = with_roots(Roots::Anywhere, || {
        capture(|| {
            let _request = start_active_span("request");
            run_job(5)
        })
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(c.tree(), "request\nrun_job\n  OrderRepository::find\n");
    let (request, job) = (c.span("request"), c.span("run_job"));
    assert_ne!(request.trace_id(), job.trace_id());
    assert_eq!(job.parent_id(), None);
    assert_eq!(
        c.span("OrderRepository::find").parent_id(),
        Some(job.span_id())
    );
}

#[test]
fn an_async_root_function_too_and_its_children_follow_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_, c) = with_roots(Roots::EntryPoints, || {
        rt.block_on(capture_async(async {
            let outside = load(6).await; // not an entry point: nothing
            let _request = tracekit::Span::start("request");
            outside + nightly(7).await
        }))
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(
        c.tree(),
        "request\nnightly\n  load\n    OrderRepository::find\n"
    );
    assert_eq!(c.span("nightly").parent_id(), None);
}
