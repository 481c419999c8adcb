# Helpers for shell tests (tests/cli_*.sh). Source this file.
# $PKTLM is the binary under test, $PKTLM_TMP a scratch dir, $PKTLM_SHARED ../shared or empty.
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1"; shift; [ $# -gt 0 ] && echo "  $*"; }
skip() { echo "SKIP $1: $2"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "command failed: $*"; fi; }

# usage_error NAME EXPECTED-MESSAGE COMMAND...: exit 2 and the message on stderr
usage_error() {
  local name=$1 want=$2; shift 2
  "$@" >/dev/null 2>"$PKTLM_TMP/u.err"; local rc=$?
  if [ $rc -eq 2 ] && grep -q -- "$want" "$PKTLM_TMP/u.err"; then ok "$name"; else bad "$name" "rc=$rc $(cat "$PKTLM_TMP/u.err")"; fi
}

# capture FILE HOSTBYTE: a raw-IP pcap written by printf, 12 UDP flows of 3 packets,
# client 10.77.HOST.1 -> server 172.16.9.N (the bytes each test's corpus starts from)
b() { printf '\\x%02x' "$@"; }                       # bytes -> escapes
le32() { b $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
be16() { b $(( ($1 >> 8) & 255 )) $(( $1 & 255 )); }
capture() {
  local out=$1 h=$2 s="" t=1700000000
  s+=$(le32 0xa1b2c3d4)$(b 2 0 4 0)$(le32 0)$(le32 0)$(le32 65535)$(le32 101)
  for f in $(seq 1 12); do
    for k in 0 1 2; do
      local plen=$(( 8 + f + k )) len=$(( 28 + f + k ))
      local src dst sp dp
      if [ $k -eq 1 ]; then src="172 16 9 $f"; dst="10 77 $h 1"; sp=$((1000 + f)); dp=$((40000 + f))
      else src="10 77 $h 1"; dst="172 16 9 $f"; sp=$((40000 + f)); dp=$((1000 + f)); fi
      s+=$(le32 $t)$(le32 $(( f * 1000 + k * 250 )))$(le32 $len)$(le32 $len)
      s+=$(b 0x45 0)$(be16 $len)$(be16 $(( f * 7 + k )))$(b 0x40 0 64 17 0 0)$(b $src)$(b $dst)
      s+=$(be16 $sp)$(be16 $dp)$(be16 $plen)$(b 0 0)
      for i in $(seq 1 $(( f + k ))); do s+=$(b 0x61); done
      t=$((t + 1))
    done
  done
  printf "%b" "$s" > "$out"
}

# cpu_has FLAG: the CPU has FLAG and the code under test can use it (the portable binary's
# AVX2 or SSE2 copy, forced by PKTLM_CPU in `tests/run.sh port`, has no AVX-512 paths)
cpu_has() {
  case $1 in avx512*) [ "${PKTLM_CPU:-avx512}" = avx512 ] || return 1 ;; esac
  grep -qw "$1" /proc/cpuinfo 2>/dev/null
}
