//! Head sampling: which traces are recorded. A sampler decides where a
//! trace starts in this process: at a root, or at a span continuing a parent
//! given explicitly (a remote one, from request headers). Spans under a
//! local parent follow their parent, so a decision costs nothing per span
//! and every span of a trace agrees.
//!
//! The default is `parentbased_always_on`: new traces are recorded, and a
//! parent's sampled flag wins. Set another with [`set_sampler`], or with
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` ([`from_env`]).

pub use super::rate::RateLimiting;
#[cfg(feature = "jaeger-remote")]
pub use super::remote::{JaegerRemote, JaegerRemoteBuilder};
pub use super::roots::{Roots, roots, set_roots};
pub use crate::collect::tail::{
    KEPT_TAG, TailKeep, TailKeepGuard, TailStats, set_tail_keep, tail_stats,
};

/// The tag naming the sampler that decided to record a trace, on its root.
pub const TYPE_TAG: &str = "sampler.type";
/// The tag with that sampler's parameter (a ratio, a rate, `true`).
pub const PARAM_TAG: &str = "sampler.param";

use crate::TraceId;
use crate::data::parts::SpanKind;
use crate::data::span_context::SpanContext;
use crate::data::value::Value;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Decides whether a trace is recorded, where it starts in this process.
///
/// ```
/// use tracekit::sampler::{Sampler, SamplingDecision, SamplingInput};
///
/// /// Records every trace of the checkout endpoint, and 1 in 10 of the rest.
/// struct Checkout;
/// impl Sampler for Checkout {
///     fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
///         if input.name().starts_with("POST /checkout") {
///             return SamplingDecision::sample("checkout", true);
///         }
///         tracekit::sampler::TraceIdRatio::new(0.1).should_sample(input)
///     }
/// }
/// let _guard = tracekit::sampler::set_sampler(Checkout);
/// ```
pub trait Sampler: Send + Sync + 'static {
    /// The decision for a trace starting (or continuing) here.
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision;
}

impl<S: Sampler + ?Sized> Sampler for Arc<S> {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        (**self).should_sample(input)
    }
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        (**self).should_sample(input)
    }
}

/// What a sampler knows when it decides.
///
/// ```
/// use tracekit::sampler::{Sampler, SamplingDecision, SamplingInput};
/// struct ServersOnly;
/// impl Sampler for ServersOnly {
///     fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
///         let server = input.kind() == tracekit::SpanKind::Server;
///         SamplingDecision::new(server, "servers-only", server)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct SamplingInput<'a> {
    pub(crate) parent: Option<&'a SpanContext>,
    pub(crate) trace_id: TraceId,
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
}

impl<'a> SamplingInput<'a> {
    /// The parent given explicitly (from another process, or by
    /// `SpanBuilder::child_of`); `None` for a new trace.
    ///
    /// ```
    /// # use tracekit::sampler::{Sampler, SamplingInput, SamplingDecision};
    /// # struct S; impl Sampler for S { fn should_sample(&self, i: &SamplingInput<'_>) -> SamplingDecision {
    /// let remote = i.parent().is_some_and(|p| p.is_remote());
    /// # SamplingDecision::new(remote, "s", remote) } }
    /// ```
    pub fn parent(&self) -> Option<&'a SpanContext> {
        self.parent
    }

    /// The trace's id (already chosen for a new trace).
    ///
    /// ```
    /// # use tracekit::sampler::{Sampler, SamplingInput, SamplingDecision};
    /// # struct S; impl Sampler for S { fn should_sample(&self, i: &SamplingInput<'_>) -> SamplingDecision {
    /// let even = i.trace_id().to_u128() % 2 == 0;
    /// # SamplingDecision::new(even, "s", even) } }
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The name of the span starting the trace here.
    ///
    /// ```
    /// # use tracekit::sampler::{Sampler, SamplingInput, SamplingDecision};
    /// # struct S; impl Sampler for S { fn should_sample(&self, i: &SamplingInput<'_>) -> SamplingDecision {
    /// let health = i.name() == "GET /health";
    /// # SamplingDecision::new(!health, "s", !health) } }
    /// ```
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The kind of that span.
    ///
    /// ```
    /// # use tracekit::sampler::{Sampler, SamplingInput, SamplingDecision};
    /// # struct S; impl Sampler for S { fn should_sample(&self, i: &SamplingInput<'_>) -> SamplingDecision {
    /// let client = i.kind() == tracekit::SpanKind::Client;
    /// # SamplingDecision::new(client, "s", client) } }
    /// ```
    pub fn kind(&self) -> SpanKind {
        self.kind
    }
}

