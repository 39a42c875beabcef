//! Code generation: the body of an instrumented function.
//!
//! The generated code stays small: a static trace point, a guard from
//! `tracekit::__private`, argument values chosen by autoref specialization,
//! and the original body, unchanged, inside a closure (sync) or an async
//! block (async) so that `return` and `?` still work and the result can be
//! inspected for `Err`.

use crate::attr::{Format, Options, Redacted};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    FnArg, GenericArgument, Pat, PathArguments, ReturnType, Signature, Type, TypeParamBound,
};

/// What the expansion needs to know about where the function is.
pub struct Site<'a> {
    /// The `Self` type's name inside `#[trace_impl]` (generics dropped).
    pub type_name: Option<&'a str>,
}

/// The names bound by the function's arguments (`self` excluded), in order.
pub fn bound_names(sig: &Signature) -> Vec<Ident> {
    names_of(sig, |_| true)
}

/// The names of the arguments that can be recorded: those of
/// [`bound_names`] but for an argument under `#[cfg]` or `#[cfg_attr]`.
/// The attribute sees the arguments before configuration is applied, so
/// such an argument may not exist in the function that is compiled.
fn recordable_names(sig: &Signature) -> Vec<Ident> {
    names_of(sig, |arg| {
        !arg.attrs
            .iter()
            .any(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
    })
}

/// The arguments bound by a plain name to a type written as one of the
/// standard library's numbers, `bool` or `str` (behind any references):
/// what `Plain` covers, known without type checking.
fn plain_args(sig: &Signature) -> Vec<String> {
    const PLAIN: &[&str] = &[
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "f32", "f64",
        "bool", "str",
    ];
    let mut out = Vec::new();
    for arg in &sig.inputs {
        let FnArg::Typed(pt) = arg else { continue };
        let Pat::Ident(p) = &*pt.pat else { continue };
        if p.subpat.is_some() || p.by_ref.is_some() {
            continue;
        }
        let mut ty = peel(&pt.ty);
        while let Type::Reference(r) = ty {
            ty = peel(&r.elem);
        }
        if let Type::Path(tp) = ty {
            if tp.qself.is_none()
                && tp.path.leading_colon.is_none()
                && tp.path.segments.len() == 1
                && tp.path.segments[0].arguments.is_none()
                && PLAIN.contains(&tp.path.segments[0].ident.to_string().as_str())
            {
                out.push(unraw(&p.ident));
            }
        }
    }
    out
}

/// The names bound by the arguments `keep` accepts, in order.
fn names_of(sig: &Signature, keep: impl Fn(&syn::PatType) -> bool) -> Vec<Ident> {
    let mut names = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Typed(pt) if keep(pt) => collect_pat(&pt.pat, &mut names),
            _ => {}
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

/// Checks that every name in `skip(...)` is an argument, and every name in
/// `redact(...)` an argument, a field or `return` with `ret` on. `own` are
/// the options written on the function; `merged` adds its impl block's, whose
/// fields and `ret` count too.
pub fn check_args(own: &Options, merged: &Options, sig: &Signature) -> syn::Result<()> {
    let names = bound_names(sig);
    let mut errors = crate::attr::Errors::default();
    let not_an_argument = |s: &Ident, what: &str| {
        if s == "self" {
            return "`self` is never recorded; there is no need to name it".to_owned();
        }
        let mut m = format!("`{s}` is not {what} of `{}`", sig.ident);
        if let Some(close) = closest(&s.to_string(), &names) {
            m.push_str(&format!("; did you mean `{close}`?"));
        }
        m
    };
    for s in own.skip.iter().flat_map(|(_, n)| n) {
        if !names.iter().any(|n| n == s) {
            errors.push(syn::Error::new(s.span(), not_an_argument(s, "an argument")));
        }
    }
    let field = |key: &str| merged.fields.iter().any(|f| f.key == key);
    for r in own.redacted() {
        match r {
            Redacted::Name(id) if names.iter().any(|n| n == id) || field(&r.key()) => {}
            Redacted::Name(id) => errors.push(syn::Error::new(
                id.span(),
                not_an_argument(id, "an argument or a field"),
            )),
            Redacted::Key(key, span) if !field(key) => errors.push(syn::Error::new(
                *span,
                format!("`{key}` is not a field of `{}`", sig.ident),
            )),
            Redacted::Key(..) => {}
            Redacted::Return(span) if merged.ret != Some(true) => errors.push(syn::Error::new(
                *span,
                "the return value is not recorded, so there is nothing to redact; add `ret` to record it redacted",
            )),
            Redacted::Return(_) => {}
        }
    }
    errors.finish()
}

/// The argument whose name is a likely typo of `wanted`, if any.
pub fn closest<'a>(wanted: &str, names: &'a [Ident]) -> Option<&'a Ident> {
    names
        .iter()
        .map(|n| (edit_distance(wanted, &n.to_string()), n))
        .filter(|(d, _)| *d <= 1.max(wanted.len() / 3) && *d < wanted.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `ty` with every `impl Trait` replaced by `_`, for a closure's return
/// annotation: the closure still gets the function's concrete parts (so `?`
/// converts errors as the function did) and infers the hidden ones.
fn annotation(ty: &Type) -> Type {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(t) = ty {
                *ty = syn::parse_quote_spanned!(t.impl_token.span=> _);
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Infer.visit_type_mut(&mut ty);
    ty
}

/// Macros of the standard library, `log` and `tracing` that never make the
/// function they are called in return (their arguments are looked into
/// like the rest of the body).
const PLAIN_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "column",
    "concat",
    "dbg",
    "debug",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "error",
    "event",
    "file",
    "format",
    "format_args",
    "include_bytes",
    "include_str",
    "info",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "trace",
    "unimplemented",
    "unreachable",
    "vec",
    "warn",
    "write",
    "writeln",
];

/// Whether a body certainly runs to its end when it returns: no `return`,
/// no `?`, no macro call that could hide one. Such a body can run as a
/// block in place, its value the call's result; any other runs in a
/// closure. Errs towards "no": a false "no" costs a closure, a false "yes"
/// (only through a macro shadowing one of [`PLAIN_MACROS`] that returns)
/// leaves the span to the guard, which ends it without inspecting the
/// result.
///
/// Read from the body's text, one call into the compiler, rather than token
/// by token (each token and name a call and a copy): the token-level scan
/// was 3% of the whole debug rebuild of a crate of traced functions.
fn runs_to_its_end(body: &TokenStream) -> bool {
    let text = body.to_string();
    let tokens = lex(&text);
    for (i, t) in tokens.iter().enumerate() {
        let leaves = match *t {
            Tok::Word(w) => w == "return" || w == "become",
            Tok::Punct('?') => true,
            // `!` before a bracket: a macro call unless it follows a
            // punctuation mark, an opening bracket or nothing (`!(a && b)`,
            // `= !(x)`). (`!=` is `!` before `=`.)
            Tok::Punct('!') if tokens.get(i + 1) == Some(&Tok::Open) => match i.checked_sub(1) {
                None => false,
                Some(j) => match tokens[j] {
                    Tok::Punct(_) | Tok::PathSep | Tok::Open => false,
                    // After a keyword that starts an expression: `if !(a)`.
                    Tok::Word("if" | "while" | "match" | "in" | "break") => false,
                    Tok::Word(name) => {
                        !(PLAIN_MACROS.contains(&name) && std_path_before(&tokens[..j]))
                    }
                    Tok::Other | Tok::Close => true,
                },
            },
            _ => false,
        };
        if leaves {
            return false;
        }
    }
    true
}

/// A token of a body's text, as far as [`runs_to_its_end`] tells them apart.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    /// A name or keyword (a raw one with its `r#`).
    Word(&'a str),
    /// A literal or a lifetime: nothing to look into.
    Other,
    /// `::`
    PathSep,
    Punct(char),
    /// `(`, `[` or `{`.
    Open,
    /// `)`, `]` or `}`.
    Close,
}

/// Splits Rust source text into [`Tok`]s, skipping whitespace, comments
/// and the insides of literals. Plain loops over bytes: a proc macro runs
/// unoptimized in a debug build.
fn lex(text: &str) -> Vec<Tok<'_>> {
    let b = text.as_bytes();
    let n = b.len();
    let mut out = Vec::with_capacity(n / 3);
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c == b' ' || c == b'\n' || c == b'\t' || c == b'\r' {
            i += 1;
        } else if c == b'/' && i + 1 < n && b[i + 1] == b'/' {
            while i < n && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && i + 1 < n && b[i + 1] == b'*' {
            // Block comments nest (a `/** … */` doc comment may be printed
            // as one): the comment ends where its depth returns to 0.
            let mut depth = 0usize;
            while i < n {
                if b[i] == b'/' && i + 1 < n && b[i + 1] == b'*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && i + 1 < n && b[i + 1] == b'/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' {
            i = quoted_end(b, i);
            out.push(Tok::Other);
        } else if c == b'\'' {
            // A character literal (`'a'`, `'\n'`, `'é'`) or a lifetime or
            // label (`'a`).
            let after = i + 1 + utf8_len(b.get(i + 1).copied().unwrap_or(0));
            i = if i + 1 < n && b[i + 1] == b'\\' {
                quoted_end(b, i)
            } else if after < n && b[after] == b'\'' {
                after + 1
            } else {
                word_end(b, i + 1)
            };
            out.push(Tok::Other);
        } else if c.is_ascii_digit() {
            i = word_end(b, i);
            out.push(Tok::Other);
        } else if c == b':' && i + 1 < n && b[i + 1] == b':' {
            i += 2;
            out.push(Tok::PathSep);
        } else if c == b'(' || c == b'[' || c == b'{' {
            i += 1;
            out.push(Tok::Open);
        } else if c == b')' || c == b']' || c == b'}' {
            i += 1;
            out.push(Tok::Close);
        } else if c.is_ascii_punctuation() {
            i += 1;
            out.push(Tok::Punct(char::from(c)));
        } else if is_word_byte(c) {
            let end = word_end(b, i);
            let word = &text[i..end];
            let mut hashes = 0;
            while end + hashes < n && b[end + hashes] == b'#' {
                hashes += 1;
            }
            let next = if end < n { b[end] } else { 0 };
            let raw_quote = end + hashes < n && b[end + hashes] == b'"';
            if raw_quote && (word == "r" || word == "br" || word == "cr") {
                // A raw string: `r"…"`, `r#"…"#`, `br…`, `cr…`.
                let mut j = end + hashes + 1;
                i = n;
                while j < n {
                    let closes = b.get(j + 1..j + 1 + hashes);
                    if b[j] == b'"' && closes.is_some_and(|h| h.iter().all(|&c| c == b'#')) {
                        i = j + 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push(Tok::Other);
            } else if word == "r" && next == b'#' {
                // A raw identifier: `r#try`.
                let name_end = word_end(b, end + 1);
                out.push(Tok::Word(&text[i..name_end]));
                i = name_end;
            } else if (word == "b" || word == "c") && next == b'"' || word == "b" && next == b'\'' {
                // Byte and C strings, byte characters: `b"…"`, `c"…"`, `b'x'`.
                i = quoted_end(b, end);
                out.push(Tok::Other);
            } else {
                out.push(Tok::Word(word));
                i = end;
            }
        } else {
            // A byte no token starts with.
            i += 1;
        }
    }
    out
}

/// Whether `c` can be part of a name (any byte of a non-ASCII character
/// counts: outside literals, only names hold one).
fn is_word_byte(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80
}

/// Where the name (or number) starting at `i` ends.
fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word_byte(b[i]) {
        i += 1;
    }
    i
}

/// The length of the UTF-8 character whose first byte is `c`.
fn utf8_len(c: u8) -> usize {
    match c {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// The end of the quoted literal whose opening quote is at `i`, past its
/// closing quote (or the end of the text).
fn quoted_end(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != quote {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    (j + 1).min(b.len())
}

/// Whether the path before a macro's name is empty or names the crate that
/// [`PLAIN_MACROS`] come from (`std::`, `::core::`, `alloc::`, `log::`,
/// `tracing::`).
fn std_path_before(before: &[Tok<'_>]) -> bool {
    let Some((Tok::PathSep, rest)) = before.split_last() else {
        return true;
    };
    match rest.split_last() {
        Some((Tok::Word("std" | "core" | "alloc" | "log" | "tracing"), rest)) => {
            // Nothing before the crate but a leading `::` (not `a::std::`).
            match rest.split_last() {
                Some((Tok::PathSep, rest)) => !matches!(rest.last(), Some(Tok::Word(_))),
                _ => true,
            }
        }
        _ => false,
    }
}

/// How a function's work is shaped, which decides when its span starts and ends.
enum Shape<'a> {
    /// A plain function: the span covers the call.
    Sync,
    /// An `async fn`: the span starts at the first poll and ends when the
    /// future completes or is dropped.
    Async,
    /// A sync function returning a future: the span starts at the call and
    /// ends with the returned future. `boxed` is the return type when it is
    /// `Pin<Box<dyn Future>>` (what `async-trait` generates) or a
    /// `BoxFuture` alias; `output` is the future's `Output` when written out.
    Future {
        boxed: Option<&'a Type>,
        output: Option<&'a Type>,
    },
}

/// `ty` without the parentheses around it, or the invisible group a
/// `macro_rules!` `$ret:ty` arrives in.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        _ => ty,
    }
}

fn shape(sig: &Signature) -> Shape<'_> {
    if sig.asyncness.is_some() {
        return Shape::Async;
    }
    let ReturnType::Type(_, ty) = &sig.output else {
        return Shape::Sync;
    };
    match peel(ty) {
        // A future that must stay `Unpin` cannot be wrapped in an async block.
        Type::ImplTrait(t) if bound(&t.bounds, "Unpin").is_none() => {
            match bound(&t.bounds, "Future") {
                Some(future) => Shape::Future {
                    boxed: None,
                    output: output_of(future),
                },
                None => Shape::Sync,
            }
        }
        Type::Path(p) => {
            let Some(last) = p.path.segments.last() else {
                return Shape::Sync;
            };
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                // `BoxFuture<'a, T>`: the output is the last type argument.
                let output = type_args(last).last().copied();
                return Shape::Future {
                    boxed: Some(ty),
                    output,
                };
            }
            match boxed_dyn_future(last) {
                Some(future) => Shape::Future {
                    boxed: Some(ty),
                    output: output_of(future),
                },
                None => Shape::Sync,
            }
        }
        _ => Shape::Sync,
    }
}

/// Whether `ty` is plainly not a `Result`, whatever the crate's names: a
/// primitive, a reference, a tuple, an array or slice, or a standard
/// container named by its own name. Anything else (an alias such as
/// `io::Result`, a generic, `impl Trait`) is inspected at run time.
fn plainly_not_a_result(ty: &Type) -> bool {
    match peel(ty) {
        Type::Reference(_) | Type::Tuple(_) | Type::Array(_) | Type::Slice(_) | Type::Never(_) => {
            true
        }
        Type::Path(p) if p.qself.is_none() => {
            const NOT_RESULTS: &[&str] = &[
                "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
                "i64", "i128", "isize", "f32", "f64", "String", "Vec", "Option", "Box", "Arc",
                "Rc", "HashMap", "BTreeMap", "HashSet", "BTreeSet", "VecDeque",
            ];
            // One copy of the name, not one per comparison.
            p.path.segments.len() == 1
                && NOT_RESULTS.contains(&p.path.segments[0].ident.to_string().as_str())
        }
        _ => false,
    }
}

/// The trait bound among `bounds` named `name` (by its last path segment).
fn bound<'a>(
    bounds: impl IntoIterator<Item = &'a TypeParamBound>,
    name: &str,
) -> Option<&'a syn::PathSegment> {
    bounds.into_iter().find_map(|b| match b {
        TypeParamBound::Trait(tb) => tb.path.segments.last().filter(|s| s.ident == name),
        _ => None,
    })
}

