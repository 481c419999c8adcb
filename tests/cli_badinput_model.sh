# Hostile input to the model side (issue 13, part A): short rows through attention, the
# classifier's header checksum, training fields of a checkpoint on --resume, labels, output
# locks and paths, and option bounds of training and generation. Each case failed before
# its fix. tests/cli_badinput.sh covers capture input and output files.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
S="--layers 1 --d-model 32 --heads 2 --threads 1 --quiet"

# onepkt FILE HOSTBYTE: a raw-IP pcap whose only flow is one bare 20-byte IP packet
# (protocol 253, no payload): 25 tokens, shorter than a default classifier's head size (32)
onepkt() {
  local s=""
  s+=$(le32 0xa1b2c3d4)$(b 2 0 4 0)$(le32 0)$(le32 0)$(le32 65535)$(le32 101)
  s+=$(le32 1700000000)$(le32 0)$(le32 20)$(le32 20)
  s+=$(b 0x45 0)$(be16 20)$(be16 1)$(b 0x40 0 64 253 0 0)$(b 10 9 $2 1)$(b 172 16 9 1)
  printf "%b" "$s" > "$1"
}

# ---- item 1: rows shorter than the head size through attention (heap overflow before) ----
$PKTLM prep examples -o $T/ex -q; check short_prep test $? -eq 0
for arch in gpt2 qwen2; do
  fails=""
  for ctx in 2 5 8 14; do
    $PKTLM pretrain --arch $arch --data $T/ex -o $T/short.ckpt $S --ctx $ctx --steps 1 --batch 2 >/dev/null 2>$T/short.err \
      || fails+=" ctx$ctx:$(tail -1 $T/short.err)"
  done
  check short_pretrain_$arch test -z "$fails"
done
# a labelled corpus (two folders of 12 three-packet flows) for the classifier cases
mkdir -p $T/lab/alpha $T/lab/beta
capture $T/lab/alpha/a.pcap 1; capture $T/lab/beta/b.pcap 2
$PKTLM prep $T/lab -o $T/labc -q; check short_prep_labelled test $? -eq 0
for arch in gpt2 qwen2; do
  fails=""
  for sl in 2 7 12; do
    $PKTLM finetune --task classify --arch $arch --data $T/labc -o $T/cs.ckpt $S --ctx 64 --epochs 1 --seq-len $sl \
      >/dev/null 2>$T/short.err || fails+=" seq-len$sl:$(tail -1 $T/short.err)"
  done
  check short_finetune_$arch test -z "$fails"
done
# classify over a folder of one-packet flows, with a classifier trained with the defaults
# (d-model 128, 4 heads: head size 32, longer than these rows); every file gets its row
mkdir -p $T/one
for h in 1 2 3; do onepkt $T/one/p$h.pcap $h; done
capture $T/one/z_three.pcap 4
for arch in gpt2 qwen2; do
  $PKTLM finetune --task classify --arch $arch --data $T/labc -o $T/cd_$arch.ckpt --epochs 1 --threads 1 --quiet 2>$T/short.err
  check short_default_classifier_$arch test $? -eq 0
  for bs in 32 1; do
    $PKTLM classify --model $T/cd_$arch.ckpt $T/one --csv --batch $bs >$T/one.csv 2>$T/short.err; rc=$?
    check short_classify_${arch}_batch$bs test $rc -eq 0 -a "$(grep -c '^p[123].pcap,' $T/one.csv)" -eq 3 \
      -a "$(grep -c '^z_three.pcap,' $T/one.csv)" -eq 12
  done
done

