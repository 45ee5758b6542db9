#!/bin/sh
# kill_resume.sh - faults lose nothing (issue 9):
#  1. a training run killed with SIGKILL at random moments, at least 12 times
#     and at least 3 times in the middle of a checkpoint write (a temporary
#     left behind proves it), resumes to the same final weights, checkpoint
#     and losses, bit for bit, as a run never stopped, and leaves no
#     temporaries behind;
#  2. a checkpoint write that fails because the file may not grow (ulimit -f:
#     EFBIG) or the disk is full (a 9 MB tmpfs: ENOSPC; where this user may
#     mount one in a private namespace) stops the run with one line naming the
#     file, leaves the previous checkpoint intact, and a resume finishes the
#     run bit-identical to the uninterrupted one.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init kill
temps() { ls "$1" "$1/checkpoints" 2>/dev/null | grep -c '\.tmp\.'; }

"$VDIT" data --scenario parabola --split train --count 16 --frames 8 --size 16 --seed 3 --out "$tmp/data" >/dev/null 2>&1 ||
    { echo "FAIL: vdit data"; exit 1; }
# 200 steps, a 3.2 MB state written (and fsync'ed) after every step: most of
# the wall time is spent in checkpoint writes
cat >"$tmp/k.ini" <<'INI'
[model]
hidden = 64
depth = 2
heads = 4
patch = 2,4,4
attention = st
objective = flow

[train]
batch = 4
steps = 200
warmup = 4
lr = 1e-3
checkpoint_every = 1
keep_checkpoints = 2
log_every = 1

[data]
context_frames = 2
context_probs = 0.2,0.3,0.5
INI
train() { "$VDIT" train --config "$tmp/k.ini" --data "$tmp/data" "$@"; }
last=checkpoints/step-00000200.safetensors

train --out "$tmp/a" 2>"$tmp/a.err"
check test $? -eq 0
cut -d, -f1-4 "$tmp/a/log.csv" >"$tmp/a.loss"

