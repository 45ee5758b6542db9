/* stats.c - mean with a seeded percentile-bootstrap 95% interval. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default (linear interpolation) on sorted v[n] */
static double percentile(const double *v, int n, double q)
{
    double pos = q / 100.0 * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    double f = pos - i;
    return v[i] + f * (v[i + 1] - v[i]);
}

void eval_bootstrap(const double *x, int n, int B, uint64_t seed, eval_stat *out)
{
    out->mean = out->lo = out->hi = NAN;
    out->n = 0;
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!v) return;
    int k = 0;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) {
            v[k++] = x[i];
            s += x[i];
        }
    out->n = k;
    if (!k) {
        free(v);
        return;
    }
    out->mean = s / k;
    if (k == 1 || B < 2) {
        out->lo = out->hi = out->mean;
        free(v);
        return;
    }
    double *means = malloc((size_t)B * sizeof(double));
    if (!means) {
        free(v);
        return;
    }
    /* draw i of resample r is vdit_rng_at(seed, r*k + i) mod k (the modulo
     * bias is below k / 2^64) */
    for (int r = 0; r < B; r++) {
        double acc = 0.0;
        uint64_t base = (uint64_t)r * (uint64_t)k;
        for (int i = 0; i < k; i++) acc += v[vdit_rng_at(seed, base + (uint64_t)i) % (uint64_t)k];
        means[r] = acc / k;
    }
    qsort(means, (size_t)B, sizeof(double), cmp_double);
    out->lo = percentile(means, B, 2.5);
    out->hi = percentile(means, B, 97.5);
    free(means);
    free(v);
}

/* slope of y on x through their means; NaN without spread in x */
static double ls_slope(const double *x, const double *y, const int *idx, int k)
{
    double mx = 0.0, my = 0.0;
    for (int i = 0; i < k; i++) mx += x[idx[i]], my += y[idx[i]];
    mx /= k, my /= k;
    double sxx = 0.0, sxy = 0.0;
    for (int i = 0; i < k; i++) {
        double dx = x[idx[i]] - mx;
        sxx += dx * dx, sxy += dx * (y[idx[i]] - my);
    }
    return sxx > 1e-12 ? sxy / sxx : NAN;
}

void eval_bootstrap_slope(const double *x, const double *y, int n, int B, uint64_t seed, eval_stat *out)
{
    out->mean = out->lo = out->hi = NAN;
    out->n = 0;
    int *keep = malloc((size_t)(n > 0 ? n : 1) * sizeof(int)), *draw = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    double *slopes = B >= 2 ? malloc((size_t)B * sizeof(double)) : NULL;
    int k = 0;
    if (keep && draw)
        for (int i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i])) keep[k++] = i;
    out->n = k;
    if (k >= 3) out->mean = ls_slope(x, y, keep, k);
    if (k >= 3 && !isnan(out->mean)) {
        out->lo = out->hi = out->mean;
        if (slopes) {
            int m = 0;
            for (int r = 0; r < B; r++) {
                uint64_t base = (uint64_t)r * (uint64_t)k;
                for (int i = 0; i < k; i++) draw[i] = keep[vdit_rng_at(seed, base + (uint64_t)i) % (uint64_t)k];
                double s = ls_slope(x, y, draw, k);
                if (!isnan(s)) slopes[m++] = s; /* a resample without spread in x has no slope */
            }
            if (m >= 2) {
                qsort(slopes, (size_t)m, sizeof(double), cmp_double);
                out->lo = percentile(slopes, m, 2.5);
                out->hi = percentile(slopes, m, 97.5);
            }
        }
    }
    free(keep), free(draw), free(slopes);
}
