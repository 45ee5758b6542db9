/* cmd_train.c - `vdit train`: the DiT on the latents (or pixels) of a
 * physics dataset, conditioned on its first frames.
 *
 * RUN_DIR/config.ini            the resolved settings (every key)
 * RUN_DIR/log.csv               step,loss,lr,grad_norm,time (gnuplot reads it)
 * RUN_DIR/model.safetensors     the EMA weights of the last checkpoint (model.md names)
 * RUN_DIR/checkpoints/step-NNNNNNNN.safetensors   full training states, the last few kept
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef VDIT_HAVE_MPI
#include <mpi.h>
#endif

#include "cli.h"
#include "latents.h"
#include "progress.h"
#include "settings.h"
#include "vdit.h"

/* ------------------------------------------------------------------------
 * Settings: the INI file, key by key
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_dit_config model;
    vdit_train_config train;
    int checkpoint_every, keep_checkpoints, log_every;
    int use_labels; /* condition on the scenario label */
    int count;      /* use the first `count` videos (0: all) */
    char context_probs_text[256];
    char size[64]; /* a registry name (VDiT-S/2), or "" */
} train_settings;

static const char *const ATTENTION[] = {"full", "st", NULL};
static const char *const OBJECTIVE[] = {"eps", "flow", NULL};
static const char *const TIME_SAMPLING[] = {"uniform", "logit-normal", NULL};

/* [model] size: a registry name, whose values the keys after it override */
static int parse_size(void *settings, const char *value, char *msg, size_t cap)
{
    train_settings *s = settings;
    vdit_err e;
    if (vdit_dit_preset(value, &s->model, &e)) {
        snprintf(msg, cap, "is not a model size: %s", e.msg);
        return -1;
    }
    snprintf(s->size, sizeof s->size, "%s", value);
    return 0;
}

/* [data] context_probs: kept as text until context_frames is known (parse_probs) */
static int parse_probs_text(void *settings, const char *value, char *msg, size_t cap)
{
    train_settings *s = settings;
    if (strlen(value) >= sizeof s->context_probs_text) {
        snprintf(msg, cap, "is too long");
        return -1;
    }
    snprintf(s->context_probs_text, sizeof s->context_probs_text, "%s", value);
    return 0;
}

#define OFF(f) offsetof(train_settings, f)
static const setting_key KEYS[] = {
    {"model", "size", SET_CUSTOM, OFF(size), NULL, 0, 0, parse_size, NULL}, /* first: the keys below override it */
    {"model", "hidden", SET_INT, OFF(model.hidden), NULL, 4, 16384, NULL, NULL},
    {"model", "depth", SET_INT, OFF(model.depth), NULL, 1, 1024, NULL, NULL},
    {"model", "heads", SET_INT, OFF(model.heads), NULL, 1, 1024, NULL, NULL},
    {"model", "patch", SET_INT3, OFF(model.patch), NULL, 1, 4096, NULL, NULL},
    {"model", "attention", SET_CHOICE, OFF(model.attention), ATTENTION, 0, 0, NULL, NULL},
    {"model", "objective", SET_CHOICE, OFF(model.objective), OBJECTIVE, 0, 0, NULL, NULL},
    {"train", "batch", SET_INT, OFF(train.batch), NULL, 1, 65536, NULL, NULL},
    {"train", "steps", SET_INT, OFF(train.steps), NULL, 0, 1000000000, NULL, NULL},
    {"train", "warmup", SET_INT, OFF(train.warmup), NULL, 0, 1000000000, NULL, NULL},
    {"train", "lr", SET_FLOAT, OFF(train.lr), NULL, 0, 0, NULL, NULL},
    {"train", "min_lr", SET_FLOAT, OFF(train.min_lr), NULL, 0, 0, NULL, NULL},
    {"train", "weight_decay", SET_FLOAT, OFF(train.weight_decay), NULL, 0, 0, NULL, NULL},
    {"train", "beta1", SET_FLOAT, OFF(train.beta1), NULL, 0, 0, NULL, NULL},
    {"train", "beta2", SET_FLOAT, OFF(train.beta2), NULL, 0, 0, NULL, NULL},
    {"train", "grad_clip", SET_FLOAT, OFF(train.grad_clip), NULL, 0, 0, NULL, NULL},
    {"train", "ema_decay", SET_FLOAT, OFF(train.ema_decay), NULL, 0, 0, NULL, NULL},
    {"train", "label_dropout", SET_FLOAT, OFF(train.label_dropout), NULL, 0, 0, NULL, NULL},
    {"train", "time_sampling", SET_CHOICE, OFF(train.time_sampling), TIME_SAMPLING, 0, 0, NULL, NULL},
    {"train", "seed", SET_U64, OFF(train.seed), NULL, 0, 0, NULL, NULL},
    {"train", "checkpoint_every", SET_INT, OFF(checkpoint_every), NULL, 1, 1000000000, NULL, NULL},
    {"train", "keep_checkpoints", SET_INT, OFF(keep_checkpoints), NULL, 1, 1000, NULL, NULL},
    {"train", "log_every", SET_INT, OFF(log_every), NULL, 1, 1000000000, NULL, NULL},
    {"data", "context_frames", SET_INT, OFF(train.context_frames), NULL, 0, VDIT_MAX_CONTEXT, NULL, NULL},
    {"data", "context_probs", SET_CUSTOM, OFF(context_probs_text), NULL, 0, 0, parse_probs_text, NULL},
    {"data", "labels", SET_BOOL, OFF(use_labels), NULL, 0, 0, NULL, NULL},
    {"data", "count", SET_INT, OFF(count), NULL, 0, 1000000000, NULL, NULL},
};
#define NKEYS (int)(sizeof KEYS / sizeof KEYS[0])

