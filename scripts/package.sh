#!/usr/bin/env bash
# Build Noom (release) and pack what a server needs into one archive:
#   noom-<version>-<arch>.tar.gz = noom/{noom, Leptos.toml, site/, noom.service, README.md}
# Unpack it on the server (e.g. in /opt), and run `./noom` from that directory (it reads
# Leptos.toml there, and the site from site/). See README.md, "Deploy".
#   scripts/package.sh            build, then pack into target/package/
#   scripts/package.sh --no-build pack what was built last
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" != "--no-build" ]]; then
  scripts/setup.sh
  export PATH="$PWD/end2end/node_modules/.bin:$PATH"
  cargo leptos build --release --split
  node scripts/precompress.mjs target/site/pkg
fi
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
name="noom-$version-$(uname -m)"
out="target/package/$name"
rm -rf "$out" && mkdir -p "$out/noom"
cp target/release/noom "$out/noom/noom"
cp -r target/site "$out/noom/site"
# The unpacked tree keeps its site beside the binary: point Leptos.toml there.
sed -e 's|^site-root = .*|site-root = "site"|' Leptos.toml > "$out/noom/Leptos.toml"
cp deploy/noom.service README.md "$out/noom/"
tar -C "$out" -czf "target/package/$name.tar.gz" noom
rm -rf "$out"
echo "target/package/$name.tar.gz"
