# tools/torch_to_safetensors.py (PyTorch pickles -> safetensors, UER names mapped), then
# pktlm import: a UER-named GPT-2 and a Hugging Face pytorch_model.bin made from the hub-layout
# fixture give the same checkpoint as the fixture itself, bit for bit; bad pickles give clear
# errors. Needs python3-torch: skipped without it (CI has no torch).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
PY=/usr/bin/python3
if ! $PY -c "import torch" >/dev/null 2>&1; then
  skip torch_convert "python3-torch not installed"; exit 0
fi
F=tests/fixtures/hf_gpt2
$PKTLM import $F -o $T/ref.ckpt >/dev/null 2>&1 || bad torch_convert_ref "fixture import failed"
# state dicts from the fixture: Hugging Face names, and UER-py names (NetGPT's layout)
$PY - "$T" <<'EOF' || bad torch_convert_make "could not write the pickles"
import os, sys, json, shutil, torch
sys.path.insert(0, "tools/torch_ref")
from hf_ref import st_read
T = sys.argv[1]
w = {k: v.float() for k, v in st_read("tests/fixtures/hf_gpt2/model.safetensors").items()}
os.makedirs(T + "/hfbin", exist_ok=True)
torch.save(w, T + "/hfbin/pytorch_model.bin")
shutil.copy("tests/fixtures/hf_gpt2/config.json", T + "/hfbin/config.json")
u = {"embedding.word.embedding.weight": w["wte.weight"], "embedding.pos.embedding.weight": w["wpe.weight"]}
for l in range(2):
    p, h = "encoder.transformer.%d." % l, "h.%d." % l
    qkv, b = w[h + "attn.c_attn.weight"].t(), w[h + "attn.c_attn.bias"]
    for j in range(3):
        u[p + "self_attn.linear_layers.%d.weight" % j] = qkv[32 * j:32 * (j + 1)].clone()
        u[p + "self_attn.linear_layers.%d.bias" % j] = b[32 * j:32 * (j + 1)].clone()
    u[p + "self_attn.final_linear.weight"] = w[h + "attn.c_proj.weight"].t().clone()
    u[p + "self_attn.final_linear.bias"] = w[h + "attn.c_proj.bias"]
    u[p + "feed_forward.linear_1.weight"] = w[h + "mlp.c_fc.weight"].t().clone()
    u[p + "feed_forward.linear_1.bias"] = w[h + "mlp.c_fc.bias"]
    u[p + "feed_forward.linear_2.weight"] = w[h + "mlp.c_proj.weight"].t().clone()
    u[p + "feed_forward.linear_2.bias"] = w[h + "mlp.c_proj.bias"]
    for k in (1, 2):
        u[p + "layer_norm_%d.gamma" % k] = w[h + "ln_%d.weight" % k]
        u[p + "layer_norm_%d.beta" % k] = w[h + "ln_%d.bias" % k]
