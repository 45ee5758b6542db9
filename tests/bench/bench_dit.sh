#!/bin/sh
# bench_dit.sh VDIT - `make bench-dit` (issue 8): the DiT's training step and
# guided sampler step, vdit against PyTorch on the same model and threads,
# and OpenBLAS's sgemm rate on the same shapes, measured in one run.
#
# For every standard config it alternates the programs round by round
# (vdit, PyTorch, then PyTorch, vdit, ...), each run timing a few steps after
# a warm-up and reporting its median; the table gives the median over the
# rounds of each program's time, and as the speedup the median over the
# rounds of PyTorch's time over vdit's in the same round (runs next to each
# other in time see about the same load on a shared machine). Writes
# $RESULTS/bench/{bench.md,bench.csv,bench.png,raw.txt} (RESULTS defaults
# to the source tree's results/).
#
#   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE tests/bench/bench_dit.sh build/src/vdit
#
# Environment: PYTHON_TORCH (a python with torch; default /usr/bin/python3,
# its absence leaves the PyTorch columns empty), BENCH_CONFIGS (names to run,
# default all: tiny small-full small-st base-full base-st), BENCH_ROUNDS
# (override every config's rounds), OMP_NUM_THREADS (default 2).
set -eu
. "$(cd "$(dirname "$0")" && pwd)/env.sh"
CONFIGS=${BENCH_CONFIGS:-tiny small-full small-st base-full base-st}

# name attention grid hidden depth heads batch train_steps sample_steps rounds
config() {
    case $1 in
    tiny) echo "full 8,8,8 128 4 4 16 5 20 5" ;;
    small-full) echo "full 16,8,8 192 6 6 16 3 10 4" ;;
    small-st) echo "st 16,8,8 192 6 6 16 3 10 4" ;;
    base-full) echo "full 16,16,16 256 8 8 8 2 5 2" ;;
    base-st) echo "st 16,16,16 256 8 8 8 2 5 2" ;;
    *) echo "bench_dit.sh: unknown config '$1' (tiny small-full small-st base-full base-st)" >&2; exit 2 ;;
    esac
}

command -v gnuplot >/dev/null 2>&1 || echo "bench_dit.sh: no gnuplot, no figure" >&2
mkdir -p "$out"
raw=$out/raw.txt.tmp
: >"$raw"

# record CONFIG PASS PROGRAM ROUND JSON
record() {
    echo "$1 $2 $3 $(field ms_per_step "$5") $(field gflops "$5") $(field peak_rss_mb "$5") $4" >>"$raw"
    echo "  $1 $2 $3 (round $4): $5"
}

echo "bench_dit: $(nproc) cores, OMP_NUM_THREADS=$K, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ $have_torch = 1 ] && echo "bench_dit: PyTorch $("$PY" -c 'import torch; print(torch.__version__)') ($PY)" ||
    echo "bench_dit: no Python with torch ($PY): vdit only"
start=$(date +%s)
for name in $CONFIGS; do
    set -- $(config "$name")
    att=$1 grid=$2 D=$3 L=$4 NH=$5 B=$6 tsteps=$7 ssteps=$8 rounds=${BENCH_ROUNDS:-$9}
    model="--hidden $D --depth $L --heads $NH --patch 1,2,2 --grid $grid --latent-channels 4 --attention $att"
    N=$(echo "$grid" | awk -F, '{ print ($1 / 1) * ($2 / 2) * ($3 / 2) }')
    echo "$name: $model, $N tokens, batch $B, $rounds rounds"
    echo "meta $name $att $N $B $D $L $NH" >>"$raw"
    r=1
    while [ $r -le "$rounds" ]; do
        # the ceiling: sgemm on this config's shapes (train: M = B*N, sampling: M = 2N)
        j=$("$VDIT" bench sgemm --hidden "$D" --tokens $((B * N)) --pass train --reps 5 --threads "$K" --json)
        echo "$name train sgemm $(field gflops "$j") $r" >>"$raw"
        j=$("$VDIT" bench sgemm --hidden "$D" --tokens $((2 * N)) --pass forward --reps 9 --threads "$K" --json)
        echo "$name sample sgemm $(field gflops "$j") $r" >>"$raw"
        for pass in train sample; do
            if [ $pass = train ]; then steps=$tsteps vb="--batch $B" tb="--batch $B"; else steps=$ssteps vb="" tb=""; fi
            order="vdit torch"
            [ $((r % 2)) = 0 ] && order="torch vdit"
            for prog in $order; do
                if [ $prog = vdit ]; then
                    # shellcheck disable=SC2086
                    j=$("$VDIT" bench $pass $model $vb --steps "$steps" --threads "$K" --json)
                elif [ $have_torch = 1 ]; then
                    # shellcheck disable=SC2086
                    j=$("$PY" "$here/torch_bench.py" $pass $model $tb --steps "$steps" --threads "$K")
                else
                    continue
                fi
                record "$name" $pass $prog $r "$j"
            done
        done
        r=$((r + 1))
    done
