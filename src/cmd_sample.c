/* cmd_sample.c - `vdit sample`: videos from a trained DiT, unconditional or
 * continuing (or filling in) the frames of a dataset's videos, or rolling
 * them out past the model's window (--frames).
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
#include "datasets.h"
#include "progress.h"
#include "vdit.h"


/* "0-2,9" or "0,1,2,9" -> known[t] = 1 for those frames (ranges inclusive) */
static int parse_known(const cli_cmd *cmd, const char *s, uint8_t *known, int T)
{
    memset(known, 0, (size_t)T);
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        int ok = end != p;
        if (ok && *end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            ok = end != q;
        }
        if (!ok || a < 0 || b < a || b >= T || (*end && *end != ',')) {
            cli_usage_error(cmd, "--known '%s' must list frame indices or ranges (e.g. 0-2,29-31) in 0..%d", s, T - 1);
            return -1;
        }
        for (long t = a; t <= b; t++) known[t] = 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Videos 0 .. first+count-1 of the dataset in dir, which must be F frames at
 * S x S (the DiT's grid through the VAE; a rollout reads the first F of
 * longer videos: at least F when longer_ok); err->msg empty when the error
 * is printed already. */
static int load_truth(vdit_latent_set *ls, const char *dir, const char *ckpt, int first, int count, int F, int S,
                      int longer_ok, vdit_err *err)
{
    int need = first + count;
    err->msg[0] = 0;
    if (vdit_latents_load(ls, dir, NULL, need, NULL, err)) return -1;
    if ((longer_ok ? ls->frames < F : ls->frames != F) || ls->S != S) {
        fprintf(stderr, "vdit: %s: videos of %d frames at %dx%d do not fit %s's %d frames at %dx%d\n", dir, ls->frames,
                ls->S, ls->S, ckpt, F, S, S);
        return -1;
    }
    if (ls->N < need) {
        fprintf(stderr, "vdit: %s: has %d videos, --first %d --count %d needs %d\n", dir, ls->N, first, count, need);
        return -1;
    }
    return 0;
}

/* known[N][T] from --known (a list) or --context (a prefix) and labels[N]:
 * --label, else the videos' own (data_labels[N], may be NULL), else null. */
static int fill_masks(const cli_cmd *cmd, const char *known_s, int context, int label, const int *data_labels, int N,
                      int T, int num_classes, uint8_t *known, int *labels)
{
    for (int i = 0; i < N; i++) {
        uint8_t *k = known + (size_t)i * T;
        if (known_s) {
            if (parse_known(cmd, known_s, k, T)) return -1;
        } else {
            for (int t = 0; t < context; t++) k[t] = 1;
        }
        labels[i] = label >= 0 ? label : (data_labels && num_classes ? data_labels[i] : num_classes);
        if (labels[i] > num_classes) labels[i] = num_classes;
    }
    return 0;
}

/* OUT/latents.npy, videos.npy, sample_NNN.gif and contact.png for the
 * sampled lat[N][T][C][H][W] and videos[N][F][S][S][3]; truth (may be
 * NULL) [N][F][S][S][3] is shown above each sample on the contact sheet. */
/* The names write_samples writes: an existing --out holding only these is replaced. */
static int sample_file(const char *dir, const char *name)
{
    (void)dir;
    int i, n = 0;
    return !strcmp(name, "latents.npy") || !strcmp(name, "videos.npy") || !strcmp(name, "contact.png") ||
           (sscanf(name, "sample_%d.gif%n", &i, &n) == 1 && n == (int)strlen(name));
}

static int write_samples(const char *out, const float *lat, const uint8_t *videos, const uint8_t *truth, int N,
                         const int64_t lshape[5], int F, int S, vdit_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/latents.npy", out);
    if (vdit_npy_write_f32(path, lat, 5, lshape, err)) return -1;
    size_t nframes = (size_t)F * S * S * 3;
    vdit_array va = {VDIT_DTYPE_U8, 5, {N, F, S, S, 3}, (void *)videos, (size_t)N * nframes};
    snprintf(path, sizeof path, "%s/videos.npy", out);
    if (vdit_npy_write(path, &va, err)) return -1;
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path, "%s/sample_%03d.gif", out, i);
        if (vdit_gif_write(path, videos + i * nframes, F, S, S, 10, err)) return -1;
    }
    /* contact sheet: up to 4 videos, the truth above each sample when known;
     * of a long video (a rollout) every k-th frame, at most 64 */
    int shown = N < 4 ? N : 4, rows = shown * (truth ? 2 : 1), every = (F + 63) / 64, cols = (F + every - 1) / every;
    size_t f1 = (size_t)S * S * 3;
    uint8_t *grid = malloc((size_t)rows * cols * f1), *sheet = NULL;
    if (!grid) return vdit_seterr(err, "contact sheet: out of memory");
    for (int i = 0, r = 0; i < shown; i++)
        for (int k = truth ? 0 : 1; k < 2; k++, r++)
            for (int c = 0; c < cols; c++)
                memcpy(grid + ((size_t)r * cols + c) * f1, (k ? videos : truth) + i * nframes + (size_t)c * every * f1,
                       f1);
    int sh, sw;
    err->msg[0] = 0;
    snprintf(path, sizeof path, "%s/contact.png", out);
    int bad = vdit_contact_sheet(&sheet, &sh, &sw, grid, rows, cols, S, S, S < 48 ? 2 : 1, 2) ||
              vdit_png_write(path, sheet, sh, sw, err);
    free(grid);
    free(sheet);
    if (bad && !err->msg[0]) vdit_seterr(err, "contact sheet: out of memory");
    return bad ? -1 : 0;
}

