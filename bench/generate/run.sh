#!/usr/bin/env bash
# Generation speed: `pktlm generate` vs PyTorch with a key/value cache (bench/generate/torch_gen.py)
# for the same 6-layer d-256 GPT-2 (ctx 256, vocab 356, random weights), at batch 1 and 16,
# measured in the same run, alternating, best of REPS. Both use 2 threads; PyTorch at its best
# (each BLAS it can load, bench/torch_blas.sh; OMP_NUM_THREADS=2). Tokens/s = sampled tokens / wall time of the decoding loop
# (pktlm: includes the grammar mask and sampling; PyTorch: softmax + multinomial). Both decode
# whole sequences of the context's length (pktlm --full: no <eos>), so attention spans the same
# positions. pktlm runs twice: fp32 (the same arithmetic as PyTorch) and --bf16 (weights and
# key/value cache held as bf16, fp32 arithmetic). The same for a Qwen2 of the same size (6 layers,
# d 256, 8 heads, d_ff 704, untied head: the same parameter count), through its own decoding
# step: the ratio qwen2/gpt2 of the same run is the figure (target: within 1.25x).
# Writes bench/results/generate.json. Called by `make bench`; skips without torch.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. bench/torch_blas.sh
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then echo "bench/generate: SKIP (no /usr/bin/python3 with torch)"; exit 0; fi
[ -x ./pktlm ] || make -j2 pktlm >/dev/null
REPS=${REPS:-3}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
# a checkpoint of the benchmark shape: one training step on a corpus of ../shared's tls2.pcap
# (the weights do not matter for speed, the vocabulary does: 355 token ids + 1 label)
S=${PKTLM_SHARED:-../shared}
./pktlm prep "$S/data/generation/tls2.pcap" -o "$W/c" --label x >/dev/null 2>&1 || { echo "bench/generate: SKIP (no ../shared capture for the corpus)"; exit 0; }
./pktlm pretrain --data "$W/c" --layers 6 --d-model 256 --heads 8 --ctx 256 --batch 1 --steps 1 --threads 2 --quiet -o "$W/m.ckpt" 2>/dev/null
./pktlm pretrain --data "$W/c" --arch qwen2 --layers 6 --d-model 256 --heads 8 --ctx 256 --batch 1 --steps 1 --threads 2 --quiet -o "$W/q.ckpt" 2>/dev/null
export OMP_NUM_THREADS=2
for r in $(seq "$REPS"); do
  for b in 1 16; do
    ./pktlm generate --model "$W/m.ckpt" -o "$W/g.pcap" --tokens $((b * 768)) --batch $b --threads 2 --json --seed $r --full \
      | sed "s/^/pktlm $b /" >> "$W/res"
    ./pktlm generate --model "$W/m.ckpt" -o "$W/g.pcap" --tokens $((b * 768)) --batch $b --threads 2 --json --seed $r --full --bf16 \
      | sed "s/^/pktlm-bf16 $b /" >> "$W/res"
    ./pktlm generate --model "$W/q.ckpt" -o "$W/g.pcap" --tokens $((b * 768)) --batch $b --threads 2 --json --seed $r --full \
      | sed "s/^/qwen2 $b /" >> "$W/res"
    ./pktlm generate --model "$W/q.ckpt" -o "$W/g.pcap" --tokens $((b * 768)) --batch $b --threads 2 --json --seed $r --full --bf16 \
      | sed "s/^/qwen2-bf16 $b /" >> "$W/res"
    torch_blas_each /usr/bin/python3 bench/generate/torch_gen.py --batch $b --seqs 2 --threads 2 \
      | sed "s/^/torch $b /" >> "$W/res"
  done
done
mkdir -p bench/results
/usr/bin/python3 - "$W/res" bench/results/generate.json <<'PY'
import json, sys, datetime, os
best = {}
for line in open(sys.argv[1]):
    who, b, js = line.split(" ", 2)
    d = json.loads(js)
    v = d.get("tokens_per_s", d.get("tok_per_s"))
    k = (who, int(b))
    best[k] = max(best.get(k, 0), v)
out = {"date": datetime.datetime.utcnow().isoformat() + "Z", "model": "gpt2 6 layers d 256 8 heads ctx 256 vocab 356",
       "threads": 2, "load_avg_1min": os.getloadavg()[0], "note": "best of reps; shared 2-core machine, noisy",
       "tokens_per_s": {f"{w}_batch{b}": round(v, 1) for (w, b), v in sorted(best.items())}}
for b in (1, 16):
    for w in ("pktlm", "pktlm-bf16"):
        if ("torch", b) in best and (w, b) in best:
            out[f"speedup_{w}_batch{b}"] = round(best[(w, b)] / best[("torch", b)], 2)
for b in (1, 16):
    for q, g in (("qwen2", "pktlm"), ("qwen2-bf16", "pktlm-bf16")):
        if (q, b) in best and (g, b) in best:
            out[f"time_ratio_{q}_over_gpt2_batch{b}"] = round(best[(g, b)] / best[(q, b)], 3)
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("batch  pktlm tok/s  pktlm --bf16  PyTorch tok/s  speed-up (fp32, bf16)")
for b in (1, 16):
    print(f"{b:5d}  {best.get(('pktlm', b), 0):11.0f}  {best.get(('pktlm-bf16', b), 0):12.0f}  {best.get(('torch', b), 0):13.0f}"
          f"  {out.get(f'speedup_pktlm_batch{b}', 0):.2f}x, {out.get(f'speedup_pktlm-bf16_batch{b}', 0):.2f}x")
print("batch  qwen2 tok/s  qwen2 --bf16  time qwen2/gpt2 (fp32, bf16; target <= 1.25)")
for b in (1, 16):
    print(f"{b:5d}  {best.get(('qwen2', b), 0):11.0f}  {best.get(('qwen2-bf16', b), 0):12.0f}"
          f"  {out.get(f'time_ratio_qwen2_over_gpt2_batch{b}', 0):.2f}, {out.get(f'time_ratio_qwen2-bf16_over_gpt2_batch{b}', 0):.2f}")
PY
