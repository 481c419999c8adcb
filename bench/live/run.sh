#!/usr/bin/env bash
# Benchmark of live capture (docs/live.md): the highest replay rate (packets/s) at which
# `pktlm stats --live` and `pktlm classify --live` drop nothing, on a veth pair between two
# network namespaces made here (as tests/cli_live.sh), fed by tcpreplay --pps R with
# ../shared/data/iot_sentinel captures (the first BENCH_PACKETS packets' worth of files, in
# sorted order). "No drop": the kernel's and the interface's drop counters are 0, pktlm dropped
# no decision (queue full), and pktlm saw every packet tcpreplay sent.
# Needs root, `ip` and tcpreplay; prints SKIP otherwise. Writes bench/results/live.json.
#   bash bench/live/run.sh
# The kernel buffer is BENCH_BUFFER MiB (default 4, not the 32 of a real run): a replay that
# fits in the buffer would not drop however slow pktlm were.
# Knobs: PKTLM_BIN (default ./pktlm), BENCH_TMP (/tmp), BENCH_PACKETS (60000), BENCH_BUFFER (4),
#        BENCH_RATES ("5000 10000 20000 40000 80000 160000"), BENCH_RATES_CLASSIFY ("10000 40000 160000"),
#        BENCH_MODEL (the classifier; default: the toy one of bench/classify, GPT-2 2x128 ctx 256),
#        BENCH_ARGS (extra classify options, e.g. "--workers 1 --threads 1 --batch 32").
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PKTLM=${PKTLM_BIN:-$root/pktlm}
tmp=${BENCH_TMP:-/tmp}/pktlm-bench-live
npk=${BENCH_PACKETS:-60000}
buf=${BENCH_BUFFER:-4}
rates=${BENCH_RATES:-5000 10000 20000 40000 80000 160000}
crates=${BENCH_RATES_CLASSIFY:-10000 40000 160000}   # each waits for every decision: fewer steps
model=${BENCH_MODEL:-}
args=${BENCH_ARGS:-}
shared=${PKTLM_SHARED:-$root/../shared}
[ -x "$PKTLM" ] || { echo "bench/live: build ./pktlm first (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/live: SKIP (needs root: network namespaces, capture)"; exit 0; }
for c in ip tcpreplay; do command -v $c >/dev/null || { echo "bench/live: SKIP (no $c)"; exit 0; }; done
[ -d "$shared/data/iot_sentinel" ] || { echo "bench/live: SKIP (no $shared/data/iot_sentinel)"; exit 0; }
rm -rf "$tmp"; mkdir -p "$tmp"

# the input: whole captures in sorted order until npk packets
files=(); total=0
while read -r f; do
  n=$("$PKTLM" stats --json "$f" 2>/dev/null | grep -o '"packets": [0-9]*' | grep -o '[0-9]*')
  files+=("$f"); total=$((total + n))
  [ $total -ge $npk ] && break
done < <(find "$shared/data/iot_sentinel" -name '*.pcap' | sort)

if [ -z "$model" ]; then
  "$PKTLM" prep "$root/tests/fixtures/toy_cls" -o "$tmp/toy" -q
  "$PKTLM" finetune --task classify --data "$tmp/toy" --layers 2 --d-model 128 --heads 4 --ctx 256 --max-steps 5 \
    --epochs 1 --threads 1 -o "$tmp/c.ckpt" --quiet
  model=$tmp/c.ckpt; desc="toy classifier, GPT-2 2x128 ctx 256"
else
  desc=${BENCH_DESC:-$(basename "$model")}
fi

S=pktlm-bs$$; R=pktlm-br$$; VA=pbva$$; VB=pbvb$$
cleanup() { ip netns del $S 2>/dev/null; ip netns del $R 2>/dev/null; }
trap cleanup EXIT
ip netns add $S && ip netns add $R && ip link add $VA netns $S type veth peer name $VB netns $R || { echo "bench/live: SKIP (cannot make namespaces)"; exit 0; }
for x in "$S $VA" "$R $VB"; do
  set -- $x
  ip netns exec $1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $1 link set $2 mtu 9000; ip -n $1 link set lo up; ip -n $1 link set $2 up
done

