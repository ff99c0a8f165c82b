#!/usr/bin/env bash
# The Kith demo: a local relay and three nodes (alice, bob, carol) in a
# temporary directory. alice posts to "family", which holds bob but not carol.
set -euo pipefail
kith="${KITH:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/kith}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/kith-demo.XXXXXX")
export KITH_PASSPHRASE="correct horse battery staple"
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ kith %s\n' "$*" | sed "s#$dir#\$DEMO#g"; "$kith" "$@"; }

step "A relay on 127.0.0.1 (its database: \$DEMO/relay/relay.sqlite)"
"$kith" relay --home "$dir/relay" --listen 127.0.0.1:0 --log-level warning > "$dir/relay.out" &
relay_pid=$!
for _ in $(seq 100); do grep -q listening "$dir/relay.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$dir/relay.out")
[ -n "$url" ] || { echo "kith demo: the relay did not start" >&2; exit 1; }
echo "relay at $url"

step "Three people create their nodes"
for name in alice bob carol; do run init --home "$dir/$name" --name "$name" --relay "$url"; done

step "They exchange contact cards (each card carries a drop token for that friend)"
run friend add --home "$dir/bob" "$("$kith" card --home "$dir/alice")"
run friend add --home "$dir/alice" "$("$kith" card --home "$dir/bob")"
run friend add --home "$dir/carol" "$("$kith" card --home "$dir/alice")"
run friend add --home "$dir/alice" "$("$kith" card --home "$dir/carol")"

step "alice makes an audience \"family\" with bob in it, not carol, and posts to it"
run group create --home "$dir/alice" family
run group add --home "$dir/alice" family bob
run post --home "$dir/alice" --to family "The baby is here! 3.4 kg, everyone is well."

step "alice syncs: one upload to the relay for all of the audience's mailboxes"
run sync --home "$dir/alice"

step "What the relay holds now"
if grep -q "The baby is here" "$dir"/relay/relay.sqlite* 2>/dev/null; then
  echo "the relay's database contains the post's text: this is a bug" >&2; exit 1
fi
echo "ciphertext only: the relay's database does not contain the post's text"

step "bob and carol sync"
for name in bob carol; do run sync --home "$dir/$name"; done

for name in alice bob carol; do
  step "$name's feed"
  run feed --home "$dir/$name"
done

