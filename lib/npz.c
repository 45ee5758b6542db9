/* npz.c - NPZ archives: numpy's savez / savez_compressed format, a zip
 * archive holding one NPY file "NAME.npy" per array, read back in numpy
 * with np.load(path)["NAME"]. Written with zlib's minizip (zip.h); read
 * with zlib's inflate over our own walk of the zip records (see Reader).
 *
 * Writing: the archive goes to a temporary name beside the target and is
 * fsync'ed and renamed into place only by vdit_npz_close, so a crash or an
 * error never leaves a half-written archive at `path`. Arrays too large to
 * hold twice (a dataset's videos) are streamed: the NPY header is written
 * first from the declared shape, then the bytes in pieces. A member whose
 * size reaches 4 GiB is written as zip64. Timestamps are fixed (1980-01-01)
 * so the same arrays always give the same bytes.
 *
 * Reading treats the archive as hostile, as io.c does: a missing member, a
 * file that is not a zip, a truncated or corrupt archive, an unsupported
 * compression, a declared size that deflate could not have produced from
 * the stored bytes, and an NPY header that does not match the member's size
 * are all reported, naming the archive and the member, before anything
 * large is allocated. A CRC mismatch is caught after the data is read.
 * Members are inflated straight into the array (no second copy), so a
 * 3 GB videos array needs 3 GB.
 */
#define _POSIX_C_SOURCE 200809L

#include "npy_internal.h"
#include "vdit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <zip.h>

/* Longest array name accepted (numpy has no limit; zip names are < 64 KiB). */
#define NPZ_NAME_MAX 200
/* minizip takes lengths as unsigned; pieces are fed in at most this much. */
#define NPZ_CHUNK ((size_t)1 << 30)
/* At least this much uncompressed data needs zip64 fields. */
#define NPZ_ZIP64_AT 0xffffffffull
/* deflate cannot expand data more than 1032:1 (zlib's technical FAQ). */
#define NPZ_MAX_RATIO 1032u


/* ------------------------------------------------------------------------
 * Writer
 * ---------------------------------------------------------------------- */

struct vdit_npz_writer {
    zipFile zf;
    char *path; /* the final name */
    char *tmp;  /* the temporary it is written to */
    int tmp_slot; /* its entry among the temporaries removed on a signal */
    int level;
    int failed; /* an earlier call failed: only abort (or close, which aborts) remain */
    /* the member being streamed, if any */
    int in_member;
    char member[NPZ_NAME_MAX + 8];
    uint64_t left; /* data bytes still expected */
    /* names already added, to refuse duplicates */
    char **names;
    int nnames, cap;
};

static int name_ok(const char *name)
{
    if (!name || !*name) return 0;
    size_t n = strlen(name);
    if (n > NPZ_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return 0;
    }
    return 1;
}

int vdit_npz_open(vdit_npz_writer **wp, const char *path, int level, vdit_err *err)
{
    if (!wp) return vdit_seterr(err, "%s: no writer pointer given", path ? path : "(null)");
    *wp = NULL;
    if (!path || !*path) return vdit_seterr(err, "(null): no path given");
    if (level < 0 || level > 9) return vdit_seterr(err, "%s: compression level %d outside 0..9", path, level);

    vdit_npz_writer *w = calloc(1, sizeof *w);
    static const char suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(plen + sizeof suffix);
    }
    if (!w || !w->path || !w->tmp) {
        if (w) {
            free(w->path);
            free(w->tmp);
            free(w);
        }
        return vdit_seterr(err, "%s: out of memory", path);
    }
    memcpy(w->tmp, path, plen);
    memcpy(w->tmp + plen, suffix, sizeof suffix);
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        int e = errno;
        free(w->path);
        free(w->tmp);
        free(w);
        return vdit_seterr(err, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    w->tmp_slot = vdit_temp_add(w->tmp, 0);
    /* mkstemp creates 0600; files the toolkit writes are meant to be shared */
    (void)fchmod(fd, 0644);
    close(fd);
    w->zf = zipOpen64(w->tmp, APPEND_STATUS_CREATE);
    if (!w->zf) {
        int e = errno;
        unlink(w->tmp);
        vdit_temp_drop(w->tmp_slot);
        free(w->path);
        free(w->tmp);
        free(w);
        return vdit_seterr(err, "%s: cannot start a zip archive: %s", path, strerror(e));
    }
    w->level = level;
    *wp = w;
    return 0;
}

