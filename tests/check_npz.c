/* check_npz.c - tests for lib/npz.c (NPZ archives) and vdit_npy_parse.
 *
 * Round trips of every dtype through whole and streamed arrays at several
 * compression levels, the misuse of the streaming writer, and a corpus of
 * bad archives (not a zip, truncated, corrupted bytes, a member whose NPY
 * header claims more data than it holds, a missing member), each rejected
 * with a message naming the archive. Where /usr/bin/python3 has numpy, it
 * reads what we write and writes what we read. VDIT_CHECK_LONG=1 adds a
 * zip64 member over 4 GiB.
 */
#define _POSIX_C_SOURCE 200809L

#include "vdit.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

static char tmpdir[512];

static const char *tpath(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s", path);
    if (n > 0) ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static int count_temporaries(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* An array of dtype and shape filled with a pattern that depends on the
 * element index and the seed. */
static vdit_array make_array(vdit_dtype dt, int ndim, const int64_t *shape, int seed)
{
    vdit_array a;
    memset(&a, 0, sizeof a);
    a.dtype = dt;
    a.ndim = ndim;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        a.shape[i] = shape[i];
        n *= shape[i];
    }
    a.nbytes = (size_t)n * vdit_dtype_size(dt);
    a.data = malloc(a.nbytes ? a.nbytes : 1);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)((i * 37 + seed * 11) % 1000) - 500.25;
        switch (dt) {
        case VDIT_DTYPE_F32: ((float *)a.data)[i] = (float)v; break;
        case VDIT_DTYPE_F64: ((double *)a.data)[i] = v * 1e-3; break;
        case VDIT_DTYPE_U8: ((uint8_t *)a.data)[i] = (uint8_t)(i * 7 + seed); break;
        case VDIT_DTYPE_I32: ((int32_t *)a.data)[i] = (int32_t)(i * 100003 - seed); break;
        case VDIT_DTYPE_I64: ((int64_t *)a.data)[i] = (int64_t)i * 10000000007LL - seed; break;
        }
    }
    return a;
}

