/* datasets.h - physics videos from a real engine (Chipmunk2D), rendered,
 * stored with their ground truth (datasets/FORMAT.md), and read back.
 *
 * The scenarios, world and splits are those of shared/design/benchmark.md,
 * which follows phyworld (Kang et al. 2024): a 10 x 10 world, y up, physics
 * step 0.01 s, a frame every 10 steps, perfectly elastic balls with mass
 * proportional to r^2. The choices benchmark.md leaves open are written in
 * datasets/FORMAT.md ("How the videos are made").
 *
 *   scene     = scenario + parameters + initial conditions, drawn from a seed
 *   simulate  = Chipmunk2D, T frames of states [T][2][5] (x, y, vx, vy, r)
 *   render    = anti-aliased RGB frames [T][S][S][3], row 0 at the top
 *   dataset   = DIR/data.npz + DIR/meta.json, written whole or not at all
 */
#ifndef VDIT_DATASETS_H
#define VDIT_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "vdit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * The world
 * ---------------------------------------------------------------------- */

#define VDIT_WORLD 10.0           /* the world is [0,10] x [0,10], y up */
#define VDIT_PHYS_DT 0.01         /* physics step, seconds */
#define VDIT_STEPS_PER_FRAME 10   /* a frame every 10 steps: 0.1 s apart */
#define VDIT_FRAME_DT 0.1
#define VDIT_CONTEXT_FRAMES 3     /* frames given to a model as context */
#define VDIT_GRAVITY (-2.5)       /* parabola and bounce, units/s^2 */
#define VDIT_FLOOR_Y 0.5          /* bounce: top of the grey floor slab [0,10] x [0,0.5] */
#define VDIT_MIN_FRAMES 4
#define VDIT_MAX_FRAMES 512 /* long rollouts: box test videos have 320 */
#define VDIT_MIN_SIZE 8
#define VDIT_MAX_SIZE 512

typedef enum {
    VDIT_SC_UNIFORM = 0,
    VDIT_SC_PARABOLA = 1,
    VDIT_SC_COLLISION = 2,
    VDIT_SC_BOUNCE = 3,
    VDIT_SC_OCCLUSION = 4,
    VDIT_SC_BOX = 5, /* for long rollouts: one ball in a closed box */
} vdit_scenario;
#define VDIT_NSCENARIOS 6
/* The first five are phyworld's: "all" and the phys-v1 benchmark set. */
#define VDIT_NPHYWORLD 5

/* Stored split codes; a train set is drawn from the ID ranges and stored as
 * split 0 (id), but from other seeds than the id set (see vdit_data_seed). */
typedef enum { VDIT_SPLIT_ID = 0, VDIT_SPLIT_OOD_V = 1, VDIT_SPLIT_OOD_R = 2, VDIT_SPLIT_OOD_RV = 3 } vdit_split;
#define VDIT_NSPLITS 4

/* params columns (FORMAT.md): NaN where a scenario does not use one */
enum { VDIT_P_V1 = 0, VDIT_P_R1, VDIT_P_V2, VDIT_P_R2, VDIT_P_E, VDIT_P_WALL_X, VDIT_P_WALL_W, VDIT_P_G };
#define VDIT_NPARAMS 8
/* states columns, per frame and object */
enum { VDIT_S_X = 0, VDIT_S_Y, VDIT_S_VX, VDIT_S_VY, VDIT_S_R };
#define VDIT_NSTATE 5
#define VDIT_NOBJ 2 /* object slots: 0 red ball, 1 blue ball */

const char *vdit_scenario_name(int scenario); /* "uniform", ...; "?" when out of range */
int vdit_scenario_parse(const char *name);    /* -1 when unknown */
const char *vdit_split_name(int split);       /* "id", "ood-v", "ood-r", "ood-rv" */
/* "train" -> 0 with *is_train = 1; "id", "ood-v", ... -> their codes; -1 when unknown */
int vdit_split_parse(const char *name, int *is_train);

/* ------------------------------------------------------------------------
 * Scenes
 * ---------------------------------------------------------------------- */

/* One video's scene: what the simulator starts from. Ball 0 is red, ball 1
 * (collision only) blue. */
