/* simd.h - the vectorised exponential behind the GELU and the softmax rows
 * of attention (lib/simd.c). Internal to libvdit: hidden, not installed.
 *
 * Every path (16 lanes with AVX-512F, 8 with AVX2 or SSE2 in pairs, the
 * scalar loop) gives the same bits; `lanes` picks one, as simd_lanes()
 * says (vdit_kernel_lanes caps it for the tests and benchmarks).
 */
#ifndef VDIT_SIMD_H
#define VDIT_SIMD_H

#include <stddef.h>

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The lanes the exp loops take: 16 where the CPU has AVX-512F, else 8 with
 * vector extensions, else 1; no more than vdit_kernel_lanes allows. */
int simd_lanes(void);

/* out[0..n) = GELU(inp), tanh approximation, tanh from the vectorised exp. */
void simd_gelu_span(float *out, const float *inp, size_t n, int lanes);
/* dinp[0..n) += GELU'(inp) * dout */
void simd_gelu_grad_span(float *dinp, const float *dout, const float *inp, size_t n, int lanes);

/* row[0..G) <- exp(row - m) with m the row's maximum; returns m, and the sum
 * of the new row in *sum (the softmax is row / sum). */
float simd_exp_row_max(float *row, int G, float *sum, int lanes);
/* row[0..G) <- exp(row - shift) */
void simd_exp_shifted_row(float *row, int G, float shift, int lanes);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* VDIT_SIMD_H */