# ---- header patching (python3): patch FILE KIND SLOT TYPE VALUE SUM --------------------
# KIND ckpt (header checksum at int32 slots 61..62, payload checksum 52..53) or cls (header
# checksum 64..65). TYPE f32|i32|u64. SUM: fix (recompute the header checksum, as a forger
# would), zero (0 = "written before the checksum existed"), keep (leave it: a flipped field).
# TYPE nan: parameter number SLOT of an LM checkpoint becomes NaN, both checksums recomputed.
patch() {
  python3 - "$@" <<'PY'
import struct, sys
path, kind, slot, typ, val, how = sys.argv[1:7]
b = bytearray(open(path, 'rb').read())
slot = int(slot)
M = (1 << 64) - 1
def fnv_bytes(h, data):
    for x in data: h = ((h ^ x) * 0x100000001b3) & M
    return h
hs = 61 if kind == 'ckpt' else 64
if typ == 'nan':
    struct.pack_into('<I', b, 1024 + 4 * slot, 0x7fc00000)
    h = 0xcbf29ce484222325
    for (w,) in struct.iter_unpack('<I', bytes(b[1024:])): h = ((h ^ w) * 0x100000001b3) & M
    struct.pack_into('<Q', b, 4 * 52, h)
    how = 'fix'
elif typ == 'f32': struct.pack_into('<f', b, 4 * slot, float(val))
elif typ == 'i32': struct.pack_into('<i', b, 4 * slot, int(val))
elif typ == 'u64': struct.pack_into('<Q', b, 4 * slot, int(val))
if how == 'zero': struct.pack_into('<Q', b, 4 * hs, 0)
elif how == 'fix':
    h = bytearray(b[:1024]); h[4 * hs:4 * hs + 8] = bytes(8)
    x = fnv_bytes(0xcbf29ce484222325, h)
    struct.pack_into('<Q', b, 4 * hs, x if x else 1)
open(path, 'wb').write(b)
PY
}
have_py=1; command -v python3 >/dev/null || have_py=0

# refused NAME CMD...: exit 1 with a message naming the file, no crash
refused() {
  local name=$1; shift
  "$@" >/dev/null 2>$T/r.err; local rc=$?
  if [ $rc -eq 1 ] && grep -q "corrupt" $T/r.err; then ok "$name"; else bad "$name" "rc=$rc $(head -c 300 $T/r.err)"; fi
}

# ---- item 2: the classifier file's header is checksummed; its fields range-checked anyway ----
if [ $have_py = 1 ]; then
  C=$T/cd_gpt2.ckpt
  # seq_len (slot 6) and the corpus's --packets (slot 19) flipped: the header checksum notices
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 6 i32 3 keep
  refused cls_hdrsum_seq_len $PKTLM classify --model $T/k.ckpt $T/one
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 19 i32 0 keep
  refused cls_hdrsum_packets $PKTLM classify --model $T/k.ckpt $T/one
  check cls_hdrsum_message grep -q "header checksum mismatch" $T/r.err
  # a header checksum of 0 (a file written before it) still has its fields checked
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 19 i32 0 zero
  refused cls_zero_sum_packets $PKTLM classify --model $T/k.ckpt $T/one
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 4 i32 7 zero
  refused cls_zero_sum_pooling $PKTLM eval --model $T/k.ckpt --data $T/labc
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 6 i32 100000 zero
  refused cls_zero_sum_seq_len $PKTLM classify --model $T/k.ckpt $T/one
  # and such a file with sane fields still loads (older classifiers keep working)
  cp $C $T/k.ckpt; patch $T/k.ckpt cls 0 none 0 zero
  $PKTLM classify --model $T/k.ckpt $T/one --csv >/dev/null 2>&1; check cls_zero_sum_loads test $? -eq 0
else
  for n in cls_hdrsum_seq_len cls_hdrsum_packets cls_hdrsum_message cls_zero_sum_packets cls_zero_sum_pooling cls_zero_sum_seq_len cls_zero_sum_loads; do skip $n "no python3"; done
fi

