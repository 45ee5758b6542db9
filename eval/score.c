/* score.c - one video against its truth: every metric of benchmark.md. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int eval_ref_init(eval_ref *r, const eval_info *info, const uint8_t *truth, const uint8_t *take2, vdit_err *err)
{
    memset(r, 0, sizeof *r);
    if (info->T < 2 || info->S < 1 || info->ctx < 1 || info->ctx >= info->T)
        return vdit_seterr(err, "eval: video of %d frames at %dx%d with %d context frames: expected 1 <= ctx < T",
                           info->T, info->S, info->S, info->ctx);
    r->info = *info;
    r->truth = truth;
    int T = info->T, S = info->S;
    size_t n = (size_t)T * S * S;
    r->trk = malloc((size_t)T * 6 * sizeof(float));
    r->mask = malloc(n);
    r->support = malloc(n);
    int32_t *scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    if (!r->trk || !r->mask || !r->support || !scratch) {
        free(scratch);
        eval_ref_free(r);
        return vdit_seterr(err, "eval: out of memory for a %dx%dx%d video", T, S, S);
    }
    eval_expected_radii(info->states, r->expect_r);
    eval_track_video(truth, T, S, r->expect_r, r->trk, NULL, scratch);
    free(scratch);
    if (eval_motion_masks(truth, T, S, S, r->mask, err)) {
        eval_ref_free(r);
        return -1;
    }
    eval_ball_support(truth, T, S, 1, r->support);
    for (int k = 0; k < 4; k++) r->var[k] = NAN;
    if (take2) {
        uint8_t *m2 = malloc(n);
        if (!m2) {
            eval_ref_free(r);
            return vdit_seterr(err, "eval: out of memory");
        }
        if (eval_motion_masks(take2, T, S, S, m2, err)) {
            free(m2);
            eval_ref_free(r);
            return -1;
        }
        eval_mask_metrics(r->mask, m2, truth, take2, T, S, S, info->ctx, r->var);
        free(m2);
    }
    return 0;
}

void eval_ref_free(eval_ref *r)
{
    free(r->trk);
    free(r->mask);
    free(r->support);
    r->trk = NULL;
    r->mask = r->support = NULL;
}

int eval_score(const eval_ref *r, const uint8_t *video, double *m, float *trk_out, float *debris_out, vdit_err *err)
{
    int T = r->info.T, S = r->info.S, ctx = r->info.ctx;
    size_t n = (size_t)T * S * S;
    float *trk = trk_out ? trk_out : malloc((size_t)T * 6 * sizeof(float));
    float *debris = debris_out ? debris_out : malloc((size_t)T * sizeof(float));
    uint8_t *mask = malloc(n), *support = malloc(n);
    int32_t *scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    if (!trk || !mask || !support || !debris || !scratch) {
        if (!trk_out) free(trk);
        if (!debris_out) free(debris);
        free(mask), free(support), free(scratch);
        return vdit_seterr(err, "eval: out of memory for a %dx%dx%d video", T, S, S);
    }
    for (int k = 0; k < EVAL_NUM_METRICS; k++) m[k] = NAN;
    eval_track_video(video, T, S, r->expect_r, trk, debris, scratch);
    eval_track_metrics(&r->info, trk, debris, m);
    if (!debris_out) free(debris);
    free(scratch);

    int rc = eval_motion_masks(video, T, S, S, mask, err);
    if (!rc) {
        double mm[4];
        eval_mask_metrics(r->mask, mask, r->truth, video, T, S, S, ctx, mm);
        m[EVAL_M_SPATIAL_IOU] = mm[EVAL_MASK_SPATIAL];
        m[EVAL_M_ST_IOU] = mm[EVAL_MASK_ST];
        m[EVAL_M_WSPATIAL_IOU] = mm[EVAL_MASK_WSPATIAL];
        m[EVAL_M_MSE] = mm[EVAL_MASK_MSE];
        m[EVAL_M_PHYSICS_IQ] = eval_physics_iq_score(mm, r->var);

        eval_ball_support(video, T, S, 0, support);
        m[EVAL_M_FLICKER_BG] = eval_flicker(video, T, S, S, ctx, r->support, support);
        m[EVAL_M_FLICKER_ALL] = eval_flicker(video, T, S, S, ctx, NULL, NULL);
    }
    if (!trk_out) free(trk);
    free(mask);
    free(support);
    return rc;
}
