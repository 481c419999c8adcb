#!/usr/bin/python3
"""PyTorch peer of the Mamba-2 benchmark: the plain-PyTorch Mamba-2 of tools/torch_ref/mamba2_ref.py
(float32; chunked SSD scan, the same chunk as pktlm) with the same config, batch, context and AdamW
(decay on matrices only, clipping 1.0). The official mamba_ssm cannot run without a GPU, so this is
the reference a CPU user has. Prints one JSON line.

  train: tokens/s of forward + backward + AdamW over the timed steps, peak RSS
  gen:   tokens/s of the recurrent step (conv state + SSM state per sequence) for --batch sequences
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
from gpt2_ref import adamw_groups  # noqa: E402
from mamba2_ref import Mamba2, init_like_pktlm, rmsnorm, EPS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["train", "gen"])
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--d-model", type=int, default=256)
ap.add_argument("--d-state", type=int, default=128)
ap.add_argument("--head-dim", type=int, default=64)
ap.add_argument("--expand", type=int, default=2)
ap.add_argument("--d-conv", type=int, default=4)
ap.add_argument("--groups", type=int, default=1)
ap.add_argument("--chunk", type=int, default=256)
ap.add_argument("--vocab", type=int, default=272)
ap.add_argument("--ctx", type=int, default=2048)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warm", type=int, default=1)
ap.add_argument("--tokens", type=int, default=200, help="gen: tokens per sequence")
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = Mamba2(a.vocab, a.layers, a.d_model, a.d_state, a.head_dim, a.expand, a.d_conv, a.groups)
init_like_pktlm(model)
model.set_ssd(a.chunk)


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


if a.mode == "train":
    opt = torch.optim.AdamW(adamw_groups(model, 0.1), lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    x = torch.randint(0, a.vocab, (a.batch, a.ctx))
    y = torch.randint(0, a.vocab, (a.batch, a.ctx))
    times = []
    for step in range(a.warm + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warm:
            times.append(time.perf_counter() - t0)
    tok = a.batch * a.ctx
    print(json.dumps({"mode": "train", "ctx": a.ctx, "batch": a.batch, "tok_per_s": tok * len(times) / sum(times),
                      "peak_rss_mib": peak_mib(), "loss": loss.item(), "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))
else:
    # the recurrent step of every layer (mamba_ssm's Mamba2.step, written from its equations)
    Bn = a.batch
    layers = model.layers
    conv_state = [torch.zeros(Bn, blk.mixer.conv_dim, a.d_conv) for blk in layers]
    ssm_state = [torch.zeros(Bn, blk.mixer.H, blk.mixer.P, blk.mixer.N) for blk in layers]

    @torch.no_grad()
    def step(tok):
        x = model.embedding(tok)                                     # (Bn, C)
        for i, blk in enumerate(layers):
            m = blk.mixer
            u = rmsnorm(x, blk.norm_weight)
            z, xBC, dt = torch.split(m.in_proj(u), [m.Di, m.conv_dim, m.H], dim=-1)
            cs = conv_state[i]
            cs.copy_(torch.roll(cs, shifts=-1, dims=-1))
            cs[:, :, -1] = xBC
            xBC = F.silu((cs * m.conv1d.weight.squeeze(1)).sum(-1) + m.conv1d.bias)
            xs, Bm, Cm = torch.split(xBC, [m.Di, m.G * m.N, m.G * m.N], dim=-1)
            dt = F.softplus(dt + m.dt_bias)                          # (Bn, H)
            A = -torch.exp(m.A_log)
            xs = xs.view(Bn, m.H, m.P)
            Bh = Bm.view(Bn, m.G, m.N).repeat_interleave(m.H // m.G, dim=1)
            Ch = Cm.view(Bn, m.G, m.N).repeat_interleave(m.H // m.G, dim=1)
            st = ssm_state[i]
            st.mul_(torch.exp(dt * A)[:, :, None, None]).add_((dt[:, :, None] * xs).unsqueeze(-1) * Bh.unsqueeze(2))
            y = torch.einsum("bhpn,bhn->bhp", st, Ch) + m.D[:, None] * xs
            y = y.reshape(Bn, m.Di)
            g = (y * F.silu(z)).view(Bn, m.G, m.Di // m.G)
            g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + EPS)
            x = x + m.out_proj(g.reshape(Bn, m.Di) * m.norm_weight)
        return rmsnorm(x, model.norm_f) @ model.embedding.weight.t()

    tok = torch.randint(0, a.vocab, (Bn,))
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        step(tok)
    t0 = time.perf_counter()
    for _ in range(a.tokens):
        logits = step(tok)
        tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(1)
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": "gen", "batch": Bn, "tok_per_s": Bn * a.tokens / dt, "peak_rss_mib": peak_mib(),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))
