/* diffusion.c - noising, training targets, the masked loss and the
 * samplers of model.md: DDPM ancestral and DDIM (eps), Euler and Heun
 * (rectified flow), with context frames and classifier-free guidance.
 *
 * Latent videos are [B][T][C][H][W] (frame-major, each frame CHW);
 * known[B][T] marks the context frames.
 */
#include "vdit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *vdit_sampler_name(vdit_sampler s)
{
    static const char *names[] = {"ddpm", "ddim", "euler", "heun"};
    return (unsigned)s < 4 ? names[s] : "?";
}

vdit_sampler vdit_sampler_default(vdit_objective objective)
{
    return objective == VDIT_OBJ_EPS ? VDIT_SAMPLER_DDIM : VDIT_SAMPLER_HEUN;
}

void vdit_diffusion_init(vdit_diffusion *d, vdit_objective objective)
{
    /* betas linear from 1e-4 to 0.02 over 1000 steps (DDPM, DiT) */
    d->objective = objective;
    double abar = 1.0;
    for (int i = 0; i < VDIT_DDPM_STEPS; i++) {
        double beta = 1e-4 + (0.02 - 1e-4) * i / (VDIT_DDPM_STEPS - 1);
        abar *= 1.0 - beta;
        d->abar[i] = abar;
    }
}

/* ------------------------------------------------------------------------
 * Model input and training targets
 * ---------------------------------------------------------------------- */

void vdit_model_input(float *x_in, const float *x_t, const float *x0, const uint8_t *known, int B, int T, int C,
                      int H, int W)
{
    size_t HW = (size_t)H * W, frame = (size_t)C * HW, frame_in = (2 * (size_t)C + 1) * HW;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t bt = (size_t)b * T + t;
            int k = known ? known[bt] != 0 : 0;
            float *o = x_in + bt * frame_in;
            memcpy(o, x_t + bt * frame, frame * sizeof(float));                /* noisy latent */
            if (k)
                memcpy(o + frame, x0 + bt * frame, frame * sizeof(float));    /* clean context */
            else
                memset(o + frame, 0, frame * sizeof(float));
            for (size_t i = 0; i < HW; i++) o[2 * frame + i] = k ? 1.0f : 0.0f; /* mask */
        }
}

void vdit_noise_context(float *x_in, const uint8_t *known, const float *sigma, uint64_t seed, uint64_t first, int B,
                        int T, int C, int H, int W)
{
    size_t frame = (size_t)C * H * W, frame_in = (2 * (size_t)C + 1) * H * W;
    for (int b = 0; b < B; b++) {
        if (!(sigma[b] > 0)) continue;
        uint64_t sb = vdit_rng_at(seed, first + (uint64_t)b);
        for (int t = 0; t < T; t++) {
            size_t bt = (size_t)b * T + t;
            if (!known || !known[bt]) continue;
            float *ctx = x_in + bt * frame_in + frame; /* the clean-context channels */
            for (size_t i = 0; i < frame; i++) ctx[i] += sigma[b] * vdit_normal_at(sb, (uint64_t)t * frame + i);
        }
    }
}

void vdit_training_batch(const vdit_diffusion *d, float *x_in, float *target, float *t_model, const float *x0,
                         const float *eps, const float *tt, const uint8_t *known, int B, int T, int C, int H, int W)
{
    size_t n = (size_t)T * C * H * W;
    float *x_t = target; /* x_t lives in target's memory until x_in is built */
    for (int b = 0; b < B; b++) {
        const float *x0b = x0 + b * n, *eb = eps + b * n;
        float *xb = x_t + b * n;
        if (d->objective == VDIT_OBJ_EPS) {
            int step = (int)tt[b];
            float a = (float)sqrt(d->abar[step]), s = (float)sqrt(1.0 - d->abar[step]);
            for (size_t i = 0; i < n; i++) xb[i] = a * x0b[i] + s * eb[i]; /* x_t = sqrt(abar) x0 + sqrt(1-abar) eps */
            t_model[b] = (float)step;
        } else {
            float t = tt[b];
            for (size_t i = 0; i < n; i++) xb[i] = (1.0f - t) * x0b[i] + t * eb[i]; /* x_t = (1-t) x0 + t eps */
            t_model[b] = 1000.0f * t;
        }
    }
    vdit_model_input(x_in, x_t, x0, known, B, T, C, H, W);
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < n; i++) {
            size_t k = b * n + i;
            target[k] = d->objective == VDIT_OBJ_EPS ? eps[k] : eps[k] - x0[k];
        }
}

