/* vdit.h - the one public header of libvdit.
 *
 * libvdit is a pure-C reference implementation of a Sora-style video
 * diffusion transformer (see shared/design/model.md): the DiT and the video
 * VAE with their forward and backward passes, diffusion and samplers, AdamW,
 * the file formats it reads and writes (safetensors, NPY, NPZ) and the INI
 * settings files of training. The
 * layers themselves are declared in lib/kernels.h, internal (lib/README.md
 * maps each part of the model to its file and function).
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
#include <stdio.h>

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
 * failing function can `return vdit_seterr(err, "...", ...);`. The message
 * is kept on one line: control bytes (from names in the input) become ?. */
int vdit_seterr(vdit_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes a shape as "[2,3,4]" (truncated to cap); returns buf. */
const char *vdit_shape_string(char *buf, size_t cap, int ndim, const int64_t *shape);

/* A growing string: vdit_strbuf b = {0}; vdit_strbuf_printf(&b, ...) appends;
 * b.s (b.n bytes, NUL-terminated) holds the text; b.oom is set when memory
 * ran out (the text stops there); vdit_strbuf_free releases it. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} vdit_strbuf;
void vdit_strbuf_printf(vdit_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void vdit_strbuf_free(vdit_strbuf *b);

/* Pixels <-> model values: a video frames[T][H][W][3] of uint8 becomes
 * x[T][3][H][W] = v / 127.5 - 1 in [-1, 1] (frame-major, each frame CHW);
 * the inverse rounds and clamps. */
void vdit_video_to_float(float *x, const uint8_t *frames, int T, int H, int W);
void vdit_video_to_u8(uint8_t *frames, const float *x, int T, int H, int W);

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
/* Element i of a stream of N(0, 1) values: depends only on (seed, i). */
float vdit_normal_at(uint64_t seed, uint64_t i);

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

/* Opens a file for reading without blocking and refuses it unless it is a
 * regular file (a FIFO, a device or a directory is one line naming `path`
 * instead of a hang); *size is its size from fstat. Every reader uses it. */
int vdit_open_regular(const char *path, FILE **fp, uint64_t *size, vdit_err *err);

/* A message for errno `e`: strerror's, except EFBIG, which says it is the
 * file size limit (`ulimit -f`) that a write ran into. */
const char *vdit_strerror(int e);

/* ------------------------------------------------------------------------
 * Signals and temporaries (signals.c)
 * ---------------------------------------------------------------------- */

/* For a program (src/main.c calls it first): SIGXFSZ ignored, so a write
 * past `ulimit -f` fails with EFBIG and is reported like any write error;
 * SIGINT, SIGTERM and SIGHUP remove the registered temporaries, print one
 * line and end the process by the same signal (exit status 128+sig). A
 * signal the caller ignores (nohup) stays ignored. 0, or -1 with errno. */
int vdit_signals_install(void);
/* Registers a temporary being written (is_dir: a temporary folder, removed
 * with rmdir after every registered file, so its writer registers the files
 * it puts in it too). Returns a slot for vdit_temp_drop, or -1 when the path
 * is too long or the table is full (the temporary is then not removed on a
 * signal; nothing else changes). */
int vdit_temp_add(const char *path, int is_dir);
/* Forgets a slot, once (after the temporary was renamed or removed: the slot
 * may be reused at once); -1 is a no-op. */
void vdit_temp_drop(int slot);
/* Removes every registered temporary; async-signal-safe. */
void vdit_temps_remove(void);
/* Holds SIGINT, SIGTERM and SIGHUP back over a step that must not be cut in
 * two (moving an old dataset aside and the new one into place). */
void vdit_signals_hold(void);
void vdit_signals_release(void);

/* Nonzero, with "the output OUT is|holds|is inside the input IN", when
 * writing `out` would replace or change the input `in`: the same file (by
 * device and inode, so through hard links and symlinks: VDIT_CLASH_SAME), an
 * output folder holding the input (by realpath: VDIT_CLASH_HOLDS), or an
 * existing output inside an input folder (VDIT_CLASH_INSIDE); else 0. Paths
 * that do not exist yet do not clash. */
enum { VDIT_CLASH_SAME = -1, VDIT_CLASH_HOLDS = -2, VDIT_CLASH_INSIDE = -3 };
int vdit_path_clash(const char *out, const char *in, vdit_err *err);

/* One writer at a time for an output (a run, dataset, sample or report
 * folder, a VAE checkpoint): flock(2) on PATH.lock beside it, not inside,
 * since the dataset, sample and report writers build a temporary folder and
 * rename it over PATH. The lock file holds the holder's pid and is removed
 * by vdit_out_unlock. A second writer fails at once: "PATH is in use by
 * another writer (pid N; lock PATH.lock)". */
typedef struct {
    int fd;
    char *path; /* of the lock file */
    int temp;   /* its slot in the temporaries a signal removes (vdit_temp_add) */
} vdit_out_lock_t;
int vdit_out_lock(const char *path, vdit_out_lock_t *lock, vdit_err *err);
void vdit_out_unlock(vdit_out_lock_t *lock); /* also on a failed or never-taken lock (fd -1) */

/* An output folder written whole, so no file of an earlier run survives
 * beside the new ones: vdit_out_dir_begin makes DIR.tmp-XXXXXX beside DIR
 * (*tmp, malloc'ed) after checking that an existing DIR holds only entries
 * ours(DIR, NAME) accepts: 1, a file the command writes (replaced), 2, an
 * entry kept (moved into the new folder: eval's benchmark made in its OUT);
 * else -1, "DIR: exists and holds NAME, which this command does not write;
 * not replaced". The caller writes its files into *tmp; vdit_out_dir_commit
 * moves the kept entries in, renames it over DIR (the earlier DIR moved
 * aside, then its files removed) and frees tmp; vdit_out_dir_abort removes
 * and frees it. The files replaced are plain files in DIR itself. */
int vdit_out_dir_begin(const char *dir, int (*ours)(const char *dir, const char *name), char **tmp, vdit_err *err);
int vdit_out_dir_commit(char *tmp, const char *dir, int (*ours)(const char *dir, const char *name), vdit_err *err);
void vdit_out_dir_abort(char *tmp);

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
/* Refuses a float array (F32 or F64) holding a NaN or an infinity where
 * finite values enter (latents, float videos): the error names `what` (the
 * file) and the first bad element by its index, e.g. "lat.npy: non-finite
 * value nan at index [0, 2, 1, 3, 3] (element 1234)". Other dtypes pass. */
int vdit_array_check_finite(const vdit_array *a, const char *what, vdit_err *err);

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
 * NPZ archives (numpy's savez / savez_compressed: a zip of NPY files,
 * member "NAME.npy" for array NAME; read with np.load(path)["NAME"]).
 * Implemented with zlib's minizip.
 * ---------------------------------------------------------------------- */

typedef struct vdit_npz_writer vdit_npz_writer;
/* Starts an archive at a temporary name beside `path`; it appears at `path`
 * only when vdit_npz_close succeeds. level: 0 stored, 1..9 deflate. */
int vdit_npz_open(vdit_npz_writer **w, const char *path, int level, vdit_err *err);
/* Adds a whole array. */
int vdit_npz_add(vdit_npz_writer *w, const char *name, const vdit_array *a, vdit_err *err);
/* Streams an array too large to hold: its dtype and full shape first, then
 * its bytes in order in any number of pieces, then end (which checks that
 * the byte count matches the shape). */
int vdit_npz_begin(vdit_npz_writer *w, const char *name, vdit_dtype dtype, int ndim, const int64_t *shape,
                   vdit_err *err);
int vdit_npz_write(vdit_npz_writer *w, const void *data, size_t nbytes, vdit_err *err);
int vdit_npz_end(vdit_npz_writer *w, vdit_err *err);
/* Finishes the archive, fsyncs and renames it into place; frees w. */
int vdit_npz_close(vdit_npz_writer *w, vdit_err *err);
/* Gives up: removes the temporary, leaves any existing `path`; frees w. */
void vdit_npz_abort(vdit_npz_writer *w);
/* Reads array `name` from an archive (sizes checked against the archive
 * before allocating). */
int vdit_npz_read(const char *path, const char *name, vdit_array *out, vdit_err *err);
/* Names of the arrays in an archive (malloc'ed; free with vdit_npz_names_free). */
int vdit_npz_names(const char *path, char ***names, int *n, vdit_err *err);
void vdit_npz_names_free(char **names, int n);
/* Parses an NPY file held in memory; `what` names it in errors. */
int vdit_npy_parse(const void *buf, size_t size, const char *what, vdit_array *out, vdit_err *err);

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
    uint32_t data_crc32; /* zlib crc32 of the data buffer, computed on reading: the file's identity */
    uint32_t meta_crc32; /* zlib crc32 of the metadata (see VDIT_ST_META_CRC_KEY) */
} vdit_st_file;

