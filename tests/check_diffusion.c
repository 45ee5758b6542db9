/* check_diffusion.c - noising, the masked loss, every sampler on a
 * one-point distribution, classifier-free guidance, and training: the loss
 * falls on a tiny run and a resumed run equals an uninterrupted one. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "testutil.h"

#define T_ 4
#define C_ 2
#define H_ 4
#define W_ 4
#define NV (T_ * C_ * H_ * W_)

/* The exact denoiser of a distribution with all its mass on x0 (per label:
 * x0 + label, so guidance has something to act on). */
typedef struct {
    const vdit_diffusion *d;
    const float *x0;
    int calls;
} oracle;

static int oracle_denoise(void *ctx, const float *x_in, const float *t_model, const int *y, int B, float *pred,
                          vdit_err *err)
{
    oracle *o = ctx;
    o->calls++;
    size_t fin = (2 * C_ + 1) * H_ * W_, f = C_ * H_ * W_;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T_; t++)
            for (size_t i = 0; i < f; i++) {
                float x = x_in[((size_t)b * T_ + t) * fin + i], target = o->x0[t * f + i] + (float)y[b];
                size_t k = ((size_t)b * T_ + t) * f + i;
                if (o->d->objective == VDIT_OBJ_EPS) { /* eps = (x - sqrt(abar) x0) / sqrt(1 - abar) */
                    double abar = o->d->abar[(int)t_model[b]];
                    pred[k] = (float)((x - sqrt(abar) * target) / sqrt(1.0 - abar));
                } else { /* v = (x - x0) / t */
                    pred[k] = (x - target) / (t_model[b] / 1000.0f);
                }
            }
    return 0;
}

/* The one-point oracle whose point also moves by 10 when the first frame is
 * known (its mask channel): what context guidance acts on. */
static int context_oracle_denoise(void *ctx, const float *x_in, const float *t_model, const int *y, int B,
                                  float *pred, vdit_err *err)
{
    size_t fin = (2 * C_ + 1) * H_ * W_, f = C_ * H_ * W_;
    int y2[8];
    for (int b = 0; b < B; b++) y2[b] = y[b] + (x_in[(size_t)b * T_ * fin + 2 * f] == 1.0f ? 10 : 0);
    return oracle_denoise(ctx, x_in, t_model, y2, B, pred, err);
}