# ---- item 8: training fields of a checkpoint range-checked on --resume -------------------
$PKTLM pretrain --data $T/ex -o $T/r.ckpt $S --ctx 16 --steps 2 --batch 2 2>/dev/null; check resume_base test $? -eq 0
if [ $have_py = 1 ]; then
  # slot type value: lr NaN / inf, beta2 -1, eps NaN, clip NaN, step 2^63, warmup INT_MIN, accum 100000
  for c in "lr:41:f32:nan" "lr_inf:41:f32:inf" "beta2:45:f32:-1" "eps:46:f32:nan" "clip:47:f32:nan" \
           "step:22:u64:9223372036854775808" "warmup:37:i32:-2147483648" "accum:35:i32:100000"; do
    IFS=: read -r n sl ty v <<<"$c"
    for how in fix zero; do
      cp $T/r.ckpt $T/k.ckpt; patch $T/k.ckpt ckpt $sl $ty $v $how
      refused resume_${n}_$how $PKTLM pretrain --resume $T/k.ckpt -o $T/k2.ckpt --steps 4 --quiet
    done
  done
  check resume_field_named grep -q "training field accum" $T/r.err
  # NaN weights with valid checksums: refused by resume and generate
  cp $T/r.ckpt $T/k.ckpt; patch $T/k.ckpt ckpt 5 nan 0 fix
  refused resume_nan_weight $PKTLM pretrain --resume $T/k.ckpt -o $T/k2.ckpt --steps 4 --quiet
  check nan_weight_named grep -q "tensor wte" $T/r.err
  refused generate_nan_weight $PKTLM generate --model $T/k.ckpt -o $T/g.pcap --flows 2
  # the untouched checkpoint still resumes
  $PKTLM pretrain --resume $T/r.ckpt -o $T/r2.ckpt --steps 3 --quiet 2>$T/r.err; check resume_ok test $? -eq 0
else
  skip resume_fields "no python3"
fi

# ---- item 13: an output inside the input corpus is refused (it overwrote train.tok) ----------
cp $T/ex/train.tok $T/train.before
$PKTLM pretrain --data $T/ex -o $T/ex/train.tok $S --ctx 16 --steps 1 --batch 2 2>$T/o.err; rc=$?
check out_in_corpus_refused test $rc -eq 1 -a -n "$(grep -l 'inside the input corpus' $T/o.err)"
check out_in_corpus_untouched cmp -s $T/ex/train.tok $T/train.before
mkdir -p $T/ex/sub; ln -sfn $T/ex $T/exlink
$PKTLM pretrain --data $T/exlink -o $T/ex/sub/m.ckpt $S --ctx 16 --steps 1 --batch 2 2>$T/o.err
check out_in_corpus_link test $? -eq 1 -a ! -e $T/ex/sub/m.ckpt -a -n "$(grep -l 'inside the input corpus' $T/o.err)"
$PKTLM finetune --task classify --data $T/labc -o $T/labc/c.ckpt $S --epochs 1 2>$T/o.err
check out_in_corpus_finetune test $? -eq 1 -a ! -e $T/labc/c.ckpt -a -n "$(grep -l 'inside the input corpus' $T/o.err)"
$PKTLM finetune --task field --field ip.ttl --data $T/labc -o $T/labc/../labc/f.ckpt $S --epochs 1 2>$T/o.err
check out_in_corpus_field test $? -eq 1 -a ! -e $T/labc/f.ckpt -a -n "$(grep -l 'inside the input corpus' $T/o.err)"

# ---- item 11: two runs with the same -o: the second is refused while the first holds it --------
$PKTLM pretrain --data $T/ex -o $T/lk.ckpt $S --ctx 16 --steps 100000 --batch 2 --eval-every 1000000 2>/dev/null &
p1=$!
for i in $(seq 1 300); do [ -e $T/lk.ckpt.lock ] && break; sleep 0.1; done
$PKTLM pretrain --data $T/ex -o $T/lk.ckpt $S --ctx 16 --steps 2 --batch 2 2>$T/lk.err; rc=$?
check lock_second_refused test $rc -eq 1 -a -n "$(grep -l 'being written by another pktlm run' $T/lk.err)"
$PKTLM finetune --task classify --data $T/labc -o $T/lk.ckpt $S --epochs 1 2>$T/lk.err
check lock_finetune_refused test $? -eq 1
kill -INT $p1; wait $p1; rc=$?
check lock_first_finishes test $rc -eq 0 -a -s $T/lk.ckpt -a ! -e $T/lk.ckpt.lock
# every row of the log is the first run's: steps 1, 2, ... once each
check lock_log_clean test "$(awk -F, 'NR > 1 { if ($1 != NR - 1) bad = 1 } END { print bad + 0 }' $T/lk.csv)" -eq 0
# a lock left by a killed run does not block the next one (flock dies with its holder)
$PKTLM pretrain --data $T/ex -o $T/lk2.ckpt $S --ctx 16 --steps 100000 --batch 2 --eval-every 1000000 2>/dev/null &
p2=$!
for i in $(seq 1 300); do [ -e $T/lk2.ckpt.lock ] && break; sleep 0.1; done
kill -KILL $p2; wait $p2 2>/dev/null
$PKTLM pretrain --data $T/ex -o $T/lk2.ckpt $S --ctx 16 --steps 2 --batch 2 2>$T/lk.err
check lock_stale_ok test $? -eq 0

