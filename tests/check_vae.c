/* check_vae.c - the video VAE (lib/vae.c): config, names, the gradient of
 * the whole loss against finite differences for a sample of parameters of
 * every kind (temporal 1x and causal 2x), the KL term, causality, encode /
 * decode layout, a short training run that must beat the untrained model,
 * and checkpoints: round trip and rejection of bad or mismatched files. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vdit-check-vae-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A tiny config: downsample ds, temporal tt, two widths that differ (so
 * the 1x1 shortcut is used), 2 groups. */
static vdit_vae_config tiny_config(int ds, int tt)
{
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    memset(c.channels, 0, sizeof c.channels);
    int L = ds == 2 ? 2 : ds == 4 ? 3 : 4;
    for (int i = 0; i < L; i++) c.channels[i] = i == 0 ? 4 : 6;
    c.downsample = ds;
    c.temporal = tt;
    c.latent_channels = 2;
    c.groups = 2;
    return c;
}

/* Synthetic physics-like frames, x[n][3][S][S] in [-1, 1]: white
 * background, one anti-aliased red or blue disc moving linearly over the
 * frames of a video, sometimes a grey wall. */
static void synth_videos(float *x, int B, int T, int S, uint64_t seed)
{
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    for (int b = 0; b < B; b++) {
        float r = S * (0.12f + 0.12f * vdit_rng_uniform(&rng));
        float cx = S * (0.2f + 0.6f * vdit_rng_uniform(&rng)), cy = S * (0.2f + 0.6f * vdit_rng_uniform(&rng));
        float vx = (vdit_rng_uniform(&rng) - 0.5f) * 0.1f * S, vy = (vdit_rng_uniform(&rng) - 0.5f) * 0.1f * S;
        int blue = vdit_rng_uniform(&rng) < 0.5f, wall = vdit_rng_uniform(&rng) < 0.3f;
        int wx = (int)(S * (0.3f + 0.4f * vdit_rng_uniform(&rng)));
        for (int t = 0; t < T; t++) {
            float *f = x + ((size_t)b * T + t) * 3 * S * S;
            float px = cx + vx * t, py = cy + vy * t;
            for (int yy = 0; yy < S; yy++)
                for (int xx = 0; xx < S; xx++) {
                    float d = sqrtf((xx + 0.5f - px) * (xx + 0.5f - px) + (yy + 0.5f - py) * (yy + 0.5f - py));
                    float cov = fminf(1.0f, fmaxf(0.0f, r - d + 0.5f)); /* anti-aliased edge */
                    float rgb[3] = {1, 1, 1};
                    if (blue)
                        rgb[0] = rgb[1] = 1.0f - cov;
                    else
                        rgb[1] = rgb[2] = 1.0f - cov;
                    if (wall && xx >= wx && xx < wx + S / 8)
                        rgb[0] = rgb[1] = rgb[2] = 128.0f / 255.0f;
                    for (int c = 0; c < 3; c++) f[((size_t)c * S + yy) * S + xx] = 2.0f * rgb[c] - 1.0f;
                }
        }
    }
}

/* ------------------------------------------------------------------------
 * config and names
 * ---------------------------------------------------------------------- */

START_TEST(test_config)
{
    vdit_vae_config c;
    vdit_err err;
    vdit_vae_config_default(&c);
    ck_assert_int_eq(vdit_vae_config_check(&c, &err), 0);
    ck_assert_int_eq(c.downsample, 4);
    ck_assert_int_eq(c.temporal, 1);
    ck_assert_int_eq(c.latent_channels, 4);
    ck_assert_int_eq(vdit_vae_levels(&c), 3);
    /* JSON round trip */
    char *js = vdit_vae_config_to_json(&c);
    vdit_vae_config d;
    ck_assert_int_eq(vdit_vae_config_from_json(&d, js, "x", &err), 0);
    ck_assert_int_eq(memcmp(&c, &d, sizeof c), 0);
    free(js);
    /* rejections, each naming the field */
    struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"channels\":[32,64,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":3,\"temporal\":1,"
         "\"latent_channels\":4,\"groups\":8}", "downsample 3 must be 2, 4 or 8"},
        {"{\"channels\":[32,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":4,\"temporal\":1,"
         "\"latent_channels\":4,\"groups\":8}", "channels[2] = 0 out of range"},
        {"{\"channels\":[32,64,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":4,\"temporal\":3,"
         "\"latent_channels\":4,\"groups\":8}", "temporal 3 must be 1 or 2"},
        {"{\"channels\":[32,60,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":4,\"temporal\":1,"
         "\"latent_channels\":4,\"groups\":8}", "channels[1] = 60 is not divisible by groups 8"},
        {"{\"channels\":[32,64,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":4,\"temporal\":1,"
         "\"groups\":8}", "no \"latent_channels\""},
        {"{\"channels\":[32,64,64,64],\"res_blocks\":1,\"mid_blocks\":1,\"downsample\":4,\"temporal\":1,"
         "\"latent_channels\":4,\"groups\":8}", "4 widths given, downsample 4 has 3 levels"},
        {"[1,2]", "not a JSON object"},
        {"{\"channels\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(vdit_vae_config_from_json(&d, bad[i].json, "cfg.json", &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i].msg) && strstr(err.msg, "cfg.json"), "case %zu: '%s' lacks '%s'", i,
                      err.msg, bad[i].msg);
    }
}
END_TEST

