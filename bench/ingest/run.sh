#!/usr/bin/env bash
# Ingest benchmark: `pktlm stats` on a 500 MB synthetic capture, next to a minimal libpcap
# read loop and tshark's conversation statistics on the same file, in one run.
#
#   bench/ingest/run.sh            (or `make bench`)
# Environment: BENCH_MB (default 500), BENCH_REPS (default 3; median of the repeats is
# reported for pktlm and libpcap, tshark runs once), BENCH_TSHARK=0 skips tshark,
# PKTLM_SHARED (default ../shared), PKTLM_BIN (default ./pktlm).
# Prints a table with ratios and writes bench/results/ingest.json.
# Needs: gcc, libpcap-dev, tshark, GNU time (/usr/bin/time, Debian package "time"), python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
shared=${PKTLM_SHARED:-$root/../shared}
gen_src=$shared/tools/synth-capture/gen.c
[ -f "$gen_src" ] || { echo "bench/ingest: $gen_src not found (set PKTLM_SHARED)" >&2; exit 1; }
MB=${BENCH_MB:-500}
REPS=${BENCH_REPS:-3}
pktlm=${PKTLM_BIN:-./pktlm}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# --- inputs, cached in /tmp (the generator is deterministic for a seed) -------------
gen=/tmp/synth-capture
if [ ! -x "$gen" ] || [ "$gen_src" -nt "$gen" ]; then
  gcc -O2 -o "$gen" "$gen_src" -lm
