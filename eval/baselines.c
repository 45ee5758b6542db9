/* baselines.c - the two baselines a model must beat: copy-last (repeat
 * the last context frame) and linear (constant-velocity extrapolation of
 * the balls tracked in the context, drawn by the dataset's renderer). */
#include "eval.h"

#include "datasets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eval_copy_last(const uint8_t *video, int T, int S, int ctx, uint8_t *out)
{
    size_t f = (size_t)S * S * 3;
    if (out != video) memcpy(out, video, (size_t)ctx * f);
    for (int t = ctx; t < T; t++) memcpy(out + (size_t)t * f, video + (size_t)(ctx - 1) * f, f);
}

/* least-squares line x(t) = a + v t through the tracked context positions */
static int fit_line(const float *trk, int ctx, int b, int k, double *a, double *v)
{
    double st = 0, sx = 0, stt = 0, stx = 0;
    int n = 0;
    for (int t = 0; t < ctx; t++) {
        double x = trk[(size_t)t * 6 + 3 * b + k];
        if (isnan(x)) continue;
        st += t, sx += x, stt += (double)t * t, stx += t * x;
        n++;
    }
    if (!n) return 0;
    double den = n * stt - st * st;
    if (n < 2 || den == 0.0) {
        *a = sx / n;
        *v = 0.0;
    } else {
        *v = (n * stx - st * sx) / den;
        *a = (sx - *v * st) / n;
    }
    return n;
}

/* The static scene of a truth video for the renderer: its floor (bounce)
 * and wall (occlusion, from params), both balls drawable. */
static void static_scene(const eval_info *in, vdit_scene *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->scenario = in->scenario;
    sc->split = in->split;
    sc->nballs = 2; /* a ball with a NaN state is not drawn */
    sc->e = 1.0;
    sc->floor = in->scenario == EVAL_BOUNCE;
    if (in->params && in->scenario == EVAL_OCCLUSION) {
        double wx = in->params[EVAL_P_WALL_X], ww = in->params[EVAL_P_WALL_W];
        if (isfinite(wx) && isfinite(ww) && ww > 0) sc->wall_x = wx, sc->wall_w = ww;
    }
}

int eval_linear(const eval_info *in, const uint8_t *video, uint8_t *out, vdit_err *err)
{
    int T = in->T, S = in->S, ctx = in->ctx;
    if (ctx < 1 || ctx >= T) return vdit_seterr(err, "linear baseline: %d context frames of %d", ctx, T);
    size_t f = (size_t)S * S * 3;
    float *trk = malloc((size_t)ctx * 6 * sizeof(float)), expect_r[2];
    int32_t *scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    if (!trk || !scratch) {
        free(trk), free(scratch);
        return vdit_seterr(err, "linear baseline: out of memory");
    }
    eval_expected_radii(in->states, expect_r);
    eval_track_video(video, ctx, S, expect_r, trk, NULL, scratch);
    free(scratch);
    double ax[2], vx[2], ay[2], vy[2], rr[2];
    int have[2];
    for (int b = 0; b < 2; b++) {
        double ar, vr;
        have[b] = fit_line(trk, ctx, b, 0, &ax[b], &vx[b]) && fit_line(trk, ctx, b, 1, &ay[b], &vy[b]) &&
                  fit_line(trk, ctx, b, 2, &ar, &vr);
        double s = 0;
        int k = 0;
        for (int t = 0; t < ctx; t++)
            if (!isnan(trk[(size_t)t * 6 + 3 * b + 2])) s += trk[(size_t)t * 6 + 3 * b + 2], k++;
        rr[b] = k ? s / k : 0.0;
    }
    free(trk);
    vdit_scene sc;
    static_scene(in, &sc);
    if (out != video) memcpy(out, video, (size_t)ctx * f);
    for (int t = ctx; t < T; t++) {
        float st[2][5];
        for (int b = 0; b < 2; b++) {
            double x = have[b] ? ax[b] + vx[b] * t : NAN, y = have[b] ? ay[b] + vy[b] * t : NAN;
            st[b][0] = (float)x, st[b][1] = (float)y;
            st[b][2] = (float)(vx[b] / EVAL_FRAME_DT), st[b][3] = (float)(vy[b] / EVAL_FRAME_DT);
            st[b][4] = (float)rr[b];
        }
        vdit_render_frame(out + (size_t)t * f, S, &sc, &st[0][0]);
    }
    return 0;
}
