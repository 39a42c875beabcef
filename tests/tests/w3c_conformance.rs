//! W3C Trace Context conformance, Levels 1 and 2, as a user of tracekit
//! sees it through `Propagators`, `extract`, `inject_context`,
//! `SpanContext` and the HTTP helpers.
//!
//! Every case of the official test suite (w3c/trace-context, `test/test.py`:
//! `TraceContextTest`, `AdvancedTest` and `TraceContext2Test`, strict level
//! 2) has a test here named after it, then the rules of the specification
//! the suite does not check. Each case is looked at twice:
//!
//! - what `Propagators::default()` extracts from the request, and what a
//!   process forwarding that context unchanged (a proxy) sends on;
//! - what a tracekit service sends on each outgoing call: a server span
//!   from the request's headers, a client span per call. With tracing
//!   compiled out (`trace-all` off) a service makes no spans and sends no
//!   trace headers, which is checked instead.
//!
//! Outgoing headers are read back as strictly as the suite's harness reads
//! them: exactly one `traceparent` of four lowercase-hex fields, version
//! `00`, and a `tracestate` whose every member fits the grammar.

use tracekit::propagation::{ExtractError, Propagators};
use tracekit::{SpanContext, SpanId, TraceId};
use tracekit_tests::Rng;

/// The ids the suite sends.
const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

type Headers = Vec<(String, String)>;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

/// A valid parent, not sampled, as the suite's tracestate cases send it,
/// then these `tracestate` lines.
fn with_states(states: &[&str]) -> Headers {
    let mut h = headers(&[("traceparent", &traceparent("00"))]);
    h.extend(
        states
            .iter()
            .map(|s| ("tracestate".to_owned(), (*s).to_owned())),
    );
    h
}

/// What `cx` puts on an outgoing request.
fn injected(cx: &SpanContext) -> Headers {
    let mut out = Vec::new();
    Propagators::default().inject_context(cx, &mut out);
    out
}

fn header<'a>(out: &'a [(String, String)], name: &str) -> Option<&'a str> {
    out.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A `traceparent` as the suite's harness reads what a service sends.
#[derive(Clone, Debug, PartialEq)]
struct Sent {
    trace: String,
    parent: String,
    flags: u8,
}

impl Sent {
    fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }
    fn random(&self) -> bool {
        self.flags & 0x02 != 0
    }
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The one `traceparent` of an outgoing request, checked as strictly as
/// the harness checks it; `None` when there is none.
fn sent_traceparent(out: &[(String, String)]) -> Option<Sent> {
    let all: Vec<&str> = out
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("traceparent"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(all.len() <= 1, "more than one traceparent: {out:?}");
    let value = all.first()?;
    let fields: Vec<&str> = value.split('-').collect();
    let [version, trace, parent, flags] = fields.as_slice() else {
        panic!("not four fields: {value:?}");
    };
    assert_eq!(*version, "00", "{value}");
    assert!(
        lower_hex(trace, 32) && lower_hex(parent, 16) && lower_hex(flags, 2),
        "{value}"
    );
    assert_ne!(*trace, "0".repeat(32), "{value}");
    assert_ne!(*parent, "0".repeat(16), "{value}");
    let flags = u8::from_str_radix(flags, 16).unwrap();
    assert_eq!(flags & !0x03, 0, "reserved flags sent: {value}");
    Some(Sent {
        trace: (*trace).to_owned(),
        parent: (*parent).to_owned(),
        flags,
    })
}

fn key_ok(key: &str) -> bool {
    let b = key.as_bytes();
    (1..=256).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c))
}

fn value_ok(value: &str) -> bool {
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    let b = value.as_bytes();
    (1..=256).contains(&b.len()) && nblk(b[b.len() - 1]) && b.iter().all(|&c| c == b' ' || nblk(c))
}

/// The `tracestate` members of an outgoing request, in order, every one
/// checked against the grammar (the harness fails on any that breaks it).
fn sent_tracestate(out: &[(String, String)]) -> Vec<(String, String)> {
    let mut members = Vec::new();
    for (_, value) in out
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("tracestate"))
    {
        assert!(!value.is_empty(), "an empty tracestate was sent");
        for member in value.split(',') {
            let (key, val) = member
                .split_once('=')
                .unwrap_or_else(|| panic!("member without '=' in {value:?}"));
            assert!(key_ok(key) && value_ok(val), "bad member {member:?} sent");
            members.push((key.to_owned(), val.to_owned()));
        }
    }
    assert!(members.len() <= 32, "{} members sent", members.len());
    members
}

