/* check_conv.c - the VAE's kernels (lib/conv.c): every backward against
 * central finite differences, every im2col + BLAS path against its
 * plain-loop reference (forward and backward, serial and threaded paths),
 * causality of the causal conv3d, and GroupNorm's statistics. */
#include "testutil.h"

#define FD_TOL 2e-2 /* float32 central differences with h = 1e-2 */

/* ------------------------------------------------------------------------
 * conv2d
 * ---------------------------------------------------------------------- */

typedef struct {
    float *inp, *w, *b;
    vdit_conv2d_shape s;
} conv2d_ctx;

static void conv2d_fd(void *p, float *out)
{
    conv2d_ctx *c = p;
    run_conv2d_forward(out, c->inp, c->w, c->b, c->s);
}

static size_t c2_in(vdit_conv2d_shape s) { return (size_t)s.N * s.IC * s.H * s.W; }
static size_t c2_out(vdit_conv2d_shape s) { return (size_t)s.N * s.OC * vdit_conv2d_out_h(s) * vdit_conv2d_out_w(s); }
static size_t c2_w(vdit_conv2d_shape s) { return (size_t)s.OC * s.IC * s.KH * s.KW; }

START_TEST(test_conv2d_blas_matches_ref)
{
    /* N IC H W OC KH KW stride pad: 1x1, 3x3, 5x5, non-square kernels and
     * frames, strides 1..3, one image (serial, threaded GEMM) and many */
    vdit_conv2d_shape shapes[] = {
        {1, 3, 8, 8, 4, 3, 3, 1, 1},   {5, 4, 9, 7, 6, 3, 3, 2, 1},   {3, 8, 6, 6, 5, 1, 1, 1, 0},
        {4, 2, 10, 11, 3, 5, 5, 1, 2}, {2, 3, 7, 9, 4, 3, 1, 1, 0},   {6, 5, 12, 12, 7, 4, 4, 3, 2},
        {7, 16, 16, 16, 32, 3, 3, 1, 1}, {3, 4, 8, 8, 8, 1, 1, 2, 0}, {2, 3, 5, 5, 2, 5, 3, 1, 3},
        {3, 3, 6, 5, 4, 3, 3, 1, 3}, /* pad > K-1: the scatter-add path */
        {8, 32, 16, 16, 32, 3, 3, 2, 1}, /* large enough for the threaded path, stride 2 */
        {2, 6, 7, 7, 3, 5, 5, 1, 2}, {4, 2, 8, 8, 9, 3, 3, 1, 0}, /* dinp as a transposed conv */
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        vdit_conv2d_shape s = shapes[k];
        size_t ni = c2_in(s), no = c2_out(s), nw = c2_w(s);
        float *inp = rand_tensor(ni, 1.0f, 1 + k), *w = rand_tensor(nw, 0.3f, 2 + k), *b = rand_tensor(s.OC, 1.0f, 3);
        float *o1 = zeros(no), *o2 = zeros(no);
        run_conv2d_forward(o1, inp, w, b, s);
        vdit_conv2d_forward_ref(o2, inp, w, b, s);
        ck_assert_msg(max_abs_diff(o1, o2, no) < 1e-4, "shape %zu: forward differs by %g", k, max_abs_diff(o1, o2, no));
        run_conv2d_forward(o1, inp, w, NULL, s);
        vdit_conv2d_forward_ref(o2, inp, w, NULL, s);
        ck_assert_double_lt(max_abs_diff(o1, o2, no), 1e-4);
        /* backward: both accumulate onto the same non-zero start */
        float *dout = rand_tensor(no, 1.0f, 4);
        float *di1 = rand_tensor(ni, 1.0f, 5), *di2 = rand_tensor(ni, 1.0f, 5);
        float *dw1 = rand_tensor(nw, 1.0f, 6), *dw2 = rand_tensor(nw, 1.0f, 6);
        float *db1 = rand_tensor(s.OC, 1.0f, 7), *db2 = rand_tensor(s.OC, 1.0f, 7);
        run_conv2d_backward(di1, dw1, db1, dout, inp, w, s);
        vdit_conv2d_backward_ref(di2, dw2, db2, dout, inp, w, s);
        ck_assert_msg(max_abs_diff(di1, di2, ni) < 1e-4, "shape %zu: dinp differs by %g", k, max_abs_diff(di1, di2, ni));
        ck_assert_msg(max_abs_diff(dw1, dw2, nw) < 1e-3, "shape %zu: dw differs by %g", k, max_abs_diff(dw1, dw2, nw));
        ck_assert_double_lt(max_abs_diff(db1, db2, s.OC), 1e-3);
        /* NULL gradients are skipped */
        float *dw3 = rand_tensor(nw, 1.0f, 6);
        run_conv2d_backward(NULL, dw3, NULL, dout, inp, w, s);
        ck_assert_double_lt(max_abs_diff(dw3, dw1, nw), 1e-3);
        free(inp), free(w), free(b), free(o1), free(o2), free(dout), free(di1), free(di2);
        free(dw1), free(dw2), free(db1), free(db2), free(dw3);
    }
}
END_TEST

