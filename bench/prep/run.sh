#!/usr/bin/env bash
# prep throughput on the 500 MB synthetic capture, next to the ingest-only figure
# (pktlm stats: read + parse + flow table) on the same file, same run.
#   bash bench/prep/run.sh [RUNS]      (from the repository root, after `make`)
# Needs ../shared/tools/synth-capture (the capture is generated once into $BENCH_TMP)
# and hyperfine. Prints a table and writes bench/prep/result.json.
# Timings on a shared 2-core machine are noisy: hyperfine reports mean +- sd.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-5}
shared=${PKTLM_SHARED:-$root/../shared}
tmp=${BENCH_TMP:-/tmp/pktlm-bench}
mkdir -p "$tmp"
gen=$tmp/synth-capture
cap=$tmp/synth500.pcap
if [ ! -x "$gen" ]; then
  [ -f "$shared/tools/synth-capture/gen.c" ] || { echo "bench/prep: $shared/tools/synth-capture missing, skipped"; exit 0; }
  gcc -O2 -o "$gen" "$shared/tools/synth-capture/gen.c" -lm
fi
# the generator's documented reference capture: 500 MB, 1.25 M packets, 31.5 k flows
[ -f "$cap" ] || "$gen" "$cap" 500 20240312 300 >/dev/null 2>&1
[ -x ./pktlm ] || make -j2 pktlm >/dev/null
bytes=$(stat -c %s "$cap")
cat "$cap" > /dev/null   # warm page cache
json=$tmp/prep-hyperfine.json
hyperfine -N --warmup 1 --runs "$runs" --export-json "$json" \
  -n ingest "./pktlm stats $cap" \
  -n prep "./pktlm prep $cap -o $tmp/corpus --no-labels -q" \
  -n prep-no-hash "./pktlm prep $cap -o $tmp/corpus --no-labels -q --no-hash" >/dev/null
python3 - "$json" "$bytes" bench/prep/result.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
out = {"capture_bytes": n, "results": []}
print(f"{'command':14s} {'mean s':>8s} {'sd':>6s} {'MB/s':>8s}")
for x in r["results"]:
    mbs = n / 1e6 / x["mean"]
    out["results"].append({"name": x["command"], "mean_s": x["mean"], "stddev_s": x["stddev"], "MB_per_s": mbs})
    print(f"{x['command']:14s} {x['mean']:8.3f} {x['stddev']:6.3f} {mbs:8.0f}")
json.dump(out, open(sys.argv[3], "w"), indent=1)
PY
