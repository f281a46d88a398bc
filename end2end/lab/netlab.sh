#!/usr/bin/env bash
# The network lab's namespaces (see end2end/lab/README.md). Run it only inside a network
# namespace of its own (`unshare -n -m`, as end2end/lab/run.sh does): it refuses to touch
# the machine's own network.
#
#   netlab.sh up N                      namespace srv (Noom, 10.77.0.1) and b1..bN (browsers)
#   netlab.sh limit bI down|up KBIT     rate-limit bI's link (tbf, 200 ms queue); KBIT=off lifts it
#   netlab.sh show                      the links and their qdiscs
#   netlab.sh stats                     bytes sent and dropped by each limit so far
#   netlab.sh down                      delete every namespace `up` made
#
# Topology: srv holds a bridge `br0` (10.77.0.1/24). Browser I has `eth0` (10.77.0.(10+I)/24),
# a veth whose other end `lI` is a port of br0: the media and page link. Downlink = tbf on
# lI's egress (srv -> bI), uplink = tbf on bI's eth0 egress (bI -> srv). Browser I also has
# `ctl0` (10.99.I.2/30) to the lab's own namespace (`cI`, 10.99.I.1/30), never limited:
# Playwright drives the browser over it. srv has no route to 10.99/16 and the lab
# namespace does not forward, so no media can take the control link.
set -euo pipefail

# The lab's own namespace has no default route and no interface but loopback and the
# control links this script makes (cI). Anything else means this is a real network: stop.
foreign=$(ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -vxE 'lo|c[0-9]+' || true)
if [[ -n $(ip route show default) || -n $foreign ]]; then
  echo "netlab.sh: this namespace has a default route or other interfaces ($foreign): run it only inside 'unshare -n -m' (end2end/lab/run.sh)" >&2
  exit 1
fi

QUEUE_MS=${NOOM_LAB_QUEUE_MS:-200}

tbf() { # netns dev kbit
  local ns=$1 dev=$2 kbit=$3
  if [[ $kbit == off || $kbit == 0 ]]; then
    tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
    return
  fi
  # Burst: 20 ms at the rate, and never under two full frames (tbf cannot pass a packet
  # larger than its bucket).
  local burst=$(( kbit * 1000 / 8 / 50 ))
  (( burst < 3028 )) && burst=3028
  tc -n "$ns" qdisc replace dev "$dev" root tbf rate "${kbit}kbit" burst "$burst" latency "${QUEUE_MS}ms"
}

up() {
  local n=$1
  ip link set lo up
  ip netns add srv
  ip -n srv link set lo up
  ip -n srv link add br0 type bridge
  ip -n srv addr add 10.77.0.1/24 dev br0
  ip -n srv link set br0 up
  for i in $(seq 1 "$n"); do
    ip netns add "b$i"
    ip -n "b$i" link set lo up
    # Media and page link: eth0 in bI, lI in srv on the bridge.
    ip link add "l$i" netns srv type veth peer name eth0 netns "b$i"
    ip -n srv link set "l$i" master br0
    ip -n srv link set "l$i" up
    ip -n "b$i" addr add "10.77.0.$((10 + i))/24" dev eth0
    ip -n "b$i" link set eth0 up
    # Control link: ctl0 in bI, cI here.
    ip link add "c$i" type veth peer name ctl0 netns "b$i"
    ip addr add "10.99.$i.1/30" dev "c$i"
    ip link set "c$i" up
    ip -n "b$i" addr add "10.99.$i.2/30" dev ctl0
    ip -n "b$i" link set ctl0 up
  done
}

browsers() { ip netns list | awk '$1 ~ /^b[0-9]+$/ {print $1}' | sort -V; }

down() {
  for b in $(browsers); do
    ip link del "c${b#b}" 2>/dev/null || true
    ip netns del "$b"
  done
  ip netns del srv 2>/dev/null || true
}

limit() { # bI down|up KBIT
  local b=$1 dir=$2 kbit=$3 i=${1#b}
  case $dir in
    down) tbf srv "l$i" "$kbit" ;;
    up) tbf "$b" eth0 "$kbit" ;;
    *) echo "netlab.sh limit: direction is down or up, not $dir" >&2; exit 2 ;;
  esac
}

show() {
  for b in $(browsers); do
    echo "$b down: $(tc -n srv qdisc show dev "l${b#b}" | head -1)"
    echo "$b up:   $(tc -n "$b" qdisc show dev eth0 | head -1)"
  done
}

stats() { # what the limits did: bytes through each limited link's tbf, drops, overlimits
  for b in $(browsers); do
    local i=${b#b}
    tc -s -n srv qdisc show dev "l$i" | awk -v w="$b down" '/^qdisc tbf/ {t=1} t && /Sent/ {print w ": " $0; t=0}'
    tc -s -n "$b" qdisc show dev eth0 | awk -v w="$b up" '/^qdisc tbf/ {t=1} t && /Sent/ {print w ": " $0; t=0}'
  done
}

case ${1:-} in
  up) up "${2:-4}" ;;
  down) down ;;
  limit) limit "$2" "$3" "$4" ;;
  show) show ;;
  stats) stats ;;
  *) echo "usage: netlab.sh up N | limit bI down|up KBIT|off | show | stats | down" >&2; exit 2 ;;
esac
