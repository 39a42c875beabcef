//! Which items the attributes accept, and how they are rewritten. A
//! function's body (each method's, in an impl or trait) is set aside
//! unparsed where it can be, the rest of the item parsed, and the body
//! handed to `expand::body` as written.

use crate::args;
use crate::attr::{Errors, Options, Redacted};
use crate::expand::{self, Site};
use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, Item, Signature, TraitItem, Type};

const ENABLED: bool = cfg!(feature = "trace-all");

/// The item unchanged, followed by the errors: the compiler then reports
/// only our errors, not a cascade from a missing item.
fn with_errors(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#item #errors)
}

pub fn trace_fn(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let opts = Options::parse(args, &mut errors);
    // The body is not parsed: it is printed back as written, and parsing
    // it is most of the macro's work in a debug build.
    let (item_no_body, body) = split_body(&item);
    // A function as such first; any other item, for the error, after.
    let parsed = match syn::parse2::<syn::ItemFn>(item_no_body.clone()) {
        Ok(f) => Ok(Item::Fn(f)),
        Err(_) => syn::parse2::<Item>(item_no_body),
    };
    let mut f = match parsed {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            let e = match syn::parse2::<syn::TraitItemFn>(item.clone()) {
                // A trait method declared without a body.
                Ok(f) if f.default.is_none() => syn::Error::new(
                    f.sig.fn_token.span(),
                    "#[trace_fn] needs a body to trace: put it on the implementations of this method, or #[trace_impl] on the trait to trace its default bodies",
                ),
                _ => syn::Error::new(
                    item_keyword_span(&other),
                    "#[trace_fn] can only be used on functions and methods",
                ),
            };
            return with_errors(item, e);
        }
        Err(e) => return with_errors(item, e),
    };
    if let Err(e) = check_signature(&f.sig) {
        errors.push(e);
    }
    if let Err(e) = args::check_args(&opts, &opts, &f.sig) {
        errors.push(e);
    }
    if let Err(e) = errors.finish() {
        return with_errors(item, e);
    }
    if !ENABLED {
        return item;
    }
    let (stmts, body_span) = match body_parts(body.as_ref(), &f.block, &mut f.attrs) {
        Ok(parts) => parts,
        Err(e) => return with_errors(item, e),
    };
    if let Some(body) = &body {
        f.block.brace_token = syn::token::Brace(body.delim_span());
    }
    let new_body = expand::body(&f.sig, &stmts, body_span, &opts, &Site { type_name: None });
    *f.block = verbatim(&f.block, new_body);
    f.into_token_stream()
}

/// The item with its last token tree, when that is a `{ ... }` body,
/// replaced by an empty one; and that body.
fn split_body(item: &TokenStream) -> (TokenStream, Option<Group>) {
    let mut trees: Vec<TokenTree> = item.clone().into_iter().collect();
    match trees.last().and_then(braces) {
        Some(body) => {
            let mut empty = Group::new(Delimiter::Brace, TokenStream::new());
            empty.set_span(body.span());
            *trees.last_mut().expect("matched above") = TokenTree::Group(empty);
            (trees.into_iter().collect(), Some(body))
        }
        None => (item.clone(), None),
    }
}

/// An impl or trait block with every method body replaced by an empty one,
/// and those bodies in order; `None` for an item that does not end in a
/// `{ ... }` block. A method's body is the first `{ ... }` after its `fn`
/// at the top level of the block that the end of the block, an attribute
/// or a word follows (braces inside a signature, `Arr<{ N }>`, are
/// followed by punctuation). A `;` ends an item without one.
fn split_method_bodies(item: &TokenStream) -> Option<(TokenStream, Vec<Group>)> {
    let mut trees: Vec<TokenTree> = item.clone().into_iter().collect();
    let TokenTree::Group(block) = trees.last()? else {
        return None;
    };
    if block.delimiter() != Delimiter::Brace {
        return None;
    }
    let inner: Vec<TokenTree> = block.stream().into_iter().collect();
    let mut bodies = Vec::new();
    let mut rebuilt = Vec::with_capacity(inner.len());
    let mut in_fn = false;
    for (i, tree) in inner.iter().enumerate() {
        match tree {
            TokenTree::Ident(id) if id == "fn" => in_fn = true,
            TokenTree::Punct(p) if p.as_char() == ';' => in_fn = false,
            TokenTree::Group(g) if in_fn && g.delimiter() == Delimiter::Brace => {
                let ends_item = match inner.get(i + 1) {
                    None | Some(TokenTree::Ident(_)) => true,
                    Some(TokenTree::Punct(p)) => p.as_char() == '#',
                    _ => false,
                };
                if ends_item {
                    let mut empty = Group::new(Delimiter::Brace, TokenStream::new());
                    empty.set_span(g.span());
                    rebuilt.push(TokenTree::Group(empty));
                    bodies.push(g.clone());
                    in_fn = false;
                    continue;
                }
            }
            _ => {}
        }
        rebuilt.push(tree.clone());
    }
    let mut emptied = Group::new(Delimiter::Brace, rebuilt.into_iter().collect());
    emptied.set_span(block.span());
    *trees.last_mut().expect("checked above") = TokenTree::Group(emptied);
    Some((trees.into_iter().collect(), bodies))
}

