# env.sh - sourced by the bench scripts (bench_dit.sh, bench_vae.sh) after
# `set -eu` with $1 the program: VDIT, here, srcdir, out (RESULTS/bench), PY
# (a python with torch, or empty), K threads, OpenMP's passive waiting, the
# OpenBLAS kernels, have_torch and field().
VDIT=${1:-${VDIT:-vdit}}
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
out=${RESULTS:-$srcdir/results}/bench
PY=${PYTHON_TORCH-/usr/bin/python3}
K=${OMP_NUM_THREADS:-2}
OMP_NUM_THREADS=$K
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_NUM_THREADS OMP_WAIT_POLICY
[ -x "$VDIT" ] || { echo "$(basename "$0"): $VDIT is not an executable (build first)" >&2; exit 2; }
# PyTorch loads the same OpenBLAS: give it the kernels vdit runs (vdit
# restarts itself with OPENBLAS_CORETYPE where OpenBLAS falls back to generic
# ones on a CPU model it does not know, lib/bench.c), so both sides compare
# on one kernel set
if [ -z "${OPENBLAS_CORETYPE-}" ]; then
    OPENBLAS_CORETYPE=$(OPENBLAS_VERBOSE=2 "$VDIT" --version 2>&1 | awk '/^Core:/ { c = $2 } END { print toupper(c) }')
    export OPENBLAS_CORETYPE
fi
have_torch=0
if [ -n "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi
# field KEY JSON: a number of a one-line JSON object
field() { printf '%s\n' "$2" | sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p"; }