START_TEST(test_param_names)
{
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &c, &err), 0);
    int n = vdit_vae_param_table(&m, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    ck_assert_int_eq(vdit_vae_param_table(&m, info, n), n);
    size_t total = 0;
    int enc = 0, dec = 0;
    for (int i = 0; i < n; i++) {
        total += info[i].numel;
        enc += !strncmp(info[i].name, "encoder.", 8);
        dec += !strncmp(info[i].name, "decoder.", 8);
        for (int j = 0; j < i; j++) ck_assert_str_ne(info[i].name, info[j].name);
    }
    ck_assert_int_eq(enc + dec, n);
    ck_assert_int_gt(enc, 10);
    ck_assert_int_gt(dec, 10);
    ck_assert_uint_eq(total, m.num_params);
    /* a few names and shapes: conv_in [32][3][3][3], the 32 -> 64 shortcut, conv_out [2*4][64][3][3] */
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(info[i].name, "encoder.conv_in.weight")) {
            ck_assert_int_eq(info[i].ndim, 4);
            ck_assert(info[i].shape[0] == 32 && info[i].shape[1] == 3 && info[i].shape[2] == 3);
            found++;
        }
        if (!strcmp(info[i].name, "encoder.down.1.block.0.nin_shortcut.weight")) {
            ck_assert(info[i].shape[0] == 64 && info[i].shape[1] == 32 && info[i].shape[2] == 1);
            found++;
        }
        if (!strcmp(info[i].name, "encoder.conv_out.weight")) {
            ck_assert(info[i].shape[0] == 8 && info[i].shape[1] == 64);
            found++;
        }
        if (!strcmp(info[i].name, "decoder.up.1.upsample.conv.bias")) found++;
        if (!strcmp(info[i].name, "decoder.conv_out.weight")) {
            ck_assert(info[i].shape[0] == 3 && info[i].shape[1] == 32);
            found++;
        }
        ck_assert(!strstr(info[i].name, "up.0.upsample")); /* level 0 has no upsampling */
        ck_assert(!strstr(info[i].name, "down.2.downsample"));
    }
    ck_assert_int_eq(found, 5);
    /* the pointer table: params point where the table says */
    ck_assert_ptr_eq(m.params.enc_conv_in.w, m.params_mem);
    ck_assert_ptr_eq(m.grads.enc_conv_in.w, m.grads_mem);
    ck_assert_ptr_null(m.params.enc_block[0][0].shortcut.w); /* 32 -> 32: identity */
    ck_assert_ptr_nonnull(m.params.enc_block[1][0].shortcut.w);
    ck_assert_ptr_null(m.params.enc_time_down.w);
    /* temporal 2 adds the causal conv3d layers, 5-D */
    c.temporal = 2;
    vdit_vae m2;
    ck_assert_int_eq(vdit_vae_create(&m2, &c, &err), 0);
    int n2 = vdit_vae_param_table(&m2, NULL, 0);
    vdit_param_info *info2 = malloc(n2 * sizeof *info2);
    vdit_vae_param_table(&m2, info2, n2);
    int t5 = 0;
    for (int i = 0; i < n2; i++)
        if (strstr(info2[i].name, "time_down.conv.weight") || strstr(info2[i].name, "time_up.conv.weight") ||
            strstr(info2[i].name, "mid.block_1.conv1.weight")) {
            ck_assert_int_eq(info2[i].ndim, 5);
            ck_assert_int_eq(info2[i].shape[2], 3);
            t5++;
        }
    ck_assert_int_eq(t5, 4);
    free(info), free(info2);
    vdit_vae_free(&m);
    vdit_vae_free(&m2);
}
END_TEST

START_TEST(test_init)
{
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &c, &err), 0);
    vdit_vae_init_weights(&m, 3);
    /* GroupNorm gamma 1, beta 0; conv weights within +-1/sqrt(fan_in) */
    ck_assert_float_eq(m.params.enc_block[0][0].norm1.w[5], 1.0f);
    ck_assert_float_eq(m.params.dec_norm_out.b[3], 0.0f);
    double bound = 1.0 / sqrt(32.0 * 9.0), mx = max_abs(m.params.enc_block[0][0].conv1.w, 32 * 32 * 9);
    ck_assert_double_le(mx, bound);
    ck_assert_double_gt(mx, 0.9 * bound);
    /* each residual block starts as the identity: its last conv is zero */
    ck_assert_double_eq(max_abs(m.params.enc_block[0][0].conv2.w, 32 * 32 * 9), 0.0);
    ck_assert_double_eq(max_abs(m.params.dec_mid[0].conv2.b, 64), 0.0);
    ck_assert_double_gt(max_abs(m.params.dec_conv_out.w, 3 * 32 * 9), 0.0);
    ck_assert_float_eq(m.scale_factor, 1.0f);
    vdit_vae_free(&m);
}
END_TEST