/// How many methods of a parsed impl or trait have a body.
fn count_bodies(item: &Item) -> usize {
    match item {
        Item::Impl(imp) => imp
            .items
            .iter()
            .filter(|it| matches!(it, ImplItem::Fn(_)))
            .count(),
        Item::Trait(tr) => tr
            .items
            .iter()
            .filter(|it| matches!(it, TraitItem::Fn(f) if f.default.is_some()))
            .count(),
        _ => 0,
    }
}

/// `tree` as a `{ ... }` group, looking through the invisible groups that
/// wrap a `$body:block` passed in by `macro_rules!`.
fn braces(tree: &TokenTree) -> Option<Group> {
    match tree {
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some(g.clone()),
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            let mut inner = g.stream().into_iter();
            match (inner.next(), inner.next()) {
                (Some(only), None) => braces(&only),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What a function gives `expand::body` to trace: its body's statements
/// and the span of its braces. A body set aside unparsed is taken as
/// written, its leading inner attributes moved onto `attrs`; without one
/// (braces this could not see, a body made some other way by another
/// macro: the item was parsed whole, body included) the parsed `block`'s
/// statements are printed back.
fn body_parts(
    set_aside: Option<&Group>,
    block: &syn::Block,
    attrs: &mut Vec<Attribute>,
) -> syn::Result<(TokenStream, proc_macro2::Span)> {
    match set_aside {
        Some(body) => {
            let (inner_attrs, stmts) = split_inner_attrs(body.stream())?;
            attrs.extend(inner_attrs);
            Ok((stmts, body.span()))
        }
        None => {
            let stmts = &block.stmts;
            Ok((quote!(#(#stmts)*), block.span()))
        }
    }
}

/// A body's leading inner attributes (`#![allow(...)]`), which go on the
/// function, and the rest of its tokens, left unparsed.
fn split_inner_attrs(body: TokenStream) -> syn::Result<(Vec<Attribute>, TokenStream)> {
    // Most bodies start with something else than `#`: given back as they
    // are, without a pass over all their tokens.
    match body.clone().into_iter().next() {
        Some(TokenTree::Punct(p)) if p.as_char() == '#' => {}
        _ => return Ok((Vec::new(), body)),
    }
    let parser = |input: syn::parse::ParseStream| {
        let attrs = Attribute::parse_inner(input)?;
        let rest: TokenStream = input.parse()?;
        Ok((attrs, rest))
    };
    syn::parse::Parser::parse2(parser, body)
}

/// A block holding `body` as it is: printed, never parsed again (the body
/// is the user's code, parsed once already).
fn verbatim(block: &syn::Block, body: TokenStream) -> syn::Block {
    syn::Block {
        brace_token: block.brace_token,
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(body), None)],
    }
}

fn check_signature(sig: &Signature) -> syn::Result<()> {
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "a `const fn` cannot be traced: spans need run-time work; remove `const` or the attribute",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "variadic functions cannot be traced",
        ));
    }
    Ok(())
}

fn item_keyword_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Struct(i) => i.struct_token.span(),
        Item::Enum(i) => i.enum_token.span(),
        Item::Const(i) => i.const_token.span(),
        Item::Static(i) => i.static_token.span(),
        Item::Impl(i) => i.impl_token.span(),
        Item::Trait(i) => i.trait_token.span(),
        Item::Mod(i) => i.mod_token.span(),
        Item::Type(i) => i.type_token.span(),
        Item::Use(i) => i.use_token.span(),
        other => other.span(),
    }
}

/// Whether `attr` is `#[name]` or `#[path::to::name(...)]`.
fn is_attr(attr: &Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// A method's own options: `#[no_trace]` gives `None`; `#[trace_fn(...)]`
/// overrides the impl's defaults. Both attributes are removed.
fn method_options(
    attrs: &mut Vec<Attribute>,
    sig: &Signature,
    defaults: &Options,
    errors: &mut Errors,
) -> Option<Options> {
    let mut result = Some(defaults.clone());
    let mut keep = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if is_attr(&attr, "no_trace") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.push(syn::Error::new_spanned(
                    &attr.meta,
                    "`#[no_trace]` takes no options",
                ));
            }
            result = None;
        } else if is_attr(&attr, "trace_fn") {
            let tokens = match &attr.meta {
                syn::Meta::Path(_) => TokenStream::new(),
                syn::Meta::List(l) => l.tokens.clone(),
                syn::Meta::NameValue(nv) => {
                    errors.push(syn::Error::new(
                        nv.eq_token.span(),
                        "expected `#[trace_fn]` or `#[trace_fn(...)]`",
                    ));
                    continue;
                }
            };
            let own = Options::parse(tokens, errors);
            let merged = own.clone().or(defaults);
            if let Err(e) = args::check_args(&own, &merged, sig) {
                errors.push(e);
            }
            if result.is_some() {
                result = Some(merged);
            }
        } else {
            keep.push(attr);
        }
    }
    *attrs = keep;
    result
}

