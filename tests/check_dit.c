/* check_dit.c - the whole DiT: initialisation, finite-difference gradients
 * of every parameter kind, checkpoints (round trip and rejection of
 * mismatched ones), determinism. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "testutil.h"

static vdit_dit_config small_config(vdit_attention att, int pt)
{
    vdit_dit_config c = {.latent_channels = 2, .hidden = 16, .depth = 2, .heads = 2,
                         .patch = {pt, 2, 2}, .grid = {4, 4, 6}, .num_classes = 3,
                         .attention = att, .objective = VDIT_OBJ_EPS};
    return c;
}

static size_t input_numel(const vdit_dit *m, int B)
{
    return (size_t)B * m->cfg.grid[0] * m->C_in * m->cfg.grid[1] * m->cfg.grid[2];
}

static size_t output_numel(const vdit_dit *m, int B)
{
    return (size_t)B * m->cfg.grid[0] * m->cfg.latent_channels * m->cfg.grid[1] * m->cfg.grid[2];
}

/* Every parameter random (adaLN and final layer included), so every path
 * carries gradient. */
static void randomise(vdit_dit *m, uint64_t seed)
{
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] = 0.2f * vdit_rng_normal(&rng);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vdit-check-dit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

START_TEST(test_init)
{
    vdit_dit_config cfg = small_config(VDIT_ATTN_FULL, 1);
    vdit_dit m;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
    vdit_dit_init_weights(&m, 7);
    int D = cfg.hidden;
    /* adaLN and the final linear start at zero, so the output is exactly zero */
    ck_assert_double_eq(max_abs(m.params.ada_w, (size_t)cfg.depth * 6 * D * D), 0.0);
    ck_assert_double_eq(max_abs(m.params.final_w, (size_t)m.P_out * D), 0.0);
    /* Xavier-uniform bound sqrt(6 / (fan_in + fan_out)) for qkv [3D][D] */
    double bound = sqrt(6.0 / (4.0 * D));
    double mx = max_abs(m.params.qkv_w, (size_t)3 * D * D);
    ck_assert_double_le(mx, bound);
    ck_assert_double_gt(mx, 0.8 * bound);
    /* y_embedder normal(0, 0.02) */
    double ss = 0;
    size_t ny = (size_t)(cfg.num_classes + 1) * D;
    for (size_t i = 0; i < ny; i++) ss += m.params.y_table[i] * m.params.y_table[i];
    ck_assert_double_lt(fabs(sqrt(ss / ny) - 0.02), 0.006);
    float *x = rand_tensor(input_numel(&m, 2), 1.0f, 1), *out = rand_tensor(output_numel(&m, 2), 1.0f, 2);
    float t[2] = {10, 900};
    int y[2] = {0, 3};
    ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 2, out, &err), 0);
    ck_assert_double_eq(max_abs(out, output_numel(&m, 2)), 0.0);
    /* same seed, same weights; another seed, other weights */
    vdit_dit m2;
    ck_assert_int_eq(vdit_dit_create(&m2, &cfg, &err), 0);
    vdit_dit_init_weights(&m2, 7);
    ck_assert_int_eq(memcmp(m.params_mem, m2.params_mem, m.num_params * sizeof(float)), 0);
    vdit_dit_init_weights(&m2, 8);
    ck_assert_int_ne(memcmp(m.params_mem, m2.params_mem, m.num_params * sizeof(float)), 0);
    free(x), free(out);
    vdit_dit_free(&m);
    vdit_dit_free(&m2);
}
END_TEST

