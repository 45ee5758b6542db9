/* kernels.c - the layers of the DiT, each a forward / backward pair.
 *
 * Shape letters: B batch, T frames, C channels, H W height width, N tokens,
 * D hidden, NH heads, P patch vector. Backward functions accumulate (+=).
 * GEMMs go through OpenBLAS; other loops are plain C with OpenMP where the
 * work is large. Every optimised path has a plain version (_ref) beside it.
 * Nothing here allocates: attention's working memory comes from the caller
 * (vdit_attention_scratch), the exp of GELU and softmax from simd.c.
 */
#include "kernels.h"
#include "simd.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Loops shorter than this many elements stay on one thread. */
#define PAR_MIN 16384

/* ------------------------------------------------------------------------
 * Linear (PyTorch layout: w[OC][IC])
 * ---------------------------------------------------------------------- */

void vdit_linear_forward(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC)
{
    /* out = b (broadcast), then out += inp @ w^T in one sgemm */
    float beta = 0.0f;
    if (b) {
#pragma omp parallel for schedule(dynamic, 64) if ((size_t)M * OC >= PAR_MIN)
        for (int m = 0; m < M; m++) memcpy(out + (size_t)m * OC, b, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, IC, 1.0f, inp, IC, w, IC, beta, out, OC);
}

void vdit_linear_forward_ref(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC)
{
    for (int m = 0; m < M; m++) {
        for (int o = 0; o < OC; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < IC; i++) acc += (double)inp[(size_t)m * IC + i] * w[(size_t)o * IC + i];
            out[(size_t)m * OC + o] = (float)acc;
        }
    }
}

void vdit_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int M, int IC, int OC)
{
    /* forward: out = inp @ w^T + b */
    if (dinp) /* dinp += dout @ w */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
    if (dw) /* dw += dout^T @ inp */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, M, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
    if (db) { /* db += sum over rows of dout: the threads split the columns, each sums its rows in order */
        int nblk = (OC + 63) / 64;
#pragma omp parallel for schedule(dynamic, 1) if ((size_t)M * OC >= PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int o0 = blk * 64, o1 = o0 + 64 < OC ? o0 + 64 : OC;
            for (int m = 0; m < M; m++) {
                const float *dm = dout + (size_t)m * OC;
#pragma omp simd
                for (int o = o0; o < o1; o++) db[o] += dm[o];
            }
        }
    }
}

