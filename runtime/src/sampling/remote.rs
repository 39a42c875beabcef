//! Jaeger remote sampling: strategies polled from a Jaeger agent or
//! collector over HTTP on a background thread, applied without ever making a
//! request wait.

use super::json::{self, Json};
use super::sampler::{RateLimiting, Sampler, SamplingDecision, SamplingInput, TraceIdRatio};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// The largest strategy document read, and the most operations kept.
const MAX_BODY: usize = 1 << 20;
const MAX_OPERATIONS: usize = 2000;

/// Samples by the strategy a Jaeger agent or collector serves for this
/// service, polled on a background thread (`jaeger_remote`). It starts from
/// a probabilistic strategy at the initial rate. When the endpoint is down
/// or answers something unusable, the last good strategy stays in force and
/// one line says so on stderr (until the endpoint recovers).
///
/// Strategies: `probabilistic` (a trace id ratio), `ratelimiting` (traces
/// per second), and per-operation probabilities (by the name of the span
/// starting the trace) with a lower bound of traces per second, as Jaeger
/// serves them (camelCase or snake_case, numeric or named strategy types).
///
/// Needs the cargo feature `jaeger-remote`.
///
/// ```no_run
/// use std::time::Duration;
/// let sampler = tracekit::sampler::JaegerRemote::builder("checkout")
///     .endpoint("http://localhost:5778/sampling")
///     .polling_interval(Duration::from_secs(60))
///     .initial_sampling_rate(0.01)
///     .build();
/// let _guard = tracekit::sampler::set_sampler(tracekit::sampler::ParentBased::new(sampler));
/// ```
pub struct JaegerRemote {
    state: Arc<State>,
}

struct State {
    strategy: RwLock<Arc<Strategy>>,
}

/// How [`JaegerRemote`] is set up.
///
/// ```
/// let b = tracekit::sampler::JaegerRemote::builder("api").initial_sampling_rate(0.5);
/// # drop(b);
/// ```
#[derive(Clone, Debug)]
pub struct JaegerRemoteBuilder {
    service: String,
    endpoint: String,
    interval: Duration,
    initial_rate: f64,
}

impl JaegerRemote {
    /// A builder for the strategies of `service`.
    ///
    /// ```
    /// let b = tracekit::sampler::JaegerRemote::builder("api");
    /// # drop(b);
    /// ```
    pub fn builder(service: impl Into<String>) -> JaegerRemoteBuilder {
        JaegerRemoteBuilder {
            service: service.into(),
            endpoint: "http://localhost:5778/sampling".into(),
            interval: Duration::from_secs(60),
            initial_rate: 0.001,
        }
    }

