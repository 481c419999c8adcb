#!/usr/bin/python3
"""Tiny random models in the exact Hugging Face hub layout, and their logits, for pktlm import /
export (tests/test_hf.c). No hub access and no transformers library here: the forward passes
below are written from the math of transformers' GPT2LMHeadModel and Qwen2ForCausalLM (Conv1D
weights (in, out) for GPT-2; q/k/v/o, gate/up/down Linear (out, in), RMSNorm, rotate_half RoPE,
grouped-query attention for Qwen2), in float64 from the stored weights; safetensors files are
written by a few lines of struct/json (the format: 8-byte little-endian header length, JSON,
raw little-endian tensors).

    /usr/bin/python3 tools/torch_ref/hf_ref.py            # writes the fixtures below
    /usr/bin/python3 tools/torch_ref/hf_ref.py --check DIR TOKENS.bin LOGITS.bin
        reloads a folder pktlm exported (config.json + *.safetensors), runs the reference on
        the tokens and compares with pktlm's logits (prints the largest relative difference)

Fixtures (tests/fixtures/hf_*/): config.json, the safetensors file(s) as the hub has them, and
ref.bin = int32 B, T, V, then B*T int32 tokens, then B*T*V float32 logits.
  hf_gpt2         GPT-2, bare names as openai-community/gpt2 (wte.weight, h.N.attn.c_attn...),
                  with the h.N.attn.bias mask buffers, float32, one file, n_inner null
  hf_qwen2        Qwen2, untied lm_head, GQA 4:2, rope_theta 1e6, rms_norm_eps 1e-5, bfloat16,
                  two shards + model.safetensors.index.json (as save_pretrained shards)
  hf_qwen2_tied   Qwen2.5-like: tied embedding, rope_theta 1e6, rms_norm_eps 1e-6, float32
  hf_mamba2       NetSSM-like (mamba_ssm MambaLMHeadModel, Mamba2 layers): no model_type, ssm_cfg,
                  vocab 50 padded to 64, 2 groups x 2 heads, chunk 16 (T 40: a partial chunk),
                  bfloat16, tied lm_head.weight repeated
  hf_tcpflowgen   tcpflowgen's TCPHeaderTransformer state dict (layers.N.q_proj ..., output.0/1)
                  with the config.json tools/torch_to_safetensors.py writes for its checkpoint
  hf_mamba2_transformers  transformers' own Mamba2ForCausalLM layout (model_type "mamba2",
                  backbone.embeddings, no saved lm_head), one group, float32

    /usr/bin/python3 tools/torch_ref/hf_ref.py hf_mamba2_transformers   # only the fixtures named
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DT = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64"}


def st_write(path, tensors, meta=None):
    """tensors: list of (name, tensor) written in that order."""
    hdr, blobs, at = {}, [], 0
    if meta:
        hdr["__metadata__"] = meta
    for name, t in tensors:
        t = t.contiguous()
        if t.dtype == torch.bfloat16:   # numpy has no bfloat16: the raw 16-bit patterns
            b = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            b = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        hdr[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b0, b1 = e["data_offsets"]
        raw = bytearray(buf[b0:b1])
        if e["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype={"F32": torch.float32, "F16": torch.float16, "F64": torch.float64}[e["dtype"]])
        out[name] = t.reshape(e["shape"]).double()
    return out


def read_folder(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    w = {}
    for fn in files:
        w.update(st_read(os.path.join(d, fn)))
    return w


def gpt2_forward(w, cfg, tok):
    """GPT2LMHeadModel: pre-LN blocks, Conv1D x @ W + b, tanh GELU, tied head."""
    g = lambda n: w[n] if n in w else w["transformer." + n]
    C, NH = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    B, T = tok.shape
    hs = C // NH
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), g(p + ".weight"), g(p + ".bias"), eps)
    x = g("wte.weight")[tok] + g("wpe.weight")[torch.arange(T)]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        p = "h.%d." % l
        qkv = ln(x, p + "ln_1") @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")
        q, k, v = [t.view(B, T, NH, hs).transpose(1, 2) for t in qkv.split(C, dim=2)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias")
        h = ln(x, p + "ln_2") @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias")
        h = torch.nn.functional.gelu(h, approximate="tanh")
        x = x + h @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias")
    return ln(x, "ln_f") @ g("wte.weight").t()


def qwen2_forward(w, cfg, tok):
    """Qwen2ForCausalLM: RMSNorm (weight only), rotate_half RoPE, GQA (repeat_kv), q/k/v bias,
    SwiGLU MLP, final norm, lm_head (or the tied embedding)."""
    g = lambda n: w[n] if n in w else w[n[len("model."):]]
    C, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads", NH)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    B, T = tok.shape
    hs = C // NH
    rms = lambda x, n: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g(n)
    inv = 1.0 / (theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    ang = torch.cat([ang, ang], -1)
    cos, sin = ang.cos(), ang.sin()
    rot = lambda x: torch.cat([-x[..., hs // 2:], x[..., :hs // 2]], -1)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    lin = lambda x, n, bias=False: x @ g(n + ".weight").t() + (g(n + ".bias") if bias else 0)
    x = g("model.embed_tokens.weight")[tok]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms(x, p + "input_layernorm.weight")
        q = lin(h, p + "self_attn.q_proj", True).view(B, T, NH, hs).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj", True).view(B, T, KVH, hs).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj", True).view(B, T, KVH, hs).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(NH // KVH, dim=1), v.repeat_interleave(NH // KVH, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        y = (att.masked_fill(~mask, float("-inf")).softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, p + "self_attn.o_proj")
        h = rms(x, p + "post_attention_layernorm.weight")
        x = x + lin(torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, "model.norm.weight")
    head = w["lm_head.weight"] if not cfg.get("tie_word_embeddings", False) else g("model.embed_tokens.weight")
    return x @ head.t()


def mamba2_forward(w, cfg, tok, norm_groups=None):
    """mamba_ssm's MambaLMHeadModel with Mamba2 mixers (NetSSM), from the equations (the package
    needs a GPU): pre-norm residual blocks x += mixer(rmsnorm(x)); mixer: z | xBC | dt = in_proj(u),
    xBC = silu(causal depthwise conv(xBC) + bias), x | B | C = xBC, dt = softplus(dt + dt_bias),
    A = -exp(A_log), y = SSD + D x (head h reads group h / (H/G)), y = grouped rmsnorm(y silu(z))
    norm.weight, out_proj; final rmsnorm (norm_f); logits = hidden @ embedding^T (tied). The SSD
    is the quadratic form of tools/torch_ref/mamba2_ref.py (no chunks: the C code's chunking is
    then checked too). eps 1e-5 everywhere. norm_groups: the gated RMSNorm's groups (None: G, as
    mamba_ssm; 1: over the whole inner width, as transformers' MambaRMSNormGated)."""
    from mamba2_ref import ssd_quadratic
    eps = 1e-5
    s = cfg["ssm_cfg"]
    C, L = cfg["d_model"], cfg["n_layer"]
    N, W, E, P, G = s.get("d_state", 128), s.get("d_conv", 4), s.get("expand", 2), s.get("headdim", 64), s.get("ngroups", 1)
    Di = E * C
    H = Di // P
    B_, T = tok.shape
    rms = lambda x, wt: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * wt
    emb = w["backbone.embedding.weight"]
    x = emb[tok]
    for l in range(L):
        p = "backbone.layers.%d." % l
        u = rms(x, w[p + "norm.weight"])
        z, xBC, dt = torch.split(u @ w[p + "mixer.in_proj.weight"].t(), [Di, Di + 2 * G * N, H], dim=-1)
        cw, cb = w[p + "mixer.conv1d.weight"], w[p + "mixer.conv1d.bias"]          # (Cd, 1, W), (Cd)
        xBC = torch.nn.functional.conv1d(xBC.transpose(1, 2), cw, cb, padding=W - 1, groups=cw.shape[0])[..., :T]
        xBC = torch.nn.functional.silu(xBC.transpose(1, 2))
        xs, Bm, Cm = torch.split(xBC, [Di, G * N, G * N], dim=-1)
        dt = torch.nn.functional.softplus(dt + w[p + "mixer.dt_bias"])
        A = -torch.exp(w[p + "mixer.A_log"])
        xs = xs.reshape(B_, T, H, P)
        y = ssd_quadratic(xs, dt, A, Bm.reshape(B_, T, G, N), Cm.reshape(B_, T, G, N))
        y = (y + w[p + "mixer.D"][:, None] * xs).reshape(B_, T, Di)
        NG = G if norm_groups is None else norm_groups
        g = (y * torch.nn.functional.silu(z)).reshape(B_, T, NG, Di // NG)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + eps)
        x = x + (g.reshape(B_, T, Di) * w[p + "mixer.norm.weight"]) @ w[p + "mixer.out_proj.weight"].t()
    return rms(x, w["backbone.norm_f.weight"]) @ emb.t()


def hf_mamba2_forward(w, cfg, tok):
    """transformers' Mamba2ForCausalLM (models/mamba2/modeling_mamba2.py, its torch path): the
    mixer above with the config's names (hidden_size, state_size, head_dim, n_groups, conv_kernel,
    chunk_size), dt clamped to time_step_limit (default (0, inf): no clamp), the gated RMSNorm
    over the whole inner width (MambaRMSNormGated), backbone.embeddings, lm_head tied when the
    file leaves it out."""
    lim = cfg.get("time_step_limit", [0.0, float("inf")])
    assert lim[0] == 0.0 and lim[1] == float("inf"), "a dt clamp: not written here"
    m = {"d_model": cfg["hidden_size"], "n_layer": cfg["num_hidden_layers"],
         "ssm_cfg": {"d_state": cfg.get("state_size", 128), "d_conv": cfg.get("conv_kernel", 4), "expand": cfg.get("expand", 2),
                     "headdim": cfg.get("head_dim", 64), "ngroups": cfg.get("n_groups", 8)}}
    w = dict(w)
    w["backbone.embedding.weight"] = w["backbone.embeddings.weight"]
    assert torch.equal(w.get("lm_head.weight", w["backbone.embedding.weight"]), w["backbone.embedding.weight"])
    return mamba2_forward(w, m, tok, norm_groups=1)


def tcpflowgen_forward(w, cfg, tok):
    """tcpflowgen's TCPHeaderTransformer (JonLens/tcpflowgen model.py) from its state dict: the
    math of tools/torch_ref/linattn_ref.py (pre-LN, q/k/v with bias, interleaved RoPE before
    elu+1, causal linear attention with eps 1e-6, no output projection, exact GELU MLP), then
    output = Sequential(LayerNorm, Linear with bias)."""
    from linattn_ref import rope_interleaved, causal_linear_attention, phi
    C, NH, L = cfg["d_model"], cfg["nhead"], cfg["num_layers"]
    B, T = tok.shape
    hs = C // NH
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), w[p + ".weight"], w[p + ".bias"], 1e-5)
    lin = lambda x, p: x @ w[p + ".weight"].t() + w[p + ".bias"]
    x = w["embedding.weight"][tok]
    heads = lambda t: t.view(B, T, NH, hs).transpose(1, 2)
    for l in range(L):
        p = "layers.%d." % l
        h = ln(x, p + "norm1")
        q, k, v = heads(lin(h, p + "q_proj")), heads(lin(h, p + "k_proj")), heads(lin(h, p + "v_proj"))
        y = causal_linear_attention(phi(rope_interleaved(q)), phi(rope_interleaved(k)), v)
        x = x + y.transpose(1, 2).reshape(B, T, C)
        x = x + lin(torch.nn.functional.gelu(lin(ln(x, p + "norm2"), p + "linear1")), p + "linear2")
    return lin(ln(x, "output.0"), "output.1")