/* The metadata keys under which every file vdit writes stores two zlib
 * crc32s (8 lowercase hex digits): of its data buffer (zlib.crc32(data) in
 * Python) and of its other metadata pairs (each key NUL value NUL, in
 * strcmp order of the keys), so that neither a weight nor a training
 * state's step or log changes unseen. The reader checks each when present
 * (files written before them have none) and leaves both out of the
 * metadata it returns. */
#define VDIT_ST_CRC_KEY "data_crc32"
#define VDIT_ST_META_CRC_KEY "meta_crc32"


/* Largest header accepted (the safetensors reference's limit). */
#define VDIT_ST_MAX_HEADER 100000000ull

/* Reads and validates a safetensors file: header length within the file and
 * at most VDIT_ST_MAX_HEADER, valid JSON, unique names, known dtype (only F32
 * is supported), shapes matching their byte ranges, byte ranges contiguous
 * (no gap, no overlap) and covering the data exactly, and the data's and
 * the metadata's crc32 equal to those stored when the file has them
 * ("checksum mismatch: the file is corrupt" otherwise). */
int vdit_st_read(const char *path, vdit_st_file *f, vdit_err *err);
const vdit_st_tensor *vdit_st_find(const vdit_st_file *f, const char *name);
const char *vdit_st_meta(const vdit_st_file *f, const char *key); /* NULL if absent */
void vdit_st_free(vdit_st_file *f);

typedef struct vdit_param_info vdit_param_info;
/* The one check every checkpoint loader makes, before it allocates a model:
 * for each prefix (prefixes NULL or nprefixes 0: the names as they are) and
 * each entry of the table want[n] (names and shapes, as a model's
 * *_param_table gives them), the tensor prefix + name is in f with exactly
 * that shape and only finite values; and f holds no other tensor. The
 * error names `path` and the first tensor that fails, on one line:
 * "missing tensor 'N'", "tensor 'N' has shape [..], the config needs [..]",
 * "tensor 'N' holds a non-finite value at element K", "unexpected tensor 'N'
 * for this config". */
int vdit_st_validate(const vdit_st_file *f, const char *path, const vdit_param_info *want, int n,
                     const char *const *prefixes, int nprefixes, vdit_err *err);

/* Writes tensors (F32, in the order given) and metadata pairs atomically,
 * with the data's and the metadata's crc32s last (a caller's own pairs of
 * those keys are replaced). */
int vdit_st_write(const char *path, const vdit_st_tensor *tensors, int ntensors,
                  const char *const *meta_keys, const char *const *meta_values, int nmeta,
                  vdit_err *err);

/* Writes a model's named tensors: entry i of the table `info` (names,
 * shapes, offsets into mem) as a tensor, with the metadata pairs. */
int vdit_st_write_params(const char *path, const vdit_param_info *info, int n, const float *mem,
                         const char *const *meta_keys, const char *const *meta_values, int nmeta, vdit_err *err);



/* A VAE's identity: the crc32 of its checkpoint's data (vdit_st_file's
 * data_crc32, 8 hex digits), the file it was loaded from and its config
 * JSON (the latent shape). A DiT trained on its latents records it in its
 * checkpoint's metadata as "vae_crc32", "vae_file" and "vae_config"; an
 * empty crc32: none recorded (pixels, or a checkpoint older than the
 * record). */
typedef struct {
    char crc32[12];
    char file[512];
    char config[512];
} vdit_vae_id;

/* ------------------------------------------------------------------------
 * The DiT of shared/design/model.md
 * ---------------------------------------------------------------------- */

/* Attention: what a model's config chooses, FULL (every token sees every
 * token) or ST (blocks alternate SPATIAL, within a frame, and TEMPORAL,
 * across frames at one position), and what one attention layer does (FULL,
 * SPATIAL or TEMPORAL). */
typedef enum { VDIT_ATTN_FULL = 0, VDIT_ATTN_ST = 1, VDIT_ATTN_SPATIAL = 2, VDIT_ATTN_TEMPORAL = 3 } vdit_attention;
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

/* The model-size registry, as DiT's (DiT-S/2 ...), scaled for a CPU:
 * VDiT-XS (depth 4, hidden 128, 4 heads), VDiT-S (6, 192, 6), VDiT-M (8,
 * 256, 8), VDiT-L (12, 384, 6); the suffix is the patch: "/2" is (1,2,2),
 * "/2t2" is (2,2,2), "/4" is (1,4,4). Sets depth, hidden, heads and patch
 * of cfg; leaves the rest. */
int vdit_dit_preset(const char *name, vdit_dit_config *cfg, vdit_err *err);
/* The registry's sizes, for listing: name i (NULL past the end). */
const char *vdit_dit_preset_size(int i, int *depth, int *hidden, int *heads);
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
#define VDIT_DIT_NUM_ACTS 27
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
    float *attn_work; /* the attention layers' scratch (vdit_attention_scratch) */
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
    int act_layers;     /* blocks whose activations fit: depth, or 1 (forward without backward) */
    size_t act_work;    /* floats of acts.attn_work (for the thread count when sized) */
    vdit_dit_acts acts;
    float *acts_mem;
    float *scratch_mem; /* backward's activation gradients */
    int *labels;        /* [act_B] labels of the last forward */
    float *out_tok;     /* [act_B][N][P_out] */
    int has_acts;       /* a forward has run and backward may follow */
    vdit_vae_id trained_on; /* the VAE of its latents (saved and loaded with the checkpoint) */
} vdit_dit;

/* One named tensor of the checkpoint: where it lives in the parameter memory. */
struct vdit_param_info {
    char name[96];
    int ndim;
    int64_t shape[5];
    size_t offset; /* in floats from params_mem */
    size_t numel;
};

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
/* The same output, bit for bit, without keeping what backward needs: every
 * block reuses the activation memory of one (one block's worth instead of
 * depth's), and backward is refused until the next vdit_dit_forward. For
 * sampling. */
int vdit_dit_forward_nograd(vdit_dit *m, const float *x, const float *t, const int *y, int B, float *out,
                            vdit_err *err);
/* Accumulates into m->grads the gradient of a loss whose gradient with
 * respect to the last forward's output is dout[B][T'][C_lat][H'][W']. */
