#!/bin/sh
# train_cli.sh - `vdit train` and `vdit sample` end to end on a tiny dataset:
# a run killed with SIGKILL and resumed ends bit-identical to one never
# stopped; a diverging run stops with the last checkpoint intact; bad
# settings are refused with file:line; samples keep their context frames.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init train

"$VDIT" data --scenario parabola --split train --count 24 --frames 8 --size 16 --seed 3 --out "$tmp/data" 2>/dev/null ||
    { echo "FAIL: vdit data"; exit 1; }
cat >"$tmp/t.ini" <<'INI'
[model]
hidden = 32
depth = 2
heads = 4
patch = 2,4,4
attention = st
objective = flow

[train]
batch = 4
steps = 40
warmup = 4
lr = 1e-3
checkpoint_every = 5
keep_checkpoints = 2
log_every = 1

[data]
context_frames = 2
context_probs = 0.2,0.3,0.5
INI

# an uninterrupted run
"$VDIT" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/a" 2>"$tmp/a.err"
check test $? -eq 0
check test "$(ls "$tmp/a/checkpoints" | wc -l)" -eq 2 # only the last two kept
check test "$(tail -n 1 "$tmp/a/log.csv" | cut -d, -f1)" = 40

# the same run, killed at random moments (a checkpoint write among them) and resumed
"$VDIT" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/b" 2>/dev/null &
pid=$!
for _ in $(seq 200); do [ -e "$tmp/b/checkpoints/step-00000010.safetensors" ] && break; sleep 0.02; done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
kills=1
while ! [ -e "$tmp/b/checkpoints/step-00000040.safetensors" ] && [ "$kills" -lt 6 ]; do
    "$VDIT" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/b" --resume 2>/dev/null &
    pid=$!
    sleep 0.$((3 + kills))
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    kills=$((kills + 1))
done
"$VDIT" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/b" --resume 2>"$tmp/b.err"
check test $? -eq 0
check cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
check cmp -s "$tmp/a/checkpoints/step-00000040.safetensors" "$tmp/b/checkpoints/step-00000040.safetensors"
cut -d, -f1-4 "$tmp/a/log.csv" >"$tmp/a.loss"
cut -d, -f1-4 "$tmp/b/log.csv" >"$tmp/b.loss"
check cmp -s "$tmp/a.loss" "$tmp/b.loss"
echo "kill-and-resume: $kills kills, final weights and losses identical: $(cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" && echo yes || echo no)"

# refusals: an existing run without --resume, an unknown key, a bad value
"$VDIT" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/a" 2>"$tmp/err"
check test $? -eq 1
check grep -q "already exists: use --resume" "$tmp/err"
sed 's/^lr = 1e-3/learning_rate = 1e-3/' "$tmp/t.ini" >"$tmp/bad.ini"
"$VDIT" train --config "$tmp/bad.ini" --data "$tmp/data" --out "$tmp/c" 2>"$tmp/err"
check test $? -eq 1
check grep -q "bad.ini:13: unknown key 'learning_rate' in section \[train\]" "$tmp/err"
sed 's/^heads = 4/heads = 5/' "$tmp/t.ini" >"$tmp/bad2.ini"
"$VDIT" train --config "$tmp/bad2.ini" --data "$tmp/data" --out "$tmp/c" 2>"$tmp/err"
check grep -q "heads 5 must divide hidden 32" "$tmp/err"
check test ! -e "$tmp/c"
# masked tasks: four probabilities, or one line naming the key; the resolved run config keeps them
printf '[data]\nmask_tasks = 0.5,0.5\n' >>"$tmp/bad3.ini"
"$VDIT" train --config "$tmp/bad3.ini" --data "$tmp/data" --out "$tmp/c" 2>"$tmp/err"
check test $? -eq 1
check grep -q "bad3.ini:2: \[data\] mask_tasks = '0.5,0.5' must be 4 probabilities" "$tmp/err"
check grep -q '^mask_tasks = 1,0,0,0$' "$tmp/a/config.ini"

# divergence: a huge learning rate makes the loss non-finite; training stops, the checkpoint stays loadable
sed 's/^lr = 1e-3/lr = 1e30/; s/^checkpoint_every = 5/checkpoint_every = 1/; s/^warmup = 4/warmup = 0/' "$tmp/t.ini" >"$tmp/nan.ini"
"$VDIT" train --config "$tmp/nan.ini" --data "$tmp/data" --out "$tmp/n" 2>"$tmp/err"
check test $? -eq 1
check grep -q "not finite" "$tmp/err"
check "$VDIT" info "$tmp/n/model.safetensors" >/dev/null

# sampling: context frames come back exactly, outputs written
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/data" --context 2 --count 3 --steps 4 \
    --seed 1 --out "$tmp/s" >/dev/null 2>&1
check test $? -eq 0
for f in videos.npy latents.npy sample_000.gif sample_002.gif contact.png; do check test -s "$tmp/s/$f"; done
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/data" --known 0,1,7 --count 1 --steps 2 \
    --out "$tmp/s2" >/dev/null 2>&1
check test $? -eq 0
# --known as ranges: the same samples as the list
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/data" --known 0-1,7 --count 1 --steps 2 \
    --out "$tmp/s2r" >/dev/null 2>&1
