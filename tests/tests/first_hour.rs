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
