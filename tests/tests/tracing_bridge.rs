//! `tracing` inside tracekit traces (`tracekit-tracing`): the spans and
//! events of `tracing`-instrumented code become tracekit spans and events,
//! nested both ways; tracing-subscriber's fmt lines carry the ids.
#![cfg(feature = "trace-all")]

use tracekit::testing::capture;
use tracekit::{SpanKind, Value, trace_fn};
use tracekit_tests::SharedBuffer;
use tracekit_tracing::{TracekitLayer, WithTraceIds};
use tracing::subscriber::with_default;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

fn bridged() -> impl tracing::Subscriber {
    tracing_subscriber::registry().with(TracekitLayer::new())
}

#[trace_fn]
fn load(id: u64) -> u64 {
    tracing::warn!(id, "cache miss");
    id
}

#[test]
fn spans_nest_both_ways_with_typed_fields_level_and_target() {
    let ((), c) = capture(|| {
        with_default(bridged(), || {
            let _request = tracekit::start_active_span("request");
            let pool = tracing::info_span!(
                "pool.get",
                size = 8_u64,
                name = "main",
                ratio = 0.5,
                warm = true,
                pending = tracing::field::Empty
            );
            pool.in_scope(|| {
                load(7);
            });
            pool.record("pending", 3_i64);
            drop(pool);
        })
    });
    assert_eq!(c.tree(), "request\n  pool.get\n    load\n");
    let pool = c.span("pool.get");
    assert_eq!(pool.parent_id(), Some(c.span("request").span_id()));
    assert_eq!(c.span("load").parent_id(), Some(pool.span_id()));
    assert_eq!(pool.tag("size"), Some(&Value::U64(8)));
    assert_eq!(pool.tag("name"), Some(&Value::from("main")));
    assert_eq!(pool.tag("ratio"), Some(&Value::F64(0.5)));
    assert_eq!(pool.tag("warm"), Some(&Value::Bool(true)));
    assert_eq!(pool.tag("pending"), Some(&Value::I64(3)), "recorded later");
    assert_eq!(pool.tag("level"), Some(&Value::from("INFO")));
    assert_eq!(pool.tag("target"), Some(&Value::from("tracing_bridge")));
    // The warning inside `load` is an event of `load`, the innermost span.
    assert!(pool.events().is_empty());
    assert_eq!(c.span("load").events()[0].name(), "cache miss");
    assert_eq!(c.span("load").events()[0].field("id"), Some(&Value::U64(7)));
}

#[test]
fn explicit_parents_roots_names_kinds_statuses_and_links() {
    let ((), c) = capture(|| {
        with_default(bridged(), || {
            let _request = tracekit::start_active_span("request");
            let outer = tracing::info_span!("outer");
            let detached = tracing::info_span!(parent: &outer, "explicit");
            let root = tracing::info_span!(parent: None, "own root");
            let call = tracing::info_span!(
                "raw name",
                otel.name = "GET /users",
                otel.kind = "client",
                otel.status_code = "ERROR",
                otel.status_message = "refused"
            );
            call.follows_from(&outer);
            drop((detached, root, call, outer));
        })
    });
    let (outer, explicit) = (c.span("outer"), c.span("explicit"));
    assert_eq!(explicit.parent_id(), Some(outer.span_id()));
    assert_eq!(c.span("own root").parent_id(), None);
    assert_ne!(c.span("own root").trace_id(), outer.trace_id());
    let call = c.span("GET /users");
    assert_eq!(call.kind(), SpanKind::Client);
    assert!(call.is_error());
    assert_eq!(call.links()[0].span_id(), outer.span_id());
}

#[test]
fn events_become_span_events_at_the_chosen_level() {
    let run = |layer: TracekitLayer| {
        capture(|| {
            with_default(tracing_subscriber::registry().with(layer), || {
                let span = tracing::info_span!("work");
                let _in = span.enter();
                tracing::debug!("detail");
                tracing::info!(rows = 3_u64, "done");
                tracing::error!(error = "boom", "failed");
            })
        })
        .1
    };
    let default = run(TracekitLayer::new());
    let names: Vec<&str> = default
        .span("work")
        .events()
        .iter()
        .map(|e| e.name())
        .collect();
    assert_eq!(names, ["failed"]);
    let e = &default.span("work").events()[0];
    assert_eq!(e.field("level"), Some(&Value::from("ERROR")));
    assert_eq!(e.field("target"), Some(&Value::from("tracing_bridge")));
    assert_eq!(e.field("error"), Some(&Value::from("boom")));
    let verbose = run(TracekitLayer::new().event_level(tracing::Level::DEBUG));
    let names: Vec<&str> = verbose
        .span("work")
        .events()
        .iter()
        .map(|e| e.name())
        .collect();
    assert_eq!(names, ["detail", "done", "failed"]);
    assert_eq!(
        verbose.span("work").events()[1].field("rows"),
        Some(&Value::U64(3))
    );
    let none = run(TracekitLayer::new().event_level(tracing::level_filters::LevelFilter::OFF));
    assert!(none.span("work").events().is_empty());
}

#[test]
fn event_limit_holds_for_tracing_events() {
    let ((), c) = capture(|| {
        with_default(bridged(), || {
            tracing::info_span!("loop").in_scope(|| {
                for i in 0..300_u64 {
                    tracing::warn!(i, "again");
                }
            })
        })
    });
    assert_eq!(c.span("loop").events().len(), tracekit::EVENT_LIMIT);
    assert_eq!(
        c.span("loop").dropped_events(),
        300 - tracekit::EVENT_LIMIT as u32
    );
}

