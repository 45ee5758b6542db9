/* train.c - the training step of the DiT: draw times, noise and context
 * lengths, forward, masked loss, backward, (all-reduce), clip, AdamW, EMA;
 * and the training state on disk.
 *
 * Every random draw of step s for sample g of the global batch comes from
 * vdit_rng_at(step_seed(s), g * DRAWS + k): nothing depends on how the batch
 * is split across processes or threads, and nothing but the step count
 * needs saving to resume bit for bit.
 */
#include "vdit.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    tr->eps = malloc((4 * n + nin + 2 * (size_t)local_B) * sizeof(float));
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
        for (int t = 0; t < T; t++) tr->known[(size_t)j * T + t] = t < K;
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
        const char *keys[3] = {"config", "format", "step"}, *vals[3] = {cfg, "vdit-train-state", step};
        rc = vdit_state_write(state_path, info, n, (const float *const *)mem, keys, vals, 3, err);
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
