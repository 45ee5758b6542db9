/* track.c - object tracking by colour threshold and the kinematic metrics
 * of benchmark.md (phyworld's id_ood_data/evaluate.py): velocity error,
 * collision momentum and energy errors, position error, shape drift,
 * object permanence. */
#include "eval.h"

#include <math.h>
#include <string.h>

const char *const eval_scenario_names[EVAL_NUM_SCENARIOS] = {"uniform", "parabola", "collision",
                                                             "bounce",  "occlusion", "box"};
const char *const eval_split_names[EVAL_NUM_SPLITS] = {"id", "ood-v", "ood-r", "ood-rv"};

const eval_metric_info eval_metrics[EVAL_NUM_METRICS] = {
    {"vel_err", "world/s", 0, "|mean_t v_x - v0| on generated frames with the true ball fully in view (collision: mean of pre and post; box: of the speed |v|)"},
    {"vel_err_pre", "world/s", 0, "collision: velocity error before the contact frame, mean over the balls"},
    {"vel_err_post", "world/s", 0, "collision: velocity error after the contact frame, mean over the balls"},
    {"momentum_err", "mass*world/s", 0, "collision: mean_t |m1 v1x + m2 v2x - p_true|, m = r^2"},
    {"energy_err", "mass*world^2/s^2", 0, "collision: mean_t |m1 v1x^2/2 + m2 v2x^2/2 - E_true|"},
    {"speed_err", "world/s", -1, "signed: ball 0's generated mean_t v_x minus the truth's, before any contact (0 is right; box: of |v|, all frames)"},
    {"speed", "world/s", -1, "ball 0's generated mean_t v_x before any contact (box: mean_t |v|)"},
    {"speed_true", "world/s", -1, "the truth's mean_t v_x of ball 0 over the same frame pairs (box: mean_t |v|)"},
    {"pos_err_x", "world", 0, "mean |x - x_true| over generated frames"},
    {"pos_err_y", "world", 0, "mean |y - y_true| over generated frames"},
    {"gravity_err", "fraction", 0, "parabola, bounce: |a_fit - g| / |g|, a_fit the least-squares vertical acceleration of the generated frames before any contact"},
    {"gravity_fit", "world/s^2", -1, "parabola, bounce: the fitted vertical acceleration a_fit (g = -2.5)"},
    {"shape_drift", "world", 0, "max r - min r over generated frames"},
    {"missing", "fraction", 0, "object permanence: fraction of generated frames where a ball in view in the truth is missing"},
    {"failed", "fraction", 0, "videos where a ball in view in the truth is missing in more than 20% of the generated frames; their errors are copy-last's in every mean"},
    {"debris", "fraction", 0, "colour pixels outside the found balls, fraction of the frame, mean over generated frames"},
    {"mask_spatial_iou", "", 1, "Physics-IQ spatial IoU of the motion masks over the generated frames"},
    {"mask_st_iou", "", 1, "Physics-IQ spatiotemporal IoU of the motion masks, per generated frame, averaged"},
    {"mask_wspatial_iou", "", 1, "Physics-IQ weighted spatial IoU of the motion masks over the generated frames"},
    {"mask_mse", "", 0, "MSE of the generated frames on [0,1] pixels"},
    {"physics_iq", "", 1, "Physics-IQ Verified-style score: the four ratios to the physical variance, clipped, averaged"},
    {"flicker_bg", "", 1, "VBench temporal flicker (255 - mean MAE)/255 on background pixels (no ball in truth or sample)"},
    {"flicker_all", "", 1, "VBench temporal flicker (255 - mean MAE)/255 on the whole frame"},
};

