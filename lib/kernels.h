/* kernels.h - the layers of the DiT (lib/kernels.c) and of the VAE
 * (lib/conv.c): libvdit's internal header, not installed; the tests and
 * the benchmarks include it to check and time the layers one by one.
 *
 * Each layer is a pair vdit_layer_forward / vdit_layer_backward; backward
 * accumulates (+=) into its gradients. A kernel with an optimised path keeps
 * its plain-loop version beside it (suffix _ref) as the test reference.
 * A layer never allocates: a layer that needs working memory takes it as
 * its last argument, `work`, of vdit_LAYER_scratch(shape) floats, from its
 * caller (the model's activation table); it holds nothing between calls.
 * A scratch size counts the OpenMP threads (omp_get_max_threads()) at the
 * time of the call: size it under the thread count the layer will run with.
 */
#ifndef VDIT_KERNELS_H
#define VDIT_KERNELS_H

#include "vdit.h"

#ifdef __cplusplus
extern "C" {
#endif


/* out[M][OC] = inp[M][IC] @ w[OC][IC]^T + b[OC]   (b may be NULL; cblas_sgemm) */
void vdit_linear_forward(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC);
void vdit_linear_forward_ref(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC);
/* dinp[M][IC] += dout @ w;  dw[OC][IC] += dout^T @ inp;  db[OC] += sum_m dout.
 * dinp and db may be NULL. */
void vdit_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int M, int IC, int OC);
void vdit_linear_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                              const float *w, int M, int IC, int OC);

/* LayerNorm over D, eps 1e-6, no affine: xhat[M][D] = (x - mean) * rstd. */
#define VDIT_LN_EPS 1e-6f
void vdit_layernorm_forward(float *xhat, float *rstd, const float *x, int M, int D);
void vdit_layernorm_forward_ref(float *xhat, float *rstd, const float *x, int M, int D);
/* dx[M][D] += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
void vdit_layernorm_backward(float *dx, const float *dxhat, const float *xhat, const float *rstd, int M, int D);
void vdit_layernorm_backward_ref(float *dx, const float *dxhat, const float *xhat, const float *rstd, int M, int D);
/* LayerNorm and adaLN modulation in one pass over x[B][N][D] (M = B*N rows):
 * xhat, rstd as vdit_layernorm_forward, h = xhat * (1 + scale[b]) + shift[b] as
 * vdit_adaln_modulate_forward; the same bits as the two calls. */
void vdit_layernorm_modulate_forward(float *h, float *xhat, float *rstd, const float *x, const float *shift,
                                     const float *scale, int B, int N, int D, int mod_stride);

/* adaLN modulation: out[B][N][D] = xhat * (1 + scale[b]) + shift[b].
 * shift and scale point into a per-sample modulation vector of stride
 * mod_stride floats (the chunks of adaLN_modulation's output). */
void vdit_adaln_modulate_forward(float *out, const float *xhat, const float *shift, const float *scale,
                                 int B, int N, int D, int mod_stride);
void vdit_adaln_modulate_forward_ref(float *out, const float *xhat, const float *shift, const float *scale,
                                     int B, int N, int D, int mod_stride);
void vdit_adaln_modulate_backward(float *dxhat, float *dshift, float *dscale, const float *dout,
                                  const float *xhat, const float *scale, int B, int N, int D, int mod_stride);
void vdit_adaln_modulate_backward_ref(float *dxhat, float *dshift, float *dscale, const float *dout,
                                      const float *xhat, const float *scale, int B, int N, int D, int mod_stride);

/* Gated residual: out[B][N][D] = x + gate[b] * y  (gate of stride mod_stride;
 * out may be x). */
void vdit_gated_residual_forward(float *out, const float *x, const float *gate, const float *y, int B, int N, int D,
                                 int mod_stride);
void vdit_gated_residual_forward_ref(float *out, const float *x, const float *gate, const float *y, int B, int N, int D,
                                     int mod_stride);
/* dy += dx * gate;  dgate += sum_n dx * y  (dx itself flows on unchanged) */
void vdit_gated_residual_backward(float *dy, float *dgate, const float *dx, const float *gate, const float *y,
                                  int B, int N, int D, int mod_stride);
void vdit_gated_residual_backward_ref(float *dy, float *dgate, const float *dx, const float *gate, const float *y,
                                      int B, int N, int D, int mod_stride);

/* GELU, tanh approximation; SiLU. n elements. The fast GELU computes tanh
 * from a vectorised exp; the _ref versions call libm's tanhf. */
