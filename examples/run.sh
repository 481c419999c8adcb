#!/usr/bin/env bash
# The main job on the bundled example captures (examples/*.pcap, examples/*.pcapng, recorded
# by examples/record.sh, described in examples/README.md): the pipeline end to end, small
# enough to run in seconds. Outputs go to examples/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
# PKTLM: the binary (default ./pktlm); EXAMPLES_OUT: where outputs go; EXAMPLES_STEPS:
# pretraining steps (300; the sanitizer tests use fewer)
P=${PKTLM:-./pktlm}
out=${EXAMPLES_OUT:-examples/out}
steps=${EXAMPLES_STEPS:-300}
mkdir -p "$out"
caps=(examples/*.pcap examples/*.pcapng)

echo "== 1. ingest: pktlm stats"
"$P" stats --flows "$out/flows.csv" "${caps[@]}"

echo; echo "== 2. corpus: pktlm prep (anonymised tokens, 8:1:1 split by flow)"
rm -rf "$out/corpus"
"$P" prep "${caps[@]}" -o "$out/corpus" --no-labels

echo; echo "== 3. pretrain a tiny GPT-2 ($steps steps, a few seconds)"
"$P" pretrain --data "$out/corpus" -o "$out/model.ckpt" --layers 2 --d-model 64 --heads 4 --ctx 256 \
  --batch 4 --steps "$steps" --quiet
"$P" info "$out/model.ckpt"

echo; echo "== 4. the corpus decoded back to packets (anonymised addresses, original timing)"
"$P" export "$out/corpus" --format pcap --split all -o "$out/decoded"

echo; echo "== 5. generate 32 flows with the tiny model into a valid pcap"
"$P" generate --model "$out/model.ckpt" -o "$out/generated.pcap" --flows 32 --seed 1

echo; echo "== 6. fidelity report: generated traffic against the real captures, with both baselines"
# REAL: the example captures (links, so that examples/out itself is not read as input)
rm -rf "$out/real"; mkdir -p "$out/real"
for c in "${caps[@]}"; do ln -s "$PWD/$c" "$out/real/"; done
"$P" compare "$out/real" "$out/generated.pcap" --train "$out/real" --html "$out/compare.html" --json "$out/compare.json" > "$out/compare.txt"
head -48 "$out/compare.txt"; echo "... (the whole report: $out/compare.txt)"
echo
echo "(a 0.14 M-parameter model trained for seconds on 37 flows: the numbers show the pipeline,"
echo " not what a trained model does; see README \"Generate traffic\" and docs/compare.md)"
echo "outputs in $out/: flows.csv, corpus/, model.ckpt (+ .csv, .svg loss curves), decoded/,"
echo "generated.pcap, compare.html (open it in a browser), compare.txt, compare.json"