/// What one request led to.
struct Outcome {
    /// What `Propagators::default()` made of the request.
    extracted: Result<SpanContext, ExtractError>,
    /// The extracted context sent on unchanged, as a proxy would.
    forwarded: Headers,
    /// What a tracekit service sent on each of its outgoing calls.
    calls: Vec<Headers>,
}

/// A request with these headers, answered by a service that calls out
/// `calls` times.
fn request(incoming: &[(String, String)], calls: usize) -> Outcome {
    let extracted = Propagators::default().try_extract(&incoming.to_vec());
    let forwarded = extracted.as_ref().map(injected).unwrap_or_default();
    let mut server = tracekit::http::server_span("POST", "/test", &incoming.to_vec());
    let active = server.enter();
    let calls = (0..calls)
        .map(|i| {
            let mut out: Headers = Vec::new();
            let client = tracekit::http::client_span(
                "POST",
                &format!("http://127.0.0.1:7777/callback.{i}"),
                &mut out,
            );
            drop(client);
            out
        })
        .collect();
    drop(active);
    Outcome {
        extracted,
        forwarded,
        calls,
    }
}

fn one(incoming: &[(&str, &str)]) -> Outcome {
    request(&headers(incoming), 1)
}

/// The request's trace goes on: the parent is read as sent, a proxy sends
/// it on unchanged, and each call of the service carries the same trace id
/// under a parent id of its own. Gives what the first call sent.
fn continued(o: &Outcome) -> (Sent, Vec<(String, String)>) {
    let cx = o.extracted.as_ref().expect("a valid parent");
    assert_eq!(cx.trace_id().to_string(), TRACE);
    assert_eq!(cx.span_id().to_string(), PARENT);
    assert!(cx.is_remote());
    let forwarded = sent_traceparent(&o.forwarded).expect("forwarded");
    assert_eq!(
        (forwarded.trace.as_str(), forwarded.parent.as_str()),
        (TRACE, PARENT)
    );
    let state = sent_tracestate(&o.forwarded);
    if !tracekit::TRACE_ALL {
        for call in &o.calls {
            assert_eq!(
                sent_traceparent(call),
                None,
                "tracing compiled out sends nothing"
            );
        }
        return (forwarded, state);
    }
    let sent: Vec<Sent> = o
        .calls
        .iter()
        .map(|c| sent_traceparent(c).expect("each call carries a traceparent"))
        .collect();
    let mut parents: Vec<&str> = sent.iter().map(|s| s.parent.as_str()).collect();
    parents.sort_unstable();
    parents.dedup();
    assert_eq!(parents.len(), sent.len(), "a parent id per call: {sent:?}");
    for s in &sent {
        assert_eq!(s.trace, TRACE, "same trace id");
        assert_ne!(s.parent, PARENT, "the service's own span is the parent");
        // The random flag is the trace id's: it goes on as it came.
        assert_eq!(s.random(), forwarded.random(), "{s:?}");
    }
    for call in &o.calls {
        assert_eq!(sent_tracestate(call), state, "calls forward the tracestate");
    }
    (sent[0].clone(), state)
}

/// The request's `traceparent` is unusable: nothing is extracted, and the
/// service starts a new trace (random, without the request's tracestate)
/// whose id is none of `not`.
fn restarted(o: &Outcome, not: &[&str]) {
    assert!(
        matches!(
            o.extracted,
            Err(ExtractError::Malformed { .. }
                | ExtractError::Repeated(_)
                | ExtractError::Missing(_))
        ),
        "{:?}",
        o.extracted
    );
    assert!(o.forwarded.is_empty());
    let mut traces = Vec::new();
    for call in &o.calls {
        let Some(s) = sent_traceparent(call) else {
            if tracekit::TRACE_ALL {
                panic!("no traceparent: a new trace is sent on");
            }
            continue;
        };
        assert!(!not.contains(&s.trace.as_str()), "{s:?} reuses {not:?}");
        assert!(s.random() && s.sampled(), "a new root: {s:?}");
        assert!(
            sent_tracestate(call).is_empty(),
            "the request's tracestate is dropped"
        );
        traces.push(s.trace);
    }
    traces.dedup();
    assert!(
        traces.len() <= 1,
        "one new trace for the request: {traces:?}"
    );
}

