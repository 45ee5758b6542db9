/* dit.c - the video diffusion transformer of shared/design/model.md.
 *
 * Read top to bottom: config, parameters (one allocation, a pointer table,
 * the checkpoint's names), initialisation, forward, backward, checkpoints.
 * Shape letters: B batch, N tokens, D hidden, NH heads, L blocks,
 * M = B*N token rows, P_in / P_out patch vectors in / out.
 */
#include "kernels.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Config
 * ---------------------------------------------------------------------- */

const char *vdit_attention_name(vdit_attention a)
{
    static const char *const names[] = {"full", "st", "spatial", "temporal"};
    return a >= VDIT_ATTN_FULL && a <= VDIT_ATTN_TEMPORAL ? names[a] : "full";
}
const char *vdit_objective_name(vdit_objective o) { return o == VDIT_OBJ_FLOW ? "flow" : "eps"; }

/* Upper bounds keep every size product far from overflow (and from
 * allocating absurd memory on a hostile checkpoint). */
#define MAX_HIDDEN 16384
#define MAX_DEPTH 1024
#define MAX_HEADS 1024
#define MAX_CHANNELS 1024
#define MAX_GRID 4096
#define MAX_CLASSES 1000000
#define MAX_TOKENS (1 << 20)

int vdit_dit_config_check(const vdit_dit_config *c, vdit_err *err)
{
    if (c->latent_channels < 1 || c->latent_channels > MAX_CHANNELS)
        return vdit_seterr(err, "latent_channels %d out of range 1..%d", c->latent_channels, MAX_CHANNELS);
    if (c->hidden < 4 || c->hidden > MAX_HIDDEN || c->hidden % 4)
        return vdit_seterr(err, "hidden %d must be a multiple of 4 in 4..%d", c->hidden, MAX_HIDDEN);
    if (c->depth < 1 || c->depth > MAX_DEPTH)
        return vdit_seterr(err, "depth %d out of range 1..%d", c->depth, MAX_DEPTH);
    if (c->heads < 1 || c->heads > MAX_HEADS || c->hidden % c->heads)
        return vdit_seterr(err, "heads %d must divide hidden %d", c->heads, c->hidden);
    static const char *axis[3] = {"T", "H", "W"};
    long tokens = 1;
    for (int i = 0; i < 3; i++) {
        if (c->patch[i] < 1 || c->patch[i] > MAX_GRID)
            return vdit_seterr(err, "patch %s = %d out of range 1..%d", axis[i], c->patch[i], MAX_GRID);
        if (c->grid[i] < 1 || c->grid[i] > MAX_GRID)
            return vdit_seterr(err, "grid %s = %d out of range 1..%d", axis[i], c->grid[i], MAX_GRID);
        if (c->grid[i] % c->patch[i])
            return vdit_seterr(err, "grid %s = %d is not divisible by patch %d", axis[i], c->grid[i], c->patch[i]);
        tokens *= c->grid[i] / c->patch[i];
        if (tokens > MAX_TOKENS) return vdit_seterr(err, "more than %d tokens", MAX_TOKENS);
    }
    if ((long)c->patch[0] * c->patch[1] * c->patch[2] * (2L * c->latent_channels + 1) > MAX_HIDDEN * 64L)
        return vdit_seterr(err, "patch vector too long");
    if (c->num_classes < 0 || c->num_classes > MAX_CLASSES)
        return vdit_seterr(err, "num_classes %d out of range 0..%d", c->num_classes, MAX_CLASSES);
    if (c->attention != VDIT_ATTN_FULL && c->attention != VDIT_ATTN_ST)
        return vdit_seterr(err, "attention must be full or st");
    if (c->objective != VDIT_OBJ_EPS && c->objective != VDIT_OBJ_FLOW)
        return vdit_seterr(err, "objective must be eps or flow");
    return 0;
}

char *vdit_dit_config_to_json(const vdit_dit_config *c)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:[i,i,i], s:[i,i,i], s:i, s:s, s:s}",
                          "latent_channels", c->latent_channels, "hidden", c->hidden, "depth", c->depth,
                          "heads", c->heads, "patch", c->patch[0], c->patch[1], c->patch[2], "grid",
                          c->grid[0], c->grid[1], c->grid[2], "num_classes", c->num_classes, "attention",
                          vdit_attention_name(c->attention), "objective", vdit_objective_name(c->objective));
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static int json_int_field(json_t *o, const char *key, int *out, const char *what, vdit_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) return vdit_seterr(err, "%s: config has no \"%s\"", what, key);
    if (!json_is_integer(v) || json_integer_value(v) < -1000000000LL || json_integer_value(v) > 1000000000LL)
        return vdit_seterr(err, "%s: config \"%s\" must be an integer", what, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int json_int3_field(json_t *o, const char *key, int out[3], const char *what, vdit_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) return vdit_seterr(err, "%s: config has no \"%s\"", what, key);
    if (!json_is_array(v) || json_array_size(v) != 3)
        return vdit_seterr(err, "%s: config \"%s\" must be an array of 3 integers", what, key);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1000000000LL)
            return vdit_seterr(err, "%s: config \"%s\" must be an array of 3 integers", what, key);
        out[i] = (int)json_integer_value(e);
    }
    return 0;
}