void vdit_linear_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                              const float *w, int M, int IC, int OC)
{
    for (int m = 0; m < M; m++) {
        for (int o = 0; o < OC; o++) {
            float g = dout[(size_t)m * OC + o];
            if (db) db[o] += g;
            for (int i = 0; i < IC; i++) {
                if (dinp) dinp[(size_t)m * IC + i] += g * w[(size_t)o * IC + i];
                if (dw) dw[(size_t)o * IC + i] += g * inp[(size_t)m * IC + i];
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * LayerNorm without affine parameters
 *
 * The sums run in double, each row's in index order, as in the plain
 * versions; the fast versions take LN_ROWS rows at a time so that their
 * sums, each still in order, overlap in the pipeline instead of waiting on
 * one another's additions. Same operations, same order: the same bits.
 * ---------------------------------------------------------------------- */

#define LN_ROWS 4

/* xhat, rstd of rows [m0, m0 + R), R <= LN_ROWS; then, when h is given,
 * h = xhat * (1 + scale[b]) + shift[b] (adaLN) with b = m / N. Inlined
 * with a constant R, so that the R sums live in registers. */
static inline __attribute__((always_inline)) void ln_rows(float *xhat, float *rstd, float *h, const float *x,
                                                          const float *shift, const float *scale, int m0, int R,
                                                          int N, int D, int mod_stride)
{
    double mean[LN_ROWS] = {0}, var[LN_ROWS] = {0};
    const float *xm[LN_ROWS];
    for (int r = 0; r < R; r++) xm[r] = x + (size_t)(m0 + r) * D;
    for (int i = 0; i < D; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) mean[r] += xm[r][i];
    for (int r = 0; r < R; r++) mean[r] /= D;
    for (int i = 0; i < D; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) var[r] += (xm[r][i] - mean[r]) * (xm[r][i] - mean[r]);
    for (int r = 0; r < R; r++) {
        int m = m0 + r;
        double v = var[r] / D, mu = mean[r];
        float rs = (float)(1.0 / sqrt(v + VDIT_LN_EPS));
        const float *xr = xm[r];
        float *om = xhat + (size_t)m * D;
#pragma omp simd
        for (int i = 0; i < D; i++) om[i] = (float)((xr[i] - mu) * rs);
        rstd[m] = rs;
        if (h) {
            const float *sh = shift + (size_t)(m / N) * mod_stride, *sc = scale + (size_t)(m / N) * mod_stride;
            float *hm = h + (size_t)m * D;
#pragma omp simd
            for (int i = 0; i < D; i++) hm[i] = om[i] * (1.0f + sc[i]) + sh[i];
        }
    }
}

/* rows [0, M): groups of LN_ROWS in parallel, then the last M % LN_ROWS one by one */
static void ln_all_rows(float *xhat, float *rstd, float *h, const float *x, const float *shift, const float *scale,
                        int M, int N, int D, int mod_stride)
{
    int full = M / LN_ROWS * LN_ROWS;
#pragma omp parallel for schedule(dynamic, 8) if ((size_t)M * D >= PAR_MIN)
    for (int m = 0; m < full; m += LN_ROWS) ln_rows(xhat, rstd, h, x, shift, scale, m, LN_ROWS, N, D, mod_stride);
    for (int m = full; m < M; m++) ln_rows(xhat, rstd, h, x, shift, scale, m, 1, N, D, mod_stride);
}

void vdit_layernorm_forward(float *xhat, float *rstd, const float *x, int M, int D)
{
    ln_all_rows(xhat, rstd, NULL, x, NULL, NULL, M, 1, D, 0);
}

void vdit_layernorm_modulate_forward(float *h, float *xhat, float *rstd, const float *x, const float *shift,
                                     const float *scale, int B, int N, int D, int mod_stride)
{
    ln_all_rows(xhat, rstd, h, x, shift, scale, B * N, N, D, mod_stride);
}

void vdit_layernorm_forward_ref(float *xhat, float *rstd, const float *x, int M, int D)
{
    for (int m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * D;
        /* two passes in double: the variance of a near-constant row stays exact */
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < D; i++) mean += xm[i];
        mean /= D;
        for (int i = 0; i < D; i++) var += (xm[i] - mean) * (xm[i] - mean);
        var /= D;
        float rs = (float)(1.0 / sqrt(var + VDIT_LN_EPS));
        float *om = xhat + (size_t)m * D;
        for (int i = 0; i < D; i++) om[i] = (float)((xm[i] - mean) * rs);
        rstd[m] = rs;
    }
}

/* dx of rows [m0, m0 + R), R <= LN_ROWS (inlined with a constant R) */
static inline __attribute__((always_inline)) void ln_backward_rows(float *dx, const float *dxhat, const float *xhat,
                                                                   const float *rstd, int m0, int R, int D)
{
    double mg[LN_ROWS] = {0}, mgx[LN_ROWS] = {0};
    const float *g[LN_ROWS], *xh[LN_ROWS];
    for (int r = 0; r < R; r++) g[r] = dxhat + (size_t)(m0 + r) * D, xh[r] = xhat + (size_t)(m0 + r) * D;
    for (int i = 0; i < D; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            mg[r] += g[r][i];
            mgx[r] += (double)g[r][i] * xh[r][i];
        }
    for (int r = 0; r < R; r++) {
        double a = mg[r] / D, c = mgx[r] / D;
        float rs = rstd[m0 + r], *dxm = dx + (size_t)(m0 + r) * D;
        const float *gr = g[r], *xr = xh[r];
#pragma omp simd
        for (int i = 0; i < D; i++) dxm[i] += rs * (float)(gr[i] - a - xr[i] * c);
    }
}

void vdit_layernorm_backward(float *dx, const float *dxhat, const float *xhat, const float *rstd, int M, int D)
{
    /* forward: xhat = (x - mean(x)) * rstd, rstd = 1/sqrt(var(x) + eps) */
    int full = M / LN_ROWS * LN_ROWS;
#pragma omp parallel for schedule(dynamic, 8) if ((size_t)M * D >= PAR_MIN)
    for (int m = 0; m < full; m += LN_ROWS) ln_backward_rows(dx, dxhat, xhat, rstd, m, LN_ROWS, D);
    for (int m = full; m < M; m++) ln_backward_rows(dx, dxhat, xhat, rstd, m, 1, D);
}

void vdit_layernorm_backward_ref(float *dx, const float *dxhat, const float *xhat, const float *rstd, int M, int D)
{
    for (int m = 0; m < M; m++) {
        const float *g = dxhat + (size_t)m * D, *xh = xhat + (size_t)m * D;
        double mg = 0.0, mgx = 0.0;
        for (int i = 0; i < D; i++) {
            mg += g[i];
            mgx += (double)g[i] * xh[i];
        }
        mg /= D;
        mgx /= D;
        float *dxm = dx + (size_t)m * D;
        for (int i = 0; i < D; i++) dxm[i] += rstd[m] * (float)(g[i] - mg - xh[i] * mgx);
    }
}

/* ------------------------------------------------------------------------
 * adaLN modulation and gated residual
 *
 * The fast versions run the rows in parallel; the backward sums over tokens
 * (dshift, dscale, dgate) split the work by (sample, block of 64 columns),
 * each summing its tokens in order, as the plain versions do.
 * ---------------------------------------------------------------------- */

#define COL_BLOCK 64

void vdit_adaln_modulate_forward(float *out, const float *xhat, const float *shift, const float *scale,
                                 int B, int N, int D, int mod_stride)
{
    int M = B * N;
#pragma omp parallel for schedule(dynamic, 32) if ((size_t)M * D >= PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *sh = shift + (size_t)(m / N) * mod_stride, *sc = scale + (size_t)(m / N) * mod_stride;
        const float *xr = xhat + (size_t)m * D;
        float *o = out + (size_t)m * D;
#pragma omp simd
        for (int i = 0; i < D; i++) o[i] = xr[i] * (1.0f + sc[i]) + sh[i];
    }
}

void vdit_adaln_modulate_forward_ref(float *out, const float *xhat, const float *shift, const float *scale,
                                     int B, int N, int D, int mod_stride)
{
    for (int b = 0; b < B; b++) {
        const float *sh = shift + (size_t)b * mod_stride, *sc = scale + (size_t)b * mod_stride;
        for (int n = 0; n < N; n++) {
            size_t row = ((size_t)b * N + n) * D;
            for (int i = 0; i < D; i++) out[row + i] = xhat[row + i] * (1.0f + sc[i]) + sh[i];
        }
    }
}

void vdit_adaln_modulate_backward(float *dxhat, float *dshift, float *dscale, const float *dout,
                                  const float *xhat, const float *scale, int B, int N, int D, int mod_stride)
{
    /* forward: out = xhat * (1 + scale) + shift */
    int nblk = (D + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if ((size_t)B * N * D >= PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            int i0 = blk * COL_BLOCK, i1 = i0 + COL_BLOCK < D ? i0 + COL_BLOCK : D;
            const float *sc = scale + (size_t)b * mod_stride;
            float *dsh = dshift + (size_t)b * mod_stride, *dsc = dscale + (size_t)b * mod_stride;
            for (int n = 0; n < N; n++) {
                size_t row = ((size_t)b * N + n) * D;
                const float *g = dout + row, *xr = xhat + row;
                float *dxr = dxhat + row;
#pragma omp simd
                for (int i = i0; i < i1; i++) {
                    dxr[i] += g[i] * (1.0f + sc[i]);
                    dsh[i] += g[i];
                    dsc[i] += g[i] * xr[i];
                }
            }
        }
}

void vdit_adaln_modulate_backward_ref(float *dxhat, float *dshift, float *dscale, const float *dout,
                                      const float *xhat, const float *scale, int B, int N, int D, int mod_stride)
{
    for (int b = 0; b < B; b++) {
        const float *sc = scale + (size_t)b * mod_stride;
        float *dsh = dshift + (size_t)b * mod_stride, *dsc = dscale + (size_t)b * mod_stride;
        for (int n = 0; n < N; n++) {
            size_t row = ((size_t)b * N + n) * D;
            for (int i = 0; i < D; i++) {
                float g = dout[row + i];
                dxhat[row + i] += g * (1.0f + sc[i]);
                dsh[i] += g;
                dsc[i] += g * xhat[row + i];
            }
        }
    }
}

void vdit_gated_residual_forward(float *out, const float *x, const float *gate, const float *y, int B, int N, int D,
                                 int mod_stride)
{
    int M = B * N;
#pragma omp parallel for schedule(dynamic, 32) if ((size_t)M * D >= PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *g = gate + (size_t)(m / N) * mod_stride, *xr = x + (size_t)m * D, *yr = y + (size_t)m * D;
        float *o = out + (size_t)m * D;
#pragma omp simd
        for (int i = 0; i < D; i++) o[i] = xr[i] + g[i] * yr[i];
    }
}

void vdit_gated_residual_forward_ref(float *out, const float *x, const float *gate, const float *y, int B, int N, int D,
                                     int mod_stride)
{
    for (int b = 0; b < B; b++) {
        const float *g = gate + (size_t)b * mod_stride;
        for (int n = 0; n < N; n++) {
            size_t row = ((size_t)b * N + n) * D;
            for (int i = 0; i < D; i++) out[row + i] = x[row + i] + g[i] * y[row + i];
        }
    }
}

void vdit_gated_residual_backward(float *dy, float *dgate, const float *dx, const float *gate, const float *y,
                                  int B, int N, int D, int mod_stride)
{
    /* forward: out = x + gate * y */
    int nblk = (D + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if ((size_t)B * N * D >= PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            int i0 = blk * COL_BLOCK, i1 = i0 + COL_BLOCK < D ? i0 + COL_BLOCK : D;
            const float *g = gate + (size_t)b * mod_stride;
            float *dg = dgate + (size_t)b * mod_stride;
            for (int n = 0; n < N; n++) {
                size_t row = ((size_t)b * N + n) * D;
                const float *dxr = dx + row, *yr = y + row;
                float *dyr = dy + row;
#pragma omp simd
                for (int i = i0; i < i1; i++) {
                    dyr[i] += dxr[i] * g[i];
                    dg[i] += dxr[i] * yr[i];
                }
            }
        }
}

void vdit_gated_residual_backward_ref(float *dy, float *dgate, const float *dx, const float *gate, const float *y,
                                      int B, int N, int D, int mod_stride)
{
    for (int b = 0; b < B; b++) {
        const float *g = gate + (size_t)b * mod_stride;
        float *dg = dgate + (size_t)b * mod_stride;
        for (int n = 0; n < N; n++) {
            size_t row = ((size_t)b * N + n) * D;
            for (int i = 0; i < D; i++) {
                dy[row + i] += dx[row + i] * g[i];
                dg[i] += dx[row + i] * y[row + i];
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------- */

/* Elementwise loops go in chunks of this many elements (a multiple of 16),
 * handed out to the threads as they come free: a thread the OS has
 * descheduled holds up the others by one chunk at most. */
#define CHUNK 8192

void vdit_gelu_forward(float *out, const float *inp, size_t n)
{
    int lanes = simd_lanes();
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(dynamic, 1) if (n >= PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, len = c + 1 < nchunks ? CHUNK : n - lo;
        simd_gelu_span(out + lo, inp + lo, len, lanes);
    }
}

void vdit_gelu_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void vdit_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    /* forward: out = 0.5 x (1 + tanh(k (x + 0.044715 x^3))) */
    int lanes = simd_lanes();
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(dynamic, 1) if (n >= PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, len = c + 1 < nchunks ? CHUNK : n - lo;
        simd_gelu_grad_span(dinp + lo, dout + lo, inp + lo, len, lanes);
    }
}

void vdit_gelu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float th = tanhf(GELU_K * (x + 0.044715f * x * x * x));
        float local = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

void vdit_silu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

void vdit_silu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    /* forward: out = x * sigmoid(x); d/dx = s (1 + x (1 - s)) */
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

/* ------------------------------------------------------------------------
 * Attention
 *
 * The fast path: per (sample, head, group) gather the group's q, k, v into
 * contiguous [G][dh] blocks, then per tile of query rows S = q k^T (sgemm),
 * softmax rows (simd.c's exp), O = P v (sgemm). Work items run in parallel,
 * each thread in its own slice of the caller's scratch; the sgemm calls
 * inside run single-threaded. The plain versions follow each: masked scores
 * over all N keys, one query row at a time.
 *
 * The keys a query sees form an arithmetic sequence of token indices
 * base + j*stride, j < count: FULL (0, 1, N), SPATIAL (frame start, 1, S),
 * TEMPORAL ((ih, iw) offset, S, nt) with S = nh*nw. The same sequences
 * partition the tokens into groups that attend only within themselves.
 * ---------------------------------------------------------------------- */

/* groups: count, size, and the token of member j of group g */
static void attn_groups(vdit_attn_shape s, int *ngroups, int *gsize)
{
    int S = s.nh * s.nw;
    switch (s.scope) {
    case VDIT_ATTN_SPATIAL: *ngroups = s.nt, *gsize = S; break;
    case VDIT_ATTN_TEMPORAL: *ngroups = S, *gsize = s.nt; break;
    default: *ngroups = 1, *gsize = s.nt * S; break;
    }
}

static inline int group_token(vdit_attn_shape s, int g, int j)
{
    int S = s.nh * s.nw;
    return s.scope == VDIT_ATTN_SPATIAL ? g * S + j : s.scope == VDIT_ATTN_TEMPORAL ? j * S + g : j;
}

/* copies column block col..col+dh of the group's rows of src[B][N][ld] to dst[G][dh] */
static void gather_rows(float *dst, const float *src, vdit_attn_shape s, int b, int g, int G, int ld, int col, int dh)
{
    size_t N = (size_t)s.nt * s.nh * s.nw;
    for (int j = 0; j < G; j++)
        memcpy(dst + (size_t)j * dh, src + ((size_t)b * N + group_token(s, g, j)) * ld + col, dh * sizeof(float));
}

/* dst[group rows][col..col+dh] += src[G][dh] */
static void scatter_add_rows(float *dst, const float *src, vdit_attn_shape s, int b, int g, int G, int ld, int col,
                             int dh)
{
    size_t N = (size_t)s.nt * s.nh * s.nw;
    for (int j = 0; j < G; j++) {
        float *d = dst + ((size_t)b * N + group_token(s, g, j)) * ld + col;
        const float *r = src + (size_t)j * dh;
        for (int i = 0; i < dh; i++) d[i] += r[i];
    }
}

static void attn_keys(vdit_attn_shape s, int n, int *base, int *stride, int *count)
{
    int S = s.nh * s.nw, N = s.nt * S;
    switch (s.scope) {
    case VDIT_ATTN_SPATIAL: *base = (n / S) * S; *stride = 1; *count = S; break;
    case VDIT_ATTN_TEMPORAL: *base = n % S; *stride = S; *count = s.nt; break;
    default: *base = 0; *stride = 1; *count = N; break;
    }
}

static int attn_allowed(vdit_attn_shape s, int i, int j)
{
    int S = s.nh * s.nw;
    if (s.scope == VDIT_ATTN_SPATIAL) return i / S == j / S;
    if (s.scope == VDIT_ATTN_TEMPORAL) return i % S == j % S;
    return 1;
}

static float dotf(const float *a, const float *b, int n)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

/* floats of one thread's slice: forward q, k, v, o [G][dh], scores
 * [TILE][G], 1/rowsum [G]; backward q, k, v, o, do, dq, dk, dv [G][dh],
 * P and dP [TILE][G], Di [G] */
static size_t attn_fwd_slice(int G, int dh) { return 4 * (size_t)G * dh + (size_t)VDIT_ATTN_TILE * G + G; }
static size_t attn_bwd_slice(int G, int dh) { return 8 * (size_t)G * dh + 2 * (size_t)VDIT_ATTN_TILE * G + G; }

size_t vdit_attention_scratch(vdit_attn_shape s)
{
    int ng, G, dh = s.D / s.NH;
    attn_groups(s, &ng, &G);
    return (size_t)omp_get_max_threads() * attn_bwd_slice(G, dh);
}

void vdit_attention_forward(float *out, float *lse, const float *qkv, vdit_attn_shape s, float *work)
{
    int N = s.nt * s.nh * s.nw, D = s.D, NH = s.NH, dh = D / NH, D3 = 3 * D, ng, G;
    attn_groups(s, &ng, &G);
    float scale = 1.0f / sqrtf((float)dh);
    int items = s.B * NH * ng, lanes = simd_lanes();
    size_t slice = attn_fwd_slice(G, dh);
#pragma omp parallel
    {
        float *q = work + (size_t)omp_get_thread_num() * slice;
        float *k = q + (size_t)G * dh, *v = k + (size_t)G * dh, *o = v + (size_t)G * dh, *sc = o + (size_t)G * dh;
        float *inv = sc + (size_t)VDIT_ATTN_TILE * G; /* [G] 1 / sum of each row's exponentials */
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            int b = it / (NH * ng), h = (it / ng) % NH, g = it % ng;
            gather_rows(q, qkv, s, b, g, G, D3, h * dh, dh);
            gather_rows(k, qkv, s, b, g, G, D3, D + h * dh, dh);
            gather_rows(v, qkv, s, b, g, G, D3, 2 * D + h * dh, dh);
            for (int i0 = 0; i0 < G; i0 += VDIT_ATTN_TILE) {
                int bq = G - i0 < VDIT_ATTN_TILE ? G - i0 : VDIT_ATTN_TILE;
                /* sc[bq][G] = q_tile k^T * scale */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, G, dh, scale, q + (size_t)i0 * dh, dh, k, dh,
                            0.0f, sc, G);
                for (int r = 0; r < bq; r++) { /* E = exp(S - rowmax), keeping each row's log-sum-exp */
                    float l, m = simd_exp_row_max(sc + (size_t)r * G, G, &l, lanes);
                    lse[((size_t)b * NH + h) * N + group_token(s, g, i0 + r)] = m + logf(l);
                    inv[i0 + r] = 1.0f / l;
                }
                /* o_tile[bq][dh] = E v (normalised below: P v = (E v) / rowsum(E)) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, dh, G, 1.0f, sc, G, v, dh, 0.0f,
                            o + (size_t)i0 * dh, dh);
            }
            for (int j = 0; j < G; j++) {
                float *dst = out + ((size_t)b * N + group_token(s, g, j)) * D + h * dh, *src = o + (size_t)j * dh;
#pragma omp simd
                for (int d = 0; d < dh; d++) dst[d] = src[d] * inv[j];
            }
        }
    }
}

/* q_i . k_j / sqrt(dh) in double, for head h of sample b */
static double attn_score_ref(const float *qkv, vdit_attn_shape s, int b, int h, int i, int j)
{
    int N = s.nt * s.nh * s.nw, D = s.D, dh = D / s.NH, D3 = 3 * D;
    const float *q = qkv + ((size_t)b * N + i) * D3 + h * dh, *k = qkv + ((size_t)b * N + j) * D3 + D + h * dh;
    double acc = 0.0;
    for (int d = 0; d < dh; d++) acc += (double)q[d] * k[d];
    return acc / sqrt((double)dh);
}

void vdit_attention_forward_ref(float *out, const float *qkv, vdit_attn_shape s)
{
    /* the masked scores of a row are recomputed where used: no N-sized row is held */
    int N = s.nt * s.nh * s.nw, D = s.D, NH = s.NH, dh = D / NH, D3 = 3 * D;
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < N; i++) {
                double mx = -1e300, sum = 0.0;
                for (int j = 0; j < N; j++)
                    if (attn_allowed(s, i, j)) {
                        double sc = attn_score_ref(qkv, s, b, h, i, j);
                        if (sc > mx) mx = sc;
                    }
                for (int j = 0; j < N; j++)
                    if (attn_allowed(s, i, j)) sum += exp(attn_score_ref(qkv, s, b, h, i, j) - mx);
                float *o = out + ((size_t)b * N + i) * D + h * dh;
                for (int d = 0; d < dh; d++) {
                    double acc = 0.0;
                    for (int j = 0; j < N; j++) {
                        double p = attn_allowed(s, i, j) ? exp(attn_score_ref(qkv, s, b, h, i, j) - mx) : 0.0;
                        acc += p / sum * qkv[((size_t)b * N + j) * D3 + 2 * D + h * dh + d];
                    }
                    o[d] = (float)acc;
                }
            }
}

void vdit_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                             vdit_attn_shape s, float *work)
{
    /* forward: P = softmax(q k^T * scale) (row i: exp(s_ij - lse_i)), o = P v
     *   dv += P^T do;  dP = do v^T;  dS = P (dP - rowsum(do o)) * scale
     *   dq += dS k;    dk += dS^T q
     * A group's tokens and a head's columns belong to one work item alone. */
    int N = s.nt * s.nh * s.nw, D = s.D, NH = s.NH, dh = D / NH, D3 = 3 * D, ng, G;
    attn_groups(s, &ng, &G);
    float scale = 1.0f / sqrtf((float)dh);
    int items = s.B * NH * ng, lanes = simd_lanes();
    size_t slice = attn_bwd_slice(G, dh);
#pragma omp parallel
    {
        float *q = work + (size_t)omp_get_thread_num() * slice;
        float *k = q + (size_t)G * dh, *v = k + (size_t)G * dh, *o = v + (size_t)G * dh, *dO = o + (size_t)G * dh;
        float *dq = dO + (size_t)G * dh, *dk = dq + (size_t)G * dh, *dv = dk + (size_t)G * dh;
        float *P = dv + (size_t)G * dh, *dP = P + (size_t)VDIT_ATTN_TILE * G, *Di = dP + (size_t)VDIT_ATTN_TILE * G;
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            int b = it / (NH * ng), h = (it / ng) % NH, g = it % ng;
            gather_rows(q, qkv, s, b, g, G, D3, h * dh, dh);
            gather_rows(k, qkv, s, b, g, G, D3, D + h * dh, dh);
            gather_rows(v, qkv, s, b, g, G, D3, 2 * D + h * dh, dh);
            gather_rows(o, out, s, b, g, G, D, h * dh, dh);
            gather_rows(dO, dout, s, b, g, G, D, h * dh, dh);
            memset(dk, 0, 2 * (size_t)G * dh * sizeof(float)); /* dk and dv */
            for (int j = 0; j < G; j++) {
                float acc = 0.0f;
                for (int d = 0; d < dh; d++) acc += dO[(size_t)j * dh + d] * o[(size_t)j * dh + d];
                Di[j] = acc;
            }
            for (int i0 = 0; i0 < G; i0 += VDIT_ATTN_TILE) {
                int bq = G - i0 < VDIT_ATTN_TILE ? G - i0 : VDIT_ATTN_TILE;
                const float *qt = q + (size_t)i0 * dh, *dOt = dO + (size_t)i0 * dh;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, G, dh, scale, qt, dh, k, dh, 0.0f, P, G);
                for (int r = 0; r < bq; r++)
                    simd_exp_shifted_row(P + (size_t)r * G, G,
                                         lse[((size_t)b * NH + h) * N + group_token(s, g, i0 + r)], lanes);
                /* dv += P^T do_tile */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, dh, bq, 1.0f, P, G, dOt, dh, 1.0f, dv, dh);
                /* dP = do_tile v^T, then dS = P (dP - Di) * scale in place */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, G, dh, 1.0f, dOt, dh, v, dh, 0.0f, dP, G);
                for (int r = 0; r < bq; r++) {
                    float *pr = P + (size_t)r * G, *dr = dP + (size_t)r * G, di = Di[i0 + r];
#pragma omp simd
                    for (int j = 0; j < G; j++) dr[j] = pr[j] * (dr[j] - di) * scale;
                }
                /* dq_tile = dS k;  dk += dS^T q_tile */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, dh, G, 1.0f, dP, G, k, dh, 0.0f,
                            dq + (size_t)i0 * dh, dh);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, dh, bq, 1.0f, dP, G, qt, dh, 1.0f, dk, dh);
            }
            scatter_add_rows(dqkv, dq, s, b, g, G, D3, h * dh, dh);
            scatter_add_rows(dqkv, dk, s, b, g, G, D3, D + h * dh, dh);
            scatter_add_rows(dqkv, dv, s, b, g, G, D3, 2 * D + h * dh, dh);
        }
    }
}

