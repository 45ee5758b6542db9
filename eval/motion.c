/* motion.c - pixel-level metrics: the Physics-IQ motion-mask pipeline and
 * its four metrics, the Verified-style score, VBench's temporal flicker.
 *
 * The mask pipeline follows Physics-IQ's binary_mask_generator.py step by
 * step, in the integer arithmetic OpenCV uses for uint8 images, so a mask
 * computed here is the one cv2 would compute on the same frames. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * grey, blur
 * ---------------------------------------------------------------------- */

/* cv2.COLOR_RGB2GRAY on uint8: Y = 0.299 R + 0.587 G + 0.114 B in 14-bit
 * fixed point with rounding. rgb[H][W][3] -> grey[H][W] */
void eval_grey(const uint8_t *rgb, int H, int W, uint8_t *grey)
{
    size_t n = (size_t)H * W;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = rgb + 3 * i;
        grey[i] = (uint8_t)((p[0] * 4899u + p[1] * 9617u + p[2] * 1868u + 8192u) >> 14);
    }
}

/* BORDER_REFLECT_101: gfedcb|abcdefgh|gfedcba */
static int reflect101(int i, int n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * n - 2 - i;
    }
    return i;
}

/* cv2.GaussianBlur(g, (5, 5), 0): sigma 0 with ksize 5 selects OpenCV's
 * fixed binomial kernel [1 4 6 4 1]/16; separable, 2-D weights sum to 256,
 * so out = (sum + 128) >> 8 exactly. in[H][W] -> out[H][W], tmp[H][W] */
void eval_blur5(const uint8_t *in, int H, int W, uint8_t *out, uint16_t *tmp)
{
    static const unsigned k[5] = {1, 4, 6, 4, 1};
    for (int i = 0; i < H; i++) {
        const uint8_t *r = in + (size_t)i * W;
        uint16_t *t = tmp + (size_t)i * W;
        for (int j = 0; j < W; j++) {
            unsigned s;
            if (j >= 2 && j + 2 < W)
                s = r[j - 2] + 4u * r[j - 1] + 6u * r[j] + 4u * r[j + 1] + r[j + 2];
            else {
                s = 0;
                for (int d = -2; d <= 2; d++) s += k[d + 2] * r[reflect101(j + d, W)];
            }
            t[j] = (uint16_t)s;
        }
    }
    for (int i = 0; i < H; i++) {
        const uint16_t *rows[5];
        for (int d = -2; d <= 2; d++) rows[d + 2] = tmp + (size_t)reflect101(i + d, H) * W;
        uint8_t *o = out + (size_t)i * W;
        for (int j = 0; j < W; j++) {
            unsigned s = rows[0][j] + 4u * rows[1][j] + 6u * rows[2][j] + 4u * rows[3][j] + rows[4][j];
            o[j] = (uint8_t)((s + 128u) >> 8);
        }
    }
}

/* ------------------------------------------------------------------------
 * 5x5 binary morphology on bit rows (64 pixels a word). OpenCV's default
 * border value for erode/dilate never wins the min/max, so the window is
 * the 5x5 square clipped to the frame: a dilation shifts zeros in, and an
 * erosion is the complement of the dilation of the complement (whose
 * outside is zero again). A clipped square is separable: rows, then
 * columns.
 * ---------------------------------------------------------------------- */

typedef struct {
    int H, W, nw;   /* nw words a row */
    uint64_t last;  /* valid bits of a row's last word */
    uint64_t *a, *b; /* [H][nw] each */
} bitmask;

static int bm_init(bitmask *m, int H, int W)
{
    m->H = H, m->W = W, m->nw = (W + 63) / 64;
    m->last = (W % 64) ? ((uint64_t)1 << (W % 64)) - 1 : ~(uint64_t)0;
    m->a = malloc((size_t)H * m->nw * 2 * sizeof(uint64_t));
    m->b = m->a ? m->a + (size_t)H * m->nw : NULL;
    return m->a ? 0 : -1;
}

static void bm_free(bitmask *m) { free(m->a); }

