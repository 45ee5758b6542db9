#!/bin/sh
# data_cli.sh - `vdit data`: --help, one-line errors for bad scenarios,
# splits, sizes and counts (exit 2) or unusable paths (exit 1), nothing
# written on failure, byte-identical output for the same command (also
# with 1 and 2 threads), the fixed benchmark set, and `vdit data show`.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init data_cli

expect 0 "" "$VDIT" data --help
grep -q "^usage: vdit data" "$tmp/out" || bad "vdit data --help prints no usage"
expect 0 "" "$VDIT" data show --help
grep -q "^usage: vdit data show" "$tmp/out" || bad "vdit data show --help prints no usage"

o="$tmp/set"
expect 2 "--scenario 'pendulum' must be one of uniform|parabola|collision|bounce|occlusion|box|all" \
    "$VDIT" data --scenario pendulum --split id --count 2 --out "$o"
expect 2 "--split 'test' must be one of train|id|ood-v|ood-r|ood-rv" \
    "$VDIT" data --scenario uniform --split test --count 2 --out "$o"
expect 2 "--size '4' must be an integer in 8..512" "$VDIT" data --scenario uniform --split id --count 2 --size 4 --out "$o"
expect 2 "--size '1000' must be an integer in 8..512" \
    "$VDIT" data --scenario uniform --split id --count 2 --size 1000 --out "$o"
expect 2 "--size 'big' must be an integer" "$VDIT" data --scenario uniform --split id --count 2 --size big --out "$o"
expect 2 "--count '0' must be an integer in 1..100000000" "$VDIT" data --scenario uniform --split id --count 0 --out "$o"
expect 2 "--count '-3' must be an integer" "$VDIT" data --scenario uniform --split id --count -3 --out "$o"
expect 2 "--count 'many' must be an integer" "$VDIT" data --scenario uniform --split id --count many --out "$o"
expect 2 "--frames '2' must be an integer in 4..512" \
    "$VDIT" data --scenario uniform --split id --count 2 --frames 2 --out "$o"
expect 2 "missing required flag --count" "$VDIT" data --scenario uniform --split id --out "$o"
expect 2 "missing required flag --scenario" "$VDIT" data --split id --count 2 --out "$o"
expect 2 "missing required flag --split" "$VDIT" data --scenario bounce --count 2 --out "$o"
expect 2 "missing required flag --out" "$VDIT" data --scenario uniform --split id --count 2
expect 2 "--seed 9223372036854775808 must be at most 2^63-1" \
    "$VDIT" data --scenario uniform --split id --count 2 --seed 9223372036854775808 --out "$o"
expect 2 "--count cannot be given with --benchmark" "$VDIT" data --benchmark phys-v1 --count 3 --out "$o"
expect 2 "unknown benchmark 'phys-v9'" "$VDIT" data --benchmark phys-v9 --out "$o"
expect 2 "unknown flag '--sise'" "$VDIT" data --scenario uniform --split id --count 2 --sise 32 --out "$o"
expect 1 "cannot create a temporary directory" \
    "$VDIT" data --scenario uniform --split id --count 2 --out "$tmp/no/such/dir"
[ -e "$o" ] && bad "a failed command wrote $o"

# a set, the same again (1 and 2 threads), --force
expect 0 "" env OMP_NUM_THREADS=2 "$VDIT" data --scenario all --split ood-rv --count 15 --frames 12 --size 24 \
    --seed 5 --take2 --out "$o"
grep -q "15 videos of 12 frames at 24x24 (all/ood-rv) with the second take" "$tmp/out" || bad "no summary: $(cat "$tmp/out")"
# a test split carries its second takes without asking; a train set only when asked
expect 0 "" "$VDIT" data --scenario uniform --split id --count 2 --frames 8 --size 16 --out "$tmp/idset"
grep -q '"videos_take2"' "$tmp/idset/meta.json" || bad "an id set has no second take"
expect 0 "" "$VDIT" data --scenario uniform --split train --count 2 --frames 8 --size 16 --out "$tmp/trset"
grep -q '"videos_take2"' "$tmp/trset/meta.json" && bad "a train set has a second take it was not asked for"
grep -q "videos/s" "$tmp/err" || bad "no final progress line: $(cat "$tmp/err")"
[ -f "$o/data.npz" ] && [ -f "$o/meta.json" ] && ok || bad "no data.npz/meta.json in $o"
expect 0 "" env OMP_NUM_THREADS=1 "$VDIT" data --scenario all --split ood-rv --count 15 --frames 12 --size 24 \
    --seed 5 --take2 --out "$tmp/set1"
