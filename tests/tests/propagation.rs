//! Propagation formats: round trips, the W3C test suite's invalid cases,
//! limits, header safety, and random input that must never panic.

use std::collections::{BTreeMap, HashMap};
use tracekit::propagation::{ExtractError, Format, Propagators};
use tracekit::{Baggage, SpanContext, SpanId, TraceId};
use tracekit_tests::Rng;

fn cx(trace: u128, span: u64, sampled: bool) -> SpanContext {
    SpanContext::remote(
        TraceId::from_u128(trace).unwrap(),
        SpanId::from_u64(span).unwrap(),
        sampled,
    )
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const TRACE: u128 = 0x0af7651916cd43dd8448eb211c80319c;
const SPAN: u64 = 0xb7ad6b7169203331;

#[test]
fn every_format_round_trips_ids_flags_state_and_baggage() {
    let baggage = Baggage::default()
        .with("request.id", "r-17")
        .with("user", "ann o'neil + co, 100%");
    for format in [
        Format::TraceContext,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
    ] {
        for (sampled, debug) in [(true, false), (false, false), (true, true)] {
            if debug && format == Format::TraceContext {
                continue; // W3C has no debug flag
            }
            let original = cx(TRACE, SPAN, sampled)
                .with_debug(debug)
                .with_trace_state("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
                .with_baggage(baggage.clone());
            let p = Propagators::new([format, Format::Baggage]);
            let mut carrier = HashMap::new();
            p.inject_context(&original, &mut carrier);
            let back = p
                .try_extract(&carrier)
                .unwrap_or_else(|e| panic!("{format:?}: {e}; {carrier:?}"));
            assert_eq!(back.trace_id(), original.trace_id(), "{format:?}");
            assert_eq!(back.span_id(), original.span_id(), "{format:?}");
            assert_eq!(back.is_sampled(), sampled || debug, "{format:?}");
            assert_eq!(back.is_debug(), debug, "{format:?}");
            assert!(back.is_remote());
            assert_eq!(back.baggage_item("request.id"), Some("r-17"), "{format:?}");
            assert_eq!(
                back.baggage_item("user"),
                Some("ann o'neil + co, 100%"),
                "{format:?}"
            );
            if format == Format::TraceContext {
                assert_eq!(
                    back.trace_state(),
                    Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
                );
            }
        }
    }
}

#[test]
fn injected_headers_have_the_exact_wire_form() {
    let c = cx(TRACE, SPAN, true).with_baggage(Baggage::default().with("k", "a b+c"));
    let mut h = BTreeMap::new();
    Propagators::new([
        Format::TraceContext,
        Format::Baggage,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
    ])
    .inject_context(&c, &mut h);
    assert_eq!(
        h["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(h["baggage"], "k=a%20b%2Bc");
    assert_eq!(
        h["b3"],
        "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1"
    );
    assert_eq!(h["x-b3-traceid"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(h["x-b3-spanid"], "b7ad6b7169203331");
    assert_eq!(h["x-b3-sampled"], "1");
    assert_eq!(
        h["uber-trace-id"],
        "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:0000000000000000:01"
    );
    assert_eq!(h["uberctx-k"], "a%20b%2Bc");
    // Every header name is lowercase.
    assert!(h.keys().all(|k| k.chars().all(|c| !c.is_ascii_uppercase())));
}

#[test]
fn extract_matches_header_names_case_insensitively() {
    let h = headers(&[(
        "TraceParent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )]);
    let c = Propagators::default().extract(&h).unwrap();
    assert_eq!(c.span_id().to_u64(), SPAN);
    let mut map = HashMap::new();
    map.insert(
        "X-B3-TraceId".to_owned(),
        "0af7651916cd43dd8448eb211c80319c".to_owned(),
    );
    map.insert("X-B3-SpanId".to_owned(), "b7ad6b7169203331".to_owned());
    let c = Propagators::new([Format::B3Multi]).extract(&map).unwrap();
    assert_eq!(c.trace_id().to_u128(), TRACE);
}

/// The invalid `traceparent` cases of the W3C test suite: each one starts
/// a new trace (no parent) and never panics.
#[test]
fn invalid_traceparents_give_no_parent() {
    let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let cases: &[(&str, &[&str])] = &[
        ("empty", &[""]),
        (
            "too short",
            &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0"],
        ),
        (
            "too long for version 00",
            &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-"],
        ),
        (
            "uppercase trace id",
            &["00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"],
        ),
        (
            "uppercase span id",
            &["00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01"],
        ),
        (
            "uppercase version",
            &["0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
        ),
        (
            "zero trace id",
            &["00-00000000000000000000000000000000-b7ad6b7169203331-01"],
        ),
        (
            "zero span id",
            &["00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"],
        ),
        (
            "version ff",
            &["ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
        ),
        (
            "non-hex trace id",
            &["00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01"],
        ),
        (
            "wrong separators",
            &["00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01"],
        ),
        (
            "future version without dash",
            &["cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.what"],
        ),
        (
            "short trace id",
            &["00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01"],
        ),
        (
            "non-hex flags",
            &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g"],
        ),
        ("two traceparent headers", &[valid, valid]),
        (
            "non-ascii",
            &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033é1-01"],
        ),
    ];
    for (name, values) in cases {
        let h: Vec<(String, String)> = values
            .iter()
            .map(|v| ("traceparent".to_owned(), (*v).to_owned()))
            .collect();
        let result = Propagators::default().try_extract(&h);
        assert!(
            matches!(
                result,
                Err(ExtractError::Malformed { .. } | ExtractError::Repeated(_))
            ),
            "{name}: {result:?}"
        );
        assert!(tracekit::propagation::extract(&h).is_none(), "{name}");
    }
}

#[test]
fn future_versions_are_read_by_their_version_00_prefix_and_sent_as_00() {
    let h = headers(&[(
        "traceparent",
        "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09-what-the-future-holds",
    )]);
    let c = Propagators::default().try_extract(&h).unwrap();
    assert!(c.is_sampled());
    let mut out = HashMap::new();
    Propagators::default().inject_context(&c, &mut out);
    assert_eq!(
        out["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
}

#[test]
fn tracestate_is_forwarded_unchanged_or_dropped_whole() {
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let extract = |states: &[&str]| {
        let mut h = headers(&[("traceparent", parent)]);
        h.extend(
            states
                .iter()
                .map(|s| ("tracestate".to_owned(), (*s).to_owned())),
        );
        Propagators::default()
            .try_extract(&h)
            .unwrap()
            .trace_state()
            .map(str::to_owned)
    };
    assert_eq!(
        extract(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]).as_deref(),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );
    // Repeated headers are one list.
    assert_eq!(
        extract(&["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"]).as_deref(),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );
    assert_eq!(
        extract(&["tenant@vendor=x"]).as_deref(),
        Some("tenant@vendor=x")
    );
    let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    assert_eq!(
        extract(&[&members.join(",")]).as_deref(),
        Some(members.join(",").as_str())
    );
    // A repeated key is not a reason to drop the list (Level 2): the first
    // member with that key is kept.
    assert_eq!(extract(&["dup=1,k=v,dup=2"]).as_deref(), Some("dup=1,k=v"));
    let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    for bad in [
        too_many.join(","),
        "Upper=x".to_owned(),
        "novalue".to_owned(),
        "k=bad,value".to_owned(),
        "k=tab\tinside".to_owned(),
    ] {
        assert_eq!(extract(&[&bad]), None, "{bad}");
    }
    // Dropped with an invalid traceparent.
    let h = headers(&[("traceparent", "garbage"), ("tracestate", "rojo=1")]);
    assert!(Propagators::default().extract(&h).is_none());
}

#[test]
fn baggage_limits_drop_whole_members() {
    let parent = (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let many: Vec<String> = (0..70).map(|i| format!("k{i}=v{i}")).collect();
    let h = headers(&[parent, ("baggage", &many.join(","))]);
    let c = Propagators::default().extract(&h).unwrap();
    assert_eq!(c.baggage().len(), 64);
    assert_eq!(c.baggage_item("k63"), Some("v63"));
    assert_eq!(c.baggage_item("k64"), None);

    let big = "x".repeat(5000);
    let h = headers(&[parent, ("baggage", &format!("a={big},b={big},c=small"))]);
    let c = Propagators::default().extract(&h).unwrap();
    assert_eq!(c.baggage_item("a").map(str::len), Some(5000));
    assert_eq!(c.baggage_item("b"), None, "b would pass 8192 bytes");
    assert_eq!(c.baggage_item("c"), Some("small"));

    // Malformed members are dropped one by one.
    let h = headers(&[
        parent,
        ("baggage", "good=1,bad key=2,=3,also=ok;prop=1,x=%ZZ"),
    ]);
    let c = Propagators::default().extract(&h).unwrap();
    assert_eq!(c.baggage_item("good"), Some("1"));
    assert_eq!(c.baggage_item("also"), Some("ok"));
    assert_eq!(c.baggage_item("x"), Some("%ZZ"));
    assert_eq!(c.baggage().len(), 3);

    // Injection keeps within the limits too.
    let mut b = Baggage::default();
    for i in 0..100 {
        b = b.with(format!("k{i}"), "v".repeat(200));
    }
    let mut out = HashMap::new();
    Propagators::default().inject_context(&cx(1, 2, true).with_baggage(b), &mut out);
    let header = &out["baggage"];
    assert!(header.len() <= 8192);
    assert!(header.split(',').count() <= 64);
    assert!(
        header
            .split(',')
            .all(|m| m.len() == "k00=".len() + 200 || m.len() == "k0=".len() + 200)
    );
}

#[test]
fn injected_values_never_carry_characters_illegal_in_headers() {
    let nasty = Baggage::default()
        .with("crlf", "a\r\nX-Injected: yes")
        .with("not a token", "v")
        .with("unicode", "жук 🐞")
        .with("ctl", "\u{0}\u{7f}");
    let c = cx(TRACE, SPAN, true)
        .with_baggage(nasty)
        .with_trace_state("ok=1\r\nX-Evil: 1");
    let mut out = Vec::new();
    Propagators::new([
        Format::TraceContext,
        Format::Baggage,
        Format::Jaeger,
        Format::B3,
    ])
    .inject_context(&c, &mut out);
    for (k, v) in &out {
        assert!(k.bytes().all(|b| b.is_ascii_graphic()), "{k:?}");
        assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "{k}: {v:?}");
    }
    assert!(
        !out.iter().any(|(k, _)| k == "tracestate"),
        "an invalid state is not sent"
    );
    let back = Propagators::new([Format::TraceContext, Format::Baggage])
        .extract(&out)
        .unwrap();
    assert_eq!(back.baggage_item("crlf"), Some("a\r\nX-Injected: yes"));
    assert_eq!(back.baggage_item("unicode"), Some("жук 🐞"));
    assert_eq!(back.baggage_item("not a token"), None);
}

#[test]
fn jaeger_and_b3_accept_their_variants() {
    let jaeger =
        |v: &str| Propagators::new([Format::Jaeger]).try_extract(&headers(&[("uber-trace-id", v)]));
    let c = jaeger("abc:def:0:1").unwrap();
    assert_eq!(c.trace_id().to_u128(), 0xabc);
    assert_eq!(c.span_id().to_u64(), 0xdef);
    assert!(c.is_sampled() && !c.is_debug());
    let c = jaeger("0af7651916cd43dd8448eb211c80319c%3Ab7ad6b7169203331%3A0%3A3").unwrap();
    assert_eq!(c.trace_id().to_u128(), TRACE);
    assert!(c.is_debug() && c.is_sampled());
    assert!(!jaeger("abc:def:0:0").unwrap().is_sampled());
    for bad in [
        "",
        "abc:def:0",
        "0:def:0:1",
        "abc:0:0:1",
        "xyz:def:0:1",
        "1:2:3:4:5",
        "123456789012345678901234567890123:1:0:1",
    ] {
        assert!(jaeger(bad).is_err(), "{bad}");
    }
    let with_debug_id = headers(&[
        ("uber-trace-id", "abc:def:0:0"),
        ("jaeger-debug-id", "corr-1"),
    ]);
    assert!(
        Propagators::new([Format::Jaeger])
            .extract(&with_debug_id)
            .unwrap()
            .is_debug()
    );

    let b3 = |v: &str| Propagators::new([Format::B3]).try_extract(&headers(&[("b3", v)]));
    let c = b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90").unwrap();
    assert!(c.is_sampled());
    let c = b3("64fe8b2a57d3eff7-e457b5a2e4d86bd1-d").unwrap();
    assert_eq!(c.trace_id().to_u128(), 0x64fe8b2a57d3eff7);
    assert!(c.is_debug());
    assert!(
        !b3("64fe8b2a57d3eff7-e457b5a2e4d86bd1-0")
            .unwrap()
            .is_sampled()
    );
    assert!(
        b3("64fe8b2a57d3eff7-e457b5a2e4d86bd1")
            .unwrap()
            .is_sampled(),
        "deferred: sampled here"
    );
    for bad in [
        "0",
        "1",
        "d",
        "x-y",
        "64fe8b2a57d3eff7-e457b5a2e4d86bd1-2",
        "64fe-e457b5a2e4d86bd1-1",
    ] {
        assert!(b3(bad).is_err(), "{bad}");
    }
    let multi = headers(&[
        ("x-b3-traceid", "64fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-flags", "1"),
    ]);
    assert!(
        Propagators::new([Format::B3Multi])
            .extract(&multi)
            .unwrap()
            .is_debug()
    );
}

#[test]
fn otel_propagators_names_and_composition() {
    assert_eq!(Propagators::parse("").unwrap(), Propagators::default());
    assert_eq!(Propagators::parse("none").unwrap(), Propagators::none());
    assert_eq!(
        Propagators::parse("tracecontext,baggage,b3,b3multi,jaeger")
            .unwrap()
            .formats(),
        [
            Format::TraceContext,
            Format::Baggage,
            Format::B3,
            Format::B3Multi,
            Format::Jaeger
        ]
    );
    let err = Propagators::parse("tracecontext,xray").unwrap_err();
    assert!(err.to_string().contains("xray"));
    assert_eq!(
        Propagators::none().try_extract(&headers(&[])),
        Err(ExtractError::Disabled)
    );
    // A later format's valid ids win; a malformed one leaves the earlier result.
    let h = headers(&[
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("uber-trace-id", "garbage"),
    ]);
    let c = Propagators::new([Format::TraceContext, Format::Jaeger])
        .extract(&h)
        .unwrap();
    assert_eq!(c.trace_id().to_u128(), TRACE);
}

#[test]
fn random_contexts_and_baggage_survive_inject_then_extract() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for round in 0..2000 {
        let trace = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())).max(1);
        let span = rng.next_u64().max(1);
        let sampled = rng.below(2) == 0;
        let mut baggage = Baggage::default();
        for i in 0..rng.below(5) {
            baggage = baggage.with(format!("k{i}.{}", rng.below(100)), rng.string(40));
        }
        let original = cx(trace, span, sampled).with_baggage(baggage.clone());
        let formats = [
            Format::TraceContext,
            Format::B3,
            Format::B3Multi,
            Format::Jaeger,
        ];
        let format = formats[rng.below(4) as usize];
        let p = Propagators::new([format, Format::Baggage]);
        let mut carrier = HashMap::new();
        p.inject_context(&original, &mut carrier);
        let back = p
            .extract(&carrier)
            .unwrap_or_else(|| panic!("round {round}: {carrier:?}"));
        assert_eq!(
            (back.trace_id(), back.span_id()),
            (original.trace_id(), original.span_id())
        );
        assert_eq!(back.is_sampled(), sampled, "round {round} {format:?}");
        for (k, v) in baggage.iter() {
            assert_eq!(back.baggage_item(k), Some(v), "round {round}: {k}");
        }
    }
}

#[test]
fn random_headers_never_panic_extract() {
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let names = [
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "x-b3-flags",
        "x-b3-parentspanid",
        "uber-trace-id",
        "uberctx-a",
        "jaeger-debug-id",
    ];
    let all = Propagators::parse("tracecontext,baggage,b3,b3multi,jaeger").unwrap();
    for _ in 0..20_000 {
        let mut h = Vec::new();
        for _ in 0..rng.below(6) {
            let name = names[rng.below(names.len() as u64) as usize];
            // Sometimes a near-valid value with one character changed.
            let value = if rng.below(3) == 0 {
                let mut v: Vec<char> = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                    .chars()
                    .collect();
                let at = rng.below(v.len() as u64) as usize;
                v[at] = rng.string(1).chars().next().unwrap_or('-');
                v.into_iter().collect()
            } else {
                rng.string(80)
            };
            h.push((name.to_owned(), value));
        }
        let _ = all.try_extract(&h);
    }
}

/// W3C's random-trace-id flag has no place in B3 or Jaeger: it never
/// changes what they send, and nothing they carry sets it (Jaeger's `0x02`
/// is its debug flag).
#[test]
fn only_trace_context_carries_the_random_flag() {
    for format in [Format::B3, Format::B3Multi, Format::Jaeger] {
        let p = Propagators::new([format]);
        for sampled in [false, true] {
            let (mut plain, mut random) = (BTreeMap::new(), BTreeMap::new());
            p.inject_context(&cx(TRACE, SPAN, sampled), &mut plain);
            p.inject_context(&cx(TRACE, SPAN, sampled).with_random(true), &mut random);
            assert_eq!(plain, random, "{format:?}");
            assert!(!p.extract(&random).unwrap().is_random(), "{format:?}");
        }
    }
    let c = Propagators::new([Format::Jaeger])
        .extract(&headers(&[(
            "uber-trace-id",
            "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:0:03",
        )]))
        .unwrap();
    assert!(c.is_debug() && !c.is_random());
}

/// When a later format names the same trace as `traceparent`, its ids win
/// but the trace id is still the random one W3C said it was; another
/// trace id is not.
#[test]
fn a_later_format_naming_the_same_trace_keeps_the_random_flag() {
    let p = Propagators::new([Format::TraceContext, Format::Jaeger]);
    let w3c = (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
    );
    let same = headers(&[
        w3c,
        (
            "uber-trace-id",
            "0af7651916cd43dd8448eb211c80319c:00f067aa0ba902b7:0:1",
        ),
    ]);
    let c = p.extract(&same).unwrap();
    assert_eq!(c.span_id().to_u64(), 0x00f067aa0ba902b7);
    assert!(c.is_random());
    let other = headers(&[w3c, ("uber-trace-id", "abc:def:0:1")]);
    let c = p.extract(&other).unwrap();
    assert_eq!(c.trace_id().to_u128(), 0xabc);
    assert!(!c.is_random());
}
