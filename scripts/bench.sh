#!/usr/bin/env bash
# Reproduce the crowd and fan-out figures in BENCHMARKS.md (all on loopback, port 3100):
#  1. join storm, memory per idle connection, chat latency: examples/join_storm.rs with
#     10 000 clients into 100 rooms (server and tool share both cores);
#  2. chat fan-out: examples/chat_load.rs, the server pinned to core 0 and the load on
#     core 1, with chat history in memory and on SQLite: 1 000 clients in 10 rooms of 100
#     at 1, 5 and 10 msg/s each (100 k, 500 k, 1 M deliveries/s), and in 100 rooms of 10
#     at 2 and 11.1 msg/s each (18 k and 100 k deliveries/s).
# Args go to the join storm (e.g. --clients 3000 --rooms 30). SECS=10 per fan-out line.
set -euo pipefail
cd "$(dirname "$0")/.."
# The server as cargo-leptos builds it (a plain `cargo build` of the binary would name the
# WASM differently and break the pages); the load tools with plain cargo.
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
cargo build --release --features ssr --example join_storm --example chat_load
# 10 000 clients need 10 000 descriptors on each side; the server raises its own limit.
ulimit -n 20000 2>/dev/null || true
secs=${SECS:-10}
server=

start_server() { # store cpus
  data=$(mktemp -d)
  NOOM_ADDR=127.0.0.1:3100 NOOM_LOG=warn NOOM_STORE=$1 NOOM_DATA_DIR=$data NOOM_RTC_UDP_ADDR=127.0.0.1:0 \
    taskset -c "$2" target/release/noom &
  server=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:3100/healthz >/dev/null && break; sleep 0.1; done
}
stop_server() {
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
}
trap '[[ -n $server ]] && kill $server 2>/dev/null' EXIT

echo "== join storm (server and tool on both cores)"
start_server sqlite 0,1
target/release/examples/join_storm --url ws://127.0.0.1:3100/ws --pid "$server" --clients 10000 --rooms 100 "$@"
stop_server

load() { taskset -c 1 target/release/examples/chat_load --secs "$secs" "$@"; }
for store in memory sqlite; do
  echo "== fan-out, store: $store (server on core 0, load on core 1)"
  start_server "$store" 0
  for rate in 1 5 10; do load --tag "big$rate" --rooms 10 --per-room 100 --rate-each $rate; done
  for rate in 2 11.1; do load --tag "small$rate" --rooms 100 --per-room 10 --rate-each $rate; done
  stop_server
done
