#!/usr/bin/env bash
# Reproduce the call set-up figures in BENCHMARKS.md: release build, then two real Chromium
# peers with fake devices in a loopback-only network namespace, RUNS times (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release
node scripts/precompress.mjs target/site/pkg
unshare -n bash -c 'ip link set lo up && cd end2end && npx playwright test --config playwright.bench.config.ts'