fn tp(value: &str) -> Outcome {
    one(&[("traceparent", value)])
}

fn state(o: &Outcome) -> Vec<(String, String)> {
    continued(o).1
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn get<'a>(members: &'a [(String, String)], key: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|(k, _)| k == key)
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

/// The `tracestate` a proxy sends on for these `tracestate` lines.
fn forwarded_state(states: &[&str]) -> Option<String> {
    let cx = Propagators::default()
        .try_extract(&with_states(states))
        .unwrap_or_else(|e| panic!("{states:?}: {e}"));
    header(&injected(&cx), "tracestate").map(str::to_owned)
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
        if tracekit::TRACE_ALL {
            panic!("a root has a context when tracing is compiled in");
        }
        return;
    };
    assert!(cx.is_random());
    let out = injected(&cx);
    let tp = header(&out, "traceparent").expect("a traceparent");
    assert!(tp.ends_with("-03"), "{tp}");
}

// ---- the suite: TraceContextTest, traceparent -------------------------------

#[test]
fn test_both_traceparent_and_tracestate_missing() {
    restarted(&one(&[]), &[]);
}

#[test]
fn test_traceparent_included_tracestate_missing() {
    let (sent, state) = continued(&tp(&traceparent("01")));
    assert!(state.is_empty());
    if tracekit::TRACE_ALL {
        assert!(sent.sampled() && !sent.random(), "{sent:?}");
    }
}

#[test]
fn test_traceparent_duplicated() {
    let o = one(&[
        (
            "traceparent",
            "00-12345678901234567890123456789011-1234567890123456-01",
        ),
        (
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        ),
    ]);
    assert_eq!(o.extracted, Err(ExtractError::Repeated("traceparent")));
    restarted(
        &o,
        &[
            "12345678901234567890123456789011",
            "12345678901234567890123456789012",
        ],
    );
}

#[test]
fn test_traceparent_header_name() {
    for name in ["trace-parent", "trace.parent"] {
        let o = one(&[(name, &traceparent("01"))]);
        assert_eq!(
            o.extracted,
            Err(ExtractError::Missing("traceparent")),
            "{name}"
        );
        restarted(&o, &[TRACE]);
    }
}

#[test]
fn test_traceparent_header_name_valid_casing() {
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        continued(&one(&[(name, &traceparent("01"))]));
    }
}

#[test]
fn test_traceparent_version_0x00() {
    for value in [
        format!("{}.", traceparent("01")),
        format!("{}-what-the-future-will-be-like", traceparent("01")),
    ] {
        restarted(&tp(&value), &[TRACE]);
    }
}

#[test]
fn test_traceparent_version_0xcc() {
    for value in [
        format!("cc-{TRACE}-{PARENT}-01"),
        format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
    ] {
        // Sent on as version 00, without the fields of the future.
        let (sent, _) = continued(&tp(&value));
        assert!(sent.sampled(), "{value}");
    }
    restarted(
        &tp(&format!(
            "cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"
        )),
        &[TRACE],
    );
}

#[test]
fn test_traceparent_version_0xff() {
    restarted(&tp(&format!("ff-{TRACE}-{PARENT}-01")), &[TRACE]);
}

#[test]
fn test_traceparent_version_illegal_characters() {
    for version in [".0", "0."] {
        restarted(&tp(&format!("{version}-{TRACE}-{PARENT}-01")), &[TRACE]);
    }
}

#[test]
fn test_traceparent_version_too_long() {
    for version in ["000", "0000"] {
        restarted(&tp(&format!("{version}-{TRACE}-{PARENT}-01")), &[TRACE]);
    }
}

#[test]
fn test_traceparent_version_too_short() {
    restarted(&tp(&format!("0-{TRACE}-{PARENT}-01")), &[TRACE]);
}

