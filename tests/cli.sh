# Helpers for shell tests (tests/cli_*.sh). Source this file.
# $PKTLM is the binary under test, $PKTLM_TMP a scratch dir, $PKTLM_SHARED ../shared or empty.
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1"; shift; [ $# -gt 0 ] && echo "  $*"; }
skip() { echo "SKIP $1: $2"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "command failed: $*"; fi; }