static int remember_name(vdit_npz_writer *w, const char *name, vdit_err *err)
{
    for (int i = 0; i < w->nnames; i++) {
        if (strcmp(w->names[i], name) == 0) return vdit_seterr(err, "%s: array '%s' added twice", w->path, name);
    }
    if (w->nnames == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        char **n = realloc(w->names, (size_t)cap * sizeof *n);
        if (!n) return vdit_seterr(err, "%s: out of memory", w->path);
        w->names = n;
        w->cap = cap;
    }
    w->names[w->nnames] = strdup(name);
    if (!w->names[w->nnames]) return vdit_seterr(err, "%s: out of memory", w->path);
    w->nnames++;
    return 0;
}

/* Writes n bytes into the open member. */
static int put(vdit_npz_writer *w, const void *data, size_t n, vdit_err *err)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t k = n < NPZ_CHUNK ? n : NPZ_CHUNK;
        int rc = zipWriteInFileInZip(w->zf, p, (unsigned)k);
        if (rc != ZIP_OK) {
            w->failed = 1;
            int e = errno;
            if (rc == ZIP_ERRNO && e == EFBIG)
                return vdit_seterr(err, "%s: %s; the previous file is unchanged", w->path, vdit_strerror(e));
            return vdit_seterr(err, "%s: writing member '%s' failed (minizip error %d%s%s)", w->path, w->member, rc,
                           rc == ZIP_ERRNO ? ": " : "", rc == ZIP_ERRNO ? strerror(e) : "");
        }
        p += k;
        n -= k;
    }
    return 0;
}

int vdit_npz_begin(vdit_npz_writer *w, const char *name, vdit_dtype dtype, int ndim, const int64_t *shape,
                   vdit_err *err)
{
    if (!w) return vdit_seterr(err, "(null): no writer given");
    if (w->failed) return vdit_seterr(err, "%s: an earlier write failed; abort the archive", w->path);
    if (w->in_member)
        return vdit_seterr(err, "%s: array '%s' is still being written; end it before beginning another", w->path,
                       w->member);
    if (!name_ok(name))
        return vdit_seterr(err, "%s: bad array name '%.*s' (1..%d printable characters, no '/')", w->path, NPZ_NAME_MAX,
                       name ? name : "(null)", NPZ_NAME_MAX);
    size_t isize = vdit_dtype_size(dtype);
    if (isize == 0) return vdit_seterr(err, "%s: array '%s': invalid dtype %d", w->path, name, (int)dtype);
    if (ndim < 0 || ndim > VDIT_MAX_DIMS || (ndim > 0 && !shape))
        return vdit_seterr(err, "%s: array '%s': ndim %d outside 0..%d", w->path, name, ndim, VDIT_MAX_DIMS);
    uint64_t numel = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return vdit_seterr(err, "%s: array '%s': shape[%d] = %lld is negative", w->path, name, i,
                                         (long long)shape[i]);
        if (shape[i] == 0) zero = 1;
    }
    for (int i = 0; i < ndim && !zero; i++) {
        if (numel > (UINT64_MAX / 2) / (uint64_t)shape[i] / isize)
            return vdit_seterr(err, "%s: array '%s': shape is too large", w->path, name);
        numel *= (uint64_t)shape[i];
    }
    if (zero) numel = 0;
    unsigned char head[1024];
    size_t hlen = vdit__npy_header(head, sizeof head, dtype, ndim, shape);
    if (hlen == 0) return vdit_seterr(err, "%s: array '%s': header too long", w->path, name);
    if (remember_name(w, name, err) != 0) return -1;

    uint64_t total = hlen + numel * isize;
    snprintf(w->member, sizeof w->member, "%s.npy", name);
    zip_fileinfo zi;
    memset(&zi, 0, sizeof zi);
    zi.tmz_date.tm_year = 1980; /* fixed: same arrays, same bytes */
    zi.tmz_date.tm_mday = 1;
    zi.external_fa = 0644u << 16;
    int method = w->level > 0 ? Z_DEFLATED : 0;
    int rc = zipOpenNewFileInZip64(w->zf, w->member, &zi, NULL, 0, NULL, 0, NULL, method, w->level,
                                   total >= NPZ_ZIP64_AT ? 1 : 0);
    if (rc != ZIP_OK) {
        w->failed = 1;
        return vdit_seterr(err, "%s: cannot start member '%s' (minizip error %d)", w->path, w->member, rc);
    }
    w->in_member = 1;
    w->left = numel * isize;
    return put(w, head, hlen, err);
}