static void assert_same(const vdit_array *a, const vdit_array *b)
{
    ck_assert_int_eq(a->dtype, b->dtype);
    ck_assert_int_eq(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++) ck_assert_int_eq(a->shape[i], b->shape[i]);
    ck_assert_uint_eq(a->nbytes, b->nbytes);
    ck_assert(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
}

static int have_numpy(void)
{
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

#define ck_assert_msg_has(err, needle)                                                                      \
    ck_assert_msg(strstr((err).msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (err).msg, (needle))

/* ------------------------------------------------------------------------
 * Round trips
 * ---------------------------------------------------------------------- */

static const int64_t shp_a[] = {3, 4, 5};
static const int64_t shp_b[] = {7};
static const int64_t shp_zero[] = {2, 0, 3};

/* One archive with every dtype, a 0-d array and an empty one, at level
 * _i in {0, 1, 9}. */
START_TEST(test_roundtrip_levels)
{
    static const int levels[] = {0, 1, 9};
    int level = levels[_i];
    char fname[32];
    snprintf(fname, sizeof fname, "rt%d.npz", level);
    const char *path = tpath(fname);
    vdit_err err = {{0}};
    vdit_array arrs[7];
    const char *names[7] = {"f32", "f64", "u8", "i32", "i64", "scalar", "empty"};
    for (int d = 0; d < 5; d++) arrs[d] = make_array((vdit_dtype)d, d % 2 ? 1 : 3, d % 2 ? shp_b : shp_a, d + level);
    arrs[5] = make_array(VDIT_DTYPE_F64, 0, NULL, 3);
    arrs[6] = make_array(VDIT_DTYPE_F32, 3, shp_zero, 0);

    vdit_npz_writer *w = NULL;
    ck_assert_msg(vdit_npz_open(&w, path, level, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 7; i++) ck_assert_msg(vdit_npz_add(w, names[i], &arrs[i], &err) == 0, "%s", err.msg);
    ck_assert(!exists(path)); /* nothing at the final name before close */
    ck_assert_msg(vdit_npz_close(w, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(count_temporaries(), 0);

    char **list;
    int n;
    ck_assert_msg(vdit_npz_names(path, &list, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 7);
    for (int i = 0; i < 7; i++) ck_assert_str_eq(list[i], names[i]);
    vdit_npz_names_free(list, n);

    for (int i = 6; i >= 0; i--) { /* any order */
        vdit_array b;
        ck_assert_msg(vdit_npz_read(path, names[i], &b, &err) == 0, "%s: %s", names[i], err.msg);
        assert_same(&arrs[i], &b);
        vdit_array_free(&b);
    }
    /* the full member name works too, as with np.load */
    vdit_array b;
    ck_assert_msg(vdit_npz_read(path, "u8.npy", &b, &err) == 0, "%s", err.msg);
    assert_same(&arrs[2], &b);
    vdit_array_free(&b);
    for (int i = 0; i < 7; i++) vdit_array_free(&arrs[i]);
}
END_TEST

/* Compression does something: a compressible array stored at level 1 is
 * smaller than at level 0, and the same arrays give the same bytes. */
START_TEST(test_compression_and_determinism)
{
    int64_t shape[] = {64, 64, 3};
    vdit_array a = make_array(VDIT_DTYPE_U8, 3, shape, 0);
    memset(a.data, 255, a.nbytes / 2);
    vdit_err err = {{0}};
    size_t sizes[3];
    unsigned char *bytes[3];
    const int levels[3] = {0, 1, 1};
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.npz", k);
        vdit_npz_writer *w;
        ck_assert_int_eq(vdit_npz_open(&w, tpath(name), levels[k], &err), 0);
        ck_assert_int_eq(vdit_npz_add(w, "x", &a, &err), 0);
        ck_assert_int_eq(vdit_npz_close(w, &err), 0);
        bytes[k] = slurp(tpath(name), &sizes[k]);
        if (k == 2) sleep(1); /* a timestamp would differ now */
    }
    ck_assert_uint_gt(sizes[0], a.nbytes);      /* stored: header + data + zip records */
    ck_assert_uint_lt(sizes[1], sizes[0] * 3 / 4); /* deflated */
    ck_assert_uint_eq(sizes[1], sizes[2]);
    ck_assert_int_eq(memcmp(bytes[1], bytes[2], sizes[1]), 0);
    for (int k = 0; k < 3; k++) free(bytes[k]);
    vdit_array_free(&a);
}
END_TEST

/* A streamed array in uneven pieces reads back equal to the whole. */
START_TEST(test_streamed)
{
    int64_t shape[] = {10, 4, 6, 6, 3};
    vdit_array a = make_array(VDIT_DTYPE_U8, 5, shape, 5);
    int64_t sshape[] = {10, 2, 5};
    vdit_array s = make_array(VDIT_DTYPE_F32, 3, sshape, 1);
    const char *path = tpath("stream.npz");
    vdit_err err = {{0}};
    vdit_npz_writer *w;
    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_msg(vdit_npz_begin(w, "videos", VDIT_DTYPE_U8, 5, shape, &err) == 0, "%s", err.msg);
    size_t at = 0, piece = 1;
    while (at < a.nbytes) {
        size_t k = piece < a.nbytes - at ? piece : a.nbytes - at;
        ck_assert_msg(vdit_npz_write(w, (uint8_t *)a.data + at, k, &err) == 0, "%s", err.msg);
        at += k;
        piece = piece * 3 + 1;
    }
    ck_assert_int_eq(vdit_npz_write(w, NULL, 0, &err), 0);
    ck_assert_msg(vdit_npz_end(w, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(vdit_npz_add(w, "states", &s, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);

    vdit_array b;
    ck_assert_msg(vdit_npz_read(path, "videos", &b, &err) == 0, "%s", err.msg);
    assert_same(&a, &b);
    vdit_array_free(&b);
    ck_assert_int_eq(vdit_npz_read(path, "states", &b, &err), 0);
    assert_same(&s, &b);
    vdit_array_free(&b);
    vdit_array_free(&a);
    vdit_array_free(&s);
}
END_TEST

/* vdit_npy_parse reads an NPY held in memory, as vdit_npy_read writes it,
 * and rejects a buffer cut short. */
START_TEST(test_npy_parse)
{
    int64_t shape[] = {2, 3};
    vdit_array a = make_array(VDIT_DTYPE_I64, 2, shape, 9);
    const char *path = tpath("p.npy");
    vdit_err err = {{0}};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), 0);
    size_t n;
    unsigned char *buf = slurp(path, &n);
    vdit_array b;
    ck_assert_msg(vdit_npy_parse(buf, n, "mem", &b, &err) == 0, "%s", err.msg);
    assert_same(&a, &b);
    vdit_array_free(&b);
    memset(&b, 0x5a, sizeof b);
    ck_assert_int_eq(vdit_npy_parse(buf, n - 1, "mem", &b, &err), -1);
    ck_assert_msg_has(err, "mem: offset 128: data is 47 bytes but shape (2, 3) of '<i8' needs 48 bytes");
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(vdit_npy_parse(buf, 5, "mem", &b, &err), -1);
    ck_assert_msg_has(err, "buffer too short (5 bytes)");
    buf[0] = 'x';
    ck_assert_int_eq(vdit_npy_parse(buf, n, "mem", &b, &err), -1);
    ck_assert_msg_has(err, "mem: offset 0: bad magic");
    ck_assert_int_eq(vdit_npy_parse(NULL, 0, "nothing", &b, &err), -1);
    free(buf);
    vdit_array_free(&a);
}
END_TEST

/* ------------------------------------------------------------------------
 * Writer misuse
 * ---------------------------------------------------------------------- */

START_TEST(test_writer_rejects)
{
    const char *path = tpath("misuse.npz");
    vdit_err err = {{0}};
    int64_t shape[] = {4};
    vdit_array a = make_array(VDIT_DTYPE_F32, 1, shape, 0);
    vdit_npz_writer *w;

    ck_assert_int_eq(vdit_npz_open(&w, path, 10, &err), -1);
    ck_assert_msg_has(err, "compression level 10 outside 0..9");
    ck_assert_ptr_null(w);
    ck_assert_int_eq(vdit_npz_open(&w, tpath("no/such/dir/x.npz"), 1, &err), -1);
    ck_assert_msg_has(err, "cannot create temporary file");

    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "", &a, &err), -1);
    ck_assert_msg_has(err, "bad array name");
    ck_assert_int_eq(vdit_npz_add(w, "a/b", &a, &err), -1);
    ck_assert_msg_has(err, "bad array name 'a/b'");
    ck_assert_int_eq(vdit_npz_add(w, "x", &a, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "x", &a, &err), -1);
    ck_assert_msg_has(err, "array 'x' added twice");
    vdit_array bad = a;
    bad.nbytes = 3;
    ck_assert_int_eq(vdit_npz_add(w, "y", &bad, &err), -1);
    ck_assert_msg_has(err, "nbytes 3 does not match its shape (16 bytes)");
    /* streaming: begin twice, write beyond the shape */
    ck_assert_int_eq(vdit_npz_begin(w, "s", VDIT_DTYPE_F32, 1, shape, &err), 0);
    ck_assert_int_eq(vdit_npz_begin(w, "t", VDIT_DTYPE_F32, 1, shape, &err), -1);
    ck_assert_msg_has(err, "array 's.npy' is still being written");
    ck_assert_int_eq(vdit_npz_write(w, a.data, 12, &err), 0);
    ck_assert_int_eq(vdit_npz_write(w, a.data, 8, &err), -1);
    ck_assert_msg_has(err, "8 more bytes given but only 4 remain");
    /* after a failure the archive can only be given up */
    ck_assert_int_eq(vdit_npz_add(w, "z", &a, &err), -1);
    ck_assert_msg_has(err, "an earlier write failed");
    ck_assert_int_eq(vdit_npz_close(w, &err), -1);
    ck_assert(!exists(path));
    ck_assert_int_eq(count_temporaries(), 0);

    /* ending short */
    ck_assert_int_eq(vdit_npz_open(&w, path, 0, &err), 0);
    ck_assert_int_eq(vdit_npz_begin(w, "s", VDIT_DTYPE_F32, 1, shape, &err), 0);
    ck_assert_int_eq(vdit_npz_write(w, a.data, 15, &err), 0);
    ck_assert_int_eq(vdit_npz_end(w, &err), -1);
    ck_assert_msg_has(err, "member 's.npy' ended 1 bytes short");
    vdit_npz_abort(w);
    ck_assert(!exists(path));

    /* closing with a member open */
    ck_assert_int_eq(vdit_npz_open(&w, path, 0, &err), 0);
    ck_assert_int_eq(vdit_npz_begin(w, "s", VDIT_DTYPE_F32, 1, shape, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), -1);
    ck_assert_msg_has(err, "was never ended");
    ck_assert(!exists(path));
    ck_assert_int_eq(count_temporaries(), 0);

    /* end / write with nothing begun */
    ck_assert_int_eq(vdit_npz_open(&w, path, 0, &err), 0);
    ck_assert_int_eq(vdit_npz_end(w, &err), -1);
    ck_assert_msg_has(err, "no array begun");
    ck_assert_int_eq(vdit_npz_write(w, a.data, 4, &err), -1);
    ck_assert_msg_has(err, "no array begun");
    vdit_npz_abort(w);
    vdit_array_free(&a);
}
END_TEST

/* An abandoned archive leaves an existing file at path untouched. */
START_TEST(test_abort_keeps_old)
{
    const char *path = tpath("keep.npz");
    vdit_err err = {{0}};
    int64_t shape[] = {5};
    vdit_array a = make_array(VDIT_DTYPE_I32, 1, shape, 1), b = make_array(VDIT_DTYPE_I32, 1, shape, 2);
    vdit_npz_writer *w;
    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "a", &a, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "a", &b, &err), 0);
    vdit_npz_abort(w);
    ck_assert_int_eq(count_temporaries(), 0);
    vdit_array r;
    ck_assert_int_eq(vdit_npz_read(path, "a", &r, &err), 0);
    assert_same(&a, &r);
    vdit_array_free(&r);
    /* and a finished one replaces it */
    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "a", &b, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    ck_assert_int_eq(vdit_npz_read(path, "a", &r, &err), 0);
    assert_same(&b, &r);
    vdit_array_free(&r);
    vdit_array_free(&a);
    vdit_array_free(&b);
}
END_TEST

/* ------------------------------------------------------------------------
 * Bad archives
 * ---------------------------------------------------------------------- */

/* Writes good.npz: one deflated array "x" of 4000 floats (compressible but
 * not trivially: a CRC or deflate error must show when bytes flip). */
static unsigned char *make_good(size_t *n, const char **path_out)
{
    int64_t shape[] = {4000};
    vdit_array a = make_array(VDIT_DTYPE_F32, 1, shape, 3);
    const char *path = tpath("good.npz");
    vdit_err err = {{0}};
    vdit_npz_writer *w;
    ck_assert_int_eq(vdit_npz_open(&w, path, 6, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "x", &a, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    vdit_array_free(&a);
    *path_out = path;
    return slurp(path, n);
}

static void expect_reject(const char *path, const char *name, const char *needle)
{
    vdit_err err = {{0}};
    vdit_array a;
    memset(&a, 0x5a, sizeof a);
    ck_assert_msg(vdit_npz_read(path, name, &a, &err) == -1, "%s: accepted", needle);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message \"%s\" does not start with the path", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_ptr_null(a.data);
}

START_TEST(test_missing_member)
{
    const char *path;
    size_t n;
    free(make_good(&n, &path));
    expect_reject(path, "videos", "no array 'videos' in the archive");
    expect_reject(tpath("nonexistent.npz"), "x", "cannot open: No such file or directory");
    expect_reject(tmpdir, "x", "is a directory");
}
END_TEST

START_TEST(test_not_a_zip)
{
    const char *path = tpath("text.npz");
    const char text[] = "this is not a zip archive, only some text that is long enough to look at";
    write_bytes(path, text, sizeof text);
    expect_reject(path, "x", "not a zip archive");
    write_bytes(path, "", 0);
    expect_reject(path, "x", "not a zip archive");
    char **names;
    int n;
    vdit_err err = {{0}};
    ck_assert_int_eq(vdit_npz_names(path, &names, &n, &err), -1);
    ck_assert_msg_has(err, "not a zip archive");
}
END_TEST

/* The archive cut at many points: the end-of-central-directory record goes
 * first, so every cut is refused as not a (complete) zip. */
START_TEST(test_truncated)
{
    const char *good;
    size_t n;
    unsigned char *buf = make_good(&n, &good);
    const char *path = tpath("trunc.npz");
    size_t cuts[] = {0, 1, 30, n / 3, n / 2, n - 40, n - 22, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_bytes(path, buf, cuts[k]);
        expect_reject(path, "x", "not a zip archive");
    }
    free(buf);
}
END_TEST

/* Bytes flipped inside the compressed data: a deflate error or a CRC
 * mismatch, never accepted. */
START_TEST(test_corrupt_data)
{
    const char *good;
    size_t n;
    unsigned char *buf = make_good(&n, &good);
    const char *path = tpath("corrupt.npz");
    /* the local header is 30 bytes + "x.npy" (5); data follows. Flip bytes
     * spread over the compressed stream. */
    int rejected = 0, tries = 0;
    for (size_t at = 40; at < n / 2; at += 97) {
        unsigned char *c = malloc(n);
        memcpy(c, buf, n);
        c[at] ^= 0x5a;
        write_bytes(path, c, n);
        vdit_err err = {{0}};
        vdit_array a;
        memset(&a, 0, sizeof a);
        int rc = vdit_npz_read(path, "x", &a, &err);
        tries++;
        if (rc == -1) {
            rejected++;
            ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
            ck_assert_ptr_null(a.data);
        }
        vdit_array_free(&a);
        free(c);
    }
    ck_assert_int_gt(tries, 5);
    ck_assert_int_eq(rejected, tries);
    /* a bad CRC in the central directory alone */
    unsigned char *c = malloc(n);
    memcpy(c, buf, n);
    /* central directory entry: signature PK\1\2, crc at +16 */
    size_t cd = 0;
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(c + i, "PK\1\2", 4) == 0) cd = i;
    }
    ck_assert_uint_gt(cd, 0);
    c[cd + 16] ^= 1;
    write_bytes(path, c, n);
    expect_reject(path, "x", "corrupt");
    free(c);
    free(buf);
}
END_TEST

/* Writes a zip with one member "name.npy" holding exactly `bytes`, with
 * minizip directly (so the NPY inside can be anything). */
static void raw_member_zip(const char *path, const char *member, const void *bytes, size_t n, int level)
{
    zipFile zf = zipOpen64(path, APPEND_STATUS_CREATE);
    ck_assert_ptr_nonnull(zf);
    zip_fileinfo zi;
    memset(&zi, 0, sizeof zi);
    ck_assert_int_eq(zipOpenNewFileInZip64(zf, member, &zi, NULL, 0, NULL, 0, NULL, level ? 8 : 0, level, 0), ZIP_OK);
    ck_assert_int_eq(zipWriteInFileInZip(zf, bytes, (unsigned)n), ZIP_OK);
    ck_assert_int_eq(zipCloseFileInZip(zf), ZIP_OK);
    ck_assert_int_eq(zipClose(zf, NULL), ZIP_OK);
}

/* A member whose NPY header claims more data than it holds (and less, and a
 * member that is not NPY at all). */
START_TEST(test_member_header_lies)
{
    const char *path = tpath("lie.npz");
    unsigned char npy[128 + 40];
    char hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }";
    memset(npy, ' ', 128);
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = 118; /* 128 - 10 */
    npy[9] = 0;
    memcpy(npy + 10, hdr, strlen(hdr));
    npy[127] = '\n';
    memset(npy + 128, 0, 40);
    for (int level = 0; level <= 1; level++) {
        raw_member_zip(path, "x.npy", npy, 128 + 36, level); /* 36 of 40 bytes */
        expect_reject(path, "x", "member 'x.npy': offset 128: data is 36 bytes but shape (10,) of '<f4' needs 40");
        raw_member_zip(path, "x.npy", npy, 128 + 40, level);
        vdit_array a;
        vdit_err err = {{0}};
        ck_assert_msg(vdit_npz_read(path, "x", &a, &err) == 0, "%s", err.msg); /* exact: fine */
        ck_assert_int_eq(a.shape[0], 10);
        vdit_array_free(&a);
    }
    /* more than it holds by a lot: a huge shape is refused before allocating */
    char big[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }";
    memset(npy, ' ', 128);
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = 118;
    npy[9] = 0;
    memcpy(npy + 10, big, strlen(big));
    npy[127] = '\n';
    raw_member_zip(path, "x.npy", npy, 128 + 40, 1);
    expect_reject(path, "x", "data is 40 bytes but shape (1000000000000,)");
    raw_member_zip(path, "x.npy", "hello, not an npy file", 22, 0);
    expect_reject(path, "x", "member 'x.npy': offset 0: bad magic");
    raw_member_zip(path, "x.npy", "\x93NUM", 4, 0);
    expect_reject(path, "x", "member too short (4 bytes) for an NPY preamble");
}
END_TEST

/* The uncompressed size in the central directory edited to a value deflate
 * could not produce from the stored bytes: refused before allocating. */
START_TEST(test_declared_size_bomb)
{
    const char *good;
    size_t n;
    unsigned char *buf = make_good(&n, &good);
    size_t cd = 0;
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(buf + i, "PK\1\2", 4) == 0) cd = i;
    }
    ck_assert_uint_gt(cd, 0);
    /* uncompressed size at +24: 0xf0000000 */
    buf[cd + 24] = 0;
    buf[cd + 25] = 0;
    buf[cd + 26] = 0;
    buf[cd + 27] = 0xf0;
    const char *path = tpath("bomb.npz");
    write_bytes(path, buf, n);
    expect_reject(path, "x", "declares 4026531840 bytes but holds");
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------
 * numpy
 * ---------------------------------------------------------------------- */

/* numpy reads what we write: values, dtypes and shapes, whole and streamed,
 * stored and deflated. */
START_TEST(test_numpy_reads_ours)
{
    if (!have_numpy()) {
        fprintf(stderr, "check_npz: /usr/bin/python3 has no numpy; numpy interop not checked\n");
        return;
    }
    const char *path = tpath("for_numpy.npz");
    vdit_err err = {{0}};
    int64_t s3[] = {2, 3, 4};
    vdit_array f = make_array(VDIT_DTYPE_F32, 3, s3, 1);
    vdit_array i64 = make_array(VDIT_DTYPE_I64, 1, shp_b, 2);
    vdit_array sc = make_array(VDIT_DTYPE_F64, 0, NULL, 3);
    int64_t sv[] = {3, 2, 4, 4, 3};
    vdit_array v = make_array(VDIT_DTYPE_U8, 5, sv, 4);
    vdit_npz_writer *w;
    ck_assert_int_eq(vdit_npz_open(&w, path, 1, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "f", &f, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "i64", &i64, &err), 0);
    ck_assert_int_eq(vdit_npz_add(w, "scalar", &sc, &err), 0);
    ck_assert_int_eq(vdit_npz_begin(w, "videos", VDIT_DTYPE_U8, 5, sv, &err), 0);
    ck_assert_int_eq(vdit_npz_write(w, v.data, 100, &err), 0);
    ck_assert_int_eq(vdit_npz_write(w, (uint8_t *)v.data + 100, v.nbytes - 100, &err), 0);
    ck_assert_int_eq(vdit_npz_end(w, &err), 0);
    ck_assert_int_eq(vdit_npz_close(w, &err), 0);
    /* the same formulas as make_array, in numpy */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import numpy as np, sys\n"
             "d = np.load(sys.argv[1])\n"
             "assert sorted(d.files) == [\"f\", \"i64\", \"scalar\", \"videos\"], d.files\n"
             "i = np.arange(24)\n"
             "f = ((i * 37 + 11) %% 1000 - 500.25).astype(np.float32).reshape(2, 3, 4)\n"
             "assert d[\"f\"].dtype == np.float32 and np.array_equal(d[\"f\"], f)\n"
             "i = np.arange(7, dtype=np.int64)\n"
             "assert d[\"i64\"].dtype == np.int64 and np.array_equal(d[\"i64\"], i * 10000000007 - 2)\n"
             "s = d[\"scalar\"]\n"
             "assert s.shape == () and s.dtype == np.float64 and s == (33 %% 1000 - 500.25) * 1e-3\n"
             "v = d[\"videos\"]\n"
             "i = np.arange(3 * 2 * 4 * 4 * 3)\n"
             "assert v.shape == (3, 2, 4, 4, 3) and v.dtype == np.uint8\n"
             "assert np.array_equal(v.ravel(), ((i * 7 + 4) %% 256).astype(np.uint8))\n"
             "' %s",
             path);
    ck_assert_msg(system(cmd) == 0, "numpy could not read %s correctly", path);
    vdit_array_free(&f);
    vdit_array_free(&i64);
    vdit_array_free(&sc);
    vdit_array_free(&v);
}
END_TEST

