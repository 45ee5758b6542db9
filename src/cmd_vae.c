/* cmd_vae.c - `vdit vae train|encode|decode|recon`: the video VAE from the
 * command line.
 *
 *   train   --data DIR --config FILE.ini --out vae.safetensors
 *           writes the checkpoint and, beside it, vae.csv (the losses)
 *   encode  --vae V --data DIR | --input videos.npy --out latents.npy
 *   decode  --vae V --input latents.npy --out videos.npy
 *   recon   --vae V --data DIR --out FILE.gif   (truth above reconstruction,
 *           PSNR and the tracked ball positions of the reconstructions)
 *
 * Pixels: the dataset's uint8 [N][T][S][S][3] become float32
 * [B][T][3][S][S] in [-1, 1] (x = v / 127.5 - 1, channel-major frames);
 * latents are float32 [B][T'][C_lat][H'][W'] scaled by the checkpoint's
 * scale factor, the layout the DiT takes.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "datasets.h"
#include "eval.h"
#include "progress.h"
#include "settings.h"
#include "kernels.h"

/* ------------------------------------------------------------------------
 * Settings: the INI file, key by key
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_vae_config model;
    int recon;       /* vdit_recon_loss */
    float kl_weight; /* loss = recon + kl_weight * KL (means per element) */
    float lr, min_lr, weight_decay, beta1, beta2, grad_clip;
    float ema_decay; /* 0: off; else the checkpoint holds the weights' exponential moving average */
    int warmup;
    int batch;       /* clips per step */
    int clip_frames; /* frames per clip (0: 1 with temporal 1, 8 with temporal 2) */
    int steps;       /* 0: no step limit */
    float minutes;   /* 0: no time limit */
    uint64_t seed;
    float val_split; /* fraction of the videos held out for validation */
    int log_interval, val_interval;
    int count; /* use the first `count` videos (0: all) */
    char channels_text[64];
} vae_settings;

static const char *const RECON[] = {"l1", "mse", NULL};

