# Bad input from the command line: out-of-range options (exit 2 with a message), captures
# that cannot be read (exit 1, the corpus still written), Ctrl-C (exit 130, nothing half
# written), damaged checkpoints. tests/test_formats.c covers the file formats themselves.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
ex=examples/http_tls.pcap

usage_error stats_max_flows_range "max-flows must be at least 16, got 3" "$PKTLM" stats --max-flows 3 $ex
usage_error stats_timeout_nan "timeout needs a number, got 'nan'" "$PKTLM" stats --timeout nan $ex
usage_error stats_timeout_negative "timeout must be greater than 0" "$PKTLM" stats --timeout -1 $ex
usage_error prep_packets_range "packets must be 1..1000000, got 0" "$PKTLM" prep $ex -o "$T/x" --packets 0
usage_error prep_ratio_nan "ratio must be A:B:C" "$PKTLM" prep $ex -o "$T/x" --ratio nan:1:1
usage_error export_packets_range "packets must be at least 0, got -1" "$PKTLM" export "$T/x" --format pcap -o "$T/y" --packets -1
usage_error pretrain_int_overflow "batch must be 1..65536, got 4294967297" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --batch 4294967297
usage_error generate_batch_range "batch must be 1..4096, got 0" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --batch 0
usage_error generate_batch_overflow "batch must be 1..4096, got 4294967297" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --batch 4294967297
usage_error generate_flows_range "flows must be 1..1000000000, got 0" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --flows 0
usage_error generate_seed_negative "seed must be at least 0, got -1" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --seed -1
usage_error generate_top_p_range "top-p must be greater than 0 and at most 1, got 1.5" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --top-p 1.5
usage_error generate_temperature_negative "temperature must be at least 0" "$PKTLM" generate --model "$T/m.ckpt" -o "$T/g.pcap" --temperature -1
usage_error pretrain_clip_negative "clip must be at least 0, got -1" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --clip -1
usage_error pretrain_warmup_negative "warmup must be at least 0, got -1" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --warmup -1
usage_error pretrain_min_lr_frac_range "min-lr-frac must be 0..1, got 5" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --min-lr-frac 5
usage_error pretrain_lr_zero "lr must be greater than 0" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --lr 0
usage_error pretrain_epochs_negative "epochs must be at least 0, got -1" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --epochs -1
usage_error finetune_patience_negative "patience must be at least 0, got -1" "$PKTLM" finetune --task classify --data "$T/x" -o "$T/c.ckpt" --patience -1
usage_error pretrain_lr_nan "lr needs a number, got 'nan'" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --lr nan
usage_error pretrain_seed_negative "seed must be at least 0" "$PKTLM" pretrain --data "$T/x" -o "$T/m.ckpt" --seed -1
# classify, eval and compare: every out-of-range value named with the option and the range
usage_error classify_after_range "after must be 1..1000000, got 0" "$PKTLM" classify --model "$T/m.ckpt" $ex --after 0
usage_error classify_batch_range "batch must be 1..65536, got -3" "$PKTLM" classify --model "$T/m.ckpt" $ex --batch -3
usage_error classify_threads_range "threads must be 0..1024, got -1" "$PKTLM" classify --model "$T/m.ckpt" $ex --threads -1
usage_error classify_payload_range "payload must be 0..65535, got -1" "$PKTLM" classify --model "$T/m.ckpt" $ex --payload -1
usage_error classify_max_bytes_range "max-bytes must be 20..65535, got 0" "$PKTLM" classify --model "$T/m.ckpt" $ex --max-bytes 0
usage_error classify_after_text "after needs an integer, got 'x'" "$PKTLM" classify --model "$T/m.ckpt" $ex --after x
usage_error eval_batch_range "batch must be 1..65536, got 0" "$PKTLM" eval --model "$T/m.ckpt" --data "$T/x" --batch 0
usage_error eval_max_packets_range "max-packets must be 0..1000000, got -2" "$PKTLM" eval --model "$T/m.ckpt" --data "$T/x" --max-packets -2
usage_error eval_trees_range "trees must be 1..100000, got 0" "$PKTLM" eval --model "$T/m.ckpt" --data "$T/x" --trees 0
usage_error eval_threads_range "threads must be 0..1024, got 5000" "$PKTLM" eval --model "$T/m.ckpt" --data "$T/x" --threads 5000
usage_error eval_seed_negative "seed must be at least 0, got -1" "$PKTLM" eval --model "$T/m.ckpt" --data "$T/x" --seed -1
usage_error compare_header_bytes_range "header-bytes must be 0..255, got 300" "$PKTLM" compare $ex $ex --header-bytes 300
usage_error compare_trees_range "trees must be 1..100000, got 0" "$PKTLM" compare $ex $ex --trees 0
usage_error compare_seed_negative "seed must be at least 0, got -5" "$PKTLM" compare $ex $ex --seed -5

# prep with one good and two unreadable captures: the corpus is written, the warnings name
# file and offset, the manifest says which input was skipped, and the exit status is 1
mkdir -p "$T/in"; cp $ex "$T/in/good.pcap"; head -c 10 $ex > "$T/in/cut.pcap"; printf 'hello' > "$T/in/text.pcap"
"$PKTLM" prep "$T/in/good.pcap" "$T/in/cut.pcap" "$T/in/text.pcap" -o "$T/c" --no-labels -q 2>"$T/p.err"; rc=$?
check prep_unreadable_exit_1 test $rc -eq 1
check prep_unreadable_named grep -q "cut.pcap: truncated pcap file header (10 of 24 bytes) at byte offset 0 (skipped)" "$T/p.err"
check prep_unreadable_corpus_written test -s "$T/c/train.tok" -a -s "$T/c/manifest.json"
check prep_unreadable_in_manifest grep -q '"status": "skipped", "error": ".*text.pcap: not a pcap' "$T/c/manifest.json"

