//! The runtime's layers, checked against its code: every `crate::` path
//! in `runtime/src` (in `use` lines and inline, comments and doc comments
//! left out) must lead to the file's own layer or a layer below it, in the
//! order declared here, which ARCHITECTURE.md draws and `lib.rs` declares.
//! A path through a name `lib.rs` re-exports counts as a path to the layer
//! the name comes from. So the order cannot erode: an import that runs
//! back up fails this test, with the file, the line and the layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, from the top; each folder of `runtime/src` is one.
const LAYERS: [&str; 8] = [
    "integrations",
    "propagation",
    "api",
    "local",
    "sampling",
    "collect",
    "report",
    "data",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("runtime/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its comments (line, block and doc comments) and
/// without the text of string and char literals, line numbers kept.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            out.push('\n');
                        }
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    } else if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            c => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    out
}

/// Where `lib.rs` takes each name it re-exports from: name → layer (under
/// the name it is re-exported as).
fn reexports(lib: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let code = code_only(lib);
    let mut rest = code.as_str();
    while let Some(at) = rest.find("pub use ") {
        rest = &rest[at + 8..];
        let end = rest.find(';').expect("a use item ends");
        let item = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        rest = &rest[end..];
        let Some(layer) = LAYERS.iter().find(|l| item.starts_with(&format!("{l}::"))) else {
            continue;
        };
        let list = match item.find('{') {
            Some(open) => group(&item[open..]).unwrap_or_default(),
            None => vec![item.clone()],
        };
        for entry in list {
            // `a::b as c` is known as `c`; `a::b` and `a::{b, c}` by their
            // last names.
            let name = match entry.rsplit_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => entry.rsplit("::").next().unwrap_or("").trim(),
            };
            if !name.is_empty() && name != "*" {
                names.insert(name.to_owned(), (*layer).to_owned());
            }
        }
    }
    names
}

/// The top-level entries of the `{ ... }` group `text` starts with, nested
/// groups kept whole; `None` when the group does not close.
fn group(text: &str) -> Option<Vec<String>> {
    let mut depth = 0;
    let mut entries = Vec::new();
    let mut entry = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    entries.push(std::mem::take(&mut entry));
                    let entries = entries
                        .into_iter()
                        .map(|e| e.trim().to_owned())
                        .filter(|e| !e.is_empty())
                        .collect();
                    return Some(entries);
                }
            }
            ',' if depth == 1 => {
                entries.push(std::mem::take(&mut entry));
                continue;
            }
            _ => {}
        }
        entry.push(c);
    }
    None
}

/// The layers a `crate::` path (the text after `crate::`) leads to.
fn targets(path: &str, roots: &HashMap<String, String>) -> Vec<String> {
    let first: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if rank(&first).is_some() {
        return vec![first];
    }
    if first.is_empty() && path.starts_with('{') {
        return group(path)
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                let n: String = entry
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                roots
                    .get(&n)
                    .cloned()
                    .or_else(|| rank(&n).map(|_| n.clone()))
            })
            .collect();
    }
    roots.get(&first).cloned().into_iter().collect()
}

/// Every `crate::` path of `code` (comments already out): its line and the
/// text after `crate::`. A path written as `$crate::` is a macro's, which
/// resolves where the macro expands (generated code names only
/// `__private`, the API's glue).
fn crate_paths(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        from = start + 7;
        let before = code[..start].chars().last();
        if before == Some('$') || before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        out.push((line, &code[from..]));
    }
    out
}

#[test]
fn imports_run_down_the_layers_only() {
    let root = src();
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs");
    let roots = reexports(&lib);
    assert!(roots.contains_key("Span"), "lib.rs's re-exports were read");
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut wrong = Vec::new();
    let mut seen = 0;
    for file in &all {
        let rel = file.strip_prefix(&root).expect("under src");
        let Some(layer) = rel.components().next().and_then(|c| c.as_os_str().to_str()) else {
            continue;
        };
        if layer == "lib.rs" {
            continue;
        }
        let own = rank(layer).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        let code = code_only(&std::fs::read_to_string(file).expect("a source file"));
        for (line, rest) in crate_paths(&code) {
            seen += 1;
            for target in targets(rest, &roots) {
                let to = rank(&target).expect("a layer");
                if to < own {
                    wrong.push(format!(
                        "{}:{line}: {layer} -> {target}: `crate::{}`",
                        rel.display(),
                        rest.chars().take(60).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(seen > 100, "the paths were read ({seen})");
    assert!(
        wrong.is_empty(),
        "imports that run back up the layers ({} > ... > {}):\n{}",
        LAYERS[0],
        LAYERS[LAYERS.len() - 1],
        wrong.join("\n")
    );
}

/// Every folder of `runtime/src` is a layer, and every layer a folder.
#[test]
fn the_folders_are_the_layers() {
    let mut folders: Vec<String> = std::fs::read_dir(src())
        .expect("runtime/src")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    folders.sort();
    let mut layers: Vec<String> = LAYERS.iter().map(|l| (*l).to_owned()).collect();
    layers.sort();
    assert_eq!(folders, layers);
}

/// ARCHITECTURE.md lists the layers in the same order.
#[test]
fn the_architecture_page_names_the_same_order() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md at the repository's root");
    let mut at = 0;
    for layer in LAYERS {
        let needle = format!("`{layer}/`");
        let found = page[at..]
            .find(&needle)
            .unwrap_or_else(|| panic!("ARCHITECTURE.md names {needle} after the layers above it"));
        at += found + needle.len();
    }
}

/// The reader itself: a grouped import over several lines, a nested group,
/// an inline path, a renamed re-export and a macro's `$crate::` path are
/// each read as the layer they lead to (or left out, the last).
#[test]
fn the_reader_sees_every_form_of_path() {
    let lib = "pub use api::private as __private;\npub use data::{\n    id::SpanId,\n    text::Text as Str,\n};\n";
    let roots = reexports(lib);
    assert_eq!(roots.get("__private").map(String::as_str), Some("api"));
    assert_eq!(roots.get("SpanId").map(String::as_str), Some("data"));
    assert_eq!(roots.get("Str").map(String::as_str), Some("data"));
    let code = code_only(
        "use crate::{\n    data::id::SpanId,\n    local::{frames, state},\n    __private,\n};\n\
         // crate::api::in_a_comment\n\
         fn f() { crate::sampling::filter::is_on(); $crate::api::x(); }\n",
    );
    let found: Vec<(usize, Vec<String>)> = crate_paths(&code)
        .into_iter()
        .map(|(line, rest)| (line, targets(rest, &roots)))
        .collect();
    assert_eq!(
        found,
        [
            (1, vec!["data".into(), "local".into(), "api".into()]),
            (7, vec!["sampling".into()]),
        ]
    );
}
