//! The OTLP exporter against a backend that misbehaves on loopback: resets
//! mid-body, closes without an answer, trickles its answer byte by byte,
//! hangs past the per-request timeout, or is killed and restarted. What must
//! hold: the application never waits, every span is exported or counted as
//! dropped, and export resumes once the backend is back.

use prost::Message;
use std::time::{Duration, Instant};
use tracekit::{BatchConfig, Exporter, Reporter, Span, SpanBatch, SpanRecord};
use tracekit_otlp::{OtlpConfig, OtlpExporter, Resource, proto};
use tracekit_tests::stub::{Fault, Reply, Stub};

fn spans(n: usize) -> Vec<SpanRecord> {
    let ((), c) = tracekit::testing::capture(|| {
        for i in 0..n {
            Span::start("work").set_tag("i", i);
        }
    });
    c.spans().to_vec()
}

fn arrived(stub: &Stub) -> usize {
    stub.received()
        .iter()
        .map(|r| {
            let req = proto::ExportTraceServiceRequest::decode(&r.body[..]).expect("OTLP");
            req.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum::<usize>()
        })
        .sum()
}

fn config(stub: &Stub, request_timeout: Duration, export_timeout: Duration) -> OtlpConfig {
    let mut c = OtlpConfig::new(&stub.url(), Resource::new("faults"));
    c.timeout = request_timeout;
    c.batch = BatchConfig {
        max_queue_size: 2048,
        max_export_batch_size: 50,
        scheduled_delay: Duration::from_millis(20),
        export_timeout,
    };
    c
}

/// With trace-all off nothing is recorded, so a faulty backend sees nothing.
fn off_sends_nothing() {
    let stub = Stub::start([Reply::fault(Fault::ResetMidBody)]);
    let mut r = tracekit_otlp::reporter(config(
        &stub,
        Duration::from_millis(300),
        Duration::from_secs(2),
    ));
    let batch = spans(100);
    assert!(batch.is_empty());
    r.report(SpanBatch::from(batch));
    r.flush();
    drop(r);
    assert!(stub.received().is_empty());
}

#[test]
fn each_request_is_cut_off_at_the_per_request_timeout_not_the_export_timeout() {
    if !tracekit::TRACE_ALL {
        return off_sends_nothing();
    }
    // Every answer would come after 10 s.
    let stub = Stub::start([]);
    stub.reply_always(Reply::status(200).delay(Duration::from_secs(10)));
    let per_request = Duration::from_millis(300);
    let c = config(&stub, per_request, Duration::from_secs(30));
    let started = Instant::now();
    let err = OtlpExporter::new(&c)
        .export(spans(3), started + Duration::from_millis(2_500))
        .expect_err("no answer within the deadline");
    let took = started.elapsed();
    let got = stub.received();
    // Had a request waited for the whole export deadline, there would be one.
    assert!(got.len() >= 3, "{} requests in {took:?}: {err}", got.len());
    // Each try ends at the per-request timeout, then waits a backoff of at
    // most 5 s (the first ones 50–100 ms) before the next.
    // (The stub stamps a request when its own thread has read it: up to
    // the backoff, plus 50 ms of slack, late for the first.)
    let gap = got[1].at - got[0].at;
    assert!(
        gap + Duration::from_millis(50) >= per_request,
        "a request ended before its timeout: {gap:?}"
    );
    assert!(gap < per_request + Duration::from_millis(900), "{gap:?}");
    // The error names the endpoint and why it stopped, and comes by the
    // deadline, not after a 10 s answer: at the deadline, or earlier when
    // the next backoff would pass it (so the tries' own time is the floor).
    let text = err.to_string();
    assert!(
        text.contains(&stub.url()) || text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("timeout") || text.contains("timed out"),
        "{text}"
    );
    assert!(took >= per_request * got.len() as u32, "{took:?}");
    assert!(took < Duration::from_millis(3_500), "{took:?}");
}

/// Reports `n` spans through a reporter for `config`, flushes and drops it:
/// what it counted, each span accounted for.
fn export_once(config: OtlpConfig, n: usize) -> tracekit::ExportSnapshot {
    let mut r = tracekit_otlp::reporter(config);
    let stats = r.stats();
    let batch = spans(n);
    let reported = batch.len() as u64;
    r.report(SpanBatch::from(batch));
    r.flush();
    drop(r);
    let s = stats.snapshot();
    assert_every_span_counted(&s, reported);
    s
}

