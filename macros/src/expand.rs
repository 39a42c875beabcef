//! Code generation: the new body of an instrumented function.
//!
//! Every form of it declares a short alias for the runtime's support, a
//! static trace point (`__TK_META`) and a guard. The span starts, with the
//! values of the recorded arguments and fields, only where the trace point
//! is on and the current span records; each value is an `ArgRef`, chosen by
//! autoref specialization or, for an argument whose type is written as a
//! plain number, `bool` or `str`, named outright. The original body is kept
//! as written; where it runs depends on the function's shape:
//!
//! - A sync function: in place, as a block whose value is the result,
//!   unless the function returns `!`, or the result is inspected (`err`
//!   applies or `ret` is on) and the body may leave early (as
//!   `scan::runs_to_its_end` reads it). Then it runs in a closure called on
//!   the spot, so that `return` and `?` leave the closure and the result is
//!   still inspected. A body run in place that leaves early all the same
//!   leaves the function, and the guard ends the span as it drops.
//! - An `async fn`: in an async block, awaited in `TracedAsync` when the
//!   span started and in `QuietAsync` (which counts the call while
//!   metrics are on) when it did not; with
//!   something to record from the output, a second async block around it
//!   inspects the output while the span is current.
//! - A sync function returning a future (`impl Future`, `Pin<Box<dyn
//!   Future>>`, `BoxFuture`): in a closure called with the span entered,
//!   whose future is wrapped in `InSpan` (and boxed again when the return
//!   type is boxed).

use crate::args::{plain_args, recordable_names, unraw};
use crate::attr::{Field, Format, Options};
use crate::scan::runs_to_its_end;
use crate::types::{Shape, annotation, diverges, plainly_not_a_result, returns_unit, shape};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ReturnType, Signature, Type};

/// What the expansion needs to know about where the function is.
pub struct Site<'a> {
    /// The `Self` type's name inside `#[trace_impl]` (generics dropped).
    pub type_name: Option<&'a str>,
}

