//! More than one destination at once (issue 15, item 2): a `Tee`, or a
//! tuple of reporters, hands every batch to each.
#![cfg(feature = "trace-all")]

use tracekit::{ConsoleReporter, InMemoryReporter, Tee};
use tracekit_tests::SharedBuffer;

fn names(memory: &InMemoryReporter) -> Vec<String> {
    let mut n: Vec<String> = memory.spans().iter().map(|s| s.name().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn every_destination_gets_every_span() {
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
