# pktlm import / export-model (docs/interop.md, "Weights"): the hub-layout fixtures of
# tools/torch_ref/hf_ref.py in, a pktlm-trained model out and back in bit for bit (the payload
# after the 1024-byte header is the same file), and the errors a user meets.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
F=tests/fixtures
$PKTLM import $F/hf_gpt2 -o $T/g.ckpt >$T/out 2>$T/err; rc=$?
check import_gpt2 test $rc -eq 0 -a -s $T/g.ckpt
check import_gpt2_says grep -q "gpt2: 2 layers, d_model 32, 4 heads (4 key/value), d_ff 128, ctx 24, vocab 50, tied" $T/out
check import_gpt2_info grep -q "vocabulary   50 tokens, pad 49 bos 49 eos 49" <($PKTLM info $T/g.ckpt)
$PKTLM import $F/hf_qwen2 -o $T/q.ckpt >$T/out 2>&1; rc=$?
check import_qwen2_sharded_bf16 test $rc -eq 0 -a -n "$(grep "2 safetensors files, 27 tensors, bfloat16" $T/out)"
check import_qwen2_theta grep -q "rope_theta 1e+06, rms_norm_eps 1e-05" $T/out
# out and back: the same parameters, bit for bit
$PKTLM export-model $T/q.ckpt --format hf -o $T/qx >/dev/null 2>&1; rc=$?
check export_qwen2 test $rc -eq 0 -a -s $T/qx/model.safetensors -a -s $T/qx/config.json
check export_qwen2_config grep -q '"rope_theta":.*1000000' $T/qx/config.json
$PKTLM import $T/qx -o $T/q2.ckpt >/dev/null 2>&1
check roundtrip_qwen2_bits cmp -s <(tail -c +1025 $T/q.ckpt) <(tail -c +1025 $T/q2.ckpt)
$PKTLM export-model $T/g.ckpt -o $T/gx >/dev/null 2>&1 && $PKTLM import $T/gx -o $T/g2.ckpt >/dev/null 2>&1
check roundtrip_gpt2_bits cmp -s <(tail -c +1025 $T/g.ckpt) <(tail -c +1025 $T/g2.ckpt)
# transformers' own Mamba-2 layout in, and out again with --layout hf (mamba_ssm's by default)
$PKTLM import $F/hf_mamba2_transformers -o $T/m2.ckpt >$T/out 2>&1
check import_mamba2_transformers grep -q "mamba2 (transformers' Mamba2ForCausalLM): 2 layers, d_model 32, d_state 8" $T/out
$PKTLM export-model $T/m2.ckpt --format hf --layout hf -o $T/m2x >/dev/null 2>&1 && $PKTLM import $T/m2x -o $T/m2b.ckpt >/dev/null 2>&1
check export_mamba2_layout_hf grep -q '"model_type":[[:space:]]*"mamba2"' $T/m2x/config.json
check roundtrip_mamba2_hf_bits cmp -s <(tail -c +1025 $T/m2.ckpt) <(tail -c +1025 $T/m2b.ckpt)
$PKTLM export-model $T/m2.ckpt --format hf -o $T/m2s >/dev/null 2>&1
check export_mamba2_default_mamba_ssm grep -q '"ssm_cfg"' $T/m2s/config.json
$PKTLM export-model $T/g.ckpt --format hf --layout hf -o $T/y >/dev/null 2>$T/e; rc=$?
check export_layout_mamba2_only test $rc -eq 2 -a ! -e $T/y -a -n "$(grep -- "--layout is for mamba2" $T/e)"
# a shorter context: GPT-2 keeps its first learned positions
$PKTLM import $F/hf_gpt2 --ctx 16 -o $T/g16.ckpt >/dev/null 2>&1
check import_ctx grep -q '"vocab":50,"ctx":16,' <($PKTLM info --json $T/g16.ckpt)
# errors: usage 2, bad input 1, nothing written
$PKTLM import $F/hf_gpt2 >/dev/null 2>&1; check import_needs_out test $? -eq 2
$PKTLM import $F/hf_gpt2 --ctx 99 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check import_ctx_too_long test $rc -eq 2 -a ! -e $T/x.ckpt
$PKTLM import $T/nothing -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check import_missing test $rc -eq 1 -a ! -e $T/x.ckpt -a -n "$(grep "no such file or folder" $T/e)"
mkdir -p $T/ll && sed 's/"gpt2"/"llama"/' $F/hf_gpt2/config.json >$T/ll/config.json && cp $F/hf_gpt2/model.safetensors $T/ll/
$PKTLM import $T/ll -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check import_unknown_arch test $rc -eq 1 -a ! -e $T/x.ckpt -a -n "$(grep 'model_type "llama" is not one pktlm imports' $T/e)"
head -c 5000 $F/hf_gpt2/model.safetensors >$T/ll/model.safetensors; cp $F/hf_gpt2/config.json $T/ll/
$PKTLM import $T/ll -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check import_truncated test $rc -eq 1 -a ! -e $T/x.ckpt -a -n "$(grep 'model.safetensors: the tensors end at byte offset .* (truncated)' $T/e)"
$PKTLM export-model $T/g.ckpt --format onnx -o $T/y >/dev/null 2>&1; rc=$?
check export_format test $rc -eq 2 -a ! -e $T/y
$PKTLM export-model $T/nothing.ckpt -o $T/y >/dev/null 2>$T/e; check export_missing test $? -eq 1
$PKTLM --help | grep -q "export-model"; check verbs_listed test $? -eq 0
# the QwenNet recipe: an imported model (its own vocabulary) fine-tuned on a pktlm corpus with
# --new-embeddings: its body kept (RoPE theta, norms), fresh embedding and head for the corpus
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q >/dev/null 2>&1
$PKTLM import $F/hf_qwen2_tied -o $T/qt.ckpt >/dev/null 2>&1
$PKTLM finetune --task generate --init $T/qt.ckpt --data $T/toy --steps 2 --batch 2 --threads 1 --quiet -o $T/x.ckpt 2>$T/e; rc=$?
check recipe_needs_flag test $rc -eq 1 -a ! -e $T/x.ckpt -a -n "$(grep -- "--new-embeddings" $T/e)"
$PKTLM finetune --task generate --init $T/qt.ckpt --new-embeddings --data $T/toy --steps 3 --batch 2 --threads 1 --quiet -o $T/rg.ckpt 2>$T/e
check recipe_generate test $? -eq 0 -a -s $T/rg.ckpt
check recipe_keeps_body grep -q '"arch":"qwen2","vocab":358,"ctx":32,"layers":2,"d_model":32,"heads":4,"kv_heads":2,"d_ff":64,"tied":1' <($PKTLM info --json $T/rg.ckpt)
$PKTLM export-model $T/rg.ckpt -o $T/rgx >/dev/null 2>&1
check recipe_keeps_theta grep -q '"rope_theta":.*1000000' $T/rgx/config.json
# a model of pktlm's token format exports its vocabulary as a tokenizer; an imported one does not
check export_tokenizer grep -q '"<label:2>":[[:space:]]*357' $T/rgx/tokenizer.json
check export_tokenizer_config grep -q '"bos_token":[[:space:]]*"<bos>"' $T/rgx/tokenizer_config.json
check export_no_tokenizer_for_imported test ! -e $T/qx/tokenizer.json
$PKTLM finetune --task classify --init $T/qt.ckpt --new-embeddings --data $T/toy --epochs 1 --batch 8 --threads 1 -o $T/rc.ckpt >/dev/null 2>$T/e
check recipe_classify test $? -eq 0 -a -s $T/rc.ckpt
$PKTLM finetune --task field --field ip.ttl --init $T/qt.ckpt --new-embeddings --data $T/toy --epochs 1 --batch 8 --threads 1 -o $T/rf.ckpt >/dev/null 2>$T/e
check recipe_field test $? -eq 0 -a -s $T/rf.ckpt
$PKTLM finetune --task classify --init $T/qt.ckpt --data $T/toy --epochs 1 --threads 1 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check recipe_classify_needs_flag test $rc -eq 1 -a -n "$(grep -- "--new-embeddings" $T/e)"