#[test]
fn test_traceparent_trace_id_all_zero() {
    let zero = "0".repeat(32);
    restarted(&tp(&format!("00-{zero}-{PARENT}-01")), &[&zero]);
}

#[test]
fn test_traceparent_trace_id_illegal_characters() {
    for trace in [
        ".2345678901234567890123456789012",
        "1234567890123456789012345678901.",
    ] {
        restarted(&tp(&format!("00-{trace}-{PARENT}-01")), &[trace, TRACE]);
    }
}

#[test]
fn test_traceparent_trace_id_too_long() {
    restarted(
        &tp(&format!("00-{TRACE}3-{PARENT}-01")),
        &[TRACE, "23456789012345678901234567890123"],
    );
}

#[test]
fn test_traceparent_trace_id_too_short() {
    restarted(
        &tp(&format!("00-{}-{PARENT}-01", &TRACE[..31])),
        &[&TRACE[..31], TRACE],
    );
}

#[test]
fn test_traceparent_parent_id_all_zero() {
    restarted(&tp(&format!("00-{TRACE}-0000000000000000-01")), &[TRACE]);
}

#[test]
fn test_traceparent_parent_id_illegal_characters() {
    for parent in [".234567890123456", "123456789012345."] {
        restarted(&tp(&format!("00-{TRACE}-{parent}-01")), &[TRACE]);
    }
}

#[test]
fn test_traceparent_parent_id_too_long() {
    restarted(&tp(&format!("00-{TRACE}-{PARENT}7-01")), &[TRACE]);
}

#[test]
fn test_traceparent_parent_id_too_short() {
    restarted(&tp(&format!("00-{TRACE}-{}-01", &PARENT[..15])), &[TRACE]);
}

#[test]
fn test_traceparent_trace_flags_illegal_characters() {
    for flags in [".0", "0."] {
        restarted(&tp(&traceparent(flags)), &[TRACE]);
    }
}

#[test]
fn test_traceparent_trace_flags_too_long() {
    restarted(&tp(&traceparent("001")), &[TRACE]);
}

#[test]
fn test_traceparent_trace_flags_too_short() {
    restarted(&tp(&traceparent("1")), &[TRACE]);
}

#[test]
fn test_traceparent_ows_handling() {
    let valid = traceparent("01");
    for value in [
        format!(" {valid}"),
        format!("\t{valid}"),
        format!("{valid} "),
        format!("{valid}\t"),
        format!("\t {valid} \t"),
    ] {
        continued(&tp(&value));
    }
}

// ---- the suite: TraceContextTest, tracestate --------------------------------

#[test]
fn test_tracestate_included_traceparent_missing() {
    // Without a traceparent a tracestate is invalid: both requests start a
    // new trace that carries none.
    for value in ["foo=1", "foo=1,bar=2"] {
        let o = one(&[("tracestate", value)]);
        restarted(&o, &[]);
    }
}

#[test]
fn test_tracestate_included_traceparent_included() {
    let s = state(&request(&with_states(&["foo=1,bar=2"]), 1));
    assert_eq!(s, kv(&[("foo", "1"), ("bar", "2")]));
}

#[test]
fn test_tracestate_header_name() {
    for name in ["trace-state", "trace.state"] {
        let mut h = with_states(&[]);
        h.push((name.to_owned(), "foo=1".to_owned()));
        assert_eq!(state(&request(&h, 1)), [], "{name}");
    }
}

#[test]
fn test_tracestate_header_name_valid_casing() {
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let mut h = with_states(&[]);
        h.push((name.to_owned(), "foo=1".to_owned()));
        assert_eq!(state(&request(&h, 1)), kv(&[("foo", "1")]), "{name}");
    }
}

#[test]
fn test_tracestate_empty_header() {
    // An empty header neither restarts the trace nor is sent on.
    assert_eq!(state(&request(&with_states(&[""]), 1)), []);
    for lines in [["foo=1", ""], ["", "foo=1"]] {
        let s = state(&request(&with_states(&lines), 1));
        assert_eq!(s, kv(&[("foo", "1")]), "{lines:?}");
    }
}

