# The Mamba-2 backbone from the command line: pretrain --arch mamba2 with its own options,
# info (text and JSON), resume, refused configs, finetune --task generate and classify, and
# generate (its recurrent step, mamba2.c; the same pcap whatever --batch; fp32 and --bf16).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--arch mamba2 --layers 2 --d-model 32 --d-state 16 --head-dim 16 --chunk 16 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/m.ckpt 2>$T/e; rc=$?
check mamba2_pretrain test $rc -eq 0 -a -s $T/m.ckpt
$PKTLM info $T/m.ckpt >$T/info 2>&1
check mamba2_info grep -q "mamba2: .*ctx 64, layers 2, d_model 32, tied 1, dropout 0, d_state 16, d_conv 4, expand 2, head_dim 16, chunk 16, groups 1" $T/info
$PKTLM info --json $T/m.ckpt >$T/j 2>&1
check mamba2_info_json grep -q '"arch":"mamba2",.*"d_state":16,"d_conv":4,"expand":2,"head_dim":16,"chunk":16,"groups":1' $T/j
$PKTLM pretrain --resume $T/m.ckpt --steps 25 --quiet -o $T/m.ckpt 2>/dev/null; check mamba2_resume test $? -eq 0
check mamba2_resume_step grep -q "step 25 of 25" <($PKTLM info $T/m.ckpt)
$PKTLM pretrain --data $T/c $M --head-dim 24 --steps 3 -o $T/x.ckpt 2>$T/e; rc=$?
check mamba2_bad_head_dim test $rc -ne 0 -a ! -e $T/x.ckpt -a -n "$(grep "head-dim must divide" $T/e)"
$PKTLM pretrain --data $T/c $M --groups 3 --steps 3 -o $T/x.ckpt 2>$T/e; rc=$?
check mamba2_bad_groups test $rc -ne 0 -a -n "$(grep "groups must divide" $T/e)"
$PKTLM pretrain --data $T/c --arch gpt2 --layers 1 --d-model 32 --heads 4 --d-state 16 --ctx 64 --steps 3 --quiet -o $T/x.ckpt 2>$T/e; rc=$?
check gpt2_refuses_d_state test $rc -ne 0 -a -n "$(grep "d-state is not a setting of the gpt2" $T/e)"
$PKTLM finetune --task generate --init $T/m.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/g.ckpt 2>/dev/null
check mamba2_finetune_generate test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 6 --batch 3 --label udp --seed 3 --threads 1 >$T/out 2>$T/err; rc=$?
check mamba2_generate test $rc -eq 0 -a -s $T/g.pcap
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check mamba2_generate_rereads test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/s.pcap --flows 6 --batch 1 --label udp --seed 3 --threads 2 >/dev/null 2>&1
check mamba2_generate_batch1_same cmp -s $T/g.pcap $T/s.pcap
if cpu_has avx512f; then
  $PKTLM generate --model $T/g.ckpt -o $T/b.pcap --flows 4 --batch 2 --label udp --seed 3 --bf16 --threads 1 >/dev/null 2>&1
  check mamba2_generate_bf16 test $? -eq 0 -a -s $T/b.pcap
fi
# a classifier on the three-class toy corpus, from scratch with a Mamba-2 encoder
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q
$PKTLM finetune --task classify --data $T/toy --arch mamba2 --layers 1 --d-model 32 --d-state 16 --head-dim 16 \
  --ctx 128 --epochs 3 --lr 3e-3 --threads 1 --quiet -o $T/k.ckpt >/dev/null 2>$T/e; rc=$?
check mamba2_finetune_classify test $rc -eq 0 -a -s $T/k.ckpt
$PKTLM classify --model $T/k.ckpt tests/fixtures/toy_cls/dns >$T/k.csv 2>$T/e; rc=$?
check mamba2_classify test $rc -eq 0 -a -s $T/k.csv
# NetSSM's sampler options: min-p and a repetition penalty; still independent of --batch
$PKTLM generate --model $T/g.ckpt -o $T/p3.pcap --flows 6 --batch 3 --label udp --seed 3 --min-p 0.05 --repetition-penalty 1.3 --threads 1 >/dev/null 2>&1; rc=$?
$PKTLM generate --model $T/g.ckpt -o $T/p1.pcap --flows 6 --batch 1 --label udp --seed 3 --min-p 0.05 --repetition-penalty 1.3 --threads 1 >/dev/null 2>&1
check mamba2_generate_min_p_penalty test $rc -eq 0 -a -s $T/p3.pcap
check mamba2_generate_penalty_batch_same cmp -s $T/p3.pcap $T/p1.pcap
check mamba2_generate_penalty_changes_output bash -c "! cmp -s $T/p3.pcap $T/g.pcap"
