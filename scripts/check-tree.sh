#!/usr/bin/env bash
# Rules about the repository's shape that no compiler checks (run by scripts/test.sh, and
# on its own: `scripts/check-tree.sh`). Each failure names the file and the rule.
#  - no tracked file over 512 KiB unless listed in .large-files (a perf dump named `0`
#    once sat at the root for weeks);
#  - the layers of docs/ARCHITECTURE.md: `sfu/` and `store/` never import the hub; the
#    hub's core (`server/hub/core/`) uses no tokio, clock or metrics; the
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
# The hub's core decides from its inputs alone: no runtime, clock or metrics (its tests,
# under tests/, may use a channel as an outbox).
core_hits=$(grep -rnE '\b(tokio|metrics)::|Instant::now|SystemTime::now|now_ms\(|\.await\b' src/server/hub/core \
  --include='*.rs' --exclude-dir=tests 2>/dev/null || true)
[[ -z $core_hits ]] || bad "src/server/hub/core reads a clock or uses tokio or metrics:"$'\n'"$core_hits"
if [[ -d src/model ]]; then
  imports src/model '\b(leptos|web_sys|gloo|gloo_net|wasm_bindgen|js_sys|reactive_stores)::' "src/model imports a browser or Leptos crate"
fi
# The shell reaches the model through client::Port, never the UI.
imports src/client 'crate::app\b' "src/client imports crate::app"
# No two source files import each other, even through others (scripts/import-cycles.py
# says what counts as an import).
python3 scripts/import-cycles.py >&2 || bad "import cycles between source files (listed above)"

# Protocol.rs is the one exception: the wire's one list of messages.
max=400
while IFS= read -r f; do
  n=$(wc -l <"$f")
  if [[ $f == src/protocol.rs ]]; then continue; fi
  if (( n > max )); then
    bad "$f has $n lines (more than $max)"
  fi
done < <(git ls-files 'src/*.rs')

exit $fail
