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
capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1
M="--layers 1 --d-model 32 --heads 2 --ctx 64 --batch 4 --threads 1 --quiet"
$PKTLM pretrain --data $T/c $M --steps 20 --lr 1e-2 --warmup 2 -o $T/base.ckpt 2>/dev/null; check e2e_pretrain test $? -eq 0
$PKTLM finetune --task generate --init $T/base.ckpt --data $T/c --steps 5 --threads 1 --quiet -o $T/gen.ckpt 2>/dev/null
check e2e_finetune test $? -eq 0
$PKTLM generate --model $T/gen.ckpt -o $T/g.pcap --flows 12 --batch 4 --label udp --threads 1 >$T/out 2>$T/err; rc=$?
check e2e_generate test $rc -eq 0 -a -s $T/g.pcap
check e2e_summary grep -q "^TCP flows" $T/out
# the same seed gives the same pcap whatever the batch (continuous batching: rows never interact)
for b in 1 7; do
  $PKTLM generate --model $T/gen.ckpt -o $T/g$b.pcap --flows 12 --batch $b --label udp --threads 1 >/dev/null 2>&1
  check e2e_same_pcap_batch$b cmp -s $T/g.pcap $T/g$b.pcap
done
# prompts go in by one prefill each (the step's own arithmetic over the prompt's positions):
# still the same pcap whatever the batch, and the prompt's packets lead every flow
for b in 1 5; do
  $PKTLM generate --model $T/gen.ckpt -o $T/p$b.pcap --flows 6 --batch $b --label udp --threads 1 --prompt-pcap $T/b.pcap \
    --prompt-packets 2 >/dev/null 2>$T/e; check e2e_prompt_batch$b test $? -eq 0 -a -s $T/p$b.pcap
done
check e2e_prompt_same_pcap cmp -s $T/p1.pcap $T/p5.pcap
$PKTLM generate --model $T/gen.ckpt -o $T/g.pcapng --pcapng --flows 4 --label nosuch 2>$T/e; rc=$?
check e2e_bad_label test $rc -eq 2 -a -n "$(grep "labels (udp)" $T/e)"   # names the labels there are
# --timing-from alone: replay timing from that capture; JSON with the re-read's shares
$PKTLM generate --model $T/gen.ckpt -o $T/r.pcap --flows 4 --threads 1 --timing-from $T/a.pcap --json >$T/rj 2>/dev/null
check e2e_timing_from test $? -eq 0 -a -s $T/r.pcap
check e2e_json_fields grep -q '"flows_in_file":.*"tcp_handshake_frac":' $T/rj
# --strict-headers: the grammar leaves the writer no length, fragment, TTL or option repair
$PKTLM generate --model $T/gen.ckpt -o $T/s.pcap --flows 24 --batch 4 --threads 1 --strict-headers --json >$T/sj 2>/dev/null
check e2e_strict_headers test $? -eq 0 -a -s $T/s.pcap
check e2e_strict_no_repairs grep -q '"fix_length": *0,.*"fix_doff": *0,.*"fix_frag": *0,.*"fix_ttl": *0,' $T/sj
$PKTLM generate --model $T/gen.ckpt -o $T/j.pcap --flows 4 --json --threads 1 >$T/j 2>/dev/null
check e2e_json grep -q '"tokens_per_s":' $T/j
$PKTLM stats $T/g.pcap >/dev/null 2>&1; check e2e_rereads test $? -eq 0
if [ -n "$PKTLM_SHARED" ] && command -v tshark >/dev/null 2>&1; then
  bash $PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh $T/g.pcap >$T/v 2>&1; check e2e_validate test $? -eq 0
else skip e2e_validate "no ../shared or tshark"; fi
# whole-capture generation: a Mamba-2 of capture windows writes one capture of many flows
mkdir -p $T/caps/udp && cp $T/a.pcap $T/b.pcap $T/caps/udp/
$PKTLM prep $T/caps -o $T/cc --unit capture --window 256 --ratio 1:1:0 --quiet >/dev/null 2>&1
check capture_prep test -s $T/cc/manifest.json
$PKTLM pretrain --data $T/cc --arch mamba2 --layers 1 --d-model 32 --d-state 8 --head-dim 16 --chunk 32 --ctx 256 --batch 2 \
  --steps 10 --lr 1e-2 --warmup 2 --threads 1 --quiet -o $T/m2.ckpt 2>/dev/null; check capture_pretrain test $? -eq 0
$PKTLM info $T/m2.ckpt >$T/info 2>&1
check capture_info grep -q "one sequence per capture window" $T/info
check capture_info_vocab_pad grep -q "vocab_pad 16" $T/info
$PKTLM generate --model $T/m2.ckpt -o $T/cap.pcap --packets 40 --label udp --threads 1 >$T/out 2>$T/err; rc=$?
check capture_generate test $rc -eq 0 -a -s $T/cap.pcap
check capture_summary grep -q "^wrote .*: [0-9]* packets in [0-9]* flows between [0-9]* hosts, one capture of [0-9]* windows" $T/out
$PKTLM generate --model $T/m2.ckpt -o $T/cap.pcap --tokens 200 --json --threads 1 >$T/cj 2>/dev/null
check capture_tokens_json grep -q '"unit":"capture","windows":[0-9]*,"hosts":[0-9]*,"state_carried":true' $T/cj
check capture_carried grep -q "windows (state carried, one stream per --batch slot)" $T/out
$PKTLM generate --model $T/m2.ckpt -o $T/capr.pcap --packets 40 --label udp --reset-windows --threads 1 >$T/out 2>/dev/null
check capture_reset_windows grep -q "windows (each from a reset state)" $T/out
$PKTLM generate --model $T/m2.ckpt -o $T/x.pcap --flows 3 --threads 1 >/dev/null 2>$T/e; rc=$?
check capture_flows_refused test $rc -eq 1 -a -n "$(grep -- "--flows" $T/e)"
$PKTLM generate --model $T/m2.ckpt -o $T/x.pcap --flows 3 --unit flow --threads 1 >$T/out 2>/dev/null
check capture_unit_flow grep -q "in 3 flows" $T/out
if [ -n "$PKTLM_SHARED" ] && command -v tshark >/dev/null 2>&1; then
  bash $PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh $T/cap.pcap >$T/v 2>&1; check capture_validate test $? -eq 0
else skip capture_validate "no ../shared or tshark"; fi
