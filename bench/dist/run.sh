#!/usr/bin/env bash
# Data-parallel training (docs/distributed.md): on this machine's cores, one process x 2 threads
# against 2 ranks x 1 thread (mpirun, each rank bound to its core) on configs A and B of
# bench/train, the same global batch of 8 x 256 tokens: tokens/s and the time the ranks spent
# waiting for each other; then weak scaling, 1, 2 and 4 ranks x 1 thread with 4 rows each (4
# ranks oversubscribe 2 cores: a check that it runs and agrees under load, not a speed-up).
# Needs ./pktlm built with MPI and mpirun (skips otherwise). Writes bench/results/dist.json.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
PKTLM=${PKTLM_BIN:-$root/pktlm}
[ -x "$PKTLM" ] || make -C "$root" -j2 pktlm >/dev/null
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$PKTLM" | grep -q libmpi; then
  echo "bench/dist: SKIP (no mpirun, or pktlm built without MPI)"; exit 0
fi
STEPS=${BENCH_STEPS:-8}   # timed steps after 2 warm-up steps
tmp=$(mktemp -d /tmp/pktlm-dist.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN="mpirun --allow-run-as-root"

# random tokens in the shard format (as bench/train/bench.py): speed does not depend on content
corpus() { # DIR NTOK
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, random, struct, sys
d, n = sys.argv[1], int(sys.argv[2]); vocab = 300
os.makedirs(d, exist_ok=True)
rng = random.Random(1)
for split, name, m in ((0, "train.tok", n), (1, "val.tok", 4096)):
    toks = [rng.randrange(3, vocab) for _ in range(m)]; nseq = m // 512
    hdr = [0] * 256
    hdr[0:8] = [0x4B4F5450, 1, vocab, 0, 1, 2, 0, vocab]
    hdr[8], hdr[10], hdr[12] = nseq, m, split
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<256i", *hdr)); f.write(struct.pack("<%dH" % m, *toks))
        for i in range(nseq): f.write(struct.pack("<QIiIIQ", i * 512, 512, -1, 0, i, i))
with open(os.path.join(d, "vocab.json"), "w") as f:   # every corpus has one (corpus/vocab.c): no labels
    f.write('{"format": "pktlm-tokens", "vocab_size": %d, "label_base": %d, "labels": []}' % (vocab, vocab))
EOF
}
# tok/s of the timed steps (CSV column 7, mean after the 2 warm-up steps); the wait line
tps() { tail -n +4 "$1" | awk -F, '{ s += $7; n++ } END { printf "%.0f", n ? s / n : 0 }'; }
wait_s() { grep -o "[0-9.]* s of [0-9.]* s waiting" "$1" | awk '{ print $1 }'; }
total_s() { grep -o "[0-9.]* s of [0-9.]* s waiting" "$1" | awk '{ print $4 }'; }

rows=()
echo "data-parallel training, global batch 8 x 256, AdamW; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-3s %-26s %8s %10s %10s\n" cfg run tok/s "wait s" "of run s"
for cfg in A B; do
  case $cfg in A) M="--layers 6 --d-model 256 --heads 8" ;; B) M="--layers 8 --d-model 512 --heads 8" ;; esac
  corpus $tmp/c$cfg $((8 * 256 * (STEPS + 4) + 4096))
  R="--data $tmp/c$cfg $M --ctx 256 --batch 8 --steps $((STEPS + 2)) --warmup 1 --eval-every 1000000 --val-batches 1"
  OMP_NUM_THREADS=2 "$PKTLM" pretrain $R --threads 2 -o $tmp/$cfg-1.ckpt 2>$tmp/$cfg-1.err
  t1=$(tps $tmp/$cfg-1.csv)
  printf "%-3s %-26s %8s %10s %10s\n" $cfg "1 process x 2 threads" "$t1" - -
  $MPIRUN -np 2 --bind-to core -x OMP_NUM_THREADS=1 "$PKTLM" pretrain $R --threads 1 -o $tmp/$cfg-2.ckpt 2>$tmp/$cfg-2.err
  t2=$(tps $tmp/$cfg-2.csv); w2=$(wait_s $tmp/$cfg-2.err); e2=$(total_s $tmp/$cfg-2.err)
  printf "%-3s %-26s %8s %10s %10s\n" $cfg "2 ranks x 1 thread" "$t2" "$w2" "$e2"
  rows+=("{\"config\":\"$cfg\",\"run\":\"1x2\",\"tok_per_s\":$t1}" "{\"config\":\"$cfg\",\"run\":\"2x1\",\"tok_per_s\":$t2,\"wait_s\":$w2,\"run_s\":$e2}")
done
# weak scaling on config A: 4 rows per rank, 1 thread per rank
corpus $tmp/w $((16 * 256 * (STEPS + 4) + 4096))
for n in 1 2 4; do
  R="--data $tmp/w --layers 6 --d-model 256 --heads 8 --ctx 256 --batch $((4 * n)) --steps $((STEPS + 2)) --warmup 1 --eval-every 1000000 --val-batches 1 --threads 1"
  $MPIRUN -np $n --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "$PKTLM" pretrain $R -o $tmp/w$n.ckpt 2>$tmp/w$n.err
  t=$(tps $tmp/w$n.csv); w=$(wait_s $tmp/w$n.err); e=$(total_s $tmp/w$n.err)
  printf "%-3s %-26s %8s %10s %10s\n" A "weak: $n ranks x 4 rows" "$t" "${w:--}" "${e:--}"
  rows+=("{\"config\":\"A\",\"run\":\"weak-$n\",\"tok_per_s\":$t,\"wait_s\":${w:-0},\"run_s\":${e:-0}}")
done
out=$root/bench/results/dist.json
{ printf '{"date":"%s","load_avg":"%s","rows":[' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  (IFS=,; printf '%s' "${rows[*]}"); printf ']}\n'; } >$out.tmp && mv $out.tmp $out
