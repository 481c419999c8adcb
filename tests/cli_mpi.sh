# Data-parallel training under mpirun (src/train/dist.c, docs/distributed.md), on loopback:
# `mpirun -np 2` (1 thread each) and one process, same global batch and seed, give the same
# loss curve to float tolerance over 50 steps for every backbone (gpt2, qwen2, mamba2,
# linattn), and the same for finetune --task generate, classify and field; --resume with
# another number of ranks; SIGTERM on one rank and Ctrl-C at mpirun end all ranks with a
# checkpoint; a batch too small to share is refused without a hang; 4 ranks oversubscribed
# on 2 cores still agree. Skips the MPI part where mpirun is missing or the binary was built
# without MPI (make MPI=0); the MPI=0 build of dist.c is compiled either way.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
CC=${CC:-cc}

# the build without MPI: the stub side of dist.c compiles (-Werror: warning-clean) on its own
$CC -std=c11 -D_GNU_SOURCE -Isrc -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror -fopenmp -UPKTLM_MPI \
    -c src/train/dist.c -o $T/dist0.o 2>$T/cc0
check mpi0_stub_compiles test $? -eq 0
check mpi0_stub_has_no_mpi test -z "$(nm $T/dist0.o 2>/dev/null | grep -i ' U MPI_')"

if ! command -v mpirun >/dev/null 2>&1; then skip mpi_runs "mpirun not installed (apt-get install openmpi-bin libopenmpi-dev)"; exit 0; fi
if ! ldd "$PKTLM" 2>/dev/null | grep -q libmpi; then skip mpi_runs "$PKTLM was built without MPI (make MPI=0)"; exit 0; fi

# root needs --allow-run-as-root; 2 ranks on 2 cores would be bound one core each (fine), more
# need --oversubscribe (and are not bound); --bind-to none keeps the binding out of the timing.
# Leak checking is off under mpirun: Open MPI keeps its own allocations until exit.
export OMPI_MCA_btl_vader_single_copy_mechanism=none   # containers without ptrace rights (open-mpi/ompi#4948)
export OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN="timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1"
mpi() { ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 $MPIRUN "$@"; }
STEPS=50 ARCHS="gpt2 qwen2 mamba2 linattn" SAN=${PKTLM_SAN:-0}
# the sanitizer build is ~10x slower: fewer steps and two backbones (the MPI code is the same
# for all; tests/test_dist.c checks every backbone's layer hook)
[ "$SAN" = 1 ] && STEPS=12 ARCHS="gpt2 qwen2"

capture $T/a.pcap 1; capture $T/b.pcap 2
$PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp --quiet >/dev/null 2>&1 || $PKTLM prep $T/a.pcap $T/b.pcap -o $T/c --label udp >/dev/null 2>&1

# maxdiff A.csv B.csv FIRST LAST: rows of both (after the header) and the largest absolute
# difference of columns FIRST..LAST (empty cells must be empty in both)
maxdiff() {
  local n; n=$(head -1 "$1" | tr ',' '\n' | wc -l)
  paste -d, <(tail -n +2 "$1") <(tail -n +2 "$2") | awk -F, -v n=$n -v c0=$3 -v c1=$4 '
    { for (c = c0; c <= c1; c++) { a = $c; b = $(c + n); if ((a == "") != (b == "")) m = 1e9;
        else if (a != "") { d = a - b; if (d < 0) d = -d; if (d > m) m = d } } r++ }
    END { printf "%d %.3g\n", r, m + 0 }'
}
# same NAME A.csv B.csv FIRST LAST TOL: same number of rows, every value within TOL
same() {
  local name=$1 r1 r2 out
  r1=$(($(wc -l <"$2") - 1)); r2=$(($(wc -l <"$3") - 1))
  out=$(maxdiff "$2" "$3" "$4" "$5")
  if [ "$r1" -gt 0 ] && [ "$r1" -eq "$r2" ] && awk -v m="${out#* }" -v t="$6" 'BEGIN { exit !(m <= t) }'; then ok "$name"
  else bad "$name" "rows $r1 vs $r2, largest difference ${out#* } (tolerance $6)"; fi
}

