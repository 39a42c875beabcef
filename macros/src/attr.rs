//! Parsing of attribute options, kept apart from code generation. Every
//! misuse becomes a `syn::Error` pointing at the offending token, and all
//! errors of one attribute are reported together.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr};

/// The options of one `#[trace_fn(...)]` or `#[trace_impl(...)]`.
#[derive(Clone, Default)]
pub struct Options {
    pub name: Option<LitStr>,
    pub skip: Vec<Ident>,
    pub skip_all: Option<Span>,
}

impl Options {
    /// Parses the tokens inside the attribute's parentheses.
    pub fn parse(tokens: TokenStream) -> syn::Result<Options> {
        let mut options = Options::default();
        let mut errors = Errors::default();
        let parser = syn::meta::parser(|meta| {
            if let Err(e) = options.parse_one(&meta) {
                errors.push(e);
                // Skip the rest of this option so the next one is still checked.
                skip_value(&meta);
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(e);
        }
        errors.finish()?;
        options.validate()?;
        Ok(options)
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("name") {
            if self.name.is_some() {
                return Err(meta.error("duplicate option `name`"));
            }
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(e.span(), "`name` takes a string literal: name = \"...\"")
            })?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
            }
            self.name = Some(lit);
        } else if path.is_ident("skip") {
            if !self.skip.is_empty() {
                return Err(meta.error("duplicate option `skip`"));
            }
            meta.parse_nested_meta(|inner| {
                match inner.path.get_ident() {
                    Some(id) => self.skip.push(id.clone()),
                    None => return Err(inner.error("expected an argument name")),
                }
                Ok(())
            })?;
        } else if path.is_ident("skip_all") {
            if self.skip_all.is_some() {
                return Err(meta.error("duplicate option `skip_all`"));
            }
            self.skip_all = Some(path.segments[0].ident.span());
        } else {
            let name = path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_else(|| "this".into());
            return Err(meta.error(format!(
                "unknown option `{name}`; expected one of `name`, `skip`, `skip_all`"
            )));
        }
        Ok(())
    }

    fn validate(&self) -> syn::Result<()> {
        if let (Some(span), Some(first)) = (self.skip_all, self.skip.first()) {
            let mut e = syn::Error::new(span, "`skip_all` and `skip(...)` cannot be used together");
            e.combine(syn::Error::new(first.span(), "`skip(...)` given here"));
            return Err(e);
        }
        Ok(())
    }

    /// These options, with anything unset taken from `defaults` (the options
    /// of the enclosing `#[trace_impl]`).
    pub fn or(mut self, defaults: &Options) -> Options {
        if self.skip.is_empty() && self.skip_all.is_none() {
            self.skip = defaults.skip.clone();
            self.skip_all = defaults.skip_all;
        }
        self
    }
}

fn skip_value(meta: &ParseNestedMeta) {
    if meta.input.peek(syn::Token![=]) {
        let _ = meta.input.parse::<syn::Token![=]>();
        let _ = meta.input.parse::<syn::Expr>();
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.input.step(|c| match c.token_tree() {
            Some((_, rest)) => Ok(((), rest)),
            None => Err(c.error("")),
        });
    }
}

/// Collects errors to report them all at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