static void bm_pack(bitmask *m, const uint8_t *in)
{
    memset(m->a, 0, (size_t)m->H * m->nw * sizeof(uint64_t));
    for (int i = 0; i < m->H; i++) {
        const uint8_t *r = in + (size_t)i * m->W;
        uint64_t *w = m->a + (size_t)i * m->nw;
        for (int j = 0; j < m->W; j++) w[j >> 6] |= (uint64_t)(r[j] != 0) << (j & 63);
    }
}

static void bm_unpack(const bitmask *m, uint8_t *out)
{
    for (int i = 0; i < m->H; i++) {
        const uint64_t *w = m->a + (size_t)i * m->nw;
        uint8_t *r = out + (size_t)i * m->W;
        for (int j = 0; j < m->W; j++) r[j] = (uint8_t)((w[j >> 6] >> (j & 63)) & 1);
    }
}

static void bm_not(bitmask *m)
{
    for (int i = 0; i < m->H; i++) {
        uint64_t *w = m->a + (size_t)i * m->nw;
        for (int k = 0; k < m->nw; k++) w[k] = ~w[k];
        w[m->nw - 1] &= m->last;
    }
}

/* a = 5x5 dilation of a (b is scratch); bits outside the frame stay 0 */
static void bm_dilate(bitmask *m)
{
    int nw = m->nw;
    for (int i = 0; i < m->H; i++) { /* rows: pixel j ORs j-2..j+2 */
        const uint64_t *x = m->a + (size_t)i * nw;
        uint64_t *h = m->b + (size_t)i * nw;
        for (int k = 0; k < nw; k++) {
            uint64_t lo = k > 0 ? x[k - 1] : 0, hi = k + 1 < nw ? x[k + 1] : 0, v = x[k];
            h[k] = v | (v << 1) | (lo >> 63) | (v << 2) | (lo >> 62) | (v >> 1) | (hi << 63) | (v >> 2) | (hi << 62);
        }
        h[nw - 1] &= m->last;
    }
    for (int i = 0; i < m->H; i++) { /* columns */
        int i0 = i - 2 < 0 ? 0 : i - 2, i1 = i + 2 >= m->H ? m->H - 1 : i + 2;
        uint64_t *o = m->a + (size_t)i * nw;
        for (int k = 0; k < nw; k++) {
            uint64_t v = 0;
            for (int a = i0; a <= i1; a++) v |= m->b[(size_t)a * nw + k];
            o[k] = v;
        }
    }
}

static void bm_erode(bitmask *m)
{
    bm_not(m);
    bm_dilate(m);
    bm_not(m);
}

static void morph5(const uint8_t *in, int H, int W, uint8_t *out, int dilate)
{
    bitmask m;
    if (bm_init(&m, H, W)) { /* no memory: the direct form */
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int v = dilate ? 0 : 1;
                for (int a = i - 2; a <= i + 2; a++)
                    for (int b = j - 2; b <= j + 2; b++) {
                        if (a < 0 || a >= H || b < 0 || b >= W) continue;
                        int x = in[(size_t)a * W + b] != 0;
                        v = dilate ? (v | x) : (v & x);
                    }
                out[(size_t)i * W + j] = (uint8_t)v;
            }
        return;
    }
    bm_pack(&m, in);
    if (dilate)
        bm_dilate(&m);
    else
        bm_erode(&m);
    bm_unpack(&m, out);
    bm_free(&m);
}

void eval_erode5(const uint8_t *in, int H, int W, uint8_t *out) { morph5(in, H, W, out, 0); }
void eval_dilate5(const uint8_t *in, int H, int W, uint8_t *out) { morph5(in, H, W, out, 1); }

/* ------------------------------------------------------------------------
 * The mask pipeline
 * ---------------------------------------------------------------------- */

