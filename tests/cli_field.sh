# pktlm finetune --task field / pktlm eval on a field model: help, usage errors, and a tiny
# end-to-end run on the toy captures (tests/fixtures/toy_cls: every TTL is 64, so the model
# must reach exact match 1.0, as the majority baseline does). The learning test proper (a
# field that is a function of earlier bytes) is tests/test_field.c.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
M="--layers 1 --d-model 32 --heads 2 --ctx 128 --batch 8 --threads 1"

$PKTLM finetune --task field --help >$T/h; check field_help test $? -eq 0
check field_help_lists grep -q "tcp.window  2 bytes" $T/h
$PKTLM finetune --task field --data $T -o $T/x.ckpt 2>$T/e; rc=$?
check field_missing test $rc -eq 2 -a -n "$(grep -l 'missing --field' $T/e)"
$PKTLM finetune --task field --field ip.nope --data $T -o $T/x.ckpt 2>$T/e; rc=$?
check field_unknown test $rc -eq 2 -a -n "$(grep -l "field must be a field listed by --help, got 'ip.nope'" $T/e)"
$PKTLM finetune --task field --field ip.ttl -o $T/x.ckpt 2>/dev/null; check field_needs_data test $? -eq 2
$PKTLM finetune --task field --field ip.ttl --data $T -o $T/x.ckpt --batch x 2>/dev/null; check field_bad_number test $? -eq 2
$PKTLM finetune --task field --field ip.ttl --data $T/none -o $T/x.ckpt 2>$T/e; rc=$?
check field_no_corpus test $rc -eq 1 -a -n "$(grep -l 'pktlm prep' $T/e)"
check field_no_output test ! -e $T/x.ckpt

$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q; check toy_prep test $? -eq 0
$PKTLM finetune --task field --field ip.ttl --data $T/toy $M --epochs 3 --lr 1e-2 -o $T/ttl.ckpt 2>$T/log
check field_runs test $? -eq 0
check field_outputs test -s $T/ttl.ckpt -a -s $T/ttl.csv
check field_csv_header grep -q '^epoch,step,lr,train_loss,val_exact,val_majority,val_copy,val_occurrences,elapsed_s$' $T/ttl.csv
check field_csv_rows test "$(wc -l <$T/ttl.csv)" -eq 4
check field_summary grep -q "best validation exact match 1.0000" $T/log

$PKTLM eval --model $T/ttl.ckpt --data $T/toy --json >$T/e.json; check eval_runs test $? -eq 0
check eval_field grep -q '"field": "ip.ttl", "width": 1' $T/e.json
check eval_model_100 grep -q '{"name": "model", "exact": 1.000000' $T/e.json
check eval_majority grep -q '{"name": "majority", "value": 64, "exact": 1.000000' $T/e.json
check eval_copy grep -q '{"name": "copy", "exact": 1.000000' $T/e.json
check eval_scratch grep -q '"fine_tuned": true, "pretrained": false' $T/e.json
$PKTLM eval --model $T/ttl.ckpt --data $T/toy --split val >$T/e.txt; check eval_text test $? -eq 0
check eval_text_table grep -q "copy (previous packet, same dir.)" $T/e.txt
$PKTLM eval --model $T/ttl.ckpt --data $T/toy --field ip.len 2>/dev/null; check eval_other_field test $? -eq 2
$PKTLM eval --model $T/ttl.ckpt --help | grep -q "^Exact match of a header-field model"; check eval_field_help test $? -eq 0
$PKTLM info $T/ttl.ckpt | grep -q "^task *header-field prediction of ip.ttl"; check info_task test $? -eq 0
$PKTLM info --json $T/ttl.ckpt | grep -q '"task":"field","field":"ip.ttl"'; check info_task_json test $? -eq 0

# a language model: scored as it is with --field (zero-shot), then fine-tuned from it
$PKTLM pretrain --data $T/toy --layers 1 --d-model 32 --heads 2 --ctx 128 --steps 3 --threads 1 -o $T/lm.ckpt --quiet
$PKTLM eval --model $T/lm.ckpt --field tcp.window --data $T/toy --json >$T/z.json; check eval_zero_shot test $? -eq 0
check eval_zero_shot_json grep -q '"field": "tcp.window".*"fine_tuned": false' $T/z.json
$PKTLM eval --model $T/lm.ckpt --data $T/toy 2>$T/e; rc=$?
check eval_lm_not_classifier test $rc -eq 1 -a -n "$(grep -l 'finetune --task classify' $T/e)"
$PKTLM finetune --task field --field udp.len --init $T/lm.ckpt --data $T/toy --max-steps 4 --batch 8 --threads 1 -o $T/u.ckpt --quiet
check field_init test $? -eq 0
$PKTLM eval --model $T/u.ckpt --data $T/toy --json | grep -q '"pretrained": true'; check eval_pretrained test $? -eq 0

# a corpus without the field
$PKTLM prep tests/fixtures/toy_cls/dns -o $T/dns -q --label dns
$PKTLM finetune --task field --field tcp.window --data $T/dns $M -o $T/w.ckpt 2>$T/e; rc=$?
check field_absent test $rc -eq 1 -a -n "$(grep -l 'no packet has the field tcp.window' $T/e)"
