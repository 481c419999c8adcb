# The Qwen2 backbone from the command line: pretrain --arch qwen2 (grouped-query attention,
# --kv-heads / --d-ff / --tied), info (text and JSON), resume, a refused config, finetune
# --task generate and generate (its own decoding step, qwen2.c; fp32 and --bf16).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--arch qwen2 --layers 1 --d-model 32 --heads 4 --kv-heads 2 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/q.ckpt 2>$T/e; rc=$?
check qwen2_pretrain test $rc -eq 0 -a -s $T/q.ckpt
$PKTLM info $T/q.ckpt >$T/info 2>&1
check qwen2_info grep -q "qwen2: .*ctx 64, layers 1, d_model 32, heads 4, kv_heads 2, d_ff 96, tied 0, dropout 0, rope_theta 10000" $T/info
$PKTLM info --json $T/q.ckpt >$T/j 2>&1
check qwen2_info_json grep -q '"arch":"qwen2",.*"heads":4,"kv_heads":2,"d_ff":96,"tied":0' $T/j
$PKTLM pretrain --resume $T/q.ckpt --steps 25 --quiet -o $T/q.ckpt 2>/dev/null; check qwen2_resume test $? -eq 0
check qwen2_resume_step grep -q "step 25 of 25" <($PKTLM info $T/q.ckpt)
$PKTLM pretrain --data $T/c $M --tied --d-ff 40 --steps 3 -o $T/t.ckpt 2>/dev/null; check qwen2_tied test $? -eq 0
check qwen2_tied_info grep -q "d_ff 40, tied 1" <($PKTLM info $T/t.ckpt)
# RoPE's base from the config table (Qwen2.5: 1e6): kept in the checkpoint, through --resume
$PKTLM pretrain --data $T/c $M --rope-theta 1000000 --steps 3 -o $T/r.ckpt 2>/dev/null; check qwen2_rope_theta test $? -eq 0
check qwen2_rope_theta_info grep -q '"rope_theta":1e+06' <($PKTLM info --json $T/r.ckpt)
$PKTLM pretrain --resume $T/r.ckpt --steps 4 --rope-theta 5 --quiet -o $T/r.ckpt 2>$T/e; check qwen2_rope_theta_resume_warns grep -q "ignoring --rope-theta" $T/e
check qwen2_rope_theta_resume_kept grep -q '"rope_theta":1e+06' <($PKTLM info --json $T/r.ckpt)
$PKTLM pretrain --data $T/c --arch gpt2 --layers 1 --d-model 32 --heads 4 --ctx 64 --rope-theta 5 --steps 3 --quiet -o $T/x.ckpt 2>$T/e; rc=$?
check gpt2_refuses_rope_theta test $rc -eq 2 -a -n "$(grep "not a setting of the gpt2 backbone" $T/e)"
$PKTLM pretrain --data $T/c $M --kv-heads 3 --steps 3 -o $T/x.ckpt 2>$T/e; rc=$?
check qwen2_bad_kv_heads test $rc -ne 0 -a ! -e $T/x.ckpt -a -n "$(grep "kv-heads must divide heads" $T/e)"
$PKTLM pretrain --data $T/c --arch gpt2 --layers 1 --d-model 32 --heads 4 --kv-heads 2 --ctx 64 --steps 3 --quiet -o $T/x.ckpt 2>$T/e; rc=$?
check gpt2_refuses_kv_heads test $rc -ne 0 -a -n "$(grep "grouped-query" $T/e)"
$PKTLM finetune --task generate --init $T/q.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/g.ckpt 2>/dev/null
check qwen2_finetune_generate test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 6 --batch 3 --label udp --seed 3 --threads 1 >$T/out 2>$T/err; rc=$?
check qwen2_generate test $rc -eq 0 -a -s $T/g.pcap
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check qwen2_generate_rereads test $? -eq 0
# the same seed gives the same pcap whatever the batch (a row's numbers never depend on the others)
$PKTLM generate --model $T/g.ckpt -o $T/s.pcap --flows 6 --batch 1 --label udp --seed 3 --threads 1 >/dev/null 2>&1
check qwen2_generate_batch1_same cmp -s $T/g.pcap $T/s.pcap
$PKTLM generate --model $T/g.ckpt -o $T/s5.pcap --flows 6 --batch 5 --label udp --seed 3 --threads 1 >/dev/null 2>&1
check qwen2_generate_batch5_same cmp -s $T/g.pcap $T/s5.pcap
if cpu_has avx512f; then
  $PKTLM generate --model $T/g.ckpt -o $T/b.pcap --flows 2 --bf16 --threads 1 >/dev/null 2>$T/e; rc=$?
  check qwen2_generate_bf16 test $rc -eq 0 -a -s $T/b.pcap
else skip qwen2_generate_bf16 "no AVX-512"; fi
