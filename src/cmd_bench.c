/* cmd_bench.c - `vdit bench train|sample`: time the DiT's training step and
 * sampler step on random data, with the FLOPs counted analytically. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "progress.h"
#include "vdit.h"

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

static int bench(int argc, char **argv, int sample)
{
    cli_flag flags[] = {
        {"--hidden", "D", "hidden width (default 128)", NULL},
        {"--depth", "L", "blocks (default 4)", NULL},
        {"--heads", "NH", "heads (default 4)", NULL},
        {"--patch", "PT,PH,PW", "patch (default 1,2,2)", NULL},
        {"--grid", "T,H,W", "latent grid (default 8,8,8)", NULL},
        {"--latent-channels", "C", "latent channels (default 4)", NULL},
        {"--attention", "full|st", "attention (default full)", NULL},
        {"--objective", "eps|flow", "objective (default eps)", NULL},
        {"--batch", "B", "batch (default 16; sample: 2 with guidance)", NULL},
        {"--steps", "N", "timed steps after one warm-up step (default 5)", NULL},
        {"--threads", "K", "OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS)", NULL},
        {"--json", NULL, "print one JSON object {ms_per_step, gflops, peak_rss_mb}", NULL},
    };
    cli_cmd cmd = {sample ? "vdit bench sample" : "vdit bench train", "[options]",
                   sample ? "Times one sampler step with classifier-free guidance (two model calls per video)."
                          : "Times training steps (forward, backward, AdamW) on random data with random context masks.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    static const char *const att[] = {"full", "st", NULL}, *const obj[] = {"eps", "flow", NULL};
    static const int dp[3] = {1, 2, 2}, dg[3] = {8, 8, 8};
    vdit_dit_config mc = {0};
    int a, o, B, steps, threads;
    if (cli_int(&cmd, "--hidden", 128, 4, 16384, &mc.hidden) || cli_int(&cmd, "--depth", 4, 1, 1024, &mc.depth) ||
        cli_int(&cmd, "--heads", 4, 1, 1024, &mc.heads) || cli_int3(&cmd, "--patch", dp, mc.patch) ||
        cli_int3(&cmd, "--grid", dg, mc.grid) || cli_int(&cmd, "--latent-channels", 4, 1, 1024, &mc.latent_channels) ||
        cli_choice(&cmd, "--attention", att, 0, &a) || cli_choice(&cmd, "--objective", obj, 0, &o) ||
        cli_int(&cmd, "--batch", sample ? 1 : 16, 1, 4096, &B) || cli_int(&cmd, "--steps", 5, 1, 100000, &steps) ||
        cli_int(&cmd, "--threads", 0, 0, 1024, &threads))
        return 2;
    mc.attention = (vdit_attention)a;
    mc.objective = (vdit_objective)o;
    mc.num_classes = 5;
    if (threads) omp_set_num_threads(threads);
    vdit_err err;
    if (vdit_dit_config_check(&mc, &err)) {
        cli_usage_error(&cmd, "%s", err.msg);
        return 2;
    }
    double *ms = malloc((size_t)steps * sizeof(double)), flops = 0;
    if (!ms) {
        cli_fail("out of memory");
        return 1;
    }
    rc = sample ? vdit_bench_sample(&mc, B, steps, ms, &flops, &err) : vdit_bench_train(&mc, B, steps, ms, &flops, &err);
    if (rc)
        cli_fail(err.msg), rc = 1;
    else {
        double med = vdit_median(ms, steps);
        double gf = flops / (med * 1e-3) / 1e9;
        if (cli_get(&cmd, "--json"))
            printf("{\"ms_per_step\": %.3f, \"gflops\": %.3f, \"peak_rss_mb\": %.1f, \"blas_core\": \"%s\"}\n", med, gf,
                   peak_rss_mb(), vdit_blas_core());
        else
            printf("%s: median %.2f ms per step over %d steps, %.2f GFLOP/s (%.3f GFLOP per step), peak RSS %.1f MB, "
                   "OpenBLAS kernels %s\n",
                   cmd.cmd, med, steps, gf, flops / 1e9, peak_rss_mb(), vdit_blas_core());
    }
    free(ms);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "train")) return bench(argc - 1, argv + 1, 0);
    if (argc >= 1 && !strcmp(argv[0], "sample")) return bench(argc - 1, argv + 1, 1);
    if (argc >= 1 && !strcmp(argv[0], "vae")) return cmd_bench_vae(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "sgemm")) return cmd_bench_sgemm(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h")) {
        fprintf(stderr, "vdit bench: unknown subcommand '%s' (see 'vdit bench --help')\n", argv[0]);
        return 2;
    }
    printf("usage: vdit bench train|sample|vae|sgemm [options]   (each takes --help)\n"
           "  train   median time of a training step, GFLOP/s, peak memory\n"
           "  sample  the same for one sampler step with classifier-free guidance\n"
           "  vae     the VAE's training step, encoder and decoder (src/cmd_bench_vae.c)\n"
           "  sgemm   OpenBLAS sgemm GFLOP/s on a DiT block's shapes (the ceiling)\n");
    return argc >= 1 ? 0 : 2;
}