/* ------------------------------------------------------------------------
 * gradients of the whole loss
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_vae *m;
    float *x;
    int B, T, S;
    vdit_vae_loss_config lc;
} loss_ctx;

static void loss_fd(void *p, float *out)
{
    loss_ctx *c = p;
    vdit_err err;
    vdit_vae_losses l;
    ck_assert_int_eq(vdit_vae_forward(c->m, c->x, c->B, c->T, c->S, c->S, c->lc, &l, &err), 0);
    out[0] = (float)l.loss;
}

static void check_loss_grads(vdit_vae_config cfg, int B, int T, int S, vdit_recon_loss rec, double tol)
{
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 5);
    /* GroupNorm affine away from 1 / 0, so their gradients are exercised in full */
    vdit_rng rng;
    vdit_rng_init(&rng, 9);
    int n = vdit_vae_param_table(&m, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    vdit_vae_param_table(&m, info, n);
    for (int i = 0; i < n; i++) {
        float *p = m.params_mem + info[i].offset;
        if (strstr(info[i].name, "norm"))
            for (size_t k = 0; k < info[i].numel; k++) p[k] += 0.3f * vdit_rng_normal(&rng);
        if (strstr(info[i].name, ".conv2.")) /* zero at init: make every path carry gradient */
            for (size_t k = 0; k < info[i].numel; k++) p[k] = 0.1f * vdit_rng_normal(&rng);
    }
    loss_ctx c = {&m, zeros((size_t)B * T * 3 * S * S), B, T, S, {rec, 0.05f, 1, 77}};
    synth_videos(c.x, B, T, S, 4);
    /* KL weight 0.05, so the KL's gradient is not negligible beside the recon's */
    float loss;
    loss_fd(&c, &loss);
    vdit_vae_zero_grad(&m);
    ck_assert_int_eq(vdit_vae_backward(&m, &err), 0);
    float one = 1.0f;
    for (int i = 0; i < n; i++) {
        double e = fd_check(loss_fd, &c, m.params_mem + info[i].offset, info[i].numel, m.grads_mem + info[i].offset,
                            &one, 1, 1e-2, 6);
        ck_assert_msg(e < tol, "%s: relative gradient error %g", info[i].name, e);
        ck_assert_msg(max_abs(m.grads_mem + info[i].offset, info[i].numel) > 0, "%s: zero gradient", info[i].name);
    }
    free(info);
    free(c.x);
    vdit_vae_free(&m);
}

START_TEST(test_grads_2x_mse)
{
    check_loss_grads(tiny_config(2, 1), 2, 2, 8, VDIT_RECON_MSE, 3e-2);
}
END_TEST

START_TEST(test_grads_4x_blocks2)
{
    vdit_vae_config c = tiny_config(4, 1);
    c.res_blocks = 2;
    c.mid_blocks = 2;
    check_loss_grads(c, 1, 3, 8, VDIT_RECON_MSE, 3e-2);
}
END_TEST

START_TEST(test_grads_temporal_causal)
{
    check_loss_grads(tiny_config(2, 2), 2, 4, 8, VDIT_RECON_MSE, 3e-2);
}
END_TEST

START_TEST(test_grads_l1)
{
    /* L1 has a kink at zero; with h small against the residuals it is smooth */
    vdit_vae_config c = tiny_config(2, 1);
    c.mid_blocks = 0;
    check_loss_grads(c, 1, 2, 8, VDIT_RECON_L1, 5e-2);
}
END_TEST

