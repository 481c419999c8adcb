# pktlm stats/classify --live (docs/live.md) without any outside network: two network
# namespaces joined by a veth pair made here, captures replayed into one end by tcpreplay,
# pktlm capturing on the other. The live decisions must equal `pktlm classify` on the same
# packets read from a file (the --write file), and name the same flows as the original
# captures. Skips where namespaces cannot be made (not root, no `ip` or tcpreplay, a container
# without the right to make them).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP

# ---- without privileges ----
$PKTLM classify --help | grep -q -- '--live IFACE'; check live_help_classify test $? -eq 0
$PKTLM stats --help | grep -q -- '--live IFACE'; check live_help_stats test $? -eq 0
$PKTLM stats --live lo examples/http_tls.pcap >/dev/null 2>$T/e; rc=$?
check live_with_files_usage test $rc -eq 2 -a -n "$(grep -l 'give no capture files' $T/e)"
$PKTLM stats --live lo --snaplen 10 >/dev/null 2>$T/e; rc=$?
check live_snaplen_range test $rc -eq 2 -a -n "$(grep -l 'snaplen must be 64..262144' $T/e)"
$PKTLM classify --model x.ckpt --live lo --workers 0 >/dev/null 2>$T/e; rc=$?
check live_workers_range test $rc -eq 2
$PKTLM stats --live nosuch0if --duration 0.2 >/dev/null 2>$T/e; rc=$?
check live_no_such_interface test $rc -eq 1 -a -n "$(grep -lE 'nosuch0if: (no such interface|permission denied)' $T/e)"

if [ "$(id -u)" != 0 ]; then skip live_netns "not root (capturing needs CAP_NET_RAW; namespaces CAP_SYS_ADMIN)"; exit 0; fi
$PKTLM stats --live lo --filter 'tcp port nonsense' --duration 0.2 >/dev/null 2>$T/e; rc=$?
check live_bad_filter test $rc -eq 1 -a -n "$(grep -l "bad filter 'tcp port nonsense'" $T/e)"
for c in ip tcpreplay python3; do
  command -v $c >/dev/null || { skip live_netns "no $c (tools/install-deps.sh installs tcpreplay)"; exit 0; }
done

# ---- the network: sender namespace S --veth-- receiver namespace R ----
S=pktlm-s$$; R=pktlm-r$$; VA=plva$$; VB=plvb$$
cleanup() { ip netns del $S 2>/dev/null; ip netns del $R 2>/dev/null; }
trap cleanup EXIT
if ! { ip netns add $S && ip netns add $R && ip link add $VA netns $S type veth peer name $VB netns $R; } 2>$T/e; then
  skip live_netns "cannot make network namespaces here: $(head -1 $T/e)"; exit 0
fi
for x in "$S $VA" "$R $VB"; do
  set -- $x
  # no IPv6 on the pair: the kernel's own router solicitations would join the capture
  ip netns exec $1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $1 link set $2 mtu 9000; ip -n $1 link set lo up; ip -n $1 link set $2 up
done
send() { ip netns exec $S tcpreplay -q -i $VA "$@" >$T/replay.log 2>&1; }
sent() { grep -o 'Actual: [0-9]* packets' $T/replay.log | grep -o '[0-9]*' | head -1; }
# start pktlm in R in the background and wait until it captures
start() { # out err args...
  local out=$1 err=$2; shift 2
  rm -f $out $err
  # `ip netns exec` execs pktlm: $! is pktlm itself, so the signals below reach it
  ip netns exec $R $PKTLM "$@" >$out 2>$err & pid=$!
  for i in $(seq 100); do grep -qs "capturing on" $err && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.1; done
  return 1
}
stop() { sleep 1; kill -${1:-INT} $pid; wait $pid; }

