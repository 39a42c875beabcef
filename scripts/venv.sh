#!/usr/bin/env bash
# scripts/venv.sh DIR REQUIREMENTS: makes DIR a Python virtual environment
# holding exactly what REQUIREMENTS pins, installing from PyPI only when DIR
# is missing or was made from other requirements. Prints DIR's python.
set -euo pipefail
venv="$1"
req="$2"
stamp="$venv/.installed"
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || {
    echo "venv.sh: $python not found; install Python 3.8+ with venv (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
}
if ! [[ -f "$stamp" ]] || ! cmp -s "$req" "$stamp"; then
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
    echo "venv.sh: installed $req into $venv" >&2
fi
echo "$venv/bin/python"