START_TEST(test_kl_and_recon_values)
{
    vdit_vae_config cfg = tiny_config(2, 1);
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 1);
    /* conv_out weights 0: mean = bias[0..C), logvar = bias[C..2C) everywhere */
    int Cl = cfg.latent_channels, top = cfg.channels[1];
    memset(m.params.enc_conv_out.w, 0, (size_t)2 * Cl * top * 9 * sizeof(float));
    float mu[2] = {0.5f, -1.0f}, lv[2] = {0.3f, -2.0f};
    for (int k = 0; k < Cl; k++) m.params.enc_conv_out.b[k] = mu[k], m.params.enc_conv_out.b[Cl + k] = lv[k];
    int B = 2, T = 1, S = 8;
    float *x = zeros((size_t)B * T * 3 * S * S);
    synth_videos(x, B, T, S, 1);
    vdit_vae_losses l;
    vdit_vae_loss_config lc = {VDIT_RECON_MSE, 0.25f, 0, 1};
    ck_assert_int_eq(vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err), 0);
    double kl = 0;
    for (int k = 0; k < Cl; k++) kl += 0.5 * (mu[k] * mu[k] + exp(lv[k]) - 1 - lv[k]);
    kl /= Cl;
    ck_assert_double_lt(fabs(l.kl - kl), 1e-6);
    double mse = 0, l1 = 0;
    size_t nx = (size_t)B * T * 3 * S * S;
    /* overshoots past a target at the end of the range cost nothing */
    for (size_t i = 0; i < nx; i++) {
        double d = m.acts.xrec[i] - x[i];
        if ((x[i] >= 1.0f && d > 0) || (x[i] <= -1.0f && d < 0)) d = 0;
        mse += d * d, l1 += fabs(d);
    }
    ck_assert_double_lt(fabs(l.recon - mse / nx), 1e-6);
    ck_assert_double_lt(fabs(l.loss - (mse / nx + 0.25 * kl)), 1e-6);
    /* without sampling z is the mean; with it, z - mean has the std exp(lv/2) */
    ck_assert_float_eq(m.acts.z[0], mu[0]);
    lc.recon = VDIT_RECON_L1;
    lc.sample = 1;
    ck_assert_int_eq(vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err), 0);
    size_t per = (size_t)(S / 2) * (S / 2);
    double s2 = 0;
    for (int b = 0; b < B * T; b++)
        for (size_t i = 0; i < per; i++) {
            double d = m.acts.z[(size_t)b * Cl * per + i] - mu[0];
            s2 += d * d;
        }
    ck_assert_double_lt(fabs(sqrt(s2 / (B * T * per)) - exp(0.15)), 0.15);
    /* the noise is counter-based: the same seed gives the same bits */
    float z0 = m.acts.z[7];
    ck_assert_int_eq(vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err), 0);
    ck_assert_float_eq(m.acts.z[7], z0);
    lc.seed = 2;
    ck_assert_int_eq(vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err), 0);
    ck_assert_float_ne(m.acts.z[7], z0);
    (void)l1;
    free(x);
    vdit_vae_free(&m);
}
END_TEST

/* ------------------------------------------------------------------------
 * encode / decode
 * ---------------------------------------------------------------------- */

START_TEST(test_encode_decode_layout)
{
    vdit_vae_config cfg = tiny_config(4, 1);
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 2);
    m.scale_factor = 2.0f;
    int B = 2, T = 3, S = 16, Cl = cfg.latent_channels, h = S / 4;
    size_t nx = (size_t)B * T * 3 * S * S, nz = (size_t)B * T * Cl * h * h;
    float *x = zeros(nx), *z = zeros(nz), *mean = zeros(nz), *lv = zeros(nz), *y = zeros(nx);
    synth_videos(x, B, T, S, 3);
    ck_assert_int_eq(vdit_vae_encode(&m, x, B, T, S, S, z, &err), 0);
    ck_assert_int_eq(vdit_vae_encode_moments(&m, x, B, T, S, S, mean, lv, &err), 0);
    for (size_t i = 0; i < nz; i++) ck_assert_float_eq(z[i], 2.0f * mean[i]);
    /* frame-major: video 1 frame 2 alone encodes to the same latent frame */
    float *z1 = zeros((size_t)Cl * h * h);
    ck_assert_int_eq(vdit_vae_encode(&m, x + (size_t)(1 * T + 2) * 3 * S * S, 1, 1, S, S, z1, &err), 0);
    ck_assert_double_lt(max_abs_diff(z1, z + (size_t)(1 * T + 2) * Cl * h * h, (size_t)Cl * h * h), 1e-5);
    /* decode(encode(x)) is the forward pass with z = mean */
    ck_assert_int_eq(vdit_vae_decode(&m, z, B, T, h, h, y, &err), 0);
    vdit_vae_losses l;
    vdit_vae_loss_config lc = {VDIT_RECON_MSE, 0.0f, 0, 0};
    ck_assert_int_eq(vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err), 0);
    ck_assert_double_lt(max_abs_diff(y, m.acts.xrec, nx), 1e-5);
    /* fit_scale: the scaled latents have unit standard deviation */
    ck_assert_int_eq(vdit_vae_fit_scale(&m, x, B, T, S, S, &err), 0);
    ck_assert_int_eq(vdit_vae_encode(&m, x, B, T, S, S, z, &err), 0);
    double s = 0, ss = 0;
    for (size_t i = 0; i < nz; i++) s += z[i];
    s /= nz;
    for (size_t i = 0; i < nz; i++) ss += (z[i] - s) * (z[i] - s);
    ck_assert_double_lt(fabs(sqrt(ss / nz) - 1.0), 1e-3);
    /* shapes that do not fit */
    ck_assert_int_eq(vdit_vae_encode(&m, x, 1, 1, 10, 16, z, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not divisible by the VAE's downsample 4"));
    ck_assert_int_eq(vdit_vae_backward(&m, &err), -1); /* encode leaves nothing to differentiate */
    free(x), free(z), free(mean), free(lv), free(y), free(z1);
    vdit_vae_free(&m);
}
END_TEST

START_TEST(test_temporal_causal)
{
    vdit_vae_config cfg = tiny_config(2, 2);
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 4);
    int T = 8, S = 8, Cl = cfg.latent_channels, h = S / 2, Tl = T / 2;
    size_t nx = (size_t)T * 3 * S * S, fz = (size_t)Cl * h * h, fx = (size_t)3 * S * S;
    float *x = zeros(nx), *z1 = zeros(Tl * fz), *z2 = zeros(Tl * fz);
    synth_videos(x, 1, T, S, 5);
    ck_assert_int_eq(vdit_vae_encode(&m, x, 1, T, S, S, z1, &err), 0);
    /* change frames 6 and 7: latent frames 0..2 (frames 0..5) must not move, frame 3 must */
    for (size_t i = 6 * fx; i < nx; i++) x[i] = -x[i];
    ck_assert_int_eq(vdit_vae_encode(&m, x, 1, T, S, S, z2, &err), 0);
    ck_assert_double_eq(max_abs_diff(z1, z2, 3 * fz), 0.0);
    ck_assert_double_gt(max_abs_diff(z1 + 3 * fz, z2 + 3 * fz, fz), 1e-4);
    /* decoder: changing latent frame 2 leaves output frames 0..3 alone */
    float *y1 = zeros(nx), *y2 = zeros(nx);
    ck_assert_int_eq(vdit_vae_decode(&m, z1, 1, Tl, h, h, y1, &err), 0);
    for (size_t i = 2 * fz; i < 3 * fz; i++) z1[i] += 1.0f;
    ck_assert_int_eq(vdit_vae_decode(&m, z1, 1, Tl, h, h, y2, &err), 0);
    ck_assert_double_eq(max_abs_diff(y1, y2, 4 * fx), 0.0);
    ck_assert_double_gt(max_abs_diff(y1 + 4 * fx, y2 + 4 * fx, fx), 1e-4);
    /* an odd frame count does not fit */
    ck_assert_int_eq(vdit_vae_encode(&m, x, 1, 7, S, S, z2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "temporal factor 2"));
    free(x), free(z1), free(z2), free(y1), free(y2);
    vdit_vae_free(&m);
}
END_TEST

