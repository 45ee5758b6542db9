/* run.c - the benchmark runner: scores a model's videos and the references
 * on every truth video, then summarises per split and scenario with
 * bootstrap intervals and Frechet distances. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const eval_source_names[EVAL_NUM_SOURCES] = {"model", "truth", "take2", "copy-last", "linear"};

void eval_options_default(eval_options *o)
{
    o->bootstrap = 1000;
    o->seed = 0;
    o->references = 1;
    o->features = NULL;
}

static const char *const band_names[EVAL_NUM_BANDS] = {"ood-v-low", "ood-v-high"};

const char *eval_group_name(int g)
{
    static char names[EVAL_NUM_GROUPS][40];
    static int init = 0;
    if (g < 0 || g >= EVAL_NUM_GROUPS) return "?";
    if (!init) { /* filled once; the table is constant afterwards */
        snprintf(names[EVAL_G_ALL], sizeof names[0], "all");
        for (int s = 0; s < EVAL_NUM_SPLITS; s++) snprintf(names[EVAL_G_SPLIT(s)], sizeof names[0], "%s", eval_split_names[s]);
        for (int b = EVAL_BAND_LOW; b <= EVAL_BAND_HIGH; b++)
            snprintf(names[EVAL_G_BAND(b)], sizeof names[0], "%s", band_names[b - 1]);
        for (int c = 0; c < EVAL_NUM_SCENARIOS; c++)
            snprintf(names[EVAL_G_SCENARIO(c)], sizeof names[0], "%s", eval_scenario_names[c]);
        for (int s = 0; s < EVAL_NUM_SPLITS; s++)
            for (int c = 0; c < EVAL_NUM_SCENARIOS; c++)
                snprintf(names[EVAL_G_CELL(s, c)], sizeof names[0], "%s/%s", eval_split_names[s], eval_scenario_names[c]);
        init = 1;
    }
    return names[g];
}

int eval_group_has(int g, int split, int band, int scenario)
{
    if (g == EVAL_G_ALL) return 1;
    if (g < EVAL_G_BAND(EVAL_BAND_LOW)) return split == g - EVAL_G_SPLIT(0);
    if (g < EVAL_G_SCENARIO(0)) return band != EVAL_BAND_NONE && g == EVAL_G_BAND(band);
    if (g < EVAL_G_CELL(0, 0)) return scenario == g - EVAL_G_SCENARIO(0);
    g -= EVAL_G_CELL(0, 0);
    return g < EVAL_NUM_SPLITS * EVAL_NUM_SCENARIOS && split == g / EVAL_NUM_SCENARIOS &&
           scenario == g % EVAL_NUM_SCENARIOS;
}

int eval_speed_band(int split, const float *params)
{
    if (split != EVAL_OOD_V || !params || !isfinite(params[EVAL_P_V1])) return EVAL_BAND_NONE;
    double v = fabs(params[EVAL_P_V1]);
    return v < 1.0 ? EVAL_BAND_LOW : v > 4.0 ? EVAL_BAND_HIGH : EVAL_BAND_NONE;
}

int eval_truth_check(const eval_truth_set *t, vdit_err *err)
{
    if (t->N < 1 || t->T < 2 || t->S < 6 || t->S > 4096 || t->ctx < 1 || t->ctx >= t->T)
        return vdit_seterr(err, "truth: %d videos of %d frames at %dx%d with %d context frames: expected N >= 1, "
                                "T >= 2, 6 <= S <= 4096, 1 <= ctx < T",
                           t->N, t->T, t->S, t->S, t->ctx);
    if (!t->videos || !t->states || !t->labels || !t->splits)
        return vdit_seterr(err, "truth: videos, states, labels and splits are required");
    for (int i = 0; i < t->N; i++) {
        if (t->labels[i] < 0 || t->labels[i] >= EVAL_NUM_SCENARIOS)
            return vdit_seterr(err, "truth: labels[%d] = %d: expected a scenario 0..%d", i, t->labels[i],
                               EVAL_NUM_SCENARIOS - 1);
        if (t->splits[i] < 0 || t->splits[i] >= EVAL_NUM_SPLITS)
            return vdit_seterr(err, "truth: splits[%d] = %d: expected a split 0..%d", i, t->splits[i],
                               EVAL_NUM_SPLITS - 1);
    }
    return 0;
}

