# --tokens bpe (docs/tokens.md "bpe", docs/interop.md "Vocabularies"): NetGPT's hex text through
# a model's own byte-level BPE tokenizer.json (the tiny GPT-2 and Qwen2 style tokenizers of
# tools/torch_ref/bpe_ref.py). A corpus made with it records the tokenizer, reads back as the
# same packets, and a model imported with that tokenizer.json beside its weights fine-tunes on
# it without --new-embeddings (classify and generate), while another tokenizer is refused; the
# classifier classifies captures alone (it embeds the tokenizer), the generator writes a valid
# trace, and header-field prediction refuses the format with its reason.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
F=tests/fixtures
QT=$F/bpe/qwen2/tokenizer.json
GT=$F/bpe/gpt2/tokenizer.json
# (--no-anon: classify encodes each capture as the corpus's only one, so that its flows' tokens,
# and the labels, are the corpus's whatever their capture's place among prep's inputs)
$PKTLM prep tests/fixtures/toy_cls --no-anon -o $T/bytes -q >/dev/null 2>&1
$PKTLM prep tests/fixtures/toy_cls --no-anon --tokens bpe --tokenizer $QT -o $T/q -q >$T/out 2>$T/e; rc=$?
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
$PKTLM pretrain --arch qwen2 --data $T/q --layers 1 --d-model 32 --heads 4 --ctx 1024 --steps 2 --batch 2 --threads 1 --quiet -o $T/m.ckpt >/dev/null 2>$T/e
check pretrain_bpe test $? -eq 0 -a -s $T/m.ckpt
$PKTLM export-model $T/m.ckpt --format hf -o $T/hf >/dev/null 2>&1 && cp $QT $T/hf/
$PKTLM import $T/hf -o $T/imp.ckpt >$T/out 2>$T/e; rc=$?
check import_records_tokenizer test $rc -eq 0 -a -n "$(grep 'tokenizer    byte-level BPE (Qwen2 pattern)' $T/out)"
$PKTLM finetune --task classify --init $T/imp.ckpt --data $T/q --epochs 1 --batch 4 --seq-len 64 --threads 1 -o $T/c.ckpt >/dev/null 2>$T/e
check finetune_classify_bpe test $? -eq 0 -a -s $T/c.ckpt
$PKTLM eval --model $T/c.ckpt --data $T/q --threads 1 >$T/out 2>$T/e
check eval_bpe test $? -eq 0 -a -n "$(grep -i 'port' $T/out)"
# classify: the classifier carries its tokenizer.json, so the captures are encoded as prep
# encoded the corpus and every flow eval scores gets eval's label
for s in train val test; do $PKTLM eval --model $T/c.ckpt --data $T/q --split $s --threads 1 --predictions $T/p_$s.csv >/dev/null 2>&1; done
for c in dns ntp web; do
  $PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/$c --csv --threads 1 2>$T/ce | sed "1d; s|^|$c/|" >>$T/cls.csv
done
check classify_bpe test -s $T/cls.csv -a -z "$(grep -i error $T/ce)"
python3 - $T/q/manifest.json $T/cls.csv $T/p_train.csv $T/p_val.csv $T/p_test.csv >$T/cmp 2>&1 <<'PY'
import csv, json, os, sys
inp = json.load(open(sys.argv[1]))["inputs"]
name = lambda i: "/".join(inp[i]["path"].split("/")[-2:])
cls = {(r[0], r[1]): r[8] for r in csv.reader(open(sys.argv[2]))}
n = bad = 0
for f in sys.argv[3:]:
    for r in csv.DictReader(open(f)):
        n += 1
        if cls.get((name(int(r["file"])), r["flow"])) != r["model"]: bad += 1
