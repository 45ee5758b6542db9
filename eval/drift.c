/* drift.c - long rollouts (benchmark.md metric 8): how ball 0 decays as a
 * video goes on. Per window of r->window frames: presence, speed error
 * | |v| - |v_true| |, shape drift and debris; per video the horizon, the
 * first generated frame after which the ball is missing for good or its
 * speed error passes half the true speed. From the tracks and per-frame
 * debris eval_run keeps, for every source (the truth's own score is the
 * tracker's floor; linear leaves a box through its wall). */
#include "eval.h"

#include <math.h>
#include <stdlib.h>

const char *const eval_drift_names[EVAL_NUM_DRIFT] = {"presence", "speed_err", "shape_drift", "debris"};

static const float *state(const eval_info *in, int t) { return in->states + (size_t)t * 2 * 5; }
static int found(const float *trk, int t) { return !isnan(trk[(size_t)t * 6]); }

/* |v| of ball 0 from frame t-1 to t: generated (track) and true (states) */
static void speeds(const eval_info *in, const float *trk, int t, double *gen, double *truth)
{
    const float *a = trk + (size_t)(t - 1) * 6, *b = trk + (size_t)t * 6, *sa = state(in, t - 1), *sb = state(in, t);
    *gen = hypot(b[0] - a[0], b[1] - a[1]) / EVAL_FRAME_DT;
    *truth = hypot((double)sb[0] - sa[0], (double)sb[1] - sa[1]) / EVAL_FRAME_DT;
}

/* a pair scored: both frames generated, in view in the truth and found */
static int pair_ok(const eval_info *in, const float *trk, int t)
{
    return t - 1 >= in->ctx && eval_in_view(in, t - 1, 0) && eval_in_view(in, t, 0) && found(trk, t - 1) &&
           found(trk, t);
}

void eval_drift_video(const eval_info *in, const float *trk, const float *debris, int window, double *w,
                      double *horizon)
{
    int T = in->T, nwin = (T + window - 1) / window;
    for (int j = 0; j < nwin; j++) {
        double *m = w + (size_t)j * EVAL_NUM_DRIFT;
        int t0 = j * window, t1 = t0 + window < T ? t0 + window : T;
        int nview = 0, nfound = 0, npair = 0, ndeb = 0;
        double se = 0.0, rmin = INFINITY, rmax = -INFINITY, deb = 0.0;
        for (int t = t0 < in->ctx ? in->ctx : t0; t < t1; t++) {
            if (debris) deb += debris[t], ndeb++;
            if (!eval_in_view(in, t, 0)) continue;
            nview++;
            if (!found(trk, t)) continue;
            nfound++;
            double r = trk[(size_t)t * 6 + 2];
            rmin = r < rmin ? r : rmin, rmax = r > rmax ? r : rmax;
            if (pair_ok(in, trk, t)) {
                double g, v;
                speeds(in, trk, t, &g, &v);
                se += fabs(g - v), npair++;
            }
        }
        m[EVAL_D_PRESENCE] = nview ? (double)nfound / nview : NAN;
        m[EVAL_D_SPEED_ERR] = npair ? se / npair : NAN;
        m[EVAL_D_SHAPE] = nfound ? rmax - rmin : NAN;
        m[EVAL_D_DEBRIS] = ndeb ? deb / ndeb : NAN;
    }
    /* the horizon: missing for good from t (every later in-view frame), or
     * the speed error over the EVAL_HORIZON_SPAN pairs from t above half
     * the true speed */
    int last_found = -1, any_view = 0;
    for (int t = in->ctx; t < T; t++)
        if (eval_in_view(in, t, 0)) {
            any_view = 1;
            if (found(trk, t)) last_found = t;
        }
    *horizon = any_view ? T : NAN;
    if (!any_view) return;
    for (int t = in->ctx; t < T; t++) {
        if (t > last_found) {
            *horizon = t;
            return;
        }
        double se = 0.0, sv = 0.0;
        int n = 0;
        for (int u = t + 1; u <= t + EVAL_HORIZON_SPAN && u < T; u++)
            if (pair_ok(in, trk, u)) {
                double g, v;
                speeds(in, trk, u, &g, &v);
                se += fabs(g - v), sv += v, n++;
            }
        if (n >= 2 && se > 0.5 * sv) {
            *horizon = t;
            return;
        }
    }
}
