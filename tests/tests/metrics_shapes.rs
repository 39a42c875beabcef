//! Every call counted once, with its errors, whatever shape the macros
//! took and whether it was sampled: `#[trace_impl]` methods and associated
//! functions, `async fn` finishing on another worker thread, panicking in
//! a later poll or cancelled after it waited, and a function returning a
//! boxed future (a process of its own: the counts are global).

use std::future::Future;
use std::pin::Pin;
use tracekit::metrics;
use tracekit::{Context, FutureExt};
use tracekit_tests::{block_on, error_types, poll_once, unsampled_parent};

tracekit_tests::unit_error!(NotFound, "not found");

struct Repo {
    saved: u64,
}

#[tracekit::trace_impl]
impl Repo {
    fn new() -> Repo {
        Repo { saved: 0 }
    }

    fn find(&self, id: u64) -> Result<u64, NotFound> {
        match id % 2 {
            0 => Ok(id + self.saved),
            _ => Err(NotFound),
        }
    }

    fn save(&mut self, v: u64) -> Result<(), String> {
        if v > 10 {
            return Err(format!("{v} is too big"));
        }
        self.saved += v;
        Ok(())
    }

    async fn load(&self, id: u64) -> Result<u64, NotFound> {
        self.find(id)
    }
}

/// A function returning a boxed future.
#[tracekit::trace_fn]
fn load_boxed(id: u64) -> Pin<Box<dyn Future<Output = Result<u64, NotFound>> + Send>> {
    Box::pin(async move {
        match id % 2 {
            0 => Ok(id),
            _ => Err(NotFound),
        }
    })
}

/// Waits (giving its worker the chance to move it) before it ends.
#[tracekit::trace_fn]
async fn hop(i: u64) -> Result<u64, NotFound> {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    match i % 4 {
        0 => Err(NotFound),
        _ => Ok(i),
    }
}

#[tracekit::trace_fn]
async fn panics_after_waiting(panic: bool) -> u64 {
    tokio::task::yield_now().await;
    if panic {
        panic!("failed after waiting");
    }
    1
}

/// Waits forever once polled: a call that is dropped (cancelled) then.
#[tracekit::trace_fn]
async fn waits_forever() -> Result<(), NotFound> {
    std::future::pending::<()>().await;
    Ok(())
}

/// (calls, errors) of the function whose spans are named `name`.
fn counts(name: &str) -> (u64, u64) {
    metrics::snapshot()
        .function(name)
        .map_or((0, 0), |f| (f.calls(), f.errors()))
}

/// Runs `f` once sampled (the default sampler keeps every trace) and once
/// under a parent that was not sampled.
fn sampled_and_not(f: impl Fn()) {
    f();
    let _unsampled = Context::from_span_context(unsampled_parent()).attach();
    f();
}

#[test]
fn methods_and_associated_functions_count_with_their_errors() {
    metrics::set_enabled(true);
    sampled_and_not(|| {
        let mut repo = Repo::new();
        for id in 0..4 {
            let _ = repo.find(id);
        }
        let _ = repo.save(5);
        let _ = repo.save(50);
        for id in 0..4 {
            let _ = block_on(repo.load(id));
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(metrics::snapshot().functions().is_empty());
        return;
    }
    assert_eq!(counts("Repo::new"), (2, 0));
    // Four calls of its own and four from `load`, each way: half fail.
    assert_eq!(counts("Repo::find"), (16, 8));
    assert_eq!(counts("Repo::save"), (4, 2));
    assert_eq!(counts("Repo::load"), (8, 4));
    assert_eq!(
        error_types("Repo::save"),
        [("alloc::string::String".to_owned(), 2)]
    );
    assert_eq!(
        error_types("Repo::load"),
        [("metrics_shapes::NotFound".to_owned(), 4)]
    );
}

#[test]
fn async_calls_that_move_between_worker_threads_count_once() {
    metrics::set_enabled(true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..40 {
            tasks.push(tokio::spawn(hop(i)));
        }
        {
            let _unsampled = Context::from_span_context(unsampled_parent()).attach();
            for i in 0..40 {
                tasks.push(tokio::spawn(hop(i).in_current_span()));
            }
        }
        for t in tasks {
            let _ = t.await.unwrap();
        }
    });
    drop(runtime);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(counts("hop"), (80, 20));
}

#[test]
fn a_panic_after_waiting_fails_the_call_and_a_cancel_after_waiting_does_not() {
    metrics::set_enabled(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for panic in [true, false] {
            // tokio catches the task's panic: the call is counted failed.
            let _ = tokio::spawn(panics_after_waiting(panic)).await;
            let _unsampled = Context::from_span_context(unsampled_parent()).attach();
            let _ = tokio::spawn(panics_after_waiting(panic).in_current_span()).await;
        }
    });
    sampled_and_not(|| {
        // Polled once (it waits), then dropped: a cancelled call, no error.
        let mut waiting = Box::pin(waits_forever());
        assert!(poll_once(waiting.as_mut()).is_pending());
        drop(waiting);
        // Never polled: its body never ran, so there is no call to count.
        drop(waits_forever());
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(counts("panics_after_waiting"), (4, 2));
    assert_eq!(
        error_types("panics_after_waiting"),
        [("panic".to_owned(), 2)]
    );
    assert_eq!(counts("waits_forever"), (2, 0));
}

#[test]
fn a_function_returning_a_boxed_future_counts_its_outcome() {
    metrics::set_enabled(true);
    sampled_and_not(|| {
        for id in 0..4 {
            let _ = block_on(load_boxed(id));
        }
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(counts("load_boxed"), (8, 4));
    assert_eq!(
        error_types("load_boxed"),
        [("metrics_shapes::NotFound".to_owned(), 4)]
    );
}