fi
cap=/tmp/pktlm-bench-${MB}MB.pcap
small=/tmp/pktlm-bench-100MB.pcap
for spec in "$cap:$MB" "$small:100"; do
  f=${spec%%:*}; n=${spec##*:}
  if [ ! -s "$f" ] || [ "$gen" -nt "$f" ]; then
    echo "generating $f ($n MB)" >&2
    "$gen" "$f.tmp" "$n" 20240312 300 >/dev/null 2>&1 && mv "$f.tmp" "$f"
  fi
done
loop=build/bench/pcap_loop
mkdir -p build/bench bench/results
cc -O2 -o "$loop" bench/ingest/pcap_loop.c -lpcap
[ -x "$pktlm" ] || make -j2 pktlm >&2

size=$(stat -c %s "$cap")
cat "$cap" "$small" > /dev/null   # warm page cache: we measure parsing, not the disk

# time_cmd OUT_PREFIX cmd...: writes PREFIX.time = "elapsed_seconds max_rss_KB". GNU time
# gives the peak RSS; the wall time is taken here in ns (GNU time's %e has 10 ms steps).
time_cmd() {
  local pre=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$pre.rss" "$@" > "$pre.out" 2> "$pre.err" || {
    echo "bench/ingest: failed: $*" >&2; tail -5 "$pre.err" >&2; return 1; }
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))e-6 $(tail -1 "$pre.rss")" > "$pre.time"
}
tmp=$(mktemp -d /tmp/pktlm-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "pktlm stats x$REPS ..." >&2
for i in $(seq "$REPS"); do time_cmd "$tmp/pktlm.$i" "$pktlm" stats --json "$cap"; done
time_cmd "$tmp/pktlm_small" "$pktlm" stats --json "$small"
echo "libpcap loop x$REPS ..." >&2
for i in $(seq "$REPS"); do time_cmd "$tmp/loop.$i" "$loop" "$cap"; done
if [ "${BENCH_TSHARK:-1}" != 0 ]; then
  echo "tshark -q -z conv,tcp -z conv,udp (about 15 s) ..." >&2
  time_cmd "$tmp/tshark" tshark -q -z conv,tcp -z conv,udp -r "$cap"
fi

# --- table and JSON ------------------------------------------------------------
"$py" - "$tmp" "$cap" "$size" "$REPS" bench/results/ingest.json <<'EOF'
import json, os, platform, statistics, subprocess, sys, time
tmp, cap, size, reps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def timed(pre):
    el, rss = open(pre + ".time").read().split()[-2:]
    return float(el), int(rss) * 1024

def find(obj, names):
    """First number under one of names (searching nested objects), e.g. packets or flows."""
    if isinstance(obj, dict):
        for n in names:
            v = obj.get(n)
            if isinstance(v, (int, float)) and not isinstance(v, bool): return v
            if isinstance(v, dict):
                for k in ("total", "all", "count"):
                    if isinstance(v.get(k), (int, float)): return v[k]
        for v in obj.values():
            r = find(v, names)
            if r is not None: return r
    return None

runs = [timed(f"{tmp}/pktlm.{i}") for i in range(1, reps + 1)]
st = json.load(open(f"{tmp}/pktlm.1.out"))
packets = find(st, ("packets",))
flows = find(st, ("flows",))
p_s = statistics.median(t for t, _ in runs)
p_rss = max(r for _, r in runs)
small_s, small_rss = timed(f"{tmp}/pktlm_small")
loops = [timed(f"{tmp}/loop.{i}") for i in range(1, reps + 1)]
l_s = statistics.median(t for t, _ in loops)
l_rss = max(r for _, r in loops)
l_pk = int(open(f"{tmp}/loop.1.out").read().split()[0])
ts = timed(f"{tmp}/tshark") if os.path.exists(f"{tmp}/tshark.time") else None

mb = size / 1e6
def row(name, s, rss, pk, fl):
    s = max(s, 1e-3)
    return dict(tool=name, seconds=round(s, 3), mb_per_s=round(mb / s, 1),
                packets_per_s=round(pk / s) if pk else None,
                flows_per_s=round(fl / s) if fl else None, peak_rss_mb=round(rss / 2**20, 1))
rows = [row("pktlm stats", p_s, p_rss, packets, flows),
        row("libpcap pcap_next_ex loop", l_s, l_rss, l_pk, None)]
if ts: rows.append(row("tshark -z conv,tcp -z conv,udp", ts[0], ts[1], l_pk, None))
ratios = {"pktlm_vs_tshark_speedup": round(ts[0] / max(p_s, 1e-3), 1) if ts else None,
          "pktlm_time_vs_libpcap_loop": round(p_s / max(l_s, 1e-3), 2)}
targets = {"pktlm_mb_per_s": ">= 1000", "pktlm_vs_tshark_speedup": ">= 25", "pktlm_time_vs_libpcap_loop": "<= 3"}
ok = {"pktlm_mb_per_s": mb / p_s >= 1000,
      "pktlm_vs_tshark_speedup": (ratios["pktlm_vs_tshark_speedup"] or 0) >= 25 if ts else None,
      "pktlm_time_vs_libpcap_loop": ratios["pktlm_time_vs_libpcap_loop"] <= 3}

print(f"\ningest benchmark: {cap} ({mb:.0f} MB, {l_pk} packets, {flows} flows per pktlm), "
      f"median of {reps} runs (tshark once), warm page cache")
print(f"{'tool':34s} {'seconds':>8s} {'MB/s':>8s} {'Mpkt/s':>8s} {'kflows/s':>9s} {'peak RSS MB':>12s}")
for r in rows:
    f = lambda v, d: "-" if v is None else f"{v / d:.2f}"
    print(f"{r['tool']:34s} {r['seconds']:8.3f} {r['mb_per_s']:8.0f} {f(r['packets_per_s'], 1e6):>8s} "
          f"{f(r['flows_per_s'], 1e3):>9s} {r['peak_rss_mb']:12.1f}")
print(f"pktlm vs tshark: {ratios['pktlm_vs_tshark_speedup']}x faster (target >= 25x)")
print(f"pktlm vs libpcap loop: {ratios['pktlm_time_vs_libpcap_loop']}x the time (target <= 3x)")
print(f"pktlm throughput: {mb / p_s / 1000:.2f} GB/s (target >= 1 GB/s)")
print(f"pktlm peak RSS: {p_rss / 2**20:.1f} MB on {mb:.0f} MB, {small_rss / 2**20:.1f} MB on 100 MB (flat = about equal)")

def cmd(*a):
    try: return subprocess.run(a, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception: return None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
res = dict(benchmark="ingest", date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           machine=dict(cpu=cpu, cores=os.cpu_count(), kernel=platform.release()),
           input=dict(path=cap, bytes=size, packets=l_pk, generator="synth-capture seed 20240312, 300 flows/s"),
           repeats=reps, pktlm_stats_packets=packets, pktlm_stats_flows=flows, results=rows, ratios=ratios,
           targets=targets, targets_met=ok,
           pktlm_peak_rss_mb={"100MB": round(small_rss / 2**20, 1), f"{mb:.0f}MB": round(p_rss / 2**20, 1)},
           versions=dict(tshark=cmd("tshark", "--version"), pktlm_git=cmd("git", "rev-parse", "--short", "HEAD")),
           note="2-core machine shared with other jobs: timings are noisy")
tmpf = out + ".tmp"
with open(tmpf, "w") as f: json.dump(res, f, indent=2); f.write("\n")
os.replace(tmpf, out)
print(f"wrote {out}")
EOF