# ---- stats --live: every packet seen, the same flows as stats on the --write file ----
toy=tests/fixtures/toy_cls
start $T/s.out $T/s.err stats --live $VB --json --interval 0.3 --write $T/s.pcap; check live_stats_starts test $? -eq 0
send --pps 1000 $toy/dns/0.pcap $toy/web/0.pcap; n=$(sent)
stop INT; rc=$?
check live_stats_sigint_exit0 test $rc -eq 0
sum=$(grep '"summary": true' $T/s.out)
pk=$(grep -o '"packets": [0-9]*' <<<"$sum" | grep -o '[0-9]*')
check live_stats_all_packets test -n "$n" -a "$pk" = "$n" -a "$n" -eq 280
check live_stats_no_drops test -n "$(grep -o '"kernel_drops": 0, "interface_drops": 0' <<<"$sum")"
check live_stats_running_lines test "$(grep -c '"packets_per_s"' $T/s.out)" -ge 1
$PKTLM stats --json $T/s.pcap >$T/sf.json 2>/dev/null
ft=$(grep -o '"total": [0-9]*' $T/sf.json | grep -o '[0-9]*'); lt=$(grep -o '"total": [0-9]*' <<<"$sum" | grep -o '[0-9]*')
check live_stats_equals_file test -n "$ft" -a "$ft" = "$lt" -a "$(grep -o '"packets": [0-9]*' $T/sf.json)" = "\"packets\": $n"

# --filter and --count
start $T/f.out $T/f.err stats --live $VB --json --interval 0 --filter 'udp port 53'
send --pps 2000 $toy/dns/0.pcap $toy/ntp/0.pcap; stop TERM; rc=$?
check live_stats_sigterm_exit0 test $rc -eq 0
check live_filter test -n "$(grep -o '"packets": 80,' $T/f.out)"
start $T/c.out $T/c.err stats --live $VB --json --interval 0 --count 25
send --pps 2000 $toy/ntp/0.pcap; wait $pid; rc=$?
check live_count test $rc -eq 0 -a -n "$(grep -o '"packets": 25,' $T/c.out)"

# ---- classify --live: decisions equal file classify on the same packets ----
M="--layers 1 --d-model 32 --heads 2 --ctx 128 --batch 16 --threads 1"
$PKTLM prep $toy -o $T/toy -q && $PKTLM finetune --task classify --data $T/toy $M --epochs 3 --lr 3e-3 -o $T/c.ckpt --quiet
check live_classifier_trained test $? -eq 0 -a -s $T/c.ckpt
# rows keyed by flow id and endpoints: label and probability (printed to 4 places)
cmp_rows() { # live.jsonl file.jsonl [keys]
  python3 - "$@" <<'EOF'
import json, sys
def rows(p):
    out = {}
    for line in open(p):
        r = json.loads(line)
        out[(r["flow"], r["proto"], r["a"], r["a_port"], r["b"], r["b_port"], r["packets"])] = (r["label"], r["prob"])
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
bad = [k for k in set(a) | set(b) if k not in a or k not in b or a[k][0] != b[k][0] or abs(a[k][1] - b[k][1]) > 2e-4]
print(len(a), len(b), len(bad), sorted(bad)[:3])
sys.exit(0 if a and not bad else 1)
EOF
}
for after in 3 8; do
  start $T/l$after.out $T/l$after.err classify --model $T/c.ckpt --live $VB --json --after $after --write $T/l$after.pcap --quiet
  send --pps 1000 $toy/dns/1.pcap $toy/ntp/1.pcap $toy/web/1.pcap; stop TERM; rc=$?
  check live_classify_after${after}_exit0 test $rc -eq 0
  check live_classify_after${after}_summary grep -q "kernel 0, interface 0; pktlm: 0 decisions" $T/l$after.err
  $PKTLM classify --model $T/c.ckpt --after $after --json $T/l$after.pcap >$T/f$after.out 2>/dev/null
  cmp_rows $T/l$after.out $T/f$after.out >$T/cmp$after; r=$?
  check live_classify_after${after}_equals_file test $r -eq 0; [ $r -eq 0 ] || cat $T/cmp$after
done
# a --tokens bpe classifier (it embeds its tokenizer.json): live decisions equal file classify too
$PKTLM prep $toy --tokens bpe --tokenizer tests/fixtures/bpe/qwen2/tokenizer.json -o $T/tq -q &&
  $PKTLM finetune --task classify --data $T/tq --layers 1 --d-model 32 --heads 2 --ctx 256 --batch 16 --threads 1 --epochs 1 \
    -o $T/cq.ckpt --quiet
