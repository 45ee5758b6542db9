/* check_data.c - the physics datasets (datasets/): physics checked from the
 * stored ground truth (not from the simulator's code), the placement rules,
 * the OOD ranges, the renderer (centroids, occlusion, anti-aliasing), the
 * second take, determinism across runs and thread counts, the reader's
 * rejection of broken datasets, and the PNG/GIF writers.
 *
 * main() writes one small dataset per split (the five scenarios in turn,
 * 64x64, 32 frames) into a temporary directory; the tests read them back
 * with vdit_dataset_load, as every other stage does.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <gif_lib.h>
#include <math.h>
#include <png.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "datasets.h"
#include "testutil.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static char tmpdir[512];
#define PER_SCENARIO 16 /* videos of each scenario in each split's set */
#define NSET (VDIT_NPHYWORLD * PER_SCENARIO) /* "all": phyworld's five */
static const char *const SET_SPLITS[VDIT_NSPLITS] = {"id", "ood-v", "ood-r", "ood-rv"};

static const char *tpath(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void load_split(int split, vdit_dataset *ds)
{
    vdit_err err;
    ck_assert_msg(vdit_dataset_load(tpath(SET_SPLITS[split]), ds, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds->count, NSET);
    ck_assert_int_eq(ds->frames, 32);
    ck_assert_int_eq(ds->size, 64);
}

/* state k of ball b in frame t of video i */
static double S(const vdit_dataset *ds, int i, int t, int b, int k)
{
    return ((const float *)ds->states.data)[(((size_t)i * ds->frames + t) * 2 + b) * 5 + k];
}
static double P(const vdit_dataset *ds, int i, int k) { return ((const float *)ds->params.data)[(size_t)i * 8 + k]; }
static int LABEL(const vdit_dataset *ds, int i) { return ((const int32_t *)ds->labels.data)[i]; }
static int CONTACT(const vdit_dataset *ds, int i) { return ((const int32_t *)ds->contact.data)[i]; }

static int in_view(const vdit_dataset *ds, int i, int t, int b)
{
    const double tol = 1e-4;
    double x = S(ds, i, t, b, 0), y = S(ds, i, t, b, 1), r = S(ds, i, t, b, 4);
    return x - r >= -tol && x + r <= 10 + tol && y - r >= -tol && y + r <= 10 + tol;
}

/* ------------------------------------------------------------------------
 * Physics from the stored states
 * ---------------------------------------------------------------------- */

/* parabola: a = -2.5 from the stored vy (and from positions), vx constant */
START_TEST(test_parabola_acceleration)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    int n = 0;
    double worst_v = 0, worst_y = 0;
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_PARABOLA) continue;
        n++;
        ck_assert_double_eq_tol(P(&ds, i, VDIT_P_G), -2.5, 1e-6);
        for (int t = 0; t + 1 < ds.frames; t++) {
            double a = (S(&ds, i, t + 1, 0, 3) - S(&ds, i, t, 0, 3)) / 0.1;
            worst_v = fmax(worst_v, fabs(a + 2.5));
            ck_assert_double_eq_tol(S(&ds, i, t + 1, 0, 2), S(&ds, i, 0, 0, 2), 1e-6);
            if (t >= 1) {
                double ay = (S(&ds, i, t + 1, 0, 1) - 2 * S(&ds, i, t, 0, 1) + S(&ds, i, t - 1, 0, 1)) / 0.01;
                worst_y = fmax(worst_y, fabs(ay + 2.5));
            }
        }
        ck_assert_double_eq_tol(S(&ds, i, 0, 0, 3), 0.0, 1e-9); /* thrown horizontally */
    }
    ck_assert_int_eq(n, PER_SCENARIO);
    ck_assert_msg(worst_v < 1e-3, "acceleration from vy off by %g", worst_v);
    ck_assert_msg(worst_y < 1e-3, "acceleration from y off by %g", worst_y);
    vdit_dataset_free(&ds);
}
END_TEST

/* uniform: constant velocity, the stored one, and no vertical motion */
START_TEST(test_uniform_velocity)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    double worst = 0;
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_UNIFORM && LABEL(&ds, i) != VDIT_SC_OCCLUSION) continue;
        double v0 = S(&ds, i, 0, 0, 2);
        ck_assert_double_eq_tol(v0, P(&ds, i, VDIT_P_V1), 1e-6);
        for (int t = 0; t + 1 < ds.frames; t++) {
            double v = (S(&ds, i, t + 1, 0, 0) - S(&ds, i, t, 0, 0)) / 0.1;
            worst = fmax(worst, fabs(v - v0));
            ck_assert_double_eq(S(&ds, i, t, 0, 2), v0);
            ck_assert_double_eq(S(&ds, i, t, 0, 1), S(&ds, i, 0, 0, 1));
            ck_assert_double_eq(S(&ds, i, t, 0, 3), 0.0);
        }
        ck_assert(isnan(S(&ds, i, 0, 1, 0))); /* no second ball */
    }
    ck_assert_msg(worst < 1e-3, "velocity from positions off by %g", worst);
    vdit_dataset_free(&ds);
}
END_TEST

/* collision: momentum and kinetic energy (mass ~ r^2) the same in every
 * frame within 1e-3 relative; head-on at one height; contact with >= 8
 * frames before and after; both balls in view until then; the velocities
 * after are the 1-D elastic ones. */
START_TEST(test_collision_conservation)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    int n = 0;
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_COLLISION) continue;
        n++;
        double m1 = S(&ds, i, 0, 0, 4) * S(&ds, i, 0, 0, 4), m2 = S(&ds, i, 0, 1, 4) * S(&ds, i, 0, 1, 4);
        double v1 = S(&ds, i, 0, 0, 2), v2 = S(&ds, i, 0, 1, 2);
        ck_assert(v1 >= 0 && v2 < 0);
        double p0 = m1 * v1 + m2 * v2, k0 = 0.5 * (m1 * v1 * v1 + m2 * v2 * v2), pscale = m1 * fabs(v1) + m2 * fabs(v2);
        for (int t = 0; t < ds.frames; t++) {
            double a = S(&ds, i, t, 0, 2), b = S(&ds, i, t, 1, 2);
            double ay = S(&ds, i, t, 0, 3), by = S(&ds, i, t, 1, 3);
            ck_assert_msg(fabs(m1 * a + m2 * b - p0) <= 1e-3 * pscale, "video %d frame %d: momentum %g vs %g", i, t,
                          m1 * a + m2 * b, p0);
            double k = 0.5 * (m1 * (a * a + ay * ay) + m2 * (b * b + by * by));
            ck_assert_msg(fabs(k - k0) <= 1e-3 * k0, "video %d frame %d: energy %g vs %g", i, t, k, k0);
            ck_assert_double_eq(S(&ds, i, t, 0, 1), S(&ds, i, t, 1, 1)); /* head-on */
        }
        int c = CONTACT(&ds, i);
        ck_assert_msg(c >= 8 && ds.frames - c >= 8, "video %d: contact frame %d", i, c);
        for (int t = 0; t < c; t++) {
            ck_assert(in_view(&ds, i, t, 0) && in_view(&ds, i, t, 1));
            ck_assert_double_eq(S(&ds, i, t, 0, 2), v1); /* nothing happens before */
            /* apart before the contact, touching (or overlapping) in its frame */
            ck_assert(S(&ds, i, t, 1, 0) - S(&ds, i, t, 0, 0) > S(&ds, i, 0, 0, 4) + S(&ds, i, 0, 1, 4) - 1e-4);
        }
        double u1 = ((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2), u2 = ((m2 - m1) * v2 + 2 * m1 * v1) / (m1 + m2);
        ck_assert_double_eq_tol(S(&ds, i, ds.frames - 1, 0, 2), u1, 1e-3 * (fabs(v1) + fabs(v2)));
        ck_assert_double_eq_tol(S(&ds, i, ds.frames - 1, 1, 2), u2, 1e-3 * (fabs(v1) + fabs(v2)));
    }
    ck_assert_int_eq(n, PER_SCENARIO);
    vdit_dataset_free(&ds);
}
END_TEST

/* bounce: the speed ratio at the first floor contact equals e.
 *
 * Chipmunk integrates positions with the previous step's velocity, then
 * velocities, and reverses the velocity in the step that first finds the
 * ball overlapping the floor (top at y = 0.5): v_s = -e v_{s-1}. From the
 * stored states of frames c-1 and c, the step s (1..10 after frame c-1) is
 * the first whose position y0 + j dt v0 + g dt^2 j(j-1)/2 has the ball
 * overlapping the floor, and then
 *   e = -(v_c - (10 - s) g dt) / (v_{c-1} + (s - 1) g dt).
 * Tolerance 1e-4: the stored float32 velocities (|v| < 10) carry 1e-6
 * rounding, so a correctly realised e comes out within ~1e-6, while e^2
 * (elasticities multiplied twice) or a missing gravity step would miss by
 * > 1e-2.
 * A second, integrator-free estimate puts the reversal at the instant t*
 * where the two free-fall parabolas through the frames' states join; it
 * ignores the one step of gravity the reversal absorbs, g dt / |v| <=
 * 0.025 / 1.8 (the slowest impact here), so it is held to 0.02. */
