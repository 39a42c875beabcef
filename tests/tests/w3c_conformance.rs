//! W3C Trace Context conformance, Levels 1 and 2, as a user of tracekit
//! sees it through `Propagators`, `extract`, `inject_context` and
//! `SpanContext`.

use tracekit::propagation::Propagators;
use tracekit::{SpanContext, SpanId, TraceId};

const ON: bool = cfg!(feature = "trace-all");

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

/// What `cx` puts on an outgoing request, as header pairs.
fn injected(cx: &SpanContext) -> Vec<(String, String)> {
    let mut out = Vec::new();
    Propagators::default().inject_context(cx, &mut out);
    out
}

fn header<'a>(out: &'a [(String, String)], name: &str) -> Option<&'a str> {
    out.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---- the three Level 2 defects of issue 27 ---------------------------------

/// Level 2: a trace continued with the same trace id keeps the random flag
/// (`0x02`) it came with. tracekit used to send `-02` on as `-00`.
#[test]
fn regression_the_random_flag_goes_out_as_it_came_in() {
    for (incoming, outgoing) in [("02", "02"), ("03", "03"), ("01", "01"), ("00", "00")] {
        let h = headers(&[("traceparent", &traceparent(incoming))]);
        let cx = Propagators::default().extract(&h).expect("a valid parent");
        let out = injected(&cx);
        assert_eq!(
            header(&out, "traceparent"),
            Some(traceparent(outgoing).as_str()),
            "incoming flags {incoming}"
        );
    }
}

/// New roots: tracekit makes the whole trace id at random, so it says so
/// (`01` becomes `03`).
#[test]
fn regression_a_new_root_sets_the_random_flag() {
    let span = tracekit::Span::builder("root").root().start();
    let Some(cx) = span.context() else {
        assert!(!ON, "a root has a context when tracing is compiled in");
        return;
    };
    let out = injected(&cx);
    let tp = header(&out, "traceparent").expect("a traceparent");
    assert!(tp.ends_with("-03"), "{tp}");
    let _ = (TraceId::from_u128(1), SpanId::from_u64(1));
}
