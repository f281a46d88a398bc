#!/usr/bin/env bash
# Reproduce the call figures in BENCHMARKS.md: release build, then real Chromium peers with
# fake devices in a loopback-only network namespace: call set-up time (RUNS times, default
# 20) peer to peer and through the SFU, over ICE-TCP and through TURN (UDP and TCP), and
# what a six-person SFU call costs the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
node scripts/precompress.mjs target/site/pkg
# run P2P_MAX SPEC [ICE_POLICY] [NFT_RULE]: NFT_RULE is dropped inside the namespace.
run() {
  local drop=""
  [[ -n "${4:-}" ]] && drop="nft add table inet b && nft add chain inet b input '{ type filter hook input priority 0; }' && nft add rule inet b input $4 drop &&"
  unshare -n bash -c "ip link set lo up && $drop cd end2end && NOOM_P2P_MAX=$1 NOOM_ICE_TRANSPORT_POLICY=${3:-all} npx playwright test --config playwright.bench.config.ts $2"
}
echo "== peer to peer (two people, --p2p-max 2)"; run 2 bench/call-setup.spec.ts
echo "== through the SFU (--p2p-max 0)"; run 0 bench/call-setup.spec.ts
echo "== through the SFU over ICE-TCP (UDP to the SFU dropped)"; run 0 bench/call-setup.spec.ts all "udp dport 3479"
echo "== peer to peer relayed by the built-in TURN server (UDP)"; run 2 bench/call-setup.spec.ts relay
echo "== peer to peer relayed by TURN over TCP (UDP to TURN dropped)"; run 2 bench/call-setup.spec.ts relay "udp dport 3478"
echo "== six people through the SFU"; run 2 bench/six-people.spec.ts
