#!/bin/sh
# mismatch.sh - every command given a truncated, corrupted or mismatched file
# exits with status 1 and ONE line (stdout and stderr together) that names
# the file and says what does not match. One row per case:
#   row NAME FILE WORDS -- COMMAND...
# FILE must appear in the line, WORDS (a grep -E pattern) too.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init mismatch
cd "$tmp" || exit 1
row() {
    name=$1 file=$2 words=$3
    shift 4 # NAME FILE WORDS --
    "$@" >out 2>&1
    rc=$?
    lines=$(wc -l <out)
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$file" out && grep -qE -- "$words" out; then
        pass=$((pass + 1))
        printf '  %-34s %s\n' "$name" "$(cat out)"
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $rc, $lines lines (want 1 naming '$file' and /$words/):"
        head -n 5 out | sed 's/^/    /'
    fi
}
V=$VDIT
quiet() { "$@" >/dev/null 2>&1 || { echo "FAIL: setup: $*"; exit 1; }; }

# ---- real files: three datasets, two VAEs, a pixel and a latent DiT run
quiet $V data --scenario parabola --split train --count 4 --frames 8 --size 16 --seed 1 --out A
quiet $V data --scenario parabola --split train --count 4 --frames 8 --size 8 --seed 1 --out B
quiet $V data --scenario parabola --split train --count 3 --frames 8 --size 16 --seed 2 --out C
cat >d.ini <<'INI'
[model]
hidden = 8
depth = 1
heads = 2
patch = 2,4,4
[train]
batch = 2
steps = 2
warmup = 1
checkpoint_every = 1
[data]
context_frames = 1
context_probs = 0.5,0.5
INI
sed 's/hidden = 8/hidden = 16/' d.ini >d16.ini
for l in 2 3; do
    printf '[model]\nchannels = 4,4\ndownsample = 2\nlatent_channels = %s\ngroups = 2\nmid_blocks = 0\n[train]\nbatch = 1\nsteps = 1\nwarmup = 1\nval_interval = 0\n' "$l" >v$l.ini
    quiet $V vae train --data A --config v$l.ini --out vae$l.safetensors
done
quiet $V train --config d.ini --data A --out runA
quiet $V train --config d16.ini --data A --out run16
quiet $V train --config d.ini --data A --vae vae2.safetensors --out runL
quiet $V vae encode --vae vae2.safetensors --data A --out lat2.npy
quiet $V sample --checkpoint runA/model.safetensors --data A --count 3 --steps 2 --out sA

# ---- broken copies
size() { wc -c <"$1"; }
head -c $(($(size runA/model.safetensors) / 2)) runA/model.safetensors >trunc.safetensors
head -c $(($(size vae2.safetensors) - 100)) vae2.safetensors >truncvae.safetensors
head -c 100 lat2.npy >trunc.npy
/usr/bin/env printf 'x' | dd of=corrupt.safetensors bs=1 count=0 2>/dev/null
cp runA/model.safetensors corrupt.safetensors
printf '\001' | dd of=corrupt.safetensors bs=1 seek=20 conv=notrunc 2>/dev/null # a control byte in the JSON header
mkdir T M J
cp A/meta.json T/ && head -c $(($(size A/data.npz) - 300)) A/data.npz >T/data.npz  # truncated archive
cp A/meta.json M/ && cp C/data.npz M/                                              # arrays of another count
sed 's/"count"/"cou nt"/' A/meta.json >J/meta.json && cp A/data.npz J/              # meta.json without count
for r in R R2 S S2; do cp -r runA run$r; done
cp -r runL runL2
last=checkpoints/step-00000002.safetensors
head -c 5000 runS/$last >runS/$last.part && mv runS/$last.part runS/$last             # truncated latest state
cp run16/$last runS2/$last                                                          # a state of another config
printf '[model\nhidden = 8\n' >trunc.ini