same "$o/data.npz" "$tmp/set1/data.npz"
same "$o/meta.json" "$tmp/set1/meta.json"
expect 1 "already exists (use --force" "$VDIT" data --scenario uniform --split id --count 2 --out "$o"
same "$o/data.npz" "$tmp/set1/data.npz"
expect 0 "" "$VDIT" data --scenario uniform --split train --count 3 --force --out "$o"
grep -q '"name": "uniform/train"' "$o/meta.json" || bad "--force did not replace the set"
ls "$tmp" | grep -q -e '\.tmp-' -e '\.old-' && bad "temporaries left: $(ls "$tmp")"
mkdir "$tmp/notaset" && echo hi >"$tmp/notaset/x.txt"
expect 1 "not a dataset directory" "$VDIT" data --scenario uniform --split id --count 2 --force --out "$tmp/notaset"
[ -f "$tmp/notaset/x.txt" ] || bad "--force removed a file that is not a dataset's"

# the benchmark: fixed seeds, the same bytes every time
expect 0 "" "$VDIT" data --benchmark phys-v1 --size 16 --out "$tmp/b1"
expect 0 "" env OMP_NUM_THREADS=1 "$VDIT" data --benchmark phys-v1 --size 16 --out "$tmp/b2"
same "$tmp/b1/data.npz" "$tmp/b2/data.npz"
same "$tmp/b1/meta.json" "$tmp/b2/meta.json"
grep -q '"count": 400' "$tmp/b1/meta.json" || bad "phys-v1 does not hold 400 videos"
grep -q '"videos_take2"' "$tmp/b1/meta.json" || bad "phys-v1 has no second take"

# show
expect 0 "" "$VDIT" data show "$o" --index 2 --out "$tmp/v.gif"
head -c 6 "$tmp/v.gif" | grep -q GIF89a || bad "show wrote no GIF"
grep -q "video 2 of uniform/train (uniform, id): a red ball of radius" "$tmp/out" || bad "show: $(cat "$tmp/out")"
expect 0 "" "$VDIT" data show "$tmp/b1" --index 399 --take2 --out "$tmp/v.png"
head -c 8 "$tmp/v.png" | grep -q PNG || bad "show wrote no PNG"
expect 1 "--index 3: $o holds 3 videos (0..2)" "$VDIT" data show "$o" --index 3 --out "$tmp/w.gif"
expect 1 "has no second take" "$VDIT" data show "$o" --take2 --out "$tmp/w.gif"
expect 2 "must end in .gif or .png" "$VDIT" data show "$o" --out "$tmp/w.jpg"
expect 2 "missing the dataset directory DIR" "$VDIT" data show --out "$tmp/w.gif"
expect 1 "not a directory" "$VDIT" data show "$tmp/nothing" --out "$tmp/w.gif"
cp -r "$o" "$tmp/broken" && echo "{" >"$tmp/broken/meta.json"
expect 1 "$tmp/broken/meta.json: line" "$VDIT" data show "$tmp/broken" --out "$tmp/w.gif"
[ -e "$tmp/w.gif" ] && bad "a failed show wrote its output"

# a list of scenarios: those in turn, labelled; the five in order are exactly "all"
expect 0 "" "$VDIT" data --scenario uniform,parabola,collision --split train --count 6 --frames 8 --size 16 --out "$tmp/l3"
grep -q '"uniform+parabola+collision/train"' "$tmp/l3/meta.json" || bad "the list set is not named by its members"
for i in 0 1 2 3 4 5; do
    want=$(echo "uniform parabola collision uniform parabola collision" | cut -d' ' -f$((i + 1)))
    "$VDIT" data show "$tmp/l3" --index $i --out "$tmp/l.gif" | grep -q "($want, id)" || bad "video $i of the list is not $want"
done
"$VDIT" data --scenario all --split ood-v --count 10 --frames 8 --size 16 --out "$tmp/la" >/dev/null 2>&1
expect 0 "" "$VDIT" data --scenario uniform,parabola,collision,bounce,occlusion --split ood-v --count 10 --frames 8 --size 16 --out "$tmp/l5"
same "$tmp/la/data.npz" "$tmp/l5/data.npz"
expect 2 "--scenario 'foo' must be one of" "$VDIT" data --scenario uniform,foo --split train --count 2 --out "$tmp/lx"
expect 2 "--scenario '' must be one of" "$VDIT" data --scenario uniform, --split train --count 2 --out "$tmp/lx"
expect 1 "scenario parabola given twice" "$VDIT" data --scenario parabola,uniform,parabola --split train --count 2 --out "$tmp/lx"
[ -e "$tmp/lx" ] && bad "a refused list wrote its output"

testlib_finish
