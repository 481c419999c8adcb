#!/usr/bin/env bash
# Benchmark of `pktlm compare` on two large synthetic captures from
# ../shared/tools/synth-capture: REAL = the 500 MB capture of the ingest benchmark
# (seed 20240312, 300 flows/s: 1.25 M packets, ~31 k flows), SYNTH = 400 MB with seed 7
# (0.95 M packets, ~25 k flows). Both baselines are built and compared too. Prints wall
# time and peak RSS and writes bench/results/compare.json.
#   bash bench/compare/run.sh            (from anywhere; `make` first)
# Knobs: PKTLM_BIN (default ./pktlm), BENCH_TMP (default /tmp), BENCH_REPS (default 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PKTLM=${PKTLM_BIN:-$root/pktlm}
tmp=${BENCH_TMP:-/tmp}
reps=${BENCH_REPS:-3}
shared=${PKTLM_SHARED:-$root/../shared}
gen_src=$shared/tools/synth-capture/gen.c
[ -x "$PKTLM" ] || { echo "bench/compare: build ./pktlm first (make)" >&2; exit 1; }
if [ ! -f "$gen_src" ]; then echo "bench/compare: SKIP (no $gen_src)"; exit 0; fi
gen=$tmp/pktlm-bench-synth-capture
[ -x "$gen" ] && [ "$gen" -nt "$gen_src" ] || gcc -O2 -o "$gen" "$gen_src" -lm
real=$tmp/pktlm-bench-500MB.pcap            # shared with bench/ingest
[ -f "$real" ] || "$gen" "$real" 500 20240312 300 >/dev/null 2>&1
synth=$tmp/pktlm-bench-compare-400MB-seed7.pcap
[ -f "$synth" ] || "$gen" "$synth" 400 7 300 >/dev/null 2>&1
cat "$real" "$synth" > /dev/null              # warm page cache: we measure compare, not the disk
best=""; rss=0
for i in $(seq "$reps"); do
  "$PKTLM" compare "$real" "$synth" --json "$tmp/pktlm-bench-compare.json" > "$tmp/pktlm-bench-compare.txt" 2>/dev/null
  t=$(sed -n 's/^time \([0-9.]*\) s, peak RSS \([0-9.]*\) MB$/\1/p' "$tmp/pktlm-bench-compare.txt")
  m=$(sed -n 's/^time \([0-9.]*\) s, peak RSS \([0-9.]*\) MB$/\2/p' "$tmp/pktlm-bench-compare.txt")
  echo "bench/compare: run $i: $t s, peak RSS $m MB"
  if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
done
pk_real=$(sed -n 's/^REAL .*: \([0-9]*\) flows, \([0-9]*\) packets$/\2/p' "$tmp/pktlm-bench-compare.txt")
pk_synth=$(sed -n 's/^SYNTH .*: \([0-9]*\) flows, \([0-9]*\) packets$/\2/p' "$tmp/pktlm-bench-compare.txt")
echo "bench/compare: REAL $pk_real packets + SYNTH $pk_synth packets: best of $reps $best s, peak RSS $rss MB"
mkdir -p "$root/bench/results"
printf '{"bench": "compare", "real": "%s", "synth": "%s", "real_packets": %s, "synth_packets": %s, "seconds_best": %s, "runs": %s, "peak_rss_mb": %s, "note": "2-core shared VM, noisy"}\n' \
  "$real" "$synth" "$pk_real" "$pk_synth" "$best" "$reps" "$rss" > "$root/bench/results/compare.json"