START_TEST(test_bounce_restitution)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    const double g = -2.5, dt = 0.01, h = 0.1, F = 0.5;
    int n = 0;
    double worst = 0, worst_c = 0;
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_BOUNCE) continue;
        n++;
        int c = CONTACT(&ds, i);
        ck_assert_msg(c >= 8 && ds.frames - c >= 8, "video %d: contact frame %d", i, c);
        double e_true = P(&ds, i, VDIT_P_E), r = S(&ds, i, 0, 0, 4);
        double y0 = S(&ds, i, c - 1, 0, 1), v0 = S(&ds, i, c - 1, 0, 3), y1 = S(&ds, i, c, 0, 1),
               v1 = S(&ds, i, c, 0, 3);
        ck_assert(v0 < 0 && v1 > 0);
        int s = 0;
        for (int j = 1; j <= 10 && !s; j++)
            if (y0 + j * dt * v0 + g * dt * dt * j * (j - 1) / 2 - r < F) s = j;
        ck_assert_int_gt(s, 0);
        double e = -(v1 - (10 - s) * g * dt) / (v0 + (s - 1) * g * dt);
        worst = fmax(worst, fabs(e - e_true));
        double ts = (y1 - y0 - h * v1 + 0.5 * h * h * g) / (v0 - v1 + h * g);
        double ec = -(v1 - g * (h - ts)) / (v0 + g * ts);
        worst_c = fmax(worst_c, fabs(ec - e_true));
        /* no contact before: the ball falls freely from rest */
        for (int t = 0; t + 1 < c; t++) ck_assert_double_eq_tol(S(&ds, i, t + 1, 0, 3) - S(&ds, i, t, 0, 3), g * h, 1e-5);
        ck_assert_double_eq_tol(S(&ds, i, 0, 0, 3), 0, 1e-9);
        for (int t = 0; t < ds.frames; t++) ck_assert_double_eq(S(&ds, i, t, 0, 2), S(&ds, i, 0, 0, 2));
    }
    ck_assert_int_eq(n, PER_SCENARIO);
    ck_assert_msg(worst < 1e-4, "restitution off by %g", worst);
    ck_assert_msg(worst_c < 0.02, "restitution (continuous estimate) off by %g", worst_c);
    vdit_dataset_free(&ds);
}
END_TEST

/* The ball is fully in view for at least 24 frames, or, when its speed and
 * size make that impossible, for the most frames possible: 1 + floor((10 -
 * 2r) / (0.1 v)) horizontally, and for parabola the frames a ball dropped
 * from the top stays above the bottom (1.25 t^2 <= 10 - 2r, continuous:
 * the engine's ball falls a little less, so this bound is safe). */
START_TEST(test_in_view_rule)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    int full = 0;
    for (int i = 0; i < ds.count; i++) {
        int L = LABEL(&ds, i);
        if (L == VDIT_SC_COLLISION) continue;
        double v = fabs(S(&ds, i, 0, 0, 2)), r = S(&ds, i, 0, 0, 4);
        int nmax = v * 0.1 * 31 <= 10 - 2 * r ? 32 : 1 + (int)floor((10 - 2 * r) / (0.1 * v) + 1e-9);
        if (L == VDIT_SC_PARABOLA) {
            int nv = 0;
            while (nv < 32 && 1.25 * (0.1 * nv) * (0.1 * nv) <= 10 - 2 * r) nv++;
            if (nv < nmax) nmax = nv;
        }
        int need = nmax < 24 ? nmax : 24, have = 0;
        for (int t = 0; t < ds.frames; t++) have += in_view(&ds, i, t, 0);
        ck_assert_msg(have >= need, "video %d (%s): %d frames in view, need %d (v %g r %g)", i,
                      vdit_scenario_name(L), have, need, v, r);
        ck_assert(in_view(&ds, i, 0, 0)); /* always starts fully in view */
        full += have >= 24;
    }
    if (_i == VDIT_SPLIT_ID) ck_assert_int_gt(full, NSET / 2); /* the rule is mostly met in full */
    vdit_dataset_free(&ds);
}
END_TEST

/* Every parameter in its split's range (benchmark.md), the others ID. */
typedef struct {
    double lo, hi;
} rng2;
static int in_ranges(double x, int ood, rng2 id, rng2 low, rng2 high)
{
    const double e = 1e-5;
    if (!ood) return x >= id.lo - e && x <= id.hi + e;
    return (x >= low.lo - e && x <= low.hi + e) || (x >= high.lo - e && x <= high.hi + e);
}

START_TEST(test_split_ranges)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    int ood_v = _i == VDIT_SPLIT_OOD_V || _i == VDIT_SPLIT_OOD_RV;
    int ood_r = _i == VDIT_SPLIT_OOD_R || _i == VDIT_SPLIT_OOD_RV;
    const rng2 V[3] = {{1, 4}, {0, 0.8}, {4.5, 6}}, R1[3] = {{0.7, 1.4}, {0.3, 0.6}, {1.5, 2}},
               RC[3] = {{0.5, 1.5}, {0.3, 0.4}, {1.7, 2}}, E[3] = {{0.6, 0.9}, {0.3, 0.5}, {0.95, 1}},
               W[3] = {{1, 2}, {0.3, 0.8}, {2.5, 3.5}};
    int low_v = 0, high_v = 0;
    for (int i = 0; i < ds.count; i++) {
        ck_assert_int_eq(((int32_t *)ds.splits.data)[i], _i);
        int L = LABEL(&ds, i);
        double v1 = P(&ds, i, VDIT_P_V1), r1 = P(&ds, i, VDIT_P_R1);
        ck_assert_msg(in_ranges(v1, ood_v, V[0], V[1], V[2]), "video %d: v1 %g", i, v1);
        low_v += v1 < 1, high_v += v1 > 4;
        switch (L) {
        case VDIT_SC_UNIFORM:
        case VDIT_SC_PARABOLA: ck_assert_msg(in_ranges(r1, ood_r, R1[0], R1[1], R1[2]), "video %d: r %g", i, r1); break;
        case VDIT_SC_COLLISION:
            ck_assert(in_ranges(r1, ood_r, RC[0], RC[1], RC[2]));
            ck_assert(in_ranges(-P(&ds, i, VDIT_P_V2), 0, V[0], V[1], V[2])); /* blue: ID */
            ck_assert(in_ranges(P(&ds, i, VDIT_P_R2), 0, RC[0], RC[1], RC[2]));
            break;
        case VDIT_SC_BOUNCE:
            ck_assert_msg(in_ranges(P(&ds, i, VDIT_P_E), ood_r, E[0], E[1], E[2]), "e %g", P(&ds, i, VDIT_P_E));
            ck_assert(in_ranges(r1, 0, R1[0], R1[1], R1[2]));
            break;
        case VDIT_SC_OCCLUSION:
            ck_assert(in_ranges(P(&ds, i, VDIT_P_WALL_W), ood_r, W[0], W[1], W[2]));
            ck_assert(in_ranges(r1, 0, R1[0], R1[1], R1[2]));
            break;
        }
        ck_assert(!isnan(P(&ds, i, VDIT_P_G)));
        ck_assert(L == VDIT_SC_OCCLUSION ? !isnan(P(&ds, i, VDIT_P_WALL_X)) : isnan(P(&ds, i, VDIT_P_WALL_X)));
        ck_assert(L == VDIT_SC_COLLISION ? !isnan(P(&ds, i, VDIT_P_V2)) : isnan(P(&ds, i, VDIT_P_V2)));
    }
    if (ood_v) ck_assert(low_v > 0 && high_v > 0); /* both sides drawn */
    vdit_dataset_free(&ds);
}
END_TEST

/* box: speed conserved through every wall, the ball inside the view in
 * every frame of a long video, the speed and radius from the split's
 * ranges, headings every way; the second take moves the speed by 1% of
 * its range and keeps the heading */
