# The one option dialect of every verb (src/cli/opts.h, docs/cli.md): `--opt value` and
# `--opt=value`, no prefix guessing, one message for unknown options, ranges and positionals,
# and --help, the man page and the bash completion written from the same tables.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
ex=examples/http_tls.pcap

# every verb (and finetune task): an unknown option is refused in the same words
for v in stats prep export pretrain info import export-model eval classify generate compare \
         "finetune --task classify" "finetune --task generate" "finetune --task field"; do
  usage_error "unknown_${v// /_}" "^pktlm ${v%% *}: unknown option '--bogus' (see pktlm $v --help)" $PKTLM $v --bogus
done
# no prefix guessing: --pack is not --packets, --step not --steps, --js not --json
usage_error prefix_prep "unknown option '--pack'" $PKTLM prep $ex -o "$T/c" --pack 3
usage_error prefix_pretrain "unknown option '--step'" $PKTLM pretrain --data "$T/c" -o "$T/m.ckpt" --step 3
usage_error prefix_stats "unknown option '--js'" $PKTLM stats --js $ex
usage_error prefix_compare "unknown option '--tree'" $PKTLM compare $ex $ex --tree 3
usage_error prefix_eval "unknown option '--mod'" $PKTLM eval --mod x --data y

# --opt=value: parsed as --opt value, ranges checked the same way
usage_error eq_range_prep "^pktlm prep: --packets must be 1..1000000, got 0$" $PKTLM prep $ex -o "$T/c" --packets=0
usage_error eq_range_stats "max-flows must be at least 16, got 3" $PKTLM stats --max-flows=3 $ex
usage_error eq_range_pretrain "batch must be 1..65536, got 0" $PKTLM pretrain --data="$T/c" --out="$T/m.ckpt" --batch=0
usage_error eq_range_model "layers must be 1..1024, got 0" $PKTLM pretrain --data "$T/c" -o "$T/m.ckpt" --layers=0
usage_error eq_range_classify "after must be 1..1000000, got 0" $PKTLM classify --model=x $ex --after=0
usage_error eq_choice "^pktlm prep: --unit must be flow, packet or capture, got 'flows'$" $PKTLM prep $ex -o "$T/c" --unit=flows
usage_error choice_space "--split must be train, val, test or all, got 'x'" $PKTLM export "$T/c" --format pcap -o "$T/e" --split x
usage_error eq_flag "^pktlm info: --json takes no value (got '--json=1')" $PKTLM info --json=1 x.ckpt
usage_error missing_value "^pktlm prep: -o needs a value (CORPUS_DIR)" $PKTLM prep $ex -o
usage_error missing_required "^pktlm prep: missing -o CORPUS_DIR (see pktlm prep --help)" $PKTLM prep $ex
usage_error missing_positional "^pktlm compare: missing SYNTH (see pktlm compare --help)" $PKTLM compare $ex
usage_error extra_positional "^pktlm info: unexpected argument 'b.ckpt' (see pktlm info --help)" $PKTLM info a.ckpt b.ckpt
usage_error finetune_task "^pktlm finetune: --task must be classify, generate or field, got 'x'" $PKTLM finetune --task=x
# the same run written four ways gives the same summary
$PKTLM stats --json --timeout 30 $ex >"$T/s1" 2>/dev/null
$PKTLM stats $ex --timeout=30 --json >"$T/s2" 2>/dev/null
$PKTLM stats --timeout=30 --json -- $ex >"$T/s3" 2>/dev/null
sed -i '/"seconds"/d' "$T/s1" "$T/s2" "$T/s3"
check eq_same_result cmp -s "$T/s1" "$T/s2"
check dashdash_ends_options cmp -s "$T/s1" "$T/s3"
$PKTLM stats --json --timeout 30 --tcp-timeout 5 $ex | grep -q '"tcp_rst"'; check timeout_both test $? -eq 0
# prep: a run with --opt=value spellings writes the same corpus as with spaces
$PKTLM prep $ex -o "$T/p1" --packets 4 --unit flow --seed 7 -q 2>/dev/null
$PKTLM prep --packets=4 --unit=flow --seed=7 --out="$T/p2" -q $ex 2>/dev/null
check eq_prep_same_corpus cmp -s "$T/p1/train.tok" "$T/p2/train.tok"
# repeatable options accumulate
$PKTLM prep $ex -o "$T/p3" --drop-port 443 --drop-port 80 -q 2>/dev/null
grep -q '"drop_ports": \[443, 80\]' "$T/p3/manifest.json"; check list_repeat test $? -eq 0

