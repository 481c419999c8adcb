# Hostile input and output around the verbs (issue 13, part B): inputs that can be read only
# once (FIFOs, process substitution, standard input), folders with unreadable entries and
# symbolic-link loops, captures read only in part, standard output on a full device, a full
# disk under --flows, and outputs that must not be replaced when another one fails.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
ex=examples/http_tls.pcap
web=tests/fixtures/toy_cls/web/0.pcap

# run a command that must not hang: 60 s is far beyond any of these on the slowest build
t60() { timeout -s KILL 60 "$@"; }

# ---- inputs read once: process substitution, FIFO, standard input ----
$PKTLM prep $ex -o "$T/file" --label x -q; check prep_file_ref test $? -eq 0
t60 $PKTLM prep <(cat $ex) -o "$T/procsub" --label x -q; rc=$?
check prep_procsub_exit_0 test $rc -eq 0
same=1; for f in train.tok val.tok test.tok; do cmp -s "$T/file/$f" "$T/procsub/$f" || same=0; done
check prep_procsub_same_corpus test $same -eq 1
want=$(sha256sum $ex | cut -d' ' -f1)
check prep_procsub_sha256 grep -q "\"sha256\": \"$want\", \"bytes\": $(stat -c %s $ex), \"packets\": 86" "$T/procsub/manifest.json"
rm -f "$T/fifo"; mkfifo "$T/fifo"
cat $ex > "$T/fifo" &
t60 $PKTLM prep "$T/fifo" -o "$T/fifo_c" --label x -q; rc=$?
check prep_fifo_exit_0 test $rc -eq 0
same=1; for f in train.tok val.tok test.tok; do cmp -s "$T/file/$f" "$T/fifo_c/$f" || same=0; done
check prep_fifo_same_corpus test $same -eq 1
check prep_fifo_sha256 grep -q "\"sha256\": \"$want\"" "$T/fifo_c/manifest.json"
t60 $PKTLM prep - -o "$T/stdin_c" --label x -q < <(cat $ex); rc=$?
same=1; for f in train.tok val.tok test.tok; do cmp -s "$T/file/$f" "$T/stdin_c/$f" || same=0; done
check prep_stdin_pipe_same_corpus test $rc -eq 0 -a $same -eq 1
check prep_stdin_sha256 grep -q "\"sha256\": \"$want\"" "$T/stdin_c/manifest.json"

# SIGTERM stops an open() that waits for a writer that never comes
caught() { local m; m=$(awk '/^SigCgt/ {print $2}' "/proc/$1/status" 2>/dev/null) && [ -n "$m" ] && (( 0x$m & 0x4000 )); }
rm -f "$T/fifo"; mkfifo "$T/fifo"
$PKTLM prep "$T/fifo" -o "$T/never" > "$T/term.out" 2>&1 & pid=$!
for _ in $(seq 200); do caught $pid && break; sleep 0.05; done
sleep 0.3; kill -TERM $pid
( sleep 30; kill -KILL $pid 2>/dev/null ) & guard=$!   # a hang fails the check instead of the suite
wait $pid; rc=$?; kill $guard 2>/dev/null
check prep_sigterm_blocked_open_130 test $rc -eq 130
check prep_sigterm_says grep -q "interrupted: nothing written" "$T/term.out"
check prep_sigterm_nothing_written test ! -e "$T/never/train.tok"
rm -f "$T/fifo"

# classify through a FIFO and a process substitution: every flow, the right byte count
$PKTLM prep tests/fixtures/toy_cls -o "$T/toy" -q
$PKTLM finetune --task classify --data "$T/toy" --layers 1 --d-model 16 --heads 2 --ctx 64 --batch 8 --threads 1 \
  --epochs 1 -o "$T/m.ckpt" 2>/dev/null; check classifier_made test -s "$T/m.ckpt"
