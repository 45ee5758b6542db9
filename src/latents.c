/* latents.c - a dataset's videos as the DiT's latent videos. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "latents.h"

#define NUM_SCENARIOS 5 /* uniform, parabola, collision, bounce, occlusion */

void latent_set_free(latent_set *ls)
{
    free(ls->x);
    free(ls->labels);
    free(ls->videos);
    memset(ls, 0, sizeof *ls);
}

int load_latents(latent_set *ls, const char *dir, const char *vae_path, int count, vdit_err *err)
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
        if (labels[i] < 0 || labels[i] >= NUM_SCENARIOS) {
            vdit_seterr(err, "%s: video %d has label %d, not a scenario 0..%d", dir, i, labels[i], NUM_SCENARIOS - 1);
            goto done;
        }
    }
    memcpy(ls->videos, videos, (size_t)N * nv);
    ls->S = S, ls->frames = T;
    ls->num_classes = NUM_SCENARIOS;
    if (!vae_path) { /* pixels: the latent video is the video in [-1, 1] */
        ls->x = malloc((size_t)N * nv * sizeof(float));
        if (!ls->x) {
            vdit_seterr(err, "%s: out of memory for %d videos", dir, N);
            goto done;
        }
        for (int i = 0; i < N; i++) vdit_video_to_float(ls->x + (size_t)i * nv, videos + (size_t)i * T * S * S * 3, T, S, S);
        ls->N = N, ls->T = T, ls->C = 3, ls->H = S, ls->W = S;
    } else { /* the VAE's scaled latents, a few videos at a time */
        vdit_vae vae;
        if (vdit_vae_load(&vae, vae_path, err)) goto done;
        const int chunk = 8;
        float *x = malloc((size_t)chunk * nv * sizeof(float));
        int Tl = T / vae.cfg.temporal, Hl = S / vae.cfg.downsample, C = vae.cfg.latent_channels;
        size_t nl = (size_t)Tl * C * Hl * Hl;
        ls->x = malloc((size_t)N * nl * sizeof(float));
        int bad = !x || !ls->x;
        if (bad) vdit_seterr(err, "%s: out of memory for the latents of %d videos", dir, N);
        if (!bad && vdit_vae_check_shape(&vae, 1, T, S, S, err)) {
            vdit_err e2 = *err;
            vdit_seterr(err, "%s: videos of %d frames at %dx%d do not fit the VAE %s: %s", dir, T, S, S, vae_path, e2.msg);
            bad = 1;
        }
        for (int i0 = 0; i0 < N && !bad; i0 += chunk) {
            int nb = N - i0 < chunk ? N - i0 : chunk;
            for (int j = 0; j < nb; j++)
                vdit_video_to_float(x + (size_t)j * nv, videos + (size_t)(i0 + j) * T * S * S * 3, T, S, S);
            bad = vdit_vae_encode(&vae, x, nb, T, S, S, ls->x + (size_t)i0 * nl, err) != 0;
        }
        free(x);
        vdit_vae_free(&vae);
        if (bad) goto done;
        ls->N = N, ls->T = Tl, ls->C = C, ls->H = Hl, ls->W = Hl;
    }
    rc = 0;
done:
    if (rc) latent_set_free(ls);
    vdit_dataset_free(&ds);
    return rc;
}
