#!/usr/bin/env bash
# Generation proof on ../shared/data (docs/generate.md, "Measured"): a small GPT-2 pretrained
# briefly on both captures, fine-tuned for generation on generation/tls2.pcap (payload kept,
# 64 bytes) and on requet/ (headers only), >= 10,000 packets generated from each, every
# output checked by validate_pcap.sh. Time-boxed for 2 shared cores: a few minutes per model.
# Usage: bench/generate/proof.sh [WORKDIR]   (writes WORKDIR/summary-*.json)
set -u
cd "$(dirname "$0")/../.."
S=${PKTLM_SHARED:-../shared}
W=${1:-/tmp/pktlm-gen-proof}
P=./pktlm
mkdir -p "$W"
M="--layers 4 --d-model 128 --heads 4 --ctx 512 --batch 8"
STEPS_PRE=${STEPS_PRE:-500} STEPS_FT=${STEPS_FT:-700} NPK=${NPK:-10000}
set -x
$P prep "$S/data/generation/tls2.pcap" "$S/data/requet" -o "$W/mix" --no-labels --payload 64 --packets 8 || exit 1
$P prep "$S/data/generation/tls2.pcap" -o "$W/tls" --label tls --payload 64 --packets 8 || exit 1
$P prep "$S/data/requet" -o "$W/requet" --payload 0 --packets 16 || exit 1
$P pretrain --data "$W/mix" $M --steps $STEPS_PRE --lr 2e-3 --warmup 20 -o "$W/base.ckpt" || exit 1
rc=0
for c in tls requet; do
  $P finetune --task generate --init "$W/base.ckpt" --data "$W/$c" --steps $STEPS_FT --lr 1e-3 --warmup 20 \
     -o "$W/gen-$c.ckpt" || exit 1
  # --packets counts decoded packets; the writer drops some, so ask for a margin
  $P generate --model "$W/gen-$c.ckpt" -o "$W/gen-$c.pcap" --packets $((NPK * 14 / 10)) --batch 16 --top-p 0.95 --seed 1 \
     --json > "$W/summary-$c.json" || exit 1
  cat "$W/summary-$c.json"
  bash "$S/tools/validate-pcap/validate_pcap.sh" "$W/gen-$c.pcap" > "$W/validate-$c.log" 2>&1
  v=$?; echo "validate_pcap.sh gen-$c.pcap: exit $v"; tail -n 3 "$W/validate-$c.log"
  [ $v -eq 0 ] || rc=1
done
exit $rc
