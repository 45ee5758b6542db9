#!/bin/sh
# clobber.sh - no command's output may destroy one of its inputs, and one
# writer at a time per output (issue 17). One row per case:
#   row NAME OUT IN -- COMMAND...
# COMMAND must exit 1 with ONE line (stdout and stderr together) naming both
# OUT and IN, and leave every file of the test folder byte-identical
# (sha256sum before and after). Then two writers at once to one dataset, run
# and sample folder: the second exits 1 at once naming the holder's pid, the
# first succeeds, and the folder equals a single run's.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init clobber
cd "$tmp" || exit 1
V=$VDIT
quiet() { "$@" >/dev/null 2>&1 || { echo "FAIL: setup: $*"; exit 1; }; }
hashes() { find . -type f ! -name out ! -name '*.sha256' | sort | xargs sha256sum; }
row() {
    name=$1 o=$2 i=$3
    shift 4 # NAME OUT IN --
    hashes >before.sha256
    "$@" >out 2>&1
    rc=$?
    lines=$(wc -l <out)
    hashes >after.sha256
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$o" out && grep -qF -- "$i" out &&
        cmp -s before.sha256 after.sha256; then
        pass=$((pass + 1))
        printf '  %-36s %s\n' "$name" "$(cat out)"
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $rc, $lines lines (want 1 naming '$o' and '$i'):"
        head -n 5 out | sed 's/^/    /'
        diff before.sha256 after.sha256 | sed 's/^/    changed: /'
    fi
}

# ---- inputs: a dataset, a VAE, latents, a DiT run, samples
quiet $V data --scenario parabola --split train --count 4 --frames 8 --size 16 --seed 1 --out A
tiny_dit_ini d.ini
printf '[model]\nchannels = 4,4\ndownsample = 2\nlatent_channels = 2\ngroups = 2\nmid_blocks = 0\n[train]\nbatch = 1\nsteps = 1\nwarmup = 1\nval_interval = 0\n' >v.ini
quiet $V vae train --data A --config v.ini --out vae.safetensors
quiet $V vae encode --vae vae.safetensors --data A --out lat.npy
quiet $V train --config d.ini --data A --out runA
quiet $V sample --checkpoint runA/model.safetensors --data A --count 4 --steps 2 --out sA
ln -s vae.safetensors vaelink.safetensors # a symlink to the VAE
ln vae.safetensors vaehard.safetensors    # a hard link to it
ln -s runA runlink                        # a symlink to the run folder
ln -s A/data.npz show.gif                 # a GIF name that is the dataset's archive
cp sA/videos.npy x.npy

