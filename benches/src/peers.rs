//! The peers tracekit is measured against: fastrace and tracing (with and
//! without the OpenTelemetry layer). Behind the `peers` feature, so that
//! tracekit's instruction counter can be built without them: fastrace's
//! clock calibrates in a start-up constructor that spins for 10 ms of wall
//! time, a different number of instructions in every run.

use super::{Adder, CALLS_PER_ROOT, Contender, Workload, block_on};
use std::hint::black_box;

/// fastrace: bare `#[trace]`.
#[fastrace::trace]
#[inline(never)]
pub fn fastrace_add(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

/// fastrace with the two arguments as properties.
#[fastrace::trace(properties = { "a": "{a}", "b": "{b}" })]
#[inline(never)]
pub fn fastrace_props_add(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

/// tracing: `#[instrument]` records both arguments as fields.
#[tracing::instrument]
#[inline(never)]
pub fn tracing_add(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

#[fastrace::trace]
pub async fn fastrace_add_async(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

#[fastrace::trace(properties = { "a": "{a}", "b": "{b}" })]
pub async fn fastrace_props_add_async(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

#[tracing::instrument]
pub async fn tracing_add_async(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

impl Adder {
    #[fastrace::trace]
    #[inline(never)]
    pub fn fastrace_add(&self, a: u64, b: u64) -> u64 {
        black_box(a) ^ b ^ self.salt
    }

    #[fastrace::trace(properties = { "a": "{a}", "b": "{b}" })]
    #[inline(never)]
    pub fn fastrace_props_add(&self, a: u64, b: u64) -> u64 {
        black_box(a) ^ b ^ self.salt
    }

    #[tracing::instrument(skip(self))]
    #[inline(never)]
    pub fn tracing_add(&self, a: u64, b: u64) -> u64 {
        black_box(a) ^ b ^ self.salt
    }
}

struct FastraceDiscard;
impl fastrace::collector::Reporter for FastraceDiscard {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

#[derive(Debug)]
struct OtelDiscard;
impl opentelemetry_sdk::trace::SpanExporter for OtelDiscard {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// What a peer contender keeps installed while it runs.
#[derive(Default)]
pub struct Installed {
    _tracing: Option<tracing::subscriber::DefaultGuard>,
    otel: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Installed {
    pub fn new(contender: Contender) -> Installed {
        use tracing_subscriber::layer::SubscriberExt;
        let mut h = Installed::default();
        match contender {
            Contender::FastraceBare | Contender::FastraceProps | Contender::FastraceNoop => {
                fastrace::set_reporter(FastraceDiscard, fastrace::collector::Config::default())
            }
            Contender::TracingRegistry => {
                h._tracing = Some(tracing::subscriber::set_default(
                    tracing_subscriber::registry(),
                ))
            }
            Contender::TracingOtel => {
                use opentelemetry::trace::TracerProvider as _;
                let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_batch_exporter(OtelDiscard)
                    .build();
                let tracer = provider.tracer("bench");
                let subscriber = tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(tracer));
                h._tracing = Some(tracing::subscriber::set_default(subscriber));
                h.otel = Some(provider);
            }
            Contender::TracingTracekit => {
                let subscriber =
                    tracing_subscriber::registry().with(tracekit_tracing::TracekitLayer::new());
                h._tracing = Some(tracing::subscriber::set_default(subscriber));
            }
            Contender::Untraced
            | Contender::Tracekit
            | Contender::TracekitUnsampled
            | Contender::TracekitUnsampledMarked
            | Contender::TracekitDisabled => {}
        }
        h
    }

    pub fn flush(&self, contender: Contender) {
        match contender {
            Contender::FastraceBare | Contender::FastraceProps | Contender::FastraceNoop => {
                fastrace::flush()
            }
            Contender::TracingOtel => {
                if let Some(p) = &self.otel {
                    let _ = p.force_flush();
                }
            }
            _ => {}
        }
    }
}

/// One root span with [`CALLS_PER_ROOT`] traced calls of `workload`.
pub fn run(contender: Contender, workload: Workload, adder: &Adder) -> u64 {
    let mut acc = 0;
    match contender {
        Contender::FastraceBare => {
            let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
            let _g = root.set_local_parent();
            calls!(
                workload,
                acc,
                adder,
                fastrace_add,
                fastrace_add_async,
                fastrace_add
            )
        }
        // No local parent: fastrace's #[trace] makes a no-op span.
        Contender::FastraceNoop => calls!(
            workload,
            acc,
            adder,
            fastrace_add,
            fastrace_add_async,
            fastrace_add
        ),
        Contender::FastraceProps => {
            let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
            let _g = root.set_local_parent();
            calls!(
                workload,
                acc,
                adder,
                fastrace_props_add,
                fastrace_props_add_async,
                fastrace_props_add
            )
        }
        Contender::TracingRegistry | Contender::TracingOtel | Contender::TracingTracekit => {
            let root = tracing::info_span!("root");
            let _e = root.enter();
            calls!(
                workload,
                acc,
                adder,
                tracing_add,
                tracing_add_async,
                tracing_add
            )
        }
        Contender::Untraced
        | Contender::Tracekit
        | Contender::TracekitUnsampled
        | Contender::TracekitUnsampledMarked
        | Contender::TracekitDisabled => {}
    }
    acc
}
