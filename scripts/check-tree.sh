#!/usr/bin/env bash
# Rules about the repository's shape that no compiler checks (run by scripts/test.sh, and
# on its own: `scripts/check-tree.sh`). Each failure names the file and the rule.
#  - no tracked file over 512 KiB unless listed in .large-files (a perf dump named `0`
#    once sat at the root for weeks);
#  - the layers of docs/ARCHITECTURE.md: `sfu/` and `store/` never import the hub; the
#    plain client model (`src/model/`) imports no browser or Leptos crate; the browser
#    engine (`src/client/`) never imports the UI (`crate::app`);
#  - no source file over 400 lines (protocol.rs excepted: it is the wire's one list).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad() { echo "check-tree: $*" >&2; fail=1; }

allowed=$(grep -v '^#' .large-files 2>/dev/null || true)
while IFS= read -r -d '' f; do
  [[ -f $f ]] || continue
  size=$(stat -c %s "$f")
  if (( size > 512 * 1024 )) && ! grep -qxF "$f" <<<"$allowed"; then
    bad "$f is $((size / 1024)) KiB: over 512 KiB and not listed in .large-files"
  fi
done < <(git ls-files -z)

imports() { # dir pattern rule
  local hits
  hits=$(grep -rnE "$2" "$1" --include='*.rs' 2>/dev/null || true)
  [[ -z $hits ]] || bad "$3:"$'\n'"$hits"
}
imports src/server/sfu 'server::hub|super::hub' "sfu/ imports the hub"
imports src/server/store 'server::hub|super::hub' "store/ imports the hub"
if [[ -d src/model ]]; then
  imports src/model '\b(leptos|web_sys|gloo|gloo_net|wasm_bindgen|js_sys|reactive_stores)::' "src/model imports a browser or Leptos crate"
fi
# The shell reaches the model through client::Port, never the UI (CHECK_CLIENT_LAYER=0 skips).
if [[ ${CHECK_CLIENT_LAYER:-1} == 1 ]]; then
  imports src/client 'crate::app\b' "src/client imports crate::app"
fi

# Files still over the limit, to be split (issue 17): the list may only shrink, so a
# file that is split must leave it too.
debt="
src/server/hub.rs
src/server/ws.rs
src/server/mod.rs
src/server/acme.rs
src/server/config.rs
src/server/sfu/mod.rs
src/server/sfu/peer.rs
src/server/tls.rs
src/server/turn/core.rs
"
max=400
while IFS= read -r f; do
  n=$(wc -l <"$f")
  if [[ $f == src/protocol.rs ]]; then continue; fi
  if grep -qxF "$f" <<<"$debt"; then
    (( n > max )) || bad "$f has $n lines now: take it off the debt list in scripts/check-tree.sh"
  elif (( n > max )); then
    bad "$f has $n lines (more than $max)"
  fi
done < <(git ls-files 'src/*.rs')

exit $fail
