#!/usr/bin/env bash
# The main job on the bundled example captures (examples/*.pcap, examples/*.pcapng, recorded
# by examples/record.sh, described in examples/README.md): the pipeline end to end, small
# enough to run in seconds. Outputs go to examples/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/out
mkdir -p "$out"
caps=(examples/*.pcap examples/*.pcapng)

echo "== 1. ingest: pktlm stats"
./pktlm stats --flows "$out/flows.csv" "${caps[@]}"

echo; echo "== 2. corpus: pktlm prep (anonymised tokens, 8:1:1 split by flow)"
rm -rf "$out/corpus"
./pktlm prep "${caps[@]}" -o "$out/corpus" --no-labels

echo; echo "== 3. pretrain a tiny GPT-2 (200 steps)"
./pktlm pretrain --data "$out/corpus" -o "$out/model.ckpt" --layers 2 --d-model 64 --heads 4 --ctx 256 \
  --batch 4 --steps 200 --quiet
./pktlm info "$out/model.ckpt"

echo; echo "== 4. fidelity report: the decoded corpus (anonymised) against the original captures"
./pktlm export "$out/corpus" --format pcap --split all -o "$out/decoded"
./pktlm compare examples/http_tls.pcap "$out/decoded/train.pcap" --html "$out/compare.html" --json "$out/compare.json" | head -40
echo
echo "outputs in $out/: flows.csv, corpus/, model.ckpt (+ .csv, .svg loss curves), compare.html"
