/* pipeline.c - videos in, videos out: encode with the VAE (when the DiT
 * works on latents), sample with the DiT given the known frames, decode.
 * What `vdit sample`, `vdit eval --checkpoint` and a library user call to
 * continue a video or fill in its missing frames. Raw arrays only, no files.
 *
 * Shapes: videos uint8 [N][F][S][S][3] (RGB, as datasets store them);
 * latents float [N][T][C][H][W] with T = F / temporal, H = W = S / downsample
 * and C the VAE's latent channels (without a VAE: T = F, H = S, C = 3 and
 * the latent is the video in [-1, 1]). Masks are per latent frame.
 *
 * Videos are processed p->batch at a time; chunk b0 (the videos b0 ..
 * b0+batch-1) is sampled with the seed vdit_rng_at(sample.seed, b0), so a
 * video depends on the seed and the batch, not on how many videos follow.
 */
#include "vdit.h"

#include <stdlib.h>
#include <string.h>

int vdit_pipeline_check_vae(const vdit_dit *dit, const char *dit_path, const vdit_vae *vae, int force, vdit_err *err)
{
    const vdit_vae_id *t = &dit->trained_on;
    if (!t->crc32[0] || force || (vae && !strcmp(vae->id.crc32, t->crc32))) return 0;
    if (!vae)
        return vdit_seterr(err, "%s was trained on the latents of the VAE %s (crc32 %s): give it with --vae (or --force)",
                           dit_path, t->file, t->crc32);
    if (!strcmp(t->config, vae->id.config))
        return vdit_seterr(err,
                           "%s was trained on the VAE %s (crc32 %s), not %s (crc32 %s, the same config): give the VAE "
                           "it was trained on, or --force to run with this one",
                           dit_path, t->file, t->crc32, vae->id.file, vae->id.crc32);
    return vdit_seterr(err,
                       "%s was trained on the VAE %s (crc32 %s, config %s), not %s (crc32 %s, config %s): give the VAE "
                       "it was trained on, or --force to run with this one",
                       dit_path, t->file, t->crc32, t->config, vae->id.file, vae->id.crc32, vae->id.config);
}

/* The latents of videos of F frames at S x S through the VAE (or as pixels). */
static int latent_shape(const vdit_pipeline *p, int F, int S, int *T, int *C, int *H, vdit_err *err)
{
    if (p->batch < 1) return vdit_seterr(err, "pipeline batch %d must be at least 1", p->batch);
    if (F < 1 || S < 1) return vdit_seterr(err, "videos of %d frames at %dx%d", F, S, S);
    if (p->vae && vdit_vae_check_shape(p->vae, 1, F, S, S, err)) return -1;
    *T = F / (p->vae ? p->vae->cfg.temporal : 1);
    *C = p->vae ? p->vae->cfg.latent_channels : 3;
    *H = S / (p->vae ? p->vae->cfg.downsample : 1);
    return 0;
}

int vdit_pipeline_shape(const vdit_pipeline *p, int F, int S, int *T, int *C, int *H, vdit_err *err)
{
    if (!p->dit) return vdit_seterr(err, "pipeline without a DiT");
    const vdit_dit_config *c = &p->dit->cfg;
    if (p->vae && p->vae->cfg.latent_channels != c->latent_channels)
        return vdit_seterr(err, "the VAE has %d latent channels, the DiT %d", p->vae->cfg.latent_channels,
                           c->latent_channels);
    if (!p->vae && c->latent_channels != 3)
        return vdit_seterr(err, "the DiT's %d latent channels are not pixels: it needs its VAE", c->latent_channels);
    if (latent_shape(p, F, S, T, C, H, err)) return -1;
    if (c->grid[0] != *T || c->grid[1] != *H || c->grid[2] != *H)
        return vdit_seterr(err,
                           "videos of %d frames at %dx%d %s are [%d][%d][%d][%d] but the DiT's grid is "
                           "[%d][%d][%d][%d]",
                           F, S, S, p->vae ? "encoded by the VAE" : "as pixels", *T, *C, *H, *H, c->grid[0],
                           c->latent_channels, c->grid[1], c->grid[2]);
    return 0;
}

/* The pixel size of the DiT's grid: frames F and side S. */
static void video_size(const vdit_pipeline *p, int *F, int *S)
{
    const vdit_dit_config *c = &p->dit->cfg;
    *F = c->grid[0] * (p->vae ? p->vae->cfg.temporal : 1);
    *S = c->grid[1] * (p->vae ? p->vae->cfg.downsample : 1);
}

