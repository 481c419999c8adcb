#!/usr/bin/env bash
# `make bench`: runs every benchmark folder's run.sh (bench/*/run.sh) in turn; each prints
# its table and writes bench/results/<name>.json. Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/*/run.sh; do
  [ -f "$b" ] || continue
  echo "== $b" >&2
  bash "$b"
done
