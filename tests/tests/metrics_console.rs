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

/// Set in the child process [`the_table_is_printed_at_shutdown_with_every_call`]
/// runs itself in.
const TABLE_CHILD: &str = "TRACEKIT_METRICS_TABLE_CHILD";

#[test]
fn the_table_is_printed_at_shutdown_with_every_call() {
    // In a process of its own: the reporter and the metrics are the
    // process's, so another test's spans would reach this reporter and
    // its functions this table.
    if std::env::var_os(TABLE_CHILD).is_none() {
        let out = tracekit_tests::child_test("the_table_is_printed_at_shutdown_with_every_call")
            .env(TABLE_CHILD, "1")
            .output()
            .expect("child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}{stderr}");
        return;
    }
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
    // Rows go by total time, and the caller's total holds its callees':
    // import first, then parse_row, and nothing else was called.
    let names: Vec<&str> = lines[1..]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["import", "parse_row"], "{text}");
}

mod a {
    #[tracekit::trace_fn]
    pub fn handle() {}
}

mod b {
    #[tracekit::trace_fn]
    pub fn handle() {}
}

#[test]
fn functions_of_the_same_name_are_told_apart_and_columns_fit_their_numbers() {
    tracekit::metrics::set_enabled(true);
    a::handle();
    for _ in 0..3 {
        b::handle();
    }
    let table = tracekit::metrics::snapshot().table();
    if !tracekit::TRACE_ALL {
        return;
    }
    let calls = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
            .to_owned()
    };
    assert_eq!(calls("metrics_console::a::handle"), "1");
    assert_eq!(calls("metrics_console::b::handle"), "3");
    // Every line as wide as the header: the columns line up.
    let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{table}");
}

const MODE: &str = "TRACEKIT_METRICS_CONSOLE_CHILD";

/// The child: installs console reporters as `MODE` says, in a process of
/// its own (the reporter and the metrics switch are the process's).
#[test]
#[ignore = "run by reporters_in_a_process_of_their_own"]
fn console_child() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let first = SharedBuffer::default();
    let second = SharedBuffer::default();
    let guard = tracekit::set_reporter(
        tracekit::ConsoleReporter::to_writer(first.clone()).with_metrics_table(true),
    );
    a::handle();
    if mode == "replaced" {
        // Replaced: the first goes without a table; the second was not
        // asked for one.
        let guard = tracekit::set_reporter(tracekit::ConsoleReporter::to_writer(second.clone()));
        guard.shutdown();
    } else {
        guard.shutdown();
    }
    println!("FIRST {:?}", first.text());
    println!("SECOND {:?}", second.text());
}

fn child(mode: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = tracekit_tests::child_test("console_child");
    cmd.arg("--ignored").env(MODE, mode);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    let field = |tag: &str| {
        stdout
            .lines()
            .find_map(|l| l.split_once(tag).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no {tag} in {stdout}"))
            .to_owned()
    };
    (field("FIRST "), field("SECOND "))
}

#[test]
fn reporters_in_a_process_of_their_own() {
    let (first, second) = child("replaced", &[]);
    assert!(!first.contains("function "), "{first}");
    assert!(!second.contains("function "), "{second}");
    // Asked for under TRACEKIT_METRICS=off: a line says why there is none.
    let (first, _) = child("off", &[("TRACEKIT_METRICS", "off")]);
    if tracekit::TRACE_ALL {
        assert!(
            first.contains("metrics are off (TRACEKIT_METRICS=off)"),
            "{first}"
        );
    } else {
        assert_eq!(first, "\"\"");
    }
    // And asked for with metrics on: the table.
    let (first, _) = child("shutdown", &[]);
    if tracekit::TRACE_ALL {
        assert!(
            first.contains("metrics_console::a::handle") || first.contains("handle"),
            "{first}"
        );
    }
}