/* ------------------------------------------------------------------------
 * One chunk of at most p->batch videos
 * ---------------------------------------------------------------------- */

/* videos[nb][F][S][S][3] -> z[nb][T][C][H][W]; x[nb][F][3][S][S] is scratch. */
static int encode_chunk(const vdit_pipeline *p, const uint8_t *videos, int nb, int F, int S, float *x, float *z,
                        vdit_err *err)
{
    size_t np = (size_t)F * 3 * S * S;
    for (int i = 0; i < nb; i++) vdit_video_to_float((p->vae ? x : z) + i * np, videos + i * np, F, S, S);
    return p->vae ? vdit_vae_encode(p->vae, x, nb, F, S, S, z, err) : 0;
}

/* z[nb][T][C][H][W] -> videos[nb][F][S][S][3]; x[nb][F][3][S][S] is scratch. */
static int decode_chunk(const vdit_pipeline *p, const float *z, int nb, int F, int S, float *x, uint8_t *videos,
                        vdit_err *err)
{
    const vdit_dit_config *c = &p->dit->cfg;
    size_t np = (size_t)F * 3 * S * S;
    if (p->vae && vdit_vae_decode(p->vae, z, nb, c->grid[0], c->grid[1], c->grid[2], x, err)) return -1;
    for (int i = 0; i < nb; i++) vdit_video_to_u8(videos + i * np, (p->vae ? x : z) + i * np, F, S, S);
    return 0;
}

/* The nb videos of chunk b0: z[nb][T][C][H][W] from the context (read on
 * the known frames), known[nb][T] and labels[nb] (the null label beyond
 * the model's classes); window w > 0 of a rollout draws new noise. */
static int sample_chunk(const vdit_pipeline *p, int b0, int w, int nb, const float *context, const uint8_t *known,
                        const int *labels, float *z, vdit_err *err)
{
    const vdit_dit_config *c = &p->dit->cfg;
    vdit_sample_job job = {nb, c->grid[0], c->latent_channels, c->grid[1], c->grid[2], context, known, labels,
                           c->num_classes};
    vdit_sample_config sc = p->sample;
    sc.seed = vdit_rng_at(p->sample.seed, (uint64_t)b0); /* a seed per chunk */
    if (w) sc.seed = vdit_rng_at(sc.seed, (uint64_t)w);  /* and per rollout window */
    return vdit_sample_dit(p->dit, &sc, &job, z, err);
}

/* labels[N] (may be NULL) within 0..num_classes, the last the null label */
static int check_labels(const vdit_pipeline *p, const int *labels, int N, vdit_err *err)
{
    int nc = p->dit->cfg.num_classes;
    for (int i = 0; labels && i < N; i++)
        if (labels[i] < 0 || labels[i] > nc)
            return vdit_seterr(err, "video %d: label %d out of range 0..%d (%d is the null label)", i, labels[i], nc,
                               nc);
    return 0;
}

/* ------------------------------------------------------------------------
 * Whole sets
 * ---------------------------------------------------------------------- */

/* N videos p->batch at a time: vin[N][F][S][S][3] encoded to zout[N][nl],
 * or zin[N][nl] decoded to vout[N][F][S][S][3] (the other pair NULL). */
static int code_all(const vdit_pipeline *p, int N, int F, int S, size_t nl, const uint8_t *vin, float *zout,
                    const float *zin, uint8_t *vout, vdit_err *err)
{
    size_t np = (size_t)F * 3 * S * S;
    float *x = p->vae ? malloc((size_t)p->batch * np * sizeof(float)) : NULL;
    if (p->vae && !x) return vdit_seterr(err, "out of memory for a batch of %d videos", p->batch);
    int rc = 0;
    for (int b0 = 0; b0 < N && !rc; b0 += p->batch) {
        int nb = N - b0 < p->batch ? N - b0 : p->batch;
        rc = vin ? encode_chunk(p, vin + b0 * np, nb, F, S, x, zout + b0 * nl, err)
                 : decode_chunk(p, zin + b0 * nl, nb, F, S, x, vout + b0 * np, err);
    }
    free(x);
    return rc;
}

