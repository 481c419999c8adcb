#!/usr/bin/python3
"""The PyTorch peer of bench/linattn: pktlm's linear-attention model (tools/torch_ref/linattn_ref.py,
the fixture's reference) in float32 on 2 threads, with the attention computed chunked (the
quadratic (T,T) form of the fixture script does not fit at T 8192): inside a chunk of 64 the
masked product, across chunks the exclusive prefix sums of the chunk states phi(k)^T v and
phi(k) -- the plain-PyTorch form of causal linear attention, the same arithmetic as pktlm's kernel.

Prints one JSON line: training tokens/s (forward, cross-entropy, backward, clipping, AdamW; one
untimed warm-up step), recurrent generation tokens/s at batch 1 (a per-token step carrying
(S, z) per layer, under no_grad), and, with --window, tcpflowgen's own generation (the whole
window of T tokens re-run for every new token) tokens/s.

    torch_linattn.py T B STEPS G [--window W] [--threads 2] [--layers 8 --d 256 --heads 8 --dff 1024 --vocab 300]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "torch_ref"))
import linattn_ref  # noqa: E402

CHUNK = 64


def chunked_linear_attention(q, k, v):
    B, H, T, E = q.shape
    pad = (-T) % CHUNK
    if pad:
        z3 = lambda t: F.pad(t, (0, 0, 0, pad))
        q, k, v = z3(q), z3(k), z3(v)      # zero keys add nothing to the sums
    n = q.shape[2] // CHUNK
    qc, kc, vc = (t.reshape(B, H, n, CHUNK, E) for t in (q, k, v))
    a = (qc @ kc.transpose(-1, -2)) * torch.ones(CHUNK, CHUNK, dtype=q.dtype).tril()
    num, den = a @ vc, a.sum(-1)
    kv, ks = kc.transpose(-1, -2) @ vc, kc.sum(-2)           # chunk states (B,H,n,E,E), (B,H,n,E)
    S, Z = kv.cumsum(2) - kv, ks.cumsum(2) - ks               # states entering each chunk
    num = num + qc @ S
    den = den + (qc * Z.unsqueeze(-2)).sum(-1)
    out = num / (den + linattn_ref.EPS).unsqueeze(-1)
    return out.reshape(B, H, n * CHUNK, E)[:, :, :T]


linattn_ref.causal_linear_attention = chunked_linear_attention


def rope_at(x, pos, hs):
    """x (H, hs) rotated at one position, interleaved pairs"""
    freq = linattn_ref.BASE ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    ang = (pos * freq).to(x.dtype)
    c, s = ang.cos(), ang.sin()
    x0, x1 = x[:, 0::2], x[:, 1::2]
    return torch.stack([x0 * c - x1 * s, x1 * c + x0 * s], dim=-1).reshape(x.shape)


@torch.no_grad()
def recurrent_tokens(model, NH, G, start):
    C = model.norm.weight.shape[0]
    hs = C // NH
    S = [torch.zeros(NH, hs, hs) for _ in model.layers]
    z = [torch.zeros(NH, hs) for _ in model.layers]
    tok = torch.tensor([1])
    t0 = time.time()
    for p in range(start, start + G):
        x = model.embedding(tok)[0]
        for i, blk in enumerate(model.layers):
            h = blk.norm1(x)
            q = linattn_ref.phi(rope_at(blk.q(h).view(NH, hs), p, hs))
            k = linattn_ref.phi(rope_at(blk.k(h).view(NH, hs), p, hs))
            v = blk.v(h).view(NH, hs)
            S[i] += k.unsqueeze(-1) * v.unsqueeze(-2)
            z[i] += k
            y = (q.unsqueeze(-2) @ S[i]).squeeze(-2) / ((q * z[i]).sum(-1, keepdim=True) + linattn_ref.EPS)
            x = x + y.reshape(C)
            x = x + blk.linear2(F.gelu(blk.linear1(blk.norm2(x))))
        logits = model.lm_head(model.norm(x))
        tok = torch.tensor([int(logits.argmax())])
    return G / (time.time() - t0)


@torch.no_grad()
def window_tokens(model, T, V, G):
    win = torch.randint(0, V, (1, T))
    t0 = time.time()
    for _ in range(G):
        logits, _ = model(win)
        win = torch.cat([win[:, 1:], logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return G / (time.time() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("T", type=int)
    ap.add_argument("B", type=int)
    ap.add_argument("steps", type=int)
    ap.add_argument("G", type=int)
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--dff", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=300)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = linattn_ref.LinAttn(a.vocab, a.layers, a.d, a.heads, a.dff)
    res = {"arch": "torch-linattn", "T": a.T, "B": a.B, "threads": a.threads, "torch": torch.__version__}
    train = -1.0
    if a.steps > 0:
        tok = torch.randint(0, a.vocab, (a.B, a.T + 1))
        x, y = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
        model.train()
        for s in range(a.steps + 1):
            if s == 1:
                t0 = time.time()
            opt.zero_grad()
            _, loss = model(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        train = a.B * a.T * a.steps / (time.time() - t0)
    model.eval()
    res["train_tok_s"] = round(train, 1)
    res["gen_tok_s"] = round(recurrent_tokens(model, a.heads, a.G, a.T - a.G), 1) if a.G > 0 else -1
    if a.window > 0:
        res["window_gen_tok_s"] = round(window_tokens(model, a.T, a.vocab, a.window), 2)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
