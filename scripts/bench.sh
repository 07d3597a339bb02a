#!/usr/bin/env bash
# `make bench`: builds the benchmark driver and prints the figures (see
# tests/src/bin/kri-bench.rs for what each one measures). Extra arguments go to the
# driver, e.g. `scripts/bench.sh --only 1,2` or `--quick`; `--only 7` is the first sync
# over several runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p kri-e2e --bin kri-bench
exec target/release/kri-bench "$@"
