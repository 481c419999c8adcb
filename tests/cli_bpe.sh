# --tokens bpe (docs/tokens.md "bpe", docs/interop.md "Vocabularies"): NetGPT's hex text through
# a model's own byte-level BPE tokenizer.json (the tiny GPT-2 and Qwen2 style tokenizers of
# tools/torch_ref/bpe_ref.py). A corpus made with it records the tokenizer, reads back as the
# same packets, and a model imported with that tokenizer.json beside its weights fine-tunes on
# it without --new-embeddings (classify and generate), while another tokenizer is refused.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
F=tests/fixtures
QT=$F/bpe/qwen2/tokenizer.json
GT=$F/bpe/gpt2/tokenizer.json
$PKTLM prep tests/fixtures/toy_cls -o $T/bytes -q >/dev/null 2>&1
$PKTLM prep tests/fixtures/toy_cls --tokens bpe --tokenizer $QT -o $T/q -q >$T/out 2>$T/e; rc=$?
check prep_bpe test $rc -eq 0 -a -s $T/q/train.tok
check prep_bpe_vocab grep -q '"tokens": "bpe"' $T/q/vocab.json
check prep_bpe_records_tokenizer grep -q "\"tokenizer_sha256\": \"$(sha256sum $QT | cut -c1-64)\"" $T/q/vocab.json
# the same packets come back as from the byte corpus (NetGPT's text of both exports is the same)
$PKTLM export $T/bytes --format netgpt -o $T/nb >/dev/null 2>&1
$PKTLM export $T/q --format netgpt -o $T/nq >/dev/null 2>$T/e; rc=$?
check export_bpe test $rc -eq 0 -a -s $T/nq/traffic.txt
check export_bpe_same_packets cmp -s $T/nb/traffic.txt $T/nq/traffic.txt
check export_bpe_same_rows cmp -s $T/nb/train_dataset.tsv $T/nq/train_dataset.tsv
$PKTLM prep tests/fixtures/toy_cls --tokens bpe -o $T/x -q >/dev/null 2>$T/e; rc=$?
check prep_bpe_needs_tokenizer test $rc -eq 2 -a -n "$(grep -- '--tokenizer' $T/e)"
$PKTLM prep tests/fixtures/toy_cls --tokens bpe --tokenizer $T/none.json -o $T/x -q >/dev/null 2>$T/e; rc=$?
check prep_bpe_missing_tokenizer test $rc -eq 1 -a -n "$(grep 'none.json: cannot read' $T/e)"
# a model that speaks the tokenizer: trained here, written out as a Hugging Face folder with
# the tokenizer.json beside it, imported back (the checkpoint records the tokenizer)
$PKTLM pretrain --arch qwen2 --data $T/q --layers 1 --d-model 32 --heads 4 --ctx 64 --steps 2 --batch 2 --threads 1 --quiet -o $T/m.ckpt >/dev/null 2>$T/e
check pretrain_bpe test $? -eq 0 -a -s $T/m.ckpt
$PKTLM export-model $T/m.ckpt --format hf -o $T/hf >/dev/null 2>&1 && cp $QT $T/hf/
$PKTLM import $T/hf -o $T/imp.ckpt >$T/out 2>$T/e; rc=$?
check import_records_tokenizer test $rc -eq 0 -a -n "$(grep 'tokenizer    byte-level BPE (Qwen2 pattern)' $T/out)"
$PKTLM finetune --task classify --init $T/imp.ckpt --data $T/q --epochs 1 --batch 4 --seq-len 64 --threads 1 -o $T/c.ckpt >/dev/null 2>$T/e
check finetune_classify_bpe test $? -eq 0 -a -s $T/c.ckpt
$PKTLM eval --model $T/c.ckpt --data $T/q --threads 1 >$T/out 2>$T/e
check eval_bpe test $? -eq 0 -a -n "$(grep -i 'port' $T/out)"
$PKTLM finetune --task generate --init $T/imp.ckpt --data $T/q --steps 2 --batch 2 --threads 1 --quiet -o $T/g.ckpt >/dev/null 2>$T/e
check finetune_generate_bpe test $? -eq 0 -a -s $T/g.ckpt
$PKTLM generate --model $T/g.ckpt --flows 2 -o $T/g.pcap >/dev/null 2>$T/e; rc=$?
check generate_bpe_says test $rc -ne 0 -a -n "$(grep 'not supported yet' $T/e)"
# another tokenizer's corpus is refused by name
$PKTLM prep tests/fixtures/toy_cls --tokens bpe --tokenizer $GT -o $T/g2 -q >/dev/null 2>&1
$PKTLM finetune --task classify --init $T/imp.ckpt --data $T/g2 --epochs 1 --batch 4 --threads 1 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check other_tokenizer_refused test $rc -ne 0 -a ! -e $T/x.ckpt -a -n "$(grep 'another tokenizer' $T/e)"
# an imported model without a tokenizer.json keeps the QwenNet recipe's message
$PKTLM import $F/hf_qwen2_tied -o $T/qt.ckpt >/dev/null 2>&1
$PKTLM finetune --task classify --init $T/qt.ckpt --data $T/q --epochs 1 --threads 1 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check no_tokenizer_needs_new_embeddings test $rc -ne 0 -a ! -e $T/x.ckpt