int vdit_npz_write(vdit_npz_writer *w, const void *data, size_t nbytes, vdit_err *err)
{
    if (!w) return vdit_seterr(err, "(null): no writer given");
    if (w->failed) return vdit_seterr(err, "%s: an earlier write failed; abort the archive", w->path);
    if (!w->in_member) return vdit_seterr(err, "%s: no array begun to write into", w->path);
    if ((uint64_t)nbytes > w->left) {
        w->failed = 1;
        return vdit_seterr(err, "%s: member '%s': %zu more bytes given but only %llu remain of the declared shape",
                       w->path, w->member, nbytes, (unsigned long long)w->left);
    }
    if (nbytes > 0 && !data) return vdit_seterr(err, "%s: member '%s': no data given", w->path, w->member);
    if (put(w, data, nbytes, err) != 0) return -1;
    w->left -= nbytes;
    return 0;
}

int vdit_npz_end(vdit_npz_writer *w, vdit_err *err)
{
    if (!w) return vdit_seterr(err, "(null): no writer given");
    if (w->failed) return vdit_seterr(err, "%s: an earlier write failed; abort the archive", w->path);
    if (!w->in_member) return vdit_seterr(err, "%s: no array begun to end", w->path);
    if (w->left != 0) {
        w->failed = 1;
        return vdit_seterr(err, "%s: member '%s' ended %llu bytes short of its declared shape", w->path, w->member,
                       (unsigned long long)w->left);
    }
    w->in_member = 0;
    int rc = zipCloseFileInZip(w->zf);
    if (rc != ZIP_OK) {
        w->failed = 1;
        return vdit_seterr(err, "%s: cannot finish member '%s' (minizip error %d)", w->path, w->member, rc);
    }
    return 0;
}

int vdit_npz_add(vdit_npz_writer *w, const char *name, const vdit_array *a, vdit_err *err)
{
    if (!w) return vdit_seterr(err, "(null): no writer given");
    if (!a) return vdit_seterr(err, "%s: array '%s': no array given", w->path, name ? name : "(null)");
    size_t isize = vdit_dtype_size(a->dtype);
    if (isize == 0) return vdit_seterr(err, "%s: array '%s': invalid dtype %d", w->path, name ? name : "(null)",
                                   (int)a->dtype);
    if (a->ndim < 0 || a->ndim > VDIT_MAX_DIMS)
        return vdit_seterr(err, "%s: array '%s': ndim %d outside 0..%d", w->path, name ? name : "(null)", a->ndim,
                       VDIT_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) numel = 0; /* begin reports it */
        else if (a->shape[i] > 0 && numel > UINT64_MAX / 16 / (uint64_t)a->shape[i]) numel = UINT64_MAX / 16;
        else numel *= (uint64_t)a->shape[i];
    }
    if ((uint64_t)a->nbytes != numel * isize)
        return vdit_seterr(err, "%s: array '%s': nbytes %zu does not match its shape (%llu bytes)", w->path,
                       name ? name : "(null)", a->nbytes, (unsigned long long)(numel * isize));
    if (a->nbytes > 0 && !a->data)
        return vdit_seterr(err, "%s: array '%s': no data given", w->path, name ? name : "(null)");
    if (vdit_npz_begin(w, name, a->dtype, a->ndim, a->shape, err) != 0) return -1;
    if (vdit_npz_write(w, a->data, a->nbytes, err) != 0) return -1;
    return vdit_npz_end(w, err);
}

