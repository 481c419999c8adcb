#!/usr/bin/python3
"""Convert PyTorch pickles to a Hugging Face safetensors folder that `pktlm import` reads.

    /usr/bin/python3 tools/torch_to_safetensors.py IN -o OUT_DIR [--heads N] [--uer-config F]
    /usr/bin/python3 tools/torch_to_safetensors.py --to-uer GPT2_DIR -o OUT.bin   (the way back)
    /usr/bin/python3 tools/torch_to_safetensors.py --to-pickle DIR -o DIR/pytorch_model.bin

IN is one of
  * a Hugging Face folder with pytorch_model.bin (or shards + pytorch_model.bin.index.json) and
    config.json (GPT-2, Qwen2, or mamba_ssm's MambaConfig as NetSSM's checkpoints have it):
    the tensors are written unchanged, config.json copied;
  * tcpflowgen's checkpoint (tcp_flow_gen2.pth: {'model_state_dict', 'config'} as its main.py
    saves it): names kept, config.json (model_type "tcpflowgen") from the saved config;
  * a UER-py checkpoint (NetGPT's pretrained_model.bin, a GPT-2 of UER's "word_pos" embedding,
    pre-LayerNorm "transformer" encoder and "lm" target): tensor names are mapped to Hugging
    Face GPT-2's and a GPT-2 config.json is written. Sizes come from the tensors; the number of
    heads from --heads or UER's config.json (--uer-config, "heads_num").

UER's LayerNorm divides by the *unbiased* standard deviation plus 1e-6 where GPT-2's (and
pktlm's) divides by sqrt(biased variance + 1e-5); scaling gamma by sqrt((C-1)/C) makes the two
agree to within the epsilon (--keep-layernorm leaves gamma as it is, as UER's own converter
does). UER's "gelu" is the erf form, GPT-2's "gelu_new" the tanh form (differences below 1e-3).

--to-uer writes a GPT-2 folder (`pktlm export-model --format hf`) as a UER-py state dict for
NetGPT's scripts (gamma divided by the same factor unless --keep-layernorm). --to-pickle writes
a folder's model.safetensors as a plain state dict (NetSSM's pytorch_model.bin).

Pickles are read with torch.load(weights_only=True), or, for files whose opcodes torch 1.13's
safe unpickler lacks (a float in a saved config dict), an unpickler that builds only tensors,
dicts and plain values: either way no code in the file runs. Needs Debian's
python3-torch. Errors (exit status 1) name the file and say what is wrong: an architecture that
is neither GPT-2 nor Qwen2, a missing tensor, shapes that do not fit together.
"""
import argparse
import io
import json
import math
import os
import pickle
import shutil
import struct
import sys
import zipfile

try:
    import torch
except ImportError:
    sys.exit("torch_to_safetensors: needs PyTorch (Debian: apt-get install python3-torch)")


class ConvertError(Exception):
    pass


