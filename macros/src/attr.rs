//! Parsing of attribute options, kept apart from code generation. Every
//! misuse becomes a `syn::Error` pointing at the offending token, and all
//! errors of one attribute are reported together.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitStr, Token};

const OPTIONS: &str =
    "`name`, `skip`, `skip_all`, `redact`, `fields`, `ret`, `err`, `kind`, `root`, `crate`";

/// The options of one `#[trace_fn(...)]` or `#[trace_impl(...)]`. An option
/// left unset is `None`, so a method's options can fall back to its impl's.
#[derive(Clone, Default)]
pub struct Options {
    pub name: Option<LitStr>,
    /// `skip(...)`: the span of the option and the names.
    pub skip: Option<(Span, Vec<Ident>)>,
    pub skip_all: Option<Span>,
    /// `redact(...)`: arguments, field keys and `return`.
    pub redact: Option<(Span, Vec<Redacted>)>,
    pub fields: Vec<Field>,
    pub ret: Option<bool>,
    pub err: Option<bool>,
    pub kind: Option<Kind>,
    /// `root`: every call starts a new trace.
    pub root: Option<Span>,
    pub krate: Option<syn::Path>,
}

/// One name in `redact(...)`.
#[derive(Clone)]
pub enum Redacted {
    /// A plain name: an argument, or a field whose key has one part.
    Name(Ident),
    /// A field key with dots (`auth.token`) or in quotes (`"x-api-key"`).
    Key(String, Span),
    /// `return`: the value `ret` records.
    Return(Span),
}

impl Redacted {
    /// The name as written, for messages and for matching field keys.
    pub fn key(&self) -> String {
        match self {
            Redacted::Name(id) => id.unraw().to_string(),
            Redacted::Key(key, _) => key.clone(),
            Redacted::Return(_) => "return".to_owned(),
        }
    }
}

/// One `key = value` of `fields(...)`.
#[derive(Clone)]
pub struct Field {
    /// The tag key, dots included (`db.system`).
    pub key: String,
    pub key_span: Span,
    pub format: Format,
    pub value: Expr,
}

/// How a field's value is recorded.
#[derive(Clone, Copy, PartialEq)]
pub enum Format {
    /// Typed if it implements `ToValue`, else its `Debug` text.
    Value,
    /// `%expr`: its `Display` text.
    Display,
    /// `?expr`: its `Debug` text.
    Debug,
}

