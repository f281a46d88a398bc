#!/usr/bin/env bash
# Reproduce the call figures in BENCHMARKS.md: release build, then real Chromium peers with
# fake devices in a loopback-only network namespace: call set-up time (RUNS times, default
# 20) peer to peer and through the SFU, and what a six-person SFU call costs the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
node scripts/precompress.mjs target/site/pkg
run() { unshare -n bash -c "ip link set lo up && cd end2end && NOOM_P2P_MAX=$1 npx playwright test --config playwright.bench.config.ts $2"; }
echo "== peer to peer (two people, --p2p-max 2)"; run 2 bench/call-setup.spec.ts
echo "== through the SFU (--p2p-max 0)"; run 0 bench/call-setup.spec.ts
echo "== six people through the SFU"; run 2 bench/six-people.spec.ts