/// The new body of an instrumented function whose own body is `stmts`
/// (its tokens, as written) inside braces spanning `body_span`.
pub fn body(
    sig: &Signature,
    stmts: &TokenStream,
    body_span: Span,
    opts: &Options,
    site: &Site,
) -> TokenStream {
    let krate = match &opts.krate {
        Some(path) => quote!(#path),
        None => quote!(::tracekit),
    };
    // The runtime's support, reached through a short alias the generated
    // block declares first (fewer tokens in every expansion).
    let private = Ident::new("__tk", Span::call_site());
    let prelude = quote! {
        #[allow(unused_imports)]
        use #krate::__private::{self as __tk, select::*};
    };

    // Tags recorded at the start: the arguments, then the fields.
    let recorded: Vec<Ident> = recordable_names(sig)
        .into_iter()
        .filter(|n| !opts.is_skipped(n))
        .collect();
    let n_args = recorded.len();
    let tag_names: Vec<String> = recorded
        .iter()
        .map(unraw)
        .chain(opts.fields.iter().map(|f| f.key.clone()))
        .collect();
    let values = tag_values(sig, opts, &private, &recorded, &tag_names);
    let Ok(n_tags) = u8::try_from(tag_names.len()) else {
        return syn::Error::new(
            sig.ident.span(),
            "at most 255 arguments and fields can be recorded; use `skip(...)` for the rest",
        )
        .to_compile_error();
    };

    // What is recorded from the result, once it is known. Nothing to
    // inspect in `()` or `!`, nor in a type that is plainly not a `Result`
    // (for an `async fn` that saves the future that would inspect it).
    let returns_unit = returns_unit(sig);
    let never_err = match &sig.output {
        ReturnType::Type(_, ty) => plainly_not_a_result(ty),
        ReturnType::Default => true,
    };
    let expansion = Expansion {
        sig,
        stmts,
        body_span,
        opts,
        guard: format_ident!("__tk_guard", span = sig.ident.span()),
        values,
        record_err: opts.err != Some(false) && !returns_unit && !never_err,
        record_ret: opts.ret == Some(true) && !returns_unit,
        krate,
        private,
    };
    // `n_args` is at most `n_tags`, which fits.
    let meta = expansion.trace_point(site, &tag_names, n_args as u8, n_tags);
    match shape(sig) {
        Shape::Sync => expansion.sync_body(&prelude, &meta),
        Shape::Async => expansion.async_body(&prelude, &meta),
        Shape::Future { boxed, output } => expansion.future_body(&prelude, &meta, boxed, output),
    }
}

/// The value of each recorded argument, then of each field, in the order
/// of their tags. Each is an `ArgRef`: a few stores, and nothing evaluated
/// or formatted until the runtime knows the span records.
fn tag_values(
    sig: &Signature,
    opts: &Options,
    private: &Ident,
    recorded: &[Ident],
    tag_names: &[String],
) -> Vec<TokenStream> {
    let plain = plain_args(sig);
    let mut values: Vec<TokenStream> = recorded
        .iter()
        .zip(tag_names)
        .map(|(id, name)| {
            if opts.is_redacted(id) {
                quote!(#private::redacted())
            } else if plain.contains(name) {
                // A number, a bool or text, as its type is written: the
                // plain conversion named outright, no method to look up
                // among the selection's traits (type checking is most of
                // what an argument costs the build).
                // A crate's own type under one of these names (lowercase,
                // against `non_camel_case_types`) fails here, at the
                // argument (ui test `fail-traced/shadowed_primitive`).
                quote_spanned!(id.span()=> #private::Plain::__tk_plain(&#id))
            } else {
                quote!((&&&&&#private::Arg(&#id)).__tk_arg())
            }
        })
        .collect();
    values.extend(opts.fields.iter().map(|f| field_value(f, opts, private)));
    values
}

/// The value of a field of `fields(...)`: its expression, evaluated and
/// formatted only if the span records.
fn field_value(f: &Field, opts: &Options, private: &Ident) -> TokenStream {
    let expr = &f.value;
    let span = expr.span();
    if opts.is_redacted_field(&f.key) {
        // Not evaluated at all: a secret is never even formatted.
        return quote_spanned! {span=> #private::redacted() };
    }
    let value = match f.format {
        Format::Value => quote_spanned! {span=>
            #private::field((&&&#private::FieldValue(&(#expr))).__tk_field())
        },
        Format::Display => quote_spanned! {span=>
            ::core::option::Option::Some(#private::display(&(#expr)))
        },
        Format::Debug => quote_spanned! {span=>
            ::core::option::Option::Some(#private::debug(&(#expr)))
        },
    };
    quote_spanned! {span=> #private::ArgRef::Field(&#private::FieldOnce::new(|| #value)) }
}

/// What the forms of the new body are made from.
struct Expansion<'a> {
    sig: &'a Signature,
    /// The function's own body, as written, and the span of its braces.
    stmts: &'a TokenStream,
    body_span: Span,
    opts: &'a Options,
    /// The runtime crate's path: `::tracekit`, or the `crate = ...` option's.
    krate: TokenStream,
    /// `__tk`, the alias the generated block gives the runtime's support.
    private: Ident,
    /// The guard's binding, spanned at the function's name.
    guard: Ident,
    /// The recorded arguments' and fields' values (see [`tag_values`]).
    values: Vec<TokenStream>,
    /// Whether an `Err` in the result is recorded.
    record_err: bool,
    /// Whether the result is recorded (`ret`).
    record_ret: bool,
}

impl Expansion<'_> {
    /// The static trace point `__TK_META`: what `__tk_trace_point!` makes of
    /// the function's path, file, line, span name, kind and tag names.
    fn trace_point(
        &self,
        site: &Site,
        tag_names: &[String],
        n_args: u8,
        n_tags: u8,
    ) -> TokenStream {
        let (krate, private, opts) = (&self.krate, &self.private, self.opts);
        let fn_name = unraw(&self.sig.ident);
        let fn_len = fn_name.len();
        // `::Type` after the module path inside `#[trace_impl]`.
        let type_suffix = site.type_name.map_or(String::new(), |ty| format!("::{ty}"));
        let kind = format_ident!("{}", opts.kind.map_or("Internal", |k| k.0));
        // One string for everything (see `Metadata`): the function's path, its
        // file, the span name when it is not a part of the path, the tag names,
        // each closed by a NUL; and where each part lies.
        // Every literal part in two strings: what follows the module path, and
        // what follows the file.
        let type_len = site.type_name.map_or(0, str::len);
        let after_module = format!("{type_suffix}::{fn_name}\0");
        let mut after_file = String::from("\0");
        if let Some(lit) = &opts.name {
            after_file.push_str(&lit.value());
            after_file.push('\0');
        }
        for t in tag_names {
            after_file.push_str(t);
            after_file.push('\0');
        }
        let own_name = opts.name.is_some();
        let root = opts.root.is_some();
        let span = self.sig.ident.span();
        quote_spanned! {span=>
            #krate::__tk_trace_point!(__TK_META
                (::core::concat!(::core::module_path!(), #after_module, ::core::file!(), #after_file))
                #type_len,
                #fn_len,
                #own_name,
                ::core::line!(),
                #root,
                #private::SpanKind::#kind,
                #n_args,
                #n_tags
            );
        }
    }

    /// Whether anything is recorded from the result.
    fn inspects(&self) -> bool {
        self.record_err || self.record_ret
    }

    /// The result's outcome (`Err` or not), where an `Err` is recorded.
    fn outcome(&self) -> Option<TokenStream> {
        let private = &self.private;
        self.record_err
            .then(|| quote!((&&&&&&&#private::Ret(&__tk_ret)).__tk_outcome()))
    }

    /// The result's value, where `ret` records it (hidden if redacted).
    fn ret(&self) -> Option<TokenStream> {
        let private = &self.private;
        self.record_ret.then(|| {
            if self.opts.is_return_redacted() {
                quote!((&&#private::Ret(&__tk_ret)).__tk_redacted())
            } else {
                quote!((&&&&&&#private::Ret(&__tk_ret)).__tk_return())
            }
        })
    }

    /// For the shapes whose span is current while the result is inspected:
    /// the result recorded into the current span, if it is the call's own
    /// (`__tk_own`, see [`Self::own`]). A call whose own span records
    /// nothing but counts the call for metrics tells it of an `Err` here
    /// (its polls are watched); a call with no span at all is counted by
    /// its `QuietAsync`, which tests the output itself.
    fn current_tail(&self) -> Option<TokenStream> {
        self.inspects().then(|| {
            let private = &self.private;
            let outcome: Vec<TokenStream> = self.outcome().into_iter().collect();
            let ret = self.ret().into_iter();
            quote! {
                // The span must be this call's own: with none (switched off,
                // not sampled), the current span is the caller's.
                match __tk_own {
                    #private::OWN_RECORDING => {
                        if #private::current_is_recording() {
                            #( #private::current_outcome(#outcome); )*
                            #( #private::current_return(#ret); )*
                        }
                    }
                    #private::OWN_COUNTING => {
                        #( #private::quiet_outcome(#outcome); )*
                    }
                    _ => {}
                }
            }
        })
    }

    /// `__tk_own`, which [`Self::current_tail`] tests: how the call's own
    /// span takes its output (one value, so the body's future keeps one
    /// byte for it).
    fn own(&self) -> Option<TokenStream> {
        let guard = &self.guard;
        let private = &self.private;
        self.inspects()
            .then(|| quote!(let __tk_own = #private::own(&#guard);))
    }

    /// The span's start, with the values of the arguments and fields, only
    /// where the trace point is on and the current span records (`starts`,
    /// the test of that); otherwise `none`, if a value is wanted.
    fn start(
        &self,
        starts: TokenStream,
        start: TokenStream,
        none: Option<TokenStream>,
    ) -> TokenStream {
        let values = &self.values;
        let otherwise = none.map(|none| quote!(else { #none }));
        quote! {
            if #starts {
                #start(&__TK_META, &[#(#values),*])
            } #otherwise
        }
    }

    /// The return type as a closure's or a binding's annotation.
    fn ret_annotation(&self) -> Option<Type> {
        match &self.sig.output {
            ReturnType::Type(_, ty) => Some(annotation(ty)),
            ReturnType::Default => None,
        }
    }

    /// A sync function's body: the span covers the call.
    fn sync_body(&self, prelude: &TokenStream, meta: &TokenStream) -> TokenStream {
        let (private, guard) = (&self.private, &self.guard);
        // The end of the span, with what it records of the result: an
        // `Err` inspected out of line, one copy per `Result` type.
        let end = match (self.record_err, self.ret()) {
            (_, Some(ret)) => {
                let outcome = self
                    .outcome()
                    .unwrap_or_else(|| quote!(::core::option::Option::None));
                quote!(#guard.end_ret(#outcome, #ret);)
            }
            (true, None) => quote! {
                (&&&&&&&#private::Ret(&__tk_ret)).__tk_end(#guard);
            },
            (false, None) => quote!(#guard.end();),
        };
        // The body runs in place, its value the result: no closure for
        // the compiler to build, check and inline. A `return` or `?`
        // then leaves the function past the end below, and the guard
        // ends the span as it drops. Where the result is inspected
        // (an `Err`, `ret`), a body that can leave early runs in a
        // closure called on the spot instead, so that it leaves the
        // closure, not the function. A panic unwinds through the guard,
        // which sees that the body never returned.
        let ret = if !diverges(self.sig) && (!self.inspects() || runs_to_its_end(self.stmts)) {
            self.in_place()
        } else {
            self.in_closure()
        };
        // A call that starts no span is still counted while metrics are on.
        let start = self.start(
            quote!(#private::starts(&__TK_META)),
            quote!(#guard.start),
            Some(quote!(#guard.count(&__TK_META))),
        );
        quote! {
            {
                #prelude
                #meta
                let mut #guard = #private::LocalGuard::new();
                #start
                #ret
                #[allow(unreachable_code)]
                #end
                __tk_ret
            }
        }
    }

    /// `__tk_ret`, the result of a sync body run in place as a block.
    fn in_place(&self) -> TokenStream {
        let stmts = self.stmts;
        let annotation = self.ret_annotation().map(|ty| quote!(: #ty));
        // The block keeps the body's span (for errors in it); the
        // binding gets the expansion's, to be seen below it.
        let body_span = self.body_span;
        let block = quote_spanned! {body_span=> { #stmts } };
        quote! {
            // A body that is one diverging expression (`panic!`) is
            // one here too, not in the function's tail.
            #[allow(unused_braces, clippy::diverging_sub_expression)]
            let __tk_ret #annotation = #block;
        }
    }

    /// `__tk_ret`, the result of a sync body run in a closure called on the
    /// spot, which an early `return` or `?` leaves.
    fn in_closure(&self) -> TokenStream {
        let (private, stmts) = (&self.private, self.stmts);
        let annotation = self.ret_annotation().map(|ty| quote!(-> #ty));
        let body_span = self.body_span;
        let body = quote_spanned! {body_span=> move || #annotation { #stmts } };
        quote!(let __tk_ret = #private::call(#body);)
    }

    /// An `async fn`'s body: the span starts at the first poll and ends
    /// when the future completes or is dropped.
    fn async_body(&self, prelude: &TokenStream, meta: &TokenStream) -> TokenStream {
        let (private, guard, stmts) = (&self.private, &self.guard, self.stmts);
        // Gives the inner async block the function's return type, so `?`
        // inside it converts errors as the original `async fn` did.
        let fake_return = self.ret_annotation().map(|ty| {
            quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::needless_return)]
                if false {
                    let __tk_fake: #ty = loop {};
                    return __tk_fake;
                }
            }
        });
        // The body's own future; with something to record from its
        // output, a second one around it, where its span is current.
        let own = self.own();
        let inner = match &self.current_tail() {
            Some(tail) => quote! {
                async move {
                    let __tk_ret = async move { #fake_return #stmts }.await;
                    #tail
                    __tk_ret
                }
            },
            None => quote!(async move { #fake_return #stmts }),
        };
        // Without a span of its own the body's future is awaited in a
        // wrapper that only counts it while metrics are on, and tests its
        // output for an `Err` then.
        let is_err = match self.record_err {
            true => quote! {
                |__tk_out| (&&&&&&&#private::Ret(__tk_out))
                    .__tk_outcome()
                    .map(#private::ErrOutcome::__tk_error_type)
            },
            false => quote!(|_| ::core::option::Option::None),
        };
        let start = self.start(
            quote!(__tk_starts),
            quote!(#private::start_async),
            Some(quote!(#private::AsyncSpan::none())),
        );
        quote! {
            {
                #prelude
                #meta
                let __tk_starts = #private::starts(&__TK_META);
                let #guard = #start;
                #own
                let __tk_inner = #inner;
                // The span is moved out whole on both paths before the
                // await (an empty one has nothing to drop), so the
                // function's future keeps no slot for it.
                if __tk_starts {
                    #private::TracedAsync::new(#guard, __tk_inner).await
                } else {
                    ::core::mem::forget(#guard);
                    #private::QuietAsync::new(&__TK_META, __tk_inner, #is_err).await
                }
            }
        }
    }

    /// The body of a sync function returning a future: the span starts at
    /// the call and ends with the returned future. `boxed` and `output` as
    /// in [`Shape::Future`].
    fn future_body(
        &self,
        prelude: &TokenStream,
        meta: &TokenStream,
        boxed: Option<&Type>,
        output: Option<&Type>,
    ) -> TokenStream {
        let (krate, private, guard, stmts) = (&self.krate, &self.private, &self.guard, self.stmts);
        let boxed_type = boxed.map(|ty| quote!(-> #ty));
        let body_span = self.body_span;
        let body = quote_spanned! {body_span=> move || #boxed_type { #stmts } };
        // Typing the output keeps an error in the body from spreading
        // into a second error at the signature.
        let output = output.map(|o| {
            let o = annotation(o);
            quote!(: #o)
        });
        let own = self.own();
        let wrapped = match &self.current_tail() {
            Some(tail) => quote! {
                #krate::InSpan::new(#guard, async move {
                    let __tk_ret #output = __tk_fut.await;
                    #tail
                    __tk_ret
                })
            },
            None => quote!(#krate::InSpan::new(#guard, __tk_fut)),
        };
        let wrapped = match boxed {
            Some(_) => quote!(::std::boxed::Box::pin(#wrapped)),
            None => wrapped,
        };
        // A call that starts no span is still counted while metrics are on.
        let start = self.start(
            quote!(#private::starts(&__TK_META)),
            quote!(#private::start_owned),
            Some(quote!(#private::quiet_owned(&__TK_META))),
        );
        quote! {
            {
                #prelude
                #meta
                let mut #guard = #start;
                #[allow(clippy::redundant_closure_call)]
                let __tk_fut = #private::enter_future(&mut #guard, #body);
                #own
                #wrapped
            }
        }
    }
}
