/* testutil.h - helpers shared by the Check suites: random tensors, maximum
 * differences, and central finite differences for gradient checks. */
#ifndef VDIT_TESTUTIL_H
#define VDIT_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdit.h"

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
