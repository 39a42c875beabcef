#!/usr/bin/env bash
# Coverage-guided fuzzing of every extractor and of the viewer's OTLP JSON
# reader (fuzz/fuzz_targets/), with cargo-fuzz on the stable compiler
# (RUSTC_BOOTSTRAP=1). cargo-fuzz is installed into .tools/ (ignored by git)
# when missing. The committed inputs are the hand-written seeds in
# fuzz/seeds/<target> and the corpus in fuzz/corpus/<target>, the set-cover
# minimisation of the documented 10^7-run of each target (RELIABILITY.md);
# what the fuzzer finds goes to a scratch corpus, so the tree stays clean.
#
#   bash scripts/fuzz.sh            100,000 runs per target (CI)
#   bash scripts/fuzz.sh 10000000   the documented long run
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-100000}"
tools="$root/.tools"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: installing cargo-fuzz into $tools" >&2
    cargo install --quiet --locked cargo-fuzz --root "$tools"
fi
export RUSTC_BOOTSTRAP=1
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$root/fuzz"
for target in extract_headers otlp_json; do
    mkdir -p "$scratch/$target"
    echo "fuzz.sh: $target, $runs runs" >&2
    log="$scratch/$target.log"
    if ! cargo fuzz run --release "$target" "$scratch/$target" "seeds/$target" "corpus/$target" -- \
        -runs="$runs" -max_len=16384 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz.sh: $target found a failure (the input is in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done" "$log" || tail -5 "$log"
done
