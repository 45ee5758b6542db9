/* track.c - object tracking by colour threshold and the kinematic metrics
 * of benchmark.md (phyworld's id_ood_data/evaluate.py): velocity error,
 * collision momentum and energy errors, position error, shape drift,
 * object permanence. */
#include "eval.h"

#include <math.h>
#include <string.h>

const char *const eval_scenario_names[EVAL_NUM_SCENARIOS] = {"uniform", "parabola", "collision", "bounce",
                                                             "occlusion"};
const char *const eval_split_names[EVAL_NUM_SPLITS] = {"id", "ood-v", "ood-r", "ood-rv"};

const eval_metric_info eval_metrics[EVAL_NUM_METRICS] = {
    {"vel_err", "world/s", 0, "|mean_t v_x - v0| on generated frames with the true ball fully in view (collision: mean of pre and post)"},
    {"vel_err_pre", "world/s", 0, "collision: velocity error before the contact frame, mean over the balls"},
    {"vel_err_post", "world/s", 0, "collision: velocity error after the contact frame, mean over the balls"},
    {"momentum_err", "mass*world/s", 0, "collision: mean_t |m1 v1x + m2 v2x - p_true|, m = r^2"},
    {"energy_err", "mass*world^2/s^2", 0, "collision: mean_t |m1 v1x^2/2 + m2 v2x^2/2 - E_true|"},
    {"pos_err_x", "world", 0, "mean |x - x_true| over generated frames"},
    {"pos_err_y", "world", 0, "mean |y - y_true| over generated frames"},
    {"shape_drift", "world", 0, "max r - min r over generated frames"},
    {"missing", "fraction", 0, "object permanence: fraction of generated frames where a ball in view in the truth is missing"},
    {"mask_spatial_iou", "", 1, "Physics-IQ spatial IoU of the motion masks over the generated frames"},
    {"mask_st_iou", "", 1, "Physics-IQ spatiotemporal IoU of the motion masks, per generated frame, averaged"},
    {"mask_wspatial_iou", "", 1, "Physics-IQ weighted spatial IoU of the motion masks over the generated frames"},
    {"mask_mse", "", 0, "MSE of the generated frames on [0,1] pixels"},
    {"physics_iq", "", 1, "Physics-IQ Verified-style score: the four ratios to the physical variance, clipped, averaged"},
    {"flicker_bg", "", 1, "VBench temporal flicker (255 - mean MAE)/255 on background pixels (no ball in truth or sample)"},
    {"flicker_all", "", 1, "VBench temporal flicker (255 - mean MAE)/255 on the whole frame"},
};

/* ------------------------------------------------------------------------
 * Tracking
 * ---------------------------------------------------------------------- */

void eval_track_frame(const uint8_t *frame, int S, float *out)
{
    uint64_t cnt[2] = {0, 0}, sx[2] = {0, 0}, sy[2] = {0, 0};
    for (int i = 0; i < S; i++) {
        const uint8_t *row = frame + (size_t)i * S * 3;
        for (int j = 0; j < S; j++) {
            const uint8_t *p = row + 3 * j;
            if (p[1] >= 127) continue; /* both colours need G < 127 */
            int b = -1;
            if (p[0] > 127 && p[2] < 127)
                b = 0;
            else if (p[0] < 127 && p[2] > 127)
                b = 1;
            if (b < 0) continue;
            cnt[b]++;
            sx[b] += (uint64_t)j;
            sy[b] += (uint64_t)i;
        }
    }
    double px = EVAL_WORLD / S;
    for (int b = 0; b < 2; b++) {
        if (!cnt[b]) {
            out[3 * b] = out[3 * b + 1] = out[3 * b + 2] = NAN;
            continue;
        }
        double cj = (double)sx[b] / cnt[b], ci = (double)sy[b] / cnt[b];
        out[3 * b] = (float)((cj + 0.5) * px);
        out[3 * b + 1] = (float)(EVAL_WORLD - (ci + 0.5) * px);
        out[3 * b + 2] = (float)(sqrt((double)cnt[b] / 3.14159265358979323846) * px);
    }
}

void eval_track_video(const uint8_t *video, int T, int S, float *trk)
{
    for (int t = 0; t < T; t++) eval_track_frame(video + (size_t)t * S * S * 3, S, trk + (size_t)t * 6);
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

/* |mean v_x - mean v_x,true| over the pairs of one ball; NaN without any */
static double vel_err_ball(const eval_info *in, const float *trk, int b, int part)
{
    double sv = 0.0, st = 0.0;
    int n = 0;
    for (int t = 1; t < in->T; t++) {
        if (!pair_ok(in, trk, t, b, part)) continue;
        sv += (trk_at(trk, t, b, 0) - trk_at(trk, t - 1, b, 0)) / EVAL_FRAME_DT;
        st += ((double)state(in, t, b)[0] - state(in, t - 1, b)[0]) / EVAL_FRAME_DT;
        n++;
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

void eval_track_metrics(const eval_info *in, const float *trk, double *m)
{
    for (int k = EVAL_M_VEL; k <= EVAL_M_MISSING; k++) m[k] = NAN;
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
}
