/* latents.c - a dataset's videos as the DiT's latent videos: pixels in
 * [-1, 1] or, through a VAE, its scaled latents (what `vdit train` trains
 * on and `vdit sample` continues). */
#define _DEFAULT_SOURCE /* flock */
#include "datasets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

void vdit_latent_set_free(vdit_latent_set *ls)
{
    free(ls->x);
    free(ls->labels);
    free(ls->videos);
    memset(ls, 0, sizeof *ls);
}

/* ------------------------------------------------------------------------
 * The latent cache (see datasets.h): one safetensors file per (VAE, videos)
 * ---------------------------------------------------------------------- */

typedef struct {
    char path[1024];  /* the entry */
    char vae[16];     /* its VAE's crc32 */
    char videos[16];  /* crc32 of the videos' bytes */
    char scale[32];   /* the VAE's scale factor, %.9g */
    int lock_fd;      /* flock on path.lock while the entry is read or made */
} latent_entry;

/* The entry for these videos under this VAE, locked; -1 with err when the
 * cache folder cannot be made or the lock not taken. */
static int entry_open(latent_entry *e, const char *cache_dir, const vdit_vae *vae, const uint8_t *videos, int N, int F,
                      int S, vdit_err *err)
{
    e->lock_fd = -1;
    struct stat st;
    if (mkdir(cache_dir, 0777) && errno != EEXIST)
        return vdit_seterr(err, "latent cache %s: cannot make the folder: %s", cache_dir, vdit_strerror(errno));
    if (stat(cache_dir, &st) || !S_ISDIR(st.st_mode))
        return vdit_seterr(err, "latent cache %s: not a folder", cache_dir);
    /* zlib's crc32 takes a uInt length: the videos in chunks */
    uLong c = crc32(0, Z_NULL, 0);
    size_t n = (size_t)N * F * S * S * 3;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < (1u << 30) ? n - off : (1u << 30);
        c = crc32(c, videos + off, (uInt)k);
        off += k;
    }
    snprintf(e->vae, sizeof e->vae, "%s", vae->id.crc32);
    snprintf(e->videos, sizeof e->videos, "%08lx", (unsigned long)c);
    snprintf(e->scale, sizeof e->scale, "%.9g", vae->scale_factor);
    int len = snprintf(e->path, sizeof e->path, "%s/latents-%s-%s-%dx%dx%d.safetensors", cache_dir, e->vae, e->videos,
                       N, F, S);
    char lock[1100];
    if (len >= (int)sizeof e->path || snprintf(lock, sizeof lock, "%s.lock", e->path) >= (int)sizeof lock)
        return vdit_seterr(err, "latent cache %s: path too long", cache_dir);
    /* the lock file stays: removing it could let a third run lock a new
     * file while the second still waits on the old one */
    e->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (e->lock_fd < 0) return vdit_seterr(err, "latent cache %s: cannot open: %s", lock, vdit_strerror(errno));
    while (flock(e->lock_fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            vdit_seterr(err, "latent cache %s: cannot lock: %s", lock, vdit_strerror(errno));
            close(e->lock_fd);
            e->lock_fd = -1;
            return -1;
        }
    return 0;
}

static void entry_close(latent_entry *e)
{
    if (e->lock_fd >= 0) close(e->lock_fd); /* releases the flock */
    e->lock_fd = -1;
}

/* Reads the entry into z (n floats [N][T][C][H][W]): 1 read, 0 absent,
 * -1 present but unusable (err says why: damaged, or another VAE scale or
 * shape than its name promises). */
