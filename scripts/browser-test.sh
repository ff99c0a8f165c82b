#!/usr/bin/env bash
# The web app in a real browser: headless Chromium, driven by Selenium, on
# the pages of real daemons (alice, bob and carol) and a real relay.
#
# Builds nothing: it runs the kith binary already built (.build/debug/kith,
# or $KITH). It makes a virtualenv in .build-browser/venv with the pinned
# packages of tests/browser/requirements.txt, starts the relay and the
# daemons in a temporary directory, befriends the three people through the
# binary (alice's audience "family" holds bob, "neighbours" holds carol),
# runs tests/browser with pytest and exits with its status. It always stops
# every process it started and removes the temporary directory. Screenshots
# are left in .build-browser/screenshots.
#
# Needs Debian's chromium, chromium-driver and python3-venv; nothing is
# downloaded but the Python packages from PyPI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kith="${KITH:-$root/.build/debug/kith}"
venv="$root/.build-browser/venv"
requirements="$root/tests/browser/requirements.txt"

fail() { echo "browser-test: $*" >&2; exit 1; }
[ -x "$kith" ] || fail "no kith binary at $kith: build it first (swift build)"
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || fail "no $tool: apt-get install chromium chromium-driver"
done

# The virtualenv, made again whenever the pinned versions change.
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv" || fail "cannot make a virtualenv: apt-get install python3-venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

# Nothing of the caller's Kith settings reaches the nodes.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^KITH_' || true)

dir=$(mktemp -d "${TMPDIR:-/tmp}/kith-browser.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A browser left behind by a test that was killed: every one of them runs
  # with its profile in $dir/tmp, so it is found by that unique path.
  for cmdline in /proc/[0-9]*/cmdline; do
    if grep -qF "$dir/" "$cmdline" 2>/dev/null; then
      pid=${cmdline#/proc/}; kill -KILL "${pid%/cmdline}" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Chromium and chromedriver put their profiles and sockets in TMPDIR: here.
mkdir -m 0700 "$dir/tmp"
export TMPDIR="$dir/tmp"
export KITH_PASSPHRASE="browser test passphrase"
# No __pycache__ left in tests/browser.
export PYTHONDONTWRITEBYTECODE=1

# Waits up to 60 s for FILE to hold a line starting with PREFIX; prints the rest of it.
wait_for_line() {
  local file=$1 prefix=$2 line
  for _ in $(seq 600); do
    line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$prefix"}"; return 0; fi
    sleep 0.1
  done
  fail "no \"$prefix\" in $file: $(cat "$file" "${file%.out}.err" 2>/dev/null)"
}

"$kith" relay --home "$dir/relay" --listen 127.0.0.1:0 --log-level warning > "$dir/relay.out" 2> "$dir/relay.err" &
pids+=($!)
relay=$(wait_for_line "$dir/relay.out" "listening on ")

for name in alice bob carol; do
  "$kith" init --home "$dir/$name" --name "$name" --relay "$relay" > /dev/null 2>&1
done
befriend() {
  "$kith" friend add --home "$dir/$1" "$("$kith" card --home "$dir/$2")" > /dev/null
  "$kith" friend add --home "$dir/$2" "$("$kith" card --home "$dir/$1")" > /dev/null
}
befriend alice bob
befriend alice carol
"$kith" group create --home "$dir/alice" family > /dev/null
"$kith" group add --home "$dir/alice" family bob > /dev/null
"$kith" group create --home "$dir/alice" neighbours > /dev/null
"$kith" group add --home "$dir/alice" neighbours carol > /dev/null

# Each daemon's web app on a free loopback port (port 0: the kernel picks
# one, and `kith open` prints it); a sync every 5 s, quick retries.
for name in alice bob carol; do
  KITH_WEB_LISTEN=127.0.0.1:0 KITH_SYNC_INTERVAL=5 KITH_OUTBOX_RETRY_FIRST=1 KITH_OUTBOX_RETRY_LONGEST=2 \
    KITH_LOG_DESTINATION="$dir/$name.log" \
    "$kith" daemon --home "$dir/$name" > "$dir/$name.out" 2> "$dir/$name.err" < /dev/null &
  pids+=($!)
done
for name in alice bob carol; do wait_for_line "$dir/$name.out" "daemon running, control socket " > /dev/null; done

screenshots="$root/.build-browser/screenshots"
rm -rf "$screenshots"
mkdir -p "$screenshots"
status=0
KITH_BIN="$kith" KITH_TEST_DIR="$dir" KITH_SCREENSHOTS="$screenshots" \
  "$venv/bin/python" -m pytest -p no:cacheprovider "$root/tests/browser" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  for name in alice bob carol; do
    echo "--- the end of $name's daemon log" >&2
    tail -n 20 "$dir/$name.log" >&2 2>/dev/null || true
  done
fi
exit "$status"
