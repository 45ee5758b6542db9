"""vditnb - the few helpers the teaching notebooks share.

The notebooks drive the `vdit` program and read what it writes; this module
only runs it and reads its files (numpy, json, matplotlib):

    VDIT          the vdit program (default: ../src/vdit beside the notebook
                  copy in a build directory, then `vdit` on PATH)
    VDIT_NB_WORK  where the notebooks keep their datasets, models and samples
                  (default: ./work); a model or dataset already there with the
                  same settings is reused, so a notebook rerun is quick

Everything runs with OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE unless the
environment says otherwise.
"""
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import time

import numpy as np


def _find_vdit():
    v = os.environ.get("VDIT")
    if v:
        return os.path.abspath(v)
    for cand in ("../src/vdit", "../build/src/vdit"):
        if os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    w = shutil.which("vdit")
    if w:
        return w
    raise RuntimeError("vdit not found: set VDIT to the built program (e.g. VDIT=/path/to/build/src/vdit)")


VDIT = _find_vdit()
WORK = os.path.abspath(os.environ.get("VDIT_NB_WORK", "work"))
os.makedirs(WORK, exist_ok=True)
ENV = dict(os.environ)
ENV.setdefault("OMP_NUM_THREADS", "2")
ENV.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run(*args, quiet=False, tail=12, echo=True):
    """Runs `vdit ARGS...`, prints the command (unless echo=False) and the last
    lines it printed (unless quiet); raises if it fails (so a notebook cell
    fails with it)."""
    # vdit runs in the work directory: paths under it are passed relative to it,
    # so that what it prints (and the notebooks store) names no machine's folders
    args = [str(a).replace(WORK + "/", "") for a in args]
    if echo:
        print("$ vdit " + " ".join(shlex.quote(a) for a in args))
    t0 = time.time()
    p = subprocess.run([VDIT] + args, env=ENV, cwd=WORK, capture_output=True, text=True)
    # progress bars redraw with \r: keep the last state of each line
    lines = [l.split("\r")[-1].replace(WORK + "/", "") for l in (p.stdout + p.stderr).splitlines()]
    lines = [l for l in lines if l.strip() and " ETA " not in l]
    if p.returncode != 0:
        print("\n".join(lines[-40:]))
        raise RuntimeError("vdit %s failed with exit status %d" % (args[0], p.returncode))
    if not quiet:
        for l in lines[-tail:]:
            print("  " + l)
        print("  (%.1f s)" % (time.time() - t0))
    return p.stdout


def path(*parts):
    """A path under the work directory."""
    return os.path.join(WORK, *parts)


# A stamp D.nbstamp beside a dataset or run directory D records the settings it
# was made with (vdit keeps its own directories to itself: nothing is added inside).
def _stamp_ok(d, key):
    try:
        return open(d + ".nbstamp").read() == key
    except OSError:
        return False


def _stamp(d, key):
    with open(d + ".nbstamp", "w") as f:
        f.write(key)


def dataset(name, scenario, split, count, frames=16, size=16, seed=1, take2=False):
    """Makes (once) a dataset work/NAME with `vdit data` and returns (npz, meta)."""
    d = path(name)
    args = ["data", "--scenario", scenario, "--split", split, "--count", count, "--frames", frames,
            "--size", size, "--seed", seed, "--out", d, "--force"] + (["--take2"] if take2 else [])
    key = " ".join(map(str, args)).replace(WORK + "/", "")
    if not _stamp_ok(d, key):
        run(*args)
        _stamp(d, key)
    return load_dataset(d)


def load_dataset(d):
    z = np.load(os.path.join(d, "data.npz"))
    meta = json.load(open(os.path.join(d, "meta.json")))
    return {k: z[k] for k in z.files}, meta


