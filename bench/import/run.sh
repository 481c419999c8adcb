#!/usr/bin/env bash
# import benchmark: `pktlm import` of a Qwen2.5-0.5B-shaped Hugging Face folder (494 M
# parameters, bfloat16 safetensors, written sparse by make_qwen05.py: zeros, no download), and
# `pktlm export-model` of the result, next to a PyTorch peer in the same run that reads the
# same file into float32 tensors (what from_pretrained(torch_dtype=float32) does with it).
#   bash bench/import/run.sh            (from the repository root; `make bench` runs it)
# Needs python3 and GNU time (/usr/bin/time); the peer needs python3-torch (skipped without).
# Prints a table and writes bench/results/import.json. Shared 2-core VM: noisy figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${PKTLM_BIN:-./pktlm}
[ -x "$bin" ] || make -j2 pktlm >/dev/null
[ -x /usr/bin/time ] || { echo "bench/import: GNU time (/usr/bin/time) not installed" >&2; exit 1; }
out=$(mktemp -d /tmp/pktlm-bench-import.XXXXXX)
trap 'rm -rf "$out"' EXIT
python3 bench/import/make_qwen05.py "$out/q05" >&2
st=$out/q05/model.safetensors
# seconds and peak RSS (MB) of a command: "S MB"
measure() { /usr/bin/time -f "%e %M" -o "$out/t" "$@" >"$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
            awk '{ printf "%s %.1f\n", $1, $2 / 1024 }' "$out/t"; }
read -r ti mi <<<"$(measure "$bin" import "$out/q05" -o "$out/q05.ckpt")"
params=$(sed -n 's/^parameters *\([0-9]*\).*/\1/p' "$out/log")
read -r te me <<<"$(measure "$bin" export-model "$out/q05.ckpt" --format hf -o "$out/back")"
read -r tr mr <<<"$(measure "$bin" import "$out/back" -o "$out/q05b.ckpt")"
same=$(cmp -s <(tail -c +1025 "$out/q05.ckpt") <(tail -c +1025 "$out/q05b.ckpt") && echo true || echo false)
tp=null; mp=null
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  cat >"$out/peer.py" <<'PY'
import json, struct, sys, torch
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    hdr = json.loads(f.read(n))
    buf = bytearray(f.read())
ts = {}
for k, e in hdr.items():
    if k != "__metadata__":
        b0, b1 = e["data_offsets"]
        ts[k] = torch.frombuffer(buf, dtype=torch.int16, offset=b0, count=(b1 - b0) // 2).view(torch.bfloat16).float().view(e["shape"])
del buf
print(sum(t.numel() for t in ts.values()))
PY
  read -r tp mp <<<"$(measure /usr/bin/python3 "$out/peer.py" "$st")"
fi
load=$(uptime | sed 's/.*load average: //')
printf "%-40s %8s %10s\n" "command" "seconds" "peak MB"
printf "%-40s %8s %10s\n" "pktlm import (bf16 -> f32 checkpoint)" "$ti" "$mi"
printf "%-40s %8s %10s\n" "pktlm export-model (f32 safetensors)" "$te" "$me"
printf "%-40s %8s %10s\n" "pktlm import of the export (f32)" "$tr" "$mr"
printf "%-40s %8s %10s\n" "torch peer: read + widen to f32" "$tp" "$mp"
echo "parameters $params; import(export(M)) == M: $same; load average $load"
mkdir -p bench/results
cat > bench/results/import.json <<JSON
{"model": "Qwen2.5-0.5B-shaped (896/4864/24 layers/14 heads/2 KV heads/vocab 151936/theta 1e6), zero weights, bf16 safetensors",
 "parameters": $params, "roundtrip_bit_identical": $same, "load_average": "$load",
 "pktlm_import": {"seconds": $ti, "peak_mb": $mi},
 "pktlm_export_model": {"seconds": $te, "peak_mb": $me},
 "pktlm_import_f32": {"seconds": $tr, "peak_mb": $mr},
 "torch_read_widen": {"seconds": $tp, "peak_mb": $mp}}
JSON