check cmp "$tmp/s2/videos.npy" "$tmp/s2r/videos.npy"
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/data" --known 3-1 --out "$tmp/s2x" 2>"$tmp/err"
check test $? -eq 2
check grep -q "known '3-1' must list frame indices or ranges" "$tmp/err"
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --sampler ddim --out "$tmp/s3" 2>"$tmp/err"
check test $? -eq 1
check grep -q "sampler ddim does not fit the flow objective" "$tmp/err"

# a rollout past the window (8 frames): 40 frames of box from 3 context
# frames (eval's), then scored per window (drift.csv)
"$VDIT" data --scenario box --split id --count 2 --frames 40 --size 16 --seed 5 --out "$tmp/box40" >/dev/null 2>&1
check test $? -eq 0
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/box40" --context 3 --frames 40 --count 2 --steps 2 \
    --out "$tmp/roll" >/dev/null 2>"$tmp/roll.err"
check test $? -eq 0
check grep -q "rollout .* 16/16" "$tmp/roll.err" # 1 + ceil((40 - 8) / 5) = 8 windows a video
# the label table: phyworld's five classes, six once box videos are trained on
"$VDIT" info "$tmp/a/model.safetensors" | grep -q '"num_classes":5'
check test $? -eq 0
"$VDIT" data --scenario box --split train --count 4 --frames 8 --size 16 --out "$tmp/box8" >/dev/null 2>&1
tiny_dit_ini "$tmp/tinybox.ini"
"$VDIT" train --config "$tmp/tinybox.ini" --data "$tmp/box8" --out "$tmp/boxrun" >/dev/null 2>&1
check test $? -eq 0
"$VDIT" info "$tmp/boxrun/model.safetensors" | grep -q '"num_classes":6'
check test $? -eq 0
"$VDIT" info "$tmp/roll/videos.npy" >"$tmp/info.txt"
check grep -q "shape \[2,40,16,16,3\]" "$tmp/info.txt"
"$VDIT" eval --videos "$tmp/roll/videos.npy" --truth "$tmp/box40" --out "$tmp/rollev" --no-figures >/dev/null 2>&1
check test $? -eq 0
check grep -q "^model,all,3,39,horizon," "$tmp/rollev/drift.csv"
check grep -q "^linear,1,32,39,presence," "$tmp/rollev/drift.csv"
"$VDIT" sample --checkpoint "$tmp/a/model.safetensors" --data "$tmp/box40" --context 8 --frames 40 --out "$tmp/r2" 2>"$tmp/err"
check test $? -eq 2
check grep -q "context" "$tmp/err"
# the latent cache: the first run on a VAE's latents encodes and writes an
# entry, the second (VDIT_LATENT_CACHE) reads it and trains the same model bit
# for bit; a damaged entry is encoded again; the cache may not be the dataset
printf '[model]\nchannels = 4,4\ndownsample = 2\nlatent_channels = 2\ngroups = 2\nmid_blocks = 0\n[train]\nbatch = 2\nsteps = 1\nwarmup = 1\nval_interval = 0\n' >"$tmp/v.ini"
"$VDIT" vae train --data "$tmp/data" --config "$tmp/v.ini" --out "$tmp/v.safetensors" >/dev/null 2>&1
check test $? -eq 0
tiny_dit_ini "$tmp/tiny.ini"
"$VDIT" train --config "$tmp/tiny.ini" --data "$tmp/data" --vae "$tmp/v.safetensors" --latent-cache "$tmp/lc" \
    --out "$tmp/c1" 2>"$tmp/c1.err"
check test $? -eq 0
check grep -q "^latent cache: wrote $tmp/lc/latents-[0-9a-f]*-[0-9a-f]*-24x8x16.safetensors" "$tmp/c1.err"
VDIT_LATENT_CACHE=$tmp/lc "$VDIT" train --config "$tmp/tiny.ini" --data "$tmp/data" --vae "$tmp/v.safetensors" \
    --out "$tmp/c2" 2>"$tmp/c2.err"
check test $? -eq 0
check grep -q "^latent cache: read $tmp/lc/latents-" "$tmp/c2.err"
check cmp "$tmp/c1/model.safetensors" "$tmp/c2/model.safetensors"
entry=$(ls "$tmp"/lc/*.safetensors)
printf 'X' | dd of="$entry" bs=1 seek=$(($(wc -c <"$entry") - 3)) conv=notrunc 2>/dev/null
"$VDIT" train --config "$tmp/tiny.ini" --data "$tmp/data" --vae "$tmp/v.safetensors" --latent-cache "$tmp/lc" \
    --out "$tmp/c3" 2>"$tmp/c3.err"
check test $? -eq 0
check grep -q "^latent cache: .*checksum mismatch.*encoded again and replaced" "$tmp/c3.err"
check cmp "$tmp/c1/model.safetensors" "$tmp/c3/model.safetensors"
"$VDIT" train --config "$tmp/tiny.ini" --data "$tmp/data" --vae "$tmp/v.safetensors" --latent-cache "$tmp/data" \
    --out "$tmp/c4" 2>"$tmp/c4.err"
check test $? -eq 1
check test "$(wc -l <"$tmp/c4.err")" -eq 1
check grep -q "$tmp/data" "$tmp/c4.err"

testlib_finish