def ini_text(sections):
    """{'model': {'hidden': 64}, ...} -> INI text."""
    out = []
    for s, kv in sections.items():
        out.append("[%s]" % s)
        out += ["%s = %s" % (k, v) for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


def train(name, data, sections, vae=None):
    """Trains (once) a DiT with `vdit train` into work/NAME; returns the run dir."""
    d = path(name)
    text = ini_text(sections)
    key = hashlib.sha256((text + data + str(vae)).encode()).hexdigest()
    if os.path.exists(os.path.join(d, "model.safetensors")) and _stamp_ok(d, key):
        print("work/%s: trained already (same settings), reused" % name)
        return d
    shutil.rmtree(d, ignore_errors=True)
    ini = path(name + ".ini")
    open(ini, "w").write(text)
    run("train", "--config", ini, "--data", path(data), "--out", d, *(["--vae", vae] if vae else []), tail=3)
    _stamp(d, key)
    return d


# The notebooks' tiny model: a 4-block DiT (hidden 128, patch 2x4x4: 128
# tokens) trained in pixel space on 500 balls in uniform motion at 16x16, 16
# frames, to continue a video from its first 3 frames; 2,000 steps of 8 clips,
# about 5 minutes on 2 cores. (Hidden 64 is twice as fast but cannot carry a
# token's 96 output values through 64 numbers: its samples stay noise.)
TINY_DATA = dict(name="uniform16", scenario="uniform", split="train", count=500, frames=16, size=16, seed=1)
TINY = {
    "model": {"hidden": 128, "depth": 4, "heads": 4, "patch": "2,4,4", "attention": "full", "objective": "flow"},
    "train": {"batch": 8, "steps": 2000, "warmup": 50, "lr": 2e-3, "min_lr": 1e-4, "ema_decay": 0.99,
              "log_every": 10, "checkpoint_every": 200, "keep_checkpoints": 10, "seed": 0},
    "data": {"context_frames": 3, "context_probs": "0.1,0.1,0.2,0.6"},
}


def tiny_model():
    """Trains (once) the notebooks' tiny model; returns its run directory."""
    dataset(**TINY_DATA)
    return train("tiny", TINY_DATA["name"], TINY)


def load_safetensors(fn):
    """-> (dict name -> float32 array, metadata dict). The format: an 8-byte
    little-endian header length, a JSON header (dtype, shape, data_offsets of
    each tensor, __metadata__), then the raw little-endian data."""
    with open(fn, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {})
    dt = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}
    tensors = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        tensors[k] = np.frombuffer(blob[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return tensors, meta


def read_csv(fn):
    """A CSV with a header line -> dict column -> float array."""
    rows = [l.strip().split(",") for l in open(fn) if l.strip()]
    cols = rows[0]
    data = np.array([[float(x) if x not in ("", "nan", "NaN") else np.nan for x in r] for r in rows[1:]])
    return {c: data[:, i] for i, c in enumerate(cols)}


def to_uint8(v):
    """float [..][3][H][W] in [-1,1] -> uint8 [..][H][W][3]."""
    v = np.clip((np.asarray(v) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.moveaxis(v, -3, -1)


def show_frames(ax_row, frames, title=None, every=1):
    """Draws frames (uint8 [T][H][W][3]) along a row of axes."""
    for i, ax in enumerate(ax_row):
        t = i * every
        ax.axis("off")
        if t < len(frames):
            ax.imshow(frames[t], interpolation="nearest")
            ax.set_title("t=%d" % t, fontsize=8)
    if title:
        ax_row[0].text(-0.15, 0.5, title, transform=ax_row[0].transAxes, ha="right", va="center", fontsize=9)


def write_safetensors(fn, tensors, metadata):
    """Writes float32 tensors (dict name -> array) and string metadata as safetensors."""
    header, offset, blobs = {"__metadata__": dict(metadata)}, 0, []
    for k, v in tensors.items():
        b = np.ascontiguousarray(v, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(fn + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(fn + ".tmp", fn)


def ema_model(state_file, out):
    """The EMA weights of a training state (checkpoints/step-N.safetensors,
    tensors weights.*, ema.*, AdamW moments) as a model file `vdit sample` reads."""
    t, meta = load_safetensors(state_file)
    ema = {k[4:]: v for k, v in t.items() if k.startswith("ema.")}
    if not ema:
        raise RuntimeError("%s: no ema.* tensors (names: %s ...)" % (state_file, list(t)[:3]))
    write_safetensors(out, ema, {"format": "vdit-dit", "config": meta["config"]})
    return out


def vae_train(name, data, sections):
    """Trains (once) a VAE with `vdit vae train` into work/NAME.safetensors
    (its loss log beside it, NAME.csv); returns the checkpoint path."""
    out = path(name + ".safetensors")
    text = ini_text(sections)
    key = hashlib.sha256((text + data).encode()).hexdigest()
    try:
        same = os.path.exists(out) and open(out + ".nbstamp").read() == key
    except OSError:
        same = False
    if same:
        print("work/%s.safetensors: trained already (same settings), reused" % name)
        return out
    ini = path(name + ".ini")
    open(ini, "w").write(text)
    run("vae", "train", "--data", path(data), "--config", ini, "--out", out, tail=3)
    open(out + ".nbstamp", "w").write(key)
    return out


def videos_u8(fn):
    """Videos from an .npy as uint8 [N][T][S][S][3] (the dataset's layout, as
    `vdit sample` writes them), whether stored so or as float32 [N][T][3][S][S]."""
    v = np.load(fn)
    return v if v.dtype == np.uint8 else to_uint8(v)


def videos_f32(fn):
    """Videos from an .npy as float32 [N][T][3][S][S] in [-1, 1] (the model's layout)."""
    v = np.load(fn)
    if v.dtype == np.uint8:
        v = np.moveaxis(v.astype(np.float32) / 127.5 - 1, -1, -3)
    return np.ascontiguousarray(v, dtype=np.float32)