static void writer_free(vdit_npz_writer *w)
{
    for (int i = 0; i < w->nnames; i++) free(w->names[i]);
    free(w->names);
    free(w->path);
    free(w->tmp);
    free(w);
}

void vdit_npz_abort(vdit_npz_writer *w)
{
    if (!w) return;
    if (w->zf) {
        if (w->in_member) zipCloseFileInZip(w->zf);
        zipClose(w->zf, NULL);
    }
    unlink(w->tmp);
    vdit_temp_drop(w->tmp_slot);
    writer_free(w);
}

int vdit_npz_close(vdit_npz_writer *w, vdit_err *err)
{
    if (!w) return vdit_seterr(err, "(null): no writer given");
    if (w->failed) {
        vdit_seterr(err, "%s: an earlier write failed; the archive was not written", w->path);
        vdit_npz_abort(w);
        return -1;
    }
    if (w->in_member) {
        vdit_seterr(err, "%s: member '%s' was never ended; the archive was not written", w->path, w->member);
        vdit_npz_abort(w);
        return -1;
    }
    int rc = zipClose(w->zf, NULL);
    w->zf = NULL;
    if (rc != ZIP_OK) {
        int e = errno;
        if (rc == ZIP_ERRNO && e == EFBIG)
            vdit_seterr(err, "%s: %s; the previous file is unchanged", w->path, vdit_strerror(e));
        else
            vdit_seterr(err, "%s: cannot finish the archive (minizip error %d%s%s)", w->path, rc,
                        rc == ZIP_ERRNO ? ": " : "", rc == ZIP_ERRNO ? strerror(e) : "");
        vdit_npz_abort(w);
        return -1;
    }
    /* minizip wrote through stdio and closed it; make the bytes durable */
    const char *what = NULL;
    int e = 0;
    int fd = open(w->tmp, O_RDONLY);
    if (fd < 0) {
        what = "cannot reopen the temporary file";
        e = errno;
    } else {
        if (fsync(fd) != 0) {
            what = "fsync failed";
            e = errno;
        }
        close(fd);
    }
    if (!what && rename(w->tmp, w->path) != 0) {
        what = "cannot rename temporary file into place";
        e = errno;
    }
    if (what) {
        vdit_seterr(err, "%s: %s: %s", w->path, what, vdit_strerror(e));
        vdit_npz_abort(w);
        return -1;
    }
    vdit_temp_drop(w->tmp_slot);
    /* best effort: fsync the directory so the rename survives a crash */
    char *dir = strdup(w->path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash == dir) d = "/";
        else if (slash) {
            *slash = '\0';
            d = dir;
        }
        int dfd = open(d, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    writer_free(w);
    return 0;
}

/* ------------------------------------------------------------------------
 * Reader
 *
 * Written against the zip specification (APPNOTE 6.3) with zlib's inflate,
 * not with minizip's unzip: the Debian minizip (1.1) unzip misreads zip64
 * sizes on LP64 hosts (it compares them with (unsigned long)-1), so it cannot
 * read back a member over 4 GiB, which numpy and we write. The reader walks
 * the central directory (zip64 records included), checks every offset and
 * size against the file before using it, inflates the member and checks its
 * CRC-32.
 * ---------------------------------------------------------------------- */

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* One member of the central directory. */
typedef struct {
    char *name; /* NUL-terminated copy */
    uint32_t flags, method, crc;
    uint64_t csize, usize, local; /* compressed size, uncompressed size, local header offset */
} zentry;

typedef struct {
    const char *path;
    FILE *fp;
    uint64_t size;    /* file size */
    uint64_t cd_end;  /* where the central directory ends (no member data may pass it) */
    zentry *entries;
    uint64_t n;
} zarchive;

static void zarchive_close(zarchive *z)
{
    if (z->entries) {
        for (uint64_t i = 0; i < z->n; i++) free(z->entries[i].name);
        free(z->entries);
    }
    if (z->fp) fclose(z->fp);
    memset(z, 0, sizeof *z);
}

static int read_at(FILE *fp, uint64_t off, void *buf, size_t n)
{
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0) return -1;
    return n == 0 || fread(buf, 1, n, fp) == n ? 0 : -1;
}

