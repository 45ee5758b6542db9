/* check_eval.c - the physics benchmark's metrics (eval/): hand-computed
 * values on tiny inputs, the truth scoring perfectly, each corruption moving
 * its metric and leaving the others alone, the baselines, Frechet
 * distances, bootstrap, the runner, the loaders and the report. */
#define _POSIX_C_SOURCE 200809L
#include <gif_lib.h>
#include <jansson.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "eval.h"
#include "eval_scenes.h"
#include "testutil.h"

/* ------------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------- */

typedef struct {
    scene_spec sp;
    int T, S, ctx;
    float *states;
    float params[8];
    int contact;
    uint8_t *truth, *take2;
    eval_info info;
} scene;

static void scene_make(scene *s, scene_spec sp, int T, int S)
{
    memset(s, 0, sizeof *s);
    s->sp = sp, s->T = T, s->S = S, s->ctx = 3;
    s->states = malloc((size_t)T * 10 * sizeof(float));
    s->truth = malloc((size_t)T * S * S * 3);
    s->take2 = malloc((size_t)T * S * S * 3);
    scene_states(&sp, T, s->states, s->params, &s->contact);
    scene_render(&sp, s->states, T, S, s->truth);
    /* the second take: initial speed perturbed by 1% */
    scene_spec p2 = sp;
    p2.v1 *= 1.01;
    float *st2 = malloc((size_t)T * 10 * sizeof(float)), pp[8];
    int c2;
    scene_states(&p2, T, st2, pp, &c2);
    scene_render(&p2, st2, T, S, s->take2);
    free(st2);
    s->info = (eval_info){T, S, s->ctx, sp.scenario, sp.split, s->contact, s->params, s->states};
}

static void scene_free(scene *s)
{
    free(s->states), free(s->truth), free(s->take2);
}

static void score(const scene *s, const uint8_t *video, double *m)
{
    eval_ref r;
    vdit_err err;
    ck_assert_msg(eval_ref_init(&r, &s->info, s->truth, s->take2, &err) == 0, "%s", err.msg);
    ck_assert_msg(eval_score(&r, video, m, NULL, NULL, &err) == 0, "%s", err.msg);
    eval_ref_free(&r);
}

/* renders modified states as a "generated" video */
static uint8_t *render_states(const scene *s, const float *states)
{
    uint8_t *v = malloc((size_t)s->T * s->S * s->S * 3);
    scene_render(&s->sp, states, s->T, s->S, v);
    return v;
}

static float *copy_states(const scene *s)
{
    float *st = malloc((size_t)s->T * 10 * sizeof(float));
    memcpy(st, s->states, (size_t)s->T * 10 * sizeof(float));
    return st;
}

static void print_metrics(const char *what, const double *m)
{
    if (!getenv("EVAL_VERBOSE")) return;
    fprintf(stderr, "%-22s", what);
    for (int k = 0; k < EVAL_NUM_METRICS; k++) fprintf(stderr, " %s=%.4g", eval_metrics[k].name, m[k]);
    fprintf(stderr, "\n");
}

static const eval_stat *st_at(const eval_result *r, int src, int g, int k)
{
    return r->stats + ((size_t)src * EVAL_NUM_GROUPS + g) * EVAL_NUM_METRICS + k;
}

/* removes a test's temporary directory */
static void rm_rf(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

#define ASSERT_NEAR(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.6g, expected %.6g +- %.3g", #a, (double)(a), (double)(b), (double)(tol))

/* ------------------------------------------------------------------------
 * hand-computed values on tiny inputs
 * ---------------------------------------------------------------------- */

START_TEST(test_grey_blur_hand)
{
    /* grey: (4899 R + 9617 G + 1868 B + 8192) >> 14 */
    uint8_t rgb[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100}, g[4];
    eval_grey(rgb, 1, 4, g);
    ck_assert_int_eq(g[0], 76);  /* 0.299 * 255 = 76.2 */
    ck_assert_int_eq(g[1], 150); /* 0.587 * 255 = 149.7 */
    ck_assert_int_eq(g[2], 29);  /* 0.114 * 255 = 29.1 */
    ck_assert_int_eq(g[3], 100);
    /* blur of an impulse of 255 on a 6x6 frame: weights k_i k_j / 256 */
    uint8_t in[36] = {0}, out[36];
    uint16_t tmp[36];
    in[2 * 6 + 2] = 255;
    eval_blur5(in, 6, 6, out, tmp);
    ck_assert_int_eq(out[2 * 6 + 2], 36);  /* 36*255/256 = 35.86 */
    ck_assert_int_eq(out[2 * 6 + 3], 24);  /* 24*255/256 = 23.9 */
    ck_assert_int_eq(out[3 * 6 + 3], 16);  /* 16*255/256 = 15.9 */
    ck_assert_int_eq(out[0 * 6 + 0], 4);   /* 4*255/256 = 3.98 */
    ck_assert_int_eq(out[2 * 6 + 5], 0);   /* 3 columns away */
    ck_assert_int_eq(out[4 * 6 + 4], 1);   /* 1*255/256 = 0.996 -> 1 */
    /* reflect-101 at the border: an impulse at (1,0) reaches (0,0) through
     * rows -1 and +1 (both row 1): (4+4)*6 = 48 */
    memset(in, 0, sizeof in);
    in[1 * 6 + 0] = 255;
    eval_blur5(in, 6, 6, out, tmp);
    ck_assert_int_eq(out[0], 48);
    /* an impulse at (0,0) reaches (0,0) once: 36 */
    memset(in, 0, sizeof in);
    in[0] = 255;
    eval_blur5(in, 6, 6, out, tmp);
    ck_assert_int_eq(out[0], 36);
    ck_assert_int_eq(out[1], 24); /* (0,1): row weight 6 x column weight 4 (offset -1) */
    /* a uniform frame is left alone */
    memset(in, 77, sizeof in);
    eval_blur5(in, 6, 6, out, tmp);
    for (int i = 0; i < 36; i++) ck_assert_int_eq(out[i], 77);
}
END_TEST

START_TEST(test_morphology_hand)
{
    uint8_t a[36] = {0}, b[36], c[36];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) a[i * 6 + j] = 1;
    eval_erode5(a, 6, 6, b); /* only the 3x3 top-left corner keeps its whole (clipped) window */
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) ck_assert_int_eq(b[i * 6 + j], i < 3 && j < 3);
    eval_dilate5(b, 6, 6, c); /* the opening gives the 5x5 block back */
    ck_assert_mem_eq(a, c, 36);
    /* a lone pixel does not survive an opening */
    memset(a, 0, sizeof a);
    a[2 * 6 + 3] = 1;
    eval_erode5(a, 6, 6, b);
    for (int i = 0; i < 36; i++) ck_assert_int_eq(b[i], 0);
    /* a lone pixel dilates to its clipped 5x5 window */
    eval_dilate5(a, 6, 6, c);
    int n = 0;
    for (int i = 0; i < 36; i++) n += c[i];
    ck_assert_int_eq(n, 5 * 5); /* rows 0..4, columns 1..5 */
    ck_assert_int_eq(c[5 * 6 + 3], 0);
}
END_TEST

static void grey_video(uint8_t *v, int T, const int *levels)
{
    for (int t = 0; t < T; t++) memset(v + (size_t)t * 108, levels[t], 108);
}

START_TEST(test_motion_mask_hand)
{
    /* uniform grey frames 100 then 115: background 0.3*115 + 0.7*100 = 104.5
     * exactly, rounded to even -> 104; |115 - 104| = 11 > 10: motion */
    uint8_t v[3 * 108], m[3 * 36];
    vdit_err err;
    int l1[3] = {100, 115, 115};
    grey_video(v, 3, l1);
    ck_assert_int_eq(eval_motion_masks(v, 3, 6, 6, m, &err), 0);
    for (int i = 0; i < 36; i++) {
        ck_assert_int_eq(m[i], 0);      /* frame 0 never moves */
        ck_assert_int_eq(m[36 + i], 1); /* 11 > 10 */
    }
    /* frame 2: background 0.3*115 + 0.7*104.5 = 107.65 -> 108; |115-108| = 7 */
    for (int i = 0; i < 36; i++) ck_assert_int_eq(m[72 + i], 0);
    /* 100 then 114: background 104.2 -> 104, |114 - 104| = 10, not > 10 */
    int l2[3] = {100, 114, 130};
    grey_video(v, 3, l2);
    ck_assert_int_eq(eval_motion_masks(v, 3, 6, 6, m, &err), 0);
    for (int i = 0; i < 36; i++) ck_assert_int_eq(m[36 + i], 0);
    /* frame 2: background 0.3*130 + 0.7*104.2 = 111.94 -> 112, |130-112| = 18 */
    for (int i = 0; i < 36; i++) ck_assert_int_eq(m[72 + i], 1);
    /* a 2x2 dark square on frame 1 is too small for the 5x5 opening */
    int l3[2] = {255, 255};
    grey_video(v, 2, l3);
    for (int i = 2; i < 4; i++)
        for (int j = 2; j < 4; j++) memset(v + 108 + (i * 6 + j) * 3, 0, 3);
    ck_assert_int_eq(eval_motion_masks(v, 2, 6, 6, m, &err), 0);
    for (int i = 0; i < 36; i++) ck_assert_int_eq(m[36 + i], 0);
    ck_assert_int_eq(eval_motion_masks(v, 0, 6, 6, m, &err), -1);
}
END_TEST

START_TEST(test_mask_metrics_hand)
{
    /* two frames of 6x6 masks:
     *   a: t0 {(0,0),(0,1)}   t1 {(0,0),(1,1)}
     *   b: t0 {(0,0)}         t1 {(0,0),(5,5)}
     * spatial: A = {00,01,11}, B = {00,55}: 1/4
     * spatiotemporal: t0 1/2, t1 1/3 -> 5/12
     * weighted: counts a 00:2 01:1 11:1, b 00:2 55:1 -> min 2 / max 5 */
    uint8_t a[72] = {0}, b[72] = {0}, va[216], vb[216];
    a[0] = a[1] = 1, a[36 + 0] = a[36 + 7] = 1;
    b[0] = 1, b[36 + 0] = b[36 + 35] = 1;
    memset(va, 0, sizeof va);
    memset(vb, 0, sizeof vb);
    vb[108 + 5] = 51; /* frame 1: one channel of one pixel off by 0.2 */
    double m[4];
    eval_mask_metrics(a, b, va, vb, 2, 6, 6, 0, m);
    ASSERT_NEAR(m[EVAL_MASK_SPATIAL], 0.25, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_ST], 5.0 / 12.0, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_WSPATIAL], 0.4, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_MSE], 0.5 * (0.2 * 0.2 / 108.0), 1e-12);
    /* from frame 1 only: spatial {00,11} vs {00,55}: 1/3; st 1/3; weighted 1/3 */
    eval_mask_metrics(a, b, va, vb, 2, 6, 6, 1, m);
    ASSERT_NEAR(m[EVAL_MASK_SPATIAL], 1.0 / 3.0, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_ST], 1.0 / 3.0, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_WSPATIAL], 1.0 / 3.0, 1e-12);
    ASSERT_NEAR(m[EVAL_MASK_MSE], 0.04 / 108.0, 1e-12);
    /* no motion on either side is a perfect match */
    uint8_t z[72] = {0};
    eval_mask_metrics(z, z, va, va, 2, 6, 6, 0, m);
    for (int k = 0; k < 3; k++) ck_assert_double_eq(m[k], 1.0);
    ck_assert_double_eq(m[EVAL_MASK_MSE], 0.0);
}
END_TEST

START_TEST(test_physics_iq_score_hand)
{
    double m[4] = {0.5, 0.4, 0.3, 0.02}, var[4] = {1.0, 0.8, 0.2, 0.01};
    /* 0.5, 0.5, 1.5 -> 1, 0.01/0.02 = 0.5 */
    ASSERT_NEAR(eval_physics_iq_score(m, var), 0.625, 1e-6);
    double perfect[4] = {1, 1, 1, 0}, zero_var[4] = {1, 1, 1, 0};
    ck_assert_double_eq(eval_physics_iq_score(perfect, var), 1.0);
    ck_assert_double_eq(eval_physics_iq_score(perfect, zero_var), 1.0); /* 0/0 counts as a match */
    double bad[4] = {0, 0, 0, 1};
    ASSERT_NEAR(eval_physics_iq_score(bad, var), 0.25 * 0.01, 1e-9);
    double nan_var[4] = {NAN, 1, 1, 0};
    ck_assert(isnan(eval_physics_iq_score(m, nan_var)));
}
END_TEST

