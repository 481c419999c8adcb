# The Mamba-2 backbone from the command line (NetSSM's defaults: d_state 128, head_dim 64):
# pretrain --arch mamba2, info, resume, finetune --task generate, generate (the same pcap
# whatever --batch), finetune --task classify from scratch and classify.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--arch mamba2 --layers 2 --d-model 32 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/m.ckpt 2>$T/e; rc=$?
check mamba2_pretrain test $rc -eq 0 -a -s $T/m.ckpt
check mamba2_info grep -q "mamba2: 2 layers, d_model 32" <($PKTLM info $T/m.ckpt 2>&1)
$PKTLM pretrain --resume $T/m.ckpt --steps 25 --quiet -o $T/m.ckpt 2>/dev/null; check mamba2_resume test $? -eq 0
check mamba2_resume_step grep -q "step 25 of 25" <($PKTLM info $T/m.ckpt)
$PKTLM finetune --task generate --init $T/m.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/g.ckpt 2>/dev/null
check mamba2_finetune_generate test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/g.pcap --flows 6 --batch 3 --label udp --seed 3 --threads 1 >$T/out 2>$T/err; rc=$?
check mamba2_generate test $rc -eq 0 -a -s $T/g.pcap
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check mamba2_generate_rereads test $? -eq 0
$PKTLM generate --model $T/g.ckpt -o $T/s.pcap --flows 6 --batch 1 --label udp --seed 3 --threads 1 >/dev/null 2>&1
check mamba2_generate_batch1_same cmp -s $T/g.pcap $T/s.pcap
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q
$PKTLM finetune --task classify --data $T/toy --arch mamba2 --layers 1 --d-model 32 --ctx 128 --epochs 2 --lr 3e-3 \
  --threads 1 --quiet -o $T/k.ckpt >/dev/null 2>$T/e; rc=$?
check mamba2_finetune_classify test $rc -eq 0 -a -s $T/k.ckpt
$PKTLM classify --model $T/k.ckpt tests/fixtures/toy_cls/dns >$T/k.csv 2>$T/e; rc=$?
check mamba2_classify test $rc -eq 0 -a -s $T/k.csv
