/* train.c - the training step of the DiT: draw times, noise and context
 * lengths, forward, masked loss, backward, (all-reduce), clip, AdamW, EMA;
 * the training state on disk; and the whole run (vdit_train_run): run
 * directory, resume, data order, log, checkpoint cadence.
 *
 * Every random draw of step s for sample g of the global batch comes from
 * vdit_rng_at(step_seed(s), g * DRAWS + k): nothing depends on how the batch
 * is split across processes or threads, and nothing but the step count
 * needs saving to resume bit for bit.
 */
#define _POSIX_C_SOURCE 200809L
#include "vdit.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void vdit_mask_task(uint8_t *known, int T, int K, int task)
{
    for (int t = 0; t < T; t++) {
        int k;
        switch (task) {
        case VDIT_MASK_SUFFIX: k = t >= T - K; break;
        case VDIT_MASK_ENDS: k = t < (K + 1) / 2 || t >= T - K / 2; break;
        case VDIT_MASK_GAP: k = K > 0 && (t < T / 4 || t >= T - T / 4); break;
        default: k = t < K; break;
        }
        known[t] = (uint8_t)k;
    }
}

void vdit_train_config_default(vdit_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 16;
    c->steps = 2000;
    c->warmup = 100;
    c->lr = 3e-4f;
    c->min_lr = 3e-5f;
    c->weight_decay = 0.0f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->adam_eps = 1e-8f;
    c->grad_clip = 1.0f;
    c->ema_decay = 0.999f;
    c->label_dropout = 0.1f;
    c->context_frames = 3;
    c->context_probs[0] = c->context_probs[1] = c->context_probs[2] = 0.1f;
    c->context_probs[3] = 0.7f;
    c->context_noise = 0.0f;
    c->mask_tasks[VDIT_MASK_PREFIX] = 1.0f;
    for (int k = 1; k < VDIT_NMASK_TASKS; k++) c->mask_tasks[k] = 0.0f;
    c->time_sampling = VDIT_TIME_UNIFORM;
    c->seed = 0;
}

int vdit_train_config_check(const vdit_train_config *c, vdit_err *err)
{
    if (c->batch < 1 || c->batch > 1 << 16) return vdit_seterr(err, "batch %d out of range 1..65536", c->batch);
    if (c->steps < 0) return vdit_seterr(err, "steps %d must not be negative", c->steps);
    if (c->warmup < 0) return vdit_seterr(err, "warmup %d must not be negative", c->warmup);
    if (!(c->lr > 0) || !(c->min_lr >= 0) || c->min_lr > c->lr)
        return vdit_seterr(err, "need lr > 0 and 0 <= min_lr <= lr (lr %g, min_lr %g)", c->lr, c->min_lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) || !(c->adam_eps > 0))
        return vdit_seterr(err, "AdamW needs 0 <= beta1, beta2 < 1 and eps > 0");
    if (!(c->weight_decay >= 0) || !(c->grad_clip >= 0))
        return vdit_seterr(err, "weight_decay and grad_clip must not be negative");
    if (!(c->ema_decay >= 0 && c->ema_decay <= 1)) return vdit_seterr(err, "ema_decay %g not in [0, 1]", c->ema_decay);
    if (!(c->label_dropout >= 0 && c->label_dropout <= 1))
        return vdit_seterr(err, "label_dropout %g not in [0, 1]", c->label_dropout);
    if (c->context_frames < 0 || c->context_frames > VDIT_MAX_CONTEXT)
        return vdit_seterr(err, "context_frames %d out of range 0..%d", c->context_frames, VDIT_MAX_CONTEXT);
    double sum = 0;
    for (int k = 0; k <= c->context_frames; k++) {
        if (!(c->context_probs[k] >= 0)) return vdit_seterr(err, "context_probs must not be negative");
        sum += c->context_probs[k];
    }
    if (fabs(sum - 1.0) > 1e-4) return vdit_seterr(err, "context_probs sum to %g, not 1", sum);
    double msum = 0.0;
    for (int k = 0; k < VDIT_NMASK_TASKS; k++) {
        if (!(c->mask_tasks[k] >= 0)) return vdit_seterr(err, "mask_tasks must not be negative");
        msum += c->mask_tasks[k];
    }
    if (fabs(msum - 1.0) > 1e-4) return vdit_seterr(err, "mask_tasks sum to %g, not 1", msum);
    if (!(c->context_noise >= 0) || !isfinite(c->context_noise))
        return vdit_seterr(err, "context_noise %g must be a finite number >= 0", c->context_noise);
    return 0;
}

