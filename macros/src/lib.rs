//! The attribute macros of [tracekit](https://docs.rs/tracekit): `#[trace_fn]`
//! and `#[trace_impl]`. Use them through the `tracekit` crate, which
//! documents them.

mod attr;
mod expand;
mod item;

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
