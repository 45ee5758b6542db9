#!/bin/sh
# seeds.sh VDIT [OUT] - makes the seed corpora (OUT, default fuzz/corpus) from
# real files written by the toolkit: a tiny dataset, a DiT checkpoint and its
# training state, a VAE checkpoint, latents and NPY files of every dtype
# (numpy, from /usr/bin/python3), the INI files of experiments/ and tests.
set -eu
vdit=$1
src=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$src/fuzz/corpus}
py=${PYTHON_TORCH:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/vdit-seeds-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=PASSIVE
for t in safetensors npy npz ini json_meta dataset; do mkdir -p "$out/$t"; done

"$vdit" data --scenario all --split train --count 2 --frames 4 --size 8 --seed 1 --out "$tmp/data" 2>/dev/null
"$vdit" data --scenario bounce --split ood-v --count 1 --frames 4 --size 8 --seed 2 --take2 --out "$tmp/data2" 2>/dev/null
cat >"$tmp/t.ini" <<'INI'
[model]
hidden = 8
depth = 1
heads = 2
patch = 2,4,4
[train]
batch = 2
steps = 2
warmup = 1
checkpoint_every = 1
keep_checkpoints = 2
[data]
context_frames = 1
context_probs = 0.5,0.5
INI
"$vdit" train --config "$tmp/t.ini" --data "$tmp/data" --out "$tmp/run" 2>/dev/null
cat >"$tmp/v.ini" <<'INI'
[model]
channels = 4,4
downsample = 2
latent_channels = 2
groups = 2
mid_blocks = 0
[train]
batch = 1
steps = 1
warmup = 1
val_interval = 0
INI
"$vdit" vae train --data "$tmp/data" --config "$tmp/v.ini" --out "$tmp/vae.safetensors" >/dev/null 2>&1
"$vdit" vae encode --vae "$tmp/vae.safetensors" --data "$tmp/data" --out "$tmp/lat.npy" >/dev/null 2>&1 || true

cp "$tmp/run/model.safetensors" "$out/safetensors/dit.safetensors"
cp "$(ls "$tmp"/run/checkpoints/*.safetensors | tail -n 1)" "$out/safetensors/state.safetensors"
cp "$tmp/vae.safetensors" "$out/safetensors/vae.safetensors"
cp "$tmp/data/data.npz" "$out/npz/data.npz"
cp "$tmp/data2/data.npz" "$out/npz/data_take2.npz"
for f in "$tmp"/lat.npy; do [ -f "$f" ] && cp "$f" "$out/npy/latents.npy"; done
cp "$src"/experiments/*.ini "$src"/experiments/vae/*.ini "$tmp/t.ini" "$out/ini/" 2>/dev/null || true
cp "$tmp/v.ini" "$out/ini/vae_tiny.ini"

"$py" - "$tmp" "$out" <<'PY'
import json, struct, sys, os, zipfile
import numpy as np
tmp, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
for name, a in [("f32", rng.standard_normal((2, 3), dtype=np.float32)), ("f64", np.arange(5.0)),
                ("u8", np.arange(12, dtype=np.uint8).reshape(2, 2, 3)), ("i32", np.array([1, -2], dtype=np.int32)),
                ("i64", np.array([[7]], dtype=np.int64)), ("scalar", np.float32(3.5)), ("empty", np.zeros((0, 4), np.float32))]:
    np.save(os.path.join(out, "npy", name + ".npy"), a)
a = np.arange(6, dtype=np.float32).reshape(2, 3)
with open(os.path.join(out, "npy", "v2.npy"), "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open(os.path.join(out, "npy", "v3.npy"), "wb") as f:
    np.lib.format.write_array(f, a, version=(3, 0))
np.savez(os.path.join(out, "npz", "stored.npz"), a=a, b=np.arange(3, dtype=np.int64))
np.savez_compressed(os.path.join(out, "npz", "deflated.npz"), videos=np.zeros((1, 2, 2, 2, 3), np.uint8))
def st_meta(p):
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]
for name, sel, p in [("dit_config", 0, os.path.join(tmp, "run", "model.safetensors")),
                     ("vae_config", 1, os.path.join(tmp, "vae.safetensors"))]:
    with open(os.path.join(out, "json_meta", name), "wb") as f:
        f.write(bytes([sel]) + st_meta(p)["config"].encode())
for d in ("data", "data2"):
    meta = json.load(open(os.path.join(tmp, d, "meta.json")))
    line = json.dumps(meta, separators=(",", ":")).encode()
    with open(os.path.join(out, "json_meta", "meta_" + d), "wb") as f:
        f.write(b"\x02" + open(os.path.join(tmp, d, "meta.json"), "rb").read())
    with open(os.path.join(out, "dataset", d), "wb") as f:
        f.write(line + b"\n" + open(os.path.join(tmp, d, "data.npz"), "rb").read())
PY
ls -l "$out"/*
