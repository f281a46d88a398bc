#!/usr/bin/env bash
# Reproduce the server figures in BENCHMARKS.md: start the release server on port 3100 and
# run examples/join_storm.rs against it (all on loopback). Args go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
# The server as cargo-leptos builds it (a plain `cargo build` of the binary would name the
# WASM differently and break the pages); the load tool with plain cargo.
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release
cargo build --release --features ssr --example join_storm
ulimit -n 20000 2>/dev/null || true
NOOM_ADDR=127.0.0.1:3100 NOOM_LOG=warn NOOM_DATA_DIR=$(mktemp -d) LEPTOS_OUTPUT_NAME=noom LEPTOS_SITE_ROOT=target/site target/release/noom &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:3100/healthz >/dev/null && break; sleep 0.1; done
target/release/examples/join_storm --url ws://127.0.0.1:3100/ws --pid "$server" "$@"