int vdit_dit_backward(vdit_dit *m, const float *dout, vdit_err *err);
void vdit_dit_zero_grad(vdit_dit *m);
/* Writes the tensors at `mem` (m->params_mem, m->grads_mem or a copy of the
 * same layout, e.g. EMA weights) under the contract names, config (and
 * m->trained_on when set) in the metadata, atomically. */
int vdit_dit_save(const vdit_dit *m, const float *mem, const char *path, vdit_err *err);
/* Creates a model from a checkpoint: config from its metadata, every tensor
 * by name with its exact shape; a missing, extra or misshaped tensor is an
 * error naming it. */
int vdit_dit_load(vdit_dit *m, const char *path, vdit_err *err);
/* FLOPs of one forward for one sample (2 x multiply-adds of every matmul,
 * both attention products included). */
double vdit_dit_flops_per_sample(const vdit_dit_config *cfg);

/* ------------------------------------------------------------------------
 * The optimiser (lib/optim.c), shared by the DiT and the VAE trainers:
 * AdamW, gradient-norm clipping, the weights' EMA, the learning-rate
 * schedule, the training state on disk
 * ---------------------------------------------------------------------- */

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} vdit_adamw_config;

/* One step over n parameters: m, v are the moment buffers, step counts from 1.
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * ( mhat / (sqrt(vhat) + eps) + wd * p ) */
void vdit_adamw_step(float *params, const float *grads, float *m, float *v, size_t n, int step,
                     vdit_adamw_config c);
/* The global L2 norm of n gradients (summed in double, in order). */
double vdit_grad_norm(const float *grads, size_t n);
/* Scales the gradients by max_norm / norm when norm > max_norm > 0. */
void vdit_grad_clip(float *grads, size_t n, double norm, float max_norm);
/* ema = decay * ema + (1 - decay) * w, element by element. */
void vdit_ema_update(float *ema, const float *w, size_t n, float decay);

/* Linear warm-up to lr over `warmup` steps, then half a cosine down to
 * min_lr. The two trainers have always placed the cosine differently, and
 * a checkpoint must keep its bits (same seed, same threads), so the
 * convention is explicit:
 *   VDIT_LR_DIT  warm-up lr * (s+1) / warmup in float; the cosine runs over
 *                the steps after the warm-up, p = (s - warmup) / (steps -
 *                warmup - 1), and reaches min_lr at the last step.
 *   VDIT_LR_VAE  warm-up lr * (s+1) / warmup in double; the cosine runs over
 *                the whole run, warm-up included: p = s / steps, or the
 *                fraction of the time limit used when that is larger (a run
 *                bounded by minutes); p clamped to 1. */
typedef enum { VDIT_LR_DIT = 0, VDIT_LR_VAE = 1 } vdit_lr_convention;
typedef struct {
    float lr, min_lr;
    int warmup, steps;
    vdit_lr_convention convention;
} vdit_lr_schedule;
/* The learning rate of step s (0-based: the step about to be taken);
 * time_frac is used by VDIT_LR_VAE only (0 without a time limit). */
double vdit_lr_schedule_at(const vdit_lr_schedule *s, int step, double time_frac);

/* A training state in one safetensors file: each tensor of a model's
 * parameter table under the prefixes "weights.", "ema.", "adam_m.",
 * "adam_v." (a part whose buffer is NULL is left out), with metadata. */
#define VDIT_STATE_PARTS 4
int vdit_state_write(const char *path, const vdit_param_info *info, int n, const float *const mem[VDIT_STATE_PARTS],
                     const char *const *keys, const char *const *vals, int nmeta, vdit_err *err);
/* Checks every tensor a state of this table needs (by name and exact
 * shape, and no others) before copying any into the non-NULL buffers. */
int vdit_state_read(const vdit_st_file *f, const char *path, const vdit_param_info *info, int n,
                    float *const mem[VDIT_STATE_PARTS], vdit_err *err);

/* ------------------------------------------------------------------------
 * Diffusion: noising, training targets and samplers (model.md,
 * "Objectives and samplers").
 *   eps:  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, the model predicts
 *         eps; t an integer step 0..999, fed to the model as is.
 *   flow: x_t = (1 - t) x0 + t eps, the model predicts v = eps - x0;
 *         t in [0, 1], fed to the model as 1000 t.
 * Latent videos are [B][T][C][H][W]; `known` marks the frames given as
 * context, [B][T] bytes (1 = given).
 * ---------------------------------------------------------------------- */

#define VDIT_DDPM_STEPS 1000

typedef struct {
    vdit_objective objective;
    double abar[VDIT_DDPM_STEPS]; /* eps: alphas_cumprod of the linear beta schedule */
} vdit_diffusion;

void vdit_diffusion_init(vdit_diffusion *d, vdit_objective objective);

/* Model input x_in[B][T][2C+1][H][W] of the contract: the noisy latent, the
 * context latent (x0 on known frames, zero elsewhere), the mask. known may
 * be NULL (nothing known). */
/* Context noise augmentation (GameNGen): the context channel of each known
 * frame of x_in[B][T][2C+1][H][W] gets Gaussian noise of std sigma[b] (one
 * per video; 0: none), drawn from vdit_rng_at(seed, first + b) (first: the
 * batch's global index, so data-parallel shards draw what one process
 * would). A model trained so learns to continue imperfect context - its own
 * earlier frames in a rollout. */
void vdit_noise_context(float *x_in, const uint8_t *known, const float *sigma, uint64_t seed, uint64_t first, int B,
                        int T, int C, int H, int W);
void vdit_model_input(float *x_in, const float *x_t, const float *x0, const uint8_t *known, int B, int T, int C,
                      int H, int W);

/* A training batch: from clean x0 and noise eps [B][T][C][H][W] and each
 * sample's time tt[B] (eps: step 0..999; flow: t in [0,1]) builds the model
 * input x_in, the regression target (eps or v = eps - x0) and the value
 * t_model[B] fed to the timestep embedder. */
void vdit_training_batch(const vdit_diffusion *d, float *x_in, float *target, float *t_model, const float *x0,
                         const float *eps, const float *tt, const uint8_t *known, int B, int T, int C, int H, int W);

/* The loss of the contract: per sample, the mean squared error over the
 * elements of its non-context frames; then the mean over the batch
 * (divided by batch_total, so data-parallel shards add up to it).
 * Writes dloss/dpred to dout (may be NULL). */
double vdit_masked_mse(float *dout, const float *pred, const float *target, const uint8_t *known, int B,
                       int batch_total, int T, int C, int H, int W);

typedef enum { VDIT_SAMPLER_DDPM = 0, VDIT_SAMPLER_DDIM, VDIT_SAMPLER_EULER, VDIT_SAMPLER_HEUN } vdit_sampler;
const char *vdit_sampler_name(vdit_sampler s);
/* The sampler a model's objective gets unless told: ddim (eps), heun (flow). */
vdit_sampler vdit_sampler_default(vdit_objective objective);

typedef struct {
    vdit_sampler sampler;
    int steps;     /* S */
    float cfg;     /* guidance weight w; 1 = conditional branch only */
    uint64_t seed; /* initial noise and DDPM's noise */
    /* what guidance's unconditional branch drops: 0 the label (it keeps the
     * context frames), 1 the context frames (it keeps the label; the model
     * learnt it from the K = 0 draws of context_probs). With w > 1 the second
     * pushes a sample away from what the model would draw without the
     * context: against the pull of every motion toward the training mean. */
    int guide_context;
    /* std of the Gaussian noise the model sees on the known frames (0:
     * clean), for a model trained with context_noise; the result's known
     * frames stay the clean context */
    float context_noise;
} vdit_sample_config;

/* What a sampler calls: pred[B][T][C][H][W] from the model input
 * x_in[B][T][2C+1][H][W], t_model[B] and labels y[B]. */
