/* load.c - reading videos to score (NPY, NPZ, PNG frame folders, GIFs) and
 * truth sets in the dataset format (datasets/FORMAT.md). */
#define _POSIX_C_SOURCE 200809L
#include "eval.h"

#include "datasets.h"

#include <dirent.h>
#include <errno.h>
#include <gif_lib.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void eval_videos_free(eval_videos *v)
{
    free(v->data);
    memset(v, 0, sizeof *v);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ------------------------------------------------------------------------
 * arrays
 * ---------------------------------------------------------------------- */

/* uint8 [N][T][S][S][3] (or one video [T][S][S][3]), or float32
 * [N][T][3][S][S] in [-1, 1] -> out (takes a's data when it can) */
static int videos_from_array(vdit_array *a, const char *path, eval_videos *out, vdit_err *err)
{
    char shp[128];
    vdit_shape_string(shp, sizeof shp, a->ndim, a->shape);
    if (a->dtype == VDIT_DTYPE_U8 && (a->ndim == 5 || a->ndim == 4) && a->shape[a->ndim - 1] == 3 &&
        a->shape[a->ndim - 2] == a->shape[a->ndim - 3]) {
        int off = a->ndim - 4;
        out->N = off ? (int)a->shape[0] : 1;
        out->T = (int)a->shape[off];
        out->S = (int)a->shape[off + 1];
        out->data = a->data;
        a->data = NULL;
        return 0;
    }
    if (a->dtype == VDIT_DTYPE_F32 && a->ndim == 5 && a->shape[2] == 3 && a->shape[3] == a->shape[4]) {
        int N = (int)a->shape[0], T = (int)a->shape[1], S = (int)a->shape[3];
        uint8_t *d = malloc((size_t)N * T * S * S * 3);
        if (!d) return vdit_seterr(err, "%s: out of memory for %s", path, shp);
        const float *x = a->data;
        size_t plane = (size_t)S * S;
        for (size_t v = 0; v < (size_t)N * T; v++)
            for (int c = 0; c < 3; c++)
                for (size_t p = 0; p < plane; p++) {
                    double f = x[(v * 3 + c) * plane + p];
                    double u = isnan(f) ? 0.0 : (f + 1.0) * 127.5;
                    d[(v * plane + p) * 3 + c] = (uint8_t)(u <= 0 ? 0 : u >= 255 ? 255 : lrint(u));
                }
        out->N = N, out->T = T, out->S = S, out->data = d;
        return 0;
    }
    return vdit_seterr(err,
                       "%s: array %s %s: expected uint8 [N][T][S][S][3] or float32 [N][T][3][S][S] in [-1,1]",
                       path, vdit_dtype_name(a->dtype), shp);
}

/* ------------------------------------------------------------------------
 * PNG frame folders: DIR/video_0000/frame_000.png ...
 * ---------------------------------------------------------------------- */

/* What is wrong with a W x H frame (NULL: nothing), for the frames of one
 * set, which must all be the size of the first (S_expect > 0 once known). */
static const char *frame_size_problem(int W, int H, int S_expect)
{
    static char why[96];
    if (W != H) return "expected a square frame";
    if (W < 1 || W > 4096) return "too large: at most 4096x4096";
    if (S_expect > 0 && W != S_expect) {
        snprintf(why, sizeof why, "expected %dx%d like the first frame", S_expect, S_expect);
        return why;
    }
    return NULL;
}

static int read_png_rgb(const char *path, int S_expect, uint8_t **rgb, int *S, vdit_err *err)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    FILE *fp;
    uint64_t fsize;
    if (vdit_open_regular(path, &fp, &fsize, err)) return -1; /* a FIFO: refused, not waited on */
    if (!png_image_begin_read_from_stdio(&im, fp)) {
        fclose(fp);
        return vdit_seterr(err, "%s: not a readable PNG (%s)", path, im.message);
    }
    const char *bad = frame_size_problem((int)(im.width < 100000 ? im.width : 100000),
                                         (int)(im.height < 100000 ? im.height : 100000), S_expect);
    if (bad) {
        png_image_free(&im);
        fclose(fp);
        return vdit_seterr(err, "%s: %ux%u frame: %s", path, im.width, im.height, bad);
    }
    im.format = PNG_FORMAT_RGB; /* alpha, if any, composited over white */
    png_color white = {255, 255, 255};
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
    if (!buf) {
        png_image_free(&im);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    int decoded = png_image_finish_read(&im, &white, buf, 0, NULL);
    fclose(fp);
    if (!decoded) {
        free(buf);
        return vdit_seterr(err, "%s: cannot decode the PNG (%s)", path, im.message);
    }
    *rgb = buf;
    *S = (int)im.width;
    return 0;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int load_png_dir(const char *dir, eval_videos *out, vdit_err *err)
{
    char p[4096];
    int N = 0, T = -1, S = -1;
    for (;; N++) {
        snprintf(p, sizeof p, "%s/video_%04d", dir, N);
        if (!file_exists(p)) break;
        int t = 0;
        for (;; t++) {
            snprintf(p, sizeof p, "%s/video_%04d/frame_%03d.png", dir, N, t);
            if (!file_exists(p)) break;
        }
        if (T < 0) T = t;
        if (t != T || t < 1)
            return vdit_seterr(err, "%s/video_%04d: %d frames (frame_000.png ...): expected %d like video_0000", dir,
                               N, t, T < 1 ? 1 : T);
    }
    if (!N) return vdit_seterr(err, "%s: no video_0000/ folder and no .gif files", dir);
    uint8_t *data = NULL;
    for (int v = 0; v < N; v++)
        for (int t = 0; t < T; t++) {
            snprintf(p, sizeof p, "%s/video_%04d/frame_%03d.png", dir, v, t);
            uint8_t *rgb = NULL;
            int s = 0;
            if (read_png_rgb(p, S, &rgb, &s, err)) {
                free(data);
                return -1;
            }
            if (!data) {
                S = s;
                data = malloc((size_t)N * T * S * S * 3);
                if (!data) {
                    free(rgb);
                    return vdit_seterr(err, "%s: out of memory for %d videos of %d frames at %dx%d", dir, N, T, S, S);
                }
            }
            memcpy(data + ((size_t)v * T + t) * S * S * 3, rgb, (size_t)S * S * 3);
            free(rgb);
        }
    out->N = N, out->T = T, out->S = S, out->data = data;
    return 0;
}

/* ------------------------------------------------------------------------
 * GIFs: DIR/NAME.gif in name order, one video each (giflib's DGifSlurp)
 * ---------------------------------------------------------------------- */

/* giflib's words for an error code; it has none for 0, which DGifOpen
 * leaves when the file ends inside the header */
static const char *gif_error(int e)
{
    const char *s = e ? GifErrorString(e) : NULL;
    return s ? s : e ? "unknown giflib error" : "the file ends inside the GIF header";
}

/* Decodes a GIF's frames onto a canvas (frame offsets, transparency and the
 * background-disposal of each frame honoured) -> rgb[T][S][S][3] */
static int read_gif(const char *path, int S_expect, uint8_t **frames, int *T_out, int *S_out, vdit_err *err)
{
    int e = 0;
    FILE *fp;
    uint64_t fsize;
    if (vdit_open_regular(path, &fp, &fsize, err)) return -1; /* a FIFO: refused, not waited on */
    int fd = dup(fileno(fp));
    fclose(fp);
    if (fd < 0) return vdit_seterr(err, "%s: cannot open: %s", path, strerror(errno));
    GifFileType *g = DGifOpenFileHandle(fd, &e); /* closes fd, also on failure */
    if (!g) return vdit_seterr(err, "%s: cannot open the GIF (%s)", path, gif_error(e));
    if (DGifSlurp(g) != GIF_OK) {
        int ge = g->Error;
        DGifCloseFile(g, &e);
        return vdit_seterr(err, "%s: cannot decode the GIF (%s)", path, gif_error(ge));
    }
    int S = g->SWidth, T = g->ImageCount;
    const char *bad = T < 1 ? "no frames" : frame_size_problem(g->SWidth, g->SHeight, S_expect);
    if (bad) {
        int W = g->SWidth, H = g->SHeight;
        DGifCloseFile(g, &e);
        return vdit_seterr(err, "%s: %dx%d canvas with %d frames: %s", path, W, H, T, bad);
    }
    size_t f = (size_t)S * S * 3;
    uint8_t *out = malloc((size_t)T * f), *canvas = malloc(f);
    if (!out || !canvas) {
        free(out), free(canvas);
        DGifCloseFile(g, &e);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    memset(canvas, 255, f);
    for (int t = 0; t < T; t++) {
        SavedImage *im = &g->SavedImages[t];
        GifImageDesc *d = &im->ImageDesc;
        ColorMapObject *cm = d->ColorMap ? d->ColorMap : g->SColorMap;
        GraphicsControlBlock gcb = {DISPOSAL_UNSPECIFIED, false, 0, NO_TRANSPARENT_COLOR};
        DGifSavedExtensionToGCB(g, t, &gcb);
        if (!cm) {
            free(out), free(canvas);
            DGifCloseFile(g, &e);
            return vdit_seterr(err, "%s: frame %d has no colour map", path, t);
        }
        for (int y = 0; y < d->Height; y++)
            for (int x = 0; x < d->Width; x++) {
                int cy = d->Top + y, cx = d->Left + x;
                if (cy < 0 || cy >= S || cx < 0 || cx >= S) continue;
                int idx = im->RasterBits[(size_t)y * d->Width + x];
                if (idx == gcb.TransparentColor || idx >= cm->ColorCount) continue;
                uint8_t *p = canvas + ((size_t)cy * S + cx) * 3;
                p[0] = cm->Colors[idx].Red, p[1] = cm->Colors[idx].Green, p[2] = cm->Colors[idx].Blue;
            }
        memcpy(out + (size_t)t * f, canvas, f);
        if (gcb.DisposalMode == DISPOSE_BACKGROUND)
            for (int y = 0; y < d->Height; y++)
                for (int x = 0; x < d->Width; x++) {
                    int cy = d->Top + y, cx = d->Left + x;
                    if (cy >= 0 && cy < S && cx >= 0 && cx < S) memset(canvas + ((size_t)cy * S + cx) * 3, 255, 3);
                }
    }
    free(canvas);
    DGifCloseFile(g, &e);
    *frames = out, *T_out = T, *S_out = S;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_gif_dir(const char *dir, char **names, int n, eval_videos *out, vdit_err *err)
{
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    uint8_t *data = NULL;
    int T = -1, S = -1;
    char p[4096];
    for (int v = 0; v < n; v++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[v]);
        uint8_t *fr = NULL;
        int t = 0, s = 0;
        if (read_gif(p, S, &fr, &t, &s, err)) {
            free(data);
            return -1;
        }
        if (!data) {
            T = t, S = s;
            data = malloc((size_t)n * T * S * S * 3);
            if (!data) {
                free(fr);
                return vdit_seterr(err, "%s: out of memory for %d videos", dir, n);
            }
        }
        if (t != T) {
            free(fr), free(data);
            return vdit_seterr(err, "%s: %d frames: expected %d like %s", p, t, T, names[0]);
        }
        memcpy(data + (size_t)v * T * S * S * 3, fr, (size_t)T * S * S * 3);
        free(fr);
    }
    out->N = n, out->T = T, out->S = S, out->data = data;
    return 0;
}

int eval_load_videos(const char *path, eval_videos *out, vdit_err *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return vdit_seterr(err, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return vdit_seterr(err, "%s: %s", path, strerror(errno));
        char **names = NULL;
        int n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!ends_with(de->d_name, ".gif")) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                char **nn = realloc(names, (size_t)cap * sizeof *names);
                if (!nn) break;
                names = nn;
            }
            names[n] = strdup(de->d_name);
            if (names[n]) n++;
        }
        closedir(d);
        int rc = n ? load_gif_dir(path, names, n, out, err) : load_png_dir(path, out, err);
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return rc;
    }
    vdit_array a;
    memset(&a, 0, sizeof a);
    if (ends_with(path, ".npz")) {
        char **names;
        int n;
        if (vdit_npz_names(path, &names, &n, err)) return -1;
        const char *pick = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], "videos")) pick = "videos";
        int rc;
        if (!pick && n != 1)
            rc = vdit_seterr(err, "%s: no array 'videos' and %d arrays to choose from: expected 'videos'", path, n);
        else
            rc = vdit_npz_read(path, pick ? pick : names[0], &a, err);
        vdit_npz_names_free(names, n);
        if (rc) return -1;
    } else if (vdit_npy_read(path, &a, err))
        return -1;
    int rc = vdit_array_check_finite(&a, path, err) || videos_from_array(&a, path, out, err) ? -1 : 0;
    vdit_array_free(&a);
    return rc;
}

