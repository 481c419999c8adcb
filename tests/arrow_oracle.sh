#!/usr/bin/env bash
# Runs tests/arrow_oracle.js under node with the npm package apache-arrow (the independent
# Arrow implementation pktlm's Arrow files are checked against). The package is installed on
# first use into a cache folder of this project's own, never globally:
#   ${PKTLM_NPM_DIR:-${XDG_CACHE_HOME:-~/.cache}/pktlm/npm}   (tools/install-deps.sh ARROW=1 does the same)
# Exits 77 when node, npm or the package cannot be had (no network): the caller skips.
set -u
ver=17.0.0
dir=${PKTLM_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pktlm/npm}
command -v node >/dev/null 2>&1 || exit 77
if [ ! -f "$dir/node_modules/apache-arrow/package.json" ]; then
  command -v npm >/dev/null 2>&1 || exit 77
  mkdir -p "$dir" || exit 77
  timeout 300 npm install --prefix "$dir" --no-audit --no-fund --silent "apache-arrow@$ver" >/dev/null 2>&1 || exit 77
fi
NODE_PATH="$dir/node_modules" exec node "$(dirname "$0")/arrow_oracle.js" "$@"