typedef int (*vdit_denoiser)(void *ctx, const float *x_in, const float *t_model, const int *y, int B, float *pred,
                             vdit_err *err);

/* The shape and condition of a sampling call. */
typedef struct {
    int B, T, C, H, W;
    const float *context;  /* [B][T][C][H][W] clean latents, read on known frames; may be NULL */
    const uint8_t *known;  /* [B][T] 1 = given frame; NULL = none */
    const int *labels;     /* [B] conditional labels */
    int null_label;        /* the unconditional label for guidance */
} vdit_sample_job;

/* Generates job.B videos [B][T][C][H][W] into out, from pure noise to data
 * with the sampler of sc; the known frames of the result are replaced by
 * the clean context. Deterministic in (seed, inputs). */
int vdit_sample_with(vdit_denoiser f, void *ctx, const vdit_diffusion *d, const vdit_sample_config *sc,
                     const vdit_sample_job *job, float *out, vdit_err *err);
/* The same with a DiT as the denoiser (checks the job fits its config). */
int vdit_sample_dit(vdit_dit *m, const vdit_sample_config *sc, const vdit_sample_job *job, float *out,
                    vdit_err *err);

/* ------------------------------------------------------------------------
 * Training: one struct for the settings, one for the state (weights, EMA,
 * AdamW moments, step). All randomness of step s (times, noise, context
 * lengths, label dropout) is drawn from (seed, s, sample index), so a
 * resumed run repeats an uninterrupted one bit for bit, and data-parallel
 * shards draw exactly what one process would.
 * ---------------------------------------------------------------------- */

#define VDIT_MAX_CONTEXT 16
enum { VDIT_MASK_PREFIX = 0, VDIT_MASK_SUFFIX, VDIT_MASK_ENDS, VDIT_MASK_GAP, VDIT_NMASK_TASKS };
/* The known mask known[T] of a masked task with K known frames (above). */
void vdit_mask_task(uint8_t *known, int T, int K, int task);

typedef enum { VDIT_TIME_UNIFORM = 0, VDIT_TIME_LOGIT_NORMAL = 1 } vdit_time_sampling;

typedef struct {
    int batch;             /* global batch (all processes together) */
    int steps;             /* total optimiser steps */
    int warmup;            /* linear warm-up steps, then cosine decay to min_lr */
    float lr, min_lr;
    float weight_decay, beta1, beta2, adam_eps;
    float grad_clip;       /* global norm; 0 = off */
    float ema_decay;
    float label_dropout;   /* probability of the null label (for guidance) */
    int context_frames;    /* K_max latent frames of context */
    float context_probs[VDIT_MAX_CONTEXT + 1]; /* P(K = k), k = 0..K_max */
    vdit_time_sampling time_sampling; /* flow only */
    uint64_t seed;
    /* context noise augmentation: each sample's known frames get Gaussian
     * noise of a std drawn uniformly in [0, context_noise] (0: off) */
    float context_noise;
    /* which frames the K known ones are (Sora's masked tasks), P of each:
     * VDIT_MASK_PREFIX the first K (continue; the default, 1), SUFFIX the
     * last K (extend backward), ENDS the first ceil(K/2) and the last
     * floor(K/2) (interpolate), GAP all but the middle half (fill; K = 0
     * still knows nothing) */
    float mask_tasks[VDIT_NMASK_TASKS];
} vdit_train_config;

/* Fills the defaults (batch 16, 2000 steps, lr 3e-4 with 100 warm-up steps
 * and cosine to 3e-5, AdamW (0.9, 0.999, 1e-8), weight decay 0, clip 1,
 * EMA 0.999, label dropout 0.1, 3 context frames with P(K) = 0.1, 0.1, 0.1,
 * 0.7, uniform times, seed 0). */
void vdit_train_config_default(vdit_train_config *c);
int vdit_train_config_check(const vdit_train_config *c, vdit_err *err);
/* Learning rate at step s (0-based). */
float vdit_lr_at(const vdit_train_config *c, int step);

typedef struct {
    vdit_dit model; /* weights and gradients */
    vdit_diffusion diffusion;
    vdit_train_config cfg;
    float *ema, *adam_m, *adam_v; /* [num_params] each, one allocation */
    int step;                     /* optimiser steps taken */
    /* batch buffers, sized for the local batch */
    int local_B;
    float *eps, *x_in, *target, *pred, *dout, *tt, *t_model, *sigma;
    int *labels;
    uint8_t *known;
} vdit_trainer;

/* Sums n floats across processes in place (data-parallel); NULL alone. */
typedef int (*vdit_allreduce)(float *buf, size_t n, void *ctx);

/* A new trainer around a freshly initialised model (seed cfg.seed). local_B
 * is this process's share of the global batch. */
int vdit_trainer_create(vdit_trainer *tr, const vdit_dit_config *mc, const vdit_train_config *tc, int local_B,
                        vdit_err *err);
void vdit_trainer_free(vdit_trainer *tr);
/* One optimiser step on this process's clean latents x0[local_B][T][C][H][W]
 * with labels[local_B], samples first .. first+local_B-1 of the global batch.
 * Returns the global batch's loss and gradient norm (before clipping). A
 * non-finite loss or gradient leaves the weights untouched and fails. */
int vdit_trainer_step(vdit_trainer *tr, const float *x0, const int *labels, int first, vdit_allreduce reduce,
                      void *reduce_ctx, double *loss, double *grad_norm, vdit_err *err);
/* The EMA weights as a checkpoint (model.md names) and the full training
 * state (weights, EMA, moments, step, settings) as a second file. */
int vdit_trainer_save(const vdit_trainer *tr, const char *model_path, const char *state_path, vdit_err *err);
/* Restores a state written by vdit_trainer_save into a trainer created with
 * the same model config; mismatches are errors naming the file. */
int vdit_trainer_load_state(vdit_trainer *tr, const char *state_path, vdit_err *err);

/* A whole training run in a run directory (written by rank 0):
 *   RUN/config.ini    config_text, the caller's resolved settings
 *   RUN/log.csv       step,loss,lr,grad_norm,time (every log_every steps, the first and the last)
 *   RUN/model.safetensors   the EMA weights of the last checkpoint
 *   RUN/checkpoints/step-NNNNNNNN.safetensors   full states, the last keep_checkpoints kept
 * Sample g of the global batch of step s is video perm_e[g mod N] of a
 * Fisher-Yates shuffle per epoch e = (s batch + g) / N drawn from (seed, e).
 * A resumed run (its config.ini must equal config_text) continues from the
 * last state and ends bit-identical to one never stopped; a run killed
 * before its config.ini was written starts afresh. */
typedef enum { VDIT_TRAIN_STARTED, VDIT_TRAIN_STEP, VDIT_TRAIN_DONE } vdit_train_event_kind;
typedef struct {
    vdit_train_event_kind kind;
    int step;          /* optimiser steps taken (STARTED: where the run starts) */
    int resumed;       /* continuing a run from its last state */
    size_t num_params;
    double loss, grad_norm; /* of the last step (STEP, DONE) */
} vdit_train_event;

typedef struct {
    const char *run_dir;
    int resume;                   /* continue run_dir (see vdit_train_run_check) */
    const char *config_text;      /* written to RUN/config.ini */
    int checkpoint_every, keep_checkpoints, log_every;
    int rank, nproc;              /* data-parallel: this process of nproc (0 of 1 alone) */
    vdit_allreduce reduce;        /* sums across processes; NULL alone */
    void *reduce_ctx;
    /* STARTED and DONE on every process, STEP on rank 0; may be NULL */
    void (*event)(void *ctx, const vdit_train_event *e);
    void *event_ctx;
    const vdit_vae_id *vae;       /* the VAE of x, recorded in the model's checkpoints; NULL: pixels */
} vdit_train_run_options;

