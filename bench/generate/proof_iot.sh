#!/usr/bin/env bash
# Label-conditioned generation and TSTR proof on ../shared/data/iot_sentinel (27 device types;
# docs/generate.md "Label conditioning", docs/compare.md "TSTR with a label-conditioned
# generator"). Captures are dealt per device folder, round-robin, into REAL / OTHER / TRAIN
# (bench/generate/iot_split.sh; folders named by device type). Only TRAIN is seen by the
# model: one corpus of all 27 types (label token = folder), the small GPT-2 of proof.sh
# fine-tuned on it for generation (`--pad`), then `pktlm generate --label TYPE` once per type
# into W/gen/TYPE/ (compare takes labels per file, from the folder: one pcap per label),
# as many flows per type as its share of the corpus (at least MINF). Then `pktlm compare`
# with REAL as the test set: TSTR trains the forest on the generated flows, beside
# train-on-TRAIN and the replay / sampler baselines; OTHER (real captures never trained on)
# is the real-versus-real reference.
# The model learns the first K packets of each flow, so REAL, OTHER and TRAIN are also cut to
# their first K packets (bench/generate/first_packets.py): the main comparison is on those.
# Resumable: a stage whose output exists is skipped (delete WORKDIR to start afresh).
# Usage: bench/generate/proof_iot.sh [WORKDIR]
# Knobs: BASE (pretrained checkpoint: default proof.sh's base.ckpt, else pretrained here on
# TRAIN without labels; a generation checkpoint continues its training), STEPS_FT, LR_FT, FLOWS (flows generated in all), MINF, K, PAYLOAD;
# GEN (output folder name, default gen) and SAMPLING (default "--top-p 0.95") to sample the
# same model again with other settings (e.g. GEN=gen-t07 SAMPLING="--top-p 0.95 --temperature 0.7").
set -u
cd "$(dirname "$0")/../.."
S=${PKTLM_SHARED:-../shared}
W=${1:-/tmp/pktlm-iot-proof}
P="nice -n 19 ./pktlm"
BASE=${BASE:-/tmp/pktlm-gen-proof/base.ckpt}
STEPS_FT=${STEPS_FT:-1000} FLOWS=${FLOWS:-2600} MINF=${MINF:-30} K=${K:-8} PAYLOAD=${PAYLOAD:-16}
G=${GEN:-gen} SAMPLING=${SAMPLING:---top-p 0.95} LR_FT=${LR_FT:-1e-3}
set -x
[ -d "$W/train" ] || bench/generate/iot_split.sh "$S/data" "$W" || exit 1
for d in real other train; do
  for f in "$W/$d"/*/*.pcap; do g="$W/$d-first/${f#$W/$d/}"; mkdir -p "$(dirname "$g")"
    [ -s "$g" ] || python3 bench/generate/first_packets.py $K "$f" "$g" > /dev/null || exit 1; done; done
# --keep-dhcp: DHCP is part of every device's setup; --drop-proto 2: IGMP, which the trace
# writer cannot write (docs/generate.md); no test split (REAL is the test set)
[ -s "$W/corpus/manifest.json" ] || $P prep "$W/train" -o "$W/corpus" --keep-dhcp --drop-proto 2 \
   --payload $PAYLOAD --packets $K --ratio 9:1:0 || exit 1
if [ ! -s "$BASE" ]; then BASE=$W/base.ckpt
  [ -s "$W/mix/manifest.json" ] || $P prep "$W/train" -o "$W/mix" --no-labels --keep-dhcp --payload $PAYLOAD --packets $K || exit 1
  [ -s "$BASE" ] || $P pretrain --data "$W/mix" --layers 4 --d-model 128 --heads 4 --ctx 512 --batch 8 --threads 2 \
     --steps 500 --lr 2e-3 --warmup 20 --bf16 -o "$BASE" || exit 1
fi
[ -s "$W/gen.ckpt" ] || $P finetune --task generate --init "$BASE" --data "$W/corpus" --steps $STEPS_FT --lr $LR_FT \
   --warmup 20 --batch 8 --threads 2 --pad --bf16 -o "$W/gen.ckpt" || exit 1
# flows per type: its share of the corpus's flows, at least MINF
python3 - "$W/corpus/manifest.json" $FLOWS $MINF > "$W/plan.txt" <<'PY' || exit 1
import collections, json, sys
m, total, minf = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
c = collections.Counter()
for i in m['inputs']: c[i['label']] += i['sequences']
n = sum(c.values())
for lab in sorted(c): print(lab, max(minf, round(total * c[lab] / n)))
PY
rc=0 s=1
while read -r lab nf; do
  mkdir -p "$W/$G/$lab"
  [ -s "$W/$G/$lab/gen.pcap" ] || $P generate --model "$W/gen.ckpt" -o "$W/$G/$lab/gen.pcap" --label "$lab" \
     --flows $nf --batch 16 $SAMPLING --seed $s --threads 2 --json > "$W/summary-$G-$lab.json" || exit 1
  s=$((s + 1))
done < "$W/plan.txt"
python3 - "$W" "$G" <<'PY'
import json, os, sys
w, g, t = sys.argv[1], sys.argv[2], {}
for lab in [l.split()[0] for l in open(os.path.join(w, 'plan.txt'))]:
    j = json.load(open(os.path.join(w, 'summary-%s-%s.json' % (g, lab))))
    for k, v in j.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool): t[k] = t.get(k, 0) + v
print('generated in all:', {k: t[k] for k in sorted(t) if not k.endswith('frac')})
PY
for f in "$W/$G"/*/gen.pcap; do lab=$(basename "$(dirname "$f")")
  bash "$S/tools/validate-pcap/validate_pcap.sh" "$f" > "$W/validate-$G-$lab.log" 2>&1 || { echo "validate_pcap.sh $f: FAILED"; rc=1; }
done
[ $rc -eq 0 ] && echo "validate_pcap.sh: exit 0 on all $(ls "$W/$G"/*/gen.pcap | wc -l) outputs"
# TSTR: forest trained on the generated flows, tested on REAL (first K packets; and whole flows)
./pktlm compare "$W/real-first" "$W/$G" --train "$W/train-first" --json "$W/compare-$G.json" \
   --html "$W/compare-$G.html" > "$W/compare-$G.txt" || rc=1
./pktlm compare "$W/real" "$W/$G" --train "$W/train" --json "$W/compare-$G-whole.json" \
   --html "$W/compare-$G-whole.html" > "$W/compare-$G-whole.txt" || rc=1
# OTHER (real captures no model saw) as the test set instead: a second held-out set, to
# choose sampling settings on without looking at REAL
./pktlm compare "$W/other-first" "$W/$G" --train "$W/train-first" --json "$W/compare-$G-on-other.json" \
   > "$W/compare-$G-on-other.txt" || rc=1
# real versus real: OTHER in SYNTH's place
[ -s "$W/compare-other.json" ] || ./pktlm compare "$W/real-first" "$W/other-first" --train "$W/train-first" \
   --json "$W/compare-other.json" --html "$W/compare-other.html" > "$W/compare-other.txt" || rc=1
exit $rc