START_TEST(test_box)
{
    const int T = 320, n = 24;
    int ood_v = _i == VDIT_SPLIT_OOD_V || _i == VDIT_SPLIT_OOD_RV;
    int ood_r = _i == VDIT_SPLIT_OOD_R || _i == VDIT_SPLIT_OOD_RV;
    const rng2 V[3] = {{1, 4}, {0, 0.8}, {4.5, 6}}, R1[3] = {{0.7, 1.4}, {0.3, 0.6}, {1.5, 2}};
    float *st = malloc((size_t)T * 2 * VDIT_NSTATE * sizeof(float)), *st2 = malloc((size_t)T * 2 * 5 * sizeof(float));
    int quadrant[4] = {0}, walls = 0;
    vdit_err err;
    for (int i = 0; i < n; i++) {
        vdit_scene sc, sc2;
        int contact;
        ck_assert_msg(vdit_scene_draw(&sc, VDIT_SC_BOX, _i, T, 100 + i, st, &contact, &err) == 0, "%s", err.msg);
        float p[VDIT_NPARAMS];
        vdit_scene_params(&sc, p);
        double v0 = hypot(sc.vx[0], sc.vy[0]);
        ck_assert_double_eq_tol(p[VDIT_P_V1], v0, 1e-6);
        ck_assert_msg(in_ranges(v0, ood_v, V[0], V[1], V[2]), "speed %g", v0);
        ck_assert_msg(in_ranges(sc.r[0], ood_r, R1[0], R1[1], R1[2]), "r %g", sc.r[0]);
        ck_assert(isnan(p[VDIT_P_V2]) && p[VDIT_P_G] == 0);
        quadrant[(sc.vx[0] < 0) + 2 * (sc.vy[0] < 0)]++;
        for (int t = 0; t < T; t++) {
            const float *s = st + (size_t)t * 2 * VDIT_NSTATE;
            double x = s[VDIT_S_X], y = s[VDIT_S_Y], r = s[VDIT_S_R];
            ck_assert_msg(x - r > -2e-3 && x + r < 10 + 2e-3 && y - r > -2e-3 && y + r < 10 + 2e-3,
                          "video %d frame %d: ball at (%g, %g) r %g leaves the box", i, t, x, y, r);
            ck_assert_msg(fabs(hypot(s[VDIT_S_VX], s[VDIT_S_VY]) - v0) < 1e-4 * fmax(v0, 1),
                          "video %d frame %d: speed %g, not %g", i, t, hypot(s[VDIT_S_VX], s[VDIT_S_VY]), v0);
            if (t && (s[VDIT_S_VX] * s[VDIT_S_VX - 2 * VDIT_NSTATE] < 0 || s[VDIT_S_VY] * s[VDIT_S_VY - 2 * VDIT_NSTATE] < 0))
                walls++;
        }
        char cap[256];
        vdit_scene_caption(&sc, st, T, cap, sizeof cap);
        ck_assert_msg(strstr(cap, "closed box"), "%s", cap);
        vdit_scene_take2(&sc2, &sc, 7 + i);
        double v2 = hypot(sc2.vx[0], sc2.vy[0]), span = ood_v ? (v0 < 1 ? 0.8 : 1.5) : 3;
        ck_assert_msg(fabs(fabs(v2 - v0) - 0.01 * span) < 1e-9 || (v2 == 0 && v0 < 0.01 * span), "take 2: %g -> %g", v0, v2);
        if (v2 > 0) ck_assert_double_eq_tol(atan2(sc2.vy[0], sc2.vx[0]), atan2(sc.vy[0], sc.vx[0]), 1e-9);
        ck_assert_int_eq(vdit_simulate(&sc2, T, st2, NULL, &err), 0);
    }
    for (int q = 0; q < 4; q++) ck_assert_msg(quadrant[q] > 0, "no ball heading into quadrant %d", q);
    ck_assert_int_gt(walls, n); /* the walls are hit, again and again */
    free(st), free(st2);
}
END_TEST

/* occlusion: clear of the wall in the context frames, reaching it by
 * frame 24 */
START_TEST(test_occlusion_rule)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_OCCLUSION) continue;
        double left = P(&ds, i, VDIT_P_WALL_X) - P(&ds, i, VDIT_P_WALL_W) / 2;
        double right = left + P(&ds, i, VDIT_P_WALL_W);
        ck_assert(left >= -1e-5 && right <= 10 + 1e-5);
        for (int t = 0; t < 3; t++) ck_assert(S(&ds, i, t, 0, 0) + S(&ds, i, t, 0, 4) <= left + 1e-4);
        int reached = 0;
        for (int t = 0; t <= 24; t++) reached |= S(&ds, i, t, 0, 0) + S(&ds, i, t, 0, 4) > left;
        ck_assert_msg(reached, "video %d never reaches the wall", i);
    }
    vdit_dataset_free(&ds);
}
END_TEST

/* ------------------------------------------------------------------------
 * Renderer
 * ---------------------------------------------------------------------- */

static int is_red(const uint8_t *p) { return p[0] > 127 && p[1] < 127 && p[2] < 127; }
static int is_blue(const uint8_t *p) { return p[0] < 127 && p[1] < 127 && p[2] > 127; }

/* centre (in pixels, u right, w down) and area of the colour-thresholded mask */
static int mask_stats(const uint8_t *f, int Sz, int (*is)(const uint8_t *), double *cu, double *cw)
{
    double su = 0, sw = 0;
    *cu = *cw = NAN;
    int n = 0;
    for (int i = 0; i < Sz; i++)
        for (int j = 0; j < Sz; j++)
            if (is(f + ((size_t)i * Sz + j) * 3)) {
                su += j + 0.5, sw += i + 0.5, n++;
            }
    if (n) *cu = su / n, *cw = sw / n;
    return n;
}

/* The colour-threshold centroid of a ball (64x64, r >= 0.7) against its
 * true position.
 *
 * The bound of 0.25 px cannot hold for every position: a threshold mask is
 * the set of pixels more than half covered, i.e. (up to curvature) the
 * pixels whose centre is inside the disc, whatever the anti-aliasing, and
 * at r = 0.7 (4.5 px) that lattice set's centroid is off by up to 0.29 px
 * for unlucky sub-pixel positions (0.4% of them; at r >= 1, 6.4 px, at most
 * 0.24 px). So: every ball within 0.30 px, 99% within 0.25 px, every ball
 * of r >= 1 within 0.25 px - and test_render_random_balls checks that our
 * mask is that ideal one, i.e. the renderer adds no error of its own. */
static void centroid_bounds(const double *err, const double *rad, int n)
{
    int over = 0;
    for (int q = 0; q < n; q++) {
        ck_assert_msg(err[q] < 0.30, "ball %d (r %.3f): centroid off by %.3f px", q, rad[q], err[q]);
        if (rad[q] >= 1.0) ck_assert_msg(err[q] < 0.25, "ball %d (r %.3f): off by %.3f px", q, rad[q], err[q]);
        over += err[q] >= 0.25;
    }
    ck_assert_msg(over <= n / 100, "%d of %d balls off by 0.25 px or more", over, n);
}

START_TEST(test_render_centroid)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    const int Sz = ds.size;
    const double k = Sz / 10.0;
    int checked = 0, cap = ds.count * ds.frames * 2;
    double *errs = malloc(cap * sizeof(double)), *rads = malloc(cap * sizeof(double));
    for (int i = 0; i < ds.count; i++) {
        int L = LABEL(&ds, i);
        for (int t = 0; t < ds.frames; t++) {
            const uint8_t *f = (const uint8_t *)ds.videos.data + ((size_t)i * ds.frames + t) * Sz * Sz * 3;
            for (int b = 0; b < (L == VDIT_SC_COLLISION ? 2 : 1); b++) {
                double x = S(&ds, i, t, b, 0), y = S(&ds, i, t, b, 1), r = S(&ds, i, t, b, 4);
                if (r < 0.7 || !in_view(&ds, i, t, b)) continue;
                if (L == VDIT_SC_OCCLUSION &&
                    x + r > P(&ds, i, VDIT_P_WALL_X) - P(&ds, i, VDIT_P_WALL_W) / 2 - 1e-6)
                    continue; /* touching the wall */
                if (L == VDIT_SC_COLLISION && t >= CONTACT(&ds, i) - 1 && t <= CONTACT(&ds, i)) continue;
                if (L == VDIT_SC_BOUNCE && y - r < 0.5 + 2 / k) continue; /* near the floor */
                double cu, cw;
                int n = mask_stats(f, Sz, b ? is_blue : is_red, &cu, &cw);
                ck_assert_int_gt(n, 0);
                errs[checked] = hypot(cu - x * k, cw - (10 - y) * k);
                rads[checked] = r;
                ck_assert_double_eq_tol(sqrt(n / M_PI), r * k, 0.5); /* radius from the area */
                checked++;
            }
        }
    }
    ck_assert_int_gt(checked, 100);
    centroid_bounds(errs, rads, checked);
    free(errs);
    free(rads);
    vdit_dataset_free(&ds);
}
END_TEST

