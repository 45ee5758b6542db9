#!/usr/bin/env bash
# rollout.sh - long rollouts through the experiment harness: a tiny two-point
# box sweep (plain context and context noise augmentation) with a [rollout]
# stage continues 40-frame test videos past its 8-frame window, scores them
# per window with the horizon, and the experiment gathers them (rollout.csv,
# a "Long rollouts" section beside linear in summary.md); a rerun redoes
# nothing.
set -u
. "$SRCDIR/tests/testlib.sh"
testlib_init rollout
export RESULTS=$tmp/results VDIT OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=PASSIVE
cat >"$tmp/roll.ini" <<'INI'
[experiment]
description = Two tiny box models rolled out past their window.
[sweep]
point & dit.data.context_noise & sample.context_noise = plain & 0 & 0 | noisy & 0.3 & 0.1
[data]
scenario = box
size = 16
frames = 8
train_count = 8
test_splits = id
test_count = 3
seed = 3
[vae]
enabled = false
[dit.model]
hidden = 16
depth = 1
heads = 2
patch = 2,4,4
objective = flow
[dit.train]
batch = 4
steps = 4
warmup = 2
checkpoint_every = 2
log_every = 2
[dit.data]
context_frames = 3
context_probs = 0.1,0.1,0.1,0.7
[sample]
sampler = euler
steps = 2
context = 3
[rollout]
frames = 40
count = 3
INI
out=$RESULTS/roll
check "$SRCDIR/experiments/run" -j 2 "$tmp/roll.ini" >"$tmp/run1.txt" 2>&1 || cat "$tmp/run1.txt"
for p in plain noisy; do
    rd=$out/runs/$p
    for f in rollout/sample/videos.npy rollout/eval/drift.csv rollout/eval/report.md; do check test -s "$rd/$f"; done
    check grep -q "^rollout sample,[0-9.]*,ran$" "$rd/timings.csv"
    "$VDIT" info "$rd/rollout/sample/videos.npy" >"$tmp/info.txt"
    check grep -q "shape \[3,40,16,16,3\]" "$tmp/info.txt"
    check grep -q "^model,all,3,39,horizon," "$rd/rollout/eval/drift.csv"
done
check grep -q '^context_noise = 0.3$' "$out/runs/noisy/dit/run/config.ini"
check grep -q -- '--context-noise 0.1\|context_noise' "$out/runs/noisy/config.ini"
# one rollout test set, shared
check test "$(ls -d "$RESULTS"/_shared/data-*/test 2>/dev/null | wc -l)" -eq 1
check test "$(awk -F, 'NR > 1' "$out/rollout.csv" | wc -l)" -gt 20
check grep -q '^noisy,linear,all,3,39,horizon,' "$out/rollout.csv"
check grep -q '^## Long rollouts' "$out/summary.md"
check grep -q '^| plain | ' "$out/summary.md"
check grep -q 'Against `linear`:.* horizon' "$out/summary.md"
# a rerun: nothing to do
check "$SRCDIR/experiments/run" -j 2 "$tmp/roll.ini" >"$tmp/run2.txt" 2>&1
check sh -c "! grep -q ': rollout sample$' '$tmp/run2.txt'"
testlib_finish
