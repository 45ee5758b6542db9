/* check_kernels.c - every kernel's backward against central finite
 * differences, every BLAS path against its plain-loop reference, and the
 * attention scopes. */
#include <omp.h>

#include "testutil.h"

#define FD_TOL 2e-2 /* float32 central differences with h = 1e-2 */

/* the three scopes of an attention layer */
static const vdit_attention SCOPES[3] = {VDIT_ATTN_FULL, VDIT_ATTN_SPATIAL, VDIT_ATTN_TEMPORAL};

/* ------------------------------------------------------------------------
 * linear
 * ---------------------------------------------------------------------- */

typedef struct {
    float *inp, *w, *b;
    int M, IC, OC;
} linear_ctx;

static void linear_fd(void *p, float *out)
{
    linear_ctx *c = p;
    vdit_linear_forward(out, c->inp, c->w, c->b, c->M, c->IC, c->OC);
}

START_TEST(test_linear_blas_matches_ref)
{
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 96, 288}, {33, 256, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
        float *inp = rand_tensor((size_t)M * IC, 1.0f, 1), *w = rand_tensor((size_t)OC * IC, 0.2f, 2);
        float *b = rand_tensor(OC, 1.0f, 3), *o1 = zeros((size_t)M * OC), *o2 = zeros((size_t)M * OC);
        vdit_linear_forward(o1, inp, w, b, M, IC, OC);
        vdit_linear_forward_ref(o2, inp, w, b, M, IC, OC);
        ck_assert_double_lt(max_abs_diff(o1, o2, (size_t)M * OC), 1e-4);
        /* without bias */
        vdit_linear_forward(o1, inp, w, NULL, M, IC, OC);
        vdit_linear_forward_ref(o2, inp, w, NULL, M, IC, OC);
        ck_assert_double_lt(max_abs_diff(o1, o2, (size_t)M * OC), 1e-4);
        /* backward: both accumulate onto the same non-zero start */
        float *dout = rand_tensor((size_t)M * OC, 1.0f, 4);
        float *di1 = rand_tensor((size_t)M * IC, 1.0f, 5), *di2 = rand_tensor((size_t)M * IC, 1.0f, 5);
        float *dw1 = rand_tensor((size_t)OC * IC, 1.0f, 6), *dw2 = rand_tensor((size_t)OC * IC, 1.0f, 6);
        float *db1 = rand_tensor(OC, 1.0f, 7), *db2 = rand_tensor(OC, 1.0f, 7);
        vdit_linear_backward(di1, dw1, db1, dout, inp, w, M, IC, OC);
        vdit_linear_backward_ref(di2, dw2, db2, dout, inp, w, M, IC, OC);
        ck_assert_double_lt(max_abs_diff(di1, di2, (size_t)M * IC), 1e-4);
        ck_assert_double_lt(max_abs_diff(dw1, dw2, (size_t)OC * IC), 1e-3);
        ck_assert_double_lt(max_abs_diff(db1, db2, OC), 1e-4);
        ck_assert_int_eq(memcmp(db1, db2, OC * sizeof(float)), 0); /* the same sums in the same order */
        free(inp), free(w), free(b), free(o1), free(o2), free(dout);
        free(di1), free(di2), free(dw1), free(dw2), free(db1), free(db2);
    }
}
END_TEST

START_TEST(test_linear_backward_fd)
{
    linear_ctx c = {rand_tensor(6 * 5, 1.0f, 1), rand_tensor(4 * 5, 0.5f, 2), rand_tensor(4, 1.0f, 3), 6, 5, 4};
    size_t nout = 6 * 4;
    float *w = rand_tensor(nout, 1.0f, 9);
    float *di = zeros(30), *dw = zeros(20), *db = zeros(4);
    vdit_linear_backward(di, dw, db, w, c.inp, c.w, c.M, c.IC, c.OC);
    ck_assert_double_lt(fd_check(linear_fd, &c, c.inp, 30, di, w, nout, 1e-2, 30), FD_TOL);
    ck_assert_double_lt(fd_check(linear_fd, &c, c.w, 20, dw, w, nout, 1e-2, 20), FD_TOL);
    ck_assert_double_lt(fd_check(linear_fd, &c, c.b, 4, db, w, nout, 1e-2, 4), FD_TOL);
    free(c.inp), free(c.w), free(c.b), free(w), free(di), free(dw), free(db);
}
END_TEST

