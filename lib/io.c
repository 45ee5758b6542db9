/* io.c - files, NPY arrays and safetensors.
 *
 * Every reader here treats its input as hostile: a later fuzzing pass feeds
 * it garbage. So every size is overflow-checked and compared with the file
 * size (from fstat) before anything is allocated, every failure returns -1
 * with a one-line message naming the file, what was wrong and where, and
 * nothing asserts, aborts or exits.
 *
 * Both formats store little-endian data, which we copy straight into
 * memory, so the host must be little-endian (as llm.c assumes too).
 */
#define _POSIX_C_SOURCE 200809L

#include "vdit.h"
#include "npy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "vdit io.c assumes a little-endian host (NPY and safetensors data are little-endian)"
#endif

/* Largest dim accepted in a file: 2^53, the largest integer every JSON
 * reader (and a double) holds exactly. */
#define MAX_DIM (1LL << 53)

/* Names read from a file are printed at most this long in messages, so the
 * "where" part of a message is never pushed out by a huge name. */
#define NAME_MAX_SHOWN 100

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

/* zlib's crc32 continued over n bytes (its length argument is a uInt). */
static uint32_t crc32_more(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k, n -= k;
    }
    return crc;
}


/* numel of a shape, 0 on success, -1 if the product overflows int64.
 * A zero dim anywhere makes the product 0, whatever the other dims are. */
static int shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            *numel = 0;
            return 0;
        }
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    *numel = n;
    return 0;
}

/* Formats a shape for messages: "[2,3]" (safetensors) or "(2, 3)" (NPY,
 * as Python writes a tuple: "()", "(3,)", "(2, 3)"). */
/* a shape as a Python tuple, "(2, 3)" or "(2,)", as the NPY header writes it */
static const char *py_shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i == 0 ? "" : ", ", (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "%s", ndim == 1 ? ",)" : ")");
    return buf;
}

/* Reads exactly n bytes; 0 on success. */
static int read_exact(FILE *fp, void *buf, size_t n)
{
    return n == 0 || fread(buf, 1, n, fp) == n ? 0 : -1;
}

