/* dataset.c - writing and reading datasets in the format of FORMAT.md:
 * DIR/data.npz (every array, numpy-readable) and DIR/meta.json.
 *
 * Writing: videos are simulated and rendered in parallel, a chunk at a time
 * (OpenMP over the videos of the chunk, each from its own seed into its own
 * slot, so the bytes do not depend on the thread count), and each chunk is
 * streamed into the archive before the next one is made: the videos array is
 * never held whole. Everything goes into DIR.tmp-XXXXXX, which is renamed
 * to DIR at the end, so DIR appears complete or not at all.
 */
#define _POSIX_C_SOURCE 200809L

#include "datasets.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define TAKE2_SALT 0x74616b6532ull /* "take2" */
#define CAPTION_MAX 256

/* ------------------------------------------------------------------------
 * Specs
 * ---------------------------------------------------------------------- */

uint64_t vdit_data_seed(uint64_t seed, uint64_t set_salt, uint64_t i)
{
    return vdit_rng_at(vdit_rng_at(seed, set_salt), i) >> 1; /* fits an int64 */
}

void vdit_data_spec_free(vdit_data_spec *spec)
{
    if (!spec) return;
    free(spec->labels);
    free(spec->splits);
    free(spec->seeds);
    spec->labels = spec->splits = NULL;
    spec->seeds = NULL;
}

static int spec_alloc(vdit_data_spec *spec, int count, vdit_err *err)
{
    spec->labels = malloc((size_t)count * sizeof *spec->labels);
    spec->splits = malloc((size_t)count * sizeof *spec->splits);
    spec->seeds = malloc((size_t)count * sizeof *spec->seeds);
    if (!spec->labels || !spec->splits || !spec->seeds) {
        vdit_data_spec_free(spec);
        return vdit_seterr(err, "data: out of memory for %d videos", count);
    }
    return 0;
}

int vdit_data_spec_make(vdit_data_spec *spec, int scenario, int split, int is_train, int count, int frames, int size,
                        uint64_t seed, vdit_err *err)
{
    if (scenario < -1 || scenario >= VDIT_NSCENARIOS) {
        memset(spec, 0, sizeof *spec);
        return vdit_seterr(err, "data: bad scenario %d", scenario);
    }
    int all[VDIT_NPHYWORLD];
    for (int k = 0; k < VDIT_NPHYWORLD; k++) all[k] = k;
    return vdit_data_spec_make_list(spec, scenario < 0 ? all : &scenario, scenario < 0 ? VDIT_NPHYWORLD : 1, split,
                                    is_train, count, frames, size, seed, err);
}

int vdit_data_spec_make_list(vdit_data_spec *spec, const int *scenarios, int nscen, int split, int is_train, int count,
                             int frames, int size, uint64_t seed, vdit_err *err)
{
    memset(spec, 0, sizeof *spec);
    if (nscen < 1 || nscen > VDIT_NSCENARIOS) return vdit_seterr(err, "data: %d scenarios (1..%d)", nscen, VDIT_NSCENARIOS);
    unsigned mask = 0;
    for (int k = 0; k < nscen; k++) {
        if (scenarios[k] < 0 || scenarios[k] >= VDIT_NSCENARIOS) return vdit_seterr(err, "data: bad scenario %d", scenarios[k]);
        if (mask >> scenarios[k] & 1u) return vdit_seterr(err, "data: scenario %s given twice", vdit_scenario_name(scenarios[k]));
        mask |= 1u << scenarios[k];
    }
    if (split < 0 || split >= VDIT_NSPLITS) return vdit_seterr(err, "data: bad split %d", split);
    if (is_train && split != VDIT_SPLIT_ID) return vdit_seterr(err, "data: a train set uses the ID ranges");
    if (count < 1) return vdit_seterr(err, "data: count %d must be at least 1", count);
    if (seed > (uint64_t)INT64_MAX) return vdit_seterr(err, "data: seed %llu above 2^63-1", (unsigned long long)seed);
    /* phyworld's five in order are "all"; any other list is named by its members */
    int is_all = nscen == VDIT_NPHYWORLD;
    for (int k = 0; k < nscen && is_all; k++) is_all = scenarios[k] == k;
    char scen[48] = "";
    if (is_all) snprintf(scen, sizeof scen, "all");
    else
        for (int k = 0; k < nscen; k++)
            snprintf(scen + strlen(scen), sizeof scen - strlen(scen), "%s%s", k ? "+" : "", vdit_scenario_name(scenarios[k]));
    snprintf(spec->name, sizeof spec->name, "%s/%s", scen, is_train ? "train" : vdit_split_name(split));
    spec->seed = seed;
    spec->count = count;
    spec->frames = frames;
    spec->size = size;
    spec->level = 1;
    /* every test set carries its second takes, so every report has its
     * Physics-IQ score (benchmark.md); a train set needs none */
    spec->take2 = !is_train;
    if (spec_alloc(spec, count, err)) return -1;
    /* the set's salt keeps a train set apart from the id set of the same
     * seed, and every scenario (list)/split apart from the others: one
     * scenario s has (s + 2), all five 1, another list 0x100 + its bit mask */
    uint64_t which = is_all ? 1 : nscen == 1 ? (uint64_t)scenarios[0] + 2 : 0x100u + mask;
    uint64_t salt = which << 8 | (uint64_t)(is_train ? 15 : split + 1);
    for (int i = 0; i < count; i++) {
        spec->labels[i] = scenarios[i % nscen];
        spec->splits[i] = split;
        spec->seeds[i] = (int64_t)vdit_data_seed(seed, salt, (uint64_t)i);
    }
    return 0;
}