#define NOT_ZIP "not a zip archive (no complete end-of-central-directory record at its end; truncated or corrupt?)"

/* Opens `path` and reads its central directory. */
static int zarchive_open(zarchive *z, const char *path, vdit_err *err)
{
    memset(z, 0, sizeof *z);
    z->path = path;
    if (!path) return vdit_seterr(err, "(null): no path given");
    if (vdit_open_regular(path, &z->fp, &z->size, err)) {
        z->fp = NULL;
        return -1;
    }

    /* The end-of-central-directory record: 22 bytes and a comment of at most
     * 64 KiB, which must end exactly at the end of the file (so every
     * truncation of it is caught). */
    if (z->size < 22) {
        zarchive_close(z);
        return vdit_seterr(err, "%s: " NOT_ZIP, path);
    }
    size_t span = z->size < 22 + 65535 ? (size_t)z->size : 22 + 65535;
    unsigned char *tail = malloc(span);
    if (!tail) {
        zarchive_close(z);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    if (read_at(z->fp, z->size - span, tail, span) != 0) {
        free(tail);
        zarchive_close(z);
        return vdit_seterr(err, "%s: cannot read the end of the file", path);
    }
    const unsigned char *e = NULL;
    for (size_t i = span - 22 + 1; i-- > 0;) {
        if (memcmp(tail + i, "PK\5\6", 4) == 0 && i + 22 + le16(tail + i + 20) == span) {
            e = tail + i;
            break;
        }
    }
    if (!e) {
        free(tail);
        zarchive_close(z);
        return vdit_seterr(err, "%s: " NOT_ZIP, path);
    }
    uint64_t eocd = z->size - span + (uint64_t)(e - tail);
    uint64_t n = le16(e + 10), cd_size = le32(e + 12), cd_off = le32(e + 16);
    int disk = le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10);
    int zip64 = n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu;
    free(tail);
    if (disk) {
        zarchive_close(z);
        return vdit_seterr(err, "%s: multi-disk archives are not supported", path);
    }
    uint64_t cd_limit = eocd; /* the central directory ends before this */
    if (zip64) {
        /* zip64 locator: 20 bytes right before the record, pointing at the
         * zip64 end-of-central-directory record (56 bytes or more) */
        unsigned char loc[20], r[56];
        if (eocd < 20 || read_at(z->fp, eocd - 20, loc, 20) != 0 || memcmp(loc, "PK\6\7", 4) != 0) {
            zarchive_close(z);
            return vdit_seterr(err, "%s: offset %llu: expected a zip64 end-of-central-directory locator", path,
                           (unsigned long long)(eocd >= 20 ? eocd - 20 : 0));
        }
        uint64_t r_off = le64(loc + 8);
        if (r_off > eocd - 20 || eocd - 20 - r_off < 56 || read_at(z->fp, r_off, r, 56) != 0 ||
            memcmp(r, "PK\6\6", 4) != 0) {
            zarchive_close(z);
            return vdit_seterr(err, "%s: offset %llu: expected a zip64 end-of-central-directory record", path,
                           (unsigned long long)r_off);
        }
        n = le64(r + 32);
        cd_size = le64(r + 40);
        cd_off = le64(r + 48);
        cd_limit = r_off;
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off) {
        zarchive_close(z);
        return vdit_seterr(err, "%s: central directory (offset %llu, %llu bytes) lies outside the file (corrupt)", path,
                       (unsigned long long)cd_off, (unsigned long long)cd_size);
    }
    /* each entry takes at least 46 bytes */
    if (n > cd_size / 46) {
        zarchive_close(z);
        return vdit_seterr(err, "%s: %llu members cannot fit in a %llu-byte central directory (corrupt)", path,
                       (unsigned long long)n, (unsigned long long)cd_size);
    }
    z->cd_end = cd_off;
    unsigned char *cd = malloc(cd_size ? (size_t)cd_size : 1);
    z->entries = calloc(n ? (size_t)n : 1, sizeof *z->entries);
    if (!cd || !z->entries) {
        free(cd);
        zarchive_close(z);
        return vdit_seterr(err, "%s: out of memory for the central directory", path);
    }
    if (read_at(z->fp, cd_off, cd, (size_t)cd_size) != 0) {
        free(cd);
        zarchive_close(z);
        return vdit_seterr(err, "%s: offset %llu: cannot read the central directory", path, (unsigned long long)cd_off);
    }
    size_t at = 0;
    for (uint64_t k = 0; k < n; k++) {
        const unsigned char *h = cd + at;
        if (cd_size - at < 46 || memcmp(h, "PK\1\2", 4) != 0) {
            free(cd);
            zarchive_close(z);
            return vdit_seterr(err, "%s: offset %llu: expected central directory entry %llu (corrupt)", path,
                           (unsigned long long)(cd_off + at), (unsigned long long)k);
        }
        size_t nl = le16(h + 28), xl = le16(h + 30), cl = le16(h + 32);
        if (cd_size - at - 46 < nl + xl + cl) {
            free(cd);
            zarchive_close(z);
            return vdit_seterr(err, "%s: offset %llu: central directory entry %llu runs past its end (corrupt)", path,
                           (unsigned long long)(cd_off + at), (unsigned long long)k);
        }
        zentry *ze = &z->entries[k];
        ze->flags = le16(h + 8);
        ze->method = le16(h + 10);
        ze->crc = le32(h + 16);
        ze->csize = le32(h + 20);
        ze->usize = le32(h + 24);
        ze->local = le32(h + 42);
        ze->name = malloc(nl + 1);
        if (!ze->name) {
            free(cd);
            zarchive_close(z);
            return vdit_seterr(err, "%s: out of memory", path);
        }
        memcpy(ze->name, h + 46, nl);
        ze->name[nl] = '\0';
        /* zip64 extended information: the fields that overflowed, in order */
        const unsigned char *x = h + 46 + nl, *xend = x + xl;
        while (xend - x >= 4) {
            uint32_t id = le16(x), len = le16(x + 2);
            if ((size_t)(xend - x - 4) < len) break;
            if (id == 0x0001) {
                const unsigned char *f = x + 4, *fend = f + len;
                if (ze->usize == 0xffffffffu && fend - f >= 8) { ze->usize = le64(f); f += 8; }
                if (ze->csize == 0xffffffffu && fend - f >= 8) { ze->csize = le64(f); f += 8; }
                if (ze->local == 0xffffffffu && fend - f >= 8) { ze->local = le64(f); f += 8; }
            }
            x += 4 + len;
        }
        z->n = k + 1;
        at += 46 + nl + xl + cl;
    }
    free(cd);
    return 0;
}