/* 2000 balls rendered alone at random sub-pixel positions and radii
 * (0.7..2): the centroid bounds above; the red mask is the ideal one (the
 * pixels whose centre is inside the disc) except within 0.1 px of the rim;
 * anti-aliasing: interior pixels exactly red, the background exactly
 * white, intermediate shades on the rim. */
START_TEST(test_render_random_balls)
{
    const int Sz = 64, NB = 2000;
    const double k = Sz / 10.0;
    uint8_t *f = malloc((size_t)Sz * Sz * 3);
    double *errs = malloc(NB * sizeof(double)), *rads = malloc(NB * sizeof(double));
    vdit_rng rng;
    vdit_rng_init(&rng, 42);
    for (int n = 0; n < NB; n++) {
        vdit_scene sc;
        memset(&sc, 0, sizeof sc);
        sc.nballs = 1;
        float st[10];
        double r = n < NB / 2 ? 0.7 + 0.3 * vdit_rng_uniform(&rng) : 0.7 + 1.3 * vdit_rng_uniform(&rng);
        double x = r + (10 - 2 * r) * vdit_rng_uniform(&rng), y = r + (10 - 2 * r) * vdit_rng_uniform(&rng);
        st[0] = (float)x, st[1] = (float)y, st[2] = st[3] = 0, st[4] = (float)r;
        for (int q = 5; q < 10; q++) st[q] = NAN;
        vdit_render_frame(f, Sz, &sc, st);
        double cu, cw, cu0 = st[0] * k, cw0 = (10 - st[1]) * k, rp = st[4] * k;
        int area = mask_stats(f, Sz, is_red, &cu, &cw);
        errs[n] = hypot(cu - cu0, cw - cw0);
        rads[n] = st[4];
        ck_assert_double_eq_tol(sqrt(area / M_PI), rp, 0.5);
        int partial = 0;
        for (int i = 0; i < Sz; i++)
            for (int j = 0; j < Sz; j++) {
                const uint8_t *p = f + ((size_t)i * Sz + j) * 3;
                double d = hypot(j + 0.5 - cu0, i + 0.5 - cw0);
                if (d < rp - 0.75) ck_assert(p[0] == 255 && p[1] == 0 && p[2] == 0);
                if (d > rp + 0.75) ck_assert(p[0] == 255 && p[1] == 255 && p[2] == 255);
                if (is_red(p) != (d < rp)) ck_assert_msg(fabs(d - rp) < 0.1, "pixel %d,%d: %.3f px from the rim", i, j, d - rp);
                partial += p[0] == 255 && p[1] > 0 && p[1] < 255 && p[1] == p[2];
            }
        ck_assert_int_gt(partial, 8);
    }
    centroid_bounds(errs, rads, NB);
    free(errs);
    free(rads);
    free(f);
}
END_TEST

/* occlusion: a ball wholly behind the wall leaves no red pixel; a ball
 * clear of it shows all its pixels; the wall is grey in front. */
START_TEST(test_render_occlusion)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    const int Sz = ds.size;
    const double k = Sz / 10.0;
    int hidden = 0, clear = 0;
    for (int i = 0; i < ds.count; i++) {
        if (LABEL(&ds, i) != VDIT_SC_OCCLUSION) continue;
        double left = P(&ds, i, VDIT_P_WALL_X) - P(&ds, i, VDIT_P_WALL_W) / 2;
        double right = left + P(&ds, i, VDIT_P_WALL_W);
        for (int t = 0; t < ds.frames; t++) {
            const uint8_t *f = (const uint8_t *)ds.videos.data + ((size_t)i * ds.frames + t) * Sz * Sz * 3;
            double x = S(&ds, i, t, 0, 0), r = S(&ds, i, t, 0, 4), cu, cw;
            int n = mask_stats(f, Sz, is_red, &cu, &cw);
            if (x - r >= left && x + r <= right) {
                ck_assert_msg(n == 0, "video %d frame %d: %d red pixels of a hidden ball", i, t, n);
                hidden++;
            } else if (x + r <= left - 1 / k && in_view(&ds, i, t, 0)) {
                ck_assert_double_eq_tol(n, M_PI * r * r * k * k, 2 * M_PI * r * k); /* all of it */
                clear++;
            }
            /* the wall's middle column is grey from top to bottom */
            int jm = (int)((left + right) / 2 * k);
            if ((right - left) * k >= 2)
                for (int row = 0; row < Sz; row++) {
                    const uint8_t *p = f + ((size_t)row * Sz + jm) * 3;
                    ck_assert(p[0] == 128 && p[1] == 128 && p[2] == 128);
                }
        }
    }
    ck_assert_int_gt(clear, 0);
    if (_i == VDIT_SPLIT_ID || _i == VDIT_SPLIT_OOD_R) ck_assert_int_gt(hidden, 0); /* walls wide enough */
    vdit_dataset_free(&ds);
}
END_TEST

/* ------------------------------------------------------------------------
 * Second take, captions, determinism
 * ---------------------------------------------------------------------- */

START_TEST(test_take2)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    ck_assert_ptr_nonnull(ds.videos_take2.data);
    ck_assert_ptr_nonnull(ds.states_take2.data);
    const float *s2 = ds.states_take2.data;
    int differ = 0;
    for (int i = 0; i < ds.count; i++) {
        for (int b = 0; b < (LABEL(&ds, i) == VDIT_SC_COLLISION ? 2 : 1); b++) {
            const float *a = (const float *)ds.states.data + ((size_t)i * ds.frames * 2 + b) * 5;
            const float *c = s2 + ((size_t)i * ds.frames * 2 + b) * 5;
            ck_assert_double_eq_tol(fabs(c[0] - a[0]), 0.1, 1e-5); /* 1% of the world */
            ck_assert_double_eq_tol(fabs(c[1] - a[1]), 0.1, 1e-5);
            ck_assert_double_eq(c[4], a[4]);
            /* 1% of the range the speed came from: ID 3, low 0.8, high 1.5
             * (a slow ball may be stopped at 0 instead of reversing) */
            double dv = fabs(c[2] - a[2]);
            ck_assert_msg(fabs(dv - 0.03) < 1e-5 || fabs(dv - 0.008) < 1e-5 || fabs(dv - 0.015) < 1e-5 ||
                              (c[2] == 0 && dv < 0.008),
                          "video %d: speed moved by %g", i, dv);
        }
        differ += memcmp((uint8_t *)ds.videos.data + (size_t)i * ds.frames * ds.size * ds.size * 3,
                         (uint8_t *)ds.videos_take2.data + (size_t)i * ds.frames * ds.size * ds.size * 3,
                         (size_t)ds.frames * ds.size * ds.size * 3) != 0;
    }
    ck_assert_int_eq(differ, ds.count);
    vdit_dataset_free(&ds);
}
END_TEST

START_TEST(test_captions)
{
    vdit_dataset ds;
    load_split(_i, &ds);
    for (int i = 0; i < ds.count; i++) {
        char want[64];
        snprintf(want, sizeof want, "a red ball of radius %.1f ", P(&ds, i, VDIT_P_R1));
        ck_assert_msg(!strncmp(ds.captions[i], want, strlen(want)), "%s", ds.captions[i]);
        static const char *const word[5] = {"without gravity", "falls", "blue ball", "bounces", "wall"};
        ck_assert_msg(strstr(ds.captions[i], word[LABEL(&ds, i)]), "%s", ds.captions[i]);
        if (LABEL(&ds, i) == VDIT_SC_BOUNCE) {
            snprintf(want, sizeof want, "restitution %.2f", P(&ds, i, VDIT_P_E));
            ck_assert(strstr(ds.captions[i], want));
        }
        /* the detailed caption ends with the start; the short one names no number */
        snprintf(want, sizeof want, ", starting at x %.1f y %.1f", S(&ds, i, 0, 0, 0), S(&ds, i, 0, 0, 1));
        ck_assert_msg(strstr(ds.captions[i], want), "%s lacks %s", ds.captions[i], want);
        ck_assert_ptr_nonnull(ds.captions_short);
        ck_assert_msg(!strncmp(ds.captions_short[i], "a red ball ", 11) && !strpbrk(ds.captions_short[i], "0123456789"),
                      "%s", ds.captions_short[i]);
        /* both tokenize within the vocabulary and come back word for word */
        for (int k = 0; k < 2; k++) {
            const char *c = k ? ds.captions_short[i] : ds.captions[i];
            int ids[128], n;
            char back[512];
            vdit_err err;
            ck_assert_msg(vdit_tokenize(c, ids, 128, &n, &err) == 0, "%s: %s", c, err.msg);
            vdit_detokenize(ids, n, back, sizeof back);
            ck_assert_str_eq(back, c);
        }
    }
    char name[32];
    snprintf(name, sizeof name, "all/%s", SET_SPLITS[_i]);
    ck_assert_str_eq(ds.name, name);
    vdit_dataset_free(&ds);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *n)
{
    void *d;
    vdit_err err;
    ck_assert_msg(vdit_read_file(path, (size_t)1 << 31, &d, n, &err) == 0, "%s", err.msg);
    return d;
}

