#!/bin/sh
# notebooks/run.sh [--store] [NOTEBOOK.ipynb...] - executes the teaching
# notebooks headless (jupyter-nbconvert, the python3 kernel of /usr/bin/python3)
# and fails if any cell fails. `make check-notebooks` runs it.
#
# The notebooks are copied from the source tree ($SRCDIR/notebooks) into
# $BUILDDIR/notebooks-run and executed there, so the source stays clean and an
# out-of-tree build works; their files (datasets, models, samples) go to
# $BUILDDIR/notebooks-run/work (VDIT_NB_WORK) and are reused by a rerun.
# --store writes the executed notebooks, with their outputs, back into the
# source tree (for whoever changes a notebook). VDIT: the vdit program
# (default $BUILDDIR/src/vdit). Order: notebook 5 trains the tiny model that
# 2, 3 and 6 reuse, so it runs before them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$here/.." && pwd)}
BUILDDIR=${BUILDDIR:-$(pwd)}
store=0
if [ "${1:-}" = "--store" ]; then store=1; shift; fi
VDIT=${VDIT:-$BUILDDIR/src/vdit}
[ -x "$VDIT" ] || { echo "notebooks/run.sh: $VDIT not built (run make first)" >&2; exit 2; }
command -v jupyter-nbconvert >/dev/null 2>&1 || {
    echo "notebooks/run.sh: jupyter-nbconvert not found: apt-get install -y jupyter-nbconvert python3-ipykernel python3-matplotlib python3-numpy" >&2
    exit 2
}
/usr/bin/python3 -c 'import numpy, matplotlib, ipykernel' 2>/dev/null || {
    echo "notebooks/run.sh: /usr/bin/python3 lacks numpy, matplotlib or ipykernel: apt-get install -y python3-numpy python3-matplotlib python3-ipykernel" >&2
    exit 2
}
run=$BUILDDIR/notebooks-run
mkdir -p "$run/work"
cp "$SRCDIR/notebooks/vditnb.py" "$run/"
if [ $# -eq 0 ]; then
    set -- 01_spacetime_patches.ipynb 04_vae.ipynb 05_training.ipynb 02_diffusion.ipynb \
        03_dit_block.ipynb 06_physics_eval.ipynb
fi
export VDIT VDIT_NB_WORK="$run/work"
unset MPLBACKEND   # the kernel's inline backend draws the figures into the notebook
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export PYDEVD_DISABLE_FILE_VALIDATION=1
failed=0
t_all=$(date +%s)
for nbf in "$@"; do
    nbf=$(basename "$nbf")
    cp "$SRCDIR/notebooks/$nbf" "$run/$nbf"
    t0=$(date +%s)
    if (cd "$run" && jupyter-nbconvert --to notebook --execute --inplace \
            --ExecutePreprocessor.timeout=1200 --ExecutePreprocessor.kernel_name=python3 "$nbf" \
            >"$run/${nbf%.ipynb}.log" 2>&1); then
        echo "PASS: $nbf ($(( $(date +%s) - t0 )) s)"
        [ "$store" = 1 ] && cp "$run/$nbf" "$SRCDIR/notebooks/$nbf.tmp" && mv "$SRCDIR/notebooks/$nbf.tmp" "$SRCDIR/notebooks/$nbf"
    else
        echo "FAIL: $nbf ($(( $(date +%s) - t0 )) s): see $run/${nbf%.ipynb}.log"
        grep -v "Debugger\|frozen modules\|PYDEVD\|Debugging will" "$run/${nbf%.ipynb}.log" | tail -n 25
        failed=$((failed + 1))
    fi
done
echo "notebooks: $# run, $failed failed, $(( $(date +%s) - t_all )) s"
[ "$failed" = 0 ]
