#!/usr/bin/env bash
# Two server binaries under the same load, alternating (A, B, A, B, …): chat fan-out (1 000
# clients in 10 rooms of 100 at 5 msg/s each, 495 k deliveries/s; server on core 0, load on
# core 1, memory store) and a join storm of 3 000 into 30 rooms. Besides latency, it reports
# the CPU time of the hub's thread and of the whole server (clock ticks from /proc), which
# other work on the machine disturbs far less than latency.
# usage: scripts/bench-ab.sh OLD_BINARY NEW_BINARY [ROUNDS]   (copy the old binary aside
# before building the new one; the load tools are this tree's examples)
set -uo pipefail
A=$1; B=$2; R=${3:-3}
cd "$(dirname "$0")/.."
cargo build --release --features ssr --example join_storm --example chat_load >/dev/null
T=target/release/examples
ulimit -n 20000
ticks() { # pid [thread-name] -> utime+stime ticks
  if [[ -n ${2:-} ]]; then
    for t in /proc/$1/task/*; do [[ $(cat $t/comm) == "$2" ]] && awk '{print $14+$15}' $t/stat; done
  else awk '{print $14+$15}' /proc/$1/stat; fi
}
one() { # bin label
  data=$(mktemp -d)
  NOOM_ADDR=127.0.0.1:3100 NOOM_LOG=warn NOOM_STORE=memory NOOM_DATA_DIR=$data NOOM_RTC_UDP_ADDR=127.0.0.1:0 NOOM_TURN_ADDR=127.0.0.1:0 \
    taskset -c 0 "$1" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:3100/healthz >/dev/null && break; sleep 0.1; done
  h0=$(ticks $pid noom-hub); p0=$(ticks $pid)
  out=$(taskset -c 1 $T/chat_load --secs 10 --tag f5 --rooms 10 --per-room 100 --rate-each 5 2>&1 | grep "deliveries ")
  h1=$(ticks $pid noom-hub); p1=$(ticks $pid)
  echo "$2 fan-out@5: hub $((h1-h0)) ticks, server $((p1-p0)) ticks |$out"
  h0=$(ticks $pid noom-hub); p0=$(ticks $pid)
  out=$($T/join_storm --url ws://127.0.0.1:3100/ws --clients 3000 --rooms 30 --messages 30 2>&1 | grep "join storm:")
  h1=$(ticks $pid noom-hub); p1=$(ticks $pid)
  echo "$2 join-storm: hub $((h1-h0)) ticks, server $((p1-p0)) ticks | $out"
  kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$data"
}
for i in $(seq $R); do one "$A" A; one "$B" B; done