static void assert_same_files(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* The same spec writes byte-identical files, with 1 or 2 threads. */
/* The tokenizer: numbers digit by digit (an unseen value can be written),
 * case folded, <eos> ends and <pad> is skipped when going back, every box
 * caption in the vocabulary; a word outside it is one error naming it. */
START_TEST(test_tokenizer)
{
    int ids[64], n;
    vdit_err err;
    ck_assert_int_eq(vdit_tokenize("A red ball glides right at 12.75 units/s, starting", ids, 64, &n, &err), 0);
    const char *want[] = {"a", "red", "ball", "glides", "right", "at", "1", "2", ".", "7", "5", "units/s", ",",
                          "starting"};
    ck_assert_int_eq(n, 14);
    for (int i = 0; i < n; i++) ck_assert_str_eq(vdit_vocab_token(ids[i]), want[i]);
    char back[256];
    ids[n] = VDIT_TOK_EOS, ids[n + 1] = ids[0];
    vdit_detokenize(ids, n + 2, back, sizeof back);
    ck_assert_str_eq(back, "a red ball glides right at 12.75 units/s, starting");
    ck_assert_ptr_null(vdit_vocab_token(vdit_vocab_size()));
    ck_assert_str_eq(vdit_vocab_token(VDIT_TOK_DIGIT0 + 7), "7");
    ck_assert_int_eq(vdit_tokenize("a purple ball", ids, 64, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "word 'purple' is not in the caption vocabulary") && strstr(err.msg, "restitution"),
                  "%s", err.msg);
    ck_assert_int_eq(vdit_tokenize("at 1.2.3 units/s", ids, 64, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "at most one decimal point"), "%s", err.msg);
    ck_assert_int_eq(vdit_tokenize("a red ball", ids, 2, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "more than 2 tokens"), "%s", err.msg);
    for (int k = 0; k < 16; k++) { /* box, every heading */
        vdit_scene sc;
        float *st = malloc(64 * 10 * sizeof(float));
        ck_assert_int_eq(vdit_scene_draw(&sc, VDIT_SC_BOX, k % VDIT_NSPLITS, 64, 500 + k, st, NULL, &err), 0);
        char c[256];
        vdit_scene_caption(&sc, st, 64, c, sizeof c);
        ck_assert_msg(vdit_tokenize(c, ids, 64, &n, &err) == 0, "%s: %s", c, err.msg);
        vdit_detokenize(ids, n, back, sizeof back);
        ck_assert_str_eq(back, c);
        free(st);
    }
}
END_TEST

START_TEST(test_determinism)
{
    vdit_data_spec sp;
    vdit_err err;
    ck_assert_int_eq(vdit_data_spec_make(&sp, -1, VDIT_SPLIT_OOD_RV, 0, 30, 16, 24, 7, &err), 0);
    sp.take2 = 1;
    const char *dirs[3] = {"det1", "det2", "det3"};
    const int threads[3] = {1, 2, 2};
    for (int k = 0; k < 3; k++) {
#ifdef _OPENMP
        omp_set_num_threads(threads[k]);
#endif
        (void)threads;
        ck_assert_msg(vdit_data_write(tpath(dirs[k]), &sp, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    }
    for (int k = 1; k < 3; k++) {
        char a[1100], b[1100];
        snprintf(a, sizeof a, "%s/data.npz", tpath(dirs[0]));
        snprintf(b, sizeof b, "%s/data.npz", tpath(dirs[k]));
        assert_same_files(a, b);
        snprintf(a, sizeof a, "%s/meta.json", tpath(dirs[0]));
        snprintf(b, sizeof b, "%s/meta.json", tpath(dirs[k]));
        assert_same_files(a, b);
    }
    /* another seed gives other videos; train and id of one seed differ too */
    vdit_data_spec tr, id;
    ck_assert_int_eq(vdit_data_spec_make(&tr, 0, 0, 1, 4, 16, 24, 7, &err), 0);
    ck_assert_int_eq(vdit_data_spec_make(&id, 0, 0, 0, 4, 16, 24, 7, &err), 0);
    ck_assert(id.take2 && !tr.take2); /* every test set has its second takes, a train set none */
    for (int i = 0; i < 4; i++) ck_assert(tr.seeds[i] != id.seeds[i] && tr.seeds[i] >= 0);
    vdit_data_spec_free(&tr);
    vdit_data_spec_free(&id);
    vdit_data_spec_free(&sp);
}
END_TEST

/* phys-v1: 5 scenarios x 4 splits x 20, 32 frames, the second take, stored
 * (level 0), and the same bytes when made again. */
START_TEST(test_benchmark)
{
    vdit_data_spec sp;
    vdit_err err;
    ck_assert_int_eq(vdit_benchmark_spec("phys-v2", 32, &sp, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown benchmark 'phys-v2'"), "%s", err.msg);
    ck_assert_int_eq(vdit_benchmark_spec("phys-v1", 32, &sp, &err), 0);
    ck_assert_int_eq(sp.count, 400);
    ck_assert_int_eq(sp.frames, 32);
    ck_assert(sp.take2 && sp.level == 0);
    ck_assert_int_eq(vdit_data_write(tpath("bench1"), &sp, 0, NULL, NULL, &err), 0);
    ck_assert_int_eq(vdit_data_write(tpath("bench2"), &sp, 0, NULL, NULL, &err), 0);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/data.npz", tpath("bench1"));
    snprintf(b, sizeof b, "%s/data.npz", tpath("bench2"));
    assert_same_files(a, b);
    vdit_dataset ds;
    ck_assert_int_eq(vdit_dataset_load(tpath("bench1"), &ds, &err), 0);
    ck_assert_str_eq(ds.name, "phys-v1");
    int cell[5][4] = {{0}};
    for (int i = 0; i < ds.count; i++) cell[LABEL(&ds, i)][((int32_t *)ds.splits.data)[i]]++;
    for (int s = 0; s < 5; s++)
        for (int p = 0; p < 4; p++) ck_assert_int_eq(cell[s][p], 20);
    ck_assert_ptr_nonnull(ds.videos_take2.data);
    vdit_dataset_free(&ds);
    vdit_data_spec_free(&sp);
}
END_TEST

/* ------------------------------------------------------------------------
 * Writer and reader errors
 * ---------------------------------------------------------------------- */

START_TEST(test_write_rejects)
{
    vdit_data_spec sp;
    vdit_err err;
    ck_assert_int_eq(vdit_data_spec_make(&sp, 0, 0, 0, 3, 8, 16, 1, &err), 0);
    ck_assert_int_eq(vdit_data_write(tpath("w1"), &sp, 0, NULL, NULL, &err), 0);
    ck_assert_int_eq(vdit_data_write(tpath("w1"), &sp, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "already exists"), "%s", err.msg);
    ck_assert_int_eq(vdit_data_write(tpath("w1"), &sp, 1, NULL, NULL, &err), 0); /* replaced */
    ck_assert_int_eq(vdit_data_write(tpath("no/such/parent"), &sp, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot create a temporary directory"), "%s", err.msg);
    /* a directory with other files is never replaced */
    mkdir(tpath("w2"), 0755);
    FILE *fp = fopen(tpath("w2/notes.txt"), "w");
    fputs("keep me\n", fp);
    fclose(fp);
    ck_assert_int_eq(vdit_data_write(tpath("w2"), &sp, 1, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "not a dataset directory"), "%s", err.msg);
    ck_assert_int_eq(access(tpath("w2/notes.txt"), F_OK), 0);
    sp.size = 4;
    ck_assert_int_eq(vdit_data_write(tpath("w3"), &sp, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "size 4 outside"), "%s", err.msg);
    sp.size = 16;
    sp.frames = 2;
    ck_assert_int_eq(vdit_data_write(tpath("w3"), &sp, 0, NULL, NULL, &err), -1);
    sp.frames = 8;
    sp.labels[1] = 7;
    ck_assert_int_eq(vdit_data_write(tpath("w3"), &sp, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "video 1: bad label 7"), "%s", err.msg);
    ck_assert_int_eq(access(tpath("w3"), F_OK), -1); /* nothing left behind */
    /* no temporaries left in tmpdir */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) ck_assert_msg(!strstr(e->d_name, ".tmp-") && !strstr(e->d_name, ".old-"), "%s", e->d_name);
    closedir(d);
    vdit_data_spec_free(&sp);
    ck_assert_int_eq(vdit_data_spec_make(&sp, 9, 0, 0, 3, 8, 16, 1, &err), -1);
    ck_assert_int_eq(vdit_data_spec_make(&sp, 0, 0, 0, 0, 8, 16, 1, &err), -1);
    ck_assert_int_eq(vdit_data_spec_make(&sp, 0, 0, 0, 3, 8, 16, (uint64_t)1 << 63, &err), -1);
}
END_TEST

/* copies a small dataset to DIR (a fresh one per case) */
static const char *fresh_copy(const char *name)
{
    vdit_data_spec sp;
    vdit_err err;
    ck_assert_int_eq(vdit_data_spec_make(&sp, -1, 0, 0, 5, 8, 16, 3, &err), 0);
    sp.take2 = 0; /* as an older vdit wrote test sets: the loader's cases below add and remove it */
    const char *p = tpath(name);
    ck_assert_msg(vdit_data_write(p, &sp, 1, NULL, NULL, &err) == 0, "%s", err.msg);
    vdit_data_spec_free(&sp);
    return p;
}

static void write_text(const char *path, const char *text)
{
    vdit_err err;
    ck_assert_int_eq(vdit_write_file_atomic(path, text, strlen(text), &err), 0);
}

static void expect_load_error(const char *dir, const char *needle, const char *file)
{
    vdit_dataset ds;
    vdit_err err;
    memset(&ds, 0x5a, sizeof ds);
    ck_assert_msg(vdit_dataset_load(dir, &ds, &err) == -1, "accepted (%s)", needle);
    ck_assert_msg(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
    ck_assert_msg(strstr(err.msg, file), "message \"%s\" does not name %s", err.msg, file);
    ck_assert_ptr_null(ds.videos.data);
    ck_assert_ptr_null(ds.captions);
}

/* rewrites DIR/data.npz from the good arrays with one of them replaced */
static void rewrite_npz(const char *dir, const char *replace, const vdit_array *with)
{
    char npz[1100];
    snprintf(npz, sizeof npz, "%s/data.npz", dir);
    char **names;
    int n;
    vdit_err err;
    ck_assert_int_eq(vdit_npz_names(npz, &names, &n, &err), 0);
    vdit_array arrs[16];
    for (int k = 0; k < n; k++) ck_assert_int_eq(vdit_npz_read(npz, names[k], &arrs[k], &err), 0);
    vdit_npz_writer *w;
    ck_assert_int_eq(vdit_npz_open(&w, npz, 1, &err), 0);
    for (int k = 0; k < n; k++) {
        if (replace && !strcmp(names[k], replace)) {
            if (with) ck_assert_int_eq(vdit_npz_add(w, names[k], with, &err), 0);
        } else {
            ck_assert_int_eq(vdit_npz_add(w, names[k], &arrs[k], &err), 0);
        }
        vdit_array_free(&arrs[k]);
    }
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    vdit_npz_names_free(names, n);
}

START_TEST(test_load_rejects)
{
    char meta[1100], npz[1100];
    const char *d = fresh_copy("bad");
    snprintf(meta, sizeof meta, "%s/meta.json", d);
    snprintf(npz, sizeof npz, "%s/data.npz", d);
    vdit_dataset ds;
    vdit_err err;
    ck_assert_msg(vdit_dataset_load(d, &ds, &err) == 0, "%s", err.msg);
    ck_assert_ptr_null(ds.videos_take2.data); /* absent: zeroed */
    ck_assert_int_eq(ds.videos_take2.nbytes, 0);
    ck_assert_int_eq(ds.context_frames, 3);
    vdit_dataset_free(&ds);

    expect_load_error(tpath("missing"), "not a directory", "missing");

    /* meta.json */
    size_t n;
    char *good = (char *)slurp(meta, &n);
    good = realloc(good, n + 1);
    good[n] = 0;
    write_text(meta, "{\"format\": \"vdit-dataset\", \"version\": 1,");
    expect_load_error(d, "line", "meta.json");
    write_text(meta, "[1, 2]");
    expect_load_error(d, "expected a JSON object", "meta.json");
    char *bad = malloc(n + 64);
    const char *subs[][4] = {
        {"\"count\": 5", "\"count\": 6", "\"captions\" is not an array of 6", "meta.json"},
        {"\"frames\": 8", "\"frames\": 9", "array 'videos' is uint8 [5,8,16,16,3], expected uint8 [5,9,16,16,3]",
         "data.npz"},
        {"\"size\": 16", "\"size\": 17", "expected uint8 [5,8,17,17,3]", "data.npz"},
        {"\"format\": \"vdit-dataset\"", "\"format\": \"other\"", "is not \"vdit-dataset\"", "meta.json"},
        {"\"version\": 1", "\"version\": 2", "\"version\" = 2 outside 1..1", "meta.json"},
        {"\"context_frames\": 3", "\"context_frames\": 30", "\"context_frames\" = 30 outside 0..8", "meta.json"},
        {"\"count\": 5", "\"count\": \"5\"", "\"count\" missing or not an integer", "meta.json"},
    };
    for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
        char *at = strstr(good, subs[k][0]);
        ck_assert_msg(at != NULL, "%s not in meta.json", subs[k][0]);
        size_t pre = (size_t)(at - good);
        snprintf(bad, n + 64, "%.*s%s%s", (int)pre, good, subs[k][1], at + strlen(subs[k][0]));
        write_text(meta, bad);
        expect_load_error(d, subs[k][2], subs[k][3]);
    }
    /* meta.json says there is a second take, data.npz has none */
    char *at = strstr(good, "\"contact\": {");
    ck_assert_ptr_nonnull(at);
    snprintf(bad, n + 64, "%.*s\"videos_take2\": {}, %s", (int)(at - good), good, at);
    write_text(meta, bad);
    expect_load_error(d, "no array 'videos_take2'", "data.npz");
    write_text(meta, good);
    ck_assert_int_eq(vdit_dataset_load(d, &ds, &err), 0);
    vdit_dataset_free(&ds);

    /* data.npz */
    rewrite_npz(d, "states", NULL);
    expect_load_error(d, "no array 'states'", "data.npz");
    d = fresh_copy("bad");
    int64_t sh[4] = {5, 8, 2, 4};
    float zero[320] = {0};
    vdit_array a = {.dtype = VDIT_DTYPE_F32, .ndim = 4, .data = zero, .nbytes = 5 * 8 * 2 * 4 * 4};
    memcpy(a.shape, sh, sizeof sh);
    rewrite_npz(d, "states", &a);
    expect_load_error(d, "array 'states' is float32 [5,8,2,4], expected float32 [5,8,2,5]", "data.npz");
    d = fresh_copy("bad");
    int32_t lab[5] = {0, 1, 2, 3, VDIT_NSCENARIOS};
    a = (vdit_array){.dtype = VDIT_DTYPE_I32, .ndim = 1, .data = lab, .nbytes = sizeof lab};
    a.shape[0] = 5;
    rewrite_npz(d, "labels", &a);
    expect_load_error(d, "labels[4] = 6 outside 0..5", "data.npz");
    d = fresh_copy("bad");
    int64_t lab64[5] = {0};
    a = (vdit_array){.dtype = VDIT_DTYPE_I64, .ndim = 1, .data = lab64, .nbytes = sizeof lab64};
    a.shape[0] = 5;
    rewrite_npz(d, "contact", &a);
    expect_load_error(d, "array 'contact' is int64 [5], expected int32 [5]", "data.npz");
    d = fresh_copy("bad");
    write_text(npz, "not a zip");
    expect_load_error(d, "not a zip archive", "data.npz");
    free(good);
    free(bad);
}
END_TEST

/* ------------------------------------------------------------------------
 * PNG, GIF, contact sheets
 * ---------------------------------------------------------------------- */

static uint8_t *test_frames(int T, int H, int W)
{
    uint8_t *f = malloc((size_t)T * H * W * 3);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                uint8_t *p = f + (((size_t)t * H + i) * W + j) * 3;
                static const uint8_t c[5][3] = {{255, 255, 255}, {255, 0, 0}, {0, 0, 255}, {128, 128, 128}, {0, 0, 0}};
                memcpy(p, c[(i / 2 + j / 3 + t) % 5], 3);
            }
    return f;
}

START_TEST(test_png_roundtrip)
{
    const int H = 7, W = 11;
    uint8_t *f = test_frames(1, H, W);
    f[5] = 77; /* any colour survives in a PNG */
    vdit_err err;
    const char *path = tpath("x.png");
    ck_assert_msg(vdit_png_write(path, f, H, W, &err) == 0, "%s", err.msg);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    ck_assert(png_image_begin_read_from_file(&im, path));
    ck_assert_int_eq(im.width, W);
    ck_assert_int_eq(im.height, H);
    im.format = PNG_FORMAT_RGB;
    uint8_t *back = malloc(PNG_IMAGE_SIZE(im));
    ck_assert(png_image_finish_read(&im, NULL, back, 0, NULL));
    ck_assert_int_eq(memcmp(back, f, (size_t)H * W * 3), 0);
    ck_assert_int_eq(vdit_png_write(path, f, 0, W, &err), -1);
    ck_assert_int_eq(vdit_png_write(tpath("no/dir/x.png"), f, H, W, &err), -1);
    free(back);
    free(f);
}
END_TEST

START_TEST(test_gif_roundtrip)
{
    const int T = 4, H = 9, W = 13;
    uint8_t *f = test_frames(T, H, W);
    vdit_err err;
    const char *path = tpath("x.gif");
    ck_assert_msg(vdit_gif_write(path, f, T, H, W, 10, &err) == 0, "%s", err.msg);
    size_t n;
    unsigned char *bytes = slurp(path, &n);
    ck_assert_int_eq(memcmp(bytes, "GIF89a", 6), 0);
    int loop = 0;
    for (size_t i = 0; i + 11 <= n; i++) loop |= !memcmp(bytes + i, "NETSCAPE2.0", 11);
    ck_assert(loop);
    free(bytes);
    int gerr;
    GifFileType *g = DGifOpenFileName(path, &gerr);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(DGifSlurp(g), GIF_OK);
    ck_assert_int_eq(g->ImageCount, T);
    ck_assert_int_eq(g->SWidth, W);
    ck_assert_int_eq(g->SHeight, H);
    ColorMapObject *cm = g->SColorMap;
    for (int t = 0; t < T; t++) {
        GraphicsControlBlock gcb;
        ck_assert_int_eq(DGifSavedExtensionToGCB(g, t, &gcb), GIF_OK);
        ck_assert_int_eq(gcb.DelayTime, 10);
        const GifByteType *px = g->SavedImages[t].RasterBits;
        for (int i = 0; i < H * W; i++) {
            GifColorType c = cm->Colors[px[i]];
            const uint8_t *want = f + ((size_t)t * H * W + i) * 3;
            ck_assert(c.Red == want[0] && c.Green == want[1] && c.Blue == want[2]); /* exact for our colours */
        }
    }
    DGifCloseFile(g, &gerr);
    ck_assert_int_eq(vdit_gif_write(path, f, 0, H, W, 10, &err), -1);
    ck_assert_int_eq(vdit_gif_write(path, f, T, H, W, -1, &err), -1);
    free(f);
}
END_TEST

START_TEST(test_contact_sheet)
{
    const int R = 2, T = 3, H = 4, W = 5, scale = 2, gap = 3;
    uint8_t *f = test_frames(R * T, H, W);
    uint8_t *sheet;
    int sh, sw;
    ck_assert_int_eq(vdit_contact_sheet(&sheet, &sh, &sw, f, R, T, H, W, scale, gap), 0);
    ck_assert_int_eq(sh, gap + R * (H * scale + gap));
    ck_assert_int_eq(sw, gap + T * (W * scale + gap));
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            for (int y = 0; y < H * scale; y++)
                for (int x = 0; x < W * scale; x++) {
                    const uint8_t *p = sheet + ((size_t)(gap + r * (H * scale + gap) + y) * sw + gap +
                                                t * (W * scale + gap) + x) * 3;
                    const uint8_t *q = f + ((((size_t)r * T + t) * H + y / scale) * W + x / scale) * 3;
                    ck_assert_int_eq(memcmp(p, q, 3), 0);
                }
    for (int x = 0; x < sw; x++) ck_assert(sheet[x * 3] == 255 && sheet[x * 3 + 1] == 255); /* top gap white */
    free(sheet);
    ck_assert_int_eq(vdit_contact_sheet(&sheet, &sh, &sw, f, 0, T, H, W, 1, 0), -1);
    ck_assert_int_eq(vdit_contact_sheet(&sheet, &sh, &sw, f, R, T, H, W, 0, 0), -1);
    free(f);
}
END_TEST

/* ------------------------------------------------------------------------
 * Looking at a video (datasets/show.c), a set as the DiT's latents
 * (datasets/latents.c)
 * ---------------------------------------------------------------------- */

START_TEST(test_dataset_show)
{
    const char *dir = fresh_copy("show"); /* 5 videos of 8 frames at 16x16, no second take */
    vdit_dataset ds;
    vdit_err err;
    ck_assert_msg(vdit_dataset_load(dir, &ds, &err) == 0, "%s", err.msg);
    const int T = 8, Sz = 16, idx = 2;
    const uint8_t *v = (const uint8_t *)ds.videos.data + (size_t)idx * T * Sz * Sz * 3;
    /* the sheet: 3 frames a row, scale 0 -> 8 for 128 pixels, capped at 4 */
    const char *png = tpath("show.png");
    ck_assert_msg(vdit_dataset_show(&ds, idx, 0, 1, 0, 3, png, &err) == 0, "%s", err.msg);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    ck_assert(png_image_begin_read_from_file(&im, png));
    const int cell = 4 * Sz + 2, side = 2 + 3 * cell; /* 3 rows (8 frames), 3 columns, 2-pixel gaps */
    ck_assert_int_eq(im.width, side);
    ck_assert_int_eq(im.height, side);
    im.format = PNG_FORMAT_RGB;
    uint8_t *back = malloc(PNG_IMAGE_SIZE(im));
    ck_assert(png_image_finish_read(&im, NULL, back, 0, NULL));
    for (int k = 0; k < 9; k++)
        for (int y = 0; y < 4 * Sz; y++)
            for (int x = 0; x < 4 * Sz; x++) {
                const uint8_t *p = back + ((size_t)(2 + k / 3 * cell + y) * side + 2 + k % 3 * cell + x) * 3;
                static const uint8_t white[3] = {255, 255, 255};
                const uint8_t *q = k < T ? v + (((size_t)k * Sz + y / 4) * Sz + x / 4) * 3 : white; /* 9th: blank */
                ck_assert_int_eq(memcmp(p, q, 3), 0);
            }
    free(back);
    /* the GIF: every frame upscaled 3x; colours the palette holds exactly come back */
    const char *gif = tpath("show.gif");
    ck_assert_msg(vdit_dataset_show(&ds, idx, 0, 0, 3, 8, gif, &err) == 0, "%s", err.msg);
    int gerr, exact = 0;
    GifFileType *g = DGifOpenFileName(gif, &gerr);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(DGifSlurp(g), GIF_OK);
    ck_assert_int_eq(g->ImageCount, T);
    ck_assert_int_eq(g->SWidth, 3 * Sz);
    ck_assert_int_eq(g->SHeight, 3 * Sz);
    for (int t = 0; t < T; t++) {
        GraphicsControlBlock gcb;
        ck_assert_int_eq(DGifSavedExtensionToGCB(g, t, &gcb), GIF_OK);
        ck_assert_int_eq(gcb.DelayTime, 10);
        const GifByteType *px = g->SavedImages[t].RasterBits;
        for (int y = 0; y < 3 * Sz; y++)
            for (int x = 0; x < 3 * Sz; x++) {
                const uint8_t *q = v + (((size_t)t * Sz + y / 3) * Sz + x / 3) * 3;
                int pure = (q[0] == 255 || q[0] == 0 || q[0] == 128) && q[0] == q[1] && q[1] == q[2];
                pure |= q[0] == 255 && q[1] == 0 && q[2] == 0;
                if (!pure) continue;
                GifColorType c = g->SColorMap->Colors[px[y * 3 * Sz + x]];
                ck_assert(c.Red == q[0] && c.Green == q[1] && c.Blue == q[2]);
                exact++;
            }
    }
    ck_assert_int_gt(exact, T * 9 * Sz * Sz / 2); /* mostly white background */
    DGifCloseFile(g, &gerr);
    /* no such video, no second take */
    ck_assert_int_eq(vdit_dataset_show(&ds, 5, 0, 1, 0, 8, png, &err), -1);
    ck_assert_int_eq(vdit_dataset_show(&ds, 0, 1, 1, 0, 8, png, &err), -1);
    ck_assert_str_eq(err.msg, "no second take");
    vdit_dataset_free(&ds);
}
END_TEST

START_TEST(test_latents_load)
{
    const char *dir = fresh_copy("latents"); /* 5 videos of 8 frames at 16x16, labels i % 5 */
    vdit_dataset ds;
    vdit_err err;
    ck_assert_msg(vdit_dataset_load(dir, &ds, &err) == 0, "%s", err.msg);
    const int T = 8, Sz = 16;
    size_t nv = (size_t)T * Sz * Sz * 3;
    /* pixels: [N][T][3][S][S], x = v / 127.5 - 1 */
    vdit_latent_set ls;
    ck_assert_msg(vdit_latents_load(&ls, dir, NULL, 3, NULL, &err) == 0, "%s", err.msg);
    ck_assert(ls.N == 3 && ls.T == T && ls.C == 3 && ls.H == Sz && ls.W == Sz);
    ck_assert(ls.S == Sz && ls.frames == T && ls.num_classes == VDIT_NPHYWORLD);
    ck_assert_int_eq(memcmp(ls.videos, ds.videos.data, 3 * nv), 0);
    const uint8_t *v = ds.videos.data;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ls.labels[i], ((const int32_t *)ds.labels.data)[i]);
        for (int t = 0; t < T; t++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < Sz; y++)
                    for (int x = 0; x < Sz; x++) {
                        float want = v[(size_t)i * nv + (((size_t)t * Sz + y) * Sz + x) * 3 + c] / 127.5f - 1.0f;
                        float got = ls.x[((((size_t)i * T + t) * 3 + c) * Sz + y) * Sz + x];
                        ck_assert_msg(fabsf(got - want) < 1e-6f, "video %d frame %d: %g, not %g", i, t, got, want);
                    }
    }
    vdit_latent_set_free(&ls);
    ck_assert_int_eq(vdit_latents_load(&ls, dir, NULL, 0, NULL, &err), 0); /* all */
    ck_assert_int_eq(ls.N, 5);
    vdit_latent_set_free(&ls);
    /* through a VAE: its scaled latents, as the pipeline encodes them */
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    c.channels[0] = 4, c.channels[1] = 4, c.channels[2] = 0, c.downsample = 2, c.groups = 2, c.mid_blocks = 0;
    vdit_vae vae;
    ck_assert_msg(vdit_vae_create(&vae, &c, &err) == 0, "%s", err.msg);
    vdit_vae_init_weights(&vae, 7);
    vae.scale_factor = 0.5f;
    const char *vpath = tpath("latents.safetensors");
    ck_assert_msg(vdit_vae_save(&vae, vae.params_mem, vpath, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 2, NULL, &err) == 0, "%s", err.msg);
    ck_assert(ls.N == 2 && ls.T == T && ls.C == c.latent_channels && ls.H == Sz / 2 && ls.W == Sz / 2);
    size_t nz = (size_t)2 * T * c.latent_channels * (Sz / 2) * (Sz / 2);
    float *z = malloc(nz * sizeof(float));
    vdit_pipeline p = {NULL, &vae, {0}, 8, NULL, NULL};
    ck_assert_int_eq(vdit_pipeline_encode(&p, v, 2, T, Sz, z, &err), 0);
    ck_assert_int_eq(memcmp(z, ls.x, nz * sizeof(float)), 0);
    vdit_latent_set_free(&ls);
    /* the latent cache: the first load encodes and writes an entry, the
     * second reads it, bit for bit the same latents */
    const char *cache = tpath("latent-cache");
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 2, cache, &err) == 0, "%s", err.msg);
    ck_assert_msg(strncmp(ls.cache_note, "wrote ", 6) == 0, "%s", ls.cache_note);
    char entry[sizeof ls.cache_note];
    snprintf(entry, sizeof entry, "%s", ls.cache_note + 6);
    ck_assert_msg(strstr(entry, "latent-cache/latents-") != NULL, "%s", entry);
    ck_assert_msg(strstr(entry, "-2x8x16.safetensors") != NULL, "%s", entry);
    ck_assert_int_eq(memcmp(z, ls.x, nz * sizeof(float)), 0);
    vdit_latent_set_free(&ls);
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 2, cache, &err) == 0, "%s", err.msg);
    ck_assert_msg(strncmp(ls.cache_note, "read ", 5) == 0 && strcmp(ls.cache_note + 5, entry) == 0, "%s",
                  ls.cache_note);
    ck_assert_int_eq(memcmp(z, ls.x, nz * sizeof(float)), 0);
    vdit_latent_set_free(&ls);
    /* a damaged entry (one flipped bit in the data) is encoded again and replaced */
    FILE *fp = fopen(entry, "r+b");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, -5, SEEK_END);
    int byte = fgetc(fp);
    fseek(fp, -5, SEEK_END);
    fputc(byte ^ 0x10, fp);
    fclose(fp);
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 2, cache, &err) == 0, "%s", err.msg);
    ck_assert_msg(strstr(ls.cache_note, "checksum mismatch") && strstr(ls.cache_note, "encoded again and replaced"),
                  "%s", ls.cache_note);
    ck_assert_int_eq(memcmp(z, ls.x, nz * sizeof(float)), 0);
    vdit_latent_set_free(&ls);
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 2, cache, &err) == 0, "%s", err.msg);
    ck_assert_msg(strncmp(ls.cache_note, "read ", 5) == 0, "%s", ls.cache_note);
    vdit_latent_set_free(&ls);
    /* other videos (3, not 2): another entry */
    ck_assert_msg(vdit_latents_load(&ls, dir, vpath, 3, cache, &err) == 0, "%s", err.msg);
    ck_assert_msg(strncmp(ls.cache_note, "wrote ", 6) == 0 && strstr(ls.cache_note, "-3x8x16.safetensors"), "%s",
                  ls.cache_note);
    vdit_latent_set_free(&ls);
    /* pixels are not cached; a cache that is a file is an error naming it */
    ck_assert_int_eq(vdit_latents_load(&ls, dir, NULL, 2, cache, &err), 0);
    ck_assert_str_eq(ls.cache_note, "");
    vdit_latent_set_free(&ls);
    ck_assert_int_eq(vdit_latents_load(&ls, dir, vpath, 2, vpath, &err), -1);
    ck_assert_msg(strstr(err.msg, vpath) && strstr(err.msg, "not a folder"), "%s", err.msg);
    free(z);
    vdit_vae_free(&vae);
    /* no dataset there */
    ck_assert_int_eq(vdit_latents_load(&ls, tpath("none"), NULL, 0, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "none") != NULL, "%s", err.msg);
    vdit_dataset_free(&ds);
}
END_TEST