/* Before any data is loaded: an error when run_dir exists and resume is
 * off, or resume is on and it does not exist. */
int vdit_train_run_check(const char *run_dir, int resume, vdit_err *err);
/* Trains a new model (mc, initialised from tc.seed) on the latent videos
 * x[N][T][C][H][W] (the grid of mc) with labels[N] (NULL when mc has no
 * classes) for tc.steps steps, as described above. */
int vdit_train_run(const vdit_dit_config *mc, const vdit_train_config *tc, const float *x, const int *labels, int N,
                   const vdit_train_run_options *o, vdit_err *err);

/* ------------------------------------------------------------------------
 * The video VAE (lib/vae.c; its layers are lib/conv.c's)
 * ---------------------------------------------------------------------- */


/* The VAE (Stable Diffusion's autoencoder, small, without attention):
 *   encoder: conv_in 3x3 -> per level i: res_blocks residual blocks
 *            (GroupNorm, SiLU, conv 3x3, GroupNorm, SiLU, conv 3x3, + skip)
 *            to channels[i], then a stride-2 conv (except the last level)
 *            -> [temporal 2: causal conv3d, stride 2 in time] -> mid blocks
 *            -> GroupNorm, SiLU, conv_out 3x3 to 2*C_lat (mean, logvar)
 *   decoder: the mirror image, nearest 2x upsampling + conv 3x3 per level,
 *            [temporal 2: repeat frames twice + causal conv3d].
 * With temporal 1 every frame is an image; with temporal 2 the mid blocks
 * and the temporal layers are causal conv3d (kernel 3 in time, pads only the
 * past), GroupNorm stays per frame, and latent frame t' encodes frames 2t',
 * 2t'+1 from those frames and earlier ones only.
 * Pixels x[B][T][3][H][W] in [-1, 1]; latents z[B][T'][C_lat][H'][W'] with
 * T' = T / temporal, H' = H / downsample (model.md's latent layout). */
#define VDIT_VAE_MAX_LEVELS 4 /* downsample 8 */
#define VDIT_VAE_MAX_BLOCKS 4
#define VDIT_VAE_MAX_MID 4
typedef enum { VDIT_RECON_L1 = 0, VDIT_RECON_MSE = 1 } vdit_recon_loss;

typedef struct {
    int channels[VDIT_VAE_MAX_LEVELS]; /* width of each level; levels = log2(downsample) + 1 */
    int res_blocks;                    /* residual blocks per level, 1..VDIT_VAE_MAX_BLOCKS */
    int mid_blocks;                    /* 0..VDIT_VAE_MAX_MID */
    int downsample;                    /* spatial factor: 2, 4 or 8 */
    int temporal;                      /* temporal factor: 1, or 2 (causal) */
    int latent_channels;               /* C_lat */
    int groups;                        /* GroupNorm groups; divides every width */
} vdit_vae_config;

/* Defaults: channels 32,64,64, 1 block per level, 1 mid block, downsample
 * 4, temporal 1, 4 latent channels, 8 groups. */
void vdit_vae_config_default(vdit_vae_config *c);
int vdit_vae_levels(const vdit_vae_config *c);
int vdit_vae_config_check(const vdit_vae_config *c, vdit_err *err);
char *vdit_vae_config_to_json(const vdit_vae_config *c); /* malloc'ed */
int vdit_vae_config_from_json(vdit_vae_config *c, const char *json, const char *what, vdit_err *err);

/* One conv layer's or norm's tensors; w NULL where a layer is absent. */
typedef struct {
    float *w, *b; /* conv: w [OC][IC][KH][KW] or [OC][IC][KT][KH][KW], b [OC]; norm: gamma [C], beta [C] */
} vdit_vae_layer;
typedef struct {
    vdit_vae_layer norm1, conv1, norm2, conv2;
    vdit_vae_layer shortcut; /* 1x1 conv where the width changes, else w NULL */
} vdit_vae_block;

/* Parameters: one allocation, this struct a table of pointers into it.
 * Gradients reuse the struct. Level i of the decoder is the level of the
 * same resolution as encoder level i (run in reverse order). */
typedef struct {
    vdit_vae_layer enc_conv_in;
    vdit_vae_block enc_block[VDIT_VAE_MAX_LEVELS][VDIT_VAE_MAX_BLOCKS];
    vdit_vae_layer enc_down[VDIT_VAE_MAX_LEVELS]; /* stride-2 conv after level i < levels-1 */
    vdit_vae_layer enc_time_down;                 /* temporal 2 only */
    vdit_vae_block enc_mid[VDIT_VAE_MAX_MID];
    vdit_vae_layer enc_norm_out, enc_conv_out;
    vdit_vae_layer dec_conv_in;
    vdit_vae_block dec_mid[VDIT_VAE_MAX_MID];
    vdit_vae_layer dec_time_up; /* temporal 2 only */
    vdit_vae_block dec_block[VDIT_VAE_MAX_LEVELS][VDIT_VAE_MAX_BLOCKS];
    vdit_vae_layer dec_up[VDIT_VAE_MAX_LEVELS]; /* upsample + conv before level i-1, i > 0 */
    vdit_vae_layer dec_norm_out, dec_conv_out;
} vdit_vae_params;

/* What a residual block's backward needs, for its batch. */
typedef struct {
    float *h1, *mean1, *rstd1, *a1; /* norm1 output, its statistics, SiLU of it */
    float *c1;                      /* conv1 output */
    float *h2, *mean2, *rstd2, *a2;
    float *out; /* skip + conv2 output */
} vdit_vae_block_acts;

/* Activations of one forward pass, for its batch: one allocation, this
 * struct a table of pointers into it (n frames, n' latent frames). */
typedef struct {
    float *x;      /* [n][3][H][W] input */
    float *enc_in; /* conv_in output */
    vdit_vae_block_acts enc_block[VDIT_VAE_MAX_LEVELS][VDIT_VAE_MAX_BLOCKS];
    float *enc_down[VDIT_VAE_MAX_LEVELS];
    float *enc_tdown;
    vdit_vae_block_acts enc_mid[VDIT_VAE_MAX_MID];
    float *enc_hn, *enc_mean_n, *enc_rstd_n, *enc_an; /* norm_out, SiLU */
    float *moments;                                   /* [n'][2 C_lat][H'][W'] mean, then logvar */
    float *eps;                                       /* [n'][C_lat][H'][W'] the reparameterisation noise */
    float *z;                                         /* [n'][C_lat][H'][W'] sample (or mean) */
    float *dec_in;
    vdit_vae_block_acts dec_mid[VDIT_VAE_MAX_MID];
    float *dec_trep, *dec_tup; /* frames repeated, causal conv3d */
    vdit_vae_block_acts dec_block[VDIT_VAE_MAX_LEVELS][VDIT_VAE_MAX_BLOCKS];
    float *dec_rep[VDIT_VAE_MAX_LEVELS], *dec_up[VDIT_VAE_MAX_LEVELS]; /* upsampled, conv */
    float *dec_hn, *dec_mean_n, *dec_rstd_n, *dec_an;
    float *xrec; /* [n][3][H][W] reconstruction */
    float *work; /* the layers' scratch: the most any conv or GroupNorm asks for (vdit_*_scratch) */
} vdit_vae_acts;

