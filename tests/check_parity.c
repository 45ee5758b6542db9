/* check_parity.c - the C DiT against fixtures written by the independent
 * PyTorch implementation of model.md (tests/parity/dit_reference.py), in the
 * spirit of llm.c's test_gpt2.c.
 *
 *   check_parity DIR
 *
 * DIR holds model.safetensors, x.npy, t.npy, y.npy (int64), target.npy,
 * out.npy and grads.safetensors (the gradient of mean((out - target)^2)).
 * Passes when the output is within 1e-4 absolute and every parameter's
 * gradient within 1e-3 relative (max |a - b| / max |b| per tensor). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdit.h"

#define OUT_ATOL 1e-4
#define GRAD_RTOL 1e-3

static int fail(const char *msg)
{
    fprintf(stderr, "check_parity: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) return fail("usage: check_parity FIXTURE_DIR");
    const char *dir = argv[1];
    char path[4096];
    vdit_err err;
    vdit_dit m;
    vdit_array x = {0}, t = {0}, y = {0}, target = {0}, ref = {0};
    vdit_st_file grads = {0};
    int rc = 1;

#define LOAD(arr, name, reader)                                      \
    snprintf(path, sizeof path, "%s/%s", dir, name);                 \
    if (reader(path, &arr, &err)) return fail(err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (vdit_dit_load(&m, path, &err)) return fail(err.msg);
    LOAD(x, "x.npy", vdit_npy_read_f32);
    LOAD(t, "t.npy", vdit_npy_read_f32);
    LOAD(y, "y.npy", vdit_npy_read);
    LOAD(target, "target.npy", vdit_npy_read_f32);
    LOAD(ref, "out.npy", vdit_npy_read_f32);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    if (vdit_st_read(path, &grads, &err)) return fail(err.msg);
#undef LOAD

    int B = (int)t.shape[0];
    size_t nout = (size_t)vdit_array_numel(&ref);
    if (y.dtype != VDIT_DTYPE_I64 || vdit_array_numel(&y) != B || vdit_array_numel(&target) != (int64_t)nout ||
        vdit_array_numel(&x) != (int64_t)B * m.cfg.grid[0] * m.C_in * m.cfg.grid[1] * m.cfg.grid[2])
        return fail("fixture arrays do not fit together");
    int *labels = malloc(B * sizeof(int));
    float *out = malloc(nout * sizeof(float)), *dout = malloc(nout * sizeof(float));
    for (int b = 0; b < B; b++) labels[b] = (int)((int64_t *)y.data)[b];

    if (vdit_dit_forward(&m, x.data, t.data, labels, B, out, &err)) {
        fail(err.msg);
        goto done;
    }
    const float *rf = ref.data, *tg = target.data;
    double out_diff = 0.0;
    for (size_t i = 0; i < nout; i++) {
        double d = fabs((double)out[i] - rf[i]);
        if (!(d <= out_diff)) out_diff = d;
        dout[i] = 2.0f * (out[i] - tg[i]) / (float)nout; /* d mean((out - target)^2) / d out */
    }
    vdit_dit_zero_grad(&m);
    if (vdit_dit_backward(&m, dout, &err)) {
        fail(err.msg);
        goto done;
    }
    int n = vdit_dit_param_table(&m, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    vdit_dit_param_table(&m, info, n);
    double worst = 0.0;
    const char *worst_name = "";
    int missing = 0;
    for (int i = 0; i < n; i++) {
        const vdit_st_tensor *g = vdit_st_find(&grads, info[i].name);
        if (!g || (size_t)g->numel != info[i].numel) {
            fprintf(stderr, "check_parity: gradient '%s' missing or misshaped in the fixture\n", info[i].name);
            missing++;
            continue;
        }
        const float *a = m.grads_mem + info[i].offset;
        double md = 0.0, mb = 0.0;
        for (size_t k = 0; k < info[i].numel; k++) {
            double d = fabs((double)a[k] - g->data[k]);
            if (!(d <= md)) md = d;
            if (fabs(g->data[k]) > mb) mb = fabs(g->data[k]);
        }
        double rel = md / (mb > 1e-8 ? mb : 1e-8);
        if (!(rel <= worst)) {
            worst = rel;
            worst_name = info[i].name;
        }
    }
    printf("parity %s: output max abs diff %.3g (limit %g); gradients max rel diff %.3g in %s (limit %g), "
           "%d tensors\n",
           dir, out_diff, OUT_ATOL, worst, worst_name, GRAD_RTOL, n);
    rc = (out_diff < OUT_ATOL && worst < GRAD_RTOL && !missing) ? 0 : 1;
    free(info);
done:
    free(labels), free(out), free(dout);
    vdit_array_free(&x), vdit_array_free(&t), vdit_array_free(&y), vdit_array_free(&target), vdit_array_free(&ref);
    vdit_st_free(&grads);
    vdit_dit_free(&m);
    return rc;
}