/* ------------------------------------------------------------------------
 * LayerNorm, modulation, gated residual, activations
 * ---------------------------------------------------------------------- */

typedef struct {
    float *x, *rstd;
    int M, D;
} ln_ctx;

static void ln_fd(void *p, float *out)
{
    ln_ctx *c = p;
    vdit_layernorm_forward(out, c->rstd, c->x, c->M, c->D);
}

START_TEST(test_layernorm)
{
    int M = 5, D = 12;
    ln_ctx c = {rand_tensor((size_t)M * D, 2.0f, 1), zeros(M), M, D};
    for (int i = 0; i < D; i++) c.x[i] += 3.0f; /* an offset row */
    float *xhat = zeros((size_t)M * D), *w = rand_tensor((size_t)M * D, 1.0f, 2), *dx = zeros((size_t)M * D);
    vdit_layernorm_forward(xhat, c.rstd, c.x, M, D);
    for (int m = 0; m < M; m++) { /* mean 0, variance 1 (up to eps) */
        double mean = 0, var = 0;
        for (int i = 0; i < D; i++) mean += xhat[m * D + i];
        for (int i = 0; i < D; i++) var += xhat[m * D + i] * xhat[m * D + i];
        ck_assert_double_lt(fabs(mean / D), 1e-6);
        ck_assert_double_lt(fabs(var / D - 1.0), 1e-4);
    }
    vdit_layernorm_backward(dx, w, xhat, c.rstd, M, D);
    ck_assert_double_lt(fd_check(ln_fd, &c, c.x, (size_t)M * D, dx, w, (size_t)M * D, 1e-2, 60), FD_TOL);
    free(c.x), free(c.rstd), free(xhat), free(w), free(dx);
}
END_TEST

typedef struct {
    float *xhat, *mod, *y;
    int B, N, D, stride;
} mod_ctx;

static void modulate_fd(void *p, float *out)
{
    mod_ctx *c = p;
    vdit_adaln_modulate_forward(out, c->xhat, c->mod, c->mod + c->D, c->B, c->N, c->D, c->stride);
}

static void gated_fd(void *p, float *out)
{
    mod_ctx *c = p;
    vdit_gated_residual_forward(out, c->xhat, c->mod + 2 * c->D, c->y, c->B, c->N, c->D, c->stride); /* x = xhat */
}

START_TEST(test_modulate_and_gate)
{
    int B = 2, N = 3, D = 4, stride = 6 * D;
    size_t n = (size_t)B * N * D;
    mod_ctx c = {rand_tensor(n, 1.0f, 1), rand_tensor((size_t)B * stride, 0.5f, 2), rand_tensor(n, 1.0f, 3), B, N, D,
                 stride};
    float *w = rand_tensor(n, 1.0f, 4);
    /* modulate: out = xhat * (1 + scale) + shift, shift = mod[0:D], scale = mod[D:2D] */
    float *dxhat = zeros(n), *dmod = zeros((size_t)B * stride), *out = zeros(n);
    modulate_fd(&c, out);
    ck_assert_float_eq_tol(out[D + 1], c.xhat[D + 1] * (1 + c.mod[D + 1]) + c.mod[1], 1e-6);
    vdit_adaln_modulate_backward(dxhat, dmod, dmod + D, w, c.xhat, c.mod + D, B, N, D, stride);
    ck_assert_double_lt(fd_check(modulate_fd, &c, c.xhat, n, dxhat, w, n, 1e-2, n), FD_TOL);
    ck_assert_double_lt(fd_check(modulate_fd, &c, c.mod, (size_t)B * stride, dmod, w, n, 1e-2, B * stride), FD_TOL);
    /* gated residual: out = x + gate * y, gate = mod[2D:3D] */
    float *dy = zeros(n), *dmod2 = zeros((size_t)B * stride);
    vdit_gated_residual_backward(dy, dmod2 + 2 * D, w, c.mod + 2 * D, c.y, B, N, D, stride);
    ck_assert_double_lt(fd_check(gated_fd, &c, c.y, n, dy, w, n, 1e-2, n), FD_TOL);
    ck_assert_double_lt(fd_check(gated_fd, &c, c.mod, (size_t)B * stride, dmod2, w, n, 1e-2, B * stride), FD_TOL);
    free(c.xhat), free(c.mod), free(c.y), free(w), free(dxhat), free(dmod), free(out), free(dy), free(dmod2);
}
END_TEST

