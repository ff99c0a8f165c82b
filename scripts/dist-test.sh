#!/usr/bin/env bash
# Tests the release binary (`make dist`) as someone without Swift gets it:
#  1. it needs no shared library but libc's own (libc, libm, libpthread,
#     libdl, librt, the dynamic loader), libsqlite3 and libqrencode (Debian
#     ships no static libqrencode) (so not libjpeg, libpng
#     or libwebp either: `make dist` links them in), and libsodium is inside;
#  2. in a Debian 12 minbase tree with libsqlite3 and libqrencode added and no toolchain
#     (debootstrap'ed once into .build-dist-root, about 100 s and 210 MB),
#     in a chroot, scripts/dist-scenario.sh runs it for real.
# Without debootstrap or the network to fetch Debian, step 2 runs on this
# machine instead, with /opt/swift hidden under an empty folder in a private
# mount namespace (KITH_DIST_NO_CHROOT=1 chooses that).
# Usage: dist-test.sh [BINARY]   (root: chroot and mount namespaces need it)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-dist/kith}")
root=${KITH_DIST_ROOT:-$PWD/.build-dist-root}
toolchain=${KITH_DIST_TOOLCHAIN:-/opt/swift}

fail() { echo "dist-test: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no binary at $bin (make dist)"
[ "$(id -u)" -eq 0 ] || fail "needs root, for chroot and mount namespaces"
echo "dist-test: $bin, $(stat -c %s "$bin") bytes"

# 1. What it links.
allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libsqlite3\.so\.0|libqrencode\.so\.4)$'
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in $needed; do
  [[ $lib =~ $allowed ]] || fail "needs $lib, which a system without Swift may lack"
done
# ldd also lists what those libraries need in turn.
while read -r lib _; do
  [[ $(basename "$lib") =~ $allowed ]] || fail "ldd: $lib"
done < <(ldd "$bin")
if nm -D --undefined-only "$bin" | grep ' sodium_' > /dev/null; then fail "libsodium is linked dynamically"; fi
# Symbols of static archives stay local (--exclude-libs ALL): look in the symbol table.
nm --defined-only "$bin" | grep ' sodium_init$' > /dev/null || fail "libsodium is not inside"
echo "dist-test: needs only" $needed

# 2. Where no toolchain is reachable.
scenario=$PWD/scripts/dist-scenario.sh
# A tree made before libqrencode was needed is made again.
if [ -x "$root/bin/bash" ] && ! compgen -G "$root/usr/lib/*/libqrencode.so.4" > /dev/null; then rm -rf "${root:?}"; fi
if [ "${KITH_DIST_NO_CHROOT:-0}" != 1 ] && [ ! -x "$root/bin/bash" ]; then
  if command -v debootstrap > /dev/null; then
    echo "dist-test: debootstrap of Debian 12 (minbase, libsqlite3, libqrencode) into $root"
    start=$SECONDS
    log=$(mktemp /tmp/kith-debootstrap-XXXXXX.log)
    if debootstrap --variant=minbase --include=libsqlite3-0,libqrencode4 bookworm "$root.part" http://deb.debian.org/debian > "$log" 2>&1; then
      mv "$root.part" "$root"
      rm -f "$log"
      echo "dist-test: debootstrap took $((SECONDS - start)) s"
    else
      echo "dist-test: debootstrap failed (see $log): hiding the toolchain instead" >&2
      rm -rf "$root.part"
    fi
  else
    echo "dist-test: no debootstrap: hiding the toolchain instead" >&2
  fi
fi

if [ "${KITH_DIST_NO_CHROOT:-0}" != 1 ] && [ -x "$root/bin/bash" ]; then
  [ ! -e "$root$toolchain" ] || fail "$root has $toolchain"
  install -m 0755 "$bin" "$root/usr/local/bin/kith"
  install -m 0755 "$scenario" "$root/usr/local/bin/dist-scenario.sh"
  work=/tmp/kith-dist-test-$$
  # The mounts live in a private mount namespace and end with it.
  unshare --mount --propagation private bash -c '
    set -e
    root=$1
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root bash -c "
      set -e
      ldd /usr/local/bin/kith
      if ldd /usr/local/bin/kith | grep -q \"not found\"; then exit 1; fi
      command -v swift && { echo swift is reachable; exit 1; }
      dist-scenario.sh /usr/local/bin/kith $2
    "
  ' - "$root" "$work" || { rm -rf "${root:?}$work"; fail "the scenario failed in the Debian 12 chroot"; }
  rm -rf "${root:?}$work"
  echo "dist-test: ok in a Debian 12 chroot without Swift"
else
  work=$(mktemp -d /tmp/kith-dist-test-XXXXXX)
  empty=$(mktemp -d /tmp/kith-dist-empty-XXXXXX)
  unshare --mount --propagation private bash -c '
    set -e
    mount --bind "$1" "$2"
    [ -z "$(ls -A "$2")" ]
    if PATH=/usr/local/bin:/usr/bin:/bin command -v swift; then echo swift is reachable; exit 1; fi
    ldd "$3"
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$4" "$5" "$3" "$4/run"
  ' - "$empty" "$toolchain" "$bin" "$work" "$scenario" || { rm -rf "$work" "$empty"; fail "the scenario failed with $toolchain hidden"; }
  rm -rf "$work" "$empty"
  echo "dist-test: ok with $toolchain hidden (not a system without Swift: its other libraries were reachable)"
fi