/* A member being inflated (or copied, when stored), with its CRC. */
typedef struct {
    zarchive *z;
    const zentry *ze;
    z_stream zs;
    int zs_live, ended;
    uint64_t cleft; /* compressed bytes not yet read from the file */
    uint64_t uleft; /* uncompressed bytes not yet handed out */
    uint32_t crc;
    unsigned char in[1 << 16];
    const char *why; /* what went wrong, for the message */
} zmember;

static int member_reader(void *ctx, void *buf, size_t n)
{
    zmember *m = ctx;
    unsigned char *out = buf;
    if (n > m->uleft) {
        m->why = "shorter than declared";
        return -1;
    }
    size_t want = n;
    while (want > 0) {
        size_t k = want < NPZ_CHUNK ? want : NPZ_CHUNK;
        if (m->ze->method == 0) {
            if (fread(out, 1, k, m->z->fp) != k) {
                m->why = "truncated";
                return -1;
            }
        } else {
            m->zs.next_out = out;
            m->zs.avail_out = (uInt)k;
            while (m->zs.avail_out > 0) {
                if (m->zs.avail_in == 0 && m->cleft > 0) {
                    size_t r = m->cleft < sizeof m->in ? (size_t)m->cleft : sizeof m->in;
                    if (fread(m->in, 1, r, m->z->fp) != r) {
                        m->why = "truncated";
                        return -1;
                    }
                    m->cleft -= r;
                    m->zs.next_in = m->in;
                    m->zs.avail_in = (uInt)r;
                }
                int rc = inflate(&m->zs, Z_NO_FLUSH);
                if (rc == Z_STREAM_END) {
                    m->ended = 1;
                    if (m->zs.avail_out > 0) {
                        m->why = "deflate data ends before the declared size";
                        return -1;
                    }
                    break;
                }
                if (rc == Z_BUF_ERROR && m->zs.avail_in == 0 && m->cleft == 0) {
                    m->why = "deflate data cut short";
                    return -1;
                }
                if (rc != Z_OK && rc != Z_BUF_ERROR) {
                    m->why = "bad deflate data";
                    return -1;
                }
            }
        }
        m->crc = (uint32_t)crc32(m->crc, out, (uInt)k);
        out += k;
        want -= k;
    }
    m->uleft -= n;
    return 0;
}

