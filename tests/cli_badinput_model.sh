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