/* We read what numpy writes (savez and savez_compressed). */
START_TEST(test_we_read_numpys)
{
    if (!have_numpy()) {
        fprintf(stderr, "check_npz: /usr/bin/python3 has no numpy; numpy interop not checked\n");
        return;
    }
    for (int comp = 0; comp <= 1; comp++) {
        const char *path = tpath(comp ? "np_c.npz" : "np_s.npz");
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import numpy as np, sys; "
                 "np.%s(sys.argv[1], a=np.arange(12, dtype=np.float32).reshape(3, 4), "
                 "b=np.array([1, -2, 3], dtype=np.int32), c=np.full((2, 2, 3), 7, dtype=np.uint8))' %s",
                 comp ? "savez_compressed" : "savez", path);
        ck_assert_int_eq(system(cmd), 0);
        vdit_err err = {{0}};
        vdit_array a;
        ck_assert_msg(vdit_npz_read(path, "a", &a, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(a.dtype, VDIT_DTYPE_F32);
        ck_assert_int_eq(a.ndim, 2);
        ck_assert_int_eq(a.shape[1], 4);
        for (int i = 0; i < 12; i++) ck_assert_float_eq(((float *)a.data)[i], (float)i);
        vdit_array_free(&a);
        ck_assert_int_eq(vdit_npz_read(path, "b", &a, &err), 0);
        ck_assert_int_eq(((int32_t *)a.data)[1], -2);
        vdit_array_free(&a);
        ck_assert_int_eq(vdit_npz_read(path, "c", &a, &err), 0);
        ck_assert_int_eq(a.ndim, 3);
        ck_assert_int_eq(((uint8_t *)a.data)[11], 7);
        vdit_array_free(&a);
        char **names;
        int n;
        ck_assert_int_eq(vdit_npz_names(path, &names, &n, &err), 0);
        ck_assert_int_eq(n, 3);
        ck_assert_str_eq(names[2], "c");
        vdit_npz_names_free(names, n);
    }
}
END_TEST

/* A member over 4 GiB is written as zip64 and reads back (numpy too), and
 * so does the member after it, at an offset past 4 GiB. Only with
 * VDIT_CHECK_LONG=1 (4.4 GB of disk, 9 GB of memory, about a minute). */
START_TEST(test_zip64_large)
{
    const char *lng = getenv("VDIT_CHECK_LONG");
    if (!lng || strcmp(lng, "1") != 0) return;
    const char *path = tpath("big.npz");
    vdit_err err = {{0}};
    int64_t shape[] = {(int64_t)4400 * 1000 * 1000};
    size_t piece = 64u << 20;
    unsigned char *buf = malloc(piece);
    for (size_t i = 0; i < piece; i++) buf[i] = (unsigned char)(i % 251 == 0 ? i / 251 : 0);
    vdit_npz_writer *w;
    /* stored: the compressed size and the next member's offset pass 4 GiB too */
    ck_assert_int_eq(vdit_npz_open(&w, path, 0, &err), 0);
    ck_assert_int_eq(vdit_npz_begin(w, "big", VDIT_DTYPE_U8, 1, shape, &err), 0);
    size_t left = (size_t)shape[0];
    while (left > 0) {
        size_t k = left < piece ? left : piece;
        ck_assert_msg(vdit_npz_write(w, buf, k, &err) == 0, "%s", err.msg);
        left -= k;
    }
    ck_assert_msg(vdit_npz_end(w, &err) == 0, "%s", err.msg);
    int64_t s1[] = {3};
    vdit_array small = make_array(VDIT_DTYPE_I32, 1, s1, 0);
    ck_assert_int_eq(vdit_npz_add(w, "after", &small, &err), 0);
    ck_assert_msg(vdit_npz_close(w, &err) == 0, "%s", err.msg);
    vdit_array a;
    ck_assert_msg(vdit_npz_read(path, "big", &a, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(a.nbytes, (size_t)shape[0]);
    for (size_t at = 0; at < a.nbytes; at += piece)
        ck_assert_int_eq(memcmp((uint8_t *)a.data + at, buf, a.nbytes - at < piece ? a.nbytes - at : piece), 0);
    vdit_array_free(&a);
    ck_assert_int_eq(vdit_npz_read(path, "after", &a, &err), 0);
    assert_same(&small, &a);
    vdit_array_free(&a);
    vdit_array_free(&small);
    if (have_numpy()) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import numpy as np, sys; d = np.load(sys.argv[1]); b = d[\"big\"]; "
                 "assert b.shape == (4400000000,) and b[251] == 1 and b[252] == 0; "
                 "assert list(d[\"after\"]) == [-0, 100003, 200006]' %s",
                 path);
        ck_assert_int_eq(system(cmd), 0);
    }
    free(buf);
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------- */

static Suite *npz_suite(void)
{
    Suite *s = suite_create("npz");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_loop_test(tc, test_roundtrip_levels, 0, 3);
    tcase_add_test(tc, test_compression_and_determinism);
    tcase_add_test(tc, test_streamed);
    tcase_add_test(tc, test_npy_parse);
    tcase_add_test(tc, test_writer_rejects);
    tcase_add_test(tc, test_abort_keeps_old);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad");
    tcase_add_test(tc, test_missing_member);
    tcase_add_test(tc, test_not_a_zip);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_corrupt_data);
    tcase_add_test(tc, test_member_header_lies);
    tcase_add_test(tc, test_declared_size_bomb);
    suite_add_tcase(s, tc);

    tc = tcase_create("numpy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_numpy_reads_ours);
    tcase_add_test(tc, test_we_read_numpys);
    suite_add_tcase(s, tc);

    tc = tcase_create("zip64");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_zip64_large);
    suite_add_tcase(s, tc);
    return s;
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vdit_check_npz.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(npz_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tmpdir();
    return failed != 0 ? 1 : 0;
}
