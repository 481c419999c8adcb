# pktlm finetune --task classify / eval / classify end to end on the separable toy task
# (tests/fixtures/toy_cls, made by tools/make_toy_classify.py): must reach 100%.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
M="--layers 1 --d-model 32 --heads 2 --ctx 128 --batch 16 --threads 1"

$PKTLM finetune --help >/dev/null; check finetune_help test $? -eq 0
$PKTLM finetune --task classify -o $T/x.ckpt 2>/dev/null; check finetune_usage test $? -eq 2
$PKTLM finetune --task nope --data x -o $T/x.ckpt 2>$T/elog; rc=$?
check finetune_unknown_task test $rc -eq 2 -a -n "$(grep -l "task must be classify, generate or field, got 'nope'" $T/elog)"
$PKTLM eval --help >/dev/null; check eval_help test $? -eq 0
$PKTLM classify --help >/dev/null; check classify_help test $? -eq 0

$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q; check toy_prep test $? -eq 0
$PKTLM finetune --task classify --data $T/toy $M --epochs 4 --lr 3e-3 -o $T/c.ckpt 2>$T/log
check finetune_runs test $? -eq 0
check finetune_outputs test -s $T/c.ckpt -a -s $T/c.csv
check finetune_progress grep -q "best validation macro-F1" $T/log
# SIGTERM (a job scheduler's stop) ends fine-tuning like Ctrl-C: the step finishes, the best
# classifier stays on disk, exit 0 (it used to kill the run: only SIGINT was caught)
$PKTLM finetune --task classify --data $T/toy $M --epochs 100000 --patience 0 -o $T/term.ckpt 2>$T/term.err &
pt=$!
for i in $(seq 1 600); do [ -f $T/term.csv ] && [ "$(wc -l <$T/term.csv)" -ge 2 ] && break; sleep 0.1; done
kill -TERM $pt
( sleep 60; kill -KILL $pt 2>/dev/null ) & guard=$!
wait $pt; rc=$?
kill $guard 2>/dev/null; wait $guard 2>/dev/null
check finetune_sigterm test $rc -eq 0 -a -s $T/term.ckpt -a -n "$(grep -l 'interrupted' $T/term.err)"

$PKTLM eval --model $T/c.ckpt --data $T/toy --json --svg $T/cm.svg >$T/e.json
check eval_runs test $? -eq 0
check eval_model_100 grep -q '"name": "model", "accuracy": 1.000000, "macro_f1": 1.000000' $T/e.json
check eval_baselines test "$(grep -cE '"name": "(majority|port lookup|forest)' $T/e.json)" -eq 4
check eval_svg grep -q "<svg" $T/cm.svg
# --predictions: one row per labelled test flow, the model's and the baselines' predictions
$PKTLM eval --model $T/c.ckpt --data $T/toy --predictions $T/pred.csv >/dev/null
check eval_predictions test $? -eq 0 -a "$(head -1 $T/pred.csv)" = "seq,file,flow,label,model,port_lookup,forest_ports,forest_no_ports" \
  -a "$(awk -F, 'NR > 1 && $4 == $5' $T/pred.csv | wc -l)" -eq "$(grep -o '"flows": [0-9]*' $T/e.json | cut -d' ' -f2)"
if command -v python3 >/dev/null; then
  python3 tools/classify_bootstrap.py $T/pred.csv --n 50 --json >$T/boot.json; check bootstrap_runs grep -q '"share_model_ahead"' $T/boot.json
else
  skip bootstrap_runs "no python3"
fi
$PKTLM eval --model $T/c.ckpt --data $T/toy --split val | grep -q "forest, header stats, no ports"
check eval_text test $? -eq 0

$PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls --csv >$T/rows.csv 2>$T/clog
check classify_runs test $? -eq 0
check classify_rows test "$(wc -l <$T/rows.csv)" -eq 241
check classify_rate grep -q "flows/s" $T/clog
# every flow of each folder gets the folder's label (the captures include the training flows)
wrong=0
for c in dns ntp web; do
  w=$($PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/$c --csv 2>/dev/null | awk -F, -v c=$c 'NR > 1 && $9 != c' | wc -l)
  wrong=$((wrong + w))
done
check classify_correct test "$wrong" -eq 0
bad=$($PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/web --csv --after 2 2>/dev/null | awk -F, 'NR > 1 && $9 != "web"' | wc -l)
check classify_after_web test "$bad" -eq 0
$PKTLM classify --model $T/c.ckpt tests/fixtures/toy_cls/dns/0.pcap --json 2>/dev/null | head -1 | grep -q '"top3": \[\["dns"'
check classify_json test $? -eq 0

