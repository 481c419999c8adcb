#!/usr/bin/env bash
# Installs what pktlm needs to build and test on Debian 12 (run as root, or with sudo).
# Skips apt entirely when everything is already there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# build: compilers, libpcap (the cross-check of our reader), BLIS built for OpenMP (sgemm),
# libcjson (corpus vocab.json; Hugging Face config.json and safetensors headers);
# strace: tests/cli_badinput_io.sh kills prep at each of its renames (crash atomicity);
# python3 for the tests that read exports as the seed systems do (tests/interop/); numpy for
# python/pktlm.py, the Python reader of corpora (tests/cli_python.sh skips without it);
# pkgconf and groff-base: tests/cli_install.sh compiles against the installed pktlm.pc,
# tests/cli_opts.sh checks the generated man page; tcpreplay and iproute2: tests/cli_live.sh
# replays captures into a veth pair between two network namespaces for `--live` (skipped
# where namespaces cannot be made)
pkgs=(build-essential clang libclang-rt-14-dev libpcap-dev libblis-openmp-dev libcjson-dev strace python3 pkgconf groff-base python3-numpy tcpreplay iproute2)
# Open MPI: data-parallel training under mpirun (docs/distributed.md; tests/cli_mpi.sh runs it on
# loopback). MPI=0 leaves it out: the build then has no MPI (make MPI=0 is chosen by itself).
[ "${MPI:-1}" = 1 ] && pkgs+=(openmpi-bin libopenmpi-dev)
# optional extras: PYTORCH=1 for the reference fixtures / benchmarks, TOOLS=1 for tshark/tcpdump
[ "${PYTORCH:-0}" = 1 ] && pkgs+=(python3-torch python3-numpy libopenblas0-openmp)
[ "${TOOLS:-0}" = 1 ] && pkgs+=(tshark tcpdump hyperfine time)
# ARROW=1: node and npm, for the Arrow oracle (the npm package apache-arrow, installed below
# into the project's own cache folder, not globally; tests/arrow_oracle.sh)
# (a node that is already there is kept: nodesource's nodejs bundles npm and conflicts with
# Debian's npm package, so each is asked for only when its command is missing)
if [ "${ARROW:-0}" = 1 ]; then
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${ARROW:-0}" = 1 ]; then
  # the tests run as the user: install where tests/arrow_oracle.sh looks (its first run would too)
  bash "$(dirname "$0")/../tests/arrow_oracle.sh" --version >/dev/null 2>&1 || true
fi