/// A sampler's answer: record the trace or not, and what to say about it.
/// A recorded root carries the `sampler.type` and `sampler.param` tags, as
/// Jaeger clients set them.
///
/// ```
/// let d = tracekit::sampler::SamplingDecision::sample("probabilistic", 0.25);
/// assert!(d.is_sampled());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingDecision {
    sampled: bool,
    sampler_type: &'static str,
    param: Value,
}

impl SamplingDecision {
    /// A decision with its sampler's type and parameter.
    ///
    /// ```
    /// let d = tracekit::sampler::SamplingDecision::new(false, "const", false);
    /// assert!(!d.is_sampled());
    /// ```
    pub fn new(
        sampled: bool,
        sampler_type: &'static str,
        param: impl Into<Value>,
    ) -> SamplingDecision {
        SamplingDecision {
            sampled,
            sampler_type,
            param: param.into(),
        }
    }

    /// Record the trace.
    ///
    /// ```
    /// assert!(tracekit::sampler::SamplingDecision::sample("const", true).is_sampled());
    /// ```
    pub fn sample(sampler_type: &'static str, param: impl Into<Value>) -> SamplingDecision {
        SamplingDecision::new(true, sampler_type, param)
    }

    /// Do not record the trace (its ids still propagate, marked not sampled).
    ///
    /// ```
    /// assert!(!tracekit::sampler::SamplingDecision::drop("const", false).is_sampled());
    /// ```
    pub fn drop(sampler_type: &'static str, param: impl Into<Value>) -> SamplingDecision {
        SamplingDecision::new(false, sampler_type, param)
    }

    /// Whether the trace is recorded.
    ///
    /// ```
    /// assert!(tracekit::sampler::AlwaysOn.decide_root().is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `sampler.type` tag.
    ///
    /// ```
    /// assert_eq!(tracekit::sampler::AlwaysOn.decide_root().sampler_type(), "const");
    /// ```
    pub fn sampler_type(&self) -> &'static str {
        self.sampler_type
    }

    /// The `sampler.param` tag.
    ///
    /// ```
    /// assert_eq!(tracekit::sampler::AlwaysOn.decide_root().param(), &tracekit::Value::Bool(true));
    /// ```
    pub fn param(&self) -> &Value {
        &self.param
    }

    pub(crate) fn into_tags(self) -> (&'static str, Value) {
        (self.sampler_type, self.param)
    }
}

/// Records every trace (`always_on`; `sampler.type = const`).
///
/// ```
/// let _guard = tracekit::sampler::set_sampler(tracekit::sampler::AlwaysOn);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOn;

impl Sampler for AlwaysOn {
    fn should_sample(&self, _: &SamplingInput<'_>) -> SamplingDecision {
        SamplingDecision::sample("const", true)
    }
}

impl AlwaysOn {
    /// The decision for a new trace (a shortcut for tests and docs).
    ///
    /// ```
    /// assert!(tracekit::sampler::AlwaysOn.decide_root().is_sampled());
    /// ```
    pub fn decide_root(&self) -> SamplingDecision {
        SamplingDecision::sample("const", true)
    }
}

/// Records no trace (`always_off`).
///
/// ```
/// let _guard = tracekit::sampler::set_sampler(tracekit::sampler::AlwaysOff);
/// assert!(!tracekit::Span::start("a").is_recording());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOff;

impl Sampler for AlwaysOff {
    fn should_sample(&self, _: &SamplingInput<'_>) -> SamplingDecision {
        SamplingDecision::drop("const", false)
    }
}

