#!/bin/sh
# misuse.sh - nothing lost under misuse (issue 17): a signal, a file size
# limit, a config that is a folder or a FIFO, frames that are damaged or too
# large. One row per case:
#   row NAME STATUS WORDS -- COMMAND...
# COMMAND must exit with STATUS and print ONE message line ("vdit...": the
# progress lines of train aside) matching WORDS (grep -E); afterwards every file of the fixtures
# (datasets, VAE, latents, configs, the run's checkpoints) is byte-identical
# to before (sha256sum) and no temporary (*.tmp.*, *.tmp-*) is left.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init misuse
cd "$tmp" || exit 1
V=$VDIT
quiet() { "$@" >/dev/null 2>&1 || { echo "FAIL: setup: $*"; exit 1; }; }
# the fixtures' hashes; a run's log.csv is left out (a resume rewrites it)
hashes() { find fx -type f ! -name log.csv | LC_ALL=C sort | xargs sha256sum; }
temps() { find . -name '*.tmp.*' -o -name '*.tmp-*' | head -n 3; }
row() {
    name=$1 want=$2 words=$3
    shift 4 # NAME STATUS WORDS --
    hashes >before
    "$@" >stdout 2>out
    rc=$?
    hashes >after
    grep '^vdit' out >line
    lines=$(wc -l <line)
    left=$(temps)
    if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qE -- "$words" line && cmp -s before after &&
        [ -z "$left" ]; then
        pass=$((pass + 1))
        printf '  %-30s %s\n' "$name" "$(cat line)"
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $rc (want $want), $lines lines (want 1 matching /$words/):"
        head -n 5 out | sed 's/^/    /'
        cmp -s before after || { echo "    inputs changed:"; diff before after | sed 's/^/    /' | head -n 6; }
        [ -z "$left" ] || echo "    temporaries left: $left"
    fi
}

# ---- fixtures: a dataset, a VAE, its latents, a DiT config and a run
mkdir fx
quiet $V data --scenario parabola --split train --count 8 --frames 8 --size 32 --seed 1 --out fx/data
cat >fx/vae.ini <<'INI'
[model]
channels = 8,16,16
groups = 4
[train]
batch = 4
steps = 2
warmup = 1
val_split = 0.25
INI
quiet $V vae train --data fx/data --config fx/vae.ini --out fx/vae.safetensors
quiet $V vae encode --vae fx/vae.safetensors --data fx/data --out fx/latents.npy
cat >fx/dit.ini <<'INI'
[model]
hidden = 32
depth = 1
heads = 2
patch = 2,4,4
[train]
batch = 2
steps = 4
warmup = 1
checkpoint_every = 1
keep_checkpoints = 4
log_every = 1
INI
quiet $V train --config fx/dit.ini --data fx/data --out fx/run
# back to step 2, as if stopped there: a resume writes step 3's checkpoint next
rm -f fx/run/checkpoints/step-00000003.safetensors fx/run/checkpoints/step-00000004.safetensors
mkdir cfgdir
mkfifo fifo.ini

# ---- SIGXFSZ: `ulimit -f 40` is 20 KB in dash (512-byte blocks), 40 KB in
# bash; the latents (64 KB), a training state (650 KB) and 200 videos'
# data.npz (190 KB) do not fit
row "ulimit -f: vae encode" 1 "fx/latents.npy: file too large \(over the file size limit" -- \
    sh -c 'ulimit -f 40; exec "$0" vae encode --vae fx/vae.safetensors --data fx/data --out fx/latents.npy' "$V"
row "ulimit -f: train --resume" 1 "step-00000003.safetensors: file too large \(over the file size limit" -- \
    sh -c 'ulimit -f 40; exec "$0" train --config fx/dit.ini --data fx/data --out fx/run --resume' "$V"
row "ulimit -f: train, new run" 1 "file too large \(over the file size limit" -- \
    sh -c 'ulimit -f 40; exec "$0" train --config fx/dit.ini --data fx/data --out run2' "$V"
rm -rf run2
row "ulimit -f: data --force" 1 "^vdit: fx/data/data.npz: file too large \(over the file size limit" -- \
    sh -c 'ulimit -f 40; exec "$0" data --scenario parabola --split train --count 200 --frames 8 --size 32 --force --out fx/data' "$V"

