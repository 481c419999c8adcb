#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build, and run the main
# job on the bundled example captures (examples/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
make -j"$(nproc)"
bash examples/run.sh