/* [model] channels = "32,64,64": one width per level */
static int parse_channels(void *settings, const char *value, char *msg, size_t cap)
{
    vae_settings *s = settings;
    int w[VDIT_VAE_MAX_LEVELS] = {0}, n = 0;
    const char *p = value;
    char *end;
    while (1) {
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > 4096 || n == VDIT_VAE_MAX_LEVELS || (*end && *end != ',') ||
            strlen(value) >= sizeof s->channels_text) {
            snprintf(msg, cap, "must be 1..%d comma-separated widths in 1..4096, one per level", VDIT_VAE_MAX_LEVELS);
            return -1;
        }
        w[n++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    snprintf(s->channels_text, sizeof s->channels_text, "%s", value);
    memcpy(s->model.channels, w, sizeof w);
    return 0;
}

#define OFF(f) offsetof(vae_settings, f)
static const setting_key KEYS[] = {
    {"model", "channels", SET_CUSTOM, OFF(channels_text), NULL, 0, 0, parse_channels, NULL},
    {"model", "res_blocks", SET_INT, OFF(model.res_blocks), NULL, 1, VDIT_VAE_MAX_BLOCKS, NULL, NULL},
    {"model", "mid_blocks", SET_INT, OFF(model.mid_blocks), NULL, 0, VDIT_VAE_MAX_MID, NULL, NULL},
    {"model", "downsample", SET_INT, OFF(model.downsample), NULL, 2, 8, NULL, NULL},
    {"model", "temporal", SET_INT, OFF(model.temporal), NULL, 1, 2, NULL, NULL},
    {"model", "latent_channels", SET_INT, OFF(model.latent_channels), NULL, 1, 256, NULL, NULL},
    {"model", "groups", SET_INT, OFF(model.groups), NULL, 1, 4096, NULL, NULL},
    {"loss", "recon", SET_CHOICE, OFF(recon), RECON, 0, 0, NULL, NULL},
    {"loss", "kl_weight", SET_FLOAT, OFF(kl_weight), NULL, 0, 1e6, NULL, NULL},
    {"train", "lr", SET_FLOAT, OFF(lr), NULL, 0, 10, NULL, NULL},
    {"train", "min_lr", SET_FLOAT, OFF(min_lr), NULL, 0, 10, NULL, NULL},
    {"train", "warmup", SET_INT, OFF(warmup), NULL, 0, 1e9, NULL, NULL},
    {"train", "weight_decay", SET_FLOAT, OFF(weight_decay), NULL, 0, 10, NULL, NULL},
    {"train", "beta1", SET_FLOAT, OFF(beta1), NULL, 0, 0.999999, NULL, NULL},
    {"train", "beta2", SET_FLOAT, OFF(beta2), NULL, 0, 0.999999, NULL, NULL},
    {"train", "grad_clip", SET_FLOAT, OFF(grad_clip), NULL, 0, 1e9, NULL, NULL},
    {"train", "ema_decay", SET_FLOAT, OFF(ema_decay), NULL, 0, 0.999999, NULL, NULL},
    {"train", "batch", SET_INT, OFF(batch), NULL, 1, 65536, NULL, NULL},
    {"train", "clip_frames", SET_INT, OFF(clip_frames), NULL, 0, 4096, NULL, NULL},
    {"train", "steps", SET_INT, OFF(steps), NULL, 0, 1e9, NULL, NULL},
    {"train", "minutes", SET_FLOAT, OFF(minutes), NULL, 0, 1e6, NULL, NULL},
    {"train", "seed", SET_U64, OFF(seed), NULL, 0, 0, NULL, NULL},
    {"train", "val_split", SET_FLOAT, OFF(val_split), NULL, 0, 0.5, NULL, NULL},
    {"train", "log_interval", SET_INT, OFF(log_interval), NULL, 1, 1e9, NULL, NULL},
    {"train", "val_interval", SET_INT, OFF(val_interval), NULL, 0, 1e9, NULL, NULL},
    {"data", "count", SET_INT, OFF(count), NULL, 0, 1e9, NULL, NULL},
};
#define NKEYS (int)(sizeof KEYS / sizeof KEYS[0])

static void settings_default(vae_settings *s)
{
    memset(s, 0, sizeof *s);
    vdit_vae_config_default(&s->model);
    snprintf(s->channels_text, sizeof s->channels_text, "32,64,64");
    s->recon = VDIT_RECON_L1;
    s->kl_weight = VDIT_VAE_KL_WEIGHT;
    s->lr = 1e-3f;
    s->min_lr = 5e-5f;
    s->warmup = 100;
    s->weight_decay = 0.0f;
    s->beta1 = 0.9f;
    s->beta2 = 0.999f;
    s->grad_clip = 1.0f;
    s->batch = 4; /* small batches, many updates: 39.2 dB at 32x32 after 2400 steps of 4 where 300 of 32 give 22.3 */
    s->steps = 2400;
    s->seed = 1;
    s->val_split = 0.05f;
    s->log_interval = 10;
    s->val_interval = 500;
}

static int settings_load(vae_settings *s, const char *path)
{
    settings_default(s);
    if (settings_read(path, KEYS, NKEYS, s)) return -1;
    vdit_err err;
    if (vdit_vae_config_check(&s->model, &err)) {
        fprintf(stderr, "vdit: %s: [model] %s\n", path, err.msg);
        return -1;
    }
    if (!s->steps && !(s->minutes > 0)) {
        fprintf(stderr, "vdit: %s: [train] needs steps or minutes (or both) greater than 0\n", path);
        return -1;
    }
    if (s->min_lr > s->lr) {
        fprintf(stderr, "vdit: %s: [train] min_lr %g is above lr %g\n", path, s->min_lr, s->lr);
        return -1;
    }
    if (!s->clip_frames) s->clip_frames = s->model.temporal == 2 ? 8 : 1;
    if (s->clip_frames % s->model.temporal) {
        fprintf(stderr, "vdit: %s: [train] clip_frames %d is not divisible by [model] temporal %d\n", path,
                s->clip_frames, s->model.temporal);
        return -1;
    }
    return 0;
}

/* The settings as the JSON kept in the checkpoint's metadata ("train"). */
static char *settings_json(const vae_settings *s, const char *data, int size, int steps, double seconds,
                           double val_psnr)
{
    json_t *o = json_pack("{s:s, s:i, s:s, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:f, s:f, s:I, s:f, s:i, s:f, s:f}", "data",
                          data, "size", size, "recon", RECON[s->recon], "kl_weight", (double)s->kl_weight, "lr",
                          (double)s->lr, "min_lr", (double)s->min_lr, "warmup", s->warmup, "batch", s->batch,
                          "clip_frames", s->clip_frames, "weight_decay", (double)s->weight_decay, "grad_clip",
                          (double)s->grad_clip, "ema_decay", (double)s->ema_decay, "seed", (json_int_t)s->seed, "val_split", (double)s->val_split,
                          "steps", steps, "seconds", seconds, "val_psnr", val_psnr);
    if (!o) return NULL;
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return t;
}

/* ------------------------------------------------------------------------
 * Data
 * ---------------------------------------------------------------------- */

/* The first `count` videos of a dataset (all when 0). */
static int load_data(const char *dir, int count, vdit_dataset *ds)
{
    vdit_err err;
    if (vdit_dataset_load(dir, ds, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    if (count > 0 && count < ds->count) { /* vdit_dataset_free frees count captions: drop the others now */
        for (int i = count; i < ds->count; i++) free(ds->captions[i]);
        ds->count = count;
    }
    if (ds->count < 1) {
        fprintf(stderr, "vdit: %s: the dataset holds no videos\n", dir);
        vdit_dataset_free(ds);
        return -1;
    }
    return 0;
}

static const uint8_t *video_at(const vdit_dataset *ds, int i)
{
    return (const uint8_t *)ds->videos.data + (size_t)i * ds->frames * ds->size * ds->size * 3;
}

static int label_of(const vdit_dataset *ds, int i)
{
    int l = ds->labels.data ? ((const int32_t *)ds->labels.data)[i] : 0;
    return l >= 0 && l < EVAL_NUM_SCENARIOS ? l : 0;
}

static int split_of(const vdit_dataset *ds, int i) { return ds->splits.data ? ((const int32_t *)ds->splits.data)[i] : 0; }

/* [T][2][5] ground truth of video i (NULL when the dataset has none) */
static const float *states_of(const vdit_dataset *ds, int i)
{
    return ds->states.data ? (const float *)ds->states.data + (size_t)i * ds->frames * 2 * 5 : NULL;
}

/* ------------------------------------------------------------------------
 * vdit vae train
 * ---------------------------------------------------------------------- */

/* PSNR in dB of an MSE measured on [-1, 1] pixels (peak-to-peak 2). */
static double psnr_of(double mse) { return mse > 0 ? 10.0 * log10(4.0 / mse) : 99.0; }

/* Reconstruction MSE (z = mean) over the validation clips, in batches. */
static int validate(vdit_vae *m, const vdit_dataset *ds, const int *val, int nval, int clip, float *x, int batch,
                    double *mse, vdit_err *err)
{
    int S = ds->size, T = ds->frames, per = T / clip;
    size_t fsz = (size_t)3 * S * S;
    double sum = 0.0;
    long n = 0;
    vdit_vae_loss_config lc = {VDIT_RECON_MSE, 0.0f, 0, 0};
    int total = nval * per; /* every clip of every validation video, at most 512 */
    if (total > 512) total = 512;
    for (int i0 = 0; i0 < total; i0 += batch) {
        int B = total - i0 < batch ? total - i0 : batch;
        for (int b = 0; b < B; b++) {
            int k = i0 + b, v = val[k % nval], c = (k / nval) % per;
            float *full = malloc((size_t)T * fsz * sizeof(float));
            if (!full) return vdit_seterr(err, "out of memory");
            vdit_video_to_float(full, video_at(ds, v), T, S, S);
            memcpy(x + (size_t)b * clip * fsz, full + (size_t)c * clip * fsz, (size_t)clip * fsz * sizeof(float));
            free(full);
        }
        vdit_vae_losses l;
        if (vdit_vae_forward(m, x, B, clip, S, S, lc, &l, err)) return -1;
        sum += l.recon * B;
        n += B;
    }
    *mse = sum / (double)n;
    return 0;
}

static void swap_weights(float *a, float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

static double lr_at(const vae_settings *s, int step, double frac)
{
    if (step <= s->warmup && s->warmup > 0) return s->lr * (double)step / s->warmup;
    if (frac > 1.0) frac = 1.0;
    return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * frac));
}

/* "DIR/vae.safetensors" -> "DIR/vae.csv" */
static void csv_path_for(const char *out, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", out);
    char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    strncat(buf, ".csv", cap - strlen(buf) - 1);
}

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->buf && b->len + n < b->cap) {
            b->len += n;
            return;
        }
        size_t cap = (b->cap + n + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return;
        b->buf = nb;
        b->cap = cap;
    }
}