/// A span kind, by the name of its `tracekit::SpanKind` variant.
#[derive(Clone, Copy)]
pub struct Kind(pub &'static str);

const KINDS: [(&str, &str); 5] = [
    ("server", "Server"),
    ("client", "Client"),
    ("producer", "Producer"),
    ("consumer", "Consumer"),
    ("internal", "Internal"),
];

impl Options {
    /// Parses the tokens inside the attribute's parentheses. Errors go to
    /// `errors`; the options parsed correctly are returned either way, so
    /// later checks (argument names) still run and report in the same build.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Options {
        let mut options = Options::default();
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
        if let Err(e) = options.validate() {
            errors.push(e);
        }
        options
    }

    /// Parses one option into its slot; an option given twice is an error.
    fn parse_one(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        let Some(option) = path.get_ident().map(|i| i.unraw().to_string()) else {
            return Err(meta.error(format!("unknown option; expected one of {OPTIONS}")));
        };
        let duplicate = || Err(meta.error(format!("duplicate option `{option}`")));
        let span = path.segments[0].ident.span();
        match option.as_str() {
            "name" if self.name.is_some() => return duplicate(),
            "name" => self.name = Some(parse_name(meta)?),
            "skip" if self.skip.is_some() => return duplicate(),
            "skip" => self.skip = Some((span, parse_skip(meta)?)),
            "redact" if self.redact.is_some() => return duplicate(),
            "redact" => self.redact = Some((span, parse_list(meta)?.into_iter().collect())),
            "skip_all" if self.skip_all.is_some() => return duplicate(),
            "skip_all" => self.skip_all = Some(span),
            "fields" if !self.fields.is_empty() => return duplicate(),
            "fields" => self.fields = parse_fields(meta)?,
            "ret" if self.ret.is_some() => return duplicate(),
            "ret" => self.ret = Some(parse_switch(meta, &option)?),
            "err" if self.err.is_some() => return duplicate(),
            "err" => self.err = Some(parse_switch(meta, &option)?),
            "kind" if self.kind.is_some() => return duplicate(),
            "kind" => self.kind = Some(parse_kind(meta)?),
            "root" if self.root.is_some() => return duplicate(),
            "root" => {
                no_value(meta, &option)?;
                self.root = Some(span);
            }
            "crate" if self.krate.is_some() => return duplicate(),
            "crate" => self.krate = Some(parse_crate(meta)?),
            _ => {
                return Err(meta.error(format!(
                    "unknown option `{option}`; expected one of {OPTIONS}"
                )));
            }
        }
        Ok(())
    }

    fn validate(&self) -> syn::Result<()> {
        let mut errors = Errors::default();
        if let (Some(span), Some((_, names))) = (self.skip_all, &self.skip) {
            let mut e = syn::Error::new(span, "`skip_all` and `skip(...)` cannot be used together");
            if let Some(first) = names.first() {
                e.combine(syn::Error::new(first.span(), "`skip(...)` given here"));
            }
            errors.push(e);
        }
        if let (Some((_, skipped)), Some((_, redacted))) = (&self.skip, &self.redact) {
            for r in redacted {
                if let Redacted::Name(id) = r
                    && skipped.contains(id)
                {
                    errors.push(syn::Error::new(
                        id.span(),
                        format!("`{id}` is both skipped and redacted; keep one"),
                    ));
                }
            }
        }
        errors.finish()
    }

    /// These options, with anything unset taken from `defaults` (the options
    /// of the enclosing `#[trace_impl]`). `fields` add to the impl's.
    pub fn or(mut self, defaults: &Options) -> Options {
        if self.skip.is_none() && self.skip_all.is_none() {
            self.skip = defaults.skip.clone();
            self.skip_all = defaults.skip_all;
        }
        // Redaction adds up: a method naming its own secrets must not
        // record the ones its impl block hides.
        self.redact = match (self.redact.take(), &defaults.redact) {
            (Some((span, mut own)), Some((_, inherited))) => {
                own.extend(inherited.iter().cloned());
                Some((span, own))
            }
            (own, inherited) => own.or_else(|| inherited.clone()),
        };
        let own = std::mem::take(&mut self.fields);
        let inherited = defaults
            .fields
            .iter()
            .filter(|d| !own.iter().any(|f| f.key == d.key))
            .cloned();
        self.fields = inherited.collect();
        self.fields.extend(own);
        self.ret = self.ret.or(defaults.ret);
        self.err = self.err.or(defaults.err);
        self.kind = self.kind.or(defaults.kind);
        self.root = self.root.or(defaults.root);
        if self.krate.is_none() {
            self.krate = defaults.krate.clone();
        }
        self
    }

    /// The names in `redact(...)`.
    pub fn redacted(&self) -> impl Iterator<Item = &Redacted> {
        self.redact.iter().flat_map(|(_, n)| n)
    }

    pub fn is_skipped(&self, arg: &Ident) -> bool {
        self.skip_all.is_some() || self.skip.as_ref().is_some_and(|(_, n)| n.contains(arg))
    }

    /// Whether the argument `arg` is in `redact(...)`.
    pub fn is_redacted(&self, arg: &Ident) -> bool {
        self.redacted()
            .any(|r| matches!(r, Redacted::Name(id) if id == arg))
    }

    /// Whether the field with this key is in `redact(...)`.
    pub fn is_redacted_field(&self, key: &str) -> bool {
        self.redacted()
            .any(|r| !matches!(r, Redacted::Return(_)) && r.key() == key)
    }

    /// Whether `redact(return)` hides what `ret` records.
    pub fn is_return_redacted(&self) -> bool {
        self.redacted().any(|r| matches!(r, Redacted::Return(_)))
    }
}

impl Parse for Redacted {
    fn parse(input: ParseStream) -> syn::Result<Redacted> {
        const EXPECTED: &str = "expected an argument name, a field key or `return`: redact(password, auth.token, return)";
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return Ok(Redacted::Key(lit.value(), lit.span()));
        }
        if input.peek(Token![return]) {
            let token: Token![return] = input.parse()?;
            return Ok(Redacted::Return(token.span));
        }
        let first = input
            .call(Ident::parse_any)
            .map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
        if !input.peek(Token![.]) {
            if !input.is_empty() && !input.peek(Token![,]) {
                return Err(syn::Error::new(first.span(), EXPECTED));
            }
            return Ok(Redacted::Name(first));
        }
        let (key, span) = dotted_key(input, &first, EXPECTED)?;
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(syn::Error::new(input.span(), EXPECTED));
        }
        Ok(Redacted::Key(key, span))
    }
}

/// A key whose first part, `first`, has been read, with the `.part`s that
/// follow it (`db.system`): the key as written and its span. A `.` with no
/// name after it is the error `missing`.
fn dotted_key(input: ParseStream, first: &Ident, missing: &str) -> syn::Result<(String, Span)> {
    let mut key = first.unraw().to_string();
    let mut span = first.span();
    while input.peek(Token![.]) {
        let dot = input.parse::<Token![.]>()?;
        let part = input
            .call(Ident::parse_any)
            .map_err(|_| syn::Error::new(dot.span, missing))?;
        key.push('.');
        key.push_str(&part.unraw().to_string());
        span = span.join(part.span()).unwrap_or(span);
    }
    Ok((key, span))
}

