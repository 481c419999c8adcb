#!/usr/bin/env bash
# Generation and fidelity proof on ../shared/data (docs/generate.md "Measured", docs/compare.md
# "Generated traffic"): a small GPT-2 pretrained briefly, fine-tuned for generation on
# generation/tls2.pcap (payload kept, 64 bytes) and on requet/ (headers only); >= 10,000
# packets generated from each; every output checked by validate_pcap.sh; then `pktlm compare`
# of each output against real flows the model never saw, with the training captures as --train.
# Held out: every 5th flow of tls2.pcap (one capture: split by flow, split_flows.py) and the
# requet capture baseline_Mar22_exp_31 (split by capture); pretraining sees neither.
# Folders are named by label (W/{train,heldout,gen}/{tls,requet}/) so that one more compare
# gives a two-label TSTR. Time-boxed for 2 shared cores (every job nice'd).
# Resumable: a stage whose output exists is skipped (delete WORKDIR to start afresh).
# Usage: bench/generate/proof.sh [WORKDIR]
# Knobs: STEPS_PRE STEPS_FT NPK.
set -u
cd "$(dirname "$0")/../.."
S=${PKTLM_SHARED:-../shared}
W=${1:-/tmp/pktlm-gen-proof}
P="nice -n 19 ./pktlm"
M="--layers 4 --d-model 128 --heads 4 --ctx 512 --batch 8 --threads 2"
STEPS_PRE=${STEPS_PRE:-500} STEPS_FT=${STEPS_FT:-700} NPK=${NPK:-10000}
set -x
mkdir -p "$W"/{train,heldout,gen}/{tls,requet} || exit 1
[ -s "$W/heldout/tls/tls2.pcap" ] ||
  python3 bench/generate/split_flows.py "$S/data/generation/tls2.pcap" "$W/train/tls/tls2.pcap" "$W/heldout/tls/tls2.pcap" 5 || exit 1
for f in baseline_Jan17_exp_41 baseline_Mar05_exp_46 movement_Apr17_exp_117; do
  ln -sf "$(realpath "$S/data/requet/A/$f.pcap")" "$W/train/requet/"; done
ln -sf "$(realpath "$S/data/requet/A/baseline_Mar22_exp_31.pcap")" "$W/heldout/requet/"
# the same captures cut to the first K packets of every flow, K as the corpora keep them
# (tls 8, requet 16): what the models learn, so the fair reference for flow-level fields
for c in tls:8 requet:16; do k=${c#*:}; c=${c%:*}
  for d in train heldout; do mkdir -p "$W/$d-first/$c"
    for f in "$W/$d/$c"/*.pcap; do g="$W/$d-first/$c/$(basename "$f")"
      [ -s "$g" ] || python3 bench/generate/first_packets.py $k "$f" "$g" || exit 1; done; done; done
[ -s "$W/mix/manifest.json" ] || $P prep "$W/train/tls" "$W/train/requet" -o "$W/mix" --no-labels --payload 64 --packets 8 || exit 1
[ -s "$W/c-tls/manifest.json" ] || $P prep "$W/train/tls" -o "$W/c-tls" --label tls --payload 64 --packets 8 || exit 1
[ -s "$W/c-requet/manifest.json" ] || $P prep "$W/train/requet" -o "$W/c-requet" --label requet --payload 0 --packets 16 || exit 1
[ -s "$W/base.ckpt" ] || $P pretrain --data "$W/mix" $M --steps $STEPS_PRE --lr 2e-3 --warmup 20 -o "$W/base.ckpt" || exit 1
rc=0
for c in requet tls; do
  # --pad: one flow per row, from its <bos> at position 0, as generation starts (docs/generate.md,
  # "Handshakes"); packed rows taught the model flow starts it never sees at generation time
  [ -s "$W/gen-$c.ckpt" ] || $P finetune --task generate --init "$W/base.ckpt" --data "$W/c-$c" --steps $STEPS_FT --lr 1e-3 \
     --warmup 20 --batch 8 --threads 2 --pad -o "$W/gen-$c.ckpt" || exit 1
  # --packets counts decoded packets; the writer may drop some, so ask for a margin
  [ -s "$W/gen/$c/gen-$c.pcap" ] || $P generate --model "$W/gen-$c.ckpt" -o "$W/gen/$c/gen-$c.pcap" --packets $((NPK * 11 / 10)) \
     --batch 16 --top-p 0.95 --seed 1 --threads 2 --json > "$W/summary-$c.json" || exit 1
  cat "$W/summary-$c.json"
  bash "$S/tools/validate-pcap/validate_pcap.sh" "$W/gen/$c/gen-$c.pcap" > "$W/validate-$c.log" 2>&1
  v=$?; echo "validate_pcap.sh gen-$c.pcap: exit $v"; tail -n 3 "$W/validate-$c.log"
  [ $v -eq 0 ] || rc=1
  # against held-out real flows (first K packets, and whole), training flows as --train
  ./pktlm compare "$W/heldout-first/$c" "$W/gen/$c" --train "$W/train-first/$c" --json "$W/compare-$c.json" \
     --html "$W/compare-$c.html" > "$W/compare-$c.txt" || rc=1
  ./pktlm compare "$W/heldout/$c" "$W/gen/$c" --train "$W/train/$c" --json "$W/compare-$c-whole.json" \
     --html "$W/compare-$c-whole.html" > "$W/compare-$c-whole.txt" || rc=1
done
# two labels (tls, requet: the folder names): TSTR, train on generated, test on held-out real
./pktlm compare "$W/heldout-first" "$W/gen" --train "$W/train-first" --json "$W/compare-both.json" \
   --html "$W/compare-both.html" > "$W/compare-both.txt" || rc=1
exit $rc