START_TEST(test_conv2d_known_values)
{
    /* a 3x3 box filter of ones with padding 1 on a 3x3 image of ones counts
     * the in-frame neighbours: 4 at corners, 6 at edges, 9 in the middle */
    vdit_conv2d_shape s = {1, 1, 3, 3, 1, 3, 3, 1, 1};
    float inp[9], w[9], out[9], bias = 0.5f;
    for (int i = 0; i < 9; i++) inp[i] = w[i] = 1.0f;
    run_conv2d_forward(out, inp, w, &bias, s);
    const float want[9] = {4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f};
    for (int i = 0; i < 9; i++) ck_assert_float_eq(out[i], want[i]);
    /* stride 2 on a 4x4 image, pad 1: OH = OW = 2 */
    vdit_conv2d_shape s2 = {1, 1, 4, 4, 1, 3, 3, 2, 1};
    ck_assert_int_eq(vdit_conv2d_out_h(s2), 2);
    ck_assert_int_eq(vdit_conv2d_out_w(s2), 2);
}
END_TEST

START_TEST(test_conv2d_backward_fd)
{
    vdit_conv2d_shape shapes[] = {{2, 3, 6, 5, 4, 3, 3, 1, 1}, {3, 2, 7, 7, 3, 3, 3, 2, 1}, {2, 3, 4, 4, 2, 1, 1, 1, 0}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        vdit_conv2d_shape s = shapes[k];
        size_t ni = c2_in(s), no = c2_out(s), nw = c2_w(s);
        conv2d_ctx c = {rand_tensor(ni, 1.0f, 10 + k), rand_tensor(nw, 0.5f, 11), rand_tensor(s.OC, 1.0f, 12), s};
        float *w = rand_tensor(no, 1.0f, 13), *di = zeros(ni), *dw = zeros(nw), *db = zeros(s.OC);
        run_conv2d_backward(di, dw, db, w, c.inp, c.w, s);
        ck_assert_double_lt(fd_check(conv2d_fd, &c, c.inp, ni, di, w, no, 1e-2, 40), FD_TOL);
        ck_assert_double_lt(fd_check(conv2d_fd, &c, c.w, nw, dw, w, no, 1e-2, 40), FD_TOL);
        ck_assert_double_lt(fd_check(conv2d_fd, &c, c.b, s.OC, db, w, no, 1e-2, s.OC), FD_TOL);
        free(c.inp), free(c.w), free(c.b), free(w), free(di), free(dw), free(db);
    }
}
END_TEST