START_TEST(test_samplers_one_point)
{
    float *x0 = rand_tensor(NV, 1.0f, 1), *out = zeros(2 * NV);
    int labels[2] = {0, 1};
    vdit_sample_job job = {2, T_, C_, H_, W_, NULL, NULL, labels, 2};
    for (int s = 0; s < 4; s++) {
        vdit_diffusion d;
        vdit_diffusion_init(&d, s < 2 ? VDIT_OBJ_EPS : VDIT_OBJ_FLOW);
        oracle o = {&d, x0, 0};
        vdit_sample_config sc = {(vdit_sampler)s, 25, 1.0f, 42};
        vdit_err err;
        ck_assert_msg(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, out, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(o.calls, s == VDIT_SAMPLER_HEUN ? 2 * 25 - 1 : 25);
        float *want = zeros(2 * NV);
        for (int i = 0; i < NV; i++) want[i] = x0[i], want[NV + i] = x0[i] + 1.0f;
        double e = max_abs_diff(out, want, 2 * NV);
        ck_assert_msg(e < 1e-3, "sampler %s: max error %g", vdit_sampler_name(sc.sampler), e);
        free(want);
    }
    free(x0), free(out);
}
END_TEST

START_TEST(test_guidance_and_context)
{
    vdit_diffusion d;
    vdit_diffusion_init(&d, VDIT_OBJ_FLOW);
    float *x0 = rand_tensor(NV, 1.0f, 2), *a = zeros(NV), *b = zeros(NV), *c = zeros(NV);
    int cond = 1, null = 0;
    vdit_err err;
    oracle o = {&d, x0, 0};
    vdit_sample_config sc = {VDIT_SAMPLER_EULER, 10, 1.0f, 3};
    /* w = 1: the conditional model alone */
    vdit_sample_job job = {1, T_, C_, H_, W_, NULL, NULL, &cond, 0};
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, a, &err), 0);
    ck_assert_int_eq(o.calls, 10);
    /* w = 0: the unconditional model alone (labels = null) */
    sc.cfg = 0.0f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, b, &err), 0);
    vdit_sample_job unc = {1, T_, C_, H_, W_, NULL, NULL, &null, 0};
    sc.cfg = 1.0f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &unc, c, &err), 0);
    ck_assert_double_lt(max_abs_diff(b, c, NV), 1e-6);
    ck_assert_double_gt(max_abs_diff(a, b, NV), 0.5);
    /* w = 2 extrapolates: x0 + 2 for the one-point oracle */
    sc.cfg = 2.0f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, c, &err), 0);
    for (int i = 0; i < NV; i++) ck_assert_float_eq_tol(c[i], x0[i] + 2.0f, 1e-3);
    /* context: known frames come back as the clean context, exactly */
    uint8_t known[T_] = {1, 1, 0, 0};
    float *ctx = rand_tensor(NV, 1.0f, 9);
    vdit_sample_job kj = {1, T_, C_, H_, W_, ctx, known, &cond, 0};
    sc.cfg = 1.0f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &kj, c, &err), 0);
    ck_assert_int_eq(memcmp(c, ctx, 2 * C_ * H_ * W_ * sizeof(float)), 0);
    ck_assert_float_eq_tol(c[NV - 1], x0[NV - 1] + 1.0f, 1e-3);
    /* guidance's unconditional branch without the known frames (same label):
     * cond x0 + 1 + 10, uncond x0 + 1, w = 2 gives x0 + 21 on free frames;
     * dropping the label instead (uncond x0 + 0 + 10) gives x0 + 12 */
    sc.cfg = 2.0f;
    sc.guide_context = 1;
    ck_assert_int_eq(vdit_sample_with(context_oracle_denoise, &o, &d, &sc, &kj, c, &err), 0);
    ck_assert_int_eq(memcmp(c, ctx, 2 * C_ * H_ * W_ * sizeof(float)), 0);
    ck_assert_float_eq_tol(c[NV - 1], x0[NV - 1] + 21.0f, 1e-2);
    sc.guide_context = 0;
    ck_assert_int_eq(vdit_sample_with(context_oracle_denoise, &o, &d, &sc, &kj, c, &err), 0);
    ck_assert_float_eq_tol(c[NV - 1], x0[NV - 1] + 12.0f, 1e-2);
    /* a sampler of the other objective is refused */
    sc.sampler = VDIT_SAMPLER_DDIM;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not fit the flow objective"));
    free(x0), free(a), free(b), free(c), free(ctx);
}
END_TEST

START_TEST(test_training_batch_and_loss)
{
    vdit_diffusion d;
    vdit_diffusion_init(&d, VDIT_OBJ_EPS);
    ck_assert_double_lt(fabs(d.abar[0] - (1 - 1e-4)), 1e-12);
    ck_assert_double_lt(fabs(d.abar[999] - 4.035e-5), 1e-7); /* DDPM's linear schedule ends near 4e-5 */
    float *x0 = rand_tensor(2 * NV, 1.0f, 1), *eps = rand_tensor(2 * NV, 1.0f, 2);
    float *x_in = zeros(2 * T_ * (2 * C_ + 1) * H_ * W_), *target = zeros(2 * NV), t_model[2], tt[2] = {10, 900};
    uint8_t known[2 * T_] = {1, 0, 0, 0, 1, 1, 1, 0};
    vdit_training_batch(&d, x_in, target, t_model, x0, eps, tt, known, 2, T_, C_, H_, W_);
    size_t fin = (2 * C_ + 1) * H_ * W_, f = C_ * H_ * W_;
    /* sample 1, frame 2 (known), element 5 */
    size_t k = (size_t)(T_ + 2) * f + 5;
    float *row = x_in + (size_t)(T_ + 2) * fin;
    ck_assert_float_eq_tol(row[5], sqrt(d.abar[900]) * x0[k] + sqrt(1 - d.abar[900]) * eps[k], 1e-6);
    ck_assert_float_eq(row[f + 5], x0[k]);
    ck_assert_float_eq(row[2 * f + 5], 1.0f);
    ck_assert_float_eq(x_in[(size_t)(T_ + 3) * fin + f + 5], 0.0f); /* frame 3 unknown: no context */
    ck_assert_float_eq(x_in[(size_t)(T_ + 3) * fin + 2 * f], 0.0f);
    ck_assert_float_eq(target[k], eps[k]);
    ck_assert_float_eq(t_model[1], 900.0f);
    /* the masked loss by hand: pred = target + 1 on every element -> 1 per sample */
    float *pred = zeros(2 * NV), *dout = zeros(2 * NV);
    for (int i = 0; i < 2 * NV; i++) pred[i] = target[i] + 1.0f;
    for (size_t i = 0; i < f; i++) pred[i] = 100.0f; /* a known frame: ignored */
    double loss = vdit_masked_mse(dout, pred, target, known, 2, 2, T_, C_, H_, W_);
    ck_assert_double_lt(fabs(loss - 1.0), 1e-6);
    ck_assert_float_eq(dout[0], 0.0f);
    ck_assert_float_eq_tol(dout[f], 2.0f / (3 * f * 2), 1e-9);       /* sample 0: 3 free frames */
    ck_assert_float_eq_tol(dout[NV + 3 * f], 2.0f / (1 * f * 2), 1e-9); /* sample 1: 1 free frame */
    /* flow: x_t = (1 - t) x0 + t eps, target eps - x0, t fed as 1000 t */
    vdit_diffusion_init(&d, VDIT_OBJ_FLOW);
    float ft[2] = {0.25f, 0.5f};
    vdit_training_batch(&d, x_in, target, t_model, x0, eps, ft, NULL, 2, T_, C_, H_, W_);
    ck_assert_float_eq_tol(x_in[7], 0.75f * x0[7] + 0.25f * eps[7], 1e-6);
    ck_assert_float_eq_tol(target[7], eps[7] - x0[7], 1e-6);
    ck_assert_float_eq(t_model[0], 250.0f);
    free(x0), free(eps), free(x_in), free(target), free(pred), free(dout);
}
END_TEST

