/* util.c - errors and the counter-based random number generator. */
#include "vdit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

int vdit_seterr(vdit_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void vdit_shape_string(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    if (!cap) return;
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
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

float vdit_rng_normal(vdit_rng *rng)
{
    /* Box-Muller on two uniforms; u1 in (0, 1] so log() is finite. */
    double u1 = ((double)(vdit_rng_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(vdit_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