float vdit_lr_at(const vdit_train_config *c, int step)
{
    vdit_lr_schedule sch = {c->lr, c->min_lr, c->warmup, c->steps, VDIT_LR_DIT};
    return (float)vdit_lr_schedule_at(&sch, step, 0.0);
}

/* ------------------------------------------------------------------------
 * Create / free
 * ---------------------------------------------------------------------- */

static size_t video_numel(const vdit_dit_config *c)
{
    return (size_t)c->grid[0] * c->latent_channels * c->grid[1] * c->grid[2];
}

int vdit_trainer_create(vdit_trainer *tr, const vdit_dit_config *mc, const vdit_train_config *tc, int local_B,
                        vdit_err *err)
{
    memset(tr, 0, sizeof *tr);
    if (vdit_train_config_check(tc, err)) return -1;
    if (tc->context_frames > mc->grid[0])
        return vdit_seterr(err, "context_frames %d exceeds the %d latent frames", tc->context_frames, mc->grid[0]);
    if (local_B < 1 || local_B > tc->batch) return vdit_seterr(err, "local batch %d out of range 1..%d", local_B, tc->batch);
    if (vdit_dit_create(&tr->model, mc, err)) return -1;
    vdit_dit_init_weights(&tr->model, tc->seed);
    vdit_diffusion_init(&tr->diffusion, mc->objective);
    tr->cfg = *tc;
    tr->local_B = local_B;
    size_t P = tr->model.num_params, n = video_numel(mc) * local_B;
    size_t nin = (size_t)local_B * mc->grid[0] * (2 * mc->latent_channels + 1) * mc->grid[1] * mc->grid[2];
    tr->ema = malloc(3 * P * sizeof(float));
    tr->eps = malloc((4 * n + nin + 3 * (size_t)local_B) * sizeof(float));
    tr->labels = malloc(local_B * sizeof(int));
    tr->known = malloc((size_t)local_B * mc->grid[0]);
    if (!tr->ema || !tr->eps || !tr->labels || !tr->known) {
        vdit_trainer_free(tr);
        return vdit_seterr(err, "out of memory for training");
    }
    tr->adam_m = tr->ema + P;
    tr->adam_v = tr->ema + 2 * P;
    memcpy(tr->ema, tr->model.params_mem, P * sizeof(float));
    memset(tr->adam_m, 0, 2 * P * sizeof(float));
    tr->target = tr->eps + n;
    tr->pred = tr->target + n;
    tr->dout = tr->pred + n;
    tr->x_in = tr->dout + n;
    tr->tt = tr->x_in + nin;
    tr->t_model = tr->tt + local_B;
    tr->sigma = tr->t_model + local_B;
    return 0;
}

void vdit_trainer_free(vdit_trainer *tr)
{
    vdit_dit_free(&tr->model);
    free(tr->ema);
    free(tr->eps);
    free(tr->labels);
    free(tr->known);
    memset(tr, 0, sizeof *tr);
}

/* ------------------------------------------------------------------------
 * One step
 * ---------------------------------------------------------------------- */

enum { DRAW_TIME, DRAW_TIME2, DRAW_CONTEXT, DRAW_LABEL, DRAW_NOISE, DRAWS };

static double uniform01(uint64_t seed, uint64_t i) { return (double)(vdit_rng_at(seed, i) >> 11) * (1.0 / 9007199254740992.0); }