static void settings_default(train_settings *s)
{
    memset(s, 0, sizeof *s);
    s->model = (vdit_dit_config){.hidden = 128, .depth = 4, .heads = 4, .patch = {1, 2, 2},
                                 .attention = VDIT_ATTN_ST, .objective = VDIT_OBJ_FLOW};
    vdit_train_config_default(&s->train);
    s->checkpoint_every = 500;
    s->keep_checkpoints = 3;
    s->log_every = 10;
    s->use_labels = 1;
    snprintf(s->context_probs_text, sizeof s->context_probs_text, "0.1,0.1,0.1,0.7");
}

/* "0.1,0.2,0.7" -> probabilities for K = 0..context_frames */
static int parse_probs(train_settings *s, char *msg, size_t cap)
{
    const char *p = s->context_probs_text;
    int K = s->train.context_frames, n = 0;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || n > K || !(v >= 0)) break;
        s->train.context_probs[n++] = (float)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') break;
    }
    if (*p || n != K + 1) {
        snprintf(msg, cap, "[data] context_probs = '%s' must list %d probabilities (K = 0..%d)", s->context_probs_text,
                 K + 1, K);
        return -1;
    }
    return 0;
}

static int settings_load(train_settings *s, const char *path)
{
    settings_default(s);
    if (settings_read(path, KEYS, NKEYS, s)) return -1;
    char msg[512];
    if (parse_probs(s, msg, sizeof msg)) {
        fprintf(stderr, "vdit: %s: %s\n", path, msg);
        return -1;
    }
    vdit_err err;
    if (vdit_train_config_check(&s->train, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

/* Every key with its resolved value, so the run directory says exactly what ran. */
static char *settings_text(const train_settings *s, const char *data, const char *vae)
{
    char header[8192];
    snprintf(header, sizeof header,
             "# resolved by vdit train\n# data = %s\n# vae = %s\n# latent grid %d,%d,%d, %d channels, %d classes\n", data,
             vae ? vae : "(none: pixels)", s->model.grid[0], s->model.grid[1], s->model.grid[2],
             s->model.latent_channels, s->model.num_classes);
    return settings_to_ini(KEYS, NKEYS, s, header);
}

/* ------------------------------------------------------------------------
 * Run directory
 * ---------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Steps of the states in RUN/checkpoints, ascending. */
static int list_states(const char *run, int *steps, int cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int s;
        char tail[64];
        if (sscanf(e->d_name, "step-%d.%63s", &s, tail) == 2 && !strcmp(tail, "safetensors") && n < cap)
            steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of files */
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            int t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    return n;
}

#define LOG_HEADER "step,loss,lr,grad_norm,time\n"

/* Removes the temporaries of writes a killed run left unfinished
 * (NAME.tmp.XXXXXX beside checkpoints/step-N.safetensors, model.safetensors,
 * log.csv, config.ini): the files they were for are intact or absent. */
static void remove_stale_temps(const char *run)
{
    const char *dirs[2] = {"", "/checkpoints"};
    for (int k = 0; k < 2; k++) {
        char dir[4096], p[4096 + 256];
        snprintf(dir, sizeof dir, "%s%s", run, dirs[k]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *t = strstr(e->d_name, ".tmp.");
            if (!t || strlen(t) != 11) continue; /* ".tmp." + mkstemp's 6 characters */
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
}

static void state_path(char *buf, size_t cap, const char *run, int step)
{
    snprintf(buf, cap, "%s/checkpoints/step-%08d.safetensors", run, step);
}

/* Keeps log.csv rows up to `step` (a resumed run then appends the same rows
 * an uninterrupted run would have written). */
static int truncate_log(const char *path, int step, vdit_err *err)
{
    void *data;
    size_t size;
    if (vdit_read_file(path, (size_t)1 << 30, &data, &size, err)) return -1;
    char *text = data, *out = malloc(size + 1);
    size_t o = 0;
    if (!out) {
        free(data);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    for (size_t i = 0; i < size;) {
        size_t j = i;
        while (j < size && text[j] != '\n') j++;
        int s;
        if (i == 0 || (sscanf(text + i, "%d,", &s) == 1 && s <= step)) {
            memcpy(out + o, text + i, j - i);
            o += j - i;
            out[o++] = '\n';
        }
        i = j + 1;
    }
    int rc = vdit_write_file_atomic(path, out, o, err);
    free(out);
    free(data);
    return rc;
}

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

/* Index of global sample g in a per-epoch shuffle of N videos (Fisher-Yates
 * from (seed, epoch)); the permutation is cached for the current epoch. */
typedef struct {
    int N;
    uint64_t seed;
    long epoch;
    int *perm;
} shuffle;

static int shuffle_index(shuffle *s, long g)
{
    long epoch = g / s->N;
    if (epoch != s->epoch) {
        for (int i = 0; i < s->N; i++) s->perm[i] = i;
        uint64_t es = vdit_rng_at(s->seed ^ 0x73687566666c65ull, (uint64_t)epoch);
        for (int i = s->N - 1; i > 0; i--) {
            int j = (int)(vdit_rng_at(es, (uint64_t)i) % (uint64_t)(i + 1));
            int t = s->perm[i];
            s->perm[i] = s->perm[j];
            s->perm[j] = t;
        }
        s->epoch = epoch;
    }
    return s->perm[g % s->N];
}

int cmd_train(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", "FILE.ini", "settings: [model], [train], [data] (see experiments/*.ini)", NULL},
        {"--data", "DIR", "training dataset (vdit data)", NULL},
        {"--vae", "FILE", "train on this VAE's latents (default: on pixels)", NULL},
        {"--out", "RUN_DIR", "run directory (must not exist unless --resume)", NULL},
        {"--resume", NULL, "continue the run in RUN_DIR from its last checkpoint", NULL},
    };
    cli_cmd cmd = {"vdit train", "--config FILE.ini --data DIR [--vae V] --out RUN_DIR [--resume]",
                   "Trains the DiT on a dataset's videos (or their VAE latents), conditioned on the first frames.\n"
                   "Writes RUN_DIR/config.ini, log.csv, model.safetensors (EMA) and checkpoints/.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *cfg_path = cli_required(&cmd, "--config"), *data = cli_required(&cmd, "--data"),
               *run = cli_required(&cmd, "--out"), *vae = cli_get(&cmd, "--vae");
    int resume = cli_get(&cmd, "--resume") != NULL;
    if (!cfg_path || !data || !run) return 2;

    int rank = 0, nproc = 1;
#ifdef VDIT_HAVE_MPI
    int mpi_on = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
    if (mpi_on) {
        MPI_Init(NULL, NULL);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &nproc);
    }
#endif
    train_settings s;
    vdit_err err;
    latent_set ls = {0};
    vdit_trainer tr = {0};
    shuffle sh = {0};
    char *text = NULL, path[4096];
    float *x0 = NULL;
    int *labels = NULL;
    FILE *log = NULL;
    rc = 1;
    if (settings_load(&s, cfg_path)) goto done;

    struct stat st;
    int exists = stat(run, &st) == 0;
#ifdef VDIT_HAVE_MPI
    if (mpi_on) MPI_Barrier(MPI_COMM_WORLD); /* every rank looks before rank 0 creates it */
#endif
    if (exists && !resume) {
        fprintf(stderr, "vdit: %s already exists: use --resume to continue it, or another --out\n", run);
        goto done;
    }
    if (!exists && resume) {
        fprintf(stderr, "vdit: --resume: %s does not exist\n", run);
        goto done;
    }

    if (load_latents(&ls, data, vae, s.count, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    s.model.latent_channels = ls.C;
    s.model.grid[0] = ls.T, s.model.grid[1] = ls.H, s.model.grid[2] = ls.W;
    s.model.num_classes = s.use_labels ? ls.num_classes : 0;
    if (vdit_dit_config_check(&s.model, &err)) {
        fprintf(stderr, "vdit: %s: [model]: %s (latent grid %d,%d,%d)\n", cfg_path, err.msg, ls.T, ls.H, ls.W);
        goto done;
    }
    if (s.train.batch % nproc) {
        fprintf(stderr, "vdit: %s: batch %d is not divisible by %d processes\n", cfg_path, s.train.batch, nproc);
        goto done;
    }
    text = settings_text(&s, data, vae);
    if (!text) goto done;

    int local_B = s.train.batch / nproc, first = rank * local_B;
    if (vdit_trainer_create(&tr, &s.model, &s.train, local_B, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", cfg_path, err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/config.ini", run);
    int no_states[1];
    if (resume && access(path, F_OK) != 0 && errno == ENOENT && list_states(run, no_states, 1) == 0) {
        resume = 0; /* killed before its config.ini was written: nothing to resume, start afresh */
        if (rank == 0) remove_stale_temps(run);
    }
    if (resume) {
        void *old;
        size_t oldn;
        if (vdit_read_file(path, 1 << 20, &old, &oldn, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        int same = oldn == strlen(text) && !memcmp(old, text, oldn);
        if (!same) { /* name the first line that differs */
            const char *o = old, *oe = o + oldn, *t = text, *te = text + strlen(text);
            size_t lo, lt;
            for (;;) {
                const char *on = memchr(o, '\n', (size_t)(oe - o)), *tn = memchr(t, '\n', (size_t)(te - t));
                lo = on ? (size_t)(on - o) : (size_t)(oe - o), lt = tn ? (size_t)(tn - t) : (size_t)(te - t);
                if (lo != lt || memcmp(o, t, lo) || !on || !tn) break;
                o = on + 1, t = tn + 1;
            }
            fprintf(stderr,
                    "vdit: --resume: %s has '%.*s' where this run has '%.*s' (resume with the same config, data and "
                    "vae)\n",
                    path, (int)(lo > 200 ? 200 : lo), o, (int)(lt > 200 ? 200 : lt), t);
            free(old);
            goto done;
        }
        free(old);
        int steps[1024], n = list_states(run, steps, 1024);
        if (n) {
            char sp[4096];
            state_path(sp, sizeof sp, run, steps[n - 1]);
            if (vdit_trainer_load_state(&tr, sp, &err)) {
                cli_fail(err.msg);
                goto done;
            }
        }
        snprintf(path, sizeof path, "%s/log.csv", run);
        if (rank == 0 && access(path, F_OK) == 0 && truncate_log(path, tr.step, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        /* killed between config.ini and log.csv: the header as a fresh run writes it */
        if (rank == 0 && access(path, F_OK) != 0 && errno == ENOENT &&
            vdit_write_file_atomic(path, LOG_HEADER, strlen(LOG_HEADER), &err)) {
            cli_fail(err.msg);
            goto done;
        }
        if (rank == 0) remove_stale_temps(run);
        if (rank == 0) fprintf(stderr, "resuming %s at step %d\n", run, tr.step);
    } else if (rank == 0) {
        char cdir[4096];
        snprintf(cdir, sizeof cdir, "%s/checkpoints", run);
        if (mkdir_p(cdir) || vdit_write_file_atomic(path, text, strlen(text), &err)) {
            fprintf(stderr, "vdit: %s: %s\n", run, errno ? strerror(errno) : err.msg);
            goto done;
        }
        snprintf(path, sizeof path, "%s/log.csv", run);
        if (vdit_write_file_atomic(path, LOG_HEADER, strlen(LOG_HEADER), &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/log.csv", run);
        log = fopen(path, "a");
        if (!log) {
            fprintf(stderr, "vdit: %s: %s\n", path, strerror(errno));
            goto done;
        }
    }

    size_t nv = (size_t)ls.T * ls.C * ls.H * ls.W;
    x0 = malloc((size_t)local_B * nv * sizeof(float));
    labels = malloc((size_t)local_B * sizeof(int));
    sh = (shuffle){ls.N, s.train.seed, -1, malloc((size_t)ls.N * sizeof(int))};
    if (!x0 || !labels || !sh.perm) {
        cli_fail("out of memory");
        goto done;
    }
    if (rank == 0)
        fprintf(stderr, "training %zu parameters on %d videos (grid %d,%d,%d x %d channels), %d steps of %d\n",
                tr.model.num_params, ls.N, ls.T, ls.H, ls.W, ls.C, s.train.steps, s.train.batch);
    progress pb;
    progress_start(&pb, "train", s.train.steps);
    double t0 = progress_now(), loss = 0, norm = 0;
    int last_saved = -1; /* step of the last model.safetensors this process wrote */
    while (tr.step < s.train.steps) {
        for (int j = 0; j < local_B; j++) {
            long g = (long)tr.step * s.train.batch + first + j;
            int idx = shuffle_index(&sh, g);
            memcpy(x0 + (size_t)j * nv, ls.x + (size_t)idx * nv, nv * sizeof(float));
            labels[j] = s.model.num_classes ? ls.labels[idx] : 0;
        }
        vdit_allreduce reduce = NULL;
#ifdef VDIT_HAVE_MPI
        if (nproc > 1) reduce = mpi_sum;
#endif
        if (vdit_trainer_step(&tr, x0, s.model.num_classes ? labels : NULL, first, reduce, NULL, &loss, &norm, &err)) {
            int steps[1024], n = list_states(run, steps, 1024);
            fprintf(stderr, "\nvdit: %s: training stopped: %s; the last checkpoint (step %d) is intact\n", run, err.msg,
                    n ? steps[n - 1] : 0);
            goto done;
        }
        if (rank == 0) {
            if (tr.step % s.log_every == 0 || tr.step == 1 || tr.step == s.train.steps) {
                fprintf(log, "%d,%.7g,%.7g,%.7g,%.3f\n", tr.step, loss, vdit_lr_at(&s.train, tr.step - 1), norm,
                        progress_now() - t0);
                fflush(log);
            }
            char extra[64];
            snprintf(extra, sizeof extra, "loss %.4f", loss);
            progress_update(&pb, tr.step, extra);
            if (tr.step % s.checkpoint_every == 0 || tr.step == s.train.steps) {
                char sp[4096], mp[4096];
                state_path(sp, sizeof sp, run, tr.step);
                snprintf(mp, sizeof mp, "%s/model.safetensors", run);
                /* the state first: model.safetensors never runs ahead of a resumable state */
                if (vdit_trainer_save(&tr, NULL, sp, &err) || vdit_trainer_save(&tr, mp, NULL, &err)) {
                    fprintf(stderr, "\nvdit: %s: checkpoint at step %d failed: %s\n", run, tr.step, err.msg);
                    goto done;
                }
                last_saved = tr.step;
                int steps[1024], n = list_states(run, steps, 1024);
                for (int i = 0; i + s.keep_checkpoints < n; i++) {
                    state_path(sp, sizeof sp, run, steps[i]);
                    unlink(sp);
                }
            }
        }
    }
    if (rank == 0 && last_saved != s.train.steps) {
        /* resumed at the end (killed between the state and the model file): the model from the state */
        snprintf(path, sizeof path, "%s/model.safetensors", run);
        if (vdit_trainer_save(&tr, path, NULL, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    if (rank == 0) {
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        progress_end(&pb, extra);
        fprintf(stderr, "wrote %s/model.safetensors\n", run);
    }
    rc = 0;
done:
    if (log) fclose(log);
    free(text), free(x0), free(labels), free(sh.perm);
    latent_set_free(&ls);
    vdit_trainer_free(&tr);
#ifdef VDIT_HAVE_MPI
    if (mpi_on) {
        if (rc) MPI_Abort(MPI_COMM_WORLD, rc);
        MPI_Finalize();
    }
#endif
    return rc;
}