int vdit_open_regular(const char *path, FILE **fp_out, uint64_t *size, vdit_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vdit_seterr(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vdit_seterr(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return vdit_seterr(err, "%s: is a directory, expected a file", path);
    }
    /* pipes and devices have no reliable size to check against */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vdit_seterr(err, "%s: not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *fp = fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb") : NULL;
    if (!fp) {
        int e = errno;
        close(fd);
        return vdit_seterr(err, "%s: cannot open: %s", path, strerror(e));
    }
    *fp_out = fp;
    *size = (uint64_t)st.st_size;
    return 0;
}

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void write_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------- */

int vdit_write_file_atomic(const char *path, const void *data, size_t size, vdit_err *err)
{
    if (!path) return vdit_seterr(err, "(null): no path given");
    if (!data && size > 0) return vdit_seterr(err, "%s: no data given for %zu bytes", path, size);

    /* the temporary lives in the same directory so rename() is atomic */
    static const char suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (!tmp) return vdit_seterr(err, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return vdit_seterr(err, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    int slot = vdit_temp_add(tmp, 0); /* removed on SIGINT/SIGTERM until renamed */

    const char *what = NULL; /* which step failed, for the message */
    int e = 0;
    /* mkstemp creates 0600; files the toolkit writes are meant to be shared */
    if (fchmod(fd, 0644) != 0) {
        what = "cannot set permissions";
        e = errno;
    }
    const unsigned char *p = data;
    size_t left = size;
    while (!what && left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            what = "write failed";
            e = n < 0 ? errno : EIO;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (!what && fsync(fd) != 0) {
        what = "fsync failed";
        e = errno;
    }
    /* close() can report a deferred write error (e.g. NFS, disk full) */
    if (close(fd) != 0 && !what) {
        what = "close failed";
        e = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "cannot rename temporary file into place";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        vdit_temp_drop(slot);
        free(tmp);
        if (e == EFBIG) return vdit_seterr(err, "%s: %s; the previous file is unchanged", path, vdit_strerror(e));
        return vdit_seterr(err, "%s: %s: %s", path, what, strerror(e));
    }
    vdit_temp_drop(slot);
    free(tmp);

    /* Best effort: fsync the directory so the rename itself survives a
     * crash. Failing here cannot undo the write, so it is not an error. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = "."; /* "name": the current directory */
        if (slash == dir) {
            d = "/"; /* "/name" */
        } else if (slash) {
            *slash = '\0'; /* "a/b/name" -> "a/b" */
            d = dir;
        }
        int dfd = open(d, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

int vdit_read_file(const char *path, size_t max_size, void **data, size_t *size, vdit_err *err)
{
    *data = NULL;
    *size = 0;
    FILE *fp;
    uint64_t fsize;
    if (vdit_open_regular(path, &fp, &fsize, err) != 0) return -1;
    if (fsize > (uint64_t)max_size) {
        fclose(fp);
        return vdit_seterr(err, "%s: file size %llu exceeds the limit of %zu bytes", path,
                      (unsigned long long)fsize, max_size);
    }
    void *buf = malloc(fsize > 0 ? (size_t)fsize : 1);
    if (!buf) {
        fclose(fp);
        return vdit_seterr(err, "%s: out of memory for %llu bytes", path, (unsigned long long)fsize);
    }
    if (read_exact(fp, buf, (size_t)fsize) != 0) {
        free(buf);
        fclose(fp);
        return vdit_seterr(err, "%s: read fewer than the %llu bytes fstat reported", path,
                      (unsigned long long)fsize);
    }
    fclose(fp);
    *data = buf;
    *size = (size_t)fsize;
    return 0;
}

/* ------------------------------------------------------------------------
 * dtypes and arrays
 * ---------------------------------------------------------------------- */

/* One row per dtype: its size, numpy name and NPY descr. */
static const struct {
    size_t size;
    const char *name;
    const char *descr;
} dtype_info[] = {
    [VDIT_DTYPE_F32] = {4, "float32", "<f4"},
    [VDIT_DTYPE_F64] = {8, "float64", "<f8"},
    [VDIT_DTYPE_U8] = {1, "uint8", "|u1"},
    [VDIT_DTYPE_I32] = {4, "int32", "<i4"},
    [VDIT_DTYPE_I64] = {8, "int64", "<i8"},
};
#define NDTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

static int dtype_valid(vdit_dtype dtype) { return (int)dtype >= 0 && (int)dtype < NDTYPES; }

size_t vdit_dtype_size(vdit_dtype dtype) { return dtype_valid(dtype) ? dtype_info[dtype].size : 0; }

const char *vdit_dtype_name(vdit_dtype dtype) { return dtype_valid(dtype) ? dtype_info[dtype].name : "unknown"; }

int64_t vdit_array_numel(const vdit_array *a)
{
    int64_t n = 1; /* a 0-d array is a scalar */
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

int vdit_array_check_finite(const vdit_array *a, const char *what, vdit_err *err)
{
    if (a->dtype != VDIT_DTYPE_F32 && a->dtype != VDIT_DTYPE_F64) return 0;
    int64_t n = vdit_array_numel(a), bad = -1;
    double v = 0;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        v = a->dtype == VDIT_DTYPE_F32 ? ((const float *)a->data)[i] : ((const double *)a->data)[i];
        if (!isfinite(v)) bad = i;
    }
    if (bad < 0) return 0;
    char idx[VDIT_MAX_DIMS * 24 + 4] = "[", *p = idx + 1; /* C order: the last dim varies fastest */
    int64_t rest = bad, stride[VDIT_MAX_DIMS], s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) stride[d] = s, s *= a->shape[d];
    for (int d = 0; d < a->ndim; d++, rest %= stride[d - 1])
        p += sprintf(p, "%s%lld", d ? ", " : "", (long long)(rest / stride[d]));
    sprintf(p, "]");
    return vdit_seterr(err, "%s: non-finite value %s at index %s (element %lld)", what,
                       isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", idx, (long long)bad);
}

void vdit_array_free(vdit_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------
 * NPY
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE
 * for 2.0/3.0), then the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ending in '\n', then the raw data.
 * ---------------------------------------------------------------------- */

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* A cursor over the header dict. Offsets in messages are file offsets. */
typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    size_t base; /* file offset of s[0] */
    const char *path;
    vdit_err *err;
} npy_parser;

static int np_fail(npy_parser *p, const char *expected)
{
    return vdit_seterr(p->err, "%s: offset %zu: expected %s", p->path, p->base + p->pos, expected);
}

static void np_skip_ws(npy_parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
}

/* Consumes c (after whitespace) if it is next; 1 if it was. */
static int np_accept(npy_parser *p, char c)
{
    np_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == c) {
        p->pos++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes (keys and descrs never need them), in
 * single quotes as Python's repr writes it, or double quotes. */
static int np_string(npy_parser *p, char *out, size_t outsize)
{
    np_skip_ws(p);
    if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"')) return np_fail(p, "a quoted string");
    char q = p->s[p->pos++];
    size_t n = 0;
    while (p->pos < p->len && p->s[p->pos] != q) {
        char c = p->s[p->pos];
        if (c == '\\' || c == '\n') return np_fail(p, "a short quoted string without escapes");
        if (n + 1 >= outsize) return np_fail(p, "a short quoted string");
        out[n++] = c;
        p->pos++;
    }
    if (p->pos >= p->len) return np_fail(p, "a closing quote");
    p->pos++;
    out[n] = '\0';
    return 0;
}

static int np_bool(npy_parser *p, int *out)
{
    np_skip_ws(p);
    const char *s = p->s + p->pos;
    size_t left = p->len - p->pos;
    if (left >= 4 && memcmp(s, "True", 4) == 0) {
        *out = 1;
        p->pos += 4;
    } else if (left >= 5 && memcmp(s, "False", 5) == 0) {
        *out = 0;
        p->pos += 5;
    } else {
        return np_fail(p, "True or False");
    }
    return 0;
}

/* A tuple of non-negative ints: (), (3,), (2, 3), (2, 3,). */
static int np_shape(npy_parser *p, int *ndim, int64_t *shape)
{
    if (!np_accept(p, '(')) return np_fail(p, "a shape tuple starting with '('");
    *ndim = 0;
    for (;;) {
        if (np_accept(p, ')')) return 0;
        np_skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return np_fail(p, "a non-negative integer dim or ')'");
        if (*ndim >= VDIT_MAX_DIMS) {
            char what[64];
            snprintf(what, sizeof what, "at most %d dims in the shape", VDIT_MAX_DIMS);
            return np_fail(p, what);
        }
        int64_t v = 0;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            int d = p->s[p->pos] - '0';
            if (v > (INT64_MAX - d) / 10) return np_fail(p, "a dim that fits in 64 bits");
            v = v * 10 + d;
            p->pos++;
        }
        /* Python 2 numpy wrote longs as "3L" */
        if (p->pos < p->len && p->s[p->pos] == 'L') p->pos++;
        shape[(*ndim)++] = v;
        if (np_accept(p, ',')) continue;
        if (np_accept(p, ')')) return 0;
        return np_fail(p, "',' or ')' in the shape tuple");
    }
}

/* Parses the header dict into descr, fortran_order and shape. */
static int npy_parse_header(npy_parser *p, char *descr, size_t descr_size, int *fortran, int *ndim,
                            int64_t *shape)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!np_accept(p, '{')) return np_fail(p, "dict header starting with '{'");
    for (;;) {
        if (np_accept(p, '}')) break;
        size_t key_pos = p->pos;
        char key[32];
        if (np_string(p, key, sizeof key) != 0) return -1;
        if (!np_accept(p, ':')) return np_fail(p, "':' after a dict key");
        int *seen;
        int rc;
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
            rc = np_string(p, descr, descr_size);
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_fortran;
            rc = np_bool(p, fortran);
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
            rc = np_shape(p, ndim, shape);
        } else {
            p->pos = key_pos;
            return np_fail(p, "one of the keys 'descr', 'fortran_order', 'shape'");
        }
        if (rc != 0) return -1;
        if (*seen) {
            p->pos = key_pos;
            return np_fail(p, "each key once, but this key is repeated");
        }
        *seen = 1;
        if (np_accept(p, ',')) continue;
        if (np_accept(p, '}')) break;
        return np_fail(p, "',' or '}' after a dict value");
    }
    np_skip_ws(p); /* the padding: spaces and a final '\n' */
    if (p->pos != p->len) return np_fail(p, "only whitespace after the header dict");
    if (!have_descr) return vdit_seterr(p->err, "%s: header dict has no 'descr'", p->path);
    if (!have_fortran) return vdit_seterr(p->err, "%s: header dict has no 'fortran_order'", p->path);
    if (!have_shape) return vdit_seterr(p->err, "%s: header dict has no 'shape'", p->path);
    return 0;
}

/* Reads the preamble and header of an NPY held in any source (a file, a
 * buffer, a zip member) through rd, whose whole size is `total`; checks the
 * dtype, the order and that the data size after the header matches the
 * shape exactly. `what` names the source in messages and `kind` ("file",
 * "member") says what it is. Leaves the source positioned at the data. */
int vdit__npy_read_header(vdit__npy_reader rd, void *ctx, uint64_t total, const char *what, const char *kind,
                          vdit__npy_info *info, vdit_err *err)
{
    memset(info, 0, sizeof *info);
    const char *path = what;
    char *header = NULL;
    unsigned char pre[12];
    if (total < 10 || rd(ctx, pre, 10) != 0) {
        vdit_seterr(err, "%s: %s too short (%llu bytes) for an NPY preamble", path, kind, (unsigned long long)total);
        goto fail;
    }
    if (memcmp(pre, npy_magic, 6) != 0) {
        vdit_seterr(err, "%s: offset 0: bad magic, expected \"\\x93NUMPY\"", path);
        goto fail;
    }
    int major = pre[6], minor = pre[7];
    if (!((major == 1 || major == 2 || major == 3) && minor == 0)) {
        vdit_seterr(err, "%s: offset 6: unsupported version %d.%d (expected 1.0, 2.0 or 3.0)", path, major, minor);
        goto fail;
    }
    uint64_t start = 10, hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    if (major >= 2) {
        if (total < 12 || rd(ctx, pre + 10, 2) != 0) {
            vdit_seterr(err, "%s: %s too short (%llu bytes) for an NPY %d.0 preamble", path, kind,
                   (unsigned long long)total, major);
            goto fail;
        }
        start = 12;
        hlen |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    }
    if (hlen > total - start) {
        vdit_seterr(err, "%s: offset 8: header length %llu exceeds %s size %llu", path, (unsigned long long)hlen, kind,
               (unsigned long long)total);
        goto fail;
    }
    header = malloc((size_t)hlen + 1);
    if (!header) {
        vdit_seterr(err, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (rd(ctx, header, (size_t)hlen) != 0) {
        vdit_seterr(err, "%s: offset %llu: cannot read the %llu-byte header", path, (unsigned long long)start,
               (unsigned long long)hlen);
        goto fail;
    }
    header[hlen] = '\0';

    char descr[16];
    int fortran = 0, ndim = 0;
    int64_t shape[VDIT_MAX_DIMS];
    npy_parser p = {header, (size_t)hlen, 0, (size_t)start, path, err};
    if (npy_parse_header(&p, descr, sizeof descr, &fortran, &ndim, shape) != 0) goto fail;
    free(header);
    header = NULL;

    if (fortran) {
        vdit_seterr(err, "%s: Fortran-order (column-major) arrays are not supported", path);
        goto fail;
    }
    int dtype = -1;
    for (int i = 0; i < NDTYPES; i++) {
        if (strcmp(descr, dtype_info[i].descr) == 0) dtype = i;
    }
    if (dtype < 0) {
        if (descr[0] == '>')
            vdit_seterr(err, "%s: big-endian descr '%s' is not supported (only little-endian)", path, descr);
        else
            vdit_seterr(err, "%s: unsupported descr '%s' (supported: '<f4' '<f8' '|u1' '<i4' '<i8')", path, descr);
        goto fail;
    }

    char sbuf[256];
    int64_t numel;
    uint64_t have = total - start - hlen;
    size_t isize = dtype_info[dtype].size;
    if (shape_numel(ndim, shape, &numel) != 0 || (uint64_t)numel > UINT64_MAX / isize) {
        vdit_seterr(err, "%s: shape %s is too large", path, py_shape_str(sbuf, sizeof sbuf, ndim, shape));
        goto fail;
    }
    uint64_t need = (uint64_t)numel * isize;
    if (have != need) {
        vdit_seterr(err, "%s: offset %llu: data is %llu bytes but shape %s of '%s' needs %llu bytes", path,
               (unsigned long long)(start + hlen), (unsigned long long)have,
               py_shape_str(sbuf, sizeof sbuf, ndim, shape), descr, (unsigned long long)need);
        goto fail;
    }
    if (need > SIZE_MAX) {
        vdit_seterr(err, "%s: %llu bytes of data do not fit in memory", path, (unsigned long long)need);
        goto fail;
    }
    info->dtype = (vdit_dtype)dtype;
    info->ndim = ndim;
    memcpy(info->shape, shape, sizeof(int64_t) * (size_t)ndim);
    info->data_offset = start + hlen;
    info->nbytes = need;
    return 0;

fail:
    free(header);
    return -1;
}

/* Reads the header through rd, then the data into a fresh allocation
 * (bounded by `total`, which the caller knows from outside the data). */
int vdit__npy_read_array(vdit__npy_reader rd, void *ctx, uint64_t total, const char *what, const char *kind,
                         vdit_array *out, vdit_err *err)
{
    memset(out, 0, sizeof *out);
    vdit__npy_info info;
    if (vdit__npy_read_header(rd, ctx, total, what, kind, &info, err) != 0) return -1;
    void *data = malloc(info.nbytes > 0 ? (size_t)info.nbytes : 1);
    if (!data)
        return vdit_seterr(err, "%s: out of memory for %llu bytes of data", what, (unsigned long long)info.nbytes);
    if (rd(ctx, data, (size_t)info.nbytes) != 0) {
        free(data);
        return vdit_seterr(err, "%s: offset %llu: cannot read %llu bytes of data", what,
                      (unsigned long long)info.data_offset, (unsigned long long)info.nbytes);
    }
    out->dtype = info.dtype;
    out->ndim = info.ndim;
    memcpy(out->shape, info.shape, sizeof(int64_t) * (size_t)info.ndim);
    out->data = data;
    out->nbytes = (size_t)info.nbytes;
    return 0;
}

static int npy_file_reader(void *ctx, void *buf, size_t n) { return read_exact((FILE *)ctx, buf, n); }

int vdit_npy_read(const char *path, vdit_array *out, vdit_err *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp;
    uint64_t fsize;
    if (vdit_open_regular(path, &fp, &fsize, err) != 0) return -1;
    int rc = vdit__npy_read_array(npy_file_reader, fp, fsize, path, "file", out, err);
    fclose(fp);
    return rc;
}

/* A cursor over an NPY held in memory. */
typedef struct {
    const unsigned char *p;
    size_t size, pos;
} npy_mem;

static int npy_mem_reader(void *ctx, void *buf, size_t n)
{
    npy_mem *m = ctx;
    if (n > m->size - m->pos) return -1;
    if (n > 0) memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return 0;
}

int vdit_npy_parse(const void *buf, size_t size, const char *what, vdit_array *out, vdit_err *err)
{
    if (!what) what = "(buffer)";
    if (!out) return vdit_seterr(err, "%s: no output array given", what);
    memset(out, 0, sizeof *out);
    if (!buf && size > 0) return vdit_seterr(err, "%s: no buffer given for %zu bytes", what, size);
    npy_mem m = {buf, buf ? size : 0, 0};
    return vdit__npy_read_array(npy_mem_reader, &m, m.size, what, "buffer", out, err);
}

size_t vdit__npy_header(unsigned char *buf, size_t cap, vdit_dtype dtype, int ndim, const int64_t *shape)
{
    if (!dtype_valid(dtype) || ndim < 0 || ndim > VDIT_MAX_DIMS) return 0;
    /* the dict as numpy writes it (sorted keys, trailing ", "), padded with
     * spaces and a '\n' so the data starts at a multiple of 64 */
    char sbuf[256], dict[512];
    int dlen = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                        dtype_info[dtype].descr, py_shape_str(sbuf, sizeof sbuf, ndim, shape));
    if (dlen < 0 || (size_t)dlen >= sizeof dict) return 0;
    size_t total_header = ((size_t)10 + (size_t)dlen + 1 + 63) / 64 * 64;
    size_t hlen = total_header - 10; /* < 65536: 8 dims of 20 digits is far less */
    if (total_header > cap) return 0;
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)dlen);
    memset(buf + 10 + dlen, ' ', hlen - (size_t)dlen - 1);
    buf[total_header - 1] = '\n';
    return total_header;
}

int vdit_npy_write(const char *path, const vdit_array *a, vdit_err *err)
{
    if (!a) return vdit_seterr(err, "%s: no array given", path);
    if (!dtype_valid(a->dtype)) return vdit_seterr(err, "%s: invalid dtype %d", path, (int)a->dtype);
    if (a->ndim < 0 || a->ndim > VDIT_MAX_DIMS)
        return vdit_seterr(err, "%s: ndim %d outside 0..%d", path, a->ndim, VDIT_MAX_DIMS);
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) return vdit_seterr(err, "%s: shape[%d] = %lld is negative", path, i, (long long)a->shape[i]);
    }
    char sbuf[256];
    int64_t numel;
    size_t isize = dtype_info[a->dtype].size;
    if (shape_numel(a->ndim, a->shape, &numel) != 0 || (uint64_t)numel > SIZE_MAX / isize)
        return vdit_seterr(err, "%s: shape %s is too large", path, py_shape_str(sbuf, sizeof sbuf, a->ndim, a->shape));
    size_t nbytes = (size_t)numel * isize;
    if (a->nbytes != nbytes)
        return vdit_seterr(err, "%s: nbytes %zu does not match shape %s of %s (%zu bytes)", path, a->nbytes,
                      py_shape_str(sbuf, sizeof sbuf, a->ndim, a->shape), dtype_info[a->dtype].name, nbytes);
    if (nbytes > 0 && !a->data) return vdit_seterr(err, "%s: no data given for %zu bytes", path, nbytes);

    unsigned char head[1024];
    size_t total_header = vdit__npy_header(head, sizeof head, a->dtype, a->ndim, a->shape);
    if (total_header == 0) return vdit_seterr(err, "%s: header too long", path);
    if (nbytes > SIZE_MAX - total_header) return vdit_seterr(err, "%s: array too large", path);

    size_t size = total_header + nbytes;
    unsigned char *buf = malloc(size);
    if (!buf) return vdit_seterr(err, "%s: out of memory for %zu bytes", path, size);
    memcpy(buf, head, total_header);
    if (nbytes > 0) memcpy(buf + total_header, a->data, nbytes);
    int rc = vdit_write_file_atomic(path, buf, size, err);
    free(buf);
    return rc;
}

