#!/usr/bin/env bash
# Set up this machine, build Noom in release mode and run it at http://localhost:3000.
# Flags after -- go to the server, e.g. scripts/run.sh -- --addr 0.0.0.0:3000 (see --help):
# beyond loopback Noom serves HTTPS (a self-signed certificate unless given one; README "Deploy").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release --split
node scripts/precompress.mjs target/site/pkg
[[ "${1:-}" == "--" ]] && shift
exec env NOOM_PRECOMPRESSED=true \
  target/release/noom "$@"
