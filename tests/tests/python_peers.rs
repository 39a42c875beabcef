//! tracekit's propagation against the official OpenTelemetry Python
//! propagators (`opentelemetry-api`/`-sdk` TraceContext and W3C Baggage,
//! `opentelemetry-propagator-b3` single and multi, and
//! `opentelemetry-propagator-jaeger`), in both directions: what tracekit
//! injects, Python extracts to the same context, and what Python injects,
//! tracekit extracts likewise.
//!
//! The peers live in `.python-peers/`, installed by `scripts/python-peers.sh`
//! (run here when missing). Without Python these tests fail, saying how to
//! install it: a propagation format nobody checked against a peer is not
//! tested.

use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use tracekit::propagation::{Format, Propagators};
use tracekit::{Baggage, SpanContext, SpanId, TraceId};
use tracekit_tests::Rng;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The Python process answering inject/extract requests, one JSON line each.
struct Peer {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start() -> Peer {
        let root = root();
        let python = root.join(".python-peers/bin/python");
        if !python.exists() {
            let out = Command::new("bash")
                .arg(root.join("scripts/python-peers.sh"))
                .output()
                .expect("bash runs scripts/python-peers.sh");
            assert!(
                out.status.success(),
                "The OpenTelemetry Python peers are not installed and scripts/python-peers.sh \
                 failed:\n{}\nThese tests need Python 3 with venv and pip (Debian: \
                 `apt-get install python3 python3-venv`) and PyPI; then run \
                 `bash scripts/python-peers.sh` and `cargo test --test python_peers`.",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut child = Command::new(&python)
            .arg(root.join("tests/peers/propagators.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Peer {
            _child: child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, request: &Json) -> Json {
        writeln!(self.stdin, "{request}").expect("the peer reads requests");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the peer answers");
        let answer: Json = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the peer answered {line:?} to {request}: {e}"));
        assert!(
            answer.get("error").is_none(),
            "the peer failed on {request}: {answer}"
        );
        answer
    }
}

fn peer() -> std::sync::MutexGuard<'static, Peer> {
    static PEER: OnceLock<Mutex<Peer>> = OnceLock::new();
    PEER.get_or_init(|| Mutex::new(Peer::start()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A context as both sides describe it.
#[derive(Clone, Debug, PartialEq)]
struct Expect {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
    trace_state: Option<String>,
    baggage: BTreeMap<String, String>,
}

impl Expect {
    fn to_context(&self) -> SpanContext {
        let mut baggage = Baggage::default();
        for (k, v) in &self.baggage {
            baggage = baggage.with(k.clone(), v.clone());
        }
        let mut cx = SpanContext::remote(
            TraceId::from_u128(self.trace_id).expect("non-zero"),
            SpanId::from_u64(self.span_id).expect("non-zero"),
            self.sampled,
        )
        .with_baggage(baggage);
        if let Some(state) = &self.trace_state {
            cx = cx.with_trace_state(state.clone());
        }
        cx
    }

    fn of_context(cx: &SpanContext) -> Expect {
        Expect {
            trace_id: cx.trace_id().to_u128(),
            span_id: cx.span_id().to_u64(),
            sampled: cx.is_sampled(),
            trace_state: cx.trace_state().map(str::to_owned),
            baggage: cx
                .baggage()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    fn of_peer(answer: &Json) -> Option<Expect> {
        let hex = |k: &str| answer[k].as_str().map(str::to_owned);
        Some(Expect {
            trace_id: u128::from_str_radix(&hex("trace_id")?, 16).ok()?,
            span_id: u64::from_str_radix(&hex("span_id")?, 16).ok()?,
            sampled: answer["sampled"].as_bool()?,
            trace_state: hex("trace_state"),
            baggage: answer["baggage"]
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        })
    }

    /// What a format carries of this context: W3C Trace Context alone has
    /// no baggage, only it has a trace state.
    fn as_carried_by(&self, formats: &[Format]) -> Expect {
        let mut e = self.clone();
        if !formats.contains(&Format::TraceContext) {
            e.trace_state = None;
        }
        if !formats.contains(&Format::Baggage) && !formats.contains(&Format::Jaeger) {
            e.baggage.clear();
        }
        e
    }
}

/// The propagator lists checked, as `OTEL_PROPAGATORS` names them.
const SETS: &[&str] = &[
    "tracecontext",
    "tracecontext,baggage",
    "b3",
    "b3multi",
    "jaeger",
];

fn formats(set: &str) -> Vec<Format> {
    Propagators::parse(set)
        .expect("known names")
        .formats()
        .to_vec()
}

fn tracekit_to_python(e: &Expect, set: &str) {
    let mut headers = BTreeMap::new();
    Propagators::parse(set)
        .expect("known names")
        .inject_context(&e.to_context(), &mut headers);
    let answer = peer().ask(&json!({"op": "extract", "format": set, "headers": headers}));
    let got = Expect::of_peer(&answer)
        .unwrap_or_else(|| panic!("[{set}] Python extracted no context from {headers:?}"));
    assert_eq!(
        got,
        e.as_carried_by(&formats(set)),
        "[{set}] tracekit injected {headers:?}"
    );
}

fn python_to_tracekit(e: &Expect, set: &str) {
    let answer = peer().ask(&json!({
        "op": "inject",
        "format": set,
        "trace_id": format!("{:032x}", e.trace_id),
        "span_id": format!("{:016x}", e.span_id),
        "sampled": e.sampled,
        "trace_state": e.trace_state,
        "baggage": e.baggage,
    }));
    let headers: BTreeMap<String, String> = answer["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let cx = Propagators::parse(set)
        .expect("known names")
        .try_extract(&headers)
        .unwrap_or_else(|err| panic!("[{set}] tracekit rejected Python's {headers:?}: {err}"));
    assert!(cx.is_remote());
    assert_eq!(
        Expect::of_context(&cx),
        e.as_carried_by(&formats(set)),
        "[{set}] Python injected {headers:?}"
    );
}

fn fixed_cases() -> Vec<Expect> {
    let baggage: BTreeMap<String, String> = [
        ("request.id", "r-17"),
        ("user", "ann o'neil + co, 100%; sure=yes"),
        ("city", "Zürich"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vec![
        Expect {
            trace_id: 0x0af7651916cd43dd8448eb211c80319c,
            span_id: 0xb7ad6b7169203331,
            sampled: true,
            trace_state: Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()),
            baggage,
        },
        // A 64-bit trace id, as old Jaeger and B3 clients make, unsampled.
        Expect {
            trace_id: 0x00000000000000004bf92f3577b34da6,
            span_id: 1,
            sampled: false,
            trace_state: None,
            baggage: BTreeMap::new(),
        },
        Expect {
            trace_id: u128::MAX,
            span_id: u64::MAX,
            sampled: true,
            trace_state: Some("tenant@vendor=v1".into()),
            baggage: [("k".to_owned(), "v".to_owned())].into(),
        },
    ]
}

/// Random contexts both sides can represent. Baggage keys are lowercase
/// tokens (Jaeger carries them in header names, which are case-blind) and
/// values have no whitespace at either end (both Python baggage
/// propagators strip it, as the W3C grammar's optional whitespace allows,
/// and Python's idea of whitespace includes the separators `\x1c`..`\x1f`).
fn random_cases(seed: u64, n: usize) -> Vec<Expect> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let high = if rng.below(4) == 0 { 0 } else { rng.next_u64() };
            let trace_id = (u128::from(high) << 64 | u128::from(rng.next_u64())).max(1);
            let mut baggage = BTreeMap::new();
            for i in 0..rng.below(5) {
                let value = rng
                    .string(30)
                    .trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
                    .to_owned();
                baggage.insert(
                    format!("k{i}-{}.x_{}", rng.below(1000), rng.below(9)),
                    value,
                );
            }
            let trace_state = (rng.below(2) == 0).then(|| {
                (0..=rng.below(4))
                    .map(|i| {
                        let vendor = if rng.below(3) == 0 { "@sys" } else { "" };
                        format!("k{i}{vendor}=v{}", rng.next_u64() % 100_000)
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            });
            Expect {
                trace_id,
                span_id: rng.next_u64().max(1),
                sampled: rng.below(2) == 0,
                trace_state,
                baggage,
            }
        })
        .collect()
}

#[test]
fn what_tracekit_injects_python_extracts() {
    for set in SETS {
        for e in fixed_cases().iter().chain(&random_cases(0x51f0_7e11, 150)) {
            tracekit_to_python(e, set);
        }
    }
}

#[test]
fn what_python_injects_tracekit_extracts() {
    for set in SETS {
        for e in fixed_cases().iter().chain(&random_cases(0xa11_ce5, 150)) {
            python_to_tracekit(e, set);
        }
    }
}

#[test]
fn python_reads_debug_contexts_as_sampled() {
    // B3 `d` and Jaeger's debug bit mean sampled to every peer.
    let cx = SpanContext::remote(
        TraceId::from_u128(7).unwrap(),
        SpanId::from_u64(9).unwrap(),
        true,
    )
    .with_debug(true);
    for set in ["b3", "b3multi", "jaeger"] {
        let mut headers = BTreeMap::new();
        Propagators::parse(set)
            .unwrap()
            .inject_context(&cx, &mut headers);
        let answer = peer().ask(&json!({"op": "extract", "format": set, "headers": headers}));
        assert_eq!(answer["sampled"], json!(true), "[{set}] {headers:?}");
        assert_eq!(answer["span_id"], json!("0000000000000009"), "[{set}]");
    }
}

/// W3C Level 2's random-trace-id flag (`0x02`) crosses both ways with the
/// sampled flag beside it: Python keeps the trace-flags byte whole, and so
/// must tracekit for the two bits it defines.
#[test]
fn the_random_trace_id_flag_crosses_both_ways() {
    for flags in [0x00u8, 0x01, 0x02, 0x03] {
        let (sampled, random) = (flags & 0x01 != 0, flags & 0x02 != 0);
        let cx = SpanContext::remote(
            TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap(),
            SpanId::from_u64(0xb7ad6b7169203331).unwrap(),
            sampled,
        )
        .with_random(random);
        let mut headers = BTreeMap::new();
        Propagators::default().inject_context(&cx, &mut headers);
        let answer =
            peer().ask(&json!({"op": "extract", "format": "tracecontext", "headers": headers}));
        assert_eq!(answer["trace_flags"], json!(flags), "{headers:?}");

        let answer = peer().ask(&json!({
            "op": "inject",
            "format": "tracecontext",
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "trace_flags": flags,
        }));
        let headers: BTreeMap<String, String> =
            serde_json::from_value(answer["headers"].clone()).expect("headers");
        let back = Propagators::default()
            .try_extract(&headers)
            .unwrap_or_else(|e| panic!("{headers:?}: {e}"));
        assert_eq!((back.is_sampled(), back.is_random()), (sampled, random));
    }
}

#[test]
fn malformed_headers_are_rejected_by_both_sides() {
    // Cases from the W3C test suite: Python and tracekit must agree that
    // each gives no parent, so neither side of a call joins a bad trace.
    let bad = [
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
        "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ];
    for value in bad {
        let headers: BTreeMap<String, String> =
            [("traceparent".to_owned(), value.to_owned())].into();
        let answer =
            peer().ask(&json!({"op": "extract", "format": "tracecontext", "headers": headers}));
        assert_eq!(answer["trace_id"], Json::Null, "Python accepted {value}");
        assert!(
            Propagators::default().extract(&headers).is_none(),
            "tracekit accepted {value}"
        );
    }
}

/// `traceidratio` decides as the OpenTelemetry SDKs do, so every service
/// of a trace with the same ratio agrees: the Python SDK's
/// `TraceIdRatioBased` and tracekit give the same answer for 10,000 random
/// trace ids at each ratio, and for the ids just around each ratio's bound.
#[test]
fn trace_id_ratio_decides_as_the_python_sdk_does() {
    use tracekit::sampler::TraceIdRatio;
    let mut rng = Rng(0x5a3b_1e2d);
    let ratios = [
        0.0,
        1e-9,
        0.001,
        0.1,
        0.25,
        1.0 / 3.0,
        0.5,
        0.75,
        0.999_999,
        1.0,
    ];
    for ratio in ratios {
        let bound = (ratio * 18_446_744_073_709_551_616.0f64).round() as u128;
        let mut ids: Vec<u128> = (0..10_000)
            .map(|_| (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())).max(1))
            .collect();
        for low in [bound.saturating_sub(1), bound, bound + 1] {
            if low >= 1 && low <= u128::from(u64::MAX) {
                ids.push(u128::from(rng.next_u64()) << 64 | low);
            }
        }
        let hex: Vec<String> = ids.iter().map(|id| format!("{id:032x}")).collect();
        let answer = peer().ask(&json!({"op": "sample", "ratio": ratio, "trace_ids": hex}));
        let python: Vec<bool> = serde_json::from_value(answer["sampled"].clone()).unwrap();
        assert_eq!(python.len(), ids.len());
        let sampler = TraceIdRatio::new(ratio);
        let mut disagree = Vec::new();
        for (id, python) in ids.iter().zip(&python) {
            let ours = sampler
                .decide(TraceId::from_u128(*id).unwrap())
                .is_sampled();
            if ours != *python {
                disagree.push(format!("{id:032x}: python {python}, tracekit {ours}"));
            }
        }
        assert!(disagree.is_empty(), "ratio {ratio}: {disagree:?}");
        let share = python.iter().filter(|s| **s).count() as f64 / python.len() as f64;
        assert!((share - ratio).abs() < 0.02, "ratio {ratio}: {share}");
    }
}

/// The same agreement where it matters: roots started under a
/// `traceidratio` sampler are sampled exactly when Python would sample
/// their trace ids.
#[test]
fn roots_under_trace_id_ratio_agree_with_the_python_sdk() {
    use tracekit::sampler::{TraceIdRatio, set_sampler};
    if !cfg!(feature = "trace-all") {
        return;
    }
    let (ids, sampled): (Vec<String>, Vec<bool>) = {
        let _sampler = set_sampler(TraceIdRatio::new(0.3));
        (0..3000)
            .map(|_| {
                let span = tracekit::Span::builder("root").root().start();
                let cx = span.context().expect("an unsampled root still has ids");
                (format!("{:032x}", cx.trace_id().to_u128()), cx.is_sampled())
            })
            .unzip()
    };
    let answer = peer().ask(&json!({"op": "sample", "ratio": 0.3, "trace_ids": ids}));
    let python: Vec<bool> = serde_json::from_value(answer["sampled"].clone()).unwrap();
    assert_eq!(python, sampled);
    let share = sampled.iter().filter(|s| **s).count();
    assert!((700..1100).contains(&share), "{share} of 3000 at 0.3");
}
