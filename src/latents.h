/* latents.h - a dataset's videos as the DiT sees them: pixels in [-1, 1]
 * ([N][T][3][S][S]) or, with a VAE, its scaled latents. */
#ifndef VDIT_LATENTS_H
#define VDIT_LATENTS_H

#include "vdit.h"

typedef struct {
    int N, T, C, H, W; /* latent videos [N][T][C][H][W] */
    int num_classes;   /* scenario labels 0..num_classes-1 */
    float *x;
    int *labels;     /* [N] */
    int S, frames;   /* the videos' size and frame count */
    uint8_t *videos; /* [N][frames][S][S][3] the videos themselves */
    vdit_vae_id vae; /* the VAE's identity (empty: pixels) */
} latent_set;

/* Loads the first `count` videos of the dataset in `dir` (all when 0) and,
 * when vae_path is not NULL, encodes them with that VAE. */
int load_latents(latent_set *ls, const char *dir, const char *vae_path, int count, vdit_err *err);
void latent_set_free(latent_set *ls);

#endif
