#!/usr/bin/python3
"""PyTorch reference for pktlm's GPT-2 (pre-LN, tied head, tanh GELU), written independently
of the C code, in float64. Writes tests/fixtures/gpt2_ref.bin once; the fixture is committed
and tests/test_gpt2.c compares against it (CI needs no torch).

    /usr/bin/python3 tools/torch_ref/gpt2_ref.py [OUT]

Also importable: GPT2 and adamw_groups are reused by bench/train/torch_peer.py.

Fixture (little-endian):
  header 256 x int32: [0] magic 0x46524b50 "PKRF", [1] version 1, [2] V, [3] ctx, [4] L, [5] C,
         [6] NH, [7] B, [8] T, [9] nsteps, [10] warmup; rest 0
  float32 x 8 at int index 16..23: lr, beta1, beta2, eps, weight_decay, clip, min_frac, 0
  tokens  B*T int32, targets B*T int32 (-1 = ignored)
  params  float32, in the C tensor table order (gpt2.c), Linear weights (out, in)
  logits  B*T*V float32, loss float32
  grads   float32, same layout as params
  losses  nsteps float32: the loss at each AdamW step (before its update)
"""
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.NH, hs).transpose(1, 2)
        k = k.view(B, T, self.NH, hs).transpose(1, 2)
        v = v.view(B, T, self.NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT2(nn.Module):
    def __init__(self, V, ctx, L, C, NH):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(ctx, C)
        self.h = nn.ModuleList([Block(C, NH) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return logits, lm_loss(logits, targets)

    def table(self, grad=False):
        """Tensors in the C table order; per-layer tensors stacked (L, ...). grad=True: their
        gradients, in the same layout."""
        g = (lambda p: p.grad) if grad else (lambda p: p)
        st = lambda f: torch.stack([g(f(b)) for b in self.h])
        return [
            g(self.wte.weight), g(self.wpe.weight),
            st(lambda b: b.ln_1.weight), st(lambda b: b.ln_1.bias),
            st(lambda b: b.c_attn.weight), st(lambda b: b.c_attn.bias),
            st(lambda b: b.c_proj.weight), st(lambda b: b.c_proj.bias),
            st(lambda b: b.ln_2.weight), st(lambda b: b.ln_2.bias),
            st(lambda b: b.c_fc.weight), st(lambda b: b.c_fc.bias),
            st(lambda b: b.mlp_proj.weight), st(lambda b: b.mlp_proj.bias),
            g(self.ln_f.weight), g(self.ln_f.bias),
        ]


def lm_loss(logits, targets):
    """The mean cross-entropy of the counted targets (-1: ignored); None without targets."""
    if targets is None:
        return None
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def adamw_groups(model, wd):
    """Weight decay on matrices (dim >= 2), none on norms and biases, as pktlm does."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}]


def lr_at(step, lr, warmup, total, min_frac):
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    if total <= warmup:
        return lr
    prog = min(1.0, (step - warmup) / (total - warmup))
    return lr * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * prog)))


def train_and_write(model, tok, tgt, hdr_head, hp, nsteps, warmup, out):
    """The fixture every backbone's test reads (tests/test_gpt2.c, tests/test_qwen2.c): a
    256-int32 header starting with hdr_head, the hyper-parameters as float32 at int 16, then
    tokens, targets, the initial parameters (model.table() order), logits, loss, every
    gradient, and the losses of nsteps AdamW steps with warm-up, cosine decay and clipping."""
    lr, b1, b2, eps, wd, clip, min_frac = hp
    params0 = [t.detach().clone() for t in model.table()]

    logits, loss = model(tok, tgt)
    loss.backward()
    grads = [g.detach().clone() for g in model.table(grad=True)]

    opt = torch.optim.AdamW(adamw_groups(model, wd), lr=lr, betas=(b1, b2), eps=eps)
    losses = []
    for step in range(nsteps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr, warmup, nsteps, min_frac)
        opt.zero_grad()
        _, l = model(tok, tgt)
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(l.item())

    hdr = [0] * 256
    hdr[0:len(hdr_head)] = hdr_head
    buf = bytearray(struct.pack("<256i", *hdr))
    struct.pack_into("<7f", buf, 16 * 4, lr, b1, b2, eps, wd, clip, min_frac)
    f32 = lambda ts: b"".join(t.detach().float().contiguous().numpy().astype("<f4").tobytes() for t in ts)
    with open(out, "wb") as f:
        f.write(buf)
        f.write(tok.int().numpy().astype("<i4").tobytes())
        f.write(tgt.int().numpy().astype("<i4").tobytes())
        f.write(f32(params0))
        f.write(f32([logits]))
        f.write(struct.pack("<f", loss.item()))
        f.write(f32(grads))
        f.write(struct.pack("<%df" % nsteps, *losses))
    print("wrote", out, "loss", loss.item(), "losses", losses)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gpt2_ref.bin"
    torch.manual_seed(1234)
    V, ctx, L, C, NH, B, T = 61, 96, 2, 32, 4, 2, 80   # T > 64 exercises the attention blocks
    nsteps, warmup = 6, 2
    lr, b1, b2, eps, wd, clip, min_frac = 1e-2, 0.9, 0.95, 1e-8, 0.1, 1.0, 0.1
    model = GPT2(V, ctx, L, C, NH).double()
    with torch.no_grad():   # non-trivial values everywhere, so every gradient is exercised
        for name, p in model.named_parameters():
            if "ln" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    tgt[0, 5:9] = -1
    tgt[1, -7:] = -1
    train_and_write(model, tok, tgt, [0x46524B50, 1, V, ctx, L, C, NH, B, T, nsteps, warmup],
                    (lr, b1, b2, eps, wd, clip, min_frac), nsteps, warmup, out)


if __name__ == "__main__":
    main()
