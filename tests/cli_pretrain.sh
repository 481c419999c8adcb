# pktlm pretrain / info end to end on the committed tiny corpus (tests/fixtures/tiny_corpus).
source "$(dirname "$0")/cli.sh"
C=tests/fixtures/tiny_corpus
T=$PKTLM_TMP
M="--layers 2 --d-model 32 --heads 4 --ctx 32 --batch 4 --threads 1"

$PKTLM pretrain --help >/dev/null; check pretrain_help test $? -eq 0
$PKTLM pretrain -o $T/x.ckpt 2>/dev/null; check pretrain_usage test $? -eq 2

$PKTLM pretrain --data $C $M --steps 30 --lr 3e-3 --warmup 3 -o $T/m.ckpt 2>$T/log
rc=$?
check pretrain_runs test $rc -eq 0
check pretrain_outputs test -s $T/m.ckpt -a -s $T/m.csv -a -s $T/m.svg
check pretrain_csv_rows test "$(wc -l <$T/m.csv)" -eq 31
check pretrain_progress grep -q "step 30/30  loss" $T/log

$PKTLM info $T/m.ckpt >$T/info; check info_runs test $? -eq 0
check info_fields grep -q "step 30 of 30" $T/info
$PKTLM info --json $T/m.ckpt | grep -q '"parameters":' ; check info_json test $? -eq 0

# --bf16 (mixed precision) where the CPU has avx512_bf16; kept by the checkpoint and --resume
if cpu_has avx512_bf16; then
  $PKTLM pretrain --data $C $M --steps 6 --warmup 2 --bf16 --quiet -o $T/b.ckpt 2>/dev/null
  check bf16_runs test $? -eq 0
  $PKTLM info $T/b.ckpt | grep -q "bf16 products"; check bf16_in_info test $? -eq 0
  $PKTLM info --json $T/b.ckpt | grep -q '"precision":"bf16"'; check bf16_in_info_json test $? -eq 0
  $PKTLM pretrain --resume $T/b.ckpt --steps 8 --quiet -o $T/b.ckpt 2>/dev/null
  $PKTLM info $T/b.ckpt | grep -q "step 8 of 8.*bf16 products"; check bf16_resume_keeps test $? -eq 0
  $PKTLM pretrain --resume $T/b.ckpt --steps 9 --fp32 --quiet -o $T/b.ckpt 2>/dev/null
  $PKTLM info $T/b.ckpt | grep -q "step 9 of 9.*fp32"; check bf16_resume_fp32 test $? -eq 0
else
  $PKTLM pretrain --data $C $M --steps 2 --bf16 -o $T/b.ckpt 2>$T/elog; rc=$?
  check bf16_refused test $rc -eq 1 -a -n "$(grep -l AVX512_BF16 $T/elog)"
fi
$PKTLM info $T/m.ckpt | grep -q "packed, fp32"; check fp32_in_info test $? -eq 0

# Ctrl-C saves and exits cleanly; --resume continues to the end
$PKTLM pretrain --data $C $M --steps 100000 --save-every 0 -o $T/i.ckpt 2>$T/ilog &
pid=$!
for _ in $(seq 100); do [ -s $T/i.csv ] && [ "$(wc -l <$T/i.csv)" -gt 3 ] && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
check sigint_exit test $rc -eq 0
check sigint_saved grep -q "interrupted at step" $T/ilog
$PKTLM info $T/i.ckpt >$T/iinfo; check sigint_ckpt_valid test $? -eq 0
step=$(sed -n 's/^training *step \([0-9]*\) of.*/\1/p' $T/iinfo)
$PKTLM pretrain --resume $T/i.ckpt --steps $((step + 5)) -o $T/i.ckpt 2>/dev/null; check resume_runs test $? -eq 0
$PKTLM info $T/i.ckpt | grep -q "step $((step + 5)) of $((step + 5))"; check resume_reaches_end test $? -eq 0

# clear errors
$PKTLM pretrain --data $T/none $M --steps 2 -o $T/e.ckpt 2>$T/elog; rc=$?
check missing_corpus test $rc -eq 1 -a -n "$(grep -l 'none' $T/elog)"
head -c 3000 $T/m.ckpt >$T/cut.ckpt
$PKTLM info $T/cut.ckpt 2>$T/elog; rc=$?
check truncated_ckpt test $rc -eq 1 -a -n "$(grep -l 'truncated' $T/elog)"
$PKTLM pretrain --data $C --layers 48 --d-model 4096 --heads 32 --ctx 32 --steps 1 -o $T/big.ckpt 2>$T/elog; rc=$?
check too_big test $rc -eq 1 -a -n "$(grep -l 'needs .* GiB' $T/elog)"

# results do not depend on the thread count (row-partitioned products, fixed-order reductions)
for th in 1 2; do
  $PKTLM pretrain --data $C --layers 2 --d-model 64 --heads 4 --ctx 96 --batch 4 --steps 4 --dropout 0.1 \
    --threads $th --quiet -o $T/th$th.ckpt 2>/dev/null
done
check threads_bit_identical cmp -s <(cut -d, -f4,5 $T/th1.csv) <(cut -d, -f4,5 $T/th2.csv)
