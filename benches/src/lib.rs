//! The contenders of the side-by-side benchmark, shared by the criterion
//! bench (`benches/trace_fn.rs`) and the instruction counter
//! (`src/bin/count_instructions.rs`).
//!
//! Same work for each contender: a function with two `u64` arguments, called
//! 100 times under an active root span, every span recorded and delivered to
//! a reporter (or exporter) that discards it. Three shapes of that function
//! ([`Workload`]): a sync free function, an `async fn` awaited in place, and
//! a method (through `#[trace_impl]` for tracekit).

use std::hint::black_box;

/// One root's calls of `workload`, the same for every contender:
/// `$sync`, `$async_fn` and `$adder.$method` are that contender's traced
/// function, async function and method; their sum is added to `$acc`.
macro_rules! calls {
    ($workload:expr, $acc:ident, $adder:expr, $sync:expr, $async_fn:expr, $method:ident) => {
        match $workload {
            Workload::SyncFn => {
                for i in 0..CALLS_PER_ROOT {
                    $acc += $sync(i, 2);
                }
            }
            Workload::AsyncFn => {
                $acc += block_on(async {
                    let mut acc = 0;
                    for i in 0..CALLS_PER_ROOT {
                        acc += $async_fn(i, 2).await;
                    }
                    acc
                })
            }
            Workload::Method => {
                for i in 0..CALLS_PER_ROOT {
                    $acc += $adder.$method(i, 2);
                }
            }
        }
    };
}

/// Calls per root span.
pub const CALLS_PER_ROOT: u64 = 100;

/// How often (in roots) the instruction counter makes every contender
/// deliver what it has; see [`Harness::keep_up`].
pub const KEEP_UP_ROOTS: u64 = 64;

/// The untraced baseline.
#[inline(never)]
pub fn plain_add(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

/// tracekit: `#[trace_fn]` records both arguments as typed tags. Built with
/// `--no-default-features`, this is the `trace-all` off contender.
#[tracekit::trace_fn]
#[inline(never)]
pub fn tracekit_add(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

/// An `async fn` awaited under the root; the body does not suspend, so the
/// cost measured is the tracing around it.
#[tracekit::trace_fn]
pub async fn tracekit_add_async(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

pub async fn plain_add_async(a: u64, b: u64) -> u64 {
    black_box(a) ^ b
}

/// The receiver of the method workload.
pub struct Adder {
    pub salt: u64,
}

#[tracekit::trace_impl]
impl Adder {
    #[inline(never)]
    pub fn tracekit_add(&self, a: u64, b: u64) -> u64 {
        black_box(a) ^ b ^ self.salt
    }
}

impl Adder {
    #[inline(never)]
    pub fn plain_add(&self, a: u64, b: u64) -> u64 {
        black_box(a) ^ b ^ self.salt
    }
}

/// Polls a future that never suspends to completion, without an executor's
/// own cost in the measurement.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The shape of the traced function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A sync free function.
    SyncFn,
    /// An `async fn` awaited under the root.
    AsyncFn,
    /// A `&self` method.
    Method,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::SyncFn, Workload::AsyncFn, Workload::Method];

    /// The criterion group.
    pub fn group(self) -> &'static str {
        match self {
            Workload::SyncFn => "sync_fn_two_u64_args",
            Workload::AsyncFn => "async_fn_two_u64_args",
            Workload::Method => "method_two_u64_args",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        match name {
            "sync" => Some(Workload::SyncFn),
            "async" => Some(Workload::AsyncFn),
            "method" => Some(Workload::Method),
            _ => None,
        }
    }
}

/// For the command-line tools: the contender `name` names, or what to
/// say instead.
pub fn contender_arg(name: &str) -> Result<Contender, String> {
    Contender::from_name(name).ok_or_else(|| {
        format!(
            "unknown contender {name:?}; one of: {:?}",
            Contender::ALL.map(Contender::name)
        )
    })
}

/// For the command-line tools: the workload `arg` names (sync when there
/// is none), or what to say instead.
pub fn workload_arg(arg: Option<String>) -> Result<Workload, String> {
    match arg {
        None => Ok(Workload::SyncFn),
        Some(w) => Workload::from_name(&w)
            .ok_or_else(|| format!("unknown workload {w:?}; one of sync, async, method")),
    }
}

/// For the command-line tools: the value, or the message on stderr and
/// exit status 2.
pub fn or_exit<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2)
    })
}

#[cfg(feature = "peers")]
mod peers;

/// The contenders, by the name the reports use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    Untraced,
    Tracekit,
    /// tracekit with every trace dropped by the sampler (`always_off`).
    TracekitUnsampled,
    /// [`Contender::TracekitUnsampled`] whose root says it failed before
    /// its calls (`current_span().set_status`): no call takes the mark, so
    /// every counted end in the root takes the slow path that settles
    /// marks, while metrics are on.
    TracekitUnsampledMarked,
    /// tracekit switched off at run time (`set_enabled(false)`).
    TracekitDisabled,
    FastraceBare,
    /// fastrace with no root collecting: its spans are no-ops.
    FastraceNoop,
    FastraceProps,
    TracingRegistry,
    TracingOtel,
    /// tracing's `#[instrument]` with tracekit's bridge layer
    /// (`tracekit-tracing`) turning its spans into tracekit spans.
    TracingTracekit,
}

