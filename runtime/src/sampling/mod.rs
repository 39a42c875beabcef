//! Which spans are recorded, asked where a span starts: the head sampler
//! of a trace starting (or entering) this process, and the switches of
//! tracing as a whole and of each trace point. The thread state (`local`)
//! asks; nothing here knows about threads.

#[cfg(feature = "jaeger-remote")]
mod json;
mod rate;
#[cfg(feature = "jaeger-remote")]
mod remote;

pub(crate) mod filter;
pub(crate) mod roots;
pub mod sampler;
