#!/usr/bin/env bash
# The main job on the bundled example captures: grows with the pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/out
mkdir -p "$out"
echo "== pktlm stats examples/captures"
./pktlm stats --flows "$out/flows.csv" examples/captures
echo "per-flow table: $out/flows.csv"