int vdit_dit_config_from_json(vdit_dit_config *c, const char *json, const char *what, vdit_err *err)
{
    json_error_t jerr;
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) return vdit_seterr(err, "%s: config is not valid JSON: %s", what, jerr.text);
    int rc = -1;
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) {
        vdit_seterr(err, "%s: config is not a JSON object", what);
        goto done;
    }
    if (json_int_field(o, "latent_channels", &c->latent_channels, what, err) ||
        json_int_field(o, "hidden", &c->hidden, what, err) || json_int_field(o, "depth", &c->depth, what, err) ||
        json_int_field(o, "heads", &c->heads, what, err) || json_int3_field(o, "patch", c->patch, what, err) ||
        json_int3_field(o, "grid", c->grid, what, err) ||
        json_int_field(o, "num_classes", &c->num_classes, what, err))
        goto done;
    const char *att = json_string_value(json_object_get(o, "attention"));
    const char *obj = json_string_value(json_object_get(o, "objective"));
    if (!att || (strcmp(att, "full") && strcmp(att, "st"))) {
        vdit_seterr(err, "%s: config \"attention\" must be \"full\" or \"st\"", what);
        goto done;
    }
    if (!obj || (strcmp(obj, "eps") && strcmp(obj, "flow"))) {
        vdit_seterr(err, "%s: config \"objective\" must be \"eps\" or \"flow\"", what);
        goto done;
    }
    c->attention = strcmp(att, "st") ? VDIT_ATTN_FULL : VDIT_ATTN_ST;
    c->objective = strcmp(obj, "flow") ? VDIT_OBJ_EPS : VDIT_OBJ_FLOW;
    vdit_err cerr;
    if (vdit_dit_config_check(c, &cerr)) {
        vdit_seterr(err, "%s: config: %s", what, cerr.msg);
        goto done;
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}

static const struct {
    const char *name;
    int depth, hidden, heads;
} PRESETS[] = {{"VDiT-XS", 4, 128, 4}, {"VDiT-S", 6, 192, 6}, {"VDiT-M", 8, 256, 8}, {"VDiT-L", 12, 384, 6}};
#define NPRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

const char *vdit_dit_preset_size(int i, int *depth, int *hidden, int *heads)
{
    if (i < 0 || i >= NPRESETS) return NULL;
    *depth = PRESETS[i].depth, *hidden = PRESETS[i].hidden, *heads = PRESETS[i].heads;
    return PRESETS[i].name;
}

int vdit_dit_preset(const char *name, vdit_dit_config *cfg, vdit_err *err)
{
    const char *slash = strchr(name, '/');
    size_t len = slash ? (size_t)(slash - name) : strlen(name);
    for (int i = 0; i < NPRESETS; i++) {
        if (strlen(PRESETS[i].name) != len || strncmp(name, PRESETS[i].name, len)) continue;
        int p = 2, pt = 1;
        char tail;
        if (slash && sscanf(slash + 1, "%dt%d%c", &p, &pt, &tail) != 2 && sscanf(slash + 1, "%d%c", &p, &tail) != 1)
            return vdit_seterr(err, "model '%s': the patch suffix must be /P or /PtT (e.g. /2, /2t2)", name);
        if (p < 1 || p > 64 || pt < 1 || pt > 64) return vdit_seterr(err, "model '%s': patch out of range", name);
        cfg->depth = PRESETS[i].depth, cfg->hidden = PRESETS[i].hidden, cfg->heads = PRESETS[i].heads;
        cfg->patch[0] = pt, cfg->patch[1] = cfg->patch[2] = p;
        return 0;
    }
    return vdit_seterr(err, "unknown model '%s' (VDiT-XS, VDiT-S, VDiT-M or VDiT-L, with a patch suffix like /2)", name);
}

/* ------------------------------------------------------------------------
 * Parameters: sizes of each kind, and the checkpoint's names and shapes
 * ---------------------------------------------------------------------- */

/* Each of params, activations and backward scratch is a struct of float
 * pointers in a row, used as a pointer table into one allocation. */
_Static_assert(sizeof(vdit_dit_params) == VDIT_DIT_NUM_PARAM_KINDS * sizeof(float *), "params table");
_Static_assert(sizeof(vdit_dit_acts) == VDIT_DIT_NUM_ACTS * sizeof(float *), "acts table");

/* Points ptrs[i] at consecutive pieces of mem of sz[i] floats. */
static void point_table(float **ptrs, float *mem, const size_t *sz, int n)
{
    for (int i = 0; i < n; i++) {
        ptrs[i] = mem;
        mem += sz[i];
    }
}

/* One allocation for the whole table (NULL when out of memory). */
static float *alloc_table(float **ptrs, const size_t *sz, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) total += sz[i];
    float *mem = malloc(total * sizeof(float));
    if (mem) point_table(ptrs, mem, sz, n);
    return mem;
}

static void param_kind_sizes(const vdit_dit *m, size_t sz[VDIT_DIT_NUM_PARAM_KINDS])
{
    size_t D = m->cfg.hidden, L = m->cfg.depth, K1 = m->cfg.num_classes + 1;
    size_t i = 0;
    sz[i++] = D * m->P_in;     /* x_proj_w */
    sz[i++] = D;               /* x_proj_b */
    sz[i++] = D * VDIT_TFREQ;  /* t_fc1_w */
    sz[i++] = D;               /* t_fc1_b */
    sz[i++] = D * D;           /* t_fc2_w */
    sz[i++] = D;               /* t_fc2_b */
    sz[i++] = K1 * D;          /* y_table */
    sz[i++] = L * 3 * D * D;   /* qkv_w */
    sz[i++] = L * 3 * D;       /* qkv_b */
    sz[i++] = L * D * D;       /* proj_w */
    sz[i++] = L * D;           /* proj_b */
    sz[i++] = L * 4 * D * D;   /* fc1_w */
    sz[i++] = L * 4 * D;       /* fc1_b */
    sz[i++] = L * 4 * D * D;   /* fc2_w */
    sz[i++] = L * D;           /* fc2_b */
    sz[i++] = L * 6 * D * D;   /* ada_w */
    sz[i++] = L * 6 * D;       /* ada_b */
    sz[i++] = 2 * D * D;       /* final_ada_w */
    sz[i++] = 2 * D;           /* final_ada_b */
    sz[i++] = m->P_out * D;    /* final_w */
    sz[i++] = m->P_out;        /* final_b */
}

