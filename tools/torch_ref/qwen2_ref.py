#!/usr/bin/python3
"""PyTorch reference for pktlm's Qwen2 backbone (src/models/qwen2.c), written from the math of
Hugging Face's Qwen2 (modeling_qwen2) without the transformers library, in float64: pre-norm
blocks with RMSNorm (weight only, eps 1e-6), rotary position embedding (theta 10000,
rotate_half: dimension i pairs with i + hs/2), grouped-query attention (kv head j serves query
heads j*G .. j*G+G-1, G = heads / kv_heads, as HF's repeat_kv), q/k/v projections with bias,
o_proj without, SwiGLU MLP down(silu(gate(x)) * up(x)) without biases, final RMSNorm, untied
LM head. Writes tests/fixtures/qwen2_ref.bin once; the fixture is committed and
tests/test_qwen2.c compares against it (CI needs no torch).

    /usr/bin/python3 tools/torch_ref/qwen2_ref.py [OUT]

Fixture (little-endian), the layout of gpt2_ref.py with three more header fields:
  header 256 x int32: [0] magic 0x46524b50 "PKRF", [1] version 1, [2] V, [3] ctx, [4] L, [5] C,
         [6] NH, [7] B, [8] T, [9] nsteps, [10] warmup, [11] kv_heads, [12] d_ff, [13] tied; rest 0
  float32 x 8 at int index 16..23: lr, beta1, beta2, eps, weight_decay, clip, min_frac, 0
  tokens  B*T int32, targets B*T int32 (-1 = ignored)
  params  float32, in the C tensor table order (qwen2.c): embed_tokens, input_layernorm,
          qkv_proj weight ([q_proj; k_proj; v_proj] rows) and bias, o_proj, post_attention_layernorm,
          gate_up_proj ([gate_proj; up_proj] rows), down_proj, norm, lm_head; per-layer tensors
          stacked (L, ...), Linear weights (out, in)
  logits  B*T*V float32, loss float32
  grads   float32, same layout as params
  losses  nsteps float32: the loss at each AdamW step (before its update)
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import lm_loss, train_and_write  # noqa: E402  (same optimizer steps and fixture layout)

EPS = 1e-6
THETA = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope_cos_sin(T, hs, dtype):
    # frequency i: theta^(-2i/hs) for i < hs/2, used for dimensions i and i + hs/2
    inv_freq = 1.0 / (THETA ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)   # (T, hs/2)
    ang = torch.cat([ang, ang], dim=-1)                                  # (T, hs)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rotate_half(x):
    h2 = x.shape[-1] // 2
    return torch.cat([-x[..., h2:], x[..., :h2]], dim=-1)


class Block(nn.Module):
    def __init__(self, C, NH, KVH, Fd):
        super().__init__()
        self.NH, self.KVH, self.hs = NH, KVH, C // NH
        self.input_layernorm = RMSNorm(C)
        self.q_proj = nn.Linear(C, NH * self.hs, bias=True)
        self.k_proj = nn.Linear(C, KVH * self.hs, bias=True)
        self.v_proj = nn.Linear(C, KVH * self.hs, bias=True)
        self.o_proj = nn.Linear(C, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C)
        self.gate_proj = nn.Linear(C, Fd, bias=False)
        self.up_proj = nn.Linear(C, Fd, bias=False)
        self.down_proj = nn.Linear(Fd, C, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        hs, NH, KVH = self.hs, self.NH, self.KVH
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, NH, hs).transpose(1, 2)     # (B, NH, T, hs)
        k = self.k_proj(h).view(B, T, KVH, hs).transpose(1, 2)    # (B, KVH, T, hs)
        v = self.v_proj(h).view(B, T, KVH, hs).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        G = NH // KVH
        k = k.repeat_interleave(G, dim=1)   # query head j*G+g reads kv head j
        v = v.repeat_interleave(G, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Qwen2(nn.Module):
    def __init__(self, V, L, C, NH, KVH, Fd):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, C)
        self.layers = nn.ModuleList([Block(C, NH, KVH, Fd) for _ in range(L)])
        self.norm = RMSNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.hs = C // NH

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.embed_tokens(idx)
        cos, sin = rope_cos_sin(T, self.hs, x.dtype)
        for blk in self.layers:
            x = blk(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        return logits, lm_loss(logits, targets)

    def table(self, grad=False):
        """Tensors in the C table order (per-layer stacked, q/k/v and gate/up concatenated)."""
        g = (lambda p: p.grad) if grad else (lambda p: p)
        st = lambda f: torch.stack([f(b) for b in self.layers])
        return [
            g(self.embed_tokens.weight),
            st(lambda b: g(b.input_layernorm.weight)),
            st(lambda b: torch.cat([g(b.q_proj.weight), g(b.k_proj.weight), g(b.v_proj.weight)], 0)),
            st(lambda b: torch.cat([g(b.q_proj.bias), g(b.k_proj.bias), g(b.v_proj.bias)], 0)),
            st(lambda b: g(b.o_proj.weight)),
            st(lambda b: g(b.post_attention_layernorm.weight)),
            st(lambda b: torch.cat([g(b.gate_proj.weight), g(b.up_proj.weight)], 0)),
            st(lambda b: g(b.down_proj.weight)),
            g(self.norm.weight),
            g(self.lm_head.weight),
        ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/qwen2_ref.bin"
    torch.manual_seed(4321)
    # T > 64 exercises several query blocks of the attention kernels
    V, ctx, L, C, NH, KVH, B, T = 259, 96, 2, 32, 4, 2, 2, 72
    Fd = ((8 * C + 95) // 96) * 32    # pktlm's default d_ff: 8C/3 rounded up to 32 (96 here)
    nsteps, warmup = 6, 2
    lr, b1, b2, eps, wd, clip, min_frac = 1e-2, 0.9, 0.95, 1e-8, 0.1, 1.0, 0.1
    model = Qwen2(V, L, C, NH, KVH, Fd).double()
    with torch.no_grad():   # non-trivial values everywhere, so every gradient is exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))   # large enough that RoPE rotates a real bias
            else:
                p.copy_(0.1 * torch.randn_like(p))
            p.copy_(p.float().double())   # the float32 weights the C code reads
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    tgt[0, 3:7] = -1
    tgt[1, -5:] = -1
    train_and_write(model, tok, tgt, [0x46524B50, 1, V, ctx, L, C, NH, B, T, nsteps, warmup, KVH, Fd, 0],
                    (lr, b1, b2, eps, wd, clip, min_frac), nsteps, warmup, out)


if __name__ == "__main__":
    main()
