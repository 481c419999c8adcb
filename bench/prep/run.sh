#!/usr/bin/env bash
# prep benchmark: `pktlm prep` on the 500 MB synthetic capture (the ingest benchmark's
# file), next to the ingest-only figure (`pktlm stats`) measured in the same run.
#   bash bench/prep/run.sh [RUNS]      (from the repository root; `make bench` runs it)
# Needs ../shared/tools/synth-capture (or PKTLM_SHARED=...), gcc, hyperfine, python3.
# Prints a table and writes bench/results/prep.json. The machine is a shared 2-core VM:
# hyperfine's mean +- sd is reported, treat single figures as noisy.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-${BENCH_REPS:-5}}
shared=${PKTLM_SHARED:-$root/../shared}
gen_src=$shared/tools/synth-capture/gen.c
[ -f "$gen_src" ] || { echo "bench/prep: $gen_src not found (set PKTLM_SHARED)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/prep: hyperfine not installed" >&2; exit 1; }
gen=/tmp/synth-capture
if [ ! -x "$gen" ] || [ "$gen_src" -nt "$gen" ]; then gcc -O2 -o "$gen" "$gen_src" -lm; fi
# same file, seed and rate as bench/ingest (cached in /tmp, remade when the generator changes)
cap=/tmp/pktlm-bench-500MB.pcap
if [ ! -s "$cap" ] || [ "$gen" -nt "$cap" ]; then
  echo "generating $cap (500 MB)" >&2
  "$gen" "$cap.tmp" 500 20240312 300 >/dev/null 2>&1 && mv "$cap.tmp" "$cap"
fi
bin=${PKTLM_BIN:-./pktlm}
[ -x "$bin" ] || make -j2 pktlm >/dev/null
out=$(mktemp -d /tmp/pktlm-bench-prep.XXXXXX)
trap 'rm -rf "$out"' EXIT
bytes=$(stat -c %s "$cap")
cat "$cap" > /dev/null   # warm page cache: we measure prep, not the disk
hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/h.json" \
  -n ingest "$bin stats $cap" \
  -n prep "$bin prep $cap -o $out/corpus --no-labels -q" \
  -n prep-no-hash "$bin prep $cap -o $out/corpus --no-labels -q --no-hash" >/dev/null
mkdir -p bench/results
python3 - "$out/h.json" "$bytes" bench/results/prep.json "$(uptime | sed 's/.*load average: //')" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
out = {"capture": "synth-capture 500 MB, seed 20240312, 300 flows/s", "capture_bytes": n,
       "load_average": sys.argv[4], "target_MB_per_s": 500, "results": []}
print(f"{'command':14s} {'mean s':>8s} {'sd':>6s} {'MB/s':>8s}")
for x in r["results"]:
    mbs = n / 1e6 / x["mean"]
    out["results"].append({"name": x["command"], "mean_s": x["mean"], "stddev_s": x["stddev"], "MB_per_s": round(mbs, 1)})
    print(f"{x['command']:14s} {x['mean']:8.3f} {x['stddev']:6.3f} {mbs:8.0f}")
print(f"(load average at the end: {sys.argv[4]}; target: prep >= 500 MB/s)")
json.dump(out, open(sys.argv[3], "w"), indent=1)
PY