done
mv "$raw" "$out/raw.txt"
elapsed=$(($(date +%s) - start))

# medians over the rounds -> bench.csv, bench.md, data for the figure
awk -v out="$out" -v K="$K" -v elapsed="$elapsed" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    -v when="$(date -u '+%Y-%m-%d %H:%M UTC')" -v torchv="$([ $have_torch = 1 ] && "$PY" -c 'import torch; print(torch.__version__)' || echo none)" '
function median(key,    n, i, j, t, a) {
    n = cnt[key]
    if (!n) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : 0.5 * (a[n / 2] + a[n / 2 + 1])
}
function maxof(key,    i, m) { m = ""; for (i = 1; i <= cnt[key]; i++) if (m == "" || val[key, i] > m) m = val[key, i]; return m }
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
function fmt(v, f) { return v == "" ? "n/a" : sprintf(f, v) }
$1 == "meta" { names[++nn] = $2; att[$2] = $3; tok[$2] = $4; bat[$2] = $5; next }
$3 == "sgemm" { add($1 SUBSEP $2 SUBSEP "sgemm", $4); sgr[$1, $2, $5] = $4; next }
{
    k = $1 SUBSEP $2 SUBSEP $3
    add(k SUBSEP "ms", $4); add(k SUBSEP "gf", $5); add(k SUBSEP "rss", $6)
    ms[k, $7] = $4
    if ($3 == "vdit" && (($1, $2, $7) in sgr)) add($1 SUBSEP $2 SUBSEP "share", $5 / sgr[$1, $2, $7])
    if ((($1 SUBSEP $2 SUBSEP "vdit", $7) in ms) && (($1 SUBSEP $2 SUBSEP "torch", $7) in ms))
        add($1 SUBSEP $2 SUBSEP "ratio", ms[$1, $2, "torch", $7] / ms[$1, $2, "vdit", $7])
    gfl[k] = $4 * $5 # ms x GFLOP/s = MFLOP per step: the FLOP count, the same for both programs
}
END {
    csv = out "/bench.csv.tmp"; md = out "/bench.md.tmp"; dat = out "/bench.dat"
    print "config,attention,tokens,batch,pass,vdit_ms,torch_ms,speedup,vdit_gflops,torch_gflops,sgemm_gflops,sgemm_share,vdit_rss_mb,torch_rss_mb" > csv
    print "# Training and sampling speed: vdit against PyTorch (issue 8)\n" > md
    printf "Written by `make bench-dit` (tests/bench/bench_dit.sh) on %s: %d threads, OMP_WAIT_POLICY=PASSIVE for both, PyTorch %s, total %d s. Load average at the end: %s (the machine is shared: ratios from alternated runs are the figures to quote).\n\n", when, K, torchv, elapsed, load > md
    print "Each row: the median over alternated rounds (vdit, PyTorch, then PyTorch, vdit, ...) of each run'"'"'s median step time after a warm-up step; speedup: the median over the rounds of PyTorch'"'"'s time over vdit'"'"'s in the same round. GFLOP/s from the analytic count of `vdit_dit_flops_per_sample` (2 x multiply-adds of every matmul, both attention products; a training step = 3 x forward; a guided sampler step = 2 x forward, batch 2). sgemm: `vdit bench sgemm` on the same rows and widths (train: the 12 GEMMs of a block'"'"'s forward and backward on B*N rows; sample: the 4 forward GEMMs on 2N rows), measured just before each round; share: the median over the rounds of vdit'"'"'s rate over the sgemm rate of the same round. Memory: peak resident set of the process.\n" > md
    print "| config | tokens | pass | vdit ms | PyTorch ms | speedup | vdit GFLOP/s | sgemm GFLOP/s | share of sgemm | vdit MB | PyTorch MB |" > md
    print "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" > md
    for (i = 1; i <= nn; i++) {
        c = names[i]
        for (p = 1; p <= 2; p++) {
            pass = p == 1 ? "train" : "sample"
            kv = c SUBSEP pass SUBSEP "vdit"; kt = c SUBSEP pass SUBSEP "torch"
            vm = median(kv SUBSEP "ms"); tm = median(kt SUBSEP "ms")
            vg = median(kv SUBSEP "gf"); tg = median(kt SUBSEP "gf")
            sg = median(c SUBSEP pass SUBSEP "sgemm")
            vr = maxof(kv SUBSEP "rss"); tr = maxof(kt SUBSEP "rss")
            sp = median(c SUBSEP pass SUBSEP "ratio")
            sh = median(c SUBSEP pass SUBSEP "share")
            if (vm != "" && tm != "" && (gfl[kv] / gfl[kt] > 1.001 || gfl[kt] / gfl[kv] > 1.001))
                printf "bench_dit: %s %s: FLOP counts differ (vdit %.4g, torch %.4g MFLOP)\n", c, pass, gfl[kv], gfl[kt] > "/dev/stderr"
            printf "%s,%s,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", c, att[c], tok[c], pass == "train" ? bat[c] : 2, pass,
                vm, tm, sp == "" ? "" : sprintf("%.3f", sp), vg, tg, sg, sh == "" ? "" : sprintf("%.3f", sh), vr, tr > csv
            printf "| %s (%s) | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, pass == "train" ? "batch " bat[c] : "batch 2", tok[c], pass,
                fmt(vm, "%.1f"), fmt(tm, "%.1f"), fmt(sp, "%.2fx"), fmt(vg, "%.1f"), fmt(sg, "%.1f"), fmt(sh == "" ? "" : 100 * sh, "%.0f%%"),
                fmt(vr, "%.0f"), fmt(tr, "%.0f") > md
            printf "%s %s %s %d %s %s\n", c, att[c], pass, tok[c], vm == "" ? "NaN" : vm, tm == "" ? "NaN" : tm > dat
            # targets of issue 8
            if (sp != "") {
                need = pass == "sample" ? 1.3 : (c == "base-full" ? 1.5 : 1.0)
                tgt[++nt] = sprintf("%s %s: %.2fx faster than PyTorch (target %s%.1fx): %s", c, pass, sp, pass == "train" && need == 1 ? "> " : ">= ", need,
                    (need == 1 ? sp > 1 : sp >= need) ? "met" : "NOT met")
            }
            if (sh != "") tgt[++nt] = sprintf("%s %s: %.0f%% of the sgemm rate (target 75%%): %s", c, pass, 100 * sh, sh >= 0.75 ? "met" : "NOT met")
            if (vr != "" && tr != "") tgt[++nt] = sprintf("%s %s: peak memory %.0f MB against PyTorch %.0f MB: %s", c, pass, vr, tr, vr < tr ? "met" : "NOT met")
        }
    }
    print "\n## Targets\n" > md
    for (i = 1; i <= nt; i++) print "- " tgt[i] > md
    print "\n![time per step against tokens](bench.png)" > md
    close(csv); close(md)
}' "$out/raw.txt"
mv "$out/bench.csv.tmp" "$out/bench.csv"
mv "$out/bench.md.tmp" "$out/bench.md"

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "dat='$out/bench.dat'; png='$out/bench.png.tmp'" "$here/bench_dit.gp" && mv "$out/bench.png.tmp" "$out/bench.png"
fi
cat "$out/bench.md"
echo "bench_dit: wrote $out/bench.md, bench.csv, bench.png, raw.txt"