echo "clobber table:"
# name                               output                 input                   command
row "vae train: --out the dataset's npz" A/data.npz          A                    -- $V vae train --data A --config v.ini --out A/data.npz
row "vae train: --out its config"     v.ini                  v.ini                -- $V vae train --data A --config v.ini --out v.ini
row "vae train: --out the dataset"    A                      A                    -- $V vae train --data A --config v.ini --out A
row "vae train: --log the meta.json"  A/meta.json            A                    -- $V vae train --data A --config v.ini --out o.safetensors --log A/meta.json
row "vae train: --log its own checkpoint" vaehard.safetensors vae.safetensors    -- $V vae train --data A --config v.ini --out vae.safetensors --log vaehard.safetensors --resume
row "vae encode: --out the dataset's npz" A/data.npz         A                    -- $V vae encode --vae vae.safetensors --data A --out A/data.npz
row "vae encode: --out its --vae"     vae.safetensors        vae.safetensors      -- $V vae encode --vae vae.safetensors --data A --out vae.safetensors
row "vae encode: --out its --input"   x.npy                  x.npy                -- $V vae encode --vae vae.safetensors --input x.npy --out x.npy
row "vae decode: --out its --vae"     vae.safetensors        vae.safetensors      -- $V vae decode --vae vae.safetensors --input lat.npy --out vae.safetensors
row "vae decode: --out a symlink to --vae" vaelink.safetensors vae.safetensors    -- $V vae decode --vae vae.safetensors --input lat.npy --out vaelink.safetensors
row "vae decode: --out a hard link to --vae" vaehard.safetensors vae.safetensors  -- $V vae decode --vae vae.safetensors --input lat.npy --out vaehard.safetensors
row "vae decode: --out its --input"   lat.npy                lat.npy              -- $V vae decode --vae vae.safetensors --input lat.npy --out lat.npy
row "vae recon: --out the dataset's npz" A/data.npz          A                    -- $V vae recon --vae vae.safetensors --data A --out A/data.npz
row "vae recon: --json its --vae"     vae.safetensors        vae.safetensors      -- $V vae recon --vae vae.safetensors --data A --out o.gif --json vae.safetensors
row "train: --out the dataset"        A                      A                    -- $V train --config d.ini --data A --out A
row "train: --out the folder of --config" .                  d.ini                -- $V train --config d.ini --data A --vae vae.safetensors --out .
row "train: --out the run of --config" runA                  runA/config.ini      -- $V train --config runA/config.ini --data A --out runA
row "train: --resume with data in the run" runA              runA/A2              -- sh -c "cp -r A runA/A2 && $V train --config d.ini --data runA/A2 --out runA --resume; rc=\$?; rm -rf runA/A2; exit \$rc"
row "sample: --out the checkpoint's run" runA                runA/model.safetensors -- $V sample --checkpoint runA/model.safetensors --data A --count 1 --steps 1 --out runA
row "sample: --out the run, by symlink" runlink              runlink/model.safetensors -- $V sample --checkpoint runlink/model.safetensors --count 1 --steps 1 --out runlink
row "sample: --out the --data folder" A                      A                    -- $V sample --checkpoint runA/model.safetensors --data A --count 1 --steps 1 --out A
row "sample: --out its --vae"         vae.safetensors        vae.safetensors      -- $V sample --checkpoint runA/model.safetensors --vae vae.safetensors --count 1 --steps 1 --out vae.safetensors
row "eval: --out the truth folder"    A                      A                    -- $V eval --videos sA/videos.npy --truth A --out A --no-figures
row "eval: --out inside the truth"    A/meta.json            A                    -- $V eval --videos sA/videos.npy --truth A --out A/meta.json --no-figures
row "eval: --out the videos' folder"  sA                     sA/videos.npy        -- $V eval --videos sA/videos.npy --truth A --out sA --no-figures
row "eval: --out the checkpoint's run" runA                  runA/model.safetensors -- $V eval --checkpoint runA/model.safetensors --truth A --out runA --no-figures
row "dit forward: --out its --input"  x.npy                  x.npy                -- $V dit forward --checkpoint runA/model.safetensors --input x.npy --t 1 --out x.npy
row "dit grad: --out its --checkpoint" runA/model.safetensors runA/model.safetensors -- $V dit grad --checkpoint runA/model.safetensors --input x.npy --target lat.npy --t 1 --out runA/model.safetensors
row "data show: --out the dataset's npz" show.gif            A                    -- $V data show A --index 0 --out show.gif
row "data: --out a run folder"        runA                   "not a dataset"      -- $V data --scenario parabola --split train --count 2 --frames 8 --size 16 --out runA --force

# ---- two writers at once: the first holds PATH.lock (its pid inside) while it writes
# waitlock PATH: until PATH.lock names a live pid (at most 20 s)
waitlock() {
    n=0
    while [ "$n" -lt 200 ]; do
        p=$(cat "$1.lock" 2>/dev/null)
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}
# second NAME PATH -- COMMAND...: COMMAND, started while the first writer holds
# PATH, exits 1 within 5 s with one line naming PATH and the holder's pid
second() {
    name=$1 path=$2
    shift 3
    if ! waitlock "$path"; then bad "$name: the first writer never took $path.lock"; return; fi
    holder=$(cat "$path.lock")
    t0=$(date +%s)
    "$@" >out 2>&1
    rc=$? dt=$(($(date +%s) - t0))
    if [ "$rc" -eq 1 ] && [ "$(wc -l <out)" -eq 1 ] && grep -qF "$path is in use by another writer (pid $holder" out &&
        [ "$dt" -le 5 ]; then
        ok
        printf '  %-36s %s\n' "$name" "$(cat out)"
    else
        bad "$name: exit $rc after $dt s: $(cat out)"
    fi
}
echo "two writers:"
data="--scenario parabola --split train --count 15000 --frames 16 --size 16 --seed 3"
$V data $data --out D >data1.log 2>&1 &
first=$!
second "data: a second --out D" D -- $V data $data --out D --force
wait "$first"
check test $? -eq 0
quiet $V data $data --out Dref # what a single run writes
same D/data.npz Dref/data.npz
same D/meta.json Dref/meta.json
check test "$(ls D | tr '\n' ' ')" = "data.npz meta.json "
check test ! -e D.lock