# help: every option of the table is in --help (the completion words come from the same table)
$PKTLM --completion >"$T/comp.bash"; check completion_exit test $? -eq 0
bash -n "$T/comp.bash"; check completion_syntax test $? -eq 0
missing=""
for v in stats prep export pretrain info import export-model eval classify generate compare; do
  $PKTLM $v --help >"$T/h" || missing="$missing $v:exit"
  opts=$(awk -v v="$v" '$0 == "    " v ")" { f = 1 } f && /^        opts="/ { sub(/^        opts="/, ""); sub(/";;$/, ""); print; exit }' "$T/comp.bash")
  [ -n "$opts" ] || missing="$missing $v:no-options"
  for o in $opts; do
    [ "$o" = --help ] && continue
    case $v in finetune|eval) continue;; esac   # several tables: checked below
    grep -q -- "$o\b" "$T/h" || missing="$missing $v$o"
  done
done
for t in classify generate field; do
  $PKTLM finetune --task $t --help >"$T/h" || missing="$missing finetune-$t:exit"
done
[ -z "$missing" ] && ok help_lists_every_option || bad help_lists_every_option "$missing"
# a default in --help is the value the table starts from
$PKTLM prep --help | grep -q -- "--packets K *packets kept per flow (default 8, 1..1000000)"; check help_default_range test $? -eq 0
$PKTLM pretrain --help | grep -q -- "--layers N"; check help_model_fields test $? -eq 0
$PKTLM finetune --task field --help | grep -q "ip.ttl"; check help_extra test $? -eq 0

# completion: options, choices, verbs
comp() { ( source "$T/comp.bash"; COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _pktlm; echo "${COMPREPLY[*]}" ); }
[ "$(comp pktlm prep --un)" = "--unit" ]; check completion_option test $? -eq 0
[ "$(comp pktlm prep --unit '')" = "flow packet capture" ]; check completion_choice test $? -eq 0
comp pktlm fi | grep -qw finetune; check completion_verb test $? -eq 0
comp pktlm finetune --task field --fie | grep -qw -- --field; check completion_union test $? -eq 0
comp pktlm pretrain --ar | grep -qw -- --arch; check completion_model_fields test $? -eq 0

# man page: one section per verb and task, valid roff
$PKTLM --man >"$T/pktlm.1"; check man_exit test $? -eq 0
missing=""
for v in stats prep export pretrain info import export-model "finetune --task classify" "finetune --task generate" \
         "finetune --task field" eval "eval --field" classify generate compare; do
  grep -q "^\.SS \"pktlm $v\"" "$T/pktlm.1" || missing="$missing man:$v"
done
grep -q '^\\fB\\-\\-packets K\\fR$' "$T/pktlm.1" || missing="$missing man:--packets"
[ -z "$missing" ] && ok man_sections || bad man_sections "$missing"
if command -v groff >/dev/null; then
  w=$(groff -man -Tutf8 -ww -z "$T/pktlm.1" 2>&1)
  [ -z "$w" ] && ok man_groff_clean || bad man_groff_clean "$w"
  groff -man -Tutf8 "$T/pktlm.1" 2>/dev/null | grep -q "packets kept per flow"; check man_renders test $? -eq 0
else
  skip man_groff "groff not installed"
fi