u["encoder.layer_norm.gamma"], u["encoder.layer_norm.beta"] = w["ln_f.weight"], w["ln_f.bias"]
u["target.lm.output_layer.weight"] = u["embedding.word.embedding.weight"]
torch.save(u, T + "/uer.bin")
v = dict(u); del v["encoder.transformer.1.feed_forward.linear_2.bias"]; torch.save(v, T + "/uer_missing.bin")
v = dict(u); v["encoder.transformer.0.self_attn.linear_layers.1.weight"] = torch.zeros(16, 32); torch.save(v, T + "/uer_shape.bin")
v = dict(u); v["target.mlm.linear_1.weight"] = torch.zeros(2, 2); torch.save(v, T + "/uer_bert.bin")
v = dict(u); v["target.lm.output_layer.weight"] = u["target.lm.output_layer.weight"] + 1; torch.save(v, T + "/uer_untied.bin")
torch.save({"a": 1}, T + "/notweights.bin")
EOF
C="$PY tools/torch_to_safetensors.py"
$C $T/uer.bin --heads 4 --keep-layernorm -o $T/uer_hf >/dev/null 2>$T/e && $PKTLM import $T/uer_hf -o $T/uer.ckpt >/dev/null 2>&1
check torch_convert_uer_bits cmp -s <(tail -c +1025 $T/ref.ckpt) <(tail -c +1025 $T/uer.ckpt)
[ "${PKTLM_SAN:-0}" = 1 ] && exit 0   # the rest tests python: once, in the release run
$C $T/uer.bin --heads 4 -o $T/uer_hf2 >/dev/null 2>&1 && $PKTLM import $T/uer_hf2 -o $T/uer2.ckpt >/dev/null 2>&1
check torch_convert_uer_layernorm test $? -eq 0 -a -s $T/uer2.ckpt
$C $T/hfbin -o $T/hfbin_st >/dev/null 2>&1 && $PKTLM import $T/hfbin_st -o $T/hfbin.ckpt >/dev/null 2>&1
check torch_convert_hf_bin_bits cmp -s <(tail -c +1025 $T/ref.ckpt) <(tail -c +1025 $T/hfbin.ckpt)
# and back to UER: pktlm export-model, then --to-uer gives the original state dict bit for bit
$PKTLM export-model $T/uer.ckpt -o $T/uer_out >/dev/null 2>&1 && $C --to-uer $T/uer_out -o $T/uer_back.bin --keep-layernorm >/dev/null 2>&1
$PY -c "
import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
sys.exit(0 if a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) else 1)" $T/uer.bin $T/uer_back.bin
check torch_convert_to_uer_bits test $? -eq 0
# --vocab: UER sizes the embedding by vocab.txt's lines; rows past them are left out, more lines refused
rows=$($PY -c "import sys, torch; print(torch.load(sys.argv[1])['embedding.word.embedding.weight'].shape[0])" $T/uer.bin)
seq 1 $((rows - 3)) > $T/vocab_short.txt; seq 1 $((rows + 1)) > $T/vocab_long.txt
$C --to-uer $T/uer_out -o $T/uer_trim.bin --vocab $T/vocab_short.txt >/dev/null 2>&1
$PY -c "
import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2]); n = int(sys.argv[3])
w = 'embedding.word.embedding.weight'
ok = b[w].shape[0] == n and torch.equal(b[w], b['target.lm.output_layer.weight']) and torch.allclose(a[w][:n], b[w], atol=1e-6)
sys.exit(0 if ok else 1)" $T/uer.bin $T/uer_trim.bin $((rows - 3))
check torch_convert_to_uer_vocab_rows test $? -eq 0
$C --to-uer $T/uer_out -o $T/uer_long.bin --vocab $T/vocab_long.txt >/dev/null 2>$T/e; rc=$?
check torch_convert_to_uer_vocab_long test $rc -eq 1 -a ! -e $T/uer_long.bin -a -n "$(grep -F "lines, but the model has" $T/e)"
# pktlm import on the pickle folder says how to convert
$PKTLM import $T/hfbin -o $T/x.ckpt >/dev/null 2>$T/e
check import_says_convert grep -q "torch_to_safetensors.py" $T/e
# the errors, in one python process (each torch start-up costs seconds)
$PY - "$T" <<'EOF'
import os, sys, shutil
sys.path.insert(0, "tools")
from torch_to_safetensors import convert, ConvertError
T = sys.argv[1]
os.makedirs(T + "/llama", exist_ok=True)
shutil.copy(T + "/hfbin/pytorch_model.bin", T + "/llama/")
open(T + "/llama/config.json", "w").write(open("tests/fixtures/hf_gpt2/config.json").read().replace('"gpt2"', '"llama"'))
cases = [
    ("torch_convert_missing", "lacks 'encoder.transformer.1.feed_forward.linear_2.bias'", "uer_missing.bin", 4),
    ("torch_convert_shape", "layer 0 q/k/v weight has shape (16, 32)", "uer_shape.bin", 4),
    ("torch_convert_bert", "masked-LM target", "uer_bert.bin", 4),
    ("torch_convert_untied", "differs from the word embedding", "uer_untied.bin", 4),
    ("torch_convert_heads", "give --heads N", "uer.bin", None),
    ("torch_convert_not_weights", "not a state dict", "notweights.bin", 4),
    ("torch_convert_unknown_arch", "model_type 'llama': pktlm imports gpt2, qwen2", "llama", None),
    ("torch_convert_no_input", "no such file or folder", "nothing", None),
]
for name, want, inp, heads in cases:
    try:
        convert(os.path.join(T, inp), T + "/bad", heads=heads)
        print("FAIL %s\n  converted %s" % (name, inp))
    except ConvertError as e:
        print(("PASS %s" % name) if want in str(e) else "FAIL %s\n  '%s' lacks '%s'" % (name, e, want))