# ---- equivalence: one process and 2 ranks x 1 thread, the same global batch of 4 rows ----
for arch in $ARCHS; do
  case $arch in
    mamba2) A="--arch mamba2 --layers 2 --d-model 32 --d-state 16 --head-dim 16 --chunk 16" ;;
    qwen2) A="--arch qwen2 --layers 2 --d-model 32 --heads 4 --kv-heads 2" ;;
    *) A="--arch $arch --layers 2 --d-model 32 --heads 4" ;;
  esac
  R="--data $T/c $A --ctx 64 --batch 4 --steps $STEPS --lr 3e-3 --warmup 5 --eval-every 5 --val-batches 3 --threads 1"
  $PKTLM pretrain $R --quiet -o $T/$arch-1.ckpt 2>$T/$arch-1.err
  check ${arch}_single test $? -eq 0 -a -s $T/$arch-1.csv
  # buckets of 10 kB: every layer's gradients are summed during the backward pass (the 4 MiB
  # default would hold all of this tiny model's layers: everything after the backward)
  PKTLM_BUCKET_MB=0.01 mpi -np 2 $PKTLM pretrain $R -o $T/$arch-2.ckpt >$T/$arch-2.out 2>$T/$arch-2.err
  check ${arch}_np2 test $? -eq 0 -a -s $T/$arch-2.csv -a -s $T/$arch-2.ckpt
  check ${arch}_np2_buckets_during_backward grep -q "per step .* MB of gradients summed, 2 bucket(s) of them during the backward" $T/$arch-2.err
  # loss, validation loss, gradient norm of every step
  same ${arch}_np2_same_curve $T/$arch-1.csv $T/$arch-2.csv 4 6 1e-4
done
check np2_says_ranks grep -q "1 thread x 2 ranks" $T/gpt2-2.err
check np2_reports_wait grep -q "2 ranks: .* waiting for other ranks" $T/gpt2-2.err
check np2_one_progress_line test "$(grep -c "^pktlm pretrain: gpt2" $T/gpt2-2.err)" -eq 1
check np2_no_stray_files test -z "$(ls $T | grep -E 'tmp|lock' )"
G="--data $T/c --arch gpt2 --layers 2 --d-model 32 --heads 4 --ctx 64 --batch 4 --lr 3e-3 --warmup 5 --threads 1 --quiet"

# ---- --resume with another number of ranks: 2 ranks to step 20, one process to 40 (and back) ----
$PKTLM pretrain $G --steps 40 --eval-every 5 -o $T/r1.ckpt 2>/dev/null
mpi -np 2 $PKTLM pretrain $G --steps 40 --eval-every 5 --stop-after 20 -o $T/r2.ckpt 2>/dev/null
check resume_np2_stopped grep -q "step 20 of 40" <($PKTLM info $T/r2.ckpt)
$PKTLM pretrain --resume $T/r2.ckpt --quiet --threads 1 -o $T/r2.ckpt 2>/dev/null
check resume_np1_after_np2 test $? -eq 0
same resume_np2_then_np1_same_curve $T/r1.csv $T/r2.csv 4 6 1e-4
$PKTLM pretrain $G --steps 40 --eval-every 5 --stop-after 20 -o $T/r3.ckpt 2>/dev/null
mpi -np 2 $PKTLM pretrain --resume $T/r3.ckpt --quiet --threads 1 -o $T/r3.ckpt 2>/dev/null
check resume_np2_after_np1 test $? -eq 0
same resume_np1_then_np2_same_curve $T/r1.csv $T/r3.csv 4 6 1e-4

# ---- 4 ranks on 2 cores (oversubscribed), a global batch of 8 rows: 2 each ----
$PKTLM pretrain $G --batch 8 --steps 15 --eval-every 5 -o $T/w1.ckpt 2>/dev/null
mpi -np 4 $PKTLM pretrain $G --batch 8 --steps 15 --eval-every 5 -o $T/w4.ckpt 2>/dev/null
check np4_oversubscribed test $? -eq 0
same np4_same_curve $T/w1.csv $T/w4.csv 4 6 1e-4
# 3 ranks share 8 rows unevenly (3, 3, 2): the token-weighted mean is still the global one
if [ "$SAN" = 0 ]; then
  mpi -np 3 $PKTLM pretrain $G --batch 8 --steps 15 --eval-every 5 -o $T/w3.ckpt 2>/dev/null
  same np3_uneven_rows_same_curve $T/w1.csv $T/w3.csv 4 6 1e-4
fi

# ---- a batch smaller than the number of ranks: a clear error on every rank, no hang ----
mpi -np 2 $PKTLM pretrain $G --batch 1 --steps 3 -o $T/b1.ckpt >/dev/null 2>$T/b1.err; rc=$?
check np2_batch1_refused test $rc -ne 0 -a $rc -ne 124 -a ! -e $T/b1.ckpt
check np2_batch1_says_why grep -q "cannot be shared by 2 processes" $T/b1.err