# one run: verb args... at rate $1; prints "sent seen kdrop ifdrop pktlm_drop achieved_pps p99_ms model_ms_per_flow"
one() {
  local rate=$1 verb=$2; shift
  rm -f $tmp/out $tmp/err   # the last run's "capturing on" must not start the replay early
  ip netns exec $R "$PKTLM" "$@" --live $VB --buffer $buf >$tmp/out 2>$tmp/err & local pid=$!
  for i in $(seq 200); do grep -qs "capturing on" $tmp/err && break; sleep 0.05; done
  ip netns exec $S tcpreplay -i $VA --pps=$rate "${files[@]}" >$tmp/replay 2>&1
  sleep 1; kill -INT $pid; wait $pid
  local sent ach seen kd ifd pd p99
  sent=$(grep -o 'Actual: [0-9]* packets' $tmp/replay | grep -o '[0-9]*' | head -1)
  ach=$(grep -o 'Rated: [0-9.]* Bps, [0-9.]* Mbps, [0-9.]* pps' $tmp/replay | grep -o '[0-9.]* pps' | grep -o '[0-9.]*' | head -1)
  if [ "$verb" = stats ]; then
    seen=$(grep '"summary": true' $tmp/out | grep -o '"packets": [0-9]*' | grep -o '[0-9]*')
    kd=$(grep '"summary": true' $tmp/out | grep -o '"kernel_drops": [0-9]*' | grep -o '[0-9]*')
    ifd=$(grep '"summary": true' $tmp/out | grep -o '"interface_drops": [0-9]*' | grep -o '[0-9]*')
    pd=0; p99=0; fps=0
  else
    seen=$(grep -o ': [0-9]* packets (' $tmp/err | grep -o '[0-9]*' | head -1)
    kd=$(grep -o 'kernel [0-9]*' $tmp/err | grep -o '[0-9]*' | head -1)
    ifd=$(grep -o 'interface [0-9]*' $tmp/err | grep -o '[0-9]*' | head -1)
    pd=$(grep -o 'pktlm: [0-9]* decisions' $tmp/err | grep -o '[0-9]*' | head -1)
    p99=$(grep -o 'p99 [0-9.]* ms' $tmp/err | sed 's/p99 //; s/ ms//' | head -1)
    fps=$(grep -o 'model [0-9.]* ms per flow' $tmp/err | sed 's/model //; s/ ms per flow//' | head -1)
  fi
  echo "${sent:-0} ${seen:-0} ${kd:-?} ${ifd:-?} ${pd:-?} ${ach:-0} ${p99:-0} ${fps:-0}"
}

json="{\"packets\": $total, \"files\": ${#files[@]}, \"buffer_mb\": $buf, \"classifier\": \"$desc\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"runs\": ["
first=1
printf "%-9s %9s %9s %9s %7s %7s %7s %10s %9s %9s\n" verb rate sent seen kdrop ifdrop pdrop achieved p99_ms model_ms
for verb in stats classify; do
  best=0
  rs=$rates; [ $verb = classify ] && rs=$crates
  for r in $rs; do
    if [ $verb = stats ]; then res=$(one $r stats --json --interval 0)
    else res=$(one $r classify --model "$model" --json --quiet $args); fi
    set -- $res
    printf "%-9s %9s %9s %9s %7s %7s %7s %10s %9s %9s\n" $verb $r $1 $2 $3 $4 $5 $6 $7 $8
    clean=0; [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && clean=1
    [ $clean = 1 ] && best=$r
    json+="$([ $first = 1 ] || echo ,){\"verb\": \"$verb\", \"rate\": $r, \"sent\": $1, \"seen\": $2, \"kernel_drops\": \"$3\", \"interface_drops\": \"$4\", \"pktlm_drops\": \"$5\", \"achieved_pps\": $6, \"p99_ms\": $7, \"model_ms_per_flow\": $8, \"no_drop\": $clean}"
    first=0
    [ $clean = 1 ] || break   # the first rate with a drop ends the search
  done
  echo "$verb --live: highest rate without a drop: $best packets/s"
done
json+="]}"
mkdir -p "$root/bench/results"
echo "$json" >"$root/bench/results/live.json"
