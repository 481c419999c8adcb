#!/usr/bin/env bash
# The main job on the bundled example captures: grows with the pipeline.
# The captures are examples/*.pcap and examples/*.pcapng (recorded by examples/record.sh,
# described in examples/README.md); outputs go to examples/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/out
mkdir -p "$out"
echo "== pktlm stats examples/*.pcap examples/*.pcapng"
./pktlm stats --flows "$out/flows.csv" examples/*.pcap examples/*.pcapng
echo "per-flow table: $out/flows.csv"