typedef struct {
    vdit_recon_loss recon;
    float kl_weight; /* loss = recon + kl_weight * KL, both means per element */
    int sample;      /* 1: z = mean + exp(logvar/2) * eps (training); 0: z = mean */
    uint64_t seed;   /* eps element i = normal from (seed, i) (counter-based) */
} vdit_vae_loss_config;
/* The default KL weight. Both terms are means per element (recon over the
 * pixels, KL over the latent elements), so 1e-6 here is SD's weight in
 * SD's per-sum units scaled to these: small, so the latent is close to an
 * autoencoder's and the reconstructions sharp; the scale factor then takes
 * the latent to unit variance for the DiT. */
#define VDIT_VAE_KL_WEIGHT 1e-6f

typedef struct {
    double loss, recon, kl; /* recon: mean |x - xrec| or (x - xrec)^2; kl: mean per latent element */
} vdit_vae_losses;
/* The residual xrec - x counts as 0 where x is at the end of the range (-1
 * or 1) and xrec overshoots it: the reconstruction is used clamped to
 * [-1, 1], and what clamping removes costs nothing. */

typedef struct {
    vdit_vae_config cfg;
    int levels;
    float scale_factor; /* latents = mean * scale_factor (1 until computed) */
    vdit_vae_params params, grads;
    float *params_mem, *grads_mem;
    size_t num_params;
    /* activations for the shape of the last forward, grown on demand */
    int act_B, act_T, act_H, act_W;
    size_t acts_cap, scratch_cap; /* floats */
    vdit_vae_acts acts;
    float *acts_mem;
    float *scratch_mem; /* backward's activation gradients: 4 buffers of the largest activation */
    size_t max_act;     /* floats of the largest activation */
    vdit_vae_loss_config lcfg; /* of the last forward */
    int has_acts;
    vdit_vae_id id; /* set by vdit_vae_load */
} vdit_vae;

int vdit_vae_create(vdit_vae *m, const vdit_vae_config *cfg, vdit_err *err);
void vdit_vae_free(vdit_vae *m);
/* PyTorch's default conv init (uniform +-1/sqrt(fan_in) for weight and
 * bias) except the last conv of each residual block, zero (the block starts
 * as the identity); GroupNorm gamma 1, beta 0; from the seeded generator. */
void vdit_vae_init_weights(vdit_vae *m, uint64_t seed);
void vdit_vae_zero_grad(vdit_vae *m);
/* Fills up to cap entries of the checkpoint's tensors (names "encoder.*",
 * "decoder.*") and returns how many there are (info NULL to count). */
int vdit_vae_param_table(const vdit_vae *m, vdit_param_info *info, int cap);

/* Checks that B videos of T frames of H x W fit the model (T divisible by
 * temporal, H and W by downsample, sizes within bounds). */
int vdit_vae_check_shape(const vdit_vae *m, int B, int T, int H, int W, vdit_err *err);
/* Training forward: x[B][T][3][H][W] -> encoder -> z -> decoder -> loss.
 * Keeps what backward needs; xrec in m->acts.xrec. */
int vdit_vae_forward(vdit_vae *m, const float *x, int B, int T, int H, int W, vdit_vae_loss_config lc,
                     vdit_vae_losses *out, vdit_err *err);
/* Accumulates into m->grads the gradient of the last forward's loss. */
int vdit_vae_backward(vdit_vae *m, vdit_err *err);
/* Encoder only: mean and logvar [B][T'][C_lat][H'][W'] (logvar may be NULL). */
int vdit_vae_encode_moments(vdit_vae *m, const float *x, int B, int T, int H, int W, float *mean, float *logvar,
                            vdit_err *err);
/* The DiT's latents: z = mean * scale_factor. */
int vdit_vae_encode(vdit_vae *m, const float *x, int B, int T, int H, int W, float *z, vdit_err *err);
/* Decoder: z[B][T'][C_lat][H'][W'] (scaled latents; divided by scale_factor
 * first) -> x[B][T'*temporal][3][H'*ds][W'*ds]. */
int vdit_vae_decode(vdit_vae *m, const float *z, int B, int Tl, int Hl, int Wl, float *x, vdit_err *err);
/* The same over B videos in chunks of vdit_vae_chunk_videos videos per
 * call (about 256 frames of 32x32: bounds the saved activations). */
int vdit_vae_chunk_videos(int T, int H, int W);
int vdit_vae_encode_all(vdit_vae *m, const float *x, int B, int T, int H, int W, float *z, vdit_err *err);
int vdit_vae_decode_all(vdit_vae *m, const float *z, int B, int Tl, int Hl, int Wl, float *x, vdit_err *err);
/* Sets scale_factor = 1 / std of the encoder's means over the frames x
 * (every element of [B][T'][C_lat][H'][W'] pooled), so the DiT's latents
 * have unit variance. */
int vdit_vae_fit_scale(vdit_vae *m, const float *x, int B, int T, int H, int W, vdit_err *err);
/* FLOPs of one forward pass (encoder + decoder) over a video of T frames of
 * H x W: 2 x the multiply-adds of every conv (GroupNorm, SiLU and the
 * resampling are not counted); encoder / decoder shares (may be NULL). A
 * training step costs about 3 x this. */
double vdit_vae_flops(const vdit_vae_config *c, int T, int H, int W, double *encoder, double *decoder);
/* Writes the parameters at mem (params_mem or a copy) with the config,
 * scale factor and `extra_json` (may be NULL; e.g. the training settings)
 * in __metadata__ ("format" "vdit-vae", "config", "scale_factor", "train"). */
int vdit_vae_save(const vdit_vae *m, const float *mem, const char *path, const char *extra_json, vdit_err *err);
/* Loads a checkpoint written by vdit_vae_save; anything else (another
 * format, a bad config or scale factor, a missing, extra or misshaped
 * tensor) is rejected with an error naming the file and the mismatch. */
int vdit_vae_load(vdit_vae *m, const char *path, vdit_err *err);

/* ========================================================================
 * VAE training (lib/vae_train.c): the trainer as a library, mirroring the
 * DiT's (settings, state, create, step, save / load of a resumable state).
 * Every draw of step s (the clips of the batch, the KL noise) comes from
 * (seed, s), so the state on disk (weights, EMA, AdamW moments, step, the
 * log so far) is all a resumed run needs to repeat an uninterrupted one bit
 * for bit (same seed, same threads; a run bounded by steps, not minutes).
 * ======================================================================== */

typedef struct {
    vdit_recon_loss recon;
    float kl_weight;         /* loss = recon + kl_weight * KL (means per element) */
    float lr, min_lr;        /* VDIT_LR_VAE schedule */
    int warmup;
    float weight_decay, beta1, beta2;
    float grad_clip;         /* global norm; 0 = off */
    float ema_decay;         /* 0 = off; else the checkpoint holds the EMA weights */
    int batch;               /* clips per step */
    int clip_frames;         /* frames per clip, a multiple of the model's temporal */
    int steps;               /* 0: no step limit */
    float minutes;           /* 0: no time limit */
    uint64_t seed;
    float val_split;         /* fraction of the videos held out for validation */
    int log_interval;        /* a log row every log_interval steps */
    int val_interval;        /* validation every val_interval steps (0: only at the end) */
} vdit_vae_train_config;

/* Fills the defaults (L1, KL weight 1e-6, lr 1e-3 with 100 warm-up steps
 * and cosine to 5e-5, AdamW (0.9, 0.999), clip 1, no EMA, batch 4, 2400
 * steps, seed 1, 5% held out, a log row every 10 steps, validation every
 * 500); clip_frames 0: the caller picks it for its model. */
