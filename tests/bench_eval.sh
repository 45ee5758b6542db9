#!/bin/sh
# bench_eval.sh - `make bench-eval`: times scoring 1000 videos of 32 frames
# at 64x64 (the model's videos and the four references) on the threads of
# OMP_NUM_THREADS (2 by default). Usage: bench_eval.sh PATH/TO/bench_eval [N T S R]
set -eu
BIN=${1:?usage: bench_eval.sh PATH/TO/bench_eval [N T S R]}
shift
: "${OMP_NUM_THREADS:=2}" "${OMP_WAIT_POLICY:=PASSIVE}"
export OMP_NUM_THREADS OMP_WAIT_POLICY
echo "bench_eval on $(nproc) cores, $(uname -m), OMP_NUM_THREADS=$OMP_NUM_THREADS"
exec "$BIN" "$@"
