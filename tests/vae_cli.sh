#!/bin/sh
# vae_cli.sh - `vdit vae` and `vdit bench vae`: --help everywhere, INI
# errors named with file:line, bad or mismatched checkpoints and inputs
# rejected in one line (exit 1; usage errors exit 2) with nothing written,
# and a tiny run end to end: data -> train -> encode -> decode -> recon,
# with the same seed giving the same checkpoint.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init vae_cli

for sub in "vae train" "vae encode" "vae decode" "vae recon" "bench vae"; do
    # shellcheck disable=SC2086
    expect 0 "" "$VDIT" $sub --help
    grep -q "^usage: vdit $sub" "$tmp/out" || bad "vdit $sub --help prints no usage"
done
expect 0 "" "$VDIT" vae --help
expect 2 "unknown subcommand 'fit'" "$VDIT" vae fit

# a tiny dataset and a tiny config
d="$tmp/data"
expect 0 "" "$VDIT" data --scenario all --split train --count 10 --frames 4 --size 16 --seed 1 --out "$d"
cat >"$tmp/tiny.ini" <<'EOF'
; a tiny VAE for the tests
[model]
channels = 8,16,16
groups = 4
[loss]
recon = l1
kl_weight = 1e-6
[train]
batch = 4
steps = 3
warmup = 1
val_split = 0.2
log_interval = 1
val_interval = 2
EOF