static int add_info(vdit_param_info *info, int cap, int n, const char *name, size_t offset, int ndim,
                    const int64_t *shape)
{
    if (info && n < cap) {
        vdit_param_info *e = &info[n];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ndim = ndim;
        e->offset = offset;
        e->numel = 1;
        for (int i = 0; i < ndim; i++) {
            e->shape[i] = shape[i];
            e->numel *= (size_t)shape[i];
        }
    }
    return n + 1;
}

int vdit_dit_param_table(const vdit_dit *m, vdit_param_info *info, int cap)
{
    const vdit_dit_config *c = &m->cfg;
    int64_t D = c->hidden, L = c->depth;
    size_t sz[VDIT_DIT_NUM_PARAM_KINDS], off[VDIT_DIT_NUM_PARAM_KINDS], o = 0;
    param_kind_sizes(m, sz);
    for (int i = 0; i < VDIT_DIT_NUM_PARAM_KINDS; i++) {
        off[i] = o;
        o += sz[i];
    }
    int n = 0;
#define ADD(name, kind, extra, ...)                                                          \
    do {                                                                                     \
        int64_t shp[] = {__VA_ARGS__};                                                       \
        n = add_info(info, cap, n, name, off[kind] + (extra), (int)(sizeof shp / sizeof shp[0]), shp); \
    } while (0)
    ADD("x_embedder.proj.weight", 0, 0, D, m->C_in, c->patch[0], c->patch[1], c->patch[2]);
    ADD("x_embedder.proj.bias", 1, 0, D);
    ADD("t_embedder.mlp.0.weight", 2, 0, D, VDIT_TFREQ);
    ADD("t_embedder.mlp.0.bias", 3, 0, D);
    ADD("t_embedder.mlp.2.weight", 4, 0, D, D);
    ADD("t_embedder.mlp.2.bias", 5, 0, D);
    ADD("y_embedder.embedding_table.weight", 6, 0, c->num_classes + 1, D);
    for (int64_t l = 0; l < L; l++) {
        char name[96];
#define BLOCK(suffix, kind, per, ...)                      \
    snprintf(name, sizeof name, "blocks.%d.%s", (int)l, suffix); \
    ADD(name, kind, (size_t)(l * (per)), __VA_ARGS__)
        BLOCK("attn.qkv.weight", 7, 3 * D * D, 3 * D, D);
        BLOCK("attn.qkv.bias", 8, 3 * D, 3 * D);
        BLOCK("attn.proj.weight", 9, D * D, D, D);
        BLOCK("attn.proj.bias", 10, D, D);
        BLOCK("mlp.fc1.weight", 11, 4 * D * D, 4 * D, D);
        BLOCK("mlp.fc1.bias", 12, 4 * D, 4 * D);
        BLOCK("mlp.fc2.weight", 13, 4 * D * D, D, 4 * D);
        BLOCK("mlp.fc2.bias", 14, D, D);
        BLOCK("adaLN_modulation.1.weight", 15, 6 * D * D, 6 * D, D);
        BLOCK("adaLN_modulation.1.bias", 16, 6 * D, 6 * D);
#undef BLOCK
    }
    ADD("final_layer.adaLN_modulation.1.weight", 17, 0, 2 * D, D);
    ADD("final_layer.adaLN_modulation.1.bias", 18, 0, 2 * D);
    ADD("final_layer.linear.weight", 19, 0, m->P_out, D);
    ADD("final_layer.linear.bias", 20, 0, m->P_out);
#undef ADD
    return n;
}

/* ------------------------------------------------------------------------
 * Create / free
 * ---------------------------------------------------------------------- */

/* The sizes a model of config cfg derives (no allocation): enough for
 * param_kind_sizes and vdit_dit_param_table. */
static void dit_dims(vdit_dit *m, const vdit_dit_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->C_in = 2 * cfg->latent_channels + 1;
    m->nt = cfg->grid[0] / cfg->patch[0];
    m->nh = cfg->grid[1] / cfg->patch[1];
    m->nw = cfg->grid[2] / cfg->patch[2];
    m->N = m->nt * m->nh * m->nw;
    m->P_in = m->C_in * cfg->patch[0] * cfg->patch[1] * cfg->patch[2];
    m->P_out = cfg->latent_channels * cfg->patch[0] * cfg->patch[1] * cfg->patch[2];
}

size_t vdit_dit_num_params(const vdit_dit_config *cfg)
{
    if (vdit_dit_config_check(cfg, NULL)) return 0;
    vdit_dit m;
    dit_dims(&m, cfg);
    size_t sz[VDIT_DIT_NUM_PARAM_KINDS], n = 0;
    param_kind_sizes(&m, sz);
    for (int i = 0; i < VDIT_DIT_NUM_PARAM_KINDS; i++) n += sz[i];
    return n;
}

int vdit_dit_create(vdit_dit *m, const vdit_dit_config *cfg, vdit_err *err)
{
    memset(m, 0, sizeof *m);
    if (vdit_dit_config_check(cfg, err)) return -1;
    dit_dims(m, cfg);

    size_t sz[VDIT_DIT_NUM_PARAM_KINDS];
    param_kind_sizes(m, sz);
    m->num_params = 0;
    for (int i = 0; i < VDIT_DIT_NUM_PARAM_KINDS; i++) m->num_params += sz[i];
    m->params_mem = calloc(m->num_params, sizeof(float));
    m->grads_mem = calloc(m->num_params, sizeof(float));
    m->pos = malloc((size_t)m->N * cfg->hidden * sizeof(float));
    if (!m->params_mem || !m->grads_mem || !m->pos) {
        size_t n = m->num_params; /* vdit_dit_free clears it */
        vdit_dit_free(m);
        return vdit_seterr(err, "out of memory for a model of %zu parameters (%.2f GB of weights and gradients)", n,
                           2.0 * (double)n * sizeof(float) / 1e9);
    }
    point_table((float **)&m->params, m->params_mem, sz, VDIT_DIT_NUM_PARAM_KINDS);
    point_table((float **)&m->grads, m->grads_mem, sz, VDIT_DIT_NUM_PARAM_KINDS);
    vdit_pos_embed_sincos(m->pos, m->nt, m->nh, m->nw, cfg->hidden);
    return 0;
}