void vdit_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                                 const float *lse, vdit_attn_shape s)
{
    /* forward: p_ij = exp(q_i.k_j * scale - lse_i);  o_i = sum_j p_ij v_j
     *   dv_j += p_ij do_i
     *   dp_ij = do_i . v_j;  ds_ij = p_ij (dp_ij - do_i . o_i)
     *   dq_i += ds_ij * scale * k_j;  dk_j += ds_ij * scale * q_i
     * Each (b, h) writes only its own columns of dqkv: safe to run in parallel. */
    int N = s.nt * s.nh * s.nw, D = s.D, NH = s.NH, dh = D / NH, D3 = 3 * D;
    float scale = 1.0f / sqrtf((float)dh);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s.B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *qkvb = qkv + (size_t)b * N * D3;
            float *dqkvb = dqkv + (size_t)b * N * D3;
            for (int i = 0; i < N; i++) {
                const float *q = qkvb + (size_t)i * D3 + h * dh;
                const float *doi = dout + ((size_t)b * N + i) * D + h * dh;
                const float *oi = out + ((size_t)b * N + i) * D + h * dh;
                float *dq = dqkvb + (size_t)i * D3 + h * dh;
                float Di = dotf(doi, oi, dh);
                float li = lse[((size_t)b * NH + h) * N + i];
                int base, stride, count;
                attn_keys(s, i, &base, &stride, &count);
                for (int j = 0; j < count; j++) {
                    int key = base + j * stride;
                    const float *k = qkvb + (size_t)key * D3 + D + h * dh;
                    const float *v = qkvb + (size_t)key * D3 + 2 * D + h * dh;
                    float *dk = dqkvb + (size_t)key * D3 + D + h * dh;
                    float *dv = dqkvb + (size_t)key * D3 + 2 * D + h * dh;
                    float p = expf(dotf(q, k, dh) * scale - li);
                    float ds = p * (dotf(doi, v, dh) - Di) * scale;
                    for (int d = 0; d < dh; d++) {
                        dv[d] += p * doi[d];
                        dq[d] += ds * k[d];
                        dk[d] += ds * q[d];
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * Spacetime patches
 * ---------------------------------------------------------------------- */

/* Walks every (b, token, patch element) once and calls BODY with the video
 * index vi (into [B][T][C][H][W]) and the patch-vector index in both orders:
 * pc = (c, dt, dy, dx) for the embedder, po = (dt, dy, dx, c) for the output. */
#define FOR_PATCH_ELEMENTS(BODY)                                                              \
    do {                                                                                      \
        int nt = T / pt, nh = H / ph, nw = W / pw, N = nt * nh * nw, P = C * pt * ph * pw;    \
        for (int b = 0; b < B; b++)                                                           \
            for (int it = 0; it < nt; it++)                                                   \
                for (int ih = 0; ih < nh; ih++)                                               \
                    for (int iw = 0; iw < nw; iw++) {                                         \
                        size_t n = ((size_t)it * nh + ih) * nw + iw;                          \
                        size_t tokbase = ((size_t)b * N + n) * P;                             \
                        for (int c = 0; c < C; c++)                                           \
                            for (int qt = 0; qt < pt; qt++)                                   \
                                for (int qy = 0; qy < ph; qy++)                               \
                                    for (int qx = 0; qx < pw; qx++) {                         \
                                        size_t tt = (size_t)it * pt + qt;                     \
                                        size_t yy = (size_t)ih * ph + qy;                     \
                                        size_t xx = (size_t)iw * pw + qx;                     \
                                        size_t vi = (((((size_t)b * T + tt) * C + c) * H + yy) * W + xx); \
                                        size_t pc = tokbase + (((size_t)c * pt + qt) * ph + qy) * pw + qx; \
                                        size_t po = tokbase + (((size_t)qt * ph + qy) * pw + qx) * C + c;  \
                                        (void)pc; (void)po;                                   \
                                        BODY;                                                 \
                                    }                                                         \
                    }                                                                         \
    } while (0)

void vdit_patchify(float *xp, const float *x, int B, int T, int C, int H, int W, int pt, int ph, int pw)
{
    FOR_PATCH_ELEMENTS(xp[pc] = x[vi]);
}

void vdit_patchify_backward(float *dx, const float *dxp, int B, int T, int C, int H, int W, int pt, int ph, int pw)
{
    /* forward: xp[pc] = x[vi] */
    FOR_PATCH_ELEMENTS(dx[vi] += dxp[pc]);
}

void vdit_unpatchify_forward(float *video, const float *tok, int B, int T, int C, int H, int W, int pt, int ph, int pw)
{
    FOR_PATCH_ELEMENTS(video[vi] = tok[po]);
}

void vdit_unpatchify_backward(float *dtok, const float *dvideo, int B, int T, int C, int H, int W, int pt, int ph,
                              int pw)
{
    /* forward: video[vi] = tok[po] */
    FOR_PATCH_ELEMENTS(dtok[po] += dvideo[vi]);
}

void vdit_patch_embed_forward(float *out, float *xp, const float *x, const float *w, const float *b,
                              const float *pos, int B, int T, int C, int H, int W, int pt, int ph, int pw, int D)
{
    int N = (T / pt) * (H / ph) * (W / pw), P = C * pt * ph * pw;
    vdit_patchify(xp, x, B, T, C, H, W, pt, ph, pw);
    vdit_linear_forward(out, xp, w, b, B * N, P, D);
    if (pos)
        for (int bb = 0; bb < B; bb++)
            for (size_t i = 0; i < (size_t)N * D; i++) out[(size_t)bb * N * D + i] += pos[i];
}

void vdit_patch_embed_backward(float *dx, float *dw, float *db, const float *dout, const float *xp, const float *w,
                               int B, int T, int C, int H, int W, int pt, int ph, int pw, int D, float *dxp)
{
    /* forward: out = patchify(x) @ w^T + b + pos;  dxp: the patch vectors' gradient, then scattered into dx */
    int N = (T / pt) * (H / ph) * (W / pw), P = C * pt * ph * pw;
    if (dx) memset(dxp, 0, (size_t)B * N * P * sizeof(float));
    vdit_linear_backward(dx ? dxp : NULL, dw, db, dout, xp, w, B * N, P, D);
    if (dx) vdit_patchify_backward(dx, dxp, B, T, C, H, W, pt, ph, pw);
}

/* ------------------------------------------------------------------------
 * Fixed embeddings
 * ---------------------------------------------------------------------- */

/* out = sincos1d_D(p), or out += it (add) */
static void sincos1d_into(float *out, int D, double p, int add)
{
    int half = D / 2;
    for (int i = 0; i < half; i++) {
        double omega = 1.0 / pow(10000.0, (double)i / half);
        float s = (float)sin(p * omega), c = (float)cos(p * omega);
        out[i] = add ? out[i] + s : s;
        out[half + i] = add ? out[half + i] + c : c;
    }
}

void vdit_sincos1d(float *out, int D, double p) { sincos1d_into(out, D, p, 0); }

void vdit_pos_embed_sincos(float *pos, int nt, int nh, int nw, int D)
{
    for (int it = 0; it < nt; it++)
        for (int ih = 0; ih < nh; ih++)
            for (int iw = 0; iw < nw; iw++) {
                float *p = pos + (((size_t)it * nh + ih) * nw + iw) * D;
                sincos1d_into(p, D / 2, iw, 0);         /* first half: the column */
                sincos1d_into(p + D / 2, D / 2, ih, 0); /* second half: the row */
                sincos1d_into(p, D, it, 1);             /* plus the frame, over all of D */
            }
}

void vdit_timestep_embedding(float *out, const float *t, int B)
{
    const int half = VDIT_TFREQ / 2;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < half; i++) {
            double freq = exp(-log(10000.0) * i / half);
            double arg = (double)t[b] * freq;
            out[(size_t)b * VDIT_TFREQ + i] = (float)cos(arg);
            out[(size_t)b * VDIT_TFREQ + half + i] = (float)sin(arg);
        }
}

void vdit_label_embed_forward(float *c, const float *table, const int *y, int B, int D)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) c[(size_t)b * D + i] += table[(size_t)y[b] * D + i];
}

void vdit_label_embed_backward(float *dtable, const float *dc, const int *y, int B, int D)
{
    /* forward: c[b] += table[y[b]] */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) dtable[(size_t)y[b] * D + i] += dc[(size_t)b * D + i];
}