int vdit_benchmark_spec(const char *name, int size, vdit_data_spec *spec, vdit_err *err)
{
    memset(spec, 0, sizeof *spec);
    if (!name || strcmp(name, "phys-v1") != 0)
        return vdit_seterr(err, "data: unknown benchmark '%s' (known: phys-v1)", name ? name : "(null)");
    const int per_cell = 20;
    snprintf(spec->name, sizeof spec->name, "%s", name);
    spec->seed = 0x7068797376310000ull >> 1; /* "physv1", fixed */
    spec->count = VDIT_NPHYWORLD * VDIT_NSPLITS * per_cell;
    spec->frames = 32;
    spec->size = size;
    spec->take2 = 1;
    /* stored, not deflated: the same bytes on every machine whatever zlib
     * build (deflate output may differ between zlib versions) */
    spec->level = 0;
    if (spec_alloc(spec, spec->count, err)) return -1;
    int i = 0;
    for (int s = 0; s < VDIT_NPHYWORLD; s++)
        for (int sp = 0; sp < VDIT_NSPLITS; sp++)
            for (int j = 0; j < per_cell; j++, i++) {
                spec->labels[i] = s;
                spec->splits[i] = sp;
                spec->seeds[i] = (int64_t)vdit_data_seed(spec->seed, 1000 + (uint64_t)(s * VDIT_NSPLITS + sp), j);
            }
    return 0;
}

/* ------------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------- */

static int dir_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void fsync_dir(const char *d)
{
    int fd = open(d, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Removes a dataset directory we made: the files a dataset holds (and any
 * temporaries of them), then the directory. Leaves anything else alone. */
/* The files a dataset folder holds (vdit_out_dir_commit's `ours`). */
static int dataset_file(const char *dir, const char *name)
{
    (void)dir;
    return !strcmp(name, "data.npz") || !strcmp(name, "meta.json");
}

/* Only a directory holding nothing but data.npz and meta.json may be
 * replaced, so --force never deletes anything else. */
static int replaceable(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp) return 0;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(dp)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!dataset_file(d, e->d_name)) ok = 0;
    }
    closedir(dp);
    return ok;
}

static const char *const param_cols[VDIT_NPARAMS] = {"v1", "r1", "v2", "r2", "e", "wall_x", "wall_w", "g"};

static json_t *shape_json(int n, const int64_t *s)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(s[i]));
    return a;
}

static void add_array(json_t *arrays, const char *name, const char *dtype, int n, const int64_t *shape,
                      const char *desc)
{
    json_t *o = json_object();
    json_object_set_new(o, "dtype", json_string(dtype));
    json_object_set_new(o, "shape", shape_json(n, shape));
    json_object_set_new(o, "description", json_string(desc));
    json_object_set_new(arrays, name, o);
}

