//! The viewer as a user runs it: spans exported by `FileExporter`, read by
//! the CLI into a page or a Perfetto trace; and every bad input it can meet.

use std::path::PathBuf;
use std::process::{Command, Output};
use tracekit_view::{TraceData, read_otlp_json};

/// The reporter is global: tests that install one take turns.
static REPORTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tracekit-view-{}-{name}", std::process::id()))
}

fn view(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracekit-view"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

/// The JSON island of a page, as the page's script reads it.
fn page_json(html: &str) -> serde_json::Value {
    let start = html.find("id=\"trace-data\">").expect("data island") + "id=\"trace-data\">".len();
    let end = start + html[start..].find("</script>").expect("island end");
    serde_json::from_str(&html[start..end]).expect("valid JSON")
}

/// Real spans of this process, exported the way a service would.
fn export_sample(path: &PathBuf) -> Vec<tracekit::SpanRecord> {
    let _turn = REPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let file = tracekit_otlp::FileExporter::create(path, tracekit_otlp::Resource::new("checkout"))
        .expect("file");
    let memory = tracekit::InMemoryReporter::new();
    {
        let _guard = tracekit::set_reporter((
            tracekit::BatchReporter::new(file, Default::default()),
            memory.clone(),
        ));
        let root = tracekit::start_active_span("GET /cart");
        root.set_tag("http.route", "/cart");
        {
            let mut db = tracekit::Span::start("db.query");
            db.set_tag("db.statement", "select 1");
            db.add_event("retry", [("attempt", 2)]);
            db.set_status(tracekit::Status::Error {
                description: "timeout".into(),
            });
        }
        drop(tracekit::Span::start("<script>window.__pwned=1</script>"));
    }
    memory.spans()
}

#[test]
fn a_file_exporter_file_becomes_a_page_with_every_span() {
    let input = tmp("sample.jsonl");
    let out = tmp("sample.html");
    let records = export_sample(&input);
    let o = view(&[input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    if !cfg!(feature = "trace-all") {
        // Nothing was recorded, so nothing was exported: the CLI says so.
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("empty"));
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    let data = page_json(&html);
    let spans = data["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    let db = spans.iter().find(|s| s[3] == "db.query").unwrap();
    let root = spans.iter().find(|s| s[3] == "GET /cart").unwrap();
    assert_eq!(db[2], root[1], "the parent link survives");
    assert_eq!(db[7], 2, "error status");
    assert_eq!(db[8], "timeout");
    assert_eq!(db[10][0][1], "retry");
    assert_eq!(data["services"][0], "checkout");
    // Escaping: the hostile name is data, never markup.
    assert!(!html.contains("<script>window.__pwned"));
    assert!(
        spans
            .iter()
            .any(|s| s[3] == "<script>window.__pwned=1</script>")
    );
    // The reporter's model and the file's agree span for span.
    let mut from_file = TraceData::default();
    read_otlp_json(&std::fs::read(&input).unwrap(), &mut from_file).unwrap();
    let direct = tracekit_view::from_records(&records, "checkout");
    for s in &direct.spans {
        let f = from_file
            .spans
            .iter()
            .find(|f| f.span_id == s.span_id)
            .expect("every span in the file");
        assert_eq!(
            (
                &f.trace_id,
                &f.parent_id,
                &f.name,
                f.kind,
                f.start,
                f.end,
                f.status
            ),
            (
                &s.trace_id,
                &s.parent_id,
                &s.name,
                s.kind,
                s.start,
                s.end,
                s.status
            )
        );
        for a in &s.attrs {
            assert!(f.attrs.contains(a), "{a:?} in {:?}", f.attrs);
        }
        assert_eq!(f.events, s.events);
    }
    let _ = std::fs::remove_file(input);
    let _ = std::fs::remove_file(out);
}

#[test]
fn perfetto_output_is_nested_per_lane() {
    let input = tmp("perfetto.jsonl");
    let out = tmp("perfetto.json");
    export_sample(&input);
    let o = view(&[
        input.to_str().unwrap(),
        "--format",
        "perfetto",
        "-o",
        out.to_str().unwrap(),
    ]);
    if !cfg!(feature = "trace-all") {
        assert_eq!(
            o.status.code(),
            Some(1),
            "nothing recorded, nothing to show"
        );
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    let want = if cfg!(feature = "trace-all") { 3 } else { 0 };
    assert_eq!(complete.len(), want);
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["args"]["name"] == "checkout")
            || want == 0
    );
    // On each (pid, tid), complete events nest: none ends inside another
    // after starting inside it.
    for a in &complete {
        for b in &complete {
            if a == b || a["tid"] != b["tid"] || a["pid"] != b["pid"] {
                continue;
            }
            let (s1, e1) = (
                a["ts"].as_f64().unwrap(),
                a["ts"].as_f64().unwrap() + a["dur"].as_f64().unwrap(),
            );
            let (s2, e2) = (
                b["ts"].as_f64().unwrap(),
                b["ts"].as_f64().unwrap() + b["dur"].as_f64().unwrap(),
            );
            let overlap_partial = s1 < s2 && s2 < e1 && e1 < e2;
            assert!(!overlap_partial, "{a} and {b} cross on one lane");
        }
    }
    if want > 0 {
        let db = complete.iter().find(|e| e["name"] == "db.query").unwrap();
        assert_eq!(db["args"]["error"], true);
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "i" && e["name"] == "retry")
        );
    }
}

#[test]
fn a_span_read_twice_is_shown_once_in_perfetto_too() {
    let input = tmp("twice.jsonl");
    let out = tmp("twice.json");
    export_sample(&input);
    let i = input.to_str().unwrap();
    let o = view(&[i, i, "--format", "perfetto", "-o", out.to_str().unwrap()]);
    if !cfg!(feature = "trace-all") {
        assert_eq!(o.status.code(), Some(1));
        return;
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let complete = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count();
    assert_eq!(complete, 3, "each of the three spans once");
}

#[test]
fn concurrent_children_get_lanes_of_their_own() {
    let line = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"spans":[
      {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001","name":"root","startTimeUnixNano":"1000","endTimeUnixNano":"10000"},
      {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000002","parentSpanId":"0000000000000001","name":"a","startTimeUnixNano":"2000","endTimeUnixNano":"6000"},
      {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000003","parentSpanId":"0000000000000001","name":"b","startTimeUnixNano":"3000","endTimeUnixNano":"8000"}]}]}]}"#;
    let mut data = TraceData::default();
    read_otlp_json(line.as_bytes(), &mut data).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&tracekit_view::render_perfetto(&data)).unwrap();
    let tid = |name: &str| {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["tid"]
            .clone()
    };
    assert_eq!(tid("root"), tid("a"));
    assert_ne!(tid("a"), tid("b"), "b overlaps a without nesting");
}

#[test]
fn a_malformed_line_is_named_with_its_number_and_skipped() {
    let input = tmp("bad-line.jsonl");
    let good = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"ok","startTimeUnixNano":"1","endTimeUnixNano":"2","someFutureField":{"x":1}}],"unknown":[]}]}],"extra":true}"#;
    let bad_id = good
        .replace("b7ad6b7169203331", "not-hex")
        .replace("\"ok\"", "\"bad id\"");
    std::fs::write(
        &input,
        format!("{good}\n{{not json\n\n{good}\n{{\"other\":1}}\n{bad_id}\n"),
    )
    .unwrap();
    let out = tmp("bad-line.html");
    let o = view(&[input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");
    assert!(stderr.contains("line 5: no resourceSpans"), "{stderr}");
    assert!(
        stderr.contains("line 6: span \"bad id\" has no valid spanId; skipped"),
        "{stderr}"
    );
    let data = page_json(&std::fs::read_to_string(&out).unwrap());
    // The same span twice (line 1 and 4): shown once, with a warning.
    assert_eq!(data["spans"].as_array().unwrap().len(), 1);
    let warnings = data["warnings"].to_string();
    assert!(
        warnings.contains("line 2") && warnings.contains("appears twice"),
        "{warnings}"
    );
}

#[test]
fn spans_without_a_start_are_skipped_and_unfinished_ones_said() {
    let span = |id: &str, name: &str, times: &str| {
        format!(
            r#"{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{id}","name":"{name}"{times}}}"#
        )
    };
    let line = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{},{}]}}]}}]}}"#,
        span(
            "b7ad6b7169203331",
            "parent",
            r#","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000""#
        ),
        span(
            "b7ad6b7169203332",
            "no start",
            r#","endTimeUnixNano":"1700000000050000000""#
        ),
        span(
            "b7ad6b7169203333",
            "open",
            r#","startTimeUnixNano":"1700000000010000000""#
        ),
    );
    let mut data = TraceData::default();
    read_otlp_json(line.as_bytes(), &mut data).unwrap();
    let names: Vec<&str> = data.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["parent", "open"]);
    let warnings = data.warnings.join("\n");
    assert!(
        warnings.contains("span \"no start\" has no valid startTimeUnixNano; skipped"),
        "{warnings}"
    );
    assert!(
        warnings.contains("span \"open\" has no valid endTimeUnixNano"),
        "{warnings}"
    );
    // The others keep their places: offsets from the earliest real start.
    let page = page_json(&tracekit_view::render_html(&data, "times"));
    assert_eq!(page["spans"][0][5], 0);
    assert_eq!(page["spans"][1][5], 10_000_000);
    // The open one is marked so (the functions view leaves it out).
    let unfinished: Vec<bool> = data.spans.iter().map(|s| s.unfinished).collect();
    assert_eq!(unfinished, [false, true]);
    assert_eq!(page["spans"][1][14], true);
}