START_TEST(test_flicker_hand)
{
    /* 6x6, 3 frames: all 100, all 110, all 110 but (0,0) = 200
     * whole frame: MAE 10, then 90*3/108 = 2.5 -> (255 - 6.25) / 255 */
    uint8_t v[3 * 108], ex[3 * 36] = {0};
    memset(v, 100, 108);
    memset(v + 108, 110, 216);
    memset(v + 216, 200, 3);
    ASSERT_NEAR(eval_flicker(v, 3, 6, 6, 1, NULL, NULL), (255.0 - 6.25) / 255.0, 1e-12);
    /* (0,0) excluded at frame 2 (so in transition 1->2 only): MAE 10, 0 */
    ex[72] = 1;
    ASSERT_NEAR(eval_flicker(v, 3, 6, 6, 1, ex, NULL), (255.0 - 5.0) / 255.0, 1e-12);
    ASSERT_NEAR(eval_flicker(v, 3, 6, 6, 1, NULL, ex), (255.0 - 5.0) / 255.0, 1e-12);
    /* from frame 2 on only */
    ASSERT_NEAR(eval_flicker(v, 3, 6, 6, 2, NULL, NULL), (255.0 - 2.5) / 255.0, 1e-12);
    /* everything excluded: NaN */
    memset(ex, 1, sizeof ex);
    ck_assert(isnan(eval_flicker(v, 3, 6, 6, 1, ex, NULL)));
    /* a static video is perfectly steady */
    memset(v, 37, sizeof v);
    ck_assert_double_eq(eval_flicker(v, 3, 6, 6, 1, NULL, NULL), 1.0);
}
END_TEST

START_TEST(test_track_hand)
{
    /* a 2x2 red block at rows 1-2, columns 3-4 of a 10x10 frame (1 unit
     * pixels): centre (4, 8) in world units, radius sqrt(4/pi) */
    uint8_t f[300];
    memset(f, 255, sizeof f);
    for (int i = 1; i <= 2; i++)
        for (int j = 3; j <= 4; j++) {
            uint8_t *p = f + (i * 10 + j) * 3;
            p[0] = 200, p[1] = 30, p[2] = 30;
        }
    uint8_t *p = f + (9 * 10 + 0) * 3; /* one blue pixel at the bottom left: (0.5, 0.5) */
    p[0] = 0, p[1] = 0, p[2] = 255;
    float out[6], debris;
    int32_t scratch[200];
    ck_assert_int_eq((int)eval_track_scratch(10), 200);
    eval_track_frame(f, 10, NULL, out, &debris, scratch); /* no area gate */
    ASSERT_NEAR(debris, 0.0, 1e-9);
    ASSERT_NEAR(out[0], 4.0, 1e-6);
    ASSERT_NEAR(out[1], 8.0, 1e-6);
    ASSERT_NEAR(out[2], sqrt(4.0 / 3.14159265358979), 1e-6);
    ASSERT_NEAR(out[3], 0.5, 1e-6);
    ASSERT_NEAR(out[4], 0.5, 1e-6);
    /* thresholds are strict: G = 127 is not red; nothing else counts */
    memset(f, 255, sizeof f);
    f[0] = 255, f[1] = 127, f[2] = 0;
    f[3] = 128, f[4] = 126, f[5] = 126; /* red */
    eval_track_frame(f, 10, NULL, out, NULL, scratch);
    ASSERT_NEAR(out[0], 1.5, 1e-6);
    ck_assert(isnan(out[3]) && isnan(out[4]) && isnan(out[5]));

    /* the gates: a 2x2 red block (area 4) and a lone red pixel, 5 pixels in all */
    memset(f, 255, sizeof f);
    for (int i = 1; i <= 2; i++)
        for (int j = 3; j <= 4; j++) {
            uint8_t *q = f + (i * 10 + j) * 3;
            q[0] = 200, q[1] = 30, q[2] = 30;
        }
    p = f + (7 * 10 + 7) * 3;
    p[0] = 200, p[1] = 30, p[2] = 30;
    float r_ok[2] = {(float)sqrt(4.0 / 3.14159265358979), -1.0f};
    eval_track_frame(f, 10, r_ok, out, &debris, scratch); /* 4 of 5 = 80%: found */
    ASSERT_NEAR(out[0], 4.0, 1e-6);
    ASSERT_NEAR(out[1], 8.0, 1e-6);
    ASSERT_NEAR(debris, 0.01, 1e-7); /* the lone pixel */
    p = f + (7 * 10 + 8) * 3;        /* a second stray pixel, touching the first: 4 of 6 < 80% */
    p[0] = 200, p[1] = 30, p[2] = 30;
    eval_track_frame(f, 10, r_ok, out, &debris, scratch);
    ck_assert(isnan(out[0]) && isnan(out[1]) && isnan(out[2]));
    ASSERT_NEAR(debris, 0.06, 1e-7); /* every red pixel is debris */
    p[0] = p[1] = p[2] = 255;
    /* the area gate: 4 pixels against an expected pi r^2 */
    float r_big[2] = {2.3f, -1.0f}; /* 16.6 px: 4 >= 0.25 * 16.6 = 4.15? no: missing */
    eval_track_frame(f, 10, r_big, out, NULL, scratch);
    ck_assert(isnan(out[0]));
    float r_small[2] = {0.5f, -1.0f}; /* 0.785 px: 4 <= 4 * 0.785 = 3.14? no: missing */
    eval_track_frame(f, 10, r_small, out, NULL, scratch);
    ck_assert(isnan(out[0]));
    float r_edge[2] = {2.2f, -1.0f}; /* 15.2 px: 4 >= 3.8: found */
    eval_track_frame(f, 10, r_edge, out, NULL, scratch);
    ASSERT_NEAR(out[0], 4.0, 1e-6);
    /* a ball the scene does not have is never found, its pixels are debris */
    float r_none[2] = {-1.0f, -1.0f};
    eval_track_frame(f, 10, r_none, out, &debris, scratch);
    ck_assert(isnan(out[0]));
    ASSERT_NEAR(debris, 0.05, 1e-7);
    /* 8-connected: a diagonal chain is one component */
    memset(f, 255, sizeof f);
    for (int k = 0; k < 5; k++) {
        uint8_t *q = f + (k * 10 + k) * 3;
        q[0] = 0, q[1] = 0, q[2] = 255;
    }
    eval_track_frame(f, 10, NULL, out, &debris, scratch);
    ASSERT_NEAR(out[3], 2.5, 1e-6);
    ASSERT_NEAR(out[4], 7.5, 1e-6);
    ASSERT_NEAR(debris, 0.0, 1e-9);
}
END_TEST

/* ------------------------------------------------------------------------
 * VAE reconstructions (eval/recon.c)
 * ---------------------------------------------------------------------- */

START_TEST(test_recon_score_hand)
{
    enum { T = 8, S = 20 }; /* half a world unit a pixel */
    size_t n = (size_t)T * S * S * 3;
    uint8_t *a = malloc(n), *b = malloc(n);
    float trk_t[T * 6], trk_r[T * 6];
    int32_t *scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    double m[EVAL_RECON_NUM];
    /* PSNR: grey 100 against grey 110, MSE 100; then an exact copy (99 dB,
     * pooled MSE 50); no ball anywhere, so no position and no missing rate */
    memset(a, 100, n), memset(b, 110, n);
    eval_recon_stats st = {0};
    eval_recon_score(a, b, NULL, T, S, trk_t, trk_r, scratch, &st);
    ck_assert_int_eq(st.videos, 1);
    ck_assert_double_eq(st.mse_sum, 100.0);
    ASSERT_NEAR(st.psnr_sum, 28.130803608679106, 1e-12);
    eval_recon_score(a, a, NULL, T, S, trk_t, trk_r, scratch, &st);
    eval_recon_means(&st, m);
    ASSERT_NEAR(m[EVAL_RECON_PSNR], (28.130803608679106 + 99.0) / 2, 1e-12);
    ASSERT_NEAR(m[EVAL_RECON_PSNR_GLOBAL], 31.141103565318918, 1e-12);
    ck_assert(st.present == 0 && isnan(m[EVAL_RECON_MISSING]) && isnan(m[EVAL_RECON_POS]));
    ck_assert(isnan(m[EVAL_RECON_REC_VS_STATE]) && isnan(m[EVAL_RECON_TRUE_VS_STATE]));
    eval_recon_stats none = {0};
    eval_recon_means(&none, m);
    for (int k = 0; k < EVAL_RECON_NUM; k++) ck_assert(isnan(m[k]));

    /* positions: a red ball moving right in the middle, reconstructed one
     * pixel (0.5 units) further right; then gone from frame 5 on */
    scene_spec sp = {.scenario = EVAL_UNIFORM, .x0 = 3.0, .y0 = 5.0, .v1 = 1.0, .r1 = 1.0};
    float states[T * 10], params[8], shifted[T * 10];
    int contact;
    scene_states(&sp, T, states, params, &contact);
    memcpy(shifted, states, sizeof states);
    for (int t = 0; t < T; t++) shifted[t * 10] += 0.5f;
    scene_render(&sp, states, T, S, a);
    scene_render(&sp, shifted, T, S, b);
    memset(&st, 0, sizeof st);
    eval_recon_score(a, b, states, T, S, trk_t, trk_r, scratch, &st);
    ck_assert_int_eq(st.present, T); /* ball 0 in every frame; ball 1 not in the scene */
    ck_assert_int_eq(st.missing, 0);
    ck_assert_int_eq(st.pos_n, T);
    ck_assert_int_eq(st.sim_n, T);
    eval_recon_means(&st, m);
    ASSERT_NEAR(m[EVAL_RECON_POS], 0.5, 1e-4);
    ASSERT_NEAR(m[EVAL_RECON_POS_X], 0.5, 1e-4);
    ASSERT_NEAR(m[EVAL_RECON_POS_Y], 0.0, 1e-4);
    ck_assert_double_eq(m[EVAL_RECON_MISSING], 0.0);
    /* against the simulator: the truth within the tracker's floor (a
     * quarter pixel), the reconstruction half a unit off */
    ck_assert_double_lt(m[EVAL_RECON_TRUE_VS_STATE], 0.125);
    ck_assert_double_le(fabs(m[EVAL_RECON_REC_VS_STATE] - 0.5), m[EVAL_RECON_TRUE_VS_STATE] + 1e-4);
    memset(b + (size_t)5 * S * S * 3, 255, (size_t)(T - 5) * S * S * 3);
    eval_recon_stats gone = {0};
    eval_recon_score(a, b, states, T, S, trk_t, trk_r, scratch, &gone);
    ck_assert_int_eq(gone.present, T);
    ck_assert_int_eq(gone.missing, T - 5);
    ck_assert_int_eq(gone.pos_n, 5);
    eval_recon_means(&gone, m);
    ASSERT_NEAR(m[EVAL_RECON_MISSING], 3.0 / 8.0, 1e-12);
    ASSERT_NEAR(m[EVAL_RECON_POS], 0.5, 1e-4);
    /* sums add up */
    eval_recon_add(&gone, &st);
    ck_assert_int_eq(gone.videos, 2);
    ck_assert_int_eq(gone.present, 2 * T);
    ck_assert_int_eq(gone.missing, T - 5);
    eval_recon_means(&gone, m);
    ASSERT_NEAR(m[EVAL_RECON_MISSING], 3.0 / 16.0, 1e-12);
    free(a), free(b), free(scratch);
}
END_TEST

/* ------------------------------------------------------------------------
 * the truth scores perfectly
 * ---------------------------------------------------------------------- */

