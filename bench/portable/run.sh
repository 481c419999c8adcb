#!/usr/bin/env bash
# The portable binary (`make portable`: AVX-512 / AVX2 / SSE2 copies, the CPU's best chosen at
# start) against the native build (-march=native) on this machine, interleaved in one run, best
# of REPS each: training tokens/s (6 layers, d 256, ctx 256, batch 8, 8 steps on a random-token
# corpus), generation tokens/s at batch 1 and 16 (the same model shape, 768 tokens a sequence),
# and `stats` over the ingest benchmark's 500 MB capture when it exists. Target (issue 22): the
# portable binary's chosen copy within 5% of native. The AVX2 and SSE2 copies are timed too
# (PKTLM_CPU=avx2|generic), for a user whose CPU has no AVX-512. Writes bench/results/portable.json.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make -j2 pktlm pktlm-portable >/dev/null
REPS=${REPS:-3}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=2
./pktlm prep examples/*.pcap -o "$W/c" >/dev/null 2>&1
./pktlm pretrain --data "$W/c" --layers 6 --d-model 256 --heads 8 --ctx 256 --batch 1 --steps 1 --threads 2 --quiet -o "$W/m.ckpt"
# a random-token training corpus big enough for 8 + 1 steps of 8 x 256 (the format of corpus/shard.h)
python3 - "$W/t" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; os.makedirs(d); rng = random.Random(1); V = 300
for split, name, n in ((0, "train.tok", 8 * 256 * 12), (1, "val.tok", 4096)):
    hdr = [0] * 256; hdr[0:8] = [0x4B4F5450, 1, V, 0, 1, 2, 0, V]; nseq = n // 512
    hdr[8], hdr[10], hdr[12] = nseq, n, split
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<256i", *hdr)); f.write(struct.pack("<%dH" % n, *[rng.randrange(3, V) for _ in range(n)]))
        for i in range(nseq): f.write(struct.pack("<QIiIIQ", i * 512, 512, -1, 0, i, i))
json.dump({"format": "pktlm-tokens", "vocab_size": V, "label_base": V, "labels": []}, open(os.path.join(d, "vocab.json"), "w"))
PY
cap=/tmp/pktlm-bench-500MB.pcap
runs="native:./pktlm: portable:./pktlm-portable: portable-avx2:./pktlm-portable:avx2 portable-generic:./pktlm-portable:generic"
for r in $(seq "$REPS"); do
  for spec in $runs; do
    name=${spec%%:*}; rest=${spec#*:}; bin=${rest%%:*}; cpu=${rest#*:}
    rm -f "$W/tr.ckpt" "$W/tr.csv"
    PKTLM_CPU=$cpu $bin pretrain --data "$W/t" --layers 6 --d-model 256 --heads 8 --ctx 256 --batch 8 --steps 8 --warmup 1 \
      --eval-every 1000000 --val-batches 1 --threads 2 --quiet -o "$W/tr.ckpt" 2>/dev/null
    echo "$name train 8 $(tail -n +3 "$W/tr.csv" | awk -F, '{ s += 1 / $7; n++ } END { print n / s }')" >> "$W/res"
    for b in 1 16; do
      PKTLM_CPU=$cpu $bin generate --model "$W/m.ckpt" -o "$W/g.pcap" --tokens $((b * 768)) --batch $b --threads 2 --json --seed $r --full \
        | python3 -c "import json,sys; print('$name gen $b', json.load(sys.stdin)['tokens_per_s'])" >> "$W/res"
    done
    if [ -f "$cap" ]; then
      s=$(date +%s.%N); PKTLM_CPU=$cpu $bin stats "$cap" --json >/dev/null; e=$(date +%s.%N)
      echo "$name stats 0 $(python3 -c "print(500.0 / ($e - $s))")" >> "$W/res"
    fi
  done
done
python3 - "$W/res" bench/results/portable.json <<'PY'
import json, os, sys, datetime
best = {}
for l in open(sys.argv[1]):
    who, what, b, v = l.split(); k = (who, what, int(b)); best[k] = max(best.get(k, 0.0), float(v))
cases = sorted({(w, b) for _, w, b in best})
unit = {"train": "tok/s", "gen": "tok/s", "stats": "MB/s"}
print("%-22s %10s %10s %14s %16s  portable/native" % ("case", "native", "portable", "portable-avx2", "portable-generic"))
out = {"date": datetime.datetime.utcnow().isoformat() + "Z", "load_avg": os.getloadavg()[0],
       "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""), "rows": []}
for w, b in cases:
    row = {who: best.get((who, w, b)) for who in ("native", "portable", "portable-avx2", "portable-generic")}
    ratio = row["portable"] / row["native"] if row["native"] and row["portable"] else None
    name = "%s%s (%s)" % (w, " batch %d" % b if w == "gen" else "", unit[w])
    print("%-22s %10.0f %10.0f %14.0f %16.0f  %.3f" % (name, row["native"], row["portable"], row["portable-avx2"], row["portable-generic"], ratio))
    out["rows"].append(dict(case=w, batch=b, unit=unit[w], ratio_portable_native=ratio, **row))
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("(best of each; load average %.2f at the end; target: portable/native >= 0.95)" % out["load_avg"])
PY
