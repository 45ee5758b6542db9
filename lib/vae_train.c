/* vae_train.c - the training of the video VAE: held-out videos, the batch
 * of clips, forward, backward, clip, AdamW, EMA (optim.c), validation, the
 * loss log, the scale factor; and the training state on disk.
 *
 * Steps are counted from 1 inside a step (step s draws from (seed, s)), as
 * the VAE has always done; tr->step counts the steps taken. Clip b of step
 * s comes from vdit_rng_at(seed, s * 65536 + b), the KL noise from
 * vdit_rng_at(seed, s): nothing but the step count, the optimiser's buffers
 * and the log need saving to resume bit for bit.
 */
#include "vdit.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vdit_vae_train_config_default(vdit_vae_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->recon = VDIT_RECON_L1;
    c->kl_weight = VDIT_VAE_KL_WEIGHT;
    c->lr = 1e-3f;
    c->min_lr = 5e-5f;
    c->warmup = 100;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->grad_clip = 1.0f;
    c->batch = 4; /* small batches, many updates: 39.2 dB at 32x32 after 2400 steps of 4 where 300 of 32 give 22.3 */
    c->steps = 2400;
    c->seed = 1;
    c->val_split = 0.05f;
    c->log_interval = 10;
    c->val_interval = 500;
}

int vdit_vae_train_config_check(const vdit_vae_train_config *c, const vdit_vae_config *mc, vdit_err *err)
{
    if (c->steps < 0 || !(c->minutes >= 0))
        return vdit_seterr(err, "[train] steps and minutes must not be negative");
    if (!c->steps && !(c->minutes > 0))
        return vdit_seterr(err, "[train] needs steps or minutes (or both) greater than 0");
    if (!(c->lr > 0) || !(c->min_lr >= 0)) return vdit_seterr(err, "[train] needs lr > 0 and min_lr >= 0");
    if (c->min_lr > c->lr) return vdit_seterr(err, "[train] min_lr %g is above lr %g", c->min_lr, c->lr);
    if (c->warmup < 0 || c->batch < 1 || c->log_interval < 1 || c->val_interval < 0)
        return vdit_seterr(err, "[train] needs warmup >= 0, batch >= 1, log_interval >= 1 and val_interval >= 0");
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return vdit_seterr(err, "[train] AdamW needs 0 <= beta1, beta2 < 1");
    if (!(c->weight_decay >= 0) || !(c->grad_clip >= 0) || !(c->kl_weight >= 0))
        return vdit_seterr(err, "[train] weight_decay, grad_clip and kl_weight must not be negative");
    if (!(c->ema_decay >= 0 && c->ema_decay < 1))
        return vdit_seterr(err, "[train] ema_decay %g not in [0, 1)", c->ema_decay);
    if (!(c->val_split >= 0 && c->val_split <= 0.5))
        return vdit_seterr(err, "[train] val_split %g not in [0, 0.5]", c->val_split);
    if (c->recon != VDIT_RECON_L1 && c->recon != VDIT_RECON_MSE)
        return vdit_seterr(err, "[loss] recon must be l1 or mse");
    if (c->clip_frames < 1 || c->clip_frames % mc->temporal)
        return vdit_seterr(err, "[train] clip_frames %d is not divisible by [model] temporal %d", c->clip_frames,
                           mc->temporal);
    return 0;
}

double vdit_psnr_pm1(double mse) { return mse > 0 ? 10.0 * log10(4.0 / mse) : 99.0; }

/* ------------------------------------------------------------------------
 * Create / free
 * ---------------------------------------------------------------------- */

static const uint8_t *video_at(const vdit_vae_trainer *tr, int i)
{
    return tr->videos + (size_t)i * tr->T * tr->S * tr->S * 3;
}