# INI errors: file:line and what is wrong
ini() { printf '%s\n' "$@" >"$tmp/bad.ini"; }
ini "[model]" "channels = 8,16,16" "groups = 4" "[train]" "stpes = 3"
expect 1 "bad.ini:5: unknown key 'stpes' in section \[train\]" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[model]" "downsample = 3"
expect 1 "bad.ini: \[model\] downsample 3 must be 2, 4 or 8" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[loss]" "" "recon = l2"
expect 1 "bad.ini:3: \[loss\] recon = 'l2' must be one of l1|mse" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[train]" "lr = fast"
expect 1 "bad.ini:2: \[train\] lr = 'fast' must be a number" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[model]" "channels = 8,,16"
expect 1 "bad.ini:2: \[model\] channels = '8,,16' must be 1..4 comma-separated widths" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[model]" "channels = 8,16"
expect 1 "bad.ini: \[model\] channels\[2\] = 0 out of range 1..4096 (downsample 4 needs 3 widths)" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[train]" "steps = 0" "minutes = 0"
expect 1 "bad.ini: \[train\] needs steps or minutes" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[train" "steps = 1"
expect 1 "bad.ini:1: syntax error" "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
ini "[model]" "temporal = 2" "[train]" "clip_frames = 3"
expect 1 "clip_frames 3 is not divisible by \[model\] temporal 2" \
    "$VDIT" vae train --data "$d" --config "$tmp/bad.ini" --out "$tmp/x.safetensors"
expect 1 "none.ini" "$VDIT" vae train --data "$d" --config "$tmp/none.ini" --out "$tmp/x.safetensors"
expect 1 "$tmp/nodata" "$VDIT" vae train --data "$tmp/nodata" --config "$tmp/tiny.ini" --out "$tmp/x.safetensors"
expect 2 "missing required flag --config" "$VDIT" vae train --data "$d" --out "$tmp/x.safetensors"
[ -e "$tmp/x.safetensors" ] && bad "a failed train wrote a checkpoint"

# train: checkpoint + CSV log beside it; the same seed gives the same bytes
v="$tmp/vae.safetensors"
expect 0 "" "$VDIT" vae train --data "$d" --config "$tmp/tiny.ini" --out "$v"
[ -s "$tmp/vae.csv" ] || bad "no CSV log beside the checkpoint"
head -1 "$tmp/vae.csv" | grep -q "^step,loss,recon,kl,lr,time,val_mse,val_psnr$" || bad "CSV header: $(head -1 "$tmp/vae.csv")"
[ "$(grep -c '^[0-9]' "$tmp/vae.csv")" -ge 3 ] || bad "CSV has fewer than 3 rows: $(cat "$tmp/vae.csv")"
expect 0 "" "$VDIT" info "$v"
grep -q "encoder.conv_in.weight *F32 \[8,3,3,3\]" "$tmp/out" || bad "info lacks encoder.conv_in.weight"
grep -q "decoder.conv_out.weight *F32 \[3,8,3,3\]" "$tmp/out" || bad "info lacks decoder.conv_out.weight"
grep -q "metadata scale_factor: " "$tmp/out" || bad "info lacks the scale factor"
grep -q "metadata format: vdit-vae" "$tmp/out" || bad "info lacks the format"
expect 0 "" "$VDIT" vae train --data "$d" --config "$tmp/tiny.ini" --out "$tmp/vae2.safetensors"
expect 0 "" "$VDIT" vae encode --vae "$v" --data "$d" --out "$tmp/za.npy"
expect 0 "" "$VDIT" vae encode --vae "$tmp/vae2.safetensors" --data "$d" --out "$tmp/zb.npy"
cmp -s "$tmp/za.npy" "$tmp/zb.npy" && ok || bad "the same seed gave different weights or scale factor"

# encode / decode between NPY files
expect 0 "" "$VDIT" vae encode --vae "$v" --data "$d" --out "$tmp/z.npy"
expect 0 "" "$VDIT" info "$tmp/z.npy"
grep -q "float32, shape \[10,4,4,4,4\]" "$tmp/out" || bad "latents shape: $(cat "$tmp/out")"
expect 0 "" "$VDIT" vae decode --vae "$v" --input "$tmp/z.npy" --out "$tmp/y.npy"
expect 0 "" "$VDIT" info "$tmp/y.npy"
grep -q "float32, shape \[10,4,3,16,16\]" "$tmp/out" || bad "decoded shape: $(cat "$tmp/out")"
expect 0 "" "$VDIT" vae decode --vae "$v" --input "$tmp/z.npy" --out "$tmp/y8.npy" --uint8
expect 0 "" "$VDIT" info "$tmp/y8.npy"
grep -q "uint8, shape \[10,4,16,16,3\]" "$tmp/out" || bad "uint8 decoded shape: $(cat "$tmp/out")"
# the decoded videos (float, pixel layout) encode again
expect 0 "" "$VDIT" vae encode --vae "$v" --input "$tmp/y.npy" --count 3 --out "$tmp/z2.npy"
expect 0 "" "$VDIT" info "$tmp/z2.npy"
grep -q "float32, shape \[3,4,4,4,4\]" "$tmp/out" || bad "re-encoded shape: $(cat "$tmp/out")"
expect 2 "give exactly one of --data and --input" "$VDIT" vae encode --vae "$v" --out "$tmp/z3.npy"
cp "$tmp/z.npy" "$tmp/z.keep"
expect 1 "y8.npy: shape \[10,4,16,16,3\] does not fit" "$VDIT" vae decode --vae "$v" --input "$tmp/y8.npy" --out "$tmp/z.npy"
cmp -s "$tmp/z.npy" "$tmp/z.keep" || bad "a failed decode changed its output"
expect 1 "z.npy: float32 \[10,4,4,4,4\] is not a batch of videos" "$VDIT" vae encode --vae "$v" --input "$tmp/z.npy" --out "$tmp/z3.npy"
[ -e "$tmp/z3.npy" ] && bad "a failed encode wrote its output"

# the causal 2x temporal option: latent frames T/2
printf '%s\n' "[model]" "channels = 8,8,8" "groups = 4" "temporal = 2" "[train]" "batch = 2" "clip_frames = 4" \
    "steps = 2" "warmup = 1" "val_split = 0.2" >"$tmp/t2.ini"
expect 0 "" "$VDIT" vae train --data "$d" --config "$tmp/t2.ini" --out "$tmp/t2.safetensors"
expect 0 "" "$VDIT" vae encode --vae "$tmp/t2.safetensors" --data "$d" --count 2 --out "$tmp/zt.npy"
expect 0 "" "$VDIT" info "$tmp/zt.npy"
grep -q "float32, shape \\[2,2,4,4,4\\]" "$tmp/out" || bad "temporal 2x latents shape: $(cat "$tmp/out")"
expect 0 "" "$VDIT" vae decode --vae "$tmp/t2.safetensors" --input "$tmp/zt.npy" --out "$tmp/yt.npy"
expect 0 "" "$VDIT" info "$tmp/yt.npy"
grep -q "float32, shape \\[2,4,3,16,16\\]" "$tmp/out" || bad "temporal 2x decoded shape: $(cat "$tmp/out")"

# bad checkpoints
m="$tmp/dit.safetensors"
expect 0 "" "$VDIT" dit init --hidden 16 --depth 1 --heads 2 --grid 2,4,4 --out "$m"
expect 1 "dit.safetensors: not a vdit VAE checkpoint" "$VDIT" vae encode --vae "$m" --data "$d" --out "$tmp/z3.npy"
head -c 500 "$v" >"$tmp/trunc.safetensors"
expect 1 "trunc.safetensors" "$VDIT" vae decode --vae "$tmp/trunc.safetensors" --input "$tmp/z.npy" --out "$tmp/z3.npy"
expect 1 "$tmp/none.safetensors" "$VDIT" vae recon --vae "$tmp/none.safetensors" --data "$d" --out "$tmp/r.gif"
# frames that do not fit: 18x18 is not divisible by 4
expect 0 "" "$VDIT" data --scenario uniform --split id --count 2 --frames 4 --size 18 --seed 3 --out "$tmp/d18"
expect 1 "not divisible by the VAE's downsample 4" "$VDIT" vae encode --vae "$v" --data "$tmp/d18" --out "$tmp/z3.npy"

# recon: GIF, scores, JSON
expect 0 "" "$VDIT" data --scenario all --split id --count 5 --frames 4 --size 16 --seed 2 --out "$tmp/test"
expect 0 "" "$VDIT" vae recon --vae "$v" --data "$tmp/test" --out "$tmp/r.gif" --json "$tmp/r.json"
head -c 6 "$tmp/r.gif" | grep -q "GIF89a" || bad "recon did not write a GIF"
grep -q "^  all " "$tmp/out" || bad "recon prints no total: $(cat "$tmp/out")"
grep -q '"psnr":' "$tmp/r.json" || bad "recon JSON lacks psnr"
grep -q '"position_error":' "$tmp/r.json" || bad "recon JSON lacks position_error"

# bench
expect 0 "" "$VDIT" bench vae --config "$tmp/tiny.ini" --size 16 --batch 2 --steps 1 --json
grep -q '"ms_per_step":' "$tmp/out" || bad "bench vae --json: $(cat "$tmp/out")"

testlib_finish
