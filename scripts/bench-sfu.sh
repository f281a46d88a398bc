#!/usr/bin/env bash
# Reproduce the SFU forwarding figures in BENCHMARKS.md: the release server pinned to one core
# (taskset -c 0) with every call on the SFU (--p2p-max 0), and examples/sfu_load.rs (str0m
# bots publishing and receiving synthetic simulcast VP8) on the other core, all on loopback.
# Args go to the load tool, e.g. `scripts/bench-sfu.sh --rooms 10 --subs 10`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The server as cargo-leptos builds it (a plain `cargo build` of the binary would name the
# WASM differently and break the pages); the load tool with plain cargo.
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
cargo build --release --features ssr --example sfu_load
NOOM_ADDR=127.0.0.1:3100 NOOM_LOG=warn NOOM_STORE=memory NOOM_P2P_MAX=0 NOOM_RTC_UDP_ADDR=127.0.0.1:3479 NOOM_MAX_CALL_SIZE=200 \
  taskset -c 0 target/release/noom &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:3100/healthz >/dev/null && break; sleep 0.1; done
taskset -c 1 target/release/examples/sfu_load --url ws://127.0.0.1:3100/ws --pid "$server" "$@"
