#!/usr/bin/env bash
# Benchmark of `pktlm classify`: flows/s end to end (read, flow table, tokens as prep builds
# them, model) and the model's time per flow, on a large synthetic capture from
# ../shared/tools/synth-capture (100 MB, seed 20240312, 300 flows/s; the ingest benchmark's
# generator). The classifier is the size used in docs/classify.md (GPT-2, 2 layers, d 128,
# ctx 256), fine-tuned for a few steps on the toy task: speed does not depend on accuracy.
# Writes bench/results/classify.json.
#   bash bench/classify/run.sh            (from anywhere; `make` first)
# Knobs: PKTLM_BIN (default ./pktlm), BENCH_TMP (default /tmp), BENCH_MB (default 100),
#        BENCH_THREADS (default 2), BENCH_BATCH (default 32),
#        BENCH_MODEL (a classifier to time instead of the toy one, e.g. the one of
#        docs/classify.md); BENCH_ARGS: extra classify options (a classifier records its corpus's
#        prep options; only one written before they were recorded needs e.g. "--payload 32").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PKTLM=${PKTLM_BIN:-$root/pktlm}
tmp=${BENCH_TMP:-/tmp}
mb=${BENCH_MB:-100}
thr=${BENCH_THREADS:-2}
batch=${BENCH_BATCH:-32}
model=${BENCH_MODEL:-}
args=${BENCH_ARGS:-}
shared=${PKTLM_SHARED:-$root/../shared}
gen_src=$shared/tools/synth-capture/gen.c
[ -x "$PKTLM" ] || { echo "bench/classify: build ./pktlm first (make)" >&2; exit 1; }
cap=$tmp/pktlm-bench-${mb}MB.pcap            # shared with bench/ingest
if [ ! -f "$cap" ]; then
  if [ ! -f "$gen_src" ]; then echo "bench/classify: SKIP (no $cap and no $gen_src)"; exit 0; fi
  gen=$tmp/pktlm-bench-synth-capture
  [ -x "$gen" ] && [ "$gen" -nt "$gen_src" ] || gcc -O2 -o "$gen" "$gen_src" -lm
  "$gen" "$cap" "$mb" 20240312 300 >/dev/null 2>&1
fi
w=$tmp/pktlm-bench-classify
rm -rf "$w"; mkdir -p "$w"
desc="gpt2 2x128 ctx 256, toy"
if [ -z "$model" ]; then
  "$PKTLM" prep "$root/tests/fixtures/toy_cls" -o "$w/toy" -q
  "$PKTLM" finetune --task classify --data "$w/toy" --layers 2 --d-model 128 --heads 4 --ctx 256 --max-steps 5 \
    --epochs 1 --threads "$thr" -o "$w/c.ckpt" --quiet
  model=$w/c.ckpt
else
  desc="$(basename "$model") $args"
fi
cat "$cap" > /dev/null                        # warm page cache: we measure classify, not the disk
# shellcheck disable=SC2086
"$PKTLM" classify --model "$model" $args "$cap" --csv --threads "$thr" --batch "$batch" > "$w/rows.csv" 2> "$w/log"
cat "$w/log"
line=$(grep "flows/s end to end" "$w/log")
flows=$(sed -n 's/^pktlm classify: \([0-9]*\) flows.*/\1/p' <<<"$line")
secs=$(sed -n 's/.* MB in \([0-9.]*\) s:.*/\1/p' <<<"$line")
fps=$(sed -n 's/.* s: \([0-9]*\) flows\/s end to end.*/\1/p' <<<"$line")
ms=$(sed -n 's/.*model \([0-9.]*\) ms per flow.*/\1/p' <<<"$line")
echo "bench/classify: $flows flows of $cap in $secs s: $fps flows/s end to end, model $ms ms per flow (batch $batch, $thr threads)"
mkdir -p "$root/bench/results"
printf '{"bench": "classify", "capture": "%s", "flows": %s, "seconds": %s, "flows_per_s": %s, "model_ms_per_flow": %s, "batch": %s, "threads": %s, "model": "%s", "load_avg": "%s", "note": "2-core shared VM, noisy"}\n' \
  "$cap" "$flows" "$secs" "$fps" "$ms" "$batch" "$thr" "$desc" "$(cut -d' ' -f1-3 /proc/loadavg)" > "$root/bench/results/classify.json"