void eval_info_of(const eval_truth_set *t, int i, eval_info *in)
{
    in->T = t->T;
    in->S = t->S;
    in->ctx = t->ctx;
    in->scenario = t->labels[i];
    in->split = t->splits[i];
    in->contact = t->contact ? t->contact[i] : -1;
    in->params = t->params ? t->params + (size_t)i * EVAL_NPARAMS : NULL;
    in->states = t->states + (size_t)i * t->T * EVAL_NOBJ * 5;
}

void eval_result_free(eval_result *r)
{
    free(r->m);
    free(r->trk);
    free(r->labels);
    free(r->splits);
    free(r->bands);
    free(r->params);
    free(r->stats);
    free(r->slope);
    free(r->fd_traj);
    free(r->fd_feat);
    free(r->debris);
    free(r->drift_v);
    free(r->horizon_v);
    free(r->drift);
    free(r->horizon);
    memset(r, 0, sizeof *r);
}

/* the video of source src for truth video i, into buf when it is made here */
static int source_video(const eval_truth_set *t, const uint8_t *model, int src, int i, uint8_t *buf,
                        const uint8_t **out, vdit_err *err)
{
    size_t vs = (size_t)t->T * t->S * t->S * 3;
    const uint8_t *truth = t->videos + (size_t)i * vs;
    switch (src) {
    case EVAL_SRC_MODEL: *out = model + (size_t)i * vs; return 0;
    case EVAL_SRC_TRUTH: *out = truth; return 0;
    case EVAL_SRC_TAKE2: *out = t->take2 + (size_t)i * vs; return 0;
    case EVAL_SRC_COPY_LAST: eval_copy_last(truth, t->T, t->S, t->ctx, buf); *out = buf; return 0;
    case EVAL_SRC_LINEAR: {
        eval_info in;
        eval_info_of(t, i, &in);
        *out = buf;
        return eval_linear(&in, truth, buf, err);
    }
    }
    return vdit_seterr(err, "eval: unknown source %d", src);
}

static size_t midx(const eval_result *r, int src, int i) { return ((size_t)src * r->N + i) * EVAL_NUM_METRICS; }

double eval_mean_value(const eval_result *r, int src, int i, int k)
{
    const double *m = r->m + midx(r, src, i);
    if (src != EVAL_SRC_COPY_LAST && m[EVAL_M_FAILED] == 1.0 && eval_fail_replaced(k))
        return r->m[midx(r, EVAL_SRC_COPY_LAST, i) + k];
    return m[k];
}

/* Frechet distances between every scored source and the truth over the
 * videos of each group, on features feat[NSRC][N][D], into fd[NSRC][G];
 * NaN where a group has fewer than 2 videos. The truth's side is set up
 * once per group. */
static void gather(const eval_result *r, const double *feat, int D, int src, int g, double *x)
{
    int k = 0;
    for (int i = 0; i < r->N; i++)
        if (eval_group_has(g, r->splits[i], r->bands[i], r->labels[i]))
            memcpy(x + (size_t)k++ * D, feat + ((size_t)src * r->N + i) * D, D * sizeof(double));
}

/* Groups run in parallel: OpenBLAS called inside an OpenMP region runs on
 * its calling thread, which for these small matrices beats waking a pool
 * for every LAPACK step. Each group's result does not depend on the split. */
static void group_fds(const eval_result *r, const double *feat, int D, double *fd)
{
    for (int k = 0; k < EVAL_NUM_SOURCES * EVAL_NUM_GROUPS; k++) fd[k] = NAN;
#pragma omp parallel
    {
        double *x = malloc((size_t)r->N * D * sizeof(double));
#pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < EVAL_NUM_GROUPS; g++) {
            int n = r->group_n[g];
            if (n < 2 || !x) continue;
            eval_frechet_ref ref;
            gather(r, feat, D, EVAL_SRC_TRUTH, g, x);
            if (eval_frechet_ref_init(&ref, x, n, D, NULL)) continue;
            for (int src = 0; src < EVAL_NUM_SOURCES; src++) {
                if (!r->has[src]) continue;
                gather(r, feat, D, src, g, x);
                eval_frechet_to(&ref, x, n, &fd[src * EVAL_NUM_GROUPS + g], NULL);
            }
            eval_frechet_ref_free(&ref);
        }
        free(x);
    }
}