void vdit_dit_free(vdit_dit *m)
{
    free(m->params_mem);
    free(m->grads_mem);
    free(m->pos);
    free(m->acts_mem);
    free(m->scratch_mem);
    free(m->labels);
    free(m->out_tok);
    memset(m, 0, sizeof *m);
}

void vdit_dit_zero_grad(vdit_dit *m) { memset(m->grads_mem, 0, m->num_params * sizeof(float)); }

/* ------------------------------------------------------------------------
 * Initialisation (DiT's initialize_weights)
 * ---------------------------------------------------------------------- */

static void xavier_uniform(float *w, size_t fan_out, size_t fan_in, vdit_rng *rng)
{
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    for (size_t i = 0; i < fan_out * fan_in; i++) w[i] = (2.0f * vdit_rng_uniform(rng) - 1.0f) * a;
}

static void normal_fill(float *w, size_t n, float std, vdit_rng *rng)
{
    for (size_t i = 0; i < n; i++) w[i] = std * vdit_rng_normal(rng);
}

void vdit_dit_init_weights(vdit_dit *m, uint64_t seed)
{
    vdit_dit_params *p = &m->params;
    size_t D = m->cfg.hidden, L = m->cfg.depth;
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    memset(m->params_mem, 0, m->num_params * sizeof(float)); /* zero biases, adaLN, final linear */
    xavier_uniform(p->x_proj_w, D, m->P_in, &rng);
    normal_fill(p->t_fc1_w, D * VDIT_TFREQ, 0.02f, &rng);
    normal_fill(p->t_fc2_w, D * D, 0.02f, &rng);
    normal_fill(p->y_table, (m->cfg.num_classes + 1) * D, 0.02f, &rng);
    for (size_t l = 0; l < L; l++) {
        xavier_uniform(p->qkv_w + l * 3 * D * D, 3 * D, D, &rng);
        xavier_uniform(p->proj_w + l * D * D, D, D, &rng);
        xavier_uniform(p->fc1_w + l * 4 * D * D, 4 * D, D, &rng);
        xavier_uniform(p->fc2_w + l * 4 * D * D, D, 4 * D, &rng);
    }
}

/* ------------------------------------------------------------------------
 * Activations: sized for a batch, grown on demand
 * ---------------------------------------------------------------------- */

/* backward's scratch: activation gradients reused block after block */
typedef struct {
    float *dtok;   /* [M][P_out] */
    float *dx;     /* [M][D] gradient of the residual stream */
    float *dh;     /* [M][D] */
    float *dxhat;  /* [M][D] */
    float *dqkv;   /* [M][3D] */
    float *datt;   /* [M][D] */
    float *dpo;    /* [M][D] */
    float *df2;    /* [M][D] */
    float *dg;     /* [M][4D] */
    float *df1;    /* [M][4D] */
    float *dmod;   /* [B][6D] */
    float *dfmod;  /* [B][2D] */
    float *dc_silu; /* [B][D] */
    float *dc;     /* [B][D] */
    float *dt_hs;  /* [B][D] */
    float *dt_h;   /* [B][D] */
} dit_scratch;
#define DIT_NUM_SCRATCH 16
_Static_assert(sizeof(dit_scratch) == DIT_NUM_SCRATCH * sizeof(float *), "scratch table");

static vdit_attn_shape block_attn_shape(const vdit_dit *m, int B, int l)
{
    vdit_attn_shape s = {B, m->nt, m->nh, m->nw, m->cfg.hidden, m->cfg.heads, VDIT_ATTN_FULL};
    if (m->cfg.attention == VDIT_ATTN_ST) s.scope = (l % 2 == 0) ? VDIT_ATTN_SPATIAL : VDIT_ATTN_TEMPORAL;
    return s;
}

/* the attention layers' scratch: the largest of the blocks' (full, or
 * spatial and temporal), for the OpenMP threads of now */
static size_t attn_work_floats(const vdit_dit *m)
{
    size_t most = 0;
    for (int l = 0; l < m->cfg.depth && l < 2; l++) {
        size_t n = vdit_attention_scratch(block_attn_shape(m, 1, l));
        if (n > most) most = n;
    }
    return most;
}

/* for a batch of B with the activations of `layers` blocks (depth, or 1 for
 * a forward without backward: the residual stream then alternates between
 * two slices of x) */
