/* bench_eval.c - how long scoring takes: N videos of T frames at SxS (by
 * default 1000 x 32 x 64x64, the target: under a minute on 2 cores),
 * a model's videos plus the four references, bootstrap and Frechet
 * distances included; then the report. Prints the median of R runs.
 *
 *   bench_eval [N [T [S [R]]]]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "eval.h"
#include "eval_scenes.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* CPU seconds of this process (all threads), to tell a busy machine from a slow program */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int N = argc > 1 ? atoi(argv[1]) : 1000, T = argc > 2 ? atoi(argv[2]) : 32, S = argc > 3 ? atoi(argv[3]) : 64;
    int R = argc > 4 ? atoi(argv[4]) : 3;
    if (N < 2 || T < 4 || S < 8 || R < 1 || R > 99) {
        fprintf(stderr, "usage: bench_eval [N>=2 [T>=4 [S>=8 [R in 1..99]]]]\n");
        return 2;
    }
    size_t vs = (size_t)T * S * S * 3;
    uint8_t *videos = malloc(N * vs), *take2 = malloc(N * vs), *model = malloc(N * vs);
    float *states = malloc((size_t)N * T * 10 * sizeof(float)), *params = malloc((size_t)N * 8 * sizeof(float));
    int32_t *labels = malloc(N * 4), *splits = malloc(N * 4), *contact = malloc(N * 4);
    float *st2 = malloc((size_t)T * 10 * sizeof(float));
    if (!videos || !take2 || !model || !states || !params || !labels || !splits || !contact || !st2) {
        fprintf(stderr, "bench_eval: out of memory\n");
        return 1;
    }
    double t0 = now();
    for (int i = 0; i < N; i++) {
        double u = (double)(vdit_rng_at(1, i) >> 11) / 9007199254740992.0;
        scene_spec sp = scene_default(i % EVAL_NUM_SCENARIOS, u);
        sp.split = (i / EVAL_NUM_SCENARIOS) % EVAL_NUM_SPLITS;
        int c;
        float pp[8];
        scene_states(&sp, T, states + (size_t)i * T * 10, params + (size_t)i * 8, &c);
        scene_render(&sp, states + (size_t)i * T * 10, T, S, videos + i * vs);
        scene_spec p2 = sp;
        p2.v1 *= 1.01;
        scene_states(&p2, T, st2, pp, &c);
        scene_render(&p2, st2, T, S, take2 + i * vs);
        /* the "model": a slower ball with pixel noise */
        p2.v1 = sp.v1 * 0.8;
        scene_states(&p2, T, st2, pp, &c);
        scene_render(&p2, st2, T, S, model + i * vs);
        for (size_t k = 0; k < vs; k++) {
            int x = model[i * vs + k] + (int)(vdit_rng_at(2, i * vs + k) % 7) - 3;
            model[i * vs + k] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
        labels[i] = sp.scenario, splits[i] = sp.split;
        scene_states(&sp, T, st2, pp, &c);
        contact[i] = c;
    }
    double tgen = now() - t0;
    eval_truth_set set = {N, T, S, 3, videos, take2, states, params, labels, splits, contact};
    eval_options o;
    eval_options_default(&o);
    double runs[99], reps[99], cpus[99];
    vdit_err err;
    eval_result r;
    for (int k = 0; k < R; k++) {
        t0 = now();
        double c0 = cpu_now();
        if (eval_run(&set, model, &o, &r, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            return 1;
        }
        runs[k] = now() - t0;
        cpus[k] = cpu_now() - c0;
        char dir[] = "/tmp/bench_eval_XXXXXX";
        if (!mkdtemp(dir)) return 1;
        eval_report_options ro;
        eval_report_options_default(&ro);
        ro.truth = &set;
        ro.model = model;
        int figs = 0;
        t0 = now();
        if (eval_write_report(dir, &r, &ro, &figs, NULL, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            return 1;
        }
        reps[k] = now() - t0;
        if (k == R - 1) {
            const eval_stat *a = r.stats + ((size_t)EVAL_SRC_MODEL * EVAL_NUM_GROUPS) * EVAL_NUM_METRICS;
            printf("report: %s (%d gnuplot figures); model vel_err %.3f [%.3f, %.3f]\n", dir, figs, a[EVAL_M_VEL].mean,
                   a[EVAL_M_VEL].lo, a[EVAL_M_VEL].hi);
        }
        eval_result_free(&r);
        if (k < R - 1) { /* keep only the last report */
            char cmd[128];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0) fprintf(stderr, "bench_eval: could not remove %s\n", dir);
        }
    }
    qsort(runs, R, sizeof(double), cmp);
    qsort(reps, R, sizeof(double), cmp);
    qsort(cpus, R, sizeof(double), cmp);
    const char *th = getenv("OMP_NUM_THREADS");
    printf("bench_eval: %d videos x %d frames at %dx%d (synthetic, made in %.1f s), OMP_NUM_THREADS=%s\n", N, T, S, S,
           tgen, th ? th : "(unset)");
    printf("score model + truth + take2 + copy-last + linear, bootstrap %d, Frechet: median %.2f s of %d runs "
           "(min %.2f, max %.2f) = %.2f ms per truth video\n",
           o.bootstrap, runs[R / 2], R, runs[0], runs[R - 1], 1000.0 * runs[R / 2] / N);
    printf("CPU time of the scoring: median %.2f s (%.2f cores busy on average; the rest went to other processes)\n",
           cpus[R / 2], cpus[R / 2] / runs[R / 2]);
    printf("report (json, csv, md, gnuplot figures, strip): median %.2f s\n", reps[R / 2]);
    printf("target: < 60 s -> %s\n", runs[R / 2] + reps[R / 2] < 60.0 ? "met" : "NOT met");
    free(videos), free(take2), free(model), free(states), free(params), free(labels), free(splits), free(contact),
        free(st2);
    return 0;
}