/// The name of the `Self` type without generics: `Cache` for `Cache<T>`.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        Type::Reference(r) => type_name(&r.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Group(g) => type_name(&g.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// A method of an impl or trait: its attributes, signature and body (none
/// for a trait method without a default).
type Method<'a> = (
    &'a mut Vec<Attribute>,
    &'a Signature,
    Option<&'a mut syn::Block>,
);

/// An impl or trait block, parsed, and its method bodies in order when they
/// could be set aside. As in `trace_fn`, the method bodies are not parsed:
/// each is set aside and put back as written. Where that cannot be done
/// plainly, the item is parsed whole, bodies included (and `None`).
fn parse_impl(item: &TokenStream) -> (syn::Result<Item>, Option<Vec<Group>>) {
    let split = split_method_bodies(item).and_then(|(without, bodies)| {
        let parsed = syn::parse2::<Item>(without).ok()?;
        (count_bodies(&parsed) == bodies.len()).then_some((parsed, bodies))
    });
    match split {
        Some((parsed, bodies)) => (Ok(parsed), Some(bodies)),
        None => (syn::parse2::<Item>(item.clone()), None),
    }
}

/// The name a parsed impl or trait gives its spans (the `Self` type's, the
/// trait's) and its methods.
fn methods(item: &mut Item) -> (String, Vec<Method<'_>>) {
    match item {
        Item::Impl(imp) => (
            type_name(&imp.self_ty),
            imp.items
                .iter_mut()
                .filter_map(|it| match it {
                    ImplItem::Fn(f) => Some((&mut f.attrs, &f.sig, Some(&mut f.block))),
                    _ => None,
                })
                .collect(),
        ),
        Item::Trait(tr) => (
            tr.ident.to_string(),
            tr.items
                .iter_mut()
                .filter_map(|it| match it {
                    TraitItem::Fn(f) => Some((&mut f.attrs, &f.sig, f.default.as_mut())),
                    _ => None,
                })
                .collect(),
        ),
        _ => unreachable!("trace_impl lets only impls and traits through"),
    }
}

/// Checks the impl's defaults against every method's argument names and
/// field keys: a default `skip` must name an argument of at least one
/// method, a default `redact` an argument or a field.
fn check_defaults(
    defaults: &Options,
    all_args: &[Ident],
    all_fields: &[String],
    errors: &mut Errors,
) {
    let unknown = |name: &Ident, what: &str| {
        let mut message = format!("`{name}` is not {what} of any method here");
        if let Some(close) = args::closest(&name.to_string(), all_args) {
            message.push_str(&format!("; did you mean `{close}`?"));
        }
        syn::Error::new(name.span(), message)
    };
    for name in defaults.skip.iter().flat_map(|(_, n)| n) {
        if !all_args.contains(name) {
            errors.push(unknown(name, "an argument"));
        }
    }
    for r in defaults.redacted() {
        let key = r.key();
        match r {
            Redacted::Name(id) if !all_args.contains(id) && !all_fields.contains(&key) => {
                errors.push(unknown(id, "an argument or a field"));
            }
            Redacted::Key(_, span) if !all_fields.contains(&key) => {
                errors.push(syn::Error::new(
                    *span,
                    format!("`{key}` is not a field of any method here"),
                ));
            }
            _ => {}
        }
    }
}

