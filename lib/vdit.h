/* vdit.h - the one public header of libvdit.
 *
 * libvdit is a pure-C reference implementation of a Sora-style video
 * diffusion transformer (see shared/design/model.md): kernels with forward
 * and backward passes, the DiT, AdamW, and the file formats it reads and
 * writes (safetensors, NPY).
 *
 * Conventions
 *   - Tensors are plain float * with the layout written beside every
 *     argument, in the fixed shape letters B T C H W N D NH P.
 *   - Every function that can fail on input returns 0 on success and -1 on
 *     failure, with a message in a vdit_err naming the file, the offset and
 *     what was expected. The library never exit()s and never asserts on
 *     input.
 *   - Backward functions accumulate (+=) into their gradients.
 */
#ifndef VDIT_H
#define VDIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VDIT_VERSION "0.1.0"

/* ------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

typedef struct {
    char msg[1024];
} vdit_err;

/* Formats a message into err (when err is not NULL) and returns -1, so a
 * failing function can `return vdit_seterr(err, "...", ...);`. */
int vdit_seterr(vdit_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes a shape as "[2,3,4]" (truncated to cap). */
void vdit_shape_string(char *buf, size_t cap, int ndim, const int64_t *shape);

/* ------------------------------------------------------------------------
 * Random numbers: one seeded, counter-based generator. Value i of a stream
 * depends only on (seed, i), so results do not depend on how work is split
 * across threads.
 * ---------------------------------------------------------------------- */

typedef struct {
    uint64_t seed;
    uint64_t counter;
} vdit_rng;

void vdit_rng_init(vdit_rng *rng, uint64_t seed);
uint64_t vdit_rng_at(uint64_t seed, uint64_t counter); /* stateless hash */
uint64_t vdit_rng_u64(vdit_rng *rng);
float vdit_rng_uniform(vdit_rng *rng); /* [0, 1) */
float vdit_rng_normal(vdit_rng *rng);  /* N(0, 1) */

/* ------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------- */

/* Writes `size` bytes to `path` atomically: to a temporary name in the same
 * directory, flushed, fsync'ed and renamed over `path`. On failure the
 * temporary is removed and any existing `path` is left untouched. */
int vdit_write_file_atomic(const char *path, const void *data, size_t size, vdit_err *err);

/* Reads a whole file (at most max_size bytes; larger files are rejected).
 * *data is malloc'ed; free it with free(). */
int vdit_read_file(const char *path, size_t max_size, void **data, size_t *size, vdit_err *err);

/* ------------------------------------------------------------------------
 * NPY arrays (numpy's .npy, version 1.0/2.0/3.0, C order, little-endian)
 * ---------------------------------------------------------------------- */

typedef enum {
    VDIT_DTYPE_F32 = 0, /* '<f4' */
    VDIT_DTYPE_F64,     /* '<f8' */
    VDIT_DTYPE_U8,      /* '|u1' */
    VDIT_DTYPE_I32,     /* '<i4' */
    VDIT_DTYPE_I64,     /* '<i8' */
} vdit_dtype;

#define VDIT_MAX_DIMS 8

typedef struct {
    vdit_dtype dtype;
    int ndim;
    int64_t shape[VDIT_MAX_DIMS];
    void *data;    /* malloc'ed, aligned for the dtype */
    size_t nbytes; /* product(shape) * dtype size */
} vdit_array;

size_t vdit_dtype_size(vdit_dtype dtype);
const char *vdit_dtype_name(vdit_dtype dtype); /* "float32", "uint8", ... */
int64_t vdit_array_numel(const vdit_array *a);

/* Reads an NPY file. Rejects Fortran order, big-endian data, unsupported
 * dtypes, bad headers and a data size that does not match the shape. */
int vdit_npy_read(const char *path, vdit_array *out, vdit_err *err);
/* Writes an NPY file (version 1.0) atomically. */
int vdit_npy_write(const char *path, const vdit_array *a, vdit_err *err);
/* Convenience: writes float32 data of the given shape. */
int vdit_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, vdit_err *err);
/* Reads an NPY file and converts it to float32 (f32/f64/u8/i32/i64 in). */
int vdit_npy_read_f32(const char *path, vdit_array *out, vdit_err *err);
void vdit_array_free(vdit_array *a);

