//! The explicit API and the current-span context: activation, nesting,
//! threads, baggage, explicit times, references.

use std::time::{Duration, SystemTime};
use tracekit::testing::capture;
use tracekit::{Context, Span, SpanContext, SpanId, TraceId, Value, start_active_span};

#[test]
fn start_span_is_a_child_of_the_current_span_or_a_new_root() {
    let ((), c) = capture(|| {
        drop(Span::start("lonely"));
        let _parent = start_active_span("parent");
        drop(Span::start("child"));
        drop(Span::builder("detached").root().start());
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert!(c.span("lonely").parent_id().is_none());
    assert_eq!(
        c.span("child").parent_id(),
        Some(c.span("parent").span_id())
    );
    assert!(c.span("detached").parent_id().is_none());
    assert_ne!(c.span("detached").trace_id(), c.span("parent").trace_id());
    assert_ne!(c.span("lonely").trace_id(), c.span("parent").trace_id());
}

#[test]
fn active_spans_nest_and_guards_restore_the_previous_span() {
    let ((), c) = capture(|| {
        assert!(tracekit::current_span().context().is_none());
        let a = start_active_span("a");
        {
            let b = start_active_span("b");
            {
                let _c = start_active_span("c");
                tracekit::current_span().set_tag("depth", 3);
            }
            assert_eq!(tracekit::current_span().context(), b.context());
            tracekit::current_span().set_tag("depth", 2);
        }
        assert_eq!(tracekit::current_span().context(), a.context());
        drop(Span::start("d"));
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "a\n  b\n    c\n  d\n");
    assert_eq!(c.span("c").tag("depth"), Some(&Value::I64(3)));
    assert_eq!(c.span("b").tag("depth"), Some(&Value::I64(2)));
}

#[test]
fn an_owned_span_entered_without_finishing_and_with_finish_on_close() {
    let ((), c) = capture(|| {
        let mut owned = Span::start("owned");
        {
            let _entered = owned.enter();
            drop(Span::start("under owned"));
            tracekit::current_span().add_event("inside", [("n", Value::from(1))]);
        }
        // Still ours after the guard: tag it, then activate with finish on close.
        owned.set_tag("after", true);
        let active = owned.activate();
        drop(Span::start("under active"));
        drop(active);
        assert!(!tracekit::current_span().is_recording());
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(c.tree(), "owned\n  under owned\n  under active\n");
    let owned = c.span("owned");
    assert_eq!(owned.tag("after"), Some(&Value::Bool(true)));
    assert_eq!(owned.events()[0].name(), "inside");
}

#[test]
fn guards_dropped_out_of_order_do_not_corrupt_tags_or_parents() {
    let ((), c) = capture(|| {
        let a = start_active_span("a");
        a.set_tag("a1", 1);
        let b = start_active_span("b");
        b.set_tag("b1", 1);
        a.set_tag("a2", 2); // tags the non-top span
        drop(a); // out of order
        b.set_tag("b2", 2);
        drop(Span::start("c")); // child of b, still active
        drop(b);
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let (a, b) = (c.span("a"), c.span("b"));
    assert_eq!(a.tag("a1"), Some(&Value::I64(1)));
    assert_eq!(a.tag("a2"), Some(&Value::I64(2)));
    assert_eq!(a.tag("b1"), None);
    assert_eq!(b.tag("b1"), Some(&Value::I64(1)));
    assert_eq!(b.tag("b2"), Some(&Value::I64(2)));
    assert_eq!(b.tag("a1"), None);
    assert_eq!(c.span("c").parent_id(), Some(b.span_id()));
}

#[test]
fn tags_at_start_and_later_events_and_explicit_times() {
    let t0 = SystemTime::now() - Duration::from_secs(10);
    let ((), c) = capture(|| {
        let mut span = Span::builder("timed")
            .tag("at.start", "yes")
            .kind(tracekit::SpanKind::Client)
            .start_time(t0)
            .start();
        span.set_tag("later", 2.5);
        span.add_event_at("logged", t0 + Duration::from_secs(1), [("key", "v")]);
        span.add_event("now", ());
        span.finish_at(t0 + Duration::from_secs(3));
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("timed");
    assert_eq!(s.start(), t0);
    assert_eq!(s.end(), t0 + Duration::from_secs(3));
    assert_eq!(s.kind(), tracekit::SpanKind::Client);
    assert_eq!(s.tag("at.start").unwrap().to_string(), "yes");
    assert_eq!(s.tag("later"), Some(&Value::F64(2.5)));
    assert_eq!(s.events()[0].time(), t0 + Duration::from_secs(1));
    assert_eq!(s.events()[0].field("key").unwrap().to_string(), "v");
    assert!(s.events()[1].time() > t0 + Duration::from_secs(5));
}

#[test]
fn an_active_span_finishes_at_an_explicit_time() {
    let end = SystemTime::now() + Duration::from_secs(60);
    let ((), c) = capture(|| start_active_span("a").finish_at(end));
    if tracekit::TRACE_ALL {
        assert_eq!(c.span("a").end(), end);
    }
}

#[test]
fn clock_times_are_wall_clock_times() {
    let before = SystemTime::now();
    let ((), c) = capture(|| {
        let _s = start_active_span("sleepy");
        std::thread::sleep(Duration::from_millis(20));
    });
    let after = SystemTime::now();
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("sleepy");
    // Span times follow the monotonic clock from the process's anchor to
    // the wall clock (exactly, in the runtime's clock tests); the slack is
    // for the wall clock itself moving since (an NTP slew).
    let slack = Duration::from_millis(2);
    assert!(s.start() + slack >= before, "{:?} < {before:?}", s.start());
    assert!(s.end() <= after + slack);
    assert!(
        s.duration() >= Duration::from_millis(19),
        "{:?}",
        s.duration()
    );
}

#[test]
fn baggage_is_inherited_by_every_descendant_and_across_threads() {
    let ((), c) = capture(|| {
        let root = start_active_span("root");
        root.set_baggage_item("request.id", "r-1");
        let mid = start_active_span("mid");
        tracekit::current_span().set_baggage_item("user.id", "42");
        tracekit::thread::spawn(|| {
            let _leaf = start_active_span("leaf");
        })
        .join()
        .unwrap();
        drop(mid);
        drop(Span::start("sibling"));
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let leaf = c.span("leaf");
    assert_eq!(leaf.baggage_item("request.id"), Some("r-1"));
    assert_eq!(leaf.baggage_item("user.id"), Some("42"));
    // Set on `mid`: not visible to its sibling.
    assert_eq!(c.span("sibling").baggage_item("user.id"), None);
    assert_eq!(c.span("sibling").baggage_item("request.id"), Some("r-1"));
    assert_eq!(c.span("root").baggage_item("user.id"), None);
}

#[test]
fn a_context_re_entered_on_another_thread_joins_the_trace() {
    let ((), c) = capture(|| {
        let _root = start_active_span("root");
        let cx = Context::current();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let cx = cx.clone();
                std::thread::spawn(move || {
                    let _g = cx.attach();
                    let _w = start_active_span(format!("worker{i}"));
                    drop(Span::start("inner"));
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let root = c.span("root");
    assert_eq!(c.children(root).len(), 4);
    for i in 0..4 {
        let w = c.span(&format!("worker{i}"));
        assert_eq!(w.parent_id(), Some(root.span_id()));
        assert_eq!(w.trace_id(), root.trace_id());
        assert_eq!(c.children(w)[0].name(), "inner");
    }
}

#[test]
fn a_remote_parent_and_follows_from_references() {
    let remote = SpanContext::remote(
        TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap(),
        SpanId::from_u64(0x00f067aa0ba902b7).unwrap(),
        true,
    );
    let ((), c) = capture(|| {
        let _server = Span::builder("server").child_of(&remote).start_active();
        let producer = Span::start("produce");
        let cx = producer.context();
        drop(producer);
        if let Some(cx) = cx {
            let mut consumer = Span::builder("consume").root().follows_from(&cx).start();
            consumer.add_follows_from(&remote);
        }
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let server = c.span("server");
    assert_eq!(
        server.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_id(), Some(remote.span_id()));
    assert!(server.has_remote_parent());
    assert_eq!(c.span("produce").parent_id(), Some(server.span_id()));
    assert!(!c.span("produce").has_remote_parent());
    let links = c.span("consume").links();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].span_id(), c.span("produce").span_id());
    assert_eq!(links[1].trace_id(), remote.trace_id());
    // The remote span itself was not captured: the server span is a root here.
    assert_eq!(c.roots()[0].name(), "server");
}

#[test]
fn an_unsampled_remote_parent_is_honoured() {
    let remote = SpanContext::remote(TraceId::random(), SpanId::random(), false);
    let ((), c) = capture(|| {
        let _server = Span::builder("server").child_of(&remote).start_active();
        assert!(!tracekit::current_span().is_recording());
        drop(Span::start("child"));
        // Still propagates: ids exist for headers even when nothing is recorded.
        if tracekit::TRACE_ALL {
            assert_eq!(
                tracekit::current_span().context().unwrap().trace_id(),
                remote.trace_id()
            );
        }
    });
    assert!(c.spans().is_empty());
}

#[test]
fn record_error_with_the_source_chain() {
    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not load config")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let ((), c) = capture(|| {
        let mut span = Span::start("load");
        span.record_error(&Wrapper(std::io::Error::other("permission denied")));
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let s = c.span("load");
    assert!(s.is_error());
    assert_eq!(s.tag("error"), Some(&Value::Bool(true)));
    let ev = &s.events()[0];
    assert_eq!(ev.name(), "exception");
    assert!(
        ev.field("exception.type")
            .unwrap()
            .to_string()
            .ends_with("Wrapper")
    );
    assert_eq!(
        ev.field("exception.message").unwrap().to_string(),
        "could not load config"
    );
    assert_eq!(
        ev.field("exception.source.1").unwrap().to_string(),
        "permission denied"
    );
}

#[test]
fn spans_finished_on_another_thread_are_captured() {
    let ((), c) = capture(|| {
        let span = Span::start("moved");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(span);
        })
        .join()
        .unwrap();
    });
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "moved\n");
    }
}

#[test]
fn the_explicit_api_is_inert_when_tracing_is_compiled_out() {
    let span = Span::start("x");
    assert_eq!(span.context().is_some(), tracekit::TRACE_ALL);
    assert_eq!(span.is_recording(), tracekit::TRACE_ALL);
    let active = start_active_span("y");
    assert_eq!(active.context().is_some(), tracekit::TRACE_ALL);
    assert_eq!(
        Context::current().span_context().is_some(),
        tracekit::TRACE_ALL
    );
}

#[test]
fn a_panic_through_an_active_span_marks_it_failed() {
    let ((), c) = capture(|| {
        let caught = std::panic::catch_unwind(|| {
            let _outer = start_active_span("outer");
            let _inner = Span::start("inner").activate();
            panic!("disk full");
        });
        assert!(caught.is_err());
        // A guard dropped while nothing unwinds is no failure.
        drop(start_active_span("calm"));
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    for name in ["outer", "inner"] {
        let s = c.span(name);
        assert!(s.is_error(), "{name}");
        assert!(
            s.events().iter().any(|e| e.name() == "exception"),
            "{name}: the panic is its error event"
        );
    }
    assert!(!c.span("calm").is_error());
}

/// Starts and ends spans as it goes, as a transaction's rollback might.
struct RollsBack;

impl Drop for RollsBack {
    fn drop(&mut self) {
        let _rollback = start_active_span("rollback");
        Span::start("undo").finish_after(|| ());
    }
}

#[test]
fn spans_made_by_a_destructor_during_a_panic_are_not_failed_by_it() {
    let ((), c) = capture(|| {
        let caught = std::panic::catch_unwind(|| {
            let _work = start_active_span("work");
            let _tx = RollsBack;
            panic!("handler failed");
        });
        assert!(caught.is_err());
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    assert!(c.span("work").is_error(), "unwound by the panic");
    assert!(!c.span("rollback").is_error(), "made during the unwind");
    assert!(!c.span("undo").is_error(), "its work returned");
}