/* After the last byte: the stream must end exactly there with the CRC the
 * directory gives. */
static const char *member_finish(zmember *m)
{
    if (m->ze->method != 0 && !m->ended) {
        unsigned char extra;
        for (;;) {
            if (m->zs.avail_in == 0 && m->cleft > 0) {
                size_t r = m->cleft < sizeof m->in ? (size_t)m->cleft : sizeof m->in;
                if (fread(m->in, 1, r, m->z->fp) != r) return "truncated";
                m->cleft -= r;
                m->zs.next_in = m->in;
                m->zs.avail_in = (uInt)r;
            }
            m->zs.next_out = &extra;
            m->zs.avail_out = 1;
            int rc = inflate(&m->zs, Z_NO_FLUSH);
            if (m->zs.avail_out == 0) return "deflate data longer than the declared size";
            if (rc == Z_STREAM_END) break;
            if (rc != Z_OK) return rc == Z_BUF_ERROR ? "deflate data cut short" : "bad deflate data";
        }
    }
    if (m->crc != m->ze->crc) return "CRC mismatch (corrupt data)";
    return NULL;
}

int vdit_npz_read(const char *path, const char *name, vdit_array *out, vdit_err *err)
{
    if (!out) return vdit_seterr(err, "%s: no output array given", path ? path : "(null)");
    memset(out, 0, sizeof *out);
    if (!name || !*name) return vdit_seterr(err, "%s: no array name given", path ? path : "(null)");
    if (strlen(name) > NPZ_NAME_MAX)
        return vdit_seterr(err, "%s: array name of %zu characters is too long", path ? path : "(null)", strlen(name));
    zarchive z;
    if (zarchive_open(&z, path, err) != 0) return -1;

    /* "name.npy", or the full member name as np.load also accepts */
    char member[NPZ_NAME_MAX + 8];
    snprintf(member, sizeof member, "%s.npy", name);
    const zentry *ze = NULL;
    for (uint64_t i = 0; i < z.n && !ze; i++)
        if (strcmp(z.entries[i].name, member) == 0) ze = &z.entries[i];
    for (uint64_t i = 0; i < z.n && !ze; i++)
        if (strcmp(z.entries[i].name, name) == 0) ze = &z.entries[i];
    if (!ze) {
        zarchive_close(&z);
        return vdit_seterr(err, "%s: no array '%s' in the archive", path, name);
    }
    char what[1400];
    snprintf(what, sizeof what, "%s: member '%s'", path, ze->name);
    int rc = -1;
    zmember *m = NULL;
    if (ze->flags & 1) {
        vdit_seterr(err, "%s: is encrypted, which is not supported", what);
        goto done;
    }
    if (ze->method != 0 && ze->method != Z_DEFLATED) {
        vdit_seterr(err, "%s: compression method %u is not supported (only stored or deflate)", what,
                (unsigned)ze->method);
        goto done;
    }
    /* the declared size bounds the allocation: check it against the stored bytes */
    uint64_t most = ze->method == 0 ? ze->csize
                                    : (ze->csize > UINT64_MAX / NPZ_MAX_RATIO ? UINT64_MAX
                                                                              : ze->csize * NPZ_MAX_RATIO + 1024);
    if (ze->usize > most) {
        vdit_seterr(err, "%s: declares %llu bytes but holds %llu compressed bytes (corrupt)", what,
                (unsigned long long)ze->usize, (unsigned long long)ze->csize);
        goto done;
    }
    /* the local header, and the data after it, before the central directory */
    unsigned char lh[30];
    if (ze->local > z.cd_end || z.cd_end - ze->local < 30 || read_at(z.fp, ze->local, lh, 30) != 0 ||
        memcmp(lh, "PK\3\4", 4) != 0) {
        vdit_seterr(err, "%s: offset %llu: expected a local file header (corrupt)", what, (unsigned long long)ze->local);
        goto done;
    }
    uint64_t data = ze->local + 30 + le16(lh + 26) + le16(lh + 28);
    if (data > z.cd_end || ze->csize > z.cd_end - data) {
        vdit_seterr(err, "%s: its %llu compressed bytes at offset %llu run past the central directory (corrupt)", what,
                (unsigned long long)ze->csize, (unsigned long long)data);
        goto done;
    }
    if (fseeko(z.fp, (off_t)data, SEEK_SET) != 0) {
        vdit_seterr(err, "%s: cannot seek to offset %llu", what, (unsigned long long)data);
        goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        vdit_seterr(err, "%s: out of memory", what);
        goto done;
    }
    m->z = &z;
    m->ze = ze;
    m->cleft = ze->csize;
    m->uleft = ze->usize;
    m->crc = (uint32_t)crc32(0, Z_NULL, 0);
    if (ze->method == Z_DEFLATED) {
        if (inflateInit2(&m->zs, -MAX_WBITS) != Z_OK) { /* raw deflate, as in zip */
            vdit_seterr(err, "%s: cannot start inflate", what);
            goto done;
        }
        m->zs_live = 1;
    } else if (ze->csize != ze->usize) {
        vdit_seterr(err, "%s: stored member of %llu bytes declares %llu (corrupt)", what, (unsigned long long)ze->csize,
                (unsigned long long)ze->usize);
        goto done;
    }
    if (vdit__npy_read_array(member_reader, m, ze->usize, what, "member", out, err) != 0) {
        if (m->why && err) {
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len, " (%s)", m->why);
        }
        goto done;
    }
    const char *bad = member_finish(m);
    if (bad) {
        vdit_array_free(out);
        vdit_seterr(err, "%s: %s", what, bad);
        goto done;
    }
    rc = 0;
