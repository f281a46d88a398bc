#!/usr/bin/env bash
# Reproduce the "What TLS costs" figures in BENCHMARKS.md, all on loopback:
#  1. full TLS handshakes per second, the server pinned to core 0, the clients on core 1;
#  2. chat fan-out over wss:// against ws:// (10 rooms of 100 at 1 msg/s each: 100 k
#     deliveries/s), the server on core 0 and the load on core 1;
#  3. a join storm of 3 000 over wss:// against ws:// (both on both cores).
# The HTTPS server uses its self-signed certificate (--self-signed), which the tools trust.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
cargo build --release --features ssr --example join_storm --example chat_load --example tls_handshakes
ulimit -n 20000 2>/dev/null || true
secs=${SECS:-10}
server=
start_server() { # cpus, extra flags...
  cpus=$1; shift
  data=$(mktemp -d)
  NOOM_ADDR=127.0.0.1:3101 NOOM_LOG=warn NOOM_STORE=memory NOOM_DATA_DIR=$data NOOM_RTC_UDP_ADDR=127.0.0.1:0 \
    NOOM_TURN_ADDR=127.0.0.1:0 taskset -c "$cpus" target/release/noom "$@" &
  server=$!
  for _ in $(seq 100); do curl -skf https://127.0.0.1:3101/healthz >/dev/null && break
    curl -sf http://127.0.0.1:3101/healthz >/dev/null && break; sleep 0.1; done
  export NOOM_BENCH_CA=$data/tls/self-signed.crt
}
stop_server() { kill -TERM "$server"; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap '[[ -n $server ]] && kill $server 2>/dev/null || true' EXIT

echo "== full TLS handshakes (server on core 0, clients on core 1)"
start_server 0 --self-signed
taskset -c 1 target/release/examples/tls_handshakes --addr 127.0.0.1:3101 --secs "$secs"
stop_server

for scheme in ws wss; do
  flags=(); [[ $scheme == wss ]] && flags=(--self-signed)
  echo "== fan-out over $scheme:// (server on core 0, load on core 1)"
  start_server 0 "${flags[@]}"
  taskset -c 1 target/release/examples/chat_load --url "$scheme://localhost:3101/ws" --secs "$secs" --tag "f$scheme" --rooms 10 --per-room 100 --rate-each 1
  stop_server
  echo "== join storm of 3 000 over $scheme://"
  start_server 0,1 "${flags[@]}"
  target/release/examples/join_storm --url "$scheme://localhost:3101/ws" --pid "$server" --clients 3000 --rooms 30
  stop_server
done
