#!/usr/bin/python3
"""PyTorch peer for the generation benchmark: the same GPT-2 as pktlm (tools/torch_ref/gpt2_ref.py),
float32, decoding one token per sequence per step with a key/value cache (torch.no_grad), sampling
from the softmax at temperature 1 like `pktlm generate`. Run at its best: OMP_NUM_THREADS=2,
torch.set_num_threads(2), BLAS = BLIS-openmp via LD_LIBRARY_PATH (run.sh).
Prints one JSON line: sampled tokens/s (batch x steps / seconds) over the timed sequences."""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
from gpt2_ref import GPT2  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=6)
ap.add_argument("--d-model", type=int, default=256)
ap.add_argument("--heads", type=int, default=8)
ap.add_argument("--ctx", type=int, default=256)
ap.add_argument("--vocab", type=int, default=356)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--seqs", type=int, default=2, help="timed sequences of ctx tokens")
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = GPT2(a.vocab, a.ctx, a.layers, a.d_model, a.heads).eval()
with torch.no_grad():
    for n, p in m.named_parameters():
        if p.dim() >= 2:
            p.normal_(0, 0.02)
C, NH = a.d_model, a.heads
hs = C // NH


@torch.no_grad()
def generate(B, T):
    """One sequence per row, T - 1 decoding steps, KV cache preallocated (L, B, NH, T, hs)."""
    K = torch.zeros(a.layers, B, NH, T, hs)
    V = torch.zeros(a.layers, B, NH, T, hs)
    tok = torch.full((B,), 257, dtype=torch.long)   # <bos>
    for pos in range(T - 1):
        x = m.wte(tok) + m.wpe.weight[pos]
        for l, blk in enumerate(m.h):
            q, k, v = blk.c_attn(blk.ln_1(x)).split(C, dim=1)
            K[l, :, :, pos] = k.view(B, NH, hs)
            V[l, :, :, pos] = v.view(B, NH, hs)
            att = torch.einsum("bhd,bhtd->bht", q.view(B, NH, hs), K[l, :, :, :pos + 1]) / math.sqrt(hs)
            y = torch.einsum("bht,bhtd->bhd", att.softmax(-1), V[l, :, :, :pos + 1]).reshape(B, C)
            x = x + blk.c_proj(y)
            x = x + blk.mlp_proj(F.gelu(blk.c_fc(blk.ln_2(x)), approximate="tanh"))
        logits = m.ln_f(x) @ m.wte.weight.t()
        tok = torch.multinomial(logits.softmax(-1), 1).view(B)
    return B * (T - 1)


generate(a.batch, 16)   # warm-up
t0 = time.perf_counter()
n = sum(generate(a.batch, a.ctx) for _ in range(a.seqs))
dt = time.perf_counter() - t0
print(json.dumps({"tok_per_s": n / dt, "tokens": n, "seconds": dt, "batch": a.batch,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
