/* bench.c - what `vdit bench` times, as library calls: the DiT's training
 * step and sampler step on random data, and OpenBLAS's sgemm on the shapes
 * of a block's linear layers (the ceiling the steps are measured against).
 * FLOPs are counted analytically. */
#define _POSIX_C_SOURCE 200809L
#include "vdit.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

double vdit_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

const char *vdit_blas_core(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

/* OpenBLAS picks its kernels by CPU model at load time. Debian 12's 0.3.21
 * does not know models newer than its release (family 6 model 207 here) and
 * falls back to its generic Prescott (SSE3) kernels: a DiT training step then
 * runs 2.8x slower than with the AVX-512 kernels the CPU has. */
const char *vdit_blas_better_core(void)
{
#if defined(__x86_64__) || defined(__i386__)
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Katmai",
                                          "Coppermine", "Northwood", "Banias", NULL};
    const char *core = vdit_blas_core();
    int is_generic = 0;
    for (int i = 0; generic[i]; i++) is_generic |= !strcasecmp(core, generic[i]);
    if (!is_generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        unsigned a = 0, b = 0, c = 0, d = 0;
        /* AVX512_BF16: CPUID leaf 7 subleaf 1, EAX bit 5 */
        int bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
        return bf16 ? "COOPERLAKE" : "SKYLAKEX";
    }
    if (__builtin_cpu_supports("avx2")) return "HASWELL";
#endif
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double vdit_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int vdit_bench_train(const vdit_dit_config *mc, int B, int steps, double *ms, double *flops, vdit_err *err)
{
    int T = mc->grid[0];
    size_t nv = (size_t)T * mc->latent_channels * mc->grid[1] * mc->grid[2];
    vdit_train_config tc;
    vdit_train_config_default(&tc);
    tc.batch = B;
    tc.steps = steps + 1;
    tc.context_frames = T > 3 ? 3 : T - 1;
    for (int k = 0; k <= tc.context_frames; k++) tc.context_probs[k] = 1.0f / (tc.context_frames + 1);
    vdit_trainer tr;
    if (vdit_trainer_create(&tr, mc, &tc, B, err)) return -1;
    float *x0 = malloc((size_t)B * nv * sizeof(float));
    int *y = malloc((size_t)B * sizeof(int)), rc = 0;
    if (!x0 || !y) rc = vdit_seterr(err, "out of memory for %d random videos", B);
    for (size_t i = 0; !rc && i < (size_t)B * nv; i++) x0[i] = vdit_normal_at(7, i);
    for (int b = 0; !rc && b < B; b++) y[b] = b % 5;
    double loss, norm;
    for (int s = 0; s <= steps && !rc; s++) {
        double t0 = vdit_seconds();
        rc = vdit_trainer_step(&tr, x0, y, 0, NULL, NULL, &loss, &norm, err);
        if (s) ms[s - 1] = 1e3 * (vdit_seconds() - t0);
    }
    *flops = 3.0 * vdit_dit_flops_per_sample(mc) * B; /* backward = 2 x forward */
    free(x0), free(y);
    vdit_trainer_free(&tr);
    return rc ? -1 : 0;
}

int vdit_bench_sample(const vdit_dit_config *mc, int B, int steps, double *ms, double *flops, vdit_err *err)
{
    int T = mc->grid[0];
    size_t nv = (size_t)T * mc->latent_channels * mc->grid[1] * mc->grid[2];
    vdit_dit m;
    if (vdit_dit_create(&m, mc, err)) return -1;
    vdit_dit_init_weights(&m, 1);
    for (size_t i = 0; i < m.num_params; i++) m.params_mem[i] += 0.01f * vdit_normal_at(3, i);
    float *ctx = malloc((size_t)B * nv * sizeof(float)), *out = malloc((size_t)B * nv * sizeof(float));
    uint8_t *known = calloc((size_t)B * T, 1);
    int *y = malloc((size_t)B * sizeof(int)), rc = 0;
    if (!ctx || !out || !known || !y) rc = vdit_seterr(err, "out of memory for %d random videos", B);
    for (size_t i = 0; !rc && i < (size_t)B * nv; i++) ctx[i] = vdit_normal_at(5, i);
    for (int b = 0; !rc && b < B; b++) {
        y[b] = b % 5;
        for (int t = 0; t < T && t < 3; t++) known[(size_t)b * T + t] = 1;
    }
    vdit_sample_job job = {B, T, mc->latent_channels, mc->grid[1], mc->grid[2], ctx, known, y, mc->num_classes};
    vdit_sample_config sc = {mc->objective == VDIT_OBJ_EPS ? VDIT_SAMPLER_DDIM : VDIT_SAMPLER_EULER, 1, 1.5f, 1, 0, 0.0f};
    for (int s = 0; s <= steps && !rc; s++) {
        double t0 = vdit_seconds();
        rc = vdit_sample_dit(&m, &sc, &job, out, err);
        if (s) ms[s - 1] = 1e3 * (vdit_seconds() - t0);
    }
    *flops = 2.0 * vdit_dit_flops_per_sample(mc) * B; /* guidance: two forwards per video */
    free(ctx), free(out), free(known), free(y);
    vdit_dit_free(&m);
    return rc ? -1 : 0;
}

double vdit_bench_sgemm_round(int M, int D, int train, float *inp, float *dinp, float *out, float *dout, float *w,
                              float *dw)
{
    static const int io[4][2] = {{1, 3}, {1, 1}, {1, 4}, {4, 1}}; /* (IC, OC) in units of D */
    double flops = 0.0;
    for (int l = 0; l < 4; l++) {
        int IC = io[l][0] * D, OC = io[l][1] * D;
        /* out[M][OC] = inp[M][IC] @ w[OC][IC]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
        flops += 2.0 * M * IC * OC;
        if (!train) continue;
        /* dinp[M][IC] += dout[M][OC] @ w[OC][IC] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
        /* dw[OC][IC] += dout^T @ inp */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, M, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
        flops += 4.0 * M * IC * OC;
    }
    return flops;
}