int eval_motion_masks(const uint8_t *video, int T, int H, int W, uint8_t *masks, vdit_err *err)
{
    if (T < 1 || H < 1 || W < 1) return vdit_seterr(err, "motion masks: empty video [%d][%d][%d]", T, H, W);
    size_t n = (size_t)H * W;
    uint8_t *grey = malloc(n), *blur = malloc(n), *a = malloc(n);
    uint16_t *tmp = malloc(n * sizeof(uint16_t));
    double *avg = malloc(n * sizeof(double));
    bitmask bm;
    int bm_ok = bm_init(&bm, H, W) == 0;
    if (!grey || !blur || !a || !tmp || !avg || !bm_ok) {
        free(grey), free(blur), free(a), free(tmp), free(avg);
        if (bm_ok) bm_free(&bm);
        return vdit_seterr(err, "motion masks: out of memory for a %dx%d frame", H, W);
    }
    for (int t = 0; t < T; t++) {
        eval_grey(video + (size_t)t * n * 3, H, W, grey);
        eval_blur5(grey, H, W, blur, tmp);
        uint8_t *m = masks + (size_t)t * n;
        if (t == 0) {
            for (size_t i = 0; i < n; i++) avg[i] = blur[i];
            memset(m, 0, n);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            /* cv2.accumulateWeighted: dst = src * alpha + dst * (1 - alpha), in double */
            avg[i] = blur[i] * 0.3 + avg[i] * (1.0 - 0.3);
            /* cv2.convertScaleAbs of a float64 image works in float:
             * saturate_cast<uchar>(|(float)avg|), rounding to nearest even */
            long r = lrintf(fabsf((float)avg[i]));
            int bg = r > 255 ? 255 : (int)r;
            int d = blur[i] > bg ? blur[i] - bg : bg - blur[i];
            a[i] = d > 10; /* cv2.threshold(.., 10, 255, THRESH_BINARY): src > 10 */
        }
        /* opening (erode, dilate), then closing (dilate, erode) */
        bm_pack(&bm, a);
        bm_erode(&bm);
        bm_dilate(&bm);
        bm_dilate(&bm);
        bm_erode(&bm);
        bm_unpack(&bm, m);
    }
    free(grey), free(blur), free(a), free(tmp), free(avg);
    bm_free(&bm);
    return 0;
}

/* ------------------------------------------------------------------------
 * The four metrics (Physics-IQ's calculate_and_write_metrics_to_csv.py)
 * ---------------------------------------------------------------------- */

void eval_mask_metrics(const uint8_t *mask_a, const uint8_t *mask_b, const uint8_t *video_a, const uint8_t *video_b,
                       int T, int H, int W, int t0, double out[4])
{
    size_t n = (size_t)H * W;
    int nf = T - t0;
    if (nf <= 0) {
        for (int k = 0; k < 4; k++) out[k] = NAN;
        return;
    }
    /* per-pixel counts of frames with motion: OR over time is count > 0,
     * the weighted spatial mask is count / nf (the 1/nf cancels in the ratio) */
    uint16_t *ca = calloc(n, sizeof(uint16_t)), *cb = calloc(n, sizeof(uint16_t));
    double st = 0.0, mse = 0.0;
    for (int t = t0; t < T; t++) {
        const uint8_t *a = mask_a + (size_t)t * n, *b = mask_b + (size_t)t * n;
        size_t inter = 0, uni = 0;
        for (size_t i = 0; i < n; i++) {
            inter += a[i] & b[i];
            uni += a[i] | b[i];
            if (ca) ca[i] += a[i];
            if (cb) cb[i] += b[i];
        }
        st += uni ? (double)inter / (double)uni : 1.0;
        const uint8_t *va = video_a + (size_t)t * n * 3, *vb = video_b + (size_t)t * n * 3;
        uint64_t sq = 0;
        for (size_t i = 0; i < 3 * n; i++) {
            int d = (int)va[i] - (int)vb[i];
            sq += (uint64_t)(d * d);
        }
        mse += (double)sq / (255.0 * 255.0) / (double)(3 * n);
    }
    out[EVAL_MASK_ST] = st / nf;
    out[EVAL_MASK_MSE] = mse / nf;
    if (!ca || !cb) {
        out[EVAL_MASK_SPATIAL] = out[EVAL_MASK_WSPATIAL] = NAN;
    } else {
        size_t inter = 0, uni = 0;
        uint64_t smin = 0, smax = 0;
        for (size_t i = 0; i < n; i++) {
            int pa = ca[i] > 0, pb = cb[i] > 0;
            inter += pa & pb;
            uni += pa | pb;
            smin += ca[i] < cb[i] ? ca[i] : cb[i];
            smax += ca[i] > cb[i] ? ca[i] : cb[i];
        }
        out[EVAL_MASK_SPATIAL] = uni ? (double)inter / (double)uni : 1.0;
        out[EVAL_MASK_WSPATIAL] = smax ? (double)smin / (double)smax : 1.0;
    }
    free(ca);
    free(cb);
}