#[test]
fn test_tracestate_multiple_headers_different_keys() {
    let s = state(&request(
        &with_states(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]),
        1,
    ));
    assert_eq!(
        s,
        kv(&[
            ("foo", "1"),
            ("bar", "2"),
            ("rojo", "1"),
            ("congo", "2"),
            ("baz", "3")
        ])
    );
}

#[test]
fn test_tracestate_all_allowed_characters() {
    let without_vendor = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let with_vendor = format!("{without_vendor}@a-z0-9_-*/");
    // Every value character, a space first (leading spaces are the value's).
    let value: String = (0x20u8..=0x7e)
        .filter(|c| *c != b',' && *c != b'=')
        .map(char::from)
        .collect();
    assert!(value.starts_with(' ') && value.len() == 93);
    for key in [without_vendor, &with_vendor] {
        let s = state(&request(&with_states(&[&format!("{key}={value}")]), 1));
        assert_eq!(s, kv(&[(key, &value)]));
    }
}

#[test]
fn test_tracestate_ows_handling() {
    for value in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let s = state(&request(&with_states(&[value]), 1));
        assert_eq!(
            s,
            kv(&[("foo", "1"), ("bar", "2"), ("baz", "3")]),
            "{value:?}"
        );
    }
    for value in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let s = state(&request(&with_states(&[value]), 1));
        assert_eq!(s, kv(&[("foo", "1")]), "{value:?}");
    }
}

#[test]
fn test_tracestate_duplicated_keys() {
    for lines in [
        &["foo=1,foo=1"][..],
        &["foo=1,foo=2"],
        &["foo=1", "foo=1"],
        &["foo=1", "foo=2"],
    ] {
        // The list survives; the first member with the key is the one kept.
        let s = state(&request(&with_states(lines), 1));
        assert_eq!(s, kv(&[("foo", "1")]), "{lines:?}");
    }
}

#[test]
fn test_tracestate_key_illegal_characters() {
    for value in ["foo =1", "FOO=1", "foo.bar=1"] {
        assert_eq!(state(&request(&with_states(&[value]), 1)), [], "{value}");
    }
}

#[test]
fn test_tracestate_key_illegal_vendor_format() {
    for (value, kept) in [
        ("foo@=1,bar=2", &[("foo@", "1"), ("bar", "2")][..]),
        ("foo@@bar=1,bar=2", &[("foo@@bar", "1"), ("bar", "2")]),
        ("foo@bar@baz=1,bar=2", &[("foo@bar@baz", "1"), ("bar", "2")]),
        // A key cannot start with `@`: the list cannot be parsed and goes.
        ("@foo=1,bar=2", &[]),
    ] {
        let s = state(&request(&with_states(&[value]), 1));
        assert_eq!(s, kv(kept), "{value}");
    }
}

#[test]
fn test_tracestate_member_count_limit() {
    let lines = |last: &str| {
        vec![
            "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10"
                .to_owned(),
            "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20"
                .to_owned(),
            "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30"
                .to_owned(),
            last.to_owned(),
        ]
    };
    let thirty_two = lines("bar31=31,bar32=32");
    let refs: Vec<&str> = thirty_two.iter().map(String::as_str).collect();
    let s = state(&request(&with_states(&refs), 1));
    assert_eq!(s.len(), 32);
    assert_eq!(get(&s, "bar01"), Some("01"));
    assert_eq!(get(&s, "bar32"), Some("32"));
    let thirty_three = lines("bar31=31,bar32=32,bar33=33");
    let refs: Vec<&str> = thirty_three.iter().map(String::as_str).collect();
    assert_eq!(state(&request(&with_states(&refs), 1)), []);
}

#[test]
fn test_tracestate_key_length_limit() {
    for (key, kept) in [
        ("z".repeat(256), true),
        ("z".repeat(257), false),
        (format!("{}@{}", "t".repeat(241), "v".repeat(14)), true),
        (format!("{}@v", "t".repeat(242)), true),
        (format!("t@{}", "v".repeat(15)), true),
    ] {
        let s = state(&request(&with_states(&["foo=1", &format!("{key}=1")]), 1));
        if kept {
            assert_eq!(s, kv(&[("foo", "1"), (&key, "1")]), "{}", key.len());
        } else {
            // The whole list goes, `foo=1` on its own line with it.
            assert_eq!(s, [], "{}", key.len());
        }
    }
}

