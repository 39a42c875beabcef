#!/usr/bin/env bash
# Model checks with loom: the collector's lock-free queue (runtime/src/collect/queue.rs)
# and the spare batch pool (runtime/src/data/batch.rs) under every interleaving of
# their threads, within loom's preemption bound. A separate target directory
# keeps the cfg change from rebuilding the normal build. CI runs this.
#
#   bash scripts/loom.sh                 LOOM_MAX_PREEMPTIONS=3 (the default here)
#   LOOM_MAX_PREEMPTIONS=5 bash scripts/loom.sh   a longer, deeper search
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
CARGO_TARGET_DIR=target/loom \
RUSTFLAGS="--cfg tracekit_loom -C debug-assertions -C overflow-checks" \
    cargo test --locked -p tracekit --release --lib loom -- --test-threads=1
