/* train_settings.c - the DiT's training settings ([model], [train], [data])
 * as a table of INI keys with their defaults and checks: what `vdit train
 * --config` reads and the resolved config.ini a run keeps (vdit.h). */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "vdit.h"

static const char *const ATTENTION[] = {"full", "st", NULL};
static const char *const OBJECTIVE[] = {"eps", "flow", NULL};
static const char *const TIME_SAMPLING[] = {"uniform", "logit-normal", NULL};

/* [model] size: a registry name, whose values the keys after it override */
static int parse_size(void *settings, const char *value, char *msg, size_t cap)
{
    vdit_train_settings *s = settings;
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
    vdit_train_settings *s = settings;
    if (strlen(value) >= sizeof s->context_probs_text) {
        snprintf(msg, cap, "is too long");
        return -1;
    }
    snprintf(s->context_probs_text, sizeof s->context_probs_text, "%s", value);
    return 0;
}

/* [data] mask_tasks: P(prefix), P(suffix), P(ends), P(gap) */
static int parse_mask_tasks(void *settings, const char *value, char *msg, size_t cap)
{
    vdit_train_settings *s = settings;
    float v[VDIT_NMASK_TASKS];
    const char *p = value;
    int n = 0;
    while (n < VDIT_NMASK_TASKS) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x >= 0)) break;
        v[n++] = (float)x;
        p = end;
        while (*p == ' ') p++;
        if (*p != ',') break;
        p++;
    }
    if (n != VDIT_NMASK_TASKS || *p) {
        snprintf(msg, cap, "must be %d probabilities: continue (prefix), extend backward (suffix), interpolate (ends), "
                           "fill (gap)", VDIT_NMASK_TASKS);
        return -1;
    }
    memcpy(s->train.mask_tasks, v, sizeof v);
    return 0;
}

static void format_mask_tasks(const void *settings, char *out, size_t cap)
{
    const float *m = ((const vdit_train_settings *)settings)->train.mask_tasks;
    snprintf(out, cap, "%.7g,%.7g,%.7g,%.7g", m[0], m[1], m[2], m[3]);
}

#define OFF(f) offsetof(vdit_train_settings, f)
static const vdit__setting_key KEYS[] = {
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
    {"data", "context_noise", SET_FLOAT, OFF(train.context_noise), NULL, 0, 0, NULL, NULL},
    {"data", "mask_tasks", SET_CUSTOM, OFF(train.mask_tasks), NULL, 0, 0, parse_mask_tasks, format_mask_tasks},
    {"data", "labels", SET_BOOL, OFF(use_labels), NULL, 0, 0, NULL, NULL},
    {"data", "count", SET_INT, OFF(count), NULL, 0, 1000000000, NULL, NULL},
};
#define NKEYS (int)(sizeof KEYS / sizeof KEYS[0])

static void settings_default(vdit_train_settings *s)
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
static int parse_probs(vdit_train_settings *s, char *msg, size_t cap)
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

int vdit_train_settings_load(vdit_train_settings *s, const char *path, vdit_err *err)
{
    settings_default(s);
    if (vdit__settings_read(path, KEYS, NKEYS, s, err)) return -1;
    char msg[512];
    if (parse_probs(s, msg, sizeof msg)) return vdit__settings_err(err, "%s: %s", path, msg);
    vdit_err check;
    if (vdit_train_config_check(&s->train, &check)) return vdit__settings_err(err, "%s: %s", path, check.msg);
    return 0;
}

char *vdit_train_settings_text(const vdit_train_settings *s, const char *data, const char *vae)
{
    char header[8192];
    snprintf(header, sizeof header,
             "# resolved by vdit train\n# data = %s\n# vae = %s\n# latent grid %d,%d,%d, %d channels, %d classes\n", data,
             vae ? vae : "(none: pixels)", s->model.grid[0], s->model.grid[1], s->model.grid[2],
             s->model.latent_channels, s->model.num_classes);
    return vdit__settings_to_ini(KEYS, NKEYS, s, header);
}