static char *meta_json(const vdit_data_spec *sp, char *const *captions, char *const *shorts)
{
    int64_t N = sp->count, T = sp->frames, S = sp->size;
    json_t *m = json_object();
    json_object_set_new(m, "format", json_string("vdit-dataset"));
    json_object_set_new(m, "version", json_integer(1));
    json_object_set_new(m, "name", json_string(sp->name));
    json_object_set_new(m, "seed", json_integer((json_int_t)sp->seed));
    json_object_set_new(m, "count", json_integer(N));
    json_object_set_new(m, "frames", json_integer(T));
    json_object_set_new(m, "size", json_integer(S));
    json_object_set_new(m, "context_frames", json_integer(VDIT_CONTEXT_FRAMES));
    json_object_set_new(m, "frame_dt", json_real(VDIT_FRAME_DT));
    json_object_set_new(m, "physics_dt", json_real(VDIT_PHYS_DT));
    json_object_set_new(m, "steps_per_frame", json_integer(VDIT_STEPS_PER_FRAME));
    json_t *w = json_array();
    json_array_append_new(w, json_real(VDIT_WORLD));
    json_array_append_new(w, json_real(VDIT_WORLD));
    json_object_set_new(m, "world", w);
    json_object_set_new(m, "gravity", json_real(VDIT_GRAVITY));
    json_object_set_new(m, "floor_y", json_real(VDIT_FLOOR_Y));
    json_object_set_new(m, "engine", json_string("Chipmunk2D 7 (semi-implicit Euler, 20 iterations, slop 0.001)"));
    json_t *a = json_array();
    for (int i = 0; i < VDIT_NSCENARIOS; i++) json_array_append_new(a, json_string(vdit_scenario_name(i)));
    json_object_set_new(m, "scenarios", a);
    a = json_array();
    for (int i = 0; i < VDIT_NSPLITS; i++) json_array_append_new(a, json_string(vdit_split_name(i)));
    json_object_set_new(m, "splits", a);
    a = json_array();
    for (int i = 0; i < VDIT_NPARAMS; i++) json_array_append_new(a, json_string(param_cols[i]));
    json_object_set_new(m, "params_columns", a);
    a = json_array();
    const char *sc[VDIT_NSTATE] = {"x", "y", "vx", "vy", "r"};
    for (int i = 0; i < VDIT_NSTATE; i++) json_array_append_new(a, json_string(sc[i]));
    json_object_set_new(m, "state_columns", a);

    json_t *arr = json_object();
    int64_t sv[5] = {N, T, S, S, 3}, ss[4] = {N, T, 2, 5}, sp8[2] = {N, VDIT_NPARAMS}, s1[1] = {N};
    add_array(arr, "videos", "uint8", 5, sv,
              "RGB frames, row 0 = top of the world (y down), white background, red ball 0, blue ball 1, grey "
              "(128) floor and walls in front");
    add_array(arr, "states", "float32", 4, ss,
              "per frame and ball (0 red, 1 blue): x, y, vx, vy, r in world units, y up; frame 0 = initial "
              "conditions, frame t after 10 t physics steps; NaN for a ball the scenario does not have");
    add_array(arr, "params", "float32", 2, sp8,
              "scenario parameters v1 r1 v2 r2 e wall_x wall_w g (speeds signed, +x right; e for bounce and "
              "collision; wall_x the wall's centre; g gravity, 0 when none; NaN where not used)");
    add_array(arr, "labels", "int32", 1, s1,
              "scenario: 0 uniform, 1 parabola, 2 collision, 3 bounce, 4 occlusion, 5 box");
    add_array(arr, "splits", "int32", 1, s1, "0 id (train sets too), 1 ood-v, 2 ood-r, 3 ood-rv");
    add_array(arr, "seeds", "int64", 1, s1, "the seed each video's scene was drawn from");
    add_array(arr, "contact", "int32", 1, s1,
              "first frame at or after the first ball-ball (collision) or ball-floor (bounce) contact, -1 if none");
    if (sp->take2) {
        add_array(arr, "videos_take2", "uint8", 5, sv,
                  "the second take: the same scene re-simulated from initial positions moved by 1% of the world "
                  "and speeds by 1% of their range");
        add_array(arr, "states_take2", "float32", 4, ss, "the second take's states");
    }
    json_object_set_new(m, "arrays", arr);
    a = json_array();
    for (int i = 0; i < sp->count; i++) json_array_append_new(a, json_string(captions[i]));
    json_object_set_new(m, "captions", a);
    a = json_array();
    for (int i = 0; i < sp->count; i++) json_array_append_new(a, json_string(shorts[i]));
    json_object_set_new(m, "captions_short", a);
    char *s = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(m);
    return s;
}

