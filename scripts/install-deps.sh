#!/usr/bin/env bash
# Installs the system libraries Kith builds against (Debian/Ubuntu), when missing.
# With --test, also what the tests run: exiftool (photo fixtures' metadata),
# a PostgreSQL server's binaries and nginx (the relay's shared store behind a
# balancer), Chromium, its driver and python3-venv (the browser test),
# zbar-tools (zbarimg reads the web app's QR codes back in the tests),
# fonts-noto-color-emoji (the reaction buttons in the screenshots).
set -euo pipefail
packages=(libsodium-dev libqrencode-dev libsqlite3-dev libjpeg62-turbo-dev libpng-dev libwebp-dev pkg-config)
if [ "${1:-}" = "--test" ]; then
  packages+=(libimage-exiftool-perl postgresql nginx chromium chromium-driver zbar-tools python3-venv fonts-noto-color-emoji)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "kith: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
