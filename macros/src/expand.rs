//! Code generation: the body of an instrumented function.
//!
//! The generated code stays small: a static trace point, a guard from
//! `tracekit::__private`, argument values chosen by autoref specialization,
//! and the original body, unchanged, inside a closure (sync) or an async
//! block (async) so that `return` and `?` still work and the result can be
//! inspected for `Err`.

use crate::args::{plain_args, recordable_names, unraw};
use crate::attr::{Format, Options};
use crate::scan::runs_to_its_end;
use crate::types::{Shape, annotation, peel, plainly_not_a_result, shape};
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
    let fn_name = unraw(&sig.ident);
    let fn_len = fn_name.len();
    // `::Type` after the module path inside `#[trace_impl]`.
    let type_suffix = site.type_name.map_or(String::new(), |ty| format!("::{ty}"));
    let kind = format_ident!("{}", opts.kind.map_or("Internal", |k| k.0));

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
    // Each value as an `ArgRef`: a few stores, and nothing evaluated or
    // formatted until the runtime knows the span records.
    let plain = plain_args(sig);
    let mut values: Vec<TokenStream> = recorded
        .iter()
        .zip(&tag_names)
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
    values.extend(opts.fields.iter().map(|f| {
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
    }));

    let Ok(n_tags) = u8::try_from(tag_names.len()) else {
        return syn::Error::new(
            sig.ident.span(),
            "at most 255 arguments and fields can be recorded; use `skip(...)` for the rest",
        )
        .to_compile_error();
    };
    let n_args = n_args as u8;
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
    for t in &tag_names {
        after_file.push_str(t);
        after_file.push('\0');
    }
    let own_name = opts.name.is_some();
    let span = sig.ident.span();
    let meta = quote_spanned! {span=>
        #krate::__tk_trace_point!(__TK_META
            (::core::concat!(::core::module_path!(), #after_module, ::core::file!(), #after_file))
            #type_len,
            #fn_len,
            #own_name,
            ::core::line!(),
            #private::SpanKind::#kind,
            #n_args,
            #n_tags
        );
    };
    let guard = format_ident!("__tk_guard", span = span);
    let shape = shape(sig);

    // What is recorded from the result, once it is known.
    // Nothing to inspect in `()`, nor in `!` (where code after the call
    // would be unreachable).
    let returns_unit = match &sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => match peel(ty) {
            Type::Tuple(t) => t.elems.is_empty(),
            Type::Never(_) => true,
            _ => false,
        },
    };
    // Nor in a type that is plainly not a `Result`: for an `async fn` that
    // saves the future that would inspect it.
    let never_err = match &sig.output {
        ReturnType::Type(_, ty) => plainly_not_a_result(ty),
        ReturnType::Default => true,
    };
    let record_err = opts.err != Some(false) && !returns_unit && !never_err;
    let record_ret = opts.ret == Some(true) && !returns_unit;
    let inspects = record_err || record_ret;
    // Made only for the shapes that use them.
    let outcome = || record_err.then(|| quote!((&&&&&&#private::Ret(&__tk_ret)).__tk_outcome()));
    let ret = || {
        record_ret.then(|| {
            if opts.is_return_redacted() {
                quote!((&&#private::Ret(&__tk_ret)).__tk_redacted())
            } else {
                quote!((&&&&&&#private::Ret(&__tk_ret)).__tk_return())
            }
        })
    };
    // For the shapes whose span is current while the result is inspected.
    let current_tail = || {
        inspects.then(|| {
            let outcome = outcome().into_iter();
            let ret = ret().into_iter();
            quote! {
                // The span must be this call's own: with none (switched off,
                // not sampled), the current span is the caller's.
                if __tk_own && #private::current_is_recording() {
                    #( #private::current_outcome(#outcome); )*
                    #( #private::current_return(#ret); )*
                }
            }
        })
    };
    let own = || inspects.then(|| quote!(let __tk_own = #guard.is_recording();));
    // The span starts, with the values of the arguments and fields, only
    // where the trace point is on and the current span records (`starts`,
    // the test of that); otherwise `none`, if a value is wanted.
    let start = |starts: TokenStream, start: TokenStream, none: Option<TokenStream>| {
        let otherwise = none.map(|none| quote!(else { #none }));
        quote! {
            if #starts {
                #start(&__TK_META, &[#(#values),*])
            } #otherwise
        }
    };
    let ret_annotation = match &sig.output {
        ReturnType::Type(_, ty) => Some(annotation(ty)),
        ReturnType::Default => None,
    };

    match shape {
        Shape::Sync => {
            // The end of the span, with what it records of the result: an
            // `Err` inspected out of line, one copy per `Result` type.
            let end = match (record_err, ret()) {
                (_, Some(ret)) => {
                    let outcome = outcome().unwrap_or_else(|| quote!(::core::option::Option::None));
                    quote!(#guard.end_ret(#outcome, #ret);)
                }
                (true, None) => quote! {
                    (&&&&&&#private::Ret(&__tk_ret)).__tk_end(#guard);
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
            let diverges = matches!(&sig.output, ReturnType::Type(_, ty) if matches!(peel(ty), Type::Never(_)));
            let ret = if !diverges && (!inspects || runs_to_its_end(stmts)) {
                let annotation = ret_annotation.map(|ty| quote!(: #ty));
                // The block keeps the body's span (for errors in it); the
                // binding gets the expansion's, to be seen below it.
                let block = quote_spanned! {body_span=> { #stmts } };
                quote! {
                    // A body that is one diverging expression (`panic!`) is
                    // one here too, not in the function's tail.
                    #[allow(unused_braces, clippy::diverging_sub_expression)]
                    let __tk_ret #annotation = #block;
                }
            } else {
                let annotation = ret_annotation.map(|ty| quote!(-> #ty));
                let body = quote_spanned! {body_span=> move || #annotation { #stmts } };
                quote!(let __tk_ret = #private::call(#body);)
            };
            let start = start(
                quote!(#private::starts(&__TK_META)),
                quote!(#guard.start),
                None,
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
        Shape::Async => {
            // Gives the inner async block the function's return type, so `?`
            // inside it converts errors as the original `async fn` did.
            let fake_return = ret_annotation.map(|ty| {
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
            let own = own();
            let inner = match &current_tail() {
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
            // wrapper with no state: an unsampled call builds and tests none.
            let start = start(
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
                        #private::QuietAsync::new(__tk_inner).await
                    }
                }
            }
        }
        Shape::Future { boxed, output } => {
            let boxed_type = boxed.map(|ty| quote!(-> #ty));
            let body = quote_spanned! {body_span=> move || #boxed_type { #stmts } };
            // Typing the output keeps an error in the body from spreading
            // into a second error at the signature.
            let output = output.map(|o| {
                let o = annotation(o);
                quote!(: #o)
            });
            let own = own();
            let wrapped = match &current_tail() {
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
            let start = start(
                quote!(#private::starts(&__TK_META)),
                quote!(#private::start_owned),
                Some(quote!(#krate::Span::none())),
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
}