static void act_sizes(const vdit_dit *m, int B, int layers, size_t sz[VDIT_DIT_NUM_ACTS])
{
    size_t D = m->cfg.hidden, L = layers, M = (size_t)B * m->N, NH = m->cfg.heads;
    size_t i = 0;
    sz[i++] = M * m->P_in;       /* xp */
    sz[i++] = B * VDIT_TFREQ;    /* tfreq */
    sz[i++] = B * D;             /* t_h */
    sz[i++] = B * D;             /* t_hs */
    sz[i++] = B * D;             /* c */
    sz[i++] = B * D;             /* c_silu */
    sz[i++] = L * B * 6 * D;     /* mod */
    sz[i++] = (L == (size_t)m->cfg.depth ? L + 1 : 2) * M * D; /* x */
    sz[i++] = L * M * D;         /* xhat1 */
    sz[i++] = L * M;             /* rstd1 */
    sz[i++] = L * M * D;         /* h1 */
    sz[i++] = L * M * 3 * D;     /* qkv */
    sz[i++] = L * M * D;         /* att */
    sz[i++] = L * B * NH * m->N; /* lse */
    sz[i++] = L * M * D;         /* po */
    sz[i++] = L * M * D;         /* xmid */
    sz[i++] = L * M * D;         /* xhat2 */
    sz[i++] = L * M;             /* rstd2 */
    sz[i++] = L * M * D;         /* h2 */
    sz[i++] = L * M * 4 * D;     /* f1 */
    sz[i++] = L * M * 4 * D;     /* g */
    sz[i++] = L * M * D;         /* f2 */
    sz[i++] = B * 2 * D;         /* fmod */
    sz[i++] = M * D;             /* xhatf */
    sz[i++] = M;                 /* rstdf */
    sz[i++] = M * D;             /* hf */
    sz[i++] = attn_work_floats(m); /* attn_work */
}

static void scratch_sizes(const vdit_dit *m, int B, size_t sz[DIT_NUM_SCRATCH])
{
    size_t D = m->cfg.hidden, M = (size_t)B * m->N;
    size_t s[DIT_NUM_SCRATCH] = {M * m->P_out, M * D, M * D, M * D, M * 3 * D, M * D, M * D, M * D,
                                 M * 4 * D, M * 4 * D, B * 6 * D, B * 2 * D, B * D, B * D, B * D, B * D};
    memcpy(sz, s, sizeof s);
}

static int ensure_acts(vdit_dit *m, int B, int layers, vdit_err *err)
{
    size_t work = attn_work_floats(m); /* grows with the thread count */
    if (B <= m->act_B && layers <= m->act_layers && work <= m->act_work) return 0;
    if (B < m->act_B) B = m->act_B; /* grow one way without shrinking the other */
    if (layers < m->act_layers) layers = m->act_layers;
    free(m->acts_mem);
    free(m->scratch_mem);
    free(m->labels);
    free(m->out_tok);
    m->acts_mem = m->scratch_mem = m->out_tok = NULL;
    m->labels = NULL;
    m->act_B = m->act_layers = 0;
    size_t asz[VDIT_DIT_NUM_ACTS];
    act_sizes(m, B, layers, asz);
    m->acts_mem = alloc_table((float **)&m->acts, asz, VDIT_DIT_NUM_ACTS);
    m->labels = malloc((size_t)B * sizeof(int));
    m->out_tok = malloc((size_t)B * m->N * m->P_out * sizeof(float));
    if (!m->acts_mem || !m->labels || !m->out_tok)
        return vdit_seterr(err, "out of memory for the activations of a batch of %d", B);
    m->act_B = B;
    m->act_layers = layers;
    m->act_work = asz[VDIT_DIT_NUM_ACTS - 1];
    return 0;
}

/* ------------------------------------------------------------------------
 * Forward
 * ---------------------------------------------------------------------- */

/* keep: hold every block's activations for backward; otherwise block l
 * works in block 0's memory and the stream alternates x[0], x[1] */
