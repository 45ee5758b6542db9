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
tiny_dit_ini d.ini
sed 's/hidden = 8/hidden = 16/' d.ini >d16.ini
for l in 2 3; do
    printf '[model]\nchannels = 4,4\ndownsample = 2\nlatent_channels = %s\ngroups = 2\nmid_blocks = 0\n[train]\nbatch = 1\nsteps = 1\nwarmup = 1\nval_interval = 0\n' "$l" >v$l.ini
    quiet $V vae train --data A --config v$l.ini --out vae$l.safetensors
done
quiet $V train --config d.ini --data A --out runA
quiet $V train --config d16.ini --data A --out run16
quiet $V train --config d.ini --data A --vae vae2.safetensors --out runL
sed 's/steps = 1/steps = 2/' v2.ini >v2b.ini # the same config as vae2, other weights
quiet $V vae train --data A --config v2b.ini --out vae2b.safetensors
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
# well-formed but wrong: one flipped bit in the data (the header parses), non-finite latents and videos
flip() { # FILE BYTES_FROM_END: flips the low bit of that byte
    o=$(($(size "$1") - $2)) b=$(od -An -tu1 -j "$o" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %o $((b ^ 1)))" | dd of="$1" bs=1 seek="$o" conv=notrunc 2>/dev/null
}
nan_at() { # FILE K: float32 element K of an NPY (version 1) file becomes NaN
    o=$((10 + $(od -An -tu2 -j8 -N2 "$1" | tr -d ' ') + 4 * $2))
    printf '\000\000\300\177' | dd of="$1" bs=1 seek="$o" conv=notrunc 2>/dev/null
}
cp runA/model.safetensors flip.safetensors && flip flip.safetensors 100
cp vae2.safetensors flipvae.safetensors && flip flipvae.safetensors 7
cp -r runA runF && flip runF/$last 50                                             # corrupt latest state
cp -r runA runG && LC_ALL=C sed 's/"step":"2"/"step":"3"/' runA/$last >runG/$last   # its step, in the header
cp vae2.state.safetensors vaeF.state.safetensors && flip vaeF.state.safetensors 9 # the VAE trainer's one state
cp vae2.safetensors vaeP.safetensors && quiet $V train --config d.ini --data A --vae vaeP.safetensors --out runP
cp vae2b.safetensors vaeP.safetensors                                           # another VAE at the run's path
cp lat2.npy latnan.npy && nan_at latnan.npy 347                                 # [0, 2, 1, 3, 3] of [4, 8, 2, 8, 8]
quiet $V vae decode --vae vae2.safetensors --input lat2.npy --out dec.npy       # float videos [4, 8, 3, 16, 16]
cp dec.npy decnan.npy && nan_at decnan.npy 6149                                 # [1, 0, 0, 0, 5]
# every file the table reads, hashed: no refused command may change one
find . -type f | sort | xargs sha256sum >../mismatch-inputs.sha256

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
# checksums, the VAE a DiT was trained on, non-finite values where they enter
row "sample: flipped bit in the data" flip.safetensors          "checksum mismatch: the file is corrupt" -- $V sample --checkpoint flip.safetensors --out o
row "info: flipped bit in the data"   flip.safetensors          "checksum mismatch"        -- $V info flip.safetensors
row "vae decode: flipped bit in VAE"  flipvae.safetensors       "checksum mismatch"        -- $V vae decode --vae flipvae.safetensors --input lat2.npy --out o.npy
row "train: on a flipped VAE"         flipvae.safetensors       "checksum mismatch"        -- $V train --config d.ini --data A --vae flipvae.safetensors --out o13
row "train: resume, corrupt state"    runF/$last                "checksum mismatch.*earlier state runF/checkpoints/step-00000001.safetensors \(step 1\) is intact" -- $V train --config d.ini --data A --out runF --resume
row "train: resume, step rewritten"   runG/$last                "checksum mismatch.*metadata has crc32" -- $V train --config d.ini --data A --out runG --resume
row "train: resume, VAE replaced"     runP/$last                "VAE with crc32 [0-9a-f]+, but this run's VAE vaeP.safetensors has [0-9a-f]+; no earlier state" -- $V train --config d.ini --data A --vae vaeP.safetensors --out runP --resume
row "vae train: resume, corrupt state" vaeF.state.safetensors   "checksum mismatch"        -- $V vae train --data A --config v2.ini --out vaeF.safetensors --resume
row "sample: another VAE, same shape" vae2b.safetensors         "trained on the VAE vae2.safetensors .*not vae2b.safetensors .*--force" -- $V sample --checkpoint runL/model.safetensors --vae vae2b.safetensors --count 1 --steps 1 --out o14
row "eval: another VAE, same shape"   vae2b.safetensors         "trained on the VAE vae2.safetensors .*not vae2b.safetensors" -- $V eval --checkpoint runL/model.safetensors --vae vae2b.safetensors --truth A --out o15 --no-figures
row "sample: latent DiT, no VAE"      runL/model.safetensors    "latent channels|give it with --vae" -- $V sample --checkpoint runL/model.safetensors --count 1 --steps 1 --out o16
row "vae decode: NaN in latents"      latnan.npy                "nan at index \[0, 2, 1, 3, 3\]" -- $V vae decode --vae vae2.safetensors --input latnan.npy --out o.npy
row "vae encode: NaN in videos"       decnan.npy                "nan at index \[1, 0, 0, 0, 5\]" -- $V vae encode --vae vae2.safetensors --input decnan.npy --out o.npy
row "eval: NaN in float videos"       decnan.npy                "nan at index \[1, 0, 0, 0, 5\]" -- $V eval --videos decnan.npy --truth A --out o17 --no-figures
rm -f fifo.safetensors fifo.npy
if sha256sum -c --quiet ../mismatch-inputs.sha256 >sha.out 2>&1; then ok; else bad "inputs changed by a refused command: $(head -n 3 sha.out)"; fi

# what the refusals offer works: --force samples through the other VAE; the
# corrupt state moved aside, --resume continues from the earlier one and
# rewrites the latest bit for bit (but the flipped bit)
$V sample --checkpoint runL/model.safetensors --vae vae2b.safetensors --count 1 --steps 1 --out sForce --force >/dev/null 2>&1
check test $? -eq 0 -a -s sForce/videos.npy
mv runF/$last runF/$last.corrupt
$V train --config d.ini --data A --out runF --resume >/dev/null 2>&1
check test $? -eq 0
same runA/$last runF/$last
same runA/model.safetensors runF/model.safetensors
check test "$(cmp -l runF/$last runF/$last.corrupt | wc -l)" -eq 1

testlib_finish
