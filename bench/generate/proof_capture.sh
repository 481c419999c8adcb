#!/usr/bin/env bash
# Whole-capture generation proof (docs/generate.md "Whole captures: measured"): a small Mamba-2
# trained on whole captures (`prep --unit capture`: requet's training captures, headers only, and
# NetSSM's four examples, labelled by folder) writes >= 5,000 packets of one label-conditioned
# multi-flow capture (`--label requet`); a GPT-2 trained on the same captures' flows (`--unit
# flow`, first 16 packets, as proof.sh's requet model) for the same wall-clock budget writes as
# many packets of flows. Both are checked by validate_pcap.sh and compared by `pktlm compare`
# against the held-out requet capture baseline_Mar22_exp_31 (as proof.sh), the requet training
# captures as --train. Short training on purpose (2 shared cores): STEPS_M2, STEPS_GPT2, and each
# run time-boxed to TBOX seconds (SIGINT: the checkpoint of the step reached is saved).
# The Mamba-2 capture is written three ways: every window from a reset state (`capture`,
# --reset-windows, as first measured), and with the state carried from window to window as one
# sequence (`carry`, --batch 1) and as 16 streams one after another (`carry16`, --batch 16).
# GPT2=0 skips the flow model (its figures are in docs/generate.md).
# Resumable: a stage whose output exists is skipped (delete WORKDIR to start afresh).
# Usage: bench/generate/proof_capture.sh [WORKDIR]
set -u
cd "$(dirname "$0")/../.."
S=${PKTLM_SHARED:-../shared}
W=${1:-/tmp/pktlm-capgen-proof}
P="./pktlm"
TH=${THREADS:-1}
STEPS_M2=${STEPS_M2:-200} STEPS_GPT2=${STEPS_GPT2:-400} NPK=${NPK:-5000} TBOX=${TBOX:-1200} GPT2=${GPT2:-1}
M2="--arch mamba2 --layers 2 --d-model 128 --d-state 32 --head-dim 32 --chunk 128 --ctx 2048 --batch 4"
G2="--layers 4 --d-model 128 --heads 4 --ctx 512 --batch 8"
set -x
mkdir -p "$W"/train/{requet,netflix,amazon,youtube,twitch} "$W"/heldout/requet "$W"/gen/{capture,carry,carry16,flow,flow75} || exit 1
for f in baseline_Jan17_exp_41 baseline_Mar05_exp_46 movement_Apr17_exp_117; do
  ln -sf "$(realpath "$S/data/requet/A/$f.pcap")" "$W/train/requet/"; done
for l in netflix amazon youtube twitch; do ln -sf "$(realpath "$S/data/netssm_examples/$l.pcap")" "$W/train/$l/"; done
ln -sf "$(realpath "$S/data/requet/A/baseline_Mar22_exp_31.pcap")" "$W/heldout/requet/"
# labels = folder names; one corpus of capture windows, one of flows, both split by capture with
# the same seed: requet's baseline_Mar05_exp_46 is the validation split of both, the other six
# captures train both models (checked in the manifests' shard indices when this was written)
[ -s "$W/cap/manifest.json" ] || $P prep "$W/train" -o "$W/cap" --unit capture --payload 0 --window 2048 --ratio 70:30:0 || exit 1
[ "$GPT2" = 0 ] || [ -s "$W/flow/manifest.json" ] || $P prep "$W/train" -o "$W/flow" --payload 0 --packets 16 --split capture --ratio 70:30:0 || exit 1
# the two trainings side by side, one thread each, the same number of training tokens (1.6 M:
# 200 x 4 x 2048 and 400 x 8 x 512)
[ -s "$W/m2.ckpt" ] || timeout -s INT $TBOX $P pretrain --data "$W/cap" $M2 --steps $STEPS_M2 --lr 3e-3 --warmup 20 --pad --val-batches 8 --eval-every 50 \
   --threads $TH -o "$W/m2.ckpt" 2> "$W/train-m2.log" &
[ "$GPT2" = 0 ] || [ -s "$W/gpt2.ckpt" ] || timeout -s INT $TBOX $P pretrain --data "$W/flow" $G2 --steps $STEPS_GPT2 --lr 2e-3 --warmup 20 --pad --val-batches 8 --eval-every 50 \
   --threads $TH -o "$W/gpt2.ckpt" 2> "$W/train-gpt2.log" &
wait
[ -s "$W/m2.ckpt" ] && { [ "$GPT2" = 0 ] || [ -s "$W/gpt2.ckpt" ]; } || exit 1
$P info "$W/m2.ckpt"; [ "$GPT2" = 0 ] || $P info "$W/gpt2.ckpt"
rc=0
[ -s "$W/gen/capture/requet.pcap" ] || $P generate --model "$W/m2.ckpt" -o "$W/gen/capture/requet.pcap" --label requet \
   --packets $NPK --batch 16 --top-p 0.95 --seed 1 --threads $TH --reset-windows --json > "$W/summary-capture.json" || exit 1
[ -s "$W/gen/carry/requet.pcap" ] || $P generate --model "$W/m2.ckpt" -o "$W/gen/carry/requet.pcap" --label requet \
   --packets $NPK --batch 1 --top-p 0.95 --seed 1 --threads $TH --json > "$W/summary-carry.json" || exit 1
[ -s "$W/gen/carry16/requet.pcap" ] || $P generate --model "$W/m2.ckpt" -o "$W/gen/carry16/requet.pcap" --label requet \
   --packets $NPK --batch 16 --top-p 0.95 --seed 1 --threads $TH --json > "$W/summary-carry16.json" || exit 1
kinds="capture carry carry16"
if [ "$GPT2" != 0 ]; then
kinds="$kinds flow flow75"
[ -s "$W/gen/flow/requet.pcap" ] || $P generate --model "$W/gpt2.ckpt" -o "$W/gen/flow/requet.pcap" --label requet \
   --packets $((NPK * 11 / 10)) --batch 16 --top-p 0.95 --seed 1 --threads $TH --json > "$W/summary-flow.json" || exit 1
# the same flows started over 75 s instead of generate's default 10 s: the held-out capture's
# 5,000 packets span about that long (41,427 packets in 599 s)
[ -s "$W/gen/flow75/requet.pcap" ] || $P generate --model "$W/gpt2.ckpt" -o "$W/gen/flow75/requet.pcap" --label requet \
   --packets $((NPK * 11 / 10)) --batch 16 --top-p 0.95 --seed 1 --threads $TH --window 75 --json > "$W/summary-flow75.json" || exit 1
fi
for k in $kinds; do
  cat "$W/summary-$k.json"
  bash "$S/tools/validate-pcap/validate_pcap.sh" "$W/gen/$k/requet.pcap" > "$W/validate-$k.log" 2>&1
  v=$?; echo "validate_pcap.sh $k: exit $v"; tail -n 3 "$W/validate-$k.log"
  [ $v -eq 0 ] || rc=1
  $P compare "$W/heldout/requet" "$W/gen/$k" --train "$W/train/requet" --json "$W/compare-$k.json" \
     --html "$W/compare-$k.html" > "$W/compare-$k.txt" || rc=1
done
exit $rc