/* ------------------------------------------------------------------------
 * a short training run
 * ---------------------------------------------------------------------- */

static double recon_mse(vdit_vae *m, const float *x, int n, int S)
{
    vdit_err err;
    vdit_vae_losses l;
    vdit_vae_loss_config lc = {VDIT_RECON_MSE, 0.0f, 0, 0};
    ck_assert_int_eq(vdit_vae_forward(m, x, n, 1, S, S, lc, &l, &err), 0);
    return l.recon;
}

START_TEST(test_training_improves)
{
    vdit_vae_config cfg;
    vdit_vae_config_default(&cfg);
    cfg.channels[0] = 8, cfg.channels[1] = 16, cfg.channels[2] = 16;
    cfg.groups = 4;
    vdit_vae m;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 1);
    int S = 16, Btr = 64, Bte = 16, batch = 16;
    float *train = zeros((size_t)Btr * 3 * S * S), *test = zeros((size_t)Bte * 3 * S * S);
    synth_videos(train, Btr, 1, S, 100);
    synth_videos(test, Bte, 1, S, 200); /* held out */
    double before = recon_mse(&m, test, Bte, S);
    float *mom = zeros(m.num_params), *vel = zeros(m.num_params);
    vdit_adamw_config ac = {2e-3f, 0.9f, 0.999f, 1e-8f, 0.0f};
    vdit_vae_loss_config lc = {VDIT_RECON_L1, VDIT_VAE_KL_WEIGHT, 1, 0};
    double first = 0, last = 0;
    for (int step = 1; step <= 150; step++) {
        lc.seed = step;
        vdit_vae_losses l;
        const float *xb = train + (size_t)((step * batch) % Btr) * 3 * S * S;
        ck_assert_int_eq(vdit_vae_forward(&m, xb, batch, 1, S, S, lc, &l, &err), 0);
        vdit_vae_zero_grad(&m);
        ck_assert_int_eq(vdit_vae_backward(&m, &err), 0);
        vdit_adamw_step(m.params_mem, m.grads_mem, mom, vel, m.num_params, step, ac);
        if (step == 1) first = l.recon;
        last = l.recon;
    }
    double after = recon_mse(&m, test, Bte, S);
    ck_assert_msg(after < 0.25 * before, "held-out MSE %g after training, %g before", after, before);
    ck_assert_msg(last < 0.5 * first, "training L1 %g at the end, %g at the start", last, first);
    free(train), free(test), free(mom), free(vel);
    vdit_vae_free(&m);
}
END_TEST