/* ------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------- */

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("physics");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_parabola_acceleration, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_uniform_velocity, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_collision_conservation, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_bounce_restitution, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_in_view_rule, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_split_ranges, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_occlusion_rule, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_box, 0, VDIT_NSPLITS);
    suite_add_tcase(s, tc);

    tc = tcase_create("render");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_render_centroid, 0, VDIT_NSPLITS);
    tcase_add_test(tc, test_render_random_balls);
    tcase_add_loop_test(tc, test_render_occlusion, 0, VDIT_NSPLITS);
    suite_add_tcase(s, tc);

    tc = tcase_create("sets");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_take2, 0, VDIT_NSPLITS);
    tcase_add_loop_test(tc, test_captions, 0, VDIT_NSPLITS);
    tcase_add_test(tc, test_tokenizer);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_benchmark);
    tcase_add_test(tc, test_write_rejects);
    tcase_add_test(tc, test_load_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("pictures");
    tcase_add_test(tc, test_png_roundtrip);
    tcase_add_test(tc, test_gif_roundtrip);
    tcase_add_test(tc, test_contact_sheet);
    tcase_add_test(tc, test_dataset_show);
    tcase_add_test(tc, test_latents_load);
    suite_add_tcase(s, tc);
    return s;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char p[2048];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vdit_check_data.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    /* one set per split: the five scenarios in turn, 64x64, with the second
     * take. Made in a child process: libgomp's threads do not survive a
     * fork, so the parent, which forks every test, must not start them. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int sp = 0; sp < VDIT_NSPLITS; sp++) {
            vdit_data_spec spec;
            vdit_err err;
            if (vdit_data_spec_make(&spec, -1, sp, 0, NSET, 32, 64, 2024, &err) != 0 ||
                (spec.take2 = 1, vdit_data_write(tpath(SET_SPLITS[sp]), &spec, 0, NULL, NULL, &err)) != 0) {
                fprintf(stderr, "check_data: cannot make the %s set: %s\n", SET_SPLITS[sp], err.msg);
                _exit(1);
            }
            vdit_data_spec_free(&spec);
        }
        _exit(0);
    }
    int status = 1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        remove_tree(tmpdir);
        return 1;
    }
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tree(tmpdir);
    return failed ? 1 : 0;
}