$PKTLM classify --model "$T/m.ckpt" $web --csv 2>/dev/null | cut -d, -f2- > "$T/cls_file.csv"
t60 $PKTLM classify --model "$T/m.ckpt" <(cat $web) --csv 2>"$T/cls_ps.err" | cut -d, -f2- > "$T/cls_ps.csv"
check classify_procsub_all_flows cmp -s "$T/cls_file.csv" "$T/cls_ps.csv"
mb=$(awk -v n=$(stat -c %s $web) 'BEGIN { printf "%.1f MB", n / 1e6 }')
check classify_procsub_bytes grep -q "from 1 capture(s), $mb in" "$T/cls_ps.err"
rm -f "$T/fifo"; mkfifo "$T/fifo"; cat $web > "$T/fifo" &
t60 $PKTLM classify --model "$T/m.ckpt" "$T/fifo" --csv 2>/dev/null | cut -d, -f2- > "$T/cls_fifo.csv"
check classify_fifo_all_flows cmp -s "$T/cls_file.csv" "$T/cls_fifo.csv"
rm -f "$T/fifo"

# ---- inputs read only in part: exit 1 in classify and compare too (as stats and prep) ----
head -c $(( $(stat -c %s $web) - 30 )) $web > "$T/cut.pcap"
$PKTLM classify --model "$T/m.ckpt" "$T/cut.pcap" --csv > "$T/cut.csv" 2>"$T/cut.err"; rc=$?
check classify_partial_exit_1 test $rc -eq 1
check classify_partial_named grep -q "cut.pcap: truncated record" "$T/cut.err"
check classify_partial_rows_kept test "$(wc -l < "$T/cut.csv")" -gt 10
$PKTLM compare $ex "$T/cut.pcap" --json "$T/cmp.json" > /dev/null 2>"$T/cmp.err"; rc=$?
check compare_partial_exit_1 test $rc -eq 1
check compare_partial_named grep -q "cut.pcap: truncated record" "$T/cmp.err"
check compare_partial_report_written test -s "$T/cmp.json"

# ---- standard output on a full device: an error, not exit 0 ----
full() { # name, command... (stdout -> /dev/full)
  local name=$1; shift
  "$@" > /dev/full 2>"$T/full.err"; local rc=$?
  if [ $rc -ne 0 ] && grep -q "standard output: No space left on device" "$T/full.err"; then ok "$name"
  else bad "$name" "rc=$rc $(tail -2 "$T/full.err")"; fi
}
full stats_json_dev_full $PKTLM stats --json $ex
full stats_text_dev_full $PKTLM stats $ex
full classify_csv_dev_full $PKTLM classify --model "$T/m.ckpt" $web --csv
full eval_json_dev_full $PKTLM eval --model "$T/m.ckpt" --data "$T/toy" --json
full compare_json_stdout_dev_full $PKTLM compare $ex $ex --json -
$PKTLM pretrain --data tests/fixtures/tiny_corpus --layers 1 --d-model 16 --heads 2 --ctx 16 --batch 2 --steps 1 --threads 1 \
  --quiet -o "$T/lm.ckpt" 2>/dev/null
full info_dev_full $PKTLM info "$T/lm.ckpt"
full help_dev_full $PKTLM --help

# ---- compare: a failing --html leaves an existing --json as it was ----
echo '{"old": true}' > "$T/keep.json"
$PKTLM compare $ex $ex --json "$T/keep.json" --html "$T/no/such/dir/r.html" > /dev/null 2>"$T/html.err"; rc=$?
check compare_html_fails_exit_1 test $rc -eq 1
check compare_json_kept test "$(cat "$T/keep.json")" = '{"old": true}'
check compare_html_fails_named grep -q "no/such/dir/r.html" "$T/html.err"
check compare_no_temp_left test -z "$(ls "$T" | grep 'keep.json.tmp')"

# ---- stats --flows on a full disk says so (a 64 KiB tmpfs in a private mount namespace) ----
if unshare -rm true 2>/dev/null; then
  mkdir -p "$T/small"
  unshare -rm sh -c "mount -t tmpfs -o size=64k none '$T/small' && dd if=/dev/zero of='$T/small/fill' bs=4k 2>/dev/null;
    $PKTLM stats --flows '$T/small/flows.csv' tests/fixtures/toy_cls > /dev/null 2>'$T/enospc.err'; echo \$? > '$T/enospc.rc'; ls '$T/small' > '$T/enospc.ls'"
  check stats_flows_enospc_exit_1 test "$(cat "$T/enospc.rc")" = 1
  check stats_flows_enospc_message grep -q "flows.csv: cannot write: No space left on device" "$T/enospc.err"
  check stats_flows_enospc_no_temp test "$(cat "$T/enospc.ls")" = fill
