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