/* ------------------------------------------------------------------------
 * safetensors (F32 tensors; `__metadata__` as string -> string)
 * ---------------------------------------------------------------------- */

typedef struct {
    char *name;
    int ndim;
    int64_t shape[VDIT_MAX_DIMS];
    float *data; /* numel floats */
    int64_t numel;
} vdit_st_tensor;

typedef struct {
    int ntensors;
    vdit_st_tensor *tensors; /* sorted by data offset as in the file */
    int nmeta;
    char **meta_keys;
    char **meta_values;
    void *mem; /* owns the tensor data */
} vdit_st_file;

/* Largest header accepted (the safetensors reference's limit). */
#define VDIT_ST_MAX_HEADER 100000000ull

/* Reads and validates a safetensors file: header length within the file and
 * at most VDIT_ST_MAX_HEADER, valid JSON, unique names, known dtype (only F32
 * is supported), shapes matching their byte ranges, byte ranges contiguous
 * (no gap, no overlap) and covering the data exactly. */
int vdit_st_read(const char *path, vdit_st_file *f, vdit_err *err);
const vdit_st_tensor *vdit_st_find(const vdit_st_file *f, const char *name);
const char *vdit_st_meta(const vdit_st_file *f, const char *key); /* NULL if absent */
void vdit_st_free(vdit_st_file *f);

/* Writes tensors (F32, in the order given) and metadata pairs atomically. */
int vdit_st_write(const char *path, const vdit_st_tensor *tensors, int ntensors,
                  const char *const *meta_keys, const char *const *meta_values, int nmeta,
                  vdit_err *err);


/* ------------------------------------------------------------------------
 * Kernels. Each layer is a pair layer_forward / layer_backward; backward
 * accumulates (+=) into its gradients. A kernel with an optimised path keeps
 * its plain-loop version beside it (suffix _ref) as the test reference.
 * ---------------------------------------------------------------------- */

/* out[M][OC] = inp[M][IC] @ w[OC][IC]^T + b[OC]   (b may be NULL; cblas_sgemm) */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC);
void linear_forward_ref(float *out, const float *inp, const float *w, const float *b, int M, int IC, int OC);
/* dinp[M][IC] += dout @ w;  dw[OC][IC] += dout^T @ inp;  db[OC] += sum_m dout.
 * dinp and db may be NULL. */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int M, int IC, int OC);
void linear_backward_ref(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, int M, int IC, int OC);

/* LayerNorm over D, eps 1e-6, no affine: xhat[M][D] = (x - mean) * rstd. */
#define VDIT_LN_EPS 1e-6f
void layernorm_forward(float *xhat, float *rstd, const float *x, int M, int D);
/* dx[M][D] += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
void layernorm_backward(float *dx, const float *dxhat, const float *xhat, const float *rstd, int M, int D);

/* adaLN modulation: out[B][N][D] = xhat * (1 + scale[b]) + shift[b].
 * shift and scale point into a per-sample modulation vector of stride
 * mod_stride floats (the chunks of adaLN_modulation's output). */
void adaln_modulate_forward(float *out, const float *xhat, const float *shift, const float *scale,
                            int B, int N, int D, int mod_stride);
void adaln_modulate_backward(float *dxhat, float *dshift, float *dscale, const float *dout,
                             const float *xhat, const float *scale, int B, int N, int D, int mod_stride);

/* Gated residual: x[B][N][D] += gate[b] * y  (gate of stride mod_stride). */
void gated_residual_forward(float *x, const float *gate, const float *y, int B, int N, int D, int mod_stride);
/* dy += dx * gate;  dgate += sum_n dx * y  (dx itself flows on unchanged) */
void gated_residual_backward(float *dy, float *dgate, const float *dx, const float *gate, const float *y,
                             int B, int N, int D, int mod_stride);

