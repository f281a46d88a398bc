#!/usr/bin/env bash
# Set up this machine and run every test: unit and integration tests (cargo test), then the
# Playwright suite against a release build, in a network namespace where only loopback
# exists, so no test can send anything off this machine; then the network lab (browsers in
# network namespaces of their own behind rate-limited links, end2end/lab/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/end2end/node_modules/.bin:$PATH"

echo; echo "== repository shape (scripts/check-tree.sh)"
scripts/check-tree.sh

echo; echo "== cargo test"
cargo test --features ssr

echo; echo "== cargo leptos build --release --split"
cargo leptos build --release --split
node scripts/precompress.mjs target/site/pkg

echo; echo "== playwright (loopback-only network namespace)"
unshare -n bash -c 'ip link set lo up && cd end2end && npx playwright test'

echo; echo "== network lab: the lab itself, and a call on a 300 kbit/s downlink (end2end/lab)"
end2end/lab/run.sh lab/lab-check.spec.ts lab/weak-link-rules.spec.ts
