#!/bin/sh
# cli.sh - the vdit command line: --help everywhere, one-line errors that
# name the bad flag or file with a non-zero exit, and nothing overwritten on
# failure.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init cli

for sub in "dit init" "dit forward" "dit grad" "info"; do
    # shellcheck disable=SC2086
    expect 0 "" "$VDIT" $sub --help
    grep -q "^usage: vdit $sub" "$tmp/out" || bad "vdit $sub --help prints no usage"
done
expect 0 "" "$VDIT" --help
expect 2 "unknown command 'nope'" "$VDIT" nope
expect 2 "unknown subcommand 'nope'" "$VDIT" dit nope

m="$tmp/m.safetensors"
expect 0 "" "$VDIT" dit init --hidden 32 --depth 2 --heads 4 --patch 1,2,2 --grid 4,4,6 --latent-channels 2 \
    --classes 3 --attention st --objective flow --seed 1 --out "$m"
expect 2 "unknown flag '--hiden'" "$VDIT" dit init --hiden 32 --out "$tmp/x.safetensors"
expect 2 "missing required flag --out" "$VDIT" dit init
expect 2 "heads 5 must divide hidden 32" "$VDIT" dit init --hidden 32 --heads 5 --out "$tmp/x.safetensors"
expect 2 "--patch '1,2' must be three positive integers" "$VDIT" dit init --patch 1,2 --out "$tmp/x.safetensors"
expect 2 "--attention 'spatial' must be one of full|st" "$VDIT" dit init --attention spatial --out "$tmp/x.safetensors"
expect 2 "flag --hidden needs a value" "$VDIT" dit init --out "$tmp/x.safetensors" --hidden
expect 2 "grid H = 5 is not divisible by patch 2" "$VDIT" dit init --grid 4,5,6 --out "$tmp/x.safetensors"
[ -e "$tmp/x.safetensors" ] && bad "a failed init wrote its output"

# info
expect 0 "" "$VDIT" info "$m"
grep -q "blocks.1.adaLN_modulation.1.weight *F32 \[192,32\]" "$tmp/out" || bad "info lacks a block tensor"
grep -q "attention st, objective flow, 24 tokens" "$tmp/out" || bad "info lacks the config: $(cat "$tmp/out")"
grep -q "^parameters: " "$tmp/out" || bad "info lacks the parameter count"
expect 1 "$tmp/none.safetensors" "$VDIT" info "$tmp/none.safetensors"

# forward: inputs of the wrong shape, missing files, corrupt checkpoints
# npy FILE SHAPE COUNT: a float32 NPY of COUNT zeros (header padded to 128 bytes)
npy() {
    printf '\223NUMPY\001\000v\000{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (%s), }' "$2" >"$1"
    pad=$((128 - $(wc -c <"$1") - 1))
    head -c "$pad" /dev/zero | tr '\0' ' ' >>"$1"
    printf '\n' >>"$1"
    head -c $(($3 * 4)) /dev/zero >>"$1"
}
npy "$tmp/x.npy" "1, 4, 5, 4, 6" 480
npy "$tmp/xbad.npy" "1, 4, 3, 4, 6" 288
expect 0 "" "$VDIT" dit forward --checkpoint "$m" --input "$tmp/x.npy" --t 10 --out "$tmp/y.npy"
expect 0 "" "$VDIT" info "$tmp/y.npy"
grep -q "float32, shape \[1,4,2,4,6\]" "$tmp/out" || bad "forward output shape: $(cat "$tmp/out")"
cp "$tmp/y.npy" "$tmp/y.keep"
expect 1 "xbad.npy: shape \[1,4,3,4,6\] does not fit the checkpoint: expected \[B,4,5,4,6\]" \
    "$VDIT" dit forward --checkpoint "$m" --input "$tmp/xbad.npy" --t 10 --out "$tmp/y.npy"
cmp -s "$tmp/y.npy" "$tmp/y.keep" || bad "a failed forward changed its output file"
expect 1 "$tmp/missing.npy" "$VDIT" dit forward --checkpoint "$tmp/m.safetensors" --input "$tmp/missing.npy" --t 1 --out "$tmp/y.npy"
expect 1 "$tmp/missing.safetensors" "$VDIT" dit forward --checkpoint "$tmp/missing.safetensors" --input "$tmp/x.npy" --t 1 --out "$tmp/y.npy"
expect 2 "missing required flag --t" "$VDIT" dit forward --checkpoint "$m" --input "$tmp/x.npy" --out "$tmp/y.npy"
expect 2 "--label '4' must be an integer in 0..3" "$VDIT" dit forward --checkpoint "$m" --input "$tmp/x.npy" --t 1 --label 4 --out "$tmp/y.npy"
head -c 1000 "$m" >"$tmp/trunc.safetensors"
expect 1 "trunc.safetensors" "$VDIT" dit forward --checkpoint "$tmp/trunc.safetensors" --input "$tmp/x.npy" --t 1 --out "$tmp/y.npy"
expect 1 "trunc.safetensors" "$VDIT" info "$tmp/trunc.safetensors"
expect 1 "x.npy: shape \[1,4,5,4,6\] does not fit the checkpoint: expected \[1,4,2,4,6\]" "$VDIT" dit grad --checkpoint "$m" --input "$tmp/x.npy" --target "$tmp/x.npy" --t 1 --out "$tmp/g.safetensors"

# OpenBLAS kernels: on a CPU with AVX2 or AVX-512, vdit never runs OpenBLAS's
# generic fallback (Prescott: what 0.3.21 picks for CPU models it does not
# know); a user's OPENBLAS_CORETYPE is left alone
if grep -q -w -E 'avx2|avx512f' /proc/cpuinfo 2>/dev/null; then
    core=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$VDIT" --version 2>&1 | awk '/^Core:/ { c = $2 } END { print c }')
    case $core in '' | Prescott | Core2 | Penryn | Nehalem) bad "vdit runs OpenBLAS's generic kernels ($core) on an AVX2 CPU" ;; esac
    core=$(OPENBLAS_CORETYPE=NEHALEM OPENBLAS_VERBOSE=2 "$VDIT" --version 2>&1 | awk '/^Core:/ { c = $2 } END { print c }')
    [ "$core" = Nehalem ] || bad "vdit overrode the user's OPENBLAS_CORETYPE=NEHALEM (ran $core)"
fi

testlib_finish
