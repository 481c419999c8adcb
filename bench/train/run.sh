#!/usr/bin/env bash
# Training throughput: pktlm vs PyTorch (2 threads each), configs A and B. Called by `make bench`.
# Needs ./pktlm built and /usr/bin/python3 with torch (skips cleanly without it).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "bench/train: SKIP (no /usr/bin/python3 with torch)"; exit 0
fi
[ -x "$root/pktlm" ] || make -C "$root" -j2 pktlm >/dev/null
# the rows go to bench/results/train.json like every other benchmark's (unless --json is given)
case " $* " in *" --json "*) ;; *) set -- --json "$root/bench/results/train.json" "$@" ;; esac
exec /usr/bin/python3 "$root/bench/train/bench.py" --pktlm "$root/pktlm" "$@"
