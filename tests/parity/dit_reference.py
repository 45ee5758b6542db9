#!/usr/bin/python3
"""
An independent PyTorch implementation of shared/design/model.md (the vdit DiT).

This file is the reference the C library is checked against, in the spirit of
llm.c's train_gpt2.py / test_gpt2.c: it builds the model from the contract,
writes fixtures (checkpoint, inputs, outputs, gradients) and compares files.
It reads like DiT's models.py: one module per section, shape comments on
every line of forward. It depends only on torch and numpy; safetensors files
are read and written by the small codec below.

Run with the interpreter that has torch:

    /usr/bin/python3 tests/parity/dit_reference.py selftest
    /usr/bin/python3 tests/parity/dit_reference.py make --out /tmp/fx --attention st --patch 1,2,2
    /usr/bin/python3 tests/parity/dit_reference.py forward --checkpoint M --input x.npy --t 500 --label 1 --out y.npy
    /usr/bin/python3 tests/parity/dit_reference.py grad --checkpoint M --input x.npy --target v.npy --t 500 --label 1 --out g.safetensors
    /usr/bin/python3 tests/parity/dit_reference.py compare A B [--atol X] [--rtol Y]

Shape letters: B batch, T frames, C channels, H, W height and width,
N tokens, D hidden (d), NH heads, DH head size, P patch vector.
"""

import argparse
import collections
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


#################################################################################
#                        safetensors reader and writer                          #
#################################################################################
# File: u64 little-endian header length L, then L bytes of JSON, then the data
# buffer. The JSON maps tensor name -> {"dtype", "shape", "data_offsets": [b, e]}
# (offsets relative to the data buffer) plus an optional "__metadata__" map of
# string -> string. We write the header padded with spaces so that 8 + L is a
# multiple of 8, and the tensors contiguously in insertion order.

ST_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


class SafetensorsError(Exception):
    pass