START_TEST(test_truth_perfect)
{
    for (int sc = 0; sc < EVAL_NUM_SCENARIOS; sc++) {
        scene s;
        scene_make(&s, scene_default(sc, 0.3), 32, 64);
        double m[EVAL_NUM_METRICS];
        score(&s, s.truth, m);
        print_metrics(eval_scenario_names[sc], m);
        /* kinematics: at the tracker's floor. A 64-pixel frame has 0.156
         * units a pixel; thresholding the anti-aliased rim moves a centroid by
         * up to a quarter pixel, 0.04 units, from frame to frame. */
        ck_assert_double_lt(m[EVAL_M_VEL], 0.05);
        ck_assert_double_lt(m[EVAL_M_POS_X], 0.02);
        ck_assert_double_lt(m[EVAL_M_POS_Y], 0.02);
        ck_assert_double_lt(m[EVAL_M_SHAPE], 0.05);
        ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
        ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
        /* debris: a ball cut by the frame's edge or the wall fails the gates */
        ck_assert_double_lt(m[EVAL_M_DEBRIS], 0.002);
        ck_assert_double_lt(fabs(m[EVAL_M_SPEED_ERR]), 0.05);
        /* box: the speed of frame differences dips at each wall (the path folds) */
        ASSERT_NEAR(m[EVAL_M_SPEED_TRUE], s.sp.v1, sc == EVAL_BOX ? 0.05 : 0.01);
        if (sc == EVAL_PARABOLA || sc == EVAL_BOUNCE)
            ck_assert_double_lt(m[EVAL_M_GRAVITY], 0.05);
        else
            ck_assert(isnan(m[EVAL_M_GRAVITY]));
        if (sc == EVAL_COLLISION) {
            ck_assert_double_lt(m[EVAL_M_VEL_PRE], 0.05);
            ck_assert_double_lt(m[EVAL_M_VEL_POST], 0.05);
            /* per-pair velocities carry the centroid jitter undamped */
            ck_assert_double_lt(m[EVAL_M_MOMENTUM], 0.35);
            ck_assert_double_lt(m[EVAL_M_ENERGY], 0.5);
        } else {
            ck_assert(isnan(m[EVAL_M_MOMENTUM]) && isnan(m[EVAL_M_VEL_PRE]));
        }
        /* pixels: exact */
        ck_assert_double_eq(m[EVAL_M_SPATIAL_IOU], 1.0);
        ck_assert_double_eq(m[EVAL_M_ST_IOU], 1.0);
        ck_assert_double_eq(m[EVAL_M_WSPATIAL_IOU], 1.0);
        ck_assert_double_eq(m[EVAL_M_MSE], 0.0);
        ck_assert_double_eq(m[EVAL_M_PHYSICS_IQ], 1.0);
        ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);
        ck_assert_double_eq(m[EVAL_M_FLICKER_ALL], eval_flicker(s.truth, s.T, s.S, s.S, s.ctx, NULL, NULL));
        /* the second take: a real but small physical variance */
        double m2[EVAL_NUM_METRICS];
        score(&s, s.take2, m2);
        print_metrics("  take2", m2);
        ck_assert_double_gt(m2[EVAL_M_MSE], 0.0);
        ck_assert_double_lt(m2[EVAL_M_ST_IOU], 1.0);
        ck_assert_double_ge(m2[EVAL_M_PHYSICS_IQ], 0.999); /* the take scores its own variance */
        scene_free(&s);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * corruptions
 * ---------------------------------------------------------------------- */

START_TEST(test_corrupt_freeze)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.5), 32, 64);
    float *st = copy_states(&s);
    for (int t = 12; t < s.T; t++) memcpy(st + t * 10, st + 11 * 10, 10 * sizeof(float)); /* stops at frame 11 */
    uint8_t *v = render_states(&s, st);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    score(&s, v, m);
    print_metrics("freeze", m);
    ck_assert_double_gt(m[EVAL_M_VEL], 1.0);             /* v0 = 2.25: most of it lost */
    ck_assert_double_gt(m[EVAL_M_POS_X], 1.0);
    ck_assert_double_lt(m[EVAL_M_POS_Y], 0.02);          /* y untouched */
    ck_assert_double_lt(m[EVAL_M_SHAPE], 0.05);          /* shape untouched */
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);         /* still there */
    ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
    ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);      /* background untouched */
    ck_assert_double_lt(m[EVAL_M_ST_IOU], m0[EVAL_M_ST_IOU]);
    ck_assert_double_lt(m[EVAL_M_PHYSICS_IQ], 0.9);
    free(st), free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_corrupt_teleport)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.2), 32, 64);
    float *st = copy_states(&s);
    for (int t = 10; t < s.T; t++) st[t * 10 + 1] += 2.5f; /* jumps up 2.5 units at frame 10 and goes on */
    uint8_t *v = render_states(&s, st);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    score(&s, v, m);
    print_metrics("teleport", m);
    ck_assert_double_gt(m[EVAL_M_POS_Y], 1.5);
    ck_assert_double_lt(m[EVAL_M_POS_X], 0.02);
    ck_assert_double_lt(m[EVAL_M_VEL], 0.02); /* the x velocity is right */
    ck_assert_double_lt(m[EVAL_M_SHAPE], 0.05);
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
    ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);
    ck_assert_double_lt(m[EVAL_M_SPATIAL_IOU], 0.8);
    free(st);
    /* a teleport along x: the velocity error sees it too */
    st = copy_states(&s);
    for (int t = 10; t < s.T; t++) st[t * 10] += 2.0f;
    free(v);
    v = render_states(&s, st);
    score(&s, v, m);
    ck_assert_double_gt(m[EVAL_M_VEL], 0.5);
    ck_assert_double_gt(m[EVAL_M_POS_X], 1.0);
    ck_assert_double_lt(m[EVAL_M_POS_Y], 0.02);
    free(st), free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_corrupt_disappear)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.4), 32, 64);
    float *st = copy_states(&s);
    for (int t = 10; t < 15; t++) st[t * 10] = NAN; /* gone for 5 frames */
    uint8_t *v = render_states(&s, st);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    score(&s, v, m);
    print_metrics("disappear", m);
    int inview = 0;
    for (int t = s.ctx; t < s.T; t++) inview += eval_in_view(&s.info, t, 0);
    ASSERT_NEAR(m[EVAL_M_MISSING], 5.0 / inview, 1e-12);
    /* the frames it is there are right: kinematics unchanged */
    ASSERT_NEAR(m[EVAL_M_POS_X], m0[EVAL_M_POS_X], 0.005);
    ASSERT_NEAR(m[EVAL_M_POS_Y], m0[EVAL_M_POS_Y], 0.005);
    ASSERT_NEAR(m[EVAL_M_VEL], m0[EVAL_M_VEL], 0.02);
    ck_assert_double_le(m[EVAL_M_SHAPE], m0[EVAL_M_SHAPE] + 1e-9);
    ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);
    ck_assert_double_lt(m[EVAL_M_ST_IOU], m0[EVAL_M_ST_IOU]);
    free(st), free(v);

    /* occlusion: frames behind the wall do not count as missing */
    scene o;
    scene_make(&o, scene_default(EVAL_OCCLUSION, 0.5), 32, 64);
    score(&o, o.truth, m);
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
    int hidden = 0;
    for (int t = o.ctx; t < o.T; t++) hidden += !eval_in_view(&o.info, t, 0);
    ck_assert_int_gt(hidden, 3); /* the wall hides some frames */
    /* a ball that vanishes for good once behind the wall */
    st = copy_states(&o);
    int first_hidden = -1;
    for (int t = o.ctx; t < o.T; t++)
        if (!eval_in_view(&o.info, t, 0) && first_hidden < 0) first_hidden = t;
    for (int t = first_hidden; t < o.T; t++) st[t * 10] = NAN;
    v = render_states(&o, st);
    score(&o, v, m);
    int after = 0, total = 0;
    for (int t = o.ctx; t < o.T; t++) {
        total += eval_in_view(&o.info, t, 0);
        after += t > first_hidden && eval_in_view(&o.info, t, 0);
    }
    ck_assert_int_gt(after, 3);
    ASSERT_NEAR(m[EVAL_M_MISSING], (double)after / total, 1e-12);
    free(st), free(v);
    scene_free(&o);
    scene_free(&s);
}
END_TEST

/* the truth's metrics into m0, and those of the same throw under factor x g into m */
static void score_gravity(const scene *s, double factor, double *m0, double *m)
{
    scene_spec g = s->sp;
    g.g *= factor;
    float *st = malloc((size_t)s->T * 10 * sizeof(float)), pp[8];
    int c;
    scene_states(&g, s->T, st, pp, &c);
    uint8_t *v = render_states(s, st);
    score(s, s->truth, m0);
    score(s, v, m);
    free(st), free(v);
}

START_TEST(test_corrupt_gravity)
{
    /* 16 frames, so that the doubled-gravity ball stays in view */
    scene s;
    scene_make(&s, scene_default(EVAL_PARABOLA, 0.0), 16, 64);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score_gravity(&s, 2.0, m0, m);
    print_metrics("gravity x2", m);
    ck_assert_double_gt(m[EVAL_M_POS_Y], 0.7); /* 1.25 tau^2 more drop: 0.3..2.8 over frames 3..15 */
    ASSERT_NEAR(m[EVAL_M_POS_X], m0[EVAL_M_POS_X], 0.01);
    ASSERT_NEAR(m[EVAL_M_VEL], m0[EVAL_M_VEL], 0.02); /* horizontal velocity is untouched */
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
    ck_assert_double_lt(m[EVAL_M_SHAPE], 0.05);
    ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);
    ck_assert_double_lt(m[EVAL_M_PHYSICS_IQ], m0[EVAL_M_PHYSICS_IQ]);
    ASSERT_NEAR(m[EVAL_M_GRAVITY], 1.0, 0.05); /* twice g: off by 100% */
    ASSERT_NEAR(m0[EVAL_M_GRAVITY], 0.0, 0.05);
    scene_free(&s);
}
END_TEST

