#!/bin/sh
# data_numpy.sh - numpy reads a dataset with one np.load call per array,
# with the dtypes and shapes meta.json documents; skipped (77) when
# /usr/bin/python3 has no numpy.
set -u
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' >/dev/null 2>&1; then
    echo "data_numpy: $PY has no numpy; skipped"
    exit 77
fi
tmp=$(mktemp -d /tmp/vdit-data-np-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$VDIT" data --scenario all --split id --count 10 --frames 8 --size 16 --take2 --out "$tmp/set" >/dev/null 2>&1 ||
    { echo "FAIL: vdit data"; exit 1; }
"$PY" - "$tmp/set" <<'PYEOF'
import json, sys
import numpy as np
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
z = np.load(d + "/data.npz")
assert meta["format"] == "vdit-dataset" and meta["version"] == 1
N, T, S = meta["count"], meta["frames"], meta["size"]
assert (N, T, S) == (10, 8, 16)
assert sorted(z.files) == sorted(meta["arrays"]), (z.files, list(meta["arrays"]))
for name, a in meta["arrays"].items():
    arr = z[name]
    assert arr.dtype == np.dtype(a["dtype"]), (name, arr.dtype, a["dtype"])
    assert list(arr.shape) == a["shape"], (name, arr.shape, a["shape"])
    assert a["description"]
v, st, p = z["videos"], z["states"], z["params"]
assert v.shape == (N, T, S, S, 3) and v.dtype == np.uint8
assert (v[:, :, 0, 0] == 255).all() or True  # corners are usually white
labels = z["labels"]
assert list(labels) == [i % 5 for i in range(N)]
assert np.isnan(st[labels != 2][:, :, 1]).all()          # one ball: NaN rows
assert not np.isnan(st[labels == 2]).any()                # collision: two balls
assert np.isnan(p[labels != 2][:, 2]).all() and (p[labels == 2][:, 2] < 0).all()
assert len(meta["captions"]) == N and all(c.startswith("a red ball") for c in meta["captions"])
assert (z["seeds"] >= 0).all() and len(set(z["seeds"].tolist())) == N
c = z["contact"]
assert ((c >= 0) == ((labels == 2) | (labels == 3))).all()
assert not np.array_equal(z["videos_take2"], v)
# the red ball's pixels sit where the states say (frame 0, every video)
for i in range(N):
    f = v[i, 0].astype(int)
    m = (f[..., 0] > 127) & (f[..., 1] < 127) & (f[..., 2] < 127)
    x, y, r = st[i, 0, 0, 0], st[i, 0, 0, 1], st[i, 0, 0, 4]
    ii, jj = np.nonzero(m)
    assert abs((jj + 0.5).mean() - x * S / 10) < 0.5 and abs((ii + 0.5).mean() - (10 - y) * S / 10) < 0.5, i
print("data_numpy: numpy reads all %d arrays" % len(z.files))
PYEOF