def forward(w, cfg, tok):
    if cfg.get("model_type") == "tcpflowgen":
        return tcpflowgen_forward(w, cfg, tok)
    if "ssm_cfg" in cfg:
        return mamba2_forward(w, cfg, tok)
    if cfg.get("model_type") == "mamba2":
        return hf_mamba2_forward(w, cfg, tok)
    return gpt2_forward(w, cfg, tok) if cfg["model_type"] == "gpt2" else qwen2_forward(w, cfg, tok)


def write_ref(d, tok, logits):
    B, T = tok.shape
    V = logits.shape[-1]
    with open(os.path.join(d, "ref.bin"), "wb") as f:
        f.write(struct.pack("<3i", B, T, V))
        f.write(tok.int().numpy().astype("<i4").tobytes())
        f.write(logits.float().numpy().astype("<f4").tobytes())


def rnd(*shape, s=0.2):
    return (s * torch.randn(*shape)).float()


def make_gpt2(d):
    V, ctx, L, C, NH = 50, 24, 2, 32, 4
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
           "bos_token_id": 49, "embd_pdrop": 0.1, "eos_token_id": 49, "initializer_range": 0.02,
           "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": ctx, "n_embd": C, "n_head": NH, "n_inner": None,
           "n_layer": L, "n_positions": ctx, "resid_pdrop": 0.1, "scale_attn_weights": True, "vocab_size": V}
    t = [("wte.weight", rnd(V, C)), ("wpe.weight", rnd(ctx, C, s=0.05))]
    for l in range(L):
        p = "h.%d." % l
        t += [(p + "ln_1.weight", 1 + rnd(C, s=0.1)), (p + "ln_1.bias", rnd(C, s=0.1)),
              (p + "attn.bias", torch.ones(ctx, ctx).tril().view(1, 1, ctx, ctx)),
              (p + "attn.c_attn.weight", rnd(C, 3 * C)), (p + "attn.c_attn.bias", rnd(3 * C, s=0.1)),
              (p + "attn.c_proj.weight", rnd(C, C)), (p + "attn.c_proj.bias", rnd(C, s=0.1)),
              (p + "ln_2.weight", 1 + rnd(C, s=0.1)), (p + "ln_2.bias", rnd(C, s=0.1)),
              (p + "mlp.c_fc.weight", rnd(C, 4 * C)), (p + "mlp.c_fc.bias", rnd(4 * C, s=0.1)),
              (p + "mlp.c_proj.weight", rnd(4 * C, C)), (p + "mlp.c_proj.bias", rnd(C, s=0.1))]
    t += [("ln_f.weight", 1 + rnd(C, s=0.1)), ("ln_f.bias", rnd(C, s=0.1))]
    return cfg, [t], ["model.safetensors"]