# the classifier records the corpus's prep options (docs/classify.md): classify builds tokens
# with them by default, an explicit option may repeat them but not contradict them, and eval
# refuses a corpus made with other options
$PKTLM eval --model $T/c.ckpt --data $T/toy --json | grep -q '"prep": "",'; check eval_prep_defaults test $? -eq 0
$PKTLM prep tests/fixtures/toy_cls --payload 32 -o $T/toy32 -q
$PKTLM finetune --task classify --data $T/toy32 $M --epochs 2 --lr 3e-3 -o $T/c32.ckpt --quiet
check finetune_p32 test $? -eq 0
$PKTLM eval --model $T/c32.ckpt --data $T/toy32 --json | grep -q '"prep": "--payload 32",'; check eval_prep_recorded test $? -eq 0
$PKTLM classify --model $T/c32.ckpt tests/fixtures/toy_cls/dns --csv >$T/r32.csv 2>$T/clog
check classify_recorded test $? -eq 0 -a -z "$(grep -l note $T/clog)"
$PKTLM classify --model $T/c32.ckpt tests/fixtures/toy_cls/dns --csv --payload 32 --max-bytes 192 >$T/r32b.csv 2>/dev/null
check classify_repeat_ok cmp -s $T/r32.csv $T/r32b.csv
$PKTLM classify --model $T/c32.ckpt tests/fixtures/toy_cls/dns --payload 64 >/dev/null 2>$T/elog; rc=$?
check classify_contradiction test $rc -eq 2 -a -n "$(grep -l 'payload 64 contradicts.*--payload 32' $T/elog)"
$PKTLM classify --model $T/c32.ckpt tests/fixtures/toy_cls/dns --no-anon >/dev/null 2>$T/elog; rc=$?
check classify_contradiction_anon test $rc -eq 2 -a -n "$(grep -l 'no-anon contradicts' $T/elog)"
$PKTLM eval --model $T/c32.ckpt --data $T/toy >/dev/null 2>$T/elog; rc=$?
check eval_other_prep test $rc -eq 1 -a -n "$(grep -l 'payload 32 vs 64' $T/elog)"
# a classifier written before the slots existed (header ints 17..127 zero): loads, says so, and
# takes the options as before
cp $T/c32.ckpt $T/old.ckpt
dd if=/dev/zero of=$T/old.ckpt bs=4 seek=17 count=111 conv=notrunc 2>/dev/null
$PKTLM classify --model $T/old.ckpt tests/fixtures/toy_cls/dns --csv --payload 32 >$T/rold.csv 2>$T/clog
check classify_old_file test $? -eq 0 -a -n "$(grep -l 'does not record' $T/clog)"
check classify_old_same cmp -s $T/r32.csv $T/rold.csv
$PKTLM eval --model $T/old.ckpt --data $T/toy32 --json | grep -q '"prep": null,'; check eval_old_file test $? -eq 0

# --bf16 (mixed-precision training) where the CPU has avx512_bf16: the toy task still reaches 100%
if cpu_has avx512_bf16; then
  $PKTLM finetune --task classify --data $T/toy $M --epochs 4 --lr 3e-3 --bf16 -o $T/b.ckpt 2>$T/blog
  check finetune_bf16 test $? -eq 0 -a -n "$(grep -l 'bf16 products' $T/blog)"
  $PKTLM eval --model $T/b.ckpt --data $T/toy --json | grep -q '"name": "model", "accuracy": 1.000000, "macro_f1": 1.000000'
  check finetune_bf16_100 test $? -eq 0
else
  $PKTLM finetune --task classify --data $T/toy $M --epochs 1 --bf16 -o $T/b.ckpt 2>$T/elog; rc=$?
  check finetune_bf16_refused test $rc -eq 1 -a -n "$(grep -l AVX512_BF16 $T/elog)"
fi

# frozen encoder: head only, from the same (from-scratch) backbone as --init
$PKTLM finetune --task classify --data $T/toy $M --freeze --epochs 3 -o $T/f.ckpt --quiet; check finetune_frozen test $? -eq 0

# balanced sampling, last-token pooling, early classification on the first 2 packets
$PKTLM finetune --task classify --data $T/toy $M --balance sample --pooling last --max-packets 2 --epochs 2 --bucket 4 -o $T/s.ckpt --quiet
check finetune_sample_last_bucket test $? -eq 0
$PKTLM finetune --task classify --data $T/toy $M --bucket -1 -o $T/x.ckpt 2>$T/elog; rc=$?
check finetune_bad_bucket test $rc -eq 2 -a -n "$(grep -l 'bucket' $T/elog)"
$PKTLM eval --model $T/s.ckpt --data $T/toy --json | grep -q '"max_packets": 2, "pretrained": false, "frozen": false, "pooling": "last"'
check eval_reads_settings test $? -eq 0

# errors: a pretrained checkpoint is not a classifier
$PKTLM pretrain --data $T/toy --layers 1 --d-model 32 --heads 2 --ctx 64 --steps 3 --threads 1 -o $T/lm.ckpt --quiet
$PKTLM eval --model $T/lm.ckpt --data $T/toy 2>$T/elog; rc=$?
check eval_not_classifier test $rc -eq 1 -a -n "$(grep -l 'finetune --task classify' $T/elog)"
$PKTLM finetune --task classify --init $T/lm.ckpt --data $T/toy --epochs 1 --batch 8 --threads 1 -o $T/p.ckpt --quiet
check finetune_init test $? -eq 0

# real data (../shared/data, task A on three device types, split by capture): the pipeline runs
# and reports every baseline; scores themselves are in docs/classify.md
if [ -n "$PKTLM_SHARED" ] && [ -d "$PKTLM_SHARED/data/iot_sentinel/Aria" ]; then
  S=$PKTLM_SHARED/data
  $PKTLM prep $S/iot_sentinel/Aria $S/iot_sentinel/HueBridge $S/iot_sentinel/D-LinkCam \
    --file-labels $S/labels/files.csv:class --split capture -o $T/iot -q
  check shared_prep test $? -eq 0
  $PKTLM finetune --task classify --data $T/iot $M --max-steps 20 --epochs 1 -o $T/iot.ckpt --quiet
  check shared_finetune test $? -eq 0
  $PKTLM eval --model $T/iot.ckpt --data $T/iot --json >$T/iot.json
  check shared_eval test $? -eq 0 -a "$(grep -cE '"name": "(model|majority|port lookup|forest)' $T/iot.json)" -eq 5
else
  skip shared_classify "../shared/data absent"
fi