impl Contender {
    pub const ALL: [Contender; 11] = [
        Contender::Tracekit,
        Contender::TracekitUnsampled,
        Contender::TracekitUnsampledMarked,
        Contender::TracekitDisabled,
        Contender::FastraceBare,
        Contender::FastraceNoop,
        Contender::FastraceProps,
        Contender::TracingRegistry,
        Contender::TracingOtel,
        Contender::TracingTracekit,
        Contender::Untraced,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Untraced => "untraced",
            Contender::Tracekit if cfg!(feature = "trace-all") => "tracekit",
            Contender::Tracekit => "tracekit-off",
            Contender::TracekitUnsampled => "tracekit-unsampled",
            Contender::TracekitUnsampledMarked => "tracekit-unsampled-marked",
            Contender::TracekitDisabled => "tracekit-disabled",
            Contender::FastraceBare => "fastrace",
            Contender::FastraceNoop => "fastrace-noop",
            Contender::FastraceProps => "fastrace-properties",
            Contender::TracingRegistry => "tracing-registry",
            Contender::TracingOtel => "tracing-opentelemetry",
            Contender::TracingTracekit => "tracing-tracekit",
        }
    }

    /// Whether this build can run it (peers need the `peers` feature).
    pub fn available(self) -> bool {
        matches!(self, Contender::Untraced) || self.is_tracekit() || cfg!(feature = "peers")
    }

    /// One of tracekit's set-ups.
    pub fn is_tracekit(self) -> bool {
        matches!(
            self,
            Contender::Tracekit
                | Contender::TracekitUnsampled
                | Contender::TracekitUnsampledMarked
                | Contender::TracekitDisabled
        )
    }

    /// Whether its spans end at tracekit's reporter.
    pub fn reports_to_tracekit(self) -> bool {
        self.is_tracekit() || self == Contender::TracingTracekit
    }

    pub fn from_name(name: &str) -> Option<Contender> {
        Contender::ALL
            .into_iter()
            .find(|c| c.name() == name || (name == "tracekit" && *c == Contender::Tracekit))
    }
}

struct TracekitDiscard;
impl tracekit::Reporter for TracekitDiscard {
    fn report(&mut self, spans: tracekit::SpanBatch) {
        black_box(spans);
    }
}

/// A contender set up to run: its reporter or subscriber installed.
pub struct Harness {
    contender: Contender,
    _tracekit: Option<tracekit::ReporterGuard>,
    _sampler: Option<tracekit::sampler::SamplerGuard>,
    #[cfg(feature = "peers")]
    peers: peers::Installed,
}

impl Harness {
    /// Installs what the contender needs on this thread. Peers need the
    /// `peers` feature: `None` without it.
    pub fn new(contender: Contender) -> Option<Harness> {
        if !contender.available() {
            return None;
        }
        tracekit::set_enabled(contender != Contender::TracekitDisabled);
        Some(Harness {
            contender,
            _tracekit: contender
                .reports_to_tracekit()
                .then(|| tracekit::set_reporter(TracekitDiscard)),
            _sampler: matches!(
                contender,
                Contender::TracekitUnsampled | Contender::TracekitUnsampledMarked
            )
            .then(|| tracekit::sampler::set_sampler(tracekit::sampler::AlwaysOff)),
            #[cfg(feature = "peers")]
            peers: peers::Installed::new(contender),
        })
    }

    /// One root span with [`CALLS_PER_ROOT`] traced calls of `workload`.
    #[inline(never)]
    pub fn run(&self, workload: Workload) -> u64 {
        let adder = Adder { salt: 1 };
        let adder = black_box(&adder);
        let mut acc = 0;
        match self.contender {
            Contender::Untraced => {
                calls!(workload, acc, adder, plain_add, plain_add_async, plain_add)
            }
            Contender::Tracekit
            | Contender::TracekitUnsampled
            | Contender::TracekitUnsampledMarked
            | Contender::TracekitDisabled => {
                let _root = tracekit::start_active_span("root");
                if self.contender == Contender::TracekitUnsampledMarked {
                    tracekit::current_span().set_status(tracekit::Status::error("root"));
                }
                calls!(
                    workload,
                    acc,
                    adder,
                    tracekit_add,
                    tracekit_add_async,
                    tracekit_add
                )
            }
            #[cfg(feature = "peers")]
            peer => acc += peers::run(peer, workload, adder),
            #[cfg(not(feature = "peers"))]
            _ => {}
        }
        acc
    }

    /// Called every [`KEEP_UP_ROOTS`] roots by the instruction counter, so
    /// that every span is delivered and counted, the same way in every run.
    /// tracekit's queue is bounded: under valgrind, which runs one thread at
    /// a time, its collector would fall behind and batches would be dropped
    /// (cheaply), so it delivers here, on the measured thread. fastrace
    /// queues without bound and tracing's registry keeps nothing, so they
    /// need nothing here; they deliver at the final flush.
    pub fn keep_up(&self) {
        if self.contender.reports_to_tracekit() {
            tracekit::flush();
        }
    }

    /// Spans dropped since the start, where the contender counts them.
    pub fn dropped(&self) -> Option<u64> {
        self.contender
            .reports_to_tracekit()
            .then(|| tracekit::collector_stats().spans_dropped)
    }

    /// Delivers everything recorded so far to the discarding sink.
    pub fn flush(&self) {
        if self.contender.reports_to_tracekit() {
            tracekit::flush();
        }
        #[cfg(feature = "peers")]
        self.peers.flush(self.contender);
    }
}

/// A minimal OTLP/HTTP receiver on loopback for the export benchmarks: it
/// reads each request, discards it and answers `200` after `delay`, on a
/// thread per connection. Returns its base URL.
pub fn sink_server(delay: std::time::Duration) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(read_half) = conn.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(read_half);
                let mut conn = conn;
                let mut line = String::new();
                loop {
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/x-protobuf\r\n\r\n";
                    if conn.write_all(ok).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}