# ---- SIGTERM and SIGINT during `vdit data --force` over an existing
# dataset: the temporary folder goes, the old dataset stays as it was.
# `env --default-signal` undoes the SIGINT a background job starts ignoring.
stop_data() { # SIGNAL: runs vdit data in the background, stops it mid-write
    sig=$1
    if [ "$sig" = INT ]; then set -- env --default-signal=INT "$V"; else set -- "$V"; fi
    "$@" data --scenario all --split train --count 4000 --frames 32 --size 64 --force \
        --out fx/data >/dev/null 2>out.bg &
    pid=$!
    for _ in $(seq 400); do
        [ -n "$(ls -d fx/data.tmp-* 2>/dev/null)" ] && break
        sleep 0.02
    done
    sleep 0.2
    kill "-$sig" "$pid"
    wait "$pid" 2>/dev/null # not the shell's "Terminated"
    rc=$?
    cat out.bg >&2
    return "$rc"
}
# SIGTERM during training, which writes and fsyncs a state every step: no
# temporary survives, wherever the signal lands, and the last state loads
stop_train() {
    "$V" train --config long.ini --data fx/data --out run5 >/dev/null 2>out.bg &
    pid=$!
    for _ in $(seq 1000); do
        [ -e run5/checkpoints/step-00000003.safetensors ] && break
        sleep 0.02
    done
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    grep -v '^\(training\|step\|$\)' out.bg >&2
    last=$(ls run5/checkpoints | grep -v '\.tmp\.' | tail -n 1)
    "$V" info "run5/checkpoints/$last" >/dev/null 2>&1 || echo "run5/checkpoints/$last: does not load" >&2
    return "$rc"
}
sed 's/^steps = 4$/steps = 100000/' fx/dit.ini >long.ini
row "SIGTERM during vdit train" 143 "terminated \(SIGTERM\); temporary files removed" -- stop_train
rm -rf run5
row "SIGTERM during vdit data" 143 "terminated \(SIGTERM\); temporary files removed" -- stop_data TERM
if env --default-signal=INT true 2>/dev/null; then
    row "SIGINT during vdit data" 130 "interrupted \(SIGINT\); temporary files removed" -- stop_data INT
else
    echo "  (SIGINT: skipped, this env has no --default-signal: coreutils 8.31 or later)"
fi

# ---- configs that are not files: one line naming the file, at once
# (timeout: a regression would train the default model for 2,000 steps)
row "train --config DIR" 1 "cfgdir: is a directory, expected a file" -- \
    timeout 60 $V train --config cfgdir --data fx/data --out run3
row "train --config FIFO" 1 "fifo.ini: not a regular file" -- \
    timeout 20 $V train --config fifo.ini --data fx/data --out run3
row "vae train --config DIR" 1 "cfgdir: is a directory, expected a file" -- \
    timeout 60 $V vae train --config cfgdir --data fx/data --out vae3.safetensors
row "config resolve FIFO" 2 "fifo.ini: not a regular file" -- timeout 20 $V config resolve fifo.ini

# ---- a dataset whose meta.json is a FIFO
mkdir dm
ln -s "$tmp/fx/data/data.npz" dm/data.npz
mkfifo dm/meta.json
row "meta.json is a FIFO" 1 "dm/meta.json: not a regular file" -- \
    timeout 20 $V train --config fx/dit.ini --data dm --out run3

# ---- frames: damaged, too large, not files
mkdir g1 g2 g3 g4
printf 'GIF89a' >g1/a.gif # the header ends after the signature
# a valid GIF of one 1x1 frame on a 5000x5000 canvas
printf 'GIF89a\210\023\210\023\200\000\000\377\377\377\000\000\000!\371\004\001\000\000\000\000,\000\000\000\000\001\000\001\000\000\002\002D\001\000;' >g2/a.gif
mkdir g3/a.gif
mkfifo g4/a.gif
row "GIF header cut short" 1 "g1/a.gif: cannot open the GIF \(the file ends inside the GIF header\)" -- \
    $V eval --videos g1 --truth fx/data --out ev
row "GIF canvas too large" 1 "g2/a.gif: 5000x5000 canvas with 1 frames: too large: at most 4096x4096" -- \
    $V eval --videos g2 --truth fx/data --out ev
row "GIF that is a folder" 1 "g3/a.gif: is a directory, expected a file" -- \
    $V eval --videos g3 --truth fx/data --out ev
row "GIF that is a FIFO" 1 "g4/a.gif: not a regular file" -- timeout 20 $V eval --videos g4 --truth fx/data --out ev

# ---- out of memory: the message names the model's real size. Skipped where
# the build cannot start under a 1.5 GB address space (sanitizers).
cat >big.ini <<'INI'
[model]
hidden = 2048
depth = 28
heads = 16
patch = 2,4,4
[train]
batch = 2
steps = 2
INI
if sh -c 'ulimit -v 1500000; exec "$0" --version' "$V" >/dev/null 2>&1; then
    row "out of memory for a model" 1 "out of memory for a model of [1-9][0-9]* parameters \([0-9.]+ GB" -- \
        sh -c 'ulimit -v 1500000; exec "$0" train --config big.ini --data fx/data --out run4' "$V"
else
    echo "  (out of memory: skipped, this build does not start under ulimit -v)"
fi

# ---- without gnuplot, vdit eval says how many figures it could not draw
PATH=/nonexistent "$V" eval --videos fx/data/data.npz --truth fx/data --out ev5 --bootstrap 10 >out 2>/dev/null
rc=$?
if [ "$rc" -eq 0 ] && grep -q "gnuplot not found: [1-9] figures not drawn$" out; then
    pass=$((pass + 1))
    printf '  %-30s %s\n' "eval without gnuplot" "$(sed 's/.*; //' out)"
else
    failed=$((failed + 1))
    echo "FAIL: eval without gnuplot: exit $rc: $(cat out)"
fi

testlib_finish
