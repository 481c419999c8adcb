#!/usr/bin/python3
"""PyTorch reference for pktlm's Mamba-2 backbone (src/models/mamba2.c), written from the
equations of the Mamba-2 paper / mamba_ssm's Mamba2 layer as NetSSM configures it (see
docs/model.md), in plain torch (the official package needs a GPU), float64:

  x = embedding[tok]
  per layer:  x = x + mixer(rmsnorm(x))                      (RMSNorm eps 1e-5, weight only)
  mixer(u):   z | xBC | dt = in_proj(u)                        (no bias)
              xBC = silu(causal depthwise conv1d(xBC) + bias)  (width W, on x, B and C)
              x | B | C = xBC;  dt = softplus(dt + dt_bias);  A = -exp(A_log)
              y = SSD(x, dt, A, B, C) + D x                    (head h reads group h / (H/G))
              y = rmsnorm_g(y * silu(z)) * norm.weight         (per group of d_inner/G, eps 1e-5)
              out_proj(y)
  hidden = rmsnorm(x) (norm_f); logits = hidden @ embedding^T (tied)

The SSD here is the quadratic ("attention-like") form: y_l = sum_{s<=l} (C_l.B_s)
exp(sum_{k=s+1..l} a_k) dt_s x_s with a = dt A, built by a masked cumulative sum; the C code
computes it by chunks, so the fixture checks the chunking too. ssd_chunked() below is the
chunked form (the bench's PyTorch peer); main() asserts that the quadratic form, the chunked
form and the plain recurrence agree before writing anything.

    /usr/bin/python3 tools/torch_ref/mamba2_ref.py [OUT]

Fixture: the layout of gpt2_ref.py (train_and_write), header fields
  [0] magic, [1] 1, [2] V, [3] ctx, [4] L, [5] C, [6] 0, [7] B, [8] T, [9] nsteps, [10] warmup,
  [11] d_state, [12] head_dim, [13] expand, [14] d_conv, [15] groups; chunk is not stored
  (the output does not depend on it); float32 hyper-parameters at int 16..23.
Tensor order (mamba2.c): embedding, layers.norm.weight, layers.mixer.in_proj.weight,
layers.mixer.conv1d.weight (L, conv_dim, W), layers.mixer.conv1d.bias, layers.mixer.dt_bias,
layers.mixer.A_log, layers.mixer.D, layers.mixer.norm.weight, layers.mixer.out_proj.weight,
norm_f.weight; per-layer tensors stacked (L, ...).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import lm_loss, train_and_write  # noqa: E402

EPS = 1e-5


def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def segsum(a):
    """a (..., T) -> (..., T, T): [l, s] = a_{s+1} + ... + a_l for s <= l, -inf above."""
    T = a.shape[-1]
    rep = a.unsqueeze(-1).expand(*a.shape, T)                   # [..., k, s] = a_k
    below = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), -1)
    rep = rep.masked_fill(~below, 0).cumsum(-2)                  # sum of a_k for s < k <= l
    return rep.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device)), float("-inf"))


def expand_groups(Bm, H):
    """(b, T, G, N) -> (b, T, H, N): head h reads group h // (H/G)."""
    return Bm.repeat_interleave(H // Bm.shape[2], dim=2)


def ssd_quadratic(x, dt, A, Bm, Cm):
    """x (b,T,H,P), dt (b,T,H), A (H), Bm/Cm (b,T,G,N) -> y (b,T,H,P) (no D)."""
    H = x.shape[2]
    Bh, Ch = expand_groups(Bm, H), expand_groups(Cm, H)
    a = (dt * A).permute(0, 2, 1)                                 # (b, H, T)
    L = torch.exp(segsum(a))                                      # (b, H, T, T)
    cb = torch.einsum("blhn,bshn->bhls", Ch, Bh)
    xd = x * dt.unsqueeze(-1)
    return torch.einsum("bhls,bshp->blhp", cb * L, xd)


def ssd_chunked(x, dt, A, Bm, Cm, Q, h0=None):
    """The same by chunks of Q (the tail padded with x = 0, a = 0, which changes nothing);
    returns (y, final state (b,H,P,N))."""
    b, T, H, P = x.shape
    N = Bm.shape[-1]
    pad = (-T) % Q
    Bh, Ch = expand_groups(Bm, H), expand_groups(Cm, H)
    xd = x * dt.unsqueeze(-1)
    a = dt * A
    if pad:
        xd = F.pad(xd, (0, 0, 0, 0, 0, pad))
        a = F.pad(a, (0, 0, 0, pad))
        Bh = F.pad(Bh, (0, 0, 0, 0, 0, pad))
        Ch = F.pad(Ch, (0, 0, 0, 0, 0, pad))
    nc = (T + pad) // Q
    xd = xd.reshape(b, nc, Q, H, P)
    Bh = Bh.reshape(b, nc, Q, H, N)
    Ch = Ch.reshape(b, nc, Q, H, N)
    a = a.reshape(b, nc, Q, H).permute(0, 3, 1, 2)                # (b, H, nc, Q)
    acs = a.cumsum(-1)
    Lm = torch.exp(segsum(a))                                     # (b, H, nc, Q, Q)
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", Ch, Bh, Lm, xd)
    decay_states = torch.exp(acs[..., -1:] - acs)                 # (b, H, nc, Q)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bh, decay_states, xd)
    if h0 is None:
        h0 = torch.zeros(b, H, P, N, dtype=x.dtype, device=x.device)
    chunk_decay = torch.exp(acs[..., -1])                         # (b, H, nc)
    run = [h0]
    for c in range(nc):
        run.append(chunk_decay[:, :, c, None, None] * run[-1] + states[:, c])
    entering = torch.stack(run[:-1], dim=1)                       # (b, nc, H, P, N)
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Ch, entering, torch.exp(acs))
    y = (y_diag + y_off).reshape(b, nc * Q, H, P)[:, :T]
    return y, run[-1]


