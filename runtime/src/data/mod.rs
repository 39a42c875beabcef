//! The data every layer shares, and nothing above it: ids, the clock,
//! values and their text, trace points, span records as threads write them
//! and as reporters read them, baggage and span contexts.

pub(crate) mod baggage;
pub(crate) mod batch;
pub(crate) mod clock;
pub(crate) mod detached;
pub(crate) mod diag;
pub(crate) mod error_parts;
pub(crate) mod id;
pub(crate) mod intern;
pub(crate) mod metrics;
pub(crate) mod parts;
pub(crate) mod percent;
pub(crate) mod raw;
pub(crate) mod record;
pub(crate) mod request_id;
pub(crate) mod secret;
pub(crate) mod service;
pub(crate) mod span_batch;
pub(crate) mod span_context;
// std's synchronisation, or loom's for the model checks.
pub(crate) mod sync;
pub(crate) mod text;
pub(crate) mod trace_point;
pub(crate) mod value;
pub(crate) mod view;
