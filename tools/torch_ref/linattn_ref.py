#!/usr/bin/python3
"""PyTorch reference for pktlm's causal linear-attention backbone (src/models/linattn.c), written
from the description of tcpflowgen's model (TCPHeaderTransformer with fast-transformers' causal
linear attention) in plain torch, float64:
  pre-LayerNorm blocks (eps 1e-5); q, k, v = three Linear(C, C) with bias; interleaved rotary
  positions (pairs (2i, 2i+1), theta_i = 10000^(-2i/hs), position = token index, as torchtune's
  RotaryPositionalEmbeddings) on q and k BEFORE the feature map phi = elu + 1; attention
  out_i = phi(q_i)^T sum_{j<=i} phi(k_j) v_j^T / (phi(q_i) . sum_{j<=i} phi(k_j) + 1e-6), no
  1/sqrt(hs) scale, computed here the quadratic way (a masked (T,T) matrix; the C code is chunked);
  no output projection; MLP linear2(gelu(linear1(x))) with exact (erf) GELU; final LayerNorm;
  untied LM head with bias. Dropout is off (the C code's masks come from its own hash).
Writes tests/fixtures/linattn_ref.bin once; the fixture is committed and
tests/test_linattn_model.c compares against it (CI needs no torch).

    /usr/bin/python3 tools/torch_ref/linattn_ref.py [OUT]

Fixture: gpt2_ref.py's layout (train_and_write) with header [11] d_ff; params in the C tensor
table order: embedding, norm1 w/b, qkv weight ([q; k; v] rows) and bias, norm2 w/b, linear1 w/b,
linear2 w/b, norm w/b, lm_head weight, lm_head bias; per-layer tensors stacked (L, ...).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import lm_loss, train_and_write  # noqa: E402  (same optimizer steps and fixture layout)

EPS = 1e-6
BASE = 10000.0


def rope_interleaved(x):
    """x (B, NH, T, hs): rotate pairs (2i, 2i+1) by position * BASE^(-2i/hs)."""
    B, NH, T, hs = x.shape
    freq = BASE ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)          # (hs/2)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), freq).to(x.dtype)  # (T, hs/2)
    cos, sin = ang.cos(), ang.sin()
    xp = x.reshape(B, NH, T, hs // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1).reshape(B, NH, T, hs)


def causal_linear_attention(q, k, v):
    """q, k, v (B, NH, T, hs), features already applied."""
    T = q.shape[2]
    a = (q @ k.transpose(-2, -1)) * torch.ones(T, T, dtype=q.dtype).tril()    # inclusive of i
    return (a @ v) / (a.sum(-1, keepdim=True) + EPS)


def phi(x):
    return F.elu(x) + 1


class Block(nn.Module):
    def __init__(self, C, NH, Fd):
        super().__init__()
        self.NH = NH
        self.norm1 = nn.LayerNorm(C)
        self.q = nn.Linear(C, C)
        self.k = nn.Linear(C, C)
        self.v = nn.Linear(C, C)
        self.norm2 = nn.LayerNorm(C)
        self.linear1 = nn.Linear(C, Fd)
        self.linear2 = nn.Linear(Fd, C)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.NH
        h = self.norm1(x)
        heads = lambda t: t.view(B, T, self.NH, hs).transpose(1, 2)
        q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
        y = causal_linear_attention(phi(rope_interleaved(q)), phi(rope_interleaved(k)), v)
        x = x + y.transpose(1, 2).reshape(B, T, C)          # no output projection
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))   # exact GELU


class LinAttn(nn.Module):
    def __init__(self, V, L, C, NH, Fd):
        super().__init__()
        self.embedding = nn.Embedding(V, C)
        self.layers = nn.ModuleList([Block(C, NH, Fd) for _ in range(L)])
        self.norm = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V)

    def forward(self, idx, targets=None):
        x = self.embedding(idx)
        for blk in self.layers:
            x = blk(x)
        logits = self.lm_head(self.norm(x))
        return logits, lm_loss(logits, targets)

    def table(self, grad=False):
        """Tensors in the C table order (per-layer stacked, q/k/v concatenated)."""
        g = (lambda p: p.grad) if grad else (lambda p: p)
        st = lambda f: torch.stack([f(b) for b in self.layers])
        return [
            g(self.embedding.weight),
            st(lambda b: g(b.norm1.weight)), st(lambda b: g(b.norm1.bias)),
            st(lambda b: torch.cat([g(b.q.weight), g(b.k.weight), g(b.v.weight)], 0)),
            st(lambda b: torch.cat([g(b.q.bias), g(b.k.bias), g(b.v.bias)], 0)),
            st(lambda b: g(b.norm2.weight)), st(lambda b: g(b.norm2.bias)),
            st(lambda b: g(b.linear1.weight)), st(lambda b: g(b.linear1.bias)),
            st(lambda b: g(b.linear2.weight)), st(lambda b: g(b.linear2.bias)),
            g(self.norm.weight), g(self.norm.bias),
            g(self.lm_head.weight), g(self.lm_head.bias),
        ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/linattn_ref.bin"
    torch.manual_seed(1616)
    # T = 150 > 2 chunks of 64 (the C kernel's chunk), with a partial last chunk
    V, ctx, L, C, NH, Fd, B, T = 67, 160, 2, 32, 4, 64, 2, 150
    nsteps, warmup = 6, 2
    lr, b1, b2, eps, wd, clip, min_frac = 1e-2, 0.9, 0.95, 1e-8, 0.1, 1.0, 0.1
    model = LinAttn(V, L, C, NH, Fd).double()
    with torch.no_grad():   # non-trivial values everywhere, so every gradient is exercised
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))   # large enough that RoPE rotates a real bias
            else:
                p.copy_(0.15 * torch.randn_like(p))
            p.copy_(p.float().double())   # the float32 weights the C code reads
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    tgt[0, 3:7] = -1
    tgt[1, -5:] = -1
    train_and_write(model, tok, tgt, [0x46524B50, 1, V, ctx, L, C, NH, B, T, nsteps, warmup, Fd],
                    (lr, b1, b2, eps, wd, clip, min_frac), nsteps, warmup, out)


if __name__ == "__main__":
    main()
