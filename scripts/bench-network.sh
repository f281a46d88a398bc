#!/usr/bin/env bash
# A four-person SFU call in the network lab (end2end/lab/README.md), with P4 on a weak
# link: downlink 300 kbit/s, 500 kbit/s and 1 Mbit/s, then uplink 300 kbit/s (tbf, 200 ms
# queue). Prints per person what they received (video fps, height, freezes, audio
# concealment), writes each case's figures as JSON to LAB_OUT_DIR (default a new directory
# under end2end/lab-results) and ends with a table of them (end2end/lab/table.mjs).
#
#   NOOM_LAB_BIN=/path/noom NOOM_LAB_SITE=/path/site scripts/bench-network.sh
#
# Without NOOM_LAB_BIN it builds the repository (release, as scripts/run.sh) and measures
# target/release/noom with target/site. CASES overrides the list ("down:500 up:300 none:0"),
# SECS the measured seconds per case (default 20). Needs root (network namespaces, tc).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${NOOM_LAB_BIN:-} ]]; then
  scripts/setup.sh --test
  cargo leptos build --release --split
  node scripts/precompress.mjs target/site/pkg
fi
# Not under end2end/test-results: Playwright empties that at the start of every run.
out=$(realpath -m "${LAB_OUT_DIR:-end2end/lab-results/$(date +%Y%m%d-%H%M%S)}")
mkdir -p "$out"
failed=()
for c in ${CASES:-down:300 down:500 down:1000 up:300}; do
  dir=${c%%:*} kbit=${c##*:}
  [[ $dir == none ]] && kbit=0
  echo
  echo "== P4 ${dir} ${kbit} kbit/s; server ${NOOM_LAB_BIN:-target/release/noom}; loadavg before: $(cat /proc/loadavg)"
  name="$dir-$kbit-$(date +%H%M%S)"
  # A failed case (say, a browser that never got the call) does not stop the others.
  LIMIT_DIR=${dir/none/down} LIMIT_KBIT=$kbit LAB_OUT="$out/$name.json" \
    end2end/lab/run.sh lab/weak-link.spec.ts || failed+=("$c")
  cp end2end/test-results/lab/noom.log "$out/$name.noom.log" 2>/dev/null || true
done
echo; node end2end/lab/table.mjs "$out" || true
echo; echo "JSON figures in $out"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
