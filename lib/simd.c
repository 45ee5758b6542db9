/* simd.c - exp(x) for the GELU and for the softmax rows of attention, in
 * scalar code that GCC's vectoriser takes and in GCC's vector extensions,
 * 8 and 16 lanes at a time. The layers that use it are lib/kernels.c's
 * vdit_gelu_* and vdit_attention_*; simd.h says what each function does.
 */
#include "simd.h"
#include "kernels.h" /* vdit_kernel_lanes */

#include <stdint.h>
#include <string.h>

/* exp(x) for |x| < 88 to about 2 ulp, branch-free so that `omp simd` loops
 * vectorise (libm's expf/tanhf calls do not): x = n ln2 + r, |r| <= ln2/2,
 * exp(r) by a degree-6 polynomial (Cephes' coefficients), times 2^n built
 * in the exponent bits. */
static inline float exp_simd(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    /* n = floor(z) without libm's floorf (SSE2 has no vector floor, and the
     * call keeps the loop scalar): truncate, then step down where that went
     * up (z < 0); integer arithmetic, so that the loop if-converts */
    float z = x * 1.44269504088896341f + 0.5f;
    int32_t k = (int32_t)z;
    k -= (float)k > z;
    float n = (float)k;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = (k + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits +-1 for large |u| */
static inline float tanh_simd(float u) { return 1.0f - 2.0f / (exp_simd(2.0f * u) + 1.0f); }

/* ------------------------------------------------------------------------
 * Vector lanes: 8 (AVX2, or SSE2 in pairs) or 16 (AVX-512F) at a time
 *
 * The exp-heavy loops (GELU, the softmax rows of attention) run on GCC's
 * vector extensions through exactly the operations of exp_simd in the same
 * order (ISO C mode: no FMA contraction), so every element gets the bits of
 * the scalar formula, which handles the tails, whatever the lane count; a
 * row sum keeps 8 lane sums over whole blocks of 8 and adds them in a fixed
 * order, with 16 lanes, 8 or the scalar loop alike. The 8-lane loops are
 * compiled for AVX2 and for the baseline ISA (target_clones, the loader
 * picks one); the 16-lane ones for AVX-512F, taken where the CPU has it.
 * The results do not depend on which path ran (check_kernels runs them
 * all). GCC's own vectoriser does not take these loops once AVX is on: the
 * clamp of exp_simd becomes branches around a float to int conversion it
 * may not speculate. Other compilers run the scalar loops.
 * ---------------------------------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9 /* __builtin_convertvector */
#define V8 1
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
/* helpers take vectors by pointer: a vector wider than 16 bytes by value
 * would cross the baseline ABI (GCC notes it even where inlined) */
#define V_INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__ELF__)
#define V8_CLONES __attribute__((target_clones("avx2", "default")))
#define V16 1
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define V16_TARGET __attribute__((target("avx512f")))
#else
#define V8_CLONES
#define V16 0
#endif

/* *XP = exp_simd(*XP) lane by lane, XP a VF * (VI: the integer vector of
 * the same lanes; comparisons give lanes of 0 or -1) */
#define EXP_LANES(VF, VI, XP)                                                                     \
    do {                                                                                          \
        VF x_ = *(XP), lo_ = (VF){0} - 87.0f, hi_ = (VF){0} + 88.0f;                              \
        VI below_ = x_ < lo_, above_ = x_ > hi_;                                                  \
        x_ = (VF)((below_ & (VI)lo_) | (above_ & (VI)hi_) | (~(below_ | above_) & (VI)x_));        \
        VF z_ = x_ * 1.44269504088896341f + 0.5f;                                                 \
        VI k_ = __builtin_convertvector(z_, VI);                                                  \
        k_ += __builtin_convertvector(k_, VF) > z_; /* k -= (float)k > z: floor(z) */              \
        VF n_ = __builtin_convertvector(k_, VF);                                                  \
        VF r_ = x_ - n_ * 0.693359375f + n_ * 2.12194440e-4f;                                     \
        VF p_ = (VF){0} + 1.9875691500e-4f;                                                       \
        p_ = p_ * r_ + 1.3981999507e-3f;                                                          \
        p_ = p_ * r_ + 8.3334519073e-3f;                                                          \
        p_ = p_ * r_ + 4.1665795894e-2f;                                                          \
        p_ = p_ * r_ + 1.6666665459e-1f;                                                          \
        p_ = p_ * r_ + 5.0000001201e-1f;                                                          \
        p_ = p_ * r_ * r_ + r_ + 1.0f;                                                            \
        *(XP) = p_ * (VF)((k_ + 127) << 23);                                                      \
    } while (0)

/* GELU of the lanes at IN[0..) into OUT, as gelu_forward_span's scalar tail */
#define GELU_LANES(VF, VI, OUT, IN)                                                               \
    do {                                                                                          \
        VF x_, e_;                                                                                \
        memcpy(&x_, (IN), sizeof x_);                                                             \
        e_ = 2.0f * (GELU_K * (x_ + 0.044715f * x_ * x_ * x_)); /* tanh u = 1 - 2 / (exp(2u) + 1) */ \
        EXP_LANES(VF, VI, &e_);                                                                   \
        e_ = 0.5f * x_ * (1.0f + (1.0f - 2.0f / (e_ + 1.0f)));                                    \
        memcpy((OUT), &e_, sizeof e_);                                                            \
    } while (0)

/* DIN[0..) += GELU'(IN) * DOUT lane by lane, as gelu_backward_span's scalar tail */
#define GELU_GRAD_LANES(VF, VI, DIN, DOUT, IN)                                                    \
    do {                                                                                          \
        VF x_, e_, di_, dg_;                                                                      \
        memcpy(&x_, (IN), sizeof x_);                                                             \
        e_ = 2.0f * GELU_K * (x_ + 0.044715f * x_ * x_ * x_);                                     \
        EXP_LANES(VF, VI, &e_);                                                                   \
        VF inv_ = 1.0f / (e_ + 1.0f);                                                             \
        VF th_ = 1.0f - 2.0f * inv_, sech2_ = 4.0f * (e_ * inv_) * inv_;                          \
        VF local_ = 0.5f * (1.0f + th_) + 0.5f * x_ * sech2_ * GELU_K * (1.0f + 3.0f * 0.044715f * x_ * x_); \
        memcpy(&di_, (DIN), sizeof di_);                                                          \
        memcpy(&dg_, (DOUT), sizeof dg_);                                                         \
        di_ += local_ * dg_;                                                                      \
        memcpy((DIN), &di_, sizeof di_);                                                          \
    } while (0)
#else
#define V8 0
#define V16 0
#define V8_CLONES
#endif

static int max_lanes = 16;

int vdit_kernel_lanes(int lanes)
{
    int old = max_lanes;
    max_lanes = lanes >= 16 ? 16 : lanes >= 8 ? 8 : 1;
    return old;
}

int simd_lanes(void)
{
#if V16
    __builtin_cpu_init();
    if (max_lanes >= 16 && __builtin_cpu_supports("avx512f")) return 16;
#endif
    return V8 && max_lanes >= 8 ? 8 : 1;
}

/* ------------------------------------------------------------------------
 * GELU spans
 * ---------------------------------------------------------------------- */

/* out[i0..n) = GELU(inp): 8 lanes (unless lanes < 8), then the scalar tail */
V8_CLONES static void gelu_forward_span(float *out, const float *inp, size_t i0, size_t n, int lanes)
{
    size_t i = i0;
#if V8
    for (; lanes >= 8 && i + 8 <= n; i += 8) GELU_LANES(v8f, v8i, out + i, inp + i);
#endif
    for (; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanh_simd(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

/* dinp[i0..n) += GELU'(inp) * dout */
V8_CLONES static void gelu_backward_span(float *dinp, const float *dout, const float *inp, size_t i0, size_t n,
                                         int lanes)
{
    /* with e = exp(2u): tanh u = 1 - 2/(e + 1), 1 - tanh^2 u = 4e/(e + 1)^2 (no cancellation near 1) */
    size_t i = i0;
#if V8
    for (; lanes >= 8 && i + 8 <= n; i += 8) GELU_GRAD_LANES(v8f, v8i, dinp + i, dout + i, inp + i);
#endif
    for (; i < n; i++) {
        float x = inp[i];
        float e = exp_simd(2.0f * GELU_K * (x + 0.044715f * x * x * x)), inv = 1.0f / (e + 1.0f);
        float th = 1.0f - 2.0f * inv, sech2 = 4.0f * (e * inv) * inv;
        float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

#if V16
V16_TARGET static void gelu_forward_span16(float *out, const float *inp, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) GELU_LANES(v16f, v16i, out + i, inp + i);
    gelu_forward_span(out, inp, i, n, 8);
}

V16_TARGET static void gelu_backward_span16(float *dinp, const float *dout, const float *inp, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) GELU_GRAD_LANES(v16f, v16i, dinp + i, dout + i, inp + i);
    gelu_backward_span(dinp, dout, inp, i, n, 8);
}
#endif

void simd_gelu_span(float *out, const float *inp, size_t n, int lanes)
{
#if V16
    if (lanes == 16) {
        gelu_forward_span16(out, inp, n);
        return;
    }
#endif
    gelu_forward_span(out, inp, 0, n, lanes);
}

void simd_gelu_grad_span(float *dinp, const float *dout, const float *inp, size_t n, int lanes)
{
#if V16
    if (lanes == 16) {
        gelu_backward_span16(dinp, dout, inp, n);
        return;
    }
#endif
    gelu_backward_span(dinp, dout, inp, 0, n, lanes);
}

/* ------------------------------------------------------------------------
 * Softmax rows of attention
 * ---------------------------------------------------------------------- */

/* row[0..G) <- exp(row - m) with m the row's maximum; returns m, and the
 * sum of the new row in *sum (the softmax is row / sum). With l8in, the
 * 16-lane version has done row[0..j0) already, with the row's maximum m0
 * and the lane sums l8in[8] (both halves of each 16-lane vector added in
 * order, as 8 lanes would have). */
V8_CLONES static float exp_row_max_from(float *row, int G, float *sum, int j0, float m0, const float *l8in,
                                        int lanes)
{
    float m = m0, l = 0.0f;
    int j = 0;
    if (!l8in) { /* the maximum: exact in any order */
#if V8
        if (lanes >= 8 && G >= 8) {
            v8f m8, x;
            memcpy(&m8, row, sizeof m8);
            for (j = 8; j + 8 <= G; j += 8) {
                memcpy(&x, row + j, sizeof x);
                v8i gt = x > m8;
                m8 = (v8f)((gt & (v8i)x) | (~gt & (v8i)m8));
            }
            for (int k = 0; k < 8; k++) m = m8[k] > m ? m8[k] : m;
        }
#endif
        for (; j < G; j++) m = row[j] > m ? row[j] : m;
    }
    /* the sum: 8 lane sums over whole blocks of 8, in any lane count, then the tail */
    float acc[8] = {0};
    if (l8in) memcpy(acc, l8in, sizeof acc);
    j = j0;
#if V8
    if (lanes >= 8) {
        v8f l8;
        memcpy(&l8, acc, sizeof l8);
        for (; j + 8 <= G; j += 8) {
            v8f e;
            memcpy(&e, row + j, sizeof e);
            e -= m;
            EXP_LANES(v8f, v8i, &e);
            memcpy(row + j, &e, sizeof e);
            l8 += e;
        }
        memcpy(acc, &l8, sizeof acc);
    }
#endif
    for (; j + 8 <= G; j += 8)
        for (int k = 0; k < 8; k++) {
            row[j + k] = exp_simd(row[j + k] - m);
            acc[k] += row[j + k];
        }
    l = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < G; j++) {
        row[j] = exp_simd(row[j] - m);
        l += row[j];
    }
    *sum = l;
    return m;
}

#if V16
/* exp_row_max_from's work on the 16-lane blocks of the row: they need the
 * row's maximum first, so the maximum of the whole row is taken here */
V16_TARGET static float exp_row_max16(float *row, int G, float *sum)
{
    float m = row[0];
    int j = 0;
    if (G >= 16) { /* the maximum: exact in any order */
        v16f m16, x;
        memcpy(&m16, row, sizeof m16);
        for (j = 16; j + 16 <= G; j += 16) {
            memcpy(&x, row + j, sizeof x);
            v16i gt = x > m16;
            m16 = (v16f)((gt & (v16i)x) | (~gt & (v16i)m16));
        }
        for (int k = 0; k < 16; k++) m = m16[k] > m ? m16[k] : m;
    }
    for (; j < G; j++) m = row[j] > m ? row[j] : m;
    v8f l8 = {0}, h;
    for (j = 0; j + 16 <= G; j += 16) {
        v16f e;
        memcpy(&e, row + j, sizeof e);
        e -= m;
        EXP_LANES(v16f, v16i, &e);
        memcpy(row + j, &e, sizeof e);
        memcpy(&h, row + j, sizeof h), l8 += h;
        memcpy(&h, row + j + 8, sizeof h), l8 += h;
    }
    float lanes[8];
    memcpy(lanes, &l8, sizeof lanes);
    return exp_row_max_from(row, G, sum, j, m, lanes, 8);
}
#endif

float simd_exp_row_max(float *row, int G, float *sum, int lanes)
{
#if V16
    if (lanes == 16) return exp_row_max16(row, G, sum);
#endif
    return exp_row_max_from(row, G, sum, 0, row[0], NULL, lanes);
}

/* row[j0..G) <- exp(row - shift) */
V8_CLONES static void exp_shifted_row_from(float *row, int G, float shift, int j0, int lanes)
{
    int j = j0;
#if V8
    for (; lanes >= 8 && j + 8 <= G; j += 8) {
        v8f e;
        memcpy(&e, row + j, sizeof e);
        e -= shift;
        EXP_LANES(v8f, v8i, &e);
        memcpy(row + j, &e, sizeof e);
    }
#endif
    for (; j < G; j++) row[j] = exp_simd(row[j] - shift);
}

#if V16
V16_TARGET static void exp_shifted_row16(float *row, int G, float shift)
{
    int j = 0;
    for (; j + 16 <= G; j += 16) {
        v16f e;
        memcpy(&e, row + j, sizeof e);
        e -= shift;
        EXP_LANES(v16f, v16i, &e);
        memcpy(row + j, &e, sizeof e);
    }
    exp_shifted_row_from(row, G, shift, j, 8);
}
#endif

void simd_exp_shifted_row(float *row, int G, float shift, int lanes)
{
#if V16
    if (lanes == 16) {
        exp_shifted_row16(row, G, shift);
        return;
    }
#endif
    exp_shifted_row_from(row, G, shift, 0, lanes);
}
