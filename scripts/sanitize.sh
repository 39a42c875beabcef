#!/usr/bin/env bash
# Runs the tests that exercise tracekit's unsafe code and thread state
# (frames, re-entrancy, teardown, futures, the collector queue) under
# AddressSanitizer and LeakSanitizer, with the nightly toolchain.
# Usage: bash scripts/sanitize.sh   (from anywhere; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=1"
cargo +nightly test --target-dir target/asan --target x86_64-unknown-linux-gnu \
  -p tracekit-tests \
  --test soundness --test soundness_global --test reentrancy \
  --test context --test async_tasks --test async_first_poll --test capture --test macro_shapes \
  --test macro_options --test bounded_recording --test allocator_and_filter --test reporter_panics