typedef struct {
    int scenario, split;
    int nballs;
    double x[2], y[2], vx[2], vy[2], r[2]; /* initial conditions, world units */
    double e;                              /* restitution of ball 0 on the floor (bounce), else 1 */
    double wall_x, wall_w;                 /* occlusion: the wall's centre and width (full height); w 0 when none */
    double g;                              /* gravity (y), 0 when none */
    int floor;                             /* bounce: the floor slab exists */
    int box;                               /* box: four elastic walls along the edges of the view */
    double v_span[2];                      /* width of the range each speed was drawn from (second take) */
} vdit_scene;

/* Draws a scene for (scenario, split) from `seed` with T frames: the
 * parameters from the split's ranges, then a placement, redrawn until the
 * simulated video obeys the placement rules (FORMAT.md). The same seed
 * always gives the same scene. Fills states[T][2][5] and *contact with the
 * accepted simulation (either may be NULL). */
int vdit_scene_draw(vdit_scene *sc, int scenario, int split, int T, uint64_t seed, float *states, int *contact,
                    vdit_err *err);
/* The second take: the same scene with its initial positions moved by 1%
 * of the world (0.1) and its speeds by 1% of their split range, each with
 * a sign drawn from `seed`. */
void vdit_scene_take2(vdit_scene *out, const vdit_scene *in, uint64_t seed);
/* The params row [8] of a scene. */
void vdit_scene_params(const vdit_scene *sc, float *params);
/* A caption from the ground truth (the scene and, when not NULL, its
 * simulated states[T][2][5]: what happens after a collision, how many
 * bounces, whether the ball is hidden or comes out again), e.g. "a red ball
 * of radius 1.1 falls from the left, thrown right at 2.5 units/s, starting
 * at x 1.6 y 8.2" (the detailed level; the grammar is datasets/FORMAT.md's).
 * Returns its length (as snprintf). */
int vdit_scene_caption(const vdit_scene *sc, const float *states, int T, char *buf, size_t cap);
/* The short caption (what happens, no numbers), e.g. "a red ball is thrown
 * right and falls": the level of a user's prompt. */
int vdit_scene_caption_short(const vdit_scene *sc, char *buf, size_t cap);

/* Makes the process's first Chipmunk space with stdout silenced (Debian's
 * debug build prints a banner on it); vdit_simulate calls it, and callers
 * that go parallel call it first from one thread. */
void vdit_physics_init(void);
/* Simulates T frames with Chipmunk2D: states[T][2][5] (frame 0 = the
 * initial conditions, frame t after 10 t steps; NaN rows for a ball the
 * scene does not have) and *contact = the first frame at or after the first
 * ball-ball or ball-floor contact, -1 if none. */
int vdit_simulate(const vdit_scene *sc, int T, float *states, int *contact, vdit_err *err);

/* Frames in which ball b is fully inside the image (within tol). */
int vdit_frames_in_view(const float *states, int T, int b, double tol);
/* The most frames a ball of radius r moving at |v| horizontally can spend
 * fully in view (1 + floor((10 - 2r) / (0.1 |v|))), capped at T. */
int vdit_max_frames_in_view(double v, double r, int T);

/* ------------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------- */

/* One frame rgb[S][S][3] of a scene at a state [2][5]: white background,
 * red ball 0, blue ball 1, grey (128) floor and wall drawn in front.
 * Anti-aliased by coverage: each pixel's exact horizontal coverage on 16
 * sub-rows. Pixel (i, j) covers x in [j, j+1] * 10/S, y in [S-i-1, S-i] * 10/S. */
void vdit_render_frame(uint8_t *rgb, int S, const vdit_scene *sc, const float *state);
/* T frames: frames[T][S][S][3] from states[T][2][5]. */
void vdit_render_video(uint8_t *frames, int T, int S, const vdit_scene *sc, const float *states);

/* ------------------------------------------------------------------------
 * Writing a dataset
 * ---------------------------------------------------------------------- */

/* The seed of video i of a set: independent of the thread count and of the
 * other videos; `set_salt` keeps train, id and the OOD splits apart. */
uint64_t vdit_data_seed(uint64_t seed, uint64_t set_salt, uint64_t i);

