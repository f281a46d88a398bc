#!/usr/bin/env bash
# Install what Noom needs to build (and, with --test, to run its browser tests) on a fresh
# Debian machine. Every step skips itself when already done, so a second run takes seconds.
#   scripts/setup.sh          build tools: wasm target, cargo-leptos, wasm-bindgen, wasm-opt
#   scripts/setup.sh --test   the same, plus Chromium and Playwright for end-to-end tests, and
#                             pebble (an ACME test CA) for the certificate tests
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[[ "${1:-}" == "--test" ]] && want_test=true

step() { printf '\n== %s\n' "$*"; }

apt_pkgs=()
command -v ip >/dev/null || apt_pkgs+=(iproute2)
command -v unshare >/dev/null || apt_pkgs+=(util-linux)
if $want_test; then
  command -v chromium >/dev/null || apt_pkgs+=(chromium)
  # The reach tests drop packets inside the suite's own network namespace.
  command -v nft >/dev/null || apt_pkgs+=(nftables)
  # The network lab (end2end/lab) checks the server is up from inside its namespace.
  command -v curl >/dev/null || apt_pkgs+=(curl)
  # Reactions and hands are emoji; without a colour emoji font the screenshots show boxes.
  [[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || apt_pkgs+=(fonts-noto-color-emoji)
  # The ACME tests obtain certificates from Let's Encrypt's test CA, run on loopback.
  { command -v pebble && command -v pebble-challtestsrv; } >/dev/null || apt_pkgs+=(pebble)
fi
if ((${#apt_pkgs[@]})); then
  step "apt: ${apt_pkgs[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_pkgs[@]}"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 0.3.10 is the last cargo-leptos that builds on Rust 1.95 with --locked; no_downloads makes it
# use the wasm-bindgen and wasm-opt on PATH instead of fetching binaries.
if ! cargo leptos --version 2>/dev/null | grep -q '0\.3\.10'; then
  step "cargo install cargo-leptos 0.3.10 (about 20 minutes on 2 cores)"
  cargo install cargo-leptos --locked --version 0.3.10 --features no_downloads
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WB=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WB\$"; then
  step "cargo install wasm-bindgen-cli $WB"
  cargo install wasm-bindgen-cli --version "$WB"
fi

# npm's binaryen gives a wasm-opt that works (Debian's is too old: the page never hydrates),
# and the same package.json holds Playwright. No browser download: Debian's chromium is used.
if [[ ! -x end2end/node_modules/.bin/wasm-opt || end2end/package-lock.json -nt end2end/node_modules/.stamp ]]; then
  step "npm ci (end2end: binaryen, @playwright/test)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund && touch node_modules/.stamp)
fi
echo "setup done"