/* GELU, tanh approximation; SiLU. n elements. */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void silu_forward(float *out, const float *inp, size_t n);
void silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* Multi-head attention over a token grid (nt, nh, nw), N = nt*nh*nw, token
 * n = (it*nh + ih)*nw + iw. Scope: FULL (every token), SPATIAL (tokens of the
 * same it), TEMPORAL (tokens of the same (ih, iw)). */
typedef enum { ATTN_FULL = 0, ATTN_SPATIAL = 1, ATTN_TEMPORAL = 2 } attn_scope;
typedef struct {
    int B, nt, nh, nw, D, NH;
    attn_scope scope;
} attn_shape;
/* out[B][N][D] = concat_h softmax(q k^T / sqrt(dh)) v with q, k, v the three
 * D-column blocks of qkv[B][N][3D]; lse[B][NH][N] keeps each row's
 * log-sum-exp so backward can recompute the probabilities (no N x N
 * matrix is ever stored). */
void attention_forward(float *out, float *lse, const float *qkv, attn_shape s);
/* Plain reference: materialises the masked N x N scores. */
void attention_forward_ref(float *out, const float *qkv, attn_shape s);
/* dqkv[B][N][3D] += d/dqkv of out = softmax(q k^T * scale) v */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, attn_shape s);

/* Spacetime patches of a video x[B][T][C][H][W] with patch (pt, ph, pw):
 * xp[B][N][P], P = C*pt*ph*pw ordered (c, dt, dy, dx) (the Conv3d's order). */