/// Records a fixed share of traces, chosen by trace id exactly as the
/// OpenTelemetry SDKs choose (`traceidratio`; `sampler.type =
/// probabilistic`): a trace is recorded when the lower 64 bits of its id,
/// as a number, are below `ratio × 2^64` (rounded half to even). Every
/// service with the same ratio makes the same decision for a trace.
///
/// ```
/// use tracekit::sampler::{Sampler, TraceIdRatio};
/// let quarter = TraceIdRatio::new(0.25);
/// let low = tracekit::TraceId::from_u128(1).unwrap();
/// assert!(quarter.decide(low).is_sampled());
/// ```
///
/// The share is `ratio` only when those bits are uniformly random. They
/// are in every trace tracekit starts: its trace ids are random in all 128
/// bits, and its contexts say so ([`SpanContext::is_random`], the
/// random-trace-id flag `0x02` of W3C Trace Context Level 2 in
/// `traceparent`). A trace id from another process may be relied on only
/// when its `traceparent` had that flag, and then only for its right-most
/// 7 bytes: the eighth byte from the right, which this comparison reads
/// too, is not promised. Without the flag an id may be a counter, a clock
/// or a short id padded with zeros, and the share is anyone's guess.
/// Under [`ParentBased`] (the default) the ratio only decides new traces,
/// whose ids are tracekit's; a sampler that also decides for remote
/// parents can leave those with ids not known to be random to their flag:
///
/// ```
/// use tracekit::sampler::{Sampler, SamplingDecision, SamplingInput, TraceIdRatio};
/// /// A tenth of traces by trace id, where the id is known to be random.
/// struct TenthOfRandomIds;
/// impl Sampler for TenthOfRandomIds {
///     fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
///         match input.parent() {
///             Some(p) if !p.is_random() => SamplingDecision::new(p.is_sampled(), "parent", true),
///             _ => TraceIdRatio::new(0.1).should_sample(input),
///         }
///     }
/// }
/// let _guard = tracekit::sampler::set_sampler(TenthOfRandomIds);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TraceIdRatio {
    ratio: f64,
    /// `round(ratio * 2^64)`; up to 2^64 (everything).
    bound: u128,
}

impl TraceIdRatio {
    /// A sampler recording `ratio` of traces; `ratio` is clamped to 0..=1
    /// (NaN counts as 0).
    ///
    /// ```
    /// let s = tracekit::sampler::TraceIdRatio::new(2.0);
    /// assert_eq!(s.ratio(), 1.0);
    /// ```
    pub fn new(ratio: f64) -> TraceIdRatio {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        // The bound as the SDKs compute it: the float `ratio * 2^64`,
        // rounded half to even, as an integer.
        let bound = (ratio * 18_446_744_073_709_551_616.0).round_ties_even() as u128;
        TraceIdRatio { ratio, bound }
    }

    /// The ratio.
    ///
    /// ```
    /// assert_eq!(tracekit::sampler::TraceIdRatio::new(0.5).ratio(), 0.5);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The decision for this trace id.
    ///
    /// ```
    /// let id = tracekit::TraceId::from_u128(u64::MAX as u128).unwrap();
    /// assert!(!tracekit::sampler::TraceIdRatio::new(0.5).decide(id).is_sampled());
    /// ```
    pub fn decide(&self, trace_id: TraceId) -> SamplingDecision {
        let low = u128::from(trace_id.to_u128() as u64);
        SamplingDecision::new(low < self.bound, "probabilistic", self.ratio)
    }
}

impl Sampler for TraceIdRatio {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        self.decide(input.trace_id)
    }
}

/// Follows the parent given explicitly when there is one, and asks `root`
/// for new traces (`parentbased_*`). Which sampler answers for each kind of
/// parent can be changed; by default a sampled parent is followed, a parent
/// not sampled is followed, whether remote or local.
///
/// ```
/// use tracekit::sampler::{ParentBased, TraceIdRatio};
/// let _guard = tracekit::sampler::set_sampler(ParentBased::new(TraceIdRatio::new(0.1)));
/// ```
pub struct ParentBased {
    root: Box<dyn Sampler>,
    remote_sampled: Box<dyn Sampler>,
    remote_not_sampled: Box<dyn Sampler>,
    local_sampled: Box<dyn Sampler>,
    local_not_sampled: Box<dyn Sampler>,
}

impl ParentBased {
    /// Parent-based, with `root` for new traces.
    ///
    /// ```
    /// let s = tracekit::sampler::ParentBased::new(tracekit::sampler::AlwaysOff);
    /// # drop(s);
    /// ```
    pub fn new(root: impl Sampler) -> ParentBased {
        ParentBased {
            root: Box::new(root),
            remote_sampled: Box::new(AlwaysOn),
            remote_not_sampled: Box::new(AlwaysOff),
            local_sampled: Box::new(AlwaysOn),
            local_not_sampled: Box::new(AlwaysOff),
        }
    }

    /// The sampler for a sampled remote parent (default: always on).
    ///
    /// ```
    /// use tracekit::sampler::*;
    /// let s = ParentBased::new(AlwaysOn).remote_parent_sampled(TraceIdRatio::new(0.5));
    /// # drop(s);
    /// ```
    pub fn remote_parent_sampled(mut self, s: impl Sampler) -> ParentBased {
        self.remote_sampled = Box::new(s);
        self
    }