#[test]
fn a_span_tracekit_marked_unfinished_is_unfinished() {
    let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"cut short","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"unfinished","value":{"boolValue":true}}]}]}]}]}"#;
    let mut data = TraceData::default();
    read_otlp_json(line.as_bytes(), &mut data).unwrap();
    assert!(data.spans[0].unfinished);
}

#[test]
fn a_span_whose_parent_is_missing_is_kept_as_a_root() {
    let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"orphan","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    let mut data = TraceData::default();
    read_otlp_json(line.as_bytes(), &mut data).unwrap();
    assert_eq!(data.spans[0].parent_id, "00f067aa0ba902b7");
    // The page marks it: see view/tests/browser/check_page.py (the orphan mark).
    let html = tracekit_view::render_html(&data, "orphan");
    assert_eq!(page_json(&html)["spans"][0][2], "00f067aa0ba902b7");
}

#[test]
fn empty_binary_spanless_and_missing_inputs_fail_with_exit_code_1() {
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty", b"", "empty"),
        ("blank", b"\n  \n", "empty"),
        ("binary", b"\x0a\x0b\x00\x01\xff protobuf", "binary"),
        ("no-spans", br#"{"resourceSpans":[]}"#, "no spans"),
        (
            "not-otlp",
            b"hello\nworld\n",
            "no line of the input is OTLP JSON",
        ),
    ];
    for (name, bytes, says) in cases {
        let input = tmp(name);
        std::fs::write(&input, bytes).unwrap();
        let o = view(&[
            input.to_str().unwrap(),
            "-o",
            tmp("never.html").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        let _ = std::fs::remove_file(input);
    }
    let o = view(&["/nonexistent/trace.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
    assert!(!tmp("never.html").exists());
}

#[test]
fn usage_errors_exit_with_2_and_say_what_is_wrong() {
    for (args, says) in [
        (&[][..], "no INPUT"),
        (&["x.jsonl", "--format", "svg"][..], "unknown format"),
        (&["x.jsonl", "--trace", "xyz"][..], "not a trace id"),
        (&["x.jsonl", "--bogus"][..], "unknown option"),
        (&["x.jsonl", "-o"][..], "needs a value"),
    ] {
        let o = view(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}"
        );
    }
}

#[test]
fn trace_picks_one_trace() {
    let two = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
      {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"first","startTimeUnixNano":"1","endTimeUnixNano":"2"},
      {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"second","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    let input = tmp("two.json");
    std::fs::write(&input, two).unwrap();
    let out = tmp("two.html");
    let o = view(&[
        input.to_str().unwrap(),
        "--trace",
        "4BF92F3577B34DA6A3CE929D0E0E4736",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let data = page_json(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(data["spans"].as_array().unwrap().len(), 1);
    assert_eq!(data["spans"][0][3], "second");
    let o = view(&[input.to_str().unwrap(), "--trace", &"1".repeat(32)]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_pretty_printed_document_with_enum_names_and_number_times_reads() {
    let doc = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{
          "scope": {"name": "my.lib", "version": "1.2"},
          "spans": [{
            "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": "call", "kind": "SPAN_KIND_CLIENT",
            "startTimeUnixNano": 1700000000000000000, "endTimeUnixNano": "1700000000000001000",
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
            "attributes": [
              {"key": "n", "value": {"intValue": "9007199254740993"}},
              {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 1}]}}}
            ]
          }]
        }]
      }]
    }"#;
    let mut data = TraceData::default();
    read_otlp_json(doc.as_bytes(), &mut data).unwrap();
    let s = &data.spans[0];
    assert_eq!((s.kind, s.status, s.end - s.start), (3, 2, 1000));
    assert_eq!(
        s.attrs[0].text, "9007199254740993",
        "64-bit integers stay exact"
    );
    assert_eq!(s.attrs[1].text, "[a, 1]");
    assert_eq!(data.scopes[s.scope].name, "my.lib");
}

#[test]
fn the_html_reporter_writes_the_page_when_its_guard_drops() {
    let path = tmp("reporter.html");
    let _turn = REPORTER.lock().unwrap_or_else(|e| e.into_inner());
    {
        let reporter = tracekit_view::HtmlReporter::to_file(&path)
            .unwrap()
            .with_service_name("quick");
        let _guard = tracekit::set_reporter(reporter);
        let _root = tracekit::start_active_span("job");
        drop(tracekit::Span::start("step"));
    }
    let html = std::fs::read_to_string(&path).unwrap();
    let data = page_json(&html);
    let names: Vec<_> = data["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[3].clone())
        .collect();
    if cfg!(feature = "trace-all") {
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(data["services"][0], "quick");
    } else {
        assert!(names.is_empty());
    }
    assert!(tracekit_view::HtmlReporter::to_file("/nonexistent/dir/x.html").is_err());
    let _ = std::fs::remove_file(path);
}