int vdit_pipeline_encode(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, float *z, vdit_err *err)
{
    int T, C, H; /* no DiT: the VAE's latents alone (a training set) */
    if (p->dit ? vdit_pipeline_shape(p, F, S, &T, &C, &H, err) : latent_shape(p, F, S, &T, &C, &H, err)) return -1;
    if (!videos || !z) return vdit_seterr(err, "no videos to encode");
    return code_all(p, N, F, S, (size_t)T * C * H * H, videos, z, NULL, NULL, err);
}

int vdit_pipeline_decode(const vdit_pipeline *p, const float *z, int N, uint8_t *videos, vdit_err *err)
{
    int F, S, T, C, H;
    video_size(p, &F, &S);
    if (vdit_pipeline_shape(p, F, S, &T, &C, &H, err)) return -1;
    if (!z || !videos) return vdit_seterr(err, "no latents to decode");
    return code_all(p, N, F, S, (size_t)T * C * H * H, NULL, NULL, z, videos, err);
}

int vdit_pipeline_continue(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, const uint8_t *known,
                           const int *labels, uint8_t *out, float *latents, vdit_err *err)
{
    int T, C, H;
    if (N < 1) return vdit_seterr(err, "no videos to continue (N = %d)", N);
    if (vdit_pipeline_shape(p, F, S, &T, &C, &H, err)) return -1;
    const vdit_dit_config *c = &p->dit->cfg;
    if (check_labels(p, labels, N, err)) return -1;
    if (!videos)
        for (size_t i = 0; known && i < (size_t)N * T; i++)
            if (known[i]) return vdit_seterr(err, "frame %zu of video %zu is known but no videos are given", i % T, i / T);
    int B = p->batch;
    size_t np = (size_t)F * 3 * S * S, nl = (size_t)T * C * H * H;
    float *x = malloc((size_t)B * np * sizeof(float)), *z = malloc((size_t)B * nl * sizeof(float));
    float *zo = latents ? NULL : malloc((size_t)B * nl * sizeof(float));
    int *y = malloc((size_t)B * sizeof(int));
    int rc = 0;
    if (!x || !z || (!latents && !zo) || !y) rc = vdit_seterr(err, "out of memory for a batch of %d videos", B);
    for (int b0 = 0; b0 < N && !rc; b0 += B) {
        int nb = N - b0 < B ? N - b0 : B;
        float *zb = latents ? latents + b0 * nl : zo;
        for (int i = 0; i < nb; i++) y[i] = labels ? labels[b0 + i] : c->num_classes;
        if (videos && (rc = encode_chunk(p, videos + b0 * np, nb, F, S, x, z, err))) break;
        /* nothing known: no context at all (the same bits as an all-zero mask) */
        if ((rc = sample_chunk(p, b0, 0, nb, videos ? z : NULL, videos && known ? known + (size_t)b0 * T : NULL, y, zb,
                               err)))
            break;
        if ((rc = decode_chunk(p, zb, nb, F, S, x, out + b0 * np, err))) break;
        if (p->progress) p->progress(p->progress_ctx, b0 + nb, N);
    }
    free(x), free(z), free(zo), free(y);
    return rc;
}

/* ------------------------------------------------------------------------
 * Rollouts: past the DiT's window by its own sliding window
 * ---------------------------------------------------------------------- */

/* Decodes Tt latent frames z[nb][Tt][nl1] window by window (T latent frames
 * each; the last one padded with copies of the final latent frame) into
 * videos[nb][Tt*tf][S][S][3]. zw[nb][T][nl1], vw[nb][T*tf][S][S][3] and
 * x are scratch. */
static int decode_long(const vdit_pipeline *p, const float *z, int nb, int Tt, int T, size_t nl1, int S, float *zw,
                       uint8_t *vw, float *x, uint8_t *videos, vdit_err *err)
{
    int tf = p->vae ? p->vae->cfg.temporal : 1, F = T * tf;
    size_t f1 = (size_t)S * S * 3;
    for (int s0 = 0; s0 < Tt; s0 += T) {
        int n = Tt - s0 < T ? Tt - s0 : T;
        for (int i = 0; i < nb; i++)
            for (int t = 0; t < T; t++)
                memcpy(zw + ((size_t)i * T + t) * nl1, z + ((size_t)i * Tt + s0 + (t < n ? t : n - 1)) * nl1,
                       nl1 * sizeof(float));
        if (decode_chunk(p, zw, nb, F, S, x, vw, err)) return -1;
        for (int i = 0; i < nb; i++)
            memcpy(videos + ((size_t)i * Tt * tf + (size_t)s0 * tf) * f1, vw + (size_t)i * F * f1, (size_t)n * tf * f1);
    }
    return 0;
}