static int dit_forward(vdit_dit *m, const float *x, const float *t, const int *y, int B, float *out, int keep,
                       vdit_err *err)
{
    const vdit_dit_config *c = &m->cfg;
    if (B < 1) return vdit_seterr(err, "batch size %d must be positive", B);
    for (int b = 0; b < B; b++) {
        if (y[b] < 0 || y[b] > c->num_classes)
            return vdit_seterr(err, "label %d of sample %d out of range 0..%d (%d is the null label)", y[b], b,
                               c->num_classes, c->num_classes);
        if (!isfinite(t[b])) return vdit_seterr(err, "timestep of sample %d is not finite", b);
    }
    if (ensure_acts(m, B, keep ? c->depth : 1, err)) return -1;
    m->has_acts = 0;
    vdit_dit_params *p = &m->params;
    vdit_dit_acts *a = &m->acts;
    int D = c->hidden, L = c->depth, N = m->N, M = B * N;
    size_t MD = (size_t)M * D;
    memcpy(m->labels, y, (size_t)B * sizeof(int));

    /* tokens: x0 = patchify(x) @ Wx^T + bx + pos                        [M][D] */
    vdit_patch_embed_forward(a->x, a->xp, x, p->x_proj_w, p->x_proj_b, m->pos, B, c->grid[0], m->C_in, c->grid[1],
                             c->grid[2], c->patch[0], c->patch[1], c->patch[2], D);

    /* conditioning: c = mlp(timestep_embedding(t)) + y_table[y]           [B][D] */
    vdit_timestep_embedding(a->tfreq, t, B);
    vdit_linear_forward(a->t_h, a->tfreq, p->t_fc1_w, p->t_fc1_b, B, VDIT_TFREQ, D);
    vdit_silu_forward(a->t_hs, a->t_h, (size_t)B * D);
    vdit_linear_forward(a->c, a->t_hs, p->t_fc2_w, p->t_fc2_b, B, D, D);
    vdit_label_embed_forward(a->c, p->y_table, y, B, D);
    vdit_silu_forward(a->c_silu, a->c, (size_t)B * D);

    for (int l = 0; l < L; l++) {
        size_t D2 = (size_t)D * D, k = keep ? (size_t)l : 0; /* k: where block l's activations live */
        float *xl = a->x + (keep ? k : (size_t)l % 2) * MD, *xnext = a->x + (keep ? k + 1 : (size_t)(l + 1) % 2) * MD;
        float *mod = a->mod + k * B * 6 * D; /* [B][6D] */
        float *xhat1 = a->xhat1 + k * MD, *h1 = a->h1 + k * MD, *qkv = a->qkv + k * MD * 3;
        float *att = a->att + k * MD, *po = a->po + k * MD, *xmid = a->xmid + k * MD;
        float *xhat2 = a->xhat2 + k * MD, *h2 = a->h2 + k * MD, *f2 = a->f2 + k * MD;
        float *f1 = a->f1 + k * MD * 4, *g = a->g + k * MD * 4;
        float *rstd1 = a->rstd1 + k * M, *rstd2 = a->rstd2 + k * M;
        float *lse = a->lse + k * B * c->heads * N;

        /* mod = adaLN_modulation.1(SiLU(c))                                [B][6D] */
        vdit_linear_forward(mod, a->c_silu, p->ada_w + l * 6 * D2, p->ada_b + (size_t)l * 6 * D, B, D, 6 * D);
        float *shift_msa = mod, *scale_msa = mod + D, *gate_msa = mod + 2 * D;
        float *shift_mlp = mod + 3 * D, *scale_mlp = mod + 4 * D, *gate_mlp = mod + 5 * D;

        /* x = x + gate_msa * Attn(LN(x) * (1 + scale_msa) + shift_msa)     [M][D] */
        vdit_layernorm_modulate_forward(h1, xhat1, rstd1, xl, shift_msa, scale_msa, B, N, D, 6 * D);
        vdit_linear_forward(qkv, h1, p->qkv_w + l * 3 * D2, p->qkv_b + (size_t)l * 3 * D, M, D, 3 * D);
        vdit_attention_forward(att, lse, qkv, block_attn_shape(m, B, l), a->attn_work);
        vdit_linear_forward(po, att, p->proj_w + l * D2, p->proj_b + (size_t)l * D, M, D, D);
        vdit_gated_residual_forward(xmid, xl, gate_msa, po, B, N, D, 6 * D);

        /* x = x + gate_mlp * MLP(LN(x) * (1 + scale_mlp) + shift_mlp)      [M][D] */
        vdit_layernorm_modulate_forward(h2, xhat2, rstd2, xmid, shift_mlp, scale_mlp, B, N, D, 6 * D);
        vdit_linear_forward(f1, h2, p->fc1_w + l * 4 * D2, p->fc1_b + (size_t)l * 4 * D, M, D, 4 * D);
        vdit_gelu_forward(g, f1, MD * 4);
        vdit_linear_forward(f2, g, p->fc2_w + l * 4 * D2, p->fc2_b + (size_t)l * D, M, 4 * D, D);
        vdit_gated_residual_forward(xnext, xmid, gate_mlp, f2, B, N, D, 6 * D);
    }

    /* final layer: linear(LN(x) * (1 + scale) + shift)                   [M][P_out] */
    vdit_linear_forward(a->fmod, a->c_silu, p->final_ada_w, p->final_ada_b, B, D, 2 * D);
    float *xL = a->x + (keep ? (size_t)L : (size_t)L % 2) * MD;
    vdit_layernorm_modulate_forward(a->hf, a->xhatf, a->rstdf, xL, a->fmod, a->fmod + D, B, N, D, 2 * D);
    vdit_linear_forward(m->out_tok, a->hf, p->final_w, p->final_b, M, D, m->P_out);

    /* unpatchify (dt, dy, dx, c) -> [B][T'][C_lat][H'][W'] */
    vdit_unpatchify_forward(out, m->out_tok, B, c->grid[0], c->latent_channels, c->grid[1], c->grid[2], c->patch[0],
                            c->patch[1], c->patch[2]);
    m->has_acts = keep ? B : 0;
    return 0;
}

int vdit_dit_forward(vdit_dit *m, const float *x, const float *t, const int *y, int B, float *out, vdit_err *err)
{
    return dit_forward(m, x, t, y, B, out, 1, err);
}

int vdit_dit_forward_nograd(vdit_dit *m, const float *x, const float *t, const int *y, int B, float *out,
                            vdit_err *err)
{
    return dit_forward(m, x, t, y, B, out, 0, err);
}

/* ------------------------------------------------------------------------
 * Backward
 * ---------------------------------------------------------------------- */

/* p[0..n) = 0, in parallel when large (the backward clears megabytes per block) */
static void zero_floats(float *p, size_t n)
{
    size_t chunk = 1 << 16, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) if (nchunks > 1)
    for (size_t c = 0; c < nchunks; c++)
        memset(p + c * chunk, 0, (c + 1 < nchunks ? chunk : n - c * chunk) * sizeof(float));
}