START_TEST(test_corrupt_flicker)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.6), 32, 64);
    size_t f = (size_t)s.S * s.S * 3;
    uint8_t *v = malloc((size_t)s.T * f);
    memcpy(v, s.truth, (size_t)s.T * f);
    /* every other generated frame 12 levels darker: a global flicker */
    for (int t = s.ctx; t < s.T; t += 2)
        for (size_t i = 0; i < f; i++) v[t * f + i] = v[t * f + i] > 12 ? v[t * f + i] - 12 : 0;
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    score(&s, v, m);
    print_metrics("flicker", m);
    ck_assert_double_lt(m[EVAL_M_FLICKER_BG], 1.0 - 10.0 / 255.0); /* 12 levels on most transitions */
    ck_assert_double_gt(m[EVAL_M_FLICKER_BG], 1.0 - 13.0 / 255.0);
    ck_assert_double_lt(m[EVAL_M_FLICKER_ALL], m0[EVAL_M_FLICKER_ALL] - 0.02);
    ck_assert_double_gt(m[EVAL_M_MSE], 0.001);
    /* the balls are where they were */
    ASSERT_NEAR(m[EVAL_M_POS_X], m0[EVAL_M_POS_X], 0.005);
    ASSERT_NEAR(m[EVAL_M_POS_Y], m0[EVAL_M_POS_Y], 0.005);
    ASSERT_NEAR(m[EVAL_M_VEL], m0[EVAL_M_VEL], 0.01);
    ASSERT_NEAR(m[EVAL_M_SHAPE], m0[EVAL_M_SHAPE], 0.02);
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
    free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_collision_momentum)
{
    scene s;
    scene_make(&s, scene_default(EVAL_COLLISION, 0.5), 32, 64);
    ck_assert_int_gt(s.contact, s.ctx);
    /* the balls pass through each other: momentum is kept, the velocities
     * after the contact are wrong */
    float *st = copy_states(&s);
    for (int t = 0; t < s.T; t++) {
        double tau = 0.1 * t;
        st[t * 10 + 0] = (float)(s.sp.x0 + s.sp.v1 * tau), st[t * 10 + 5] = (float)(s.sp.x2 + s.sp.v2 * tau);
    }
    uint8_t *v = render_states(&s, st);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    score(&s, v, m);
    print_metrics("pass-through", m);
    ck_assert_double_eq(m[EVAL_M_VEL_PRE], m0[EVAL_M_VEL_PRE]); /* the same frames before the contact */
    ck_assert_double_lt(m0[EVAL_M_VEL_POST], 0.1);
    ck_assert_double_gt(m[EVAL_M_VEL_POST], 1.0);
    /* overlapping discs hide each other, so the pass-through momentum is not
     * exactly conserved in pixels; a ball that stops after the contact loses
     * a lot of it */
    free(st), free(v);
    st = copy_states(&s);
    for (int t = s.contact; t < s.T; t++) st[t * 10 + 0] = st[(s.contact - 1) * 10 + 0];
    v = render_states(&s, st);
    score(&s, v, m);
    print_metrics("red stops", m);
    ck_assert_double_gt(m[EVAL_M_MOMENTUM], m0[EVAL_M_MOMENTUM] + 0.3);
    ck_assert_double_gt(m[EVAL_M_ENERGY], m0[EVAL_M_ENERGY] + 0.1);
    ck_assert_double_eq(m[EVAL_M_VEL_PRE], m0[EVAL_M_VEL_PRE]);
    free(st), free(v);
    scene_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------
 * baselines
 * ---------------------------------------------------------------------- */

START_TEST(test_linear_baseline)
{
    double mu[EVAL_NUM_METRICS], mp[EVAL_NUM_METRICS], mc[EVAL_NUM_METRICS];
    vdit_err err;
    for (int k = 0; k < 3; k++) {
        scene u, p;
        scene_make(&u, scene_default(EVAL_UNIFORM, 0.3 * k), 32, 64);
        scene_make(&p, scene_default(EVAL_PARABOLA, 0.3 * k), 32, 64);
        uint8_t *lu = malloc((size_t)u.T * u.S * u.S * 3), *lp = malloc((size_t)p.T * p.S * p.S * 3);
        ck_assert_int_eq(eval_linear(&u.info, u.truth, lu, &err), 0);
        ck_assert_int_eq(eval_linear(&p.info, p.truth, lp, &err), 0);
        ck_assert_mem_eq(lu, u.truth, (size_t)u.ctx * u.S * u.S * 3); /* the context is kept */
        score(&u, lu, mu);
        score(&p, lp, mp);
        print_metrics("linear uniform", mu);
        print_metrics("linear parabola", mp);
        /* nearly perfect on uniform: within about a pixel (0.156 units), the
         * velocity fitted to three tracked frames */
        ck_assert_double_lt(mu[EVAL_M_VEL], 0.15);
        ck_assert_double_lt(mu[EVAL_M_POS_X], 0.2);
        ck_assert_double_lt(mu[EVAL_M_POS_Y], 0.03);
        ck_assert_double_lt(mu[EVAL_M_SHAPE], 0.05);
        ck_assert_double_eq(mu[EVAL_M_MISSING], 0.0);
        ck_assert_double_gt(mu[EVAL_M_ST_IOU], 0.8);
        ck_assert_double_eq(mu[EVAL_M_FLICKER_BG], 1.0);
        /* clearly wrong on parabola: it misses the fall */
        ck_assert_double_gt(mp[EVAL_M_POS_Y], 10 * mu[EVAL_M_POS_Y] + 0.5);
        ck_assert_double_lt(mp[EVAL_M_ST_IOU], mu[EVAL_M_ST_IOU] - 0.3);
        /* copy-last is wrong on both */
        uint8_t *cu = malloc((size_t)u.T * u.S * u.S * 3);
        eval_copy_last(u.truth, u.T, u.S, u.ctx, cu);
        score(&u, cu, mc);
        ck_assert_double_gt(mc[EVAL_M_VEL], 1.0);
        ck_assert_double_gt(mc[EVAL_M_POS_X], 1.0);
        ck_assert_double_eq(mc[EVAL_M_FLICKER_ALL], 1.0); /* a still video does not flicker */
        free(lu), free(lp), free(cu);
        scene_free(&u), scene_free(&p);
    }
}
END_TEST

START_TEST(test_linear_keeps_walls)
{
    scene o;
    scene_make(&o, scene_default(EVAL_OCCLUSION, 0.5), 32, 64);
    uint8_t *l = malloc((size_t)o.T * o.S * o.S * 3);
    vdit_err err;
    ck_assert_int_eq(eval_linear(&o.info, o.truth, l, &err), 0);
    double m[EVAL_NUM_METRICS];
    score(&o, l, m);
    print_metrics("linear occlusion", m);
    ck_assert_double_lt(m[EVAL_M_POS_X], 0.2);
    ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
    ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0); /* the wall is where it was */
    /* the wall's column is grey in every frame, the ball behind it included */
    int wj = (int)(o.sp.wall_x / 10.0 * o.S);
    for (int t = 0; t < o.T; t++) {
        const uint8_t *p = l + ((size_t)t * o.S * o.S + 32 * o.S + wj) * 3;
        ck_assert_int_eq(p[0], 128);
        ck_assert_int_eq(p[2], 128);
    }
    free(l);
    scene_free(&o);
}
END_TEST

/* ------------------------------------------------------------------------
 * Frechet distance and bootstrap
 * ---------------------------------------------------------------------- */

START_TEST(test_frechet)
{
    int N = 200, D = 5;
    double *a = malloc((size_t)N * D * sizeof(double)), *b = malloc((size_t)N * D * sizeof(double));
    vdit_rng rng;
    vdit_rng_init(&rng, 7);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) {
            a[i * D + d] = vdit_rng_normal(&rng) * (1 + d) + (d == 1 ? 0.5 * a[i * D] : 0.0);
        }
    double fd;
    vdit_err err;
    ck_assert_int_eq(eval_frechet(a, N, a, N, D, &fd, &err), 0);
    ck_assert_double_lt(fd, 1e-9);
    /* b = 2 a + 1: mu_b = 2 mu_a + 1, S_b = 4 S_a, sqrt(S_a S_b) = 2 S_a,
     * so FD = |mu_a + 1|^2 + tr S_a */
    for (int k = 0; k < N * D; k++) b[k] = 2 * a[k] + 1;
    double mu[5] = {0}, tr = 0, dm = 0;
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) mu[d] += a[i * D + d] / N;
    for (int d = 0; d < D; d++) {
        double v = 0;
        for (int i = 0; i < N; i++) v += (a[i * D + d] - mu[d]) * (a[i * D + d] - mu[d]);
        tr += v / (N - 1);
        dm += (mu[d] + 1) * (mu[d] + 1);
    }
    ck_assert_int_eq(eval_frechet(a, N, b, N, D, &fd, &err), 0);
    ASSERT_NEAR(fd, dm + tr, 1e-8 * (dm + tr));
    /* symmetric */
    double fd2;
    ck_assert_int_eq(eval_frechet(b, N, a, N, D, &fd2, &err), 0);
    ASSERT_NEAR(fd2, fd, 1e-8 * fd);
    /* rank-deficient covariances (fewer vectors than dimensions) still work */
    ck_assert_int_eq(eval_frechet(a, 3, b, 4, D, &fd, &err), 0);
    ck_assert(isfinite(fd) && fd > 0);
    ck_assert_int_eq(eval_frechet(a, 1, b, 4, D, &fd, &err), -1);
    ck_assert(strstr(err.msg, "at least 2"));
    free(a), free(b);
}
END_TEST

START_TEST(test_bootstrap)
{
    double x[50];
    for (int i = 0; i < 50; i++) x[i] = i % 7 + (i == 3 ? NAN : 0.0);
    x[3] = NAN;
    eval_stat a, b, c;
    eval_bootstrap(x, 50, 1000, 42, &a);
    eval_bootstrap(x, 50, 1000, 42, &b);
    eval_bootstrap(x, 50, 1000, 43, &c);
    ck_assert_int_eq(a.n, 49);
    double s = 0;
    for (int i = 0; i < 50; i++)
        if (i != 3) s += x[i];
    ASSERT_NEAR(a.mean, s / 49, 1e-12);
    ck_assert(a.lo < a.mean && a.mean < a.hi);
    ck_assert(a.lo == b.lo && a.hi == b.hi);  /* seeded: identical */
    ck_assert(a.lo != c.lo || a.hi != c.hi);  /* another seed: other draws */
    /* the interval is about +-1.96 standard errors (sd 2, n 49: 0.56) */
    ck_assert_double_gt(a.hi - a.lo, 0.8);
    ck_assert_double_lt(a.hi - a.lo, 1.5);
    double k[5] = {2, 2, 2, 2, 2};
    eval_bootstrap(k, 5, 100, 0, &a);
    ck_assert(a.mean == 2 && a.lo == 2 && a.hi == 2 && a.n == 5);
    double nn[2] = {NAN, NAN};
    eval_bootstrap(nn, 2, 100, 0, &a);
    ck_assert(a.n == 0 && isnan(a.mean));
}
END_TEST

/* ------------------------------------------------------------------------
 * the benchmark is not fooled (issue: gated tracking, failures counted,
 * gravity, speed slope): each corruption lands on the metric it breaks
 * while the truth stays at the floor
 * ---------------------------------------------------------------------- */

/* a small counter-based generator for the test's noise */
static uint32_t noise_u32(uint64_t i) { return (uint32_t)(vdit_rng_at(12345, i) >> 32); }

/* the truth's context frames, then `fill` for the generated ones */
static uint8_t *context_then(const scene *s, void (*fill)(const scene *, int, uint8_t *))
{
    size_t f = (size_t)s->S * s->S * 3;
    uint8_t *v = malloc((size_t)s->T * f);
    memcpy(v, s->truth, (size_t)s->ctx * f);
    for (int t = s->ctx; t < s->T; t++) fill(s, t, v + (size_t)t * f);
    return v;
}

static void fill_noise(const scene *s, int t, uint8_t *fr)
{
    for (size_t k = 0; k < (size_t)s->S * s->S * 3; k++) fr[k] = (uint8_t)noise_u32((uint64_t)t * 1000003u + k);
}

static void fill_speckle(const scene *s, int t, uint8_t *fr)
{
    memset(fr, 255, (size_t)s->S * s->S * 3);
    for (int k = 0; k < 40; k++) { /* 40 red pixels scattered over the frame */
        uint32_t p = noise_u32((uint64_t)t * 7919u + k) % (uint32_t)(s->S * s->S);
        fr[3 * p] = 230, fr[3 * p + 1] = 20, fr[3 * p + 2] = 20;
    }
}

static void fill_blank(const scene *s, int t, uint8_t *fr)
{
    (void)t;
    memset(fr, 255, (size_t)s->S * s->S * 3);
}

/* a red disc of radius r (world units) at (x, y), hard-edged */
static void disc(uint8_t *fr, int S, double x, double y, double r)
{
    double px = EVAL_WORLD / S;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            double cx = (j + 0.5) * px, cy = EVAL_WORLD - (i + 0.5) * px;
            if ((cx - x) * (cx - x) + (cy - y) * (cy - y) <= r * r) {
                uint8_t *p = fr + ((size_t)i * S + j) * 3;
                p[0] = 255, p[1] = 0, p[2] = 0;
            }
        }
}

/* the ball split into two halves (each half the area) that move apart
 * vertically, both staying in the frame */
static void fill_split(const scene *s, int t, uint8_t *fr)
{
    memset(fr, 255, (size_t)s->S * s->S * 3);
    const float *st = s->states + (size_t)t * 10;
    double d = 0.9 * s->sp.r1 + 0.1 * (t - s->ctx), r = s->sp.r1 / sqrt(2.0);
    disc(fr, s->S, st[0], st[1] - d, r);
    disc(fr, s->S, st[0], st[1] + d, r);
}

/* the ball shrinks linearly to nothing over the generated frames */
static void fill_shrink(const scene *s, int t, uint8_t *fr)
{
    memset(fr, 255, (size_t)s->S * s->S * 3);
    const float *st = s->states + (size_t)t * 10;
    double r = s->sp.r1 * (1.0 - (double)(t - s->ctx + 1) / (s->T - s->ctx));
    if (r > 0) disc(fr, s->S, st[0], st[1], r);
}

static void check_failed(const char *what, const double *m)
{
    ck_assert_msg(m[EVAL_M_FAILED] == 1.0, "%s: failed = %g", what, m[EVAL_M_FAILED]);
}