int eval_run(const eval_truth_set *t, const uint8_t *model, const eval_options *opt_in, eval_result *r,
             vdit_err *err)
{
    eval_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        eval_options_default(&opt);
    memset(r, 0, sizeof *r);
    if (eval_truth_check(t, err)) return -1;
    int N = t->N, T = t->T, S = t->S;
    r->N = N, r->T = T, r->S = S, r->ctx = t->ctx;
    r->bootstrap = opt.bootstrap;
    r->seed = opt.seed;
    r->has[EVAL_SRC_MODEL] = model != NULL;
    r->has[EVAL_SRC_TRUTH] = 1;
    r->has[EVAL_SRC_TAKE2] = opt.references && t->take2 != NULL;
    r->has[EVAL_SRC_COPY_LAST] = r->has[EVAL_SRC_LINEAR] = opt.references;
    r->has_take2 = t->take2 != NULL;
    r->context_diff = NAN;
    /* copy-last is scored even when not reported: a failed video's errors are its */
    int scored[EVAL_NUM_SOURCES];
    for (int src = 0; src < EVAL_NUM_SOURCES; src++) scored[src] = r->has[src] || src == EVAL_SRC_COPY_LAST;
    r->m = malloc((size_t)EVAL_NUM_SOURCES * N * EVAL_NUM_METRICS * sizeof(double));
    r->trk = malloc((size_t)EVAL_NUM_SOURCES * N * T * 6 * sizeof(float));
    r->labels = malloc((size_t)N * sizeof(int32_t));
    r->splits = malloc((size_t)N * sizeof(int32_t));
    r->bands = malloc((size_t)N * sizeof(int32_t));
    r->params = malloc((size_t)N * EVAL_NPARAMS * sizeof(float));
    r->stats = malloc((size_t)EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * EVAL_NUM_METRICS * sizeof(eval_stat));
    r->slope = malloc((size_t)EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * sizeof(eval_stat));
    r->fd_traj = malloc((size_t)EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * sizeof(double));
    r->window = EVAL_DRIFT_WINDOW, r->nwin = (T + EVAL_DRIFT_WINDOW - 1) / EVAL_DRIFT_WINDOW;
    size_t nd = (size_t)EVAL_NUM_SOURCES * N * r->nwin * EVAL_NUM_DRIFT;
    r->debris = malloc((size_t)EVAL_NUM_SOURCES * N * T * sizeof(float));
    r->drift_v = malloc(nd * sizeof(double));
    r->horizon_v = malloc((size_t)EVAL_NUM_SOURCES * N * sizeof(double));
    r->drift = malloc((size_t)EVAL_NUM_SOURCES * r->nwin * EVAL_NUM_DRIFT * sizeof(eval_stat));
    r->horizon = malloc((size_t)EVAL_NUM_SOURCES * sizeof(eval_stat));
    if (!r->m || !r->trk || !r->labels || !r->splits || !r->bands || !r->params || !r->stats || !r->slope ||
        !r->fd_traj || !r->debris || !r->drift_v || !r->horizon_v || !r->drift || !r->horizon) {
        eval_result_free(r);
        return vdit_seterr(err, "eval: out of memory for %d videos", N);
    }
    for (size_t k = 0; k < (size_t)EVAL_NUM_SOURCES * N * EVAL_NUM_METRICS; k++) r->m[k] = NAN;
    for (size_t k = 0; k < (size_t)EVAL_NUM_SOURCES * N * T * 6; k++) r->trk[k] = NAN;
    for (size_t k = 0; k < (size_t)EVAL_NUM_SOURCES * N * T; k++) r->debris[k] = NAN;
    for (size_t k = 0; k < nd; k++) r->drift_v[k] = NAN;
    for (size_t k = 0; k < (size_t)EVAL_NUM_SOURCES * N; k++) r->horizon_v[k] = NAN;
    memcpy(r->labels, t->labels, (size_t)N * sizeof(int32_t));
    memcpy(r->splits, t->splits, (size_t)N * sizeof(int32_t));
    for (size_t k = 0; k < (size_t)N * EVAL_NPARAMS; k++) r->params[k] = t->params ? t->params[k] : NAN;
    for (int i = 0; i < N; i++)
        r->bands[i] = eval_speed_band(t->splits[i], t->params ? t->params + (size_t)i * EVAL_NPARAMS : NULL);
    for (int g = 0; g < EVAL_NUM_GROUPS; g++)
        for (int i = 0; i < N; i++) r->group_n[g] += eval_group_has(g, r->splits[i], r->bands[i], r->labels[i]);

    /* ---- per-video scores: independent, so any thread split gives the same numbers */
    size_t vs = (size_t)T * S * S * 3;
    int failed = 0;
    vdit_err first;
    first.msg[0] = 0;
#pragma omp parallel
    {
        uint8_t *buf = malloc(vs);
        vdit_err e;
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < N; i++) {
            int bad = !buf;
            if (bad) vdit_seterr(&e, "eval: out of memory");
            eval_info in;
            eval_info_of(t, i, &in);
            eval_ref ref;
            int ref_ok = 0;
            if (!bad) {
                if (eval_ref_init(&ref, &in, t->videos + (size_t)i * vs, t->take2 ? t->take2 + (size_t)i * vs : NULL,
                                  &e))
                    bad = 1;
                else
                    ref_ok = 1;
            }
            for (int src = 0; src < EVAL_NUM_SOURCES && !bad; src++) {
                if (!scored[src]) continue;
                const uint8_t *v;
                if (source_video(t, model, src, i, buf, &v, &e) ||
                    eval_score(&ref, v, r->m + midx(r, src, i), r->trk + ((size_t)src * N + i) * T * 6,
                               r->debris + ((size_t)src * N + i) * T, &e))
                    bad = 1;
                else
                    eval_drift_video(&in, r->trk + ((size_t)src * N + i) * T * 6, r->debris + ((size_t)src * N + i) * T,
                                     r->window, r->drift_v + ((size_t)src * N + i) * r->nwin * EVAL_NUM_DRIFT,
                                     r->horizon_v + (size_t)src * N + i);
            }
            if (ref_ok) eval_ref_free(&ref);
            if (bad) {
#pragma omp critical(eval_fail)
                if (!failed) {
                    failed = 1;
                    snprintf(first.msg, sizeof first.msg, "video %d: %.900s", i, e.msg);
                }
            }
        }
        free(buf);
    }
    if (failed) {
        eval_result_free(r);
        return vdit_seterr(err, "eval: %s", first.msg);
    }

    /* ---- how far the model's context frames are from the truth's (a note, not an error) */
    if (model) {
        size_t fs = (size_t)S * S * 3;
        double sum = 0.0;
        for (int i = 0; i < N; i++) {
            const uint8_t *a = model + (size_t)i * vs, *b = t->videos + (size_t)i * vs;
            for (size_t p = 0; p < (size_t)t->ctx * fs; p++) sum += abs((int)a[p] - (int)b[p]);
        }
        r->context_diff = sum / ((double)N * t->ctx * fs);
    }

    /* ---- means and bootstrap intervals per source, group and metric; a
     * failed video's errors are copy-last's (losing the ball never scores
     * better than standing still) */
    int ncell = EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * EVAL_NUM_METRICS;
