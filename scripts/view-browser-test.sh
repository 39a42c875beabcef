#!/usr/bin/env bash
# The viewer's page in a real browser: installs Debian's chromium when it is
# missing and the DevTools client into .view-browser/ (a virtual environment
# of the project's own, ignored by git), renders a two-service fixture with
# tracekit-view, and checks the page with DOM queries, clicks and typing
# (view/tests/browser/check_page.py). The screenshot is kept at
# target/artifacts/view-waterfall.png.
#
#   bash scripts/view-browser-test.sh            the checks (CI runs this)
#   bash scripts/view-browser-test.sh --bench N [M]  time to first render of N
#                                                   spans in traces of M (1,000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v chromium >/dev/null; then
    echo "view-browser-test: installing chromium (Debian package)" >&2
    sudo_=""
    [[ $(id -u) -eq 0 ]] || sudo_="sudo"
    $sudo_ apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >&2
fi
python="$(bash scripts/venv.sh "$root/.view-browser" "$root/view/tests/browser/requirements.txt")"

cargo build --release -q -p tracekit-view
view="$root/target/release/tracekit-view"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p target/artifacts

if [[ "${1:-}" == "--bench" ]]; then
    n="${2:-100000}"
    "$python" view/tests/browser/fixture.py "$work" --spans "$n" --per-trace "${3:-1000}"
    /usr/bin/time -f "html generation: %e s, %M KiB peak" "$view" "$work/big.jsonl" -o "$work/big.html"
    ls -l "$work/big.html" | awk '{printf "page size: %.1f MiB\n", $5 / 1048576}'
    for i in 1 2 3; do
        "$python" view/tests/browser/check_page.py --first-render "$work/big.html"
    done
    exit 0
fi

"$python" view/tests/browser/fixture.py "$work" > "$work/expected.json"
"$view" "$work/frontend.jsonl" "$work/backend.jsonl" -o "$work/page.html"
"$python" view/tests/browser/check_page.py "$work/page.html" "$work/expected.json" \
    target/artifacts/view-waterfall.png

# Only what is on screen is rendered: one trace of 20,000 spans puts a few
# screens of rows in the page, also after scrolling to its end.
"$python" view/tests/browser/fixture.py "$work" --spans 20000 --per-trace 20000 >/dev/null
"$view" "$work/big.jsonl" -o "$work/big.html"
"$python" view/tests/browser/check_page.py --first-render "$work/big.html" --assert-virtual