static int entry_read(const latent_entry *e, float *z, const int64_t shape[5], vdit_err *err)
{
    if (access(e->path, F_OK) != 0) return 0;
    vdit_st_file f;
    if (vdit_st_read(e->path, &f, err)) return -1;
    int rc = -1;
    const vdit_st_tensor *t = vdit_st_find(&f, "latents");
    const char *vae = vdit_st_meta(&f, "vae_crc32"), *videos = vdit_st_meta(&f, "videos_crc32"),
               *scale = vdit_st_meta(&f, "scale_factor");
    int shape_ok = t && t->ndim == 5;
    for (int i = 0; shape_ok && i < 5; i++) shape_ok = t->shape[i] == shape[i];
    if (!shape_ok)
        vdit_seterr(err, "%s: no tensor 'latents' of the expected shape [%lld,%lld,%lld,%lld,%lld]", e->path,
                    (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[3],
                    (long long)shape[4]);
    else if (!vae || !videos || !scale || strcmp(vae, e->vae) || strcmp(videos, e->videos) || strcmp(scale, e->scale))
        vdit_seterr(err, "%s: its metadata names another VAE, videos or scale factor", e->path);
    else {
        memcpy(z, t->data, (size_t)t->numel * sizeof(float));
        rc = 1;
    }
    vdit_st_free(&f);
    return rc;
}

static int entry_write(const latent_entry *e, const float *z, const int64_t shape[5], vdit_err *err)
{
    vdit_st_tensor t = {"latents", 5, {0}, (float *)z, 1};
    for (int i = 0; i < 5; i++) t.shape[i] = shape[i], t.numel *= shape[i];
    const char *keys[3] = {"vae_crc32", "videos_crc32", "scale_factor"};
    const char *values[3] = {e->vae, e->videos, e->scale};
    return vdit_st_write(e->path, &t, 1, keys, values, 3, err);
}

/* z[N][T][C][H][W] <- the videos through the VAE, from the cache when it
 * holds them (cache_dir NULL: always encoded). */
static int encode_cached(const vdit_pipeline *p, const uint8_t *videos, int N, int F, int S, const int64_t shape[5],
                         float *z, const char *cache_dir, char *note, size_t note_size, vdit_err *err)
{
    note[0] = 0;
    if (!cache_dir) return vdit_pipeline_encode(p, videos, N, F, S, z, err);
    latent_entry e;
    if (entry_open(&e, cache_dir, p->vae, videos, N, F, S, err)) return -1;
    vdit_err why;
    int got = entry_read(&e, z, shape, &why);
    int rc = 0;
    if (got == 1) {
        snprintf(note, note_size, "read %s", e.path);
    } else if ((rc = vdit_pipeline_encode(p, videos, N, F, S, z, err)) == 0) {
        vdit_err werr;
        if (entry_write(&e, z, shape, &werr))
            snprintf(note, note_size, "%.400s%s%s; not cached: %.400s", got < 0 ? why.msg : "", got < 0 ? "; encoded again" : "",
                     got < 0 ? "" : "encoded", werr.msg);
        else if (got < 0)
            snprintf(note, note_size, "%s; encoded again and replaced", why.msg);
        else
            snprintf(note, note_size, "wrote %s", e.path);
    }
    entry_close(&e);
    return rc;
}

int vdit_latents_load(vdit_latent_set *ls, const char *dir, const char *vae_path, int count, const char *cache_dir,
                      vdit_err *err)
{
    memset(ls, 0, sizeof *ls);
    vdit_dataset ds;
    if (vdit_dataset_load(dir, &ds, err)) return -1;
    int rc = -1;
    int N = ds.count, T = ds.frames, S = ds.size;
    if (count > 0 && count < N) N = count;
    if (N < 1) {
        vdit_seterr(err, "%s: no videos", dir);
        goto done;
    }
    size_t nv = (size_t)T * 3 * S * S;
    const uint8_t *videos = ds.videos.data;
    const int32_t *labels = ds.labels.data;
    ls->labels = malloc((size_t)N * sizeof(int));
    ls->videos = malloc((size_t)N * nv);
    if (!ls->labels || !ls->videos) {
        vdit_seterr(err, "%s: out of memory for %d videos", dir, N);
        goto done;
    }
    for (int i = 0; i < N; i++) {
        ls->labels[i] = labels[i];
        if (labels[i] < 0 || labels[i] >= VDIT_NSCENARIOS) {
            vdit_seterr(err, "%s: video %d has label %d, not a scenario 0..%d", dir, i, labels[i], VDIT_NSCENARIOS - 1);
            goto done;
        }
    }
    memcpy(ls->videos, videos, (size_t)N * nv);
    ls->S = S, ls->frames = T;
    /* phyworld's five classes unless a box video is there: the label table's
     * size changes a model's initial weights, so models of the five
     * scenarios stay what they were before box was added */
    ls->num_classes = VDIT_NPHYWORLD;
    for (int i = 0; i < N; i++)
        if (labels[i] >= VDIT_NPHYWORLD) ls->num_classes = VDIT_NSCENARIOS;
    /* pixels (the latent video is the video in [-1, 1]) or the VAE's scaled latents */
    vdit_vae vae;
    if (vae_path && vdit_vae_load(&vae, vae_path, err)) goto done;
    vdit_pipeline p = {NULL, vae_path ? &vae : NULL, {0}, 8, NULL, NULL};
    int tf = vae_path ? vae.cfg.temporal : 1, down = vae_path ? vae.cfg.downsample : 1;
    int Tl = T / tf, Hl = S / down, C = vae_path ? vae.cfg.latent_channels : 3;
    ls->x = malloc((size_t)N * Tl * C * Hl * Hl * sizeof(float));
    int bad = !ls->x;
    if (bad) vdit_seterr(err, "%s: out of memory for the latents of %d videos", dir, N);
    if (!bad && vae_path && vdit_vae_check_shape(&vae, 1, T, S, S, err)) {
        vdit_err e2 = *err;
        vdit_seterr(err, "%s: videos of %d frames at %dx%d do not fit the VAE %s: %s", dir, T, S, S, vae_path, e2.msg);
        bad = 1;
    }
    int64_t shape[5] = {N, Tl, C, Hl, Hl};
    bad = bad || encode_cached(&p, videos, N, T, S, shape, ls->x, vae_path ? cache_dir : NULL, ls->cache_note,
                               sizeof ls->cache_note, err) != 0;
    if (vae_path) ls->vae = vae.id, vdit_vae_free(&vae);
    if (bad) goto done;
    ls->N = N, ls->T = Tl, ls->C = C, ls->H = Hl, ls->W = Hl;
    rc = 0;
done:
    if (rc) vdit_latent_set_free(ls);
    vdit_dataset_free(&ds);
    return rc;
}
