#!/usr/bin/env bash
# sweep.sh - the experiment harness end to end (experiments/run): a two-point
# sweep of a tiny config runs in parallel (-j 2) and gives a two-row table,
# one run directory each with its record, the data built once and shared,
# figures; a rerun redoes nothing and writes the same table; a changed
# sampling setting redoes only sampling and evaluation; bad sweep lines are
# refused naming FILE:LINE.
#
# SWEEP_LONG=1 (tests/sweep_long.sh, `make check-long`): a small VAE instead
# of pixels, more steps, and a run killed during training that resumes.
set -u
. "$SRCDIR/tests/testlib.sh"
testlib_init sweep
export RESULTS=$tmp/results VDIT OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=PASSIVE
run=$SRCDIR/experiments/run
long=${SWEEP_LONG:-0}

if [ "$long" = 1 ]; then
    steps=60 vae="[vae]
enabled = true
[vae.model]
channels = 8,16
res_blocks = 1
mid_blocks = 0
downsample = 2
latent_channels = 4
groups = 4
[vae.train]
batch = 4
steps = 40
warmup = 5
minutes = 0
val_interval = 0
log_interval = 10"
    patch=2,2,2 count=24
else
    steps=6 vae="[vae]
enabled = false" patch=2,4,4 count=16
fi
write_ini() { # FILE SAMPLE_STEPS
    cat >"$1" <<INI
; a tiny two-point sweep for tests/sweep.sh
[experiment]
description = Two tiny runs.
[sweep]
dit.model.attention & sample.seed & dit.data.context_probs = full & 1 & 0.3,0.3,0.4 | st & 2 & 0.2,0.3,0.5
[data]
scenario = all
size = 16
frames = 8
train_count = $count
test_splits = id, ood-v
test_count = 5
seed = 3
$vae
[dit.model]
hidden = 32
depth = 1
heads = 2
patch = $patch
objective = flow
[dit.train]
batch = 4
steps = $steps
warmup = 2
lr = 1e-3
checkpoint_every = 3
log_every = 2
[dit.data]
context_frames = 2
context_probs = 0.3,0.3,0.4
[sample]
sampler = euler
steps = $2
context = 2
INI
}
write_ini "$tmp/tiny.ini" 2
out=$RESULTS/tiny
a=attention-full_seed-1_context_probs-0.3-0.3-0.4 b=attention-st_seed-2_context_probs-0.2-0.3-0.5