def save_safetensors(path, tensors, metadata=None):
    """tensors: ordered mapping name -> numpy array (any ST dtype); metadata: str -> str."""
    header = collections.OrderedDict()
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError("metadata must map str to str (key %r)" % (k,))
        header["__metadata__"] = dict(metadata)
    blobs, offset = [], 0
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is not a valid tensor name")
        a = np.asarray(arr, order="C")           # (ascontiguousarray would make 0-d arrays 1-d)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in ST_NAMES:
            raise SafetensorsError("tensor %s: unsupported dtype %s" % (name, a.dtype))
        a = a.astype(dt, copy=False)
        raw = a.tobytes(order="C")
        header[name] = {"dtype": ST_NAMES[dt], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - (8 + len(hjson)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def load_safetensors(path):
    """Returns (OrderedDict name -> numpy array, metadata dict). Validates offsets."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise SafetensorsError("%s: file too short (%d bytes)" % (path, len(buf)))
    (hlen,) = struct.unpack("<Q", buf[:8])
    if 8 + hlen > len(buf):
        raise SafetensorsError("%s: header length %d exceeds file size %d" % (path, hlen, len(buf)))
    try:
        header = json.loads(buf[8:8 + hlen].decode("utf-8"),
                            object_pairs_hook=collections.OrderedDict)
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("%s: bad JSON header: %s" % (path, e))
    data = memoryview(buf)[8 + hlen:]
    metadata = dict(header.pop("__metadata__", None) or {})
    tensors = collections.OrderedDict()
    spans = []
    for name, info in header.items():
        try:
            dt = ST_DTYPES[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            b, e = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError("%s: tensor %s: bad or unsupported entry %r" % (path, name, info))
        nbytes = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        if not (0 <= b <= e <= len(data)) or e - b != nbytes:
            raise SafetensorsError("%s: tensor %s: offsets [%d, %d] do not fit dtype %s shape %s "
                                   "in a %d-byte buffer" % (path, name, b, e, info["dtype"],
                                                            list(shape), len(data)))
        spans.append((b, e, name))
        tensors[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape).copy()
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError("%s: tensors %s and %s overlap" % (path, n0, n1))
    return tensors, metadata


#################################################################################
#                                 Configuration                                 #
#################################################################################

CONFIG_KEYS = ("latent_channels", "hidden", "depth", "heads", "patch", "grid",
               "num_classes", "attention", "objective")


def check_config(cfg):
    """Validates a config dict (the safetensors metadata "config" object)."""
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError("config is missing keys %s" % missing)
    if len(cfg["patch"]) != 3 or len(cfg["grid"]) != 3:
        raise ValueError("patch and grid must have 3 entries")
    d, heads = int(cfg["hidden"]), int(cfg["heads"])
    pt, ph, pw = (int(v) for v in cfg["patch"])
    T, H, W = (int(v) for v in cfg["grid"])
    if min(pt, ph, pw, T, H, W) <= 0:
        raise ValueError("patch and grid entries must be positive")
    if d % 4 != 0:
        raise ValueError("hidden %d must be divisible by 4" % d)
    if heads <= 0 or d % heads != 0:
        raise ValueError("hidden %d must be divisible by heads %d" % (d, heads))
    if T % pt or H % ph or W % pw:
        raise ValueError("grid %s is not divisible by patch %s" % ([T, H, W], [pt, ph, pw]))
    if cfg["attention"] not in ("full", "st"):
        raise ValueError("attention must be 'full' or 'st', got %r" % cfg["attention"])
    if cfg["objective"] not in ("eps", "flow"):
        raise ValueError("objective must be 'eps' or 'flow', got %r" % cfg["objective"])
    if int(cfg["num_classes"]) < 0 or int(cfg["latent_channels"]) <= 0 or int(cfg["depth"]) < 0:
        raise ValueError("bad num_classes / latent_channels / depth in config")
    return cfg


#################################################################################
#                   Embedding Layers for Timesteps and Class Labels             #
#################################################################################

def modulate(x, shift, scale):
    # x: [B, N, D], shift/scale: [B, D]
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimestepEmbedder(nn.Module):
    """Embeds scalar timesteps into vector representations (cosines first)."""

    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000):
        # t: [B] float (DDPM step 0..999, or 1000*t for flow)
        half = dim // 2                                                      # 128
        i = torch.arange(half, dtype=t.dtype, device=t.device)               # [half]
        freqs = torch.exp(-math.log(max_period) * i / half)                  # [half]
        args = t[:, None] * freqs[None, :]                                   # [B, half]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)         # [B, 2*half]

    def forward(self, t):
        t_freq = self.timestep_embedding(t, self.frequency_embedding_size)  # [B, 256]
        return self.mlp(t_freq)                                             # [B, D]


class LabelEmbedder(nn.Module):
    """Embeds class labels; row num_classes is the null (CFG / dropped) label.
    Label dropout is the training loop's business: it passes the null label."""

    def __init__(self, num_classes, hidden_size):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, hidden_size)
        self.num_classes = num_classes

    def forward(self, y):
        return self.embedding_table(y)                                      # [B] -> [B, D]


class PatchEmbed3D(nn.Module):
    """Spacetime patches: Conv3d with kernel = stride = (pt, ph, pw).
    The patch vector of a token is ordered (c, dt, dy, dx)."""

    def __init__(self, in_channels, hidden_size, patch):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, hidden_size, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        # x: [B, T', C_in, H', W']
        x = x.permute(0, 2, 1, 3, 4)                                        # [B, C_in, T', H', W']
        x = self.proj(x)                                                    # [B, D, nt, nh, nw]
        x = x.flatten(2)                                                    # [B, D, N], n = (it*nh+ih)*nw+iw
        return x.transpose(1, 2)                                            # [B, N, D]


#################################################################################
#                        Fixed sin-cos positional embedding                     #
#################################################################################

def sincos_1d(D, pos):
    """pos: [M] float64 -> [M, D]: all sines, then all cosines."""
    assert D % 2 == 0
    omega = np.arange(D // 2, dtype=np.float64) / (D / 2.0)                 # [D/2]
    omega = 1.0 / 10000 ** omega                                            # [D/2]
    out = pos.reshape(-1).astype(np.float64)[:, None] * omega[None, :]      # [M, D/2]
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)               # [M, D]


def token_coords(nt, nh, nw):
    """(it, ih, iw) of every token n = (it*nh + ih)*nw + iw, each [N] int64."""
    n = np.arange(nt * nh * nw)
    return n // (nh * nw), (n // nw) % nh, n % nw


def pos_embed_3d(d, nt, nh, nw):
    """pos[n] = concat(sincos1d_{d/2}(iw), sincos1d_{d/2}(ih)) + sincos1d_d(it): [N, d] float64."""
    it, ih, iw = token_coords(nt, nh, nw)
    spatial = np.concatenate([sincos_1d(d // 2, iw.astype(np.float64)),
                              sincos_1d(d // 2, ih.astype(np.float64))], axis=1)  # [N, d]
    temporal = sincos_1d(d, it.astype(np.float64))                                # [N, d]
    return spatial + temporal


#################################################################################
#                                 Core VDiT Model                               #
#################################################################################

class Attention(nn.Module):
    """Multi-head self-attention; an optional [N, N] boolean mask says which
    keys (columns) each query (row) may attend to."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x, mask=None):
        B, N, D = x.shape
        NH, DH = self.num_heads, self.head_dim
        qkv = self.qkv(x)                                                   # [B, N, 3D]
        q, k, v = qkv.split(D, dim=-1)                                      # 3 x [B, N, D]
        q = q.reshape(B, N, NH, DH).transpose(1, 2)                         # [B, NH, N, DH]
        k = k.reshape(B, N, NH, DH).transpose(1, 2)                         # [B, NH, N, DH]
        v = v.reshape(B, N, NH, DH).transpose(1, 2)                         # [B, NH, N, DH]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(DH)                     # [B, NH, N, N]
        if mask is not None:
            att = att.masked_fill(~mask, float("-inf"))                     # [B, NH, N, N]
        att = att.softmax(dim=-1)                                           # [B, NH, N, N]
        o = att @ v                                                         # [B, NH, N, DH]
        o = o.transpose(1, 2).reshape(B, N, D)                              # [B, N, D] (heads concatenated)
        return self.proj(o)                                                 # [B, N, D]


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=True)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim, bias=True)

    def forward(self, x):
        x = self.fc1(x)                                                     # [B, N, 4D]
        x = self.act(x)                                                     # [B, N, 4D]
        return self.fc2(x)                                                  # [B, N, D]


class DiTBlock(nn.Module):
    """A DiT block with adaLN-Zero conditioning."""

    def __init__(self, hidden_size, num_heads, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, hidden_size * mlp_ratio)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size, bias=True))

    def forward(self, x, c, mask=None):
        # x: [B, N, D], c: [B, D], mask: [N, N] bool or None
        mod = self.adaLN_modulation(c)                                      # [B, 6D]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=1)  # 6 x [B, D]
        h = modulate(self.norm1(x), shift_msa, scale_msa)                   # [B, N, D]
        x = x + gate_msa.unsqueeze(1) * self.attn(h, mask)                  # [B, N, D]
        h = modulate(self.norm2(x), shift_mlp, scale_mlp)                   # [B, N, D]
        x = x + gate_mlp.unsqueeze(1) * self.mlp(h)                         # [B, N, D]
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, patch_dim):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_dim, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, c):
        # x: [B, N, D], c: [B, D]
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)            # 2 x [B, D]
        x = modulate(self.norm_final(x), shift, scale)                      # [B, N, D]
        return self.linear(x)                                               # [B, N, P], P = pt*ph*pw*C_lat


class VDiT(nn.Module):
    """Video diffusion transformer of model.md. Input [B, T', 2*C_lat+1, H', W'],
    output [B, T', C_lat, H', W']."""

    def __init__(self, latent_channels, hidden, depth, heads, patch, grid,
                 num_classes, attention="full", objective="eps", **unused):
        super().__init__()
        self.config = check_config(dict(
            latent_channels=int(latent_channels), hidden=int(hidden), depth=int(depth),
            heads=int(heads), patch=[int(p) for p in patch], grid=[int(g) for g in grid],
            num_classes=int(num_classes), attention=attention, objective=objective))
        self.latent_channels = C = int(latent_channels)
        self.in_channels = 2 * C + 1
        self.hidden = d = int(hidden)
        self.patch = tuple(int(p) for p in patch)
        self.grid = tuple(int(g) for g in grid)
        pt, ph, pw = self.patch
        T, H, W = self.grid
        self.nt, self.nh, self.nw = T // pt, H // ph, W // pw
        self.num_tokens = self.nt * self.nh * self.nw
        self.attention = attention

        self.x_embedder = PatchEmbed3D(self.in_channels, d, self.patch)
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = LabelEmbedder(int(num_classes), d)
        self.blocks = nn.ModuleList([DiTBlock(d, int(heads)) for _ in range(int(depth))])
        self.final_layer = FinalLayer(d, pt * ph * pw * C)

        # Fixed, not part of the state dict (not stored in checkpoints). Kept
        # in float64 numpy and cast at use, so a float64 model gets exact values.
        self.pos_embed = pos_embed_3d(d, self.nt, self.nh, self.nw)         # [N, D] float64
        it, ih, iw = (torch.from_numpy(a) for a in token_coords(self.nt, self.nh, self.nw))
        same_frame = it[:, None] == it[None, :]                             # [N, N]: spatial scope
        same_place = (ih[:, None] == ih[None, :]) & (iw[:, None] == iw[None, :])  # [N, N]: temporal
        self.register_buffer("spatial_mask", same_frame, persistent=False)
        self.register_buffer("temporal_mask", same_place, persistent=False)
        self.initialize_weights()

    def block_scope(self, i):
        """'full', 'spatial' (i even under st) or 'temporal' (i odd under st)."""
        if self.attention == "full":
            return "full"
        return "spatial" if i % 2 == 0 else "temporal"

    def block_mask(self, i):
        return {"full": None, "spatial": self.spatial_mask,
                "temporal": self.temporal_mask}[self.block_scope(i)]

    def initialize_weights(self):
        # Xavier-uniform for every Linear weight, zero biases:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        # Patch embedding like a Linear over the flattened patch vector:
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.zeros_(self.x_embedder.proj.bias)
        # Label embedding table:
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        # Timestep embedding MLP:
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # Zero-out adaLN modulation layers in DiT blocks:
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        # Zero-out output layers:
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def unpatchify(self, x):
        # x: [B, N, P], a token's vector ordered (dt, dy, dx, c)
        B = x.shape[0]
        pt, ph, pw = self.patch
        C = self.latent_channels
        x = x.reshape(B, self.nt, self.nh, self.nw, pt, ph, pw, C)          # [B, nt, nh, nw, pt, ph, pw, C]
        x = x.permute(0, 1, 4, 7, 2, 5, 3, 6)                               # [B, nt, pt, C, nh, ph, nw, pw]
        return x.reshape(B, self.nt * pt, C, self.nh * ph, self.nw * pw)    # [B, T', C, H', W']

    def forward(self, x, t, y):
        # x: [B, T', C_in, H', W'], t: [B] float, y: [B] long
        pos = torch.from_numpy(self.pos_embed).to(x.dtype)                  # [N, D]
        x = self.x_embedder(x) + pos                                        # [B, N, D]
        t = self.t_embedder(t)                                              # [B, D]
        y = self.y_embedder(y)                                              # [B, D]
        c = t + y                                                           # [B, D]
        for i, block in enumerate(self.blocks):
            x = block(x, c, self.block_mask(i))                             # [B, N, D]
        x = self.final_layer(x, c)                                          # [B, N, pt*ph*pw*C_lat]
        return self.unpatchify(x)                                           # [B, T', C_lat, H', W']


#################################################################################
#                          Checkpoints (safetensors)                            #
#################################################################################

def expected_shapes(cfg):
    """The contract's parameter table: name -> shape (in the table's order)."""
    d, C = cfg["hidden"], cfg["latent_channels"]
    pt, ph, pw = cfg["patch"]
    P = pt * ph * pw * C
    s = collections.OrderedDict()
    s["x_embedder.proj.weight"] = [d, 2 * C + 1, pt, ph, pw]
    s["x_embedder.proj.bias"] = [d]
    s["t_embedder.mlp.0.weight"] = [d, 256]
    s["t_embedder.mlp.0.bias"] = [d]
    s["t_embedder.mlp.2.weight"] = [d, d]
    s["t_embedder.mlp.2.bias"] = [d]
    s["y_embedder.embedding_table.weight"] = [cfg["num_classes"] + 1, d]
    for i in range(cfg["depth"]):
        b = "blocks.%d." % i
        s[b + "attn.qkv.weight"], s[b + "attn.qkv.bias"] = [3 * d, d], [3 * d]
        s[b + "attn.proj.weight"], s[b + "attn.proj.bias"] = [d, d], [d]
        s[b + "mlp.fc1.weight"], s[b + "mlp.fc1.bias"] = [4 * d, d], [4 * d]
        s[b + "mlp.fc2.weight"], s[b + "mlp.fc2.bias"] = [d, 4 * d], [d]
        s[b + "adaLN_modulation.1.weight"], s[b + "adaLN_modulation.1.bias"] = [6 * d, d], [6 * d]
    s["final_layer.adaLN_modulation.1.weight"] = [2 * d, d]
    s["final_layer.adaLN_modulation.1.bias"] = [2 * d]
    s["final_layer.linear.weight"] = [P, d]
    s["final_layer.linear.bias"] = [P]
    return s


def state_to_numpy(model, dtype=np.float32):
    return collections.OrderedDict((k, v.detach().cpu().numpy().astype(dtype))
                                   for k, v in model.state_dict().items())


def save_checkpoint(path, model):
    save_safetensors(path, state_to_numpy(model, np.float32),
                     {"config": json.dumps(model.config, sort_keys=True)})


def load_checkpoint(path, dtype=torch.float64):
    """Builds the model from the metadata config and loads tensors by name,
    with strict name and shape checks. Returns the model in `dtype`."""
    tensors, meta = load_safetensors(path)
    if "config" not in meta:
        raise ValueError("%s: no 'config' in the safetensors __metadata__" % path)
    try:
        cfg = json.loads(meta["config"])
    except ValueError as e:
        raise ValueError("%s: config metadata is not valid JSON: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise ValueError("%s: config metadata is not a JSON object" % path)
    model = VDiT(**check_config(cfg))
    load_state_strict(model, tensors, path)
    return model.to(dtype)


def load_state_strict(model, tensors, where="checkpoint"):
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    extra = [k for k in tensors if k not in own]
    bad = ["%s: file %s, model %s" % (k, list(tensors[k].shape), list(own[k].shape))
           for k in own if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)]
    errors = []
    if missing:
        errors.append("missing tensors: " + ", ".join(missing))
    if extra:
        errors.append("unexpected tensors: " + ", ".join(extra))
    if bad:
        errors.append("misshaped tensors: " + "; ".join(bad))
    if errors:
        raise ValueError("%s: %s" % (where, " | ".join(errors)))
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(torch.from_numpy(np.asarray(tensors[k], dtype=np.float64)).to(v.dtype))


#################################################################################
#                       Loss, gradients and fixture randomisation               #
#################################################################################

def loss_and_grads(model, x, t, y, target):
    """loss = mean((model(x, t, y) - target)^2) over all elements; returns
    (out, loss, OrderedDict name -> grad) in the model's dtype."""
    model.zero_grad(set_to_none=True)
    out = model(x, t, y)                                                    # [B, T', C_lat, H', W']
    loss = ((out - target) ** 2).mean()                                     # scalar
    loss.backward()
    grads = collections.OrderedDict()
    for name, p in model.named_parameters():
        grads[name] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    return out.detach(), loss.detach(), grads


# Standard deviations used by `make` (and selftest) to overwrite the contract
# init, so that every path of the network changes the output: with the contract
# init the output is identically zero and the blocks are the identity.
FIXTURE_STD = {
    "adaLN_weight": 0.2,       # blocks.* / final_layer adaLN_modulation.1.weight
    "final_weight": 0.1,       # final_layer.linear.weight
    "bias": 0.1,               # every bias (x_embedder, t_embedder, blocks, final)
    "t_embedder_weight": 0.05, # t_embedder.mlp.{0,2}.weight (contract: 0.02)
    "y_embedder": 0.3,         # y_embedder.embedding_table.weight (contract: 0.02)
}


def randomize_for_fixture(model, gen):
    """Overwrites adaLN, final linear, every bias, and (more mildly) the t/y
    embedders with random normal values. gen: torch.Generator."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "adaLN_modulation" in name and name.endswith(".weight"):
                std = FIXTURE_STD["adaLN_weight"]
            elif name == "final_layer.linear.weight":
                std = FIXTURE_STD["final_weight"]
            elif name.endswith(".bias"):
                std = FIXTURE_STD["bias"]
            elif name.startswith("t_embedder.") and name.endswith(".weight"):
                std = FIXTURE_STD["t_embedder_weight"]
            elif name.startswith("y_embedder."):
                std = FIXTURE_STD["y_embedder"]
            else:
                continue
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * std)


def round_to_float32(model):
    """Rounds every parameter to float32 values (the precision of the files)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().to(p.dtype))


def make_inputs(cfg, batch, rng):
    """x: [B, T', C_in, H', W'] float32, t: [B] float32, y: [B] int64, target [B, T', C, H', W'].
    Sample b has context on its first (b mod 3) latent frames (at most T'-1)."""
    C = cfg["latent_channels"]
    T, H, W = cfg["grid"]
    K = cfg["num_classes"]
    x = np.zeros((batch, T, 2 * C + 1, H, W), dtype=np.float32)
    x[:, :, :C] = rng.standard_normal((batch, T, C, H, W))                  # noisy latent
    clean = rng.standard_normal((batch, T, C, H, W)).astype(np.float32)     # clean latent
    for b in range(batch):
        nctx = min(b % 3, T - 1)
        x[b, :nctx, C:2 * C] = clean[b, :nctx]                              # context latent
        x[b, :nctx, 2 * C] = 1.0                                            # context mask
    if batch == 1:
        t = np.array([500.0], dtype=np.float32)
    else:
        t = np.round(np.linspace(3.0, 999.0, batch)).astype(np.float32)    # e.g. [3, 501, 999]
    y = np.array([(b + 1) % (K + 1) for b in range(batch)], dtype=np.int64)  # includes null label K
    target = rng.standard_normal((batch, T, C, H, W)).astype(np.float32)
    return x, t, y, target


#################################################################################
#                                  Subcommands                                  #
#################################################################################

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def parse_triple(s):
    v = [int(a) for a in s.split(",")]
    if len(v) != 3:
        raise argparse.ArgumentTypeError("expected three comma-separated integers, got %r" % s)
    return v


def cmd_make(args):
    dtype = DTYPES[args.dtype]
    cfg = check_config(dict(latent_channels=args.latent_channels, hidden=args.hidden,
                            depth=args.depth, heads=args.heads, patch=args.patch,
                            grid=args.grid, num_classes=args.classes,
                            attention=args.attention, objective=args.objective))
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    model = VDiT(**cfg)                                   # float32, contract init
    gen = torch.Generator().manual_seed(args.seed + 1)
    randomize_for_fixture(model, gen)
    save_checkpoint(os.path.join(args.out, "model.safetensors"), model)
    model = model.to(dtype)                               # exact copy of the float32 values

    rng = np.random.RandomState(args.seed)
    x, t, y, target = make_inputs(cfg, args.batch, rng)
    out, loss, grads = loss_and_grads(model, torch.from_numpy(x).to(dtype),
                                      torch.from_numpy(t).to(dtype), torch.from_numpy(y),
                                      torch.from_numpy(target).to(dtype))
    np.save(os.path.join(args.out, "x.npy"), x)
    np.save(os.path.join(args.out, "t.npy"), t)
    np.save(os.path.join(args.out, "y.npy"), y)
    np.save(os.path.join(args.out, "target.npy"), target)
    np.save(os.path.join(args.out, "out.npy"), out.cpu().numpy().astype(np.float32))
    np.save(os.path.join(args.out, "loss.npy"), np.array(loss.item(), dtype=np.float32))
    save_safetensors(os.path.join(args.out, "grads.safetensors"),
                     collections.OrderedDict((k, v.cpu().numpy().astype(np.float32))
                                             for k, v in grads.items()),
                     {"config": json.dumps(cfg, sort_keys=True), "loss": repr(loss.item())})
    o = out.cpu().numpy()
    gmax = max(float(v.abs().max()) for v in grads.values())
    print("wrote %s: config %s" % (args.out, json.dumps(cfg, sort_keys=True)))
    print("  x %s t %s y %s out %s: |out| max %.4g rms %.4g, loss %.6g, |grad| max %.4g"
          % (list(x.shape), t.tolist(), y.tolist(), list(o.shape), np.abs(o).max(),
             np.sqrt((o ** 2).mean()), loss.item(), gmax))
    return 0


def load_input(path, model, dtype):
    x = np.load(path)
    squeeze = x.ndim == 4
    if squeeze:
        x = x[None]
    T, H, W = model.grid
    want = (T, model.in_channels, H, W)
    if x.ndim != 5 or tuple(x.shape[1:]) != want:
        raise ValueError("%s: input shape %s, expected [B] + %s" % (path, list(x.shape), list(want)))
    return torch.from_numpy(np.asarray(x, dtype=np.float64)).to(dtype), squeeze


def batch_cond(model, B, t, label, dtype):
    K = model.config["num_classes"]
    label = K if label is None else label
    if not 0 <= label <= K:
        raise ValueError("label %d out of range 0..%d (%d is the null label)" % (label, K, K))
    return torch.full((B,), float(t), dtype=dtype), torch.full((B,), int(label), dtype=torch.long)


def cmd_forward(args):
    dtype = DTYPES[args.dtype]
    model = load_checkpoint(args.checkpoint, dtype)
    x, squeeze = load_input(args.input, model, dtype)
    t, y = batch_cond(model, x.shape[0], args.t, args.label, dtype)
    with torch.no_grad():
        out = model(x, t, y)                                                # [B, T', C_lat, H', W']
    out = out.cpu().numpy().astype(np.float32)
    out = out[0] if squeeze else out
    np.save(args.out, out)
    print("wrote %s %s: |out| max %.4g" % (args.out, list(out.shape), np.abs(out).max()))
    return 0


def cmd_grad(args):
    dtype = DTYPES[args.dtype]
    model = load_checkpoint(args.checkpoint, dtype)
    x, squeeze = load_input(args.input, model, dtype)
    target = np.load(args.target)
    if squeeze:
        target = target[None]
    T, H, W = model.grid
    want = (x.shape[0], T, model.latent_channels, H, W)
    if tuple(target.shape) != want:
        raise ValueError("%s: target shape %s, expected %s" % (args.target, list(target.shape), list(want)))
    target = torch.from_numpy(np.asarray(target, dtype=np.float64)).to(dtype)
    t, y = batch_cond(model, x.shape[0], args.t, args.label, dtype)
    out, loss, grads = loss_and_grads(model, x, t, y, target)
    save_safetensors(args.out, collections.OrderedDict((k, v.cpu().numpy().astype(np.float32))
                                                       for k, v in grads.items()),
                     {"config": json.dumps(model.config, sort_keys=True), "loss": repr(loss.item())})
    print("wrote %s: loss %.8g" % (args.out, loss.item()))
    return 0


def compare_arrays(a, b):
    """(max |a-b|, max |b|) in float64; inf when NaN appears."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a - b)
    if np.isnan(diff).any():
        return float("inf"), float(np.nanmax(np.abs(b))) if not np.isnan(b).all() else 0.0
    return float(diff.max()), float(np.abs(b).max())


def cmd_compare(args):
    """Pass when max|a-b| <= atol + rtol * max|b| (per tensor for safetensors)."""
    ext_a, ext_b = os.path.splitext(args.a)[1], os.path.splitext(args.b)[1]
    if ext_a != ext_b:
        print("compare: %s and %s are of different kinds" % (args.a, args.b))
        return 1
    if ext_a == ".npy":
        a, b = np.load(args.a), np.load(args.b)
        if a.shape != b.shape:
            print("compare: shape %s vs %s" % (list(a.shape), list(b.shape)))
            return 1
        mad, mb = compare_arrays(a, b)
        rel = mad / max(mb, 1e-8)
        ok = mad <= args.atol + args.rtol * mb
        print("%s: max abs diff %.3e, max |b| %.3e, rel %.3e (atol %.1e rtol %.1e)"
              % ("OK" if ok else "FAIL", mad, mb, rel, args.atol, args.rtol))
        return 0 if ok else 1
    if ext_a == ".safetensors":
        ta, _ = load_safetensors(args.a)
        tb, _ = load_safetensors(args.b)
        ok = True
        only_a = [k for k in ta if k not in tb]
        only_b = [k for k in tb if k not in ta]
        if only_a or only_b:
            print("compare: tensors only in A: %s; only in B: %s" % (only_a, only_b))
            ok = False
        worst, worst_abs, nfail = None, None, 0
        for k in ta:
            if k not in tb:
                continue
            if ta[k].shape != tb[k].shape:
                print("compare: %s: shape %s vs %s" % (k, list(ta[k].shape), list(tb[k].shape)))
                ok, nfail = False, nfail + 1
                continue
            mad, mb = compare_arrays(ta[k], tb[k])
            rel = mad / max(mb, 1e-8)
            good = mad <= args.atol + args.rtol * mb
            if not good:
                ok, nfail = False, nfail + 1
            if args.verbose or not good:
                print("  %-4s %-45s max abs %.3e  max |b| %.3e  rel %.3e"
                      % ("ok" if good else "FAIL", k, mad, mb, rel))
            if worst is None or rel > worst[1]:
                worst = (k, rel, mad, mb)
            if worst_abs is None or mad > worst_abs[1]:
                worst_abs = (k, mad)
        if worst is not None:
            print("worst relative: %s rel %.3e (max abs %.3e, max |b| %.3e); "
                  "worst absolute: %s %.3e" % (worst[0], worst[1], worst[2], worst[3],
                                               worst_abs[0], worst_abs[1]))
        print("%s: %d tensors compared, %d failed (atol %.1e rtol %.1e)"
              % ("OK" if ok else "FAIL", len([k for k in ta if k in tb]), nfail, args.atol, args.rtol))
        return 0 if ok else 1
    print("compare: unknown file kind %r (want .npy or .safetensors)" % ext_a)
    return 1


#################################################################################
#                                    Selftest                                   #
#################################################################################

def naive_forward(model, x, t, y):
    """The whole model written as plain per-token loops over the contract's
    index formulas, independent of the modules above (it only reads the
    parameter values). Tiny cases only. Returns [B, T', C_lat, H', W'] float64."""
    sd = {k: v.detach().double() for k, v in model.state_dict().items()}
    cfg = model.config
    C, d, heads = cfg["latent_channels"], cfg["hidden"], cfg["heads"]
    pt, ph, pw = cfg["patch"]
    T, H, W = cfg["grid"]
    nt, nh, nw = T // pt, H // ph, W // pw
    N, dh = nt * nh * nw, d // heads
    x = x.double()

    def lin(prefix, v):
        return sd[prefix + ".weight"] @ v + sd[prefix + ".bias"]

    def silu(v):
        return v / (1 + torch.exp(-v))

    def gelu_tanh(v):
        return 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))

    def ln(v):
        mu = v.sum() / d
        var = ((v - mu) ** 2).sum() / d
        return (v - mu) / math.sqrt(var.item() + 1e-6)

    def coords(n):
        return n // (nh * nw), (n // nw) % nh, n % nw

    def pos(n):
        it, ih, iw = coords(n)
        p = torch.zeros(d, dtype=torch.float64)
        for j in range(d):                     # sincos1d_d(it)
            i = j % (d // 2)
            a = it / 10000 ** (i / (d / 2))
            p[j] += math.sin(a) if j < d // 2 else math.cos(a)
        q = d // 2                             # sincos1d_{d/2}(iw) then sincos1d_{d/2}(ih)
        for j in range(d):
            coord = iw if j < q else ih
            jj = j % q
            i = jj % (q // 2)
            a = coord / 10000 ** (i / (q / 2))
            p[j] += math.sin(a) if jj < q // 2 else math.cos(a)
        return p

    def allowed(i_block, n, m):
        if cfg["attention"] == "full":
            return True
        a, b = coords(n), coords(m)
        if i_block % 2 == 0:
            return a[0] == b[0]
        return a[1] == b[1] and a[2] == b[2]

    out = torch.zeros(x.shape[0], T, C, H, W, dtype=torch.float64)
    for b in range(x.shape[0]):
        tv = float(t[b])
        emb = torch.zeros(256, dtype=torch.float64)
        for i in range(128):
            f = math.exp(-math.log(10000) * i / 128)
            emb[i], emb[128 + i] = math.cos(tv * f), math.sin(tv * f)
        c = lin("t_embedder.mlp.2", silu(lin("t_embedder.mlp.0", emb)))
        c = c + sd["y_embedder.embedding_table.weight"][int(y[b])]
        toks = []
        wp = sd["x_embedder.proj.weight"].reshape(d, -1)
        for n in range(N):
            it, ih, iw = coords(n)
            vec = []
            for ch in range(2 * C + 1):
                for dt in range(pt):
                    for dy in range(ph):
                        for dx in range(pw):
                            vec.append(x[b, it * pt + dt, ch, ih * ph + dy, iw * pw + dx])
            toks.append(wp @ torch.stack(vec) + sd["x_embedder.proj.bias"] + pos(n))
        for ib in range(cfg["depth"]):
            pre = "blocks.%d." % ib
            mod = lin(pre + "adaLN_modulation.1", silu(c))
            sh1, sc1, g1, sh2, sc2, g2 = (mod[k * d:(k + 1) * d] for k in range(6))
            qkv = [lin(pre + "attn.qkv", ln(tok) * (1 + sc1) + sh1) for tok in toks]
            new = []
            for n in range(N):
                o = torch.zeros(d, dtype=torch.float64)
                for hh in range(heads):
                    sl = slice(hh * dh, (hh + 1) * dh)
                    q = qkv[n][0:d][sl]
                    ms = [m for m in range(N) if allowed(ib, n, m)]
                    s = [float((q * qkv[m][d:2 * d][sl]).sum()) / math.sqrt(dh) for m in ms]
                    smax = max(s)
                    e = [math.exp(v - smax) for v in s]
                    z = sum(e)
                    for m, w in zip(ms, e):
                        o[sl] += (w / z) * qkv[m][2 * d:3 * d][sl]
                new.append(toks[n] + g1 * lin(pre + "attn.proj", o))
            toks = [tok + g2 * lin(pre + "mlp.fc2", gelu_tanh(lin(pre + "mlp.fc1", ln(tok) * (1 + sc2) + sh2)))
                    for tok in new]
        fm = lin("final_layer.adaLN_modulation.1", silu(c))
        shf, scf = fm[:d], fm[d:]
        for n in range(N):
            it, ih, iw = coords(n)
            v = lin("final_layer.linear", ln(toks[n]) * (1 + scf) + shf)
            for dt in range(pt):
                for dy in range(ph):
                    for dx in range(pw):
                        for ch in range(C):
                            out[b, it * pt + dt, ch, ih * ph + dy, iw * pw + dx] = \
                                v[((dt * ph + dy) * pw + dx) * C + ch]
    return out


def tiny_model(attention, patch=(1, 2, 2), grid=(2, 4, 4), hidden=8, heads=2, depth=2,
               C=1, classes=2, seed=0):
    torch.manual_seed(seed)
    m = VDiT(latent_channels=C, hidden=hidden, depth=depth, heads=heads, patch=list(patch),
             grid=list(grid), num_classes=classes, attention=attention, objective="eps")
    randomize_for_fixture(m, torch.Generator().manual_seed(seed + 1))
    return m.double()


def cmd_selftest(args):
    failures = []

    def check(name, ok, detail=""):
        print("%-4s %s %s" % ("ok" if ok else "FAIL", name, detail))
        if not ok:
            failures.append(name)

    # (0) parameter names and shapes are exactly the contract's table; contract init gives zero output
    for att in ("full", "st"):
        torch.manual_seed(0)
        m = VDiT(latent_channels=2, hidden=16, depth=3, heads=4, patch=[2, 2, 2], grid=[4, 4, 6],
                 num_classes=3, attention=att, objective="flow")
        got = collections.OrderedDict((k, list(v.shape)) for k, v in m.state_dict().items())
        check("names/shapes (%s)" % att, dict(got) == dict(expected_shapes(m.config)))
        x = torch.randn(2, 4, 5, 4, 6)
        out = m(x, torch.tensor([3.0, 999.0]), torch.tensor([0, 3]))
        check("contract init gives zero output (%s)" % att,
              tuple(out.shape) == (2, 4, 2, 4, 6) and float(out.abs().max()) == 0.0)
        w = m.x_embedder.proj.weight
        bound = math.sqrt(6.0 / (w.shape[0] + w[0].numel()))
        check("x_embedder xavier bound (%s)" % att,
              float(w.abs().max()) <= bound and float(w.abs().max()) > 0.8 * bound)

    # (a) st scopes at the block level, with non-trivial adaLN parameters
    m = tiny_model("st", patch=(1, 2, 2), grid=(3, 4, 6), hidden=8, heads=2, depth=2)
    nt, nh, nw = m.nt, m.nh, m.nw
    it, ih, iw = token_coords(nt, nh, nw)
    g = torch.Generator().manual_seed(5)
    h = torch.randn(2, m.num_tokens, m.hidden, generator=g, dtype=torch.float64)
    c = torch.randn(2, m.hidden, generator=g, dtype=torch.float64)
    check("block scopes", [m.block_scope(i) for i in range(2)] == ["spatial", "temporal"])
    with torch.no_grad():
        base0 = m.blocks[0](h, c, m.block_mask(0))
        h2 = h.clone()
        h2[:, torch.from_numpy(it == 1)] += torch.randn(2, int((it == 1).sum()), m.hidden,
                                                        generator=g, dtype=torch.float64)
        pert0 = m.blocks[0](h2, c, m.block_mask(0))
        d_f0 = float((pert0 - base0)[:, torch.from_numpy(it == 0)].abs().max())
        d_f2 = float((pert0 - base0)[:, torch.from_numpy(it == 2)].abs().max())
        d_f1 = float((pert0 - base0)[:, torch.from_numpy(it == 1)].abs().max())
        check("spatial block: frame 1 change leaves frames 0 and 2 unchanged",
              d_f0 == 0.0 and d_f2 == 0.0 and d_f1 > 1e-3, "(%.1e %.1e, changed %.1e)" % (d_f0, d_f2, d_f1))
        # mixing inside a frame: change one token of frame 0, others of frame 0 must move
        h3 = h.clone()
        h3[:, 0] += torch.randn(2, m.hidden, generator=g, dtype=torch.float64)  # (a constant would vanish in LN)
        pert = m.blocks[0](h3, c, m.block_mask(0)) - base0
        same = torch.from_numpy((it == 0) & (np.arange(m.num_tokens) != 0))
        check("spatial block: tokens of the same frame interact", float(pert[:, same].abs().min()) > 0)

        base1 = m.blocks[1](h, c, m.block_mask(1))
        sel = (ih == 0) & (iw == 1) & (it == 1)          # one token at (ih, iw) = (0, 1), frame 1
        h4 = h.clone()
        h4[:, torch.from_numpy(sel)] += torch.randn(2, 1, m.hidden, generator=g, dtype=torch.float64)
        pert1 = m.blocks[1](h4, c, m.block_mask(1)) - base1
        other_place = torch.from_numpy(~((ih == 0) & (iw == 1)))
        same_place = torch.from_numpy((ih == 0) & (iw == 1) & (it != 1))
        d_o = float(pert1[:, other_place].abs().max())
        d_s = float(pert1[:, same_place].abs().min())
        check("temporal block: change at (0,1) leaves other places unchanged, moves same place",
              d_o == 0.0 and d_s > 0.0, "(%.1e, changed min %.1e)" % (d_o, d_s))

    # (b) whole model vs plain per-token loops, full and st, two patch shapes
    for att in ("full", "st"):
        for patch, grid in (((1, 2, 2), (2, 4, 4)), ((2, 2, 2), (4, 4, 6))):
            m = tiny_model(att, patch=patch, grid=grid, hidden=8, heads=2, depth=3, C=2, classes=2)
            rng = np.random.RandomState(1)
            xs, ts, ys, _ = make_inputs(m.config, 3, rng)
            x = torch.from_numpy(xs).double()
            t = torch.from_numpy(ts).double()
            y = torch.from_numpy(ys)
            with torch.no_grad():
                a = m(x, t, y)
            b = naive_forward(m, x, t, y)
            err = float((a - b).abs().max())
            check("model vs per-token loops (%s, patch %s)" % (att, list(patch)),
                  err < 1e-10 and float(b.abs().max()) > 1e-2,
                  "(max abs diff %.1e, |out| max %.2f)" % (err, float(b.abs().max())))

    # (c) gradients: torch.autograd.gradcheck in float64 w.r.t. input and every parameter
    from torch.nn.utils.stateless import functional_call
    for att in ("full", "st"):
        m = tiny_model(att, patch=(1, 2, 2), grid=(2, 2, 4), hidden=8, heads=2, depth=2, C=1, classes=1)
        names = [k for k, _ in m.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
        rng = np.random.RandomState(2)
        xs, ts, ys, tg = make_inputs(m.config, 2, rng)
        x = torch.from_numpy(xs).double().requires_grad_(True)
        t, y, target = torch.from_numpy(ts).double(), torch.from_numpy(ys), torch.from_numpy(tg).double()

        def f(x, *ps):
            out = functional_call(m, dict(zip(names, ps)), (x, t, y))
            return ((out - target) ** 2).mean()

        ok = torch.autograd.gradcheck(f, (x,) + params, eps=1e-6, atol=1e-7, rtol=1e-5,
                                      raise_exception=False)
        check("gradcheck of mean squared loss (%s, %d params)" % (att, sum(p.numel() for p in params)), ok)
        # loss_and_grads agrees with the functional form
        _, loss, grads = loss_and_grads(m, x.detach(), t, y, target)
        gl = torch.autograd.grad(f(x.detach(), *params), params)
        err = max(float((grads[k] - gg).abs().max()) for k, gg in zip(names, gl))
        check("loss_and_grads matches (%s)" % att, err < 1e-14, "(%.1e)" % err)

    # (d) safetensors round trip, checkpoint round trip, strict loading errors
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "a.safetensors")
        rng = np.random.RandomState(3)
        tens = collections.OrderedDict([
            ("w", rng.standard_normal((3, 5)).astype(np.float32)),
            ("scalar", np.array(1.5, dtype=np.float32)),
            ("empty", np.zeros((0, 4), dtype=np.float32)),
            ("i", np.arange(7, dtype=np.int64)),
            ("d", rng.standard_normal(9)),
        ])
        meta = {"config": json.dumps({"a": 1}), "note": "x y"}
        save_safetensors(p, tens, meta)
        back, meta2 = load_safetensors(p)
        same = (list(back) == list(tens) and meta2 == meta and
                all(back[k].dtype == tens[k].dtype and back[k].shape == tens[k].shape and
                    np.array_equal(back[k], tens[k]) for k in tens))
        with open(p, "rb") as fh:
            raw = fh.read()
        (hl,) = struct.unpack("<Q", raw[:8])
        hdr = json.loads(raw[8:8 + hl])
        offs = [hdr[k]["data_offsets"] for k in tens]
        contiguous = offs[0][0] == 0 and all(a[1] == b[0] for a, b in zip(offs, offs[1:])) \
            and 8 + hl + offs[-1][1] == len(raw)
        check("safetensors round trip", same and (8 + hl) % 8 == 0 and contiguous)

        m = tiny_model("st", patch=(2, 2, 2), grid=(4, 4, 6), hidden=16, heads=4, depth=2, C=2, classes=3)
        m = m.float()
        cp = os.path.join(tmp, "m.safetensors")
        save_checkpoint(cp, m)
        m2 = load_checkpoint(cp, torch.float32)
        same = m2.config == m.config and all(torch.equal(a, b) for a, b in
                                             zip(m.state_dict().values(), m2.state_dict().values()))
        check("checkpoint round trip", same)
        sd = state_to_numpy(m)
        for label, mutate in (("missing", lambda s: s.pop("blocks.1.mlp.fc1.bias")),
                              ("unexpected", lambda s: s.__setitem__("pos_embed", np.zeros(3, np.float32))),
                              ("misshaped", lambda s: s.__setitem__("final_layer.linear.bias",
                                                                    np.zeros(5, np.float32)))):
            s = collections.OrderedDict(sd)
            mutate(s)
            save_safetensors(cp, s, {"config": json.dumps(m.config)})
            try:
                load_checkpoint(cp)
                check("strict load rejects %s tensor" % label, False)
            except ValueError as e:
                check("strict load rejects %s tensor" % label, label in str(e), "(%s)" % e)

    print("selftest: %s" % ("all passed" if not failures else "%d FAILED" % len(failures)))
    return 1 if failures else 0


#################################################################################
#                                  Command line                                 #
#################################################################################

def main(argv=None):
    ap = argparse.ArgumentParser(description="Independent PyTorch reference of model.md (vdit DiT).")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("make", help="write a parity fixture (checkpoint, inputs, output, gradients)")
    p.add_argument("--out", required=True)
    p.add_argument("--attention", choices=["full", "st"], required=True)
    p.add_argument("--patch", type=parse_triple, required=True, help="PT,PH,PW")
    p.add_argument("--grid", type=parse_triple, default=[4, 4, 6], help="T',H',W' (default 4,4,6)")
    p.add_argument("--latent-channels", type=int, default=2)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--objective", choices=["eps", "flow"], default="eps")
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=list(DTYPES), default="float64")
    p.set_defaults(func=cmd_make)

    p = sub.add_parser("forward", help="model output for one t and label over the whole batch")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True, help="x.npy [B][T'][C_in][H'][W'] (or without B)")
    p.add_argument("--t", type=float, required=True, help="value fed to the timestep embedder")
    p.add_argument("--label", type=int, default=None, help="class label (default: the null label)")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=list(DTYPES), default="float64")
    p.set_defaults(func=cmd_forward)

    p = sub.add_parser("grad", help="parameter gradients of mean((y - target)^2)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--target", required=True, help="target.npy [B][T'][C_lat][H'][W']")
    p.add_argument("--t", type=float, required=True)
    p.add_argument("--label", type=int, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=list(DTYPES), default="float64")
    p.set_defaults(func=cmd_grad)

    p = sub.add_parser("compare", help="compare two .npy or two .safetensors files "
                                       "(pass: max|a-b| <= atol + rtol*max|b|, per tensor)")
    p.add_argument("a")
    p.add_argument("b", help="the reference")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--rtol", type=float, default=0.0)
    p.add_argument("--verbose", "-v", action="store_true", help="print every tensor")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("selftest", help="check this implementation against itself")
    p.set_defaults(func=cmd_selftest)

    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, SafetensorsError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