START_TEST(test_fool_noise_speckle_blank)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.3), 32, 64);
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    ck_assert_double_eq(m0[EVAL_M_FAILED], 0.0);
    ck_assert_double_eq(m0[EVAL_M_MISSING], 0.0);

    uint8_t *v = context_then(&s, fill_noise);
    score(&s, v, m);
    print_metrics("noise", m);
    ck_assert_double_ge(m[EVAL_M_MISSING], 0.95); /* presence near 0 */
    check_failed("noise", m);
    ck_assert_double_gt(m[EVAL_M_DEBRIS], 0.15); /* 1/8 of the pixels red, 1/8 blue */
    ck_assert(isnan(m[EVAL_M_VEL]) || m[EVAL_M_VEL] > 0.0);
    free(v);

    v = context_then(&s, fill_speckle);
    score(&s, v, m);
    print_metrics("speckle", m);
    ck_assert_double_eq(m[EVAL_M_MISSING], 1.0);
    check_failed("speckle", m);
    ASSERT_NEAR(m[EVAL_M_DEBRIS], 40.0 / (64 * 64), 2.0 / (64 * 64)); /* a repeat draw may land twice */
    free(v);

    v = context_then(&s, fill_blank);
    score(&s, v, m);
    ck_assert_double_eq(m[EVAL_M_MISSING], 1.0);
    check_failed("blank", m);
    ck_assert_double_eq(m[EVAL_M_DEBRIS], 0.0);
    ck_assert(isnan(m[EVAL_M_VEL]) && isnan(m[EVAL_M_POS_X]));
    free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_fool_split_shrink)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.6), 32, 64);
    double m[EVAL_NUM_METRICS];
    uint8_t *v = context_then(&s, fill_split);
    score(&s, v, m);
    print_metrics("split", m);
    check_failed("split", m);
    ck_assert_double_ge(m[EVAL_M_MISSING], 0.9); /* neither half holds 80% of the red */
    ck_assert_double_gt(m[EVAL_M_DEBRIS], 0.0);
    free(v);

    v = context_then(&s, fill_shrink);
    score(&s, v, m);
    print_metrics("shrink", m);
    check_failed("shrink", m);
    /* below half the radius (a quarter of the area) it is missing: about half the frames */
    ck_assert_double_gt(m[EVAL_M_MISSING], 0.4);
    ck_assert_double_lt(m[EVAL_M_MISSING], 0.65);
    ck_assert_double_gt(m[EVAL_M_SHAPE], 0.3 * s.sp.r1); /* found down to half its radius */
    free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_fool_kinematics)
{
    scene s;
    scene_make(&s, scene_default(EVAL_UNIFORM, 0.5), 32, 64);
    double v0 = s.sp.v1, m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score(&s, s.truth, m0);
    /* frozen from the last context frame: present, right shape, speed 0 */
    float *st = copy_states(&s);
    for (int t = s.ctx; t < s.T; t++) memcpy(st + t * 10, st + (s.ctx - 1) * 10, 10 * sizeof(float));
    uint8_t *v = render_states(&s, st);
    score(&s, v, m);
    print_metrics("frozen", m);
    ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
    ASSERT_NEAR(m[EVAL_M_VEL], v0, 0.05);
    ASSERT_NEAR(m[EVAL_M_SPEED], 0.0, 1e-9);
    ASSERT_NEAR(m[EVAL_M_SPEED_ERR], -v0, 0.05);
    free(st), free(v);

    /* moving backwards from the last context frame at the same speed (a
     * slower ball from the middle, so that both stay in the frame) */
    scene_free(&s);
    scene_spec mid = scene_default(EVAL_UNIFORM, 0.5);
    mid.x0 = 4.0, mid.v1 = 1.0, v0 = 1.0;
    scene_make(&s, mid, 32, 64);
    st = copy_states(&s);
    for (int t = s.ctx; t < s.T; t++) st[t * 10] = st[(s.ctx - 1) * 10] - (float)(v0 * EVAL_FRAME_DT * (t - s.ctx + 1));
    v = render_states(&s, st);
    score(&s, v, m);
    print_metrics("backwards", m);
    ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
    ASSERT_NEAR(m[EVAL_M_SPEED], -v0, 0.1);
    ASSERT_NEAR(m[EVAL_M_SPEED_ERR], -2 * v0, 0.1);
    ASSERT_NEAR(m[EVAL_M_VEL], 2 * v0, 0.1);
    free(st), free(v);

    /* a teleport: present, not failed, position off */
    st = copy_states(&s);
    for (int t = 12; t < s.T; t++) st[t * 10 + 1] += 3.0f;
    v = render_states(&s, st);
    score(&s, v, m);
    ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
    ck_assert_double_gt(m[EVAL_M_POS_Y], 1.5);
    ASSERT_NEAR(m[EVAL_M_POS_Y], m0[EVAL_M_POS_Y] + 3.0 * (s.T - 12) / (s.T - s.ctx), 0.05);
    free(st), free(v);
    scene_free(&s);
}
END_TEST

START_TEST(test_fool_gravity)
{
    /* a perfect parabola with g off by 30%: gravity error 0.3, the truth 0 */
    scene s;
    scene_make(&s, scene_default(EVAL_PARABOLA, 0.2), 24, 64); /* the x1.3 ball leaves by the bottom */
    double m0[EVAL_NUM_METRICS], m[EVAL_NUM_METRICS];
    score_gravity(&s, 1.3, m0, m);
    print_metrics("gravity x1.3", m);
    ck_assert_double_lt(m0[EVAL_M_GRAVITY], 0.03);
    ASSERT_NEAR(m0[EVAL_M_GRAVITY_FIT], -2.5, 0.075);
    ASSERT_NEAR(m[EVAL_M_GRAVITY], 0.3, 0.03);
    ASSERT_NEAR(m[EVAL_M_GRAVITY_FIT], -3.25, 0.075);
    ASSERT_NEAR(m[EVAL_M_VEL], m0[EVAL_M_VEL], 0.02); /* the horizontal motion is right */
    ck_assert_double_eq(m[EVAL_M_FAILED], 0.0);
    /* linear extrapolation cannot pass it: no curvature at all */
    uint8_t *lin = malloc((size_t)s.T * s.S * s.S * 3);
    vdit_err err;
    ck_assert_msg(eval_linear(&s.info, s.truth, lin, &err) == 0, "%s", err.msg);
    score(&s, lin, m);
    ASSERT_NEAR(m[EVAL_M_GRAVITY], 1.0, 0.05);
    free(lin);
    scene_free(&s);
}
END_TEST

/* the runner: noise videos fail, and score exactly copy-last's errors;
 * backwards motion gives a negative speed slope; ood-v's speed bands */