/* ------------------------------------------------------------------------
 * training
 * ---------------------------------------------------------------------- */

static vdit_dit_config tiny_model(vdit_objective obj)
{
    vdit_dit_config c = {.latent_channels = C_, .hidden = 32, .depth = 2, .heads = 4, .patch = {1, 2, 2},
                         .grid = {T_, H_, W_}, .num_classes = 2, .attention = VDIT_ATTN_ST, .objective = obj};
    return c;
}

static vdit_train_config tiny_train(void)
{
    vdit_train_config t;
    vdit_train_config_default(&t);
    t.batch = 4;
    t.steps = 150;
    t.warmup = 10;
    t.lr = 3e-3f;
    t.min_lr = 3e-4f;
    t.ema_decay = 0.9f;
    t.context_frames = 1;
    t.context_probs[0] = 0.5f, t.context_probs[1] = 0.5f;
    t.seed = 5;
    return t;
}

/* Four fixed "videos": a smooth pattern per label. */
static void tiny_data(float *x0, int *labels)
{
    for (int b = 0; b < 4; b++) {
        labels[b] = b % 2;
        for (int i = 0; i < NV; i++) x0[b * NV + i] = (float)sin(0.3 * i + (b % 2) * 1.5) * 0.8f;
    }
}

START_TEST(test_loss_falls)
{
    for (int obj = 0; obj < 2; obj++) {
        vdit_dit_config mc = tiny_model((vdit_objective)obj);
        vdit_train_config tc = tiny_train();
        vdit_trainer tr;
        vdit_err err;
        ck_assert_msg(vdit_trainer_create(&tr, &mc, &tc, 4, &err) == 0, "%s", err.msg);
        float x0[4 * NV];
        int labels[4];
        tiny_data(x0, labels);
        double first = 0, last = 0, loss, norm;
        for (int s = 0; s < tc.steps; s++) {
            ck_assert_msg(vdit_trainer_step(&tr, x0, labels, 0, NULL, NULL, &loss, &norm, &err) == 0, "%s", err.msg);
            if (s < 20) first += loss / 20;
            if (s >= tc.steps - 20) last += loss / 20;
        }
        ck_assert_int_eq(tr.step, tc.steps);
        ck_assert_msg(last < 0.6 * first, "%s: loss %g -> %g", vdit_objective_name(mc.objective), first, last);
        vdit_trainer_free(&tr);
    }
}
END_TEST