void vdit_gelu_forward(float *out, const float *inp, size_t n);
void vdit_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void vdit_gelu_forward_ref(float *out, const float *inp, size_t n);
void vdit_gelu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
/* The widest vector path the exp loops (GELU, attention's softmax) may take:
 * 16 lanes (AVX-512F, where the CPU has it; the default), 8 or 1 (scalar).
 * Every path gives the same bits; for tests and benchmarks. Returns the
 * previous setting. Not thread-safe: set it before the work starts. */
int vdit_kernel_lanes(int lanes);
void vdit_silu_forward(float *out, const float *inp, size_t n);
void vdit_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* Multi-head attention over a token grid (nt, nh, nw), N = nt*nh*nw, token
 * n = (it*nh + ih)*nw + iw. Scope (vdit.h's vdit_attention): VDIT_ATTN_FULL
 * (every token), VDIT_ATTN_SPATIAL (tokens of the same it), VDIT_ATTN_TEMPORAL
 * (tokens of the same (ih, iw)). */
typedef struct {
    int B, nt, nh, nw, D, NH;
    vdit_attention scope;
} vdit_attn_shape;
/* out[B][N][D] = concat_h softmax(q k^T / sqrt(dh)) v with q, k, v the three
 * D-column blocks of qkv[B][N][3D]; lse[B][NH][N] keeps each row's
 * log-sum-exp so backward can recompute the probabilities. The scope splits
 * the tokens into groups that attend within themselves (one group of N,
 * nt frames of nh*nw, or nh*nw columns of nt); each group is done with
 * sgemm in query tiles of VDIT_ATTN_TILE rows, so memory grows linearly
 * with the tokens: no N x N matrix is ever held. */
#define VDIT_ATTN_TILE 64
/* floats of `work` that vdit_attention_forward and _backward need: one
 * slice per OpenMP thread (omp_get_max_threads()), each holding a group's
 * q, k, v, o, their gradients and a tile of scores (backward's needs, which
 * cover forward's). */
size_t vdit_attention_scratch(vdit_attn_shape s);
void vdit_attention_forward(float *out, float *lse, const float *qkv, vdit_attn_shape s, float *work);
/* dqkv[B][N][3D] += d/dqkv of out = softmax(q k^T * scale) v */
void vdit_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                             const float *lse, vdit_attn_shape s, float *work);
/* Plain references: the forward computes the masked scores of each query
 * row over all N keys in double; the backward walks query rows and their
 * keys one by one. */
void vdit_attention_forward_ref(float *out, const float *qkv, vdit_attn_shape s);
void vdit_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                                 const float *lse, vdit_attn_shape s);

/* Spacetime patches of a video x[B][T][C][H][W] with patch (pt, ph, pw):
 * xp[B][N][P], P = C*pt*ph*pw ordered (c, dt, dy, dx) (the Conv3d's order). */