typedef void (*vdit_data_progress)(void *ctx, long done, long total);

/* What to write: N videos, video i of scenario labels[i], split splits[i],
 * drawn from seeds[i]. */
typedef struct {
    char name[64];    /* meta.json "name", e.g. "uniform/train" or "phys-v1" */
    uint64_t seed;    /* meta.json "seed" (the set's seed, for the record) */
    int count, frames, size;
    int take2; /* also write videos_take2 / states_take2 (set for every test split by vdit_data_spec_make*) */
    int level; /* deflate level of data.npz (0..9; 1 is fast) */
    int32_t *labels, *splits;
    int64_t *seeds; /* each in 0 .. 2^63-1 */
} vdit_data_spec;

/* Writes DIR/data.npz and DIR/meta.json into a temporary directory beside
 * DIR and renames it into place, so DIR appears complete or not at all.
 * An existing DIR is an error unless `replace`. Videos are simulated and
 * rendered in parallel (OpenMP) and streamed into the archive; the bytes do
 * not depend on the thread count. `progress` (may be NULL) is called from
 * the calling thread. */
int vdit_data_write(const char *dir, const vdit_data_spec *spec, int replace, vdit_data_progress progress,
                    void *progress_ctx, vdit_err *err);

/* A set of `count` videos of one scenario (or all five in turn when
 * scenario is -1: video i has label i % 5) and one split, from `seed`
 * (0 .. 2^63-1). Train sets (is_train) use the ID ranges like split "id"
 * but other seeds. Name: "SCENARIO/SPLIT", e.g. "uniform/train", "all/ood-v".
 * Fills labels/splits/seeds (malloc'ed; free with vdit_data_spec_free). */
int vdit_data_spec_make(vdit_data_spec *spec, int scenario, int split, int is_train, int count, int frames, int size,
                        uint64_t seed, vdit_err *err);
/* The same for a list of scenarios, video i of scenarios[i % nscen]: one
 * scenario or all five in order give exactly the sets above; another list
 * is named by its members ("uniform+parabola/train") and has seeds of its own. */
int vdit_data_spec_make_list(vdit_data_spec *spec, const int *scenarios, int nscen, int split, int is_train, int count,
                             int frames, int size, uint64_t seed, vdit_err *err);

/* The fixed benchmark sets: "phys-v1" is 5 scenarios x 4 splits (id, ood-v,
 * ood-r, ood-rv) x 20 videos of 32 frames, with the second take, from fixed
 * seeds. Fills a spec (labels/splits/seeds malloc'ed: free with
 * vdit_data_spec_free). */
int vdit_benchmark_spec(const char *name, int size, vdit_data_spec *spec, vdit_err *err);
void vdit_data_spec_free(vdit_data_spec *spec);

/* ------------------------------------------------------------------------
 * Reading a dataset
 * ---------------------------------------------------------------------- */

typedef struct {
    int count, frames, size, context_frames;
    vdit_array videos;       /* uint8 [N][T][S][S][3] */
    vdit_array states;       /* float32 [N][T][2][5] */
    vdit_array params;       /* float32 [N][8] */
    vdit_array labels;       /* int32 [N] */
    vdit_array splits;       /* int32 [N] */
    vdit_array seeds;        /* int64 [N] */
    vdit_array contact;      /* int32 [N] */
    vdit_array videos_take2; /* uint8 [N][T][S][S][3]; zeroed when absent */
    vdit_array states_take2; /* float32 [N][T][2][5]; zeroed when absent */
    char **captions;         /* [N] the detailed captions */
    char **captions_short;   /* [N] the short ones; NULL in datasets written before them */
    char *name;
} vdit_dataset;

/* Reads DIR/meta.json and DIR/data.npz, checking every array's dtype and
 * shape against meta.json and each other, labels, splits and contact
 * frames against their ranges; errors name the file. */
int vdit_dataset_load(const char *dir, vdit_dataset *ds, vdit_err *err);
void vdit_dataset_free(vdit_dataset *ds);
/* Keeps the first `count` videos' captions and count (the arrays stay as
 * read; readers index them below count); no-op when count >= ds->count. */
