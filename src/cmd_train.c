/* cmd_train.c - `vdit train`: the DiT on the latents (or pixels) of a
 * physics dataset, conditioned on its first frames.
 *
 * RUN_DIR/config.ini            the resolved settings (every key)
 * RUN_DIR/log.csv               step,loss,lr,grad_norm,time (gnuplot reads it)
 * RUN_DIR/model.safetensors     the EMA weights of the last checkpoint (model.md names)
 * RUN_DIR/checkpoints/step-NNNNNNNN.safetensors   full training states, the last few kept
 * The run itself (resume, data order, log, checkpoints) is vdit_train_run
 * in lib/train.c; this file reads the settings and the data, and sets up
 * MPI when the program runs under mpirun.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef VDIT_HAVE_MPI
#include <mpi.h>
#endif

#include "cli.h"
#include "datasets.h"
#include "progress.h"
#include "vdit.h"

/* ------------------------------------------------------------------------
 * Data-parallel (MPI)
 * ---------------------------------------------------------------------- */

#ifdef VDIT_HAVE_MPI
static int mpi_sum(float *buf, size_t n, void *ctx)
{
    (void)ctx;
    while (n) { /* MPI counts are int */
        int k = n > (1u << 30) ? 1 << 30 : (int)n;
        if (MPI_Allreduce(MPI_IN_PLACE, buf, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}
#endif

/* ------------------------------------------------------------------------
 * vdit train
 * ---------------------------------------------------------------------- */

/* What rank 0 prints as the run goes: the start, a progress bar, the end. */
typedef struct {
    int rank, in_loop;
    const char *run;
    const vdit_latent_set *ls;
    const vdit_train_settings *s;
    progress pb;
} train_view;

static void train_event(void *ctx, const vdit_train_event *e)
{
    train_view *v = ctx;
    char extra[64];
    snprintf(extra, sizeof extra, "loss %.4f", e->loss);
    if (e->kind == VDIT_TRAIN_STARTED) {
        v->in_loop = 1;
        if (v->rank == 0 && e->resumed) fprintf(stderr, "resuming %s at step %d\n", v->run, e->step);
        if (v->rank == 0)
            fprintf(stderr, "training %zu parameters on %d videos (grid %d,%d,%d x %d channels), %d steps of %d\n",
                    e->num_params, v->ls->N, v->ls->T, v->ls->H, v->ls->W, v->ls->C, v->s->train.steps,
                    v->s->train.batch);
        progress_start(&v->pb, "train", v->s->train.steps);
    } else if (e->kind == VDIT_TRAIN_STEP) {
        progress_update(&v->pb, e->step, extra);
    } else {
        v->in_loop = 0;
        if (v->rank == 0) {
            progress_end(&v->pb, extra);
            fprintf(stderr, "wrote %s/model.safetensors\n", v->run);
        }
    }
}

int cmd_train(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", "FILE.ini", "settings: [model], [train], [data] (see experiments/*.ini)", NULL},
        {"--data", "DIR", "training dataset (vdit data)", NULL},
        {"--vae", "FILE", "train on this VAE's latents (default: on pixels)", NULL},
        {"--latent-cache", "DIR", "read the latents from DIR, or encode them once into it (default: $VDIT_LATENT_CACHE)",
         NULL},
        {"--out", "RUN_DIR", "run directory (must not exist unless --resume)", NULL},
        {"--resume", NULL, "continue the run in RUN_DIR from its last checkpoint", NULL},
    };
    cli_cmd cmd = {"vdit train", "--config FILE.ini --data DIR [--vae V [--latent-cache DIR]] --out RUN_DIR [--resume]",
                   "Trains the DiT on a dataset's videos (or their VAE latents), conditioned on the first frames.\n"
                   "Writes RUN_DIR/config.ini, log.csv, model.safetensors (EMA) and checkpoints/.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *cfg_path = cli_required(&cmd, "--config"), *data = cli_required(&cmd, "--data"),
               *run = cli_required(&cmd, "--out"), *vae = cli_get(&cmd, "--vae"),
               *cache = cli_get(&cmd, "--latent-cache");
    if (!cfg_path || !data || !run) return 2;
    if (!cache && getenv("VDIT_LATENT_CACHE") && getenv("VDIT_LATENT_CACHE")[0]) cache = getenv("VDIT_LATENT_CACHE");

    vdit_train_run_options o = {run, cli_get(&cmd, "--resume") != NULL, NULL, 0, 0, 0, 0, 1, NULL, NULL, NULL, NULL, NULL};
#ifdef VDIT_HAVE_MPI
    int mpi_on = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
    if (mpi_on) {
        MPI_Init(NULL, NULL);
        MPI_Comm_rank(MPI_COMM_WORLD, &o.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &o.nproc);
        if (o.nproc > 1) o.reduce = mpi_sum;
    }
#endif
    vdit_train_settings s;
    vdit_err err;
    vdit_latent_set ls = {0};
    char *text = NULL;
    train_view view = {o.rank, 0, run, &ls, &s, {0}};
    vdit_out_lock_t lock = {-1, NULL, -1};
    rc = 1;
    /* a resumed run reads its own config.ini back (it is compared, not rewritten) */
    const char *ins[] = {o.resume ? NULL : cfg_path, data, vae};
    /* the cache is written too: not the dataset's folder or the VAE, nor inside them */
    if (cli_out_clash(&run, 1, ins, 3) || cli_out_clash(&cache, 1, ins + 1, 2) ||
        (o.rank == 0 && cli_out_lock(run, &lock)))
        goto done;
    if (vdit_train_settings_load(&s, cfg_path, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    int bad_dir = vdit_train_run_check(run, o.resume, &err);
#ifdef VDIT_HAVE_MPI
    if (mpi_on) MPI_Barrier(MPI_COMM_WORLD); /* every rank looks before rank 0 creates it */
#endif
    if (bad_dir || vdit_latents_load(&ls, data, vae, s.count, cache, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    if (o.rank == 0 && ls.cache_note[0]) fprintf(stderr, "latent cache: %s\n", ls.cache_note);
    s.model.latent_channels = ls.C;
    s.model.grid[0] = ls.T, s.model.grid[1] = ls.H, s.model.grid[2] = ls.W;
    s.model.num_classes = s.use_labels ? ls.num_classes : 0;
    if (vdit_dit_config_check(&s.model, &err)) {
        fprintf(stderr, "vdit: %s: [model]: %s (latent grid %d,%d,%d)\n", cfg_path, err.msg, ls.T, ls.H, ls.W);
        goto done;
    }
    if (s.train.batch % o.nproc) {
        fprintf(stderr, "vdit: %s: batch %d is not divisible by %d processes\n", cfg_path, s.train.batch, o.nproc);
        goto done;
    }
    if (!(text = vdit_train_settings_text(&s, data, vae))) goto done;
    o.config_text = text;
    o.checkpoint_every = s.checkpoint_every, o.keep_checkpoints = s.keep_checkpoints, o.log_every = s.log_every;
    o.event = train_event, o.event_ctx = &view, o.vae = vae ? &ls.vae : NULL;
    if (vdit_train_run(&s.model, &s.train, ls.x, s.model.num_classes ? ls.labels : NULL, ls.N, &o, &err)) {
        fprintf(stderr, "%svdit: %s\n", view.in_loop ? "\n" : "", err.msg);
        goto done;
    }
    rc = 0;
done:
    vdit_out_unlock(&lock);
    free(text);
    vdit_latent_set_free(&ls);
#ifdef VDIT_HAVE_MPI
    if (mpi_on) {
        if (rc) MPI_Abort(MPI_COMM_WORLD, rc);
        MPI_Finalize();
    }
#endif
    return rc;
}