void vdit_vae_train_config_default(vdit_vae_train_config *c);
/* Checks the settings (and clip_frames against the model's temporal); the
 * message names the INI section, e.g. "[train] min_lr 1 is above lr 0.1". */
int vdit_vae_train_config_check(const vdit_vae_train_config *c, const vdit_vae_config *mc, vdit_err *err);

typedef struct {
    vdit_vae model; /* weights and gradients */
    vdit_vae_train_config cfg;
    /* the videos, uint8 [count][T][S][S][3], not owned */
    const uint8_t *videos;
    int count, T, S;
    int *order;                   /* a seeded shuffle of the videos: the first nval held out */
    int nval, ntr;
    float *adam_m, *adam_v, *ema; /* [num_params] each, one allocation; ema NULL when off */
    float *x, *video;             /* the batch [batch][clip][3][S][S]; one video [T][3][S][S] */
    int step;                     /* optimiser steps taken */
    double lr;                    /* of the last step */
    double seconds;               /* the run's time when last told (resumed runs go on from it) */
    double acc_loss, acc_recon, acc_kl; /* summed since the last log row */
    int nacc;
    double row_loss, row_recon, row_kl; /* the last log row's means */
    double val_psnr;              /* the last validation's PSNR (NAN before one) */
    vdit_strbuf log;              /* the CSV so far: step,loss,recon,kl,lr,time,val_mse,val_psnr */
} vdit_vae_trainer;

/* A trainer around a fresh model (weights from cfg seed) for videos of T
 * frames of S x S; the held-out videos are drawn here. */
int vdit_vae_trainer_create(vdit_vae_trainer *tr, const vdit_vae_config *mc, const vdit_vae_train_config *tc,
                            const uint8_t *videos, int count, int T, int S, vdit_err *err);
void vdit_vae_trainer_free(vdit_vae_trainer *tr);
/* Whether the run is over after `seconds` of it (steps or time limit). */
int vdit_vae_trainer_done(const vdit_vae_trainer *tr, double seconds);
/* One optimiser step; `seconds` into the run (for a time-limited run's
 * schedule). A non-finite loss fails, naming the step. */
int vdit_vae_trainer_step(vdit_vae_trainer *tr, double seconds, vdit_vae_losses *losses, vdit_err *err);
/* After a step: validates when due and appends a log row when due.
 * Returns 1 when it validated (the log is worth writing out), 0 when not,
 * -1 on error. */
int vdit_vae_trainer_log(vdit_vae_trainer *tr, double seconds, vdit_err *err);
/* Reconstruction MSE (z = the mean; the EMA weights when on) over up to 512
 * clips of the held-out videos, on [-1, 1] pixels. */
int vdit_vae_trainer_validate(vdit_vae_trainer *tr, double *mse, vdit_err *err);
/* Ends the run: the weights become the EMA's (when on), a last validation
 * row is logged (*mse NAN when nothing is held out), and the scale factor
 * is fitted on up to 512 training clips. The model is then the checkpoint. */
int vdit_vae_trainer_finish(vdit_vae_trainer *tr, double seconds, double *mse, vdit_err *err);
/* The full training state (weights, EMA, moments, step, time, log so far,
 * configs) in one safetensors file, and back into a trainer created with
 * the same configs and videos; mismatches are errors naming the file. */
int vdit_vae_trainer_save_state(const vdit_vae_trainer *tr, const char *path, vdit_err *err);
int vdit_vae_trainer_load_state(vdit_vae_trainer *tr, const char *path, vdit_err *err);
/* PSNR in dB of an MSE of [-1, 1] pixels (peak to peak 2); 99 for 0. */
double vdit_psnr_pm1(double mse);

/* ------------------------------------------------------------------------
 * The pipeline (lib/pipeline.c): videos in, videos out. Encode with the VAE
 * (when the DiT works on latents), sample with the DiT given the known
 * frames, decode. Continuation is the mask of the first K latent frames;
 * any other mask (fill in the middle, extend from the last frames) runs
 * the same way, as the sampler conditions on an arbitrary known[N][T].
 *
 * Videos are uint8 [N][F][S][S][3]; latents [N][T][C][H][W] with
 * T = F / temporal, H = W = S / downsample (without a VAE: the video in
 * [-1, 1] as [N][F][3][S][S]); masks known[N][T] are per latent frame.
 * Videos go p->batch at a time; chunk b0 (videos b0 .. b0+batch-1) is
 * sampled with the seed vdit_rng_at(sample.seed, b0). No file I/O.
 * ---------------------------------------------------------------------- */

typedef struct {
    vdit_dit *dit;             /* the denoiser */
    vdit_vae *vae;             /* NULL: the DiT works on pixels */
    vdit_sample_config sample; /* sampler, steps, guidance, seed */
    int batch;                 /* videos per model call */
    /* called after each chunk with the videos done of N; may be NULL */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} vdit_pipeline;

/* The DiT loaded from dit_path may run with vae (NULL: none): an error
 * naming both files when the DiT records the VAE it was trained on and vae
 * is another (another crc32) or absent, unless force. A DiT without the
 * record (pixels, or older checkpoints) runs with any. */
int vdit_pipeline_check_vae(const vdit_dit *dit, const char *dit_path, const vdit_vae *vae, int force, vdit_err *err);
/* The latent shape [T][C][H][H] of videos of F frames at S x S; an error
 * when they do not fit the VAE or the DiT's grid, or the VAE the DiT. */
int vdit_pipeline_shape(const vdit_pipeline *p, int F, int S, int *T, int *C, int *H, vdit_err *err);
/* videos[N][F][S][S][3] -> z[N][T][C][H][W] (the DiT's latents; dit may
 * be NULL: the VAE's latents, or without a VAE the videos in [-1, 1]). */
int vdit_pipeline_encode(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, float *z, vdit_err *err);
/* z[N][T][C][H][W] on the DiT's grid -> videos[N][F][S][S][3]. */
int vdit_pipeline_decode(const vdit_pipeline *p, const float *z, int N, uint8_t *videos, vdit_err *err);
/* Generates out[N][F][S][S][3]: the latent frames marked in known[N][T]
 * are those of videos[N][F][S][S][3] (encoded), the others are sampled,
 * conditioned on labels[N] (0..num_classes, num_classes the null label;
 * NULL: all null). videos may be NULL when nothing is known (known NULL
 * or all zero): unconditional generation. latents (may be NULL) receives
 * the sampled z[N][T][C][H][W], whose known frames are the encoded
 * context bit for bit. */
int vdit_pipeline_continue(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, const uint8_t *known,
                           const int *labels, uint8_t *out, float *latents, vdit_err *err);
/* A rollout (benchmark.md metric 8): continues videos[N][F][S][S][3] (F the
 * DiT's window) to `frames` frames by the model's own sliding window.
 * Window 0 knows the first `context` latent frames of each video and is
 * sampled exactly as vdit_pipeline_continue samples it; window w knows the
 * last `context` latent frames window w-1 sampled (its latents, never
 * decoded and encoded again), samples the T - context after them with the
 * seed vdit_rng_at(vdit_rng_at(seed, b0), w), and so on until frames / tf
 * latent frames. out[N][frames][S][S][3], decoded a window of T latent
 * frames at a time; latents (may be NULL) [N][frames/tf][C][H][W]. The
 * progress callback counts windows: (done, N * windows). */
int vdit_pipeline_rollout(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, int context, int frames,
                          const int *labels, uint8_t *out, float *latents, vdit_err *err);
/* The windows a rollout of `frames` frames from `context` known latent
 * frames takes; an error when frames is shorter than the window (or not a
 * multiple of the VAE's temporal factor) or context is not in 1..T-1. */