int vdit_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, vdit_err *err)
{
    if (ndim < 0 || ndim > VDIT_MAX_DIMS)
        return vdit_seterr(err, "%s: ndim %d outside 0..%d", path, ndim, VDIT_MAX_DIMS);
    if (ndim > 0 && !shape) return vdit_seterr(err, "%s: no shape given", path);
    vdit_array a = {.dtype = VDIT_DTYPE_F32, .ndim = ndim, .data = (void *)data};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    int64_t numel;
    char sbuf[256];
    if (shape_numel(ndim, a.shape, &numel) != 0 || (uint64_t)numel > SIZE_MAX / sizeof(float))
        return vdit_seterr(err, "%s: shape %s is invalid or too large", path,
                      py_shape_str(sbuf, sizeof sbuf, ndim, a.shape));
    a.nbytes = (size_t)numel * sizeof(float);
    return vdit_npy_write(path, &a, err);
}

int vdit_npy_read_f32(const char *path, vdit_array *out, vdit_err *err)
{
    if (vdit_npy_read(path, out, err) != 0) return -1;
    if (vdit_array_check_finite(out, path, err)) { /* before the conversion, which may overflow to inf */
        vdit_array_free(out);
        return -1;
    }
    if (out->dtype == VDIT_DTYPE_F32) return 0;

    /* numel * 4 <= numel * itemsize for every dtype but u8, where it can
     * grow 4x; the overflow check covers that one */
    int64_t n = vdit_array_numel(out);
    if ((uint64_t)n > SIZE_MAX / sizeof(float)) {
        vdit_array_free(out);
        return vdit_seterr(err, "%s: too many elements (%lld) to convert to float32", path, (long long)n);
    }
    float *f = malloc(n > 0 ? (size_t)n * sizeof(float) : 1);
    if (!f) {
        vdit_array_free(out);
        return vdit_seterr(err, "%s: out of memory converting %lld elements to float32", path, (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        switch (out->dtype) {
        case VDIT_DTYPE_F64: f[i] = (float)((const double *)out->data)[i]; break;
        case VDIT_DTYPE_U8: f[i] = (float)((const uint8_t *)out->data)[i]; break;
        case VDIT_DTYPE_I32: f[i] = (float)((const int32_t *)out->data)[i]; break;
        case VDIT_DTYPE_I64: f[i] = (float)((const int64_t *)out->data)[i]; break;
        default: f[i] = 0.0f; break; /* unreachable: vdit_npy_read returns known dtypes */
        }
    }
    free(out->data);
    out->data = f;
    out->dtype = VDIT_DTYPE_F32;
    out->nbytes = (size_t)n * sizeof(float);
    if (vdit_array_check_finite(out, path, err)) { /* a float64 beyond float's range */
        vdit_array_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * safetensors
 *
 * Layout: u64 LE header length N, N bytes of a JSON object, the byte
 * buffer. Each key but "__metadata__" maps to
 *   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * with offsets relative to the buffer start.
 * ---------------------------------------------------------------------- */

/* dtypes the format knows; only F32 is supported here */
static const char *const st_known_dtypes[] = {"BOOL", "U8",  "I8",  "U16", "I16", "F16",     "BF16",    "U32",
                                              "I32",  "F32", "F64", "U64", "I64", "F8_E4M3", "F8_E5M2"};

/* One tensor while the header is being validated. */
typedef struct {
    const char *name; /* points into the JSON tree */
    int ndim;
    int64_t shape[VDIT_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;
    int index; /* position in the header, to keep the sort deterministic */
} st_entry;

static int st_entry_cmp(const void *pa, const void *pb)
{
    const st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    /* a zero-size tensor at the same begin comes first, so it does not look
     * like an overlap */
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

/* An integer in [0, max]; 0 on success. */
static int json_nonneg_int(const json_t *v, int64_t max, int64_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max) return -1;
    *out = (int64_t)x;
    return 0;
}

/* Validates one tensor entry (not its placement) into e. */
static int st_parse_entry(const char *path, const char *name, json_t *v, uint64_t bufsize, st_entry *e,
                          vdit_err *err)
{
    const int W = NAME_MAX_SHOWN;
    if (!json_is_object(v)) return vdit_seterr(err, "%s: tensor '%.*s': entry is not a JSON object", path, W, name);
    const char *key;
    json_t *field;
    json_object_foreach(v, key, field) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 && strcmp(key, "data_offsets") != 0)
            return vdit_seterr(err, "%s: tensor '%.*s': unexpected key '%.*s'", path, W, name, W, key);
    }

    json_t *dtype = json_object_get(v, "dtype");
    if (!dtype) return vdit_seterr(err, "%s: tensor '%.*s': missing 'dtype'", path, W, name);
    if (!json_is_string(dtype)) return vdit_seterr(err, "%s: tensor '%.*s': dtype is not a string", path, W, name);
    const char *ds = json_string_value(dtype);
    if (strcmp(ds, "F32") != 0) {
        for (size_t i = 0; i < sizeof st_known_dtypes / sizeof st_known_dtypes[0]; i++) {
            if (strcmp(ds, st_known_dtypes[i]) == 0)
                return vdit_seterr(err, "%s: tensor '%.*s': unsupported dtype %s (only F32)", path, W, name, ds);
        }
        return vdit_seterr(err, "%s: tensor '%.*s': unknown dtype '%.*s'", path, W, name, W, ds);
    }

    json_t *shape = json_object_get(v, "shape");
    if (!shape) return vdit_seterr(err, "%s: tensor '%.*s': missing 'shape'", path, W, name);
    if (!json_is_array(shape)) return vdit_seterr(err, "%s: tensor '%.*s': shape is not an array", path, W, name);
    size_t ndim = json_array_size(shape);
    if (ndim > VDIT_MAX_DIMS)
        return vdit_seterr(err, "%s: tensor '%.*s': shape has %zu dims, at most %d supported", path, W, name, ndim,
                      VDIT_MAX_DIMS);
    e->ndim = (int)ndim;
    for (size_t i = 0; i < ndim; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return vdit_seterr(err, "%s: tensor '%.*s': shape[%zu] is not an integer", path, W, name, i);
        long long x = json_integer_value(d);
        if (x < 0) return vdit_seterr(err, "%s: tensor '%.*s': shape[%zu] = %lld is negative", path, W, name, i, x);
        if (x > MAX_DIM)
            return vdit_seterr(err, "%s: tensor '%.*s': shape[%zu] = %lld is over 2^53", path, W, name, i, x);
        e->shape[i] = x;
    }

    json_t *offs = json_object_get(v, "data_offsets");
    if (!offs) return vdit_seterr(err, "%s: tensor '%.*s': missing 'data_offsets'", path, W, name);
    int64_t begin, end;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        json_nonneg_int(json_array_get(offs, 0), MAX_DIM, &begin) != 0 ||
        json_nonneg_int(json_array_get(offs, 1), MAX_DIM, &end) != 0)
        return vdit_seterr(err, "%s: tensor '%.*s': data_offsets is not [begin, end] of non-negative integers", path, W,
                      name);
    if (begin > end)
        return vdit_seterr(err, "%s: tensor '%.*s': data_offsets [%lld, %lld] end before they begin", path, W, name,
                      (long long)begin, (long long)end);
    if ((uint64_t)end > bufsize)
        return vdit_seterr(err, "%s: tensor '%.*s': data_offsets [%lld, %lld] go beyond the %llu-byte data buffer", path,
                      W, name, (long long)begin, (long long)end, (unsigned long long)bufsize);

    char sbuf[256];
    if (shape_numel(e->ndim, e->shape, &e->numel) != 0 || e->numel > INT64_MAX / 4)
        return vdit_seterr(err, "%s: tensor '%.*s': shape %s is too large", path, W, name,
                      vdit_shape_string(sbuf, sizeof sbuf, e->ndim, e->shape));
    if (e->numel * 4 != end - begin)
        return vdit_seterr(err, "%s: tensor '%.*s': shape %s needs %lld bytes but data_offsets give %lld", path, W, name,
                      vdit_shape_string(sbuf, sizeof sbuf, e->ndim, e->shape), (long long)(e->numel * 4),
                      (long long)(end - begin));
    e->name = name;
    e->begin = (uint64_t)begin;
    e->end = (uint64_t)end;
    return 0;
}

static int st_crc_key(const char *key)
{
    return !strcmp(key, VDIT_ST_CRC_KEY) || !strcmp(key, VDIT_ST_META_CRC_KEY);
}

/* crc32 of the metadata pairs but the checksums, each key NUL value NUL,
 * in strcmp order of the keys (the same whatever order a JSON library
 * keeps); -1 when out of memory. */
static int64_t st_meta_crc(const char *const *keys, const char *const *vals, int n)
{
    int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order), m = 0;
    if (!order) return -1;
    for (int i = 0; i < n; i++)
        if (!st_crc_key(keys[i])) {
            int j = m++;
            for (; j > 0 && strcmp(keys[order[j - 1]], keys[i]) > 0; j--) order[j] = order[j - 1];
            order[j] = i;
        }
    uint32_t c = (uint32_t)crc32(0, Z_NULL, 0);
    for (int j = 0; j < m; j++) {
        c = crc32_more(c, keys[order[j]], strlen(keys[order[j]]) + 1);
        c = crc32_more(c, vals[order[j]], strlen(vals[order[j]]) + 1);
    }
    free(order);
    return c;
}

/* Copies "__metadata__" (string -> string) into f. */
static int st_parse_meta(const char *path, json_t *meta, vdit_st_file *f, vdit_err *err)
{
    if (!json_is_object(meta)) return vdit_seterr(err, "%s: __metadata__ is not a JSON object", path);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n > 0 ? n : 1, sizeof(char *));
    f->meta_values = calloc(n > 0 ? n : 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return vdit_seterr(err, "%s: out of memory for metadata", path);
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return vdit_seterr(err, "%s: __metadata__ value for '%.*s' is not a string", path, NAME_MAX_SHOWN, key);
        if (st_crc_key(key)) continue; /* checked by vdit_st_read */
        char *k = strdup(key);
        char *s = strdup(json_string_value(v));
        if (!k || !s) {
            free(k);
            free(s);
            return vdit_seterr(err, "%s: out of memory for metadata", path);
        }
        f->meta_keys[f->nmeta] = k;
        f->meta_values[f->nmeta] = s;
        f->nmeta++;
    }
    return 0;
}

