/* cmd_sample.c - `vdit sample`: videos from a trained DiT, unconditional or
 * continuing (or filling in) the frames of a dataset's videos.
 *
 * OUT/latents.npy   float32 [N][T][C][H][W], what the sampler produced
 * OUT/videos.npy    uint8 [N][T][S][S][3], the videos (pixels, or decoded)
 * OUT/sample_NNN.gif  one animated GIF per video
 * OUT/contact.png   frames of the first videos, the truth above each sample
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "latents.h"
#include "progress.h"
#include "vdit.h"

static const char *const SAMPLERS[] = {"ddpm", "ddim", "euler", "heun", NULL};

/* "0,1,2,9" -> known[t] = 1 for those frames */
static int parse_known(const cli_cmd *cmd, const char *s, uint8_t *known, int T)
{
    memset(known, 0, (size_t)T);
    const char *p = s;
    while (*p) {
        char *end;
        long t = strtol(p, &end, 10);
        if (end == p || t < 0 || t >= T || (*end && *end != ',')) {
            cli_usage_error(cmd, "--known '%s' must list frame indices in 0..%d", s, T - 1);
            return -1;
        }
        known[t] = 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int cmd_sample(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--checkpoint", "FILE", "DiT checkpoint (a run's model.safetensors)", NULL},
        {"--vae", "FILE", "decode latents with this VAE (the one the DiT was trained with)", NULL},
        {"--data", "DIR", "dataset whose videos give the context frames (and the truth shown)", NULL},
        {"--first", "I", "first video of --data to continue (default 0)", NULL},
        {"--context", "K", "known latent frames at the start of each video (default 3 with --data, else 0)", NULL},
        {"--known", "LIST", "known frames as indices, e.g. 0,1,2,15 (fills the others); needs --data", NULL},
        {"--label", "Y", "class label (default: the video's scenario with --data, else the null label)", NULL},
        {"--sampler", "NAME", "ddpm|ddim (eps models), euler|heun (flow models); default ddim or heun", NULL},
        {"--steps", "N", "sampler steps (default 50)", NULL},
        {"--cfg", "W", "classifier-free guidance weight (default 1: none)", NULL},
        {"--seed", "S", "noise seed (default 0)", NULL},
        {"--count", "N", "videos to generate (default 4)", NULL},
        {"--batch", "B", "videos per model call (default 8)", NULL},
        {"--out", "DIR", "output directory", NULL},
    };
    cli_cmd cmd = {"vdit sample", "--checkpoint C [--vae V] [--data DIR --context K] --out DIR [options]",
                   "Generates videos with a trained DiT: NPY arrays, a GIF per video and a PNG contact sheet.", flags,
                   (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *ckpt = cli_required(&cmd, "--checkpoint"), *out = cli_required(&cmd, "--out");
    const char *data = cli_get(&cmd, "--data"), *vae = cli_get(&cmd, "--vae"), *known_s = cli_get(&cmd, "--known");
    int first, steps, count, batch, sampler;
    double cfg;
    uint64_t seed;
    if (!ckpt || !out || cli_int(&cmd, "--first", 0, 0, 1 << 30, &first) ||
        cli_int(&cmd, "--steps", 50, 1, VDIT_DDPM_STEPS, &steps) || cli_int(&cmd, "--count", 4, 1, 1 << 20, &count) ||
        cli_int(&cmd, "--batch", 8, 1, 4096, &batch) || cli_float(&cmd, "--cfg", 1.0, &cfg) ||
        cli_u64(&cmd, "--seed", 0, &seed) || cli_choice(&cmd, "--sampler", SAMPLERS, -1, &sampler))
        return 2;
    if (known_s && !data) {
        cli_usage_error(&cmd, "--known needs --data (the frames it keeps come from there)");
        return 2;
    }
    vdit_err err;
    vdit_dit m;
    if (vdit_dit_load(&m, ckpt, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    const vdit_dit_config *c = &m.cfg;
    int T = c->grid[0], C = c->latent_channels, H = c->grid[1], W = c->grid[2];
    if (sampler < 0) sampler = c->objective == VDIT_OBJ_EPS ? VDIT_SAMPLER_DDIM : VDIT_SAMPLER_HEUN;
    int context, label;
    latent_set ls = {0};
    vdit_vae vm = {0};
    float *lat = NULL, *ctx = NULL;
    uint8_t *known = NULL, *videos = NULL;
    int *labels = NULL;
    rc = 2;
    if (cli_int(&cmd, "--context", data ? 3 : 0, 0, T, &context) ||
        cli_int(&cmd, "--label", -1, 0, c->num_classes, &label))
        goto done;
    if (context && !data) {
        cli_usage_error(&cmd, "--context needs --data (the frames it keeps come from there)");
        goto done;
    }
    rc = 1;
    /* the decoder is checked before any sampling, so a mismatch costs nothing */
    if (vae) {
        if (vdit_vae_load(&vm, vae, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        if (vm.cfg.latent_channels != C) {
            fprintf(stderr, "vdit: %s has %d latent channels, %s's DiT %d\n", vae, vm.cfg.latent_channels, ckpt, C);
            goto done;
        }
    } else if (C != 3) {
        fprintf(stderr, "vdit: %s: %d latent channels are not pixels: give the --vae to decode them\n", ckpt, C);
        goto done;
    }
    if (data) {
        if (load_latents(&ls, data, vae, first + count, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        if (ls.T != T || ls.C != C || ls.H != H || ls.W != W) {
            fprintf(stderr, "vdit: %s: videos of latent shape [%d][%d][%d][%d] do not fit %s's [%d][%d][%d][%d]\n",
                    data, ls.T, ls.C, ls.H, ls.W, ckpt, T, C, H, W);
            goto done;
        }
        if (ls.N < first + count) {
            fprintf(stderr, "vdit: %s: has %d videos, --first %d --count %d needs %d\n", data, ls.N, first, count,
                    first + count);
            goto done;
        }
    }
    size_t nv = (size_t)T * C * H * W;
    lat = malloc((size_t)count * nv * sizeof(float));
    known = calloc((size_t)count * T, 1);
    labels = malloc((size_t)count * sizeof(int));
    if (!lat || !known || !labels) {
        cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        uint8_t *k = known + (size_t)i * T;
        if (known_s) {
            if (parse_known(&cmd, known_s, k, T)) {
                rc = 2;
                goto done;
            }
        } else {
            for (int t = 0; t < context; t++) k[t] = 1;
        }
        labels[i] = label >= 0 ? label : (data && c->num_classes ? ls.labels[first + i] : c->num_classes);
        if (labels[i] > c->num_classes) labels[i] = c->num_classes;
    }
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "vdit: %s: %s\n", out, strerror(errno));
        goto done;
    }

    vdit_sample_config sc = {(vdit_sampler)sampler, steps, (float)cfg, seed};
    progress pb;
    progress_start(&pb, "sample", count);
    for (int b0 = 0; b0 < count; b0 += batch) {
        int nb = count - b0 < batch ? count - b0 : batch;
        vdit_sample_job job = {nb, T, C, H, W, data ? ls.x + (size_t)(first + b0) * nv : NULL,
                               data ? known + (size_t)b0 * T : NULL, labels + b0, c->num_classes};
        /* each chunk its own seed, so the videos do not depend on --batch alone */
        sc.seed = vdit_rng_at(seed, (uint64_t)b0);
        if (vdit_sample_dit(&m, &sc, &job, lat + (size_t)b0 * nv, &err)) {
            fprintf(stderr, "\nvdit: %s: %s\n", ckpt, err.msg);
            goto done;
        }
        progress_update(&pb, b0 + nb, NULL);
    }
    progress_end(&pb, NULL);

    char path[4096];
    int64_t lshape[5] = {count, T, C, H, W};
    snprintf(path, sizeof path, "%s/latents.npy", out);
    if (vdit_npy_write_f32(path, lat, 5, lshape, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    /* pixels: from the VAE's decoder, or the latents themselves */
    int F = T, S = H;
    float *pix = lat;
    if (vae) { /* loaded and checked above */
        F = T * vm.cfg.temporal, S = H * vm.cfg.downsample;
        pix = malloc((size_t)count * F * 3 * S * S * sizeof(float));
        for (int i = 0; pix && i < count; i++)
            if (vdit_vae_decode(&vm, lat + i * nv, 1, T, H, W, pix + (size_t)i * F * 3 * S * S, &err)) {
                cli_fail(err.msg);
                free(pix);
                goto done;
            }
        vdit_vae_free(&vm);
        if (!pix) {
            cli_fail("out of memory");
            goto done;
        }
    }
    /* [N][F][3][S][S] in [-1, 1] -> uint8 [N][F][S][S][3] */
    size_t nframes = (size_t)F * S * S * 3;
    videos = malloc((size_t)count * nframes);
    if (!videos) {
        if (pix != lat) free(pix);
        cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++) vdit_video_to_u8(videos + i * nframes, pix + i * nframes, F, S, S);
    if (pix != lat) free(pix);
    const uint8_t *truth = data ? ls.videos + (size_t)first * nframes : NULL;
    if (data && (ls.frames != F || ls.S != S)) truth = NULL; /* cannot happen with a matching VAE */
    vdit_array va = {VDIT_DTYPE_U8, 5, {count, F, S, S, 3}, videos, (size_t)count * nframes};
    snprintf(path, sizeof path, "%s/videos.npy", out);
    if (vdit_npy_write(path, &va, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/sample_%03d.gif", out, i);
        if (vdit_gif_write(path, videos + i * nframes, F, S, S, 10, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    /* contact sheet: up to 4 videos, the truth above each sample when known */
    int shown = count < 4 ? count : 4, rows = shown * (truth ? 2 : 1);
    uint8_t *grid = malloc((size_t)rows * nframes), *sheet = NULL;
    if (!grid) {
        cli_fail("out of memory");
        goto done;
    }
    for (int i = 0, r = 0; i < shown; i++) {
        if (truth) memcpy(grid + (size_t)r++ * nframes, truth + i * nframes, nframes);
        memcpy(grid + (size_t)r++ * nframes, videos + i * nframes, nframes);
    }
    int sh, sw;
    err.msg[0] = 0;
    snprintf(path, sizeof path, "%s/contact.png", out);
    int bad = vdit_contact_sheet(&sheet, &sh, &sw, grid, rows, F, S, S, S < 48 ? 2 : 1, 2) ||
              vdit_png_write(path, sheet, sh, sw, &err);
    free(grid);
    free(sheet);
    if (bad) {
        cli_fail(err.msg[0] ? err.msg : "contact sheet: out of memory");
        goto done;
    }
    printf("wrote %d videos to %s (videos.npy, latents.npy, sample_*.gif, contact.png)\n", count, out);
    rc = 0;
done:
    free(lat), free(known), free(labels), free(videos), free(ctx);
    latent_set_free(&ls);
    vdit_vae_free(&vm);
    vdit_dit_free(&m);
    return rc;
}
