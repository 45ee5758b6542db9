/* check_pipeline.c - lib/pipeline.c against the call sequence it replaces,
 * written out by hand (convert, encode, sample with a seed per chunk,
 * decode, convert), bit for bit, on tiny random models in pixels and in a
 * VAE's latents; known frames come through unchanged, masks other than a
 * prefix work, bad shapes and labels are refused with a message. And
 * vdit_train_run against a plain loop of vdit_trainer_step over the
 * documented data order: the same files, log rows, kept states, resume. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "testutil.h"

#define N_ 5 /* videos: chunks of 2, 2 and 1 */
#define F_ 4 /* frames */
#define S_ 4 /* side */
#define NP ((size_t)F_ * S_ * S_ * 3)
#define NCLS 2

static void make_dit(vdit_dit *m, int C, int T, int H, vdit_objective obj)
{
    vdit_dit_config c = {C, 16, 1, 2, {1, 2, 2}, {T, H, H}, NCLS, VDIT_ATTN_ST, obj};
    vdit_err err;
    ck_assert_msg(vdit_dit_create(m, &c, &err) == 0, "%s", err.msg);
    vdit_dit_init_weights(m, 11);
    /* init zeroes the final layer (the model would predict 0): random weights everywhere */
    vdit_rng rng;
    vdit_rng_init(&rng, 5);
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] = 0.2f * vdit_rng_normal(&rng);
}

static void make_vae(vdit_vae *m, int latent_channels)
{
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    c.channels[0] = 4, c.channels[1] = 4, c.channels[2] = 0, c.downsample = 2, c.groups = 2, c.mid_blocks = 0;
    c.latent_channels = latent_channels;
    vdit_err err;
    ck_assert_msg(vdit_vae_create(m, &c, &err) == 0, "%s", err.msg);
    vdit_vae_init_weights(m, 7);
}

static uint8_t *rand_videos(int n, uint64_t seed)
{
    uint8_t *v = malloc((size_t)n * NP);
    for (size_t i = 0; i < (size_t)n * NP; i++) v[i] = (uint8_t)(vdit_rng_at(seed, i) & 255);
    return v;
}

/* The call sequence of `vdit eval`'s generate before lib/pipeline.c. */
static void by_hand(vdit_dit *dit, vdit_vae *vae, const vdit_sample_config *sc0, int batch, const uint8_t *videos,
                    const uint8_t *known, const int *labels, uint8_t *out, float *lat)
{
    const vdit_dit_config *c = &dit->cfg;
    int T = c->grid[0], C = c->latent_channels, H = c->grid[1];
    size_t nl = (size_t)T * C * H * H;
    float *x = malloc((size_t)batch * NP * sizeof(float)), *z = malloc((size_t)batch * nl * sizeof(float));
    vdit_err err;
    for (int b0 = 0; b0 < N_; b0 += batch) {
        int nb = N_ - b0 < batch ? N_ - b0 : batch;
        for (int i = 0; i < nb; i++) vdit_video_to_float(x + i * NP, videos + (b0 + i) * NP, F_, S_, S_);
        if (vae)
            ck_assert_msg(vdit_vae_encode(vae, x, nb, F_, S_, S_, z, &err) == 0, "%s", err.msg);
        else
            memcpy(z, x, (size_t)nb * NP * sizeof(float));
        vdit_sample_job job = {nb, T, C, H, H, z, known + (size_t)b0 * T, labels + b0, c->num_classes};
        vdit_sample_config sc = *sc0;
        sc.seed = vdit_rng_at(sc0->seed, (uint64_t)b0);
        ck_assert_msg(vdit_sample_dit(dit, &sc, &job, lat + b0 * nl, &err) == 0, "%s", err.msg);
        if (vae)
            ck_assert_msg(vdit_vae_decode(vae, lat + b0 * nl, nb, T, H, H, x, &err) == 0, "%s", err.msg);
        else
            memcpy(x, lat + b0 * nl, (size_t)nb * NP * sizeof(float));
        for (int i = 0; i < nb; i++) vdit_video_to_u8(out + (b0 + i) * NP, x + i * NP, F_, S_, S_);
    }
    free(x), free(z);
}

/* known[N_][F_]: videos 0, 2, 3, 4 continue their first two frames; video 1
 * has frames 0 and 3 known and fills in 1 and 2. */
