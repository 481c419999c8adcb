#!/usr/bin/env bash
# Linear attention (--arch linattn, tcpflowgen's size: 8 layers, d 256, 8 heads, d_ff 1024,
# vocab 300) against (a) the PyTorch reference of the same model (torch_linattn.py: chunked,
# fp32, 2 threads) and (b) pktlm's GPT-2 of the same size, at context 1,024 and 8,192:
# training tokens/s (batch 4 x 1024, 1 x 8192) and batch-1 generation tokens/s at the end of
# the context. Called by `make bench`; writes bench/results/linattn.json. Needs ./pktlm's
# library built; the PyTorch rows are skipped without /usr/bin/python3 + torch.
# Knobs: LA_STEPS (2 timed training steps), LA_GEN (64 tokens), LA_MAX_GIB (6: configs needing
# more memory are reported as not run), LA_THREADS (2).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. bench/torch_blas.sh
make -j2 build/rel/libpktlm.a >/dev/null
bin=build/rel/bench_linattn
gcc -std=c11 -D_GNU_SOURCE -O2 -march=native -fopenmp -Isrc bench/linattn/bench_linattn.c build/rel/libpktlm.a \
  -L/usr/lib/x86_64-linux-gnu/blis-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lm -o $bin
S=${LA_STEPS:-2} G=${LA_GEN:-64} MG=${LA_MAX_GIB:-6} TH=${LA_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
out=$(mktemp)
load0=$(cut -d' ' -f1 /proc/loadavg)
for T in 1024 8192; do
  B=$((T == 1024 ? 4 : 1))
  $bin linattn $T $B $S $G $TH $MG >>$out
  $bin gpt2 $T $B $S $G $TH $MG >>$out
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    W=$((T == 1024 ? 2 : 0))
    torch_blas_each /usr/bin/python3 bench/linattn/torch_linattn.py $T $B $((T == 1024 ? S : 1)) $((G / 4)) --window $W --threads $TH >>$out
  fi
done
load1=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$out" "$load0" "$load1" "$root/bench/results/linattn.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
# the PyTorch peer ran once per BLAS (bench/torch_blas.sh): keep its best figure of each kind
peer = {}
for r in rows:
    if "blas" not in r: continue
    k = (r["arch"], r["T"])
    if k not in peer:
        peer[k] = dict(r, blas={})
    for m in ("train_tok_s", "gen_tok_s", "window_gen_tok_s"):
        if r.get(m, -1) > peer[k].get(m, -1): peer[k][m] = r[m]
        if r.get(m, -1) > 0: peer[k]["blas"].setdefault(m, {})[r["blas"]] = r[m]
rows = [r for r in rows if "blas" not in r] + list(peer.values())
for r in peer.values():
    print("PyTorch ctx %d per BLAS: %s" % (r["T"], json.dumps(r["blas"])))
f = lambda v: "not run" if v is None or v < 0 else ("%.2f" % v if v < 10 else "%.0f" % v)
print("%-14s %6s %12s %12s %14s" % ("model", "ctx", "train tok/s", "gen tok/s", "window tok/s"))
for r in rows:
    print("%-14s %6d %12s %12s %14s" % (r["arch"], r["T"], f(r["train_tok_s"]), f(r["gen_tok_s"]), f(r.get("window_gen_tok_s"))))
by = {(r["arch"], r["T"]): r for r in rows}
ratios = {}
for T in (1024, 8192):
    la, gp, pt = by.get(("linattn", T)), by.get(("gpt2", T)), by.get(("torch-linattn", T))
    for name, peer in (("torch", pt), ("gpt2", gp)):
        if not la or not peer: continue
        for k in ("train_tok_s", "gen_tok_s"):
            if la[k] > 0 and peer[k] > 0:
                ratios["linattn/%s %s ctx %d" % (name, k, T)] = round(la[k] / peer[k], 2)
    if la and pt and pt.get("window_gen_tok_s", -1) > 0:
        ratios["linattn recurrent / tcpflowgen window re-run, gen ctx %d" % T] = round(la["gen_tok_s"] / pt["window_gen_tok_s"], 1)
for k, v in ratios.items(): print("  %-55s %8.2fx" % (k, v))
print("  load average before/after: %s / %s (2 cores)" % (sys.argv[2], sys.argv[3]))
json.dump({"rows": rows, "ratios": ratios, "load": [float(sys.argv[2]), float(sys.argv[3])]}, open(sys.argv[4], "w"), indent=1)
PY
rm -f $out
