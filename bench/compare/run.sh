#!/usr/bin/env bash
# Benchmark of `pktlm compare` on two large synthetic captures (~1.25 M and ~0.95 M
# packets) from ../shared/tools/synth-capture: wall time and peak RSS, as `pktlm compare`
# reports them (its "time ... peak RSS ..." line) and as /usr/bin/time sees them.
#   bash bench/compare/run.sh            (from the repository root; `make` first)
# Environment: PKTLM (binary, default ./pktlm), BENCH_TMP (scratch, default /tmp),
# SYNTH_REAL (an existing capture to use as REAL, default /tmp/lead-synth.pcap if present).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PKTLM=${PKTLM:-$root/pktlm}
tmp=${BENCH_TMP:-/tmp}
shared=${PKTLM_SHARED:-$root/../shared}
gen_src=$shared/tools/synth-capture/gen.c
[ -x "$PKTLM" ] || { echo "bench/compare: build ./pktlm first (make)" >&2; exit 1; }
if [ ! -f "$gen_src" ]; then echo "bench/compare: SKIP (no $gen_src)"; exit 0; fi
gen=$tmp/pktlm-bench-synth-capture
[ -x "$gen" ] || gcc -O2 -o "$gen" "$gen_src" -lm
real=${SYNTH_REAL:-/tmp/lead-synth.pcap}
if [ ! -f "$real" ]; then real=$tmp/pktlm-bench-compare-a.pcap; [ -f "$real" ] || "$gen" "$real" 500 20240312 300 >/dev/null 2>&1; fi
synth=$tmp/pktlm-bench-compare-b.pcap
[ -f "$synth" ] || "$gen" "$synth" 400 7 300 >/dev/null 2>&1
echo "bench/compare: REAL $real ($(du -m "$real" | cut -f1) MB), SYNTH $synth ($(du -m "$synth" | cut -f1) MB)"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "bench/compare: wall %e s, peak RSS %M KB (/usr/bin/time)" "$PKTLM" compare "$real" "$synth" --json "$tmp/pktlm-bench-compare.json" 2>&1 >"$tmp/pktlm-bench-compare.txt" | grep '^bench/compare'
else
  "$PKTLM" compare "$real" "$synth" --json "$tmp/pktlm-bench-compare.json" >"$tmp/pktlm-bench-compare.txt" 2>/dev/null
fi
head -2 "$tmp/pktlm-bench-compare.txt" | sed 's/^/bench\/compare: /'
grep '^time ' "$tmp/pktlm-bench-compare.txt" | sed 's/^/bench\/compare: /'