/* ------------------------------------------------------------------------
 * gradients of the whole model against finite differences
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_dit *m;
    float *x, *t;
    int *y, B;
} model_ctx;

static void model_fd(void *p, float *out)
{
    model_ctx *c = p;
    vdit_err err;
    vdit_dit_forward(c->m, c->x, c->t, c->y, c->B, out, &err);
}

static void check_model_grads(vdit_attention att, int pt)
{
    vdit_dit_config cfg = small_config(att, pt);
    vdit_dit m;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
    randomise(&m, 11);
    int B = 2;
    float t[2] = {3.0f, 700.0f};
    int y[2] = {1, 3};
    model_ctx c = {&m, rand_tensor(input_numel(&m, B), 1.0f, 5), t, y, B};
    size_t nout = output_numel(&m, B);
    float *w = rand_tensor(nout, 1.0f, 6), *out = zeros(nout);
    model_fd(&c, out);
    vdit_dit_zero_grad(&m);
    ck_assert_int_eq(vdit_dit_backward(&m, w, &err), 0);
    int n = vdit_dit_param_table(&m, NULL, 0);
    vdit_param_info *info = malloc(n * sizeof *info);
    vdit_dit_param_table(&m, info, n);
    for (int i = 0; i < n; i++) {
        double e = fd_check(model_fd, &c, m.params_mem + info[i].offset, info[i].numel,
                            m.grads_mem + info[i].offset, w, nout, 1e-2, 12);
        if (!(e < 3e-2)) ck_abort_msg("%s (attention %s, pt %d): finite-difference error %g", info[i].name,
                                      vdit_attention_name(att), pt, e);
    }
    free(info), free(c.x), free(w), free(out);
    vdit_dit_free(&m);
}

START_TEST(test_grad_full_122) { check_model_grads(VDIT_ATTN_FULL, 1); }
END_TEST
START_TEST(test_grad_st_222) { check_model_grads(VDIT_ATTN_ST, 2); }
END_TEST

/* The st model's spatial block 0 keeps frames apart, its temporal block 1
 * joins them: with depth 1 (spatial only), frame 1's input cannot reach
 * frame 0's output; with depth 2 it does. */
