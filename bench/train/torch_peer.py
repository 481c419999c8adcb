#!/usr/bin/python3
"""PyTorch peer for the training benchmark: the same GPT-2 (tools/torch_ref/gpt2_ref.py, float32),
batch, sequence length and AdamW (decay on matrices only, clipping 1.0) as `pktlm pretrain`.
Run at its best: OMP_NUM_THREADS=2, torch.set_num_threads(2), BLAS = BLIS-openmp or OpenBLAS-openmp
via LD_LIBRARY_PATH, whichever is faster (see bench.py). Prints one JSON line: tokens/s over the timed steps.
--bf16: the forward under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's CPU mixed precision
(matrix products in bf16 through oneDNN, fp32 master weights and optimizer), the peer of `pktlm --bf16`."""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
from gpt2_ref import GPT2, adamw_groups  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=6)
ap.add_argument("--d-model", type=int, default=256)
ap.add_argument("--heads", type=int, default=8)
ap.add_argument("--ctx", type=int, default=256)
ap.add_argument("--vocab", type=int, default=300)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--warm", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16) around the forward")
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
# A BLAS running outside its usual CPU settings must still compute right: check one product.
_x, _y = torch.randn(257, 383), torch.randn(383, 129)
_r = _x.double() @ _y.double()
if ((_x @ _y).double() - _r).abs().max().item() > 1e-4 * _r.abs().max().item():
    sys.exit("BLAS gives wrong products under this environment")
model = GPT2(a.vocab, a.ctx, a.layers, a.d_model, a.heads)
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() >= 2:
            p.normal_(0, 0.02)
opt = torch.optim.AdamW(adamw_groups(model, 0.1), lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
x = torch.randint(0, a.vocab, (a.batch, a.ctx))
y = torch.randint(0, a.vocab, (a.batch, a.ctx))
times = []
for step in range(a.warm + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    if a.bf16:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, loss = model(x, y)
    else:
        _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step >= a.warm:
        times.append(time.perf_counter() - t0)
tok = a.batch * a.ctx
times.sort()
print(json.dumps({"tok_per_s": tok * len(times) / sum(times), "median_tok_per_s": tok / times[len(times) // 2],
                  "loss": loss.item(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "precision": "bf16 autocast" if a.bf16 else "fp32"}))
