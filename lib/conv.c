/* conv.c - the layers of the video VAE, each a forward / backward pair:
 * conv2d, conv3d (with causal temporal padding), GroupNorm with affine,
 * nearest upsampling. Downsampling is a strided conv; SiLU is kernels.c's.
 *
 * Shape letters: B batch, T frames, C channels, H W height width; N is a
 * batch of images (B*T frames of a video batch taken as images).
 * Backward functions accumulate (+=). Every optimised path has a plain
 * version (_ref) beside it as the test reference.
 *
 * Convolutions go through im2col + cblas_sgemm. The images of a batch are
 * split over the OpenMP threads and each thread runs single-threaded GEMMs
 * on its own images (OpenBLAS's OpenMP build runs a GEMM called inside a
 * parallel region on the calling thread): one GEMM per image keeps the
 * im2col buffer in cache and uses both cores fully, where a threaded GEMM
 * per image of these small shapes would not. With fewer images than
 * threads the loop runs serially and the GEMMs are threaded instead.
 * Weight gradients are summed per thread and then added in thread order,
 * so results depend only on the thread count, never on scheduling. The
 * column buffers and partial sums live in the caller's `work`, sized by
 * vdit_conv2d_scratch, vdit_conv3d_scratch and vdit_groupnorm_scratch for
 * the threads of the call: nothing here allocates.
 */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Below these sizes a loop runs on one thread: waking the OpenMP team costs
 * tens of microseconds, more than a small layer's work (the latent-sized
 * layers of a small batch, and the tests' tiny shapes). */
#define PAR_MIN_ELEMS 32768
#define PAR_MIN_MACS (1 << 21)

static int thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------------
 * im2col for one channel plane
 *
 * col[KH*KW][OH*OW]: row (ky, kx), column (oy, ox) holds
 * plane[oy*s - p + ky][ox*s - p + kx], zero outside the plane. plane NULL
 * gives a zero block (a padding frame of conv3d).
 * ---------------------------------------------------------------------- */

static void im2col_plane(float *col, const float *plane, int H, int W, int KH, int KW, int s, int p, int OH,
                         int OW)
{
    size_t P = (size_t)OH * OW;
    if (plane && s == 1 && OH == H && OW == W) {
        /* "same" padding: the rows of one (ky, kx) are one contiguous run of
         * the plane shifted by (ky - p, kx - p); copy it whole, then zero the
         * cells that fell outside the plane. */
        for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++) {
                float *row = col + (size_t)(ky * KW + kx) * P;
                int dy = ky - p, dx = kx - p;
                int y0 = dy < 0 ? -dy : 0, y1 = dy > 0 ? H - dy : H; /* output rows inside */
                if (y1 <= y0) {
                    memset(row, 0, P * sizeof(float));
                    continue;
                }
                memset(row, 0, (size_t)y0 * W * sizeof(float));
                memset(row + (size_t)y1 * W, 0, (size_t)(H - y1) * W * sizeof(float));
                /* dest [y0*W, y1*W) <- src from (y0+dy)*W + dx, clipped to the plane */
                long d0 = (long)y0 * W, d1 = (long)y1 * W, off = (long)dy * W + dx;
                long a = d0 + off < 0 ? -off : d0, b = d1 + off > (long)H * W ? (long)H * W - off : d1;
                if (b > a) memcpy(row + a, plane + a + off, (size_t)(b - a) * sizeof(float));
                for (long i = d0; i < a; i++) row[i] = 0.0f;
                for (long i = b; i < d1; i++) row[i] = 0.0f;
                if (dx) /* columns whose source wrapped into the next or previous row */
                    for (int y = y0; y < y1; y++) {
                        float *r = row + (size_t)y * W;
                        if (dx < 0)
                            for (int x = 0; x < -dx && x < W; x++) r[x] = 0.0f;
                        else
                            for (int x = W - dx < 0 ? 0 : W - dx; x < W; x++) r[x] = 0.0f;
                    }
            }
        return;
    }
    for (int ky = 0; ky < KH; ky++) {
        for (int kx = 0; kx < KW; kx++) {
            float *row = col + (size_t)(ky * KW + kx) * P;
            if (!plane) {
                memset(row, 0, P * sizeof(float));
                continue;
            }
            /* columns ox with 0 <= ox*s - p + kx < W: ox in [x0, x1) */
            int x0 = 0, x1 = OW;
            while (x0 < OW && x0 * s - p + kx < 0) x0++;
            while (x1 > x0 && (x1 - 1) * s - p + kx >= W) x1--;
            for (int oy = 0; oy < OH; oy++) {
                int iy = oy * s - p + ky;
                float *r = row + (size_t)oy * OW;
                if (iy < 0 || iy >= H) {
                    memset(r, 0, (size_t)OW * sizeof(float));
                    continue;
                }
                const float *src = plane + (size_t)iy * W;
                for (int ox = 0; ox < x0; ox++) r[ox] = 0.0f;
                if (s == 1)
                    memcpy(r + x0, src + x0 - p + kx, (size_t)(x1 - x0) * sizeof(float));
                else
                    for (int ox = x0; ox < x1; ox++) r[ox] = src[ox * s - p + kx];
                for (int ox = x1; ox < OW; ox++) r[ox] = 0.0f;
            }
        }
    }
}

