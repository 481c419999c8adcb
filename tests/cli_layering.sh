# The architecture rule of docs/architecture.md, checked on the source: a stage includes only
# itself and the stages before it (util < capture < flow < corpus < nn < models < train < gen
# < eval < cli). Not a CLI test; it lives here because tests/run.sh runs every cli_*.sh.
source "$(dirname "$0")/cli.sh"
order="util capture flow corpus nn models train gen eval cli"
rank() { local i=0 s; for s in $order; do [ "$s" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
bad=""
for f in src/*/*.[ch]; do
  st=$(basename "$(dirname "$f")"); r=$(rank "$st")
  for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f" | sort -u); do
    ri=$(rank "$inc")
    [ "$ri" -gt "$r" ] && bad="$bad $f->$inc"
  done
done
[ -z "$bad" ] && ok layering_no_upward_includes || bad layering_no_upward_includes "$bad"
