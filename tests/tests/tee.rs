//! More than one destination at once (issue 15, item 2): a `Tee`, or a
//! tuple of reporters, hands every batch to each.
#![cfg(feature = "trace-all")]

use tracekit::{ConsoleReporter, InMemoryReporter, Tee};
use tracekit_tests::SharedBuffer;

/// The reporter is global: the tests of this file take turns.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn names(memory: &InMemoryReporter) -> Vec<String> {
    let mut n: Vec<String> = memory.spans().iter().map(|s| s.name().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn every_destination_gets_every_span() {
    let _turn = turn();
    let (a, b) = (InMemoryReporter::new(), InMemoryReporter::new());
    let console = SharedBuffer::default();
    {
        let _guard = tracekit::set_reporter(
            Tee::new()
                .with(a.clone())
                .with(b.clone())
                .with(ConsoleReporter::to_writer(console.clone())),
        );
        let _request = tracekit::start_active_span("request");
        drop(tracekit::Span::start("db"));
    }
    assert_eq!(names(&a), ["db", "request"]);
    assert_eq!(names(&b), ["db", "request"]);
    let printed = console.text();
    assert!(
        printed.contains("request") && printed.contains("db"),
        "{printed}"
    );

    // A pair of reporters is a reporter too.
    let (c, d) = (InMemoryReporter::new(), InMemoryReporter::new());
    {
        let _guard = tracekit::set_reporter((c.clone(), d.clone()));
        drop(tracekit::Span::start("job"));
    }
    assert_eq!(names(&c), ["job"]);
    assert_eq!(names(&d), ["job"]);
}

/// Records where the text of each `blob` tag it is given lives.
#[derive(Clone, Default)]
struct WhereIs(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

impl tracekit::Reporter for WhereIs {
    fn report(&mut self, batch: tracekit::SpanBatch) {
        for span in batch.views() {
            if let Some(tracekit::Value::Str(text)) = span.tag("blob") {
                self.0.lock().unwrap().push(text.as_ptr() as usize);
            }
        }
    }
}

#[test]
fn destinations_share_one_batch_instead_of_copies() {
    let _turn = turn();
    let (a, b, c) = (WhereIs::default(), WhereIs::default(), WhereIs::default());
    {
        let _guard =
            tracekit::set_reporter(Tee::new().with(a.clone()).with((b.clone(), c.clone())));
        tracekit::Span::start("upload").set_tag("blob", "x".repeat(4096));
    }
    let seen: Vec<Vec<usize>> = [a, b, c]
        .iter()
        .map(|r| r.0.lock().unwrap().clone())
        .collect();
    assert_eq!(seen[0].len(), 1, "{seen:?}");
    // The same text at the same address: a copy of the batch would have
    // copied the tag's 4 KiB too.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
}
