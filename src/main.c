/* main.c - the vdit command line: a thin layer of subcommands over libvdit. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vdit.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"data", cmd_data, "physics video datasets (Chipmunk2D): make, show"},
    {"dit", cmd_dit, "the diffusion transformer: init, forward, grad"},
    {"train", cmd_train, "train the DiT on a dataset (pixels or VAE latents)"},
    {"sample", cmd_sample, "generate videos with a trained DiT"},
    {"bench", cmd_bench, "time training and sampling steps"},
    {"vae", cmd_vae, "the video VAE: train, encode, decode, recon"},
    {"config", cmd_config, "an INI file as vdit reads it: get a key, resolve the whole file"},
    {"info", cmd_info, "describe a checkpoint (.safetensors) or an array (.npy)"},
    {"eval", cmd_eval, "score videos or a checkpoint on the physics benchmark"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: vdit COMMAND [options]   (vdit COMMAND --help for each)\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

/* OpenBLAS chooses its kernels when it loads; on a CPU model it does not
 * know it falls back to generic ones (2.8x slower training here). Start
 * again once with OPENBLAS_CORETYPE naming the kernels the CPU has; a
 * variable the user set is left alone, and a failed exec goes on, slower. */
static void blas_core_reexec(char **argv)
{
    const char *core = vdit_blas_better_core();
    if (!core || getenv("OPENBLAS_CORETYPE")) return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv)
{
    blas_core_reexec(argv);
    /* a write past `ulimit -f` is an error, not a silent death; Ctrl-C and
     * SIGTERM remove the temporaries a command was writing (lib/signals.c) */
    vdit_signals_install();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vdit %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "vdit: unknown command '%s' (see 'vdit --help')\n", argv[1]);
    return 2;
}
