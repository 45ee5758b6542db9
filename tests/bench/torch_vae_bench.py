"""torch_vae_bench.py - the VAE of lib/vae.c (Stable Diffusion's autoencoder,
small, without attention; temporal 1: every frame an image) in PyTorch, timed
the way `vdit bench vae` times vdit's: a training step (forward, L1 + KL
loss, backward, AdamW) on a batch of synthetic frames, and the encoder and
decoder alone. Prints one JSON object with vdit's field names, so
tests/bench/bench_vae.sh can put the two side by side; `gflops` is counted
with vdit's formula (convs only; a training step is 3 x forward), and the
script refuses to run when the model it built has another parameter count
than `--expect-params` (the same shape as vdit's, checked).

  python3 torch_vae_bench.py --channels 32,64,64 --res-blocks 1 --mid-blocks 1 \\
      --downsample 4 --latent-channels 4 --groups 8 --size 32 --batch 32 --steps 5
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv 3x3, GroupNorm, SiLU, conv 3x3, + skip (1x1 when the width changes)."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class VAE(nn.Module):
    def __init__(self, channels, res_blocks, mid_blocks, latent_channels, groups):
        super().__init__()
        L, top = len(channels), channels[-1]
        enc = [nn.Conv2d(3, channels[0], 3, padding=1)]
        for i in range(L):
            for j in range(res_blocks):
                enc.append(ResBlock(channels[0] if (i == 0 and j == 0) else (channels[i - 1] if j == 0 else channels[i]),
                                    channels[i], groups))
            if i < L - 1:
                enc.append(nn.Conv2d(channels[i], channels[i], 3, stride=2, padding=1))
        enc += [ResBlock(top, top, groups) for _ in range(mid_blocks)]
        enc += [nn.GroupNorm(groups, top), nn.SiLU(), nn.Conv2d(top, 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(latent_channels, top, 3, padding=1)]
        dec += [ResBlock(top, top, groups) for _ in range(mid_blocks)]
        for i in reversed(range(L)):
            for j in range(res_blocks):
                cin = (top if i == L - 1 else channels[i + 1]) if j == 0 else channels[i]
                dec.append(ResBlock(cin, channels[i], groups))
            if i > 0:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels[i], channels[i], 3, padding=1)]
        dec += [nn.GroupNorm(groups, channels[0]), nn.SiLU(), nn.Conv2d(channels[0], 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x):
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return self.decoder(z), mean, logvar


def vae_flops(channels, res_blocks, mid_blocks, latent_channels, frames, hw):
    """lib/vae.c's vdit_vae_flops for temporal 1: 2 * MACs of every conv, forward."""
    def conv(ohw, oc, ic, k):
        return 2.0 * frames * ohw * oc * ic * k * k

    def block(h, cin, cout):
        return conv(h, cout, cin, 3) + conv(h, cout, cout, 3) + (conv(h, cout, cin, 1) if cin != cout else 0.0)

    L, top = len(channels), channels[-1]
    f = conv(hw, channels[0], 3, 3)
    for i in range(L):
        for j in range(res_blocks):
            f += block(hw, channels[0] if (i == 0 and j == 0) else (channels[i - 1] if j == 0 else channels[i]), channels[i])
        if i < L - 1:
            hw /= 4
            f += conv(hw, channels[i], channels[i], 3)
    f += mid_blocks * block(hw, top, top) + conv(hw, 2 * latent_channels, top, 3)
    f += conv(hw, top, latent_channels, 3) + mid_blocks * block(hw, top, top)
    for i in reversed(range(L)):
        for j in range(res_blocks):
            f += block(hw, (top if i == L - 1 else channels[i + 1]) if j == 0 else channels[i], channels[i])
        if i > 0:
            hw *= 4
            f += conv(hw, channels[i], channels[i], 3)
    return f + conv(hw, 3, channels[0], 3)


def median_ms(fn, steps):
    fn()  # warm-up
    t = []
    for _ in range(steps):
        a = time.perf_counter()
        fn()
        t.append(1e3 * (time.perf_counter() - a))
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", default="32,64,64")
    ap.add_argument("--res-blocks", type=int, default=1)
    ap.add_argument("--mid-blocks", type=int, default=1)
    ap.add_argument("--downsample", type=int, default=4)
    ap.add_argument("--latent-channels", type=int, default=4)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32, help="frames per training step")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--expect-params", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ch = [int(c) for c in a.channels.split(",") if c]
    if 2 ** (len(ch) - 1) != a.downsample:
        raise SystemExit("torch_vae_bench.py: %d channel levels do not give downsample %d" % (len(ch), a.downsample))
    m = VAE(ch, a.res_blocks, a.mid_blocks, a.latent_channels, a.groups)
    params = sum(p.numel() for p in m.parameters())
    if a.expect_params and params != a.expect_params:
        raise SystemExit("torch_vae_bench.py: %d parameters, vdit's VAE has %d: not the same shape" % (params, a.expect_params))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.0)
    x = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1

    def step():
        opt.zero_grad(set_to_none=True)
        rec, mean, logvar = m(x)
        kl = 0.5 * torch.mean(mean * mean + logvar.exp() - 1 - logvar)
        loss = F.l1_loss(rec, x) + 1e-6 * kl
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    ms = median_ms(step, a.steps)
    with torch.no_grad():
        enc = median_ms(lambda: m.encoder(x), a.steps) / a.batch
        z = m.encoder(x).chunk(2, dim=1)[0]
        dec = median_ms(lambda: m.decoder(z), a.steps) / a.batch
    gflops = 3 * vae_flops(ch, a.res_blocks, a.mid_blocks, a.latent_channels, a.batch, a.size * a.size) / (ms * 1e-3) / 1e9
    print(json.dumps({"size": a.size, "frames_per_step": a.batch, "ms_per_step": round(ms, 3),
                      "frames_per_s": round(1e3 * a.batch / ms, 2), "gflops": round(gflops, 3),
                      "encode_ms_per_frame": round(enc, 4), "decode_ms_per_frame": round(dec, 4), "params": params,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