/* The adjoint of im2col_plane: plane[...] += col[...] (plane NULL: skip). */
static void col2im_plane(float *plane, const float *col, int H, int W, int KH, int KW, int s, int p, int OH,
                         int OW)
{
    if (!plane) return;
    size_t P = (size_t)OH * OW;
    for (int ky = 0; ky < KH; ky++) {
        for (int kx = 0; kx < KW; kx++) {
            const float *row = col + (size_t)(ky * KW + kx) * P;
            int x0 = 0, x1 = OW;
            while (x0 < OW && x0 * s - p + kx < 0) x0++;
            while (x1 > x0 && (x1 - 1) * s - p + kx >= W) x1--;
            for (int oy = 0; oy < OH; oy++) {
                int iy = oy * s - p + ky;
                if (iy < 0 || iy >= H) continue;
                const float *r = row + (size_t)oy * OW;
                float *dst = plane + (size_t)iy * W - p + kx;
                if (s == 1)
                    for (int ox = x0; ox < x1; ox++) dst[ox] += r[ox];
                else
                    for (int ox = x0; ox < x1; ox++) dst[ox * s] += r[ox];
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * conv2d
 * ---------------------------------------------------------------------- */

int vdit_conv2d_out_h(vdit_conv2d_shape s) { return (s.H + 2 * s.pad - s.KH) / s.stride + 1; }
int vdit_conv2d_out_w(vdit_conv2d_shape s) { return (s.W + 2 * s.pad - s.KW) / s.stride + 1; }

/* A 1x1 conv with stride 1 and no padding needs no im2col: the image is its
 * own column matrix. */
static int conv2d_is_pointwise(vdit_conv2d_shape s) { return s.KH == 1 && s.KW == 1 && s.stride == 1 && s.pad == 0; }

/* col[IC*KH*KW][OH*OW] of image n, rows ordered (ic, ky, kx) as w[OC][IC][KH][KW] */
static void conv2d_im2col(float *col, const float *img, vdit_conv2d_shape s, int OH, int OW)
{
    size_t rows = (size_t)s.KH * s.KW, P = (size_t)OH * OW;
    for (int ic = 0; ic < s.IC; ic++)
        im2col_plane(col + ic * rows * P, img + (size_t)ic * s.H * s.W, s.H, s.W, s.KH, s.KW, s.stride, s.pad, OH,
                     OW);
}

/* out[OC][P] = w[OC][K] @ col[K][P] + b (b broadcast along P; NULL: none),
 * one sgemm after the bias rows: the GEMM step of every conv */
static void conv_gemm(float *out, const float *w, const float *col, const float *b, int OC, int K, int P)
{
    float beta = 0.0f;
    if (b) {
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < P; i++) out[(size_t)o * P + i] = b[o];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, P, K, 1.0f, w, K, col, P, beta, out, P);
}

/* out_n[OC][P] = w[OC][K] @ col_n[K][P] + b, for image n */
static void conv2d_one(float *out_n, const float *img, const float *w, const float *b, float *col, vdit_conv2d_shape s,
                       int OH, int OW)
{
    int K = s.IC * s.KH * s.KW, P = OH * OW;
    const float *cm = img;
    if (!conv2d_is_pointwise(s)) {
        conv2d_im2col(col, img, s, OH, OW);
        cm = col;
    }
    conv_gemm(out_n, w, cm, b, s.OC, K, P);
}

/* Images in parallel (one single-threaded GEMM each) when there are enough
 * of them and enough work; else one image at a time with threaded GEMMs. */
static int conv2d_parallel(vdit_conv2d_shape s, int nt)
{
    size_t K = (size_t)s.IC * s.KH * s.KW, P = (size_t)vdit_conv2d_out_h(s) * vdit_conv2d_out_w(s);
    return s.N >= nt && nt > 1 && (double)s.N * s.OC * K * P >= PAR_MIN_MACS;
}

static int conv2d_dinp_as_conv(vdit_conv2d_shape s);

/* floats of one column buffer: im2col of an image, and (with_dinp) of dout
 * for the input gradient taken as a conv */
static size_t conv2d_col_floats(vdit_conv2d_shape s, int with_dinp)
{
    size_t K = (size_t)s.IC * s.KH * s.KW, P = (size_t)vdit_conv2d_out_h(s) * vdit_conv2d_out_w(s);
    size_t col = conv2d_is_pointwise(s) ? 0 : K * P, tcol = (size_t)s.OC * s.KH * s.KW * s.H * s.W;
    if (with_dinp && conv2d_dinp_as_conv(s) && tcol > col) col = tcol;
    return col;
}

size_t vdit_conv2d_scratch(vdit_conv2d_shape s)
{
    int nt = max_threads(), par = conv2d_parallel(s, nt), nbuf = par ? nt : 1;
    size_t wsz = (size_t)s.OC * s.IC * s.KH * s.KW;
    size_t fwd = (size_t)nbuf * conv2d_col_floats(s, 0);
    size_t bwd = (size_t)nbuf * (conv2d_col_floats(s, 1) + (par ? wsz + (size_t)s.OC : 0)) +
                 (conv2d_dinp_as_conv(s) ? wsz : 0);
    return fwd > bwd ? fwd : bwd;
}

void vdit_conv2d_forward(float *out, const float *inp, const float *w, const float *b, vdit_conv2d_shape s,
                         float *work)
{
    int OH = vdit_conv2d_out_h(s), OW = vdit_conv2d_out_w(s);
    size_t P = (size_t)OH * OW;
    size_t in_sz = (size_t)s.IC * s.H * s.W, out_sz = (size_t)s.OC * P;
    int nt = max_threads(), par = conv2d_parallel(s, nt);
    size_t col_sz = conv2d_col_floats(s, 0);
    float *cols = col_sz ? work : NULL; /* one column buffer per thread */
    if (par) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < s.N; n++)
            conv2d_one(out + n * out_sz, inp + n * in_sz, w, b, cols ? cols + thread_num() * col_sz : NULL, s, OH,
                       OW);
    } else {
        for (int n = 0; n < s.N; n++) conv2d_one(out + n * out_sz, inp + n * in_sz, w, b, cols, s, OH, OW);
    }
}

void vdit_conv2d_forward_ref(float *out, const float *inp, const float *w, const float *b, vdit_conv2d_shape s)
{
    int OH = vdit_conv2d_out_h(s), OW = vdit_conv2d_out_w(s);
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int i = 0; i < s.IC; i++)
                        for (int ky = 0; ky < s.KH; ky++)
                            for (int kx = 0; kx < s.KW; kx++) {
                                int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                acc += (double)w[((size_t)(o * s.IC + i) * s.KH + ky) * s.KW + kx] *
                                       inp[(((size_t)n * s.IC + i) * s.H + iy) * s.W + ix];
                            }
                    out[(((size_t)n * s.OC + o) * OH + oy) * OW + ox] = (float)acc;
                }
}