print(n, bad)
PY
read n nbad <$T/cmp
check classify_bpe_same_as_eval test "${n:-0}" -gt 100 -a "${nbad:-1}" -eq 0
# a classifier written before classifiers embedded the tokenizer takes --tokenizer, checked by hash
$PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/dns/0.pcap --tokenizer $QT --csv >$T/ct.csv 2>$T/e
check classify_bpe_tokenizer_option test $? -eq 0 -a "$(wc -l <$T/ct.csv)" -gt 1
$PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/dns/0.pcap --tokenizer $GT >/dev/null 2>$T/e; rc=$?
check classify_bpe_other_tokenizer test $rc -ne 0 -a -n "$(grep 'another tokenizer' $T/e)"
# a damaged embedded tokenizer: its hash is no longer the backbone's
cp $T/c.ckpt $T/cd.ckpt
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); i=b.find(b'\"merges\"'); b[i+1]^=0x20; open(p,'wb').write(b)" $T/cd.ckpt
$PKTLM classify --model $T/cd.ckpt tests/fixtures/toy_cls/dns/0.pcap >/dev/null 2>$T/e; rc=$?
check classify_bpe_damaged_tokenizer test $rc -ne 0 -a -n "$(grep 'embedded tokenizer.json' $T/e)"
# header-field prediction refuses bpe corpora and says why
$PKTLM finetune --task field --field ip.ttl --init $T/imp.ckpt --data $T/q --max-steps 1 --threads 1 -o $T/f.ckpt >/dev/null 2>$T/e; rc=$?
check field_bpe_refused test $rc -ne 0 -a ! -e $T/f.ckpt -a -n "$(grep 'a BPE token is not a byte' $T/e)"
$PKTLM finetune --task generate --init $T/imp.ckpt --data $T/q --steps 2 --batch 2 --threads 1 --quiet -o $T/g.ckpt >/dev/null 2>$T/e
check finetune_generate_bpe test $? -eq 0 -a -s $T/g.ckpt
# generate: tokens -> text under the character grammar -> packets -> the trace writer
$PKTLM generate --model $T/g.ckpt --flows 4 --threads 1 --json -o $T/g.pcap >$T/gj 2>$T/e; rc=$?
check generate_bpe test $rc -eq 0 -a -s $T/g.pcap
check generate_bpe_packets test "$(grep -o '"packets_written":[0-9]*' $T/gj | cut -d: -f2)" -gt 4
check generate_bpe_none_dropped grep -q '"dropped":0,' $T/gj
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check generate_bpe_rereads test $? -eq 0
if [ -n "$PKTLM_SHARED" ] && command -v tshark >/dev/null 2>&1; then
  bash $PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh $T/g.pcap >$T/v 2>&1; check generate_bpe_validate test $? -eq 0
else skip generate_bpe_validate "no ../shared or tshark"; fi
$PKTLM generate --model $T/g.ckpt --flows 2 --threads 1 --prompt-pcap tests/fixtures/toy_cls/dns/0.pcap --prompt-packets 1 \
  -o $T/gp.pcap >/dev/null 2>$T/e
check generate_bpe_prompt test $? -eq 0 -a -s $T/gp.pcap
$PKTLM generate --model $T/g.ckpt --flows 1 --tokenizer $GT -o $T/x.pcap >/dev/null 2>$T/e; rc=$?
check generate_bpe_other_tokenizer test $rc -ne 0 -a ! -e $T/x.pcap -a -n "$(grep 'another tokenizer' $T/e)"
# another tokenizer's corpus is refused by name
$PKTLM prep tests/fixtures/toy_cls --tokens bpe --tokenizer $GT -o $T/g2 -q >/dev/null 2>&1
$PKTLM finetune --task classify --init $T/imp.ckpt --data $T/g2 --epochs 1 --batch 4 --threads 1 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check other_tokenizer_refused test $rc -ne 0 -a ! -e $T/x.ckpt -a -n "$(grep 'another tokenizer' $T/e)"
# an imported model without a tokenizer.json keeps the QwenNet recipe's message
$PKTLM import $F/hf_qwen2_tied -o $T/qt.ckpt >/dev/null 2>&1
$PKTLM finetune --task classify --init $T/qt.ckpt --data $T/q --epochs 1 --threads 1 -o $T/x.ckpt >/dev/null 2>$T/e; rc=$?
check no_tokenizer_needs_new_embeddings test $rc -ne 0 -a ! -e $T/x.ckpt
