//! The function's arguments, by the names they bind: all of them (to check
//! `skip(...)` and `redact(...)` against, with a "did you mean" for a
//! typo), those that can be recorded, and those whose written type lets
//! their value be taken plainly.

use crate::attr::{Options, Redacted};
use crate::types::is_plain;
use proc_macro2::Ident;
use syn::{FnArg, Pat, Signature};

/// The names bound by the function's arguments (`self` excluded), in order.
pub fn bound_names(sig: &Signature) -> Vec<Ident> {
    names_of(sig, |_| true)
}

/// The names of the arguments that can be recorded: those of
/// [`bound_names`] but for an argument under `#[cfg]` or `#[cfg_attr]`.
/// The attribute sees the arguments before configuration is applied, so
/// such an argument may not exist in the function that is compiled.
pub fn recordable_names(sig: &Signature) -> Vec<Ident> {
    names_of(sig, |arg| {
        !arg.attrs
            .iter()
            .any(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
    })
}

/// The arguments bound by a plain name (no `ref`, no `@` pattern) to a
/// type [`is_plain`] accepts: their values are taken as `Plain`, named
/// outright.
pub fn plain_args(sig: &Signature) -> Vec<String> {
    let mut out = Vec::new();
    for arg in &sig.inputs {
        let FnArg::Typed(pt) = arg else { continue };
        let Pat::Ident(p) = &*pt.pat else { continue };
        if p.subpat.is_none() && p.by_ref.is_none() && is_plain(&pt.ty) {
            out.push(unraw(&p.ident));
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

pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::plain_args;

    #[test]
    fn plain_arguments_are_known_by_their_written_types() {
        let sig: syn::Signature = syn::parse_str(
            "fn f(a: u64, b: &str, mut c: bool, d: &&mut i32, e: (f64), g: String, h: Option<u8>, \
             i: ::core::primitive::u64, j: T, (k, l): (u8, u8), ref m: u8, n: Box<str>, o: u128, \
             p: ::u8, q: r#u8, s: &'a (&u16))",
        )
        .unwrap();
        let plain = plain_args(&sig);
        // `String` may be a crate's own type of that name, and `u128` is
        // not among the plain numbers: both take the selection. `::u8` is
        // a crate's path, and `r#u8` not written as the number's name.
        assert_eq!(plain, ["a", "b", "c", "d", "e", "s"]);
    }
}
