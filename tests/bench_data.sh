#!/bin/sh
# bench_data.sh VDIT - times the 30,000-video ID train set of `uniform` at
# 32x32, 32 frames (phyworld's smallest), written with `vdit data`, and
# prints videos/s. Target: under 3 minutes on a 2-core machine.
#   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE tests/bench_data.sh build/src/vdit
set -eu
VDIT=${1:-${VDIT:-vdit}}
N=${BENCH_DATA_COUNT:-30000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vdit-bench-data-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s.%N)
"$VDIT" data --scenario uniform --split train --count "$N" --frames 32 --size 32 --seed 0 --out "$tmp/set" >/dev/null
end=$(date +%s.%N)
bytes=$(stat -c %s "$tmp/set/data.npz")
awk -v s="$start" -v e="$end" -v n="$N" -v b="$bytes" -v th="${OMP_NUM_THREADS:-?}" 'BEGIN {
    t = e - s
    printf "bench-data: uniform/train %d videos x 32 frames x 32x32: %.1f s, %.0f videos/s, data.npz %.1f MB (%d threads)\n", n, t, n / t, b / 1e6, th
    if (n == 30000) printf "bench-data: target 30000 videos in under 180 s: %s\n", t < 180 ? "PASS" : "FAIL"
}'