double vdit_masked_mse(float *dout, const float *pred, const float *target, const uint8_t *known, int B,
                       int batch_total, int T, int C, int H, int W)
{
    size_t frame = (size_t)C * H * W;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        int free_frames = 0;
        for (int t = 0; t < T; t++) free_frames += !(known && known[(size_t)b * T + t]);
        double n = (double)free_frames * frame, sum = 0.0;
        for (int t = 0; t < T; t++) {
            size_t off = ((size_t)b * T + t) * frame;
            int k = known && known[(size_t)b * T + t];
            for (size_t i = 0; i < frame; i++) {
                float diff = pred[off + i] - target[off + i];
                if (!k) sum += (double)diff * diff;
                /* loss = (1/batch_total) sum_b (1/n_b) sum_free (pred - target)^2 */
                if (dout) dout[off + i] = k ? 0.0f : (float)(2.0 * diff / (n * batch_total));
            }
        }
        if (free_frames) total += sum / n;
    }
    return total / batch_total;
}

/* ------------------------------------------------------------------------
 * Sampling
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_denoiser f;
    void *ctx;
    const vdit_sample_job *job;
    float cfg;
    int guide_context;
    float context_noise; /* std on the known frames; sigma[B] holds it per video */
    float *sigma;
    uint64_t noise_seed;
    float *x_in;  /* [2B][T][2C+1][H][W] */
    float *pred2; /* [2B][T][C][H][W] */
    float *t2;    /* [2B] */
    int *y2;      /* [2B] */
} guided;

/* pred = uncond + w (cond - uncond); with w = 1 only the conditional branch
 * runs. uncond drops the label, or with guide_context the known frames. */
static int guided_predict(guided *g, const float *x, float t_model, float *pred, vdit_err *err)
{
    const vdit_sample_job *j = g->job;
    int B = j->B, both = g->cfg != 1.0f;
    size_t n = (size_t)j->T * j->C * j->H * j->W, nin = (size_t)j->T * (2 * j->C + 1) * j->H * j->W;
    vdit_model_input(g->x_in, x, j->context, j->known, B, j->T, j->C, j->H, j->W);
    /* the same noise at every step: the model sees one noisy context */
    if (g->context_noise > 0) vdit_noise_context(g->x_in, j->known, g->sigma, g->noise_seed, 0, B, j->T, j->C, j->H, j->W);
    for (int b = 0; b < B; b++) {
        g->t2[b] = g->t2[B + b] = t_model;
        g->y2[b] = j->labels ? j->labels[b] : j->null_label;
        g->y2[B + b] = j->null_label;
    }
    if (!both) return g->f(g->ctx, g->x_in, g->t2, g->y2, B, pred, err);
    if (g->guide_context) { /* unconditional: no known frames, the same label */
        vdit_model_input(g->x_in + B * nin, x, NULL, NULL, B, j->T, j->C, j->H, j->W);
        for (int b = 0; b < B; b++) g->y2[B + b] = g->y2[b];
    } else {
        memcpy(g->x_in + B * nin, g->x_in, B * nin * sizeof(float));
    }
    if (g->f(g->ctx, g->x_in, g->t2, g->y2, 2 * B, g->pred2, err)) return -1;
    for (size_t i = 0; i < B * n; i++) {
        float c = g->pred2[i], u = g->pred2[B * n + i];
        pred[i] = u + g->cfg * (c - u);
    }
    return 0;
}

