# Sourced by the benchmarks that run a PyTorch peer: the peer is measured at its best, so each
# run tries every BLAS this torch can load (which one wins differs between CPUs: on one Zen 5
# machine BLIS gave PyTorch fp32 only 51 GFLOP/s, on this Xeon OpenBLAS and BLIS are close).
#   torch_blas_each CMD...   runs CMD once per BLAS; every JSON line it prints ('{...}') gets a
#                            "blas" field; the benchmark's summary keeps the best row per case.
# The choices: torch's default (the libblas.so.3 alternative Debian links it against), and
# BLIS-openmp and OpenBLAS-openmp put first on LD_LIBRARY_PATH where installed. The OpenBLAS
# runs drop any OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE override of the machine for that command.
TORCH_BLAS_DIRS="default"
for d in blis-openmp openblas-openmp; do
  [ -d "/usr/lib/x86_64-linux-gnu/$d" ] && TORCH_BLAS_DIRS="$TORCH_BLAS_DIRS $d"
done
torch_blas_each() {
  local b
  for b in $TORCH_BLAS_DIRS; do
    if [ "$b" = default ]; then
      env -u LD_LIBRARY_PATH "$@"
    else
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="/usr/lib/x86_64-linux-gnu/$b" "$@"
    fi | sed "s/^{\(.*\)}\$/{\1, \"blas\": \"$b\"}/"
  done
}
