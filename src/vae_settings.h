/* vae_settings.h - `vdit vae train`'s INI file ([model], [loss], [train],
 * [data]) as the library's VAE config and training config; shared by
 * `vdit vae train`, `vdit bench vae` and the INI fuzz target. */
#ifndef VDIT_VAE_SETTINGS_H
#define VDIT_VAE_SETTINGS_H

#include "vdit.h"

typedef struct {
    vdit_vae_config model;
    vdit_vae_train_config train;
    int checkpoint_every; /* a training state every N steps and at the last (0: none) */
    int count;            /* use the first `count` videos (0: all) */
    char channels_text[64];
} vae_settings;

/* The defaults (the library's, [model] channels 32,64,64; clip_frames 0). */
void vae_settings_default(vae_settings *s);
/* Defaults, then the file; clip_frames 0 becomes 1 (temporal 1) or 8;
 * prints "vdit: PATH..." and returns -1 on any error. */
int vae_settings_load(vae_settings *s, const char *path);
/* The settings as the JSON kept in the checkpoint's metadata ("train"),
 * with the run's data, frame size, steps, time and validation PSNR. */
char *vae_settings_json(const vae_settings *s, const char *data, int size, int steps, double seconds,
                        double val_psnr);

#endif