sed 's/steps = 2/steps = 80/' d.ini >d80.ini
$V train --config d80.ini --data A --out R >train1.log 2>&1 &
first=$!
second "train: a second --out R" R -- $V train --config d80.ini --data A --out R
second "train: a --resume of R" R -- $V train --config d80.ini --data A --out R --resume
wait "$first"
check test $? -eq 0
quiet $V train --config d80.ini --data A --out Rref
cut -d, -f1-4 R/log.csv >R.steps # the last column is the time
cut -d, -f1-4 Rref/log.csv >Rref.steps
same R.steps Rref.steps
same R/model.safetensors Rref/model.safetensors
check test "$(ls R | tr '\n' ' ')" = "$(ls Rref | tr '\n' ' ')"

$V sample --checkpoint runA/model.safetensors --data A --count 4 --steps 400 --out S >sample1.log 2>&1 &
first=$!
second "sample: a second --out S" S -- $V sample --checkpoint runA/model.safetensors --data A --count 2 --steps 1 --out S
wait "$first"
check test $? -eq 0
quiet $V sample --checkpoint runA/model.safetensors --data A --count 4 --steps 400 --out Sref
for f in latents.npy videos.npy sample_000.gif sample_003.gif contact.png; do same S/$f Sref/$f; done
check test "$(ls S | tr '\n' ' ')" = "$(ls Sref | tr '\n' ' ')"

# a sample folder is written whole: a smaller second run leaves no GIF of the first
quiet $V sample --checkpoint runA/model.safetensors --data A --count 1 --steps 2 --out S
check test "$(ls S | tr '\n' ' ')" = "contact.png latents.npy sample_000.gif videos.npy "
check test "$(ls -d S* | tr '\n' ' ')" = "S Sref "
touch S/notes.txt
expect 1 "S: exists and holds notes.txt" $V sample --checkpoint runA/model.safetensors --count 1 --steps 2 --out S
check test -e S/notes.txt
expect 2 "--log o.safetensors would overwrite the checkpoint" $V vae train --data A --config v.ini --out o.safetensors --log o.safetensors
check test ! -e o.safetensors

# every writer checks the lock: PATH.lock held here (flock(1), no pid written)
exec 8<>vae9.safetensors.lock
flock -n 8
expect 1 "vae9.safetensors is in use by another writer (lock vae9.safetensors.lock)" $V vae train --data A --config v.ini --out vae9.safetensors
check test ! -e vae9.safetensors
exec 8<>E9.lock
flock -n 8
expect 1 "E9 is in use by another writer (lock E9.lock)" $V eval --videos sA/videos.npy --truth A --out E9 --no-figures
check test ! -e E9
exec 8>&-
rm -f vae9.safetensors.lock E9.lock

# an eval report too: a report without figures leaves none of the earlier
# run's, a folder holding another file is not replaced, a truth made inside is kept
expect 0 "" $V eval --videos sA/videos.npy --truth A --out E --bootstrap 10 --no-figures
printf 'x' >E/fig_traj.png # as an earlier run with figures leaves it
cp -r A E/A2
expect 0 "" $V eval --videos sA/videos.npy --truth E/A2 --out E --bootstrap 10 --no-figures
check test "$(ls E | tr '\n' ' ')" = "A2 report.csv report.json report.md videos.csv "
same A/data.npz E/A2/data.npz
touch E/notes.txt
expect 1 "E: exists and holds notes.txt" $V eval --videos sA/videos.npy --truth A --out E --no-figures
check test -e E/notes.txt
check test "$(ls -d E* | tr '\n' ' ')" = "E "
testlib_finish
