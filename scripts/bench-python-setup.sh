#!/usr/bin/env bash
# Creates the Python venv for the benchmark baseline (bench/okta_sdk_kris.py, Okta's
# official Python SDK) at target/bench-venv, if it is missing or out of date, and prints
# the venv's python path on the last line. Idempotent and quiet; needs python3 and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/bench-venv
REQS=bench/requirements.txt
STAMP="$VENV/.requirements.sha256"

want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    echo "$want" >"$STAMP"
fi
echo "$(pwd)/$VENV/bin/python"
