//! Every extractor on arbitrary headers. The first byte picks the format
//! (or all of them); the rest is `name: value` lines.
//!
//! Properties: no panic; whatever is extracted re-injects to headers with no
//! CR/LF and none over 8,192 bytes; with one format, those headers extract
//! back to the same context, and the parts a peer controls (baggage,
//! tracestate, uberctx-*) are no larger than they came.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracekit::propagation::{Format, Propagators};

const FORMATS: [Format; 5] = [
    Format::TraceContext,
    Format::Baggage,
    Format::B3,
    Format::B3Multi,
    Format::Jaeger,
];

fn variable_bytes(h: &[(String, String)]) -> usize {
    h.iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k == "baggage" || k == "tracestate" || k.starts_with("uberctx-")
        })
        .map(|(k, v)| k.len() + v.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let headers: Vec<(String, String)> = text
        .split('\n')
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            Some((k.trim().to_owned(), v.trim_start().to_owned()))
        })
        .collect();
    let single = usize::from(pick) % 6;
    let p = match single {
        5 => Propagators::new(FORMATS),
        // Jaeger carries its own baggage; the others travel with W3C's.
        4 => Propagators::new([Format::Jaeger]),
        n => Propagators::new([FORMATS[n], Format::Baggage]),
    };
    let Some(cx) = p.extract(&headers) else {
        return;
    };
    let mut out: Vec<(String, String)> = Vec::new();
    p.inject_context(&cx, &mut out);
    for (k, v) in &out {
        assert!(!v.contains(['\r', '\n']), "{k} carries CR/LF");
        assert!(v.len() <= 8192, "{k} is {} bytes", v.len());
    }
    if single == 5 {
        return;
    }
    assert!(
        variable_bytes(&out) <= variable_bytes(&headers),
        "{headers:?} -> {out:?}"
    );
    let back = p.extract(&out).expect("re-injected headers parse");
    assert_eq!(
        (
            back.trace_id(),
            back.span_id(),
            back.is_sampled(),
            back.is_random(),
            back.trace_state()
        ),
        (
            cx.trace_id(),
            cx.span_id(),
            cx.is_sampled(),
            cx.is_random(),
            cx.trace_state()
        )
    );
    assert_eq!(back.baggage(), cx.baggage(), "{headers:?} -> {out:?}");
});