#[test]
fn test_tracestate_value_illegal_characters() {
    for value in ["foo=bar=baz", "foo=,bar=3"] {
        assert_eq!(state(&request(&with_states(&[value]), 1)), [], "{value}");
    }
}

// ---- the suite: AdvancedTest -----------------------------------------------

#[test]
fn test_multiple_requests_with_valid_traceparent() {
    let o = request(&headers(&[("traceparent", &traceparent("01"))]), 3);
    assert_eq!(o.calls.len(), 3);
    continued(&o);
}

#[test]
fn test_multiple_requests_without_traceparent() {
    let o = request(&[], 3);
    restarted(&o, &[]);
    if tracekit::TRACE_ALL {
        let mut parents: Vec<String> = o
            .calls
            .iter()
            .map(|c| sent_traceparent(c).unwrap().parent)
            .collect();
        parents.sort();
        parents.dedup();
        assert_eq!(parents.len(), 3);
    }
}

#[test]
fn test_multiple_requests_with_illegal_traceparent() {
    let zero = "0".repeat(32);
    let o = request(
        &headers(&[("traceparent", &format!("00-{zero}-{PARENT}-01"))]),
        3,
    );
    restarted(&o, &[&zero]);
    if tracekit::TRACE_ALL {
        let mut parents: Vec<String> = o
            .calls
            .iter()
            .map(|c| sent_traceparent(c).unwrap().parent)
            .collect();
        parents.sort();
        parents.dedup();
        assert_eq!(parents.len(), 3);
    }
}

// ---- the suite: TraceContext2Test ------------------------------------------

#[test]
fn test_propagates_random_flag() {
    let o = tp(&traceparent("02"));
    assert!(o.extracted.as_ref().unwrap().is_random());
    let (sent, _) = continued(&o);
    assert!(sent.random(), "{sent:?}");
}

// ---- the specification beyond the suite: traceparent ------------------------

/// Hex digits are lowercase in every field; uppercase anywhere is invalid.
#[test]
fn uppercase_hex_in_any_field_is_invalid() {
    for value in [
        format!("0A-{TRACE}-{PARENT}-01"),
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01".to_owned(),
        format!("00-{TRACE}-{PARENT}-0A"),
    ] {
        restarted(&tp(&value), &[TRACE, "4bf92f3577b34da6a3ce929d0e0e4736"]);
    }
}

/// A higher version is read by its version-00 prefix, which must be whole:
/// at least 55 characters, its flags then the end or a `-`.
#[test]
fn future_versions_are_read_by_their_prefix_and_sent_as_00() {
    for flags in ["00", "01", "02", "03"] {
        let o = tp(&format!("cc-{TRACE}-{PARENT}-{flags}-and-more"));
        let (forwarded, _) = continued(&o);
        assert_eq!(forwarded.flags, u8::from_str_radix(flags, 16).unwrap());
    }
    for value in [
        format!("cc-{}-{PARENT}-01", &TRACE[..31]),
        format!("cc-{TRACE}-{PARENT}-0"),
        format!("cc-{TRACE}-{PARENT}-01x"),
        format!("cc-{TRACE}-{PARENT}-001"),
        format!("fe-{TRACE}_{PARENT}-01"),
    ] {
        restarted(&tp(&value), &[TRACE]);
    }
}

/// Level 2 defines bits 0x01 (sampled) and 0x02 (random); the others are
/// reserved: read as zero, and never sent.
#[test]
fn reserved_flags_are_ignored_and_never_sent() {
    for (incoming, sampled, random) in [
        ("ff", true, true),
        ("fc", false, false),
        ("04", false, false),
        ("05", true, false),
        ("06", false, true),
        ("80", false, false),
    ] {
        let o = tp(&traceparent(incoming));
        let cx = o.extracted.as_ref().unwrap();
        assert_eq!(
            (cx.is_sampled(), cx.is_random()),
            (sampled, random),
            "{incoming}"
        );
        let (forwarded, _) = continued(&o);
        assert_eq!(forwarded.flags, u8::from(sampled) | u8::from(random) << 1);
    }
}