EOF
$C $T/uer_missing.bin --heads 4 -o $T/bad >/dev/null 2>$T/e; rc=$?
check torch_convert_exit_status test $rc -eq 1 -a -n "$(grep "^torch_to_safetensors: .*uer_missing.bin: UER checkpoint lacks" $T/e)"
# NetSSM: mamba_ssm's save_pretrained (config.json + pytorch_model.bin) -> safetensors -> the
# same checkpoint as the safetensors fixture; and the way back (--to-pickle) reads as the same
# state dict. tcpflowgen: its main.py's {'model_state_dict', 'config'} -> the fixture's checkpoint.
$PY - "$T" <<'EOF' || bad torch_convert_make2 "could not write the NetSSM / tcpflowgen pickles"
import os, sys, shutil, torch
sys.path.insert(0, "tools/torch_ref")
from hf_ref import st_read
T = sys.argv[1]
w = {k: v.to(torch.bfloat16) for k, v in st_read("tests/fixtures/hf_mamba2/model.safetensors").items()}
w["lm_head.weight"] = w["backbone.embedding.weight"]   # tied: one storage, as torch saves it
os.makedirs(T + "/netssm", exist_ok=True)
torch.save(w, T + "/netssm/pytorch_model.bin")
shutil.copy("tests/fixtures/hf_mamba2/config.json", T + "/netssm/config.json")
t = {k: v.float() for k, v in st_read("tests/fixtures/hf_tcpflowgen/model.safetensors").items()}
t["layers.0.rotary_emb.cache"] = torch.zeros(4, 2)   # a buffer an older torchtune kept in the state dict
torch.save({"model_state_dict": t, "config": {"vocab_size": 70, "d_model": 32, "nhead": 4, "num_layers": 2,
            "dim_feedforward": 64, "context_length": 48, "dropout": 0.1, "device": "cuda"}}, T + "/tfg.pth")
torch.save({"model_state_dict": t}, T + "/tfg_nocfg.pth")
EOF
$PKTLM import tests/fixtures/hf_mamba2 -o $T/ns_ref.ckpt >/dev/null 2>&1
$C $T/netssm -o $T/netssm_st >/dev/null 2>$T/e && $PKTLM import $T/netssm_st -o $T/ns.ckpt >/dev/null 2>&1
check torch_convert_netssm_bits cmp -s <(tail -c +1025 $T/ns_ref.ckpt) <(tail -c +1025 $T/ns.ckpt)
$PKTLM export-model $T/ns.ckpt --format hf -o $T/ns_out >/dev/null 2>&1 && $C --to-pickle $T/ns_out -o $T/ns_out/pytorch_model.bin >/dev/null 2>$T/e
check torch_convert_netssm_back $PY -c "
import sys, torch
a = torch.load('$T/ns_out/pytorch_model.bin', weights_only=True); b = torch.load('$T/netssm/pytorch_model.bin', weights_only=True)
sys.exit(0 if sorted(a) == sorted(b) and all(torch.equal(a[k].float(), b[k].float()) for k in a) else 1)"
$PKTLM import tests/fixtures/hf_tcpflowgen -o $T/tfg_ref.ckpt >/dev/null 2>&1
$C $T/tfg.pth -o $T/tfg_st >/dev/null 2>$T/e && $PKTLM import $T/tfg_st -o $T/tfg.ckpt >/dev/null 2>&1
check torch_convert_tcpflowgen_bits cmp -s <(tail -c +1025 $T/tfg_ref.ckpt) <(tail -c +1025 $T/tfg.ckpt)
$C $T/tfg_nocfg.pth -o $T/x >/dev/null 2>$T/e; rc=$?
check torch_convert_tcpflowgen_needs_heads test $rc -eq 1 -a -n "$(grep -- '--heads' $T/e)"
$PKTLM export-model $T/tfg.ckpt --format hf -o $T/tfg_out >/dev/null 2>&1 && $C --to-pickle $T/tfg_out -o $T/tfg_back.pth >/dev/null 2>$T/e
check torch_convert_tcpflowgen_back $PY -c "
import sys, torch
sys.path.insert(0, 'tools')
from torch_to_safetensors import load_pickle
a, b = {}, {}
x, y = load_pickle('$T/tfg_back.pth', a), load_pickle('$T/tfg.pth', b)
sys.exit(0 if a['nhead'] == 4 and sorted(x) == sorted(k for k in y if 'rotary' not in k) and torch.equal(x['output.1.bias'], y['output.1.bias']) else 1)"
# the fallback unpickler (floats in a saved config) still refuses anything but tensors and values
$PY - "$T" <<'EOF'
import os, sys, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch %s/pwned" % sys.argv[1],))
torch.save({"config": {"dropout": 0.1}, "model_state_dict": {"embedding.weight": torch.zeros(2, 2)}, "x": Evil()}, sys.argv[1] + "/evil.pth")
EOF
$C $T/evil.pth -o $T/x >/dev/null 2>$T/e; rc=$?
check torch_convert_refuses_code test $rc -eq 1 -a ! -e $T/pwned -a -n "$(grep 'is not a tensor or a plain value' $T/e)"