/* One pass over the videos: take 1 (scenes filled in) or take 2 (from the
 * scenes of take 1). Streams the videos array into w. */
static int make_pass(vdit_npz_writer *w, const vdit_data_spec *sp, int take, vdit_scene *scenes, float *states,
                     int32_t *contact, float *params, char **captions, vdit_data_progress progress, void *pctx,
                     long done0, long total, vdit_err *err)
{
    int N = sp->count, T = sp->frames, S = sp->size;
    size_t V = (size_t)T * S * S * 3;
    int chunk = (int)((64u << 20) / V);
    if (chunk < 1) chunk = 1;
    if (chunk > 2048) chunk = 2048;
    int64_t shape[5] = {N, T, S, S, 3};
    if (vdit_npz_begin(w, take == 1 ? "videos" : "videos_take2", VDIT_DTYPE_U8, 5, shape, err)) return -1;
    uint8_t *buf = malloc((size_t)(chunk < N ? chunk : N) * V);
    if (!buf) return vdit_seterr(err, "data: out of memory for a chunk of %d videos", chunk);
    int rc = 0;
    for (int c0 = 0; c0 < N && !rc; c0 += chunk) {
        int n = N - c0 < chunk ? N - c0 : chunk;
        int bad = -1; /* the first video that failed */
        vdit_err first = {{0}};
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < n; k++) {
            int i = c0 + k;
            float *st = states + (size_t)i * T * 2 * VDIT_NSTATE;
            vdit_err e = {{0}};
            int fail;
            vdit_scene *sc = &scenes[i];
            vdit_scene sc2;
            if (take == 1) {
                int c = -1;
                fail = vdit_scene_draw(sc, sp->labels[i], sp->splits[i], T, (uint64_t)sp->seeds[i], st, &c, &e);
                if (!fail) {
                    contact[i] = c;
                    vdit_scene_params(sc, params + (size_t)i * VDIT_NPARAMS);
                    vdit_scene_caption(sc, st, T, captions[i], CAPTION_MAX);
                    vdit_scene_caption_short(sc, captions[N + i], CAPTION_MAX);
                }
            } else {
                vdit_scene_take2(&sc2, sc, vdit_rng_at((uint64_t)sp->seeds[i], TAKE2_SALT));
                sc = &sc2;
                fail = vdit_simulate(sc, T, st, NULL, &e);
            }
            if (fail) {
#pragma omp critical(vdit_data_fail)
                if (bad < 0 || i < bad) {
                    bad = i;
                    first = e;
                }
                continue;
            }
            vdit_render_video(buf + (size_t)k * V, T, S, sc, st);
        }
        if (bad >= 0) {
            rc = vdit_seterr(err, "data: video %d: %s", bad, first.msg);
            break;
        }
        if (vdit_npz_write(w, buf, (size_t)n * V, err)) rc = -1;
        if (progress) progress(pctx, done0 + c0 + n, total);
    }
    free(buf);
    if (rc) return rc;
    return vdit_npz_end(w, err);
}

