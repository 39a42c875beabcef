//! Trace points past the limit of distinct series share one overflow
//! series, which carries `otel.metric.overflow=true` and nothing else (no
//! `error.type`), in the snapshot, the Prometheus text and OTLP; and two
//! points that exporters could not tell apart (the same namespace and
//! function) are one series, not two with the same labels.
//!
//! One test in this binary: it counts every point it has.

use prost::Message;
use std::time::{Duration, Instant};
use tracekit_otlp::proto;
use tracekit_otlp::{MetricsExporter, OtlpMetricsConfig, Resource};
use tracekit_tests::stub::Stub;

/// A traced function of this binary.
type Point = fn() -> Result<(), std::fmt::Error>;

/// Ten trace points in module `$m`, `f0` to `f9`; the odd ones fail.
macro_rules! ten {
    ($m:ident) => {
        pub mod $m {
            ten!(@fns f0 0 f1 1 f2 2 f3 3 f4 4 f5 5 f6 6 f7 7 f8 8 f9 9);
            pub const ALL: [crate::Point; 10] =
                [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9];
        }
    };
    (@fns $($f:ident $n:literal)*) => {$(
        #[tracekit::trace_fn]
        pub fn $f() -> Result<(), std::fmt::Error> {
            if $n % 2 == 1 { Err(std::fmt::Error) } else { Ok(()) }
        }
    )*};
}

/// A hundred points in module `$m`.
macro_rules! hundred {
    ($m:ident) => {
        pub mod $m {
            ten!(a);
            ten!(b);
            ten!(c);
            ten!(d);
            ten!(e);
            ten!(f);
            ten!(g);
            ten!(h);
            ten!(i);
            ten!(j);
            pub const ALL: [&[crate::Point; 10]; 10] = [
                &a::ALL,
                &b::ALL,
                &c::ALL,
                &d::ALL,
                &e::ALL,
                &f::ALL,
                &g::ALL,
                &h::ALL,
                &i::ALL,
                &j::ALL,
            ];
        }
    };
}

hundred!(p00);
hundred!(p01);
hundred!(p02);
hundred!(p03);
hundred!(p04);
hundred!(p05);
hundred!(p06);
hundred!(p07);
hundred!(p08);
hundred!(p09);
hundred!(p10);
hundred!(p11);
hundred!(p12);
hundred!(p13);
hundred!(p14);
hundred!(p15);
hundred!(p16);
hundred!(p17);
hundred!(p18);
hundred!(p19);
hundred!(p20);

const HUNDREDS: [&[&[Point; 10]; 10]; 21] = [
    &p00::ALL,
    &p01::ALL,
    &p02::ALL,
    &p03::ALL,
    &p04::ALL,
    &p05::ALL,
    &p06::ALL,
    &p07::ALL,
    &p08::ALL,
    &p09::ALL,
    &p10::ALL,
    &p11::ALL,
    &p12::ALL,
    &p13::ALL,
    &p14::ALL,
    &p15::ALL,
    &p16::ALL,
    &p17::ALL,
    &p18::ALL,
    &p19::ALL,
    &p20::ALL,
];

/// Two points with the same namespace (`metrics_point_limit::Id`) and
/// function (`from`).
pub struct Id(u64);

#[tracekit::trace_impl]
impl From<u8> for Id {
    fn from(v: u8) -> Id {
        Id(v.into())
    }
}

#[tracekit::trace_impl]
impl From<u16> for Id {
    fn from(v: u16) -> Id {
        Id(v.into())
    }
}

/// The lines of `text` that are samples of the series `name` whose labels
/// include every one of `labels`.
fn samples<'a>(text: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .collect()
}

fn attrs(p: &[proto::KeyValue]) -> Vec<String> {
    p.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(proto::Value::StringValue(s)) => s.clone(),
                Some(proto::Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}={v}", kv.key)
        })
        .collect()
}