START_TEST(test_st_model_scope)
{
    for (int depth = 1; depth <= 2; depth++) {
        vdit_dit_config cfg = small_config(VDIT_ATTN_ST, 1);
        cfg.depth = depth;
        vdit_dit m;
        vdit_err err;
        ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
        randomise(&m, 3);
        size_t nin = input_numel(&m, 1), nout = output_numel(&m, 1), frame_in = nin / 4, frame_out = nout / 4;
        float *x = rand_tensor(nin, 1.0f, 4), *o1 = zeros(nout), *o2 = zeros(nout), t = 5;
        int y = 0;
        ck_assert_int_eq(vdit_dit_forward(&m, x, &t, &y, 1, o1, &err), 0);
        for (size_t i = frame_in; i < 2 * frame_in; i++) x[i] += 1.0f; /* frame 1 */
        ck_assert_int_eq(vdit_dit_forward(&m, x, &t, &y, 1, o2, &err), 0);
        double d0 = max_abs_diff(o1, o2, frame_out);
        double d1 = max_abs_diff(o1 + frame_out, o2 + frame_out, frame_out);
        ck_assert_double_gt(d1, 1e-3);
        if (depth == 1)
            ck_assert_double_eq(d0, 0.0);
        else
            ck_assert_double_gt(d0, 1e-4);
        free(x), free(o1), free(o2);
        vdit_dit_free(&m);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * checkpoints
 * ---------------------------------------------------------------------- */

START_TEST(test_checkpoint_round_trip)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    vdit_dit_config cfg = small_config(VDIT_ATTN_ST, 2);
    cfg.objective = VDIT_OBJ_FLOW;
    vdit_dit m, m2;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
    randomise(&m, 9);
    ck_assert_int_eq(vdit_dit_save(&m, m.params_mem, path, &err), 0);
    ck_assert_msg(vdit_dit_load(&m2, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(&m.cfg, &m2.cfg, sizeof cfg), 0);
    ck_assert_int_eq(m2.cfg.attention, VDIT_ATTN_ST);
    ck_assert_int_eq(m2.cfg.objective, VDIT_OBJ_FLOW);
    ck_assert_int_eq(memcmp(m.params_mem, m2.params_mem, m.num_params * sizeof(float)), 0);
    /* names and shapes of the contract */
    vdit_st_file f;
    ck_assert_int_eq(vdit_st_read(path, &f, &err), 0);
    ck_assert_int_eq(f.ntensors, 7 + 10 * cfg.depth + 4);
    const vdit_st_tensor *xw = vdit_st_find(&f, "x_embedder.proj.weight");
    ck_assert_ptr_nonnull(xw);
    ck_assert_int_eq(xw->ndim, 5);
    int64_t want[5] = {16, 5, 2, 2, 2};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(xw->shape[i], want[i]);
    const vdit_st_tensor *fc2 = vdit_st_find(&f, "blocks.1.mlp.fc2.weight");
    ck_assert_ptr_nonnull(fc2);
    ck_assert_int_eq(fc2->shape[0], 16);
    ck_assert_int_eq(fc2->shape[1], 64);
    ck_assert_ptr_nonnull(vdit_st_find(&f, "final_layer.linear.bias"));
    ck_assert_int_eq(vdit_st_find(&f, "final_layer.linear.bias")->shape[0], 2 * 2 * 2 * 2);
    vdit_st_free(&f);
    vdit_dit_free(&m);
    vdit_dit_free(&m2);
}
END_TEST

/* Writes m's tensors with one of them renamed, reshaped, dropped or an
 * extra one added, and returns the load error. */
static void load_mangled(int how, char *msg, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad%d.safetensors", tmpdir, how);
    vdit_dit_config cfg = small_config(VDIT_ATTN_FULL, 1);
    vdit_dit m, m2;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
    int n = vdit_dit_param_table(&m, NULL, 0);
    vdit_param_info *info = malloc((n + 1) * sizeof *info);
    vdit_st_tensor *t = malloc((n + 1) * sizeof *t);
    vdit_dit_param_table(&m, info, n);
    for (int i = 0; i < n; i++) {
        t[i].name = info[i].name;
        t[i].ndim = info[i].ndim;
        memcpy(t[i].shape, info[i].shape, sizeof info[i].shape);
        t[i].data = m.params_mem + info[i].offset;
        t[i].numel = info[i].numel;
    }
    char *cfgjson = vdit_dit_config_to_json(&cfg);
    const char *keys[1] = {"config"}, *vals[1] = {cfgjson};
    int nt = n, nmeta = 1;
    if (how == 0) nt = n - 1; /* final_layer.linear.bias missing */
    if (how == 1) {           /* blocks.0.attn.proj.weight [16,16] -> [8,32] */
        for (int i = 0; i < n; i++)
            if (!strcmp(t[i].name, "blocks.0.attn.proj.weight")) t[i].shape[0] = 8, t[i].shape[1] = 32;
    }
    if (how == 2) { /* an extra tensor */
        t[n] = t[n - 1];
        t[n].name = "blocks.9.attn.qkv.weight";
        nt = n + 1;
    }
    if (how == 3) nmeta = 0; /* no config */
    if (how == 4) vals[0] = "{\"hidden\": 16}";
    if (how == 5) vals[0] = "{not json";
    ck_assert_int_eq(vdit_st_write(path, t, nt, keys, vals, nmeta, &err), 0);
    ck_assert_int_eq(vdit_dit_load(&m2, path, &err), -1);
    snprintf(msg, cap, "%s", err.msg);
    free(cfgjson), free(info), free(t);
    vdit_dit_free(&m);
}

START_TEST(test_checkpoint_rejects_mismatch)
{
    make_tmpdir();
    const char *expect[] = {"missing tensor 'final_layer.linear.bias'",
                            "tensor 'blocks.0.attn.proj.weight' has shape [8,32], the config needs [16,16]",
                            "unexpected tensor 'blocks.9.attn.qkv.weight'",
                            "no \"config\"",
                            "config has no \"latent_channels\"",
                            "config is not valid JSON"};
    for (int how = 0; how < 6; how++) {
        char msg[1024];
        load_mangled(how, msg, sizeof msg);
        ck_assert_msg(strstr(msg, expect[how]) != NULL, "case %d: got '%s'", how, msg);
        ck_assert_msg(strstr(msg, tmpdir) != NULL, "case %d: message does not name the file: '%s'", how, msg);
    }
}
END_TEST

START_TEST(test_config_errors)
{
    vdit_err err;
    vdit_dit_config c = small_config(VDIT_ATTN_FULL, 1);
    c.heads = 3;
    ck_assert_int_eq(vdit_dit_config_check(&c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "heads 3 must divide hidden 16"));
    c = small_config(VDIT_ATTN_FULL, 3);
    ck_assert_int_eq(vdit_dit_config_check(&c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "grid T = 4 is not divisible by patch 3"));
    c = small_config(VDIT_ATTN_FULL, 1);
    c.hidden = 18, c.heads = 2;
    ck_assert_int_eq(vdit_dit_config_check(&c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "multiple of 4"));
    /* JSON round trip */
    c = small_config(VDIT_ATTN_ST, 2);
    char *s = vdit_dit_config_to_json(&c);
    vdit_dit_config c2;
    ck_assert_int_eq(vdit_dit_config_from_json(&c2, s, "x", &err), 0);
    ck_assert_int_eq(memcmp(&c, &c2, sizeof c), 0);
    free(s);
    ck_assert_int_eq(vdit_dit_config_from_json(&c2, "{\"latent_channels\":2,\"hidden\":16,\"depth\":2,\"heads\":2,"
                                                    "\"patch\":[1,2,2],\"grid\":[4,4,6],\"num_classes\":0,"
                                                    "\"attention\":\"spatial\",\"objective\":\"eps\"}",
                                               "cfg.json", &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "cfg.json: config \"attention\" must be"));
}
END_TEST

START_TEST(test_forward_errors_and_determinism)
{
    vdit_dit_config cfg = small_config(VDIT_ATTN_FULL, 1);
    vdit_dit m;
    vdit_err err;
    ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
    randomise(&m, 1);
    float *x = rand_tensor(input_numel(&m, 2), 1.0f, 1), *o1 = zeros(output_numel(&m, 2)),
          *o2 = zeros(output_numel(&m, 2));
    float t[2] = {1, 2};
    int y[2] = {0, 4};
    ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 2, o1, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "label 4 of sample 1 out of range 0..3"));
    ck_assert_int_eq(vdit_dit_backward(&m, o1, &err), -1); /* no forward kept */
    y[1] = 3;
    ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 2, o1, &err), 0);
    ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 2, o2, &err), 0);
    ck_assert_int_eq(memcmp(o1, o2, output_numel(&m, 2) * sizeof(float)), 0);
    /* a batch of one gives the same as the first sample of a batch of two */
    ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 1, o2, &err), 0);
    ck_assert_double_lt(max_abs_diff(o1, o2, output_numel(&m, 1)), 1e-5);
    free(x), free(o1), free(o2);
    vdit_dit_free(&m);
}
END_TEST