else
  skip stats_flows_enospc "no user namespaces (unshare -rm) to mount a small tmpfs"
fi

# ---- folder walks: unreadable files and folders, symbolic-link loops ----
# root reads files whatever their mode: run pktlm without the capabilities that allow it
noperm() { if [ "$(id -u)" = 0 ]; then setpriv --bounding-set -dac_override,-dac_read_search "$@"; else "$@"; fi; }
if [ "$(id -u)" != 0 ] || setpriv --bounding-set -dac_override,-dac_read_search true 2>/dev/null; then
  mkdir -p "$T/w/a" "$T/w/b" "$T/w/locked"
  cp $ex "$T/w/a/one.pcap"; cp $web "$T/w/a/two.pcap"; cp $ex "$T/w/b/secret.pcap"; cp $web "$T/w/locked/x.pcap"
  chmod 000 "$T/w/b/secret.pcap" "$T/w/locked"
  noperm $PKTLM stats "$T/w" > "$T/w.out" 2>"$T/w.err"; rc=$?
  check walk_stats_exit_1 test $rc -eq 1
  check walk_stats_unreadable_file_named grep -q "secret.pcap: Permission denied" "$T/w.err"
  check walk_stats_unreadable_folder_named grep -q "locked: Permission denied (folder skipped)" "$T/w.err"
  check walk_stats_rest_read grep -q "^files          3 (1 with errors)" "$T/w.out"
  noperm $PKTLM prep "$T/w" -o "$T/w_c" -q 2>"$T/wp.err"; rc=$?
  check walk_prep_exit_1 test $rc -eq 1 -a -s "$T/w_c/train.tok"
  check walk_prep_warns grep -q "secret.pcap: Permission denied (skipped)" "$T/wp.err"
  check walk_prep_folder_warns grep -q "locked: Permission denied (folder skipped)" "$T/wp.err"
  noperm $PKTLM classify --model "$T/m.ckpt" "$T/w" --csv > "$T/wc.csv" 2>"$T/wc.err"; rc=$?
  check walk_classify_exit_1 test $rc -eq 1 -a "$(wc -l < "$T/wc.csv")" -gt 40
  check walk_classify_warns grep -q "secret.pcap: Permission denied" "$T/wc.err"
  noperm $PKTLM compare "$T/w" "$T/w/a" --json "$T/wcmp.json" > /dev/null 2>"$T/wcmp.err"; rc=$?
  check walk_compare_exit_1 test $rc -eq 1 -a -s "$T/wcmp.json"
  check walk_compare_warns grep -q "secret.pcap: Permission denied" "$T/wcmp.err"
  chmod 755 "$T/w/locked"; chmod 644 "$T/w/b/secret.pcap"
else
  skip walk_unreadable "running as root without setpriv"
fi
# a link to a parent folder and a second link to a file: each real capture read once
mkdir -p "$T/loop/sub"; cp $ex "$T/loop/sub/x.pcap"; ln -s .. "$T/loop/sub/up"; ln -s x.pcap "$T/loop/sub/y.pcap"
t60 $PKTLM stats --json "$T/loop" > "$T/loop.json" 2>"$T/loop.err"; rc=$?
check walk_loop_stats_exit_0 test $rc -eq 0
check walk_loop_stats_once grep -q '"files": 1,' "$T/loop.json"
check walk_loop_stats_packets grep -q '"packets": 86,' "$T/loop.json"
t60 $PKTLM prep "$T/loop" -o "$T/loop_c" --label x -q; rc=$?
check walk_loop_prep_once test $rc -eq 0 -a "$(grep -c '"path":' "$T/loop_c/manifest.json")" -eq 1
t60 $PKTLM classify --model "$T/m.ckpt" "$T/loop" --csv > "$T/loop.csv" 2>/dev/null
$PKTLM classify --model "$T/m.ckpt" $ex --csv > "$T/loop_ref.csv" 2>/dev/null
check walk_loop_classify_once test "$(wc -l < "$T/loop.csv")" -eq "$(wc -l < "$T/loop_ref.csv")"
t60 $PKTLM compare "$T/loop" "$T/loop" --json "$T/loopcmp.json" > /dev/null 2>&1
check walk_loop_compare_once grep -q '"files": 1,' "$T/loopcmp.json"

