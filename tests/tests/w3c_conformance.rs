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

/// The `tracestate` kept from a valid `traceparent` and these `tracestate`
/// header values, as it goes out again.
fn forwarded_state(states: &[&str]) -> Option<String> {
    let mut h = headers(&[("traceparent", &traceparent("01"))]);
    h.extend(
        states
            .iter()
            .map(|s| ("tracestate".to_owned(), (*s).to_owned())),
    );
    let cx = Propagators::default()
        .try_extract(&h)
        .unwrap_or_else(|e| panic!("{states:?}: {e}"));
    header(&injected(&cx), "tracestate").map(str::to_owned)
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

/// Level 2: duplicate keys may be discarded, the list must be forwarded.
/// tracekit used to drop the whole list.
#[test]
fn regression_duplicate_tracestate_keys_keep_the_first_and_the_rest() {
    assert_eq!(forwarded_state(&["foo=1,foo=1"]).as_deref(), Some("foo=1"));
    assert_eq!(forwarded_state(&["foo=1,foo=2"]).as_deref(), Some("foo=1"));
    assert_eq!(
        forwarded_state(&["foo=1", "foo=2"]).as_deref(),
        Some("foo=1")
    );
    assert_eq!(
        forwarded_state(&["a=1,foo=1,b=2", "foo=2,c=3"]).as_deref(),
        Some("a=1,foo=1,b=2,c=3")
    );
}

/// Level 2's key grammar: `(lcalpha / DIGIT) 0*255(keychar)`, `@` a key
/// character like any other. tracekit used to check Level 1's
/// `tenant@system` form and drop the whole list.
#[test]
fn regression_level_2_keys_are_accepted() {
    let long_tenant = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    let longer_tenant = format!("{}@v", "t".repeat(242));
    let long_key = "z".repeat(256);
    for state in [
        "foo@=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
        "t@vvvvvvvvvvvvvvv=1",
        "1abc=x",
        "0=zero",
        &format!("foo=1,{long_tenant}=1"),
        &format!("foo=1,{longer_tenant}=1"),
        &format!("foo=1,{long_key}=1"),
    ] {
        assert_eq!(forwarded_state(&[state]).as_deref(), Some(state), "{state}");
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