#pragma omp parallel
    {
        double *x = malloc((size_t)N * sizeof(double));
#pragma omp for schedule(dynamic, 8)
        for (int c = 0; c < ncell; c++) {
            int src = c / (EVAL_NUM_GROUPS * EVAL_NUM_METRICS), g = (c / EVAL_NUM_METRICS) % EVAL_NUM_GROUPS,
                k = c % EVAL_NUM_METRICS;
            eval_stat *st = r->stats + c;
            st->mean = st->lo = st->hi = NAN;
            st->n = 0;
            if (!r->has[src] || !x) continue;
            int n = 0;
            for (int i = 0; i < N; i++)
                if (eval_group_has(g, r->splits[i], r->bands[i], r->labels[i])) x[n++] = eval_mean_value(r, src, i, k);
            /* the same draws for every source (paired resampling): a seed per group and metric */
            eval_bootstrap(x, n, opt.bootstrap, vdit_rng_at(opt.seed, (uint64_t)(g * EVAL_NUM_METRICS + k)), st);
        }
        free(x);
    }

    /* ---- long rollouts: each window's and the horizon's mean over all videos */
    {
        double *x = malloc((size_t)N * sizeof(double));
        for (int src = 0; src < EVAL_NUM_SOURCES; src++)
            for (int c = 0; c <= r->nwin * EVAL_NUM_DRIFT; c++) {
                eval_stat *st = c < r->nwin * EVAL_NUM_DRIFT ? r->drift + (size_t)src * r->nwin * EVAL_NUM_DRIFT + c
                                                             : r->horizon + src;
                st->mean = st->lo = st->hi = NAN;
                st->n = 0;
                if (!r->has[src] || !x) continue;
                for (int i = 0; i < N; i++)
                    x[i] = c < r->nwin * EVAL_NUM_DRIFT
                               ? r->drift_v[((size_t)src * N + i) * r->nwin * EVAL_NUM_DRIFT + c]
                               : r->horizon_v[(size_t)src * N + i];
                /* paired draws across sources, a seed per window and metric */
                eval_bootstrap(x, N, opt.bootstrap, vdit_rng_at(opt.seed ^ 0x64726966ull, (uint64_t)c), st);
            }
        free(x);
    }

    /* ---- slope of generated against true speed per source and group */
