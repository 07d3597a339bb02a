#!/usr/bin/env bash
# The main job (`make demo`): start okta-sim with a seeded 2,000-user org, add it as
# a tenant, check it, run the Okta connector in the kri host, print the KRIs next to
# the simulator's ground truth, and stop the simulator. Okta's real per-minute rate
# limits are compressed into 2-second windows so the run takes seconds, not minutes;
# kri still paces itself to half of each bucket.
set -euo pipefail
cd "$(dirname "$0")/.."

KRI=target/release/kri
SIM=target/release/okta-sim
USERS=${DEMO_USERS:-2000}
SEED=${DEMO_SEED:-42}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kri-demo.XXXXXX")
SIM_PID=""

cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A random API token for this demo only; the simulator accepts just this one.
DEMO_OKTA_TOKEN="00demo$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export DEMO_OKTA_TOKEN

# One clock for the simulated org, the run and the ground truth, so they compare exactly.
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)

echo "== starting okta-sim: seed $SEED, $USERS users, clock $NOW"
"$SIM" --seed "$SEED" --users "$USERS" --now "$NOW" --port 0 --token "$DEMO_OKTA_TOKEN" \
    --rate-window-ms 2000 --latency-ms 5 >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
URL=""
for _ in $(seq 1 200); do
    URL=$(sed -n 's/^okta-sim listening on \(http:[^ ]*\).*/\1/p' "$WORK/sim.out" | head -n1)
    [ -n "$URL" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; echo "okta-sim did not start" >&2; exit 1; }
    sleep 0.05
done
[ -n "$URL" ] || { echo "okta-sim did not report its address" >&2; exit 1; }
echo "   listening on $URL"

export KRI_DATA_DIR="$WORK/data"
export KRI_PLUGINS=target/plugins

echo
echo "== kri connectors"
"$KRI" connectors

echo
echo "== kri tenant add acme (token read from an environment variable, stored encrypted)"
"$KRI" tenant add acme --connector okta --base-url "$URL" --token-env DEMO_OKTA_TOKEN --allow-insecure-local

echo
echo "== kri check okta --tenant acme"
"$KRI" check okta --tenant acme

echo
echo "== kri run-connector okta --tenant acme"
"$KRI" run-connector okta --tenant acme --now "$NOW"

echo
echo "== kri runs --tenant acme"
"$KRI" runs --tenant acme

echo
echo "== okta-sim ground truth for the same org"
"$SIM" --seed "$SEED" --users "$USERS" --now "$NOW" --ground-truth 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); [print(f"{k:40} {v}") for k,v in (d.get("by_slug") or {}).items()]' 2>/dev/null \
    || echo "   (ground truth not available)"