int eval_fail_replaced(int k)
{
    switch (k) {
    case EVAL_M_VEL: case EVAL_M_VEL_PRE: case EVAL_M_VEL_POST: case EVAL_M_MOMENTUM: case EVAL_M_ENERGY:
    case EVAL_M_SPEED_ERR: case EVAL_M_SPEED: case EVAL_M_SPEED_TRUE: case EVAL_M_POS_X: case EVAL_M_POS_Y: case EVAL_M_GRAVITY:
    case EVAL_M_GRAVITY_FIT:
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------
 * Gated tracking
 * ---------------------------------------------------------------------- */

#define PI 3.14159265358979323846

size_t eval_track_scratch(int S) { return (size_t)2 * S * S; }

/* 0 background, 1 red, 2 blue (the colour thresholds of benchmark.md) */
static int colour_of(const uint8_t *p)
{
    if (p[1] >= 127) return 0; /* both colours need G < 127 */
    if (p[0] > 127 && p[2] < 127) return 1;
    if (p[0] < 127 && p[2] > 127) return 2;
    return 0;
}

void eval_track_frame(const uint8_t *frame, int S, const float *expect_r, float *out, float *debris,
                      int32_t *scratch)
{
    /* scratch: label[S*S] (0 background, 1/2 colour unvisited, -1 visited),
     * then a stack of pixel indices for the flood fill */
    int32_t *label = scratch, *stack = scratch + (size_t)S * S;
    long total[2] = {0, 0};
    for (int p = 0; p < S * S; p++) {
        int c = colour_of(frame + 3 * (size_t)p);
        label[p] = c;
        if (c) total[c - 1]++;
    }
    /* the largest 8-connected component of each colour: its area and pixel sums */
    long best[2] = {0, 0};
    double bsx[2] = {0, 0}, bsy[2] = {0, 0};
    for (int p0 = 0; p0 < S * S; p0++) {
        int c = label[p0];
        if (c <= 0) continue;
        long area = 0;
        double sx = 0, sy = 0;
        int top = 0;
        stack[top++] = p0;
        label[p0] = -1;
        while (top) {
            int p = stack[--top], i = p / S, j = p % S;
            area++, sx += j, sy += i;
            for (int di = -1; di <= 1; di++)
                for (int dj = -1; dj <= 1; dj++) {
                    int ii = i + di, jj = j + dj;
                    if (ii < 0 || ii >= S || jj < 0 || jj >= S) continue;
                    int q = ii * S + jj;
                    if (label[q] == c) label[q] = -1, stack[top++] = q;
                }
        }
        if (area > best[c - 1]) best[c - 1] = area, bsx[c - 1] = sx, bsy[c - 1] = sy;
    }
    double px = EVAL_WORLD / S;
    long found_px = 0;
    for (int b = 0; b < 2; b++) {
        out[3 * b] = out[3 * b + 1] = out[3 * b + 2] = NAN;
        double r = expect_r ? expect_r[b] : NAN;
        if (!best[b] || r < 0) continue;
        if ((double)best[b] < EVAL_TRACK_SHARE * (double)total[b]) continue;
        if (!isnan(r)) {
            double want = PI * (r / px) * (r / px);
            if (best[b] < EVAL_TRACK_AREA_LO * want || best[b] > EVAL_TRACK_AREA_HI * want) continue;
        }
        double cj = bsx[b] / best[b], ci = bsy[b] / best[b];
        out[3 * b] = (float)((cj + 0.5) * px);
        out[3 * b + 1] = (float)(EVAL_WORLD - (ci + 0.5) * px);
        out[3 * b + 2] = (float)(sqrt((double)best[b] / PI) * px);
        found_px += best[b];
    }
    if (debris) *debris = (float)((double)(total[0] + total[1] - found_px) / ((double)S * S));
}

void eval_track_video(const uint8_t *video, int T, int S, const float *expect_r, float *trk, float *debris,
                      int32_t *scratch)
{
    for (int t = 0; t < T; t++)
        eval_track_frame(video + (size_t)t * S * S * 3, S, expect_r, trk + (size_t)t * 6, debris ? debris + t : NULL,
                         scratch);
}

void eval_expected_radii(const float *states, float *expect_r)
{
    for (int b = 0; b < 2; b++) {
        const float *s = states + 5 * b;
        expect_r[b] = isfinite(s[0]) && isfinite(s[1]) && isfinite(s[4]) && s[4] > 0 ? s[4] : -1.0f;
    }
}

/* ------------------------------------------------------------------------
 * Which frames count
 * ---------------------------------------------------------------------- */

static const float *state(const eval_info *in, int t, int b) { return in->states + ((size_t)t * 2 + b) * 5; }

static int has_ball(const eval_info *in, int b)
{
    const float *s = state(in, 0, b);
    return isfinite(s[0]) && isfinite(s[1]) && isfinite(s[4]);
}

int eval_in_view(const eval_info *in, int t, int b)
{
    const float *s = state(in, t, b);
    double x = s[0], y = s[1], r = s[4];
    if (!isfinite(x) || !isfinite(y) || !isfinite(r)) return 0;
    if (x - r < 0 || x + r > EVAL_WORLD || y - r < 0 || y + r > EVAL_WORLD) return 0;
    if (in->scenario == EVAL_OCCLUSION && in->params) {
        double wx = in->params[EVAL_P_WALL_X], ww = in->params[EVAL_P_WALL_W];
        if (isfinite(wx) && isfinite(ww) && fabs(x - wx) < r + 0.5 * ww + EVAL_WORLD / in->S) return 0;
    }
    return 1;
}

static int tracked(const float *trk, int t, int b) { return !isnan(trk[(size_t)t * 6 + 3 * b]); }
static double trk_at(const float *trk, int t, int b, int k) { return trk[(size_t)t * 6 + 3 * b + k]; }

/* ------------------------------------------------------------------------
 * Kinematic metrics
 * ---------------------------------------------------------------------- */

/* Velocity pairs (t-1, t) for generated frames t >= ctx: both frames in
 * view in the truth and tracked in the video. part: 0 all, 1 before the
 * contact (t < contact), 2 after it (t-1 >= contact). */
static int pair_ok(const eval_info *in, const float *trk, int t, int b, int part)
{
    if (t < in->ctx || t < 1) return 0;
    if (!eval_in_view(in, t - 1, b) || !eval_in_view(in, t, b)) return 0;
    if (!tracked(trk, t - 1, b) || !tracked(trk, t, b)) return 0;
    if (part == 1 && in->contact >= 0 && t >= in->contact) return 0;
    if (part == 2 && (in->contact < 0 || t - 1 < in->contact)) return 0;
    return 1;
}

/* The forward-difference velocity of ball b from frame t-1 to t, generated
 * (*gen) and true (*truth): v_x, or in a box (whose walls turn the ball
 * every way while its speed stays) the speed |v|. */
static void pair_velocity(const eval_info *in, const float *trk, int t, int b, double *gen, double *truth)
{
    double gx = (trk_at(trk, t, b, 0) - trk_at(trk, t - 1, b, 0)) / EVAL_FRAME_DT;
    double tx = ((double)state(in, t, b)[0] - state(in, t - 1, b)[0]) / EVAL_FRAME_DT;
    if (in->scenario == EVAL_BOX) {
        double gy = (trk_at(trk, t, b, 1) - trk_at(trk, t - 1, b, 1)) / EVAL_FRAME_DT;
        double ty = ((double)state(in, t, b)[1] - state(in, t - 1, b)[1]) / EVAL_FRAME_DT;
        gx = hypot(gx, gy), tx = hypot(tx, ty);
    }
    *gen = gx, *truth = tx;
}

/* |mean v_x - mean v_x,true| over the pairs of one ball; NaN without any */
static double vel_err_ball(const eval_info *in, const float *trk, int b, int part)
{
    double sv = 0.0, st = 0.0;
    int n = 0;
    for (int t = 1; t < in->T; t++) {
        if (!pair_ok(in, trk, t, b, part)) continue;
        double g, v;
        pair_velocity(in, trk, t, b, &g, &v);
        sv += g, st += v, n++;
    }
    return n ? fabs(sv / n - st / n) : NAN;
}

static double mean_finite(const double *x, int n)
{
    double s = 0.0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) s += x[i], k++;
    return k ? s / k : NAN;
}

/* Ball 0's speed before any contact: generated and true mean v_x over the
 * same pairs (collision: before the contact frame; bounce: the floor
 * contact does not change v_x, but the pairs stop there too, as gravity's). */
static void speed_ball0(const eval_info *in, const float *trk, double *gen, double *truth)
{
    double sv = 0.0, st = 0.0;
    int n = 0;
    int part = in->contact >= 0 && in->scenario != EVAL_BOX ? 1 : 0; /* a wall keeps the speed */
    for (int t = 1; t < in->T; t++) {
        if (!pair_ok(in, trk, t, 0, part)) continue;
        double g, v;
        pair_velocity(in, trk, t, 0, &g, &v);
        sv += g, st += v, n++;
    }
    *gen = n ? sv / n : NAN;
    *truth = n ? st / n : NAN;
}

/* Least-squares y(t) = c0 + c1 t + a t^2 / 2 through ball 0's found
 * positions in the generated frames in view before any contact; NaN with
 * fewer than 4. Times are centred for a well-conditioned 3x3 system. */
/* A frame for the gravity fit: before any contact, in view in the truth,
 * and the found ball's disc inside the frame (a ball cut by the edge keeps
 * its found centroid off its centre, which would bend the fit). */
static int gravity_frame(const eval_info *in, const float *trk, int t)
{
    if ((in->contact >= 0 && t >= in->contact) || !eval_in_view(in, t, 0) || !tracked(trk, t, 0)) return 0;
    double x = trk_at(trk, t, 0, 0), y = trk_at(trk, t, 0, 1), r = state(in, 0, 0)[4];
    return x - r >= 0 && x + r <= EVAL_WORLD && y - r >= 0 && y + r <= EVAL_WORLD;
}

static double fit_acceleration(const eval_info *in, const float *trk)
{
    double tm = 0.0;
    int n = 0;
    for (int t = in->ctx; t < in->T; t++)
        if (gravity_frame(in, trk, t)) tm += t * EVAL_FRAME_DT, n++;
    if (n < 6) return NAN; /* fewer frames than this and pixel rounding swamps the curvature */
    tm /= n;
    /* normal equations on the basis (1, u, u^2 / 2), u = t - tm */
    double A[3][4] = {{0}};
    for (int t = in->ctx; t < in->T; t++) {
        if (!gravity_frame(in, trk, t)) continue;
        double u = t * EVAL_FRAME_DT - tm, f[3] = {1.0, u, 0.5 * u * u}, y = trk_at(trk, t, 0, 1);
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) A[r][c] += f[r] * f[c];
            A[r][3] += f[r] * y;
        }
    }
    for (int c = 0; c < 3; c++) { /* Gauss-Jordan with partial pivoting */
        int piv = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        if (fabs(A[piv][c]) < 1e-12) return NAN;
        for (int k = 0; k < 4; k++) {
            double x = A[c][k];
            A[c][k] = A[piv][k], A[piv][k] = x;
        }
        for (int r = 0; r < 3; r++) {
            if (r == c) continue;
            double f = A[r][c] / A[c][c];
            for (int k = c; k < 4; k++) A[r][k] -= f * A[c][k];
        }
    }
    return A[2][3] / A[2][2];
}