/// Every span reported was queued or dropped at the queue, and every span
/// queued was exported, rejected by the backend, or dropped after failed
/// exports: none vanished.
fn assert_every_span_counted(s: &tracekit::ExportSnapshot, reported: u64) {
    assert_eq!(
        s.spans_queued + s.spans_dropped_queue_full,
        reported,
        "{s:?}"
    );
    assert_eq!(
        s.spans_exported + s.spans_rejected + s.spans_dropped_export_failed,
        s.spans_queued,
        "every queued span exported, rejected by the backend, or counted: {s:?}"
    );
}

/// Runs a BatchReporter into `stub` with `faults` scripted first: 1,000
/// spans reported in 20 batches. Returns (reported, exported, dropped).
fn through(stub: &Stub) -> (u64, u64, u64) {
    let mut r = tracekit_otlp::reporter(config(
        stub,
        Duration::from_millis(300),
        Duration::from_secs(4),
    ));
    let stats = r.stats();
    let mut reported = 0;
    let started = Instant::now();
    for _ in 0..20 {
        let batch = spans(50);
        reported += batch.len() as u64;
        r.report(SpanBatch::from(batch));
        std::thread::sleep(Duration::from_millis(5));
    }
    // The application never waits for the backend: a liveness bound far
    // above the 100 ms of sleeps, far below one faulty export.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(r); // shut down: everything, by one deadline
    let s = stats.snapshot();
    assert_every_span_counted(&s, reported);
    (
        reported,
        s.spans_exported,
        s.spans_dropped_export_failed + s.spans_dropped_queue_full,
    )
}

#[test]
fn resets_mid_body_are_retried_and_nothing_is_lost() {
    if !tracekit::TRACE_ALL {
        return off_sends_nothing();
    }
    let stub = Stub::start((0..3).map(|_| Reply::fault(Fault::ResetMidBody)));
    let (reported, exported, dropped) = through(&stub);
    assert_eq!(stub.script_left(), 0, "every fault was served");
    assert_eq!(
        (exported, dropped),
        (reported, 0),
        "retried after each reset"
    );
    assert_eq!(arrived(&stub) as u64, reported);
}

#[test]
fn a_close_without_an_answer_is_retried_and_nothing_is_lost() {
    if !tracekit::TRACE_ALL {
        return off_sends_nothing();
    }
    let stub = Stub::start((0..3).map(|_| Reply::fault(Fault::CloseWithoutAnswer)));
    let (reported, exported, dropped) = through(&stub);
    assert_eq!(stub.script_left(), 0, "every fault was served");
    assert_eq!((exported, dropped), (reported, 0));
    // The batches that got no answer were sent again: at least as many
    // arrived as were reported.
    assert!(arrived(&stub) as u64 >= reported);
}

#[test]
fn an_answer_trickled_byte_by_byte_is_cut_off_and_retried() {
    if !tracekit::TRACE_ALL {
        return off_sends_nothing();
    }
    // 40 bytes of head, one every 50 ms: 2 s, past the 300 ms per request.
    let stub = Stub::start((0..2).map(|_| Reply::fault(Fault::Trickle(Duration::from_millis(50)))));
    let (reported, exported, dropped) = through(&stub);
    assert_eq!(stub.script_left(), 0, "every fault was served");
    assert_eq!((exported, dropped), (reported, 0));
}

#[test]
fn a_backend_killed_and_restarted_loses_only_what_is_counted_and_export_resumes() {
    if !tracekit::TRACE_ALL {
        return off_sends_nothing();
    }
    let stub = Stub::start([]);
    let addr = stub.addr;
    let mut r = tracekit_otlp::reporter(config(
        &stub,
        Duration::from_millis(300),
        Duration::from_millis(800),
    ));
    let stats = r.stats();
    let mut reported = 0u64;
    let mut report = |r: &mut tracekit::BatchReporter, n| {
        let batch = spans(n);
        reported += batch.len() as u64;
        let started = Instant::now();
        r.report(SpanBatch::from(batch));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "report waited"
        );
    };
    report(&mut r, 100);
    r.flush();
    assert_eq!(arrived(&stub), 100, "before the kill");

    stub.stop();
    for _ in 0..5 {
        report(&mut r, 20);
    }
    r.flush(); // bounded by the export timeout: the backend is down
    let down = stats.snapshot();
    assert!(down.export_errors >= 1, "{down:?}");

    let again = Stub::start_at(addr, []);
    for _ in 0..5 {
        report(&mut r, 20);
    }
    r.flush();
    drop(r);
    let s = stats.snapshot();
    assert!(
        arrived(&again) >= 100,
        "export resumed: {} spans after the restart",
        arrived(&again)
    );
    assert_every_span_counted(&s, reported);
    assert_eq!(
        s.spans_exported as usize,
        arrived(&stub) + arrived(&again),
        "what was counted exported is what arrived"
    );
}