START_TEST(test_conv2d_deterministic)
{
    /* the same call twice gives the same bits (per-thread sums in order) */
    vdit_conv2d_shape s = {9, 8, 12, 12, 16, 3, 3, 1, 1};
    size_t ni = c2_in(s), no = c2_out(s), nw = c2_w(s);
    float *inp = rand_tensor(ni, 1.0f, 1), *w = rand_tensor(nw, 0.3f, 2), *dout = rand_tensor(no, 1.0f, 3);
    float *dw1 = zeros(nw), *dw2 = zeros(nw), *db1 = zeros(s.OC), *db2 = zeros(s.OC);
    run_conv2d_backward(NULL, dw1, db1, dout, inp, w, s);
    run_conv2d_backward(NULL, dw2, db2, dout, inp, w, s);
    ck_assert_int_eq(memcmp(dw1, dw2, nw * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(db1, db2, s.OC * sizeof(float)), 0);
    free(inp), free(w), free(dout), free(dw1), free(dw2), free(db1), free(db2);
}
END_TEST

/* ------------------------------------------------------------------------
 * conv3d
 * ---------------------------------------------------------------------- */

typedef struct {
    float *inp, *w, *b;
    vdit_conv3d_shape s;
} conv3d_ctx;

static void conv3d_fd(void *p, float *out)
{
    conv3d_ctx *c = p;
    run_conv3d_forward(out, c->inp, c->w, c->b, c->s);
}

static size_t c3_in(vdit_conv3d_shape s) { return (size_t)s.B * s.T * s.IC * s.H * s.W; }
static size_t c3_out(vdit_conv3d_shape s)
{
    return (size_t)s.B * vdit_conv3d_out_t(s) * s.OC * vdit_conv3d_out_h(s) * vdit_conv3d_out_w(s);
}
static size_t c3_w(vdit_conv3d_shape s) { return (size_t)s.OC * s.IC * s.KT * s.KH * s.KW; }

/* B T IC H W OC KT KH KW st ss pt ps causal */
static const vdit_conv3d_shape SHAPES3[] = {
    {2, 6, 3, 5, 5, 4, 3, 3, 3, 1, 1, 2, 1, 1}, /* causal, stride 1 */
    {3, 8, 2, 6, 4, 3, 3, 3, 3, 2, 1, 1, 1, 1}, /* causal, stride 2 in time (the VAE's) */
    {1, 5, 3, 4, 6, 2, 3, 3, 3, 1, 2, 1, 1, 0}, /* symmetric, spatial stride 2 */
    {2, 4, 2, 5, 5, 3, 2, 1, 3, 2, 1, 0, 0, 0}, /* non-cubic kernel, no padding */
    {4, 3, 4, 4, 4, 5, 1, 3, 3, 1, 1, 0, 1, 0}, /* KT = 1: conv2d per frame */
    {4, 6, 8, 16, 16, 16, 3, 3, 3, 1, 1, 2, 1, 1}, /* large enough for the threaded path */
    {4, 8, 8, 12, 12, 8, 3, 3, 3, 2, 1, 1, 1, 1}, /* threaded, stride 2 in time */
};

START_TEST(test_conv3d_blas_matches_ref)
{
    for (size_t k = 0; k < sizeof SHAPES3 / sizeof SHAPES3[0]; k++) {
        vdit_conv3d_shape s = SHAPES3[k];
        size_t ni = c3_in(s), no = c3_out(s), nw = c3_w(s);
        float *inp = rand_tensor(ni, 1.0f, 1 + k), *w = rand_tensor(nw, 0.1f, 2), *b = rand_tensor(s.OC, 1.0f, 3);
        float *o1 = zeros(no), *o2 = zeros(no);
        run_conv3d_forward(o1, inp, w, b, s);
        vdit_conv3d_forward_ref(o2, inp, w, b, s);
        ck_assert_msg(max_abs_diff(o1, o2, no) < 1e-4, "shape %zu: forward differs by %g", k, max_abs_diff(o1, o2, no));
        float *dout = rand_tensor(no, 1.0f, 4);
        float *di1 = rand_tensor(ni, 1.0f, 5), *di2 = rand_tensor(ni, 1.0f, 5);
        float *dw1 = rand_tensor(nw, 1.0f, 6), *dw2 = rand_tensor(nw, 1.0f, 6);
        float *db1 = rand_tensor(s.OC, 1.0f, 7), *db2 = rand_tensor(s.OC, 1.0f, 7);
        run_conv3d_backward(di1, dw1, db1, dout, inp, w, s);
        vdit_conv3d_backward_ref(di2, dw2, db2, dout, inp, w, s);
        ck_assert_msg(max_abs_diff(di1, di2, ni) < 1e-4, "shape %zu: dinp differs by %g", k, max_abs_diff(di1, di2, ni));
        ck_assert_msg(max_abs_diff(dw1, dw2, nw) < 1e-3, "shape %zu: dw differs by %g", k, max_abs_diff(dw1, dw2, nw));
        ck_assert_double_lt(max_abs_diff(db1, db2, s.OC), 1e-3);
        free(inp), free(w), free(b), free(o1), free(o2), free(dout), free(di1), free(di2);
        free(dw1), free(dw2), free(db1), free(db2);
    }
}
END_TEST

START_TEST(test_conv3d_sizes_and_kt1)
{
    /* causal stride 2 with pt = KT - st halves an even T */
    vdit_conv3d_shape s = SHAPES3[1];
    ck_assert_int_eq(vdit_conv3d_out_t(s), s.T / 2);
    ck_assert_int_eq(vdit_conv3d_out_t(SHAPES3[0]), SHAPES3[0].T);
    /* KT = 1 is conv2d on every frame */
    vdit_conv3d_shape t = SHAPES3[4];
    vdit_conv2d_shape c = {t.B * t.T, t.IC, t.H, t.W, t.OC, t.KH, t.KW, 1, 1};
    size_t ni = c3_in(t), no = c3_out(t);
    float *inp = rand_tensor(ni, 1.0f, 1), *w = rand_tensor(c3_w(t), 0.3f, 2), *b = rand_tensor(t.OC, 1.0f, 3);
    float *o1 = zeros(no), *o2 = zeros(no);
    run_conv3d_forward(o1, inp, w, b, t);
    run_conv2d_forward(o2, inp, w, b, c);
    ck_assert_double_lt(max_abs_diff(o1, o2, no), 1e-5);
    free(inp), free(w), free(b), free(o1), free(o2);
}
END_TEST

START_TEST(test_conv3d_causal)
{
    /* causal: changing input frame t changes no output frame t' with
     * t'*st + st - 1 < t, and does change the first one that can see it */
    for (int k = 0; k < 2; k++) {
        vdit_conv3d_shape s = SHAPES3[k];
        size_t ni = c3_in(s), no = c3_out(s), frame_out = (size_t)s.OC * vdit_conv3d_out_h(s) * vdit_conv3d_out_w(s);
        size_t frame_in = (size_t)s.IC * s.H * s.W;
        int OT = vdit_conv3d_out_t(s);
        float *inp = rand_tensor(ni, 1.0f, 1), *w = rand_tensor(c3_w(s), 0.3f, 2);
        float *o1 = zeros(no), *o2 = zeros(no);
        run_conv3d_forward(o1, inp, w, NULL, s);
        int t = 3; /* perturb frame 3 of video 0 */
        for (size_t i = 0; i < frame_in; i++) inp[t * frame_in + i] += 1.0f;
        run_conv3d_forward(o2, inp, w, NULL, s);
        for (int tp = 0; tp < OT; tp++) {
            double d = max_abs_diff(o1 + tp * frame_out, o2 + tp * frame_out, frame_out);
            int sees = tp * s.st + s.st - 1 >= t && tp * s.st - s.pt + s.KT - 1 >= t && tp * s.st - s.pt <= t;
            if (tp * s.st + s.st - 1 < t)
                ck_assert_msg(d == 0.0, "stride %d: output frame %d sees future frame %d", s.st, tp, t);
            else if (sees)
                ck_assert_msg(d > 1e-3, "stride %d: output frame %d does not see frame %d", s.st, tp, t);
        }
        free(inp), free(w), free(o1), free(o2);
    }
}
END_TEST

START_TEST(test_conv3d_backward_fd)
{
    for (size_t k = 0; k < 4; k++) {
        vdit_conv3d_shape s = SHAPES3[k];
        size_t ni = c3_in(s), no = c3_out(s), nw = c3_w(s);
        conv3d_ctx c = {rand_tensor(ni, 1.0f, 20 + k), rand_tensor(nw, 0.4f, 21), rand_tensor(s.OC, 1.0f, 22), s};
        float *w = rand_tensor(no, 1.0f, 23), *di = zeros(ni), *dw = zeros(nw), *db = zeros(s.OC);
        run_conv3d_backward(di, dw, db, w, c.inp, c.w, s);
        ck_assert_double_lt(fd_check(conv3d_fd, &c, c.inp, ni, di, w, no, 1e-2, 40), FD_TOL);
        ck_assert_double_lt(fd_check(conv3d_fd, &c, c.w, nw, dw, w, no, 1e-2, 40), FD_TOL);
        ck_assert_double_lt(fd_check(conv3d_fd, &c, c.b, s.OC, db, w, no, 1e-2, s.OC), FD_TOL);
        free(c.inp), free(c.w), free(c.b), free(w), free(di), free(dw), free(db);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * GroupNorm
 * ---------------------------------------------------------------------- */

typedef struct {
    float *x, *gamma, *beta, *mean, *rstd;
    int N, C, HW, G;
} gn_ctx;

static void gn_fd(void *p, float *out)
{
    gn_ctx *c = p;
    vdit_groupnorm_forward(out, c->mean, c->rstd, c->x, c->gamma, c->beta, c->N, c->C, c->HW, c->G);
}

START_TEST(test_groupnorm)
{
    int N = 3, C = 6, HW = 10, G = 3;
    size_t n = (size_t)N * C * HW;
    gn_ctx c = {rand_tensor(n, 2.0f, 1), rand_tensor(C, 1.0f, 2), rand_tensor(C, 1.0f, 3), zeros(N * G),
                zeros(N * G), N, C, HW, G};
    for (size_t i = 0; i < (size_t)C * HW; i++) c.x[i] += 5.0f; /* an offset image */
    float *o1 = zeros(n), *o2 = zeros(n), *m2 = zeros(N * G), *r2 = zeros(N * G);
    vdit_groupnorm_forward(o1, c.mean, c.rstd, c.x, c.gamma, c.beta, N, C, HW, G);
    vdit_groupnorm_forward_ref(o2, m2, r2, c.x, c.gamma, c.beta, N, C, HW, G);
    ck_assert_double_lt(max_abs_diff(o1, o2, n), 1e-5);
    ck_assert_double_lt(max_abs_diff(c.mean, m2, N * G), 1e-5);
    ck_assert_double_lt(max_abs_diff(c.rstd, r2, N * G), 1e-5);
    /* gamma 1, beta 0: every group has mean 0 and variance 1 */
    float *one = zeros(C), *zero = zeros(C);
    for (int i = 0; i < C; i++) one[i] = 1.0f;
    vdit_groupnorm_forward(o1, m2, r2, c.x, one, zero, N, C, HW, G);
    for (int j = 0; j < N * G; j++) {
        double s = 0, ss = 0;
        int cnt = C / G * HW;
        for (int i = 0; i < cnt; i++) s += o1[(size_t)j * cnt + i], ss += o1[(size_t)j * cnt + i] * o1[(size_t)j * cnt + i];
        ck_assert_double_lt(fabs(s / cnt), 1e-5);
        ck_assert_double_lt(fabs(ss / cnt - 1.0), 1e-4);
    }
    /* backward: fast path against the plain loops, then finite differences */
    float *w = rand_tensor(n, 1.0f, 4);
    float *dx1 = rand_tensor(n, 1.0f, 5), *dx2 = rand_tensor(n, 1.0f, 5);
    float *dg1 = rand_tensor(C, 1.0f, 6), *dg2 = rand_tensor(C, 1.0f, 6);
    float *db1 = rand_tensor(C, 1.0f, 7), *db2 = rand_tensor(C, 1.0f, 7);
    run_groupnorm_backward(dx1, dg1, db1, w, c.x, c.mean, c.rstd, c.gamma, N, C, HW, G);
    vdit_groupnorm_backward_ref(dx2, dg2, db2, w, c.x, c.mean, c.rstd, c.gamma, N, C, HW, G);
    ck_assert_double_lt(max_abs_diff(dx1, dx2, n), 1e-4);
    ck_assert_double_lt(max_abs_diff(dg1, dg2, C), 1e-4);
    ck_assert_double_lt(max_abs_diff(db1, db2, C), 1e-4);
    float *dx = zeros(n), *dg = zeros(C), *db = zeros(C);
    run_groupnorm_backward(dx, dg, db, w, c.x, c.mean, c.rstd, c.gamma, N, C, HW, G);
    ck_assert_double_lt(fd_check(gn_fd, &c, c.x, n, dx, w, n, 1e-2, 60), FD_TOL);
    ck_assert_double_lt(fd_check(gn_fd, &c, c.gamma, C, dg, w, n, 1e-2, C), FD_TOL);
    ck_assert_double_lt(fd_check(gn_fd, &c, c.beta, C, db, w, n, 1e-2, C), FD_TOL);
    /* a size that runs on every thread, against the plain loops */
    {
        int N2 = 5, C2 = 32, HW2 = 1024, G2 = 8;
        size_t n2 = (size_t)N2 * C2 * HW2;
        float *x2 = rand_tensor(n2, 1.5f, 11), *g2 = rand_tensor(C2, 1.0f, 12), *b2 = rand_tensor(C2, 1.0f, 13);
        float *y1 = zeros(n2), *y2 = zeros(n2), *mm1 = zeros(N2 * G2), *rr1 = zeros(N2 * G2), *mm2 = zeros(N2 * G2),
              *rr2 = zeros(N2 * G2), *go = rand_tensor(n2, 1.0f, 14);
        float *e1 = zeros(n2), *e2 = zeros(n2), *gg1 = zeros(C2), *gg2 = zeros(C2), *bb1 = zeros(C2), *bb2 = zeros(C2);
        vdit_groupnorm_forward(y1, mm1, rr1, x2, g2, b2, N2, C2, HW2, G2);
        vdit_groupnorm_forward_ref(y2, mm2, rr2, x2, g2, b2, N2, C2, HW2, G2);
        ck_assert_double_lt(max_abs_diff(y1, y2, n2), 1e-4);
        run_groupnorm_backward(e1, gg1, bb1, go, x2, mm1, rr1, g2, N2, C2, HW2, G2);
        vdit_groupnorm_backward_ref(e2, gg2, bb2, go, x2, mm2, rr2, g2, N2, C2, HW2, G2);
        ck_assert_double_lt(max_abs_diff(e1, e2, n2), 1e-4);
        ck_assert_double_lt(max_abs_diff(gg1, gg2, C2), 1e-2);
        ck_assert_double_lt(max_abs_diff(bb1, bb2, C2), 1e-2);
        free(x2), free(g2), free(b2), free(y1), free(y2), free(mm1), free(rr1), free(mm2), free(rr2), free(go);
        free(e1), free(e2), free(gg1), free(gg2), free(bb1), free(bb2);
    }
    free(c.x), free(c.gamma), free(c.beta), free(c.mean), free(c.rstd), free(o1), free(o2), free(m2), free(r2);
    free(one), free(zero), free(w), free(dx1), free(dx2), free(dg1), free(dg2), free(db1), free(db2);
    free(dx), free(dg), free(db);
}
END_TEST

/* ------------------------------------------------------------------------
 * upsampling, SiLU
 * ---------------------------------------------------------------------- */

typedef struct {
    float *x;
    int B, T, C, H, W, ft, fs;
} up_ctx;

static void up_fd(void *p, float *out)
{
    up_ctx *c = p;
    vdit_upsample_nearest_forward(out, c->x, c->B, c->T, c->C, c->H, c->W, c->ft, c->fs);
}

START_TEST(test_upsample)
{
    /* values: out[t][c][y][x] = inp[t/ft][c][y/fs][x/fs] */
    float in[4] = {1, 2, 3, 4}, out[16];
    vdit_upsample_nearest_forward(out, in, 1, 1, 1, 2, 2, 1, 2);
    const float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int i = 0; i < 16; i++) ck_assert_float_eq(out[i], want[i]);
    /* in time: frames repeated in order */
    float v[2] = {5, 7}, vt[4];
    vdit_upsample_nearest_forward(vt, v, 1, 2, 1, 1, 1, 2, 1);
    ck_assert_float_eq(vt[0], 5);
    ck_assert_float_eq(vt[1], 5);
    ck_assert_float_eq(vt[2], 7);
    ck_assert_float_eq(vt[3], 7);
    /* a size that runs on every thread: every output is its source */
    {
        int B = 2, T = 3, C = 16, H = 16, W = 16;
        size_t ni = (size_t)B * T * C * H * W;
        float *x = rand_tensor(ni, 1.0f, 5), *y = zeros(ni * 8), *dx = zeros(ni);
        vdit_upsample_nearest_forward(y, x, B, T, C, H, W, 2, 2);
        int bad = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < 2 * T; t++)
                for (int c = 0; c < C; c++)
                    for (int yy = 0; yy < 2 * H; yy++)
                        for (int xx = 0; xx < 2 * W; xx++)
                            bad += y[((((size_t)b * 2 * T + t) * C + c) * 2 * H + yy) * 2 * W + xx] !=
                                   x[((((size_t)b * T + t / 2) * C + c) * H + yy / 2) * W + xx / 2];
        ck_assert_int_eq(bad, 0);
        vdit_upsample_nearest_backward(dx, y, B, T, C, H, W, 2, 2); /* each input gathers its 8 copies */
        double e = 0;
        for (size_t i = 0; i < ni; i++) e = fmax(e, fabs(dx[i] - 8.0f * x[i]));
        ck_assert_double_lt(e, 1e-4);
        free(x), free(y), free(dx);
    }
    int cases[2][2] = {{1, 2}, {2, 2}};
    for (int k = 0; k < 2; k++) {
        up_ctx c = {NULL, 2, 3, 2, 3, 4, cases[k][0], cases[k][1]};
        size_t ni = (size_t)c.B * c.T * c.C * c.H * c.W, no = ni * c.ft * c.fs * c.fs;
        c.x = rand_tensor(ni, 1.0f, 1);
        float *w = rand_tensor(no, 1.0f, 2), *dx = zeros(ni);
        vdit_upsample_nearest_backward(dx, w, c.B, c.T, c.C, c.H, c.W, c.ft, c.fs);
        ck_assert_double_lt(fd_check(up_fd, &c, c.x, ni, dx, w, no, 1e-2, ni), FD_TOL);
        free(c.x), free(w), free(dx);
    }
}
END_TEST

START_TEST(test_silu_reused)
{
    /* the VAE reuses kernels.c's SiLU: silu(x) = x sigmoid(x) */
    float x[3] = {-1.0f, 0.0f, 2.0f}, y[3];
    vdit_silu_forward(y, x, 3);
    ck_assert_float_eq_tol(y[0], -0.26894142f, 1e-6);
    ck_assert_float_eq_tol(y[1], 0.0f, 1e-7);
    ck_assert_float_eq_tol(y[2], 1.76159416f, 1e-6);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv2d_blas_matches_ref);
    tcase_add_test(tc, test_conv2d_known_values);
    tcase_add_test(tc, test_conv2d_backward_fd);
    tcase_add_test(tc, test_conv2d_deterministic);
    tcase_add_test(tc, test_conv3d_blas_matches_ref);
    tcase_add_test(tc, test_conv3d_sizes_and_kt1);
    tcase_add_test(tc, test_conv3d_causal);
    tcase_add_test(tc, test_conv3d_backward_fd);
    tcase_add_test(tc, test_groupnorm);
    tcase_add_test(tc, test_upsample);
    tcase_add_test(tc, test_silu_reused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