/* Validates the parsed header and builds f's tables (not its data). */
static int st_parse_header(const char *path, json_t *root, uint64_t bufsize, vdit_st_file *f, st_entry **entries_out,
                           vdit_err *err)
{
    if (!json_is_object(root)) return vdit_seterr(err, "%s: header is not a JSON object", path);

    json_t *meta = json_object_get(root, "__metadata__");
    if (meta && st_parse_meta(path, meta, f, err) != 0) return -1;

    size_t n = json_object_size(root) - (meta ? 1 : 0);
    st_entry *entries = calloc(n > 0 ? n : 1, sizeof *entries);
    if (!entries) return vdit_seterr(err, "%s: out of memory for %zu tensors", path, n);
    *entries_out = entries;
    int count = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (st_parse_entry(path, key, v, bufsize, &entries[count], err) != 0) return -1;
        entries[count].index = count;
        count++;
    }

    /* the byte ranges, in file order, must tile the buffer exactly */
    qsort(entries, (size_t)count, sizeof *entries, st_entry_cmp);
    const int W = NAME_MAX_SHOWN;
    uint64_t at = 0;
    for (int i = 0; i < count; i++) {
        const st_entry *e = &entries[i];
        if (i == 0 && e->begin != 0)
            return vdit_seterr(err, "%s: tensor '%.*s' starts at byte %llu, expected the first tensor at byte 0", path, W,
                          e->name, (unsigned long long)e->begin);
        if (i > 0 && e->begin > at)
            return vdit_seterr(err, "%s: gap between tensors '%.*s' and '%.*s' at byte %llu (%llu bytes unused)", path, W,
                          entries[i - 1].name, W, e->name, (unsigned long long)at,
                          (unsigned long long)(e->begin - at));
        if (i > 0 && e->begin < at)
            return vdit_seterr(err, "%s: tensors '%.*s' and '%.*s' overlap at byte %llu", path, W, entries[i - 1].name,
                          W, e->name, (unsigned long long)e->begin);
        at = e->end;
    }
    if (at != bufsize)
        return vdit_seterr(err,
                      "%s: %llu trailing bytes after the last tensor "
                      "(data ends at byte %llu of a %llu-byte buffer)",
                      path, (unsigned long long)(bufsize - at), (unsigned long long)at,
                      (unsigned long long)bufsize);

    f->tensors = calloc(count > 0 ? (size_t)count : 1, sizeof *f->tensors);
    if (!f->tensors) return vdit_seterr(err, "%s: out of memory for %d tensors", path, count);
    for (int i = 0; i < count; i++) {
        vdit_st_tensor *t = &f->tensors[i];
        t->name = strdup(entries[i].name);
        if (!t->name) return vdit_seterr(err, "%s: out of memory for tensor names", path);
        f->ntensors = i + 1; /* so vdit_st_free frees exactly what exists */
        t->ndim = entries[i].ndim;
        memcpy(t->shape, entries[i].shape, sizeof t->shape);
        t->numel = entries[i].numel;
    }
    return 0;
}