int vdit_sample_with(vdit_denoiser f, void *ctx, const vdit_diffusion *d, const vdit_sample_config *sc,
                     const vdit_sample_job *job, float *out, vdit_err *err)
{
    int B = job->B, S = sc->steps;
    if (B < 1 || job->T < 1 || job->C < 1 || job->H < 1 || job->W < 1) return vdit_seterr(err, "empty sampling job");
    if (S < 1 || S > VDIT_DDPM_STEPS) return vdit_seterr(err, "steps %d out of range 1..%d", S, VDIT_DDPM_STEPS);
    int eps_obj = d->objective == VDIT_OBJ_EPS;
    if (eps_obj != (sc->sampler == VDIT_SAMPLER_DDPM || sc->sampler == VDIT_SAMPLER_DDIM))
        return vdit_seterr(err, "sampler %s does not fit the %s objective (eps: ddpm, ddim; flow: euler, heun)",
                           vdit_sampler_name(sc->sampler), vdit_objective_name(d->objective));
    if (!isfinite(sc->cfg)) return vdit_seterr(err, "guidance weight is not finite");
    if (job->known && !job->context) return vdit_seterr(err, "known frames given without their context");

    size_t n = (size_t)B * job->T * job->C * job->H * job->W;
    size_t nin = (size_t)B * job->T * (2 * job->C + 1) * job->H * job->W;
    if (!(sc->context_noise >= 0) || !isfinite(sc->context_noise))
        return vdit_seterr(err, "context noise %g must be a finite number >= 0", sc->context_noise);
    guided g = {f,
                ctx,
                job,
                sc->cfg,
                sc->guide_context,
                sc->context_noise,
                malloc(B * sizeof(float)),
                vdit_rng_at(sc->seed, 0x63747867ull), /* apart from x_T's stream */
                malloc(2 * nin * sizeof(float)),
                malloc(2 * n * sizeof(float)),
                malloc(2 * B * sizeof(float)),
                malloc(2 * B * sizeof(int))};
    float *pred = malloc(n * sizeof(float)), *x2 = malloc(n * sizeof(float)), *pred2 = malloc(n * sizeof(float));
    int rc = -1;
    if (!g.sigma || !g.x_in || !g.pred2 || !g.t2 || !g.y2 || !pred || !x2 || !pred2) {
        vdit_seterr(err, "out of memory for sampling %d videos", B);
        goto done;
    }
    for (int b = 0; b < B; b++) g.sigma[b] = sc->context_noise;
    float *x = out;
    for (size_t i = 0; i < n; i++) x[i] = vdit_normal_at(sc->seed, i); /* x_T ~ N(0, I) */
    uint64_t noise_stream = (uint64_t)n;                             /* DDPM's noise continues the stream */

    if (eps_obj) {
        /* S steps evenly spaced over 999 .. 0 */
        for (int i = 0; i < S; i++) {
            int t = S == 1 ? VDIT_DDPM_STEPS - 1
                           : (int)lround((double)(VDIT_DDPM_STEPS - 1) * (S - 1 - i) / (S - 1));
            int t_prev = i + 1 < S ? (int)lround((double)(VDIT_DDPM_STEPS - 1) * (S - 2 - i) / (S - 1)) : -1;
            double abar = d->abar[t], abar_prev = t_prev >= 0 ? d->abar[t_prev] : 1.0;
            if (guided_predict(&g, x, (float)t, pred, err)) goto done;
            double sa = sqrt(abar), s1a = sqrt(1.0 - abar);
            if (sc->sampler == VDIT_SAMPLER_DDIM) {
                /* x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps_hat  (eta = 0) */
                double sap = sqrt(abar_prev), s1ap = sqrt(1.0 - abar_prev);
                for (size_t k = 0; k < n; k++) {
                    double x0h = (x[k] - s1a * pred[k]) / sa;
                    x[k] = (float)(sap * x0h + s1ap * pred[k]);
                }
            } else {
                /* ancestral step with the respaced beta = 1 - abar / abar_prev:
                 * mean = sqrt(abar_prev) beta / (1 - abar) x0_hat
                 *      + sqrt(1 - beta) (1 - abar_prev) / (1 - abar) x_t,
                 * variance = beta (1 - abar_prev) / (1 - abar) */
                double beta = 1.0 - abar / abar_prev;
                double c0 = sqrt(abar_prev) * beta / (1.0 - abar), ct = sqrt(1.0 - beta) * (1.0 - abar_prev) / (1.0 - abar);
                double sd = t_prev >= 0 ? sqrt(beta * (1.0 - abar_prev) / (1.0 - abar)) : 0.0;
                for (size_t k = 0; k < n; k++) {
                    double x0h = (x[k] - s1a * pred[k]) / sa;
                    double z = sd > 0 ? vdit_normal_at(sc->seed, noise_stream + k) : 0.0;
                    x[k] = (float)(c0 * x0h + ct * x[k] + sd * z);
                }
                noise_stream += n;
            }
        }
    } else {
        /* rectified flow from t = 1 to t = 0: dx/dt = v */
        for (int i = 0; i < S; i++) {
            float t = 1.0f - (float)i / S, t_next = 1.0f - (float)(i + 1) / S, dt = t_next - t;
            if (guided_predict(&g, x, 1000.0f * t, pred, err)) goto done;
            if (sc->sampler == VDIT_SAMPLER_EULER) {
                for (size_t k = 0; k < n; k++) x[k] += dt * pred[k];
            } else if (i + 1 == S) { /* Heun's last step ends at t = 0, where v is not defined: Euler (Karras et al. 2022) */
                for (size_t k = 0; k < n; k++) x[k] += dt * pred[k];
            } else { /* Heun: average the slopes at both ends */
                for (size_t k = 0; k < n; k++) x2[k] = x[k] + dt * pred[k];
                if (guided_predict(&g, x2, 1000.0f * t_next, pred2, err)) goto done;
                for (size_t k = 0; k < n; k++) x[k] += dt * 0.5f * (pred[k] + pred2[k]);
            }
        }
    }
    /* the known frames of the result are the clean context */
    if (job->known) {
        size_t frame = (size_t)job->C * job->H * job->W;
        for (size_t bt = 0; bt < (size_t)B * job->T; bt++)
            if (job->known[bt]) memcpy(x + bt * frame, job->context + bt * frame, frame * sizeof(float));
    }
    rc = 0;
done:
    free(g.sigma), free(g.x_in), free(g.pred2), free(g.t2), free(g.y2), free(pred), free(x2), free(pred2);
    return rc;
}

static int dit_denoiser(void *ctx, const float *x_in, const float *t_model, const int *y, int B, float *pred,
                        vdit_err *err)
{
    return vdit_dit_forward_nograd((vdit_dit *)ctx, x_in, t_model, y, B, pred, err); /* sampling: no backward */
}

int vdit_sample_dit(vdit_dit *m, const vdit_sample_config *sc, const vdit_sample_job *job, float *out, vdit_err *err)
{
    const vdit_dit_config *c = &m->cfg;
    if (job->T != c->grid[0] || job->C != c->latent_channels || job->H != c->grid[1] || job->W != c->grid[2])
        return vdit_seterr(err, "videos [%d][%d][%d][%d] do not fit the model's grid [%d][%d][%d][%d]", job->T, job->C,
                           job->H, job->W, c->grid[0], c->latent_channels, c->grid[1], c->grid[2]);
    if (job->null_label != c->num_classes)
        return vdit_seterr(err, "null label %d is not the model's %d", job->null_label, c->num_classes);
    vdit_diffusion d;
    vdit_diffusion_init(&d, c->objective);
    return vdit_sample_with(dit_denoiser, m, &d, sc, job, out, err);
}