check live_bpe_classifier_trained test $? -eq 0 -a -s $T/cq.ckpt
start $T/lq.out $T/lq.err classify --model $T/cq.ckpt --live $VB --json --after 3 --write $T/lq.pcap --quiet
send --pps 1000 $toy/dns/1.pcap $toy/ntp/1.pcap $toy/web/1.pcap; stop TERM; rc=$?
check live_classify_bpe_exit0 test $rc -eq 0
$PKTLM classify --model $T/cq.ckpt --after 3 --json $T/lq.pcap >$T/fq.out 2>/dev/null
cmp_rows $T/lq.out $T/fq.out >$T/cmpq; r=$?
check live_classify_bpe_equals_file test $r -eq 0; [ $r -eq 0 ] || cat $T/cmpq
# the flows the live run decided are the original captures' flows (the replay re-times packets,
# so time tokens may differ: flows and labels are compared, not probabilities)
python3 - $T/l3.out <<EOF >$T/orig.cmp
import json, subprocess, sys
live = {(r["proto"], r["a"], r["a_port"], r["b"], r["b_port"], r["packets"]): r["label"] for r in map(json.loads, open(sys.argv[1]))}
orig = {}
for f in ["$toy/dns/1.pcap", "$toy/ntp/1.pcap", "$toy/web/1.pcap"]:
    out = subprocess.run(["$PKTLM", "classify", "--model", "$T/c.ckpt", "--after", "3", "--json", f], capture_output=True, text=True).stdout
    for r in map(json.loads, out.splitlines()):
        orig[(r["proto"], r["a"], r["a_port"], r["b"], r["b_port"], r["packets"])] = r["label"]
same = sum(1 for k in orig if live.get(k) == orig[k])
print(len(live), len(orig), same)
sys.exit(0 if set(live) == set(orig) and same >= 0.95 * len(orig) else 1)
EOF
r=$?; check live_classify_same_flows_as_original test $r -eq 0; [ $r -eq 0 ] || cat $T/orig.cmp
# decisions carry the deciding packet's capture time and the latency from it
python3 - $T/l3.out <<'EOF'; check live_classify_ts_latency test $? -eq 0
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = rows and all(r["ts"] > 1.6e9 and 0 <= r["latency_ms"] < 60000 and r["decided"] in ("after", "end", "idle", "fin", "rst", "evict", "reuse") for r in rows)
ok = ok and any(r["decided"] == "after" for r in rows)
sys.exit(0 if ok else 1)
EOF

# CSV, streamed: the header and one row per decision before the capture ends
start $T/csv.out $T/csv.err classify --model $T/c.ckpt --live $VB --csv --after 2 --quiet
send --pps 1000 $toy/dns/0.pcap; sleep 1; mid=$(wc -l <$T/csv.out); stop INT
check live_classify_csv_streamed test "$mid" -gt 10 -a "$(head -1 $T/csv.out | cut -d, -f1-4)" = "ts,latency_ms,iface,flow"

# a real capture (../shared): IoT device setup traffic, full-size frames
if [ -n "$PKTLM_SHARED" ] && [ -d "$PKTLM_SHARED/data/iot_sentinel/HueBridge" ]; then
  f=$(ls -S "$PKTLM_SHARED"/data/iot_sentinel/HueBridge/*.pcap | head -1)   # the largest: ~hundreds of packets
  start $T/i.out $T/i.err classify --model $T/c.ckpt --live $VB --json --after 5 --write $T/i.pcap --quiet
  send --pps 2000 "$f"; stop INT
  $PKTLM classify --model $T/c.ckpt --after 5 --json $T/i.pcap >$T/if.out 2>/dev/null
  cmp_rows $T/i.out $T/if.out >$T/icmp; r=$?
  check live_classify_iot_equals_file test $r -eq 0; [ $r -eq 0 ] || cat $T/icmp
else
  skip live_classify_iot_equals_file "no ../shared/data/iot_sentinel"
fi