def qwen2_tensors(V, L, C, NH, KVH, Fd, tied, dtype):
    hs = C // NH
    t = [("model.embed_tokens.weight", rnd(V, C))]
    for l in range(L):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", 1 + rnd(C, s=0.1)),
              (p + "self_attn.q_proj.weight", rnd(NH * hs, C)), (p + "self_attn.q_proj.bias", rnd(NH * hs, s=0.1)),
              (p + "self_attn.k_proj.weight", rnd(KVH * hs, C)), (p + "self_attn.k_proj.bias", rnd(KVH * hs, s=0.1)),
              (p + "self_attn.v_proj.weight", rnd(KVH * hs, C)), (p + "self_attn.v_proj.bias", rnd(KVH * hs, s=0.1)),
              (p + "self_attn.o_proj.weight", rnd(C, C)),
              (p + "post_attention_layernorm.weight", 1 + rnd(C, s=0.1)),
              (p + "mlp.gate_proj.weight", rnd(Fd, C)), (p + "mlp.up_proj.weight", rnd(Fd, C)),
              (p + "mlp.down_proj.weight", rnd(C, Fd))]
    t += [("model.norm.weight", 1 + rnd(C, s=0.1))]
    if not tied:
        t += [("lm_head.weight", rnd(V, C))]
    return [(n, x.to(dtype)) for n, x in t]