/* The parallel, fused and interleaved versions against the plain loops:
 * the same operations in the same order, so the same bits. Shapes with
 * rows not a multiple of 4 (LayerNorm's row groups), widths not a multiple
 * of 64 (the column blocks), and both below and above the size where the
 * loops go parallel. */
static void check_fast_elementwise(int B, int N, int D)
{
    int M = B * N, stride = 6 * D;
    size_t n = (size_t)M * D;
    float *x = rand_tensor(n, 2.0f, 1), *mod = rand_tensor((size_t)B * stride, 0.5f, 2), *g = rand_tensor(n, 1.0f, 3);
    float *xh1 = zeros(n), *xh2 = zeros(n), *rs1 = zeros(M), *rs2 = zeros(M), *h1 = zeros(n), *h2 = zeros(n);
    for (int i = 0; i < D; i++) x[i] = 5.0f + 1e-3f * x[i]; /* a near-constant row */
    vdit_layernorm_forward(xh1, rs1, x, M, D);
    vdit_layernorm_forward_ref(xh2, rs2, x, M, D);
    ck_assert_int_eq(memcmp(xh1, xh2, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(rs1, rs2, M * sizeof(float)), 0);
    /* LayerNorm + modulate in one pass = the two plain loops */
    memset(xh1, 0, n * sizeof(float)), memset(rs1, 0, M * sizeof(float));
    vdit_layernorm_modulate_forward(h1, xh1, rs1, x, mod + 3 * D, mod + 4 * D, B, N, D, stride);
    vdit_adaln_modulate_forward_ref(h2, xh2, mod + 3 * D, mod + 4 * D, B, N, D, stride);
    ck_assert_int_eq(memcmp(xh1, xh2, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(rs1, rs2, M * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(h1, h2, n * sizeof(float)), 0);
    vdit_adaln_modulate_forward(h1, xh1, mod, mod + D, B, N, D, stride);
    vdit_adaln_modulate_forward_ref(h2, xh2, mod, mod + D, B, N, D, stride);
    ck_assert_int_eq(memcmp(h1, h2, n * sizeof(float)), 0);
    /* backward passes accumulate onto the same non-zero start */
    float *d1 = rand_tensor(n, 1.0f, 4), *d2 = rand_tensor(n, 1.0f, 4);
    float *m1 = rand_tensor((size_t)B * stride, 1.0f, 5), *m2 = rand_tensor((size_t)B * stride, 1.0f, 5);
    vdit_layernorm_backward(d1, g, xh1, rs1, M, D);
    vdit_layernorm_backward_ref(d2, g, xh2, rs2, M, D);
    ck_assert_int_eq(memcmp(d1, d2, n * sizeof(float)), 0);
    vdit_adaln_modulate_backward(d1, m1, m1 + D, g, xh1, mod + D, B, N, D, stride);
    vdit_adaln_modulate_backward_ref(d2, m2, m2 + D, g, xh2, mod + D, B, N, D, stride);
    ck_assert_int_eq(memcmp(d1, d2, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(m1, m2, (size_t)B * stride * sizeof(float)), 0);
    /* gated residual, out of place and in place */
    vdit_gated_residual_forward(h1, x, mod + 2 * D, g, B, N, D, stride);
    vdit_gated_residual_forward_ref(h2, x, mod + 2 * D, g, B, N, D, stride);
    ck_assert_int_eq(memcmp(h1, h2, n * sizeof(float)), 0);
    memcpy(h1, x, n * sizeof(float));
    vdit_gated_residual_forward(h1, h1, mod + 2 * D, g, B, N, D, stride);
    ck_assert_int_eq(memcmp(h1, h2, n * sizeof(float)), 0);
    vdit_gated_residual_backward(d1, m1 + 2 * D, g, mod + 2 * D, x, B, N, D, stride);
    vdit_gated_residual_backward_ref(d2, m2 + 2 * D, g, mod + 2 * D, x, B, N, D, stride);
    ck_assert_int_eq(memcmp(d1, d2, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(m1, m2, (size_t)B * stride * sizeof(float)), 0);
    /* and they compute what they should: xhat rows have mean 0, variance 1
     * (but row 0, whose variance is near eps) */
    for (int m = 1; m < M; m += M / 3 + 1) {
        double mean = 0, var = 0;
        for (int i = 0; i < D; i++) mean += xh1[(size_t)m * D + i];
        for (int i = 0; i < D; i++) var += (double)xh1[(size_t)m * D + i] * xh1[(size_t)m * D + i];
        ck_assert_double_lt(fabs(mean / D), 1e-5);
        ck_assert_double_lt(fabs(var / D - 1.0), 1e-3);
    }
    free(x), free(mod), free(g), free(xh1), free(xh2), free(rs1), free(rs2), free(h1), free(h2);
    free(d1), free(d2), free(m1), free(m2);
}

START_TEST(test_fast_elementwise_matches_ref)
{
    check_fast_elementwise(2, 3, 12);   /* one thread, one partial row group */
    check_fast_elementwise(3, 37, 200); /* parallel, 111 rows = 27 groups + 3, blocks of 64 + 8 */
    check_fast_elementwise(1, 64, 256);
}
END_TEST

START_TEST(test_vector_paths_are_exact)
{
    /* GELU: 8 lanes at a time, the tails by the scalar formula; every element
     * must get the same bits wherever it falls (lane, tail, thread) */
    size_t n = 40000;
    float *x = rand_tensor(n, 4.0f, 21), *g = rand_tensor(n, 1.0f, 22), *a = zeros(n), *b = zeros(n);
    x[5] = 100.0f, x[6] = -100.0f, x[7] = 0.0f; /* the clamps of exp */
    vdit_gelu_forward(a, x, n);
    for (size_t i = 0; i < n; i++) vdit_gelu_forward(b + i, x + i, 1); /* each alone: the scalar formula */
    ck_assert_int_eq(memcmp(a, b, n * sizeof(float)), 0);
    for (size_t off = 1; off < 9; off++) {
        vdit_gelu_forward(b, x + off, 13 + off); /* short: all but 1..2 vectors in the tail */
        ck_assert_int_eq(memcmp(a + off, b, (13 + off) * sizeof(float)), 0);
        vdit_gelu_forward(b, x + off, n - off);
        ck_assert_int_eq(memcmp(a + off, b, (n - off) * sizeof(float)), 0);
    }
    memset(a, 0, n * sizeof(float)), memset(b, 0, n * sizeof(float));
    vdit_gelu_backward(a, g, x, n);
    for (size_t i = 0; i < n; i++) vdit_gelu_backward(b + i, g + i, x + i, 1);
    ck_assert_int_eq(memcmp(a, b, n * sizeof(float)), 0);
    memset(b, 0, n * sizeof(float));
    vdit_gelu_backward(b + 3, g + 3, x + 3, n - 3);
    ck_assert_int_eq(memcmp(a + 3, b + 3, (n - 3) * sizeof(float)), 0);
    /* one thread or two, 16, 8 or 1 lanes: the same bits (GELU and attention) */
    int threads = omp_get_max_threads();
    float *c = zeros(n), *d = zeros(n);
    vdit_gelu_forward(c, x, n);
    vdit_gelu_backward(d, g, x, n);
    for (int lanes = 16; lanes >= 1; lanes /= 2) {
        vdit_kernel_lanes(lanes);
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            memset(b, 0, n * sizeof(float));
            vdit_gelu_forward(a, x, n);
            vdit_gelu_backward(b, g, x, n);
            ck_assert_int_eq(memcmp(a, c, n * sizeof(float)), 0);
            ck_assert_int_eq(memcmp(b, d, n * sizeof(float)), 0);
        }
    }
    free(c), free(d);
    for (int scope = 0; scope < 3; scope++) {
        vdit_attn_shape s = {2, 4, 4, 6, 32, 4, SCOPES[scope]}; /* groups of 96, 24 and 4 tokens */
        size_t N = 96, nq = 2 * N * 96, no = 2 * N * 32, nl = 2 * 4 * N;
        float *qkv = rand_tensor(nq, 2.0f, 30 + scope), *o1 = zeros(no), *o2 = zeros(no);
        float *l1 = zeros(nl), *l2 = zeros(nl), *dout = rand_tensor(no, 1.0f, 40);
        float *d1 = zeros(nq), *d2 = zeros(nq);
        vdit_kernel_lanes(16);
        omp_set_num_threads(2);
        run_attention_forward(o1, l1, qkv, s);
        run_attention_backward(d1, dout, qkv, o1, l1, s);
        for (int lanes = 16; lanes >= 1; lanes /= 2) {
            vdit_kernel_lanes(lanes);
            for (int th = 1; th <= 2; th++) {
                omp_set_num_threads(th);
                memset(d2, 0, nq * sizeof(float));
                run_attention_forward(o2, l2, qkv, s);
                run_attention_backward(d2, dout, qkv, o2, l2, s);
                ck_assert_int_eq(memcmp(o1, o2, no * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(l1, l2, nl * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(d1, d2, nq * sizeof(float)), 0);
            }
        }
        free(qkv), free(o1), free(o2), free(l1), free(l2), free(dout), free(d1), free(d2);
    }
    vdit_kernel_lanes(16);
    omp_set_num_threads(threads);
    free(x), free(g), free(a), free(b);
}
END_TEST

typedef struct {
    float *x;
    size_t n;
    int which; /* 0 gelu, 1 silu */
} act_ctx;

static void act_fd(void *p, float *out)
{
    act_ctx *c = p;
    if (c->which)
        vdit_silu_forward(out, c->x, c->n);
    else
        vdit_gelu_forward(out, c->x, c->n);
}

START_TEST(test_activations)
{
    float one = 1.0f, minus2 = -2.0f, y;
    /* reference values: torch.nn.functional.gelu(x, approximate='tanh'), silu */
    vdit_gelu_forward(&y, &one, 1);
    ck_assert_float_eq_tol(y, 0.8411920f, 1e-6);
    vdit_gelu_forward(&y, &minus2, 1);
    ck_assert_float_eq_tol(y, -0.0454023f, 1e-6);
    vdit_silu_forward(&y, &one, 1);
    ck_assert_float_eq_tol(y, 0.7310586f, 1e-6);
    /* the vectorised GELU against libm's tanhf, forward and backward, over a wide range */
    size_t n = 20000;
    float *x = rand_tensor(n, 4.0f, 11), *a = zeros(n), *b = zeros(n), *g = rand_tensor(n, 1.0f, 12);
    x[0] = 30.0f, x[1] = -30.0f, x[2] = 0.0f, x[3] = 1e-8f;
    vdit_gelu_forward(a, x, n);
    vdit_gelu_forward_ref(b, x, n);
    for (size_t i = 0; i < n; i++) /* relative to the value, 1 beyond */
        ck_assert_double_lt(fabs(a[i] - b[i]) / (fabs(b[i]) > 1 ? fabs(b[i]) : 1), 3e-6);
    memset(a, 0, n * sizeof(float)), memset(b, 0, n * sizeof(float));
    vdit_gelu_backward(a, g, x, n);
    vdit_gelu_backward_ref(b, g, x, n);
    for (size_t i = 0; i < n; i++) ck_assert_double_lt(fabs(a[i] - b[i]) / (fabs(b[i]) > 1 ? fabs(b[i]) : 1), 3e-6);
    free(x), free(a), free(b), free(g);
    for (int which = 0; which < 2; which++) {
        act_ctx c = {rand_tensor(50, 2.0f, 1 + which), 50, which};
        float *w = rand_tensor(50, 1.0f, 3), *dx = zeros(50);
        if (which)
            vdit_silu_backward(dx, w, c.x, 50);
        else
            vdit_gelu_backward(dx, w, c.x, 50);
        ck_assert_double_lt(fd_check(act_fd, &c, c.x, 50, dx, w, 50, 1e-2, 50), FD_TOL);
        free(c.x), free(w), free(dx);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * attention
 * ---------------------------------------------------------------------- */

typedef struct {
    float *qkv, *lse;
    vdit_attn_shape s;
} attn_ctx;

static void attn_fd(void *p, float *out)
{
    attn_ctx *c = p;
    run_attention_forward(out, c->lse, c->qkv, c->s);
}

static size_t attn_tokens(vdit_attn_shape s) { return (size_t)s.nt * s.nh * s.nw; }

START_TEST(test_attention_matches_ref)
{
    /* grids with groups smaller and larger than a tile of query rows (96 > 64 tokens) */
    int grids[2][3] = {{3, 2, 3}, {4, 4, 6}};
    for (int gi = 0; gi < 2; gi++)
        for (int scope = 0; scope < 3; scope++) {
            vdit_attn_shape s = {2, grids[gi][0], grids[gi][1], grids[gi][2], 16, 4, SCOPES[scope]};
            size_t N = attn_tokens(s), nq = 2 * N * 48, no = 2 * N * 16;
            float *qkv = rand_tensor(nq, 1.5f, 10 + scope), *o1 = zeros(no), *o2 = zeros(no), *lse = zeros(2 * 4 * N);
            run_attention_forward(o1, lse, qkv, s);
            vdit_attention_forward_ref(o2, qkv, s);
            ck_assert_double_lt(max_abs_diff(o1, o2, no), 1e-5);
            /* backward: the sgemm tiles against the plain row loop, from the same non-zero start */
            float *dout = rand_tensor(no, 1.0f, 20 + scope), *d1 = rand_tensor(nq, 1.0f, 30), *d2 = rand_tensor(nq, 1.0f, 30);
            run_attention_backward(d1, dout, qkv, o1, lse, s);
            vdit_attention_backward_ref(d2, dout, qkv, o1, lse, s);
            ck_assert_double_lt(max_abs_diff(d1, d2, nq), 1e-4);
            free(qkv), free(o1), free(o2), free(lse), free(dout), free(d1), free(d2);
        }
}
END_TEST

START_TEST(test_attention_backward_fd)
{
    for (int scope = 0; scope < 3; scope++) {
        vdit_attn_shape s = {2, 2, 2, 3, 8, 2, SCOPES[scope]};
        size_t N = attn_tokens(s), nq = 2 * N * 24, no = 2 * N * 8;
        attn_ctx c = {rand_tensor(nq, 1.0f, 20 + scope), zeros(2 * 2 * N), s};
        float *out = zeros(no), *w = rand_tensor(no, 1.0f, 30), *dqkv = zeros(nq);
        run_attention_forward(out, c.lse, c.qkv, s);
        run_attention_backward(dqkv, w, c.qkv, out, c.lse, s);
        ck_assert_double_lt(fd_check(attn_fd, &c, c.qkv, nq, dqkv, w, no, 1e-2, nq), FD_TOL);
        free(c.qkv), free(c.lse), free(out), free(w), free(dqkv);
    }
}
END_TEST

/* Which outputs change when one token's q, k, v change. */
static void attention_changed(vdit_attn_shape s, int token, int *changed)
{
    size_t N = attn_tokens(s), D = s.D, nq = s.B * N * 3 * D, no = s.B * N * D;
    float *qkv = rand_tensor(nq, 1.0f, 40), *o1 = zeros(no), *o2 = zeros(no), *lse = zeros(s.B * s.NH * N);
    run_attention_forward(o1, lse, qkv, s);
    for (size_t i = 0; i < 3 * D; i++) qkv[token * 3 * D + i] += 1.0f; /* sample 0 */
    run_attention_forward(o2, lse, qkv, s);
    for (size_t n = 0; n < N; n++) changed[n] = max_abs_diff(o1 + n * D, o2 + n * D, D) > 0;
    free(qkv), free(o1), free(o2), free(lse);
}

START_TEST(test_attention_scopes)
{
    /* grid nt=3, nh=2, nw=3: S = 6 tokens per frame */
    vdit_attn_shape s = {1, 3, 2, 3, 8, 2, VDIT_ATTN_SPATIAL};
    int S = 6, changed[18];
    int tok = 1 * S + 4; /* frame 1, (ih, iw) = (1, 1) */
    attention_changed(s, tok, changed);
    for (int n = 0; n < 18; n++) /* spatial: only frame 1 sees it */
        ck_assert_int_eq(changed[n], n / S == 1);
    s.scope = VDIT_ATTN_TEMPORAL;
    attention_changed(s, tok, changed);
    for (int n = 0; n < 18; n++) /* temporal: only the tokens at (1, 1) */
        ck_assert_int_eq(changed[n], n % S == 4);
    s.scope = VDIT_ATTN_FULL;
    attention_changed(s, tok, changed);
    for (int n = 0; n < 18; n++) ck_assert_int_eq(changed[n], 1);
}
END_TEST

/* ------------------------------------------------------------------------
 * patches, embeddings
 * ---------------------------------------------------------------------- */

START_TEST(test_patch_order)
{
    /* x[B=1][T=4][C=3][H=4][W=6], patch (2,2,3): nt=2, nh=2, nw=2, P=36 */
    int B = 1, T = 4, C = 3, H = 4, W = 6, pt = 2, ph = 2, pw = 3, P = 36, N = 8;
    size_t n = (size_t)B * T * C * H * W;
    float *x = zeros(n), *xp = zeros((size_t)N * P), *v = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    vdit_patchify(xp, x, B, T, C, H, W, pt, ph, pw);
    /* token (it, ih, iw) = (1, 0, 1) -> n = (1*2 + 0)*2 + 1 = 5; element (c, dt, dy, dx) = (2, 1, 0, 2):
     * video (t, c, y, x) = (3, 2, 0, 5) */
    ck_assert_float_eq(xp[5 * P + ((2 * 2 + 1) * 2 + 0) * 3 + 2], x[((3 * C + 2) * H + 0) * W + 5]);
    /* unpatchify takes (dt, dy, dx, c) order: the same element sits at ((1*2+0)*3+2)*3+2 */
    float *tok = zeros((size_t)N * P);
    tok[5 * P + ((1 * 2 + 0) * 3 + 2) * 3 + 2] = 7.0f;
    vdit_unpatchify_forward(v, tok, B, T, C, H, W, pt, ph, pw);
    ck_assert_float_eq(v[((3 * C + 2) * H + 0) * W + 5], 7.0f);
    ck_assert_double_eq(max_abs(v, n), 7.0);
    /* backward passes are the adjoints: <vdit_patchify(x), y> = <x, vdit_patchify_backward(y)> */
    float *y = rand_tensor((size_t)N * P, 1.0f, 3), *gx = zeros(n), *gt = zeros((size_t)N * P);
    float *xr = rand_tensor(n, 1.0f, 4);
    vdit_patchify(xp, xr, B, T, C, H, W, pt, ph, pw);
    vdit_patchify_backward(gx, y, B, T, C, H, W, pt, ph, pw);
    double a = 0, b = 0;
    for (size_t i = 0; i < (size_t)N * P; i++) a += (double)xp[i] * y[i];
    for (size_t i = 0; i < n; i++) b += (double)xr[i] * gx[i];
    ck_assert_double_lt(fabs(a - b), 1e-3);
    vdit_unpatchify_forward(v, y, B, T, C, H, W, pt, ph, pw);
    vdit_unpatchify_backward(gt, xr, B, T, C, H, W, pt, ph, pw);
    a = b = 0;
    for (size_t i = 0; i < n; i++) a += (double)v[i] * xr[i];
    for (size_t i = 0; i < (size_t)N * P; i++) b += (double)y[i] * gt[i];
    ck_assert_double_lt(fabs(a - b), 1e-3);
    free(x), free(xp), free(v), free(tok), free(y), free(gx), free(gt), free(xr);
}
END_TEST

typedef struct {
    float *x, *xp, *w, *b, *pos;
} pe_ctx;
#define PE_DIMS 2, 2, 3, 4, 4, 1, 2, 2, 8 /* B T C H W pt ph pw D */

static void pe_fd(void *p, float *out)
{
    pe_ctx *c = p;
    vdit_patch_embed_forward(out, c->xp, c->x, c->w, c->b, c->pos, PE_DIMS);
}

START_TEST(test_patch_embed_fd)
{
    size_t nx = 2 * 2 * 3 * 4 * 4, P = 12, N = 8, D = 8, nout = 2 * N * D;
    pe_ctx c = {rand_tensor(nx, 1.0f, 1), zeros(2 * N * P), rand_tensor(D * P, 0.3f, 2), rand_tensor(D, 1.0f, 3),
                rand_tensor(N * D, 1.0f, 4)};
    float *out = zeros(nout), *w = rand_tensor(nout, 1.0f, 5);
    float *dx = zeros(nx), *dw = zeros(D * P), *db = zeros(D), *dxp = nan_scratch(2 * N * P);
    pe_fd(&c, out);
    vdit_patch_embed_backward(dx, dw, db, w, c.xp, c.w, PE_DIMS, dxp);
    ck_assert_double_lt(fd_check(pe_fd, &c, c.x, nx, dx, w, nout, 1e-2, nx), FD_TOL);
    ck_assert_double_lt(fd_check(pe_fd, &c, c.w, D * P, dw, w, nout, 1e-2, D * P), FD_TOL);
    ck_assert_double_lt(fd_check(pe_fd, &c, c.b, D, db, w, nout, 1e-2, D), FD_TOL);
    free(c.x), free(c.xp), free(c.w), free(c.b), free(c.pos), free(out), free(w), free(dx), free(dw), free(db),
        free(dxp);
}
END_TEST

START_TEST(test_fixed_embeddings)
{
    /* sincos1d_8(p): sines then cosines, omega_i = 10000^(-i/4) */
    float e[8];
    vdit_sincos1d(e, 8, 3.0);
    for (int i = 0; i < 4; i++) {
        double om = pow(10000.0, -i / 4.0);
        ck_assert_double_lt(fabs(e[i] - sin(3.0 * om)), 1e-6);
        ck_assert_double_lt(fabs(e[4 + i] - cos(3.0 * om)), 1e-6);
    }
    /* pos[n] = concat(sincos_{D/2}(iw), sincos_{D/2}(ih)) + sincos_D(it); D = 16, grid 2x3x4 */
    int D = 16;
    float *pos = zeros(24 * D), a[16], b[8], c[8];
    vdit_pos_embed_sincos(pos, 2, 3, 4, D);
    int it = 1, ih = 2, iw = 3, n = (it * 3 + ih) * 4 + iw;
    vdit_sincos1d(a, 16, it);
    vdit_sincos1d(b, 8, iw);
    vdit_sincos1d(c, 8, ih);
    for (int i = 0; i < 8; i++) {
        ck_assert_double_lt(fabs(pos[n * D + i] - (b[i] + a[i])), 1e-6);
        ck_assert_double_lt(fabs(pos[n * D + 8 + i] - (c[i] + a[8 + i])), 1e-6);
    }
    free(pos);
    /* timestep: [cos(t freq), sin(t freq)], freq_i = exp(-ln(10000) i / 128) */
    float t[2] = {0.0f, 500.0f}, emb[2 * 256];
    vdit_timestep_embedding(emb, t, 2);
    ck_assert_float_eq(emb[0], 1.0f);
    ck_assert_float_eq(emb[128], 0.0f);
    double f5 = exp(-log(10000.0) * 5 / 128.0);
    ck_assert_double_lt(fabs(emb[256 + 5] - cos(500.0 * f5)), 1e-6);
    ck_assert_double_lt(fabs(emb[256 + 128 + 5] - sin(500.0 * f5)), 1e-6);
}
END_TEST

START_TEST(test_label_embed)
{
    float table[3 * 4], c[2 * 4] = {0}, dtable[12] = {0}, dc[8];
    for (int i = 0; i < 12; i++) table[i] = (float)i;
    for (int i = 0; i < 8; i++) dc[i] = (float)(i + 1);
    int y[2] = {2, 0};
    vdit_label_embed_forward(c, table, y, 2, 4);
    ck_assert_float_eq(c[0], 8.0f);
    ck_assert_float_eq(c[4 + 3], 3.0f);
    vdit_label_embed_backward(dtable, dc, y, 2, 4);
    ck_assert_float_eq(dtable[8], 1.0f);  /* row 2 <- sample 0 */
    ck_assert_float_eq(dtable[3], 8.0f);  /* row 0 <- sample 1 */
    ck_assert_float_eq(dtable[4], 0.0f);  /* row 1 untouched */
}
END_TEST

START_TEST(test_adamw)
{
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -1.0f}, m[2] = {0}, v[2] = {0};
    vdit_adamw_config c = {0.1f, 0.9f, 0.999f, 1e-8f, 0.01f};
    vdit_adamw_step(p, g, m, v, 2, 1, c);
    /* step 1: mhat = g, vhat = g^2, so the update is lr * (sign(g) + wd p) */
    ck_assert_float_eq_tol(p[0], 1.0f - 0.1f * (1.0f + 0.01f * 1.0f), 1e-6);
    ck_assert_float_eq_tol(p[1], -2.0f - 0.1f * (-1.0f + 0.01f * -2.0f), 1e-6);
    ck_assert_float_eq_tol(m[0], 0.05f, 1e-7);
    ck_assert_float_eq_tol(v[1], 0.001f, 1e-7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear_blas_matches_ref);
    tcase_add_test(tc, test_linear_backward_fd);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_modulate_and_gate);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_fast_elementwise_matches_ref);
    tcase_add_test(tc, test_vector_paths_are_exact);
    tcase_add_test(tc, test_attention_matches_ref);
    tcase_add_test(tc, test_attention_backward_fd);
    tcase_add_test(tc, test_attention_scopes);
    tcase_add_test(tc, test_patch_order);
    tcase_add_test(tc, test_patch_embed_fd);
    tcase_add_test(tc, test_fixed_embeddings);
    tcase_add_test(tc, test_label_embed);
    tcase_add_test(tc, test_adamw);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