void eval_track_metrics(const eval_info *in, const float *trk, const float *debris, double *m)
{
    for (int k = EVAL_M_VEL; k <= EVAL_M_DEBRIS; k++) m[k] = NAN;
    int balls[2] = {has_ball(in, 0), has_ball(in, 1)};

    /* velocity */
    if (in->scenario == EVAL_COLLISION) {
        double pre[2] = {NAN, NAN}, post[2] = {NAN, NAN};
        for (int b = 0; b < 2; b++)
            if (balls[b]) {
                pre[b] = vel_err_ball(in, trk, b, 1);
                post[b] = vel_err_ball(in, trk, b, 2);
            }
        m[EVAL_M_VEL_PRE] = mean_finite(pre, 2);
        m[EVAL_M_VEL_POST] = mean_finite(post, 2);
        double both[2] = {m[EVAL_M_VEL_PRE], m[EVAL_M_VEL_POST]};
        m[EVAL_M_VEL] = mean_finite(both, 2);

        /* momentum and kinetic energy along x, m = r^2, against the truth's
         * (conserved) initial values; the pair straddling the contact is skipped */
        if (balls[0] && balls[1]) {
            double m0 = (double)state(in, 0, 0)[4] * state(in, 0, 0)[4];
            double m1 = (double)state(in, 0, 1)[4] * state(in, 0, 1)[4];
            double v0 = state(in, 0, 0)[2], v1 = state(in, 0, 1)[2];
            double p_true = m0 * v0 + m1 * v1, e_true = 0.5 * (m0 * v0 * v0 + m1 * v1 * v1);
            double sp = 0.0, se = 0.0;
            int n = 0;
            for (int t = 1; t < in->T; t++) {
                int straddle = in->contact >= 0 && t == in->contact;
                if (straddle || !pair_ok(in, trk, t, 0, 0) || !pair_ok(in, trk, t, 1, 0)) continue;
                double a = (trk_at(trk, t, 0, 0) - trk_at(trk, t - 1, 0, 0)) / EVAL_FRAME_DT;
                double c = (trk_at(trk, t, 1, 0) - trk_at(trk, t - 1, 1, 0)) / EVAL_FRAME_DT;
                sp += fabs(m0 * a + m1 * c - p_true);
                se += fabs(0.5 * (m0 * a * a + m1 * c * c) - e_true);
                n++;
            }
            if (n) {
                m[EVAL_M_MOMENTUM] = sp / n;
                m[EVAL_M_ENERGY] = se / n;
            }
        }
    } else {
        double e[2] = {NAN, NAN};
        for (int b = 0; b < 2; b++)
            if (balls[b]) e[b] = vel_err_ball(in, trk, b, 0);
        m[EVAL_M_VEL] = mean_finite(e, 2);
    }

    /* position, shape, permanence over generated frames in view */
    double ex = 0.0, ey = 0.0, drift = NAN;
    int npos = 0, nview = 0, nmiss = 0;
    for (int b = 0; b < 2; b++) {
        if (!balls[b]) continue;
        double rmin = INFINITY, rmax = -INFINITY;
        for (int t = in->ctx; t < in->T; t++) {
            if (!eval_in_view(in, t, b)) continue;
            nview++;
            if (!tracked(trk, t, b)) {
                nmiss++;
                continue;
            }
            const float *s = state(in, t, b);
            ex += fabs(trk_at(trk, t, b, 0) - s[0]);
            ey += fabs(trk_at(trk, t, b, 1) - s[1]);
            npos++;
            double r = trk_at(trk, t, b, 2);
            if (r < rmin) rmin = r;
            if (r > rmax) rmax = r;
        }
        if (rmax >= rmin && (isnan(drift) || rmax - rmin > drift)) drift = rmax - rmin;
    }
    if (npos) {
        m[EVAL_M_POS_X] = ex / npos;
        m[EVAL_M_POS_Y] = ey / npos;
    }
    m[EVAL_M_SHAPE] = drift;
    if (nview) m[EVAL_M_MISSING] = (double)nmiss / nview;

    /* failed: some ball missing in more than EVAL_FAIL_MISSING of its in-view frames */
    /* (NaN when no ball is in view in any generated frame: nothing to fail) */
    for (int b = 0; b < 2; b++) {
        if (!balls[b]) continue;
        int nv = 0, nm = 0;
        for (int t = in->ctx; t < in->T; t++)
            if (eval_in_view(in, t, b)) nv++, nm += !tracked(trk, t, b);
        if (nv && isnan(m[EVAL_M_FAILED])) m[EVAL_M_FAILED] = 0.0;
        if (nv && (double)nm > EVAL_FAIL_MISSING * nv) m[EVAL_M_FAILED] = 1.0;
    }

    /* ball 0's speed, and gravity where the scenario has it */
    if (balls[0]) {
        speed_ball0(in, trk, &m[EVAL_M_SPEED], &m[EVAL_M_SPEED_TRUE]);
        m[EVAL_M_SPEED_ERR] = m[EVAL_M_SPEED] - m[EVAL_M_SPEED_TRUE];
    }
    double g = in->params ? in->params[EVAL_P_G] : NAN;
    if (balls[0] && (in->scenario == EVAL_PARABOLA || in->scenario == EVAL_BOUNCE) && isfinite(g) && g != 0.0) {
        m[EVAL_M_GRAVITY_FIT] = fit_acceleration(in, trk);
        m[EVAL_M_GRAVITY] = fabs(m[EVAL_M_GRAVITY_FIT] - g) / fabs(g);
    }

    if (debris) {
        double sd = 0.0;
        for (int t = in->ctx; t < in->T; t++) sd += debris[t];
        m[EVAL_M_DEBRIS] = sd / (in->T - in->ctx);
    }
}
