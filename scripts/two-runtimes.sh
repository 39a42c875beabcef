#!/usr/bin/env bash
# Two copies of tracekit in one program, as a dependency tree can hold 0.1
# and 0.2: builds a program whose two libraries each trace with their own
# copy (this checkout as 0.1, a copy of it renamed 0.2), and checks that each
# copy lists, switches and records only its own trace points
# (tests/two-runtimes/main.rs). Runs it with tracing compiled in and out,
# then under AddressSanitizer (nightly), since listing points reads a linker
# section through raw pointers.
# Usage: bash scripts/two-runtimes.sh   (from anywhere; a few minutes cold)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
fx="$repo/target/two-runtimes"
rm -rf "$fx/copy" "$fx/app" "$fx/lib_a" "$fx/lib_b"
mkdir -p "$fx/copy" "$fx/app" "$fx/lib_a" "$fx/lib_b"

# The copy: the same sources at version 0.2.0 (their manifests inherit the
# version from the fixture's workspace below).
cp -r runtime "$fx/copy/runtime"
cp -r macros "$fx/copy/macros"
rm -rf "$fx/copy/runtime/target" "$fx/copy/macros/target"
cp README.md "$fx/copy/README.md"

cat >"$fx/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["app", "lib_a", "lib_b"]

[workspace.package]
version = "0.2.0"
edition = "2024"
rust-version = "1.85"
license = "MIT OR Apache-2.0"

[workspace.dependencies]
tracekit-macros = { path = "copy/macros", version = "0.2.0" }
$(grep -E '^(syn|quote|proc-macro2|once_cell|inventory|async-trait|tokio) = ' Cargo.toml)
TOML

lib() { # name, path of its tracekit
  cat >"$fx/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
path = "$repo/tests/two-runtimes/traced_lib.rs"

[features]
default = ["trace-all"]
trace-all = ["tracekit/trace-all"]

[dependencies]
tracekit = { path = "$2", default-features = false }
TOML
}
lib lib_a "$repo/runtime"
lib lib_b "$fx/copy/runtime"
cat >"$fx/app/Cargo.toml" <<TOML
[package]
name = "two-runtimes"
version = "0.1.0"
edition = "2024"
publish = false

[[bin]]
name = "two-runtimes"
path = "$repo/tests/two-runtimes/main.rs"

[features]
default = ["trace-all"]
trace-all = ["lib_a/trace-all", "lib_b/trace-all"]

[dependencies]
lib_a = { path = "../lib_a", default-features = false }
lib_b = { path = "../lib_b", default-features = false }
TOML
# The registry versions this checkout is tested with.
[[ -f "$fx/Cargo.lock" ]] || cp Cargo.lock "$fx/Cargo.lock"

run() {
  (cd "$fx" && cargo run -q -p two-runtimes "$@")
}
echo "two runtimes, tracing compiled in"
run
bin="$fx/target/debug/two-runtimes"
sections=$(readelf -SW "$bin" | grep -o 'tracekit_points_v[0-9_]*' | sort -u | tr '\n' ' ')
[[ "$sections" == "tracekit_points_v0_1 tracekit_points_v0_2 " ]] ||
  { echo "two-runtimes: expected one section per copy, found: $sections" >&2; exit 1; }
echo "two runtimes, tracing compiled out"
run --no-default-features
echo "two runtimes under AddressSanitizer (nightly)"
(cd "$fx" && RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
  cargo +nightly run -q -p two-runtimes --target x86_64-unknown-linux-gnu --target-dir target/asan)
