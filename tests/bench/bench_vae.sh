#!/bin/sh
# bench_vae.sh VDIT - `make bench-vae` (issue 16): the VAE's training step,
# encoder and decoder, vdit (`vdit bench vae`) against the same VAE in
# PyTorch (tests/bench/torch_vae_bench.py, checked to have vdit's parameter
# count) on the same frames and threads, alternated round by round (vdit,
# PyTorch, then PyTorch, vdit, ...); the table gives each program's median
# over the rounds and, as the speedup, the median over the rounds of
# PyTorch's time over vdit's in the same round. Writes
# $RESULTS/bench/{bench_vae.md,bench_vae.csv,raw_vae.txt}.
#
#   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE tests/bench/bench_vae.sh build/src/vdit
#
# Environment: PYTHON_TORCH (default /usr/bin/python3; without torch, vdit
# alone), BENCH_ROUNDS (default 4), OMP_NUM_THREADS (default 2).
set -eu
. "$(cd "$(dirname "$0")" && pwd)/env.sh"
ROUNDS=${BENCH_ROUNDS:-4}
mkdir -p "$out"
raw=$out/raw_vae.txt.tmp
: >"$raw"

# name size batch (frames a training step; the VAE of experiments/vae/vae32.ini)
CONFIGS="vae32-b32:32:32 vae64-b8:64:8"
echo "bench_vae: $(nproc) cores, OMP_NUM_THREADS=$K, load average $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
for c in $CONFIGS; do
    name=${c%%:*} rest=${c#*:} S=${c#*:} S=${S%%:*} B=${rest#*:}
    params=$(field params "$("$VDIT" bench vae --config "$srcdir/experiments/vae/vae32.ini" --size "$S" --batch 1 \
        --steps 1 --threads "$K" --json)")
    r=1
    while [ $r -le "$ROUNDS" ]; do
        order="vdit torch"
        [ $((r % 2)) = 0 ] && order="torch vdit"
        for prog in $order; do
            if [ $prog = vdit ]; then
                j=$("$VDIT" bench vae --config "$srcdir/experiments/vae/vae32.ini" --size "$S" --batch "$B" --steps 5 \
                    --threads "$K" --json)
            elif [ $have_torch = 1 ]; then
                j=$("$PY" "$here/torch_vae_bench.py" --channels 32,64,64 --res-blocks 1 --mid-blocks 1 --downsample 4 \
                    --latent-channels 4 --groups 8 --size "$S" --batch "$B" --steps 5 --threads "$K" \
                    --expect-params "$params")
            else
                continue
            fi
            echo "$name $prog $r $(field ms_per_step "$j") $(field encode_ms_per_frame "$j") $(field decode_ms_per_frame "$j") $(field gflops "$j")" >>"$raw"
            echo "  $name $prog (round $r): $j"
        done
        r=$((r + 1))
    done
done
mv "$raw" "$out/raw_vae.txt"
awk -v out="$out" -v K="$K" -v elapsed="$(($(date +%s) - start))" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    -v when="$(date -u '+%Y-%m-%d %H:%M UTC')" '
function median(key,    n, i, j, t, a) {
    n = cnt[key]; if (!n) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : 0.5 * (a[n / 2] + a[n / 2 + 1])
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
function fmt(v, f) { return v == "" ? "n/a" : sprintf(f, v) }
{
    if (!($1 in seen)) { seen[$1] = 1; names[++nn] = $1 }
    for (k = 4; k <= 7; k++) add($1 SUBSEP $2 SUBSEP k, $k)
    t[$1, $2, $3] = $4 " " $5 " " $6
}
END {
    csv = out "/bench_vae.csv.tmp"; md = out "/bench_vae.md.tmp"
    print "config,part,vdit_ms,torch_ms,speedup" > csv
    print "# The VAE: vdit against PyTorch (issue 16)\n" > md
    printf "Written by `make bench-vae` (tests/bench/bench_vae.sh) on %s: %d threads, OMP_WAIT_POLICY=PASSIVE, the same OpenBLAS kernels for both, total %d s, load average at the end %s. The VAE of experiments/vae/vae32.ini (channels 32,64,64, downsample 4, 4 latent channels; PyTorch'"'"'s copy has the same parameter count). Training step: forward, L1 + KL, backward, AdamW on a batch of frames; encode and decode: ms per frame. Medians over alternated rounds; speedup: the median of PyTorch'"'"'s time over vdit'"'"'s in the same round (above 1: vdit is faster).\n\n", when, K, elapsed, load > md
    print "| config | part | vdit ms | PyTorch ms | speedup |" > md
    print "| --- | --- | ---: | ---: | ---: |" > md
    split("step encode decode", part, " ")
    for (i = 1; i <= nn; i++) {
        n = names[i]
        for (p = 1; p <= 3; p++) {
            delete rr; c = 0
            for (r = 1; r <= 64; r++)
                if (((n, "vdit", r) in t) && ((n, "torch", r) in t)) {
                    split(t[n, "vdit", r], a, " "); split(t[n, "torch", r], b, " ")
                    if (a[p] > 0) rr[++c] = b[p] / a[p]
                }
            for (x = 2; x <= c; x++) for (y = x; y > 1 && rr[y - 1] > rr[y]; y--) { z = rr[y]; rr[y] = rr[y - 1]; rr[y - 1] = z }
            sp = c ? (c % 2 ? rr[(c + 1) / 2] : 0.5 * (rr[c / 2] + rr[c / 2 + 1])) : ""
            v = median(n SUBSEP "vdit" SUBSEP (p + 3)); w = median(n SUBSEP "torch" SUBSEP (p + 3))
            printf "%s,%s,%s,%s,%s\n", n, part[p], v, w, sp > csv
            printf "| %s | %s | %s | %s | %s |\n", n, part[p], fmt(v, "%.2f"), fmt(w, "%.2f"), fmt(sp, "%.2fx") > md
        }
    }
}' "$out/raw_vae.txt"
mv "$out/bench_vae.csv.tmp" "$out/bench_vae.csv"
mv "$out/bench_vae.md.tmp" "$out/bench_vae.md"
cat "$out/bench_vae.md"
