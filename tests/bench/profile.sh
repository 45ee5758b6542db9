#!/bin/sh
# profile.sh VDIT [OUTDIR] - where a training and a sampler step spend their
# time: `perf record` over `vdit bench train|sample` for the standard
# configs of issue 8, each sample put in one category (OpenBLAS's sgemm,
# elementwise passes, softmax, memset/memcpy, ...). Shares of cycles hold
# on a loaded machine where absolute times do not. Writes OUTDIR/profile.md
# (default results/bench). Needs perf (Debian: linux-perf).
set -eu
VDIT=${1:?usage: profile.sh VDIT [OUTDIR]}
out=${2:-results/bench}
command -v perf >/dev/null 2>&1 || { echo "profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
# libtool's wrapper script would be profiled instead of the program: use the real binary
real=$(dirname "$VDIT")/.libs/$(basename "$VDIT")
[ -x "$real" ] && export LD_LIBRARY_PATH="$(cd "$(dirname "$VDIT")/../lib/.libs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && VDIT=$real
mkdir -p "$out"
tmp=$(mktemp -d /tmp/vdit-profile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

categorise() { # perf report lines (overhead dso symbol) -> "share<TAB>category", largest first
    awk '/%/ {
        pct = $1; sub("%", "", pct); dso = $2; sym = $4; c = "other (libm, libc, loader)"
        if (dso ~ /openblas/) c = "sgemm (OpenBLAS kernels and packing)"
        else if (sym ~ /memset|memmove|memcpy/) c = "memset/memcpy (zeroed gradients, bias rows, gathers)"
        else if (sym ~ /exp_|softmax/) c = "softmax exponentials (attention)"
        else if (sym ~ /attention|gather|scatter/) c = "attention tiles (gathers, scatters, row sums)"
        else if (sym ~ /gelu|ln_|layernorm|adaln|gated|silu|modulate|patch|embed/) c = "elementwise (GELU, LayerNorm, adaLN, gates, patches)"
        else if (sym ~ /adamw|trainer|ema/) c = "optimizer (AdamW, EMA, clipping)"
        else if (dso ~ /kernel|gomp/) c = "kernel and OpenMP runtime"
        s[c] += pct }
        END { for (c in s) printf "%.1f\t%s\n", s[c], c }' | sort -rn
}

{
    echo "# Where the time goes (issue 8)"
    echo
    echo "Written by \`tests/bench/profile.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $OMP_NUM_THREADS threads; load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "perf samples of \`vdit bench\` (the random inputs are made before the timed steps; their share is in \"other\")."
    echo
} >"$tmp/profile.md"

run() { # run NAME ARGS...
    name=$1; shift
    perf record -q -F 499 -o "$tmp/$name.data" "$VDIT" bench "$@" >"$tmp/$name.out" 2>&1
    perf report -i "$tmp/$name.data" --no-children --sort dso,symbol 2>/dev/null | grep -v '^#' | categorise >"$tmp/$name.cat"
    {
        echo "## $name: vdit bench $*"
        echo
        echo "$(grep 'vdit bench' "$tmp/$name.out")"
        echo
        echo "| share of cycles | where |"
        echo "| ---: | --- |"
        awk -F '\t' '{ printf "| %s%% | %s |\n", $1, $2 }' "$tmp/$name.cat"
        echo
    } >>"$tmp/profile.md"
}

run tiny-train train --steps 10
run tiny-sample sample --steps 200
run small-full-train train --grid 16,8,8 --hidden 192 --depth 6 --heads 6 --steps 3
run small-st-train train --grid 16,8,8 --hidden 192 --depth 6 --heads 6 --attention st --steps 3
run base-full-train train --grid 16,16,16 --hidden 256 --depth 8 --heads 8 --batch 8 --steps 2
run base-st-sample sample --grid 16,16,16 --hidden 256 --depth 8 --heads 8 --attention st --steps 10
mv "$tmp/profile.md" "$out/profile.md"
echo "profile.sh: wrote $out/profile.md"
