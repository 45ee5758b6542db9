/* cmd_bench_sgemm.c - `vdit bench sgemm`: the rate OpenBLAS's sgemm reaches
 * on the matrices of a DiT block, the ceiling that `vdit bench train|sample`
 * is measured against (issue 8: "share of the sgemm rate").
 *
 * One round is the four linear layers of a block on M token rows (qkv
 * D -> 3D, proj D -> D, fc1 D -> 4D, fc2 4D -> D) in the forms lib/kernels.c
 * calls them: the forward out = inp w^T, and for --pass train also the two
 * backward products dinp += dout w and dw += dout^T inp. The rate is the
 * round's FLOPs (2 x multiply-adds) over the median round time; --json also
 * gives the best round's (on a shared machine, the closer to the ceiling). */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "vdit.h"

int cmd_bench_sgemm(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--hidden", "D", "hidden width D of the block (default 128)", NULL},
        {"--tokens", "M", "token rows M = batch x tokens (default 2048)", NULL},
        {"--pass", "train|forward", "forward GEMMs only, or with the two backward ones (default train)", NULL},
        {"--reps", "R", "timed rounds after one warm-up round (default 5)", NULL},
        {"--threads", "K", "OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS)", NULL},
        {"--json", NULL, "print one JSON object {ms_per_round, gflops, best_gflops}", NULL},
    };
    cli_cmd cmd = {"vdit bench sgemm", "[options]",
                   "Times OpenBLAS sgemm on the shapes of a DiT block's linear layers (qkv, proj, fc1, fc2) on M "
                   "token rows, and prints the median GFLOP/s: the ceiling for `vdit bench train|sample`.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    static const char *const passes[] = {"train", "forward", NULL};
    int D, M, pass, reps, threads;
    if (cli_int(&cmd, "--hidden", 128, 4, 16384, &D) || cli_int(&cmd, "--tokens", 2048, 1, 1 << 24, &M) ||
        cli_choice(&cmd, "--pass", passes, 0, &pass) || cli_int(&cmd, "--reps", 5, 1, 100000, &reps) ||
        cli_int(&cmd, "--threads", 0, 0, 1024, &threads))
        return 2;
    if (threads) omp_set_num_threads(threads);
    size_t act = (size_t)M * 4 * D, wsz = (size_t)16 * D * D;
    float *mem = malloc((4 * act + 2 * wsz) * sizeof(float));
    double *ms = malloc((size_t)reps * sizeof(double));
    if (!mem || !ms) {
        cli_fail("out of memory for the sgemm operands");
        free(mem), free(ms);
        return 1;
    }
    float *inp = mem, *dinp = inp + act, *out = dinp + act, *dout = out + act, *w = dout + act, *dw = w + wsz;
    for (size_t i = 0; i < 4 * act + 2 * wsz; i++) mem[i] = 0.1f * vdit_normal_at(11, i);
    double flops = 0.0;
    for (int r = 0; r <= reps; r++) {
        double t0 = vdit_seconds();
        flops = vdit_bench_sgemm_round(M, D, pass == 0, inp, dinp, out, dout, w, dw);
        if (r) ms[r - 1] = 1e3 * (vdit_seconds() - t0);
    }
    double med = vdit_median(ms, reps);
    double gf = flops / (med * 1e-3) / 1e9;
    if (cli_get(&cmd, "--json"))
        printf("{\"ms_per_round\": %.3f, \"gflops\": %.3f, \"best_gflops\": %.3f}\n", med, gf,
               flops / (ms[0] * 1e-3) / 1e9);
    else
        printf("vdit bench sgemm: D %d, M %d, %s: median %.2f ms per round of %d GEMMs over %d rounds, %.2f GFLOP/s\n",
               D, M, passes[pass], med, pass == 0 ? 12 : 4, reps, gf);
    free(mem), free(ms);
    return 0;
}
