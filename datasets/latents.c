/* latents.c - a dataset's videos as the DiT's latent videos: pixels in
 * [-1, 1] or, through a VAE, its scaled latents (what `vdit train` trains
 * on and `vdit sample` continues). */
#include "datasets.h"

#include <stdlib.h>
#include <string.h>

void vdit_latent_set_free(vdit_latent_set *ls)
{
    free(ls->x);
    free(ls->labels);
    free(ls->videos);
    memset(ls, 0, sizeof *ls);
}

int vdit_latents_load(vdit_latent_set *ls, const char *dir, const char *vae_path, int count, vdit_err *err)
{
    memset(ls, 0, sizeof *ls);
    vdit_dataset ds;
    if (vdit_dataset_load(dir, &ds, err)) return -1;
    int rc = -1;
    int N = ds.count, T = ds.frames, S = ds.size;
    if (count > 0 && count < N) N = count;
    if (N < 1) {
        vdit_seterr(err, "%s: no videos", dir);
        goto done;
    }
    size_t nv = (size_t)T * 3 * S * S;
    const uint8_t *videos = ds.videos.data;
    const int32_t *labels = ds.labels.data;
    ls->labels = malloc((size_t)N * sizeof(int));
    ls->videos = malloc((size_t)N * nv);
    if (!ls->labels || !ls->videos) {
        vdit_seterr(err, "%s: out of memory for %d videos", dir, N);
        goto done;
    }
    for (int i = 0; i < N; i++) {
        ls->labels[i] = labels[i];
        if (labels[i] < 0 || labels[i] >= VDIT_NSCENARIOS) {
            vdit_seterr(err, "%s: video %d has label %d, not a scenario 0..%d", dir, i, labels[i], VDIT_NSCENARIOS - 1);
            goto done;
        }
    }
    memcpy(ls->videos, videos, (size_t)N * nv);
    ls->S = S, ls->frames = T;
    ls->num_classes = VDIT_NSCENARIOS;
    /* pixels (the latent video is the video in [-1, 1]) or the VAE's scaled latents */
    vdit_vae vae;
    if (vae_path && vdit_vae_load(&vae, vae_path, err)) goto done;
    vdit_pipeline p = {NULL, vae_path ? &vae : NULL, {0}, 8, NULL, NULL};
    int tf = vae_path ? vae.cfg.temporal : 1, down = vae_path ? vae.cfg.downsample : 1;
    int Tl = T / tf, Hl = S / down, C = vae_path ? vae.cfg.latent_channels : 3;
    ls->x = malloc((size_t)N * Tl * C * Hl * Hl * sizeof(float));
    int bad = !ls->x;
    if (bad) vdit_seterr(err, "%s: out of memory for the latents of %d videos", dir, N);
    if (!bad && vae_path && vdit_vae_check_shape(&vae, 1, T, S, S, err)) {
        vdit_err e2 = *err;
        vdit_seterr(err, "%s: videos of %d frames at %dx%d do not fit the VAE %s: %s", dir, T, S, S, vae_path, e2.msg);
        bad = 1;
    }
    bad = bad || vdit_pipeline_encode(&p, videos, N, T, S, ls->x, err) != 0;
    if (vae_path) ls->vae = vae.id, vdit_vae_free(&vae);
    if (bad) goto done;
    ls->N = N, ls->T = Tl, ls->C = C, ls->H = Hl, ls->W = Hl;
    rc = 0;
done:
    if (rc) vdit_latent_set_free(ls);
    vdit_dataset_free(&ds);
    return rc;
}
