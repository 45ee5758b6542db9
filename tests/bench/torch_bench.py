#!/usr/bin/python3
"""
torch_bench.py - the PyTorch side of `make bench`: the DiT of
shared/design/model.md (the parity reference's modules, float32) timed on
the same work as `vdit bench train|sample`, printing one JSON object
{"ms_per_step", "gflops", "peak_rss_mb"} like `vdit bench ... --json`.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tests/bench/torch_bench.py train \
        --hidden 128 --depth 4 --heads 4 --patch 1,2,2 --grid 8,8,8 --batch 16 --steps 5 --threads 2

train: one warm-up step, then N timed steps of: draw timesteps, noise,
  context lengths (0..3 frames, uniform, as `vdit bench train`) and label
  dropout; noise the batch; forward; the masked MSE of model.md; backward;
  gradient clipping at norm 1; AdamW (lr 3e-4, betas 0.9/0.999, eps 1e-8,
  no weight decay); EMA of the weights (0.999). That is vdit_trainer_step.
sample: one sampler step with classifier-free guidance for one video: the
  model on a batch of 2 (conditional + null label) with the first 3 frames as
  context, the guided combination, one DDIM (eps) or Euler (flow) update.

PyTorch at its best, not its default: the `st` blocks attend within their
groups by reshaping (spatial [B*nt, S, D], temporal [B*S, nt, D]) rather
than masking an N x N matrix, the positional embedding is cached in float32,
the optimiser uses the multi-tensor (foreach) kernels, sampling runs under
inference_mode, and OMP_WAIT_POLICY defaults to PASSIVE (set before torch
loads). GFLOP/s uses vdit_dit_flops_per_sample's count (lib/dit.c):
2 x multiply-adds of every matmul, both attention products; a training
step = 3 x forward, a guided sampler step = 2 x forward.

`selftest` checks that the bench model gives the reference model's output.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch (libgomp) loads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from dit_reference import VDiT  # noqa: E402

NUM_CLASSES = 5
TFREQ = 256
DDPM_STEPS = 1000


#################################################################################
#                  The model, with grouped (not masked) attention               #
#################################################################################

class GroupedAttention(nn.Module):
    """model.md's attention for one scope; reuses the block's qkv and proj.
    full: all N tokens; spatial: the S = nh*nw tokens of a frame; temporal:
    the nt tokens of one (ih, iw). Grouping by reshape equals the masked
    N x N softmax of the reference (checked by `selftest`)."""

    def __init__(self, attn, scope, nt, nh, nw):
        super().__init__()
        self.qkv, self.proj = attn.qkv, attn.proj
        self.num_heads, self.head_dim = attn.num_heads, attn.head_dim
        self.scope, self.nt, self.S = scope, nt, nh * nw

    def forward(self, x, mask=None):
        B, N, D = x.shape
        NH, DH, nt, S = self.num_heads, self.head_dim, self.nt, self.S
        qkv = self.qkv(x)                                                   # [B, N, 3D]
        if self.scope == "spatial":
            qkv = qkv.reshape(B * nt, S, 3 * D)                             # [G, S, 3D], G = B*nt
        elif self.scope == "temporal":
            qkv = qkv.reshape(B, nt, S, 3 * D).transpose(1, 2).reshape(B * S, nt, 3 * D)  # [G, nt, 3D]
        G, n = qkv.shape[0], qkv.shape[1]
        qkv = qkv.reshape(G, n, 3, NH, DH).permute(2, 0, 3, 1, 4)           # [3, G, NH, n, DH]
        q, k, v = qkv[0], qkv[1], qkv[2]                                    # [G, NH, n, DH]
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(DH))  # [G, NH, n, n]
        att = att.softmax(dim=-1)                                           # [G, NH, n, n]
        o = torch.matmul(att, v)                                            # [G, NH, n, DH]
        o = o.transpose(1, 2).reshape(G, n, D)                              # [G, n, D]
        if self.scope == "temporal":
            o = o.reshape(B, S, nt, D).transpose(1, 2)                      # [B, nt, S, D]
        return self.proj(o.reshape(B, N, D))                                # [B, N, D]


class BenchVDiT(VDiT):
    def __init__(self, **cfg):
        super().__init__(**cfg)
        for i, block in enumerate(self.blocks):
            block.attn = GroupedAttention(block.attn, self.block_scope(i), self.nt, self.nh, self.nw)
        self.register_buffer("pos32", torch.from_numpy(self.pos_embed).float(), persistent=False)

    def forward(self, x, t, y):
        # x: [B, T', C_in, H', W'], t: [B] float, y: [B] long
        x = self.x_embedder(x) + self.pos32                                 # [B, N, D]
        c = self.t_embedder(t) + self.y_embedder(y)                         # [B, D]
        for block in self.blocks:
            x = block(x, c, None)                                           # [B, N, D]
        return self.unpatchify(self.final_layer(x, c))                      # [B, T', C_lat, H', W']


def flops_per_sample(a):
    """vdit_dit_flops_per_sample (lib/dit.c), term by term."""
    D, (pt, ph, pw), (T, H, W) = a.hidden, a.patch, a.grid
    nt, nh, nw = T // pt, H // ph, W // pw
    N, pp = nt * nh * nw, pt * ph * pw
    P_in, P_out = (2 * a.latent_channels + 1) * pp, a.latent_channels * pp
    f = 2.0 * N * P_in * D + 2.0 * (TFREQ * D + D * D)
    per_block = 2.0 * N * D * (3 * D + D + 8 * D) + 2.0 * 6 * D * D
    for i in range(a.depth):
        keys = N if a.attention == "full" else (nh * nw if i % 2 == 0 else nt)
        f += per_block + 2.0 * 2 * N * keys * D
    return f + 2.0 * 2 * D * D + 2.0 * N * D * P_out


#################################################################################
#                                     Steps                                     #
#################################################################################

def abar_table():
    betas = torch.linspace(1e-4, 0.02, DDPM_STEPS, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)                                # [1000]


def model_input(x_t, x0, known):
    # x_t, x0: [B, T, C, H, W]; known: [B, T] bool -> [B, T, 2C+1, H, W]
    k = known[:, :, None, None, None].to(x_t.dtype)                         # [B, T, 1, 1, 1]
    mask = k.expand(-1, -1, 1, x_t.shape[3], x_t.shape[4])                  # [B, T, 1, H, W]
    return torch.cat([x_t, x0 * k, mask], dim=2)


def train_steps(a, model, gen):
    B, (T, H, W), C = a.batch, a.grid, a.latent_channels
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=True)
    ema = [p.detach().clone() for p in params]
    abar = abar_table().float()
    x0 = torch.randn(B, T, C, H, W, generator=gen)                          # the data batch
    y = torch.arange(B) % NUM_CLASSES
    ctx = min(3, T - 1)
    times = []
    for s in range(a.steps + a.warmup):
        t0 = time.perf_counter()
        eps = torch.randn(B, T, C, H, W, generator=gen)
        K = torch.randint(0, ctx + 1, (B,), generator=gen)                 # context frames per sample
        known = torch.arange(T)[None, :] < K[:, None]                       # [B, T]
        drop = torch.rand(B, generator=gen) < 0.1
        yb = torch.where(drop, torch.full_like(y, NUM_CLASSES), y)
        if a.objective == "eps":
            step = torch.randint(0, DDPM_STEPS, (B,), generator=gen)
            sa, s1 = abar[step].sqrt().view(B, 1, 1, 1, 1), (1 - abar[step]).sqrt().view(B, 1, 1, 1, 1)
            x_t, target, t_model = sa * x0 + s1 * eps, eps, step.float()
        else:
            tt = torch.rand(B, generator=gen)
            tv = tt.view(B, 1, 1, 1, 1)
            x_t, target, t_model = (1 - tv) * x0 + tv * eps, eps - x0, 1000.0 * tt
        pred = model(model_input(x_t, x0, known), t_model, yb)              # [B, T, C, H, W]
        free = (~known).to(pred.dtype)                                      # [B, T]
        se = ((pred - target) ** 2).sum(dim=(2, 3, 4))                      # [B, T]
        n = free.sum(dim=1) * (C * H * W)                                   # [B]
        loss = ((se * free).sum(dim=1) / n.clamp(min=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.999)
            torch._foreach_add_(ema, params, alpha=0.001)
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    return times, 3.0 * flops_per_sample(a) * B


def sample_steps(a, model, gen):
    (T, H, W), C = a.grid, a.latent_channels
    ctx = torch.randn(1, T, C, H, W, generator=gen)
    known = torch.arange(T)[None, :] < min(3, T)                            # [1, T]
    y2 = torch.tensor([0, NUM_CLASSES])                                     # cond, null
    abar = abar_table()
    w = 1.5
    times = []
    with torch.inference_mode():
        for s in range(a.steps + a.warmup):
            t0 = time.perf_counter()
            x = torch.randn(1, T, C, H, W, generator=gen)                   # x_T
            x_in = model_input(x, ctx, known).expand(2, -1, -1, -1, -1)     # [2, T, 2C+1, H, W]
            t_model = torch.full((2,), 999.0 if a.objective == "eps" else 1000.0)
            out = model(x_in, t_model, y2)                                  # [2, T, C, H, W]
            pred = out[1:] + w * (out[:1] - out[1:])                        # uncond + w (cond - uncond)
            if a.objective == "eps":                                        # DDIM from 999 to 0
                sa, s1 = abar[999].sqrt().item(), (1 - abar[999]).sqrt().item()
                x = (x - s1 * pred) / sa
            else:                                                           # Euler from 1 to 0
                x = x - pred
            x = torch.where(known[:, :, None, None, None], ctx, x)
            if s >= a.warmup:
                times.append(time.perf_counter() - t0)
    return times, 2.0 * flops_per_sample(a)


#################################################################################
#                                   Command line                                #
#################################################################################

def triple(s):
    v = [int(x) for x in s.split(",")]
    if len(v) != 3:
        raise argparse.ArgumentTypeError("expected T,H,W (three integers), got %r" % s)
    return v


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "sample", "selftest"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--patch", type=triple, default=[1, 2, 2])
    p.add_argument("--grid", type=triple, default=[8, 8, 8])
    p.add_argument("--latent-channels", type=int, default=4)
    p.add_argument("--attention", choices=["full", "st"], default="full")
    p.add_argument("--objective", choices=["eps", "flow"], default="eps")
    p.add_argument("--batch", type=int, default=16, help="training batch (sample: always 2, cond + uncond)")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: OMP_NUM_THREADS or 2)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.batch < 1:
        p.error("need --steps >= 1, --warmup >= 0, --batch >= 1")
    return a


def build(a):
    return BenchVDiT(latent_channels=a.latent_channels, hidden=a.hidden, depth=a.depth, heads=a.heads,
                     patch=a.patch, grid=a.grid, num_classes=NUM_CLASSES, attention=a.attention,
                     objective=a.objective).float()


def selftest(a):
    """The bench model (grouped attention, cached pos) against the reference
    (masked attention) on the same weights, both scopes; exit 1 on a mismatch."""
    gen = torch.Generator().manual_seed(a.seed)
    worst = 0.0
    for att in ("full", "st"):
        a.attention = att
        bench = build(a)
        with torch.no_grad():
            for p in bench.parameters():                                    # non-zero adaLN and final layer
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        ref = VDiT(latent_channels=a.latent_channels, hidden=a.hidden, depth=a.depth, heads=a.heads,
                   patch=a.patch, grid=a.grid, num_classes=NUM_CLASSES, attention=att).float()
        ref.load_state_dict(bench.state_dict())
        T, H, W = a.grid
        x = torch.randn(3, T, 2 * a.latent_channels + 1, H, W, generator=gen)
        t, y = torch.tensor([3.0, 500.0, 999.0]), torch.tensor([0, 2, NUM_CLASSES])
        with torch.no_grad():
            d = (bench(x, t, y) - ref(x, t, y)).abs().max().item()
        print("selftest %s: max |bench - reference| = %.3g" % (att, d))
        worst = max(worst, d)
    return 0 if worst < 1e-4 else 1


def main(argv=None):
    a = parse(sys.argv[1:] if argv is None else argv)
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    if a.mode == "selftest":
        return selftest(a)
    gen = torch.Generator().manual_seed(a.seed)
    model = build(a)
    times, flops = (train_steps if a.mode == "train" else sample_steps)(a, model, gen)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0      # kilobytes on Linux
    print(json.dumps({"ms_per_step": round(1e3 * med, 3), "gflops": round(flops / med / 1e9, 3),
                      "peak_rss_mb": round(rss, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