void vdit_patchify(float *xp, const float *x, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* The inverse scatter for vdit_patchify (accumulates): dx[B][T][C][H][W] += ... */
void vdit_patchify_backward(float *dx, const float *dxp, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* Tokens tok[B][N][P] with P ordered (dt, dy, dx, c) (DiT's unpatchify) back
 * to video[B][T][C][H][W]. */
void vdit_unpatchify_forward(float *video, const float *tok, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* dtok[B][N][P] += gather of dvideo */
void vdit_unpatchify_backward(float *dtok, const float *dvideo, int B, int T, int C, int H, int W, int pt, int ph,
                              int pw);

/* Patch embedding (x_embedder.proj, a Conv3d with kernel = stride = patch):
 * xp = vdit_patchify(x); out[B][N][D] = xp @ w[D][P]^T + b + pos[N][D] (pos may be NULL). */
void vdit_patch_embed_forward(float *out, float *xp, const float *x, const float *w, const float *b,
                              const float *pos, int B, int T, int C, int H, int W, int pt, int ph, int pw, int D);
/* dw, db += ...; dx (may be NULL) += d/dx, through dxp, scratch of B*N*P
 * floats (NULL when dx is NULL). */
void vdit_patch_embed_backward(float *dx, float *dw, float *db, const float *dout, const float *xp, const float *w,
                               int B, int T, int C, int H, int W, int pt, int ph, int pw, int D, float *dxp);

/* Fixed sin-cos positional embedding pos[N][D] of the contract:
 * pos[n] = concat(sincos1d_{D/2}(iw), sincos1d_{D/2}(ih)) + sincos1d_D(it). */
void vdit_pos_embed_sincos(float *pos, int nt, int nh, int nw, int D);
/* sincos1d_D(p): [sin(p*omega_i)..., cos(p*omega_i)...], omega_i = 10000^(-i/(D/2)). */
void vdit_sincos1d(float *out, int D, double p);

/* Timestep frequencies: out[B][256] = [cos(t*freq), sin(t*freq)],
 * freq_i = exp(-ln(10000) i / 128). */
#define VDIT_TFREQ 256
void vdit_timestep_embedding(float *out, const float *t, int B);

/* Label embedding: c[B][D] += table[y[b]][D]; backward dtable[y[b]] += dc[b]. */
void vdit_label_embed_forward(float *c, const float *table, const int *y, int B, int D);
void vdit_label_embed_backward(float *dtable, const float *dc, const int *y, int B, int D);
/* ------------------------------------------------------------------------
 * The VAE's layers (lib/conv.c)
 * ---------------------------------------------------------------------- */

/* conv2d on images inp[N][IC][H][W] with w[OC][IC][KH][KW], b[OC] (NULL: no
 * bias), zero padding `pad` on every side, the same stride both ways:
 * out[N][OC][OH][OW], OH = (H + 2 pad - KH) / stride + 1.
 * im2col + cblas_sgemm, images split over the OpenMP threads. */
typedef struct {
    int N, IC, H, W;
    int OC, KH, KW;
    int stride, pad;
} vdit_conv2d_shape;
int vdit_conv2d_out_h(vdit_conv2d_shape s);
int vdit_conv2d_out_w(vdit_conv2d_shape s);
/* floats of `work` for vdit_conv2d_forward and _backward (either): per
 * thread that runs images, a column buffer and partial weight gradients;
 * the transposed weights */
size_t vdit_conv2d_scratch(vdit_conv2d_shape s);
void vdit_conv2d_forward(float *out, const float *inp, const float *w, const float *b, vdit_conv2d_shape s,
                         float *work);
void vdit_conv2d_forward_ref(float *out, const float *inp, const float *w, const float *b, vdit_conv2d_shape s);
/* dinp[N][IC][H][W] += ..., dw += ..., db += ... (dinp, dw, db may be NULL). */
void vdit_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          vdit_conv2d_shape s, float *work);
void vdit_conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                              vdit_conv2d_shape s);

/* conv3d on frame-major videos inp[B][T][IC][H][W] (the layout of model.md)
 * with w[OC][IC][KT][KH][KW] (PyTorch's Conv3d), b[OC]:
 * out[B][OT][OC][OH][OW]. Time: stride st, pt zero frames before the first
 * and, unless causal, pt after the last. causal = 1 pads only the past; with
 * pt = KT - st output frame t' sees input frames up to t'*st + st - 1 only. */
typedef struct {
    int B, T, IC, H, W;
    int OC, KT, KH, KW;
    int st, ss; /* temporal, spatial stride */
    int pt, ps; /* temporal, spatial zero padding */
    int causal;
} vdit_conv3d_shape;
int vdit_conv3d_out_t(vdit_conv3d_shape s);
int vdit_conv3d_out_h(vdit_conv3d_shape s);
int vdit_conv3d_out_w(vdit_conv3d_shape s);
/* floats of `work` for vdit_conv3d_forward and _backward (either) */
size_t vdit_conv3d_scratch(vdit_conv3d_shape s);
void vdit_conv3d_forward(float *out, const float *inp, const float *w, const float *b, vdit_conv3d_shape s,
                         float *work);
void vdit_conv3d_forward_ref(float *out, const float *inp, const float *w, const float *b, vdit_conv3d_shape s);
void vdit_conv3d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          vdit_conv3d_shape s, float *work);
void vdit_conv3d_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                              vdit_conv3d_shape s);

/* GroupNorm per image with affine: x[N][C][HW] in G groups of C/G channels,
 * out = (x - mean_g) * rstd_g * gamma[c] + beta[c]; mean, rstd [N][G]. */
#define VDIT_GN_EPS 1e-6f
void vdit_groupnorm_forward(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta,
                            int N, int C, int HW, int G);
void vdit_groupnorm_forward_ref(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                const float *beta, int N, int C, int HW, int G);
/* dx (may be NULL), dgamma[C], dbeta[C] += ...; work: the per-image channel
 * sums, vdit_groupnorm_scratch(N, C) floats */
size_t vdit_groupnorm_scratch(int N, int C);
void vdit_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int N, int C, int HW, int G,
                             float *work);
void vdit_groupnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                                 const float *mean, const float *rstd, const float *gamma, int N, int C, int HW, int G);

/* Nearest upsampling of inp[B][T][C][H][W] by ft in time, fs in space:
 * out[B][T*ft][C][H*fs][W*fs]; backward dinp += the sum over each block. */
void vdit_upsample_nearest_forward(float *out, const float *inp, int B, int T, int C, int H, int W, int ft, int fs);
void vdit_upsample_nearest_backward(float *dinp, const float *dout, int B, int T, int C, int H, int W, int ft, int fs);

#ifdef __cplusplus
}
#endif

#endif /* VDIT_KERNELS_H */