/* The input gradient of a stride-1 conv is itself a conv: of dout with the
 * weights transposed and flipped, wt[IC][OC][KH][KW] = w[o][i][KH-1-ky][KW-1-kx],
 * and padding K-1-p. Computing it as im2col (a gather) + GEMM is faster than
 * GEMM + col2im (a scatter-add); it needs square kernels and p <= K-1. */
static int conv2d_dinp_as_conv(vdit_conv2d_shape s)
{
    return s.stride == 1 && s.KH == s.KW && s.pad <= s.KH - 1 && !conv2d_is_pointwise(s);
}

static vdit_conv2d_shape conv2d_transposed(vdit_conv2d_shape s)
{
    vdit_conv2d_shape t = {1, s.OC, vdit_conv2d_out_h(s), vdit_conv2d_out_w(s), s.IC, s.KH, s.KW, 1, s.KH - 1 - s.pad};
    return t;
}

/* Backward of one image: dw_t += dout_n @ col_n^T, db_t += rowsum(dout_n),
 * dinp_n += the input gradient. col is scratch of conv2d_col_floats(s);
 * wt the transposed weights when conv2d_dinp_as_conv(s). */
static void conv2d_back_one(float *dinp_n, float *dw_t, float *db_t, const float *dout_n, const float *img,
                            const float *w, const float *wt, float *col, vdit_conv2d_shape s, int OH, int OW)
{
    int K = s.IC * s.KH * s.KW, P = OH * OW;
    int pw = conv2d_is_pointwise(s);
    if (dw_t) {
        const float *cm = img;
        if (!pw) {
            conv2d_im2col(col, img, s, OH, OW);
            cm = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.OC, K, P, 1.0f, dout_n, P, cm, P, 1.0f, dw_t, K);
    }
    if (db_t)
        for (int o = 0; o < s.OC; o++) {
            float acc = 0.0f;
            for (int i = 0; i < P; i++) acc += dout_n[(size_t)o * P + i];
            db_t[o] += acc;
        }
    if (!dinp_n) return;
    int HW = s.H * s.W;
    if (pw) { /* dinp_n += w^T @ dout_n straight into the image */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, s.OC, 1.0f, w, K, dout_n, P, 1.0f, dinp_n, P);
    } else if (wt) { /* dinp_n[IC][HW] += wt[IC][OC*KH*KW] @ im2col(dout_n) */
        vdit_conv2d_shape t = conv2d_transposed(s);
        int Kt = s.OC * s.KH * s.KW;
        conv2d_im2col(col, dout_n, t, s.H, s.W);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.IC, HW, Kt, 1.0f, wt, Kt, col, HW, 1.0f, dinp_n, HW);
    } else { /* dcol = w^T @ dout_n, then scatter-add into the image */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, s.OC, 1.0f, w, K, dout_n, P, 0.0f, col, P);
        size_t rows = (size_t)s.KH * s.KW;
        for (int ic = 0; ic < s.IC; ic++)
            col2im_plane(dinp_n + (size_t)ic * HW, col + ic * rows * P, s.H, s.W, s.KH, s.KW, s.stride, s.pad, OH,
                         OW);
    }
}

