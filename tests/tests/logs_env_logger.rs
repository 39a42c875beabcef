//! `tracekit-log` around a real third-party logger: `env_logger` with its
//! own default format (which prints key-values) and with tracekit's format.

use tracekit_tests::SharedBuffer;

#[test]
fn env_logger_prints_the_ids_in_its_own_format() {
    let pipe = SharedBuffer::default();
    let inner = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(pipe.clone())))
        .build();
    tracekit_log::TraceLogger::new(inner)
        .install(log::LevelFilter::Info)
        .unwrap();

    log::info!("outside");
    let span = tracekit::start_active_span("request");
    span.set_baggage_item("request.id", "r-5");
    log::info!("inside");
    let cx = span.context();
    drop(span);
    log::logger().flush();

    let out = pipe.text();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with("outside"), "{out}");
    match cx {
        Some(cx) => {
            assert!(lines[1].contains("inside"), "{out}");
            assert!(
                lines[1].contains(&format!("trace_id={}", cx.trace_id())),
                "{out}"
            );
            assert!(
                lines[1].contains(&format!("span_id={}", cx.span_id())),
                "{out}"
            );
            assert!(lines[1].contains("request.id=r-5"), "{out}");
        }
        None => assert!(lines[1].ends_with("inside"), "{out}"),
    }
}
