//! The viewer's OTLP JSON reader on arbitrary bytes, then both writers.
//!
//! Properties: no panic; a page's data island always parses as JSON (no
//! input can close its `<script>` early); the Perfetto output is JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut trace = tracekit_view::TraceData::default();
    if tracekit_view::read_otlp_json(data, &mut trace).is_err() {
        return;
    }
    let html = tracekit_view::render_html(&trace, "fuzz");
    let island = html
        .split_once("id=\"trace-data\">")
        .map(|(_, rest)| rest)
        .expect("the data island");
    let end = island.find("</script>").expect("the island ends");
    serde_json::from_str::<serde_json::Value>(&island[..end]).expect("the island is JSON");
    serde_json::from_str::<serde_json::Value>(&tracekit_view::render_perfetto(&trace))
        .expect("Perfetto JSON");
});
