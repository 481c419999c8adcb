#!/usr/bin/env python3
"""A Qwen2.5-0.5B-shaped Hugging Face folder with all-zero weights, written sparse: the real
config.json values (hidden 896, intermediate 4864, 24 layers, 14 heads on 2 KV heads, vocabulary
151,936, rope_theta 1e6, rms_norm_eps 1e-6, tied embedding), one model.safetensors in bfloat16
as the hub has it (~988 MB), whose tensor bytes are a hole (truncate): nothing but the header
is written, so the file costs no disk and no time to make. Plain python3, no torch.

    python3 bench/import/make_qwen05.py DIR
"""
import json
import os
import struct
import sys

V, C, F, L, NH, KVH, hs = 151936, 896, 4864, 24, 14, 2, 64
cfg = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
       "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": C, "initializer_range": 0.02,
       "intermediate_size": F, "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2",
       "num_attention_heads": NH, "num_hidden_layers": L, "num_key_value_heads": KVH, "rms_norm_eps": 1e-06,
       "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
       "transformers_version": "4.40.1", "use_cache": True, "use_sliding_window": False, "vocab_size": V}
shapes = [("model.embed_tokens.weight", [V, C])]
for l in range(L):
    p = "model.layers.%d." % l
    shapes += [(p + "input_layernorm.weight", [C]), (p + "post_attention_layernorm.weight", [C]),
               (p + "self_attn.q_proj.weight", [NH * hs, C]), (p + "self_attn.q_proj.bias", [NH * hs]),
               (p + "self_attn.k_proj.weight", [KVH * hs, C]), (p + "self_attn.k_proj.bias", [KVH * hs]),
               (p + "self_attn.v_proj.weight", [KVH * hs, C]), (p + "self_attn.v_proj.bias", [KVH * hs]),
               (p + "self_attn.o_proj.weight", [C, NH * hs]),
               (p + "mlp.gate_proj.weight", [F, C]), (p + "mlp.up_proj.weight", [F, C]), (p + "mlp.down_proj.weight", [C, F])]
shapes.append(("model.norm.weight", [C]))
hdr, at, n = {"__metadata__": {"format": "pt"}}, 0, 0
for name, sh in sorted(shapes):
    k = 1
    for d in sh:
        k *= d
    hdr[name] = {"dtype": "BF16", "shape": sh, "data_offsets": [at, at + 2 * k]}
    at += 2 * k
    n += k
h = json.dumps(hdr, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
path = os.path.join(d, "model.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    f.truncate(8 + len(h) + at)
print("%s: %d tensors, %d parameters, %.1f MB (sparse)" % (path, len(shapes), n, (8 + len(h) + at) / 1e6))