    /// The sampler for a remote parent not sampled (default: always off).
    ///
    /// ```
    /// use tracekit::sampler::*;
    /// let s = ParentBased::new(AlwaysOn).remote_parent_not_sampled(AlwaysOn);
    /// # drop(s);
    /// ```
    pub fn remote_parent_not_sampled(mut self, s: impl Sampler) -> ParentBased {
        self.remote_not_sampled = Box::new(s);
        self
    }

    /// The sampler for a sampled local parent given explicitly (default:
    /// always on).
    ///
    /// ```
    /// use tracekit::sampler::*;
    /// let s = ParentBased::new(AlwaysOn).local_parent_sampled(AlwaysOn);
    /// # drop(s);
    /// ```
    pub fn local_parent_sampled(mut self, s: impl Sampler) -> ParentBased {
        self.local_sampled = Box::new(s);
        self
    }

    /// The sampler for a local parent not sampled (default: always off).
    ///
    /// ```
    /// use tracekit::sampler::*;
    /// let s = ParentBased::new(AlwaysOn).local_parent_not_sampled(AlwaysOff);
    /// # drop(s);
    /// ```
    pub fn local_parent_not_sampled(mut self, s: impl Sampler) -> ParentBased {
        self.local_not_sampled = Box::new(s);
        self
    }
}

impl Sampler for ParentBased {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        let sampler = match input.parent {
            None => &self.root,
            Some(p) => match (p.is_remote(), p.is_sampled()) {
                (true, true) => &self.remote_sampled,
                (true, false) => &self.remote_not_sampled,
                (false, true) => &self.local_sampled,
                (false, false) => &self.local_not_sampled,
            },
        };
        sampler.should_sample(input)
    }
}

/// The installed sampler; `None` for the default (`parentbased_always_on`),
/// which is decided without calling anything.
static SAMPLER: Mutex<Option<Arc<dyn Sampler>>> = Mutex::new(None);
/// Bumped on every change; threads keep the sampler they last saw and look
/// again only when this moves, so a decision takes no lock.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SEEN: RefCell<(u64, Option<Arc<dyn Sampler>>)> = const { RefCell::new((u64::MAX, None)) };
}

/// Installs `sampler` for every thread until the guard drops, which puts
/// back the one it replaced.
///
/// ```
/// use tracekit::sampler::{set_sampler, AlwaysOff};
/// {
///     let _g = set_sampler(AlwaysOff);
///     assert!(!tracekit::Span::start("off").is_recording());
/// }
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(tracekit::Span::start("on again").is_recording());
/// ```
#[must_use = "the sampler is uninstalled as soon as the guard drops"]
pub fn set_sampler(sampler: impl Sampler) -> SamplerGuard {
    let previous = replace(Some(Arc::new(sampler)));
    SamplerGuard { previous }
}

fn replace(sampler: Option<Arc<dyn Sampler>>) -> Option<Arc<dyn Sampler>> {
    init_from_env();
    let mut slot = SAMPLER.lock().unwrap_or_else(|p| p.into_inner());
    let previous = std::mem::replace(&mut *slot, sampler);
    GENERATION.fetch_add(1, Ordering::Release);
    previous
}

/// Puts the previous sampler back when dropped; see [`set_sampler`].
pub struct SamplerGuard {
    previous: Option<Arc<dyn Sampler>>,
}

impl Drop for SamplerGuard {
    fn drop(&mut self) {
        replace(self.previous.take());
    }
}

/// Reads `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` once, before
/// the first decision, unless a sampler was set in code first.
fn init_from_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Some(s) = from_env() {
            *SAMPLER.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
            GENERATION.fetch_add(1, Ordering::Release);
        }
    });
}

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` ask for,
/// or `None` when they are not set. `always_on`, `always_off`,
/// `traceidratio`, `parentbased_always_on`, `parentbased_always_off`,
/// `parentbased_traceidratio` (the argument is the ratio), `jaeger_remote`
/// and `parentbased_jaeger_remote` (the argument is
/// `endpoint=...,pollingIntervalMs=...,initialSamplingRate=...`; these two
/// need the cargo feature `jaeger-remote`). A value that cannot be used is
/// reported on stderr and the default kept.
///
/// ```
/// assert!(tracekit::sampler::from_env_lookup(|_| None).is_none());
/// ```
pub fn from_env() -> Option<Arc<dyn Sampler>> {
    from_env_lookup(|k| std::env::var(k).ok())
}