static void masks(uint8_t *known, int *labels)
{
    for (int i = 0; i < N_; i++) {
        for (int t = 0; t < F_; t++) known[i * F_ + t] = i == 1 ? (t == 0 || t == 3) : t < 2;
        labels[i] = i % (NCLS + 1); /* 0, 1, the null label, ... */
    }
}

START_TEST(test_pixels_equal_hand_calls)
{
    vdit_dit dit;
    make_dit(&dit, 3, F_, S_, VDIT_OBJ_FLOW);
    uint8_t *videos = rand_videos(N_, 1), known[N_ * F_], *out = malloc(N_ * NP), *want = malloc(N_ * NP);
    int labels[N_];
    masks(known, labels);
    float *lat = malloc(N_ * NP * sizeof(float)), *want_lat = malloc(N_ * NP * sizeof(float));
    vdit_pipeline p = {&dit, NULL, {VDIT_SAMPLER_HEUN, 3, 1.5f, 42}, 2, NULL, NULL};
    vdit_err err;
    ck_assert_msg(vdit_pipeline_continue(&p, videos, N_, F_, S_, known, labels, out, lat, &err) == 0, "%s", err.msg);
    by_hand(&dit, NULL, &p.sample, 2, videos, known, labels, want, want_lat);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    ck_assert_int_eq(memcmp(lat, want_lat, N_ * NP * sizeof(float)), 0);
    /* known frames pass through bit for bit; the others are sampled, not copied */
    size_t frame = (size_t)S_ * S_ * 3;
    int copied = 0, sampled_same = 0;
    for (int i = 0; i < N_; i++)
        for (int t = 0; t < F_; t++) {
            int same = !memcmp(out + i * NP + t * frame, videos + i * NP + t * frame, frame);
            if (known[i * F_ + t]) copied += same;
            else sampled_same += same;
        }
    ck_assert_int_eq(copied, 2 * N_);
    ck_assert_int_eq(sampled_same, 0);
    /* without output latents, the same videos */
    memset(out, 0, N_ * NP);
    ck_assert_msg(vdit_pipeline_continue(&p, videos, N_, F_, S_, known, labels, out, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    /* another seed, other samples */
    p.sample.seed = 43;
    ck_assert_msg(vdit_pipeline_continue(&p, videos, N_, F_, S_, known, labels, out, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_ne(memcmp(out, want, N_ * NP), 0);
    free(videos), free(out), free(want), free(lat), free(want_lat);
    vdit_dit_free(&dit);
}
END_TEST

START_TEST(test_latents_equal_hand_calls)
{
    vdit_dit dit;
    vdit_vae vae;
    make_vae(&vae, 4);
    make_dit(&dit, 4, F_, S_ / 2, VDIT_OBJ_EPS);
    size_t nl = (size_t)F_ * 4 * (S_ / 2) * (S_ / 2);
    uint8_t *videos = rand_videos(N_, 2), known[N_ * F_], *out = malloc(N_ * NP), *want = malloc(N_ * NP);
    int labels[N_];
    masks(known, labels);
    float *lat = malloc(N_ * nl * sizeof(float)), *want_lat = malloc(N_ * nl * sizeof(float));
    float *enc = malloc(N_ * nl * sizeof(float));
    vdit_pipeline p = {&dit, &vae, {VDIT_SAMPLER_DDIM, 3, 1.0f, 9}, 2, NULL, NULL};
    vdit_err err;
    ck_assert_msg(vdit_pipeline_continue(&p, videos, N_, F_, S_, known, labels, out, lat, &err) == 0, "%s", err.msg);
    by_hand(&dit, &vae, &p.sample, 2, videos, known, labels, want, want_lat);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    ck_assert_int_eq(memcmp(lat, want_lat, N_ * nl * sizeof(float)), 0);
    /* the known latent frames are the encoded videos' */
    ck_assert_msg(vdit_pipeline_encode(&p, videos, N_, F_, S_, enc, &err) == 0, "%s", err.msg);
    size_t lf = nl / F_;
    for (int i = 0; i < N_; i++)
        for (int t = 0; t < F_; t++)
            ck_assert_int_eq(!memcmp(lat + i * nl + t * lf, enc + i * nl + t * lf, lf * sizeof(float)),
                             known[i * F_ + t]);
    /* decoding the latents gives the videos */
    memset(out, 0, N_ * NP);
    ck_assert_msg(vdit_pipeline_decode(&p, lat, N_, out, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    free(videos), free(out), free(want), free(lat), free(want_lat), free(enc);
    vdit_dit_free(&dit);
    vdit_vae_free(&vae);
}
END_TEST

START_TEST(test_unconditional)
{
    vdit_dit dit;
    make_dit(&dit, 3, F_, S_, VDIT_OBJ_FLOW);
    uint8_t *out = malloc(N_ * NP), *want = malloc(N_ * NP), known[N_ * F_] = {0};
    float *lat = malloc(N_ * NP * sizeof(float)), *x = malloc(N_ * NP * sizeof(float));
    int nulls[N_] = {NCLS, NCLS, NCLS, NCLS, NCLS};
    vdit_pipeline p = {&dit, NULL, {VDIT_SAMPLER_EULER, 2, 1.0f, 3}, 4, NULL, NULL};
    vdit_err err;
    ck_assert_msg(vdit_pipeline_continue(&p, NULL, N_, F_, S_, NULL, NULL, out, lat, &err) == 0, "%s", err.msg);
    for (int b0 = 0; b0 < N_; b0 += 4) { /* no context, the null label, a seed per chunk */
        int nb = N_ - b0 < 4 ? N_ - b0 : 4;
        vdit_sample_job job = {nb, F_, 3, S_, S_, NULL, NULL, nulls, NCLS};
        vdit_sample_config sc = {VDIT_SAMPLER_EULER, 2, 1.0f, vdit_rng_at(3, (uint64_t)b0)};
        ck_assert_msg(vdit_sample_dit(&dit, &sc, &job, x + b0 * NP, &err) == 0, "%s", err.msg);
    }
    for (int i = 0; i < N_; i++) vdit_video_to_u8(want + i * NP, x + i * NP, F_, S_, S_);
    ck_assert_int_eq(memcmp(lat, x, N_ * NP * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    /* an all-zero mask without videos is the same */
    ck_assert_msg(vdit_pipeline_continue(&p, NULL, N_, F_, S_, known, nulls, out, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(out, want, N_ * NP), 0);
    /* a known frame without videos is not */
    known[7] = 1;
    ck_assert_int_ne(vdit_pipeline_continue(&p, NULL, N_, F_, S_, known, nulls, out, NULL, &err), 0);
    ck_assert_msg(strstr(err.msg, "known but no videos"), "%s", err.msg);
    free(out), free(want), free(lat), free(x);
    vdit_dit_free(&dit);
}
END_TEST

/* Rollouts: the sliding window by hand. Window 0 is vdit_pipeline_continue
 * with the first K frames known; window w knows the last K latent frames
 * window w-1 sampled (and nothing else of its context is read) and draws
 * its noise from vdit_rng_at(vdit_rng_at(seed, b0), w). */
START_TEST(test_rollout_equals_hand_windows)
{
    enum { K = 2, FR = 9, NW = 4 }; /* windows cover latent frames 0-3, 2-5, 4-7, 6-9 (cut at 9) */
    vdit_dit dit;
    make_dit(&dit, 3, F_, S_, VDIT_OBJ_FLOW);
    size_t f1 = (size_t)S_ * S_ * 3, np = F_ * f1;
    uint8_t *videos = rand_videos(N_, 4), *out = malloc(N_ * FR * f1), *want = malloc(N_ * FR * f1);
    float *lat = malloc(N_ * FR * f1 * sizeof(float)), *want_lat = malloc(N_ * FR * f1 * sizeof(float));
    float *z = malloc(2 * np * sizeof(float)), *zw = malloc(2 * np * sizeof(float));
    int labels[N_], nw;
    uint8_t known[2 * F_];
    for (int i = 0; i < N_; i++) labels[i] = i % (NCLS + 1);
    for (int i = 0; i < 2 * F_; i++) known[i] = i % F_ < K;
    vdit_pipeline p = {&dit, NULL, {VDIT_SAMPLER_HEUN, 2, 1.0f, 17}, 2, NULL, NULL};
    vdit_err err;
    ck_assert_msg(vdit_pipeline_rollout_windows(&p, FR, K, &nw, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(nw, NW);
    ck_assert_msg(vdit_pipeline_rollout(&p, videos, N_, F_, S_, K, FR, labels, out, lat, &err) == 0, "%s", err.msg);
    for (int b0 = 0; b0 < N_; b0 += 2) {
        int nb = N_ - b0 < 2 ? N_ - b0 : 2;
        for (int i = 0; i < nb; i++) vdit_video_to_float(z + i * np, videos + (b0 + i) * np, F_, S_, S_);
        for (int w = 0; w < NW; w++) {
            vdit_sample_job job = {nb, F_, 3, S_, S_, z, known, labels + b0, NCLS};
            vdit_sample_config sc = p.sample;
            sc.seed = vdit_rng_at(17, (uint64_t)b0);
            if (w) sc.seed = vdit_rng_at(sc.seed, (uint64_t)w);
            ck_assert_msg(vdit_sample_dit(&dit, &sc, &job, zw, &err) == 0, "%s", err.msg);
            int s0 = w * (F_ - K), n = FR - s0 < F_ ? FR - s0 : F_;
            for (int i = 0; i < nb; i++) {
                memcpy(want_lat + ((size_t)(b0 + i) * FR + s0) * f1, zw + i * np, n * f1 * sizeof(float));
                /* the next context: the last K frames sampled, zeros where nothing is known */
                memset(z + i * np, 0, np * sizeof(float));
                memcpy(z + i * np, zw + i * np + (F_ - K) * f1, K * f1 * sizeof(float));
            }
        }
    }
    ck_assert_int_eq(memcmp(lat, want_lat, N_ * FR * f1 * sizeof(float)), 0);
    for (int i = 0; i < N_; i++) vdit_video_to_u8(want + i * FR * f1, want_lat + i * FR * f1, FR, S_, S_);
    ck_assert_int_eq(memcmp(out, want, N_ * FR * f1), 0);
    /* the context frames come through; window 0 is vdit_pipeline_continue's */
    uint8_t *cont = malloc(N_ * np), kn[N_ * F_];
    for (int i = 0; i < N_ * F_; i++) kn[i] = i % F_ < K;
    ck_assert_msg(vdit_pipeline_continue(&p, videos, N_, F_, S_, kn, labels, cont, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < N_; i++) {
        ck_assert_int_eq(memcmp(out + i * FR * f1, videos + i * np, K * f1), 0);
        ck_assert_int_eq(memcmp(out + i * FR * f1, cont + i * np, np), 0);
    }
    /* a rollout of one window is vdit_pipeline_continue */
    ck_assert_msg(vdit_pipeline_rollout(&p, videos, N_, F_, S_, K, F_, labels, out, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(out, cont, N_ * np), 0);
    /* refused: no context, no new frame per window, shorter than a window */
    const int bad[3][2] = {{0, FR}, {F_, FR}, {K, F_ - 1}};
    const char *why[3] = {"context", "context", "at least"};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_ne(vdit_pipeline_rollout(&p, videos, N_, F_, S_, bad[k][0], bad[k][1], labels, out, NULL, &err), 0);
        ck_assert_msg(strstr(err.msg, why[k]), "%s", err.msg);
    }
    free(videos), free(out), free(want), free(lat), free(want_lat), free(z), free(zw), free(cont);
    vdit_dit_free(&dit);
}
END_TEST

static void expect_error(const vdit_pipeline *p, int N, int F, int S, const int *labels, const char *what)
{
    uint8_t *videos = rand_videos(2, 3), out[2 * NP];
    vdit_err err = {{0}};
    ck_assert_int_ne(vdit_pipeline_continue(p, videos, N, F, S, NULL, labels, out, NULL, &err), 0);
    ck_assert_msg(strstr(err.msg, what), "expected '%s' in '%s'", what, err.msg);
    free(videos);
}

START_TEST(test_bad_shapes)
{
    vdit_dit dit, dit4;
    vdit_vae vae;
    make_dit(&dit, 3, F_, S_, VDIT_OBJ_FLOW);
    make_dit(&dit4, 4, F_, S_ / 2, VDIT_OBJ_FLOW);
    make_vae(&vae, 3);
    int ok[2] = {0, NCLS}, bad[2] = {0, NCLS + 1}, neg[2] = {-1, 0};
    vdit_pipeline p = {&dit, NULL, {VDIT_SAMPLER_HEUN, 2, 1.0f, 0}, 2, NULL, NULL};
    expect_error(&p, 2, F_ / 2, S_, ok, "grid");     /* too few frames */
    expect_error(&p, 2, F_, S_ / 2, ok, "grid");     /* too small */
    expect_error(&p, 0, F_, S_, ok, "no videos");    /* nothing to do */
    expect_error(&p, 2, F_, S_, bad, "label 3");     /* beyond the null label */
    expect_error(&p, 2, F_, S_, neg, "label -1");
    p.batch = 0;
    expect_error(&p, 2, F_, S_, ok, "batch 0");
    p = (vdit_pipeline){&dit4, NULL, {VDIT_SAMPLER_HEUN, 2, 1.0f, 0}, 2, NULL, NULL};
    expect_error(&p, 2, F_, S_, ok, "not pixels");   /* latents without their VAE */
    p.vae = &vae;
    expect_error(&p, 2, F_, S_, ok, "the VAE has 3 latent channels, the DiT 4");
    p = (vdit_pipeline){&dit, &vae, {VDIT_SAMPLER_HEUN, 2, 1.0f, 0}, 2, NULL, NULL};
    expect_error(&p, 2, F_, S_, ok, "grid");         /* the VAE halves the side: 2x2 against the DiT's 4x4 */
    expect_error(&p, 2, F_, 5, ok, "5");             /* not divisible by the VAE's downsample */
    p.dit = &dit4, p.vae = NULL, p.sample.sampler = VDIT_SAMPLER_DDIM;
    vdit_vae_free(&vae);
    make_vae(&vae, 4);
    p.vae = &vae;
    expect_error(&p, 2, F_, S_, ok, "sampler ddim does not fit the flow objective");
    vdit_dit_free(&dit), vdit_dit_free(&dit4);
    vdit_vae_free(&vae);
}
END_TEST


/* ------------------------------------------------------------------------
 * vdit_train_run
 * ---------------------------------------------------------------------- */

static void *slurp(const char *path, size_t *n)
{
    void *data = NULL;
    vdit_err err;
    ck_assert_msg(vdit_read_file(path, 1 << 26, &data, n, &err) == 0, "%s", err.msg);
    char *text = realloc(data, *n + 1); /* terminated, for the string checks */
    ck_assert_ptr_nonnull(text);
    text[*n] = 0;
    return text;
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    void *da = slurp(a, &na), *db = slurp(b, &nb);
    int same = na == nb && !memcmp(da, db, na);
    free(da), free(db);
    return same;
}

/* text[n] -> each line without its last column, terminated */
static void drop_time_column(char *text, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, comma = i;
        while (j < n && text[j] != '\n') {
            if (text[j] == ',') comma = j;
            j++;
        }
        memmove(text + o, text + i, comma - i);
        o += comma - i;
        text[o++] = '\n';
        i = j + 1;
    }
    text[o ? o - 1 : 0] = 0;
}

START_TEST(test_train_run_equals_plain_loop)
{
    enum { N = 3, B = 2, STEPS = 5 };
    vdit_dit_config mc = {3, 16, 1, 2, {1, 2, 2}, {2, 4, 4}, NCLS, VDIT_ATTN_ST, VDIT_OBJ_FLOW};
    vdit_train_config tc;
    vdit_train_config_default(&tc);
    tc.batch = B, tc.steps = STEPS, tc.warmup = 1, tc.seed = 17, tc.context_frames = 1;
    tc.context_probs[0] = tc.context_probs[1] = 0.5f;
    size_t nv = 2 * 3 * 4 * 4;
    float *x = rand_tensor(N * nv, 1.0f, 4);
    int labels[N] = {0, 1, 1};
    char dir[] = "/tmp/vdit-check-run-XXXXXX", run[64], path[128], ref[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(run, sizeof run, "%s/run", dir);
    vdit_train_run_options o = {run, 0, "# the settings\n", 2, 2, 2, 0, 1, NULL, NULL, NULL, NULL, NULL};
    vdit_err err;
    ck_assert_msg(vdit_train_run_check(run, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_ne(vdit_train_run_check(run, 1, &err), 0);
    ck_assert_msg(strstr(err.msg, "does not exist"), "%s", err.msg);
    ck_assert_msg(vdit_train_run(&mc, &tc, x, labels, N, &o, &err) == 0, "%s", err.msg);
    ck_assert_int_ne(vdit_train_run_check(run, 0, &err), 0);
    ck_assert_msg(strstr(err.msg, "already exists"), "%s", err.msg);

    /* the plain loop: sample g of step s is video perm_e[g mod N], e = (s B + g) / N */
    vdit_trainer tr;
    ck_assert_msg(vdit_trainer_create(&tr, &mc, &tc, B, &err) == 0, "%s", err.msg);
    float *x0 = malloc(B * nv * sizeof(float));
    int y[B], perm[N];
    double loss[STEPS + 1], norm;
    for (int s = 0; s < STEPS; s++) {
        for (int j = 0; j < B; j++) {
            long g = (long)s * B + j, e = g / N;
            for (int i = 0; i < N; i++) perm[i] = i;
            uint64_t es = vdit_rng_at(tc.seed ^ 0x73687566666c65ull, (uint64_t)e);
            for (int i = N - 1; i > 0; i--) {
                int k = (int)(vdit_rng_at(es, (uint64_t)i) % (uint64_t)(i + 1)), t = perm[i];
                perm[i] = perm[k], perm[k] = t;
            }
            memcpy(x0 + j * nv, x + perm[g % N] * nv, nv * sizeof(float));
            y[j] = labels[perm[g % N]];
        }
        ck_assert_msg(vdit_trainer_step(&tr, x0, y, 0, NULL, NULL, &loss[s + 1], &norm, &err) == 0, "%s", err.msg);
    }
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    ck_assert_msg(vdit_trainer_save(&tr, ref, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    ck_assert(same_file(path, ref));
    snprintf(ref, sizeof ref, "%s/ref-state.safetensors", dir);
    ck_assert_msg(vdit_trainer_save(&tr, NULL, ref, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/checkpoints/step-00000005.safetensors", run);
    ck_assert(same_file(path, ref));
    /* states at 2, 4 and 5, the last two kept */
    snprintf(path, sizeof path, "%s/checkpoints/step-00000004.safetensors", run);
    ck_assert_int_eq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/checkpoints/step-00000002.safetensors", run);
    ck_assert_int_ne(access(path, F_OK), 0);
    /* log.csv: the header, then steps 1, 2, 4 and 5 with their losses */
    snprintf(path, sizeof path, "%s/log.csv", run);
    size_t n;
    char *log = slurp(path, &n), want[64];
    ck_assert(!strncmp(log, "step,loss,lr,grad_norm,time\n", 28));
    const int rows[4] = {1, 2, 4, 5};
    const char *p = log;
    for (int r = 0; r < 4; r++) {
        p = strchr(p, '\n') + 1;
        snprintf(want, sizeof want, "%d,%.7g,", rows[r], loss[rows[r]]);
        ck_assert_msg(!strncmp(p, want, strlen(want)), "row %d: want '%s'", r, want);
    }
    ck_assert_ptr_null(strchr(strchr(p, '\n') + 1, '\n'));

    /* resumed from step 4 (the state at 5 lost): the same files; other settings are refused */
    snprintf(path, sizeof path, "%s/checkpoints/step-00000005.safetensors", run);
    unlink(path);
    o.resume = 1;
    o.config_text = "# other settings\n";
    ck_assert_int_ne(vdit_train_run(&mc, &tc, x, labels, N, &o, &err), 0);
    ck_assert_msg(strstr(err.msg, "has '# the settings' where this run has '# other settings'"), "%s", err.msg);
    o.config_text = "# the settings\n";
    ck_assert_msg(vdit_train_run(&mc, &tc, x, labels, N, &o, &err) == 0, "%s", err.msg);
    ck_assert(same_file(path, ref));
    snprintf(path, sizeof path, "%s/log.csv", run);
    size_t n2;
    char *log2 = slurp(path, &n2);
    drop_time_column(log, n), drop_time_column(log2, n2);
    ck_assert_str_eq(log, log2);
    free(log), free(log2), free(x), free(x0);
    vdit_trainer_free(&tr);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pixels_equal_hand_calls);
    tcase_add_test(tc, test_latents_equal_hand_calls);
    tcase_add_test(tc, test_unconditional);
    tcase_add_test(tc, test_bad_shapes);
    tcase_add_test(tc, test_rollout_equals_hand_windows);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("train_run");
    tcase_set_timeout(tr, 120);
    tcase_add_test(tr, test_train_run_equals_plain_loop);
    suite_add_tcase(s, tr);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