/// Level 2: a flag unset on the way in stays unset on every outgoing
/// request with that trace id, and the service's decision shows in the
/// sampled flag only (with a new parent id).
#[test]
fn an_unset_random_flag_stays_unset() {
    for flags in ["00", "01"] {
        let o = request(&headers(&[("traceparent", &traceparent(flags))]), 2);
        assert!(!o.extracted.as_ref().unwrap().is_random());
        let (sent, _) = continued(&o);
        assert!(!sent.random(), "{sent:?}");
        if tracekit::TRACE_ALL {
            // The default sampler follows the parent.
            assert_eq!(sent.sampled(), flags == "01");
        }
    }
}

/// A new trace (no parent, or a parent that cannot be read) is started
/// with a random trace id, and the random flag says so.
#[test]
fn a_new_trace_is_random_and_says_so() {
    let mut seen = Vec::new();
    for incoming in [&[][..], &[("traceparent", "garbage")]] {
        let o = request(&headers(incoming), 1);
        restarted(&o, &[]);
        if let Some(s) = o.calls.first().and_then(|c| sent_traceparent(c)) {
            seen.push(s.trace);
        }
    }
    seen.dedup();
    assert_eq!(
        seen.len(),
        if tracekit::TRACE_ALL { 2 } else { 0 },
        "a new id each time"
    );
    // And a context built from elsewhere says what it was told.
    let made = SpanContext::remote(TraceId::random(), SpanId::random(), false);
    assert!(!made.is_random());
    let made = made.with_random(true);
    assert!(
        header(&injected(&made), "traceparent")
            .unwrap()
            .ends_with("-02")
    );
}

/// Malformed input never panics and never yields a wrong parent: a valid
/// header with any one character changed either still reads as exactly
/// what it says, or gives no parent.
#[test]
fn one_changed_character_gives_the_exact_parent_or_none() {
    let valid = traceparent("03");
    let mut rng = Rng(0x7c3e_11a5_d00d_f00d);
    let replacements = [
        '0', '9', 'a', 'f', 'g', 'A', 'F', '-', '.', ' ', '\t', 'é', '\0',
    ];
    for at in 0..valid.len() {
        for r in replacements {
            let mut chars: Vec<char> = valid.chars().collect();
            chars[at] = r;
            let value: String = chars.into_iter().collect();
            let result = Propagators::default().try_extract(&headers(&[("traceparent", &value)]));
            let Ok(cx) = result else { continue };
            let trimmed = value.trim_matches([' ', '\t']);
            assert_eq!(cx.trace_id().to_string(), trimmed[3..35], "{value:?}");
            assert_eq!(cx.span_id().to_string(), trimmed[36..52], "{value:?}");
            assert!(
                lower_hex(&trimmed[..2], 2) && &trimmed[..2] != "ff",
                "{value:?}"
            );
        }
    }
    // Random lengths and characters, too.
    for _ in 0..20_000 {
        let value = rng.string(70);
        let h = headers(&[("traceparent", &value), ("tracestate", &rng.string(40))]);
        if let Ok(cx) = Propagators::default().try_extract(&h) {
            let t = value.trim_matches([' ', '\t']);
            assert_eq!(cx.trace_id().to_string(), t[3..35], "{value:?}");
        }
    }
}