static int vae_train(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--data", "DIR", "training dataset (vdit data)", NULL},
        {"--config", "FILE.ini", "settings: [model], [loss], [train], [data] (see experiments/vae32.ini)", NULL},
        {"--out", "FILE", "checkpoint to write (.safetensors); the loss log goes beside it as .csv", NULL},
        {"--log", "FILE.csv", "where to write the loss log instead", NULL},
    };
    cli_cmd cmd = {"vdit vae train", "--data DIR --config FILE.ini --out vae.safetensors",
                   "Trains the video VAE on the dataset's frames (reconstruction + kl_weight * KL, AdamW, cosine\n"
                   "learning rate), fits the latent scale factor on training frames and writes the checkpoint\n"
                   "with the config and scale factor in its metadata. Log columns: step,loss,recon,kl,lr,time,\n"
                   "val_mse,val_psnr (validation on held-out videos every val_interval steps).",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *data = cli_required(&cmd, "--data"), *cfgpath = data ? cli_required(&cmd, "--config") : NULL;
    const char *out = cfgpath ? cli_required(&cmd, "--out") : NULL;
    if (!out) return 2;
    vae_settings s;
    if (settings_load(&s, cfgpath)) return 1;
    char csv[4096];
    if (cli_get(&cmd, "--log"))
        snprintf(csv, sizeof csv, "%s", cli_get(&cmd, "--log"));
    else
        csv_path_for(out, csv, sizeof csv);

    vdit_dataset ds;
    if (load_data(data, s.count, &ds)) return 1;
    int S = ds.size, T = ds.frames, clip = s.clip_frames;
    vdit_err err;
    vdit_vae m = {0};
    float *x = NULL, *mom = NULL, *vel = NULL, *ema = NULL;
    int *order = NULL;
    strbuf log = {0};
    rc = 1;
    if (clip > T) {
        fprintf(stderr, "vdit: %s: [train] clip_frames %d is more than the %d frames of %s\n", cfgpath, clip, T,
                data);
        goto done;
    }
    if (vdit_vae_create(&m, &s.model, &err) || vdit_vae_check_shape(&m, s.batch, clip, S, S, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", data, err.msg);
        goto done;
    }
    vdit_vae_init_weights(&m, s.seed);
    /* a seeded shuffle of the videos: the first nval are held out */
    order = malloc((size_t)ds.count * sizeof(int));
    x = malloc((size_t)s.batch * clip * 3 * S * S * sizeof(float));
    mom = calloc(m.num_params, sizeof(float));
    vel = calloc(m.num_params, sizeof(float));
    if (!order || !x || !mom || !vel) {
        cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < ds.count; i++) order[i] = i;
    for (int i = ds.count - 1; i > 0; i--) {
        int j = (int)(vdit_rng_at(s.seed ^ 0x73706c6974ull, (uint64_t)i) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int nval = (int)lround(s.val_split * ds.count);
    if (s.val_split > 0 && nval < 1) nval = 1;
    if (nval >= ds.count) nval = ds.count - 1;
    const int *val = order, *tr = order + nval;
    int ntr = ds.count - nval;
    fprintf(stderr, "vae: %zu parameters; %d training videos, %d held out; %d clips of %d frames of %dx%d per step\n",
            m.num_params, ntr, nval, s.batch, clip, S, S);

    sb_printf(&log, "step,loss,recon,kl,lr,time,val_mse,val_psnr\n");
    progress pb;
    double limit = s.minutes > 0 ? s.minutes * 60.0 : 0.0;
    progress_start(&pb, "vae train", s.steps ? s.steps : (long)ceil(limit));
    double t0 = progress_now(), acc_loss = 0, acc_rec = 0, acc_kl = 0, last_val = NAN;
    int nacc = 0, step = 0;
    char pextra[200] = "";
    size_t fsz = (size_t)3 * S * S;
    vdit_adamw_config ac = {s.lr, s.beta1, s.beta2, 1e-8f, s.weight_decay};
    if (s.ema_decay > 0) {
        ema = malloc(m.num_params * sizeof(float));
        if (!ema) {
            cli_fail("out of memory");
            goto done;
        }
        memcpy(ema, m.params_mem, m.num_params * sizeof(float));
    }
    float *full = malloc((size_t)T * fsz * sizeof(float));
    if (!full) {
        cli_fail("out of memory");
        goto done;
    }
    for (;;) {
        double el = progress_now() - t0;
        double frac = s.steps ? (double)step / s.steps : 0.0;
        if (limit > 0 && el / limit > frac) frac = el / limit;
        if ((s.steps && step >= s.steps) || (limit > 0 && el >= limit)) break;
        step++;
        /* the batch: clip b of step `step` from a seeded (video, start) pair */
        for (int b = 0; b < s.batch; b++) {
            uint64_t h = vdit_rng_at(s.seed, (uint64_t)step * 65536 + b);
            int v = tr[h % (uint64_t)ntr];
            int starts = (T - clip) / m.cfg.temporal + 1;
            int t = (int)((h >> 32) % (uint64_t)starts) * m.cfg.temporal;
            const uint8_t *src = video_at(&ds, v) + (size_t)t * S * S * 3;
            vdit_video_to_float(x + (size_t)b * clip * fsz, src, clip, S, S);
        }
        vdit_vae_loss_config lc = {(vdit_recon_loss)s.recon, s.kl_weight, 1, vdit_rng_at(s.seed, (uint64_t)step)};
        vdit_vae_losses l;
        if (vdit_vae_forward(&m, x, s.batch, clip, S, S, lc, &l, &err)) {
            fprintf(stderr, "\nvdit: %s\n", err.msg);
            free(full);
            goto done;
        }
        if (!isfinite(l.loss)) {
            fprintf(stderr, "\nvdit: %s: training diverged at step %d (loss %g); lower [train] lr\n", cfgpath, step,
                    l.loss);
            free(full);
            goto done;
        }
        vdit_vae_zero_grad(&m);
        vdit_vae_backward(&m, &err);
        if (s.grad_clip > 0) {
            double n2 = 0;
            for (size_t i = 0; i < m.num_params; i++) n2 += (double)m.grads_mem[i] * m.grads_mem[i];
            double norm = sqrt(n2);
            if (norm > s.grad_clip) {
                float k = (float)(s.grad_clip / norm);
                for (size_t i = 0; i < m.num_params; i++) m.grads_mem[i] *= k;
            }
        }
        double lr = lr_at(&s, step, frac);
        ac.lr = (float)lr;
        vdit_adamw_step(m.params_mem, m.grads_mem, mom, vel, m.num_params, step, ac);
        if (ema) {
            float d = s.ema_decay;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < m.num_params; i++) ema[i] = d * ema[i] + (1.0f - d) * m.params_mem[i];
        }
        acc_loss += l.loss, acc_rec += l.recon, acc_kl += l.kl, nacc++;
        el = progress_now() - t0;
        int do_val = nval > 0 && s.val_interval > 0 && step % s.val_interval == 0;
        double val_mse = NAN;
        if (do_val) {
            if (ema) swap_weights(m.params_mem, ema, m.num_params); /* validate the EMA */
            int r = validate(&m, &ds, val, nval, clip, x, s.batch, &val_mse, &err);
            if (ema) swap_weights(m.params_mem, ema, m.num_params);
            if (r) {
                fprintf(stderr, "\nvdit: %s\n", err.msg);
                free(full);
                goto done;
            }
            last_val = psnr_of(val_mse);
        }
        if (step % s.log_interval == 0 || do_val) {
            sb_printf(&log, "%d,%.6g,%.6g,%.6g,%.4g,%.2f,", step, acc_loss / nacc, acc_rec / nacc, acc_kl / nacc, lr,
                      el);
            if (do_val)
                sb_printf(&log, "%.6g,%.3f\n", val_mse, last_val);
            else
                sb_printf(&log, ",\n");
            int o = snprintf(pextra, sizeof pextra, "loss %.4f recon %.4f kl %.3g lr %.2g", acc_loss / nacc,
                             acc_rec / nacc, acc_kl / nacc, lr);
            if (!isnan(last_val)) snprintf(pextra + o, sizeof pextra - o, " val %.2f dB", last_val);
            acc_loss = acc_rec = acc_kl = 0;
            nacc = 0;
        }
        if (do_val && vdit_write_file_atomic(csv, log.buf, log.len, &err)) { /* the log so far */
            fprintf(stderr, "\nvdit: %s\n", err.msg);
            free(full);
            goto done;
        }
        progress_update(&pb, s.steps ? step : (long)el, pextra);
    }
    free(full);
    double seconds = progress_now() - t0;
    char extra[96];
    snprintf(extra, sizeof extra, "%d steps, %.1f s", step, seconds);
    progress_end(&pb, extra);
    /* from here on the weights are the EMA's (when on); final validation, the
     * scale factor on up to 512 training clips, the checkpoint */
    if (ema) memcpy(m.params_mem, ema, m.num_params * sizeof(float));
    double mse = NAN;
    if (nval > 0) {
        if (validate(&m, &ds, val, nval, clip, x, s.batch, &mse, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        sb_printf(&log, "%d,,,,,%.2f,%.6g,%.3f\n", step, seconds, mse, psnr_of(mse));
    }
    {
        int nfit = ntr * (T / clip) < 512 ? ntr * (T / clip) : 512;
        float *fx = malloc((size_t)nfit * clip * fsz * sizeof(float)), *fv = malloc((size_t)T * fsz * sizeof(float));
        if (!fx || !fv) {
            free(fx), free(fv);
            cli_fail("out of memory");
            goto done;
        }
        for (int k = 0; k < nfit; k++) { /* clip k / ntr of video k % ntr */
            vdit_video_to_float(fv, video_at(&ds, tr[k % ntr]), T, S, S);
            memcpy(fx + (size_t)k * clip * fsz, fv + (size_t)((k / ntr) % (T / clip)) * clip * fsz,
                   (size_t)clip * fsz * sizeof(float));
        }
        int r = vdit_vae_fit_scale(&m, fx, nfit, clip, S, S, &err);
        free(fx), free(fv);
        if (r) {
            cli_fail(err.msg);
            goto done;
        }
    }
    char *tj = settings_json(&s, data, S, step, seconds, nval > 0 ? psnr_of(mse) : 0.0);
    if (vdit_vae_save(&m, m.params_mem, out, tj, &err)) {
        free(tj);
        cli_fail(err.msg);
        goto done;
    }
    free(tj);
    if (vdit_write_file_atomic(csv, log.buf, log.len, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    printf("%s: %d steps in %.1f s; validation PSNR %.2f dB on %d held-out videos; scale factor %.6g; log %s\n", out,
           step, seconds, nval > 0 ? psnr_of(mse) : NAN, nval, m.scale_factor, csv);
    rc = 0;
done:
    vdit_vae_free(&m);
    vdit_dataset_free(&ds);
    free(x), free(mom), free(vel), free(ema), free(order), free(log.buf);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae encode / decode
 * ---------------------------------------------------------------------- */

/* Videos from a dataset (uint8 [N][T][S][S][3]) or an NPY of either that
 * layout or float32 [B][T][3][H][W] in [-1, 1]: as float [B][T][3][H][W]. */
typedef struct {
    int B, T, H, W;
    float *x;
} pixel_videos;

static int load_pixels(const char *data, const char *input, int count, pixel_videos *pv)
{
    memset(pv, 0, sizeof *pv);
    vdit_err err;
    if (data) {
        vdit_dataset ds;
        if (load_data(data, count, &ds)) return -1;
        pv->B = ds.count, pv->T = ds.frames, pv->H = pv->W = ds.size;
        size_t per = (size_t)pv->T * 3 * pv->H * pv->W;
        pv->x = malloc((size_t)pv->B * per * sizeof(float));
        if (!pv->x) {
            vdit_dataset_free(&ds);
            cli_fail("out of memory");
            return -1;
        }
        for (int i = 0; i < pv->B; i++) vdit_video_to_float(pv->x + i * per, video_at(&ds, i), pv->T, pv->H, pv->H);
        vdit_dataset_free(&ds);
        return 0;
    }
    vdit_array a;
    if (vdit_npy_read(input, &a, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    char shape[128];
    vdit_shape_string(shape, sizeof shape, a.ndim, a.shape);
    int ok = a.ndim == 5 && a.shape[0] >= 1 && a.shape[1] >= 1 && a.shape[0] * a.shape[1] <= (1 << 24);
    if (ok && a.dtype == VDIT_DTYPE_U8 && a.shape[4] == 3 && a.shape[2] == a.shape[3] && a.shape[2] <= 4096) {
        pv->B = (int)a.shape[0], pv->T = (int)a.shape[1], pv->H = pv->W = (int)a.shape[2];
        if (count > 0 && count < pv->B) pv->B = count;
        size_t per = (size_t)pv->T * 3 * pv->H * pv->W;
        pv->x = malloc((size_t)pv->B * per * sizeof(float));
        if (pv->x)
            for (int i = 0; i < pv->B; i++)
                vdit_video_to_float(pv->x + i * per, (const uint8_t *)a.data + i * per, pv->T, pv->H, pv->H);
    } else if (ok && a.dtype == VDIT_DTYPE_F32 && a.shape[2] == 3 && a.shape[3] <= 4096 && a.shape[4] <= 4096) {
        pv->B = (int)a.shape[0], pv->T = (int)a.shape[1], pv->H = (int)a.shape[3], pv->W = (int)a.shape[4];
        if (count > 0 && count < pv->B) pv->B = count;
        pv->x = a.data; /* keep the array's buffer */
        a.data = NULL;
    } else {
        fprintf(stderr,
                "vdit: %s: %s %s is not a batch of videos: expected uint8 [N][T][S][S][3] (a dataset's videos) "
                "or float32 [B][T][3][H][W]\n",
                input, vdit_dtype_name(a.dtype), shape);
        vdit_array_free(&a);
        return -1;
    }
    vdit_array_free(&a);
    if (!pv->x) {
        cli_fail("out of memory");
        return -1;
    }
    return 0;
}

/* Videos processed per encoder / decoder call (bounds the activations). */
static int chunk_videos(const vdit_vae *m, int T, int H, int W)
{
    /* ~256 frames of 32x32 per call: every conv's GEMM already has thousands
     * of columns per frame, and the saved activations stay near 1 GB at 64x64 */
    double frames = 256.0 * 32 * 32 / ((double)H * W);
    int n = (int)(frames / T);
    return n < 1 ? 1 : n;
}

static int vae_encode(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--data", "DIR", "encode this dataset's videos", NULL},
        {"--input", "FILE.npy", "or these videos: uint8 [N][T][S][S][3] or float32 [B][T][3][H][W] in [-1,1]", NULL},
        {"--count", "N", "only the first N videos (default all)", NULL},
        {"--out", "FILE.npy", "latents float32 [B][T'][C_lat][H'][W'] (encoder mean x scale factor)", NULL},
    };
    cli_cmd cmd = {"vdit vae encode", "--vae V (--data DIR | --input videos.npy) --out latents.npy",
                   "Encodes videos to the DiT's latents: the encoder's mean times the checkpoint's scale factor.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *out = vae ? cli_required(&cmd, "--out") : NULL;
    const char *data = cli_get(&cmd, "--data"), *input = cli_get(&cmd, "--input");
    int count;
    if (!out || cli_int(&cmd, "--count", 0, 0, 1 << 30, &count)) return 2;
    if (!!data == !!input) {
        cli_usage_error(&cmd, "give exactly one of --data and --input");
        return 2;
    }
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    pixel_videos pv;
    float *z = NULL;
    rc = 1;
    if (load_pixels(data, input, count, &pv)) goto done;
    if (vdit_vae_check_shape(&m, 1, pv.T, pv.H, pv.W, &err)) {
        fprintf(stderr, "vdit: %s: videos of %d frames of %dx%d do not fit %s: %s\n", data ? data : input, pv.T, pv.H,
                pv.W, vae, err.msg);
        goto done;
    }
    const vdit_vae_config *c = &m.cfg;
    int Tl = pv.T / c->temporal, Hl = pv.H / c->downsample, Wl = pv.W / c->downsample;
    size_t zper = (size_t)Tl * c->latent_channels * Hl * Wl, xper = (size_t)pv.T * 3 * pv.H * pv.W;
    z = malloc((size_t)pv.B * zper * sizeof(float));
    if (!z) {
        cli_fail("out of memory");
        goto done;
    }
    int chunk = chunk_videos(&m, pv.T, pv.H, pv.W);
    for (int b = 0; b < pv.B; b += chunk) {
        int n = pv.B - b < chunk ? pv.B - b : chunk;
        if (vdit_vae_encode(&m, pv.x + b * xper, n, pv.T, pv.H, pv.W, z + b * zper, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    int64_t shape[5] = {pv.B, Tl, c->latent_channels, Hl, Wl};
    if (vdit_npy_write_f32(out, z, 5, shape, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    printf("%s: %d videos -> latents [%d,%d,%d,%d,%d] (scale factor %.6g)\n", out, pv.B, pv.B, Tl, c->latent_channels,
           Hl, Wl, m.scale_factor);
    rc = 0;
done:
    free(pv.x);
    free(z);
    vdit_vae_free(&m);
    return rc;
}

static int vae_decode(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--input", "FILE.npy", "latents float32 [B][T'][C_lat][H'][W'] (as vdit vae encode writes them)", NULL},
        {"--out", "FILE.npy", "videos float32 [B][T][3][H][W] in [-1,1]", NULL},
        {"--uint8", NULL, "write uint8 [B][T][H][W][3] instead (the dataset's layout)", NULL},
    };
    cli_cmd cmd = {"vdit vae decode", "--vae V --input latents.npy --out videos.npy",
                   "Decodes latents (divided by the checkpoint's scale factor) to videos, clamped to [-1, 1].", flags,
                   (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *input = vae ? cli_required(&cmd, "--input") : NULL;
    const char *out = input ? cli_required(&cmd, "--out") : NULL;
    if (!out) return 2;
    int u8 = cli_get(&cmd, "--uint8") != NULL;
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    vdit_array a = {0};
    float *x = NULL;
    rc = 1;
    if (vdit_npy_read_f32(input, &a, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    const vdit_vae_config *c = &m.cfg;
    if (a.ndim != 5 || a.shape[2] != c->latent_channels || a.shape[0] < 1 || a.shape[1] < 1 || a.shape[3] < 1 ||
        a.shape[4] < 1 || a.shape[0] * a.shape[1] > (1 << 24) || a.shape[3] * c->downsample > 4096 ||
        a.shape[4] * c->downsample > 4096) {
        char shape[128];
        vdit_shape_string(shape, sizeof shape, a.ndim, a.shape);
        fprintf(stderr, "vdit: %s: shape %s does not fit %s: expected [B][T'][%d][H'][W'] latents\n", input, shape,
                vae, c->latent_channels);
        goto done;
    }
    int B = (int)a.shape[0], Tl = (int)a.shape[1], Hl = (int)a.shape[3], Wl = (int)a.shape[4];
    int T = Tl * c->temporal, H = Hl * c->downsample, W = Wl * c->downsample;
    size_t zper = (size_t)Tl * c->latent_channels * Hl * Wl, xper = (size_t)T * 3 * H * W;
    x = malloc((size_t)B * xper * sizeof(float));
    if (!x) {
        cli_fail("out of memory");
        goto done;
    }
    int chunk = chunk_videos(&m, T, H, W);
    for (int b = 0; b < B; b += chunk) {
        int n = B - b < chunk ? B - b : chunk;
        if (vdit_vae_decode(&m, (const float *)a.data + b * zper, n, Tl, Hl, Wl, x + b * xper, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    if (u8) {
        uint8_t *v = malloc((size_t)B * xper);
        if (!v) {
            cli_fail("out of memory");
            goto done;
        }
        for (int b = 0; b < B; b++) vdit_video_to_u8(v + b * xper, x + b * xper, T, H, H); /* H == W */
        vdit_array o = {VDIT_DTYPE_U8, 5, {B, T, H, W, 3}, v, (size_t)B * xper};
        int r = H == W ? vdit_npy_write(out, &o, &err) : vdit_seterr(&err, "%s: --uint8 needs square frames", out);
        free(v);
        if (r) {
            cli_fail(err.msg);
            goto done;
        }
    } else {
        for (size_t i = 0; i < (size_t)B * xper; i++) x[i] = x[i] < -1.0f ? -1.0f : x[i] > 1.0f ? 1.0f : x[i];
        int64_t shape[5] = {B, T, 3, H, W};
        if (vdit_npy_write_f32(out, x, 5, shape, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    printf("%s: %d videos of %d frames of %dx%d\n", out, B, T, H, W);
    rc = 0;
done:
    vdit_array_free(&a);
    free(x);
    vdit_vae_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae recon
 * ---------------------------------------------------------------------- */

typedef struct {
    double psnr_sum, mse_sum;            /* per-video PSNR (uint8), pixel MSE (0..255) */
    double pos_sum, posx_sum, posy_sum;  /* recon vs tracked truth, world units */
    double sim_rec, sim_true;            /* recon / truth tracks vs the simulator's state */
    long videos, pos_n, sim_n, missing, present;
} recon_stats;

static void stats_json(json_t *o, const char *key, const recon_stats *s)
{
    double nan = NAN;
    json_t *e = json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "videos", (int)s->videos, "psnr",
                          s->videos ? s->psnr_sum / s->videos : nan, "psnr_global",
                          s->videos ? 10.0 * log10(255.0 * 255.0 / (s->mse_sum / s->videos)) : nan, "position_error",
                          s->pos_n ? s->pos_sum / s->pos_n : nan, "position_error_x",
                          s->pos_n ? s->posx_sum / s->pos_n : nan, "position_error_y",
                          s->pos_n ? s->posy_sum / s->pos_n : nan, "recon_vs_state",
                          s->sim_n ? s->sim_rec / s->sim_n : nan, "truth_vs_state",
                          s->sim_n ? s->sim_true / s->sim_n : nan, "missing_rate",
                          s->present ? (double)s->missing / s->present : nan);
    json_object_set_new(o, key, e);
}

static void print_stats(const char *name, const recon_stats *s)
{
    printf("  %-10s %5ld  %7.2f  %7.2f  %9.4f  %9.4f  %9.4f  %7.4f\n", name, s->videos, s->psnr_sum / s->videos,
           10.0 * log10(255.0 * 255.0 / (s->mse_sum / s->videos)), s->pos_n ? s->pos_sum / s->pos_n : NAN,
           s->sim_n ? s->sim_rec / s->sim_n : NAN, s->sim_n ? s->sim_true / s->sim_n : NAN,
           s->present ? (double)s->missing / s->present : NAN);
}

static void add_stats(recon_stats *a, const recon_stats *b)
{
    a->psnr_sum += b->psnr_sum, a->mse_sum += b->mse_sum, a->pos_sum += b->pos_sum, a->posx_sum += b->posx_sum;
    a->posy_sum += b->posy_sum, a->sim_rec += b->sim_rec, a->sim_true += b->sim_true;
    a->videos += b->videos, a->pos_n += b->pos_n, a->sim_n += b->sim_n, a->missing += b->missing;
    a->present += b->present;
}

/* Scores one reconstruction against its truth (both uint8 [T][S][S][3]). */
static void score_video(const uint8_t *truth, const uint8_t *rec, const float *states, int T, int S, float *trk_t,
                        float *trk_r, recon_stats *st)
{
    size_t n = (size_t)T * S * S * 3;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)truth[i] - rec[i];
        se += d * d;
    }
    double mse = se / n;
    st->mse_sum += mse;
    st->psnr_sum += mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : 99.0;
    st->videos++;
    eval_track_video(truth, T, S, trk_t);
    eval_track_video(rec, T, S, trk_r);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < EVAL_NOBJ; o++) {
            const float *a = trk_t + (t * EVAL_NOBJ + o) * 3, *b = trk_r + (t * EVAL_NOBJ + o) * 3;
            if (isnan(a[0])) continue;
            st->present++;
            if (isnan(b[0])) {
                st->missing++;
                continue;
            }
            double dx = fabs(a[0] - b[0]), dy = fabs(a[1] - b[1]);
            st->pos_sum += sqrt(dx * dx + dy * dy), st->posx_sum += dx, st->posy_sum += dy;
            st->pos_n++;
            if (states) {
                const float *q = states + (t * 2 + o) * 5; /* x, y, vx, vy, r; in view: the disc inside the frame */
                if (isnan(q[0]) || q[0] - q[4] < 0 || q[0] + q[4] > EVAL_WORLD || q[1] - q[4] < 0 ||
                    q[1] + q[4] > EVAL_WORLD)
                    continue;
                st->sim_rec += hypot(b[0] - q[0], b[1] - q[1]);
                st->sim_true += hypot(a[0] - q[0], a[1] - q[1]);
                st->sim_n++;
            }
        }
}

static int vae_recon(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--data", "DIR", "videos to reconstruct (held out from training); ID videos only are scored", NULL},
        {"--count", "N", "score the first N ID videos (default all)", NULL},
        {"--out", "FILE.gif", "animated GIF: truth above reconstruction, one column per scenario", NULL},
        {"--columns", "K", "videos shown in the GIF (default 5: the first of each scenario)", NULL},
        {"--json", "FILE", "write the scores as JSON", NULL},
    };
    cli_cmd cmd = {"vdit vae recon", "--vae V --data DIR --out FILE.gif",
                   "Encodes (mean) and decodes the dataset's ID videos and scores the reconstructions as uint8\n"
                   "frames: PSNR (mean per video, and from the pooled MSE), the tracked ball position against the\n"
                   "tracked truth (colour threshold of benchmark.md; world units, mean distance), against the\n"
                   "simulator's state where the ball is in view, and how often a ball goes missing.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *data = vae ? cli_required(&cmd, "--data") : NULL;
    const char *out = data ? cli_required(&cmd, "--out") : NULL, *jpath = cli_get(&cmd, "--json");
    int count, columns;
    if (!out || cli_int(&cmd, "--count", 0, 0, 1 << 30, &count) || cli_int(&cmd, "--columns", 5, 1, 64, &columns))
        return 2;
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    vdit_dataset ds;
    if (load_data(data, 0, &ds)) {
        vdit_vae_free(&m);
        return 1;
    }
    int S = ds.size, T = ds.frames;
    const vdit_vae_config *c = &m.cfg;
    size_t xper = (size_t)T * 3 * S * S, zper = (size_t)(T / c->temporal) * c->latent_channels *
                                                 (S / c->downsample) * (S / c->downsample);
    int chunk = chunk_videos(&m, T, S, S);
    float *x = malloc((size_t)chunk * xper * sizeof(float)), *z = malloc((size_t)chunk * zper * sizeof(float));
    float *y = malloc((size_t)chunk * xper * sizeof(float));
    uint8_t *rec = malloc(xper), *gifv = malloc((size_t)2 * columns * xper);
    float *trk_t = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float)), *trk_r = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float));
    int *idx = malloc((size_t)ds.count * sizeof(int)), *gifcol = malloc((size_t)ds.count * sizeof(int));
    recon_stats per[EVAL_NUM_SCENARIOS], all;
    memset(per, 0, sizeof per);
    memset(&all, 0, sizeof all);
    int shown = 0, shown_scen[EVAL_NUM_SCENARIOS] = {0}, nid = 0;
    rc = 1;
    if (!x || !z || !y || !rec || !gifv || !trk_t || !trk_r || !idx || !gifcol) {
        cli_fail("out of memory");
        goto done;
    }
    if (vdit_vae_check_shape(&m, 1, T, S, S, &err)) {
        fprintf(stderr, "vdit: %s: videos of %d frames of %dx%d do not fit %s: %s\n", data, T, S, S, vae, err.msg);
        goto done;
    }
    for (int i = 0; i < ds.count && (!count || nid < count); i++)
        if (split_of(&ds, i) == 0) idx[nid++] = i;
    if (!nid) {
        fprintf(stderr, "vdit: %s: no ID videos to reconstruct\n", data);
        goto done;
    }
    /* the GIF's columns: the first video of each scenario, then the next videos in order */
    for (int k = 0; k < nid; k++) gifcol[k] = -1;
    for (int k = 0; k < nid && shown < columns; k++)
        if (!shown_scen[label_of(&ds, idx[k])]) shown_scen[label_of(&ds, idx[k])] = 1, gifcol[k] = shown++;
    for (int k = 0; k < nid && shown < columns; k++)
        if (gifcol[k] < 0) gifcol[k] = shown++;
    progress pb;
    progress_start(&pb, "vae recon", nid);
    for (int k0 = 0; k0 < nid; k0 += chunk) {
        int n = nid - k0 < chunk ? nid - k0 : chunk;
        for (int b = 0; b < n; b++) vdit_video_to_float(x + b * xper, video_at(&ds, idx[k0 + b]), T, S, S);
        if (vdit_vae_encode(&m, x, n, T, S, S, z, &err) ||
            vdit_vae_decode(&m, z, n, T / c->temporal, S / c->downsample, S / c->downsample, y, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        for (int b = 0; b < n; b++) {
            int i = idx[k0 + b], lab = label_of(&ds, i), col = gifcol[k0 + b];
            vdit_video_to_u8(rec, y + b * xper, T, S, S);
            score_video(video_at(&ds, i), rec, states_of(&ds, i), T, S, trk_t, trk_r, &per[lab]);
            if (col >= 0) {
                memcpy(gifv + (size_t)col * xper, video_at(&ds, i), xper);
                memcpy(gifv + (size_t)(columns + col) * xper, rec, xper);
            }
        }
        progress_update(&pb, k0 + n, NULL);
    }
    progress_end(&pb, NULL);
    /* the GIF: frame t shows row 0 truth, row 1 reconstruction, one column per video */
    {
        size_t fr = (size_t)S * S * 3;
        uint8_t *grid = malloc((size_t)2 * shown * fr), *frames = NULL;
        int sh = 0, sw = 0, scale = S >= 64 ? 2 : 4;
        if (!grid) {
            cli_fail("out of memory");
            goto done;
        }
        for (int t = 0; t < T; t++) {
            for (int r = 0; r < 2; r++)
                for (int v = 0; v < shown; v++)
                    memcpy(grid + ((size_t)r * shown + v) * fr, gifv + ((size_t)(r * columns + v) * T + t) * fr, fr);
            uint8_t *sheet;
            int oh, ow;
            if (vdit_contact_sheet(&sheet, &oh, &ow, grid, 2, shown, S, S, scale, 2)) {
                free(grid), free(frames);
                cli_fail("contact sheet: bad sizes or out of memory");
                goto done;
            }
            if (!frames) {
                sh = oh, sw = ow;
                frames = malloc((size_t)T * sh * sw * 3);
            }
            if (frames) memcpy(frames + (size_t)t * sh * sw * 3, sheet, (size_t)sh * sw * 3);
            free(sheet);
        }
        free(grid);
        int r = frames ? vdit_gif_write(out, frames, T, sh, sw, 10, &err) : vdit_seterr(&err, "out of memory");
        free(frames);
        if (r) {
            cli_fail(err.msg);
            goto done;
        }
    }
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++) add_stats(&all, &per[k]);
    printf("%s: %d ID videos of %d frames of %dx%d, VAE %s\n", data, nid, T, S, S, vae);
    printf("  %-10s %5s  %7s  %7s  %9s  %9s  %9s  %7s\n", "scenario", "videos", "PSNR", "PSNR*", "pos err", "rec-sim",
           "true-sim", "missing");
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
        if (per[k].videos) print_stats(eval_scenario_names[k], &per[k]);
    print_stats("all", &all);
    printf("  PSNR: mean over videos of uint8 frames; PSNR*: of the pooled MSE. pos err: mean distance (world\n"
           "  units) of the tracked balls, reconstruction vs truth; rec-sim / true-sim: the tracked reconstruction /\n"
           "  truth vs the simulator's state (ball fully in view). GIF: %s\n",
           out);
    if (jpath) {
        json_t *o = json_object(), *sc = json_object();
        json_object_set_new(o, "data", json_string(data));
        json_object_set_new(o, "vae", json_string(vae));
        json_object_set_new(o, "size", json_integer(S));
        stats_json(o, "all", &all);
        for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
            if (per[k].videos) stats_json(sc, eval_scenario_names[k], &per[k]);
        json_object_set_new(o, "scenarios", sc);
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        int r = txt ? vdit_write_file_atomic(jpath, txt, strlen(txt), &err) : vdit_seterr(&err, "out of memory");
        free(txt);
        if (r) {
            cli_fail(err.msg);
            goto done;
        }
    }
    rc = 0;
done:
    free(x), free(z), free(y), free(rec), free(gifv), free(trk_t), free(trk_r), free(idx), free(gifcol);
    vdit_dataset_free(&ds);
    vdit_vae_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit bench vae
 * ---------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median ms of `reps` calls of a kernel (after one warm-up call). */
#define TIME_MS(reps, out, call)                                                                                     \
    do {                                                                                                             \
        double t_[64];                                                                                               \
        int r_ = (reps) > 64 ? 64 : (reps);                                                                          \
        call;                                                                                                        \
        for (int i_ = 0; i_ < r_; i_++) {                                                                            \
            double a_ = progress_now();                                                                              \
            call;                                                                                                    \
            t_[i_] = 1e3 * (progress_now() - a_);                                                                    \
        }                                                                                                            \
        out = median(t_, r_);                                                                                        \
    } while (0)

/* The im2col + BLAS kernels against their plain loops on one layer of the
 * default VAE (a 3x3 conv of 32 channels on 32x32 frames), and GroupNorm. */
static void bench_kernels(int N, int S, int reps)
{
    vdit_conv2d_shape s = {N, 32, S, S, 32, 3, 3, 1, 1};
    size_t n = (size_t)N * 32 * S * S, nw = 32 * 32 * 9;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *dx = calloc(n, sizeof(float)), *w = malloc(nw * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float b[32] = {0}, db[32] = {0}, gm[32], bt[32] = {0}, mean[8 * 4096], rstd[8 * 4096];
    size_t nwork = vdit_conv2d_scratch(s), ngn = vdit_groupnorm_scratch(N, 32);
    float *work = malloc((nwork > ngn ? nwork : ngn) * sizeof(float)); /* the layers' scratch */
    if (!x || !y || !g || !dx || !w || !dw || !work || N > 4096) {
        free(x), free(y), free(g), free(dx), free(w), free(dw), free(work);
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = vdit_rng_at(1, i) % 1000 / 500.0f - 1.0f, g[i] = x[(i * 7) % n];
    for (size_t i = 0; i < nw; i++) w[i] = (vdit_rng_at(2, i) % 1000 / 500.0f - 1.0f) * 0.06f;
    for (int i = 0; i < 32; i++) gm[i] = 1.0f;
    double fast, ref, fl = 2.0 * N * S * S * 32 * 32 * 9;
    printf("kernels on %d frames of %dx%d, 32 channels (median of %d):\n", N, S, S, reps);
    TIME_MS(reps, fast, vdit_conv2d_forward(y, x, w, b, s, work));
    TIME_MS(1, ref, vdit_conv2d_forward_ref(y, x, w, b, s));
    printf("  conv2d 3x3 forward   im2col+sgemm %8.2f ms (%6.1f GFLOP/s)  plain loops %9.2f ms  x%.0f\n", fast,
           fl / fast / 1e6, ref, ref / fast);
    TIME_MS(reps, fast, vdit_conv2d_backward(dx, dw, db, g, x, w, s, work));
    TIME_MS(1, ref, vdit_conv2d_backward_ref(dx, dw, db, g, x, w, s));
    printf("  conv2d 3x3 backward  im2col+sgemm %8.2f ms (%6.1f GFLOP/s)  plain loops %9.2f ms  x%.0f\n", fast,
           2 * fl / fast / 1e6, ref, ref / fast);
    TIME_MS(reps, fast, vdit_groupnorm_forward(y, mean, rstd, x, gm, bt, N, 32, S * S, 8));
    TIME_MS(reps, ref, vdit_groupnorm_forward_ref(y, mean, rstd, x, gm, bt, N, 32, S * S, 8));
    printf("  groupnorm forward    OpenMP       %8.3f ms                    plain loops %9.3f ms  x%.1f\n", fast, ref,
           ref / fast);
    TIME_MS(reps, fast, vdit_groupnorm_backward(dx, gm, bt, g, x, mean, rstd, gm, N, 32, S * S, 8, work));
    TIME_MS(reps, ref, vdit_groupnorm_backward_ref(dx, gm, bt, g, x, mean, rstd, gm, N, 32, S * S, 8));
    printf("  groupnorm backward   OpenMP       %8.3f ms                    plain loops %9.3f ms  x%.1f\n", fast, ref,
           ref / fast);
    free(x), free(y), free(g), free(dx), free(w), free(dw), free(work);
}

int cmd_bench_vae(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", "FILE.ini", "take [model] (and [train] batch, clip_frames) from a vdit vae train config", NULL},
        {"--size", "S", "frame size (default 32)", NULL},
        {"--batch", "B", "clips per step (default: the config's, else 32)", NULL},
        {"--steps", "N", "timed steps after one warm-up step (default 5)", NULL},
        {"--threads", "K", "OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS)", NULL},
        {"--kernels", NULL, "also time conv2d and GroupNorm against their plain loops", NULL},
        {"--json", NULL, "print one JSON object", NULL},
    };
    cli_cmd cmd = {"vdit bench vae", "[--config FILE.ini] [options]",
                   "Times the VAE's training step (forward, backward, AdamW) and its encoder and decoder on\n"
                   "synthetic frames; FLOPs counted analytically (convs only; a training step = 3 x forward).",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    vae_settings st;
    const char *cfgpath = cli_get(&cmd, "--config");
    if (cfgpath) {
        if (settings_load(&st, cfgpath)) return 1;
    } else {
        settings_default(&st);
        st.clip_frames = 1;
    }
    int S, B, steps, threads;
    if (cli_int(&cmd, "--size", 32, 8, 1024, &S) || cli_int(&cmd, "--batch", st.batch, 1, 4096, &B) ||
        cli_int(&cmd, "--steps", 5, 1, 64, &steps) || cli_int(&cmd, "--threads", 0, 0, 1024, &threads))
        return 2;
#ifdef _OPENMP
    if (threads) omp_set_num_threads(threads);
#endif
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_create(&m, &st.model, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    int T = st.clip_frames;
    if (vdit_vae_check_shape(&m, B, T, S, S, &err)) {
        cli_usage_error(&cmd, "%s", err.msg);
        vdit_vae_free(&m);
        return 2;
    }
    vdit_vae_init_weights(&m, 1);
    size_t nx = (size_t)B * T * 3 * S * S, nz = (size_t)B * (T / m.cfg.temporal) * m.cfg.latent_channels *
                                                (S / m.cfg.downsample) * (S / m.cfg.downsample);
    float *x = malloc(nx * sizeof(float)), *z = malloc(nz * sizeof(float)), *y = malloc(nx * sizeof(float));
    float *mom = calloc(m.num_params, sizeof(float)), *vel = calloc(m.num_params, sizeof(float));
    double ms[64], enc_ms[64], dec_ms[64];
    rc = 1;
    if (!x || !z || !y || !mom || !vel) {
        cli_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++) x[i] = (float)(vdit_rng_at(9, i) % 2001) / 1000.0f - 1.0f;
    vdit_adamw_config ac = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f};
    for (int k = 0; k <= steps; k++) {
        vdit_vae_loss_config lc = {(vdit_recon_loss)st.recon, st.kl_weight, 1, (uint64_t)k};
        vdit_vae_losses l;
        double t0 = progress_now();
        if (vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err) || vdit_vae_backward(&m, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        vdit_adamw_step(m.params_mem, m.grads_mem, mom, vel, m.num_params, k + 1, ac);
        vdit_vae_zero_grad(&m);
        double t1 = progress_now();
        if (vdit_vae_encode(&m, x, B, T, S, S, z, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        double t2 = progress_now();
        if (vdit_vae_decode(&m, z, B, T / m.cfg.temporal, S / m.cfg.downsample, S / m.cfg.downsample, y, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        double t3 = progress_now();
        if (k) ms[k - 1] = 1e3 * (t1 - t0), enc_ms[k - 1] = 1e3 * (t2 - t1), dec_ms[k - 1] = 1e3 * (t3 - t2);
    }
    double fe, fd, f = vdit_vae_flops(&m.cfg, T, S, S, &fe, &fd) * B;
    fe *= B, fd *= B;
    double med = median(ms, steps), me = median(enc_ms, steps), md = median(dec_ms, steps);
    double frames = (double)B * T;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (cli_get(&cmd, "--json"))
        printf("{\"size\": %d, \"frames_per_step\": %.0f, \"ms_per_step\": %.3f, \"frames_per_s\": %.2f, "
               "\"gflops\": %.3f, \"encode_ms_per_frame\": %.4f, \"decode_ms_per_frame\": %.4f, \"params\": %zu, "
               "\"peak_rss_mb\": %.1f}\n",
               S, frames, med, frames / (med * 1e-3), 3 * f / (med * 1e-3) / 1e9, me / frames, md / frames,
               m.num_params, ru.ru_maxrss / 1024.0);
    else {
        printf("vdit bench vae: %zu parameters, %.0f frames of %dx%d per step (%d x %d), %.3f GFLOP forward per frame\n",
               m.num_params, frames, S, S, B, T, f / frames / 1e9);
        printf("  training step  median %8.2f ms over %d steps: %7.1f frames/s, %6.1f GFLOP/s\n", med, steps,
               frames / (med * 1e-3), 3 * f / (med * 1e-3) / 1e9);
        printf("  encode         median %8.3f ms per frame, %6.1f GFLOP/s\n", me / frames, fe / (me * 1e-3) / 1e9);
        printf("  decode         median %8.3f ms per frame, %6.1f GFLOP/s\n", md / frames, fd / (md * 1e-3) / 1e9);
        printf("  peak RSS %.1f MB\n", ru.ru_maxrss / 1024.0);
    }
    if (cli_get(&cmd, "--kernels")) bench_kernels(8, 32, steps);
    rc = 0;
done:
    free(x), free(z), free(y), free(mom), free(vel);
    vdit_vae_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae
 * ---------------------------------------------------------------------- */

int cmd_vae(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "train")) return vae_train(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "encode")) return vae_encode(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "decode")) return vae_decode(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "recon")) return vae_recon(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h")) {
        fprintf(stderr, "vdit vae: unknown subcommand '%s' (see 'vdit vae --help')\n", argv[0]);
        return 2;
    }
    printf("usage: vdit vae train|encode|decode|recon [options]   (each takes --help)\n"
           "  train   train the video VAE on a dataset (INI config), write the checkpoint and a loss log\n"
           "  encode  videos -> the DiT's latents (mean x scale factor)\n"
           "  decode  latents -> videos\n"
           "  recon   reconstruct a dataset's ID videos: GIF, PSNR and tracked positions\n");
    return argc >= 1 ? 0 : 2;
}
