//! OpenTracing's `error = true` tag fails its span, as OpenTelemetry's
//! OpenTracing rules map it: the span's status becomes an error unless one
//! was set, so that its export, tail keep and function metrics agree with
//! what a Jaeger view of the tag shows.

use tracekit::testing::capture;
use tracekit::{Span, Status, metrics, start_active_span, trace_fn};

#[test]
fn the_error_tag_fails_a_span_however_it_is_set() {
    let ((), c) = capture(|| {
        let mut owned = Span::start("owned");
        owned.set_tag("error", true);
        drop(owned);

        let active = start_active_span("active");
        active.set_tag("error", true);
        drop(active);

        let _current = start_active_span("current");
        tracekit::current_span().set_tag("error", true);
        drop(_current);

        drop(Span::builder("built").tag("error", true).start());
        // A later `false` does not undo it, however the builder starts.
        drop(
            Span::builder("built-then-cleared")
                .tag("error", true)
                .tag("error", false)
                .start(),
        );
        drop(
            Span::builder("built-active-then-cleared")
                .tag("error", true)
                .tag("error", false)
                .start_active(),
        );

        // An owned span entered: its changes are queued, then taken back.
        let mut entered = Span::start("entered");
        {
            let _in = entered.enter();
            tracekit::current_span().set_tag("error", true);
        }
        drop(entered);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    for name in ["owned", "active", "current", "built", "entered"] {
        let s = c.span(name);
        assert_eq!(s.status(), &Status::error(""), "{name}");
        assert!(s.is_error(), "{name}");
        assert_eq!(s.tag("error").unwrap().to_string(), "true", "{name}");
    }
    for name in ["built-then-cleared", "built-active-then-cleared"] {
        assert_eq!(c.span(name).status(), &Status::error(""), "{name}");
    }
}

#[test]
fn a_status_already_set_stays_and_other_values_fail_nothing() {
    let ((), c) = capture(|| {
        // An error's description, set before or after the tag, is kept.
        let mut before = Span::start("described-before");
        before.set_status(Status::error("quota exceeded"));
        before.set_tag("error", true);
        drop(before);
        let mut after = Span::start("described-after");
        after.set_tag("error", true);
        after.set_status(Status::error("quota exceeded"));
        drop(after);

        // An Ok set first is final.
        let ok = start_active_span("ok-first");
        ok.set_status(Status::Ok);
        ok.set_tag("error", true);
        drop(ok);

        // Not OpenTracing's tag: a false value, a text, another key.
        let mut other = Span::start("not-the-tag");
        other.set_tag("error", false);
        other.set_tag("error", "true");
        other.set_tag("errors", true);
        drop(other);
    });
    if !tracekit::TRACE_ALL {
        return;
    }
    for name in ["described-before", "described-after"] {
        assert_eq!(
            c.span(name).status(),
            &Status::error("quota exceeded"),
            "{name}"
        );
    }
    assert_eq!(c.span("ok-first").status(), &Status::Ok);
    assert_eq!(c.span("not-the-tag").status(), &Status::Unset);
}

/// Tags its own span failed, the OpenTracing way.
#[trace_fn]
fn tags_itself_failed() {
    tracekit::current_span().set_tag("error", true);
}

#[test]
fn a_function_that_tags_itself_failed_counts_as_failed() {
    metrics::set_enabled(true);
    for _ in 0..4 {
        tags_itself_failed();
    }
    if !tracekit::TRACE_ALL {
        return;
    }
    tracekit::flush();
    let f = metrics::snapshot()
        .function("tags_itself_failed")
        .cloned()
        .unwrap();
    assert_eq!(f.calls(), 4);
    assert_eq!(f.errors(), 4);
    let types: Vec<(String, u64)> = f
        .error_types()
        .map(|(t, h)| (t.to_owned(), h.count()))
        .collect();
    assert_eq!(types, vec![("_OTHER".to_owned(), 4)]);
}

#[test]
fn the_console_shows_a_failure_no_one_described_as_error() {
    let out = tracekit_tests::SharedBuffer::default();
    let guard = tracekit::set_reporter(tracekit::ConsoleReporter::to_writer(out.clone()));
    {
        let span = start_active_span("tagged-for-the-console");
        span.set_tag("error", true);
    }
    drop(guard);
    if !tracekit::TRACE_ALL {
        return;
    }
    let text = out.text();
    let line = text
        .lines()
        .find(|l| l.contains("tagged-for-the-console"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with("error=true ERROR"), "{line}");
}