int vdit_data_write(const char *dir, const vdit_data_spec *sp, int replace, vdit_data_progress progress,
                    void *pctx, vdit_err *err)
{
    if (!dir || !*dir) return vdit_seterr(err, "data: no output directory given");
    if (sp->count < 1 || sp->count > 100000000)
        return vdit_seterr(err, "data: count %d outside 1..100000000", sp->count);
    if (sp->frames < VDIT_MIN_FRAMES || sp->frames > VDIT_MAX_FRAMES)
        return vdit_seterr(err, "data: %d frames outside %d..%d", sp->frames, VDIT_MIN_FRAMES, VDIT_MAX_FRAMES);
    if (sp->size < VDIT_MIN_SIZE || sp->size > VDIT_MAX_SIZE)
        return vdit_seterr(err, "data: size %d outside %d..%d", sp->size, VDIT_MIN_SIZE, VDIT_MAX_SIZE);
    if (sp->level < 0 || sp->level > 9) return vdit_seterr(err, "data: deflate level %d outside 0..9", sp->level);
    if (!sp->labels || !sp->splits || !sp->seeds) return vdit_seterr(err, "data: spec without labels/splits/seeds");
    for (int i = 0; i < sp->count; i++) {
        if (sp->labels[i] < 0 || sp->labels[i] >= VDIT_NSCENARIOS || sp->splits[i] < 0 ||
            sp->splits[i] >= VDIT_NSPLITS || sp->seeds[i] < 0)
            return vdit_seterr(err, "data: video %d: bad label %d, split %d or seed", i, sp->labels[i], sp->splits[i]);
    }
    if (path_exists(dir) && !replace)
        return vdit_seterr(err, "%s: already exists (use --force to replace a dataset)", dir);
    if (path_exists(dir) && (!dir_exists(dir) || !replaceable(dir)))
        return vdit_seterr(err, "%s: exists and is not a dataset directory (only data.npz and meta.json); not replaced",
                           dir);

    size_t dlen = strlen(dir);
    char *tmp = malloc(dlen + 32), *npz = malloc(dlen + 64), *meta = malloc(dlen + 64);
    int N = sp->count, T = sp->frames;
    vdit_scene *scenes = calloc((size_t)N, sizeof *scenes);
    float *states = malloc((size_t)N * T * 2 * VDIT_NSTATE * sizeof(float));
    float *params = malloc((size_t)N * VDIT_NPARAMS * sizeof(float));
    int32_t *contact = malloc((size_t)N * sizeof(int32_t));
    char *capmem = calloc(2 * (size_t)N, CAPTION_MAX);
    char **captions = malloc(2 * (size_t)N * sizeof(char *)); /* the detailed, then the short */
    vdit_npz_writer *w = NULL;
    int rc = -1, made_tmp = 0, held = 0, slots[3] = {-1, -1, -1};
    char *json = NULL;
    if (!tmp || !npz || !meta || !scenes || !states || !params || !contact || !capmem || !captions) {
        vdit_seterr(err, "data: out of memory for %d videos' ground truth", N);
        goto done;
    }
    for (int i = 0; i < 2 * N; i++) captions[i] = capmem + (size_t)i * CAPTION_MAX;
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--; /* "out/" -> "out.tmp-XXXXXX" */
    snprintf(tmp, strlen(dir) + 32, "%.*s.tmp-XXXXXX", (int)dlen, dir);
    if (!mkdtemp(tmp)) {
        vdit_seterr(err, "%s: cannot create a temporary directory beside it: %s", dir, strerror(errno));
        goto done;
    }
    made_tmp = 1;
    chmod(tmp, 0755);
    snprintf(npz, strlen(dir) + 64, "%s/data.npz", tmp);
    snprintf(meta, strlen(dir) + 64, "%s/meta.json", tmp);
    /* a signal removes the folder: its two files first, then the folder */
    slots[0] = vdit_temp_add(tmp, 1);
    slots[1] = vdit_temp_add(npz, 0);
    slots[2] = vdit_temp_add(meta, 0);
    if (vdit_npz_open(&w, npz, sp->level, err)) goto done;

    vdit_physics_init(); /* before the threads */
    long total = (long)N * (sp->take2 ? 2 : 1);
    if (make_pass(w, sp, 1, scenes, states, contact, params, captions, progress, pctx, 0, total, err)) goto done;
    int64_t s1[1] = {N}, ss[4] = {N, T, 2, VDIT_NSTATE}, sp8[2] = {N, VDIT_NPARAMS};
    vdit_array a = {.dtype = VDIT_DTYPE_F32, .ndim = 4, .data = states};
    memcpy(a.shape, ss, sizeof ss);
    a.nbytes = (size_t)N * T * 2 * VDIT_NSTATE * sizeof(float);
    if (vdit_npz_add(w, "states", &a, err)) goto done;
    a = (vdit_array){.dtype = VDIT_DTYPE_F32, .ndim = 2, .data = params, .nbytes = (size_t)N * VDIT_NPARAMS * 4};
    memcpy(a.shape, sp8, sizeof sp8);
    if (vdit_npz_add(w, "params", &a, err)) goto done;
    const struct {
        const char *name;
        vdit_dtype dt;
        void *data;
    } ones[4] = {{"labels", VDIT_DTYPE_I32, sp->labels},
                 {"splits", VDIT_DTYPE_I32, sp->splits},
                 {"seeds", VDIT_DTYPE_I64, sp->seeds},
                 {"contact", VDIT_DTYPE_I32, contact}};
    for (int k = 0; k < 4; k++) {
        a = (vdit_array){.dtype = ones[k].dt, .ndim = 1, .data = ones[k].data};
        a.shape[0] = s1[0];
        a.nbytes = (size_t)N * vdit_dtype_size(ones[k].dt);
        if (vdit_npz_add(w, ones[k].name, &a, err)) goto done;
    }
    if (sp->take2) {
        /* the states buffer is reused for take 2 */
        if (make_pass(w, sp, 2, scenes, states, NULL, NULL, NULL, progress, pctx, N, total, err)) goto done;
        a = (vdit_array){.dtype = VDIT_DTYPE_F32, .ndim = 4, .data = states};
        memcpy(a.shape, ss, sizeof ss);
        a.nbytes = (size_t)N * T * 2 * VDIT_NSTATE * sizeof(float);
        if (vdit_npz_add(w, "states_take2", &a, err)) goto done;
    }
    int crc = vdit_npz_close(w, err);
    w = NULL;
    if (crc) goto done;
    json = meta_json(sp, captions, captions + N);
    if (!json) {
        vdit_seterr(err, "%s: out of memory encoding meta.json", dir);
        goto done;
    }
    if (vdit_write_file_atomic(meta, json, strlen(json), err)) goto done;
    fsync_dir(tmp);

    /* into place (the old dataset aside, the new one in, the old removed:
     * vdit_out_dir_commit, which also frees or removes tmp); a signal waits
     * until the new dataset is in place and no longer a temporary, so it
     * cannot strike between the two renames */
    vdit_signals_hold();
    held = 1;
    char *into_place = tmp;
    tmp = NULL, made_tmp = 0;
    if (vdit_out_dir_commit(into_place, dir, dataset_file, err)) goto done;
    for (int k = 0; k < 3; k++) vdit_temp_drop(slots[k]), slots[k] = -1; /* a slot is dropped once */
    vdit_signals_release();
    held = 0;
    {
        char *parent = strdup(dir);
        if (parent) {
            char *slash = strrchr(parent, '/');
            if (slash && slash != parent) *slash = 0;
            fsync_dir(slash ? parent : ".");
            free(parent);
        }
    }
    rc = 0;
done:
    if (w) vdit_npz_abort(w);
    /* an error inside the temporary folder names the dataset, which is what
     * the user gave and what stays as it was: "out.tmp-Ab12Cd/data.npz: ..."
     * -> "out/data.npz: ..." */
    size_t tl = made_tmp && err ? strlen(tmp) : 0;
    if (tl && !strncmp(err->msg, tmp, tl) && err->msg[tl] == '/') {
        vdit_err e = *err;
        vdit_seterr(err, "%.*s%s", (int)dlen, dir, e.msg + tl);
    }
    if (made_tmp) vdit_out_dir_abort(tmp), tmp = NULL;
    for (int k = 0; k < 3; k++) vdit_temp_drop(slots[k]);
    if (held) vdit_signals_release();
    free(json);
    free(tmp);
    free(npz);
    free(meta);
    free(scenes);
    free(states);
    free(params);
    free(contact);
    free(capmem);
    free(captions);
    return rc;
}