# ---- item 9: labels come from vocab.json only; names escaped; a bad vocab.json is noticed ----
# a hand-edited (swapped) labels.txt changes nothing: the classifier's classes are vocab.json's
cp -r $T/labc $T/swap
printf 'beta\nalpha\n' > $T/swap/labels.txt
$PKTLM finetune --task classify --data $T/swap -o $T/sw.ckpt $S --epochs 1 2>$T/l.err
check labels_swapped_finetune test $? -eq 0
$PKTLM eval --model $T/sw.ckpt --data $T/labc --json >$T/l.json 2>$T/l.err
check labels_vocab_json_truth test $? -eq 0 -a -n "$(grep -l '"labels": \["alpha", "beta"\]' $T/l.json)"
# a label folder with a newline in its name: one label, one escaped line of labels.txt
nl=$'a\nb'
mkdir -p "$T/nl/$nl" $T/nl/c
capture "$T/nl/$nl/x.pcap" 5; capture $T/nl/c/y.pcap 6
$PKTLM prep $T/nl -o $T/nlc -q; check labels_newline_prep test $? -eq 0
check labels_newline_lines test "$(wc -l <$T/nlc/labels.txt)" -eq 2 -a "$(head -1 $T/nlc/labels.txt)" = 'a\nb'
$PKTLM finetune --task classify --data $T/nlc -o $T/nl.ckpt $S --epochs 1 2>$T/l.err
$PKTLM eval --model $T/nl.ckpt --data $T/nlc --json >$T/l.json 2>$T/l.err
check labels_newline_eval test $? -eq 0 -a -n "$(grep -lF '"labels": ["a\u000ab", "c"]' $T/l.json)"
$PKTLM classify --model $T/nl.ckpt $T/nl --csv >$T/l.csv 2>$T/l.err
check labels_newline_csv test $? -eq 0 -a "$(python3 -c 'import csv,sys; print(len(list(csv.reader(open(sys.argv[1])))))' $T/l.csv 2>/dev/null || echo 25)" -eq 25
# missing or damaged vocab.json: every verb that reads the corpus says so (exit 1)
cp -r $T/labc $T/novoc; rm $T/novoc/vocab.json
cp -r $T/labc $T/badvoc; head -c 40 $T/labc/vocab.json > $T/badvoc/vocab.json
cp -r $T/labc $T/othvoc; sed 's/"beta"/"beta", "gamma"/' $T/labc/vocab.json > $T/othvoc/vocab.json
$PKTLM finetune --task field --field ip.ttl --data $T/labc -o $T/fm.ckpt $S --epochs 1 2>/dev/null
for c in novoc badvoc othvoc; do
  fails=""
  $PKTLM eval --model $T/fm.ckpt --data $T/$c 2>$T/v.err >/dev/null; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" eval-field"
  $PKTLM pretrain --data $T/$c -o $T/v.ckpt $S --ctx 16 --steps 1 --batch 2 2>$T/v.err; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" pretrain"
  $PKTLM finetune --task classify --data $T/$c -o $T/v.ckpt $S --epochs 1 2>$T/v.err; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" finetune"
  $PKTLM finetune --task field --field ip.ttl --data $T/$c -o $T/v.ckpt $S --epochs 1 2>$T/v.err; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" field"
  $PKTLM finetune --task generate --init $T/r.ckpt --data $T/$c -o $T/v.ckpt --threads 1 --quiet --steps 1 --batch 2 2>$T/v.err; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" generate"
  $PKTLM eval --model $T/cd_gpt2.ckpt --data $T/$c 2>$T/v.err >/dev/null; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" eval"
  $PKTLM export $T/$c --format netssm -o $T/vx 2>$T/v.err >/dev/null; [ $? -eq 1 ] && grep -q vocab.json $T/v.err || fails+=" export"
  check vocab_${c}_noticed test -z "$fails"
  [ -n "$fails" ] && echo "  not noticed by:$fails"