/// A backend that accepts a request but rejects some of its spans (an OTLP
/// partial success, in protobuf and in JSON): the batch is not retried, and
/// the rejected spans are counted apart from the exported ones, so none is
/// lost without a count.
#[test]
fn a_partial_success_counts_the_rejected_spans() {
    for json in [false, true] {
        let body = if json {
            br#"{"partialSuccess":{"rejectedSpans":"7","errorMessage":"too old"}}"#.to_vec()
        } else {
            proto::ExportTraceServiceResponse {
                partial_success: Some(proto::ExportTracePartialSuccess {
                    rejected_spans: 7,
                    error_message: "too old".into(),
                }),
            }
            .encode_to_vec()
        };
        let content_type = if json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let stub = Stub::start([]);
        stub.reply_always(
            Reply::status(200)
                .header("Content-Type", content_type)
                .body(body),
        );
        let mut c = config(&stub, Duration::from_millis(300), Duration::from_secs(4));
        if json {
            c.protocol = tracekit_otlp::Protocol::HttpJson;
        }
        let s = export_once(c, 50);
        if !tracekit::TRACE_ALL {
            assert!(stub.received().is_empty());
            continue;
        }
        assert_eq!(stub.received().len(), 1, "accepted: not retried");
        assert_eq!(s.spans_rejected, 7, "{s:?}");
        assert_eq!(s.spans_exported, 43, "{s:?}");
        assert_eq!(s.export_errors, 0, "{s:?}");
    }
}

/// An answer past 64 KiB is discarded unread and the export counted as
/// failed, not retried (the OTLP specification: a non-retryable error);
/// it had been taken as a clean success, any partial success in it unread.
#[test]
fn an_oversized_answer_is_a_failed_export_not_retried() {
    let stub = Stub::start([]);
    stub.reply_always(
        Reply::status(200)
            .header("Content-Type", "application/x-protobuf")
            .body(vec![0u8; 70 * 1024]),
    );
    let c = config(&stub, Duration::from_millis(300), Duration::from_secs(4));
    let s = export_once(c, 20);
    if !tracekit::TRACE_ALL {
        return;
    }
    assert_eq!(stub.received().len(), 1, "not retried");
    assert_eq!((s.spans_exported, s.export_errors), (0, 1), "{s:?}");
}

/// A header the HTTP client refuses to send (a control character, decoded
/// from `%0A` in `OTEL_EXPORTER_OTLP_HEADERS`) can never work: the export
/// fails at once. It had been retried with backoff for the whole export
/// timeout (30 s here), every export, and at shutdown.
#[test]
fn a_header_that_cannot_be_sent_fails_the_export_at_once() {
    let stub = Stub::start([]);
    let mut c = config(&stub, Duration::from_millis(300), Duration::from_secs(30));
    c.headers = vec![("authorization".to_owned(), "Bearer s3cret\n".to_owned())];
    let _ = tracekit::set_diagnostics(Collect);
    let started = Instant::now();
    let s = export_once(c, 20);
    let took = started.elapsed();
    if !tracekit::TRACE_ALL {
        return;
    }
    assert!(stub.received().is_empty());
    assert_eq!(s.export_errors, 1, "{s:?}");
    assert!(took < Duration::from_secs(15), "retried for {took:?}");
    // Said by the header's name, never its value (a credential).
    let said = SAID.lock().unwrap().clone();
    assert!(said.iter().all(|m| !m.contains("s3cret")), "{said:?}");
    assert!(
        said.iter().any(|m| m.contains("\"authorization\"")),
        "{said:?}"
    );
}

/// What tracekit said (this binary's one sink).
static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct Collect;

impl tracekit::Diagnostics for Collect {
    fn enabled(&self, _: tracekit::DiagnosticLevel) -> bool {
        true
    }

    fn message(&self, _: tracekit::DiagnosticLevel, message: &std::fmt::Arguments<'_>) {
        SAID.lock().unwrap().push(message.to_string());
    }
}