/* ------------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------- */

void vdit_dataset_free(vdit_dataset *ds)
{
    if (!ds) return;
    vdit_array_free(&ds->videos);
    vdit_array_free(&ds->states);
    vdit_array_free(&ds->params);
    vdit_array_free(&ds->labels);
    vdit_array_free(&ds->splits);
    vdit_array_free(&ds->seeds);
    vdit_array_free(&ds->contact);
    vdit_array_free(&ds->videos_take2);
    vdit_array_free(&ds->states_take2);
    for (int k = 0; k < 2; k++) {
        char **c = k ? ds->captions_short : ds->captions;
        if (c)
            for (int i = 0; i < ds->count; i++) free(c[i]);
        free(c);
    }
    free(ds->name);
    memset(ds, 0, sizeof *ds);
}

static int meta_int(json_t *m, const char *path, const char *key, long lo, long hi, int *out, vdit_err *err)
{
    json_t *v = json_object_get(m, key);
    if (!json_is_integer(v)) return vdit_seterr(err, "%s: \"%s\" missing or not an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) return vdit_seterr(err, "%s: \"%s\" = %lld outside %ld..%ld", path, key, (long long)x, lo, hi);
    *out = (int)x;
    return 0;
}

/* Reads array `name` and checks its dtype and shape. */
static int load_array(const char *npz, const char *name, vdit_dtype dt, int ndim, const int64_t *shape,
                      const char *why, vdit_array *out, vdit_err *err)
{
    if (vdit_npz_read(npz, name, out, err)) return -1;
    int ok = out->dtype == dt && out->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = out->shape[i] == shape[i];
    if (!ok) {
        char got[128], want[128];
        vdit_shape_string(got, sizeof got, out->ndim, out->shape);
        vdit_shape_string(want, sizeof want, ndim, shape);
        vdit_seterr(err, "%s: array '%s' is %s %s, expected %s %s (%s)", npz, name, vdit_dtype_name(out->dtype), got,
                    vdit_dtype_name(dt), want, why);
        vdit_array_free(out);
        return -1;
    }
    return 0;
}

