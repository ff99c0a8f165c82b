#!/bin/bash
# A short real use of one kith binary, run by scripts/dist-test.sh where no
# Swift toolchain is reachable: the version, a relay, alice and bob befriending,
# a post through sync, and one through bob's daemon and push.
# Usage: dist-scenario.sh KITH WORKDIR
set -euo pipefail
kith=$1
work=$2
mkdir -p "$work"
cd "$work"
export KITH_PASSPHRASE="dist test passphrase"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait' EXIT

fail() { echo "dist-scenario: $*" >&2; exit 1; }

# Waits up to 30 s for FILE to hold a line starting with PREFIX; prints the rest of it.
wait_for_line() {
  local file=$1 prefix=$2
  for _ in $(seq 300); do
    line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$prefix"}"; return 0; fi
    sleep 0.1
  done
  fail "no \"$prefix\" in $file: $(cat "$file" 2>/dev/null)"
}

version=$("$kith" --version)
echo "$version" | grep -Eq '^kith [0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\)$' || fail "unexpected --version: $version"
echo "dist-scenario: $version"

"$kith" relay --home relay --listen 127.0.0.1:0 --log-level warning > relay.out 2> relay.err &
pids+=($!)
url=$(wait_for_line relay.out "listening on ")

"$kith" init --home alice --name alice --relay "$url" 2> /dev/null
"$kith" init --home bob --name bob --relay "$url" 2> /dev/null
"$kith" friend add --home alice "$("$kith" card --home bob)" > /dev/null
"$kith" friend add --home bob "$("$kith" card --home alice)" > /dev/null
"$kith" group create --home alice family
"$kith" group add --home alice family bob > /dev/null

"$kith" post --home alice --to family "first post, through sync" > /dev/null
"$kith" sync --home alice > /dev/null
"$kith" sync --home bob > /dev/null
"$kith" feed --home bob | grep "first post, through sync" > /dev/null || fail "bob's feed lacks the first post"
echo "dist-scenario: a post went from alice to bob through the relay"

KITH_LOG_DESTINATION="$work/bob-daemon.log" "$kith" daemon --home bob > bob-daemon.out 2> bob-daemon.err &
pids+=($!)
wait_for_line bob-daemon.out "daemon running, control socket " > /dev/null
"$kith" post --home alice --to family "second post, pushed to bob's daemon" > /dev/null
"$kith" sync --home alice > /dev/null
for _ in $(seq 300); do
  # No passphrase: the feed comes through the daemon's control socket.
  if env -u KITH_PASSPHRASE "$kith" feed --home bob 2> /dev/null | grep "second post, pushed" > /dev/null; then
    echo "dist-scenario: bob's daemon fetched the next post on push"
    exit 0
  fi
  sleep 0.1
done
fail "bob's daemon did not fetch the second post: $(cat bob-daemon.log 2>/dev/null)"