START_TEST(test_resume_bit_identical)
{
    char dir[] = "/tmp/vdit-check-train-XXXXXX", state[256], model[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(state, sizeof state, "%s/state.safetensors", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    vdit_dit_config mc = tiny_model(VDIT_OBJ_EPS);
    vdit_train_config tc = tiny_train();
    tc.steps = 12;
    float x0[4 * NV];
    int labels[4];
    tiny_data(x0, labels);
    vdit_trainer a, b;
    vdit_err err;
    double la[12], lb[12], norm;
    ck_assert_int_eq(vdit_trainer_create(&a, &mc, &tc, 4, &err), 0);
    for (int s = 0; s < 12; s++) ck_assert_int_eq(vdit_trainer_step(&a, x0, labels, 0, NULL, NULL, &la[s], &norm, &err), 0);
    /* 5 steps, save, a new process-like trainer resumes, 7 more */
    ck_assert_int_eq(vdit_trainer_create(&b, &mc, &tc, 4, &err), 0);
    for (int s = 0; s < 5; s++) ck_assert_int_eq(vdit_trainer_step(&b, x0, labels, 0, NULL, NULL, &lb[s], &norm, &err), 0);
    ck_assert_msg(vdit_trainer_save(&b, model, state, &err) == 0, "%s", err.msg);
    vdit_trainer_free(&b);
    ck_assert_int_eq(vdit_trainer_create(&b, &mc, &tc, 4, &err), 0);
    ck_assert_msg(vdit_trainer_load_state(&b, state, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(b.step, 5);
    for (int s = 5; s < 12; s++) ck_assert_int_eq(vdit_trainer_step(&b, x0, labels, 0, NULL, NULL, &lb[s], &norm, &err), 0);
    for (int s = 0; s < 12; s++) ck_assert_msg(la[s] == lb[s], "step %d: loss %.9g vs %.9g", s, la[s], lb[s]);
    size_t P = a.model.num_params;
    ck_assert_int_eq(memcmp(a.model.params_mem, b.model.params_mem, P * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.ema, b.ema, 3 * P * sizeof(float)), 0); /* EMA and both moments */
    /* the EMA weights load as a plain checkpoint */
    vdit_dit m;
    ck_assert_int_eq(vdit_dit_load(&m, model, &err), 0);
    vdit_dit_free(&m);
    /* a state for another model is refused, naming the file */
    vdit_dit_config other = mc;
    other.hidden = 16;
    vdit_trainer c;
    ck_assert_int_eq(vdit_trainer_create(&c, &other, &tc, 4, &err), 0);
    ck_assert_int_eq(vdit_trainer_load_state(&c, state, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, state));
    vdit_trainer_free(&c);
    /* a data-parallel split (2 + 2 samples, summed) gives the same loss */
    vdit_trainer s0, s1;
    ck_assert_int_eq(vdit_trainer_create(&s0, &mc, &tc, 2, &err), 0);
    ck_assert_int_eq(vdit_trainer_create(&s1, &mc, &tc, 2, &err), 0);
    double l0, l1, full;
    vdit_trainer_free(&a);
    ck_assert_int_eq(vdit_trainer_create(&a, &mc, &tc, 4, &err), 0);
    ck_assert_int_eq(vdit_trainer_step(&a, x0, labels, 0, NULL, NULL, &full, &norm, &err), 0);
    ck_assert_int_eq(vdit_trainer_step(&s0, x0, labels, 0, NULL, NULL, &l0, &norm, &err), 0);
    ck_assert_int_eq(vdit_trainer_step(&s1, x0 + 2 * NV, labels + 2, 2, NULL, NULL, &l1, &norm, &err), 0);
    ck_assert_double_lt(fabs(l0 + l1 - full), 1e-6);
    vdit_trainer_free(&s0), vdit_trainer_free(&s1), vdit_trainer_free(&a), vdit_trainer_free(&b);
    unlink(state), unlink(model), rmdir(dir);
}
END_TEST

/* Context noise: only the known frames' context channels move, by noise of
 * the std asked (measured), the same noise for the same global index
 * whatever the batch split; in sampling the model sees the noisy context
 * (the context oracle's point moves with it) but the result keeps the
 * clean one; in training it changes the loss, and 0 changes nothing. */
START_TEST(test_context_noise)
{
    enum { B = 3, FIN = (2 * C_ + 1) * H_ * W_, F = C_ * H_ * W_ };
    float *x_t = rand_tensor(B * NV, 1.0f, 4), *x0 = rand_tensor(B * NV, 1.0f, 5);
    float *a = zeros((size_t)B * T_ * FIN), *b = zeros((size_t)B * T_ * FIN);
    uint8_t known[B * T_] = {1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    float sigma[B] = {0.5f, 0.0f, 2.0f};
    vdit_model_input(a, x_t, x0, known, B, T_, C_, H_, W_);
    vdit_model_input(b, x_t, x0, known, B, T_, C_, H_, W_);
    vdit_noise_context(b, known, sigma, 77, 0, B, T_, C_, H_, W_);
    double s2 = 0;
    int n = 0, moved = 0;
    for (int v = 0; v < B; v++)
        for (int t = 0; t < T_; t++)
            for (int i = 0; i < FIN; i++) {
                size_t k = ((size_t)v * T_ + t) * FIN + i;
                int ctx = i >= F && i < 2 * F, noisy = ctx && known[v * T_ + t] && sigma[v] > 0;
                if (!noisy) ck_assert_msg(a[k] == b[k], "video %d frame %d value %d moved", v, t, i);
                else if (v == 0) s2 += (double)(b[k] - a[k]) * (b[k] - a[k]), n++, moved += b[k] != a[k];
            }
    ck_assert_int_eq(moved, n);
    ck_assert_msg(fabs(sqrt(s2 / n) - 0.5) < 0.1, "std %g, not 0.5", sqrt(s2 / n)); /* 64 draws */
    /* video 2 alone, as the third of the batch: the same noise */
    float *c = zeros((size_t)T_ * FIN);
    vdit_model_input(c, x_t + 2 * NV, x0 + 2 * NV, known + 2 * T_, 1, T_, C_, H_, W_);
    vdit_noise_context(c, known + 2 * T_, sigma + 2, 77, 2, 1, T_, C_, H_, W_);
    ck_assert_int_eq(memcmp(c, b + 2 * (size_t)T_ * FIN, (size_t)T_ * FIN * sizeof(float)), 0);
    /* sampling: a denoiser that reads the context sees it noisy; the result's known frames are clean */
    vdit_diffusion d;
    vdit_diffusion_init(&d, VDIT_OBJ_FLOW);
    oracle o = {&d, x0, 0};
    int cond = 0;
    uint8_t kn[T_] = {1, 0, 0, 0};
    vdit_sample_job job = {1, T_, C_, H_, W_, x0, kn, &cond, 1};
    vdit_sample_config sc = {VDIT_SAMPLER_EULER, 4, 1.0f, 3, 0, 0.0f};
    float *clean = zeros(NV), *noisy = zeros(NV);
    vdit_err err;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, clean, &err), 0);
    sc.context_noise = 0.3f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, noisy, &err), 0);
    ck_assert_int_eq(memcmp(noisy, x0, F * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(clean, noisy, NV * sizeof(float)), 0); /* the oracle ignores the context */
    sc.context_noise = -1.0f;
    ck_assert_int_eq(vdit_sample_with(oracle_denoise, &o, &d, &sc, &job, noisy, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "context noise"));
    /* training: 0 draws nothing (two runs alike, and tests/check_pipeline's
     * plain loop fixes the draws of a run without it); 0.5 another loss */
    vdit_dit_config mc = tiny_model(VDIT_OBJ_FLOW);
    vdit_train_config tc = tiny_train();
    float data[4 * NV];
    int labels[4];
    tiny_data(data, labels);
    double l[3], norm;
    for (int k = 0; k < 3; k++) {
        vdit_train_config t2 = tc;
        t2.context_probs[0] = 0.0f, t2.context_probs[1] = 1.0f; /* a known frame in every sample */
        t2.context_noise = k == 2 ? 0.5f : 0.0f;
        vdit_trainer tr;
        ck_assert_msg(vdit_trainer_create(&tr, &mc, &t2, 4, &err) == 0, "%s", err.msg);
        for (int st = 0; st < 3; st++) /* step 1's output is 0 whatever the input (adaLN-Zero) */
            ck_assert_int_eq(vdit_trainer_step(&tr, data, labels, 0, NULL, NULL, &l[k], &norm, &err), 0);
        vdit_trainer_free(&tr);
    }
    ck_assert(l[0] == l[1]);
    ck_assert(l[2] != l[0]);
    tc.context_noise = -0.1f;
    ck_assert_int_eq(vdit_train_config_check(&tc, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "context_noise"));
    free(x_t), free(x0), free(a), free(b), free(c), free(clean), free(noisy);
}
END_TEST

/* Masked tasks: the known frames of each task (continue, extend backward,
 * interpolate, fill), drawn in training as asked; the default (continue
 * only) draws nothing more: a run is what it was. */
START_TEST(test_mask_tasks)
{
    const char *want[VDIT_NMASK_TASKS][2] = {{"11100000", "00000000"}, {"00000111", "00000000"},
                                             {"11000001", "00000000"}, {"11000011", "00000000"}};
    for (int task = 0; task < VDIT_NMASK_TASKS; task++)
        for (int z = 0; z < 2; z++) {
            uint8_t k[8];
            char got[9];
            vdit_mask_task(k, 8, z ? 0 : 3, task);
            for (int t = 0; t < 8; t++) got[t] = (char)('0' + k[t]);
            got[8] = 0;
            ck_assert_msg(!strcmp(got, want[task][z]), "task %d, K %d: %s, not %s", task, z ? 0 : 3, got,
                          want[task][z]);
        }
    vdit_dit_config mc = tiny_model(VDIT_OBJ_FLOW);
    vdit_train_config tc = tiny_train();
    tc.context_probs[0] = 0.0f, tc.context_probs[1] = 1.0f; /* K = 1 in every draw */
    float data[4 * NV];
    int labels[4];
    tiny_data(data, labels);
    vdit_err err;
    double loss[2], norm;
    for (int run = 0; run < 2; run++) {
        vdit_train_config t2 = tc;
        if (run) t2.mask_tasks[VDIT_MASK_PREFIX] = 0.0f, t2.mask_tasks[VDIT_MASK_SUFFIX] = 1.0f;
        vdit_trainer tr;
        ck_assert_msg(vdit_trainer_create(&tr, &mc, &t2, 4, &err) == 0, "%s", err.msg);
        for (int st = 0; st < 3; st++) ck_assert_int_eq(vdit_trainer_step(&tr, data, labels, 0, NULL, NULL, &loss[run], &norm, &err), 0);
        for (int j = 0; j < 4; j++) /* the last frame known, alone (or the first) */
            for (int t = 0; t < T_; t++) ck_assert_int_eq(tr.known[j * T_ + t], run ? t == T_ - 1 : t == 0);
        vdit_trainer_free(&tr);
    }
    ck_assert(loss[0] != loss[1]);
    tc.mask_tasks[VDIT_MASK_GAP] = 0.5f;
    ck_assert_int_eq(vdit_train_config_check(&tc, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "mask_tasks sum to 1.5"));
}
END_TEST

START_TEST(test_lr_and_sample_dit)
{
    vdit_train_config tc = tiny_train();
    ck_assert_float_eq_tol(vdit_lr_at(&tc, 0), tc.lr / 10, 1e-9);
    ck_assert_float_eq_tol(vdit_lr_at(&tc, 9), tc.lr, 1e-9);
    ck_assert_float_eq_tol(vdit_lr_at(&tc, tc.steps - 1), tc.min_lr, 1e-9);
    /* the DiT as denoiser: deterministic in the seed, context honoured */
    vdit_dit_config mc = tiny_model(VDIT_OBJ_EPS);
    vdit_dit m;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &mc, &err), 0);
    for (size_t i = 0; i < m.num_params; i++) m.params_mem[i] = 0.05f * vdit_normal_at(1, i);
    float *ctx = rand_tensor(2 * NV, 1.0f, 3), *a = zeros(2 * NV), *b = zeros(2 * NV);
    uint8_t known[2 * T_] = {1, 0, 0, 0, 1, 0, 0, 0};
    int labels[2] = {0, 1};
    vdit_sample_job job = {2, T_, C_, H_, W_, ctx, known, labels, 2};
    vdit_sample_config sc = {VDIT_SAMPLER_DDPM, 5, 1.5f, 9};
    ck_assert_int_eq(vdit_sample_dit(&m, &sc, &job, a, &err), 0);
    ck_assert_int_eq(vdit_sample_dit(&m, &sc, &job, b, &err), 0);
    ck_assert_int_eq(memcmp(a, b, 2 * NV * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a, ctx, C_ * H_ * W_ * sizeof(float)), 0);
    sc.seed = 10;
    ck_assert_int_eq(vdit_sample_dit(&m, &sc, &job, b, &err), 0);
    ck_assert_double_gt(max_abs_diff(a, b, 2 * NV), 1e-3);
    job.T = 3; /* does not fit */
    ck_assert_int_eq(vdit_sample_dit(&m, &sc, &job, b, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "do not fit the model's grid"));
    free(ctx), free(a), free(b);
    vdit_dit_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diffusion");
    TCase *tc = tcase_create("diffusion");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_samplers_one_point);
    tcase_add_test(tc, test_guidance_and_context);
    tcase_add_test(tc, test_training_batch_and_loss);
    tcase_add_test(tc, test_context_noise);
    tcase_add_test(tc, test_mask_tasks);
    tcase_add_test(tc, test_loss_falls);
    tcase_add_test(tc, test_resume_bit_identical);
    tcase_add_test(tc, test_lr_and_sample_dit);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