def st_write(path, tensors):
    """tensors: dict name -> tensor; written sorted by name, float32/bfloat16/float16 kept."""
    names = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64"}
    hdr, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in names:
            raise ConvertError("tensor '%s' has dtype %s (floating-point tensors only)" % (name, t.dtype))
        b = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()   # host little-endian
        hdr[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


class _TensorsOnly(pickle.Unpickler):
    """An unpickler that builds tensors, dicts and plain values only: no other global is looked
    up, so no code in the file runs. torch 1.13's weights_only unpickler lacks some opcodes
    (BINFLOAT: a float in a saved config dict, as tcpflowgen's checkpoints have), and its
    torch.load ignores a pickle_module unless weights_only is off (then it uses plain pickle):
    so the zip archive torch.save writes is read here, storages from its data/ entries."""
    ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
               ("torch", "device"), ("torch", "Size")}

    def __init__(self, f, zf, prefix):
        super().__init__(f, encoding="utf-8")
        self.zf, self.prefix = zf, prefix

    def find_class(self, mod, name):
        if (mod, name) in self.ALLOWED or (mod == "torch" and name.endswith("Storage")) or \
                (mod == "torch" and isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(mod, name)
        raise pickle.UnpicklingError("%s.%s is not a tensor or a plain value: refused" % (mod, name))

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unknown persistent id")
        _, stype, key, _, numel = pid
        raw = bytearray(self.zf.read(self.prefix + "data/" + str(key)))
        t = torch.frombuffer(raw, dtype=stype.dtype) if raw else torch.zeros(0, dtype=stype.dtype)
        return t[:numel].storage()


def _load_tensors_only(path):
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise pickle.UnpicklingError("not a torch.save archive")
        return _TensorsOnly(io.BytesIO(z.read(pkl[0])), z, pkl[0][:-len("data.pkl")]).load()


def load_pickle(path, extra=None):
    """extra: a dict that gets the wrapper's "config" entry, when there is one (tcpflowgen)."""
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:   # noqa: BLE001
            if "Unsupported operand" not in str(e):
                raise
            sd = _load_tensors_only(path)
    except Exception as e:   # noqa: BLE001 (torch raises many kinds)
        raise ConvertError("%s: cannot read as a PyTorch state dict: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if extra is not None and isinstance(sd, dict) and isinstance(sd.get("config"), dict):
        extra.update(sd["config"])
    # training scripts often wrap the weights
    for k in ("state_dict", "model_state_dict", "model", "module"):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict):
            sd = sd[k]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConvertError("%s: not a state dict (name -> tensor)" % path)
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def hf_folder(d):
    idx = os.path.join(d, "pytorch_model.bin.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    elif os.path.exists(os.path.join(d, "pytorch_model.bin")):
        files = ["pytorch_model.bin"]
    else:
        raise ConvertError("%s: no pytorch_model.bin or pytorch_model.bin.index.json" % d)
    sd = {}
    for fn in files:
        sd.update(load_pickle(os.path.join(d, fn)))
    cfgp = os.path.join(d, "config.json")
    if not os.path.exists(cfgp):
        raise ConvertError("%s: no config.json beside the weights" % d)
    cfg = json.load(open(cfgp))
    mt = cfg.get("model_type")
    if mt is None and isinstance(cfg.get("ssm_cfg"), dict):
        mt = "mamba_ssm"   # mamba_ssm's MambaConfig (NetSSM): no model_type, an ssm_cfg
    if mt not in ("gpt2", "qwen2", "mamba_ssm"):
        raise ConvertError("%s: model_type %r: pktlm imports gpt2, qwen2 and mamba_ssm's Mamba-2" % (cfgp, mt))
    # tied weights share storage in the pickle; safetensors wants each tensor once
    sd = {k: v.clone() for k, v in sd.items()}
    return sd, cfg


def is_uer(sd):
    return any(k.startswith("encoder.transformer.") for k in sd)


def is_tcpflowgen(sd):
    return "output.1.weight" in sd and "layers.0.q_proj.weight" in sd and "embedding.weight" in sd


def tcpflowgen_config(sd, path, heads, saved):
    """tcpflowgen's TCPHeaderTransformer (JonLens/tcpflowgen model.py; main.py saves
    {'model_state_dict', 'config'}): the tensors keep their names; config.json from the saved
    config dict (vocab_size, d_model, nhead, num_layers, dim_feedforward, context_length,
    dropout), sizes checked against the tensors; rotary caches are buffers, dropped."""
    V, C = sd["embedding.weight"].shape
    L = 0
    while "layers.%d.q_proj.weight" % L in sd:
        L += 1
    Fd = sd["layers.0.linear1.weight"].shape[0]
    nh = heads or saved.get("nhead")
    if not nh:
        raise ConvertError("%s: no saved config with nhead: give --heads N (tcpflowgen's config.py: 8)" % path)
    for k, want in (("vocab_size", V), ("d_model", C), ("num_layers", L), ("dim_feedforward", Fd)):
        if k in saved and int(saved[k]) != want:
            raise ConvertError("%s: the saved config says %s %s, the tensors %d" % (path, k, saved[k], want))
    cfg = {"model_type": "tcpflowgen", "vocab_size": int(V), "d_model": int(C), "nhead": int(nh), "num_layers": L,
           "dim_feedforward": int(Fd), "context_length": int(saved.get("context_length", 1024)),
           "dropout": float(saved.get("dropout", 0.1)), "converted_from": "tcpflowgen (tools/torch_to_safetensors.py)"}
    out = {k: v.clone() for k, v in sd.items() if ".rotary_emb." not in k}
    return out, cfg


def uer_to_gpt2(sd, path, heads, uer_cfg, keep_ln):
    """UER-py GPT-2 names -> Hugging Face GPT2LMHeadModel names (Conv1D layout: (in, out))."""
    def get(*names):
        for n in names:
            if n in sd:
                return sd[n]
        raise ConvertError("%s: UER checkpoint lacks '%s'" % (path, names[0]))
    if any(k.startswith("target.mlm") or k.startswith("target.sp") or k.startswith("target.nsp") for k in sd):
        raise ConvertError("%s: a UER BERT-style model (masked-LM target, e.g. ET-BERT): pktlm imports causal LMs (GPT-2, Qwen2)" % path)
    if any(k.startswith("embedding.layer_norm") or k.startswith("embedding.word.layer_norm") for k in sd):
        raise ConvertError("%s: UER embedding with a LayerNorm: not GPT-2's layout (remove_embedding_layernorm false)" % path)
    if not any(k in sd for k in ("encoder.layer_norm.gamma", "encoder.layer_norm.weight")):
        raise ConvertError("%s: no final encoder.layer_norm: a post-LayerNorm UER encoder, not GPT-2's pre-LayerNorm" % path)
    wte = get("embedding.word_embedding.weight", "embedding.word.embedding.weight")
    wpe = get("embedding.position_embedding.weight", "embedding.pos.embedding.weight")
    V, C = wte.shape
    ctx = wpe.shape[0]
    if wpe.shape[1] != C:
        raise ConvertError("%s: position embedding %s does not match word embedding %s" % (path, tuple(wpe.shape), tuple(wte.shape)))
    L = 0
    while "encoder.transformer.%d.self_attn.final_linear.weight" % L in sd:
        L += 1
    if L == 0:
        raise ConvertError("%s: UER checkpoint lacks 'encoder.transformer.0.self_attn.final_linear.weight'" % path)
    if heads is None:
        heads = (uer_cfg or {}).get("heads_num")
    if not heads:
        raise ConvertError("%s: the number of attention heads is not in the weights: give --heads N or --uer-config CONFIG.json" % path)
    if C % heads:
        raise ConvertError("%s: hidden size %d is not a multiple of %d heads" % (path, C, heads))
    if uer_cfg and uer_cfg.get("layernorm_positioning", "pre") != "pre":
        raise ConvertError("%s: layernorm_positioning %r: GPT-2 is pre-LayerNorm" % (path, uer_cfg.get("layernorm_positioning")))
    ln_scale = 1.0 if keep_ln else math.sqrt((C - 1) / C)
    out = {"transformer.wte.weight": wte, "transformer.wpe.weight": wpe}
    F = None

    def ln(dst, src):
        out[dst + ".weight"] = get(src + ".gamma", src + ".weight") * ln_scale
        out[dst + ".bias"] = get(src + ".beta", src + ".bias")
        for t in (out[dst + ".weight"], out[dst + ".bias"]):
            if tuple(t.shape) != (C,):
                raise ConvertError("%s: %s has shape %s, expected (%d,)" % (path, src, tuple(t.shape), C))

    for l in range(L):
        p, h = "encoder.transformer.%d." % l, "transformer.h.%d." % l
        ws = [get(p + "self_attn.linear_layers.%d.weight" % j) for j in range(3)]
        bs = [get(p + "self_attn.linear_layers.%d.bias" % j) for j in range(3)]
        for t in ws:
            if tuple(t.shape) != (C, C):
                raise ConvertError("%s: layer %d q/k/v weight has shape %s, expected (%d, %d)" % (path, l, tuple(t.shape), C, C))
        out[h + "attn.c_attn.weight"] = torch.cat(ws, 0).t()
        out[h + "attn.c_attn.bias"] = torch.cat(bs, 0)
        out[h + "attn.c_proj.weight"] = get(p + "self_attn.final_linear.weight").t()
        out[h + "attn.c_proj.bias"] = get(p + "self_attn.final_linear.bias")
        w1, w2 = get(p + "feed_forward.linear_1.weight"), get(p + "feed_forward.linear_2.weight")
        F = w1.shape[0]
        if tuple(w1.shape) != (F, C) or tuple(w2.shape) != (C, F):
            raise ConvertError("%s: layer %d feed-forward shapes %s / %s do not fit hidden size %d" % (path, l, tuple(w1.shape), tuple(w2.shape), C))
        out[h + "mlp.c_fc.weight"] = w1.t()
        out[h + "mlp.c_fc.bias"] = get(p + "feed_forward.linear_1.bias")
        out[h + "mlp.c_proj.weight"] = w2.t()
        out[h + "mlp.c_proj.bias"] = get(p + "feed_forward.linear_2.bias")
        ln(h + "ln_1", p + "layer_norm_1")
        ln(h + "ln_2", p + "layer_norm_2")
    ln("transformer.ln_f", "encoder.layer_norm")
    for k in ("target.lm.output_layer.weight", "target.output_layer.weight"):
        if k in sd and not torch.equal(sd[k], wte):
            raise ConvertError("%s: %s differs from the word embedding: pktlm's GPT-2 ties the LM head" % (path, k))
    for k in ("target.lm.output_layer.bias", "target.output_layer.bias"):
        if k in sd and sd[k].abs().max().item() != 0:
            raise ConvertError("%s: %s is not zero: GPT-2's LM head has no bias" % (path, k))
    act = (uer_cfg or {}).get("hidden_act", "gelu_fast")
    if act not in ("gelu_fast", "gelu"):
        raise ConvertError("%s: hidden_act %r: pktlm's GPT-2 uses GELU" % (path, act))
    if act == "gelu":
        print("note: UER's hidden_act 'gelu' is the erf form; pktlm's GPT-2 uses the tanh form "
              "(activations differ by less than 1e-3)", file=sys.stderr)
    out = {k: v.clone().contiguous() for k, v in out.items()}
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": int(V), "n_positions": int(ctx),
           "n_ctx": int(ctx), "n_embd": int(C), "n_layer": L, "n_head": int(heads), "n_inner": int(F),
           "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
           "bos_token_id": None, "eos_token_id": None, "torch_dtype": "float32",
           "converted_from": "UER-py (tools/torch_to_safetensors.py)"}
    return out, cfg


def st_read(path):
    """safetensors -> dict name -> float32 tensor (the reader of hf_ref.py, without float64)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        buf = bytearray(f.read())
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b0, b1 = e["data_offsets"]
        dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}.get(e["dtype"])
        if dt is None:
            raise ConvertError("%s: tensor '%s' has dtype %s" % (path, name, e["dtype"]))
        raw = torch.frombuffer(buf, dtype=torch.uint8, offset=b0, count=b1 - b0) if b1 > b0 else torch.zeros(0, dtype=torch.uint8)
        out[name] = raw.view(dt).float().reshape(e["shape"]).clone()
    return out


def gpt2_to_uer(d, keep_ln, vocab=None):
    """A Hugging Face GPT-2 folder (`pktlm export-model`) -> a UER-py state dict (the names
    NetGPT's scripts load: UER's newer embedding names, layer_norm gamma/beta, tied lm output).
    vocab: a vocab.txt; UER sizes its embedding by its lines, so the rows after them (pktlm's
    <pkt>, label and padding rows, which a UER vocabulary does not have) are left out."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg.get("model_type") != "gpt2":
        raise ConvertError("%s: model_type %r: UER's GPT-2 layout needs a gpt2 model" % (d, cfg.get("model_type")))
    w = st_read(os.path.join(d, "model.safetensors"))
    g = lambda n: w[n] if n in w else w["transformer." + n]
    C = cfg["n_embd"]
    ln_scale = 1.0 if keep_ln else 1.0 / math.sqrt((C - 1) / C)
    wte = g("wte.weight")
    if vocab:
        with open(vocab, "rb") as f:
            rows = sum(1 for _ in f)
        if rows > wte.shape[0]:
            raise ConvertError("%s: %d lines, but the model has %d embedding rows" % (vocab, rows, wte.shape[0]))
        wte = wte[:rows].contiguous()
    u = {"embedding.word.embedding.weight": wte, "embedding.pos.embedding.weight": g("wpe.weight")}
    for l in range(cfg["n_layer"]):
        p, h = "encoder.transformer.%d." % l, "h.%d." % l
        qkv, b = g(h + "attn.c_attn.weight").t(), g(h + "attn.c_attn.bias")
        for j in range(3):
            u[p + "self_attn.linear_layers.%d.weight" % j] = qkv[C * j:C * (j + 1)].contiguous()
            u[p + "self_attn.linear_layers.%d.bias" % j] = b[C * j:C * (j + 1)].contiguous()
        u[p + "self_attn.final_linear.weight"] = g(h + "attn.c_proj.weight").t().contiguous()
        u[p + "self_attn.final_linear.bias"] = g(h + "attn.c_proj.bias")
        u[p + "feed_forward.linear_1.weight"] = g(h + "mlp.c_fc.weight").t().contiguous()
        u[p + "feed_forward.linear_1.bias"] = g(h + "mlp.c_fc.bias")
        u[p + "feed_forward.linear_2.weight"] = g(h + "mlp.c_proj.weight").t().contiguous()
        u[p + "feed_forward.linear_2.bias"] = g(h + "mlp.c_proj.bias")
        for k in (1, 2):
            u[p + "layer_norm_%d.gamma" % k] = g(h + "ln_%d.weight" % k) * ln_scale
            u[p + "layer_norm_%d.beta" % k] = g(h + "ln_%d.bias" % k)
    u["encoder.layer_norm.gamma"] = g("ln_f.weight") * ln_scale
    u["encoder.layer_norm.beta"] = g("ln_f.bias")
    u["target.lm.output_layer.weight"] = u["embedding.word.embedding.weight"]
    return u, cfg


def convert(inp, out, heads=None, uer_config=None, keep_layernorm=False):
    """IN -> OUT/model.safetensors + OUT/config.json; raises ConvertError. Returns a summary line."""
    if os.path.isdir(inp):
        sd, cfg = hf_folder(inp)
        if is_uer(sd):
            raise ConvertError("%s: UER tensor names in a Hugging Face folder: give the .bin file itself" % inp)
    elif os.path.isfile(inp):
        saved = {}
        sd = load_pickle(inp, saved)
        if is_tcpflowgen(sd):
            sd, cfg = tcpflowgen_config(sd, inp, heads, saved)
        elif not is_uer(sd):
            raise ConvertError("%s: neither UER tensor names (encoder.transformer.N...), nor tcpflowgen's (layers.N.q_proj, "
                               "output.1), nor a Hugging Face folder (give the folder with config.json)" % inp)
        else:
            uer_cfg = json.load(open(uer_config)) if uer_config else None
            sd, cfg = uer_to_gpt2(sd, inp, heads, uer_cfg, keep_layernorm)
    else:
        raise ConvertError("%s: no such file or folder" % inp)
    os.makedirs(out, exist_ok=True)
    st_write(os.path.join(out, "model.safetensors"), sd)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for extra in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json"):
        if os.path.isdir(inp) and os.path.exists(os.path.join(inp, extra)):
            shutil.copy(os.path.join(inp, extra), os.path.join(out, extra))
    n = sum(v.numel() for v in sd.values())
    return "wrote %s/model.safetensors (%d tensors, %.2f M values) and config.json (%s)" % (
        out, len(sd), n / 1e6, cfg.get("model_type", "mamba_ssm"))


def to_pickle(d, out):
    """A folder's model.safetensors -> OUT, a plain state dict (torch.save), tensor names and
    shapes unchanged: what mamba_ssm's MambaLMHeadModel.from_pretrained reads (NetSSM's
    pytorch_model.bin beside config.json)."""
    w = st_read(os.path.join(d, "model.safetensors"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg.get("model_type") == "tcpflowgen":   # what tcpflowgen's utils.load_model reads
        keep = ("vocab_size", "d_model", "nhead", "num_layers", "dim_feedforward", "context_length", "dropout")
        w = {"model_state_dict": w, "config": dict({k: cfg[k] for k in keep if k in cfg}, device="cpu")}
    tmp = "%s.tmp.%d" % (out, os.getpid())
    torch.save(w, tmp)
    os.replace(tmp, out)
    return "wrote %s (%d tensors, state dict for torch.load / load_state_dict)" % (out, len(w))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="Hugging Face folder with pytorch_model.bin, or a UER checkpoint file")
    ap.add_argument("-o", "--out", required=True, help="output folder (config.json + model.safetensors)")
    ap.add_argument("--heads", type=int, help="UER: attention heads")
    ap.add_argument("--uer-config", help="UER: the model's config.json (heads_num, hidden_act, layernorm_positioning)")
    ap.add_argument("--keep-layernorm", action="store_true", help="UER: do not rescale LayerNorm gamma")
    ap.add_argument("--to-uer", action="store_true",
                    help="the other way: a GPT-2 folder (pktlm export-model) -> OUT, a UER-py .bin state dict")
    ap.add_argument("--vocab", help="--to-uer: the vocab.txt UER will use (pktlm export --format netgpt writes it); "
                    "the embedding keeps as many rows as it has lines")
    ap.add_argument("--to-pickle", action="store_true",
                    help="the other way: a folder's model.safetensors -> OUT, a PyTorch state dict (pytorch_model.bin)")
    a = ap.parse_args()
    try:
        if a.to_pickle:
            print(to_pickle(a.input, a.out))
            return
        if a.to_uer:
            u, cfg = gpt2_to_uer(a.input, a.keep_layernorm, a.vocab)
            tmp = "%s.tmp.%d" % (a.out, os.getpid())
            torch.save(u, tmp)
            os.replace(tmp, a.out)
            print("wrote %s (UER-py GPT-2: %d layers, %d heads, hidden %d; load with --heads %d / heads_num)" %
                  (a.out, cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["n_head"]))
            return
        print(convert(a.input, a.out, a.heads, a.uer_config, a.keep_layernorm))
    except ConvertError as e:
        print("torch_to_safetensors: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
