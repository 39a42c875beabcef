#!/usr/bin/env bash
# Installs the OpenTelemetry Python propagators into .python-peers/ (a virtual
# environment of the project's own, ignored by git) for the peer tests in
# tests/tests/python_peers.rs. Safe to run again: it does nothing when the
# environment already holds what tests/peers/requirements.txt pins.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" "$root/.python-peers" "$root/tests/peers/requirements.txt" >/dev/null
