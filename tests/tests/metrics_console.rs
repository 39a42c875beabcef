//! The console reporter's profile of the run: a per-function table of
//! calls, errors, p50, p99 and total time, printed when its guard shuts
//! down, counted however the traces were sampled.

use tracekit::sampler::{TraceIdRatio, set_sampler};
use tracekit_tests::SharedBuffer;

#[tracekit::trace_fn]
fn parse_row(i: u64) -> Result<u64, String> {
    if i.is_multiple_of(5) {
        Err("bad row".to_owned())
    } else {
        Ok(i)
    }
}

#[tracekit::trace_fn]
fn import(rows: u64) -> u64 {
    (0..rows).filter_map(|i| parse_row(i).ok()).sum()
}

#[test]
fn the_table_is_printed_at_shutdown_with_every_call() {
    let _sampler = set_sampler(TraceIdRatio::new(0.0));
    let out = SharedBuffer::default();
    let guard = tracekit::set_reporter(
        tracekit::ConsoleReporter::to_writer(out.clone()).with_metrics_table(true),
    );
    for _ in 0..4 {
        import(25);
    }
    guard.shutdown();
    let text = out.text();
    if !tracekit::TRACE_ALL {
        assert!(text.is_empty(), "{text}");
        return;
    }
    // No trace was sampled: only the table.
    assert!(!text.contains("trace "), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("function "), "{text}");
    assert!(lines[0].contains("calls") && lines[0].contains("p99") && lines[0].contains("total"));
    let row = |name: &str| -> Vec<String> {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("import")[1..3], ["4", "0"]);
    assert_eq!(row("parse_row")[1..3], ["100", "20"]);
    // The caller's total time holds its callees': it comes first.
    let first_row = lines[1].split_whitespace().next().unwrap();
    assert_eq!(first_row, "import", "{text}");
}
