/* cmd_info.c - `vdit info FILE`: what a checkpoint or an array holds. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vdit.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int info_npy(const char *path)
{
    vdit_array a;
    vdit_err err;
    if (vdit_npy_read(path, &a, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    char shape[256];
    vdit_shape_string(shape, sizeof shape, a.ndim, a.shape);
    printf("%s: NPY array, dtype %s, shape %s, %lld elements\n", path, vdit_dtype_name(a.dtype), shape,
           (long long)vdit_array_numel(&a));
    vdit_array_free(&a);
    return 0;
}

static int info_safetensors(const char *path)
{
    vdit_st_file f;
    vdit_err err;
    if (vdit_st_read(path, &f, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    long long total = 0;
    printf("%s: safetensors, %d tensors\n", path, f.ntensors);
    for (int i = 0; i < f.nmeta; i++) printf("  metadata %s: %s\n", f.meta_keys[i], f.meta_values[i]);
    for (int i = 0; i < f.ntensors; i++) {
        char shape[256];
        vdit_shape_string(shape, sizeof shape, f.tensors[i].ndim, f.tensors[i].shape);
        printf("  %-48s F32 %-22s %lld\n", f.tensors[i].name, shape, (long long)f.tensors[i].numel);
        total += f.tensors[i].numel;
    }
    printf("parameters: %lld\n", total);
    const char *cfgjson = vdit_st_meta(&f, "config");
    vdit_dit_config cfg;
    if (cfgjson && !vdit_dit_config_from_json(&cfg, cfgjson, path, &err)) {
        int N = (cfg.grid[0] / cfg.patch[0]) * (cfg.grid[1] / cfg.patch[1]) * (cfg.grid[2] / cfg.patch[2]);
        printf("DiT: hidden %d, depth %d, heads %d, patch %d,%d,%d, grid %d,%d,%d, latent channels %d, classes %d\n",
               cfg.hidden, cfg.depth, cfg.heads, cfg.patch[0], cfg.patch[1], cfg.patch[2], cfg.grid[0], cfg.grid[1],
               cfg.grid[2], cfg.latent_channels, cfg.num_classes);
        printf("     attention %s, objective %s, %d tokens, %.3f GFLOPs per sample (forward)\n",
               vdit_attention_name(cfg.attention), vdit_objective_name(cfg.objective), N,
               vdit_dit_flops_per_sample(&cfg) / 1e9);
    }
    vdit_st_free(&f);
    return 0;
}

/* The registry of model sizes for a latent grid: parameters and GFLOPs. */
static int info_models(const cli_cmd *cmd)
{
    static const int def_grid[3] = {32, 8, 8};
    vdit_dit_config c = {0};
    if (cli_int3(cmd, "--grid", def_grid, c.grid) || cli_int(cmd, "--latent-channels", 4, 1, 1024, &c.latent_channels))
        return 2;
    c.num_classes = 5;
    printf("model sizes for a latent grid %d,%d,%d of %d channels, 5 classes (forward GFLOPs per video; a\n"
           "training step costs 3x that per video)\n\n",
           c.grid[0], c.grid[1], c.grid[2], c.latent_channels);
    printf("%-14s %5s %6s %5s %7s %7s %12s %12s\n", "model", "depth", "hidden", "heads", "patch", "tokens", "parameters",
           "GFLOPs");
    static const char *suffix[] = {"/2", "/2t2", "/4"};
    for (int i = 0;; i++) {
        int depth, hidden, heads;
        const char *name = vdit_dit_preset_size(i, &depth, &hidden, &heads);
        if (!name) break;
        for (int k = 0; k < 3; k++) {
            char full[32];
            snprintf(full, sizeof full, "%s%s", name, suffix[k]);
            vdit_err err;
            vdit_dit m;
            if (vdit_dit_preset(full, &c, &err) || vdit_dit_create(&m, &c, &err)) continue; /* patch does not fit */
            printf("%-14s %5d %6d %5d %7s %7d %12zu %12.3f\n", full, depth, hidden, heads, suffix[k] + 1, m.N,
                   m.num_params, vdit_dit_flops_per_sample(&c) / 1e9);
            vdit_dit_free(&m);
        }
    }
    return 0;
}

int cmd_info(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--models", NULL, "list the registry of model sizes (VDiT-XS/2 ...) with parameters and GFLOPs", NULL},
        {"--grid", "T,H,W", "latent grid for --models (default 32,8,8: 32x32 videos through a 4x VAE)", NULL},
        {"--latent-channels", "C", "latent channels for --models (default 4)", NULL},
    };
    cli_cmd cmd = {"vdit info", "FILE | --models",
                   "Describes a checkpoint (.safetensors: tensors, shapes, config, parameter count) or an array (.npy).",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_get(&cmd, "--models")) return info_models(&cmd);
    const char *path = cmd.positional[0];
    if (!path) {
        cli_usage_error(&cmd, "missing FILE");
        return 2;
    }
    return ends_with(path, ".npy") ? info_npy(path) : info_safetensors(path);
}