/* Loads the VAE (when given) before any sampling, so a mismatch costs
 * nothing: the DiT's grid must fit it, and it must be the VAE the DiT
 * records it was trained on unless forced. *F, *S: the videos' frames and
 * size (pixels: the grid itself). Prints the error. */
static int open_vae(vdit_pipeline *p, vdit_vae *vm, const char *ckpt, const char *vae, int force, int *F, int *S)
{
    const vdit_dit_config *c = &p->dit->cfg;
    int Tl, Cl, Hl;
    vdit_err err;
    *F = c->grid[0], *S = c->grid[1];
    if (vae && vdit_vae_load(vm, vae, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    if (vae) *F = c->grid[0] * vm->cfg.temporal, *S = c->grid[1] * vm->cfg.downsample;
    if (vdit_pipeline_shape(p, *F, *S, &Tl, &Cl, &Hl, &err)) {
        fprintf(stderr, "vdit: %s%s%s: %s\n", ckpt, vae ? " with " : "", vae ? vae : "", err.msg);
        return -1;
    }
    if (vdit_pipeline_check_vae(p->dit, ckpt, vae ? vm : NULL, force, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    return 0;
}

int cmd_sample(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--checkpoint", "FILE", "DiT checkpoint (a run's model.safetensors)", NULL},
        {"--vae", "FILE", "decode latents with this VAE (the one the DiT was trained with)", NULL},
        {"--force", NULL, "sample through a VAE other than the one the DiT records it was trained on", NULL},
        {"--data", "DIR", "dataset whose videos give the context frames (and the truth shown)", NULL},
        {"--first", "I", "first video of --data to continue (default 0)", NULL},
        {"--context", "K", "known latent frames at the start of each video (default 3 with --data, else 0)", NULL},
        {"--known", "LIST",
         "known latent frames, indices or ranges (fills the others): 0-2,29-31 extends both ways, 0,31 interpolates; "
         "needs --data",
         NULL},
        {"--label", "Y", "class label (default: the video's scenario with --data, else the null label)", NULL},
        {"--sampler", "NAME", "ddpm|ddim (eps models), euler|heun (flow models); default ddim or heun", NULL},
        {"--steps", "N", "sampler steps (default 50)", NULL},
        {"--cfg", "W", "classifier-free guidance weight (default 1: none)", NULL},
        {"--guide", "WHAT", "what guidance's unconditional branch drops: label (default) or context (the known frames)",
         NULL},
        {"--context-noise", "S", "std of the noise put on the known frames the model sees (default 0; for a model "
                                 "trained with [data] context_noise)", NULL},
        {"--seed", "S", "noise seed (default 0)", NULL},
        {"--frames", "N", "roll out to N frames by the model's own sliding window: each window keeps the last --context "
                          "latent frames of the one before (default: one window); needs --data", NULL},
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
    int first, steps, count, batch, sampler, guide;
    double cfg, context_noise;
    uint64_t seed;
    if (!ckpt || !out || cli_int(&cmd, "--first", 0, 0, 1 << 30, &first) ||
        cli_int(&cmd, "--steps", 50, 1, VDIT_DDPM_STEPS, &steps) || cli_int(&cmd, "--count", 4, 1, 1 << 20, &count) ||
        cli_int(&cmd, "--batch", 8, 1, 4096, &batch) || cli_float(&cmd, "--cfg", 1.0, &cfg) ||
        cli_float(&cmd, "--context-noise", 0.0, &context_noise) ||
        cli_u64(&cmd, "--seed", 0, &seed) || cli_choice(&cmd, "--sampler", CLI_SAMPLERS, -1, &sampler) ||
        cli_choice(&cmd, "--guide", CLI_GUIDES, 0, &guide))
        return 2;
    if (known_s && !data) {
        cli_usage_error(&cmd, "--known needs --data (the frames it keeps come from there)");
        return 2;
    }
    const char *ins[] = {ckpt, vae, data};
    vdit_out_lock_t lock;
    if (cli_out_clash(&out, 1, ins, 3) || cli_out_lock(out, &lock)) return 1;
    vdit_err err;
    vdit_dit m;
    if (vdit_dit_load(&m, ckpt, &err)) {
        cli_fail(err.msg);
        vdit_out_unlock(&lock);
        return 1;
    }
    const vdit_dit_config *c = &m.cfg;
    int T = c->grid[0], C = c->latent_channels, H = c->grid[1], W = c->grid[2], context, label, frames;
    if (sampler < 0) sampler = vdit_sampler_default(c->objective);
    vdit_latent_set ls = {0};
    vdit_vae vm = {0};
    progress pb;
    vdit_pipeline p = {&m,    vae ? &vm : NULL, {(vdit_sampler)sampler, steps, (float)cfg, seed, guide, (float)context_noise},
                       batch, progress_step, &pb};
    float *lat = NULL;
    char *tmp = NULL; /* the folder being written, renamed to out when whole */
    uint8_t *known = NULL, *videos = NULL, *window = NULL, *shown = NULL; /* rollouts: context windows, truth shown */
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
    int F, S, windows = 1;
    if (open_vae(&p, &vm, ckpt, vae, cli_get(&cmd, "--force") != NULL, &F, &S)) goto done;
    rc = 2;
    if (cli_int(&cmd, "--frames", F, 1, 1 << 20, &frames)) goto done;
    int rollout = frames != F;
    if (rollout && (!data || known_s)) {
        cli_usage_error(&cmd, "--frames %d (a rollout) needs --data and --context, not --known", frames);
        goto done;
    }
    if (rollout && vdit_pipeline_rollout_windows(&p, frames, context, &windows, &err)) {
        cli_usage_error(&cmd, "--frames %d --context %d: %s", frames, context, err.msg);
        goto done;
    }
    rc = 1;
    if (data && load_truth(&ls, data, ckpt, first, count, F, S, rollout, &err)) {
        if (err.msg[0]) cli_fail(err.msg);
        goto done;
    }
    int tf = vae ? vm.cfg.temporal : 1, Tout = frames / tf; /* latent frames out */
    size_t nv = (size_t)Tout * C * H * W, nframes = (size_t)frames * S * S * 3, f1 = (size_t)S * S * 3;
    lat = malloc((size_t)count * nv * sizeof(float));
    videos = malloc((size_t)count * nframes);
    known = calloc((size_t)count * T, 1);
    labels = malloc((size_t)count * sizeof(int));
    if (!lat || !videos || !known || !labels) {
        cli_fail("out of memory");
        goto done;
    }
    if (fill_masks(&cmd, known_s, context, label, data ? ls.labels + first : NULL, count, T, c->num_classes, known,
                   labels)) {
        rc = 2;
        goto done;
    }
    if (vdit_out_dir_begin(out, sample_file, &tmp, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    const uint8_t *truth = data ? ls.videos + (size_t)first * ls.frames * f1 : NULL;
    if (rollout) {
        /* the context: the first F frames of each video; the truth shown:
         * its first `frames` when the dataset's videos are that long */
        window = malloc((size_t)count * F * f1);
        if (!window) {
            cli_fail("out of memory");
            goto done;
        }
        for (int i = 0; i < count; i++) memcpy(window + (size_t)i * F * f1, truth + (size_t)i * ls.frames * f1, (size_t)F * f1);
        if (ls.frames >= frames) {
            shown = malloc((size_t)count * nframes);
            for (int i = 0; shown && i < count; i++)
                memcpy(shown + (size_t)i * nframes, truth + (size_t)i * ls.frames * f1, nframes);
        }
        progress_start(&pb, "rollout", count * windows);
        if (vdit_pipeline_rollout(&p, window, count, F, S, context, frames, labels, videos, lat, &err)) {
            fprintf(stderr, "\nvdit: %s: %s\n", ckpt, err.msg);
            goto done;
        }
    } else {
        shown = NULL;
        progress_start(&pb, "sample", count);
        if (vdit_pipeline_continue(&p, truth, count, F, S, known, labels, videos, lat, &err)) {
            fprintf(stderr, "\nvdit: %s: %s\n", ckpt, err.msg);
            goto done;
        }
    }
    progress_end(&pb, NULL);
    int64_t lshape[5] = {count, Tout, C, H, W};
    int bad = write_samples(tmp, lat, videos, rollout ? shown : truth, count, lshape, frames, S, &err);
    if (!bad) bad = vdit_out_dir_commit(tmp, out, sample_file, &err), tmp = NULL; /* the commit takes tmp either way */
    if (bad) {
        cli_fail(err.msg);
        goto done;
    }
    printf("wrote %d videos to %s (videos.npy, latents.npy, sample_*.gif, contact.png)\n", count, out);
    rc = 0;
done:
    vdit_out_dir_abort(tmp);
    free(lat), free(known), free(labels), free(videos), free(window), free(shown);
    vdit_latent_set_free(&ls);
    vdit_vae_free(&vm);
    vdit_dit_free(&m);
    vdit_out_unlock(&lock);
    return rc;
}