echo "mismatch table:"
# name                          file that must be named       what                                   command
row "sample: truncated checkpoint"   trunc.safetensors          "beyond"                   -- $V sample --checkpoint trunc.safetensors --out o
row "sample: corrupted header"       corrupt.safetensors        "invalid JSON"             -- $V sample --checkpoint corrupt.safetensors --out o
row "sample: VAE as DiT"             vae2.safetensors           "not a DiT checkpoint"     -- $V sample --checkpoint vae2.safetensors --out o
row "sample: state as DiT"           runA/$last                 "not a DiT checkpoint"     -- $V sample --checkpoint runA/$last --out o
row "sample: data of another size"   B                          "do not fit"               -- $V sample --checkpoint runA/model.safetensors --data B --out o
row "sample: VAE of another width"   vae3.safetensors           "3 latent channels"        -- $V sample --checkpoint runL/model.safetensors --vae vae3.safetensors --out o
row "sample: no VAE for latents"     runL/model.safetensors     "latent channels"          -- $V sample --checkpoint runL/model.safetensors --out o
row "sample: truncated dataset"      T/data.npz                 "zip"                      -- $V sample --checkpoint runA/model.safetensors --data T --out o
row "train: resume, other config"    runR/config.ini            "hidden = 8.*hidden = 16"  -- $V train --config d16.ini --data A --out runR --resume
row "train: resume, other VAE"       runL2/config.ini           "vae2.*vae3"               -- $V train --config d.ini --data A --vae vae3.safetensors --out runL2 --resume
row "train: resume, other data"      runR2/config.ini           "data = C"                 -- $V train --config d.ini --data C --out runR2 --resume
row "train: resume, truncated state" runS/$last                 "beyond|short|exceeds"     -- $V train --config d.ini --data A --out runS --resume
row "train: resume, other state"     runS2/$last                "saved for model"          -- $V train --config d.ini --data A --out runS2 --resume
row "train: truncated dataset"       T/data.npz                 "zip"                      -- $V train --config d.ini --data T --out o1
row "train: dataset of another size" M/data.npz                 "expected uint8 \[4,"      -- $V train --config d.ini --data M --out o2
row "train: meta.json without count" J/meta.json                "count"                    -- $V train --config d.ini --data J --out o3
row "train: truncated VAE"           truncvae.safetensors       "beyond|short|exceeds"     -- $V train --config d.ini --data A --vae truncvae.safetensors --out o4
row "train: DiT as VAE"              runA/model.safetensors     "not a vdit VAE"           -- $V train --config d.ini --data A --vae runA/model.safetensors --out o5
row "train: truncated INI"           trunc.ini:1                "syntax error"             -- $V train --config trunc.ini --data A --out o6
row "eval: videos of another count"  sA/videos.npy              "do not match the truth A" -- $V eval --videos sA/videos.npy --truth A --out o7 --no-figures
row "eval: truth of another size"    sA/videos.npy              "truth B"                  -- $V eval --videos sA/videos.npy --truth B --out o8 --no-figures
row "eval: latents as videos"        lat2.npy                   "expected uint8"           -- $V eval --videos lat2.npy --truth A --out o9 --no-figures
row "eval: DiT of another size"      runA/model.safetensors     "grid"                     -- $V eval --checkpoint runA/model.safetensors --truth B --out o10 --no-figures
row "eval: VAE of another width"     vae3.safetensors           "3 latent channels"           -- $V eval --checkpoint runL/model.safetensors --vae vae3.safetensors --truth A --out o11 --no-figures
row "eval: truncated truth"          T/data.npz                 "zip"                      -- $V eval --videos sA/videos.npy --truth T --out o12 --no-figures
row "vae decode: another width"      lat2.npy                   "does not fit"             -- $V vae decode --vae vae3.safetensors --input lat2.npy --out o.npy
row "vae decode: truncated latents"  trunc.npy                  "exceeds file size"        -- $V vae decode --vae vae2.safetensors --input trunc.npy --out o.npy
row "vae decode: truncated VAE"      truncvae.safetensors       "beyond|short|exceeds"     -- $V vae decode --vae truncvae.safetensors --input lat2.npy --out o.npy
row "vae encode: latents as videos"  lat2.npy                   "not a batch of videos"    -- $V vae encode --vae vae2.safetensors --input lat2.npy --out o.npy
row "vae encode: truncated dataset"  T/data.npz                 "zip"                      -- $V vae encode --vae vae2.safetensors --data T --out o.npy
row "info: truncated checkpoint"     trunc.safetensors          "beyond"                   -- $V info trunc.safetensors
row "info: truncated array"          trunc.npy                  "exceeds file size"        -- $V info trunc.npy
row "data show: truncated dataset"   T/data.npz                 "zip"                      -- $V data show T --index 0 --out o.png
# not regular files: a FIFO is refused at once (opened without blocking), not waited on
mkfifo fifo.safetensors fifo.npy
row "info: a FIFO checkpoint"        fifo.safetensors           "not a regular file"       -- timeout 10 $V info fifo.safetensors
row "info: a FIFO array"             fifo.npy                   "not a regular file"       -- timeout 10 $V info fifo.npy
row "sample: a FIFO checkpoint"      fifo.safetensors           "not a regular file"       -- timeout 10 $V sample --checkpoint fifo.safetensors --data A --count 1 --steps 1 --out sF
row "vae encode: a FIFO as input"    fifo.npy                   "not a regular file"       -- timeout 10 $V vae encode --vae vae2.safetensors --input fifo.npy --out o.npy

testlib_finish