impl Parse for Field {
    fn parse(input: ParseStream) -> syn::Result<Field> {
        let (key, key_span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a field key must not be empty"));
            }
            if lit.value().contains('\0') {
                return Err(syn::Error::new(
                    lit.span(),
                    "a field key must not contain a NUL character",
                ));
            }
            (lit.value(), lit.span())
        } else {
            // Keywords are fine as key parts: `fields(r#type = ..)`, `fields(messaging.type = ..)`.
            let first = input.call(Ident::parse_any).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a field key: fields(key = value, db.system = \"postgres\")",
                )
            })?;
            dotted_key(
                input,
                &first,
                "expected a key part after `.`: db.system = ...",
            )?
        };
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                key_span,
                format!("field `{key}` needs a value: {key} = ..."),
            ));
        }
        input.parse::<Token![=]>()?;
        let format = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            Format::Display
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            Format::Debug
        } else {
            Format::Value
        };
        let value: Expr = input.parse()?;
        Ok(Field {
            key,
            key_span,
            format,
            value,
        })
    }
}

/// `name = "..."`: not empty, and without a NUL (which ends each part of
/// the trace point's string).
fn parse_name(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let lit: LitStr = meta
        .value()?
        .parse()
        .map_err(|e| syn::Error::new(e.span(), "`name` takes a string literal: name = \"...\""))?;
    let value = lit.value();
    if value.is_empty() {
        return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
    }
    if value.contains('\0') {
        return Err(syn::Error::new(
            lit.span(),
            "`name` must not contain a NUL character",
        ));
    }
    Ok(lit)
}

/// `skip(a, b)`: argument names.
fn parse_skip(meta: &ParseNestedMeta) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    meta.parse_nested_meta(|inner| {
        match inner.path.get_ident() {
            Some(id) if inner.input.is_empty() || inner.input.peek(Token![,]) => {
                names.push(id.clone())
            }
            _ => return Err(inner.error("expected an argument name")),
        }
        Ok(())
    })?;
    Ok(names)
}

/// The parenthesized list after an option (`redact(...)`, `fields(...)`).
/// At the first mistake the rest of the list is passed over: that mistake
/// is the one to show, and a second error for what is left would only add
/// noise.
fn parse_list<T: Parse>(meta: &ParseNestedMeta) -> syn::Result<Punctuated<T, Token![,]>> {
    let content;
    syn::parenthesized!(content in meta.input);
    Punctuated::<T, Token![,]>::parse_terminated(&content).inspect_err(|_| {
        let _ = content.parse::<TokenStream>();
    })
}

/// `fields(key = value, ...)`, each key once.
fn parse_fields(meta: &ParseNestedMeta) -> syn::Result<Vec<Field>> {
    let list = parse_list::<Field>(meta)?;
    let mut seen: Vec<&Field> = Vec::new();
    let mut errors = Errors::default();
    for f in &list {
        if seen.iter().any(|s| s.key == f.key) {
            errors.push(syn::Error::new(
                f.key_span,
                format!("duplicate field `{}`", f.key),
            ));
        }
        seen.push(f);
    }
    errors.finish()?;
    Ok(list.into_iter().collect())
}

/// `ret` or `err` (the `option`): on by its name alone, or `= true`,
/// `= false`.
/// An option that is a bare word (`root`): nothing may follow it.
fn no_value(meta: &ParseNestedMeta, option: &str) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{option}` takes no value: write `{option}` alone")));
    }
    Ok(())
}

fn parse_switch(meta: &ParseNestedMeta, option: &str) -> syn::Result<bool> {
    if !meta.input.peek(Token![=]) {
        return Ok(true);
    }
    let lit: LitBool = meta.value()?.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{option}` takes `true` or `false`: {option} = false"),
        )
    })?;
    Ok(lit.value)
}

/// `kind = "server"`: one of [`KINDS`].
fn parse_kind(meta: &ParseNestedMeta) -> syn::Result<Kind> {
    let lit: LitStr = meta.value()?.parse().map_err(|e| {
        syn::Error::new(e.span(), "`kind` takes a string literal: kind = \"server\"")
    })?;
    let value = lit.value();
    match KINDS.iter().find(|(k, _)| *k == value) {
        Some((_, variant)) => Ok(Kind(variant)),
        None => Err(syn::Error::new(
            lit.span(),
            format!(
                "unknown span kind `{value}`; expected one of \"server\", \"client\", \"producer\", \"consumer\", \"internal\""
            ),
        )),
    }
}

/// `crate = path` or `crate = "path"`: where the runtime is reached.
fn parse_crate(meta: &ParseNestedMeta) -> syn::Result<syn::Path> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        return input
            .parse::<LitStr>()?
            .parse_with(syn::Path::parse_mod_style);
    }
    input
        .call(syn::Path::parse_mod_style)
        .map_err(|e| syn::Error::new(e.span(), "`crate` takes a path: crate = my_crate::tracekit"))
}

fn skip_value(meta: &ParseNestedMeta) {
    if meta.input.peek(Token![=]) {
        let _ = meta.input.parse::<Token![=]>();
        let _ = meta.input.parse::<Expr>();
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.input.step(|c| match c.token_tree() {
            Some((_, rest)) => Ok(((), rest)),
            None => Err(c.error("")),
        });
    }
    // Whatever is left up to the next comma belongs to the failed option.
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
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