/// Outgoing headers have lowercase names, one `traceparent`, and no empty
/// `tracestate` (vendors SHOULD avoid sending one).
#[test]
fn outgoing_headers_are_lowercase_and_never_an_empty_tracestate() {
    let o = request(&with_states(&["", " , ,"]), 1);
    assert!(header(&o.forwarded, "tracestate").is_none());
    for out in o.calls.iter().chain([&o.forwarded]) {
        for (name, _) in out {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
        assert!(header(out, "tracestate").is_none(), "{out:?}");
    }
}

// ---- the specification beyond the suite: tracestate -------------------------

/// Empty and whitespace-only members are allowed anywhere and not sent on.
#[test]
fn empty_members_are_skipped() {
    for value in [
        "foo=1,,bar=2",
        ",foo=1,bar=2",
        "foo=1,bar=2,",
        " , foo=1 ,\t, bar=2 , ",
    ] {
        let s = state(&request(&with_states(&[value]), 1));
        assert_eq!(s, kv(&[("foo", "1"), ("bar", "2")]), "{value:?}");
    }
    assert_eq!(state(&request(&with_states(&[" , \t ,"]), 1)), []);
}

/// Values: leading spaces are the value's, trailing ones are whitespace;
/// 1 to 256 printable characters but `,` and `=`.
#[test]
fn values_keep_leading_spaces_and_their_limits() {
    let s = state(&request(&with_states(&["a=x y,b= lead,c=trail  "]), 1));
    assert_eq!(s, kv(&[("a", "x y"), ("b", " lead"), ("c", "trail")]));
    let max = "v".repeat(256);
    let s = state(&request(&with_states(&[&format!("k={max}")]), 1));
    assert_eq!(s, kv(&[("k", &max)]));
    for bad in [
        format!("ok=1,k={max}v"),
        "ok=1,k=tab\there".to_owned(),
        "ok=1,k=caf\u{e9}".to_owned(),
        "ok=1,k=\u{7f}".to_owned(),
        "ok=1,k".to_owned(),
    ] {
        assert_eq!(state(&request(&with_states(&[&bad]), 1)), [], "{bad:?}");
    }
}

/// Level 1 keys (`simple`, `tenant@system`) are Level 2 keys: a Level 1
/// peer's list is forwarded as it came.
#[test]
fn level_1_keys_stay_valid() {
    let value = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=v1,a_b-c*d/e=1";
    assert_eq!(forwarded_state(&[value]).as_deref(), Some(value));
}

/// Order is kept across lines, duplicates included, and a list of 32
/// distinct keys with repeats among them is not too long.
#[test]
fn order_is_kept_and_repeats_do_not_count_towards_32() {
    let distinct: Vec<String> = (1..=32).map(|i| format!("k{i:02}={i}")).collect();
    let mut lines = distinct.clone();
    lines.insert(5, "k01=again".to_owned());
    lines.push("k32=again".to_owned());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        forwarded_state(&refs).as_deref(),
        Some(distinct.join(",").as_str())
    );
}

/// Past 512 characters the list is cut by whole members: those over 128
/// characters first, then from the right. Up to 512 it goes on whole.
#[test]
fn past_512_characters_whole_members_go_long_ones_first() {
    // 16 members of 31 characters and 15 commas: 511, then 512.
    let members: Vec<String> = (0..16)
        .map(|i| format!("k{i:02}={}", "v".repeat(27)))
        .collect();
    let list = members.join(",");
    assert_eq!(list.len(), 511);
    assert_eq!(forwarded_state(&[&list]).as_deref(), Some(list.as_str()));
    let full = format!("{list}v");
    assert_eq!(forwarded_state(&[&full]).as_deref(), Some(full.as_str()));
    // One more member: 516 characters; the last one goes.
    let over = format!("{full},z=1");
    assert_eq!(forwarded_state(&[&over]).as_deref(), Some(full.as_str()));
    // A long member goes first, wherever it stands.
    let long = format!("long={}", "x".repeat(130));
    let with_long = format!(
        "{},{long},{}",
        members[..8].join(","),
        members[8..12].join(",")
    );
    assert!(with_long.len() > 512);
    let got = forwarded_state(&[&with_long]).unwrap();
    assert_eq!(got, members[..12].join(","));
}

/// A trace state set in code obeys the same rules when it goes out.
#[test]
fn a_trace_state_set_in_code_goes_out_as_a_received_one_would() {
    let cx = |state: &str| {
        SpanContext::remote(TraceId::random(), SpanId::random(), true).with_trace_state(state)
    };
    let sent = |state: &str| header(&injected(&cx(state)), "tracestate").map(str::to_owned);
    assert_eq!(sent("mine=1,theirs=2").as_deref(), Some("mine=1,theirs=2"));
    assert_eq!(sent("mine=1,mine=2, x=3").as_deref(), Some("mine=1,x=3"));
    assert_eq!(sent("Mine=1,x=3"), None, "a list that breaks the grammar");
    assert_eq!(sent("k=v\r\nx-evil: 1"), None);
}