void patchify(float *xp, const float *x, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* The inverse scatter for patchify (accumulates): dx[B][T][C][H][W] += ... */
void patchify_backward(float *dx, const float *dxp, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* Tokens tok[B][N][P] with P ordered (dt, dy, dx, c) (DiT's unpatchify) back
 * to video[B][T][C][H][W]. */
void unpatchify_forward(float *video, const float *tok, int B, int T, int C, int H, int W, int pt, int ph, int pw);
/* dtok[B][N][P] += gather of dvideo */
void unpatchify_backward(float *dtok, const float *dvideo, int B, int T, int C, int H, int W, int pt, int ph, int pw);

/* Patch embedding (x_embedder.proj, a Conv3d with kernel = stride = patch):
 * xp = patchify(x); out[B][N][D] = xp @ w[D][P]^T + b + pos[N][D] (pos may be NULL). */
void patch_embed_forward(float *out, float *xp, const float *x, const float *w, const float *b,
                         const float *pos, int B, int T, int C, int H, int W, int pt, int ph, int pw, int D);
/* dw, db += ...; dx (may be NULL) += d/dx. */
void patch_embed_backward(float *dx, float *dw, float *db, const float *dout, const float *xp, const float *w,
                          int B, int T, int C, int H, int W, int pt, int ph, int pw, int D);

/* Fixed sin-cos positional embedding pos[N][D] of the contract:
 * pos[n] = concat(sincos1d_{D/2}(iw), sincos1d_{D/2}(ih)) + sincos1d_D(it). */
void pos_embed_sincos(float *pos, int nt, int nh, int nw, int D);
/* sincos1d_D(p): [sin(p*omega_i)..., cos(p*omega_i)...], omega_i = 10000^(-i/(D/2)). */
void sincos1d(float *out, int D, double p);

/* Timestep frequencies: out[B][256] = [cos(t*freq), sin(t*freq)],
 * freq_i = exp(-ln(10000) i / 128). */
#define VDIT_TFREQ 256
void timestep_embedding(float *out, const float *t, int B);

/* Label embedding: c[B][D] += table[y[b]][D]; backward dtable[y[b]] += dc[b]. */
void label_embed_forward(float *c, const float *table, const int *y, int B, int D);
void label_embed_backward(float *dtable, const float *dc, const int *y, int B, int D);

/* ------------------------------------------------------------------------
 * The DiT of shared/design/model.md
 * ---------------------------------------------------------------------- */

typedef enum { VDIT_ATTN_FULL = 0, VDIT_ATTN_ST = 1 } vdit_attention;
typedef enum { VDIT_OBJ_EPS = 0, VDIT_OBJ_FLOW = 1 } vdit_objective;

typedef struct {
    int latent_channels; /* C_lat */
    int hidden;          /* D */
    int depth;           /* blocks */
    int heads;           /* NH */
    int patch[3];        /* pt, ph, pw */
    int grid[3];         /* T', H', W' of the latent video */
    int num_classes;     /* labels 0..K-1; K is the null label */
    vdit_attention attention;
    vdit_objective objective;
} vdit_dit_config;

/* Checks every field (positive sizes, D divisible by 4 and by NH, grid
 * divisible by patch, sane upper bounds so sizes cannot overflow). */
int vdit_dit_config_check(const vdit_dit_config *cfg, vdit_err *err);
/* The config as the JSON object string of the checkpoint's metadata
 * (malloc'ed; NULL when out of memory). */
char *vdit_dit_config_to_json(const vdit_dit_config *cfg);
/* Parses and checks a config JSON string; `what` names its source in errors. */
int vdit_dit_config_from_json(vdit_dit_config *cfg, const char *json, const char *what, vdit_err *err);
const char *vdit_attention_name(vdit_attention a);
const char *vdit_objective_name(vdit_objective o);

/* Parameters, one allocation with a pointer table. Per-block tensors are
 * stacked over blocks as in llm.c: qkv_w is [L][3D][D], block l at
 * qkv_w + l*3D*D. Gradients reuse this struct. */
#define VDIT_DIT_NUM_PARAM_KINDS 21
typedef struct {
    float *x_proj_w;    /* [D][C_in*pt*ph*pw]  Conv3d weight [D][C_in][pt][ph][pw] */
    float *x_proj_b;    /* [D] */
    float *t_fc1_w;     /* [D][256] */
    float *t_fc1_b;     /* [D] */
    float *t_fc2_w;     /* [D][D] */
    float *t_fc2_b;     /* [D] */
    float *y_table;     /* [K+1][D] */
    float *qkv_w;       /* [L][3D][D] */
    float *qkv_b;       /* [L][3D] */
    float *proj_w;      /* [L][D][D] */
    float *proj_b;      /* [L][D] */
    float *fc1_w;       /* [L][4D][D] */
    float *fc1_b;       /* [L][4D] */
    float *fc2_w;       /* [L][D][4D] */
    float *fc2_b;       /* [L][D] */
    float *ada_w;       /* [L][6D][D] */
    float *ada_b;       /* [L][6D] */
    float *final_ada_w; /* [2D][D] */
    float *final_ada_b; /* [2D] */
    float *final_w;     /* [P_out][D], P_out = pt*ph*pw*C_lat */
    float *final_b;     /* [P_out] */
} vdit_dit_params;

/* Activations the backward pass needs, for a batch of B (M = B*N rows). */
#define VDIT_DIT_NUM_ACTS 26
typedef struct {
    float *xp;     /* [M][P_in] patch vectors of the input */
    float *tfreq;  /* [B][256] timestep frequencies */
    float *t_h;    /* [B][D] t_embedder.mlp.0 output */
    float *t_hs;   /* [B][D] SiLU of it */
    float *c;      /* [B][D] conditioning vector */
    float *c_silu; /* [B][D] SiLU(c), the input of every adaLN_modulation */
    float *mod;    /* [L][B][6D] shift/scale/gate msa, shift/scale/gate mlp */
    float *x;      /* [L+1][M][D] residual stream entering each block; x[L] leaves the last */
    float *xhat1;  /* [L][M][D] LN before attention */
    float *rstd1;  /* [L][M] */
    float *h1;     /* [L][M][D] modulated input of attention */
    float *qkv;    /* [L][M][3D] */
    float *att;    /* [L][M][D] attention output (heads concatenated) */
    float *lse;    /* [L][B][NH][N] softmax log-sum-exp per query row */
    float *po;     /* [L][M][D] attn.proj output */
    float *xmid;   /* [L][M][D] residual after attention */
    float *xhat2;  /* [L][M][D] LN before the MLP */
    float *rstd2;  /* [L][M] */
    float *h2;     /* [L][M][D] modulated input of the MLP */
    float *f1;     /* [L][M][4D] mlp.fc1 output */
    float *g;      /* [L][M][4D] GELU of it */
    float *f2;     /* [L][M][D] mlp.fc2 output */
    float *fmod;   /* [B][2D] final shift, scale */
    float *xhatf;  /* [M][D] final LN */
    float *rstdf;  /* [M] */
    float *hf;     /* [M][D] modulated input of final_layer.linear */
} vdit_dit_acts;

typedef struct {
    vdit_dit_config cfg;
    int C_in, N, nt, nh, nw, P_in, P_out; /* derived sizes */
    vdit_dit_params params, grads;
    float *params_mem, *grads_mem;
    size_t num_params;
    float *pos; /* [N][D] fixed positional embedding */
    /* sized for batch act_B, grown on demand by forward */
    int act_B;
    vdit_dit_acts acts;
    float *acts_mem;
    float *scratch_mem; /* backward's activation gradients */
    int *labels;        /* [act_B] labels of the last forward */
    float *out_tok;     /* [act_B][N][P_out] */
    int has_acts;       /* a forward has run and backward may follow */
} vdit_dit;

/* One named tensor of the checkpoint: where it lives in the parameter memory. */
typedef struct {
    char name[96];
    int ndim;
    int64_t shape[5];
    size_t offset; /* in floats from params_mem */
    size_t numel;
} vdit_param_info;

/* Fills up to `cap` entries of the checkpoint's tensors in contract order and
 * returns how many there are (call with info = NULL to count). */
int vdit_dit_param_table(const vdit_dit *m, vdit_param_info *info, int cap);

/* Allocates a model for cfg (parameters zero; call vdit_dit_init_weights). */
int vdit_dit_create(vdit_dit *m, const vdit_dit_config *cfg, vdit_err *err);
void vdit_dit_free(vdit_dit *m);
/* DiT's initialize_weights with the seeded generator. */
void vdit_dit_init_weights(vdit_dit *m, uint64_t seed);
/* x[B][T'][C_in][H'][W'], t[B] (the value fed to the timestep embedder),
 * y[B] in 0..K -> out[B][T'][C_lat][H'][W']. Keeps what backward needs. */
int vdit_dit_forward(vdit_dit *m, const float *x, const float *t, const int *y, int B, float *out, vdit_err *err);
/* Accumulates into m->grads the gradient of a loss whose gradient with
 * respect to the last forward's output is dout[B][T'][C_lat][H'][W']. */
int vdit_dit_backward(vdit_dit *m, const float *dout, vdit_err *err);
void vdit_dit_zero_grad(vdit_dit *m);
/* Writes the tensors at `mem` (m->params_mem, m->grads_mem or a copy of the
 * same layout, e.g. EMA weights) under the contract names, config in the
 * metadata, atomically. */
int vdit_dit_save(const vdit_dit *m, const float *mem, const char *path, vdit_err *err);
/* Creates a model from a checkpoint: config from its metadata, every tensor
 * by name with its exact shape; a missing, extra or misshaped tensor is an
 * error naming it. */
int vdit_dit_load(vdit_dit *m, const char *path, vdit_err *err);
/* FLOPs of one forward for one sample (2 x multiply-adds of every matmul,
 * both attention products included). */
double vdit_dit_flops_per_sample(const vdit_dit_config *cfg);

/* ------------------------------------------------------------------------
 * AdamW (decoupled weight decay)
 * ---------------------------------------------------------------------- */

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} vdit_adamw_config;

/* One step over n parameters: m, v are the moment buffers, step counts from 1.
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * ( mhat / (sqrt(vhat) + eps) + wd * p ) */
void adamw_step(float *params, const float *grads, float *m, float *v, size_t n, int step,
                vdit_adamw_config c);

#ifdef __cplusplus
}
#endif

#endif /* VDIT_H */
