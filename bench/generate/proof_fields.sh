#!/usr/bin/env bash
# Generation proof of tcpflowgen's recipe in pktlm (docs/generate.md "Field tokens and linear
# attention", docs/tokens.md "Generation proof per format"): complete TCP flows (handshake and
# termination, tcpflowgen's rule) of the iot_sentinel captures of ../shared/data, split by
# capture (every 5th capture held out, never trained on); one model per (backbone, token format)
# trained for the same wall-clock budget, each generating FLOWS flows; every output checked by
# validate_pcap.sh, by tcpflowgen's own check (bench/generate/tcp_complete.py: how many flows
# complete the handshake and the termination, in order) and by `pktlm compare` against the
# held-out complete flows, with the training flows as --train.
# Resumable: a stage whose output exists is skipped (delete WORKDIR to start afresh).
# Usage: bench/generate/proof_fields.sh [WORKDIR]
# Knobs: BUDGET (s of training per model), FLOWS, RUNS ("arch:format ..."), THREADS, CTX, BATCH.
set -u
cd "$(dirname "$0")/../.."
S=${PKTLM_SHARED:-../shared}
W=${1:-/tmp/pktlm-fields-proof}
P="nice -n 19 ./pktlm"
BUDGET=${BUDGET:-240} FLOWS=${FLOWS:-256} THREADS=${THREADS:-2} CTX=${CTX:-1024} BATCH=${BATCH:-8}
RUNS=${RUNS:-"linattn:fields gpt2:bytes linattn:bytes linattn:bigrams"}
# one small shape for every backbone (0.8 M parameters in the body; the fields and bigrams
# vocabularies add 2 x 65.6k x 128 in the embedding and head)
M="--layers ${LAYERS:-4} --d-model ${DMODEL:-128} --heads 4 --ctx $CTX --batch $BATCH --threads $THREADS --pad --lr 1e-3 --warmup 20 --eval-every 100 --val-batches 4"
mkdir -p "$W" || exit 1
# 1. complete TCP flows of every iot_sentinel capture; every 5th capture (sorted) held out
if [ ! -d "$W/train" ]; then
  python3 bench/generate/tcp_complete.py filter "$W/complete" "$S/data/iot_sentinel" || exit 1
  mkdir -p "$W/train.tmp" "$W/heldout" "$W/heldout-all"
  i=0
  for f in $(ls "$W/complete" | sort); do
    i=$((i + 1))
    if [ $((i % 5)) -eq 0 ]; then
      mv "$W/complete/$f" "$W/heldout/"
      d=${f%%_*}; o=${f#*_}   # Device_Setup-...pcap -> the original capture (all its flows)
      ln -sf "$(realpath "$S/data/iot_sentinel/$d/$o")" "$W/heldout-all/$f"
    else mv "$W/complete/$f" "$W/train.tmp/"; fi
  done
  mv "$W/train.tmp" "$W/train"
fi
echo "training captures: $(ls "$W/train" | wc -l), held out: $(ls "$W/heldout" | wc -l)"
python3 bench/generate/tcp_complete.py check --json "$W/train" > "$W/check-train.json"
python3 bench/generate/tcp_complete.py check --json "$W/heldout" > "$W/check-heldout.json"
python3 bench/generate/tcp_complete.py check --json "$W/heldout-all" > "$W/check-heldout-all.json"
for f in train heldout heldout-all; do echo "$f: $(cat "$W/check-$f.json")"; done
# 2. one corpus per format from the same training captures (headers only: fields carry no payload)
for fmt in fields bytes bigrams; do
  extra="--packets 100000"; [ $fmt = fields ] && extra="--complete-only"
  [ -s "$W/c-$fmt/manifest.json" ] || $P prep "$W/train" -o "$W/c-$fmt" --tokens $fmt --no-labels --payload 0 $extra \
     > "$W/prep-$fmt.txt" 2>&1 || { cat "$W/prep-$fmt.txt"; exit 1; }
  ./pktlm info "$W/c-$fmt" | tee "$W/info-c-$fmt.txt"
done
rc=0
for run in $RUNS; do
  a=${run%%:*}; fmt=${run#*:}; n=$a-$fmt
  # 3. train for BUDGET seconds of wall clock (SIGINT: pktlm saves and stops); the schedule is
  #    set for far more steps, so the learning rate stays near its peak for every model alike
  if [ ! -s "$W/$n.ckpt" ]; then
    t0=$(date +%s.%N)
    timeout -s INT "$BUDGET" $P pretrain --data "$W/c-$fmt" --arch "$a" $M --steps 100000 -o "$W/$n.ckpt" > "$W/train-$n.txt" 2>&1
    t1=$(date +%s.%N)
    echo "$n: trained $(python3 -c "print(round($t1 - $t0, 1))") s, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$W/time-$n.txt"
    [ -s "$W/$n.ckpt" ] || { tail -5 "$W/train-$n.txt"; exit 1; }
  fi
  ./pktlm info --json "$W/$n.ckpt" > "$W/info-$n.json"
  # 4. generate (the same sampler for all: top-p 0.95, seed 1) and check
  mkdir -p "$W/gen/$n"
  [ -s "$W/gen/$n/gen.pcap" ] || $P generate --model "$W/$n.ckpt" -o "$W/gen/$n/gen.pcap" --flows "$FLOWS" --batch 16 \
     --top-p 0.95 --seed 1 --threads "$THREADS" --json > "$W/summary-$n.json" 2> "$W/generate-$n.txt" || { cat "$W/generate-$n.txt"; exit 1; }
  bash "$S/tools/validate-pcap/validate_pcap.sh" "$W/gen/$n/gen.pcap" > "$W/validate-$n.log" 2>&1
  v=$?; echo "validate_pcap.sh $n: exit $v" | tee "$W/validate-$n.rc"; [ $v -eq 0 ] || rc=1
  python3 bench/generate/tcp_complete.py check --json "$W/gen/$n" > "$W/check-$n.json"
  ./pktlm compare "$W/heldout" "$W/gen/$n" --train "$W/train" --json "$W/compare-$n.json" > "$W/compare-$n.txt" || rc=1
done
# 5. one table
python3 - "$W" $RUNS <<'EOF'
import json, os, sys
w, runs = sys.argv[1], sys.argv[2:]
def js(p):
    try: return json.load(open(os.path.join(w, p)))
    except Exception: return {}
ho, hoa = js('check-heldout.json'), js('check-heldout-all.json')
print('held-out real: all TCP flows %d: complete %.1f %% (handshake %.1f %%, termination %.1f %%); complete-only set %d flows'
      % (hoa.get('flows', 0), 100 * hoa.get('complete_frac', 0), 100 * hoa.get('handshake_frac', 0),
         100 * hoa.get('termination_frac', 0), ho.get('flows', 0)))
print('| model | params | steps | train loss | val loss | TCP flows | dropped | repaired | handshake | termination | complete | validate | '
      'flags JSD a2b (synth/replay/sampler) | pkt size a2b EMD | flow pkts EMD | header bytes JSD |')
def tri(d):
    return '/'.join('%.3f' % d[k] if isinstance(d.get(k), (int, float)) else '-' for k in ('synth', 'replay', 'sampler'))
for r in runs:
    n = r.replace(':', '-')
    i, s, c, cmp = js('info-%s.json' % n), js('summary-%s.json' % n), js('check-%s.json' % n), js('compare-%s.json' % n)
    vf = os.path.join(w, 'validate-%s.rc' % n)
    v = open(vf).read().strip().split()[-1] if os.path.exists(vf) else '?'
    hb = cmp.get('header_byte_jsd', {}).get('synth', {}).get('mean')
    print('| %s | %.2f M | %s | %.3f | %.3f | %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | **%.1f %%** | exit %s | %s | %s | %s | %s |' % (
        n, (i.get('parameters') or 0) / 1e6, i.get('step'), i.get('loss') or float('nan'), i.get('val_loss') or float('nan'),
        c.get('flows'), 100 * (s.get('dropped_frac') or 0), 100 * (s.get('repaired_frac') or 0),
        100 * c.get('handshake_frac', 0), 100 * c.get('termination_frac', 0), 100 * c.get('complete_frac', 0), v,
        tri(cmp.get('jsd', {}).get('tcp_flags_a2b', {})), tri(cmp.get('emd', {}).get('pkt_size_a2b', {})),
        tri(cmp.get('emd', {}).get('flow_pkts', {})), '%.3f' % hb if isinstance(hb, (int, float)) else '-'))
EOF
exit $rc
