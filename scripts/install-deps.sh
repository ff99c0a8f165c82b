#!/usr/bin/env bash
# Installs the system libraries Kith builds against (Debian/Ubuntu), when missing.
set -euo pipefail
missing=()
for pkg in libsodium-dev libsqlite3-dev libjpeg62-turbo-dev libpng-dev libwebp-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "kith: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
