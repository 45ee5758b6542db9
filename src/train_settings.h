/* train_settings.h - `vdit train`'s settings: the INI file ([model],
 * [train], [data]) key by key, and the resolved config.ini a run writes. */
#ifndef VDIT_TRAIN_SETTINGS_H
#define VDIT_TRAIN_SETTINGS_H

#include "vdit.h"

typedef struct {
    vdit_dit_config model;
    vdit_train_config train;
    int checkpoint_every, keep_checkpoints, log_every;
    int use_labels; /* condition on the scenario label */
    int count;      /* use the first `count` videos (0: all) */
    char context_probs_text[256];
    char size[64]; /* a registry name (VDiT-S/2), or "" */
} train_settings;

/* The defaults, then the file at path; errors are printed with file:line. */
int train_settings_load(train_settings *s, const char *path);
/* Every key with its resolved value (malloc'ed), so the run directory says
 * exactly what ran; the header names the data, the VAE and the latent grid. */
char *train_settings_text(const train_settings *s, const char *data, const char *vae);

#endif