pub fn trace_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let defaults = Options::parse(args, &mut errors);
    if let Some(name) = &defaults.name {
        errors.push(syn::Error::new(
            name.span(),
            "`name` cannot be a default for a whole impl; set it on a method with #[trace_fn(name = \"...\")]",
        ));
    }
    let (parsed, bodies) = parse_impl(&item);
    let mut bodies = bodies.map(Vec::into_iter);
    let mut parsed = match parsed {
        Ok(Item::Impl(i)) => Item::Impl(i),
        Ok(Item::Trait(t)) => Item::Trait(t),
        Ok(other) => {
            errors.push(syn::Error::new(
                item_keyword_span(&other),
                "#[trace_impl] can only be used on an `impl` block or a `trait`",
            ));
            return with_errors(item, errors.finish().unwrap_err());
        }
        Err(e) => return with_errors(item, e),
    };
    // Every method's argument names and field keys, for `check_defaults`.
    let mut all_args = Vec::new();
    let mut all_fields: Vec<String> = defaults.fields.iter().map(|f| f.key.clone()).collect();
    let (ty, fns) = methods(&mut parsed);
    for (attrs, sig, mut block) in fns {
        // The body set aside goes back first, as written: the method may
        // not be traced.
        let original = match (&mut block, &mut bodies) {
            (Some(block), Some(bodies)) => bodies.next().inspect(|body| {
                **block = verbatim(block, body.stream());
                block.brace_token = syn::token::Brace(body.delim_span());
            }),
            _ => None,
        };
        all_args.extend(args::bound_names(sig));
        let Some(opts) = method_options(attrs, sig, &defaults, &mut errors) else {
            continue;
        };
        all_fields.extend(opts.fields.iter().map(|f| f.key.clone()));
        // A trait method without a default body has nothing to trace.
        let Some(block) = block else { continue };
        if let Err(e) = check_signature(sig) {
            errors.push(e);
            continue;
        }
        if ENABLED {
            let (stmts, body_span) = match body_parts(original.as_ref(), block, attrs) {
                Ok(parts) => parts,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let body = expand::body(
                sig,
                &stmts,
                body_span,
                &opts,
                &Site {
                    type_name: Some(&ty),
                },
            );
            *block = verbatim(block, body);
        }
    }
    check_defaults(&defaults, &all_args, &all_fields, &mut errors);
    match errors.finish() {
        Ok(()) => parsed.into_token_stream(),
        Err(e) => with_errors(parsed.into_token_stream(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none_group(tokens: TokenStream) -> TokenStream {
        TokenTree::Group(Group::new(Delimiter::None, tokens)).into()
    }

    /// Whatever shape the function's tokens come in (macro_rules! wraps
    /// fragments in invisible groups), it is instrumented, never handed
    /// back untouched. The last shape takes the path that parses the body.
    #[test]
    fn every_shape_of_body_is_instrumented() {
        let body = quote!({ a + 1 });
        let shapes = [
            ("plain", quote!(fn f(a: u8) -> u8 #body)),
            ("body in an invisible group", {
                let b = none_group(body.clone());
                quote!(fn f(a: u8) -> u8 #b)
            }),
            (
                "item in an invisible group",
                none_group(quote!(fn f(a: u8) -> u8 #body)),
            ),
        ];
        for (what, item) in shapes {
            let out = trace_fn(TokenStream::new(), item.clone()).to_string();
            if ENABLED {
                assert!(out.contains("__TK_META"), "{what}: {out}");
                assert!(out.contains("a + 1"), "{what}: {out}");
            } else {
                // The kill switch (this crate tested alone, without
                // tracekit's `trace-all`): the item as it came.
                assert_eq!(out, item.to_string(), "{what}");
            }
        }
    }

    /// Method bodies are set aside whatever braces the signatures hold, and
    /// an impl block the split cannot follow is parsed whole instead: every
    /// body comes back, traced.
    #[test]
    fn impl_bodies_are_set_aside_and_put_back() {
        let item = quote! {
            impl<const N: usize> Grid<N> {
                /// Documented.
                pub fn cells(&self) -> Arr<{ N * N }> { Arr::new(N * 1) }
                const F: fn() -> u8 = { helper };
                #[inline]
                fn plain(&self, a: u8) -> u8 where Self: Sized { a + 2 }
                fn last(&self) -> Arr<{ N }> { #![allow(unused)] Arr::new(3) }
            }
        };
        let (emptied, bodies) = split_method_bodies(&item).unwrap();
        let bodies: Vec<String> = bodies.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            bodies,
            [
                "{ Arr :: new (N * 1) }",
                "{ a + 2 }",
                "{ # ! [allow (unused)] Arr :: new (3) }"
            ]
        );
        let parsed = syn::parse2::<Item>(emptied).unwrap();
        assert_eq!(count_bodies(&parsed), 3);
        let trait_item = quote! {
            trait Store { fn get(&self) -> u8; fn put(&mut self) { self.flush() } }
        };
        let (_, bodies) = split_method_bodies(&trait_item).unwrap();
        assert_eq!(bodies.len(), 1);

        let out = trace_impl(TokenStream::new(), item).to_string();
        for part in [
            "N * 1",
            "a + 2",
            "Arr :: new (3)",
            "allow (unused)",
            "helper",
        ] {
            assert!(out.contains(part), "{part}: {out}");
        }
        if ENABLED {
            assert_eq!(
                out.matches("__tk_trace_point ! (__TK_META").count(),
                3,
                "{out}"
            );
        }
    }
}