void vdit_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          vdit_conv2d_shape s, float *work)
{
    /* forward: out[n][o][oy][ox] = b[o] + sum_{i,ky,kx} w[o][i][ky][kx] inp[n][i][oy*s-p+ky][ox*s-p+kx] */
    int OH = vdit_conv2d_out_h(s), OW = vdit_conv2d_out_w(s);
    size_t K = (size_t)s.IC * s.KH * s.KW, P = (size_t)OH * OW;
    size_t in_sz = (size_t)s.IC * s.H * s.W, out_sz = (size_t)s.OC * P, wsz = (size_t)s.OC * K;
    int nt = max_threads(), par = conv2d_parallel(s, nt), nbuf = par ? nt : 1;
    int as_conv = dinp && conv2d_dinp_as_conv(s);
    /* work: per thread one column buffer (im2col of the input, then of dout
     * or dcol) and partial dw, db; then the transposed weights */
    size_t col_sz = conv2d_col_floats(s, dinp != NULL);
    size_t part = par ? (dw ? wsz : 0) + (db ? (size_t)s.OC : 0) : 0, per = col_sz + part;
    float *ws = work, *wt = as_conv ? work + (size_t)nbuf * per : NULL;
    if (wt)
        for (int o = 0; o < s.OC; o++)
            for (int i = 0; i < s.IC; i++)
                for (int k = 0; k < s.KH * s.KW; k++)
                    wt[((size_t)i * s.OC + o) * s.KH * s.KW + (s.KH * s.KW - 1 - k)] =
                        w[((size_t)o * s.IC + i) * s.KH * s.KW + k];
    if (par) {
        for (int t = 0; t < nt; t++) memset(ws + t * per + col_sz, 0, part * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int n = 0; n < s.N; n++) {
            float *t = ws + thread_num() * per;
            conv2d_back_one(dinp ? dinp + n * in_sz : NULL, dw ? t + col_sz : NULL,
                            db ? t + col_sz + (dw ? wsz : 0) : NULL, dout + n * out_sz, inp + n * in_sz, w, wt, t, s,
                            OH, OW);
        }
        /* partial sums, added in thread order */
        for (int t = 0; t < nt; t++) {
            const float *pdw = ws + t * per + col_sz, *pdb = pdw + (dw ? wsz : 0);
            if (dw)
                for (size_t i = 0; i < wsz; i++) dw[i] += pdw[i];
            if (db)
                for (int o = 0; o < s.OC; o++) db[o] += pdb[o];
        }
    } else {
        for (int n = 0; n < s.N; n++)
            conv2d_back_one(dinp ? dinp + n * in_sz : NULL, dw, db, dout + n * out_sz, inp + n * in_sz, w, wt, ws, s,
                            OH, OW);
    }
}

void vdit_conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                              vdit_conv2d_shape s)
{
    int OH = vdit_conv2d_out_h(s), OW = vdit_conv2d_out_w(s);
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    float g = dout[(((size_t)n * s.OC + o) * OH + oy) * OW + ox];
                    if (db) db[o] += g;
                    for (int i = 0; i < s.IC; i++)
                        for (int ky = 0; ky < s.KH; ky++)
                            for (int kx = 0; kx < s.KW; kx++) {
                                int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                size_t wi = ((size_t)(o * s.IC + i) * s.KH + ky) * s.KW + kx;
                                size_t xi = (((size_t)n * s.IC + i) * s.H + iy) * s.W + ix;
                                if (dw) dw[wi] += g * inp[xi];
                                if (dinp) dinp[xi] += g * w[wi];
                            }
                }
}

