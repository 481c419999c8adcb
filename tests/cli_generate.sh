# pktlm generate / finetune --task generate from the command line: help, usage errors, and
# a tiny end-to-end run on a raw-IP UDP capture written by printf (as cli_prep.sh does).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
$PKTLM generate --help >/dev/null; check generate_help test $? -eq 0
$PKTLM generate -o $T/x.pcap 2>/dev/null; check generate_usage test $? -eq 2
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap --top-p 2 2>/dev/null; check generate_bad_value test $? -eq 2
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap 2>$T/e; rc=$?
check generate_missing_model test $rc -eq 1 -a -s $T/e
check generate_no_output test ! -e $T/x.pcap
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap --timing replay 2>/dev/null; check generate_replay_needs_file test $? -eq 2
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap --timing model --timing-from $T/x 2>/dev/null; check generate_timing_from_model test $? -eq 2
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap --prompt-packets 3 2>/dev/null; check generate_prompt_k_needs_pcap test $? -eq 2
$PKTLM generate --model $T/none.ckpt -o $T/x.pcap --flows 0 2>/dev/null; check generate_zero_flows test $? -eq 2
$PKTLM finetune --help >/dev/null; check finetune_help test $? -eq 0
$PKTLM finetune --task generate --data $T -o $T/y.ckpt 2>/dev/null; check finetune_needs_init test $? -eq 2
$PKTLM finetune --task generate --init $T/none.ckpt --data $T -o $T/y.ckpt 2>/dev/null; check finetune_missing_init test $? -eq 1
# the capture helper of cli_prep.sh
b() { printf '\\x%02x' "$@"; }                       # bytes -> escapes
le32() { b $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
be16() { b $(( ($1 >> 8) & 255 )) $(( $1 & 255 )); }
# capture FILE HOSTBYTE: 12 UDP flows of 3 packets, client 10.77.HOST.1 -> server 172.16.9.N
capture() {
  local out=$1 h=$2 s="" t=1700000000
  s+=$(le32 0xa1b2c3d4)$(b 2 0 4 0)$(le32 0)$(le32 0)$(le32 65535)$(le32 101)
  for f in $(seq 1 12); do
    for k in 0 1 2; do
      local plen=$(( 8 + f + k )) len=$(( 28 + f + k ))
      local src dst sp dp
      if [ $k -eq 1 ]; then src="172 16 9 $f"; dst="10 77 $h 1"; sp=$((1000 + f)); dp=$((40000 + f))
      else src="10 77 $h 1"; dst="172 16 9 $f"; sp=$((40000 + f)); dp=$((1000 + f)); fi
      s+=$(le32 $t)$(le32 $(( f * 1000 + k * 250 )))$(le32 $len)$(le32 $len)
      s+=$(b 0x45 0)$(be16 $len)$(be16 $(( f * 7 + k )))$(b 0x40 0 64 17 0 0)$(b $src)$(b $dst)
      s+=$(be16 $sp)$(be16 $dp)$(be16 $plen)$(b 0 0)
      for i in $(seq 1 $(( f + k ))); do s+=$(b 0x61); done
      t=$((t + 1))
    done
  done
  printf "%b" "$s" > "$out"
}
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--layers 1 --d-model 32 --heads 2 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/base.ckpt 2>/dev/null; check e2e_pretrain test $? -eq 0
$PKTLM finetune --task generate --init $T/base.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/gen.ckpt 2>/dev/null
check e2e_finetune test $? -eq 0
$PKTLM generate --model $T/gen.ckpt -o $T/g.pcap --flows 12 --batch 4 --label udp --threads 1 >$T/out 2>$T/err; rc=$?
check e2e_generate test $rc -eq 0 -a -s $T/g.pcap
check e2e_summary grep -q "^TCP flows" $T/out
$PKTLM generate --model $T/gen.ckpt -o $T/g.pcapng --pcapng --flows 4 --label nosuch 2>$T/e; rc=$?
check e2e_bad_label test $rc -eq 2 -a -n "$(grep "labels (udp)" $T/e)"   # names the labels there are
# --timing-from alone: replay timing from that capture; JSON with the re-read's shares
$PKTLM generate --model $T/gen.ckpt -o $T/r.pcap --flows 4 --threads 1 --timing-from $T/a.pcap --json >$T/rj 2>/dev/null
check e2e_timing_from test $? -eq 0 -a -s $T/r.pcap
check e2e_json_fields grep -q '"flows_in_file":.*"tcp_handshake_frac":' $T/rj
$PKTLM generate --model $T/gen.ckpt -o $T/j.pcap --flows 4 --json --threads 1 >$T/j 2>/dev/null
check e2e_json grep -q '"tokens_per_s":' $T/j
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check e2e_rereads test $? -eq 0
if [ -n "$PKTLM_SHARED" ] && command -v tshark >/dev/null 2>&1; then
  bash $PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh $T/g.pcap >$T/v 2>&1; check e2e_validate test $? -eq 0
else skip e2e_validate "no ../shared or tshark"; fi