#pragma omp parallel
    {
        double *xs = malloc((size_t)N * sizeof(double)), *ys = malloc((size_t)N * sizeof(double));
#pragma omp for schedule(dynamic, 4)
        for (int c = 0; c < EVAL_NUM_SOURCES * EVAL_NUM_GROUPS; c++) {
            int src = c / EVAL_NUM_GROUPS, g = c % EVAL_NUM_GROUPS;
            eval_stat *st = r->slope + c;
            st->mean = st->lo = st->hi = NAN;
            st->n = 0;
            if (!r->has[src] || !xs || !ys) continue;
            int n = 0;
            for (int i = 0; i < N; i++)
                if (eval_group_has(g, r->splits[i], r->bands[i], r->labels[i])) {
                    xs[n] = eval_mean_value(r, src, i, EVAL_M_SPEED_TRUE);
                    ys[n++] = eval_mean_value(r, src, i, EVAL_M_SPEED);
                }
            eval_bootstrap_slope(xs, ys, n, opt.bootstrap,
                                 vdit_rng_at(opt.seed, (uint64_t)(EVAL_NUM_GROUPS * EVAL_NUM_METRICS + g)), st);
        }
        free(xs), free(ys);
    }

    /* ---- Frechet distances to the truth on trajectory features */
    int D = eval_traj_dim(T, t->ctx);
    double *feat = malloc((size_t)EVAL_NUM_SOURCES * N * D * sizeof(double));
    if (!feat) {
        eval_result_free(r);
        return vdit_seterr(err, "eval: out of memory for trajectory features");
    }
    for (int src = 0; src < EVAL_NUM_SOURCES; src++)
        if (r->has[src])
            for (int i = 0; i < N; i++)
                eval_traj_features(r->trk + ((size_t)src * N + i) * T * 6, T, t->ctx, feat + ((size_t)src * N + i) * D);
    group_fds(r, feat, D, r->fd_traj);
    free(feat);

    /* ---- Frechet distances on a feature map (the VAE encoder's), if given */
    if (opt.features && opt.features->fn && opt.features->dim > 0) {
        int FD = opt.features->dim;
        r->feat_name = opt.features->name;
        r->fd_feat = malloc((size_t)EVAL_NUM_SOURCES * EVAL_NUM_GROUPS * sizeof(double));
        double *ff = malloc((size_t)EVAL_NUM_SOURCES * N * FD * sizeof(double));
        uint8_t *buf = malloc(vs);
        int rc = (!r->fd_feat || !ff || !buf) ? vdit_seterr(err, "eval: out of memory for features") : 0;
        /* serial: the feature map may use threads of its own */
        for (int src = 0; src < EVAL_NUM_SOURCES && !rc; src++) {
            if (!r->has[src]) continue;
            for (int i = 0; i < N && !rc; i++) {
                const uint8_t *v;
                rc = source_video(t, model, src, i, buf, &v, err) ||
                     opt.features->fn(opt.features->ctx, v, T, S, ff + ((size_t)src * N + i) * FD, err);
            }
        }
        if (!rc) group_fds(r, ff, FD, r->fd_feat);
        free(ff), free(buf);
        if (rc) {
            eval_result_free(r);
            return -1;
        }
    }
    return 0;
}