int vdit_dit_backward(vdit_dit *m, const float *dout, vdit_err *err)
{
    if (!m->has_acts) return vdit_seterr(err, "backward called without a forward");
    if (attn_work_floats(m) > m->act_work)
        return vdit_seterr(err, "backward with more threads than its forward ran with (the attention scratch is sized "
                                "for the forward's)");
    const vdit_dit_config *c = &m->cfg;
    int B = m->has_acts, D = c->hidden, L = c->depth, N = m->N, M = B * N;
    size_t MD = (size_t)M * D, D2 = (size_t)D * D;
    /* the scratch is allocated on the first backward: sampling never needs it */
    dit_scratch s;
    size_t ssz[DIT_NUM_SCRATCH];
    scratch_sizes(m, m->act_B, ssz);
    if (m->scratch_mem) {
        point_table((float **)&s, m->scratch_mem, ssz, DIT_NUM_SCRATCH);
    } else if (!(m->scratch_mem = alloc_table((float **)&s, ssz, DIT_NUM_SCRATCH))) {
        return vdit_seterr(err, "out of memory for the gradients of a batch of %d", B);
    }
    vdit_dit_params *p = &m->params, *gp = &m->grads;
    vdit_dit_acts *a = &m->acts;
#define ZERO(ptr, n) zero_floats((ptr), (size_t)(n))

    /* out = unpatchify(out_tok) */
    ZERO(s.dtok, (size_t)M * m->P_out);
    vdit_unpatchify_backward(s.dtok, dout, B, c->grid[0], c->latent_channels, c->grid[1], c->grid[2], c->patch[0],
                             c->patch[1], c->patch[2]);

    /* out_tok = final_layer.linear(LN(x_L) * (1 + scale) + shift) */
    ZERO(s.dh, MD);
    vdit_linear_backward(s.dh, gp->final_w, gp->final_b, s.dtok, a->hf, p->final_w, M, D, m->P_out);
    ZERO(s.dfmod, (size_t)B * 2 * D);
    ZERO(s.dxhat, MD);
    vdit_adaln_modulate_backward(s.dxhat, s.dfmod, s.dfmod + D, s.dh, a->xhatf, a->fmod + D, B, N, D, 2 * D);
    ZERO(s.dx, MD);
    vdit_layernorm_backward(s.dx, s.dxhat, a->xhatf, a->rstdf, M, D);
    /* fmod = final_layer.adaLN_modulation.1(SiLU(c)) */
    ZERO(s.dc_silu, (size_t)B * D);
    vdit_linear_backward(s.dc_silu, gp->final_ada_w, gp->final_ada_b, s.dfmod, a->c_silu, p->final_ada_w, B, D, 2 * D);

    for (int l = L - 1; l >= 0; l--) {
        float *mod = a->mod + (size_t)l * B * 6 * D;
        float *xhat1 = a->xhat1 + l * MD, *h1 = a->h1 + l * MD, *qkv = a->qkv + l * MD * 3;
        float *att = a->att + l * MD, *po = a->po + l * MD;
        float *xhat2 = a->xhat2 + l * MD, *h2 = a->h2 + l * MD, *f2 = a->f2 + l * MD;
        float *f1 = a->f1 + l * MD * 4, *g = a->g + l * MD * 4;
        float *rstd1 = a->rstd1 + (size_t)l * M, *rstd2 = a->rstd2 + (size_t)l * M;
        float *lse = a->lse + (size_t)l * B * c->heads * N;
        ZERO(s.dmod, (size_t)B * 6 * D);

        /* x_next = xmid + gate_mlp * fc2(GELU(fc1(LN(xmid) * (1 + scale_mlp) + shift_mlp))) */
        ZERO(s.df2, MD);
        vdit_gated_residual_backward(s.df2, s.dmod + 5 * D, s.dx, mod + 5 * D, f2, B, N, D, 6 * D);
        ZERO(s.dg, MD * 4);
        vdit_linear_backward(s.dg, gp->fc2_w + l * 4 * D2, gp->fc2_b + (size_t)l * D, s.df2, g, p->fc2_w + l * 4 * D2,
                             M, 4 * D, D);
        ZERO(s.df1, MD * 4);
        vdit_gelu_backward(s.df1, s.dg, f1, MD * 4);
        ZERO(s.dh, MD);
        vdit_linear_backward(s.dh, gp->fc1_w + l * 4 * D2, gp->fc1_b + (size_t)l * 4 * D, s.df1, h2,
                             p->fc1_w + l * 4 * D2, M, D, 4 * D);
        ZERO(s.dxhat, MD);
        vdit_adaln_modulate_backward(s.dxhat, s.dmod + 3 * D, s.dmod + 4 * D, s.dh, xhat2, mod + 4 * D, B, N, D, 6 * D);
        vdit_layernorm_backward(s.dx, s.dxhat, xhat2, rstd2, M, D); /* dx: now d/dxmid */

        /* xmid = x + gate_msa * proj(Attn(qkv(LN(x) * (1 + scale_msa) + shift_msa))) */
        ZERO(s.dpo, MD);
        vdit_gated_residual_backward(s.dpo, s.dmod + 2 * D, s.dx, mod + 2 * D, po, B, N, D, 6 * D);
        ZERO(s.datt, MD);
        vdit_linear_backward(s.datt, gp->proj_w + l * D2, gp->proj_b + (size_t)l * D, s.dpo, att, p->proj_w + l * D2, M,
                             D, D);
        ZERO(s.dqkv, MD * 3);
        vdit_attention_backward(s.dqkv, s.datt, qkv, att, lse, block_attn_shape(m, B, l), a->attn_work);
        ZERO(s.dh, MD);
        vdit_linear_backward(s.dh, gp->qkv_w + l * 3 * D2, gp->qkv_b + (size_t)l * 3 * D, s.dqkv, h1,
                             p->qkv_w + l * 3 * D2, M, D, 3 * D);
        ZERO(s.dxhat, MD);
        vdit_adaln_modulate_backward(s.dxhat, s.dmod, s.dmod + D, s.dh, xhat1, mod + D, B, N, D, 6 * D);
        vdit_layernorm_backward(s.dx, s.dxhat, xhat1, rstd1, M, D); /* dx: now d/dx_l */

        /* mod = adaLN_modulation.1(SiLU(c)) */
        vdit_linear_backward(s.dc_silu, gp->ada_w + l * 6 * D2, gp->ada_b + (size_t)l * 6 * D, s.dmod, a->c_silu,
                             p->ada_w + l * 6 * D2, B, D, 6 * D);
    }

    /* x_0 = patchify(x) @ Wx^T + bx + pos  (the input needs no gradient) */
    vdit_patch_embed_backward(NULL, gp->x_proj_w, gp->x_proj_b, s.dx, a->xp, p->x_proj_w, B, c->grid[0], m->C_in,
                              c->grid[1], c->grid[2], c->patch[0], c->patch[1], c->patch[2], D, NULL);

    /* c_silu = SiLU(c);  c = fc2(SiLU(fc1(tfreq))) + y_table[y] */
    ZERO(s.dc, (size_t)B * D);
    vdit_silu_backward(s.dc, s.dc_silu, a->c, (size_t)B * D);
    vdit_label_embed_backward(gp->y_table, s.dc, m->labels, B, D);
    ZERO(s.dt_hs, (size_t)B * D);
    vdit_linear_backward(s.dt_hs, gp->t_fc2_w, gp->t_fc2_b, s.dc, a->t_hs, p->t_fc2_w, B, D, D);
    ZERO(s.dt_h, (size_t)B * D);
    vdit_silu_backward(s.dt_h, s.dt_hs, a->t_h, (size_t)B * D);
    vdit_linear_backward(NULL, gp->t_fc1_w, gp->t_fc1_b, s.dt_h, a->tfreq, p->t_fc1_w, B, VDIT_TFREQ, D);
#undef ZERO
    return 0;
}