void vdit_dataset_keep_first(vdit_dataset *ds, int count);

/* ------------------------------------------------------------------------
 * A dataset as the DiT sees it (datasets/latents.c): its videos in [-1, 1]
 * ([N][T][3][S][S]) or, with a VAE, their scaled latents (the pipeline's
 * vdit_pipeline_encode), with the scenario labels to condition on.
 * ---------------------------------------------------------------------- */

typedef struct {
    int N, T, C, H, W; /* latent videos [N][T][C][H][W] */
    int num_classes;   /* scenario labels 0..num_classes-1: phyworld's 5, or 6 with box videos */
    float *x;
    int *labels;     /* [N] */
    int S, frames;   /* the videos' size and frame count */
    uint8_t *videos; /* [N][frames][S][S][3] the videos themselves */
    vdit_vae_id vae; /* the VAE's identity (empty: pixels) */
    /* what the latent cache did, for the caller to print: "" (no cache),
     * "read PATH", "wrote PATH", or why an entry was encoded again or not
     * written ("PATH: checksum mismatch ...; encoded again") */
    char cache_note[1200];
} vdit_latent_set;

/* Loads the first `count` videos of the dataset in `dir` (all when 0) and,
 * when vae_path is not NULL, encodes them with that VAE.
 *
 * cache_dir (may be NULL: none): a folder of encoded latents shared by runs,
 * so that a run on the same videos and the same VAE reads them instead of
 * encoding again. An entry is CACHE/latents-VAE-VIDEOS-NxFxS.safetensors:
 * VAE the crc32 of the VAE checkpoint's data, VIDEOS the zlib crc32 of the
 * N videos' bytes, F frames at S x S; its metadata repeats both with the
 * VAE's scale factor, and the file's own checksums (vdit_st_read) catch a
 * damaged entry, which is encoded again and replaced (cache_note says so).
 * An entry is written atomically under an flock(2) on ENTRY.lock, so two
 * runs started together encode once: the second waits and reads. A cache
 * that cannot be written is not an error (the latents are encoded as
 * without one; cache_note says why); a cache_dir that is not a folder and
 * cannot be made one is. Pixels (no VAE) are never cached. */
int vdit_latents_load(vdit_latent_set *ls, const char *dir, const char *vae_path, int count, const char *cache_dir,
                      vdit_err *err);
void vdit_latent_set_free(vdit_latent_set *ls);

/* ------------------------------------------------------------------------
 * Text (datasets/text.c): the caption grammar's vocabulary and tokenizer
 * ---------------------------------------------------------------------- */

enum { VDIT_TOK_PAD = 0, VDIT_TOK_EOS = 1, VDIT_TOK_COMMA = 2, VDIT_TOK_POINT = 3, VDIT_TOK_DIGIT0 = 4,
       VDIT_TOK_FIRST_WORD = 14 };
int vdit_vocab_size(void);
const char *vdit_vocab_token(int id); /* NULL outside 0..size-1 */
/* text -> ids[cap] (*n of them, no padding or end token): words (case
 * folded) from the vocabulary, numbers digit by digit with their point,
 * commas; a word outside the vocabulary is an error naming it and listing
 * the words. */
int vdit_tokenize(const char *text, int *ids, int cap, int *n, vdit_err *err);
/* ids -> text: words joined by one space, a number's digits and point
 * joined, no space before a comma; stops at <eos>, skips <pad>. Returns the
 * length (as snprintf). */
int vdit_detokenize(const int *ids, int n, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Looking at a dataset (datasets/show.c)
 * ---------------------------------------------------------------------- */

/* Video `index` of a dataset (its second take when take2) as a picture at
 * path: an animated GIF, each frame upscaled `scale` times (nearest
 * neighbour), 0.1 s a frame (real time); or, with sheet, a PNG contact
 * sheet of its frames, per_row a row, upscaled min(scale, 4) times.
 * scale 0: to at least 128 pixels. */
int vdit_dataset_show(const vdit_dataset *ds, int index, int take2, int sheet, int scale, int per_row,
                      const char *path, vdit_err *err);

#ifdef __cplusplus
}
#endif

#endif /* VDIT_DATASETS_H */