static double clip01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

/* x / y; Physics-IQ adds ratio_eps = 1e-8 to y, which only matters when
 * y = 0: there x / 1e-8, and 0/0 counts as a match (so the truth, with
 * variance 1 or MSE 0, scores exactly 1) */
static double ratio(double x, double y)
{
    if (y > 0.0) return x / y;
    return x == 0.0 ? 1.0 : x / 1e-8;
}

double eval_physics_iq_score(const double m[4], const double var[4])
{
    for (int k = 0; k < 4; k++)
        if (isnan(m[k]) || isnan(var[k])) return NAN;
    double s = clip01(ratio(m[EVAL_MASK_SPATIAL], var[EVAL_MASK_SPATIAL])) +
               clip01(ratio(m[EVAL_MASK_ST], var[EVAL_MASK_ST])) +
               clip01(ratio(m[EVAL_MASK_WSPATIAL], var[EVAL_MASK_WSPATIAL])) +
               clip01(ratio(var[EVAL_MASK_MSE], m[EVAL_MASK_MSE])); /* MSE: lower is better, so inverted */
    return s / 4.0;
}

/* ------------------------------------------------------------------------
 * VBench temporal flicker
 * ---------------------------------------------------------------------- */

double eval_flicker(const uint8_t *video, int T, int H, int W, int t0, const uint8_t *ex_a, const uint8_t *ex_b)
{
    size_t n = (size_t)H * W;
    double sum = 0.0;
    int used = 0;
    if (t0 < 1) t0 = 1;
    for (int t = t0; t < T; t++) {
        const uint8_t *f0 = video + (size_t)(t - 1) * n * 3, *f1 = video + (size_t)t * n * 3;
        const uint8_t *a0 = ex_a ? ex_a + (size_t)(t - 1) * n : NULL, *a1 = ex_a ? ex_a + (size_t)t * n : NULL;
        const uint8_t *b0 = ex_b ? ex_b + (size_t)(t - 1) * n : NULL, *b1 = ex_b ? ex_b + (size_t)t * n : NULL;
        uint64_t ad = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            if ((a0 && (a0[i] | a1[i])) || (b0 && (b0[i] | b1[i]))) continue;
            for (int c = 0; c < 3; c++) {
                int d = (int)f1[3 * i + c] - (int)f0[3 * i + c];
                ad += (uint64_t)(d < 0 ? -d : d);
            }
            cnt++;
        }
        if (!cnt) continue;
        sum += (double)ad / (double)(3 * cnt);
        used++;
    }
    if (!used) return NAN;
    return (255.0 - sum / used) / 255.0;
}

static inline int is_red(const uint8_t *p) { return p[0] > 127 && p[1] < 127 && p[2] < 127; }
static inline int is_blue(const uint8_t *p) { return p[0] < 127 && p[1] < 127 && p[2] > 127; }

void eval_ball_support(const uint8_t *video, int T, int S, int tint, uint8_t *out)
{
    size_t n = (size_t)S * S;
    bitmask bm;
    int ok = bm_init(&bm, S, S) == 0;
    for (int t = 0; t < T; t++) {
        const uint8_t *f = video + (size_t)t * n * 3;
        uint8_t *dst = out + (size_t)t * n;
        for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(is_red(f + 3 * i) | is_blue(f + 3 * i));
        if (ok) {
            bm_pack(&bm, dst);
            bm_dilate(&bm);
            bm_unpack(&bm, dst);
        } else {
            uint8_t *m = malloc(n);
            if (m) {
                memcpy(m, dst, n);
                morph5(m, S, S, dst, 1);
                free(m);
            }
        }
        if (tint) /* any trace of colour: a ball's faintest rim, or a sliver beside a wall */
            for (size_t i = 0; i < n; i++) {
                const uint8_t *p = f + 3 * i;
                dst[i] |= (uint8_t)(p[0] != p[1] || p[1] != p[2]);
            }
    }
    if (ok) bm_free(&bm);
}