done:
    if (m && m->zs_live) inflateEnd(&m->zs);
    free(m);
    zarchive_close(&z);
    return rc;
}

int vdit_npz_names(const char *path, char ***names_out, int *n_out, vdit_err *err)
{
    if (!names_out || !n_out) return vdit_seterr(err, "%s: no output given", path ? path : "(null)");
    *names_out = NULL;
    *n_out = 0;
    zarchive z;
    if (zarchive_open(&z, path, err) != 0) return -1;
    if (z.n > (1u << 24)) {
        zarchive_close(&z);
        return vdit_seterr(err, "%s: %llu members is more than accepted", path, (unsigned long long)z.n);
    }
    char **names = calloc(z.n ? (size_t)z.n : 1, sizeof *names);
    if (!names) {
        zarchive_close(&z);
        return vdit_seterr(err, "%s: out of memory", path);
    }
    for (uint64_t i = 0; i < z.n; i++) {
        size_t len = strlen(z.entries[i].name);
        names[i] = strdup(z.entries[i].name);
        if (!names[i]) {
            vdit_npz_names_free(names, (int)i);
            zarchive_close(&z);
            return vdit_seterr(err, "%s: out of memory", path);
        }
        if (len > 4 && strcmp(names[i] + len - 4, ".npy") == 0) names[i][len - 4] = '\0'; /* as np.load's .files */
    }
    *names_out = names;
    *n_out = (int)z.n;
    zarchive_close(&z);
    return 0;
}

void vdit_npz_names_free(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}