    fn current(&self) -> Arc<Strategy> {
        self.state
            .strategy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl JaegerRemoteBuilder {
    /// The strategies URL, `GET {endpoint}?service={service}` (default
    /// `http://localhost:5778/sampling`, a Jaeger agent). Plain HTTP.
    ///
    /// ```
    /// let b = tracekit::sampler::JaegerRemote::builder("api").endpoint("http://jaeger:14268/api/sampling");
    /// # drop(b);
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> JaegerRemoteBuilder {
        self.endpoint = url.into();
        self
    }

    /// How often to poll (default a minute; at least 10 ms).
    ///
    /// ```
    /// let b = tracekit::sampler::JaegerRemote::builder("api").polling_interval(std::time::Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn polling_interval(mut self, interval: Duration) -> JaegerRemoteBuilder {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The probabilistic rate used until the first strategy arrives
    /// (default 0.001).
    ///
    /// ```
    /// let b = tracekit::sampler::JaegerRemote::builder("api").initial_sampling_rate(1.0);
    /// # drop(b);
    /// ```
    pub fn initial_sampling_rate(mut self, rate: f64) -> JaegerRemoteBuilder {
        self.initial_rate = rate;
        self
    }

    /// Starts polling and returns the sampler. The poller stops when the
    /// sampler is dropped.
    ///
    /// ```no_run
    /// let s = tracekit::sampler::JaegerRemote::builder("api").build();
    /// # drop(s);
    /// ```
    pub fn build(self) -> JaegerRemote {
        let state = Arc::new(State {
            strategy: RwLock::new(Arc::new(Strategy::Probabilistic(TraceIdRatio::new(
                self.initial_rate,
            )))),
        });
        let poller = Poller {
            url: strategies_url(&self.endpoint, &self.service),
            interval: self.interval,
            state: Arc::downgrade(&state),
        };
        if let Err(e) = std::thread::Builder::new()
            .name("tracekit-sampling".into())
            .spawn(move || poller.run())
        {
            crate::data::diag::warn(format_args!(
                "cannot start the remote sampling poller: {e}; keeping the initial strategy"
            ));
        }
        JaegerRemote { state }
    }
}

impl Sampler for JaegerRemote {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        self.current().decide(input)
    }
}

/// A strategy as Jaeger serves it.
#[derive(Debug)]
enum Strategy {
    Probabilistic(TraceIdRatio),
    RateLimiting(RateLimiting),
    PerOperation {
        default: TraceIdRatio,
        lower_bound: f64,
        default_limiter: RateLimiting,
        operations: HashMap<String, (TraceIdRatio, RateLimiting)>,
    },
}

impl Strategy {
    fn decide(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        match self {
            Strategy::Probabilistic(r) => r.decide(input.trace_id),
            Strategy::RateLimiting(l) => l.should_sample(input),
            Strategy::PerOperation {
                default,
                lower_bound,
                default_limiter,
                operations,
            } => {
                let (ratio, limiter) = match operations.get(input.name) {
                    Some((r, l)) => (r, l),
                    None => (default, default_limiter),
                };
                // Jaeger's guaranteed-throughput sampler: the probability,
                // or else the lower bound of traces per second.
                let d = ratio.decide(input.trace_id);
                if d.is_sampled() {
                    d
                } else if limiter.try_take() {
                    SamplingDecision::sample("lowerbound", *lower_bound)
                } else {
                    d
                }
            }
        }
    }

    fn same(&self, other: &Strategy) -> bool {
        match (self, other) {
            (Strategy::Probabilistic(a), Strategy::Probabilistic(b)) => a.ratio() == b.ratio(),
            (Strategy::RateLimiting(a), Strategy::RateLimiting(b)) => a.rate() == b.rate(),
            // The same document polled again keeps its limiters' budgets.
            (
                Strategy::PerOperation {
                    default: a,
                    lower_bound: la,
                    operations: oa,
                    ..
                },
                Strategy::PerOperation {
                    default: b,
                    lower_bound: lb,
                    operations: ob,
                    ..
                },
            ) => {
                a.ratio() == b.ratio()
                    && la == lb
                    && oa.len() == ob.len()
                    && oa
                        .iter()
                        .all(|(k, (r, _))| ob.get(k).is_some_and(|(q, _)| q.ratio() == r.ratio()))
            }
            _ => false,
        }
    }
}

/// Reads a strategies document.
fn parse_strategy(body: &str) -> Result<Strategy, String> {
    let doc = json::parse(body)?;
    if let Some(ops) = doc.any(&["operationSampling", "operation_sampling"]) {
        let number = |keys: &[&str]| ops.any(keys).and_then(Json::as_f64);
        let default = number(&["defaultSamplingProbability", "default_sampling_probability"])
            .ok_or("operation sampling without a default probability")?;
        let lower_bound = number(&[
            "defaultLowerBoundTracesPerSecond",
            "default_lower_bound_traces_per_second",
        ])
        .unwrap_or(0.0);
        let mut operations = HashMap::new();
        let list = ops
            .any(&["perOperationStrategies", "per_operation_strategies"])
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        for op in list.iter().take(MAX_OPERATIONS) {
            let name = op
                .get("operation")
                .and_then(Json::as_str)
                .ok_or("an operation strategy without an operation name")?;
            let rate = sampling_rate(op).ok_or("an operation strategy without a sampling rate")?;
            operations.insert(
                name.to_owned(),
                (TraceIdRatio::new(rate), RateLimiting::new(lower_bound)),
            );
        }
        return Ok(Strategy::PerOperation {
            default: TraceIdRatio::new(default),
            lower_bound,
            default_limiter: RateLimiting::new(lower_bound),
            operations,
        });
    }
    let kind = doc.any(&["strategyType", "strategy_type"]);
    let kind = match kind {
        Some(Json::Str(s)) => s.to_ascii_uppercase(),
        Some(Json::Num(n)) if *n == 0.0 => "PROBABILISTIC".into(),
        Some(Json::Num(n)) if *n == 1.0 => "RATE_LIMITING".into(),
        None => "PROBABILISTIC".into(),
        Some(other) => return Err(format!("unknown strategy type {other:?}")),
    };
    match kind.as_str() {
        "PROBABILISTIC" => sampling_rate(&doc)
            .map(|r| Strategy::Probabilistic(TraceIdRatio::new(r)))
            .ok_or_else(|| "a probabilistic strategy without a sampling rate".to_owned()),
        "RATE_LIMITING" => doc
            .any(&["rateLimitingSampling", "rate_limiting_sampling"])
            .and_then(|p| p.any(&["maxTracesPerSecond", "max_traces_per_second"]))
            .and_then(Json::as_f64)
            .map(|r| Strategy::RateLimiting(RateLimiting::new(r)))
            .ok_or_else(|| "a rate-limiting strategy without a rate".to_owned()),
        other => Err(format!("unknown strategy type {other:?}")),
    }
}

/// `probabilisticSampling.samplingRate` of a strategy, in either spelling.
fn sampling_rate(strategy: &Json) -> Option<f64> {
    strategy
        .any(&["probabilisticSampling", "probabilistic_sampling"])
        .and_then(|p| p.any(&["samplingRate", "sampling_rate"]))
        .and_then(Json::as_f64)
}

fn strategies_url(endpoint: &str, service: &str) -> String {
    let mut q = String::new();
    for b in service.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}service={q}")
}

