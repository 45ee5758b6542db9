/* testutil.h - helpers shared by the Check suites: random tensors, maximum
 * differences, and central finite differences for gradient checks. */
#ifndef VDIT_TESTUTIL_H
#define VDIT_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h" /* the layers, for their tests (libvdit's internal header) */

static inline float *rand_tensor(size_t n, float scale, uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    for (size_t i = 0; i < n; i++) x[i] = scale * vdit_rng_normal(&rng);
    return x;
}

static inline float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static inline double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

static inline double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* ------------------------------------------------------------------------
 * The layers that take scratch, called with exactly the floats their
 * vdit_*_scratch asks for, filled with NaN: a layer that reads scratch it
 * has not written, or needs more than it asked for, fails its test (the
 * latter under the sanitizer build).
 * ---------------------------------------------------------------------- */

static inline float *nan_scratch(size_t n)
{
    float *w = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = NAN;
    return w;
}

/* runs CALL with scratch_ pointing at N floats of NaN */
#define WITH_NAN_SCRATCH(N, CALL)                                                                                   \
    do {                                                                                                            \
        float *scratch_ = nan_scratch(N);                                                                           \
        CALL;                                                                                                       \
        free(scratch_);                                                                                             \
    } while (0)

#define run_attention_forward(out, lse, qkv, s)                                                                     \
    WITH_NAN_SCRATCH(vdit_attention_scratch(s), vdit_attention_forward(out, lse, qkv, s, scratch_))
#define run_attention_backward(dqkv, dout, qkv, out, lse, s)                                                        \
    WITH_NAN_SCRATCH(vdit_attention_scratch(s), vdit_attention_backward(dqkv, dout, qkv, out, lse, s, scratch_))
#define run_conv2d_forward(out, inp, w, b, s)                                                                       \
    WITH_NAN_SCRATCH(vdit_conv2d_scratch(s), vdit_conv2d_forward(out, inp, w, b, s, scratch_))
#define run_conv2d_backward(dinp, dw, db, dout, inp, w, s)                                                          \
    WITH_NAN_SCRATCH(vdit_conv2d_scratch(s), vdit_conv2d_backward(dinp, dw, db, dout, inp, w, s, scratch_))
#define run_conv3d_forward(out, inp, w, b, s)                                                                       \
    WITH_NAN_SCRATCH(vdit_conv3d_scratch(s), vdit_conv3d_forward(out, inp, w, b, s, scratch_))
#define run_conv3d_backward(dinp, dw, db, dout, inp, w, s)                                                          \
    WITH_NAN_SCRATCH(vdit_conv3d_scratch(s), vdit_conv3d_backward(dinp, dw, db, dout, inp, w, s, scratch_))
#define run_groupnorm_backward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma, N, C, HW, G)                          \
    WITH_NAN_SCRATCH(vdit_groupnorm_scratch(N, C),                                                                  \
                     vdit_groupnorm_backward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma, N, C, HW, G, scratch_))

/* A function under test: recomputes its output from inputs held in ctx. */
typedef void (*fd_forward)(void *ctx, float *out);

/* Loss = sum_i out_i * w_i (w random), so dout = w. */
static inline double fd_loss(fd_forward f, void *ctx, float *out, const float *w, size_t nout)
{
    f(ctx, out);
    double l = 0.0;
    for (size_t i = 0; i < nout; i++) l += (double)out[i] * w[i];
    return l;
}

/* Central differences of the loss with respect to up to `samples` entries of
 * x (spread over all of it), against the analytic gradient `ana`. Returns
 * max |numeric - analytic| / max |analytic| over the checked entries. */
static inline double fd_check(fd_forward f, void *ctx, float *x, size_t n, const float *ana, const float *w,
                              size_t nout, double h, size_t samples)
{
    float *out = malloc(nout * sizeof(float));
    double maxerr = 0.0, scale = max_abs(ana, n);
    size_t step = n > samples ? n / samples : 1;
    for (size_t i = 0; i < n; i += step) {
        float save = x[i];
        x[i] = save + (float)h;
        double lp = fd_loss(f, ctx, out, w, nout);
        x[i] = save - (float)h;
        double lm = fd_loss(f, ctx, out, w, nout);
        x[i] = save;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - ana[i]);
        if (!(e <= maxerr)) maxerr = e;
    }
    free(out);
    return scale > 0 ? maxerr / scale : (maxerr == 0 ? 0 : INFINITY);
}

/* Runs a Check suite and turns its failures into the exit status. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
