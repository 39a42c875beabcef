#!/usr/bin/env bash
# Installs the OpenTelemetry Python propagators into .python-peers/ (a virtual
# environment of the project's own, ignored by git) for the peer tests in
# tests/tests/python_peers.rs. Safe to run again: it does nothing when the
# environment already holds what tests/peers/requirements.txt asks for.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.python-peers"
req="$root/tests/peers/requirements.txt"
stamp="$venv/.installed"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || {
    echo "python-peers: $python not found; install Python 3.8+ with venv (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
}
if [[ -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
    exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "python-peers: installed into $venv"