START_TEST(test_deterministic)
{
    /* same seed, same thread count: bit-identical gradients */
    vdit_vae_config cfg = tiny_config(4, 1);
    float *g[2];
    int S = 16, B = 5;
    float *x = zeros((size_t)B * 3 * S * S);
    synth_videos(x, B, 1, S, 9);
    for (int r = 0; r < 2; r++) {
        vdit_vae m;
        vdit_err err;
        ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
        vdit_vae_init_weights(&m, 6);
        vdit_vae_loss_config lc = {VDIT_RECON_L1, 0.01f, 1, 3};
        vdit_vae_losses l;
        ck_assert_int_eq(vdit_vae_forward(&m, x, B, 1, S, S, lc, &l, &err), 0);
        ck_assert_int_eq(vdit_vae_backward(&m, &err), 0);
        g[r] = malloc(m.num_params * sizeof(float));
        memcpy(g[r], m.grads_mem, m.num_params * sizeof(float));
        if (r) ck_assert_int_eq(memcmp(g[0], g[1], m.num_params * sizeof(float)), 0);
        vdit_vae_free(&m);
    }
    free(g[0]), free(g[1]), free(x);
}
END_TEST

/* ------------------------------------------------------------------------
 * checkpoints
 * ---------------------------------------------------------------------- */

/* Writes the model's tensors under (possibly altered) names and metadata. */
static int write_altered(const vdit_vae *m, const char *path, int drop, int misshape, int extra, const char *fmt,
                         const char *cfg, const char *scale)
{
    int n = vdit_vae_param_table(m, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    vdit_vae_param_table(m, info, n);
    vdit_st_tensor *t = calloc(n + 1, sizeof *t);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (i == drop) continue;
        t[k].name = info[i].name;
        t[k].ndim = info[i].ndim;
        for (int d = 0; d < info[i].ndim; d++) t[k].shape[d] = info[i].shape[d];
        t[k].data = m->params_mem + info[i].offset;
        t[k].numel = info[i].numel;
        if (i == misshape) { /* same element count, other shape */
            t[k].ndim = 1;
            t[k].shape[0] = info[i].numel;
        }
        k++;
    }
    if (extra) {
        t[k].name = "encoder.extra.weight";
        t[k].ndim = 1;
        t[k].shape[0] = 1;
        t[k].data = m->params_mem;
        t[k].numel = 1;
        k++;
    }
    const char *keys[3] = {"format", "config", "scale_factor"}, *vals[3] = {fmt, cfg, scale};
    vdit_err err;
    int rc = vdit_st_write(path, t, k, keys, vals, 3, &err);
    free(info), free(t);
    return rc;
}

