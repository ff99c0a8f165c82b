#!/usr/bin/env bash
# Builds kith-fuzz with libFuzzer (and AddressSanitizer, for -malloc_limit_mb)
# into .build-fuzz, writes the seed corpora from the test vectors, and fuzzes
# each decoder for a while. Fails if any target finds a crash, a hang, a leak
# of memory past the limits, or a broken round trip.
#
#   scripts/fuzz.sh [--seconds N] [--jobs N] [--build-only] [TARGET...]
#
# Everything lands in .build-fuzz (ignored by git): seeds/ (rewritten every
# run), corpus/ (grows from run to run), logs/, and crashes/TARGET-crash-*,
# which reproduce with:
#   KITH_FUZZ_TARGET=TARGET .build-fuzz/release/kith-fuzz FILE
# or, without libFuzzer, `swift run kith-fuzz TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
seconds=180
jobs=1
build_only=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

scratch=.build-fuzz
# -sanitize=fuzzer instruments every module built here for coverage and links
# libFuzzer; KITH_FUZZ makes kith-fuzz hand its main to libFuzzer's driver
# (declared with @_extern(c), hence the Extern feature). SwiftPM links with
# gold by default, which fails on this link; lld, shipped with the toolchain,
# does not. -Xcc instruments the C targets too (KithImageC's calls into the
# image libraries). Only this scratch folder sees these flags.
set +e
"$SWIFT" build --scratch-path "$scratch" -c release --product kith-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DKITH_FUZZ \
  -Xswiftc -enable-experimental-feature -Xswiftc Extern \
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
  -Xcc -fsanitize=fuzzer-no-link,address 2>&1 \
  | grep -v -e "found 1 file(s) which are unhandled" -e "CMakeLists.txt$"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "fuzz.sh: the fuzz build failed" >&2; exit 1; }
bin="$scratch/release/kith-fuzz"
[ "$build_only" -eq 1 ] && exit 0

rm -rf "$scratch/seeds"
KITH_FUZZ_SEEDS="$scratch/seeds" KITH_FUZZ_VECTORS=Tests/KithProtocolTests/Vectors "$bin"
if [ ${#targets[@]} -eq 0 ]; then
  # One folder per target, even those with no seeds.
  mapfile -t targets < <(ls "$scratch/seeds")
fi
mkdir -p "$scratch/logs" "$scratch/crashes"

# libFuzzer reports a trap itself (and saves the input); Swift's backtracer,
# started from the crashing process, can hang under ASan, so it is off.
export SWIFT_BACKTRACE=enable=no

# Runs one target; its log is logs/TARGET.log.
fuzz_one() {
  local t="$1"
  mkdir -p "$scratch/corpus/$t"
  # -rss_limit_mb and -malloc_limit_mb: a decoder must not allocate its way
  # out of trouble (ASan's own overhead stays well under 2 GiB here).
  # -timeout: one input taking 10 s is a hang.
  KITH_FUZZ_TARGET="$t" "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$scratch/crashes/$t-" \
    "$scratch/corpus/$t" "$scratch/seeds/$t" >"$scratch/logs/$t.log" 2>&1
}

echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, ${jobs} at a time"
failed=()
running=0
pids=()
names=()
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  pids+=($!); names+=("$t"); running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait "${pids[0]}" || failed+=("${names[0]}")
    pids=("${pids[@]:1}"); names=("${names[@]:1}"); running=$((running - 1))
  fi
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done

printf '%-20s %10s %6s %6s %8s\n' target exec/s cov ft corpus
for t in "${targets[@]}"; do
  line=$(grep -a -P '\tDONE ' "$scratch/logs/$t.log" | tail -1 || true)
  if [ -n "$line" ]; then
    printf '%-20s %10s %6s %6s %8s\n' "$t" \
      "$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$line")" "$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$line")" \
      "$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$line")" "$(sed -E 's/.* corp: ([0-9]+)\/.*/\1/' <<<"$line")"
  else
    printf '%-20s %s\n' "$t" "no final stats (see $scratch/logs/$t.log)"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "fuzz.sh: $t FAILED; the end of $scratch/logs/$t.log:" >&2
    grep -a -E "ERROR|SUMMARY|kith-fuzz:|Fatal error|Test unit written|Base64" "$scratch/logs/$t.log" | head -20 >&2 || tail -20 "$scratch/logs/$t.log" >&2
  done
  echo "fuzz.sh: findings in: ${failed[*]} (inputs in $scratch/crashes/)" >&2
  exit 1
fi
echo "fuzz.sh: no findings"