# ---- fine-tuning: generate (pretrain's loop from --init), classify, field ----
mpi -np 2 $PKTLM finetune --task generate --init $T/gpt2-1.ckpt --data $T/c --steps 10 --eval-every 5 --batch 4 --threads 1 \
  --quiet -o $T/g2.ckpt 2>/dev/null
check finetune_generate_np2 test $? -eq 0 -a -s $T/g2.ckpt
$PKTLM finetune --task generate --init $T/gpt2-1.ckpt --data $T/c --steps 10 --eval-every 5 --batch 4 --threads 1 \
  --quiet -o $T/g1.ckpt 2>/dev/null
same finetune_generate_np2_same_curve $T/g1.csv $T/g2.csv 4 6 1e-4
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q
C="--data $T/toy --layers 1 --d-model 32 --heads 2 --ctx 128 --batch 8 --threads 1 --epochs 3 --lr 3e-3 --patience 0"
$PKTLM finetune --task classify $C -o $T/k1.ckpt 2>/dev/null
mpi -np 2 $PKTLM finetune --task classify $C -o $T/k2.ckpt 2>$T/k2.err
check classify_np2 test $? -eq 0 -a -s $T/k2.ckpt
# train loss, validation accuracy and macro-F1 of every epoch
same classify_np2_same_log $T/k1.csv $T/k2.csv 4 6 1e-4
if [ "$SAN" = 0 ]; then
  $PKTLM finetune --task classify $C --freeze -o $T/f1.ckpt 2>/dev/null
  mpi -np 2 $PKTLM finetune --task classify $C --freeze -o $T/f2.ckpt 2>/dev/null
  same classify_frozen_np2_same_log $T/f1.csv $T/f2.csv 4 6 1e-4
fi
F="--task field --field ip.ttl --data $T/toy --layers 1 --d-model 32 --heads 2 --ctx 128 --batch 8 --threads 1 --max-steps 12 --eval-every 4"
$PKTLM finetune $F -o $T/t1.ckpt 2>/dev/null
mpi -np 2 $PKTLM finetune $F -o $T/t2.ckpt 2>/dev/null
check field_np2 test $? -eq 0 -a -s $T/t2.ckpt
same field_np2_same_log $T/t1.csv $T/t2.csv 4 8 1e-4

# ---- stopping: SIGTERM to one rank, then Ctrl-C (SIGINT) at mpirun: every rank stops at the
# same step and rank 0 saves. On Ctrl-C Open MPI 4.1's mpirun sends its ranks SIGCONT, then
# SIGTERM odls_base_sigkill_timeout seconds later, then SIGKILL as long again (docs/distributed.md) ----
rank_pid() { # PID RANK -> the pid of that rank: a descendant of PID with OMPI_COMM_WORLD_RANK=RANK
  local p q
  for p in $(pgrep -P "$1"); do
    for q in $p $(pgrep -P $p); do
      tr '\0' '\n' </proc/$q/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo $q; return; }
    done
  done
}
for how in rank1 mpirun; do
  rm -f $T/s-$how.ckpt
  OMPI_MCA_odls_base_sigkill_timeout=3 ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe \
    --bind-to none -np 2 $PKTLM pretrain ${G% --quiet} --steps 1000000 --save-every 10 -o $T/s-$how.ckpt 2>$T/s-$how.err &
  mp=$!
  for i in $(seq 1 600); do [ -s $T/s-$how.ckpt ] && break; sleep 0.1; done
  pid=$(rank_pid $mp 1)
  if [ $how = rank1 ]; then [ -n "$pid" ] && kill -TERM $pid; else kill -INT $mp; fi
  for i in $(seq 1 600); do kill -0 $mp 2>/dev/null || break; sleep 0.1; done
  kill -0 $mp 2>/dev/null && { kill -KILL $mp; bad sig_${how}_ends "mpirun still running after 60 s"; }
  wait $mp; rc=$?
  # a rank's SIGTERM ends the job normally; mpirun reports its own Ctrl-C with status 1
  check sig_${how}_ends_all test -n "$pid" -a \( $rc -eq 0 -o $how = mpirun \) -a -n "$(grep -l 'interrupted at step' $T/s-$how.err)"
  st=$($PKTLM info $T/s-$how.ckpt 2>/dev/null | grep -o "step [0-9]* of 1000000" | cut -d' ' -f2)
  check sig_${how}_checkpoint_saved test -n "$st" -a "${st:-0}" -gt 0 -a "${st:-0}" -lt 1000000
done