/* ------------------------------------------------------------------------
 * conv3d on frame-major videos [B][T][C][H][W]
 *
 * Output frame t' reads input frames t'*st - front + dt, dt < KT, where
 * front = pt and, unless causal, pt more zero frames pad the end. Causal
 * (pads only the past) with pt = KT - st: frame t' sees input frames up to
 * t'*st + st - 1 and never a later one.
 * ---------------------------------------------------------------------- */

int vdit_conv3d_out_t(vdit_conv3d_shape s) { return (s.T + s.pt + (s.causal ? 0 : s.pt) - s.KT) / s.st + 1; }
int vdit_conv3d_out_h(vdit_conv3d_shape s) { return (s.H + 2 * s.ps - s.KH) / s.ss + 1; }
int vdit_conv3d_out_w(vdit_conv3d_shape s) { return (s.W + 2 * s.ps - s.KW) / s.ss + 1; }

/* col[IC*KT*KH*KW][OH*OW] for output frame t' of video b, rows ordered
 * (ic, dt, ky, kx) as the Conv3d weight w[OC][IC][KT][KH][KW]. */
static void conv3d_im2col(float *col, const float *video, int tp, vdit_conv3d_shape s, int OH, int OW)
{
    size_t rows = (size_t)s.KH * s.KW, P = (size_t)OH * OW, frame = (size_t)s.IC * s.H * s.W;
    for (int ic = 0; ic < s.IC; ic++)
        for (int dt = 0; dt < s.KT; dt++) {
            int t = tp * s.st - s.pt + dt;
            const float *plane = t >= 0 && t < s.T ? video + t * frame + (size_t)ic * s.H * s.W : NULL;
            im2col_plane(col + ((size_t)ic * s.KT + dt) * rows * P, plane, s.H, s.W, s.KH, s.KW, s.ss, s.ps, OH, OW);
        }
}

static void conv3d_col2im(float *dvideo, const float *dcol, int tp, vdit_conv3d_shape s, int OH, int OW)
{
    size_t rows = (size_t)s.KH * s.KW, P = (size_t)OH * OW, frame = (size_t)s.IC * s.H * s.W;
    for (int ic = 0; ic < s.IC; ic++)
        for (int dt = 0; dt < s.KT; dt++) {
            int t = tp * s.st - s.pt + dt;
            if (t < 0 || t >= s.T) continue;
            col2im_plane(dvideo + t * frame + (size_t)ic * s.H * s.W, dcol + ((size_t)ic * s.KT + dt) * rows * P, s.H,
                         s.W, s.KH, s.KW, s.ss, s.ps, OH, OW);
        }
}

/* The forward runs output frames in parallel, the backward videos (the
 * output frames of one video scatter into overlapping input frames); each
 * when there are enough of them and enough work. */
static int conv3d_fwd_parallel(vdit_conv3d_shape s, int nt)
{
    int OT = vdit_conv3d_out_t(s), K = s.IC * s.KT * s.KH * s.KW, P = vdit_conv3d_out_h(s) * vdit_conv3d_out_w(s);
    int nout = s.B * OT;
    return nout >= nt && nt > 1 && (double)nout * s.OC * K * P >= PAR_MIN_MACS;
}

static int conv3d_bwd_parallel(vdit_conv3d_shape s, int nt)
{
    int OT = vdit_conv3d_out_t(s), K = s.IC * s.KT * s.KH * s.KW, P = vdit_conv3d_out_h(s) * vdit_conv3d_out_w(s);
    return s.B >= nt && nt > 1 && (double)s.B * OT * s.OC * K * P >= PAR_MIN_MACS;
}

/* floats of one column buffer: im2col of one output frame */
static size_t conv3d_col_floats(vdit_conv3d_shape s)
{
    return (size_t)s.IC * s.KT * s.KH * s.KW * vdit_conv3d_out_h(s) * vdit_conv3d_out_w(s);
}

size_t vdit_conv3d_scratch(vdit_conv3d_shape s)
{
    int nt = max_threads();
    size_t col = conv3d_col_floats(s), wsz = (size_t)s.OC * s.IC * s.KT * s.KH * s.KW;
    size_t fwd = (size_t)(conv3d_fwd_parallel(s, nt) ? nt : 1) * col;
    size_t bwd = (size_t)(conv3d_bwd_parallel(s, nt) ? nt : 1) * (2 * col + wsz + (size_t)s.OC);
    return fwd > bwd ? fwd : bwd;
}

