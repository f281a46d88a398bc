#!/usr/bin/env bash
# Reproduce the durable-chat figures in BENCHMARKS.md: the release server pinned to core 0,
# examples/chat_load.rs on core 1 (all on loopback), once with chat history in SQLite (the
# default) and once in memory (--store memory), at the same offered loads.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
cargo build --release --features ssr --example chat_load
ulimit -n 20000 2>/dev/null || true
secs=${SECS:-10}

run_server() { # store data_dir
  NOOM_ADDR=127.0.0.1:3100 NOOM_LOG=warn NOOM_STORE=$1 NOOM_DATA_DIR=$2 NOOM_RTC_UDP_ADDR=127.0.0.1:0 \
    taskset -c 0 target/release/noom &
  server=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:3100/healthz >/dev/null && break; sleep 0.1; done
}

load() { taskset -c 1 target/release/examples/chat_load --secs "$secs" "$@"; }

for store in sqlite memory; do
  data=$(mktemp -d)
  run_server "$store" "$data"
  echo "== store: $store"
  load --tag one --rooms 1 --per-room 50 --rate-each 20          # 1 000 msg/s into one room
  load --tag thirty --rooms 30 --per-room 10 --rate-each 3.34    # 1 000 msg/s over 30 rooms
  load --tag ten-k --rooms 30 --per-room 17 --rate-each 19.6     # 10 000 msg/s over 30 rooms
  load --tag max --rooms 50 --per-room 20 --rate-each 19.9       # ~20 000 msg/s offered
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
  if [[ $store == sqlite ]]; then
    echo "database after the runs: $(du -cb "$data"/noom.db* | tail -1 | cut -f1) bytes in $(ls "$data" | tr '\n' ' ')"
  fi
  rm -rf "$data"
done