#[test]
fn an_env_filter_on_the_layer_chooses_what_is_bridged() {
    let ((), c) = capture(|| {
        let layer =
            TracekitLayer::new().with_filter(tracing_subscriber::EnvFilter::new("wanted=info"));
        with_default(tracing_subscriber::registry().with(layer), || {
            let _request = tracekit::start_active_span("request");
            tracing::info_span!(target: "noisy", "skipped").in_scope(|| {
                tracing::info_span!(target: "wanted", "kept").in_scope(|| {
                    tracing::debug_span!(target: "wanted", "too verbose").in_scope(|| {
                        let _leaf = tracekit::start_active_span("leaf");
                    })
                })
            })
        })
    });
    assert_eq!(c.tree(), "request\n  kept\n    leaf\n");
}

#[test]
fn instrumented_futures_carry_the_bridged_span_across_awaits() {
    use tracing::Instrument;

    #[trace_fn]
    async fn fetch(n: u64) -> u64 {
        tokio::task::yield_now().await;
        n
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), c) = capture(|| {
        with_default(bridged(), || {
            rt.block_on(async {
                let a = async {
                    fetch(1).await;
                    tokio::task::yield_now().await;
                    fetch(2).await;
                }
                .instrument(tracing::info_span!("a"));
                let b = async { fetch(3).await }.instrument(tracing::info_span!("b"));
                tokio::join!(a, b);
            })
        })
    });
    let (a, b) = (c.span("a"), c.span("b"));
    for f in c.spans_named("fetch") {
        let n = f.tag("n").unwrap().to_string();
        let parent = if n == "3" { b } else { a };
        assert_eq!(f.parent_id(), Some(parent.span_id()), "fetch({n})");
    }
    assert_eq!(c.spans_named("fetch").len(), 3);
}

#[test]
fn fmt_lines_carry_the_ids_in_text_and_json() {
    use tracing_subscriber::fmt::format;
    let (text, json) = (SharedBuffer::default(), SharedBuffer::default());
    let text_out = text.clone();
    let json_out = json.clone();
    let subscriber = tracing_subscriber::registry()
        .with(TracekitLayer::new())
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(WithTraceIds::new(format().with_ansi(false)))
                .with_writer(move || text_out.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(WithTraceIds::new(format().json()))
                .with_writer(move || json_out.clone()),
        );
    let mut ids = None;
    with_default(subscriber, || {
        tracing::info!("outside");
        let request = tracekit::start_active_span("request");
        request.set_baggage_item("request.id", "r \"9\"");
        tracing::info!(user = "ann", "inside a tracekit span");
        tracing::info_span!("db").in_scope(|| {
            let cx = tracekit::current_span().context().unwrap();
            ids = Some((cx.trace_id().to_string(), cx.span_id().to_string()));
            tracing::info!("inside a tracing span");
        });
    });
    let (trace_id, db_span) = ids.unwrap();

    let text = text.lines();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text[0].ends_with("outside"), "{}", text[0]);
    assert!(
        text[1].contains(&format!("trace_id={trace_id}")),
        "{}",
        text[1]
    );
    assert!(text[1].ends_with(r#"request.id="r \"9\"""#), "{}", text[1]);
    assert!(
        text[2].contains(&format!("span_id={db_span}")),
        "{}",
        text[2]
    );

    let json: Vec<serde_json::Value> = json
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(json[0].get("trace_id").is_none());
    assert_eq!(json[1]["trace_id"], trace_id.as_str());
    assert_eq!(json[1]["request.id"], "r \"9\"");
    assert_eq!(json[1]["fields"]["user"], "ann");
    assert_eq!(json[2]["span_id"], db_span.as_str());
}

// ---- a real library: tower-http's TraceLayer on an axum app ---------------

#[trace_fn]
async fn find_user(id: u64) -> String {
    tokio::task::yield_now().await;
    format!("user {id}")
}

async fn user(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    find_user(id).await
}

async fn server_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracekit::FutureExt;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
        .collect();
    let method = request.method().to_string();
    let span = tracekit::http::server_span(&method, route.as_deref().unwrap_or("?"), &headers);
    next.run(request).in_span(span).await
}

#[test]
fn tower_http_spans_land_inside_the_tracekit_server_span() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(
        TracekitLayer::new()
            .event_level(tracing::Level::DEBUG)
            .with_filter(tracing_subscriber::EnvFilter::new("tower_http=debug")),
    );
    let (reply, c) = capture(|| {
        with_default(subscriber, || {
            rt.block_on(async {
                let app = axum::Router::new()
                    .route("/users/{id}", axum::routing::get(user))
                    .layer(tower_http::trace::TraceLayer::new_for_http())
                    .layer(axum::middleware::from_fn(server_span));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move { axum::serve(listener, app).await });
                let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
                conn.write_all(b"GET /users/7 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut reply = String::new();
                conn.read_to_string(&mut reply).await.unwrap();
                server.abort();
                reply
            })
        })
    });
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.ends_with("user 7"),
        "{reply}"
    );
    assert_eq!(c.tree(), "GET /users/{id}\n  request\n    find_user\n");
    let (server, request) = (c.span("GET /users/{id}"), c.span("request"));
    assert_eq!(request.parent_id(), Some(server.span_id()));
    assert_eq!(c.span("find_user").parent_id(), Some(request.span_id()));
    assert_eq!(request.tag("method"), Some(&Value::from("GET")));
    assert_eq!(request.tag("uri"), Some(&Value::from("/users/7")));
    assert_eq!(
        request.tag("target"),
        Some(&Value::from("tower_http::trace::make_span"))
    );
    let events: Vec<&str> = request.events().iter().map(|e| e.name()).collect();
    assert!(
        events.contains(&"finished processing request"),
        "{events:?}"
    );
}