int vdit_pipeline_rollout_windows(const vdit_pipeline *p, int frames, int context, int *windows, vdit_err *err)
{
    const vdit_dit_config *c = &p->dit->cfg;
    int T = c->grid[0], tf = p->vae ? p->vae->cfg.temporal : 1;
    if (context < 1 || context >= T)
        return vdit_seterr(err, "a rollout needs 1..%d context frames (the window is %d latent frames), not %d", T - 1, T,
                           context);
    if (frames < T * tf || frames % tf)
        return vdit_seterr(err, "a rollout of %d frames: at least the window's %d%s", frames, T * tf,
                           tf > 1 ? ", a multiple of the VAE's temporal factor" : "");
    int Tt = frames / tf;
    *windows = 1 + (Tt - T + (T - context) - 1) / (T - context);
    return 0;
}

int vdit_pipeline_rollout(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, int context, int frames,
                          const int *labels, uint8_t *out, float *latents, vdit_err *err)
{
    int T, C, H, nw;
    if (N < 1) return vdit_seterr(err, "no videos to roll out (N = %d)", N);
    if (!videos) return vdit_seterr(err, "a rollout continues videos: none given");
    if (vdit_pipeline_shape(p, F, S, &T, &C, &H, err) || vdit_pipeline_rollout_windows(p, frames, context, &nw, err))
        return -1;
    const vdit_dit_config *c = &p->dit->cfg;
    if (check_labels(p, labels, N, err)) return -1;
    int B = p->batch, tf = p->vae ? p->vae->cfg.temporal : 1, Tt = frames / tf, K = context;
    size_t np = (size_t)F * 3 * S * S, nl1 = (size_t)C * H * H, nl = (size_t)T * nl1, nt = (size_t)Tt * nl1;
    float *x = malloc((size_t)B * np * sizeof(float)), *z = malloc((size_t)B * nl * sizeof(float));
    float *zw = malloc((size_t)B * nl * sizeof(float));
    float *zall = latents ? NULL : malloc((size_t)B * nt * sizeof(float));
    uint8_t *known = calloc((size_t)B * T, 1), *vw = malloc((size_t)B * np);
    int *y = malloc((size_t)B * sizeof(int));
    int rc = 0;
    if (!x || !z || !zw || (!latents && !zall) || !known || !vw || !y)
        rc = vdit_seterr(err, "out of memory for a batch of %d rollouts", B);
    for (int i = 0; i < B * T && !rc; i++) known[i] = i % T < K;
    for (int b0 = 0; b0 < N && !rc; b0 += B) {
        int nb = N - b0 < B ? N - b0 : B;
        float *za = latents ? latents + b0 * nt : zall;
        for (int i = 0; i < nb; i++) y[i] = labels ? labels[b0 + i] : c->num_classes;
        /* window 0: the first K latent frames of the videos known, sampled
         * as vdit_pipeline_continue samples them (the same seed) */
        if ((rc = encode_chunk(p, videos + b0 * np, nb, F, S, x, z, err))) break;
        for (int w = 0, s0 = 0; w < nw && !rc; w++, s0 += T - K) {
            if ((rc = sample_chunk(p, b0, w, nb, z, known, y, zw, err))) break;
            /* frames s0 .. s0+T-1 of the rollout; the last window may run past Tt */
            int n = Tt - s0 < T ? Tt - s0 : T;
            for (int i = 0; i < nb; i++)
                memcpy(za + ((size_t)i * Tt + s0) * nl1, zw + (size_t)i * nl, (size_t)n * nl1 * sizeof(float));
            /* the next window's known frames: the last K this one sampled */
            for (int i = 0; i < nb; i++)
                memcpy(z + (size_t)i * nl, zw + (size_t)i * nl + (size_t)(T - K) * nl1, (size_t)K * nl1 * sizeof(float));
            if (p->progress) p->progress(p->progress_ctx, b0 * nw + (w + 1) * nb, N * nw);
        }
        if (!rc) rc = decode_long(p, za, nb, Tt, T, nl1, S, zw, vw, x, out + (size_t)b0 * frames * S * S * 3, err);
    }
    free(x), free(z), free(zw), free(zall), free(known), free(vw), free(y);
    return rc;
}
