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

# Verbs that only load and run models (classify, eval, generate) reach no training code: the
# headers they include, followed to the end, name no src/train/ file (issue 12: the classifier
# is loaded by models/clshead.h; training of the head stays in train/).
incl_closure() {   # FILE... -> every src/ header reachable through #include "..."
  local todo="$*" seen="" f inc
  while [ -n "$todo" ]; do
    set -- $todo; f=$1; shift; todo="$*"
    case " $seen " in *" $f "*) continue ;; esac
    seen="$seen $f"
    for inc in $(sed -n 's/^#include "\([a-z]*\/[a-z0-9_]*\.h\)".*/\1/p' "$f"); do
      [ -f "src/$inc" ] && todo="$todo src/$inc"
    done
  done
  echo $seen
}
for v in classify eval generate; do
  up=$(incl_closure "src/cli/cmd_$v.c" | tr ' ' '\n' | grep '^src/train/' | tr '\n' ' ')
  [ -z "$up" ] && ok "layering_${v}_loads_without_train" || bad "layering_${v}_loads_without_train" "cmd_$v.c reaches $up"
done