void vdit_conv3d_forward(float *out, const float *inp, const float *w, const float *b, vdit_conv3d_shape s,
                         float *work)
{
    int OT = vdit_conv3d_out_t(s), OH = vdit_conv3d_out_h(s), OW = vdit_conv3d_out_w(s);
    int K = s.IC * s.KT * s.KH * s.KW, P = OH * OW, nout = s.B * OT;
    size_t vid = (size_t)s.T * s.IC * s.H * s.W, out_sz = (size_t)s.OC * P, col_sz = conv3d_col_floats(s);
    int par = conv3d_fwd_parallel(s, max_threads());
    float *cols = work; /* one column buffer per thread */
#pragma omp parallel for schedule(static) if (par)
    for (int j = 0; j < nout; j++) { /* output frame j = b*OT + t' */
        float *col = cols + (par ? thread_num() : 0) * col_sz, *o = out + j * out_sz;
        conv3d_im2col(col, inp + (j / OT) * vid, j % OT, s, OH, OW);
        conv_gemm(o, w, col, b, s.OC, K, P);
    }
}

void vdit_conv3d_forward_ref(float *out, const float *inp, const float *w, const float *b, vdit_conv3d_shape s)
{
    int OT = vdit_conv3d_out_t(s), OH = vdit_conv3d_out_h(s), OW = vdit_conv3d_out_w(s);
    for (int bb = 0; bb < s.B; bb++)
        for (int tp = 0; tp < OT; tp++)
            for (int o = 0; o < s.OC; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double acc = b ? b[o] : 0.0;
                        for (int i = 0; i < s.IC; i++)
                            for (int dt = 0; dt < s.KT; dt++)
                                for (int ky = 0; ky < s.KH; ky++)
                                    for (int kx = 0; kx < s.KW; kx++) {
                                        int t = tp * s.st - s.pt + dt, iy = oy * s.ss - s.ps + ky,
                                            ix = ox * s.ss - s.ps + kx;
                                        if (t < 0 || t >= s.T || iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                        acc +=
                                            (double)w[(((size_t)(o * s.IC + i) * s.KT + dt) * s.KH + ky) * s.KW + kx] *
                                            inp[((((size_t)bb * s.T + t) * s.IC + i) * s.H + iy) * s.W + ix];
                                    }
                        out[((((size_t)bb * OT + tp) * s.OC + o) * OH + oy) * OW + ox] = (float)acc;
                    }
}

void vdit_conv3d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          vdit_conv3d_shape s, float *work)
{
    /* forward: out[b][t'][o][oy][ox] = b[o] + sum_{i,dt,ky,kx} w[o][i][dt][ky][kx]
     *            * inp[b][t'*st-pt+dt][i][oy*ss-ps+ky][ox*ss-ps+kx] */
    int OT = vdit_conv3d_out_t(s), OH = vdit_conv3d_out_h(s), OW = vdit_conv3d_out_w(s);
    int K = s.IC * s.KT * s.KH * s.KW, P = OH * OW;
    size_t vid = (size_t)s.T * s.IC * s.H * s.W, out_sz = (size_t)s.OC * P, col_sz = conv3d_col_floats(s);
    size_t wsz = (size_t)s.OC * K;
    /* The loop runs over videos; threads sum their own dw, db (work: per
     * thread col, dcol, partial dw, db), added in thread order below. */
    int nt = max_threads(), par = conv3d_bwd_parallel(s, nt), nbuf = par ? nt : 1;
    size_t per = 2 * col_sz + wsz + (size_t)s.OC;
    float *ws = work;
    for (int t = 0; t < nbuf; t++) memset(ws + t * per + 2 * col_sz, 0, (wsz + (size_t)s.OC) * sizeof(float));
#pragma omp parallel for schedule(static) if (par)
    for (int bb = 0; bb < s.B; bb++) {
        float *t = ws + (par ? thread_num() : 0) * per;
        float *col = t, *dcol = t + col_sz, *pdw = t + 2 * col_sz, *pdb = pdw + wsz;
        for (int tp = 0; tp < OT; tp++) {
            const float *g = dout + ((size_t)bb * OT + tp) * out_sz;
            if (dw) {
                conv3d_im2col(col, inp + bb * vid, tp, s, OH, OW);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.OC, K, P, 1.0f, g, P, col, P, 1.0f, pdw, K);
            }
            if (db)
                for (int o = 0; o < s.OC; o++) {
                    float acc = 0.0f;
                    for (int i = 0; i < P; i++) acc += g[(size_t)o * P + i];
                    pdb[o] += acc;
                }
            if (dinp) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, s.OC, 1.0f, w, K, g, P, 0.0f, dcol, P);
                conv3d_col2im(dinp + bb * vid, dcol, tp, s, OH, OW);
            }
        }
    }
    for (int t = 0; t < nbuf; t++) {
        const float *pdw = ws + t * per + 2 * col_sz, *pdb = pdw + wsz;
        if (dw)
            for (size_t i = 0; i < wsz; i++) dw[i] += pdw[i];
        if (db)
            for (int o = 0; o < s.OC; o++) db[o] += pdb[o];
    }
}