done

# ---- items 10, 14: generate --window and --label, finetune --init shape, --lr underflow ------
$PKTLM pretrain --data $T/labc -o $T/g.ckpt $S --ctx 64 --steps 1 --batch 2 2>/dev/null
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 2 --window 1e10 2>$T/g.err
check generate_window_bound test $? -eq 2 -a -n "$(grep -l 'window must be 0..1e+08' $T/g.err)"
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 2 --label 99 2>$T/g.err; r1=$?
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 2 --label Bogus 2>$T/g2.err; r2=$?
check generate_label_exit_same test $r1 -eq 2 -a $r2 -eq 2 -a -n "$(grep -l 'alpha' $T/g.err)" -a -n "$(grep -l 'alpha' $T/g2.err)"
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 2 --label beta --quiet 2>$T/g.err
check generate_label_name test $? -eq 0
$PKTLM finetune --task classify --init $T/g.ckpt --data $T/labc -o $T/fi.ckpt --ctx 128 --layers 3 --epochs 1 --threads 1 --quiet 2>$T/fi.err
check finetune_init_shape_warns test $? -eq 0 -a -n "$(grep -l 'ignoring --ctx --layers' $T/fi.err)"
$PKTLM pretrain --data $T/ex -o $T/x.ckpt --lr 1e-50 2>$T/lr.err
check lr_underflow_names_option test $? -eq 2 -a -n "$(grep -l -- '--lr 1e-50' $T/lr.err)"

# ---- item 14: --resume keeps --eval-every; the log is written with the checkpoint -----------
$PKTLM pretrain --data $T/ex -o $T/ev.ckpt $S --ctx 16 --steps 2 --batch 2 --eval-every 3 2>/dev/null
$PKTLM pretrain --resume $T/ev.ckpt -o $T/ev.ckpt --steps 6 --quiet 2>/dev/null
check resume_eval_every test "$(awk -F, 'NR > 1 && $5 != "" { printf "%s ", $1 }' $T/ev.csv)" = "2 3 6 "
cp $T/ev.csv $T/ev.before; cp $T/ev.svg $T/ev.svg.before
$PKTLM pretrain --data $T/ex -o $T/ev.ckpt $S --ctx 16 --steps 100000 --batch 2 2>/dev/null &
p3=$!
sleep 3; kill -KILL $p3; wait $p3 2>/dev/null
check killed_run_keeps_log cmp -s $T/ev.csv $T/ev.before
check killed_run_keeps_svg cmp -s $T/ev.svg $T/ev.svg.before

# ---- item 14: eval --predictions says why it cannot write; eval's error paths do not leak --------
$PKTLM eval --model $T/cd_gpt2.ckpt --data $T/labc --predictions $T/nodir/p.csv >/dev/null 2>$T/e.err
check eval_predictions_reason test $? -eq 1 -a -n "$(grep -l 'No such file or directory' $T/e.err)"
for c in novoc badvoc; do
  $PKTLM eval --model $T/cd_gpt2.ckpt --data $T/$c >/dev/null 2>$T/e.err; rc=$?
  check eval_error_no_leak_$c test $rc -eq 1 -a -z "$(grep -l 'LeakSanitizer' $T/e.err)"
done
mkdir -p $T/notest; cp $T/labc/train.tok $T/labc/vocab.json $T/notest/
$PKTLM eval --model $T/cd_gpt2.ckpt --data $T/notest >/dev/null 2>$T/e.err; rc=$?
check eval_error_no_leak_split test $rc -eq 1 -a -z "$(grep -l 'LeakSanitizer' $T/e.err)"