# 1. killed at random moments: the first start killed at once (before it has
# written anything, or just after); then each (re)start killed a random 0 to
# 80 ms after its next checkpoint file appears (delays from a fixed seed), so
# every restart makes progress however slow the build (sanitizers), and the
# kills land in steps and in checkpoint writes alike.
awk 'BEGIN { srand(9); for (i = 0; i < 80; i++) printf "%.3f\n", rand() * 0.08 }' >"$tmp/delays"
latest() { ls "$tmp/b/checkpoints" 2>/dev/null | grep -v '\.tmp\.' | tail -n 1; }
kills=0 in_write=0
while [ "$kills" -lt 80 ]; do
    [ -e "$tmp/b/$last" ] && break
    if [ "$kills" -ge 12 ] && [ "$in_write" -ge 3 ]; then break; fi
    # vdit itself in the background (not a function: $! must be its pid)
    if [ -e "$tmp/b" ]; then resume=--resume; else resume=; fi
    before=$(latest)
    "$VDIT" train --config "$tmp/k.ini" --data "$tmp/data" --out "$tmp/b" $resume 2>/dev/null &
    pid=$!
    if [ "$kills" -gt 0 ]; then
        for _ in $(seq 3000); do [ "$(latest)" != "$before" ] && break; sleep 0.01; done
        sleep "$(sed -n "$((kills + 1))p" "$tmp/delays")"
    fi
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    [ "$(temps "$tmp/b")" -gt 0 ] && in_write=$((in_write + 1))
done
train --out "$tmp/b" --resume 2>"$tmp/b.err"
check test $? -eq 0
check test "$kills" -ge 12
check test "$in_write" -ge 3
check cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
check cmp -s "$tmp/a/$last" "$tmp/b/$last"
cut -d, -f1-4 "$tmp/b/log.csv" >"$tmp/b.loss"
check cmp -s "$tmp/a.loss" "$tmp/b.loss"
check test "$(temps "$tmp/b")" -eq 0
same=$(cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors" && echo yes || echo no)
echo "kill-and-resume: $kills SIGKILLs, $in_write during a checkpoint write; final weights, checkpoint and losses identical: $same"

# 2a. the file may not grow past 1.5 MB (dash's ulimit -f counts 512-byte
# blocks; 3 MB where a shell counts 1 KB): model.safetensors (0.8 MB) fits, a
# state (3.2 MB) does not. vdit ignores SIGXFSZ itself (lib/signals.c), so
# write() fails with EFBIG and the run stops with one line, not a signal.
"$VDIT" train --config "$tmp/k.ini" --data "$tmp/data" --out "$tmp/c" 2>/dev/null &
pid=$!
for _ in $(seq 3000); do [ -e "$tmp/c/checkpoints/step-00000005.safetensors" ] && break; sleep 0.01; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
(ulimit -f 3000; exec "$VDIT" train --config "$tmp/k.ini" --data "$tmp/data" --out "$tmp/c" --resume) \
    2>"$tmp/c.err"
check test $? -eq 1
grep '^vdit:' "$tmp/c.err" >"$tmp/c.line"
check test "$(wc -l <"$tmp/c.line")" -eq 1
check grep -q "$tmp/c/checkpoints/step-[0-9]*\.safetensors: file too large (over the file size limit" "$tmp/c.line"
check test "$(temps "$tmp/c")" -eq 0
prev=$(ls "$tmp/c/checkpoints" | tail -n 1)
check "$VDIT" info "$tmp/c/checkpoints/$prev" >/dev/null
train --out "$tmp/c" --resume 2>/dev/null
check test $? -eq 0
check cmp -s "$tmp/a/model.safetensors" "$tmp/c/model.safetensors"
echo "file size limit: $(sed 's/^vdit: //' "$tmp/c.line")"

# 2b. a full disk: the run directory on a 9 MB tmpfs (two states, the model
# and a temporary do not fit), in a private mount namespace
if command -v unshare >/dev/null 2>&1 && unshare -m sh -c "mount -t tmpfs -o size=9m tmpfs '$tmp' 2>/dev/null" 2>/dev/null; then
    unshare -m sh -c '
        mkdir -p "$1/full" && mount -t tmpfs -o size=9m tmpfs "$1/full" || exit 3
        "$VDIT" train --config "$1/k.ini" --data "$1/data" --out "$1/full/d" 2>"$1/d.err"
        echo $? >"$1/d.rc"
        cp -r "$1/full/d" "$1/d"' sh "$tmp"
    check test "$(cat "$tmp/d.rc")" -eq 1
    grep '^vdit:' "$tmp/d.err" >"$tmp/d.line"
    check test "$(wc -l <"$tmp/d.line")" -eq 1
    check grep -q "$tmp/full/d/checkpoints/step-[0-9]*\.safetensors: write failed: No space left on device" "$tmp/d.line"
    check test "$(temps "$tmp/d")" -eq 0
    prev=$(ls "$tmp/d/checkpoints" | tail -n 1)
    check test -n "$prev"
    check "$VDIT" info "$tmp/d/checkpoints/$prev" >/dev/null
    # resumed off the full disk (the same --out path is needed: bind it back)
    unshare -m sh -c 'mkdir -p "$1/full" && mount --bind "$1/d" "$1/full" 2>/dev/null || exit 3
        "$VDIT" train --config "$1/k.ini" --data "$1/data" --out "$1/full" --resume 2>/dev/null' sh "$tmp"
    check test $? -eq 0
    check cmp -s "$tmp/a/model.safetensors" "$tmp/d/model.safetensors"
    echo "disk full: $(sed 's/^vdit: //' "$tmp/d.line")"
else
    echo "disk full: skipped (cannot mount a tmpfs in a private namespace here)"
fi

if [ "$failed" -gt 0 ]; then # what the runs said, for the log
    for f in b.err c.err d.err; do [ -f "$tmp/$f" ] && { echo "== $f"; tr '\r' '\n' <"$tmp/$f" | grep -v '^train \[' | tail -n 5; }; done
fi
testlib_finish
