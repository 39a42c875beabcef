//! Callbacks and thread pools (the seeds' "callback hell"): work handed to
//! a rayon pool, a scoped thread, a callback completed on another thread or
//! a user's own executor keeps its place in the trace when it is carried
//! with `Context::wrap` / `in_scope`, and an owned span can be finished in
//! the completion callback with the callback's status on it.

use rayon::prelude::*;
use std::sync::mpsc;
use tracekit::testing::capture;
use tracekit::{Context, Span, start_active_span, trace_fn};

#[trace_fn]
fn price(item: u64) -> u64 {
    item * 10
}

#[test]
fn every_item_of_a_rayon_par_iter_is_a_child_of_its_root() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let (total, c) = capture(|| {
        let _root = start_active_span("checkout");
        let cx = Context::current();
        pool.install(|| {
            (0..64u64)
                .into_par_iter()
                .map(|item| cx.in_scope(|| price(item)))
                .sum::<u64>()
        })
    });
    assert_eq!(total, (0..64).sum::<u64>() * 10);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let root = c.span("checkout");
    let items = c.spans_named("price");
    assert_eq!(items.len(), 64);
    let mut prices: Vec<String> = items
        .iter()
        .map(|s| {
            assert_eq!(s.parent_id(), Some(root.span_id()));
            assert_eq!(s.trace_id(), root.trace_id());
            s.tag("item").unwrap().to_string()
        })
        .collect();
    prices.sort_by_key(|p| p.parse::<u64>().unwrap());
    assert_eq!(prices, (0..64).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn rayon_spawned_jobs_carry_the_context_with_wrap() {
    let (n, c) = capture(|| {
        let _root = start_active_span("fan-out");
        let (tx, rx) = mpsc::channel();
        for item in 0..8 {
            let tx = tx.clone();
            let job = Context::current().wrap(move || price(item));
            // The test hears of the job once it has returned (its spans
            // are finished and handed over by then).
            rayon::spawn(move || tx.send(job()).unwrap());
        }
        drop(tx);
        rx.iter().count()
    });
    assert_eq!(n, 8);
    if !tracekit::TRACE_ALL {
        return;
    }
    let root = c.span("fan-out");
    assert_eq!(c.spans_named("price").len(), 8);
    assert!(
        c.spans_named("price")
            .iter()
            .all(|s| s.parent_id() == Some(root.span_id()))
    );
}

#[test]
fn scoped_threads_run_wrapped_closures_of_every_kind() {
    let ((), c) = capture(|| {
        let _root = start_active_span("batch");
        let cx = Context::current();
        let once = cx.clone().wrap(|| drop(Span::start("once")));
        let shared = cx.clone().wrap_fn(|| drop(Span::start("shared")));
        let mut calls = 0;
        let mut repeated = cx.wrap_mut(|| {
            calls += 1;
            drop(Span::start("repeated"));
        });
        std::thread::scope(|s| {
            s.spawn(once);
            s.spawn(&shared);
            s.spawn(&shared);
            s.spawn(|| {
                repeated();
                repeated();
            });
        });
        drop(repeated);
        assert_eq!(calls, 2);
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let root = c.span("batch");
    for (name, n) in [("once", 1), ("shared", 2), ("repeated", 2)] {
        let spans = c.spans_named(name);
        assert_eq!(spans.len(), n, "{name}");
        assert!(
            spans.iter().all(|s| s.parent_id() == Some(root.span_id())),
            "{name}"
        );
    }
}

/// A callback-style API: completes on a thread of its own, calling back
/// with a status (as the seeds' `send_sms(phone, body, on_done)` does);
/// the handle tells when the request, callback included, is over.
fn send_sms(
    phone: &str,
    on_done: impl FnOnce(&'static str, u32) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let ok = phone.starts_with('+');
    std::thread::spawn(move || {
        if ok {
            on_done("delivered", 1)
        } else {
            on_done("rejected", 0)
        }
    })
}

/// What the seeds' `wrapped_cb` does: start the span before the call,
/// finish it in the completion callback with the callback's status.
fn traced_send_sms(
    phone: &str,
    on_done: impl FnOnce(&'static str, u32) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let mut span = Span::start("send_sms");
    span.set_tag("phone", phone.to_owned());
    send_sms(phone, move |status, parts| {
        span.finish_after(|| {
            let current = tracekit::current_span();
            current.set_tag("status", status);
            if status != "delivered" {
                current.set_status(tracekit::Status::error(status));
            }
            on_done(status, parts)
        })
    })
}

#[test]
fn an_owned_span_finishes_in_the_callback_that_completes_it_on_another_thread() {
    let (statuses, c) = capture(|| {
        let _order = start_active_span("order");
        let (tx, rx) = mpsc::channel();
        let requests: Vec<_> = ["+4912345", "12345"]
            .into_iter()
            .map(|phone| {
                let tx = tx.clone();
                traced_send_sms(phone, move |status, _| {
                    // Work done by the callback is a child of the call's span.
                    drop(Span::start("notify_customer"));
                    tx.send(status).unwrap();
                })
            })
            .collect();
        drop(tx);
        // The test waits for the requests to be over, callbacks included.
        for request in requests {
            request.join().unwrap();
        }
        let mut statuses: Vec<_> = rx.iter().collect();
        statuses.sort();
        statuses
    });
    assert_eq!(statuses, ["delivered", "rejected"]);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "order\n  send_sms\n    notify_customer\n  send_sms\n    notify_customer\n"
    );
    let sms = c.spans_named("send_sms");
    let by_phone = |phone: &str| {
        *sms.iter()
            .find(|s| s.tag("phone").unwrap().to_string() == phone)
            .unwrap()
    };
    let ok = by_phone("+4912345");
    assert_eq!(ok.tag("status").unwrap().to_string(), "delivered");
    assert!(!ok.is_error());
    let rejected = by_phone("12345");
    assert_eq!(rejected.tag("status").unwrap().to_string(), "rejected");
    assert!(rejected.is_error());
    // Each span lasts until its callback has run.
    for s in [ok, rejected] {
        let notify = c.children(s)[0];
        assert!(s.end() >= notify.end());
    }
}

#[test]
fn a_panicking_callback_still_finishes_its_span_as_an_error() {
    let (outcome, c) = capture(|| {
        let _order = start_active_span("order");
        let span = Span::start("callback");
        std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                span.finish_after(|| panic!("callback bug"))
            }))
            .is_err()
        })
        .join()
        .unwrap()
    });
    assert!(outcome, "the panic went on to the caller");
    if !tracekit::TRACE_ALL {
        return;
    }
    let span = c.span("callback");
    assert!(span.is_error());
    assert_eq!(
        span.events()[0]
            .field("exception.message")
            .unwrap()
            .to_string(),
        "callback bug"
    );
    assert_eq!(span.parent_id(), Some(c.span("order").span_id()));
}

/// A user's own executor: jobs queued on one thread and run on another.
#[test]
fn jobs_of_a_hand_written_executor_keep_their_parents() {
    type Job = Box<dyn FnOnce() + Send>;
    let (tx, rx) = mpsc::channel::<(Job, mpsc::Sender<()>)>();
    let worker = std::thread::spawn(move || {
        for (job, done) in rx {
            job();
            let _ = done.send(());
        }
    });
    let ((), c) = capture(|| {
        for request in ["a", "b"] {
            let _request = start_active_span(request);
            let (done_tx, done_rx) = mpsc::channel();
            let job = Context::current().wrap(move || {
                price(1);
            });
            tx.send((Box::new(job), done_tx)).unwrap();
            done_rx.recv().unwrap();
        }
    });
    drop(tx);
    worker.join().unwrap();
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(c.tree(), "a\n  price\nb\n  price\n");
}
