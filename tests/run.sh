#!/usr/bin/env bash
# Runs every test binary (tests/test_*.c, built by make) and every shell test
# (tests/cli_*.sh), in the release build, the ASan+UBSan build, or both; `port` runs the shell
# tests again on the portable binary (make portable) with its AVX2 copy forced (PKTLM_CPU=avx2:
# the code a CPU without AVX-512 runs), and `all` = both + port (what `make test` runs).
# Ends with the line "N passed, N failed, N skipped".
set -u
mode=${1:-both}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PKTLM_SHARED=${PKTLM_SHARED:-$root/../shared}
[ -d "$PKTLM_SHARED/data" ] || export PKTLM_SHARED=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0; skip=0; failed=()
tmproot=$(mktemp -d /tmp/pktlm-test.XXXXXX)
trap 'rm -rf "$tmproot"' EXIT

run_one() { # label, command...
  local label=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  local p f s
  p=$(grep -c '^PASS ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out"); s=$(grep -c '^SKIP ' <<<"$out")
  grep -E '^(PASS|FAIL|SKIP) ' <<<"$out" | sed "s|^|[$label] |"
  if [ "$f" -gt 0 ] || { [ $rc -ne 0 ] && [ "$f" -eq 0 ]; }; then
    echo "---- output of $label ($*), exit $rc ----"; grep -vE '^(PASS|SKIP) ' <<<"$out" | tail -40
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL [$label] exited with status $rc"; fi
    failed+=("$label")
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

suite() { # build dir, binary, sanitizer flag, label
  local dir=$1 bin=$2 san=$3 tag=${4:-$3}
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    local name; name=$(basename "$t")
    mkdir -p "$tmproot/$tag/$name"
    PKTLM_SAN=$san PKTLM_TMP="$tmproot/$tag/$name" PKTLM="$root/$bin" run_one "$tag:$name" "$t"
  done
  for t in tests/cli_*.sh; do
    [ -f "$t" ] || continue
    local name; name=$(basename "$t" .sh)
    mkdir -p "$tmproot/$tag/$name"
    PKTLM_SAN=$san PKTLM_TMP="$tmproot/$tag/$name" PKTLM="$root/$bin" run_one "$tag:$name" bash "$t"
  done
}

# the portable binary's copy to test: AVX2 where the CPU has it (on an AVX-512 machine that is
# code the native build never runs), else the SSE2 one
port_cpu=generic
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && port_cpu=avx2

case $mode in
  rel)  suite build/rel pktlm 0 ;;
  san)  suite build/san pktlm-san 1 ;;
  both) suite build/rel pktlm 0; suite build/san pktlm-san 1 ;;
  port) PKTLM_CPU=$port_cpu suite build/port pktlm-portable 0 port ;;
  all)  suite build/rel pktlm 0; suite build/san pktlm-san 1; PKTLM_CPU=$port_cpu suite build/port pktlm-portable 0 port ;;
esac
[ ${#failed[@]} -gt 0 ] && echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