int vdit_pipeline_rollout_windows(const vdit_pipeline *p, int frames, int context, int *windows, vdit_err *err);

/* ------------------------------------------------------------------------
 * Settings files (lib/settings.c, train_settings.c, vae_settings.c): the
 * INI files of `vdit train --config` and `vdit vae train --config`, read
 * with inih through a table of keys (one per setting, with its section,
 * type and range), so a notebook or another front end loads a training
 * config as the command line does. Comments are whole lines starting with ;
 * or #, or "; ..." after a blank; an indented line continues the key above;
 * a key repeated in its section is an error naming FILE:LINE; lines may be of any length. Unknown
 * sections or keys and bad values are refused: the message names the file
 * and the line ("FILE:LINE: [train] lr = 'x' must be a finite number"), or
 * the file alone for a check across keys.
 * ---------------------------------------------------------------------- */

/* One key of an INI file. */
typedef struct {
    char *section, *name, *value;
    int line; /* of the value */
} vdit_ini_entry;

/* The keys of the INI file at `path` as the settings loaders read it (a
 * key repeated in its section is refused, naming FILE:LINE); the keys of
 * a section together, sections in the order they first appear (a section
 * without keys is not listed). *entries is malloc'ed, *n entries
 * (vdit_ini_entries_free). A tab in a section or key name is refused. */
int vdit_ini_resolve(const char *path, vdit_ini_entry **entries, int *n, vdit_err *err);
void vdit_ini_entries_free(vdit_ini_entry *entries, int n);

/* The DiT's training settings: [model] (size: a preset name, then the keys
 * after it override its values), [train], [data]. */
typedef struct {
    vdit_dit_config model;  /* the latent grid, channels and classes: set from the data */
    vdit_train_config train;
    int checkpoint_every, keep_checkpoints, log_every;
    int use_labels; /* condition on the scenario label */
    int count;      /* use the first `count` videos (0: all) */
    char context_probs_text[256];
    char size[64]; /* a registry name (VDiT-S/2), or "" */
} vdit_train_settings;

/* The defaults (hidden 128, depth 4, heads 4, patch 1,2,2, space-time
 * attention, flow; vdit_train_config_default; a checkpoint every 500
 * steps, 3 kept, a log row every 10; labels on; context_probs
 * 0.1,0.1,0.1,0.7), then the file at `path`, then the checks across keys
 * (context_probs against context_frames, vdit_train_config_check). */
int vdit_train_settings_load(vdit_train_settings *s, const char *path, vdit_err *err);
/* Every key with its resolved value (malloc'ed; NULL when out of memory),
 * so a run directory's config.ini says exactly what ran; the header names
 * the data, the VAE (NULL: pixels) and the latent grid. */
char *vdit_train_settings_text(const vdit_train_settings *s, const char *data, const char *vae);

/* The VAE's training settings: [model], [loss], [train], [data]. */
typedef struct {
    vdit_vae_config model;
    vdit_vae_train_config train;
    int checkpoint_every; /* a training state every N steps and at the last (0: none) */
    int count;            /* use the first `count` videos (0: all) */
    char channels_text[64];
} vdit_vae_settings;

/* The defaults (the library's, [model] channels 32,64,64; clip_frames 0;
 * a training state every 500 steps). */
void vdit_vae_settings_default(vdit_vae_settings *s);
/* The defaults, then the file at `path`, then vdit_vae_config_check and
 * vdit_vae_train_config_check; clip_frames 0 becomes 1 (temporal 1) or 8. */
int vdit_vae_settings_load(vdit_vae_settings *s, const char *path, vdit_err *err);
/* The settings as the JSON kept in the checkpoint's metadata ("train"),
 * with the run's data, frame size, steps, time and validation PSNR
 * (malloc'ed; NULL when out of memory). */
char *vdit_vae_settings_json(const vdit_vae_settings *s, const char *data, int size, int steps, double seconds,
                             double val_psnr);

/* ------------------------------------------------------------------------
 * Pictures (lib/image.c): PNG (libpng), animated GIF (giflib), contact
 * sheets. Frames are uint8 RGB, row 0 at the top. Files are written
 * atomically.
 * ---------------------------------------------------------------------- */

/* One image rgb[H][W][3]. */
int vdit_png_write(const char *path, const uint8_t *rgb, int H, int W, vdit_err *err);
/* An animated GIF of frames[T][H][W][3], delay_cs hundredths of a second
 * per frame, looping forever; one fixed palette (the 6x6x6 cube plus ramps
 * from white to red, blue and grey), so red, blue, white and grey 128 are
 * exact. */
int vdit_gif_write(const char *path, const uint8_t *frames, int T, int H, int W, int delay_cs, vdit_err *err);
/* Lays frames[R][T][H][W][3] out as R rows of T frames, each upscaled by
 * `scale` (nearest neighbour), with `gap` white pixels around and between:
 * *out is malloc'ed [outH][outW][3], outH = gap + R*(H*scale + gap),
 * outW = gap + T*(W*scale + gap). Returns -1 on bad sizes or no memory. */
int vdit_contact_sheet(uint8_t **out, int *outH, int *outW, const uint8_t *frames, int R, int T, int H, int W,
                       int scale, int gap);

/* ------------------------------------------------------------------------
 * Reliability (issue 9): sizes known before anything is allocated
 * ---------------------------------------------------------------------- */

/* The parameter count a DiT config needs (0 for a config that fails its
 * check), without allocating: what a caller can weigh before vdit_dit_create
 * (the safetensors fuzz target builds a trainer only when the input is big
 * enough to hold one). The checkpoint loaders go further and check every
 * tensor's shape against the config before allocating. */
size_t vdit_dit_num_params(const vdit_dit_config *cfg);

/* ------------------------------------------------------------------------
 * Benchmarks (bench.c): what `vdit bench` times
 * ---------------------------------------------------------------------- */

/* Seconds on the monotonic clock. */
double vdit_seconds(void);
/* The kernel set OpenBLAS chose at load time (e.g. "Cooperlake"). */
const char *vdit_blas_core(void);
/* The OPENBLAS_CORETYPE this CPU should run (e.g. "COOPERLAKE") when OpenBLAS
 * fell back to generic pre-AVX kernels because it does not know the CPU
 * model; NULL when its choice is fine. OpenBLAS reads the variable only when
 * it loads, so a program acts on it by setting it and starting again (main.c). */
const char *vdit_blas_better_core(void);
/* The median of v[n] (sorts v). */
double vdit_median(double *v, int n);
/* ms[steps]: the milliseconds of each training step (forward, backward,
 * AdamW) of a model of config mc after one warm-up step, on B random videos
 * with random context masks; *flops of one step (backward = 2 x forward). */
int vdit_bench_train(const vdit_dit_config *mc, int B, int steps, double *ms, double *flops, vdit_err *err);
/* The same for one sampler step with guidance (two model calls per video),
 * 3 frames known; *flops of one step. */
int vdit_bench_sample(const vdit_dit_config *mc, int B, int steps, double *ms, double *flops, vdit_err *err);
/* One round of a DiT block's linear layers on M token rows (qkv D -> 3D,
 * proj D -> D, fc1 D -> 4D, fc2 4D -> D) as the kernels call sgemm: the
 * forward out = inp w^T and, with train, dinp += dout w and dw += dout^T
 * inp; returns the round's FLOPs. inp, dinp, out, dout: [M][4D]; w, dw:
 * [4D][4D]. */
double vdit_bench_sgemm_round(int M, int D, int train, float *inp, float *dinp, float *out, float *dout, float *w,
                              float *dw);

#ifdef __cplusplus
}
#endif

#endif /* VDIT_H */