# ---------------------------------------------------------------- the first run
check "$run" -j 2 "$tmp/tiny.ini" >"$tmp/run1.txt" 2>&1 || cat "$tmp/run1.txt"
check test "$(wc -l <"$out/table.csv")" -eq 3
check test "$(cut -d, -f1 "$out/table.csv" | tail -n +2 | tr '\n' ' ')" = "$a $b "
check grep -q '^point,dit.model.attention,sample.seed,dit.data.context_probs,params,gflops_fwd,steps,batch,train_gflops,train_seconds,loss_last,id_split,id_vel_err,' "$out/table.csv"
# every row as many cells as the header: a value's commas are written as ;
check awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$out/table.csv"
check awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$out/points.csv"
check grep -q "^$b,st,2,0.2;0.3;0.5\$" "$out/points.csv"
# numbers in the table: parameters, steps, a finite velocity error on both splits
col() { head -1 "$out/table.csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
# (the tiny VAE of the long variant may lose the ball: its velocity errors can be NaN)
cols="params steps id_copy_vel_err ood_copy_vel_err loss_last"
[ "$long" = 1 ] || cols="$cols id_vel_err id_vel_err_lo ood_vel_err"
for c in $cols; do
    check awk -F, -v c="$(col $c)" 'NR > 1 && !($c + 0 > 0) { bad = 1 } END { exit bad }' "$out/table.csv"
done
check awk -F, -v c="$(col steps)" -v s="$steps" 'NR > 1 && $c != s { bad = 1 } END { exit bad }' "$out/table.csv"
check awk -F, -v c="$(col ood_split)" 'NR > 1 && $c != "ood-v" { bad = 1 } END { exit bad }' "$out/table.csv"
check awk -F, -v c="$(col id_presence)" 'NR > 1 && !($c >= 0 && $c <= 1 && $c != "") { bad = 1 } END { exit bad }' "$out/table.csv"
# the interval holds the mean
[ "$long" = 1 ] || check awk -F, -v m="$(col id_vel_err)" -v l="$(col id_vel_err_lo)" -v h="$(col id_vel_err_hi)" \
    'NR > 1 && !($l <= $m && $m <= $h) { bad = 1 } END { exit bad }' "$out/table.csv"
# each run's record, with its own value of the swept keys
for p in $a $b; do
    rd=$out/runs/$p
    for f in config.ini revision.txt seeds.txt env.txt timings.csv log.txt summary.md dit/run/log.csv \
        dit/run/model.safetensors dit/info.txt eval/id/report.csv eval/ood-v/report.csv sample/id/contact.png; do
        check test -s "$rd/$f"
    done
    check test "$(ls "$rd/dit/run/checkpoints" | wc -l)" -ge 1
    check grep -q '^revision: ' "$rd/revision.txt"
    check grep -q '^source_sha256: [0-9a-f]\{64\}$' "$rd/revision.txt"
    check test "$(grep -c ',ran$' "$rd/timings.csv")" -eq 5 # dit, sample x2, eval x2
    check grep -q '^\[sweep\]' "$tmp/tiny.ini"
    check sh -c "! grep -q '^\[sweep\]' '$rd/config.ini'"
done
check grep -q '^attention = full$' "$out/runs/$a/config.ini"
check grep -q '^attention = st$' "$out/runs/$b/config.ini"
check grep -q '^seed = 2$' "$out/runs/$b/config.ini"
check grep -q '^context_probs = 0.2,0.3,0.5$' "$out/runs/$b/config.ini"
check grep -q '^context_probs = 0.2,0.3,0.5$' "$out/runs/$b/dit/run/config.ini"
check grep -q '^sample.seed = 2$' "$out/runs/$b/seeds.txt"
check grep -q '^attention = st$' "$out/runs/$b/dit/run/config.ini"
# the data (and the VAE) built once, shared by both runs
check test "$(ls -d "$RESULTS"/_shared/data-*/ | wc -l)" -eq 1
check test "$(readlink "$out/runs/$a/data")" = "$(readlink "$out/runs/$b/data")"
if [ "$long" = 1 ]; then
    check test "$(ls -d "$RESULTS"/_shared/vae-*/ | wc -l)" -eq 1
    check test "$(readlink "$out/runs/$a/vae")" = "$(readlink "$out/runs/$b/vae")"
fi
check test "$(grep -c '^== [^:]*: data$' "$tmp/run1.txt")" -eq 1
check test "$(wc -l <"$out/metrics.csv")" -gt 100
check grep -q "^$b,ood-v,model,all,vel_err," "$out/metrics.csv"
for f in summary.md table.md figures/loss.dat figures/vel.dat figures/vel_runs.dat; do check test -s "$out/$f"; done
if command -v gnuplot >/dev/null; then
    figs="loss"; [ "$long" = 1 ] || figs="loss vel_params vel_flops vel_runs"
    for f in $figs; do check test -s "$out/figures/$f.png"; check test -s "$out/figures/$f.pdf"; done
fi
check test -s "$out/figures/samples_${a}_id.png"
# the figures' data: one line per run, and a loss curve of steps/log_every points each
[ "$long" = 1 ] || check test "$(grep -c "^attention-" "$out/figures/vel.dat")" -eq 2 # one group: the three keys of the one line
[ "$long" = 1 ] || check test "$(awk '/^attention-/ && NF == 22' "$out/figures/metrics.dat" | wc -l)" -eq 2
check test "$(grep -c '^[0-9]' "$out/figures/loss.dat")" -eq $((2 * (steps / 2 + 1))) # steps 1, 2, 4, ...
check grep -q "| $b |" "$out/table.md"
check grep -q '## What changes with each swept setting' "$out/summary.md"

# ---------------------------------------------------------------- a rerun redoes nothing
cp "$out/table.csv" "$tmp/table1.csv"
m1=$(stat -c %Y.%s "$out/runs/$a/dit/run/model.safetensors")
check "$run" "$tmp/tiny.ini" >"$tmp/run2.txt" 2>&1
check test "$(grep -c 'up to date, skipped' "$tmp/run2.txt")" -ge 12
check sh -c "! grep -E '^== [^:]*: (data|vae|dit|sample [a-z-]*|eval [a-z-]*)$' '$tmp/run2.txt'"
same "$tmp/table1.csv" "$out/table.csv"
check test "$(stat -c %Y.%s "$out/runs/$a/dit/run/model.safetensors")" = "$m1"
check test "$(grep -c ',ran$' "$out/runs/$a/timings.csv")" -eq 0

# ---------------------------------------------------------------- a change redoes only what it touches
write_ini "$tmp/tiny.ini" 3
check "$run" -j 2 "$tmp/tiny.ini" >"$tmp/run3.txt" 2>&1
check grep -q "^== $a: dit: up to date, skipped" "$tmp/run3.txt"
check grep -q "^== $b: sample id$" "$tmp/run3.txt"
check grep -q "^== $b: eval ood-v$" "$tmp/run3.txt"
check test "$(grep -c ',ran$' "$out/runs/$b/timings.csv")" -eq 4
check grep -q '^dit,[0-9.]*,skipped$' "$out/runs/$b/timings.csv"

# ---------------------------------------------------------------- a run stopped during training resumes
if [ "$long" = 1 ]; then
    sed -i 's/^steps = '"$steps"'$/steps = 400/' "$tmp/tiny.ini"
    old=$(cat "$out/runs/$a/dit/.settings")
    setsid "$run" "$tmp/tiny.ini" >"$tmp/run4.txt" 2>&1 &
    pid=$!
    for _ in $(seq 1 3000); do # until the first run has written a checkpoint of the new training (5 min at most)
        [ "$(cat "$out/runs/$a/dit/.settings" 2>/dev/null)" != "$old" ] &&
            ls "$out/runs/$a/dit/run/checkpoints/" 2>/dev/null | grep -q '^step-[0-9]*\.safetensors$' && break
        sleep 0.1
    done
    kill -KILL -- -"$pid" 2>/dev/null # the whole process group: run, make, point, vdit
    wait "$pid" 2>/dev/null
    check sh -c "! grep -q '^step' '$out/runs/$a/dit/run/log.csv' || test \$(tail -1 '$out/runs/$a/dit/run/log.csv' | cut -d, -f1) -lt 400"
    check "$run" "$tmp/tiny.ini" >"$tmp/run5.txt" 2>&1
    check grep -q '^resuming .* at step [1-9]' "$out/runs/$a/log.txt"
    grep -q '^resuming' "$out/runs/$a/log.txt" || tail -20 "$out/runs/$a/log.txt" # what happened instead
    check awk -F, -v c="$(col steps)" 'NR > 1 && $c != 400 { bad = 1 } END { exit bad }' "$out/table.csv"
fi

# ---------------------------------------------------------------- points that differ only in sampling train one DiT
# (named points: experiment.point first; an indented line continues the one above)
sed -e 's/^dit.model.attention & .*$/experiment.point \& sample.steps =\n    two \& 2 |\n    three \& 3/' "$tmp/tiny.ini" >"$tmp/samp.ini"
check "$run" -j 2 "$tmp/samp.ini" >"$tmp/samp.txt" 2>&1 || cat "$tmp/samp.txt"
check test "$(grep -c '^== [^:]*: dit$' "$tmp/samp.txt")" -eq 1
check test "$(readlink "$RESULTS/samp/runs/two/dit")" = "$(readlink "$RESULTS/samp/runs/three/dit")"
check grep -q '^steps = 3$' "$RESULTS/samp/runs/three/config.ini"
check test "$(wc -l <"$RESULTS/samp/table.csv")" -eq 3

# ---------------------------------------------------------------- one run at a time per results folder
sh -c 'exec 9<>"$1/.lock"; flock -n 9 || exit 1; echo $$ >"$1/.lock"; exec sleep 60' holder "$out" &
holder=$!
n=0
while [ "$(cat "$out/.lock" 2>/dev/null)" != "$holder" ] && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
expect 1 "results/tiny is in use by another experiments/run (pid $holder)" "$run" "$tmp/tiny.ini"
kill "$holder"
wait "$holder" 2>/dev/null

# ---------------------------------------------------------------- errors
printf '[sweep]\ndit.model.size\n' >"$tmp/bad.ini"
expect 2 "bad.ini:2: syntax error" "$run" "$tmp/bad.ini" # vdit config names the line
printf '[sweep]\nsize = a, b\n' >"$tmp/bad2.ini"
expect 2 'bad2.ini:2: "size" is not SECTION.KEY' "$run" "$tmp/bad2.ini"
printf '[sweep]\na.b & c.d = 1 & 2 | 3\n' >"$tmp/bad3.ini"
expect 2 'bad3.ini:2: "3" does not give the 2 keys one value each' "$run" "$tmp/bad3.ini"
expect 2 "no experiment 'no-such-study'" "$run" no-such-study
testlib_finish