START_TEST(test_checkpoint)
{
    make_tmpdir();
    vdit_vae_config cfg = tiny_config(4, 2);
    vdit_vae m, m2;
    vdit_err err;
    ck_assert_int_eq(vdit_vae_create(&m, &cfg, &err), 0);
    vdit_vae_init_weights(&m, 8);
    m.scale_factor = 0.625f;
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/vae.safetensors", tmpdir);
    ck_assert_int_eq(vdit_vae_save(&m, m.params_mem, path, "{\"steps\":3}", &err), 0);
    ck_assert_int_eq(vdit_vae_load(&m2, path, &err), 0);
    ck_assert_int_eq(memcmp(&m.cfg, &m2.cfg, sizeof cfg), 0);
    ck_assert_uint_eq(m.num_params, m2.num_params);
    ck_assert_int_eq(memcmp(m.params_mem, m2.params_mem, m.num_params * sizeof(float)), 0);
    ck_assert_float_eq(m2.scale_factor, 0.625f);
    vdit_st_file f;
    ck_assert_int_eq(vdit_st_read(path, &f, &err), 0);
    ck_assert_str_eq(vdit_st_meta(&f, "format"), "vdit-vae");
    ck_assert_str_eq(vdit_st_meta(&f, "train"), "{\"steps\":3}");
    ck_assert_ptr_nonnull(strstr(vdit_st_meta(&f, "config"), "\"temporal\":2"));
    vdit_st_free(&f);
    vdit_vae_free(&m2);

    char *cj = vdit_vae_config_to_json(&cfg);
    vdit_vae_config other = cfg;
    other.latent_channels = 3;
    char *oj = vdit_vae_config_to_json(&other);
    struct {
        int drop, misshape, extra;
        const char *fmt, *cfg, *scale, *msg;
    } cases[] = {
        {-1, -1, 0, "vdit-dit", cj, "1", "not a vdit VAE checkpoint (__metadata__ \"format\" is \"vdit-dit\""},
        {-1, -1, 0, "vdit-vae", "{\"channels\":[4]}", "1", "VAE config has no"},
        {-1, -1, 0, "vdit-vae", cj, "0", "\"scale_factor\" is 0, expected a positive number"},
        {-1, -1, 0, "vdit-vae", cj, "nan", "\"scale_factor\" is nan"},
        {3, -1, 0, "vdit-vae", cj, "1", "missing tensor 'encoder.down.0.block.0.norm1.bias'"},
        {-1, 4, 0, "vdit-vae", cj, "1", "tensor 'encoder.down.0.block.0.conv1.weight' has shape [144], the config needs [4,4,3,3]"},
        {-1, -1, 1, "vdit-vae", cj, "1", "unexpected tensor 'encoder.extra.weight'"},
        /* a checkpoint of another config: its tensors do not fit this one */
        {-1, -1, 0, "vdit-vae", oj, "1", "'encoder.conv_out.weight' has shape [4,6,3,3], the config needs [6,6,3,3]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bad, sizeof bad, "%s/bad%zu.safetensors", tmpdir, i);
        ck_assert_int_eq(write_altered(&m, bad, cases[i].drop, cases[i].misshape, cases[i].extra, cases[i].fmt,
                                       cases[i].cfg, cases[i].scale),
                         0);
        ck_assert_int_eq(vdit_vae_load(&m2, bad, &err), -1);
        ck_assert_msg(strstr(err.msg, cases[i].msg) && strstr(err.msg, bad), "case %zu: '%s' lacks '%s'", i, err.msg,
                      cases[i].msg);
    }
    /* a missing file and a file that is not safetensors */
    snprintf(bad, sizeof bad, "%s/none.safetensors", tmpdir);
    ck_assert_int_eq(vdit_vae_load(&m2, bad, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, bad));
    snprintf(bad, sizeof bad, "%s/junk.safetensors", tmpdir);
    ck_assert_int_eq(vdit_write_file_atomic(bad, "junk", 4, &err), 0);
    ck_assert_int_eq(vdit_vae_load(&m2, bad, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, bad));
    /* a DiT checkpoint is not a VAE */
    vdit_dit_config dc = {.latent_channels = 2, .hidden = 16, .depth = 1, .heads = 2, .patch = {1, 2, 2},
                          .grid = {2, 4, 4}, .num_classes = 0, .attention = VDIT_ATTN_FULL, .objective = VDIT_OBJ_EPS};
    vdit_dit d;
    ck_assert_int_eq(vdit_dit_create(&d, &dc, &err), 0);
    snprintf(bad, sizeof bad, "%s/dit.safetensors", tmpdir);
    ck_assert_int_eq(vdit_dit_save(&d, d.params_mem, bad, &err), 0);
    ck_assert_int_eq(vdit_vae_load(&m2, bad, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a vdit VAE checkpoint"));
    vdit_dit_free(&d);
    free(cj), free(oj);
    vdit_vae_free(&m);
    remove_tmpdir();
}
END_TEST

START_TEST(test_lr_schedule)
{
    const double PI = 3.14159265358979323846;
    /* the VAE's convention: warm-up in double, then the cosine over the
     * whole run (p = s / steps, or the time used when larger) */
    vdit_lr_schedule v = {1e-3f, 5e-5f, 20, 60, VDIT_LR_VAE};
    ck_assert(vdit_lr_schedule_at(&v, 0, 0) == (double)1e-3f / 20);
    ck_assert(vdit_lr_schedule_at(&v, 19, 0) == (double)1e-3f);
    double lr = 5e-5f, span = 1e-3f - 5e-5f;
    ck_assert_double_eq_tol(vdit_lr_schedule_at(&v, 20, 0), lr + 0.5 * span * (1 + cos(PI / 3)), 1e-12);
    ck_assert_double_eq_tol(vdit_lr_schedule_at(&v, 39, 0), 3.0935e-4, 5e-8); /* the log's 0.0003094 */
    ck_assert_double_eq_tol(vdit_lr_schedule_at(&v, 39, 0.9), lr + 0.5 * span * (1 + cos(0.9 * PI)), 1e-12);
    ck_assert(vdit_lr_schedule_at(&v, 40, 2.0) == (double)5e-5f);
    v.steps = 0; /* minutes only: the time alone drives the cosine */
    ck_assert_double_eq_tol(vdit_lr_schedule_at(&v, 30, 0.5), lr + 0.5 * span, 1e-12);
    /* the DiT's: warm-up in float, the cosine over the steps after it */
    vdit_lr_schedule d = {1e-3f, 5e-5f, 20, 60, VDIT_LR_DIT};
    ck_assert(vdit_lr_schedule_at(&d, 20, 0) == (double)1e-3f);
    ck_assert(vdit_lr_schedule_at(&d, 59, 0) == (double)5e-5f);
    ck_assert(vdit_lr_schedule_at(&d, 2, 0) == (double)(1e-3f * 3.0f / 20.0f));
    vdit_train_config tc;
    vdit_train_config_default(&tc);
    for (int s = 0; s < tc.steps; s += 7) {
        vdit_lr_schedule t = {tc.lr, tc.min_lr, tc.warmup, tc.steps, VDIT_LR_DIT};
        ck_assert(vdit_lr_at(&tc, s) == (float)vdit_lr_schedule_at(&t, s, 0));
    }
}
END_TEST

/* A trainer on `videos` (6 random videos of 2 frames of 16x16). */
static void tiny_trainer(vdit_vae_trainer *tr, const uint8_t *videos, int steps)
{
    vdit_vae_config mc = tiny_config(4, 1);
    vdit_vae_train_config tc;
    vdit_vae_train_config_default(&tc);
    tc.batch = 2, tc.clip_frames = 1, tc.steps = steps, tc.warmup = 2, tc.ema_decay = 0.9f;
    tc.val_split = 0.34f, tc.val_interval = 3, tc.log_interval = 2;
    vdit_err err;
    ck_assert_msg(vdit_vae_trainer_create(tr, &mc, &tc, videos, 6, 2, 16, &err) == 0, "%s", err.msg);
}

START_TEST(test_trainer_resume)
{
    /* 8 steps straight, and 5 steps + a state + 3 steps in a new trainer:
     * the same weights, scale factor and log, bit for bit */
    make_tmpdir();
    size_t n = (size_t)6 * 2 * 16 * 16 * 3;
    uint8_t *videos = malloc(n);
    for (size_t i = 0; i < n; i++) videos[i] = (uint8_t)(vdit_rng_at(4, i) % 256);
    char state[300];
    snprintf(state, sizeof state, "%s/vae.state.safetensors", tmpdir);
    vdit_vae_trainer a, b;
    vdit_err err;
    double mse_a, mse_b;
    tiny_trainer(&a, videos, 8);
    ck_assert_int_eq(a.nval, 2);
    ck_assert_ptr_nonnull(a.ema);
    while (!vdit_vae_trainer_done(&a, 0)) {
        ck_assert_int_eq(vdit_vae_trainer_step(&a, 0, NULL, &err), 0);
        ck_assert_int_ge(vdit_vae_trainer_log(&a, 0, &err), 0);
    }
    ck_assert_int_eq(vdit_vae_trainer_finish(&a, 0, &mse_a, &err), 0);
    tiny_trainer(&b, videos, 8);
    for (int s = 0; s < 5; s++) {
        ck_assert_int_eq(vdit_vae_trainer_step(&b, 0, NULL, &err), 0);
        ck_assert_int_ge(vdit_vae_trainer_log(&b, 0, &err), 0);
    }
    ck_assert_int_eq(vdit_vae_trainer_save_state(&b, state, &err), 0);
    vdit_vae_trainer_free(&b);
    tiny_trainer(&b, videos, 8);
    ck_assert_msg(vdit_vae_trainer_load_state(&b, state, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(b.step, 5);
    ck_assert_int_eq(b.nacc, 1); /* step 5: one step since the row of step 4 */
    while (!vdit_vae_trainer_done(&b, 0)) {
        ck_assert_int_eq(vdit_vae_trainer_step(&b, 0, NULL, &err), 0);
        ck_assert_int_ge(vdit_vae_trainer_log(&b, 0, &err), 0);
    }
    ck_assert_int_eq(vdit_vae_trainer_finish(&b, 0, &mse_b, &err), 0);
    ck_assert(memcmp(a.model.params_mem, b.model.params_mem, a.model.num_params * sizeof(float)) == 0);
    ck_assert(a.model.scale_factor == b.model.scale_factor);
    ck_assert(mse_a == mse_b && isfinite(mse_a));
    ck_assert_str_eq(a.log.s, b.log.s);
    /* rows at steps 2, 3 (validation), 4, 6 (both), 8 and the end */
    int rows = 0;
    for (const char *p = a.log.s; *p; p++) rows += *p == '\n';
    ck_assert_int_eq(rows, 1 + 6);
    vdit_vae_trainer_free(&b);
    /* another run's settings: refused, naming the file */
    vdit_vae_config mc = tiny_config(4, 1);
    vdit_vae_train_config tc = a.cfg;
    tc.seed = 2;
    ck_assert_int_eq(vdit_vae_trainer_create(&b, &mc, &tc, videos, 6, 2, 16, &err), 0);
    ck_assert_int_eq(vdit_vae_trainer_load_state(&b, state, &err), -1);
    ck_assert_msg(strstr(err.msg, "vae.state.safetensors: saved for settings"), "%s", err.msg);
    ck_assert_int_eq(b.step, 0);
    vdit_vae_trainer_free(&b);
    vdit_vae_trainer_free(&a);
    free(videos);
    remove_tmpdir();
}
END_TEST

int main(void)
{
Suite *s = suite_create("vae");
    TCase *tc = tcase_create("vae");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_param_names);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_grads_2x_mse);
    tcase_add_test(tc, test_grads_4x_blocks2);
    tcase_add_test(tc, test_grads_temporal_causal);
    tcase_add_test(tc, test_grads_l1);
    tcase_add_test(tc, test_kl_and_recon_values);
    tcase_add_test(tc, test_encode_decode_layout);
    tcase_add_test(tc, test_temporal_causal);
    tcase_add_test(tc, test_training_improves);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_checkpoint);
    tcase_add_test(tc, test_lr_schedule);
    tcase_add_test(tc, test_trainer_resume);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
