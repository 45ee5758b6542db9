/* cmd_dit.c - `vdit dit init|forward|grad`. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vdit.h"

static const char *const ATTENTION_CHOICES[] = {"full", "st", NULL};
static const char *const OBJECTIVE_CHOICES[] = {"eps", "flow", NULL};

/* ------------------------------------------------------------------------
 * vdit dit init
 * ---------------------------------------------------------------------- */

static int dit_init(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--model", "NAME", "a registry size, e.g. VDiT-S/2 (vdit info --models); the flags below override it", NULL},
        {"--hidden", "D", "hidden width (default 128; a multiple of 4 and of the heads)", NULL},
        {"--depth", "L", "number of DiT blocks (default 4)", NULL},
        {"--heads", "NH", "attention heads (default 4)", NULL},
        {"--patch", "PT,PH,PW", "spacetime patch (default 1,2,2)", NULL},
        {"--grid", "T,H,W", "latent video frames, height, width (default 8,8,8)", NULL},
        {"--latent-channels", "C", "latent channels (default 4)", NULL},
        {"--classes", "K", "number of class labels; K is the null label (default 0)", NULL},
        {"--attention", "full|st", "joint spacetime, or alternating spatial/temporal (default full)", NULL},
        {"--objective", "eps|flow", "DDPM noise prediction or rectified flow (default eps)", NULL},
        {"--seed", "S", "initialisation seed (default 0)", NULL},
        {"--out", "FILE", "checkpoint to write (.safetensors)", NULL},
    };
    cli_cmd cmd = {"vdit dit init", "--out model.safetensors [options]",
                   "Creates a DiT with DiT's initialisation and writes it as a safetensors checkpoint.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    vdit_dit_config cfg = {.hidden = 128, .depth = 4, .heads = 4, .patch = {1, 2, 2}};
    int att, obj;
    uint64_t seed;
    vdit_err err;
    static const int def_grid[3] = {8, 8, 8};
    const char *out = cli_required(&cmd, "--out"), *model = cli_get(&cmd, "--model");
    if (model && vdit_dit_preset(model, &cfg, &err)) {
        cli_usage_error(&cmd, "%s", err.msg);
        return 2;
    }
    int def_patch[3] = {cfg.patch[0], cfg.patch[1], cfg.patch[2]};
    if (!out || cli_int(&cmd, "--hidden", cfg.hidden, 1, 1 << 20, &cfg.hidden) ||
        cli_int(&cmd, "--depth", cfg.depth, 1, 1 << 20, &cfg.depth) ||
        cli_int(&cmd, "--heads", cfg.heads, 1, 1 << 20, &cfg.heads) ||
        cli_int3(&cmd, "--patch", def_patch, cfg.patch) || cli_int3(&cmd, "--grid", def_grid, cfg.grid) ||
        cli_int(&cmd, "--latent-channels", 4, 1, 1 << 20, &cfg.latent_channels) ||
        cli_int(&cmd, "--classes", 0, 0, 1 << 30, &cfg.num_classes) ||
        cli_choice(&cmd, "--attention", ATTENTION_CHOICES, 0, &att) ||
        cli_choice(&cmd, "--objective", OBJECTIVE_CHOICES, 0, &obj) || cli_u64(&cmd, "--seed", 0, &seed))
        return 2;
    cfg.attention = (vdit_attention)att;
    cfg.objective = (vdit_objective)obj;
    if (vdit_dit_config_check(&cfg, &err)) {
        cli_usage_error(&cmd, "%s", err.msg);
        return 2;
    }
    vdit_dit m;
    if (vdit_dit_create(&m, &cfg, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    vdit_dit_init_weights(&m, seed);
    rc = vdit_dit_save(&m, m.params_mem, out, &err);
    if (rc)
        cli_fail(err.msg);
    else
        printf("%s: %zu parameters, %d tokens, attention %s, objective %s\n", out, m.num_params, m.N,
               vdit_attention_name(cfg.attention), vdit_objective_name(cfg.objective));
    vdit_dit_free(&m);
    return rc ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * forward and grad share: load the model, read and check the input, run
 * ---------------------------------------------------------------------- */

/* Checks that array a (read from path) is [B][T'][channels][H'][W'] for the
 * model's grid, and returns B; -1 with a one-line error otherwise. */
static int check_video_shape(const vdit_dit *m, const vdit_array *a, const char *path, int channels, int want_B)
{
    const int *g = m->cfg.grid;
    int ok = a->ndim == 5 && a->shape[0] >= 1 && a->shape[0] <= (1 << 20) && a->shape[1] == g[0] &&
             a->shape[2] == channels && a->shape[3] == g[1] && a->shape[4] == g[2] &&
             (want_B < 0 || a->shape[0] == want_B);
    if (ok) return (int)a->shape[0];
    char got[128];
    vdit_shape_string(got, sizeof got, a->ndim, a->shape);
    char b[16];
    if (want_B < 0)
        snprintf(b, sizeof b, "B");
    else
        snprintf(b, sizeof b, "%d", want_B);
    fprintf(stderr, "vdit: %s: shape %s does not fit the checkpoint: expected [%s,%d,%d,%d,%d] ([B][T'][C][H'][W'])\n",
            path, got, b, g[0], channels, g[1], g[2]);
    return -1;
}

typedef struct {
    vdit_dit model;
    vdit_array x;
    float *out;      /* [B][T'][C_lat][H'][W'] */
    size_t out_numel;
    int B;
} forward_run;

static void forward_run_free(forward_run *r)
{
    vdit_dit_free(&r->model);
    vdit_array_free(&r->x);
    free(r->out);
}

/* Loads the checkpoint and input, runs the forward pass. Returns 0, or the
 * exit status after printing the error. */
static int run_forward(const cli_cmd *cmd, forward_run *r)
{
    memset(r, 0, sizeof *r);
    vdit_err err;
    const char *ckpt = cli_required(cmd, "--checkpoint"), *input = cli_required(cmd, "--input");
    double t;
    if (!ckpt || !input || cli_float(cmd, "--t", 0.0, &t)) return 2;
    if (!cli_get(cmd, "--t")) {
        cli_usage_error(cmd, "missing required flag --t");
        return 2;
    }
    if (vdit_dit_load(&r->model, ckpt, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    int label;
    if (cli_int(cmd, "--label", r->model.cfg.num_classes, 0, r->model.cfg.num_classes, &label)) return 2;
    if (vdit_npy_read_f32(input, &r->x, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    r->B = check_video_shape(&r->model, &r->x, input, r->model.C_in, -1);
    if (r->B < 0) return 1;
    const vdit_dit_config *c = &r->model.cfg;
    r->out_numel = (size_t)r->B * c->grid[0] * c->latent_channels * c->grid[1] * c->grid[2];
    r->out = malloc(r->out_numel * sizeof(float));
    float *tt = malloc((size_t)r->B * sizeof(float));
    int *yy = malloc((size_t)r->B * sizeof(int));
    int rc = 0;
    if (!r->out || !tt || !yy) {
        cli_fail("out of memory");
        rc = 1;
    } else {
        for (int b = 0; b < r->B; b++) {
            tt[b] = (float)t;
            yy[b] = label;
        }
        if (vdit_dit_forward(&r->model, (const float *)r->x.data, tt, yy, r->B, r->out, &err)) {
            cli_fail(err.msg);
            rc = 1;
        }
    }
    free(tt);
    free(yy);
    return rc;
}

static int write_output(const forward_run *r, const char *path)
{
    const vdit_dit_config *c = &r->model.cfg;
    int64_t shape[5] = {r->B, c->grid[0], c->latent_channels, c->grid[1], c->grid[2]};
    vdit_err err;
    if (vdit_npy_write_f32(path, r->out, 5, shape, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * vdit dit forward
 * ---------------------------------------------------------------------- */

#define FORWARD_FLAGS                                                                                     \
    {"--checkpoint", "FILE", "DiT checkpoint (.safetensors)", NULL},                                     \
    {"--input", "x.npy", "model input, float32 [B][T'][2C+1][H'][W'] (noisy latent, context, mask)", NULL}, \
    {"--t", "T", "value fed to the timestep embedder (DDPM step, or 1000*t for flow)", NULL},            \
    {"--label", "Y", "class label for the whole batch (default: the null label K)", NULL}

static int dit_forward(int argc, char **argv)
{
    cli_flag flags[] = {FORWARD_FLAGS, {"--out", "y.npy", "output, float32 [B][T'][C][H'][W']", NULL}};
    cli_cmd cmd = {"vdit dit forward", "--checkpoint M --input x.npy --t T [--label Y] --out y.npy",
                   "Runs the DiT on a batch of model inputs and writes its predictions.", flags,
                   (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *out = cli_required(&cmd, "--out");
    if (!out) return 2;
    const char *ins[] = {cli_get(&cmd, "--checkpoint"), cli_get(&cmd, "--input")};
    if (cli_out_clash(&out, 1, ins, 2)) return 1;
    forward_run r;
    rc = run_forward(&cmd, &r);
    if (!rc) rc = write_output(&r, out);
    forward_run_free(&r);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit dit grad
 * ---------------------------------------------------------------------- */

static int dit_grad(int argc, char **argv)
{
    cli_flag flags[] = {FORWARD_FLAGS,
                        {"--target", "v.npy", "regression target, float32 [B][T'][C][H'][W']", NULL},
                        {"--out", "FILE", "gradients to write (.safetensors, under the parameter names)", NULL}};
    cli_cmd cmd = {"vdit dit grad", "--checkpoint M --input x.npy --target v.npy --t T [--label Y] --out g.safetensors",
                   "Writes the gradient of mean((y - target)^2) over all elements with respect to every parameter.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *out = cli_required(&cmd, "--out"), *target = cli_required(&cmd, "--target");
    if (!out || !target) return 2;
    const char *ins[] = {cli_get(&cmd, "--checkpoint"), cli_get(&cmd, "--input"), target};
    if (cli_out_clash(&out, 1, ins, 3)) return 1;
    forward_run r;
    vdit_array v = {0};
    float *dout = NULL;
    vdit_err err;
    rc = run_forward(&cmd, &r);
    if (rc) goto done;
    rc = 1;
    if (vdit_npy_read_f32(target, &v, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    if (check_video_shape(&r.model, &v, target, r.model.cfg.latent_channels, r.B) < 0) goto done;
    dout = malloc(r.out_numel * sizeof(float));
    if (!dout) {
        cli_fail("out of memory");
        goto done;
    }
    /* loss = mean((y - target)^2);  dloss/dy = 2 (y - target) / numel */
    const float *tv = (const float *)v.data;
    double loss = 0.0;
    for (size_t i = 0; i < r.out_numel; i++) {
        float d = r.out[i] - tv[i];
        loss += (double)d * d;
        dout[i] = 2.0f * d / (float)r.out_numel;
    }
    loss /= (double)r.out_numel;
    vdit_dit_zero_grad(&r.model);
    if (vdit_dit_backward(&r.model, dout, &err) || vdit_dit_save(&r.model, r.model.grads_mem, out, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    printf("loss %.9g\n", loss);
    rc = 0;
done:
    free(dout);
    vdit_array_free(&v);
    forward_run_free(&r);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit dit
 * ---------------------------------------------------------------------- */

int cmd_dit(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "init")) return dit_init(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "forward")) return dit_forward(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "grad")) return dit_grad(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h")) {
        fprintf(stderr, "vdit dit: unknown subcommand '%s' (see 'vdit dit --help')\n", argv[0]);
        return 2;
    }
    printf("usage: vdit dit init|forward|grad [options]   (each takes --help)\n"
           "  init     create a DiT with DiT's initialisation\n"
           "  forward  run the DiT on a batch of inputs\n"
           "  grad     gradients of a mean squared error with respect to every parameter\n");
    return argc >= 1 ? 0 : 2;
}
