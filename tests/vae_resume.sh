#!/bin/sh
# vae_resume.sh - `vdit vae train --resume` (issue 14): a VAE run killed with
# SIGKILL again and again, each time resumed from the training state beside
# its checkpoint, ends with the same checkpoint, the same EMA weights and
# AdamW moments and the same loss log, bit for bit, as a run never stopped
# (the wall-clock fields, the checkpoint's "seconds" and the log's time
# column, masked). A state from other settings or another model is refused
# in one line.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init vae_resume

"$VDIT" data --scenario all --split train --count 8 --frames 4 --size 16 --seed 3 --out "$tmp/data" >/dev/null 2>&1 ||
    { echo "FAIL: vdit data"; exit 1; }
# a state after every step; EMA, validation and the log all exercised
cat >"$tmp/r.ini" <<'INI'
[model]
channels = 8,16,16
groups = 4
[train]
batch = 2
steps = 60
warmup = 5
ema_decay = 0.9
val_split = 0.25
val_interval = 7
log_interval = 3
checkpoint_every = 1
INI
train() { "$VDIT" vae train --data "$tmp/data" --config "$tmp/r.ini" "$@"; }

# tensors FILE: the data after a safetensors header; header FILE: the header
# with the wall-clock "seconds" and the metadata checksum (which covers it)
# masked and the padding after it dropped (its length follows the number's)
hlen() { od -An -tu8 -N8 "$1" | tr -d ' '; }
tensors() { tail -c +$((9 + $(hlen "$1"))) "$1"; }
header() { head -c $((8 + $(hlen "$1"))) "$1" | tail -c +9 | sed 's/\\"seconds\\":[0-9.e+-]*/S/; s/"meta_crc32":"[0-9a-f]*"/M/; s/ *$//'; }
losses() { cut -d, -f1-5,7- "$1"; } # all but the time column

mkdir "$tmp/a" "$tmp/b"
train --out "$tmp/a/vae.safetensors" >/dev/null 2>"$tmp/a.err"
check test $? -eq 0
check test -s "$tmp/a/vae.state.safetensors"

# killed at random moments: each (re)start killed 0 to 40 ms after its next
# state appears (delays from a fixed seed), so every restart makes progress
awk 'BEGIN { srand(5); for (i = 0; i < 40; i++) printf "%.3f\n", rand() * 0.04 }' >"$tmp/delays"
st="$tmp/b/vae.state.safetensors"
stamp() { [ -e "$st" ] && cksum <"$st" || echo none; }
kills=0
while [ "$kills" -lt 6 ] && [ ! -e "$tmp/b/vae.safetensors" ]; do
    before=$(stamp)
    "$VDIT" vae train --data "$tmp/data" --config "$tmp/r.ini" --out "$tmp/b/vae.safetensors" --resume \
        >/dev/null 2>/dev/null &
    pid=$!
    for _ in $(seq 3000); do [ "$(stamp)" != "$before" ] && break; sleep 0.01; done
    sleep "$(sed -n "$((kills + 1))p" "$tmp/delays")"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
done
train --out "$tmp/b/vae.safetensors" --resume >/dev/null 2>"$tmp/b.err"
check test $? -eq 0
check grep -q "resumed" "$tmp/b.err"
check test "$kills" -ge 3
tensors "$tmp/a/vae.safetensors" >"$tmp/a.t"
tensors "$tmp/b/vae.safetensors" >"$tmp/b.t"
same "$tmp/a.t" "$tmp/b.t"
header "$tmp/a/vae.safetensors" >"$tmp/a.h"
header "$tmp/b/vae.safetensors" >"$tmp/b.h"
same "$tmp/a.h" "$tmp/b.h"
# the last states: weights, EMA, AdamW moments
tensors "$tmp/a/vae.state.safetensors" >"$tmp/a.s"
tensors "$tmp/b/vae.state.safetensors" >"$tmp/b.s"
same "$tmp/a.s" "$tmp/b.s"
check grep -q '"ema.encoder.conv_in.weight"' "$tmp/a/vae.state.safetensors"
losses "$tmp/a/vae.csv" >"$tmp/a.l"
losses "$tmp/b/vae.csv" >"$tmp/b.l"
same "$tmp/a.l" "$tmp/b.l"
check test "$(grep -c '^[0-9]' "$tmp/a.l")" -eq 27 # 20 log rows, 8 validations (2 of them on a log row), the end
echo "kill-and-resume: $kills SIGKILLs; checkpoint, EMA weights, moments and losses identical: $([ "$failed" -eq 0 ] && echo yes || echo no)"

# a state from other settings, or another model, is refused in one line
sed 's/^steps = 60/steps = 61/' "$tmp/r.ini" >"$tmp/other.ini"
cp "$tmp/a/vae.state.safetensors" "$tmp/c.state.safetensors"
expect 1 "c.state.safetensors: saved for settings" \
    "$VDIT" vae train --data "$tmp/data" --config "$tmp/other.ini" --out "$tmp/c.safetensors" --resume
sed 's/^channels = 8,16,16/channels = 8,8,16/' "$tmp/r.ini" >"$tmp/other.ini"
expect 1 "c.state.safetensors: saved for model" \
    "$VDIT" vae train --data "$tmp/data" --config "$tmp/other.ini" --out "$tmp/c.safetensors" --resume
[ -e "$tmp/c.safetensors" ] && bad "a refused resume wrote a checkpoint"
# not a training state: the checkpoint itself
cp "$tmp/a/vae.safetensors" "$tmp/c.state.safetensors"
expect 1 "c.state.safetensors: not a vdit VAE training state" \
    "$VDIT" vae train --data "$tmp/data" --config "$tmp/r.ini" --out "$tmp/c.safetensors" --resume

testlib_finish
