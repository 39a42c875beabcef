//! Whether a function's body can leave early, read from its text: the
//! scanner behind the choice between running a sync body in place and in
//! a closure (see `expand`). A small lexer splits the body's text into the
//! few kinds of token the question needs; `return`, `become`, `?` and any
//! macro call but one of `PLAIN_MACROS` (by its bare name or through its
//! crate, `std::format!`) count as a way out.

use proc_macro2::TokenStream;

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
/// no `?`, no macro call that could hide one. Asked only of a sync body
/// whose result is inspected (`err`, `ret`): such a body can still run as a
/// block in place, its value the call's result; one that may leave early
/// runs in a closure, so that it leaves the closure and not the function.
/// Errs towards "no": a false "no" costs a closure, a false "yes" (only
/// through a macro shadowing one of [`PLAIN_MACROS`] that returns) leaves
/// the span to the guard, which ends it without inspecting the result.
///
/// Read from the body's text, one call into the compiler, rather than token
/// by token, which costs a call and a copy for each token and name.
pub fn runs_to_its_end(body: &TokenStream) -> bool {
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
            i = block_comment_end(b, i);
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

/// The end of the block comment that opens at `i`, past its `*/` (or the
/// end of the text). Block comments nest (a `/** … */` doc comment may be
/// printed as one): the comment ends where its depth returns to 0.
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let n = b.len();
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
    i
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

#[cfg(test)]
mod tests {
    use super::{Tok, lex, runs_to_its_end};

    #[test]
    fn the_lexer_skips_comments_and_the_insides_of_literals() {
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
}
