/* util.c - errors, the counter-based random number generator, pixel conversion, a string builder. */
#include "vdit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vdit_seterr(vdit_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* one line: names, paths and parser messages come from the input and
         * may hold newlines or other control bytes */
        for (char *p = err->msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    }
    return -1;
}

const char *vdit_shape_string(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    if (!cap) return buf;
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

void vdit_strbuf_printf(vdit_strbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = b->s ? vsnprintf(b->s + b->n, room, fmt, ap) : -2;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (k >= 0 && cap - b->n <= (size_t)k) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

void vdit_strbuf_free(vdit_strbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

void vdit_video_to_float(float *x, const uint8_t *frames, int T, int H, int W)
{
    size_t HW = (size_t)H * W;
    for (size_t t = 0; t < (size_t)T; t++)
        for (size_t p = 0; p < HW; p++)
            for (int c = 0; c < 3; c++) x[(t * 3 + c) * HW + p] = frames[(t * HW + p) * 3 + c] / 127.5f - 1.0f;
}

void vdit_video_to_u8(uint8_t *frames, const float *x, int T, int H, int W)
{
    size_t HW = (size_t)H * W;
    for (size_t t = 0; t < (size_t)T; t++)
        for (size_t p = 0; p < HW; p++)
            for (int c = 0; c < 3; c++) {
                float v = (x[(t * 3 + c) * HW + p] + 1.0f) * 127.5f;
                frames[(t * HW + p) * 3 + c] = (uint8_t)(!(v > 0) ? 0 : v >= 255 ? 255 : v + 0.5f) /* NaN -> 0 */;
            }
}

/* ------------------------------------------------------------------------
 * RNG: value i of a stream is a strong 64-bit hash of (seed, i) - the
 * splitmix64 finaliser applied twice - so any element can be computed
 * independently and results do not depend on thread scheduling.
 * ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t vdit_rng_at(uint64_t seed, uint64_t counter)
{
    return mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ (counter * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull));
}

void vdit_rng_init(vdit_rng *rng, uint64_t seed)
{
    rng->seed = seed;
    rng->counter = 0;
}

uint64_t vdit_rng_u64(vdit_rng *rng) { return vdit_rng_at(rng->seed, rng->counter++); }

float vdit_rng_uniform(vdit_rng *rng)
{
    /* top 24 bits: exactly representable floats in [0, 1) */
    return (float)(vdit_rng_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

/* Box-Muller on two uniforms; u1 in (0, 1] so log() is finite. */
static float box_muller(uint64_t a, uint64_t b)
{
    double u1 = ((double)(a >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(b >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float vdit_rng_normal(vdit_rng *rng)
{
    uint64_t a = vdit_rng_u64(rng);
    return box_muller(a, vdit_rng_u64(rng));
}

float vdit_normal_at(uint64_t seed, uint64_t i) { return box_muller(vdit_rng_at(seed, 2 * i), vdit_rng_at(seed, 2 * i + 1)); }