int vdit_trainer_step(vdit_trainer *tr, const float *x0, const int *labels, int first, vdit_allreduce reduce,
                      void *reduce_ctx, double *loss_out, double *norm_out, vdit_err *err)
{
    vdit_dit *m = &tr->model;
    const vdit_dit_config *c = &m->cfg;
    const vdit_train_config *tc = &tr->cfg;
    int B = tr->local_B, T = c->grid[0], C = c->latent_channels, H = c->grid[1], W = c->grid[2];
    size_t n = video_numel(c);
    uint64_t step_seed = vdit_rng_at(tc->seed ^ 0x747261696e696e67ull, (uint64_t)tr->step);

    for (int j = 0; j < B; j++) {
        uint64_t g = (uint64_t)(first + j) * DRAWS;
        /* time: eps a step 0..999; flow t uniform or logit-normal(0, 1) */
        double u = uniform01(step_seed, g + DRAW_TIME);
        if (c->objective == VDIT_OBJ_EPS)
            tr->tt[j] = (float)(int)(u * VDIT_DDPM_STEPS);
        else if (tc->time_sampling == VDIT_TIME_LOGIT_NORMAL)
            tr->tt[j] = (float)(1.0 / (1.0 + exp(-vdit_normal_at(step_seed, g + DRAW_TIME2))));
        else
            tr->tt[j] = (float)u;
        /* context length K ~ context_probs; the first K frames are known */
        double r = uniform01(step_seed, g + DRAW_CONTEXT), acc = 0.0;
        int K = tc->context_frames;
        for (int k = 0; k <= tc->context_frames; k++) {
            acc += tc->context_probs[k];
            if (r < acc) {
                K = k;
                break;
            }
        }
        /* which frames: the first K unless other tasks are asked for (their
         * draw from its own stream, so runs without them draw what they drew) */
        int task = VDIT_MASK_PREFIX;
        if (tc->mask_tasks[VDIT_MASK_PREFIX] < 1.0f) {
            double q = uniform01(vdit_rng_at(step_seed, 0x6d61736bull), (uint64_t)(first + j)), at = 0.0;
            for (task = 0; task < VDIT_NMASK_TASKS - 1; task++)
                if (q < (at += tc->mask_tasks[task])) break;
        }
        vdit_mask_task(tr->known + (size_t)j * T, T, K, task);
        /* label dropout to the null label trains the unconditional branch */
        int y = labels ? labels[j] : c->num_classes;
        if (y < 0 || y > c->num_classes)
            return vdit_seterr(err, "label %d of sample %d out of range 0..%d", y, first + j, c->num_classes);
        tr->labels[j] = uniform01(step_seed, g + DRAW_LABEL) < tc->label_dropout ? c->num_classes : y;
        uint64_t noise_seed = vdit_rng_at(step_seed, g + DRAW_NOISE);
        float *e = tr->eps + (size_t)j * n;
        for (size_t i = 0; i < n; i++) e[i] = vdit_normal_at(noise_seed, i);
    }

    vdit_training_batch(&tr->diffusion, tr->x_in, tr->target, tr->t_model, x0, tr->eps, tr->tt, tr->known, B, T, C, H,
                        W);
    if (tc->context_noise > 0) {
        /* its own stream (per sample, from the global index), so runs
         * without it draw exactly what they drew before */
        uint64_t cs = vdit_rng_at(step_seed, 0x63746e6f697365ull);
        for (int j = 0; j < B; j++) tr->sigma[j] = (float)(tc->context_noise * uniform01(cs, (uint64_t)(first + j)));
        vdit_noise_context(tr->x_in, tr->known, tr->sigma, vdit_rng_at(cs, UINT64_MAX), (uint64_t)first, B, T, C, H, W);
    }
    if (vdit_dit_forward(m, tr->x_in, tr->t_model, tr->labels, B, tr->pred, err)) return -1;
    double loss = vdit_masked_mse(tr->dout, tr->pred, tr->target, tr->known, B, tc->batch, T, C, H, W);
    vdit_dit_zero_grad(m);
    if (vdit_dit_backward(m, tr->dout, err)) return -1;

    size_t P = m->num_params;
    if (reduce) { /* sum the shards' gradients and losses: each is already divided by the global batch */
        float l = (float)loss;
        if (reduce(m->grads_mem, P, reduce_ctx) || reduce(&l, 1, reduce_ctx))
            return vdit_seterr(err, "all-reduce of the gradients failed");
        loss = l;
    }
    double norm = vdit_grad_norm(m->grads_mem, P);
    *loss_out = loss;
    *norm_out = norm;
    if (!isfinite(loss) || !isfinite(norm))
        return vdit_seterr(err, "step %d: loss %g, gradient norm %g: not finite; weights left as they were", tr->step + 1,
                           loss, norm);
    vdit_grad_clip(m->grads_mem, P, norm, tc->grad_clip);
    vdit_adamw_config ac = {vdit_lr_at(tc, tr->step), tc->beta1, tc->beta2, tc->adam_eps, tc->weight_decay};
    vdit_adamw_step(m->params_mem, m->grads_mem, tr->adam_m, tr->adam_v, P, tr->step + 1, ac);
    vdit_ema_update(tr->ema, m->params_mem, P, tc->ema_decay);
    tr->step++;
    return 0;
}