struct Poller {
    url: String,
    interval: Duration,
    state: Weak<State>,
}

impl Poller {
    fn run(self) {
        // Said once per outage, not once per poll.
        let mut failing = false;
        loop {
            let Some(state) = self.state.upgrade() else {
                return;
            };
            match get(&self.url, self.interval.min(Duration::from_secs(10)))
                .and_then(|body| parse_strategy(&body))
            {
                Ok(next) => {
                    failing = false;
                    let mut slot = state.strategy.write().unwrap_or_else(|p| p.into_inner());
                    if !slot.same(&next) {
                        *slot = Arc::new(next);
                    }
                }
                Err(e) => {
                    if !failing {
                        crate::data::diag::warn(format_args!(
                            "remote sampling: {}: {e}; keeping the current strategy",
                            self.url
                        ));
                    }
                    failing = true;
                }
            }
            drop(state);
            std::thread::sleep(self.interval);
        }
    }
}

/// A plain HTTP/1.1 GET, bounded in time and size; the body of a 200.
fn get(url: &str, timeout: Duration) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// endpoints are supported")?;
    // The authority ends at the path, the query or the fragment.
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let path = path.split('#').next().unwrap_or("/");
    // A port after the host (or after a bracketed IPv6 address).
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let addr = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut stream =
        TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot send: {e}"))?;
    // Read until the answer is complete by its own account (a server may
    // keep the connection open despite `Connection: close`), or EOF.
    let limit = MAX_BODY + 16 * 1024;
    let deadline = crate::data::clock::instant_after(timeout.saturating_mul(2));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (split, chunked, length) = loop {
        // One deadline for the whole answer: a server trickling bytes
        // must not hold the poller past it.
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or("the answer took too long")?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        raw.extend_from_slice(&buf[..n]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let header = |name: &str| {
                head.split("\r\n")
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let chunked = header("transfer-encoding:").is_some_and(|v| v.contains("chunked"));
            let length = header("content-length:").and_then(|v| v.parse::<usize>().ok());
            let body = raw.len() - split - 4;
            let done = match (chunked, length) {
                (true, _) => raw.ends_with(b"0\r\n\r\n"),
                (false, Some(len)) => body >= len,
                (false, None) => n == 0,
            };
            if done || n == 0 {
                break (split, chunked, length);
            }
        } else if n == 0 {
            return Err("an answer without headers".into());
        }
        if raw.len() > limit {
            return Err("the strategy is too large".into());
        }
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split("\r\n").next().unwrap_or("");
    let code = status.split(' ').nth(1).unwrap_or("");
    if code != "200" {
        return Err(format!("answered {status:?}"));
    }
    let mut body = &raw[split + 4..];
    if let (false, Some(len)) = (chunked, length) {
        body = &body[..len.min(body.len())];
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    if body.len() > MAX_BODY {
        return Err("the strategy is too large".into());
    }
    String::from_utf8(body).map_err(|_| "the strategy is not UTF-8".into())
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a broken chunked body")?;
        let size_text = std::str::from_utf8(&body[..eol]).map_err(|_| "a broken chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "a broken chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        // Checked: a size near usize::MAX must not wrap into a valid one.
        let fits = size.checked_add(2).is_some_and(|n| n <= body.len())
            && out.len().checked_add(size).is_some_and(|n| n <= MAX_BODY);
        if !fits {
            return Err("a broken chunked body".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `jaeger_remote` from `OTEL_TRACES_SAMPLER_ARG`:
/// `endpoint=...,pollingIntervalMs=...,initialSamplingRate=...`, for the
/// service in `OTEL_SERVICE_NAME`.
pub(super) fn from_arg(
    arg: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<JaegerRemote, String> {
    let service = var("OTEL_SERVICE_NAME").unwrap_or_else(|| "unknown_service".into());
    let mut b = JaegerRemote::builder(service);
    for part in arg
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not key=value"))?;
        let v = v.trim();
        b = match k.trim() {
            "endpoint" => b.endpoint(v),
            "pollingIntervalMs" => b.polling_interval(Duration::from_millis(
                v.parse()
                    .map_err(|_| format!("pollingIntervalMs={v:?} is not a number"))?,
            )),
            "initialSamplingRate" => match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => b.initial_sampling_rate(r),
                _ => return Err(format!("initialSamplingRate={v:?} is not a ratio in 0..=1")),
            },
            other => return Err(format!("unknown jaeger_remote argument {other:?}")),
        };
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_of_strategy_in_both_spellings() {
        let p = parse_strategy(
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}"#,
        )
        .unwrap();
        assert!(matches!(p, Strategy::Probabilistic(r) if r.ratio() == 0.25));
        let r = parse_strategy(
            r#"{"strategy_type":1,"rate_limiting_sampling":{"max_traces_per_second":7}}"#,
        )
        .unwrap();
        assert!(matches!(r, Strategy::RateLimiting(l) if l.rate() == 7.0));
        let o = parse_strategy(
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1},
               "operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":2,
               "perOperationStrategies":[{"operation":"GET /a","probabilisticSampling":{"samplingRate":0}}]}}"#,
        )
        .unwrap();
        match o {
            Strategy::PerOperation {
                default,
                operations,
                lower_bound,
                ..
            } => {
                assert_eq!(default.ratio(), 0.5);
                assert_eq!(lower_bound, 2.0);
                assert_eq!(operations["GET /a"].0.ratio(), 0.0);
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "",
            "[]",
            r#"{"strategyType":"MAGIC"}"#,
            r#"{"strategyType":"RATE_LIMITING"}"#,
            "{\"strategyType\":",
        ] {
            assert!(parse_strategy(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_service_is_escaped_into_the_query() {
        assert_eq!(
            strategies_url("http://h:5778/sampling", "my svc/1"),
            "http://h:5778/sampling?service=my%20svc%2F1"
        );
    }

    #[test]
    fn a_chunk_size_that_would_overflow_is_refused_not_a_panic() {
        assert!(dechunk(b"5\r\nhello\r\nffffffffffffffff\r\nxx\r\n0\r\n\r\n").is_err());
        assert!(dechunk(b"fffffffffffffffe\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined_and_broken_ones_refused() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"ff\r\nabc").is_err());
        assert!(dechunk(b"zz\r\n").is_err());
    }
}