def qwen2_cfg(V, ctx, L, C, NH, KVH, Fd, tied, theta, eps, dtype):
    return {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": V - 2,
            "eos_token_id": V - 1, "hidden_act": "silu", "hidden_size": C, "initializer_range": 0.02,
            "intermediate_size": Fd, "max_position_embeddings": ctx, "max_window_layers": L, "model_type": "qwen2",
            "num_attention_heads": NH, "num_hidden_layers": L, "num_key_value_heads": KVH, "rms_norm_eps": eps,
            "rope_theta": theta, "sliding_window": ctx, "tie_word_embeddings": tied, "torch_dtype": dtype,
            "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False, "vocab_size": V}


def make_qwen2(d):
    V, ctx, L, C, NH, KVH, Fd = 48, 64, 2, 32, 4, 2, 72
    cfg = qwen2_cfg(V, ctx, L, C, NH, KVH, Fd, False, 1000000.0, 1e-5, "bfloat16")
    t = qwen2_tensors(V, L, C, NH, KVH, Fd, False, torch.bfloat16)
    half = len(t) // 2   # save_pretrained's shards: consecutive tensors, an index naming each one's file
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    return cfg, [t[:half], t[half:]], names


def make_qwen2_tied(d):
    V, ctx, L, C, NH, KVH, Fd = 40, 32, 2, 32, 4, 2, 64
    cfg = qwen2_cfg(V, ctx, L, C, NH, KVH, Fd, True, 1000000.0, 1e-6, "float32")
    return cfg, [qwen2_tensors(V, L, C, NH, KVH, Fd, True, torch.float32)], ["model.safetensors"]


def mamba2_layers(L, C, Di, G, N, H, W, Cd):
    """The backbone.layers.N tensors of a Mamba-2 (mamba_ssm's and transformers' share them),
    random as the reference initialises them: dt from log-uniform [1e-3, 0.1], A from [1, 16]."""
    t = []
    for l in range(L):
        p = "backbone.layers.%d." % l
        dtv = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        t += [(p + "norm.weight", 1 + rnd(C, s=0.1)),
              (p + "mixer.in_proj.weight", rnd(2 * Di + 2 * G * N + H, C, s=0.15)),
              (p + "mixer.conv1d.weight", rnd(Cd, 1, W, s=0.3)), (p + "mixer.conv1d.bias", rnd(Cd, s=0.2)),
              (p + "mixer.dt_bias", (dtv + torch.log(-torch.expm1(-dtv))).float()),
              (p + "mixer.A_log", torch.log(torch.empty(H).uniform_(1, 16)).float()),
              (p + "mixer.D", 1 + rnd(H, s=0.3)), (p + "mixer.norm.weight", 1 + rnd(Di, s=0.1)),
              (p + "mixer.out_proj.weight", rnd(C, Di, s=0.15))]
    return t


def make_mamba2(d):
    """NetSSM's layout (mamba_ssm MambaLMHeadModel.state_dict(), config.json as
    checkpoints/configs/default has it) at a tiny size: vocab_size 50 padded to 64 rows, two
    groups of two heads, bfloat16 (NetSSM trains in bf16), the tied lm_head.weight repeated as
    torch's state dict repeats it."""
    V, L, C = 50, 2, 32
    N, W, E, P, G, Q = 8, 4, 2, 16, 2, 16
    Vp = (V + 15) // 16 * 16
    Di = E * C
    H, Cd = Di // P, Di + 2 * G * N
    cfg = {"d_model": C, "d_intermediate": 0, "n_layer": L, "vocab_size": V,
           "ssm_cfg": {"layer": "Mamba2", "d_state": N, "headdim": P, "ngroups": G, "chunk_size": Q},
           "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
           "pad_vocab_size_multiple": 16, "tie_embeddings": True}
    emb = rnd(Vp, C, s=0.5)
    t = [("backbone.embedding.weight", emb)]
    t += mamba2_layers(L, C, Di, G, N, H, W, Cd)
    t += [("backbone.norm_f.weight", 1 + rnd(C, s=0.1)), ("lm_head.weight", emb)]
    return cfg, [[(n, x.to(torch.bfloat16)) for n, x in t]], ["model.safetensors"]


def make_mamba2_transformers(d):
    """transformers' own Mamba2 layout (Mamba2ForCausalLM.save_pretrained): config.json with
    model_type "mamba2" and Mamba2Config's names (time_step_limit [0.0, Infinity] as Python's
    json writes it), backbone.embeddings.weight, no lm_head.weight (tied: save_pretrained leaves
    it out), vocab_size 50 = the embedding's rows (no padding), one group of four heads (the
    width over which transformers normalizes the gate), float32."""
    V, L, C = 50, 2, 32
    N, W, E, P, G, Q = 8, 4, 2, 16, 1, 16
    Di = E * C
    H, Cd = Di // P, Di + 2 * G * N
    cfg = {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "vocab_size": V, "hidden_size": C,
           "state_size": N, "num_heads": H, "head_dim": P, "expand": E, "n_groups": G, "conv_kernel": W, "chunk_size": Q,
           "num_hidden_layers": L, "layer_norm_epsilon": 1e-5, "hidden_act": "silu", "use_bias": False, "use_conv_bias": True,
           "residual_in_fp32": True, "rms_norm": True, "tie_word_embeddings": True, "time_step_limit": [0.0, float("inf")],
           "time_step_min": 0.001, "time_step_max": 0.1, "time_step_floor": 0.0001, "time_step_rank": 2,
           "initializer_range": 0.1, "rescale_prenorm_residual": False, "use_cache": True,
           "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "torch_dtype": "float32"}
    t = [("backbone.embeddings.weight", rnd(V, C, s=0.5))]
    t += mamba2_layers(L, C, Di, G, N, H, W, Cd)
    t += [("backbone.norm_f.weight", 1 + rnd(C, s=0.1))]
    return cfg, [t], ["model.safetensors"]


def make_tcpflowgen(d):
    """tcpflowgen's state dict at a tiny size (vocab 70, d 32, 4 heads, 2 layers, d_ff 64) with
    the config.json tools/torch_to_safetensors.py writes for its checkpoint, float32"""
    V, C, NH, L, Fd, ctx = 70, 32, 4, 2, 64, 48
    cfg = {"model_type": "tcpflowgen", "vocab_size": V, "d_model": C, "nhead": NH, "num_layers": L,
           "dim_feedforward": Fd, "context_length": ctx, "dropout": 0.1,
           "converted_from": "tcpflowgen (tools/torch_to_safetensors.py)"}
    t = [("embedding.weight", rnd(V, C, s=0.5))]
    for l in range(L):
        p = "layers.%d." % l
        t += [(p + "q_proj.weight", rnd(C, C)), (p + "q_proj.bias", rnd(C, s=0.1)),
              (p + "k_proj.weight", rnd(C, C)), (p + "k_proj.bias", rnd(C, s=0.1)),
              (p + "v_proj.weight", rnd(C, C)), (p + "v_proj.bias", rnd(C, s=0.1)),
              (p + "linear1.weight", rnd(Fd, C)), (p + "linear1.bias", rnd(Fd, s=0.1)),
              (p + "linear2.weight", rnd(C, Fd)), (p + "linear2.bias", rnd(C, s=0.1)),
              (p + "norm1.weight", 1 + rnd(C, s=0.1)), (p + "norm1.bias", rnd(C, s=0.1)),
              (p + "norm2.weight", 1 + rnd(C, s=0.1)), (p + "norm2.bias", rnd(C, s=0.1))]
    t += [("output.0.weight", 1 + rnd(C, s=0.1)), ("output.0.bias", rnd(C, s=0.1)),
          ("output.1.weight", rnd(V, C)), ("output.1.bias", rnd(V, s=0.1))]
    return cfg, [t], ["model.safetensors"]


def write_fixture(d, make, seed, B, T):
    torch.manual_seed(seed)
    os.makedirs(d, exist_ok=True)
    cfg, shards, names = make(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for t, n in zip(shards, names):
        st_write(os.path.join(d, n), t, {"format": "pt"})
    if len(names) > 1:
        wm = {name: n for t, n in zip(shards, names) for name, _ in t}
        size = sum(x.numel() * x.element_size() for t in shards for _, x in t)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": size}, "weight_map": wm}, f, indent=2, sort_keys=True)
            f.write("\n")
    tok = torch.randint(0, cfg["vocab_size"], (B, T))   # (Mamba-2: ids of the unpadded vocabulary)
    logits = forward(read_folder(d), cfg, tok)
    write_ref(d, tok, logits)
    print("wrote", d, "logits", tuple(logits.shape), "max |logit| %.3f" % logits.abs().max().item())


def check(d, tokpath, logitpath):
    """Reload pktlm's export with this reference; tokpath: int32 B, T then tokens; logitpath:
    float32 logits (B*T*V) pktlm computed for them."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw = open(tokpath, "rb").read()
    B, T = struct.unpack("<2i", raw[:8])
    tok = torch.tensor(struct.unpack("<%di" % (B * T), raw[8:8 + 4 * B * T])).view(B, T).long()
    ref = forward(read_folder(d), cfg, tok)
    got = torch.frombuffer(bytearray(open(logitpath, "rb").read()), dtype=torch.float32).double().view_as(ref)
    rel = ((got - ref).abs().max() / ref.abs().max()).item()
    print("%s: %s logits %s, largest difference relative to the largest logit %.3g" % (d, cfg.get("model_type", "mamba_ssm"), tuple(ref.shape), rel))
    return 0 if rel < 1e-5 else 1


FIXTURES = [("hf_gpt2", make_gpt2, 18, 2, 20), ("hf_qwen2", make_qwen2, 19, 2, 24), ("hf_qwen2_tied", make_qwen2_tied, 20, 2, 16),
            ("hf_mamba2", make_mamba2, 21, 2, 40), ("hf_tcpflowgen", make_tcpflowgen, 22, 2, 30),
            ("hf_mamba2_transformers", make_mamba2_transformers, 23, 2, 40)]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        sys.exit(check(*sys.argv[2:5]))
    only = sys.argv[1:]   # fixture names (default: all)
    for name, make, seed, B, T in FIXTURES:
        if not only or name in only:
            write_fixture("tests/fixtures/" + name, make, seed, B, T)


if __name__ == "__main__":
    main()
