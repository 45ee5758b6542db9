/* vae_settings.c - the VAE's training settings ([model], [loss], [train],
 * [data]) as a table of INI keys: what `vdit vae train --config` and `vdit
 * bench vae --config` read (vdit.h). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "vdit.h"

static const char *const RECON[] = {"l1", "mse", NULL};

/* [model] channels = "32,64,64": one width per level */
static int parse_channels(void *settings, const char *value, char *msg, size_t cap)
{
    vdit_vae_settings *s = settings;
    int w[VDIT_VAE_MAX_LEVELS] = {0}, n = 0;
    const char *p = value;
    char *end;
    while (1) {
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > 4096 || n == VDIT_VAE_MAX_LEVELS || (*end && *end != ',') ||
            strlen(value) >= sizeof s->channels_text) {
            snprintf(msg, cap, "must be 1..%d comma-separated widths in 1..4096, one per level", VDIT_VAE_MAX_LEVELS);
            return -1;
        }
        w[n++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    snprintf(s->channels_text, sizeof s->channels_text, "%s", value);
    memcpy(s->model.channels, w, sizeof w);
    return 0;
}

#define OFF(f) offsetof(vdit_vae_settings, f)
static const vdit__setting_key KEYS[] = {
    {"model", "channels", SET_CUSTOM, OFF(channels_text), NULL, 0, 0, parse_channels, NULL},
    {"model", "res_blocks", SET_INT, OFF(model.res_blocks), NULL, 1, VDIT_VAE_MAX_BLOCKS, NULL, NULL},
    {"model", "mid_blocks", SET_INT, OFF(model.mid_blocks), NULL, 0, VDIT_VAE_MAX_MID, NULL, NULL},
    {"model", "downsample", SET_INT, OFF(model.downsample), NULL, 2, 8, NULL, NULL},
    {"model", "temporal", SET_INT, OFF(model.temporal), NULL, 1, 2, NULL, NULL},
    {"model", "latent_channels", SET_INT, OFF(model.latent_channels), NULL, 1, 256, NULL, NULL},
    {"model", "groups", SET_INT, OFF(model.groups), NULL, 1, 4096, NULL, NULL},
    {"loss", "recon", SET_CHOICE, OFF(train.recon), RECON, 0, 0, NULL, NULL},
    {"loss", "kl_weight", SET_FLOAT, OFF(train.kl_weight), NULL, 0, 1e6, NULL, NULL},
    {"train", "lr", SET_FLOAT, OFF(train.lr), NULL, 0, 10, NULL, NULL},
    {"train", "min_lr", SET_FLOAT, OFF(train.min_lr), NULL, 0, 10, NULL, NULL},
    {"train", "warmup", SET_INT, OFF(train.warmup), NULL, 0, 1e9, NULL, NULL},
    {"train", "weight_decay", SET_FLOAT, OFF(train.weight_decay), NULL, 0, 10, NULL, NULL},
    {"train", "beta1", SET_FLOAT, OFF(train.beta1), NULL, 0, 0.999999, NULL, NULL},
    {"train", "beta2", SET_FLOAT, OFF(train.beta2), NULL, 0, 0.999999, NULL, NULL},
    {"train", "grad_clip", SET_FLOAT, OFF(train.grad_clip), NULL, 0, 1e9, NULL, NULL},
    {"train", "ema_decay", SET_FLOAT, OFF(train.ema_decay), NULL, 0, 0.999999, NULL, NULL},
    {"train", "batch", SET_INT, OFF(train.batch), NULL, 1, 65536, NULL, NULL},
    {"train", "clip_frames", SET_INT, OFF(train.clip_frames), NULL, 0, 4096, NULL, NULL},
    {"train", "steps", SET_INT, OFF(train.steps), NULL, 0, 1e9, NULL, NULL},
    {"train", "minutes", SET_FLOAT, OFF(train.minutes), NULL, 0, 1e6, NULL, NULL},
    {"train", "seed", SET_U64, OFF(train.seed), NULL, 0, 0, NULL, NULL},
    {"train", "val_split", SET_FLOAT, OFF(train.val_split), NULL, 0, 0.5, NULL, NULL},
    {"train", "log_interval", SET_INT, OFF(train.log_interval), NULL, 1, 1e9, NULL, NULL},
    {"train", "val_interval", SET_INT, OFF(train.val_interval), NULL, 0, 1e9, NULL, NULL},
    {"train", "checkpoint_every", SET_INT, OFF(checkpoint_every), NULL, 0, 1e9, NULL, NULL},
    {"data", "count", SET_INT, OFF(count), NULL, 0, 1e9, NULL, NULL},
};
#define NKEYS (int)(sizeof KEYS / sizeof KEYS[0])

void vdit_vae_settings_default(vdit_vae_settings *s)
{
    memset(s, 0, sizeof *s);
    vdit_vae_config_default(&s->model);
    vdit_vae_train_config_default(&s->train);
    snprintf(s->channels_text, sizeof s->channels_text, "32,64,64");
    s->checkpoint_every = 500;
}

int vdit_vae_settings_load(vdit_vae_settings *s, const char *path, vdit_err *err)
{
    vdit_vae_settings_default(s);
    if (vdit__settings_read(path, KEYS, NKEYS, s, err)) return -1;
    vdit_err check;
    if (vdit_vae_config_check(&s->model, &check)) return vdit__settings_err(err, "%s: [model] %s", path, check.msg);
    if (!s->train.clip_frames) s->train.clip_frames = s->model.temporal == 2 ? 8 : 1;
    if (vdit_vae_train_config_check(&s->train, &s->model, &check))
        return vdit__settings_err(err, "%s: %s", path, check.msg);
    return 0;
}

char *vdit_vae_settings_json(const vdit_vae_settings *s, const char *data, int size, int steps, double seconds,
                             double val_psnr)
{
    const vdit_vae_train_config *t = &s->train;
    json_t *o = json_pack("{s:s, s:i, s:s, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:f, s:f, s:I, s:f, s:i, s:f, s:f}", "data",
                          data, "size", size, "recon", RECON[t->recon], "kl_weight", (double)t->kl_weight, "lr",
                          (double)t->lr, "min_lr", (double)t->min_lr, "warmup", t->warmup, "batch", t->batch,
                          "clip_frames", t->clip_frames, "weight_decay", (double)t->weight_decay, "grad_clip",
                          (double)t->grad_clip, "ema_decay", (double)t->ema_decay, "seed", (json_int_t)t->seed,
                          "val_split", (double)t->val_split, "steps", steps, "seconds", seconds, "val_psnr", val_psnr);
    if (!o) return NULL;
    char *j = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return j;
}
