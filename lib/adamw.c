/* adamw.c - AdamW (Loshchilov & Hutter), as torch.optim.AdamW. */
#include "vdit.h"

#include <math.h>

void vdit_adamw_step(float *params, const float *grads, float *m, float *v, size_t n, int step,
                     vdit_adamw_config c)
{
    float bc1 = 1.0f - powf(c.beta1, (float)step);
    float bc2 = 1.0f - powf(c.beta2, (float)step);
#pragma omp parallel for simd schedule(dynamic, 16384)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = c.beta1 * m[i] + (1.0f - c.beta1) * g;
        v[i] = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
        float mhat = m[i] / bc1, vhat = v[i] / bc2;
        params[i] -= c.lr * (mhat / (sqrtf(vhat) + c.eps) + c.weight_decay * params[i]);
    }
}