#[test]
fn points_past_the_limit_and_points_alike_are_one_series_each() {
    tracekit::metrics::set_enabled(true);
    // First, so that they have slots of their own.
    let mut sum = 0;
    for v in 0..3u8 {
        sum += Id::from(v).0 + Id::from(u16::from(v)).0;
    }
    assert_eq!(sum, 6);
    let mut calls = 0;
    for hundred in HUNDREDS {
        for ten in hundred {
            for f in ten.iter() {
                let _ = f();
                calls += 1;
            }
        }
    }
    let metrics = tracekit::metrics::snapshot();
    if !tracekit::TRACE_ALL {
        assert!(metrics.functions().is_empty());
        return;
    }
    // Every call counted, the overflow series' among them.
    let ours: Vec<_> = metrics
        .functions()
        .iter()
        .filter(|f| {
            f.point()
                .is_none_or(|p| p.module_path().starts_with("metrics_point_limit::p"))
        })
        .collect();
    assert_eq!(ours.iter().map(|f| f.calls()).sum::<u64>(), calls);
    assert_eq!(ours.iter().map(|f| f.errors()).sum::<u64>(), calls / 2);
    let overflow = metrics
        .functions()
        .iter()
        .find(|f| f.point().is_none())
        .expect("points past the limit share a series");
    assert!(overflow.calls() > 0 && overflow.errors() > 0);
    let series: Vec<_> = overflow.series().map(|(t, h)| (t, h.count())).collect();
    assert_eq!(
        series,
        [(None, overflow.calls())],
        "one series, no error.type"
    );

    // The two `Id::from` points: one series of 6 calls.
    let from: Vec<_> = metrics
        .functions()
        .iter()
        .filter(|f| {
            f.point()
                .is_some_and(|p| p.namespace() == "metrics_point_limit::Id")
        })
        .collect();
    assert_eq!(from.len(), 1);
    assert_eq!(from[0].calls(), 6);

    // Prometheus: one overflow series, with no error_type; `from` once.
    let text = tracekit::metrics::Prometheus::new().render(&metrics);
    let overflow_counts = samples(
        &text,
        "tracekit_function_duration_seconds_count",
        &["otel_metric_overflow=\"true\""],
    );
    assert_eq!(
        overflow_counts,
        [format!(
            "tracekit_function_duration_seconds_count{{otel_metric_overflow=\"true\",{}}} {}",
            tracekit_tests::SCOPE_LABELS,
            overflow.calls()
        )]
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains("otel_metric_overflow") && l.contains("error_type"))
    );
    assert_eq!(
        samples(
            &text,
            "tracekit_function_duration_seconds_count",
            &[
                "code_function_name=\"metrics_point_limit::Id::from\"",
                "code_namespace=\"metrics_point_limit::Id\""
            ],
        ),
        [format!(
            "tracekit_function_duration_seconds_count{{code_function_name=\"metrics_point_limit::Id::from\",code_namespace=\"metrics_point_limit::Id\",{}}} 6",
            tracekit_tests::SCOPE_LABELS
        )]
    );
    // No series twice, anywhere in the text.
    let mut keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k))
        .collect();
    let all = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all, "a series appears twice");

    // OTLP: one overflow data point, whose only attribute is the overflow's.
    let stub = Stub::start([]);
    MetricsExporter::new(&OtlpMetricsConfig::new(&stub.url(), Resource::new("limit")))
        .export(&metrics, Instant::now() + Duration::from_secs(5))
        .unwrap();
    let received = stub.received();
    let request = proto::ExportMetricsServiceRequest::decode(&received[0].body[..]).unwrap();
    let duration = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "tracekit.function.duration")
        .unwrap();
    let Some(proto::MetricData::ExponentialHistogram(h)) = &duration.data else {
        panic!("exponential by default");
    };
    let flagged: Vec<_> = h
        .data_points
        .iter()
        .filter(|p| {
            attrs(&p.attributes)
                .iter()
                .any(|a| a.starts_with("otel.metric.overflow"))
        })
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(attrs(&flagged[0].attributes), ["otel.metric.overflow=true"]);
    assert_eq!(flagged[0].count, overflow.calls());
    let from_points = h
        .data_points
        .iter()
        .filter(|p| {
            attrs(&p.attributes).contains(&"code.namespace=metrics_point_limit::Id".to_owned())
        })
        .count();
    assert_eq!(from_points, 1);
}