# a corpus file that cannot be replaced (a directory of that name): an error, and neither a
# half-replaced corpus nor temporary files left behind
mkdir -p "$T/d/val.tok"
"$PKTLM" prep $ex -o "$T/d" -q 2>"$T/d.err"; rc=$?
check prep_target_not_file test $rc -eq 1 -a -n "$(grep -l 'val.tok: exists and is not a regular file' "$T/d.err")"
check prep_target_nothing_left test "$(ls -A "$T/d")" = val.tok

# Ctrl-C: a capture that keeps coming on a pipe; SIGINT once the handler is in place, then the
# end of the input. prep writes nothing (an existing corpus stays as it was); stats writes no CSV.
caught() { # pid: SIGINT caught (Linux /proc)
  local m; m=$(awk '/^SigCgt/ {print $2}' "/proc/$1/status" 2>/dev/null) && [ -n "$m" ] && (( 0x$m & 2 ))
}
interrupt() { # out-file, command... (reads the capture from $T/fifo)
  local out=$1; shift
  rm -f "$T/fifo"; mkfifo "$T/fifo"
  "$@" < "$T/fifo" > "$out" 2>&1 & local pid=$!
  exec 7>"$T/fifo"
  head -c 4000 $ex >&7
  for _ in $(seq 200); do caught $pid && break; sleep 0.05; done
  kill -INT $pid
  exec 7>&-
  wait $pid
}
cp -r "$T/c" "$T/keep"
interrupt "$T/i.out" "$PKTLM" prep - -o "$T/c" --no-labels; rc=$?
check prep_sigint_exit_130 test $rc -eq 130
check prep_sigint_says grep -q "interrupted: nothing written" "$T/i.out"
same=1; for f in train.tok val.tok test.tok vocab.json labels.txt manifest.json; do cmp -s "$T/c/$f" "$T/keep/$f" || same=0; done
check prep_sigint_corpus_unchanged test $same -eq 1 -a "$(ls -A "$T/c" | wc -l)" -eq 6
interrupt "$T/s.out" "$PKTLM" stats --flows "$T/flows.csv" -; rc=$?
check stats_sigint_exit_130 test $rc -eq 130
check stats_sigint_no_csv test -z "$(ls "$T" | grep flows.csv)"

# damaged checkpoints through every reader: info, pretrain --resume, pretrain on a corpus
C=tests/fixtures/tiny_corpus
"$PKTLM" pretrain --data $C --layers 1 --d-model 16 --heads 2 --ctx 16 --batch 2 --steps 2 --threads 1 --quiet -o "$T/m.ckpt" 2>/dev/null
check ckpt_made test -s "$T/m.ckpt"
cp "$T/m.ckpt" "$T/h.ckpt"; printf '\x63' | dd of="$T/h.ckpt" bs=1 seek=164 conv=notrunc 2>/dev/null   # the lr
"$PKTLM" info "$T/h.ckpt" 2>"$T/h.err"; rc=$?
check info_header_flip test $rc -eq 1 -a -n "$(grep -l 'h.ckpt: corrupt checkpoint header' "$T/h.err")"
"$PKTLM" pretrain --resume "$T/h.ckpt" -o "$T/r.ckpt" 2>"$T/r.err"; rc=$?
check resume_header_flip test $rc -eq 1 -a -n "$(grep -l 'h.ckpt: corrupt checkpoint header' "$T/r.err")" -a ! -e "$T/r.ckpt"
cp "$T/m.ckpt" "$T/t.ckpt"; truncate -s -4 "$T/t.ckpt"
"$PKTLM" pretrain --resume "$T/t.ckpt" -o "$T/r.ckpt" 2>"$T/r.err"; rc=$?
check resume_truncated test $rc -eq 1 -a -n "$(grep -l 't.ckpt: corrupt or truncated checkpoint' "$T/r.err")"

# info --json stays valid JSON with a corpus path that needs escaping
mkdir -p "$T/q\"d"; cp $C/*.tok $C/vocab.json "$T/q\"d/"
"$PKTLM" pretrain --data "$T/q\"d" --layers 1 --d-model 16 --heads 2 --ctx 16 --batch 2 --steps 1 --threads 1 --quiet -o "$T/q.ckpt" 2>/dev/null
"$PKTLM" info --json "$T/q.ckpt" > "$T/q.json"
check info_json_escapes_path grep -q 'q\\"d",' "$T/q.json"

# -o naming a directory is refused before training, not when the checkpoint is written at the end
mkdir -p "$T/outdir"
"$PKTLM" pretrain --data $C --layers 1 --d-model 16 --heads 2 --ctx 16 --steps 1 -o "$T/outdir" 2>"$T/o.err"; rc=$?
check pretrain_out_is_dir test $rc -eq 1 -a -n "$(grep -l 'outdir: is a directory' "$T/o.err")" -a ! -e "$T/outdir.csv"

# options --resume cannot honour are named, not dropped silently
"$PKTLM" pretrain --resume "$T/m.ckpt" --steps 3 --batch 16 --quiet -o "$T/m3.ckpt" 2>"$T/w.err"; rc=$?
check resume_warns_ignored test $rc -eq 0 -a -n "$(grep -l 'ignoring --batch' "$T/w.err")"
