//! What the signature's types say, read as written (nothing is type
//! checked): how the function's work is shaped (sync, `async fn`, or a sync
//! function returning a future), whether its output can be a `Result`,
//! whether an argument's type is one the runtime's `Plain` covers, and the
//! return type as a closure's annotation.

use proc_macro2::Ident;
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, ReturnType, Signature, Type, TypeParamBound};

/// `ty` with every `impl Trait` replaced by `_`, for a closure's return
/// annotation: the closure still gets the function's concrete parts (so `?`
/// converts errors as the function did) and infers the hidden ones.
pub fn annotation(ty: &Type) -> Type {
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

/// How a function's work is shaped, which decides when its span starts and ends.
pub enum Shape<'a> {
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

/// Whether the function returns nothing to inspect: `()`, or `!` (where
/// code after the call would be unreachable).
pub fn returns_unit(sig: &Signature) -> bool {
    match &sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => match peel(ty) {
            Type::Tuple(t) => t.elems.is_empty(),
            Type::Never(_) => true,
            _ => false,
        },
    }
}

/// Whether the function returns `!`.
pub fn diverges(sig: &Signature) -> bool {
    matches!(&sig.output, ReturnType::Type(_, ty) if matches!(peel(ty), Type::Never(_)))
}

/// `ty` without the parentheses around it, or the invisible group a
/// `macro_rules!` `$ret:ty` arrives in.
pub fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        _ => ty,
    }
}

pub fn shape(sig: &Signature) -> Shape<'_> {
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
pub fn plainly_not_a_result(ty: &Type) -> bool {
    // Wider than `is_plain`'s names, since nothing here is named in the
    // expansion: any primitive and the standard containers, generic
    // arguments and all (`Vec<T>` is no `Result` whatever `T` is). A
    // crate's own type under one of these names only goes without the
    // `Err` check.
    const NOT_RESULTS: &[&str] = &[
        "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64", "String", "Vec", "Option", "Box", "Arc", "Rc", "HashMap",
        "BTreeMap", "HashSet", "BTreeSet", "VecDeque",
    ];
    match peel(ty) {
        Type::Reference(_) | Type::Tuple(_) | Type::Array(_) | Type::Slice(_) | Type::Never(_) => {
            true
        }
        ty => one_name(ty).is_some_and(|path| is_one_of(&path.segments[0].ident, NOT_RESULTS)),
    }
}

/// Whether `ty` is written as one of the standard library's numbers,
/// `bool` or `str`, behind any references: a type the runtime's `Plain`
/// covers, known without type checking. The expansion names `Plain`
/// outright for it, so the rule is narrower than [`plainly_not_a_result`]'s:
/// the bare name only (not `::u8`, nothing like `u8<T>`), lowercase names
/// a crate's own type takes only against `non_camel_case_types` (not
/// `String`), and only the types `Plain` has (not `u128`, `i128`, `char`).
pub fn is_plain(ty: &Type) -> bool {
    const PLAIN: &[&str] = &[
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "f32", "f64",
        "bool", "str",
    ];
    let mut ty = peel(ty);
    while let Type::Reference(r) = ty {
        ty = peel(&r.elem);
    }
    one_name(ty).is_some_and(|path| {
        let name = &path.segments[0];
        path.leading_colon.is_none() && name.arguments.is_none() && is_one_of(&name.ident, PLAIN)
    })
}

/// The path `ty` is written as, when it has a single segment and no
/// qualified self: `u8`, `Vec<T>`, `::u8`; not `<T as Trait>::Out` or
/// `io::Result`.
fn one_name(ty: &Type) -> Option<&syn::Path> {
    match ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => Some(&p.path),
        _ => None,
    }
}

/// Whether `name` is one of `names`: one copy of the name, not one per
/// comparison.
fn is_one_of(name: &Ident, names: &[&str]) -> bool {
    names.contains(&name.to_string().as_str())
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

#[cfg(test)]
mod tests {
    use super::plainly_not_a_result;

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
