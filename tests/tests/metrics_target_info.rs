//! The process's resource in the Prometheus text: one `target_info` series
//! whose labels are the resource attributes, as OpenTelemetry's Prometheus
//! exporters write it, from the environment or set in code.

use tracekit::metrics::{self, Prometheus};

/// The `target_info` sample lines of `text`.
fn info_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("target_info"))
        .collect()
}

#[test]
fn the_text_names_its_target_once() {
    metrics::set_enabled(true);
    let text = metrics::prometheus_text();
    let lines = info_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].ends_with("} 1"), "{}", lines[0]);
    for label in [
        "service_name=\"",
        "telemetry_sdk_language=\"rust\"",
        "telemetry_sdk_name=\"tracekit\"",
    ] {
        assert!(lines[0].contains(label), "no {label} in {}", lines[0]);
    }
    assert!(text.contains("# TYPE target_info gauge\n"), "{text}");
    // The other series carry none of the resource.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with("target_info"))
            .all(|l| !l.contains("service_name=")),
        "{text}"
    );
}

#[test]
fn target_info_set_in_code_or_left_out() {
    let snapshot = metrics::snapshot();
    let text = Prometheus::new()
        .target_info([
            ("service.name", "pay\"ments"),
            ("k8s.pod.name", "pay-7f"),
            ("2fa", "on"),
        ])
        .render(&snapshot);
    assert_eq!(
        info_lines(&text),
        ["target_info{k8s_pod_name=\"pay-7f\",key_2fa=\"on\",service_name=\"pay\\\"ments\"} 1"]
    );
    let none = Prometheus::new()
        .target_info(Vec::<(String, String)>::new())
        .render(&snapshot);
    assert!(info_lines(&none).is_empty(), "{none}");
    // (This file's own functions have `target_info` in their namespace.)
    assert!(
        !none.contains("# TYPE target_info"),
        "no family without a series"
    );
}

const CHILD: &str = "TRACEKIT_TARGET_INFO_CHILD";

#[test]
#[ignore = "run by from_the_environment_in_a_process_of_its_own"]
fn target_info_child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    // Two scrapes: the environment is read, and a bad entry said, once;
    // and once for all readers: two OTLP exporters' resources read it too.
    for _ in 0..2 {
        let text = metrics::prometheus_text();
        println!("INFO {}", info_lines(&text).join(" | "));
        let resource = tracekit_otlp::Resource::from_env();
        println!("OTLP {}", resource.service_name());
    }
}

/// The child's two scrapes' `target_info` lines and its stderr, under
/// `OTEL_SERVICE_NAME=billing` and `attributes`.
fn child_scrapes(attributes: &str) -> (Vec<String>, String) {
    let out = tracekit_tests::child_test("target_info_child")
        .arg("--ignored")
        .env(CHILD, "1")
        .env("OTEL_SERVICE_NAME", "billing")
        .env("OTEL_RESOURCE_ATTRIBUTES", attributes)
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}{stderr}");
    let scrapes: Vec<String> = stdout
        .lines()
        // The harness's "test ... " may open the first line.
        .filter_map(|l| l.split_once("INFO ").map(|(_, info)| info.to_owned()))
        .collect();
    assert_eq!(scrapes.len(), 2, "{stdout}");
    assert_eq!(scrapes[0], scrapes[1]);
    (scrapes, stderr)
}

#[test]
fn from_the_environment_in_a_process_of_its_own() {
    let (scrapes, _) =
        child_scrapes("service.name=not-this,deployment.environment=prod,team=a%20b");
    for label in [
        "deployment_environment=\"prod\"",
        "service_name=\"billing\"",
        "team=\"a b\"",
    ] {
        assert!(scrapes[0].contains(label), "no {label} in {}", scrapes[0]);
    }
    assert!(!scrapes[0].contains("not-this"));
    // A malformed entry discards the whole list (OpenTelemetry's resource
    // rules): the name is OTEL_SERVICE_NAME's, nothing of the list is left,
    // and the warning is said once for both scrapes.
    let (scrapes, stderr) =
        child_scrapes("service.name=not-this,deployment.environment=prod,broken,team=a%20b");
    assert!(
        scrapes[0].contains("service_name=\"billing\""),
        "{}",
        scrapes[0]
    );
    for gone in ["deployment_environment", "team", "not-this", "broken"] {
        assert!(!scrapes[0].contains(gone), "{gone} in {}", scrapes[0]);
    }
    assert_eq!(
        stderr
            .matches("\"broken\" is not key=value; the whole value is discarded")
            .count(),
        1,
        "said once, for Prometheus and OTLP alike: {stderr}"
    );
}

#[tracekit::trace_fn]
fn scoped() {}

#[test]
fn every_series_but_target_info_names_the_scope_unless_told_not_to() {
    metrics::set_enabled(true);
    scoped();
    let client = tracekit::http::client_span("GET", "http://scope.example/x", &mut Vec::new());
    drop(client);
    let snapshot = metrics::snapshot();
    let samples = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("target_info"))
            .map(str::to_owned)
            .collect()
    };
    let text = Prometheus::new().render(&snapshot);
    let scope = tracekit_tests::SCOPE_LABELS;
    if tracekit::TRACE_ALL {
        // A function's series and a request's, each with the scope last
        // among its own labels (before a bucket's `le`).
        for family in [
            "tracekit_function_duration_seconds_count{code_function_name=\"metrics_target_info::scoped\"",
            "tracekit_function_errors_total{code_function_name=\"metrics_target_info::scoped\"",
            "http_client_request_duration_seconds_count{",
        ] {
            assert!(
                samples(&text).iter().any(|l| l.starts_with(family)),
                "no {family} in\n{text}"
            );
        }
    }
    for line in samples(&text) {
        assert!(
            line.contains(&format!("{scope}}}")) || line.contains(&format!("{scope},le=")),
            "{line}"
        );
    }
    assert!(!info_lines(&text)[0].contains("otel_scope"), "{text}");
    // Without them: the same text, the scope's labels taken out.
    let bare = Prometheus::new().scope_info(false).render(&snapshot);
    let stripped = text
        .replace(&format!(",{scope}"), "")
        .replace(&format!("{{{scope},"), "{")
        .replace(&format!("{{{scope}}}"), "{}");
    assert_eq!(bare, stripped);
}