void vdit_dataset_keep_first(vdit_dataset *ds, int count)
{
    if (count < 0 || count >= ds->count) return;
    for (int k = 0; k < 2; k++) {
        char **c = k ? ds->captions_short : ds->captions;
        for (int i = count; c && i < ds->count; i++) free(c[i]), c[i] = NULL;
    }
    ds->count = count;
}

/* out[count] <- the strings of the JSON array arr (meta.json's key `what`) */
static int read_captions(json_t *arr, const char *what, const char *mpath, int count, char **out, vdit_err *err)
{
    for (int i = 0; i < count; i++) {
        json_t *c = json_array_get(arr, (size_t)i);
        if (!json_is_string(c)) return vdit_seterr(err, "%s: %s[%d] is not a string", mpath, what, i);
        if (!(out[i] = strdup(json_string_value(c)))) return vdit_seterr(err, "%s: out of memory", mpath);
    }
    return 0;
}

int vdit_dataset_load(const char *dir, vdit_dataset *ds, vdit_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (!dir) return vdit_seterr(err, "(null): no dataset directory given");
    size_t dl = strlen(dir) + 32;
    char *mpath = malloc(dl), *npz = malloc(dl);
    json_t *m = NULL;
    int rc = -1;
    if (!mpath || !npz) {
        vdit_seterr(err, "%s: out of memory", dir);
        goto done;
    }
    snprintf(mpath, dl, "%s/meta.json", dir);
    snprintf(npz, dl, "%s/data.npz", dir);
    if (!dir_exists(dir)) {
        vdit_seterr(err, "%s: not a directory (a dataset is a directory with meta.json and data.npz)", dir);
        goto done;
    }
    json_error_t je;
    void *text = NULL;
    size_t tlen = 0;
    /* vdit_read_file refuses a FIFO or a folder named meta.json at once */
    if (vdit_read_file(mpath, (size_t)1 << 30, &text, &tlen, err)) goto done;
    m = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!m) {
        vdit_seterr(err, "%s: line %d: %s", mpath, je.line, je.text);
        goto done;
    }
    if (!json_is_object(m)) {
        vdit_seterr(err, "%s: expected a JSON object", mpath);
        goto done;
    }
    json_t *fmt = json_object_get(m, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "vdit-dataset")) {
        vdit_seterr(err, "%s: \"format\" is not \"vdit-dataset\"", mpath);
        goto done;
    }
    int version;
    if (meta_int(m, mpath, "version", 1, 1, &version, err) || meta_int(m, mpath, "count", 1, 100000000, &ds->count, err) ||
        meta_int(m, mpath, "frames", 1, 100000, &ds->frames, err) ||
        meta_int(m, mpath, "size", 1, 100000, &ds->size, err) ||
        meta_int(m, mpath, "context_frames", 0, ds->frames, &ds->context_frames, err))
        goto done;
    json_t *name = json_object_get(m, "name");
    if (!json_is_string(name)) {
        vdit_seterr(err, "%s: \"name\" missing or not a string", mpath);
        goto done;
    }
    ds->name = strdup(json_string_value(name));
    json_t *caps = json_object_get(m, "captions");
    if (!json_is_array(caps) || json_array_size(caps) != (size_t)ds->count) {
        vdit_seterr(err, "%s: \"captions\" is not an array of %d strings (count)", mpath, ds->count);
        goto done;
    }
    ds->captions = calloc((size_t)ds->count, sizeof(char *));
    if (!ds->name || !ds->captions) {
        vdit_seterr(err, "%s: out of memory", mpath);
        goto done;
    }
    if (read_captions(caps, "captions", mpath, ds->count, ds->captions, err)) goto done;
    /* the short captions: datasets written before them have none */
    json_t *shorts = json_object_get(m, "captions_short");
    if (shorts) {
        if (!json_is_array(shorts) || json_array_size(shorts) != (size_t)ds->count) {
            vdit_seterr(err, "%s: \"captions_short\" is not an array of %d strings (count)", mpath, ds->count);
            goto done;
        }
        if (!(ds->captions_short = calloc((size_t)ds->count, sizeof(char *)))) {
            vdit_seterr(err, "%s: out of memory", mpath);
            goto done;
        }
        if (read_captions(shorts, "captions_short", mpath, ds->count, ds->captions_short, err)) goto done;
    }

    int64_t N = ds->count, T = ds->frames, S = ds->size;
    int64_t sv[5] = {N, T, S, S, 3}, ss[4] = {N, T, 2, VDIT_NSTATE}, sp[2] = {N, VDIT_NPARAMS}, s1[1] = {N};
    char why[160];
    snprintf(why, sizeof why, "count %lld, frames %lld, size %lld in meta.json", (long long)N, (long long)T,
             (long long)S);
    if (load_array(npz, "videos", VDIT_DTYPE_U8, 5, sv, why, &ds->videos, err) ||
        load_array(npz, "states", VDIT_DTYPE_F32, 4, ss, why, &ds->states, err) ||
        load_array(npz, "params", VDIT_DTYPE_F32, 2, sp, why, &ds->params, err) ||
        load_array(npz, "labels", VDIT_DTYPE_I32, 1, s1, why, &ds->labels, err) ||
        load_array(npz, "splits", VDIT_DTYPE_I32, 1, s1, why, &ds->splits, err) ||
        load_array(npz, "seeds", VDIT_DTYPE_I64, 1, s1, why, &ds->seeds, err) ||
        load_array(npz, "contact", VDIT_DTYPE_I32, 1, s1, why, &ds->contact, err))
        goto done;
    /* the second take: when meta.json lists it (then it must be there) */
    json_t *arrays = json_object_get(m, "arrays");
    int want2 = json_is_object(arrays) && json_object_get(arrays, "videos_take2");
    if (want2 && (load_array(npz, "videos_take2", VDIT_DTYPE_U8, 5, sv, why, &ds->videos_take2, err) ||
                  load_array(npz, "states_take2", VDIT_DTYPE_F32, 4, ss, why, &ds->states_take2, err)))
        goto done;
    const int32_t *lab = ds->labels.data, *spl = ds->splits.data, *con = ds->contact.data;
    for (int i = 0; i < ds->count; i++) {
        if (lab[i] < 0 || lab[i] >= VDIT_NSCENARIOS) {
            vdit_seterr(err, "%s: labels[%d] = %d outside 0..%d", npz, i, lab[i], VDIT_NSCENARIOS - 1);
            goto done;
        }
        if (spl[i] < 0 || spl[i] >= VDIT_NSPLITS) {
            vdit_seterr(err, "%s: splits[%d] = %d outside 0..%d", npz, i, spl[i], VDIT_NSPLITS - 1);
            goto done;
        }
        if (con[i] < -1 || con[i] >= ds->frames) {
            vdit_seterr(err, "%s: contact[%d] = %d outside -1..%d", npz, i, con[i], ds->frames - 1);
            goto done;
        }
    }
    rc = 0;
done:
    if (m) json_decref(m);
    free(mpath);
    free(npz);
    if (rc) {
        vdit_err keep = err ? *err : (vdit_err){{0}};
        vdit_dataset_free(ds);
        if (err) *err = keep;
    }
    return rc;
}