/* The checksum stored under key (absent: a file written before checksums)
 * against the crc of `what` ("data", "metadata"). */
static int st_check_crc(const char *path, json_t *meta, const char *key, const char *what, uint32_t crc,
                        vdit_err *err)
{
    const char *s = json_string_value(json_object_get(meta, key)); /* a string: st_parse_meta checked */
    if (!s) return 0;
    char *end;
    unsigned long want = strtoul(s, &end, 16);
    if (strlen(s) != 8 || *end || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return vdit_seterr(err, "%s: __metadata__ \"%s\" is \"%.16s\", not 8 hex digits: the file is corrupt", path,
                           key, s);
    if ((uint32_t)want != crc)
        return vdit_seterr(err, "%s: checksum mismatch: the file is corrupt (its %s has crc32 %08x, the header says %s)",
                           path, what, (unsigned)crc, s);
    return 0;
}

int vdit_st_read(const char *path, vdit_st_file *f, vdit_err *err)
{
    memset(f, 0, sizeof *f);
    FILE *fp;
    uint64_t fsize;
    if (vdit_open_regular(path, &fp, &fsize, err) != 0) return -1;

    char *header = NULL;
    json_t *root = NULL;
    st_entry *entries = NULL;
    unsigned char lenbuf[8];
    if (fsize < 8 || read_exact(fp, lenbuf, 8) != 0) {
        vdit_seterr(err, "%s: file too short (%llu bytes) for the 8-byte header length", path, (unsigned long long)fsize);
        goto fail;
    }
    uint64_t hlen = read_le64(lenbuf);
    if (hlen > VDIT_ST_MAX_HEADER) {
        vdit_seterr(err, "%s: header length %llu over %llu bytes", path, (unsigned long long)hlen, VDIT_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > fsize - 8) {
        vdit_seterr(err, "%s: header length %llu exceeds file size %llu (8 + %llu > %llu)", path, (unsigned long long)hlen,
               (unsigned long long)fsize, (unsigned long long)hlen, (unsigned long long)fsize);
        goto fail;
    }
    header = malloc((size_t)hlen + 1);
    if (!header) {
        vdit_seterr(err, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (read_exact(fp, header, (size_t)hlen) != 0) {
        vdit_seterr(err, "%s: offset 8: cannot read the %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }

    /* jansson accepts trailing whitespace, which covers the writer's padding */
    json_error_t jerr;
    root = json_loadb(header, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        vdit_seterr(err, "%s: invalid JSON header: %s at position %d", path, jerr.text, jerr.position);
        goto fail;
    }
    free(header);
    header = NULL;

    uint64_t bufsize = fsize - 8 - hlen;
    if (st_parse_header(path, root, bufsize, f, &entries, err) != 0) goto fail;

    /* Ranges tile [0, bufsize) and every tensor is F32, so every begin is a
     * multiple of 4: reading the whole buffer into one malloc'ed (hence
     * aligned) block gives aligned floats even when the buffer's offset in
     * the file is not. bufsize is bounded by the file size. */
    f->mem = malloc(bufsize > 0 ? (size_t)bufsize : 1);
    if (!f->mem) {
        vdit_seterr(err, "%s: out of memory for %llu bytes of tensor data", path, (unsigned long long)bufsize);
        goto fail;
    }
    if (read_exact(fp, f->mem, (size_t)bufsize) != 0) {
        vdit_seterr(err, "%s: offset %llu: cannot read %llu bytes of tensor data", path, (unsigned long long)(8 + hlen),
               (unsigned long long)bufsize);
        goto fail;
    }
    for (int i = 0; i < f->ntensors; i++) f->tensors[i].data = (float *)((char *)f->mem + entries[i].begin);
    f->data_crc32 = crc32_more((uint32_t)crc32(0, Z_NULL, 0), f->mem, (size_t)bufsize);
    int64_t mc = st_meta_crc((const char *const *)f->meta_keys, (const char *const *)f->meta_values, f->nmeta);
    if (mc < 0) {
        vdit_seterr(err, "%s: out of memory for metadata", path);
        goto fail;
    }
    f->meta_crc32 = (uint32_t)mc;
    json_t *meta = json_object_get(root, "__metadata__");
    if (st_check_crc(path, meta, VDIT_ST_CRC_KEY, "data", f->data_crc32, err) ||
        st_check_crc(path, meta, VDIT_ST_META_CRC_KEY, "metadata", f->meta_crc32, err))
        goto fail;

    free(entries);
    json_decref(root);
    fclose(fp);
    return 0;

fail:
    free(entries);
    json_decref(root); /* NULL-safe */
    free(header);
    fclose(fp);
    vdit_st_free(f);
    return -1;
}

const vdit_st_tensor *vdit_st_find(const vdit_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    for (int i = 0; i < f->ntensors; i++) {
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    }
    return NULL;
}

/* Whether name is prefixes[k] + the name of an entry of want, for some k. */
static int st_expected(const char *name, const vdit_param_info *want, int n, const char *const *prefixes, int np)
{
    for (int k = 0; k < np; k++) {
        size_t pl = strlen(prefixes[k]);
        if (strncmp(name, prefixes[k], pl)) continue;
        for (int i = 0; i < n; i++)
            if (!strcmp(name + pl, want[i].name)) return 1;
    }
    return 0;
}

int vdit_st_validate(const vdit_st_file *f, const char *path, const vdit_param_info *want, int n,
                     const char *const *prefixes, int nprefixes, vdit_err *err)
{
    static const char *const none[1] = {""};
    if (!prefixes || nprefixes < 1) prefixes = none, nprefixes = 1;
    for (int k = 0; k < nprefixes; k++)
        for (int i = 0; i < n; i++) {
            char name[256], want_s[96], got_s[96];
            snprintf(name, sizeof name, "%s%s", prefixes[k], want[i].name);
            const vdit_st_tensor *t = vdit_st_find(f, name);
            if (!t) return vdit_seterr(err, "%s: missing tensor '%s'", path, name);
            int same = t->ndim == want[i].ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want[i].shape[d];
            if (!same)
                return vdit_seterr(err, "%s: tensor '%s' has shape %s, the config needs %s", path, name,
                                   vdit_shape_string(got_s, sizeof got_s, t->ndim, t->shape),
                                   vdit_shape_string(want_s, sizeof want_s, want[i].ndim, want[i].shape));
            for (int64_t e = 0; e < t->numel; e++)
                if (!isfinite(t->data[e]))
                    return vdit_seterr(err, "%s: tensor '%s' holds a non-finite value at element %lld", path, name,
                                       (long long)e);
        }
    /* every expected name is there once (names are unique in a file): any other tensor is one too many */
    if ((int64_t)f->ntensors != (int64_t)n * nprefixes)
        for (int i = 0; i < f->ntensors; i++)
            if (!st_expected(f->tensors[i].name, want, n, prefixes, nprefixes))
                return vdit_seterr(err, "%s: unexpected tensor '%.200s' for this config", path, f->tensors[i].name);
    return 0;
}

const char *vdit_st_meta(const vdit_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++) {
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    }
    return NULL;
}

void vdit_st_free(vdit_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->mem);
    memset(f, 0, sizeof *f);
}

/* Builds the header object: __metadata__ first, then the tensors in the
 * order given with contiguous offsets. Sets *databytes to the buffer size. */
static json_t *st_build_header(const char *path, const vdit_st_tensor *tensors, int ntensors,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta,
                               const char *crc, uint64_t *databytes, vdit_err *err)
{
    const int W = NAME_MAX_SHOWN;
    json_t *root = json_object();
    if (!root) {
        vdit_seterr(err, "%s: out of memory", path);
        return NULL;
    }

    {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) goto oom;
        for (int i = 0; i < nmeta; i++) {
            if (!meta_keys[i] || !meta_values[i]) {
                vdit_seterr(err, "%s: metadata pair %d has a NULL key or value", path, i);
                goto fail;
            }
            if (st_crc_key(meta_keys[i])) continue; /* the file's own, below */
            if (json_object_get(meta, meta_keys[i])) {
                vdit_seterr(err, "%s: duplicate metadata key '%.*s'", path, W, meta_keys[i]);
                goto fail;
            }
            json_t *s = json_string(meta_values[i]);
            if (!s) {
                vdit_seterr(err, "%s: metadata value for '%.*s' is not valid UTF-8", path, W, meta_keys[i]);
                goto fail;
            }
            if (json_object_set_new(meta, meta_keys[i], s) != 0) {
                vdit_seterr(err, "%s: metadata key '%.*s' is not valid UTF-8", path, W, meta_keys[i]);
                goto fail;
            }
        }
        int64_t mc = st_meta_crc(meta_keys, meta_values, nmeta);
        char mcrc[16];
        snprintf(mcrc, sizeof mcrc, "%08x", (unsigned)mc);
        if (mc < 0 || json_object_set_new(meta, VDIT_ST_CRC_KEY, json_string(crc)) != 0 ||
            json_object_set_new(meta, VDIT_ST_META_CRC_KEY, json_string(mcrc)) != 0)
            goto oom;
    }

    uint64_t at = 0;
    for (int i = 0; i < ntensors; i++) {
        const vdit_st_tensor *t = &tensors[i];
        if (!t->name) {
            vdit_seterr(err, "%s: tensor %d has no name", path, i);
            goto fail;
        }
        if (strcmp(t->name, "__metadata__") == 0) {
            vdit_seterr(err, "%s: tensor %d may not be named __metadata__", path, i);
            goto fail;
        }
        if (json_object_get(root, t->name)) {
            vdit_seterr(err, "%s: duplicate tensor name '%.*s'", path, W, t->name);
            goto fail;
        }
        if (t->ndim < 0 || t->ndim > VDIT_MAX_DIMS) {
            vdit_seterr(err, "%s: tensor '%.*s': ndim %d outside 0..%d", path, W, t->name, t->ndim, VDIT_MAX_DIMS);
            goto fail;
        }
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->shape[d] > MAX_DIM) {
                vdit_seterr(err, "%s: tensor '%.*s': shape[%d] = %lld outside 0..2^53", path, W, t->name, d,
                       (long long)t->shape[d]);
                goto fail;
            }
        }
        char sbuf[256];
        int64_t numel;
        if (shape_numel(t->ndim, t->shape, &numel) != 0 || numel > INT64_MAX / 4 ||
            (uint64_t)numel * 4 > UINT64_MAX - at) {
            vdit_seterr(err, "%s: tensor '%.*s': shape %s is too large", path, W, t->name,
                   vdit_shape_string(sbuf, sizeof sbuf, t->ndim, t->shape));
            goto fail;
        }
        if (numel != t->numel) {
            vdit_seterr(err, "%s: tensor '%.*s': numel %lld does not match shape %s (%lld)", path, W, t->name,
                   (long long)t->numel, vdit_shape_string(sbuf, sizeof sbuf, t->ndim, t->shape), (long long)numel);
            goto fail;
        }
        if (numel > 0 && !t->data) {
            vdit_seterr(err, "%s: tensor '%.*s': no data", path, W, t->name);
            goto fail;
        }
        json_t *entry = json_object();
        json_t *shape = json_array();
        json_t *offs = json_array();
        int bad = !entry || !shape || !offs;
        for (int d = 0; d < t->ndim && !bad; d++) bad = json_array_append_new(shape, json_integer(t->shape[d])) != 0;
        bad = bad || json_array_append_new(offs, json_integer((json_int_t)at)) != 0;
        at += (uint64_t)numel * 4;
        bad = bad || json_array_append_new(offs, json_integer((json_int_t)at)) != 0;
        bad = bad || json_object_set_new(entry, "dtype", json_string("F32")) != 0;
        bad = bad || json_object_set(entry, "shape", shape) != 0;
        bad = bad || json_object_set(entry, "data_offsets", offs) != 0;
        json_decref(shape);
        json_decref(offs);
        if (bad) {
            json_decref(entry);
            goto oom;
        }
        if (json_object_set_new(root, t->name, entry) != 0) {
            vdit_seterr(err, "%s: tensor name '%.*s' is not valid UTF-8", path, W, t->name);
            goto fail;
        }
    }
    *databytes = at;
    return root;

oom:
    vdit_seterr(err, "%s: out of memory building the header", path);
fail:
    json_decref(root);
    return NULL;
}

int vdit_st_write(const char *path, const vdit_st_tensor *tensors, int ntensors, const char *const *meta_keys,
                  const char *const *meta_values, int nmeta, vdit_err *err)
{
    if (!path) return vdit_seterr(err, "(null): no path given");
    if (ntensors < 0 || (ntensors > 0 && !tensors))
        return vdit_seterr(err, "%s: invalid tensor list (%d tensors)", path, ntensors);
    if (nmeta < 0 || (nmeta > 0 && (!meta_keys || !meta_values)))
        return vdit_seterr(err, "%s: invalid metadata list (%d pairs)", path, nmeta);

    /* the crc of the buffer as written: the tensors' bytes in order (a
     * tensor without data is rejected by st_build_header before it counts) */
    uint32_t c = (uint32_t)crc32(0, Z_NULL, 0);
    for (int i = 0; i < ntensors; i++)
        if (tensors[i].data && tensors[i].numel > 0 && tensors[i].numel < INT64_MAX / 4)
            c = crc32_more(c, tensors[i].data, (size_t)tensors[i].numel * sizeof(float));
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)c);
    uint64_t databytes = 0;
    json_t *root = st_build_header(path, tensors, ntensors, meta_keys, meta_values, nmeta, crc, &databytes, err);
    if (!root) return -1;
    /* JSON_PRESERVE_ORDER is the default since jansson 2.8; kept for older ones */
    char *json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!json) return vdit_seterr(err, "%s: out of memory encoding the header", path);

    /* pad with spaces to a multiple of 8, as the reference writer does, so
     * the data buffer starts 8-aligned in the file */
    size_t jlen = strlen(json);
    size_t hlen = (jlen + 7) / 8 * 8;
    if (hlen > VDIT_ST_MAX_HEADER) {
        free(json);
        return vdit_seterr(err, "%s: header of %zu bytes over %llu bytes", path, hlen, VDIT_ST_MAX_HEADER);
    }
    if (databytes > SIZE_MAX - 8 - hlen) {
        free(json);
        return vdit_seterr(err, "%s: %llu bytes of tensor data is too large", path, (unsigned long long)databytes);
    }
    size_t size = 8 + hlen + (size_t)databytes;
    unsigned char *buf = malloc(size);
    if (!buf) {
        free(json);
        return vdit_seterr(err, "%s: out of memory for %zu bytes", path, size);
    }
    write_le64(buf, hlen);
    memcpy(buf + 8, json, jlen);
    memset(buf + 8 + jlen, ' ', hlen - jlen);
    free(json);
    unsigned char *p = buf + 8 + hlen;
    for (int i = 0; i < ntensors; i++) {
        size_t nb = (size_t)tensors[i].numel * sizeof(float);
        if (nb > 0) memcpy(p, tensors[i].data, nb);
        p += nb;
    }
    int rc = vdit_write_file_atomic(path, buf, size, err);
    free(buf);
    return rc;
}

int vdit_st_write_params(const char *path, const vdit_param_info *info, int n, const float *mem,
                         const char *const *meta_keys, const char *const *meta_values, int nmeta, vdit_err *err)
{
    vdit_st_tensor *t = malloc((size_t)(n > 0 ? n : 1) * sizeof *t);
    if (!t) return vdit_seterr(err, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        t[i].name = (char *)info[i].name;
        t[i].ndim = info[i].ndim;
        for (int d = 0; d < info[i].ndim; d++) t[i].shape[d] = info[i].shape[d];
        t[i].data = (float *)mem + info[i].offset;
        t[i].numel = (int64_t)info[i].numel;
    }
    int rc = vdit_st_write(path, t, n, meta_keys, meta_values, nmeta, err);
    free(t);
    return rc;
}
