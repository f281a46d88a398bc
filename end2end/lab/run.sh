#!/usr/bin/env bash
# Run the network lab's Playwright tests (playwright.lab.config.ts) inside a network and
# mount namespace of their own: nothing the lab does reaches the machine's network, and the
# namespaces it adds under /run/netns live on a private tmpfs that disappears with it.
# Arguments go to `playwright test` (e.g. lab/weak-link.spec.ts); settings come from the
# environment (NOOM_LAB_BIN, NOOM_LAB_SITE, LIMIT_KBIT, LIMIT_DIR, SECS, LAB_OUT, ...; see
# lab/README.md). Needs root (ip netns, tc).
set -euo pipefail
# Paths given relative to where this was called from stay valid after the cd.
for v in NOOM_LAB_BIN NOOM_LAB_SITE NOOM_LAB_LEPTOS_TOML LAB_OUT; do
  if [[ -n ${!v:-} ]]; then export "$v=$(realpath -m "${!v}")"; fi
done
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
# `ip netns` keeps its namespaces under /run/netns; the lab mounts a tmpfs there in its own
# mount namespace, so it needs the directory to exist (removed again if the lab made it).
made_run_netns=""
if [[ ! -d /run/netns ]]; then
  mkdir /run/netns
  made_run_netns=1
fi
rc=0
# A PID namespace too: when it ends (or unshare is killed), the kernel kills every process
# left in it (server, browsers), and with them go the network namespaces.
unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc bash -c '
  set -euo pipefail
  mount -t tmpfs noom-lab /run/netns
  ip link set lo up
  # Whatever happens to Playwright, stop what is left in the namespaces and delete them.
  cleanup() {
    for ns in $(ip netns list | awk "{print \$1}"); do
      for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    done
    lab/netlab.sh down || true
  }
  trap cleanup EXIT
  playwright test --config playwright.lab.config.ts "$@"
' lab "$@" || rc=$?
if [[ -n $made_run_netns ]]; then rmdir /run/netns 2>/dev/null || true; fi
exit $rc