START_TEST(test_forward_nograd)
{
    /* the sampling forward: the same bits as the training forward, one block of
     * activations instead of depth, and no backward after it */
    for (int att = 0; att < 2; att++) {
        vdit_dit_config cfg = small_config((vdit_attention)att, 1);
        cfg.depth = 3; /* odd: the stream ends in the second slice */
        vdit_dit m;
        vdit_err err;
        ck_assert_int_eq(vdit_dit_create(&m, &cfg, &err), 0);
        randomise(&m, 3);
        size_t no = output_numel(&m, 2);
        float *x = rand_tensor(input_numel(&m, 2), 1.0f, 2), *o1 = zeros(no), *o2 = zeros(no), *o3 = zeros(no);
        float t[2] = {5, 900};
        int y[2] = {1, 3};
        ck_assert_int_eq(vdit_dit_forward_nograd(&m, x, t, y, 2, o1, &err), 0);
        ck_assert_int_eq(m.act_layers, 1);
        ck_assert_int_eq(vdit_dit_backward(&m, o1, &err), -1);
        ck_assert_int_eq(vdit_dit_forward(&m, x, t, y, 2, o2, &err), 0);
        ck_assert_int_eq(m.act_layers, 3);
        ck_assert_int_eq(memcmp(o1, o2, no * sizeof(float)), 0);
        ck_assert_double_gt(max_abs(o1, no), 0.0);
        ck_assert_int_eq(vdit_dit_backward(&m, o1, &err), 0);
        /* on memory sized for training, and after it */
        ck_assert_int_eq(vdit_dit_forward_nograd(&m, x, t, y, 2, o3, &err), 0);
        ck_assert_int_eq(memcmp(o1, o3, no * sizeof(float)), 0);
        ck_assert_int_eq(vdit_dit_backward(&m, o1, &err), -1);
        free(x), free(o1), free(o2), free(o3);
        vdit_dit_free(&m);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dit");
    TCase *tc = tcase_create("dit");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_grad_full_122);
    tcase_add_test(tc, test_grad_st_222);
    tcase_add_test(tc, test_st_model_scope);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_checkpoint_rejects_mismatch);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_forward_errors_and_determinism);
    tcase_add_test(tc, test_forward_nograd);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
