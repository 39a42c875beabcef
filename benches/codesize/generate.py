#!/usr/bin/env python3
"""Writes the code-size benchmark: one crate per variant, each with 400
instrumented functions and 400 instrumented methods (40 types of 10), three
arguments and a `Result` return each, all called from `main`.

Variants: untraced, tracekit (`#[trace_fn]` / `#[trace_impl]`), tracing
(`#[instrument(err)]`), fastrace (`#[trace]`). Usage:

    python3 benches/codesize/generate.py <out-dir> <tracekit-runtime-path> [inlined|standalone] [scale]

Shapes: `inlined` (the default) lets the compiler inline every function
into `main`, one huge function; `standalone` marks each `#[inline(never)]`,
as functions called from many places end up. `scale` (default 1) divides
the number of functions, for the marginal cost per function.

`benches/codesize/run.sh` calls it and measures; nothing it writes is
committed.
"""

import pathlib
import sys

FNS = 400
TYPES = 40
METHODS_PER_TYPE = 10
SHAPE = "inlined"

BODY = """    if c {
        Ok(a.wrapping_mul(3) ^ b.len() as u64)
    } else {
        Err(std::io::Error::other(format!("{b} refused {a}")))
    }"""

VARIANTS = {
    "untraced": {
        "deps": "",
        "fn_attr": "",
        "impl_attr": "",
        "method_attr": "",
        "setup": "",
    },
    "tracekit": {
        "deps": 'tracekit = { path = "RUNTIME" }',
        "fn_attr": "#[tracekit::trace_fn]",
        "impl_attr": "#[tracekit::trace_impl]",
        "method_attr": "",
        "setup": "    let _reporter = tracekit::set_reporter(tracekit::InMemoryReporter::new());\n",
        "check": "    assert_eq!(tracekit::trace_points().count(), 800, \"every trace point is listed\");",
    },
    "tracing": {
        "deps": 'tracing = "0.1.44"\ntracing-subscriber = { version = "0.3.23", default-features = false, features = ["registry", "std"] }',
        "fn_attr": "#[tracing::instrument(err)]",
        "impl_attr": "",
        "method_attr": "#[tracing::instrument(skip(self), err)]",
        "setup": "    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry());\n",
    },
    "fastrace": {
        "deps": 'fastrace = { version = "0.7.19", features = ["enable"] }',
        "fn_attr": "#[fastrace::trace]",
        "impl_attr": "",
        "method_attr": "#[fastrace::trace]",
        "setup": "    fastrace::set_reporter(fastrace::collector::ConsoleReporter, fastrace::collector::Config::default());\n",
    },
}


def source(v):
    out = ["use std::hint::black_box;\n"]
    keep = "#[inline(never)]\n" if SHAPE == "standalone" else ""
    for i in range(FNS):
        if v["fn_attr"]:
            out.append(v["fn_attr"])
        out.append(f"{keep}fn work_{i}(a: u64, b: &str, c: bool) -> Result<u64, std::io::Error> {{\n{BODY}\n}}\n")
    for t in range(TYPES):
        out.append(f"pub struct Repo{t} {{ pub salt: u64 }}\n")
        if v["impl_attr"]:
            out.append(v["impl_attr"])
        out.append(f"impl Repo{t} {{")
        for m in range(METHODS_PER_TYPE):
            if v["method_attr"]:
                out.append("    " + v["method_attr"])
            out.append(
                f"    {keep}pub fn op_{m}(&self, a: u64, b: &str, c: bool) -> Result<u64, std::io::Error> {{\n"
                f"        let a = a ^ self.salt;\n{BODY}\n    }}"
            )
        out.append("}\n")
    out.append("fn main() {")
    out.append(v["setup"])
    out.append("    let mut sum = 0u64;")
    out.append("    let b = black_box(\"key\");")
    for i in range(FNS):
        out.append(f"    sum = sum.wrapping_add(work_{i}(black_box({i}), b, black_box(true)).unwrap_or(0));")
    for t in range(TYPES):
        out.append(f"    let r = Repo{t} {{ salt: black_box({t}) }};")
        for m in range(METHODS_PER_TYPE):
            out.append(f"    sum = sum.wrapping_add(r.op_{m}(black_box({m}), b, black_box(true)).unwrap_or(0));")
    out.append(v.get("check", "").replace("800", str(FNS + TYPES * METHODS_PER_TYPE)))
    out.append("    println!(\"{sum}\");")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    global FNS, TYPES, SHAPE
    out = pathlib.Path(sys.argv[1])
    runtime = pathlib.Path(sys.argv[2]).resolve()
    if len(sys.argv) > 3:
        SHAPE = sys.argv[3]
        assert SHAPE in ("inlined", "standalone"), SHAPE
    if len(sys.argv) > 4:
        scale = int(sys.argv[4])
        FNS //= scale
        TYPES //= scale
    members = []
    for name, v in VARIANTS.items():
        crate = out / name
        (crate / "src").mkdir(parents=True, exist_ok=True)
        deps = v["deps"].replace("RUNTIME", str(runtime))
        (crate / "Cargo.toml").write_text(
            f'[package]\nname = "codesize-{name}"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n{deps}\n'
        )
        (crate / "src" / "main.rs").write_text(source(v))
        members.append(name)
    (out / "Cargo.toml").write_text(
        "[workspace]\nresolver = \"3\"\nmembers = [" + ", ".join(f'"{m}"' for m in members) + "]\n"
    )


if __name__ == "__main__":
    main()