# generate: a prompt or timing capture read only in part is an error, nothing written
$PKTLM pretrain --data "$T/file" --layers 1 --d-model 16 --heads 2 --ctx 64 --batch 2 --steps 1 --threads 1 --quiet \
  -o "$T/g.ckpt" 2>/dev/null
$PKTLM generate --model "$T/g.ckpt" -o "$T/gen.pcap" --flows 2 --threads 1 --prompt-pcap "$T/cut.pcap" >/dev/null 2>"$T/gen.err"; rc=$?
check generate_partial_prompt_exit_1 test $rc -eq 1 -a ! -e "$T/gen.pcap"
check generate_partial_prompt_named grep -q "cut.pcap: truncated record.*must be read to the end" "$T/gen.err"
$PKTLM generate --model "$T/g.ckpt" -o "$T/gen.pcap" --flows 2 --threads 1 --timing-from "$T/cut.pcap" >/dev/null 2>"$T/gen.err"; rc=$?
check generate_partial_timing_exit_1 test $rc -eq 1 -a ! -e "$T/gen.pcap"

# ---- prep's commit is crash-atomic: killed at each rename it makes (strace injects SIGKILL
# at the Nth rename), the corpus folder holds all of the old corpus or all of the new one,
# and a file the user kept in it survives ----
if command -v strace >/dev/null && strace -f -o /dev/null -e trace=none true 2>/dev/null; then
  $PKTLM prep $ex -o "$T/atom" --label old -q; echo keep > "$T/atom/NOTES.txt"
  rm -rf "$T/atom_old"; cp -r "$T/atom" "$T/atom_old"
  mixed=0; lost=0; newseen=0
  for n in $(seq 1 14); do
    rm -rf "$T/atom"; cp -r "$T/atom_old" "$T/atom"
    { (strace -f -o /dev/null -e trace=rename,renameat,renameat2 -e inject=rename,renameat,renameat2:signal=KILL:when=$n \
      $PKTLM prep examples/dns_icmp_udp_ns.pcap -o "$T/atom" --label new -q >/dev/null 2>&1); } 2>/dev/null
    nold=0; nnew=0
    for f in train.tok val.tok test.tok vocab.json labels.txt manifest.json; do
      if cmp -s "$T/atom/$f" "$T/atom_old/$f"; then nold=$((nold + 1)); else nnew=$((nnew + 1)); fi
    done
    [ $nold -ne 6 ] && [ $nnew -ne 6 ] && { mixed=$((mixed + 1)); echo "  killed at rename $n: $nold old files, $nnew new"; }
    [ $nnew -eq 6 ] && newseen=1
    [ "$(cat "$T/atom/NOTES.txt" 2>/dev/null)" = keep ] || lost=$((lost + 1))
  done
  check prep_kill_no_mix test $mixed -eq 0
  check prep_kill_keeps_user_file test $lost -eq 0
  check prep_kill_commits_in_the_end test $newseen -eq 1
  rm -rf "$T"/atom.new.* "$T"/atom
else
  skip prep_kill_atomic "strace cannot trace here"
fi
# the swap keeps what the user put in the corpus folder (files and folders); a link to a
# corpus folder stays a link
$PKTLM prep $ex -o "$T/keepdir" --label a -q; echo n > "$T/keepdir/NOTES.txt"; mkdir -p "$T/keepdir/export"; echo e > "$T/keepdir/export/x"
ln -sfn keepdir "$T/keeplink"
$PKTLM prep examples/dns_icmp_udp_ns.pcap -o "$T/keeplink" --label b -q; rc=$?
check prep_swap_exit_0 test $rc -eq 0 -a "$(cat "$T/keepdir/labels.txt")" = b
check prep_swap_keeps_files test "$(cat "$T/keepdir/NOTES.txt")" = n -a "$(cat "$T/keepdir/export/x")" = e
check prep_swap_link_stays test -L "$T/keeplink"
check prep_swap_nothing_left test -z "$(ls "$T" | grep -E 'keepdir\.(new|old)')"
