//! Code generation: the body of an instrumented function.
//!
//! The generated code stays small: a static trace point, a guard from
//! `tracekit::__private`, argument values chosen by autoref specialization,
//! and the original body, unchanged, inside a closure (sync) or an async
//! block (async) so that `return` and `?` still work and the result can be
//! inspected for `Err`.

use crate::attr::Options;
use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, FnArg, Pat, ReturnType, Signature, Type};

/// What the expansion needs to know about where the function is.
pub struct Site<'a> {
    /// The `Self` type's name inside `#[trace_impl]` (generics dropped).
    pub type_name: Option<&'a str>,
}

/// The names bound by the function's arguments (`self` excluded), in order.
pub fn bound_names(sig: &Signature) -> Vec<Ident> {
    let mut names = Vec::new();
    for arg in &sig.inputs {
        if let FnArg::Typed(pt) = arg {
            collect_pat(&pt.pat, &mut names);
        }
    }
    names
}

fn collect_pat(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            if p.ident != "self" {
                out.push(p.ident.clone());
            }
            if let Some((_, sub)) = &p.subpat {
                collect_pat(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| collect_pat(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| collect_pat(p, out)),
        Pat::Reference(r) => collect_pat(&r.pat, out),
        Pat::Paren(p) => collect_pat(&p.pat, out),
        Pat::Type(t) => collect_pat(&t.pat, out),
        _ => {}
    }
}

/// Checks that every name in `skip(...)` is an argument.
pub fn check_skips(opts: &Options, sig: &Signature) -> syn::Result<()> {
    let names = bound_names(sig);
    let mut errors = crate::attr::Errors::default();
    for s in &opts.skip {
        if !names.iter().any(|n| n == s) {
            errors.push(syn::Error::new(
                s.span(),
                format!("`{s}` is not an argument of `{}`", sig.ident),
            ));
        }
    }
    errors.finish()
}

fn contains_impl_trait(ty: &Type) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => i == "impl",
            TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The new body of an instrumented function.
pub fn body(sig: &Signature, block: &Block, opts: &Options, site: &Site) -> TokenStream {
    let krate = quote!(::tracekit);
    let fn_name = unraw(&sig.ident);
    let name = match (&opts.name, site.type_name) {
        (Some(lit), _) => lit.value(),
        (None, Some(ty)) => format!("{ty}::{fn_name}"),
        (None, None) => fn_name.clone(),
    };
    let namespace = match site.type_name {
        Some(ty) => quote!(::core::concat!(::core::module_path!(), "::", #ty)),
        None => quote!(::core::module_path!()),
    };
    let recorded: Vec<Ident> = if opts.skip_all.is_some() {
        Vec::new()
    } else {
        bound_names(sig)
            .into_iter()
            .filter(|n| !opts.skip.contains(n))
            .collect()
    };
    let arg_names: Vec<String> = recorded.iter().map(unraw).collect();
    let span = sig.ident.span();
    let meta = quote_spanned! {span=>
        static __TK_META: #krate::__private::Metadata = #krate::__private::Metadata::new(
            #name,
            #fn_name,
            #namespace,
            ::core::module_path!(),
            ::core::file!(),
            ::core::line!(),
            &[#(#arg_names),*],
        );
        #krate::__private::inventory::submit! {
            #krate::__private::TracePoint(&__TK_META)
        }
    };
    let values = recorded
        .iter()
        .map(|id| quote!((&&&#krate::__private::Arg(&#id)).__tk_value()));
    let values = quote!([#(#values),*]);
    let select = quote! {
        #[allow(unused_imports)]
        use #krate::__private::select::*;
    };
    let returns_unit = matches!(sig.output, ReturnType::Default);
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(ty),
        _ => None,
    };
    let guard = format_ident!("__tk_guard", span = span);
    let stmts = &block.stmts;

    if sig.asyncness.is_some() {
        // Gives the inner async block the function's return type, so `?`
        // inside it converts errors as the original `async fn` did.
        let fake_return = ret_ty.map(|ty| {
            quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::needless_return)]
                if false {
                    let __tk_fake: #ty = loop {};
                    return __tk_fake;
                }
            }
        });
        let args = (!recorded.is_empty()).then(|| {
            quote! {
                if #guard.is_recording() {
                    #select
                    #krate::__private::span_args(&mut #guard, &__TK_META, #values);
                }
            }
        });
        let outcome = (!returns_unit).then(|| {
            quote! {
                {
                    #select
                    #krate::__private::current_outcome(
                        (&&&&&&#krate::__private::Ret(&__tk_ret)).__tk_outcome(),
                    );
                }
            }
        });
        let mutability = args.as_ref().map(|_| quote!(mut));
        quote! {
            {
                #meta
                let #mutability #guard = #krate::__private::start_async(&__TK_META);
                #args
                #krate::__private::InSpan::new(#guard, async move {
                    let __tk_ret = async move { #fake_return #(#stmts)* }.await;
                    #outcome
                    __tk_ret
                })
                .await
            }
        }
    } else {
        let annotation = ret_ty.map(|ty| quote!(-> #ty));
        let args = (!recorded.is_empty()).then(|| {
            quote! {
                if #guard.is_recording() {
                    #select
                    #guard.args(&__TK_META, #values);
                }
            }
        });
        let outcome = (!returns_unit).then(|| {
            quote! {
                {
                    #select
                    #guard.outcome((&&&&&&#krate::__private::Ret(&__tk_ret)).__tk_outcome());
                }
            }
        });
        let body = quote_spanned! {block.span()=> move || #annotation { #(#stmts)* } };
        quote! {
            {
                #meta
                let #guard = #krate::__private::LocalGuard::enter(&__TK_META);
                #args
                #[allow(clippy::redundant_closure_call)]
                let __tk_ret = #guard.run(#body);
                #outcome
                __tk_ret
            }
        }
    }
}