fn type_args(seg: &syn::PathSegment) -> Vec<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The `Future` bound of `Pin<Box<dyn Future<..> + ..>>`, given its `Pin` segment.
fn boxed_dyn_future(pin: &syn::PathSegment) -> Option<&syn::PathSegment> {
    if pin.ident != "Pin" {
        return None;
    }
    let Type::Path(boxed) = type_args(pin).first()? else {
        return None;
    };
    let boxed = boxed.path.segments.last().filter(|s| s.ident == "Box")?;
    match type_args(boxed).first()? {
        Type::TraitObject(o) => bound(&o.bounds, "Future"),
        _ => None,
    }
}

/// `T` of `Future<Output = T>`.
fn output_of(future: &syn::PathSegment) -> Option<&Type> {
    match &future.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::AssocType(t) if t.ident == "Output" => Some(&t.ty),
            _ => None,
        }),
        _ => None,
    }
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
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

#[cfg(test)]
mod tests {
    use super::{plain_args, plainly_not_a_result, runs_to_its_end};

    #[test]
    fn plain_arguments_are_known_by_their_written_types() {
        let sig: syn::Signature = syn::parse_str(
            "fn f(a: u64, b: &str, mut c: bool, d: &&mut i32, e: (f64), g: String, h: Option<u8>, \
             i: ::core::primitive::u64, j: T, (k, l): (u8, u8), ref m: u8, n: Box<str>, o: u128)",
        )
        .unwrap();
        let plain = plain_args(&sig);
        // `String` may be a crate's own type of that name, and `u128` is
        // not among the plain numbers: both take the selection.
        assert_eq!(plain, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn the_lexer_skips_comments_and_the_insides_of_literals() {
        use super::{Tok, lex};
        assert_eq!(
            lex("a /* return ? */ + b // return ?\n/// doc ?\n! { } 'x: r#try"),
            [
                Tok::Word("a"),
                Tok::Punct('+'),
                Tok::Word("b"),
                Tok::Punct('!'),
                Tok::Open,
                Tok::Close,
                Tok::Other,
                Tok::Punct(':'),
                Tok::Word("r#try"),
            ]
        );
        assert_eq!(
            lex("\"?\" r##\"\"#?\"## ::x b'\\'' '\\u{3f}'"),
            [
                Tok::Other,
                Tok::Other,
                Tok::PathSep,
                Tok::Word("x"),
                Tok::Other,
                Tok::Other
            ]
        );
        // Unterminated literals end the text rather than running past it.
        assert_eq!(lex("\"abc"), [Tok::Other]);
        assert_eq!(lex("r#\"abc"), [Tok::Other]);
        assert_eq!(lex("/* abc"), []);
        assert_eq!(lex("/* a /* b */ c"), []);
        // Block comments nest: the quote inside is commented out, and what
        // follows the outer comment is read (a `?` that leaves).
        assert_eq!(
            lex("/** a /* b */ \" */ g()?; \"\""),
            [
                Tok::Word("g"),
                Tok::Open,
                Tok::Close,
                Tok::Punct('?'),
                Tok::Punct(';'),
                Tok::Other
            ]
        );
    }

    #[test]
    fn only_bodies_that_cannot_leave_early_run_in_place() {
        let runs = |body: &str| runs_to_its_end(&body.parse().unwrap());
        for body in [
            "a + b",
            "let x = f(a); x.len()",
            "if !(a && b) { 1 } else { 2 }",
            "let ok = !done; a != b && ok",
            "format!(\"{a}\"); println!(\"{}\", a); vec![1, 2]",
            "std::format!(\"{a}\"); ::core::assert!(a > 1); alloc::vec![a]",
            "info!(\"x\"); tracing::info!(\"y\"); panic!(\"no\")",
            "'a: { break 'a 5 }",
            "if !(a) { 1 } else { while !(b) {} 2 }",
            // What looks like an exit inside literals, lifetimes and names.
            "let q = \"why? return! bail!()\"; q.len()",
            "let c = '?'; let e = '\\''; let n = '\\n'; (c, e, n)",
            "let r = r#\"a \" ? return\"#; let s = br\"?\"; let t = b'?'; (r, s, t)",
            "let u = c\"return?\"; let v = b\"x\\\"?\"; (u, v)",
            "fn keep<'a>(x: &'a str) -> &'a str { x } keep(\"?\")",
            "let return_code = 1; let r#become2 = 2; return_code + r#become2",
            "let x = 1_000u64 + 0x1f; x",
            "a /* return ? */ + b // return ?\n",
            "let é = 1; é + 1",
        ] {
            assert!(runs(body), "{body}");
        }
        for body in [
            "return 1",
            "let x = f()?; x",
            "g(|| { return 2; })",
            "format!(\"{}\", f()?)",
            "if !cond { return; }",
            "bail!(\"no\")",
            "anyhow::bail!(\"no\")",
            "my::format!(\"x\")",
            "crate::std::format!(\"x\")",
            "macro_rules! leave { () => { return } } leave!()",
            "r#try!(f())",
            "fn inner<T: ?Sized>(_: &T) {} 1",
            // Exits just after literals and lifetimes.
            "let q = \"a\\\"b\"; f(q)?",
            "let r = r#\"\"#; bail!(r)",
            "'outer: loop { break 'outer g()? }",
            "let c = '\\''; return c",
            "(f)!(x)",
        ] {
            assert!(!runs(body), "{body}");
        }
    }

    #[test]
    fn only_types_that_cannot_be_results_skip_the_err_check() {
        let not = |t: &str| plainly_not_a_result(&syn::parse_str(t).unwrap());
        for t in [
            "u64",
            "String",
            "Vec<u8>",
            "Option<&str>",
            "&Foo",
            "(u8, u8)",
            "[u8; 4]",
        ] {
            assert!(not(t), "{t}");
        }
        for t in [
            "Result<u8, E>",
            "io::Result<()>",
            "std::result::Result<u8, E>",
            "T",
            "Outcome",
            "impl Sized",
        ] {
            assert!(!not(t), "{t}");
        }
    }
}