void vdit_conv3d_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                              vdit_conv3d_shape s)
{
    int OT = vdit_conv3d_out_t(s), OH = vdit_conv3d_out_h(s), OW = vdit_conv3d_out_w(s);
    for (int bb = 0; bb < s.B; bb++)
        for (int tp = 0; tp < OT; tp++)
            for (int o = 0; o < s.OC; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        float g = dout[((((size_t)bb * OT + tp) * s.OC + o) * OH + oy) * OW + ox];
                        if (db) db[o] += g;
                        for (int i = 0; i < s.IC; i++)
                            for (int dt = 0; dt < s.KT; dt++)
                                for (int ky = 0; ky < s.KH; ky++)
                                    for (int kx = 0; kx < s.KW; kx++) {
                                        int t = tp * s.st - s.pt + dt, iy = oy * s.ss - s.ps + ky,
                                            ix = ox * s.ss - s.ps + kx;
                                        if (t < 0 || t >= s.T || iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                        size_t wi = (((size_t)(o * s.IC + i) * s.KT + dt) * s.KH + ky) * s.KW + kx;
                                        size_t xi = ((((size_t)bb * s.T + t) * s.IC + i) * s.H + iy) * s.W + ix;
                                        if (dw) dw[wi] += g * inp[xi];
                                        if (dinp) dinp[xi] += g * w[wi];
                                    }
                    }
}

/* ------------------------------------------------------------------------
 * GroupNorm with affine parameters, per image
 * ---------------------------------------------------------------------- */

void vdit_groupnorm_forward(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta,
                            int N, int C, int HW, int G)
{
    int cg = C / G;
    size_t gsz = (size_t)cg * HW;
#pragma omp parallel for schedule(static) if ((size_t)N * C * HW >= PAR_MIN_ELEMS)
    for (int j = 0; j < N * G; j++) { /* group j = n*G + g */
        const float *xg = x + (size_t)j * gsz;
        /* two passes in double: a near-constant group keeps its variance exact */
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < gsz; i++) m += xg[i];
        m /= (double)gsz;
        for (size_t i = 0; i < gsz; i++) v += (xg[i] - m) * (xg[i] - m);
        v /= (double)gsz;
        float rs = (float)(1.0 / sqrt(v + VDIT_GN_EPS)), mf = (float)m;
        mean[j] = mf;
        rstd[j] = rs;
        int c0 = (j % G) * cg;
        float *og = out + (size_t)j * gsz;
        for (int c = 0; c < cg; c++) {
            float sc = rs * gamma[c0 + c], sh = beta[c0 + c] - mf * sc;
            const float *xc = xg + (size_t)c * HW;
            float *oc = og + (size_t)c * HW;
            for (int i = 0; i < HW; i++) oc[i] = xc[i] * sc + sh;
        }
    }
}

void vdit_groupnorm_forward_ref(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                const float *beta, int N, int C, int HW, int G)
{
    int cg = C / G;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            double m = 0.0, v = 0.0;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) m += x[((size_t)n * C + c) * HW + i];
            m /= (double)cg * HW;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) {
                    double d = x[((size_t)n * C + c) * HW + i] - m;
                    v += d * d;
                }
            v /= (double)cg * HW;
            double rs = 1.0 / sqrt(v + VDIT_GN_EPS);
            mean[n * G + g] = (float)m;
            rstd[n * G + g] = (float)rs;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * C + c) * HW + i;
                    out[k] = (float)((x[k] - m) * rs * gamma[c] + beta[c]);
                }
        }
}

size_t vdit_groupnorm_scratch(int N, int C) { return (size_t)N * C * 2; }

