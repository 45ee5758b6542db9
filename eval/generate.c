/* generate.c - the checkpoint path of `vdit eval`: continue the first
 * frames of every truth video with the DiT (in the VAE's latent space when
 * the pipeline has a VAE, else in pixels). */
#include "eval.h"

#include <stdlib.h>

int eval_generate(const vdit_pipeline *p, const eval_truth_set *t, eval_videos *out, vdit_err *err)
{
    int num_classes = p->dit->cfg.num_classes, T, C, H;
    if (vdit_pipeline_shape(p, t->T, t->S, &T, &C, &H, err)) return -1;
    int known_frames = t->ctx / (p->vae ? p->vae->cfg.temporal : 1);
    if (known_frames < 1) known_frames = 1;
    out->N = t->N, out->T = t->T, out->S = t->S;
    out->data = malloc((size_t)t->N * t->T * t->S * t->S * 3);
    uint8_t *known = malloc((size_t)t->N * T);
    int *labels = malloc((size_t)t->N * sizeof(int));
    int rc = !out->data || !known || !labels ? vdit_seterr(err, "out of memory for %d videos", t->N) : 0;
    for (int i = 0; !rc && i < t->N; i++) {
        for (int k = 0; k < T; k++) known[(size_t)i * T + k] = k < known_frames;
        labels[i] = t->labels[i] < num_classes ? t->labels[i] : num_classes; /* unknown scenario: null */
    }
    if (!rc) {
        if (p->progress) p->progress(p->progress_ctx, 0, t->N);
        rc = vdit_pipeline_continue(p, t->videos, t->N, t->T, t->S, known, labels, out->data, NULL, err);
    }
    free(known), free(labels);
    return rc;
}
