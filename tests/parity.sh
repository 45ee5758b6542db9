#!/bin/sh
# parity.sh - the C DiT against an independent PyTorch implementation of
# model.md (tests/parity/dit_reference.py), both ways:
#   1. PyTorch writes a random model (non-zero adaLN), inputs, outputs and
#      gradients; the C library loads them and must match (check_parity).
#   2. The vdit program's forward and grad on that checkpoint, and a
#      checkpoint written by `vdit dit init`, are read back by PyTorch.
# For both attention scopes and patches (1,2,2) and (2,2,2).
# Skips (exit 77) where no Python with torch is found.
set -eu
ref="$SRCDIR/tests/parity/dit_reference.py"
if [ -z "${PYTHON_TORCH:-}" ] || ! "$PYTHON_TORCH" -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP: no Python with PyTorch (apt-get install python3-torch)"
    exit 77
fi
tmp=$(mktemp -d /tmp/vdit-parity-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
py() { "$PYTHON_TORCH" "$ref" "$@"; }

for att in full st; do
    for patch in 1,2,2 2,2,2; do
        d="$tmp/$att-$(echo $patch | tr , _)"
        py make --out "$d" --attention "$att" --patch "$patch" --seed 1 >/dev/null
        "$CHECK_PARITY" "$d"
        # the command line on the PyTorch checkpoint, compared by PyTorch
        "$VDIT" dit forward --checkpoint "$d/model.safetensors" --input "$d/x.npy" --t 501 --label 2 --out "$d/c_y.npy"
        py forward --checkpoint "$d/model.safetensors" --input "$d/x.npy" --t 501 --label 2 --out "$d/p_y.npy"
        py compare "$d/c_y.npy" "$d/p_y.npy" --atol 1e-4
        "$VDIT" dit grad --checkpoint "$d/model.safetensors" --input "$d/x.npy" --target "$d/target.npy" \
            --t 17 --out "$d/c_g.safetensors" >/dev/null
        py grad --checkpoint "$d/model.safetensors" --input "$d/x.npy" --target "$d/target.npy" \
            --t 17 --out "$d/p_g.safetensors" >/dev/null
        py compare "$d/c_g.safetensors" "$d/p_g.safetensors" --atol 0 --rtol 1e-3
        # a checkpoint written by C loads in PyTorch by the contract's names and shapes
        "$VDIT" dit init --hidden 32 --depth 2 --heads 4 --patch "$patch" --grid 4,4,6 --latent-channels 2 \
            --classes 3 --attention "$att" --seed 5 --out "$d/c_init.safetensors" >/dev/null
        "$VDIT" dit forward --checkpoint "$d/c_init.safetensors" --input "$d/x.npy" --t 3 --out "$d/c_init_y.npy"
        py forward --checkpoint "$d/c_init.safetensors" --input "$d/x.npy" --t 3 --out "$d/p_init_y.npy"
        py compare "$d/c_init_y.npy" "$d/p_init_y.npy" --atol 1e-6
    done
done
echo "parity: all cases within tolerance"