int vdit_vae_trainer_create(vdit_vae_trainer *tr, const vdit_vae_config *mc, const vdit_vae_train_config *tc,
                            const uint8_t *videos, int count, int T, int S, vdit_err *err)
{
    memset(tr, 0, sizeof *tr);
    if (vdit_vae_train_config_check(tc, mc, err)) return -1;
    if (count < 1 || T < 1 || S < 1) return vdit_seterr(err, "no videos to train on");
    if (tc->clip_frames > T)
        return vdit_seterr(err, "[train] clip_frames %d is more than the videos' %d frames", tc->clip_frames, T);
    if (vdit_vae_create(&tr->model, mc, err) ||
        vdit_vae_check_shape(&tr->model, tc->batch, tc->clip_frames, S, S, err)) {
        vdit_vae_free(&tr->model);
        return -1;
    }
    vdit_vae_init_weights(&tr->model, tc->seed);
    tr->cfg = *tc;
    tr->videos = videos, tr->count = count, tr->T = T, tr->S = S;
    tr->val_psnr = NAN;
    size_t P = tr->model.num_params, fsz = (size_t)3 * S * S;
    tr->order = malloc((size_t)count * sizeof(int));
    tr->adam_m = calloc((tc->ema_decay > 0 ? 3 : 2) * P, sizeof(float));
    tr->x = malloc(((size_t)tc->batch * tc->clip_frames + T) * fsz * sizeof(float));
    if (!tr->order || !tr->adam_m || !tr->x) {
        vdit_vae_trainer_free(tr);
        return vdit_seterr(err, "out of memory for training");
    }
    tr->adam_v = tr->adam_m + P;
    if (tc->ema_decay > 0) {
        tr->ema = tr->adam_m + 2 * P;
        memcpy(tr->ema, tr->model.params_mem, P * sizeof(float));
    }
    tr->video = tr->x + (size_t)tc->batch * tc->clip_frames * fsz;
    /* a seeded shuffle of the videos: the first nval are held out */
    for (int i = 0; i < count; i++) tr->order[i] = i;
    for (int i = count - 1; i > 0; i--) {
        int j = (int)(vdit_rng_at(tc->seed ^ 0x73706c6974ull, (uint64_t)i) % (uint64_t)(i + 1));
        int t = tr->order[i];
        tr->order[i] = tr->order[j];
        tr->order[j] = t;
    }
    int nval = (int)lround(tc->val_split * count);
    if (tc->val_split > 0 && nval < 1) nval = 1;
    if (nval >= count) nval = count - 1;
    tr->nval = nval, tr->ntr = count - nval;
    vdit_strbuf_printf(&tr->log, "step,loss,recon,kl,lr,time,val_mse,val_psnr\n");
    return 0;
}

void vdit_vae_trainer_free(vdit_vae_trainer *tr)
{
    vdit_vae_free(&tr->model);
    free(tr->order), free(tr->adam_m), free(tr->x), free(tr->log.s);
    memset(tr, 0, sizeof *tr);
}

/* ------------------------------------------------------------------------
 * Steps
 * ---------------------------------------------------------------------- */

int vdit_vae_trainer_done(const vdit_vae_trainer *tr, double seconds)
{
    const vdit_vae_train_config *c = &tr->cfg;
    return (c->steps && tr->step >= c->steps) || (c->minutes > 0 && seconds >= c->minutes * 60.0);
}

