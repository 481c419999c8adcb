# The linear-attention backbone from the command line: pretrain --arch linattn, the
# --tcpflowgen preset (and sizes given beside it overriding it), info (text and JSON), resume,
# a refused config, finetune --task generate and generate (the recurrent step through the
# linattn's own decoding step), finetune --task classify from it and classify.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--arch linattn --layers 1 --d-model 32 --heads 4 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/l.ckpt 2>$T/e; rc=$?
check linattn_pretrain test $rc -eq 0 -a -s $T/l.ckpt
$PKTLM info $T/l.ckpt >$T/info 2>&1
check linattn_info grep -q "linattn: vocab [0-9]*, ctx 64, layers 1, d_model 32, heads 4, kv_heads 4, d_ff 128, tied 0, dropout 0, chunk 64" $T/info
$PKTLM info --json $T/l.ckpt >$T/j 2>&1
check linattn_info_json grep -q '"arch":"linattn",.*"heads":4,"kv_heads":4,"d_ff":128,"tied":0,"dropout":0,"chunk":64' $T/j
$PKTLM pretrain --resume $T/l.ckpt --steps 25 --quiet -o $T/l.ckpt 2>/dev/null; check linattn_resume test $? -eq 0
check linattn_resume_step grep -q "step 25 of 25" <($PKTLM info $T/l.ckpt)
# the preset, with two sizes overridden (the full model is trained in docs/model.md, not here)
$PKTLM pretrain --data $T/c --tcpflowgen --layers 1 --ctx 64 --steps 2 --batch 2 --threads 1 --quiet -o $T/p.ckpt 2>/dev/null
check linattn_preset test $? -eq 0
check linattn_preset_info grep -q '"arch":"linattn",.*"ctx":64,"layers":1,"d_model":256,"heads":8,"kv_heads":8,"d_ff":1024,"tied":0,"dropout":0.1' <($PKTLM info --json $T/p.ckpt)
$PKTLM pretrain --data $T/c $M --tied --steps 3 -o $T/x.ckpt 2>$T/e; rc=$?
check linattn_refuses_tied test $rc -ne 0 -a ! -e $T/x.ckpt -a -n "$(grep "untied LM head" $T/e)"
$PKTLM pretrain --data $T/c $M --heads 32 --steps 3 -o $T/x.ckpt 2>$T/e; rc=$?
check linattn_refuses_odd_head test $rc -ne 0 -a -n "$(grep "must be even" $T/e)"
$PKTLM finetune --task generate --init $T/l.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/g.ckpt 2>/dev/null
check linattn_finetune_generate test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 6 --batch 3 --label udp --seed 3 --threads 1 >$T/out 2>$T/err; rc=$?
check linattn_generate test $rc -eq 0 -a -s $T/g.pcap
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check linattn_generate_rereads test $? -eq 0
# the same seed gives the same pcap whatever the batch; --bf16 decodes too (AVX-512)
$PKTLM generate --model $T/g.ckpt -o $T/g1.pcap --flows 6 --batch 1 --label udp --seed 3 --threads 1 >/dev/null 2>&1
check linattn_generate_batch1_same cmp -s $T/g.pcap $T/g1.pcap
if cpu_has avx512f; then
  $PKTLM generate --model $T/g.ckpt -o $T/b.pcap --flows 2 --bf16 --threads 1 >/dev/null 2>&1; check linattn_generate_bf16 test $? -eq 0 -a -s $T/b.pcap
else skip linattn_generate_bf16 "no AVX-512"; fi
# classification on top of a linattn backbone (the toy two-class task of cli_classify.sh)
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q >/dev/null 2>&1
$PKTLM pretrain --data $T/toy $M --steps 4 -o $T/tl.ckpt 2>/dev/null
$PKTLM finetune --task classify --init $T/tl.ckpt --data $T/toy --epochs 1 --max-steps 4 --threads 1 --quiet -o $T/k.ckpt 2>$T/e
check linattn_finetune_classify test $? -eq 0 -a -s $T/k.ckpt
$PKTLM classify --model $T/k.ckpt tests/fixtures/toy_cls --csv >$T/rows.csv 2>/dev/null
check linattn_classify test $? -eq 0 -a "$(wc -l <$T/rows.csv)" -eq 241
# the training kernel's chunk is a config field (speed only): stored, shown, same loss as 64 up to rounding
$PKTLM pretrain --data $T/c $M --chunk 16 --steps 3 --seed 9 -o $T/c16.ckpt 2>/dev/null
$PKTLM pretrain --data $T/c $M --steps 3 --seed 9 -o $T/c64.ckpt 2>/dev/null
check linattn_chunk_field grep -q '"chunk":16' <($PKTLM info --json $T/c16.ckpt)
l16=$($PKTLM info --json $T/c16.ckpt | sed 's/.*"loss":\([0-9.]*\).*/\1/'); l64=$($PKTLM info --json $T/c64.ckpt | sed 's/.*"loss":\([0-9.]*\).*/\1/')
check linattn_chunk_same_loss python3 -c "import sys; a, b = float('$l16'), float('$l64'); sys.exit(0 if abs(a - b) <= 1e-4 * b else 1)"