def ssd_recurrent(x, dt, A, Bm, Cm):
    b, T, H, P = x.shape
    Bh, Ch = expand_groups(Bm, H), expand_groups(Cm, H)
    h = torch.zeros(b, H, P, Bm.shape[-1], dtype=x.dtype)
    ys = []
    for t in range(T):
        h = torch.exp(dt[:, t] * A)[:, :, None, None] * h + \
            (dt[:, t, :, None] * x[:, t]).unsqueeze(-1) * Bh[:, t].unsqueeze(-2)
        ys.append(torch.einsum("bhpn,bhn->bhp", h, Ch[:, t]))
    return torch.stack(ys, 1)


class Mixer(nn.Module):
    def __init__(self, C, d_state, head_dim, expand, d_conv, groups):
        super().__init__()
        self.Di = expand * C
        self.H, self.P, self.N, self.G, self.W = self.Di // head_dim, head_dim, d_state, groups, d_conv
        self.conv_dim = self.Di + 2 * groups * d_state
        self.in_proj = nn.Linear(C, 2 * self.Di + 2 * groups * d_state + self.H, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1)
        self.dt_bias = nn.Parameter(torch.zeros(self.H))
        self.A_log = nn.Parameter(torch.zeros(self.H))
        self.D = nn.Parameter(torch.ones(self.H))
        self.norm_weight = nn.Parameter(torch.ones(self.Di))
        self.out_proj = nn.Linear(self.Di, C, bias=False)
        self.ssd = None   # None: quadratic form; an int: chunked with that chunk length

    def forward(self, u):
        b, T, _ = u.shape
        Di, H, P, N, G = self.Di, self.H, self.P, self.N, self.G
        z, xBC, dt = torch.split(self.in_proj(u), [Di, self.conv_dim, H], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :T].transpose(1, 2))
        x, Bm, Cm = torch.split(xBC, [Di, G * N, G * N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log)
        x = x.reshape(b, T, H, P)
        Bm, Cm = Bm.reshape(b, T, G, N), Cm.reshape(b, T, G, N)
        if self.ssd is None:
            y = ssd_quadratic(x, dt, A, Bm, Cm)
        else:
            y, _ = ssd_chunked(x, dt, A, Bm, Cm, self.ssd)
        y = (y + self.D[:, None] * x).reshape(b, T, Di)
        g = (y * F.silu(z)).reshape(b, T, G, Di // G)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + EPS)
        return self.out_proj(g.reshape(b, T, Di) * self.norm_weight)


class Block(nn.Module):
    def __init__(self, C, *cfg):
        super().__init__()
        self.norm_weight = nn.Parameter(torch.ones(C))
        self.mixer = Mixer(C, *cfg)

    def forward(self, x):
        return x + self.mixer(rmsnorm(x, self.norm_weight))


class Mamba2(nn.Module):
    def __init__(self, V, L, C, d_state, head_dim, expand, d_conv, groups):
        super().__init__()
        self.embedding = nn.Embedding(V, C)
        self.layers = nn.ModuleList([Block(C, d_state, head_dim, expand, d_conv, groups) for _ in range(L)])
        self.norm_f = nn.Parameter(torch.ones(C))

    def set_ssd(self, chunk):
        for blk in self.layers:
            blk.mixer.ssd = chunk

    def forward(self, idx, targets=None):
        x = self.embedding(idx)
        for blk in self.layers:
            x = blk(x)
        logits = rmsnorm(x, self.norm_f) @ self.embedding.weight.t()
        return logits, lm_loss(logits, targets)

    def table(self, grad=False):
        g = (lambda p: p.grad) if grad else (lambda p: p)
        st = lambda f, post=(lambda t: t): torch.stack([post(g(f(b))) for b in self.layers])
        return [
            g(self.embedding.weight),
            st(lambda b: b.norm_weight),
            st(lambda b: b.mixer.in_proj.weight),
            st(lambda b: b.mixer.conv1d.weight, lambda t: t.squeeze(1)),
            st(lambda b: b.mixer.conv1d.bias),
            st(lambda b: b.mixer.dt_bias),
            st(lambda b: b.mixer.A_log),
            st(lambda b: b.mixer.D),
            st(lambda b: b.mixer.norm_weight),
            st(lambda b: b.mixer.out_proj.weight),
            g(self.norm_f),
        ]


def init_like_pktlm(model, gen=None):
    """Mamba-2's initialisation (dt log-uniform in [1e-3, 0.1] stored as its inverse softplus,
    A uniform in [1, 16] stored as log, D = 1, norms 1, conv and in_proj PyTorch defaults,
    out_proj divided by sqrt(layers)). Used by the bench peer; the fixture perturbs it."""
    L = len(model.layers)
    with torch.no_grad():
        nn.init.normal_(model.embedding.weight, std=0.02)
        for blk in model.layers:
            m = blk.mixer
            dt = torch.exp(torch.rand(m.H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
            m.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            m.A_log.copy_(torch.log(torch.empty(m.H).uniform_(1, 16)))
            m.out_proj.weight.div_(math.sqrt(L))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/mamba2_ref.bin"
    torch.manual_seed(2468)
    # two groups of two heads, T = 40 = two chunks of 16 and a partial one in the C test
    V, ctx, L, C, B, T = 64, 64, 2, 32, 2, 40
    d_state, head_dim, expand, d_conv, groups = 8, 16, 2, 4, 2
    nsteps, warmup = 6, 2
    lr, b1, b2, eps, wd, clip, min_frac = 1e-2, 0.9, 0.95, 1e-8, 0.1, 1.0, 0.1
    model = Mamba2(V, L, C, d_state, head_dim, expand, d_conv, groups).double()
    init_like_pktlm(model)
    with torch.no_grad():   # non-trivial values everywhere, so every gradient is exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("conv1d.bias"):
                p.copy_(0.2 * torch.randn_like(p))
            elif name.endswith(".D"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith("A_log") or name.endswith("dt_bias"):
                p.add_(0.1 * torch.randn_like(p))
            elif p.dim() >= 2 and "embedding" not in name:
                p.copy_(0.15 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
            p.copy_(p.float().double())   # the float32 weights the C code reads
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    tgt[0, 3:7] = -1
    tgt[1, -5:] = -1

    # the three forms of the scan agree (random inputs of the model's shapes)
    H = expand * C // head_dim
    xs = torch.randn(B, T, H, head_dim, dtype=torch.float64)
    dts = F.softplus(torch.randn(B, T, H, dtype=torch.float64))
    As = -torch.rand(H, dtype=torch.float64) * 4
    Bs, Cs = torch.randn(B, T, groups, d_state, dtype=torch.float64), torch.randn(B, T, groups, d_state,
                                                                                 dtype=torch.float64)
    yq = ssd_quadratic(xs, dts, As, Bs, Cs)
    yr = ssd_recurrent(xs, dts, As, Bs, Cs)
    for Q in (7, 16, T):
        yc, _ = ssd_chunked(xs, dts, As, Bs, Cs, Q)
        assert (yc - yq).abs().max() < 1e-10, Q
    assert (yr - yq).abs().max() < 1e-10
    logits_q, _ = model(tok)
    model.set_ssd(16)
    logits_c, _ = model(tok)
    model.set_ssd(None)
    assert (logits_q - logits_c).abs().max() < 1e-10

    train_and_write(model, tok, tgt,
                    [0x46524B50, 1, V, ctx, L, C, 0, B, T, nsteps, warmup, d_state, head_dim, expand, d_conv, groups],
                    (lr, b1, b2, eps, wd, clip, min_frac), nsteps, warmup, out)


if __name__ == "__main__":
    main()