/* ------------------------------------------------------------------------
 * Truth sets: the datasets library's reader (datasets/datasets.h)
 * ---------------------------------------------------------------------- */

void eval_dataset_free(eval_dataset *d)
{
    if (d->impl) {
        vdit_dataset_free(d->impl);
        free(d->impl);
    }
    memset(d, 0, sizeof *d);
}

int eval_dataset_load(const char *dir, eval_dataset *d, vdit_err *err)
{
    memset(d, 0, sizeof *d);
    vdit_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return vdit_seterr(err, "%s: out of memory", dir);
    if (vdit_dataset_load(dir, ds, err)) {
        free(ds);
        return -1;
    }
    d->impl = ds;
    snprintf(d->name, sizeof d->name, "%s", ds->name ? ds->name : dir);
    eval_truth_set *t = &d->set;
    t->N = ds->count, t->T = ds->frames, t->S = ds->size, t->ctx = ds->context_frames;
    t->videos = ds->videos.data;
    t->take2 = ds->videos_take2.data; /* NULL outside benchmark sets */
    t->states = ds->states.data;
    t->params = ds->params.data;
    t->labels = ds->labels.data;
    t->splits = ds->splits.data;
    t->contact = ds->contact.data;
    if (eval_truth_check(t, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        vdit_seterr(err, "%s: %.900s", dir, msg);
        eval_dataset_free(d);
        return -1;
    }
    return 0;
}