int vdit_vae_trainer_step(vdit_vae_trainer *tr, double seconds, vdit_vae_losses *out, vdit_err *err)
{
    const vdit_vae_train_config *c = &tr->cfg;
    vdit_vae *m = &tr->model;
    int S = tr->S, T = tr->T, clip = c->clip_frames, step = tr->step + 1;
    size_t fsz = (size_t)3 * S * S, P = m->num_params;
    /* the batch: clip b of step `step` from a seeded (video, start) pair */
    for (int b = 0; b < c->batch; b++) {
        uint64_t h = vdit_rng_at(c->seed, (uint64_t)step * 65536 + b);
        int v = tr->order[tr->nval + (int)(h % (uint64_t)tr->ntr)];
        int starts = (T - clip) / m->cfg.temporal + 1;
        int t = (int)((h >> 32) % (uint64_t)starts) * m->cfg.temporal;
        vdit_video_to_float(tr->x + (size_t)b * clip * fsz, video_at(tr, v) + (size_t)t * S * S * 3, clip, S, S);
    }
    vdit_vae_loss_config lc = {c->recon, c->kl_weight, 1, vdit_rng_at(c->seed, (uint64_t)step)};
    vdit_vae_losses l;
    if (vdit_vae_forward(m, tr->x, c->batch, clip, S, S, lc, &l, err)) return -1;
    if (!isfinite(l.loss))
        return vdit_seterr(err, "training diverged at step %d (loss %g); lower [train] lr", step, l.loss);
    vdit_vae_zero_grad(m);
    if (vdit_vae_backward(m, err)) return -1;
    if (c->grad_clip > 0) vdit_grad_clip(m->grads_mem, P, vdit_grad_norm(m->grads_mem, P), c->grad_clip);
    double time_frac = c->minutes > 0 ? seconds / (c->minutes * 60.0) : 0.0;
    vdit_lr_schedule sch = {c->lr, c->min_lr, c->warmup, c->steps, VDIT_LR_VAE};
    tr->lr = vdit_lr_schedule_at(&sch, tr->step, time_frac);
    vdit_adamw_config ac = {(float)tr->lr, c->beta1, c->beta2, 1e-8f, c->weight_decay};
    vdit_adamw_step(m->params_mem, m->grads_mem, tr->adam_m, tr->adam_v, P, step, ac);
    if (tr->ema) vdit_ema_update(tr->ema, m->params_mem, P, c->ema_decay);
    tr->acc_loss += l.loss, tr->acc_recon += l.recon, tr->acc_kl += l.kl, tr->nacc++;
    tr->step = step;
    tr->seconds = seconds;
    if (out) *out = l;
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

/* Reconstruction MSE of the model's current weights over the held-out clips. */
static int validate_weights(vdit_vae_trainer *tr, double *mse, vdit_err *err)
{
    const vdit_vae_train_config *c = &tr->cfg;
    int S = tr->S, T = tr->T, clip = c->clip_frames, per = T / clip, nval = tr->nval;
    size_t fsz = (size_t)3 * S * S;
    double sum = 0.0;
    long n = 0;
    vdit_vae_loss_config lc = {VDIT_RECON_MSE, 0.0f, 0, 0};
    int total = nval * per; /* every clip of every validation video, at most 512 */
    if (total > 512) total = 512;
    for (int i0 = 0; i0 < total; i0 += c->batch) {
        int B = total - i0 < c->batch ? total - i0 : c->batch;
        for (int b = 0; b < B; b++) {
            int k = i0 + b, v = tr->order[k % nval], ci = (k / nval) % per;
            vdit_video_to_float(tr->video, video_at(tr, v), T, S, S);
            memcpy(tr->x + (size_t)b * clip * fsz, tr->video + (size_t)ci * clip * fsz,
                   (size_t)clip * fsz * sizeof(float));
        }
        vdit_vae_losses l;
        if (vdit_vae_forward(&tr->model, tr->x, B, clip, S, S, lc, &l, err)) return -1;
        sum += l.recon * B;
        n += B;
    }
    *mse = sum / (double)n;
    return 0;
}

int vdit_vae_trainer_validate(vdit_vae_trainer *tr, double *mse, vdit_err *err)
{
    *mse = NAN;
    if (tr->nval < 1) return 0;
    size_t P = tr->model.num_params;
    if (tr->ema) swap_weights(tr->model.params_mem, tr->ema, P); /* validate the EMA */
    int r = validate_weights(tr, mse, err);
    if (tr->ema) swap_weights(tr->model.params_mem, tr->ema, P);
    return r;
}

int vdit_vae_trainer_log(vdit_vae_trainer *tr, double seconds, vdit_err *err)
{
    const vdit_vae_train_config *c = &tr->cfg;
    int do_val = tr->nval > 0 && c->val_interval > 0 && tr->step % c->val_interval == 0;
    double val_mse = NAN;
    if (do_val) {
        if (vdit_vae_trainer_validate(tr, &val_mse, err)) return -1;
        tr->val_psnr = vdit_psnr_pm1(val_mse);
    }
    if (tr->step % c->log_interval == 0 || do_val) {
        tr->row_loss = tr->acc_loss / tr->nacc, tr->row_recon = tr->acc_recon / tr->nacc;
        tr->row_kl = tr->acc_kl / tr->nacc;
        vdit_strbuf_printf(&tr->log, "%d,%.6g,%.6g,%.6g,%.4g,%.2f,", tr->step, tr->row_loss, tr->row_recon, tr->row_kl,
                       tr->lr, seconds);
        if (do_val)
            vdit_strbuf_printf(&tr->log, "%.6g,%.3f\n", val_mse, tr->val_psnr);
        else
            vdit_strbuf_printf(&tr->log, ",\n");
        tr->acc_loss = tr->acc_recon = tr->acc_kl = 0;
        tr->nacc = 0;
    }
    if (tr->log.oom) return vdit_seterr(err, "out of memory for the log");
    return do_val;
}

int vdit_vae_trainer_finish(vdit_vae_trainer *tr, double seconds, double *mse, vdit_err *err)
{
    const vdit_vae_train_config *c = &tr->cfg;
    vdit_vae *m = &tr->model;
    int S = tr->S, T = tr->T, clip = c->clip_frames, ntr = tr->ntr;
    size_t fsz = (size_t)3 * S * S;
    /* from here on the weights are the EMA's (when on) */
    if (tr->ema) {
        memcpy(m->params_mem, tr->ema, m->num_params * sizeof(float));
        tr->ema = NULL;
    }
    tr->seconds = seconds;
    *mse = NAN;
    if (tr->nval > 0) {
        if (validate_weights(tr, mse, err)) return -1;
        vdit_strbuf_printf(&tr->log, "%d,,,,,%.2f,%.6g,%.3f\n", tr->step, seconds, *mse, vdit_psnr_pm1(*mse));
    }
    /* the scale factor on up to 512 training clips: clip k / ntr of video k % ntr */
    int nfit = ntr * (T / clip) < 512 ? ntr * (T / clip) : 512;
    float *fx = malloc((size_t)nfit * clip * fsz * sizeof(float));
    if (!fx) return vdit_seterr(err, "out of memory");
    for (int k = 0; k < nfit; k++) {
        vdit_video_to_float(tr->video, video_at(tr, tr->order[tr->nval + k % ntr]), T, S, S);
        memcpy(fx + (size_t)k * clip * fsz, tr->video + (size_t)((k / ntr) % (T / clip)) * clip * fsz,
               (size_t)clip * fsz * sizeof(float));
    }
    int r = vdit_vae_fit_scale(m, fx, nfit, clip, S, S, err);
    free(fx);
    if (!r && tr->log.oom) return vdit_seterr(err, "out of memory for the log");
    return r;
}

/* ------------------------------------------------------------------------
 * State on disk: the VAE's names under the four prefixes of optim.c, the
 * rest in the metadata
 * ---------------------------------------------------------------------- */

/* The settings and videos a state belongs to, as JSON: a resumed run must
 * match them exactly (malloc'ed). */
static char *run_json(const vdit_vae_trainer *tr)
{
    const vdit_vae_train_config *c = &tr->cfg;
    json_t *o = json_pack("{s:i, s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:I, s:f, s:i, "
                          "s:i, s:i, s:i, s:i}",
                          "recon", (int)c->recon, "kl_weight", (double)c->kl_weight, "lr", (double)c->lr, "min_lr",
                          (double)c->min_lr, "warmup", c->warmup, "weight_decay", (double)c->weight_decay, "beta1",
                          (double)c->beta1, "beta2", (double)c->beta2, "grad_clip", (double)c->grad_clip,
                          "ema_decay", (double)c->ema_decay, "batch", c->batch, "clip_frames", c->clip_frames,
                          "steps", c->steps, "minutes", (double)c->minutes, "seed", (json_int_t)c->seed, "val_split",
                          (double)c->val_split, "log_interval", c->log_interval, "val_interval", c->val_interval,
                          "videos", tr->count, "frames", tr->T, "size", tr->S);
    if (!o) return NULL;
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return t;
}

static void state_mem(const vdit_vae_trainer *tr, float *mem[VDIT_STATE_PARTS])
{
    mem[0] = tr->model.params_mem, mem[1] = tr->ema, mem[2] = tr->adam_m, mem[3] = tr->adam_v;
}

/* The doubles the log needs, exactly ("%.17g" reads back to the same bits). */
enum { NUMS = 8 };
static const char *const NUM_KEY[NUMS] = {"seconds",  "acc_loss",  "acc_recon", "acc_kl",
                                          "row_loss", "row_recon", "row_kl",    "val_psnr"};

static double *num_at(vdit_vae_trainer *tr, int k)
{
    double *p[NUMS] = {&tr->seconds,  &tr->acc_loss,  &tr->acc_recon, &tr->acc_kl,
                       &tr->row_loss, &tr->row_recon, &tr->row_kl,    &tr->val_psnr};
    return p[k];
}

int vdit_vae_trainer_save_state(const vdit_vae_trainer *tr, const char *path, vdit_err *err)
{
    int n = vdit_vae_param_table(&tr->model, NULL, 0);
    vdit_param_info *info = malloc((size_t)n * sizeof *info);
    char *model = vdit_vae_config_to_json(&tr->model.cfg), *run = run_json(tr);
    int rc = -1;
    if (!info || !model || !run || tr->log.oom) {
        vdit_seterr(err, "%s: out of memory", path);
    } else {
        vdit_vae_param_table(&tr->model, info, n);
        float *mem[VDIT_STATE_PARTS];
        state_mem(tr, mem);
        char nums[NUMS + 2][32];
        const char *keys[NUMS + 6] = {"format", "config", "train", "log", "step", "nacc"};
        const char *vals[NUMS + 6] = {"vdit-vae-train-state", model, run, tr->log.s, nums[0], nums[1]};
        snprintf(nums[0], sizeof nums[0], "%d", tr->step);
        snprintf(nums[1], sizeof nums[1], "%d", tr->nacc);
        for (int k = 0; k < NUMS; k++) {
            snprintf(nums[k + 2], sizeof nums[k + 2], "%.17g", *num_at((vdit_vae_trainer *)tr, k));
            keys[k + 6] = NUM_KEY[k], vals[k + 6] = nums[k + 2];
        }
        rc = vdit_state_write(path, info, n, (const float *const *)mem, keys, vals, NUMS + 6, err);
    }
    free(info), free(model), free(run);
    return rc;
}

/* A whole number in 0..max from the metadata, or -1. */
static long meta_count(const vdit_st_file *f, const char *key, long max)
{
    const char *v = vdit_st_meta(f, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : -1;
    return v && end != v && !*end && x >= 0 && x <= max ? x : -1;
}

/* Checks the metadata against this trainer and reads the numbers into nums. */
static int check_meta(const vdit_vae_trainer *tr, const vdit_st_file *f, const char *path, double *nums, vdit_err *err)
{
    const char *format = vdit_st_meta(f, "format"), *model = vdit_st_meta(f, "config"),
               *run = vdit_st_meta(f, "train"), *log = vdit_st_meta(f, "log");
    if (!format || strcmp(format, "vdit-vae-train-state") || !model || !run || !log)
        return vdit_seterr(err, "%s: not a vdit VAE training state (no format, config, train or log in the metadata)",
                           path);
    char *want_model = vdit_vae_config_to_json(&tr->model.cfg), *want_run = run_json(tr);
    int same_model = want_model && !strcmp(model, want_model), same_run = want_run && !strcmp(run, want_run);
    if (!same_model || !same_run) {
        const char *what = same_model ? "settings" : "model", *saved = same_model ? run : model;
        const char *now = same_model ? want_run : want_model;
        vdit_seterr(err, "%s: saved for %s %s, but this run's is %s", path, what, saved, now ? now : "?");
    }
    free(want_model), free(want_run);
    if (!same_model || !same_run) return -1;
    if (meta_count(f, "step", 1000000000L) < 0 || meta_count(f, "nacc", 1000000000L) < 0 ||
        strncmp(log, "step,", 5))
        return vdit_seterr(err, "%s: step, nacc or log in the metadata is not what a training state holds", path);
    for (int k = 0; k < NUMS; k++) {
        const char *v = vdit_st_meta(f, NUM_KEY[k]);
        char *end;
        nums[k] = v ? strtod(v, &end) : 0.0;
        if (!v || end == v || *end || (k < NUMS - 1 && !isfinite(nums[k])))
            return vdit_seterr(err, "%s: metadata '%s' is %s, expected a number", path, NUM_KEY[k], v ? v : "absent");
    }
    return 0;
}

int vdit_vae_trainer_load_state(vdit_vae_trainer *tr, const char *path, vdit_err *err)
{
    vdit_st_file f;
    if (vdit_st_read(path, &f, err)) return -1;
    int rc = -1, n = vdit_vae_param_table(&tr->model, NULL, 0);
    vdit_param_info *info = malloc((size_t)n * sizeof *info);
    double nums[NUMS];
    vdit_strbuf log = {0};
    if (!info) {
        vdit_seterr(err, "%s: out of memory", path);
        goto done;
    }
    if (check_meta(tr, &f, path, nums, err)) goto done;
    vdit_strbuf_printf(&log, "%s", vdit_st_meta(&f, "log"));
    if (log.oom) {
        vdit_seterr(err, "%s: out of memory", path);
        goto done;
    }
    vdit_vae_param_table(&tr->model, info, n);
    float *mem[VDIT_STATE_PARTS];
    state_mem(tr, mem);
    if (vdit_state_read(&f, path, info, n, mem, err)) goto done;
    tr->step = (int)meta_count(&f, "step", 1000000000L);
    tr->nacc = (int)meta_count(&f, "nacc", 1000000000L);
    for (int k = 0; k < NUMS; k++) *num_at(tr, k) = nums[k];
    free(tr->log.s);
    tr->log = log;
    log.s = NULL;
    rc = 0;
done:
    free(info), free(log.s);
    vdit_st_free(&f);
    return rc;
}