START_TEST(test_fool_runner)
{
    enum { N = 8, T = 12, S = 32 };
    size_t vs = (size_t)T * S * S * 3;
    uint8_t *videos = malloc(N * vs), *noise = malloc(N * vs), *back = malloc(N * vs);
    float *states = malloc((size_t)N * T * 10 * sizeof(float)), *params = malloc((size_t)N * 8 * sizeof(float));
    int32_t labels[N], splits[N], contact[N];
    for (int i = 0; i < N; i++) {
        scene_spec sp = scene_default(EVAL_UNIFORM, 0.0);
        sp.v1 = i < 2 ? 0.4 + 0.2 * i : i < 6 ? 1.0 + 0.7 * (i - 2) : 4.6 + 0.5 * (i - 6); /* low, ID, high */
        sp.r1 = 0.9, sp.x0 = sp.r1 + 0.75 * sp.v1 + 0.1; /* room to go back 9 frames */
        sp.split = i < 2 || i >= 6 ? EVAL_OOD_V : EVAL_ID;
        float *st = states + (size_t)i * T * 10;
        scene_states(&sp, T, st, params + (size_t)i * 8, &contact[i]);
        scene_render(&sp, st, T, S, videos + i * vs);
        labels[i] = EVAL_UNIFORM, splits[i] = sp.split;
        scene s = {.sp = sp, .T = T, .S = S, .ctx = 3, .states = st, .truth = videos + i * vs};
        uint8_t *nv = context_then(&s, fill_noise);
        memcpy(noise + i * vs, nv, vs);
        free(nv);
        float *bs = malloc((size_t)T * 10 * sizeof(float));
        memcpy(bs, st, (size_t)T * 10 * sizeof(float));
        for (int t = 3; t < T; t++) bs[t * 10] = st[2 * 10] - (float)(sp.v1 * EVAL_FRAME_DT * (t - 2));
        scene_render(&sp, bs, T, S, back + i * vs);
        free(bs);
    }
    eval_truth_set set = {N, T, S, 3, videos, NULL, states, params, labels, splits, contact};
    eval_options o;
    eval_options_default(&o);
    o.bootstrap = 200;
    eval_result r;
    vdit_err err;
    ck_assert_msg(eval_run(&set, noise, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.group_n[EVAL_G_BAND(EVAL_BAND_LOW)], 2);
    ck_assert_int_eq(r.group_n[EVAL_G_BAND(EVAL_BAND_HIGH)], 2);
    ck_assert_int_eq(r.group_n[EVAL_G_SPLIT(EVAL_OOD_V)], 4);
    ck_assert_double_eq(st_at(&r, EVAL_SRC_MODEL, EVAL_G_ALL, EVAL_M_FAILED)->mean, 1.0);
    ck_assert_double_eq(st_at(&r, EVAL_SRC_TRUTH, EVAL_G_ALL, EVAL_M_FAILED)->mean, 0.0);
    for (int g = 0; g < EVAL_NUM_GROUPS; g++)
        for (int k = 0; k < EVAL_NUM_METRICS; k++)
            if (eval_fail_replaced(k)) {
                const eval_stat *a = st_at(&r, EVAL_SRC_MODEL, g, k), *b = st_at(&r, EVAL_SRC_COPY_LAST, g, k);
                ck_assert_int_eq(a->n, b->n);
                if (a->n) ck_assert(a->mean == b->mean && a->lo == b->lo && a->hi == b->hi);
            }
    ck_assert_double_gt(st_at(&r, EVAL_SRC_MODEL, EVAL_G_ALL, EVAL_M_VEL)->mean, 1.0);
    /* no second takes: physics_iq is NaN, and the report says why */
    ck_assert(!r.has_take2);
    ck_assert(isnan(st_at(&r, EVAL_SRC_MODEL, EVAL_G_ALL, EVAL_M_PHYSICS_IQ)->mean));
    char dir[] = "/tmp/check_eval_fool_XXXXXX";
    ck_assert(mkdtemp(dir));
    eval_report_options ro;
    eval_report_options_default(&ro);
    ro.figures = 0;
    ck_assert_msg(eval_write_report(dir, &r, &ro, NULL, NULL, &err) == 0, "%s", err.msg);
    char path[600], *md = NULL;
    snprintf(path, sizeof path, "%s/report.md", dir);
    FILE *f = fopen(path, "r");
    ck_assert(f);
    size_t cap = 0;
    ck_assert(getdelim(&md, &cap, '\0', f) > 0);
    fclose(f);
    ck_assert_msg(strstr(md, "no second takes"), "report.md does not say why physics_iq is missing");
    ck_assert_msg(strstr(md, "Failure rate 1 "), "report.md lacks the failure rate");
    ck_assert_msg(strstr(md, "vel_err: model") && strstr(md, "against linear"), "report.md lacks the verdict");
    free(md);
    snprintf(path, sizeof path, "%s/videos.csv", dir);
    f = fopen(path, "r");
    char head[2048];
    ck_assert(fgets(head, sizeof head, f));
    fclose(f);
    ck_assert_msg(strstr(head, "video,split,band,scenario,source,v1,r1,") && strstr(head, ",failed,"), "%s", head);
    rm_rf(dir);
    /* the truth and linear read the speed: slope 1; copy-last 0 */
    ASSERT_NEAR(r.slope[EVAL_SRC_TRUTH * EVAL_NUM_GROUPS + EVAL_G_ALL].mean, 1.0, 0.02);
    ASSERT_NEAR(r.slope[EVAL_SRC_LINEAR * EVAL_NUM_GROUPS + EVAL_G_ALL].mean, 1.0, 0.05);
    ASSERT_NEAR(r.slope[EVAL_SRC_COPY_LAST * EVAL_NUM_GROUPS + EVAL_G_ALL].mean, 0.0, 1e-9);
    eval_result_free(&r);

    /* backwards: a negative slope, with its interval below 0 */
    ck_assert_msg(eval_run(&set, back, &o, &r, &err) == 0, "%s", err.msg);
    const eval_stat *sl = &r.slope[EVAL_SRC_MODEL * EVAL_NUM_GROUPS + EVAL_G_ALL];
    ck_assert_double_lt(sl->mean, -0.3);
    ck_assert_double_lt(sl->hi, 0.0);
    ck_assert_double_eq(st_at(&r, EVAL_SRC_MODEL, EVAL_G_ALL, EVAL_M_FAILED)->mean, 0.0);
    ck_assert_double_lt(st_at(&r, EVAL_SRC_MODEL, EVAL_G_ALL, EVAL_M_SPEED_ERR)->mean, -1.0);
    eval_result_free(&r);
    free(videos), free(noise), free(back), free(states), free(params);
}
END_TEST

/* ------------------------------------------------------------------------
 * long rollouts (metric 8)
 * ---------------------------------------------------------------------- */

/* drift of a video: tracked with debris, then per window and the horizon */
static void drift_of(const scene *s, const uint8_t *video, double *w, double *horizon)
{
    eval_ref r;
    vdit_err err;
    double m[EVAL_NUM_METRICS];
    float *trk = malloc((size_t)s->T * 6 * sizeof(float)), *deb = malloc((size_t)s->T * sizeof(float));
    ck_assert_msg(eval_ref_init(&r, &s->info, s->truth, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(eval_score(&r, video, m, trk, deb, &err) == 0, "%s", err.msg);
    eval_drift_video(&s->info, trk, deb, EVAL_DRIFT_WINDOW, w, horizon);
    eval_ref_free(&r);
    free(trk), free(deb);
}

/* A box video of 3 windows: the truth is present throughout with a small
 * speed error and never breaks (horizon T); the truth cut to white from
 * frame 50 loses the ball for good there (horizon 50, presence 18/32 in
 * window 1 and 0 in window 2); a ball moving at twice the speed breaks at
 * once (horizon = the first generated frame); one that stops at frame 70
 * breaks at 70 - the horizon's span of pairs stays within its window. */
START_TEST(test_drift_windows_and_horizon)
{
    const int T = 96, S = 64;
    scene s;
    scene_spec sp = scene_default(EVAL_BOX, 0.4);
    scene_make(&s, sp, T, S);
    double w[3 * EVAL_NUM_DRIFT], h;
    drift_of(&s, s.truth, w, &h);
    ck_assert_double_eq(h, T);
    for (int j = 0; j < 3; j++) {
        ck_assert_double_eq(w[j * EVAL_NUM_DRIFT + EVAL_D_PRESENCE], 1.0);
        ck_assert_double_lt(w[j * EVAL_NUM_DRIFT + EVAL_D_SPEED_ERR], 0.15); /* the tracker's floor at 64 px */
        ck_assert_double_lt(w[j * EVAL_NUM_DRIFT + EVAL_D_SHAPE], 0.1);
        ck_assert_double_lt(w[j * EVAL_NUM_DRIFT + EVAL_D_DEBRIS], 1e-3);
    }
    size_t f1 = (size_t)S * S * 3;
    uint8_t *cut = malloc((size_t)T * f1);
    memcpy(cut, s.truth, (size_t)T * f1);
    memset(cut + 50 * f1, 255, (size_t)(T - 50) * f1);
    drift_of(&s, cut, w, &h);
    ck_assert_double_eq(h, 50);
    ASSERT_NEAR(w[1 * EVAL_NUM_DRIFT + EVAL_D_PRESENCE], 18.0 / 32.0, 1e-12);
    ck_assert_double_eq(w[2 * EVAL_NUM_DRIFT + EVAL_D_PRESENCE], 0.0);
    ck_assert(isnan(w[2 * EVAL_NUM_DRIFT + EVAL_D_SPEED_ERR]));
    /* twice the speed: the states of a faster box ball */
    scene fast;
    scene_spec sp2 = sp;
    sp2.v1 *= 2;
    scene_make(&fast, sp2, T, S);
    drift_of(&s, fast.truth, w, &h);
    ck_assert_double_eq(h, s.ctx);
    ck_assert_double_gt(w[0 * EVAL_NUM_DRIFT + EVAL_D_SPEED_ERR], 0.5 * sp.v1);
    /* stopped from frame 70: the ball stays (presence 1) but its speed is 0 */
    for (int t = 70; t < T; t++) memcpy(cut + t * f1, s.truth + 69 * f1, f1);
    memcpy(cut + 50 * f1, s.truth + 50 * f1, 20 * f1);
    drift_of(&s, cut, w, &h);
    ck_assert_msg(h >= 62 && h <= 70, "horizon %g", h);
    ck_assert_double_eq(w[2 * EVAL_NUM_DRIFT + EVAL_D_PRESENCE], 1.0);
    ck_assert_double_gt(w[2 * EVAL_NUM_DRIFT + EVAL_D_SPEED_ERR], 0.8 * sp.v1);
    free(cut);
    scene_free(&s), scene_free(&fast);
}
END_TEST

/* ------------------------------------------------------------------------
 * the runner, loaders and report
 * ---------------------------------------------------------------------- */

typedef struct {
    int N, T, S;
    uint8_t *videos, *take2;
    float *states, *params;
    int32_t *labels, *splits, *contact;
    eval_truth_set set;
} synth_set;

static void synth_make(synth_set *d, int N, int T, int S)
{
    d->N = N, d->T = T, d->S = S;
    size_t vs = (size_t)T * S * S * 3;
    d->videos = malloc(N * vs), d->take2 = malloc(N * vs);
    d->states = malloc((size_t)N * T * 10 * sizeof(float)), d->params = malloc((size_t)N * 8 * sizeof(float));
    d->labels = malloc(N * sizeof(int32_t)), d->splits = malloc(N * sizeof(int32_t)),
    d->contact = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        scene_spec sp = scene_default(i % EVAL_NUM_SCENARIOS, (i * 0.37) - floor(i * 0.37));
        sp.split = (i / EVAL_NUM_SCENARIOS) % EVAL_NUM_SPLITS;
        int c;
        scene_states(&sp, T, d->states + (size_t)i * T * 10, d->params + (size_t)i * 8, &c);
        scene_render(&sp, d->states + (size_t)i * T * 10, T, S, d->videos + i * vs);
        scene_spec p2 = sp;
        p2.v1 *= 1.01;
        float *st2 = malloc((size_t)T * 10 * sizeof(float)), pp[8];
        int c2;
        scene_states(&p2, T, st2, pp, &c2);
        scene_render(&p2, st2, T, S, d->take2 + i * vs);
        free(st2);
        d->labels[i] = sp.scenario, d->splits[i] = sp.split, d->contact[i] = c;
    }
    d->set = (eval_truth_set){N, T, S, 3, d->videos, d->take2, d->states, d->params, d->labels, d->splits, d->contact};
}

static void synth_free(synth_set *d)
{
    free(d->videos), free(d->take2), free(d->states), free(d->params), free(d->labels), free(d->splits),
        free(d->contact);
}


START_TEST(test_run_truth_as_model)
{
    synth_set d;
    synth_make(&d, 20, 16, 32);
    eval_options o;
    eval_options_default(&o);
    o.bootstrap = 200;
    eval_result r, r2;
    vdit_err err;
    ck_assert_msg(eval_run(&d.set, d.videos, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.group_n[0], 20);
    ck_assert_int_eq(r.group_n[EVAL_G_SPLIT(EVAL_ID)], EVAL_NUM_SCENARIOS); /* videos 0-5 */
    ck_assert_int_eq(r.group_n[EVAL_G_SCENARIO(EVAL_PARABOLA)], 4);
    for (int g = 0; g < EVAL_NUM_GROUPS; g++) {
        for (int k = 0; k < EVAL_NUM_METRICS; k++) {
            const eval_stat *a = st_at(&r, EVAL_SRC_MODEL, g, k), *b = st_at(&r, EVAL_SRC_TRUTH, g, k);
            ck_assert_int_eq(a->n, b->n);
            if (a->n) ck_assert(a->mean == b->mean && a->lo == b->lo && a->hi == b->hi);
        }
        if (r.group_n[g] >= 2) ck_assert_double_lt(r.fd_traj[EVAL_SRC_MODEL * EVAL_NUM_GROUPS + g], 1e-9);
    }
    /* the references are in their places */
    ck_assert_double_eq(st_at(&r, EVAL_SRC_TRUTH, 0, EVAL_M_PHYSICS_IQ)->mean, 1.0);
    ck_assert_double_gt(st_at(&r, EVAL_SRC_COPY_LAST, 0, EVAL_M_VEL)->mean, 1.0);
    ck_assert_double_gt(r.fd_traj[EVAL_SRC_COPY_LAST * EVAL_NUM_GROUPS], r.fd_traj[EVAL_SRC_LINEAR * EVAL_NUM_GROUPS]);
    ck_assert_double_gt(r.fd_traj[EVAL_SRC_LINEAR * EVAL_NUM_GROUPS], r.fd_traj[EVAL_SRC_TAKE2 * EVAL_NUM_GROUPS]);
    /* linear is nearly right on uniform (copy-last is off by units) */
    ck_assert_double_lt(st_at(&r, EVAL_SRC_LINEAR, EVAL_G_SCENARIO(EVAL_UNIFORM), EVAL_M_POS_X)->mean, 0.25);
    ck_assert_double_gt(st_at(&r, EVAL_SRC_COPY_LAST, EVAL_G_SCENARIO(EVAL_UNIFORM), EVAL_M_POS_X)->mean, 1.0);
    /* momentum only where there are collisions */
    ck_assert_int_eq(st_at(&r, EVAL_SRC_TRUTH, 0, EVAL_M_MOMENTUM)->n, 3); /* videos 2, 8, 14 */
    /* deterministic, whatever the thread split */
    ck_assert_msg(eval_run(&d.set, d.videos, &o, &r2, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(r.m, r2.m, (size_t)EVAL_NUM_SOURCES * r.N * EVAL_NUM_METRICS * sizeof(double));
    for (int c = 0; c < EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * EVAL_NUM_METRICS; c++) {
        const eval_stat *a = r.stats + c, *b = r2.stats + c;
        ck_assert(a->n == b->n && (a->n == 0 || (a->mean == b->mean && a->lo == b->lo && a->hi == b->hi)));
    }
    eval_result_free(&r2);

    /* the report */
    char dir[] = "/tmp/check_eval_XXXXXX";
    ck_assert(mkdtemp(dir));
    char sub[512], path[600];
    snprintf(sub, sizeof sub, "%s/rep/a", dir);
    eval_report_options ro;
    eval_report_options_default(&ro);
    ro.truth = &d.set;
    ro.model = d.videos;
    ro.title = "truth-as-model";
    int figs = -1;
    ck_assert_msg(eval_write_report(sub, &r, &ro, &figs, NULL, &err) == 0, "%s", err.msg);
    const char *files[] = {"report.json", "report.csv", "report.md", "videos.csv", "fig_errors.gp", "fig_errors.dat",
                           "fig_traj.gp", "fig_traj.dat", "strip.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", sub, files[i]);
        ck_assert_msg(stat(path, &sb) == 0 && sb.st_size > 0, "%s missing", path);
    }
    if (figs) { /* gnuplot ran: its figures are there */
        snprintf(path, sizeof path, "%s/fig_errors.png", sub);
        ck_assert_int_eq(access(path, R_OK), 0);
    }
    snprintf(path, sizeof path, "%s/report.json", sub);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "report.json: %s", je.text);
    json_t *groups = json_object_get(j, "groups");
    ck_assert_int_eq((int)json_array_size(groups), EVAL_NUM_GROUPS);
    json_t *g0 = json_array_get(groups, 0);
    ck_assert_int_eq((int)json_integer_value(json_object_get(g0, "count")), 20);
    json_t *piq = json_object_get(json_object_get(json_object_get(json_object_get(g0, "sources"), "model"),
                                                  "physics_iq"), "mean");
    ck_assert_double_eq(json_real_value(piq), 1.0);
    json_decref(j);
    /* csv: header + (5 sources x groups x (metrics + speed slope + Frechet)) rows */
    snprintf(path, sizeof path, "%s/report.csv", sub);
    FILE *f = fopen(path, "r");
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF) lines += ch == '\n';
    fclose(f);
    ck_assert_int_eq(lines, 1 + EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * (EVAL_NUM_METRICS + 2));
    eval_result_free(&r);
    synth_free(&d);
    rm_rf(dir);
}
END_TEST

/* a small VAE (8 channels, 4 groups) with random weights from seed */
static void tiny_vae(vdit_vae *vae, vdit_vae_config *vc, uint64_t seed)
{
    vdit_err err;
    vdit_vae_config_default(vc);
    vc->channels[0] = vc->channels[1] = vc->channels[2] = 8;
    vc->groups = 4;
    ck_assert_msg(vdit_vae_create(vae, vc, &err) == 0, "%s", err.msg);
    vdit_vae_init_weights(vae, seed);
}

/* the second Frechet distance, on a (randomly initialised) VAE encoder's
 * features: zero for the truth, positive for the others */
START_TEST(test_vae_features)
{
    synth_set d;
    synth_make(&d, 10, 8, 16);
    vdit_vae_config vc;
    vdit_vae vae;
    vdit_err err;
    tiny_vae(&vae, &vc, 1);
    eval_feature_fn f;
    ck_assert_msg(eval_vae_features(&f, &vae, 8, 16, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(f.dim, 8 * vc.latent_channels * 4); /* T' C 2x2 */
    /* the features are the pooled encoder means */
    double *feat = malloc((size_t)f.dim * sizeof(double));
    ck_assert_int_eq(f.fn(f.ctx, d.videos, 8, 16, feat, &err), 0);
    float *x = malloc((size_t)8 * 3 * 16 * 16 * sizeof(float)), *mean = malloc((size_t)8 * vc.latent_channels * 16 * sizeof(float));
    vdit_video_to_float(x, d.videos, 8, 16, 16);
    ck_assert_int_eq(vdit_vae_encode_moments(&vae, x, 1, 8, 16, 16, mean, NULL, &err), 0);
    double s = (mean[0] + mean[1] + mean[4] + mean[5]) / 4; /* frame 0, channel 0, top-left 2x2 of 4x4 */
    ASSERT_NEAR(feat[0], s, 1e-6);
    ck_assert_int_eq(f.fn(f.ctx, d.videos, 4, 16, feat, &err), -1);
    free(x), free(mean), free(feat);
    eval_options o;
    eval_options_default(&o);
    o.bootstrap = 50;
    o.features = &f;
    eval_result r;
    ck_assert_msg(eval_run(&d.set, d.take2, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(r.fd_feat);
    ck_assert_double_lt(r.fd_feat[EVAL_SRC_TRUTH * EVAL_NUM_GROUPS], 1e-9);
    double take2 = r.fd_feat[EVAL_SRC_TAKE2 * EVAL_NUM_GROUPS], copy = r.fd_feat[EVAL_SRC_COPY_LAST * EVAL_NUM_GROUPS];
    ck_assert_double_eq(r.fd_feat[EVAL_SRC_MODEL * EVAL_NUM_GROUPS], take2); /* the model is the second take */
    ck_assert_double_gt(take2, 0.0);
    ck_assert_double_gt(copy, take2);
    eval_result_free(&r);
    eval_vae_features_free(&f);
    vdit_vae_free(&vae);
    synth_free(&d);
}
END_TEST

/* eval_recon_run: which videos, in which scenario, in which GIF column;
 * each scenario's sums are those of its videos' reconstructions */
typedef struct {
    int calls, first_done, first_total, last_done;
} progress_log;

static void log_progress(void *ctx, int done, int total)
{
    progress_log *l = ctx;
    if (!l->calls++) l->first_done = done, l->first_total = total;
    l->last_done = done;
}

START_TEST(test_recon_run)
{
    synth_set d;
    synth_make(&d, 8, 4, 16);
    /* ID: 0, 2, 3, 4, 5 (the first four scored); labels out of range count as 0 */
    static const int32_t labels[8] = {2, 0, 2, 1, 7, 3, 4, 0}, splits[8] = {0, 1, 0, 0, 0, 0, 2, 3};
    memcpy(d.labels, labels, sizeof labels), memcpy(d.splits, splits, sizeof splits);
    vdit_vae_config vc;
    vdit_vae vae;
    vdit_err err;
    tiny_vae(&vae, &vc, 3);
    eval_recon_result r;
    progress_log pl = {0};
    ck_assert_msg(eval_recon_run(&vae, &d.set, 4, 3, log_progress, &pl, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.videos, 4);
    ck_assert(pl.first_done == 0 && pl.first_total == 4 && pl.last_done == 4);
    ck_assert_int_eq(r.per[2].videos, 2); /* 0 and 2 */
    ck_assert_int_eq(r.per[1].videos, 1); /* 3 */
    ck_assert_int_eq(r.per[0].videos, 1); /* 4, label 7 */
    ck_assert_int_eq(r.per[3].videos + r.per[4].videos, 0);
    ck_assert_int_eq(r.all.videos, 4);
    ASSERT_NEAR(r.all.psnr_sum, r.per[0].psnr_sum + r.per[1].psnr_sum + r.per[2].psnr_sum, 1e-9);
    /* the GIF: the first of each scenario in order (videos 0, 3, 4), truth above */
    ck_assert_int_eq(r.shown, 3);
    size_t vs = (size_t)4 * 16 * 16 * 3;
    const int col_video[3] = {0, 3, 4};
    for (int c = 0; c < 3; c++) ck_assert(!memcmp(r.gif + c * vs, d.videos + col_video[c] * vs, vs));
    /* scenarios 1 and 0 hold one video each: its GIF reconstruction scores the same */
    float trk_t[4 * 6], trk_r[4 * 6];
    int32_t *scratch = malloc(eval_track_scratch(16) * sizeof(int32_t));
    for (int c = 1; c < 3; c++) {
        eval_recon_stats one = {0};
        int i = col_video[c];
        eval_recon_score(d.videos + i * vs, r.gif + (3 + c) * vs, d.states + (size_t)i * 4 * 10, 4, 16, trk_t, trk_r,
                         scratch, &one);
        const eval_recon_stats *got = &r.per[c == 1 ? 1 : 0];
        ck_assert_double_eq(one.mse_sum, got->mse_sum);
        ck_assert_double_eq(one.pos_sum, got->pos_sum);
        ck_assert_double_eq(one.sim_rec, got->sim_rec);
        ck_assert_int_eq(one.present, got->present);
        ck_assert_int_eq(one.missing, got->missing);
    }
    ck_assert_double_gt(r.all.mse_sum, 0.0); /* a random VAE does not copy */
    char dir[] = "/tmp/check_eval_recon.XXXXXX", path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.json", dir);
    ck_assert_msg(eval_recon_write_json(path, "data", "vae", &r, &err) == 0, "%s", err.msg);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "all"), "videos")), 4);
    ASSERT_NEAR(json_real_value(json_object_get(json_object_get(o, "all"), "psnr")), r.all.psnr_sum / 4, 1e-12);
    json_t *sc = json_object_get(o, "scenarios");
    ck_assert_int_eq((int)json_object_size(sc), 3); /* scenarios without videos left out */
    ck_assert_ptr_null(json_object_get(sc, "bounce"));
    json_decref(o);
    snprintf(path, sizeof path, "%s/r.gif", dir);
    ck_assert_msg(eval_recon_write_gif(path, &r, &err) == 0, "%s", err.msg);
    int gerr;
    GifFileType *g = DGifOpenFileName(path, &gerr);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(DGifSlurp(g), GIF_OK);
    ck_assert_int_eq(g->ImageCount, 4);
    ck_assert_int_eq(g->SWidth, 3 * 16 * 4 + 4 * 2); /* 3 columns at 4x, 2-pixel borders */
    ck_assert_int_eq(g->SHeight, 2 * 16 * 4 + 3 * 2);
    DGifCloseFile(g, &gerr);
    rm_rf(dir);
    eval_recon_result_free(&r);
    /* more columns than videos: one per video; no ID video: an error */
    ck_assert_int_eq(eval_recon_run(&vae, &d.set, 0, 64, NULL, NULL, &r, &err), 0);
    ck_assert_int_eq(r.videos, 5);
    ck_assert_int_eq(r.shown, 5);
    eval_recon_result_free(&r);
    for (int i = 0; i < 8; i++) d.splits[i] = 1;
    ck_assert_int_eq(eval_recon_run(&vae, &d.set, 0, 5, NULL, NULL, &r, &err), -1);
    ck_assert_str_eq(err.msg, "no ID videos to reconstruct");
    ck_assert_ptr_null(r.gif);
    free(scratch);
    vdit_vae_free(&vae);
    synth_free(&d);
}
END_TEST

/* eval_generate: the pipeline's continuation with the first latent frames
 * known (those holding only context frames, at least one) and the
 * scenarios as labels, the null label where the DiT has no such class */
START_TEST(test_generate)
{
    synth_set d;
    synth_make(&d, 3, 4, 8);
    d.labels[2] = 4; /* beyond the DiT's 2 classes: null */
    vdit_dit_config c = {3, 16, 1, 2, {1, 2, 2}, {4, 8, 8}, 2, VDIT_ATTN_ST, VDIT_OBJ_FLOW};
    vdit_dit m;
    vdit_err err;
    ck_assert_msg(vdit_dit_create(&m, &c, &err) == 0, "%s", err.msg);
    vdit_dit_init_weights(&m, 1);
    for (size_t i = 0; i < m.num_params; i++) m.params_mem[i] = 0.2f * vdit_normal_at(9, i);
    progress_log pl = {0};
    vdit_pipeline p = {&m, NULL, {VDIT_SAMPLER_EULER, 2, 1.5f, 5}, 2, log_progress, &pl};
    size_t vs = (size_t)4 * 8 * 8 * 3;
    uint8_t known[3 * 4], *want = malloc(3 * vs);
    const int labels[3] = {0, 1, 2};
    for (int ctx = 0; ctx <= 3; ctx += 2) { /* ctx 0 still keeps frame 0 */
        d.set.ctx = ctx;
        eval_videos got = {0};
        pl.calls = 0;
        ck_assert_msg(eval_generate(&p, &d.set, &got, &err) == 0, "%s", err.msg);
        ck_assert(got.N == 3 && got.T == 4 && got.S == 8);
        ck_assert(pl.first_done == 0 && pl.first_total == 3 && pl.last_done == 3);
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < 4; t++) known[i * 4 + t] = t < (ctx ? ctx : 1);
        p.progress = NULL;
        ck_assert_int_eq(vdit_pipeline_continue(&p, d.videos, 3, 4, 8, known, labels, want, NULL, &err), 0);
        p.progress = log_progress;
        ck_assert(!memcmp(got.data, want, 3 * vs));
        eval_videos_free(&got);
    }
    /* a truth the DiT's grid does not fit */
    d.set.S = 4;
    eval_videos got = {0};
    ck_assert_int_eq(eval_generate(&p, &d.set, &got, &err), -1);
    eval_videos_free(&got);
    free(want);
    vdit_dit_free(&m);
    synth_free(&d);
}
END_TEST

START_TEST(test_run_rejects)
{
    synth_set d;
    synth_make(&d, 5, 8, 16);
    eval_result r;
    vdit_err err;
    d.labels[2] = 9;
    ck_assert_int_eq(eval_run(&d.set, NULL, NULL, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "labels[2] = 9"), "%s", err.msg);
    d.labels[2] = 0;
    d.set.ctx = 8;
    ck_assert_int_eq(eval_run(&d.set, NULL, NULL, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "context"), "%s", err.msg);
    synth_free(&d);
}
END_TEST

static void write_png_file(const char *path, const uint8_t *rgb, int S)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = im.height = (png_uint_32)S;
    im.format = PNG_FORMAT_RGB;
    ck_assert(png_image_write_to_file(&im, path, 0, rgb, 0, NULL));
}

/* a GIF of T frames with a 4-colour palette: white, red, blue, grey */
static void write_gif_file(const char *path, const uint8_t *rgb, int T, int S)
{
    int e;
    GifFileType *g = EGifOpenFileName(path, false, &e);
    ck_assert(g);
    GifColorType cols[4] = {{255, 255, 255}, {255, 0, 0}, {0, 0, 255}, {128, 128, 128}};
    ColorMapObject *cm = GifMakeMapObject(4, cols);
    ck_assert_int_eq(EGifPutScreenDesc(g, S, S, 2, 0, cm), GIF_OK);
    GifByteType *line = malloc((size_t)S);
    for (int t = 0; t < T; t++) {
        ck_assert_int_eq(EGifPutImageDesc(g, 0, 0, S, S, false, NULL), GIF_OK);
        for (int i = 0; i < S; i++) {
            for (int j = 0; j < S; j++) {
                const uint8_t *p = rgb + (((size_t)t * S + i) * S + j) * 3;
                int best = 0, bd = 1 << 30;
                for (int k = 0; k < 4; k++) {
                    int d = abs(p[0] - cols[k].Red) + abs(p[1] - cols[k].Green) + abs(p[2] - cols[k].Blue);
                    if (d < bd) bd = d, best = k;
                }
                line[j] = (GifByteType)best;
            }
            ck_assert_int_eq(EGifPutLine(g, line, S), GIF_OK);
        }
    }
    free(line);
    GifFreeMapObject(cm);
    ck_assert_int_eq(EGifCloseFile(g, &e), GIF_OK);
}

START_TEST(test_load_videos)
{
    int N = 3, T = 4, S = 16;
    size_t vs = (size_t)T * S * S * 3;
    uint8_t *v = malloc(N * vs);
    for (size_t k = 0; k < N * vs; k++) v[k] = (uint8_t)(vdit_rng_at(5, k) & 0xff);
    char dir[] = "/tmp/check_eval_XXXXXX", p[600];
    ck_assert(mkdtemp(dir));
    vdit_err err;
    eval_videos got;
    /* uint8 NPY */
    vdit_array a = {VDIT_DTYPE_U8, 5, {N, T, S, S, 3}, v, N * vs};
    snprintf(p, sizeof p, "%s/v.npy", dir);
    ck_assert_int_eq(vdit_npy_write(p, &a, &err), 0);
    ck_assert_msg(eval_load_videos(p, &got, &err) == 0, "%s", err.msg);
    ck_assert(got.N == N && got.T == T && got.S == S);
    ck_assert_mem_eq(got.data, v, N * vs);
    eval_videos_free(&got);
    /* NPZ with 'videos' among other arrays */
    snprintf(p, sizeof p, "%s/v.npz", dir);
    vdit_npz_writer *w;
    int32_t lab[3] = {0, 1, 2};
    vdit_array la = {VDIT_DTYPE_I32, 1, {3}, lab, sizeof lab};
    ck_assert_int_eq(vdit_npz_open(&w, p, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "labels", &la, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "videos", &a, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    ck_assert_msg(eval_load_videos(p, &got, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(got.data, v, N * vs);
    eval_videos_free(&got);
    /* float32 [N][T][3][S][S] in [-1, 1] */
    float *fv = malloc(N * vs * sizeof(float));
    for (int n = 0; n < N * T; n++)
        for (int c = 0; c < 3; c++)
            for (int q = 0; q < S * S; q++) fv[((size_t)n * 3 + c) * S * S + q] = v[((size_t)n * S * S + q) * 3 + c] / 127.5f - 1.0f;
    int64_t fs[5] = {N, T, 3, S, S};
    snprintf(p, sizeof p, "%s/f.npy", dir);
    ck_assert_int_eq(vdit_npy_write_f32(p, fv, 5, fs, &err), 0);
    ck_assert_msg(eval_load_videos(p, &got, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(got.data, v, N * vs);
    eval_videos_free(&got);
    free(fv);
    /* a wrong shape is rejected with the expected layouts named */
    vdit_array bad = {VDIT_DTYPE_U8, 3, {N, T, S}, v, (size_t)N * T * S};
    snprintf(p, sizeof p, "%s/bad.npy", dir);
    ck_assert_int_eq(vdit_npy_write(p, &bad, &err), 0);
    ck_assert_int_eq(eval_load_videos(p, &got, &err), -1);
    ck_assert_msg(strstr(err.msg, "expected uint8 [N][T][S][S][3]"), "%s", err.msg);
    /* PNG frames */
    snprintf(p, sizeof p, "%s/png", dir);
    mkdir(p, 0777);
    for (int n = 0; n < N; n++) {
        snprintf(p, sizeof p, "%s/png/video_%04d", dir, n);
        mkdir(p, 0777);
        for (int t = 0; t < T; t++) {
            snprintf(p, sizeof p, "%s/png/video_%04d/frame_%03d.png", dir, n, t);
            write_png_file(p, v + n * vs + (size_t)t * S * S * 3, S);
        }
    }
    snprintf(p, sizeof p, "%s/png", dir);
    ck_assert_msg(eval_load_videos(p, &got, &err) == 0, "%s", err.msg);
    ck_assert(got.N == N && got.T == T && got.S == S);
    ck_assert_mem_eq(got.data, v, N * vs);
    eval_videos_free(&got);
    /* a missing frame in one video is an error naming it */
    snprintf(p, sizeof p, "%s/png/video_0001/frame_003.png", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/png", dir);
    ck_assert_int_eq(eval_load_videos(p, &got, &err), -1);
    ck_assert_msg(strstr(err.msg, "video_0001: 3 frames"), "%s", err.msg);
    /* GIFs (palette videos round-trip exactly) */
    scene s;
    scene_make(&s, scene_default(EVAL_OCCLUSION, 0.1), T, S);
    uint8_t *q = malloc(2 * vs);
    for (size_t k = 0; k < vs; k++) { /* snap to the 4 colours */
        uint8_t x = s.truth[k];
        s.truth[k] = x > 191 ? 255 : x > 64 ? 128 : 0;
    }
    for (size_t k = 0; k + 2 < vs; k += 3) { /* keep only palette colours */
        uint8_t *px = s.truth + k;
        if (px[0] == 128 || px[1] == 128 || px[2] == 128) px[0] = px[1] = px[2] = 128;
        if (px[0] == 255 && px[1] == 0) px[2] = 0;
    }
    memcpy(q, s.truth, vs);
    memcpy(q + vs, s.truth, vs);
    snprintf(p, sizeof p, "%s/gif", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/gif/b.gif", dir);
    write_gif_file(p, q, T, S);
    snprintf(p, sizeof p, "%s/gif/a.gif", dir);
    write_gif_file(p, q, T, S);
    snprintf(p, sizeof p, "%s/gif", dir);
    ck_assert_msg(eval_load_videos(p, &got, &err) == 0, "%s", err.msg);
    ck_assert(got.N == 2 && got.T == T && got.S == S);
    ck_assert_mem_eq(got.data, q, 2 * vs);
    eval_videos_free(&got);
    free(q);
    scene_free(&s);
    free(v);
    rm_rf(dir);
}
END_TEST

/* a real set from the datasets library (Chipmunk2D, its renderer), read
 * back with its reader: the truth scores perfectly there too */
START_TEST(test_dataset_load)
{
    char dir[] = "/tmp/check_eval_XXXXXX", p[600];
    ck_assert(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/set", dir);
    vdit_err err;
    vdit_data_spec spec;
    ck_assert_msg(vdit_data_spec_make(&spec, -1, VDIT_SPLIT_ID, 0, 10, 32, 64, 3, &err) == 0, "%s", err.msg);
    spec.take2 = 1;
    ck_assert_msg(vdit_data_write(p, &spec, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    vdit_data_spec_free(&spec);
    eval_dataset ds;
    ck_assert_msg(eval_dataset_load(p, &ds, &err) == 0, "%s", err.msg);
    ck_assert(ds.set.N == 10 && ds.set.T == 32 && ds.set.S == 64 && ds.set.ctx == 3);
    ck_assert_ptr_nonnull(ds.set.take2);
    eval_options o;
    eval_options_default(&o);
    o.bootstrap = 100;
    eval_result r;
    ck_assert_msg(eval_run(&ds.set, ds.set.videos, &o, &r, &err) == 0, "%s", err.msg);
    for (int i = 0; i < r.N; i++) {
        const double *m = r.m + ((size_t)EVAL_SRC_TRUTH * r.N + i) * EVAL_NUM_METRICS;
        if (getenv("EVAL_VERBOSE")) print_metrics(eval_scenario_names[r.labels[i]], m);
        /* an occlusion video may leave only a few velocity pairs clear of
         * the wall, so the tracker's jitter weighs more there */
        ck_assert_double_lt(m[EVAL_M_VEL], 0.1);
        ck_assert_double_lt(m[EVAL_M_POS_X], 0.03);
        ck_assert_double_lt(m[EVAL_M_POS_Y], 0.03);
        ck_assert_double_eq(m[EVAL_M_MISSING], 0.0);
        ck_assert_double_eq(m[EVAL_M_ST_IOU], 1.0);
        ck_assert_double_eq(m[EVAL_M_PHYSICS_IQ], 1.0);
        ck_assert_double_eq(m[EVAL_M_FLICKER_BG], 1.0);
        if (r.labels[i] == EVAL_UNIFORM) { /* the linear baseline: nearly perfect */
            const double *l = r.m + ((size_t)EVAL_SRC_LINEAR * r.N + i) * EVAL_NUM_METRICS;
            ck_assert_double_lt(l[EVAL_M_POS_X], 0.2);
            ck_assert_double_eq(l[EVAL_M_FLICKER_BG], 1.0);
        }
    }
    eval_result_free(&r);
    eval_dataset_free(&ds);
    /* no dataset there: the reader names the file */
    snprintf(p, sizeof p, "%s/none", dir);
    ck_assert_int_eq(eval_dataset_load(p, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "meta.json"), "%s", err.msg);
    rm_rf(dir);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *hand = tcase_create("hand");
    tcase_add_test(hand, test_grey_blur_hand);
    tcase_add_test(hand, test_morphology_hand);
    tcase_add_test(hand, test_motion_mask_hand);
    tcase_add_test(hand, test_mask_metrics_hand);
    tcase_add_test(hand, test_physics_iq_score_hand);
    tcase_add_test(hand, test_flicker_hand);
    tcase_add_test(hand, test_track_hand);
    tcase_add_test(hand, test_recon_score_hand);
    suite_add_tcase(s, hand);
    TCase *phys = tcase_create("physics");
    tcase_set_timeout(phys, 60);
    tcase_add_test(phys, test_truth_perfect);
    tcase_add_test(phys, test_drift_windows_and_horizon);
    tcase_add_test(phys, test_corrupt_freeze);
    tcase_add_test(phys, test_corrupt_teleport);
    tcase_add_test(phys, test_corrupt_disappear);
    tcase_add_test(phys, test_corrupt_gravity);
    tcase_add_test(phys, test_corrupt_flicker);
    tcase_add_test(phys, test_collision_momentum);
    tcase_add_test(phys, test_linear_baseline);
    tcase_add_test(phys, test_linear_keeps_walls);
    TCase *fool = tcase_create("fooled");
    tcase_set_timeout(fool, 120);
    tcase_add_test(fool, test_fool_noise_speckle_blank);
    tcase_add_test(fool, test_fool_split_shrink);
    tcase_add_test(fool, test_fool_kinematics);
    tcase_add_test(fool, test_fool_gravity);
    tcase_add_test(fool, test_fool_runner);
    suite_add_tcase(s, fool);
    suite_add_tcase(s, phys);
    TCase *stat = tcase_create("statistics");
    tcase_add_test(stat, test_frechet);
    tcase_add_test(stat, test_bootstrap);
    suite_add_tcase(s, stat);
    TCase *run = tcase_create("runner");
    tcase_set_timeout(run, 120);
    tcase_add_test(run, test_run_truth_as_model);
    tcase_add_test(run, test_run_rejects);
    tcase_add_test(run, test_vae_features);
    tcase_add_test(run, test_recon_run);
    tcase_add_test(run, test_generate);
    tcase_add_test(run, test_load_videos);
    tcase_add_test(run, test_dataset_load);
    suite_add_tcase(s, run);
    return s;
}

int main(void) { return run_suite(eval_suite()); }
