//! The attribute macros of [tracekit](https://docs.rs/tracekit): `#[trace_fn]`
//! and `#[trace_impl]`. Use them through the `tracekit` crate, which
//! documents them.

/// The arguments' names: which are recorded, which plainly, and the checks of `skip`/`redact`.
mod args;
/// The attribute's options, parsed and checked.
mod attr;
/// The new body of an instrumented function: the code it generates.
mod expand;
/// The items the attributes accept (`fn`, `impl`, `trait`) and how each is rewritten.
mod item;
/// Whether a body can leave early (`return`, `?`, a macro), read from its text.
mod scan;
/// What the signature's types say: the function's shape, whether its output can be a `Result`, plain argument types.
mod types;

use proc_macro::TokenStream;

/// Traces every call of a function as a span. See `tracekit::trace_fn`.
#[proc_macro_attribute]
pub fn trace_fn(args: TokenStream, item: TokenStream) -> TokenStream {
    item::trace_fn(args.into(), item.into()).into()
}

/// Traces every method of an `impl` block as `Type::method`. See `tracekit::trace_impl`.
#[proc_macro_attribute]
pub fn trace_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    item::trace_impl(args.into(), item.into()).into()
}