/* ------------------------------------------------------------------------
 * State on disk: model.md names under four prefixes in one safetensors file
 * ---------------------------------------------------------------------- */

static void state_mem(const vdit_trainer *tr, float *mem[VDIT_STATE_PARTS])
{
    mem[0] = tr->model.params_mem, mem[1] = tr->ema, mem[2] = tr->adam_m, mem[3] = tr->adam_v;
}

int vdit_trainer_save(const vdit_trainer *tr, const char *model_path, const char *state_path, vdit_err *err)
{
    if (model_path && vdit_dit_save(&tr->model, tr->ema, model_path, err)) return -1;
    if (!state_path) return 0;
    int n = vdit_dit_param_table(&tr->model, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    char *cfg = vdit_dit_config_to_json(&tr->model.cfg);
    int rc = -1;
    if (!info || !cfg) {
        vdit_seterr(err, "%s: out of memory", state_path);
    } else {
        vdit_dit_param_table(&tr->model, info, n);
        float *mem[VDIT_STATE_PARTS];
        state_mem(tr, mem);
        char step[32];
        snprintf(step, sizeof step, "%d", tr->step);
        const char *keys[4] = {"config", "format", "step", "vae_crc32"};
        const char *vals[4] = {cfg, "vdit-train-state", step, tr->model.trained_on.crc32};
        rc = vdit_state_write(state_path, info, n, (const float *const *)mem, keys, vals,
                              tr->model.trained_on.crc32[0] ? 4 : 3, err);
    }
    free(info), free(cfg);
    return rc;
}

int vdit_trainer_load_state(vdit_trainer *tr, const char *state_path, vdit_err *err)
{
    vdit_st_file f;
    if (vdit_st_read(state_path, &f, err)) return -1;
    int rc = -1, n = vdit_dit_param_table(&tr->model, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    const char *format = vdit_st_meta(&f, "format"), *cfgjson = vdit_st_meta(&f, "config"),
               *step = vdit_st_meta(&f, "step");
    vdit_dit_config saved;
    if (!info) {
        vdit_seterr(err, "%s: out of memory", state_path);
        goto done;
    }
    if (!format || strcmp(format, "vdit-train-state") || !cfgjson || !step) {
        vdit_seterr(err, "%s: not a vdit training state (no format, config or step in the metadata)", state_path);
        goto done;
    }
    if (vdit_dit_config_from_json(&saved, cfgjson, state_path, err)) goto done;
    if (memcmp(&saved, &tr->model.cfg, sizeof saved)) {
        char *want = vdit_dit_config_to_json(&tr->model.cfg);
        vdit_seterr(err, "%s: saved for model %s, but this run's model is %s", state_path, cfgjson, want ? want : "?");
        free(want);
        goto done;
    }
    /* the same VAE path (config.ini) may hold another VAE now; states
     * older than the record are taken as they are */
    const char *vae = vdit_st_meta(&f, "vae_crc32"), *now = tr->model.trained_on.crc32;
    if (vae && strcmp(vae, now)) {
        vdit_seterr(err, "%s: saved training on the latents of the VAE with crc32 %s, but this run's VAE %s has %s",
                    state_path, vae, now[0] ? tr->model.trained_on.file : "(none)", now[0] ? now : "none");
        goto done;
    }
    char *end;
    long s = strtol(step, &end, 10);
    if (*end || s < 0 || s > 1000000000L) {
        vdit_seterr(err, "%s: step '%s' is not a step count", state_path, step);
        goto done;
    }
    vdit_dit_param_table(&tr->model, info, n);
    float *mem[VDIT_STATE_PARTS];
    state_mem(tr, mem);
    if (vdit_state_read(&f, state_path, info, n, mem, err)) goto done;
    tr->step = (int)s;
    rc = 0;
done:
    free(info);
    vdit_st_free(&f);
    return rc;
}

/* ------------------------------------------------------------------------
 * The run directory
 *   RUN/config.ini            the caller's settings text
 *   RUN/log.csv               step,loss,lr,grad_norm,time
 *   RUN/model.safetensors     the EMA weights of the last checkpoint
 *   RUN/checkpoints/step-NNNNNNNN.safetensors   full states, the last few kept
 * ---------------------------------------------------------------------- */

#define LOG_HEADER "step,loss,lr,grad_norm,time\n"

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Steps of the states in RUN/checkpoints, ascending. */
static int list_states(const char *run, int *steps, int cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int s;
        char tail[64];
        if (sscanf(e->d_name, "step-%d.%63s", &s, tail) == 2 && !strcmp(tail, "safetensors") && n < cap)
            steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of files */
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            int t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    return n;
}

static int last_state(const char *run)
{
    int steps[1024], n = list_states(run, steps, 1024);
    return n ? steps[n - 1] : 0;
}

/* Removes the temporaries of writes a killed run left unfinished
 * (NAME.tmp.XXXXXX beside checkpoints/step-N.safetensors, model.safetensors,
 * log.csv, config.ini): the files they were for are intact or absent. */
static void remove_stale_temps(const char *run)
{
    const char *dirs[2] = {"", "/checkpoints"};
    for (int k = 0; k < 2; k++) {
        char dir[4096], p[4096 + 256];
        snprintf(dir, sizeof dir, "%s%s", run, dirs[k]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *t = strstr(e->d_name, ".tmp.");
            if (!t || strlen(t) != 11) continue; /* ".tmp." + mkstemp's 6 characters */
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
}

static void state_path(char *buf, size_t cap, const char *run, int step)
{
    snprintf(buf, cap, "%s/checkpoints/step-%08d.safetensors", run, step);
}

/* Keeps log.csv rows up to `step` (a resumed run then appends the same rows
 * an uninterrupted run would have written). */
static int truncate_log(const char *path, int step, vdit_err *err)
{
    void *data;
    size_t size;
    if (vdit_read_file(path, (size_t)1 << 30, &data, &size, err)) return -1;
    char *text = realloc(data, size + 1), *out = malloc(size + 1); /* text terminated for sscanf */
    size_t o = 0;
    if (!text || !out) {
        free(text ? text : data), free(out);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    text[size] = 0;
    for (size_t i = 0; i < size;) {
        size_t j = i;
        while (j < size && text[j] != '\n') j++;
        int s;
        if (i == 0 || (sscanf(text + i, "%d,", &s) == 1 && s <= step)) {
            memcpy(out + o, text + i, j - i);
            o += j - i;
            out[o++] = '\n';
        }
        i = j + 1;
    }
    int rc = vdit_write_file_atomic(path, out, o, err);
    free(out);
    free(text);
    return rc;
}

int vdit_train_run_check(const char *run, int resume, vdit_err *err)
{
    struct stat st;
    int exists = stat(run, &st) == 0;
    if (exists && !resume)
        return vdit_seterr(err, "%s already exists: use --resume to continue it, or another --out", run);
    if (!exists && resume) return vdit_seterr(err, "--resume: %s does not exist", run);
    return 0;
}

/* --resume with other settings: names the first line of config.ini that differs. */
static int config_differs(const char *path, const char *old, size_t oldn, const char *text, vdit_err *err)
{
    const char *o = old, *oe = o + oldn, *t = text, *te = text + strlen(text);
    size_t lo, lt;
    for (;;) {
        const char *on = memchr(o, '\n', (size_t)(oe - o)), *tn = memchr(t, '\n', (size_t)(te - t));
        lo = on ? (size_t)(on - o) : (size_t)(oe - o), lt = tn ? (size_t)(tn - t) : (size_t)(te - t);
        if (lo != lt || memcmp(o, t, lo) || !on || !tn) break;
        o = on + 1, t = tn + 1;
    }
    return vdit_seterr(err, "--resume: %s has '%.*s' where this run has '%.*s' (resume with the same config, data "
                            "and vae)",
                       path, (int)(lo > 200 ? 200 : lo), o, (int)(lt > 200 ? 200 : lt), t);
}

/* The latest state would not load (err says why): appends to err the
 * newest earlier state that loads, and how to resume from it. The corrupt
 * file is the user's to look at, so nothing is moved or deleted here:
 * renamed aside (any name but step-N.safetensors), it is no longer the
 * latest, and --resume takes the earlier one. */
static int offer_earlier_state(vdit_trainer *tr, const char *run, int latest, vdit_err *err)
{
    int steps[1024], n = list_states(run, steps, 1024);
    char sp[4096], bad[4096];
    state_path(bad, sizeof bad, run, latest);
    for (int i = n - 1; i >= 0; i--) {
        if (steps[i] >= latest) continue;
        state_path(sp, sizeof sp, run, steps[i]);
        vdit_err e2;
        if (vdit_trainer_load_state(tr, sp, &e2)) continue; /* tr is discarded: the run stops */
        size_t k = strlen(err->msg);
        snprintf(err->msg + k, sizeof err->msg - k,
                 "; the earlier state %s (step %d) is intact: move this one aside (mv %s %s.corrupt) and "
                 "--resume again to continue from it",
                 sp, steps[i], bad, bad);
        return -1;
    }
    size_t k = strlen(err->msg);
    snprintf(err->msg + k, sizeof err->msg - k, "; no earlier state in %s/checkpoints loads either", run);
    return -1;
}

/* Resumes the run: its config.ini must be o->config_text; the trainer takes
 * the last state (a corrupt one is refused, naming the earlier state that
 * would resume), log.csv is cut back to it. *fresh = 1 when the run was
 * killed before its config.ini was written: it starts afresh. */
static int resume_run(vdit_trainer *tr, const vdit_train_run_options *o, int *fresh, vdit_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", o->run_dir);
    int no_states[1];
    *fresh = access(path, F_OK) != 0 && errno == ENOENT && list_states(o->run_dir, no_states, 1) == 0;
    if (*fresh) {
        if (o->rank == 0) remove_stale_temps(o->run_dir);
        return 0;
    }
    void *old;
    size_t oldn;
    if (vdit_read_file(path, 1 << 20, &old, &oldn, err)) return -1;
    int same = oldn == strlen(o->config_text) && !memcmp(old, o->config_text, oldn);
    if (!same) config_differs(path, old, oldn, o->config_text, err);
    free(old);
    if (!same) return -1;
    int last = last_state(o->run_dir);
    if (last) {
        char sp[4096];
        state_path(sp, sizeof sp, o->run_dir, last);
        if (vdit_trainer_load_state(tr, sp, err)) return offer_earlier_state(tr, o->run_dir, last, err);
    }
    if (o->rank != 0) return 0;
    snprintf(path, sizeof path, "%s/log.csv", o->run_dir);
    if (access(path, F_OK) == 0 && truncate_log(path, tr->step, err)) return -1;
    /* killed between config.ini and log.csv: the header as a fresh run writes it */
    if (access(path, F_OK) != 0 && errno == ENOENT && vdit_write_file_atomic(path, LOG_HEADER, strlen(LOG_HEADER), err))
        return -1;
    remove_stale_temps(o->run_dir);
    return 0;
}

/* A new run: RUN/checkpoints, config.ini and log.csv's header (rank 0). */
static int start_run(const vdit_train_run_options *o, vdit_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoints", o->run_dir);
    errno = 0;
    if (mkdir_p(path)) return vdit_seterr(err, "%s: %s", o->run_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/config.ini", o->run_dir);
    if (vdit_write_file_atomic(path, o->config_text, strlen(o->config_text), err)) {
        vdit_err e = *err;
        return vdit_seterr(err, "%s: %s", o->run_dir, e.msg);
    }
    snprintf(path, sizeof path, "%s/log.csv", o->run_dir);
    return vdit_write_file_atomic(path, LOG_HEADER, strlen(LOG_HEADER), err);
}

/* The state first, then model.safetensors (which never runs ahead of a
 * resumable state); then only the last keep_checkpoints states are kept. */
static int checkpoint(const vdit_trainer *tr, const vdit_train_run_options *o, vdit_err *err)
{
    char sp[4096], mp[4096];
    state_path(sp, sizeof sp, o->run_dir, tr->step);
    snprintf(mp, sizeof mp, "%s/model.safetensors", o->run_dir);
    if (vdit_trainer_save(tr, NULL, sp, err) || vdit_trainer_save(tr, mp, NULL, err)) {
        vdit_err e = *err;
        return vdit_seterr(err, "%s: checkpoint at step %d failed: %s", o->run_dir, tr->step, e.msg);
    }
    int steps[1024], n = list_states(o->run_dir, steps, 1024);
    for (int i = 0; i + o->keep_checkpoints < n; i++) {
        state_path(sp, sizeof sp, o->run_dir, steps[i]);
        unlink(sp);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The training run
 * ---------------------------------------------------------------------- */

/* Index of global sample g in a per-epoch shuffle of N videos (Fisher-Yates
 * from (seed, epoch)); the permutation is cached for the current epoch. */
typedef struct {
    int N;
    uint64_t seed;
    long epoch;
    int *perm;
} shuffle;

static int shuffle_index(shuffle *s, long g)
{
    long epoch = g / s->N;
    if (epoch != s->epoch) {
        for (int i = 0; i < s->N; i++) s->perm[i] = i;
        uint64_t es = vdit_rng_at(s->seed ^ 0x73687566666c65ull, (uint64_t)epoch);
        for (int i = s->N - 1; i > 0; i--) {
            int j = (int)(vdit_rng_at(es, (uint64_t)i) % (uint64_t)(i + 1));
            int t = s->perm[i];
            s->perm[i] = s->perm[j];
            s->perm[j] = t;
        }
        s->epoch = epoch;
    }
    return s->perm[g % s->N];
}

static void report(const vdit_train_run_options *o, vdit_train_event_kind kind, const vdit_trainer *tr, int resumed,
                   double loss, double norm)
{
    vdit_train_event e = {kind, tr->step, resumed, tr->model.num_params, loss, norm};
    if (o->event) o->event(o->event_ctx, &e);
}

int vdit_train_run(const vdit_dit_config *mc, const vdit_train_config *tc, const float *x, const int *labels, int N,
                   const vdit_train_run_options *o, vdit_err *err)
{
    if (N < 1) return vdit_seterr(err, "no videos to train on");
    if (mc->num_classes && !labels) return vdit_seterr(err, "a model of %d classes needs labels", mc->num_classes);
    if (o->nproc < 1 || o->rank < 0 || o->rank >= o->nproc || tc->batch % o->nproc)
        return vdit_seterr(err, "batch %d is not divisible by %d processes", tc->batch, o->nproc);
    if (o->checkpoint_every < 1 || o->keep_checkpoints < 1 || o->log_every < 1)
        return vdit_seterr(err, "checkpoint_every %d, keep_checkpoints %d and log_every %d must be at least 1",
                           o->checkpoint_every, o->keep_checkpoints, o->log_every);
    int local_B = tc->batch / o->nproc, first = o->rank * local_B, resume = o->resume;
    const char *run = o->run_dir;
    vdit_trainer tr = {0};
    shuffle sh = {N, tc->seed, -1, NULL};
    float *x0 = NULL;
    int *y = NULL, rc = -1;
    FILE *log = NULL;
    if (vdit_trainer_create(&tr, mc, tc, local_B, err)) goto done;
    if (o->vae) tr.model.trained_on = *o->vae;
    if (resume) {
        int fresh;
        if (resume_run(&tr, o, &fresh, err)) goto done;
        resume = !fresh;
    }
    if (!resume && o->rank == 0 && start_run(o, err)) goto done;
    char path[4096];
    snprintf(path, sizeof path, "%s/log.csv", run);
    if (o->rank == 0 && !(log = fopen(path, "a"))) {
        vdit_seterr(err, "%s: %s", path, strerror(errno));
        goto done;
    }
    size_t nv = (size_t)mc->grid[0] * mc->latent_channels * mc->grid[1] * mc->grid[2];
    x0 = malloc((size_t)local_B * nv * sizeof(float));
    y = malloc((size_t)local_B * sizeof(int));
    sh.perm = malloc((size_t)N * sizeof(int));
    if (!x0 || !y || !sh.perm) {
        vdit_seterr(err, "out of memory");
        goto done;
    }
    report(o, VDIT_TRAIN_STARTED, &tr, resume, 0, 0);
    double t0 = vdit_seconds(), loss = 0, norm = 0;
    int last_saved = -1; /* step of the last model.safetensors this process wrote */
    while (tr.step < tc->steps) {
        for (int j = 0; j < local_B; j++) {
            long g = (long)tr.step * tc->batch + first + j;
            int idx = shuffle_index(&sh, g);
            memcpy(x0 + (size_t)j * nv, x + (size_t)idx * nv, nv * sizeof(float));
            y[j] = mc->num_classes ? labels[idx] : 0;
        }
        if (vdit_trainer_step(&tr, x0, mc->num_classes ? y : NULL, first, o->reduce, o->reduce_ctx, &loss, &norm,
                              err)) {
            vdit_err e = *err;
            vdit_seterr(err, "%s: training stopped: %s; the last checkpoint (step %d) is intact", run, e.msg,
                        last_state(run));
            goto done;
        }
        if (o->rank != 0) continue;
        if (tr.step % o->log_every == 0 || tr.step == 1 || tr.step == tc->steps) {
            fprintf(log, "%d,%.7g,%.7g,%.7g,%.3f\n", tr.step, loss, vdit_lr_at(tc, tr.step - 1), norm,
                    vdit_seconds() - t0);
            /* a row that cannot be written (disk full, `ulimit -f`) stops the run */
            if (fflush(log) != 0 || ferror(log)) {
                int e = errno, at = last_state(run);
                if (at > 0)
                    vdit_seterr(err, "%s/log.csv: cannot append step %d: %s; the last checkpoint (step %d) is intact",
                                run, tr.step, vdit_strerror(e), at);
                else
                    vdit_seterr(err, "%s/log.csv: cannot append step %d: %s", run, tr.step, vdit_strerror(e));
                goto done;
            }
        }
        report(o, VDIT_TRAIN_STEP, &tr, resume, loss, norm);
        if (tr.step % o->checkpoint_every == 0 || tr.step == tc->steps) {
            if (checkpoint(&tr, o, err)) goto done;
            last_saved = tr.step;
        }
    }
    if (o->rank == 0 && last_saved != tc->steps) {
        /* resumed at the end (killed between the state and the model file): the model from the state */
        snprintf(path, sizeof path, "%s/model.safetensors", run);
        if (vdit_trainer_save(&tr, path, NULL, err)) goto done;
    }
    report(o, VDIT_TRAIN_DONE, &tr, resume, loss, norm);
    rc = 0;
done:
    if (log) fclose(log);
    free(x0), free(y), free(sh.perm);
    vdit_trainer_free(&tr);
    return rc;
}
