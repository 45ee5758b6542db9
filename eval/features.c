/* features.c - the VAE encoder's features for the second Frechet distance:
 * the encoder's latent means [T'][C][H'][W'] of a video, average-pooled to
 * a 2x2 grid per latent frame and channel (D = T' * C * 4), so the
 * distribution is compared on a few hundred numbers per video while keeping
 * where things are in the frame. */
#include "eval.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    vdit_vae *vae;
    int T, S, Tl, C, Hl, Wl, P;
    float *x;    /* [T][3][S][S] */
    float *mean; /* [T'][C][H'][W'] */
} vae_ctx;

static int vae_feature(void *p, const uint8_t *video, int T, int S, double *feat, vdit_err *err)
{
    vae_ctx *c = p;
    if (T != c->T || S != c->S)
        return vdit_seterr(err, "VAE features: a %d-frame %dx%d video, expected %d frames at %dx%d", T, S, S, c->T,
                           c->S, c->S);
    vdit_video_to_float(c->x, video, T, S, S);
    if (vdit_vae_encode_moments(c->vae, c->x, 1, T, S, S, c->mean, NULL, err)) return -1;
    int P = c->P;
    for (int t = 0; t < c->Tl; t++)
        for (int ch = 0; ch < c->C; ch++) {
            const float *m = c->mean + ((size_t)t * c->C + ch) * c->Hl * c->Wl;
            for (int a = 0; a < P; a++)
                for (int b = 0; b < P; b++) {
                    int i0 = a * c->Hl / P, i1 = (a + 1) * c->Hl / P, j0 = b * c->Wl / P, j1 = (b + 1) * c->Wl / P;
                    double s = 0.0;
                    for (int i = i0; i < i1; i++)
                        for (int j = j0; j < j1; j++) s += m[(size_t)i * c->Wl + j];
                    *feat++ = s / ((double)(i1 - i0) * (j1 - j0));
                }
        }
    return 0;
}

int eval_vae_features(eval_feature_fn *f, vdit_vae *vae, int T, int S, vdit_err *err)
{
    memset(f, 0, sizeof *f);
    if (vdit_vae_check_shape(vae, 1, T, S, S, err)) return -1;
    vae_ctx *c = calloc(1, sizeof *c);
    if (!c) return vdit_seterr(err, "VAE features: out of memory");
    c->vae = vae, c->T = T, c->S = S;
    c->Tl = T / vae->cfg.temporal, c->C = vae->cfg.latent_channels;
    c->Hl = S / vae->cfg.downsample, c->Wl = c->Hl;
    c->P = c->Hl >= 2 ? 2 : 1;
    c->x = malloc((size_t)T * 3 * S * S * sizeof(float));
    c->mean = malloc((size_t)c->Tl * c->C * c->Hl * c->Wl * sizeof(float));
    if (!c->x || !c->mean) {
        free(c->x), free(c->mean), free(c);
        return vdit_seterr(err, "VAE features: out of memory");
    }
    f->dim = c->Tl * c->C * c->P * c->P;
    f->fn = vae_feature;
    f->ctx = c;
    f->name = "vae";
    return 0;
}

void eval_vae_features_free(eval_feature_fn *f)
{
    vae_ctx *c = f->ctx;
    if (c) free(c->x), free(c->mean), free(c);
    memset(f, 0, sizeof *f);
}
