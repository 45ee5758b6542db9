/* main.c - the vdit command line: a thin layer of subcommands over libvdit. */
#include "config.h"

#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv)
{
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
