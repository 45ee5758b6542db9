/* optim.c - what the DiT trainer (train.c) and the VAE trainer (vae_train.c)
 * share: AdamW, gradient-norm clipping, the EMA of the weights, the learning
 * rate schedule, and the training state on disk.
 */
#include "vdit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW
 * ---------------------------------------------------------------------- */

void vdit_adamw_step(float *params, const float *grads, float *m, float *v, size_t n, int step,
                vdit_adamw_config c)
{
    float bc1 = 1.0f - powf(c.beta1, (float)step);
    float bc2 = 1.0f - powf(c.beta2, (float)step);
#pragma omp parallel for simd schedule(dynamic, 16384)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = c.beta1 * m[i] + (1.0f - c.beta1) * g;
        v[i] = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
        float mhat = m[i] / bc1, vhat = v[i] / bc2;
        params[i] -= c.lr * (mhat / (sqrtf(vhat) + c.eps) + c.weight_decay * params[i]);
    }
}

/* ------------------------------------------------------------------------
 * Clipping and EMA
 * ---------------------------------------------------------------------- */

double vdit_grad_norm(const float *grads, size_t n)
{
    double ss = 0.0; /* one thread, in order: the same bits for any thread count */
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    return sqrt(ss);
}

void vdit_grad_clip(float *grads, size_t n, double norm, float max_norm)
{
    if (!(max_norm > 0) || !(norm > max_norm)) return;
    float s = (float)(max_norm / norm);
    for (size_t i = 0; i < n; i++) grads[i] *= s;
}

void vdit_ema_update(float *ema, const float *w, size_t n, float decay)
{
#pragma omp parallel for simd schedule(dynamic, 16384)
    for (size_t i = 0; i < n; i++) ema[i] = decay * ema[i] + (1.0f - decay) * w[i];
}

/* ------------------------------------------------------------------------
 * Learning rate: linear warm-up, then half a cosine down to min_lr
 * ---------------------------------------------------------------------- */

double vdit_lr_schedule_at(const vdit_lr_schedule *s, int step, double time_frac)
{
    if (s->convention == VDIT_LR_DIT) {
        if (step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup; /* in float */
        int decay = s->steps - s->warmup;
        if (decay <= 1) return s->lr;
        double p = (double)(step - s->warmup) / (decay - 1);
        if (p > 1) p = 1;
        return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * p)));
    }
    /* VDIT_LR_VAE */
    if (step < s->warmup) return s->lr * (double)(step + 1) / s->warmup; /* in double */
    double p = s->steps ? (double)step / s->steps : 0.0;
    if (time_frac > p) p = time_frac;
    if (p > 1.0) p = 1.0;
    return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * p));
}

/* ------------------------------------------------------------------------
 * Training state on disk: the parameter table's names under four prefixes
 * ---------------------------------------------------------------------- */

static const char *const STATE_PREFIX[VDIT_STATE_PARTS] = {"weights.", "ema.", "adam_m.", "adam_v."};

enum { STATE_NAME = 112 };

int vdit_state_write(const char *path, const vdit_param_info *info, int n, const float *const mem[VDIT_STATE_PARTS],
                     const char *const *keys, const char *const *vals, int nmeta, vdit_err *err)
{
    vdit_st_tensor *t = malloc(VDIT_STATE_PARTS * (size_t)n * sizeof *t);
    char *names = malloc(VDIT_STATE_PARTS * (size_t)n * STATE_NAME);
    int nt = 0, rc = -1;
    if (!t || !names) {
        vdit_seterr(err, "%s: out of memory", path);
        goto done;
    }
    for (int k = 0; k < VDIT_STATE_PARTS; k++)
        for (int i = 0; mem[k] && i < n; i++, nt++) {
            vdit_st_tensor *e = &t[nt];
            e->name = names + (size_t)nt * STATE_NAME;
            snprintf(e->name, STATE_NAME, "%s%s", STATE_PREFIX[k], info[i].name);
            e->ndim = info[i].ndim;
            memcpy(e->shape, info[i].shape, sizeof info[i].shape);
            e->data = (float *)mem[k] + info[i].offset;
            e->numel = (int64_t)info[i].numel;
        }
    rc = vdit_st_write(path, t, nt, keys, vals, nmeta, err);
done:
    free(t), free(names);
    return rc;
}

int vdit_state_read(const vdit_st_file *f, const char *path, const vdit_param_info *info, int n,
                    float *const mem[VDIT_STATE_PARTS], vdit_err *err)
{
    /* the one checkpoint policy (names, shapes, finiteness, no extras) on
     * every part this trainer keeps, then the copies: a bad file leaves the
     * buffers as they were */
    const char *prefixes[VDIT_STATE_PARTS];
    int np = 0;
    for (int k = 0; k < VDIT_STATE_PARTS; k++)
        if (mem[k]) prefixes[np++] = STATE_PREFIX[k];
    if (vdit_st_validate(f, path, info, n, prefixes, np, err)) return -1;
    for (int k = 0; k < VDIT_STATE_PARTS; k++)
        for (int i = 0; mem[k] && i < n; i++) {
            char name[STATE_NAME];
            snprintf(name, sizeof name, "%s%s", STATE_PREFIX[k], info[i].name);
            memcpy(mem[k] + info[i].offset, vdit_st_find(f, name)->data, info[i].numel * sizeof(float));
        }
    return 0;
}