void vdit_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int N, int C, int HW, int G,
                             float *work)
{
    /* forward: out = xhat * gamma[c] + beta[c], xhat = (x - mean_g) * rstd_g
     *   dbeta[c] += sum dout;  dgamma[c] += sum dout * xhat
     *   dx += rstd * (dxhat - mean_g(dxhat) - xhat * mean_g(dxhat * xhat)),  dxhat = dout * gamma[c]
     * Per-image channel sums go to work[N][C][2], then are added over n in
     * order, so the result does not depend on the schedule. */
    int cg = C / G;
    size_t gsz = (size_t)cg * HW;
    float *sums = work;
#pragma omp parallel for schedule(static) if ((size_t)N * C * HW >= PAR_MIN_ELEMS)
    for (int j = 0; j < N * G; j++) {
        const float *xg = x + (size_t)j * gsz, *dg = dout + (size_t)j * gsz;
        float m = mean[j], rs = rstd[j];
        int c0 = (j % G) * cg, n = j / G;
        double a = 0.0, bsum = 0.0; /* sum dxhat, sum dxhat * xhat over the group */
        for (int c = 0; c < cg; c++) {
            const float *xc = xg + (size_t)c * HW, *gc = dg + (size_t)c * HW;
            float s1 = 0.0f, s2 = 0.0f;
            for (int i = 0; i < HW; i++) {
                s1 += gc[i];
                s2 += gc[i] * (xc[i] - m);
            }
            s2 *= rs; /* sum dout * xhat */
            sums[((size_t)n * C + c0 + c) * 2] = s1;
            sums[((size_t)n * C + c0 + c) * 2 + 1] = s2;
            a += (double)s1 * gamma[c0 + c];
            bsum += (double)s2 * gamma[c0 + c];
        }
        if (dx) {
            float ma = (float)(a / (double)gsz), mb = (float)(bsum / (double)gsz);
            float *dxg = dx + (size_t)j * gsz;
            for (int c = 0; c < cg; c++) {
                float gm = gamma[c0 + c];
                const float *xc = xg + (size_t)c * HW, *gc = dg + (size_t)c * HW;
                float *dc = dxg + (size_t)c * HW;
                for (int i = 0; i < HW; i++) {
                    float xh = (xc[i] - m) * rs;
                    dc[i] += rs * (gc[i] * gm - ma - xh * mb);
                }
            }
        }
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            dbeta[c] += sums[((size_t)n * C + c) * 2];
            dgamma[c] += sums[((size_t)n * C + c) * 2 + 1];
        }
}

void vdit_groupnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                                 const float *mean, const float *rstd, const float *gamma, int N, int C, int HW, int G)
{
    int cg = C / G;
    double cnt = (double)cg * HW;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            double m = mean[n * G + g], rs = rstd[n * G + g], a = 0.0, bsum = 0.0;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * C + c) * HW + i;
                    double xh = (x[k] - m) * rs;
                    dbeta[c] += dout[k];
                    dgamma[c] += (float)(dout[k] * xh);
                    a += dout[k] * gamma[c];
                    bsum += dout[k] * gamma[c] * xh;
                }
            if (!dx) continue;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * C + c) * HW + i;
                    double xh = (x[k] - m) * rs;
                    dx[k] += (float)(rs * (dout[k] * gamma[c] - a / cnt - xh * bsum / cnt));
                }
        }
}

/* ------------------------------------------------------------------------
 * Nearest upsampling of a frame-major video, ft in time and fs in space
 * ---------------------------------------------------------------------- */

void vdit_upsample_nearest_forward(float *out, const float *inp, int B, int T, int C, int H, int W, int ft, int fs)
{
    int OT = T * ft, OH = H * fs, OW = W * fs;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * OT * C * OH * OW >= PAR_MIN_ELEMS)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < OT; t++)
            for (int c = 0; c < C; c++) {
                const float *src = inp + (((size_t)b * T + t / ft) * C + c) * H * W;
                float *dst = out + (((size_t)b * OT + t) * C + c) * OH * OW;
                for (int y = 0; y < OH; y++) {
                    const float *sr = src + (size_t)(y / fs) * W;
                    float *dr = dst + (size_t)y * OW;
                    for (int x = 0; x < OW; x++) dr[x] = sr[x / fs];
                }
            }
}

void vdit_upsample_nearest_backward(float *dinp, const float *dout, int B, int T, int C, int H, int W, int ft, int fs)
{
    /* forward: out[b][t][c][y][x] = inp[b][t/ft][c][y/fs][x/fs]; dinp += the sum of its ft*fs*fs copies.
     * Each input frame gathers from its own ft output frames: safe in parallel. */
    int OT = T * ft, OH = H * fs, OW = W * fs;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * OT * C * OH * OW >= PAR_MIN_ELEMS)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                float *di = dinp + (((size_t)b * T + t) * C + c) * H * W;
                for (int k = 0; k < ft; k++) {
                    const float *g = dout + (((size_t)b * OT + t * ft + k) * C + c) * OH * OW;
                    for (int y = 0; y < OH; y++)
                        for (int x = 0; x < OW; x++) di[(size_t)(y / fs) * W + x / fs] += g[(size_t)y * OW + x];
                }
            }
}