/// [`from_env`], reading variables through `var`.
///
/// ```
/// let s = tracekit::sampler::from_env_lookup(|k| match k {
///     "OTEL_TRACES_SAMPLER" => Some("traceidratio".into()),
///     "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".into()),
///     _ => None,
/// });
/// assert!(s.is_some());
/// ```
pub fn from_env_lookup(var: impl Fn(&str) -> Option<String>) -> Option<Arc<dyn Sampler>> {
    let name = var("OTEL_TRACES_SAMPLER")?;
    let arg = var("OTEL_TRACES_SAMPLER_ARG");
    match parse(name.trim(), arg.as_deref(), &var) {
        Ok(s) => Some(s),
        Err(why) => {
            crate::data::diag::warn(format_args!(
                "OTEL_TRACES_SAMPLER={name:?}: {why}; using parentbased_always_on"
            ));
            None
        }
    }
}

fn ratio(arg: Option<&str>) -> Result<TraceIdRatio, String> {
    match arg.map(str::trim) {
        None => Ok(TraceIdRatio::new(1.0)),
        Some(a) => match a.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(TraceIdRatio::new(r)),
            _ => Err(format!(
                "OTEL_TRACES_SAMPLER_ARG={a:?} is not a ratio in 0..=1"
            )),
        },
    }
}

fn parse(
    name: &str,
    arg: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Sampler>, String> {
    Ok(match name {
        "always_on" => Arc::new(AlwaysOn),
        "always_off" => Arc::new(AlwaysOff),
        "traceidratio" => Arc::new(ratio(arg)?),
        "parentbased_always_on" => Arc::new(ParentBased::new(AlwaysOn)),
        "parentbased_always_off" => Arc::new(ParentBased::new(AlwaysOff)),
        "parentbased_traceidratio" => Arc::new(ParentBased::new(ratio(arg)?)),
        #[cfg(feature = "jaeger-remote")]
        "jaeger_remote" => Arc::new(super::remote::from_arg(arg, var)?),
        #[cfg(feature = "jaeger-remote")]
        "parentbased_jaeger_remote" => {
            Arc::new(ParentBased::new(super::remote::from_arg(arg, var)?))
        }
        #[cfg(not(feature = "jaeger-remote"))]
        "jaeger_remote" | "parentbased_jaeger_remote" => {
            let _ = var;
            return Err(
                "this build of tracekit has no Jaeger remote sampler (cargo feature `jaeger-remote`)"
                    .into(),
            );
        }
        other => return Err(format!("unknown sampler {other:?}")),
    })
}

/// The decision for a trace starting here. The default sampler is decided
/// without a call; others are called through the thread's cached handle, so
/// a decision touches no lock and no shared reference count.
pub(crate) fn decide(input: &SamplingInput<'_>) -> SamplingDecision {
    init_from_env();
    let generation = GENERATION.load(Ordering::Acquire);
    let cached = SEEN
        .try_with(|seen| {
            // Busy when a sampler starts spans itself: it takes the slow way.
            let mut seen = seen.try_borrow_mut().ok()?;
            if seen.0 != generation {
                let current = SAMPLER.lock().unwrap_or_else(|p| p.into_inner()).clone();
                *seen = (generation, current);
            }
            Some(match &seen.1 {
                Some(s) => s.should_sample(input),
                None => default_decision(input),
            })
        })
        .ok()
        .flatten();
    cached.unwrap_or_else(|| {
        let current = SAMPLER.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match current {
            Some(s) => s.should_sample(input),
            None => default_decision(input),
        }
    })
}

/// `parentbased_always_on`.
fn default_decision(input: &SamplingInput<'_>) -> SamplingDecision {
    match input.parent {
        Some(p) if !p.is_sampled() => SamplingDecision::drop("const", false),
        _ => SamplingDecision::sample("const", true),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    #[cfg(not(feature = "jaeger-remote"))]
    #[test]
    fn jaeger_remote_without_its_feature_names_the_feature() {
        for name in ["jaeger_remote", "parentbased_jaeger_remote"] {
            let why = parse(name, None, &no_vars).err().expect("accepted");
            assert!(why.contains("cargo feature `jaeger-remote`"), "{why}");
        }
    }

    #[cfg(feature = "jaeger-remote")]
    #[test]
    fn jaeger_remote_with_its_feature_is_built_from_its_argument() {
        let arg = Some("endpoint=http://127.0.0.1:9/sampling,pollingIntervalMs=60000");
        assert!(parse("parentbased_jaeger_remote", arg, &no_vars).is_ok());
        let why = parse("jaeger_remote", Some("pollingIntervalMs=soon"), &no_vars)
            .err()
            .expect("accepted");
        assert!(!why.contains("feature"), "{why}");
    }
}