/* ------------------------------------------------------------------------
 * FLOPs
 * ---------------------------------------------------------------------- */

double vdit_dit_flops_per_sample(const vdit_dit_config *c)
{
    double D = c->hidden, L = c->depth;
    double nt = c->grid[0] / c->patch[0], nh = c->grid[1] / c->patch[1], nw = c->grid[2] / c->patch[2];
    double N = nt * nh * nw, pp = (double)c->patch[0] * c->patch[1] * c->patch[2];
    double P_in = (2.0 * c->latent_channels + 1) * pp, P_out = c->latent_channels * pp;
    double f = 2 * N * P_in * D;                   /* patch embedding */
    f += 2 * (VDIT_TFREQ * D + D * D);             /* timestep mlp */
    double keys = N;                               /* keys per query */
    double per_block = 2 * N * D * (3 * D + D + 8 * D) + 2 * 6 * D * D;
    for (int l = 0; l < c->depth; l++) {
        if (c->attention == VDIT_ATTN_ST) keys = (l % 2 == 0) ? nh * nw : nt;
        f += per_block + 2 * 2 * N * keys * D; /* q k^T and p v */
    }
    (void)L;
    f += 2 * 2 * D * D + 2 * N * D * P_out; /* final layer */
    return f;
}

/* ------------------------------------------------------------------------
 * Checkpoints (safetensors)
 * ---------------------------------------------------------------------- */

int vdit_dit_save(const vdit_dit *m, const float *mem, const char *path, vdit_err *err)
{
    int n = vdit_dit_param_table(m, NULL, 0);
    vdit_param_info *info = malloc((size_t)n * sizeof *info);
    char *cfg = vdit_dit_config_to_json(&m->cfg);
    int rc = -1;
    if (!info || !cfg) {
        vdit_seterr(err, "%s: out of memory", path);
    } else {
        vdit_dit_param_table(m, info, n);
        const vdit_vae_id *v = &m->trained_on;
        const char *keys[5] = {"config", "format", "vae_crc32", "vae_file", "vae_config"};
        const char *vals[5] = {cfg, "vdit-dit", v->crc32, v->file, v->config};
        rc = vdit_st_write_params(path, info, n, mem, keys, vals, v->crc32[0] ? 5 : 2, err);
    }
    free(info);
    free(cfg);
    return rc;
}

int vdit_dit_load(vdit_dit *m, const char *path, vdit_err *err)
{
    vdit_st_file f;
    memset(m, 0, sizeof *m);
    if (vdit_st_read(path, &f, err)) return -1;
    int rc = -1;
    vdit_param_info *info = NULL;
    const char *cfgjson = vdit_st_meta(&f, "config"), *fmt = vdit_st_meta(&f, "format");
    /* another vdit file (a VAE, a training state); a foreign "format" (e.g. "pt") is let through */
    if (fmt && !strncmp(fmt, "vdit-", 5) && strcmp(fmt, "vdit-dit")) {
        vdit_seterr(err, "%s: not a DiT checkpoint (__metadata__ \"format\" is \"%.64s\", expected \"vdit-dit\")", path,
                    fmt);
        goto fail;
    }
    if (!cfgjson) {
        vdit_seterr(err, "%s: no \"config\" in the safetensors __metadata__ (not a vdit DiT checkpoint?)", path);
        goto fail;
    }
    vdit_dit_config cfg;
    if (vdit_dit_config_from_json(&cfg, cfgjson, path, err)) goto fail;
    /* every tensor is checked against the config's table before the model is
     * allocated: a small file cannot make us allocate a large model */
    vdit_dit probe;
    dit_dims(&probe, &cfg);
    int n = vdit_dit_param_table(&probe, NULL, 0);
    info = malloc((size_t)n * sizeof *info);
    if (!info) {
        vdit_seterr(err, "%s: out of memory", path);
        goto fail;
    }
    vdit_dit_param_table(&probe, info, n);
    if (vdit_st_validate(&f, path, info, n, NULL, 0, err)) goto fail;
    vdit_err cerr;
    if (vdit_dit_create(m, &cfg, &cerr)) {
        vdit_seterr(err, "%s: %s", path, cerr.msg);
        goto fail;
    }
    for (int i = 0; i < n; i++)
        memcpy(m->params_mem + info[i].offset, vdit_st_find(&f, info[i].name)->data, info[i].numel * sizeof(float));
    const char *vcrc = vdit_st_meta(&f, "vae_crc32"), *vfile = vdit_st_meta(&f, "vae_file"),
               *vcfg = vdit_st_meta(&f, "vae_config");
    if (vcrc) {
        snprintf(m->trained_on.crc32, sizeof m->trained_on.crc32, "%s", vcrc);
        snprintf(m->trained_on.file, sizeof m->trained_on.file, "%s", vfile ? vfile : "?");
        snprintf(m->trained_on.config, sizeof m->trained_on.config, "%s", vcfg ? vcfg : "");
    }
    rc = 0;
fail:
    if (rc) vdit_dit_free(m);
    free(info);
    vdit_st_free(&f);
    return rc;
}
