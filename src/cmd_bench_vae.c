/* cmd_bench_vae.c - `vdit bench vae`: the VAE's training step, encoder and
 * decoder on synthetic frames, and its conv / GroupNorm kernels against
 * their plain loops. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "progress.h"
#include "kernels.h"
#include "vdit.h"

/* Median ms of `reps` calls of a kernel (after one warm-up call). */
#define TIME_MS(reps, out, call)                                                                                     \
    do {                                                                                                             \
        double t_[64];                                                                                               \
        int r_ = (reps) > 64 ? 64 : (reps);                                                                          \
        call;                                                                                                        \
        for (int i_ = 0; i_ < r_; i_++) {                                                                            \
            double a_ = progress_now();                                                                              \
            call;                                                                                                    \
            t_[i_] = 1e3 * (progress_now() - a_);                                                                    \
        }                                                                                                            \
        out = vdit_median(t_, r_);                                                                                        \
    } while (0)

/* The im2col + BLAS kernels against their plain loops on one layer of the
 * default VAE (a 3x3 conv of 32 channels on 32x32 frames), and GroupNorm. */
static void bench_kernels(int N, int S, int reps)
{
    vdit_conv2d_shape s = {N, 32, S, S, 32, 3, 3, 1, 1};
    size_t n = (size_t)N * 32 * S * S, nw = 32 * 32 * 9;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *dx = calloc(n, sizeof(float)), *w = malloc(nw * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float b[32] = {0}, db[32] = {0}, gm[32], bt[32] = {0}, mean[8 * 4096], rstd[8 * 4096];
    size_t nwork = vdit_conv2d_scratch(s), ngn = vdit_groupnorm_scratch(N, 32);
    float *work = malloc((nwork > ngn ? nwork : ngn) * sizeof(float)); /* the layers' scratch */
    if (!x || !y || !g || !dx || !w || !dw || !work || N > 4096) {
        free(x), free(y), free(g), free(dx), free(w), free(dw), free(work);
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = vdit_rng_at(1, i) % 1000 / 500.0f - 1.0f, g[i] = x[(i * 7) % n];
    for (size_t i = 0; i < nw; i++) w[i] = (vdit_rng_at(2, i) % 1000 / 500.0f - 1.0f) * 0.06f;
    for (int i = 0; i < 32; i++) gm[i] = 1.0f;
    double fast, ref, fl = 2.0 * N * S * S * 32 * 32 * 9;
    printf("kernels on %d frames of %dx%d, 32 channels (median of %d):\n", N, S, S, reps);
    TIME_MS(reps, fast, vdit_conv2d_forward(y, x, w, b, s, work));
    TIME_MS(1, ref, vdit_conv2d_forward_ref(y, x, w, b, s));
    printf("  conv2d 3x3 forward   im2col+sgemm %8.2f ms (%6.1f GFLOP/s)  plain loops %9.2f ms  x%.0f\n", fast,
           fl / fast / 1e6, ref, ref / fast);
    TIME_MS(reps, fast, vdit_conv2d_backward(dx, dw, db, g, x, w, s, work));
    TIME_MS(1, ref, vdit_conv2d_backward_ref(dx, dw, db, g, x, w, s));
    printf("  conv2d 3x3 backward  im2col+sgemm %8.2f ms (%6.1f GFLOP/s)  plain loops %9.2f ms  x%.0f\n", fast,
           2 * fl / fast / 1e6, ref, ref / fast);
    TIME_MS(reps, fast, vdit_groupnorm_forward(y, mean, rstd, x, gm, bt, N, 32, S * S, 8));
    TIME_MS(reps, ref, vdit_groupnorm_forward_ref(y, mean, rstd, x, gm, bt, N, 32, S * S, 8));
    printf("  groupnorm forward    OpenMP       %8.3f ms                    plain loops %9.3f ms  x%.1f\n", fast, ref,
           ref / fast);
    TIME_MS(reps, fast, vdit_groupnorm_backward(dx, gm, bt, g, x, mean, rstd, gm, N, 32, S * S, 8, work));
    TIME_MS(reps, ref, vdit_groupnorm_backward_ref(dx, gm, bt, g, x, mean, rstd, gm, N, 32, S * S, 8));
    printf("  groupnorm backward   OpenMP       %8.3f ms                    plain loops %9.3f ms  x%.1f\n", fast, ref,
           ref / fast);
    free(x), free(y), free(g), free(dx), free(w), free(dw), free(work);
}

int cmd_bench_vae(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", "FILE.ini", "take [model] (and [train] batch, clip_frames) from a vdit vae train config", NULL},
        {"--size", "S", "frame size (default 32)", NULL},
        {"--batch", "B", "clips per step (default: the config's, else 32)", NULL},
        {"--steps", "N", "timed steps after one warm-up step (default 5)", NULL},
        {"--threads", "K", "OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS)", NULL},
        {"--kernels", NULL, "also time conv2d and GroupNorm against their plain loops", NULL},
        {"--json", NULL, "print one JSON object", NULL},
    };
    cli_cmd cmd = {"vdit bench vae", "[--config FILE.ini] [options]",
                   "Times the VAE's training step (forward, backward, AdamW) and its encoder and decoder on\n"
                   "synthetic frames; FLOPs counted analytically (convs only; a training step = 3 x forward).",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    vdit_vae_settings st;
    const char *cfgpath = cli_get(&cmd, "--config");
    vdit_err err;
    if (cfgpath) {
        if (vdit_vae_settings_load(&st, cfgpath, &err)) {
            cli_fail(err.msg);
            return 1;
        }
    } else {
        vdit_vae_settings_default(&st);
        st.train.clip_frames = 1;
    }
    int S, B, steps, threads;
    if (cli_int(&cmd, "--size", 32, 8, 1024, &S) || cli_int(&cmd, "--batch", st.train.batch, 1, 4096, &B) ||
        cli_int(&cmd, "--steps", 5, 1, 64, &steps) || cli_int(&cmd, "--threads", 0, 0, 1024, &threads))
        return 2;
#ifdef _OPENMP
    if (threads) omp_set_num_threads(threads);
#endif
    vdit_vae m;
    if (vdit_vae_create(&m, &st.model, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    int T = st.train.clip_frames;
    if (vdit_vae_check_shape(&m, B, T, S, S, &err)) {
        cli_usage_error(&cmd, "%s", err.msg);
        vdit_vae_free(&m);
        return 2;
    }
    vdit_vae_init_weights(&m, 1);
    size_t nx = (size_t)B * T * 3 * S * S, nz = (size_t)B * (T / m.cfg.temporal) * m.cfg.latent_channels *
                                                (S / m.cfg.downsample) * (S / m.cfg.downsample);
    float *x = malloc(nx * sizeof(float)), *z = malloc(nz * sizeof(float)), *y = malloc(nx * sizeof(float));
    float *mom = calloc(m.num_params, sizeof(float)), *vel = calloc(m.num_params, sizeof(float));
    double ms[64], enc_ms[64], dec_ms[64];
    rc = 1;
    if (!x || !z || !y || !mom || !vel) {
        cli_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++) x[i] = (float)(vdit_rng_at(9, i) % 2001) / 1000.0f - 1.0f;
    vdit_adamw_config ac = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f};
    for (int k = 0; k <= steps; k++) {
        vdit_vae_loss_config lc = {st.train.recon, st.train.kl_weight, 1, (uint64_t)k};
        vdit_vae_losses l;
        double t0 = progress_now();
        if (vdit_vae_forward(&m, x, B, T, S, S, lc, &l, &err) || vdit_vae_backward(&m, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        vdit_adamw_step(m.params_mem, m.grads_mem, mom, vel, m.num_params, k + 1, ac);
        vdit_vae_zero_grad(&m);
        double t1 = progress_now();
        if (vdit_vae_encode(&m, x, B, T, S, S, z, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        double t2 = progress_now();
        if (vdit_vae_decode(&m, z, B, T / m.cfg.temporal, S / m.cfg.downsample, S / m.cfg.downsample, y, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        double t3 = progress_now();
        if (k) ms[k - 1] = 1e3 * (t1 - t0), enc_ms[k - 1] = 1e3 * (t2 - t1), dec_ms[k - 1] = 1e3 * (t3 - t2);
    }
    double fe, fd, f = vdit_vae_flops(&m.cfg, T, S, S, &fe, &fd) * B;
    fe *= B, fd *= B;
    double med = vdit_median(ms, steps), me = vdit_median(enc_ms, steps), md = vdit_median(dec_ms, steps);
    double frames = (double)B * T;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (cli_get(&cmd, "--json"))
        printf("{\"size\": %d, \"frames_per_step\": %.0f, \"ms_per_step\": %.3f, \"frames_per_s\": %.2f, "
               "\"gflops\": %.3f, \"encode_ms_per_frame\": %.4f, \"decode_ms_per_frame\": %.4f, \"params\": %zu, "
               "\"peak_rss_mb\": %.1f}\n",
               S, frames, med, frames / (med * 1e-3), 3 * f / (med * 1e-3) / 1e9, me / frames, md / frames,
               m.num_params, ru.ru_maxrss / 1024.0);
    else {
        printf("vdit bench vae: %zu parameters, %.0f frames of %dx%d per step (%d x %d), %.3f GFLOP forward per frame\n",
               m.num_params, frames, S, S, B, T, f / frames / 1e9);
        printf("  training step  median %8.2f ms over %d steps: %7.1f frames/s, %6.1f GFLOP/s\n", med, steps,
               frames / (med * 1e-3), 3 * f / (med * 1e-3) / 1e9);
        printf("  encode         median %8.3f ms per frame, %6.1f GFLOP/s\n", me / frames, fe / (me * 1e-3) / 1e9);
        printf("  decode         median %8.3f ms per frame, %6.1f GFLOP/s\n", md / frames, fd / (md * 1e-3) / 1e9);
        printf("  peak RSS %.1f MB\n", ru.ru_maxrss / 1024.0);
    }
    if (cli_get(&cmd, "--kernels")) bench_kernels(8, 32, steps);
    rc = 0;
done:
    free(x), free(z), free(y), free(mom), free(vel);
    vdit_vae_free(&m);
    return rc;
}
