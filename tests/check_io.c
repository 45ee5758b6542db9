/* check_io.c - tests for lib/io.c: atomic files, NPY and safetensors.
 *
 * Round trips for every dtype and shape kind, fixtures with hand-written
 * headers as numpy and the safetensors reference write them, and a corpus
 * of bad files, each built in code in a temporary directory, which must be
 * rejected with a specific message.
 */
#define _POSIX_C_SOURCE 200809L

#include "vdit.h"

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

static char tmpdir[512];

/* tmpdir/name, in one of a few rotating buffers so two paths can be used
 * in one call */
static const char *tpath(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s", path);
    if (n > 0) ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* Whole file into a malloc'ed buffer (test side, independent of io.c). */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    *n = len;
    return buf;
}

/* How many entries of tmpdir contain ".tmp." (leftover temporaries). */
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

/* memmem is a GNU extension; this is the portable few lines of it */
static int has_bytes(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0) return 1;
    }
    return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* keep: FULL keeps the whole file, keep >= 0 keeps the first keep bytes,
 * keep < 0 drops -keep bytes from the end */
#define FULL LONG_MAX

static void truncate_and_write(const char *path, unsigned char *buf, size_t n, long keep)
{
    if (keep != FULL) {
        size_t k = keep >= 0 ? (size_t)keep : n - (size_t)(-keep);
        ck_assert_uint_le(k, n);
        n = k;
    }
    write_bytes(path, buf, n);
}

/* A safetensors file: u64 length (hlen, or the header's own length when
 * hlen is UINT64_MAX), the header text, datalen bytes 0, 1, 2, ... */
static void make_st(const char *path, const char *header, uint64_t hlen, size_t datalen, long keep)
{
    size_t jlen = strlen(header);
    size_t n = 8 + jlen + datalen;
    unsigned char *buf = malloc(n);
    put_le64(buf, hlen == UINT64_MAX ? jlen : hlen);
    memcpy(buf + 8, header, jlen);
    for (size_t i = 0; i < datalen; i++) buf[8 + jlen + i] = (unsigned char)i;
    truncate_and_write(path, buf, n, keep);
    free(buf);
}

/* An NPY file: magic (or a wrong one), version, header length (hlen, or the
 * header's own length when hlen is UINT32_MAX), header, datalen zero bytes. */
static void make_npy(const char *path, int bad_magic, int major, int minor, const char *header, uint32_t hlen,
                     size_t datalen, long keep)
{
    size_t jlen = strlen(header);
    size_t pre = major >= 2 ? 12 : 10;
    size_t n = pre + jlen + datalen;
    unsigned char *buf = calloc(1, n);
    memcpy(buf, bad_magic ? "\x93NUMPX" : "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    uint32_t h = hlen == UINT32_MAX ? (uint32_t)jlen : hlen;
    for (size_t i = 0; i + 8 < pre; i++) buf[8 + i] = (unsigned char)(h >> (8 * i));
    memcpy(buf + pre, header, jlen);
    truncate_and_write(path, buf, n, keep);
    free(buf);
}

#define ck_assert_msg_has(err, needle)                                                                      \
    ck_assert_msg(strstr((err).msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (err).msg, (needle))

/* ------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------- */

START_TEST(test_atomic_write_and_read)
{
    vdit_err err = {{0}};
    const char *path = tpath("atomic.bin");
    ck_assert_int_eq(vdit_write_file_atomic(path, "hello world", 11, &err), 0);
    ck_assert_int_eq(vdit_write_file_atomic(path, "bye", 3, &err), 0); /* replaces */

    void *data;
    size_t n;
    ck_assert_int_eq(vdit_read_file(path, 1000, &data, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(data, "bye", 3);
    free(data);

    /* an empty file is fine too */
    ck_assert_int_eq(vdit_write_file_atomic(path, NULL, 0, &err), 0);
    ck_assert_int_eq(vdit_read_file(path, 1000, &data, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    free(data);

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644); /* not mkstemp's 0600 */
    ck_assert_int_eq(count_temporaries(), 0);
}
END_TEST

START_TEST(test_atomic_write_missing_dir)
{
    vdit_err err = {{0}};
    const char *path = tpath("no/such/dir/x.bin");
    ck_assert_int_eq(vdit_write_file_atomic(path, "abc", 3, &err), -1);
    ck_assert_msg_has(err, path);
    ck_assert_msg_has(err, "No such file or directory");
}
END_TEST

/* vdit_path_clash: each kind of clash by its code, and the near misses that
 * are not one (a sibling, a prefix that is not a parent, paths not there). */
START_TEST(test_path_clash)
{
    vdit_err err = {{0}};
    char dir[1024], dirx[1024], sym[1024], hard[1024], dsym[1024];
    char file[1100], other[1100], fx[1100]; /* dir or dirx, then a name */
    snprintf(dir, sizeof dir, "%s", tpath("clash"));
    snprintf(dirx, sizeof dirx, "%s", tpath("clashx")); /* "clash" is a prefix of its name, not its parent */
    snprintf(file, sizeof file, "%s/data.npz", dir);
    snprintf(other, sizeof other, "%s/meta.json", dir);
    snprintf(sym, sizeof sym, "%s", tpath("clash-sym.npz"));
    snprintf(hard, sizeof hard, "%s", tpath("clash-hard.npz"));
    snprintf(dsym, sizeof dsym, "%s", tpath("clash-dir"));
    snprintf(fx, sizeof fx, "%s/f", dirx);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkdir(dirx, 0755), 0);
    write_bytes(file, "abc", 3);
    write_bytes(other, "{}", 2);
    write_bytes(fx, "x", 1);
    ck_assert_int_eq(symlink(file, sym), 0);
    ck_assert_int_eq(link(file, hard), 0);
    ck_assert_int_eq(symlink(dir, dsym), 0);

    ck_assert_int_eq(vdit_path_clash(file, file, &err), VDIT_CLASH_SAME);
    ck_assert_msg_has(err, "the output");
    ck_assert_msg_has(err, "is the input");
    ck_assert_int_eq(vdit_path_clash(sym, file, &err), VDIT_CLASH_SAME);
    ck_assert_int_eq(vdit_path_clash(hard, file, &err), VDIT_CLASH_SAME);
    ck_assert_int_eq(vdit_path_clash(dsym, dir, &err), VDIT_CLASH_SAME);
    ck_assert_int_eq(vdit_path_clash(dir, file, &err), VDIT_CLASH_HOLDS);
    ck_assert_int_eq(vdit_path_clash(dsym, file, &err), VDIT_CLASH_HOLDS);
    ck_assert_int_eq(vdit_path_clash(tmpdir, file, &err), VDIT_CLASH_HOLDS);
    ck_assert_int_eq(vdit_path_clash(file, dir, &err), VDIT_CLASH_INSIDE);
    ck_assert_int_eq(vdit_path_clash(sym, dir, &err), VDIT_CLASH_INSIDE); /* a link out, to a file in it */
    ck_assert_msg_has(err, sym);
    ck_assert_msg_has(err, dir);
    /* no clash */
    ck_assert_int_eq(vdit_path_clash(other, file, &err), 0);
    ck_assert_int_eq(vdit_path_clash(fx, dir, &err), 0);
    ck_assert_int_eq(vdit_path_clash(dirx, file, &err), 0);
    ck_assert_int_eq(vdit_path_clash(dir, fx, &err), 0);
    ck_assert_int_eq(vdit_path_clash(tpath("clash/new.npy"), dir, &err), 0); /* not there yet */
    ck_assert_int_eq(vdit_path_clash(file, tpath("no-such"), &err), 0);
    ck_assert_int_eq(vdit_path_clash(NULL, file, &err), 0);
    ck_assert_int_eq(vdit_path_clash(file, NULL, &err), 0);
}
END_TEST

/* vdit_out_lock: a second lock on the same output fails at once naming the
 * holder's pid (flock locks belong to the open file, so this holds within
 * one process too); the unlock removes PATH.lock and the next lock succeeds. */
START_TEST(test_out_lock)
{
    vdit_err err = {{0}};
    char out[1024], lockfile[1024], want[64];
    snprintf(out, sizeof out, "%s/", tpath("locked")); /* a trailing slash: the lock is still locked.lock */
    snprintf(lockfile, sizeof lockfile, "%s", tpath("locked.lock"));
    vdit_out_lock_t a, b;
    ck_assert_int_eq(vdit_out_lock(out, &a, &err), 0);
    ck_assert_int_eq(access(lockfile, F_OK), 0);
    ck_assert_int_eq(vdit_out_lock(out, &b, &err), -1);
    snprintf(want, sizeof want, "in use by another writer (pid %ld;", (long)getpid());
    ck_assert_msg_has(err, want);
    ck_assert_msg_has(err, lockfile);
    vdit_out_unlock(&b); /* never taken: a no-op */
    vdit_out_unlock(&a);
    ck_assert_int_ne(access(lockfile, F_OK), 0);
    ck_assert_int_eq(vdit_out_lock(out, &b, &err), 0);
    vdit_out_unlock(&b);
    /* no parent folder: no lock and no error (the writer says what is missing) */
    ck_assert_int_eq(vdit_out_lock(tpath("no/such/out"), &b, &err), 0);
    ck_assert_int_eq(b.fd, -1);
    vdit_out_unlock(&b);
}
END_TEST

/* A write that fails half way (here: over RLIMIT_FSIZE, standing in for a
 * full disk) must leave the old file as it was and no temporary behind.
 * The limit is set in a child of our own, so it cannot touch Check's own
 * result files when Check runs without fork (CK_FORK=no). */
START_TEST(test_atomic_write_failure_keeps_old)
{
    vdit_err err = {{0}};
    const char *path = tpath("keep.bin");
    ck_assert_int_eq(vdit_write_file_atomic(path, "original", 8, &err), 0);

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        char big[4096];
        memset(big, 'x', sizeof big);
        struct rlimit lim;
        getrlimit(RLIMIT_FSIZE, &lim);
        lim.rlim_cur = 100;
        ck_assert_int_eq(vdit_signals_install(), 0); /* as vdit does: EFBIG, not SIGXFSZ */
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(2);
        int rc = vdit_write_file_atomic(path, big, sizeof big, &err);
        ssize_t w = write(fds[1], err.msg, strlen(err.msg) + 1);
        _exit(rc == -1 && w > 0 ? 0 : 1);
    }
    close(fds[1]);
    char msg[sizeof err.msg] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the limited write did not fail: %s", msg);
    ck_assert_msg(strstr(msg, path) != NULL, "message \"%s\" lacks the path", msg);
    ck_assert_msg(strstr(msg, "file too large (over the file size limit") != NULL, "message \"%s\"", msg);

    size_t n;
    unsigned char *b = slurp(path, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_mem_eq(b, "original", 8);
    free(b);
    ck_assert_int_eq(count_temporaries(), 0);
}
END_TEST

/* The registry of temporaries: files go, then the folder that held them;
 * a dropped entry is left alone. */
START_TEST(test_temps_remove)
{
    const char *dir = tpath("x.tmp-dir");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/data.npz", dir);
    snprintf(b, sizeof b, "%s/meta.json", dir);
    const char *kept = tpath("kept.bin");
    write_bytes(a, "a", 1);
    write_bytes(b, "b", 1);
    write_bytes(kept, "k", 1);
    int sd = vdit_temp_add(dir, 1), sa = vdit_temp_add(a, 0), sb = vdit_temp_add(b, 0), sk = vdit_temp_add(kept, 0);
    ck_assert(sd >= 0 && sa >= 0 && sb >= 0 && sk >= 0);
    ck_assert(sd != sa && sa != sb && sb != sk);
    vdit_temp_drop(sk);
    vdit_temps_remove();
    ck_assert_int_eq(access(a, F_OK), -1);
    ck_assert_int_eq(access(b, F_OK), -1);
    ck_assert_int_eq(access(dir, F_OK), -1);
    ck_assert_int_eq(access(kept, F_OK), 0);
    vdit_temp_drop(sd), vdit_temp_drop(sa), vdit_temp_drop(sb);
    /* a path too long for the table is not registered, and says so */
    char longp[5000];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    ck_assert_int_eq(vdit_temp_add(longp, 0), -1);
    unlink(kept);
}
END_TEST

/* Runs `registered, then raise(sig)` in a child with vdit's handlers
 * (ignoring sig first when ignored); returns its wait status. */
static int child_raises(int sig, int ignored, const char *path)
{
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        /* the caller's disposition is not the test's (under nohup SIGHUP comes ignored) */
        signal(sig, ignored ? SIG_IGN : SIG_DFL);
        if (vdit_signals_install() != 0) _exit(2);
        if (vdit_temp_add(path, 0) < 0) _exit(2);
        raise(sig);
        _exit(7); /* only when the signal was ignored */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(test_signal_removes_temps)
{
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (int k = 0; k < 3; k++) {
        const char *path = tpath("doomed.tmp.abcdef");
        write_bytes(path, "partial", 7);
        int st = child_raises(sigs[k], 0, path);
        /* dead of the same signal (the shell reports 128+sig) */
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sigs[k], "signal %d: status %#x", sigs[k], st);
        ck_assert_msg(access(path, F_OK) == -1, "signal %d left the temporary", sigs[k]);
    }
    /* a signal the caller ignores (nohup, a background job's SIGINT) stays ignored */
    const char *path = tpath("kept.tmp.abcdef");
    write_bytes(path, "partial", 7);
    int st = child_raises(SIGINT, 1, path);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
    ck_assert_int_eq(access(path, F_OK), 0);
    unlink(path);
}
END_TEST

START_TEST(test_read_file_errors)
{
    vdit_err err = {{0}};
    void *data = (void *)1;
    size_t n = 7;

    ck_assert_int_eq(vdit_read_file(tmpdir, 1000, &data, &n, &err), -1);
    ck_assert_msg_has(err, "is a directory");
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);

    const char *path = tpath("ten.bin");
    write_bytes(path, "0123456789", 10);
    ck_assert_int_eq(vdit_read_file(path, 9, &data, &n, &err), -1);
    ck_assert_msg_has(err, "file size 10 exceeds the limit of 9 bytes");
    ck_assert_int_eq(vdit_read_file(path, 10, &data, &n, &err), 0);
    ck_assert_uint_eq(n, 10);
    free(data);

    const char *missing = tpath("missing.bin");
    ck_assert_int_eq(vdit_read_file(missing, 10, &data, &n, &err), -1);
    ck_assert_msg_has(err, missing);
    ck_assert_msg_has(err, "No such file or directory");
}
END_TEST

/* ------------------------------------------------------------------------
 * dtypes
 * ---------------------------------------------------------------------- */

START_TEST(test_dtypes)
{
    ck_assert_uint_eq(vdit_dtype_size(VDIT_DTYPE_F32), 4);
    ck_assert_uint_eq(vdit_dtype_size(VDIT_DTYPE_F64), 8);
    ck_assert_uint_eq(vdit_dtype_size(VDIT_DTYPE_U8), 1);
    ck_assert_uint_eq(vdit_dtype_size(VDIT_DTYPE_I32), 4);
    ck_assert_uint_eq(vdit_dtype_size(VDIT_DTYPE_I64), 8);
    ck_assert_uint_eq(vdit_dtype_size((vdit_dtype)99), 0);
    ck_assert_str_eq(vdit_dtype_name(VDIT_DTYPE_F32), "float32");
    ck_assert_str_eq(vdit_dtype_name(VDIT_DTYPE_F64), "float64");
    ck_assert_str_eq(vdit_dtype_name(VDIT_DTYPE_U8), "uint8");
    ck_assert_str_eq(vdit_dtype_name(VDIT_DTYPE_I32), "int32");
    ck_assert_str_eq(vdit_dtype_name(VDIT_DTYPE_I64), "int64");
    ck_assert_str_eq(vdit_dtype_name((vdit_dtype)-1), "unknown");

    vdit_array a = {.ndim = 0};
    ck_assert_int_eq(vdit_array_numel(&a), 1); /* scalar */
    a.ndim = 3;
    a.shape[0] = 2, a.shape[1] = 3, a.shape[2] = 4;
    ck_assert_int_eq(vdit_array_numel(&a), 24);
    a.shape[1] = 0;
    ck_assert_int_eq(vdit_array_numel(&a), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * NPY
 * ---------------------------------------------------------------------- */

/* shapes every dtype is round-tripped through: scalar, empty, 1-d, a 0 in
 * the middle, 3-d, and the maximum number of dims */
static const struct {
    int ndim;
    int64_t shape[VDIT_MAX_DIMS];
    const char *text; /* as it must appear in the header */
} rt_shapes[] = {
    {0, {0}, "()"},
    {1, {0}, "(0,)"},
    {1, {5}, "(5,)"},
    {3, {2, 0, 4}, "(2, 0, 4)"},
    {3, {2, 3, 4}, "(2, 3, 4)"},
    {8, {1, 2, 1, 2, 1, 2, 1, 3}, "(1, 2, 1, 2, 1, 2, 1, 3)"},
};

START_TEST(test_npy_roundtrip)
{
    static const char *descrs[] = {"<f4", "<f8", "|u1", "<i4", "<i8"};
    vdit_dtype dtype = (vdit_dtype)_i;
    vdit_rng rng;
    vdit_rng_init(&rng, 1234 + (uint64_t)_i);
    for (size_t s = 0; s < sizeof rt_shapes / sizeof rt_shapes[0]; s++) {
        vdit_err err = {{0}};
        vdit_array a = {.dtype = dtype, .ndim = rt_shapes[s].ndim};
        memcpy(a.shape, rt_shapes[s].shape, sizeof a.shape);
        a.nbytes = (size_t)vdit_array_numel(&a) * vdit_dtype_size(dtype);
        /* random bits: for floats this includes NaNs, infinities and
         * denormals, all of which must come back bit-exact */
        unsigned char *bytes = malloc(a.nbytes + 1);
        for (size_t i = 0; i < a.nbytes; i++) bytes[i] = (unsigned char)vdit_rng_u64(&rng);
        a.data = bytes;

        char name[64];
        snprintf(name, sizeof name, "rt_%d_%zu.npy", _i, s);
        const char *path = tpath(name);
        ck_assert_msg(vdit_npy_write(path, &a, &err) == 0, "%s", err.msg);

        /* the file layout numpy expects: version 1.0, data at a multiple
         * of 64, header ending in '\n', the dict in numpy's own form */
        size_t n;
        unsigned char *file = slurp(path, &n);
        ck_assert_mem_eq(file, "\x93NUMPY\x01\x00", 8);
        size_t hlen = file[8] | (size_t)file[9] << 8;
        ck_assert_uint_eq((10 + hlen) % 64, 0);
        ck_assert_uint_eq(n, 10 + hlen + a.nbytes);
        ck_assert_int_eq(file[10 + hlen - 1], '\n');
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descrs[_i],
                 rt_shapes[s].text);
        ck_assert_mem_eq(file + 10, dict, strlen(dict));
        free(file);

        vdit_array b;
        ck_assert_msg(vdit_npy_read(path, &b, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(b.dtype, dtype);
        ck_assert_int_eq(b.ndim, a.ndim);
        for (int d = 0; d < a.ndim; d++) ck_assert_int_eq(b.shape[d], a.shape[d]);
        ck_assert_uint_eq(b.nbytes, a.nbytes);
        ck_assert_ptr_nonnull(b.data);
        if (a.nbytes > 0) ck_assert_mem_eq(b.data, a.data, a.nbytes);
        ck_assert_uint_eq((uintptr_t)b.data % vdit_dtype_size(dtype), 0);
        vdit_array_free(&b);
        ck_assert_ptr_null(b.data);
        free(bytes);
    }
}
END_TEST

/* np.save(np.arange(6, dtype=np.float32).reshape(2, 3)) as numpy >= 1.24
 * writes it: the dict, 20 spare spaces for growing the shape, padding to
 * 128 bytes, '\n'. */
static const char numpy_2x3_f4[] = "\x93NUMPY\x01\x00\x76\x00"
                                   "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                                   "                              "
                                   "                            \n";

START_TEST(test_npy_numpy_fixture)
{
    ck_assert_uint_eq(sizeof numpy_2x3_f4 - 1, 128);
    unsigned char buf[128 + 24];
    memcpy(buf, numpy_2x3_f4, 128);
    for (int i = 0; i < 6; i++) {
        float v = (float)i;
        memcpy(buf + 128 + 4 * i, &v, 4);
    }
    const char *path = tpath("numpy_fixture.npy");
    write_bytes(path, buf, sizeof buf);

    vdit_err err = {{0}};
    vdit_array a;
    ck_assert_msg(vdit_npy_read(path, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a.dtype, VDIT_DTYPE_F32);
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_int_eq(a.shape[0], 2);
    ck_assert_int_eq(a.shape[1], 3);
    ck_assert_uint_eq(a.nbytes, 24);
    const float *f = a.data;
    for (int i = 0; i < 6; i++) ck_assert_float_eq(f[i], (float)i);
    vdit_array_free(&a);
}
END_TEST

/* Other header forms numpy and Python produce, all valid. */
START_TEST(test_npy_header_variants)
{
    static const struct {
        int major;
        const char *header;
        int ndim;
        int64_t d0, d1;
    } cases[] = {
        {2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }      \n", 2, 2, 1}, /* 2.0 */
        {3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", 1, 2, 0},         /* 3.0 */
        {1, "{'descr':'<i4','fortran_order':False,'shape':(2,)}", 1, 2, 0},                 /* terse */
        {1, "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<i4\"}\n", 2, 1, 2}, /* reordered */
        {1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2L,), }\n", 1, 2, 0},        /* Python 2 */
        {1, "  {'descr': '<i4', 'fortran_order': False, 'shape': ( 2 , ) , }\t\r\n", 1, 2, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = tpath("variant.npy");
        make_npy(path, 0, cases[c].major, 0, cases[c].header, UINT32_MAX, 8, FULL);
        vdit_err err = {{0}};
        vdit_array a;
        ck_assert_msg(vdit_npy_read(path, &a, &err) == 0, "case %zu: %s", c, err.msg);
        ck_assert_int_eq(a.dtype, VDIT_DTYPE_I32);
        ck_assert_int_eq(a.ndim, cases[c].ndim);
        ck_assert_int_eq(a.shape[0], cases[c].d0);
        if (a.ndim > 1) ck_assert_int_eq(a.shape[1], cases[c].d1);
        ck_assert_uint_eq(a.nbytes, 8);
        vdit_array_free(&a);
    }
}
END_TEST

START_TEST(test_npy_read_f32_converts)
{
    vdit_err err = {{0}};
    const char *path = tpath("conv.npy");
    vdit_array out;

    double d[3] = {1.5, -2.25, 1e30};
    vdit_array a = {.dtype = VDIT_DTYPE_F64, .ndim = 1, .shape = {3}, .data = d, .nbytes = sizeof d};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), 0);
    ck_assert_msg(vdit_npy_read_f32(path, &out, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(out.dtype, VDIT_DTYPE_F32);
    ck_assert_uint_eq(out.nbytes, 12);
    ck_assert_float_eq(((float *)out.data)[0], 1.5f);
    ck_assert_float_eq(((float *)out.data)[1], -2.25f);
    ck_assert_float_eq(((float *)out.data)[2], 1e30f);
    vdit_array_free(&out);

    uint8_t u[4] = {0, 1, 128, 255};
    a = (vdit_array){.dtype = VDIT_DTYPE_U8, .ndim = 2, .shape = {2, 2}, .data = u, .nbytes = sizeof u};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &out, &err), 0);
    ck_assert_int_eq(out.ndim, 2);
    ck_assert_uint_eq(out.nbytes, 16);
    ck_assert_float_eq(((float *)out.data)[2], 128.0f);
    ck_assert_float_eq(((float *)out.data)[3], 255.0f);
    vdit_array_free(&out);

    int32_t i32[2] = {-7, 123456};
    a = (vdit_array){.dtype = VDIT_DTYPE_I32, .ndim = 1, .shape = {2}, .data = i32, .nbytes = sizeof i32};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &out, &err), 0);
    ck_assert_float_eq(((float *)out.data)[0], -7.0f);
    ck_assert_float_eq(((float *)out.data)[1], 123456.0f);
    vdit_array_free(&out);

    int64_t i64 = -((int64_t)1 << 40);
    a = (vdit_array){.dtype = VDIT_DTYPE_I64, .ndim = 0, .data = &i64, .nbytes = 8};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &out, &err), 0);
    ck_assert_int_eq(out.ndim, 0);
    ck_assert_uint_eq(out.nbytes, 4);
    ck_assert_float_eq(((float *)out.data)[0], -1099511627776.0f);
    vdit_array_free(&out);

    /* f32 in: passed through untouched, via the convenience writer */
    float f[6] = {0.5f, 1, 2, 3, 4, -0.0f};
    int64_t shape[2] = {3, 2};
    ck_assert_int_eq(vdit_npy_write_f32(path, f, 2, shape, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &out, &err), 0);
    ck_assert_int_eq(out.shape[0], 3);
    ck_assert_int_eq(out.shape[1], 2);
    ck_assert_mem_eq(out.data, f, sizeof f);
    vdit_array_free(&out);

    /* and a bad file stays an error */
    make_npy(path, 1, 1, 0, "{}", UINT32_MAX, 0, FULL);
    ck_assert_int_eq(vdit_npy_read_f32(path, &out, &err), -1);
    ck_assert_msg_has(err, "bad magic");
    ck_assert_ptr_null(out.data);
}
END_TEST

START_TEST(test_npy_write_rejects)
{
    vdit_err err = {{0}};
    const char *path = tpath("npy_reject.npy");
    float f[4] = {1, 2, 3, 4};
    int64_t shape4[1] = {4};
    ck_assert_int_eq(vdit_npy_write_f32(path, f, 1, shape4, &err), 0);
    size_t n0;
    unsigned char *before = slurp(path, &n0);

    vdit_array a = {.dtype = (vdit_dtype)17, .ndim = 1, .shape = {4}, .data = f, .nbytes = 16};
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), -1);
    ck_assert_msg_has(err, "invalid dtype 17");
    a.dtype = VDIT_DTYPE_F32;
    a.nbytes = 12;
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), -1);
    ck_assert_msg_has(err, "nbytes 12 does not match shape (4,) of float32 (16 bytes)");
    a.nbytes = 16;
    a.shape[0] = -4;
    ck_assert_int_eq(vdit_npy_write(path, &a, &err), -1);
    ck_assert_msg_has(err, "shape[0] = -4 is negative");
    int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    ck_assert_int_eq(vdit_npy_write_f32(path, f, 9, shape9, &err), -1);
    ck_assert_msg_has(err, "ndim 9 outside 0..8");
    int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 4};
    ck_assert_int_eq(vdit_npy_write_f32(path, f, 3, huge, &err), -1);
    ck_assert_msg_has(err, "too large");

    size_t n1;
    unsigned char *after = slurp(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_mem_eq(before, after, n0);
    free(before);
    free(after);
    ck_assert_int_eq(count_temporaries(), 0);
}
END_TEST

/* The NPY bad-file corpus. */
static const struct {
    const char *what;
    int bad_magic, major, minor;
    const char *header;
    uint32_t hlen; /* UINT32_MAX: the header's own length */
    size_t datalen;
    long keep;
    const char *expect;
} npy_bad[] = {
#define F4_23 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"
    {"bad magic", 1, 1, 0, F4_23, UINT32_MAX, 24, FULL, "offset 0: bad magic"},
    {"version 4.0", 0, 4, 0, F4_23, UINT32_MAX, 24, FULL, "offset 6: unsupported version 4.0"},
    {"version 1.1", 0, 1, 1, F4_23, UINT32_MAX, 24, FULL, "unsupported version 1.1"},
    {"header length beyond file", 0, 1, 0, F4_23, 5000, 24, FULL,
     "offset 8: header length 5000 exceeds file size 94"},
    {"v2 header length beyond file", 0, 2, 0, F4_23, 0x01000000, 24, FULL, "header length 16777216 exceeds"},
    {"not a dict", 0, 1, 0, "['descr', '<f4']\n", UINT32_MAX, 24, FULL,
     "offset 10: expected dict header starting with '{'"},
    {"v2 offsets count from 12", 0, 2, 0, "('descr')\n", UINT32_MAX, 24, FULL,
     "offset 12: expected dict header starting with '{'"},
    {"bad bool", 0, 1, 0, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", UINT32_MAX, 24, FULL,
     "offset 44: expected True or False"},
    {"fortran order", 0, 1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", UINT32_MAX, 24, FULL,
     "Fortran-order"},
    {"big-endian", 0, 1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", UINT32_MAX, 24, FULL,
     "big-endian descr '>f4'"},
    {"complex", 0, 1, 0, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", UINT32_MAX, 48, FULL,
     "unsupported descr '<c8'"},
    {"int8", 0, 1, 0, "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }", UINT32_MAX, 6, FULL,
     "unsupported descr '|i1'"},
    {"data short", 0, 1, 0, F4_23, UINT32_MAX, 20, FULL,
     "data is 20 bytes but shape (2, 3) of '<f4' needs 24 bytes"},
    {"data long", 0, 1, 0, F4_23, UINT32_MAX, 28, FULL, "data is 28 bytes but shape (2, 3) of '<f4' needs 24"},
    {"scalar with no data", 0, 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", UINT32_MAX, 0, FULL,
     "data is 0 bytes but shape () of '<f8' needs 8 bytes"},
    {"truncated preamble", 0, 1, 0, F4_23, UINT32_MAX, 24, 7, "file too short (7 bytes)"},
    {"empty file", 0, 1, 0, F4_23, UINT32_MAX, 24, 0, "file too short (0 bytes)"},
    {"truncated v2 preamble", 0, 2, 0, F4_23, UINT32_MAX, 24, 11, "too short (11 bytes) for an NPY 2.0 preamble"},
    {"truncated header", 0, 1, 0, F4_23, UINT32_MAX, 24, 30, "header length 60 exceeds file size 30"},
    {"truncated data", 0, 1, 0, F4_23, UINT32_MAX, 24, -1, "data is 23 bytes"},
    {"missing shape", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, }", UINT32_MAX, 4, FULL,
     "header dict has no 'shape'"},
    {"missing descr", 0, 1, 0, "{'fortran_order': False, 'shape': (1,), }", UINT32_MAX, 4, FULL,
     "header dict has no 'descr'"},
    {"unknown key", 0, 1, 0, "{'descr': '<f4', 'order': 'C', 'shape': (1,), }", UINT32_MAX, 4, FULL,
     "offset 27: expected one of the keys"},
    {"repeated key", 0, 1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
     UINT32_MAX, 4, FULL, "offset 27: expected each key once"},
    {"9 dims", 0, 1, 0, "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", UINT32_MAX, 1,
     FULL, "expected at most 8 dims in the shape"},
    {"negative dim", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", UINT32_MAX, 4, FULL,
     "offset 61: expected a non-negative integer dim or ')'"},
    {"float dim", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", UINT32_MAX, 8, FULL,
     "expected ',' or ')' in the shape tuple"},
    {"dim over 64 bits", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
     UINT32_MAX, 4, FULL, "expected a dim that fits in 64 bits"},
    {"numel overflow", 0, 1, 0,
     "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", UINT32_MAX, 4,
     FULL, "shape (4294967296, 4294967296, 4294967296) is too large"},
    {"bytes overflow", 0, 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
     UINT32_MAX, 8, FULL, "is too large"},
    {"shape is a list", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", UINT32_MAX, 24, FULL,
     "expected a shape tuple starting with '('"},
    {"junk after dict", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", UINT32_MAX, 24,
     FULL, "expected only whitespace after the header dict"},
    {"unterminated string", 0, 1, 0, "{'descr': '<f4", UINT32_MAX, 0, FULL, "expected a closing quote"},
    {"missing comma", 0, 1, 0, "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", UINT32_MAX, 24, FULL,
     "expected ',' or '}' after a dict value"},
    {"unclosed dict", 0, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),", UINT32_MAX, 24, FULL,
     "expected a quoted string"},
    {"empty header", 0, 1, 0, "", UINT32_MAX, 0, FULL, "offset 10: expected dict header starting with '{'"},
    {"newline in name", 0, 1, 0, "{'descr': '<f4\n', 'fortran_order': False, 'shape': (), }", UINT32_MAX, 4, FULL,
     "without escapes"},
#undef F4_23
};

START_TEST(test_npy_bad)
{
    const char *path = tpath("bad.npy");
    make_npy(path, npy_bad[_i].bad_magic, npy_bad[_i].major, npy_bad[_i].minor, npy_bad[_i].header, npy_bad[_i].hlen,
             npy_bad[_i].datalen, npy_bad[_i].keep);
    vdit_err err = {{0}};
    vdit_array a;
    memset(&a, 0x5a, sizeof a);
    int rc = vdit_npy_read(path, &a, &err);
    ck_assert_msg(rc == -1, "%s: accepted", npy_bad[_i].what);
    ck_assert_msg(strstr(err.msg, npy_bad[_i].expect) != NULL, "%s: message \"%s\" lacks \"%s\"", npy_bad[_i].what,
                  err.msg, npy_bad[_i].expect);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s: message \"%s\" does not start with the path",
                  npy_bad[_i].what, err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_ptr_null(a.data); /* nothing handed out on failure */
}
END_TEST

/* ------------------------------------------------------------------------
 * safetensors
 * ---------------------------------------------------------------------- */

/* vdit_st_validate: names, shapes, finiteness, extras, under prefixes */
START_TEST(test_st_validate)
{
    vdit_err err = {{0}};
    float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 2, 3}, bad[3] = {1, NAN, 3};
    vdit_param_info want[2] = {{.name = "w", .ndim = 2, .shape = {2, 3}, .numel = 6},
                               {.name = "b", .ndim = 1, .shape = {3}, .numel = 3}};
    const char *pre[2] = {"ema.", "adam."};
    struct {
        const char *what;
        vdit_st_tensor t[5];
        int nt, prefixed;
        const char *expect; /* NULL: valid */
    } cases[] = {
        {"exact", {{"w", 2, {2, 3}, w, 6}, {"b", 1, {3}, b, 3}}, 2, 0, NULL},
        {"missing", {{"w", 2, {2, 3}, w, 6}}, 1, 0, "missing tensor 'b'"},
        {"shape", {{"w", 2, {3, 2}, w, 6}, {"b", 1, {3}, b, 3}}, 2, 0,
         "tensor 'w' has shape [3,2], the config needs [2,3]"},
        {"nan", {{"w", 2, {2, 3}, w, 6}, {"b", 1, {3}, bad, 3}}, 2, 0,
         "tensor 'b' holds a non-finite value at element 1"},
        {"extra", {{"w", 2, {2, 3}, w, 6}, {"b", 1, {3}, b, 3}, {"c", 1, {3}, b, 3}}, 3, 0,
         "unexpected tensor 'c' for this config"},
        {"prefixed", {{"ema.w", 2, {2, 3}, w, 6}, {"ema.b", 1, {3}, b, 3}, {"adam.w", 2, {2, 3}, w, 6},
                      {"adam.b", 1, {3}, b, 3}}, 4, 1, NULL},
        {"prefixed missing", {{"ema.w", 2, {2, 3}, w, 6}, {"ema.b", 1, {3}, b, 3}, {"adam.w", 2, {2, 3}, w, 6}}, 3, 1,
         "missing tensor 'adam.b'"},
        {"prefixed extra", {{"ema.w", 2, {2, 3}, w, 6}, {"ema.b", 1, {3}, b, 3}, {"adam.w", 2, {2, 3}, w, 6},
                            {"adam.b", 1, {3}, b, 3}, {"ema.x", 1, {3}, b, 3}}, 5, 1,
         "unexpected tensor 'ema.x' for this config"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = tpath("validate.safetensors");
        ck_assert_msg(vdit_st_write(path, cases[c].t, cases[c].nt, NULL, NULL, 0, &err) == 0, "%s", err.msg);
        vdit_st_file f;
        ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
        int rc = vdit_st_validate(&f, path, want, 2, cases[c].prefixed ? pre : NULL, cases[c].prefixed ? 2 : 0, &err);
        vdit_st_free(&f);
        if (!cases[c].expect) {
            ck_assert_msg(rc == 0, "%s: %s", cases[c].what, err.msg);
        } else {
            ck_assert_msg(rc == -1, "%s: accepted", cases[c].what);
            ck_assert_msg_has(err, path);
            ck_assert_msg_has(err, cases[c].expect);
        }
    }
}
END_TEST

START_TEST(test_st_roundtrip)
{
    vdit_err err = {{0}};
    /* values chosen to catch any conversion: -0, denormal, NaN payload, inf */
    uint32_t wbits[6] = {0x3f800000u, 0x80000000u, 0x00000001u, 0x7fc12345u, 0x7f800000u, 0xc0490fdbu};
    float w[6], bias[3] = {0.1f, -0.2f, 0.3f}, scalar = 42.0f;
    memcpy(w, wbits, sizeof w);
    vdit_st_tensor in[4] = {
        {.name = "blocks.0.w", .ndim = 2, .shape = {2, 3}, .data = w, .numel = 6},
        {.name = "blocks.0.b", .ndim = 1, .shape = {3}, .data = bias, .numel = 3},
        {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = NULL, .numel = 0},
        {.name = "step_scale", .ndim = 0, .data = &scalar, .numel = 1},
    };
    const char *keys[3] = {"format", "config", "note"};
    const char *values[3] = {"pt", "{\"depth\": 2}", "caf\xc3\xa9 \"quoted\"\n"};
    const char *path = tpath("model.safetensors");
    ck_assert_msg(vdit_st_write(path, in, 4, keys, values, 3, &err) == 0, "%s", err.msg);

    /* the layout: header padded to 8 with spaces, metadata first */
    size_t n;
    unsigned char *file = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | file[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(n, 8 + hlen + 4 * (6 + 3 + 0 + 1));
    ck_assert_mem_eq(file + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30);
    ck_assert(has_bytes(file + 8, hlen, "\"data_offsets\":[24,36]"));
    free(file);

    vdit_st_file f;
    ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(f.ntensors, 4);
    for (int i = 0; i < 4; i++) {
        const vdit_st_tensor *t = &f.tensors[i]; /* file order = write order */
        ck_assert_str_eq(t->name, in[i].name);
        ck_assert_int_eq(t->ndim, in[i].ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], in[i].shape[d]);
        ck_assert_int_eq(t->numel, in[i].numel);
        if (t->numel > 0) ck_assert_mem_eq(t->data, in[i].data, (size_t)t->numel * 4);
        ck_assert_uint_eq((uintptr_t)t->data % 4, 0);
    }
    ck_assert_int_eq(f.nmeta, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(f.meta_keys[i], keys[i]);
        ck_assert_str_eq(f.meta_values[i], values[i]);
    }
    ck_assert_str_eq(vdit_st_meta(&f, "config"), "{\"depth\": 2}");
    ck_assert_ptr_null(vdit_st_meta(&f, "missing"));

    const vdit_st_tensor *b = vdit_st_find(&f, "blocks.0.b");
    ck_assert_ptr_eq(b, &f.tensors[1]);
    ck_assert_float_eq(b->data[2], 0.3f);
    ck_assert_ptr_null(vdit_st_find(&f, "blocks.0"));
    ck_assert_ptr_null(vdit_st_find(&f, "blocks.0.bias"));
    ck_assert_ptr_null(vdit_st_find(&f, ""));
    vdit_st_free(&f);
    ck_assert_int_eq(f.ntensors, 0);
    ck_assert_ptr_null(f.mem);
    ck_assert_ptr_null(vdit_st_find(&f, "blocks.0.w"));
}
END_TEST

START_TEST(test_st_empty_file_roundtrip)
{
    vdit_err err = {{0}};
    const char *path = tpath("empty.safetensors");
    ck_assert_int_eq(vdit_st_write(path, NULL, 0, NULL, NULL, 0, &err), 0);
    size_t n;
    unsigned char *file = slurp(path, &n);
    ck_assert_uint_eq(n, 80); /* the crc32s of no bytes, padded to 8 */
    ck_assert_mem_eq(file, "\x48\0\0\0\0\0\0\0{\"__metadata__\":{\"data_crc32\":\"00000000\",\"meta_crc32\":\"00000000\"}}      ",
                     80);
    free(file);
    vdit_st_file f;
    ck_assert_int_eq(vdit_st_read(path, &f, &err), 0);
    ck_assert_int_eq(f.ntensors, 0);
    ck_assert_int_eq(f.nmeta, 0);
    ck_assert_ptr_null(vdit_st_find(&f, "x"));
    vdit_st_free(&f);
}
END_TEST

/* A file as another writer may produce it: keys not in offset order, an odd
 * header length (so the buffer is not 4-aligned in the file), a zero-size
 * tensor sharing an offset, whitespace padding. */
START_TEST(test_st_foreign_file)
{
    const char *header = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                         "\"z\":{\"shape\":[0],\"data_offsets\":[4,4],\"dtype\":\"F32\"},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    char padded[512];
    size_t len = strlen(header);
    snprintf(padded, sizeof padded, "%s%s", header, len % 2 == 0 ? "   " : "  \n");
    size_t hlen = strlen(padded);
    ck_assert_uint_eq(hlen % 2, 1);
    float vals[3] = {-1.5f, 2.0f, 3.25f};
    unsigned char buf[600];
    put_le64(buf, hlen);
    memcpy(buf + 8, padded, hlen);
    memcpy(buf + 8 + hlen, vals, sizeof vals);
    const char *path = tpath("foreign.safetensors");
    write_bytes(path, buf, 8 + hlen + sizeof vals);

    vdit_err err = {{0}};
    vdit_st_file f;
    ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(f.ntensors, 3);
    ck_assert_str_eq(f.tensors[0].name, "a"); /* sorted by offset */
    ck_assert_str_eq(f.tensors[1].name, "z");
    ck_assert_str_eq(f.tensors[2].name, "b");
    ck_assert_int_eq(f.tensors[0].ndim, 0);
    ck_assert_int_eq(f.tensors[0].numel, 1);
    ck_assert_int_eq(f.tensors[1].numel, 0);
    const vdit_st_tensor *a = vdit_st_find(&f, "a"), *b = vdit_st_find(&f, "b");
    ck_assert_float_eq(a->data[0], -1.5f);
    ck_assert_float_eq(b->data[0], 2.0f);
    ck_assert_float_eq(b->data[1], 3.25f);
    ck_assert_uint_eq((uintptr_t)b->data % 4, 0);
    ck_assert_int_eq(f.nmeta, 0);
    ck_assert_ptr_null(vdit_st_meta(&f, "format"));
    vdit_st_free(&f);
}
END_TEST

/* Invalid input to vdit_st_write fails with a message and leaves the
 * existing file byte-identical. */
START_TEST(test_st_write_rejects)
{
    vdit_err err = {{0}};
    const char *path = tpath("keep.safetensors");
    float x[4] = {1, 2, 3, 4};
    vdit_st_tensor good[2] = {
        {.name = "w", .ndim = 1, .shape = {4}, .data = x, .numel = 4},
        {.name = "v", .ndim = 2, .shape = {2, 2}, .data = x, .numel = 4},
    };
    ck_assert_int_eq(vdit_st_write(path, good, 2, NULL, NULL, 0, &err), 0);
    size_t n0;
    unsigned char *before = slurp(path, &n0);

    vdit_st_tensor t[2];
    memcpy(t, good, sizeof t);
    t[1].name = "w";
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "duplicate tensor name 'w'");

    memcpy(t, good, sizeof t);
    t[1].shape[1] = -2;
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "tensor 'v': shape[1] = -2 outside 0..2^53");

    memcpy(t, good, sizeof t);
    t[1].numel = 5;
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "tensor 'v': numel 5 does not match shape [2,2] (4)");

    memcpy(t, good, sizeof t);
    t[0].ndim = VDIT_MAX_DIMS + 1;
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "tensor 'w': ndim 9 outside 0..8");

    memcpy(t, good, sizeof t);
    t[0].name = "__metadata__";
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "may not be named __metadata__");

    memcpy(t, good, sizeof t);
    t[0].data = NULL;
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "tensor 'w': no data");

    memcpy(t, good, sizeof t);
    t[0].name = "bad\xff";
    ck_assert_int_eq(vdit_st_write(path, t, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "not valid UTF-8");

    const char *k2[2] = {"a", "a"}, *v2[2] = {"1", "2"};
    ck_assert_int_eq(vdit_st_write(path, good, 2, k2, v2, 2, &err), -1);
    ck_assert_msg_has(err, "duplicate metadata key 'a'");
    const char *vnull[2] = {"1", NULL}, *k3[2] = {"a", "b"};
    ck_assert_int_eq(vdit_st_write(path, good, 2, k3, vnull, 2, &err), -1);
    ck_assert_msg_has(err, "metadata pair 1 has a NULL key or value");

    ck_assert_int_eq(vdit_st_write(path, good, -1, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "invalid tensor list (-1 tensors)");

    size_t n1;
    unsigned char *after = slurp(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_mem_eq(before, after, n0);
    free(before);
    free(after);
    ck_assert_int_eq(count_temporaries(), 0);

    /* writing into a missing directory reports the path */
    const char *nodir = tpath("nodir/m.safetensors");
    ck_assert_int_eq(vdit_st_write(nodir, good, 2, NULL, NULL, 0, &err), -1);
    ck_assert_msg_has(err, nodir);
    ck_assert_msg_has(err, "No such file or directory");
}
END_TEST

/* The safetensors bad-file corpus. */
static const struct {
    const char *what;
    const char *header;
    uint64_t hlen; /* UINT64_MAX: the header's own length */
    size_t datalen;
    long keep;
    const char *expect;
} st_bad[] = {
#define A8 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}" /* 54 bytes */
#define ENTRY(name, shape, b, e) "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"
    {"empty file", A8, UINT64_MAX, 8, 0, "file too short (0 bytes) for the 8-byte header length"},
    {"5 bytes", A8, UINT64_MAX, 8, 5, "file too short (5 bytes)"},
    {"header cut", A8, UINT64_MAX, 8, 20, "header length 54 exceeds file size 20"},
    {"data cut", A8, UINT64_MAX, 8, -4, "tensor 'a': data_offsets [0, 8] go beyond the 4-byte data buffer"},
    {"header length beyond file", A8, 4096, 8, FULL, "header length 4096 exceeds file size 70"},
    {"header length 2^40", A8, UINT64_C(1) << 40, 8, FULL, "header length 1099511627776 over 100000000 bytes"},
    {"header length 2^64-1", A8, UINT64_MAX - 1, 8, FULL, "over 100000000 bytes"},
    {"overlap", "{" ENTRY("a", "[2]", "0", "8") "," ENTRY("b", "[2]", "4", "12") "}", UINT64_MAX, 12, FULL,
     "tensors 'a' and 'b' overlap at byte 4"},
    {"gap", "{" ENTRY("a", "[2]", "0", "8") "," ENTRY("b", "[2]", "12", "20") "}", UINT64_MAX, 20, FULL,
     "gap between tensors 'a' and 'b' at byte 8 (4 bytes unused)"},
    {"not from 0", "{" ENTRY("a", "[2]", "4", "12") "}", UINT64_MAX, 12, FULL,
     "tensor 'a' starts at byte 4, expected the first tensor at byte 0"},
    {"beyond buffer", "{" ENTRY("a", "[2]", "0", "8") "," ENTRY("b", "[2]", "8", "1000") "}", UINT64_MAX, 16, FULL,
     "tensor 'b': data_offsets [8, 1000] go beyond the 16-byte data buffer"},
    {"trailing bytes", A8, UINT64_MAX, 12, FULL, "4 trailing bytes after the last tensor"},
    {"no tensors, trailing", "{}", UINT64_MAX, 4, FULL, "4 trailing bytes after the last tensor"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': unknown dtype 'Q7'"},
    {"F16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': unsupported dtype F16 (only F32)"},
    {"BF16", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "unsupported dtype BF16 (only F32)"},
    {"dtype not a string", "{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': dtype is not a string"},
    {"shape/bytes mismatch", "{" ENTRY("b", "[2,3]", "0", "20") "}", UINT64_MAX, 20, FULL,
     "tensor 'b': shape [2,3] needs 24 bytes but data_offsets give 20"},
    {"negative dim", "{" ENTRY("a", "[-1]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "tensor 'a': shape[0] = -1 is negative"},
    {"float dim", "{" ENTRY("a", "[1,2.0]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "tensor 'a': shape[1] is not an integer"},
    {"string dim", "{" ENTRY("a", "[\"2\"]", "0", "8") "}", UINT64_MAX, 8, FULL, "shape[0] is not an integer"},
    {"dim over 2^53", "{" ENTRY("a", "[9007199254740993]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "shape[0] = 9007199254740993 is over 2^53"},
    {"numel overflow", "{" ENTRY("a", "[4294967296,4294967296,4294967296]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "shape [4294967296,4294967296,4294967296] is too large"},
    {"9 dims", "{" ENTRY("a", "[1,1,1,1,1,1,1,1,2]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "tensor 'a': shape has 9 dims, at most 8 supported"},
    {"shape not an array", "{" ENTRY("a", "2", "0", "8") "}", UINT64_MAX, 8, FULL, "shape is not an array"},
    {"invalid JSON", "{\"a\": ", UINT64_MAX, 0, FULL, "invalid JSON header: "},
    {"invalid JSON position", "{\"a\": }      ", UINT64_MAX, 0, FULL, "at position 7"},
    {"empty header", "", UINT64_MAX, 0, FULL, "invalid JSON header: "},
    {"NUL in header", "{\"a\\u0000\": 1}", UINT64_MAX, 0, FULL, "invalid JSON header: "},
    {"bad UTF-8", "{\"\xff\": 1}", UINT64_MAX, 0, FULL, "invalid JSON header: "},
    {"JSON array", "[1, 2]", UINT64_MAX, 0, FULL, "header is not a JSON object"},
    {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': missing 'data_offsets'"},
    {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': missing 'dtype'"},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': missing 'shape'"},
    {"extra key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"foo\":1}}", UINT64_MAX, 8, FULL,
     "tensor 'a': unexpected key 'foo'"},
    {"entry not an object", "{\"a\":[0,8]}", UINT64_MAX, 8, FULL, "tensor 'a': entry is not a JSON object"},
    {"offsets of one", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a': data_offsets is not [begin, end]"},
    {"negative offset", "{" ENTRY("a", "[2]", "-8", "0") "}", UINT64_MAX, 8, FULL,
     "data_offsets is not [begin, end]"},
    {"float offset", "{" ENTRY("a", "[2]", "0", "8.0") "}", UINT64_MAX, 8, FULL,
     "data_offsets is not [begin, end]"},
    {"reversed offsets", "{" ENTRY("a", "[0]", "8", "0") "}", UINT64_MAX, 8, FULL,
     "tensor 'a': data_offsets [8, 0] end before they begin"},
    {"duplicate key", "{" ENTRY("a", "[2]", "0", "8") "," ENTRY("a", "[2]", "0", "8") "}", UINT64_MAX, 8, FULL,
     "invalid JSON header: duplicate object key"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", UINT64_MAX, 0, FULL,
     "duplicate object key"},
    {"metadata non-string", "{\"__metadata__\":{\"k\":\"ok\",\"n\":1}}", UINT64_MAX, 0, FULL,
     "__metadata__ value for 'n' is not a string"},
    {"metadata null", "{\"__metadata__\":{\"k\":null}}", UINT64_MAX, 0, FULL,
     "__metadata__ value for 'k' is not a string"},
    {"metadata not an object", "{\"__metadata__\":[\"k\"]}", UINT64_MAX, 0, FULL, "__metadata__ is not a JSON object"},
    {"newline in name", "{\"a\\nb\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", UINT64_MAX, 8, FULL,
     "tensor 'a?b': unknown dtype"},
#undef ENTRY
#undef A8
};

START_TEST(test_st_bad)
{
    const char *path = tpath("bad.safetensors");
    make_st(path, st_bad[_i].header, st_bad[_i].hlen, st_bad[_i].datalen, st_bad[_i].keep);
    vdit_err err = {{0}};
    vdit_st_file f;
    memset(&f, 0x5a, sizeof f);
    int rc = vdit_st_read(path, &f, &err);
    ck_assert_msg(rc == -1, "%s: accepted", st_bad[_i].what);
    ck_assert_msg(strstr(err.msg, st_bad[_i].expect) != NULL, "%s: message \"%s\" lacks \"%s\"", st_bad[_i].what,
                  err.msg, st_bad[_i].expect);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s: message \"%s\" does not start with the path",
                  st_bad[_i].what, err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    /* f is left empty, so freeing it again is harmless */
    ck_assert_int_eq(f.ntensors, 0);
    ck_assert_ptr_null(f.mem);
    ck_assert_ptr_null(f.tensors);
    vdit_st_free(&f);
}
END_TEST

START_TEST(test_st_read_not_a_file)
{
    vdit_err err = {{0}};
    vdit_st_file f;
    ck_assert_int_eq(vdit_st_read(tmpdir, &f, &err), -1);
    ck_assert_msg_has(err, "is a directory");
    const char *missing = tpath("missing.safetensors");
    ck_assert_int_eq(vdit_st_read(missing, &f, &err), -1);
    ck_assert_msg_has(err, missing);
    ck_assert_msg_has(err, "No such file or directory");
    vdit_array a;
    ck_assert_int_eq(vdit_npy_read(tmpdir, &a, &err), -1);
    ck_assert_msg_has(err, "is a directory");
}
END_TEST

/* ------------------------------------------------------------------------
 * Declared sizes far beyond the file (issue 9): every reader compares them
 * with the file, with overflow-safe arithmetic, before allocating. Each
 * case runs with the data segment capped 256 MB above its size at the start
 * (not under ASan, whose
 * shadow memory such a cap would break), so an allocation of the declared
 * size would fail with "out of memory" instead of the expected message.
 * ---------------------------------------------------------------------- */

#define HUGE_CFG "{\"latent_channels\":1024,\"hidden\":16384,\"depth\":1024,\"heads\":16,\"patch\":[1,1,1]," \
                 "\"grid\":[64,128,128],\"num_classes\":1000000,\"attention\":\"st\",\"objective\":\"flow\"}"
#define HUGE_VAE "{\"channels\":[4096,4096,4096,4096],\"res_blocks\":4,\"mid_blocks\":4,\"downsample\":8," \
                 "\"temporal\":2,\"latent_channels\":256,\"groups\":1}"
/* a JSON string holding a JSON document: quotes escaped */
static char *json_quote(const char *s)
{
    char *o = malloc(2 * strlen(s) + 3), *p = o;
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p = 0;
    return o;
}

static const struct {
    const char *what;
    char kind;          /* n: NPY, s: safetensors, d: DiT checkpoint, v: VAE checkpoint, z: NPY inside an NPZ */
    const char *header; /* NPY dict or safetensors JSON (d, v: the config, wrapped here) */
    uint64_t hlen;      /* safetensors: the declared header length (UINT64_MAX: its own) */
    size_t datalen;
    const char *expect;
} huge[] = {
    {"npy 2^40 x 2^20 floats in 24 bytes", 'n', "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1048576), }",
     0, 24, "data is 24 bytes but shape (1099511627776, 1048576) of '<f4' needs 4611686018427387904 bytes"},
    {"npy shape product over int64", 'n', "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0,
     24, "is too large"},
    {"npy 10^12 bytes in 8", 'n', "{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000,), }", 0, 8,
     "data is 8 bytes but shape (1000000000000,) of '|u1' needs 1000000000000 bytes"},
    {"safetensors 2^50 floats in 8 bytes", 's',
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1024],\"data_offsets\":[0,8]}}", UINT64_MAX, 8,
     "needs 4503599627370496 bytes but data_offsets give 8"},
    {"safetensors shape product over int64", 's',
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],\"data_offsets\":[0,8]}}", UINT64_MAX, 8,
     "is too large"},
    {"safetensors offsets beyond the file", 's',
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2251799813685248],\"data_offsets\":[0,9007199254740992]}}", UINT64_MAX, 8,
     "go beyond the 8-byte data buffer"},
    {"safetensors header of 2^62 bytes", 's', "{}", 1ull << 62, 0, "header length 4611686018427387904 over 100000000"},
    {"DiT checkpoint of a 5e12-parameter config", 'd', HUGE_CFG, 0, 8, "missing tensor 'x_embedder.proj.weight'"},
    {"VAE checkpoint of a 1.9e10-parameter config", 'v', HUGE_VAE, 0, 8, "missing tensor 'encoder.conv_in.weight'"},
    {"npz member declaring 10^12 floats", 'z', "(999999999999,)", 0, 0, "member 'a.npy': offset 128: data is 12 bytes but shape (999999999999,) of '<f4' needs 3999999999996 bytes"},
};

START_TEST(test_huge_declared_sizes)
{
#if !defined(__SANITIZE_ADDRESS__)
    /* 256 MB above what the process holds already (OpenBLAS's buffers) */
    long kb = 0;
    char line[256];
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(line, sizeof line, st))
        if (sscanf(line, "VmData: %ld kB", &kb) == 1) break;
    if (st) fclose(st);
    struct rlimit lim = {((rlim_t)kb << 10) + (256u << 20), ((rlim_t)kb << 10) + (256u << 20)};
    ck_assert_int_eq(setrlimit(RLIMIT_DATA, &lim), 0); /* this test runs in its own process (CK_FORK) */
#endif
    const char *path = tpath("huge");
    vdit_err err = {{0}};
    int rc = 0;
    char hdr[1024];
    switch (huge[_i].kind) {
    case 'n': {
        make_npy(path, 0, 1, 0, huge[_i].header, UINT32_MAX, huge[_i].datalen, FULL);
        vdit_array a;
        rc = vdit_npy_read(path, &a, &err);
        break;
    }
    case 's': {
        make_st(path, huge[_i].header, huge[_i].hlen, huge[_i].datalen, FULL);
        vdit_st_file f;
        rc = vdit_st_read(path, &f, &err);
        break;
    }
    case 'd':
    case 'v': {
        char *q = json_quote(huge[_i].header);
        snprintf(hdr, sizeof hdr,
                 "{\"__metadata__\":{\"format\":\"%s\",\"config\":%s,\"scale_factor\":\"1\"},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 huge[_i].kind == 'd' ? "vdit-dit" : "vdit-vae", q);
        free(q);
        make_st(path, hdr, UINT64_MAX, 8, FULL);
        if (huge[_i].kind == 'd') {
            vdit_dit m;
            rc = vdit_dit_load(&m, path, &err);
        } else {
            vdit_vae m;
            rc = vdit_vae_load(&m, path, &err);
        }
        break;
    }
    case 'z': { /* a stored member whose NPY header is rewritten in place to declare a huge shape */
        float x[3] = {1, 2, 3};
        vdit_array a = {VDIT_DTYPE_F32, 1, {3}, x, sizeof x};
        vdit_npz_writer *w;
        ck_assert_int_eq(vdit_npz_open(&w, path, 0, &err), 0);
        ck_assert_int_eq(vdit_npz_add(w, "a", &a, &err), 0);
        ck_assert_int_eq(vdit_npz_close(w, &err), 0);
        size_t n;
        unsigned char *buf = slurp(path, &n);
        const char *from = "(3,), }";
        size_t at = 0, fl = strlen(from), tl = strlen(huge[_i].header);
        while (at + fl <= n && memcmp(buf + at, from, fl)) at++;
        ck_assert_uint_lt(at + fl, n);
        size_t span = fl;
        while (buf[at + span] == ' ') span++;
        ck_assert_uint_ge(span, tl + 2);
        memset(buf + at, ' ', span);
        memcpy(buf + at, huge[_i].header, tl);
        memcpy(buf + at + tl, "}", 1);
        write_bytes(path, buf, n);
        free(buf);
        vdit_array b;
        rc = vdit_npz_read(path, "a", &b, &err);
        break;
    }
    }
    ck_assert_msg(rc == -1, "%s: accepted", huge[_i].what);
    ck_assert_msg(strstr(err.msg, huge[_i].expect) != NULL, "%s: message \"%s\" lacks \"%s\"", huge[_i].what, err.msg,
                  huge[_i].expect);
    ck_assert_msg(strstr(err.msg, "out of memory") == NULL, "%s: %s", huge[_i].what, err.msg);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s: message \"%s\" does not name the file", huge[_i].what, err.msg);
}
END_TEST


/* ------------------------------------------------------------------------
 * Checksums, the VAE a DiT was trained on, non-finite values (issue 17)
 * ---------------------------------------------------------------------- */

/* CRC-32 (IEEE, reflected, as zlib and Python's zlib.crc32), bit by bit:
 * the reference the writer's checksum is checked against. */
static uint32_t crc32_plain(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

/* The file's header length (the data buffer starts at 8 + it). */
static uint64_t st_hlen(const unsigned char *file)
{
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | file[i];
    return h;
}

START_TEST(test_st_checksum)
{
    vdit_err err = {{0}};
    float w[6] = {1, -2, 3.5f, 0, 1e-30f, -7}, b[3] = {0.25f, 0.5f, 0.75f};
    vdit_st_tensor in[2] = {{.name = "w", .ndim = 2, .shape = {2, 3}, .data = w, .numel = 6},
                            {.name = "b", .ndim = 1, .shape = {3}, .data = b, .numel = 3}};
    /* a caller's own data_crc32 is replaced by the data's */
    const char *keys[2] = {"format", VDIT_ST_CRC_KEY}, *vals[2] = {"pt", "deadbeef"};
    const char *path = tpath("crc.safetensors");
    ck_assert_msg(vdit_st_write(path, in, 2, keys, vals, 2, &err) == 0, "%s", err.msg);
    size_t n;
    unsigned char *file = slurp(path, &n);
    uint64_t h = st_hlen(file);
    ck_assert_uint_eq(n, 8 + h + 36);
    uint32_t want = crc32_plain(file + 8 + h, 36);
    char pair[64];
    snprintf(pair, sizeof pair, "\"data_crc32\":\"%08x\"", (unsigned)want);
    ck_assert_msg(has_bytes(file + 8, h, pair), "header lacks %s", pair);
    ck_assert(!has_bytes(file + 8, h, "deadbeef"));

    vdit_st_file f;
    ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(f.data_crc32, want);
    ck_assert_int_eq(f.nmeta, 1); /* the checksum is the reader's, not the caller's metadata */
    ck_assert_ptr_null(vdit_st_meta(&f, VDIT_ST_CRC_KEY));
    vdit_st_free(&f);

    /* one flipped bit anywhere in the data: refused, naming the file */
    size_t at[3] = {0, 17, 35};
    for (int i = 0; i < 3; i++) {
        file[8 + h + at[i]] ^= 0x10;
        write_bytes(path, file, n);
        ck_assert_int_eq(vdit_st_read(path, &f, &err), -1);
        ck_assert_msg_has(err, path);
        ck_assert_msg_has(err, "checksum mismatch: the file is corrupt");
        ck_assert_ptr_null(f.mem);
        file[8 + h + at[i]] ^= 0x10;
    }
    write_bytes(path, file, n);
    ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
    vdit_st_free(&f);

    /* one flipped bit in a metadata value ("pt" -> "pu"): refused too; the
     * metadata crc is of "format" NUL "pt" NUL */
    const unsigned char pairs[] = "format\0pt";
    char mpair[64];
    snprintf(mpair, sizeof mpair, "\"meta_crc32\":\"%08x\"", (unsigned)crc32_plain(pairs, sizeof pairs));
    ck_assert_msg(has_bytes(file + 8, h, mpair), "header lacks %s", mpair);
    unsigned char *pt = file + 8;
    while (memcmp(pt, "\"pt\"", 4)) pt++;
    pt[2] ^= 1;
    write_bytes(path, file, n);
    ck_assert_int_eq(vdit_st_read(path, &f, &err), -1);
    ck_assert_msg_has(err, "checksum mismatch: the file is corrupt (its metadata has crc32");
    pt[2] ^= 1;

    /* a stored value that is not 8 hex digits */
    unsigned char *q = file + 8;
    while (memcmp(q, "\"data_crc32\":\"", 14)) q++;
    q[14] = 'g';
    write_bytes(path, file, n);
    ck_assert_int_eq(vdit_st_read(path, &f, &err), -1);
    ck_assert_msg_has(err, "not 8 hex digits");
    free(file);

    /* a file written before checksums (none in its header) still loads */
    make_st(path, "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            UINT64_MAX, 8, FULL);
    ck_assert_msg(vdit_st_read(path, &f, &err) == 0, "%s", err.msg);
    unsigned char eight[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    ck_assert_uint_eq(f.data_crc32, crc32_plain(eight, 8)); /* its identity all the same */
    vdit_st_free(&f);
}
END_TEST

/* The latest training state with one flipped bit: the resume is refused,
 * naming the earlier state that loads; moved aside, the resume continues
 * from that one and ends on the same state as the run never stopped. */
START_TEST(test_train_resume_corrupt_state)
{
    enum { N = 3, STEPS = 3 };
    vdit_dit_config mc = {3, 16, 1, 2, {1, 2, 2}, {2, 4, 4}, 0, VDIT_ATTN_ST, VDIT_OBJ_FLOW};
    vdit_train_config tc;
    vdit_train_config_default(&tc);
    tc.batch = 2, tc.steps = STEPS, tc.warmup = 1, tc.seed = 5, tc.context_frames = 1;
    tc.context_probs[0] = tc.context_probs[1] = 0.5f;
    float x[N * 2 * 3 * 4 * 4];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    char run[600], last[700], prev[700], aside[720];
    snprintf(run, sizeof run, "%s/run", tmpdir);
    vdit_train_run_options o = {run, 0, "# settings\n", 1, 3, 1, 0, 1, NULL, NULL, NULL, NULL, NULL};
    vdit_err err = {{0}};
    ck_assert_msg(vdit_train_run(&mc, &tc, x, NULL, N, &o, &err) == 0, "%s", err.msg);
    snprintf(last, sizeof last, "%s/checkpoints/step-00000003.safetensors", run);
    snprintf(prev, sizeof prev, "%s/checkpoints/step-00000002.safetensors", run);
    size_t n;
    unsigned char *good = slurp(last, &n), *bad = malloc(n);
    memcpy(bad, good, n);
    bad[n - 5] ^= 1; /* in the adam_v tensors, the last written */
    write_bytes(last, bad, n);

    o.resume = 1;
    ck_assert_int_eq(vdit_train_run(&mc, &tc, x, NULL, N, &o, &err), -1);
    ck_assert_msg_has(err, last);
    ck_assert_msg_has(err, "checksum mismatch: the file is corrupt");
    ck_assert_msg_has(err, prev);
    ck_assert_msg_has(err, "(step 2) is intact");
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    size_t n2;
    unsigned char *after = slurp(last, &n2); /* the refusal changed nothing */
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(after, bad, n);
    free(after);

    snprintf(aside, sizeof aside, "%s.corrupt", last);
    ck_assert_int_eq(rename(last, aside), 0);
    ck_assert_msg(vdit_train_run(&mc, &tc, x, NULL, N, &o, &err) == 0, "%s", err.msg);
    after = slurp(last, &n2);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(after, good, n);
    free(after), free(good), free(bad);

    /* no earlier state intact either (steps 1 and 2 kept): said so */
    for (int s = 1; s <= 2; s++) {
        snprintf(prev, sizeof prev, "%s/checkpoints/step-%08d.safetensors", run, s);
        unsigned char *p = slurp(prev, &n2);
        p[n2 - 1] ^= 1;
        write_bytes(prev, p, n2);
        free(p);
    }
    ck_assert_int_eq(rename(aside, last), 0);
    ck_assert_int_eq(vdit_train_run(&mc, &tc, x, NULL, N, &o, &err), -1);
    ck_assert_msg_has(err, "no earlier state");
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", run); /* remove_tmpdir removes files, not folders */
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* A VAE of the given seed saved to name and loaded back (its identity set). */
static void vae_file(const char *name, uint64_t seed, vdit_vae *out)
{
    vdit_vae_config c;
    vdit_vae_config_default(&c);
    memset(c.channels, 0, sizeof c.channels);
    c.channels[0] = 4, c.channels[1] = 4;
    c.downsample = 2, c.temporal = 1, c.latent_channels = 2, c.groups = 2, c.mid_blocks = 0;
    vdit_vae m;
    vdit_err err = {{0}};
    ck_assert_msg(vdit_vae_create(&m, &c, &err) == 0, "%s", err.msg);
    vdit_vae_init_weights(&m, seed);
    ck_assert_msg(vdit_vae_save(&m, m.params_mem, tpath(name), NULL, &err) == 0, "%s", err.msg);
    vdit_vae_free(&m);
    ck_assert_msg(vdit_vae_load(out, tpath(name), &err) == 0, "%s", err.msg);
}

START_TEST(test_dit_records_its_vae)
{
    vdit_vae v2, v3;
    vae_file("vae2.safetensors", 2, &v2);
    vae_file("vae3.safetensors", 3, &v3); /* the same shape, other weights */
    ck_assert_str_ne(v2.id.crc32, v3.id.crc32);
    ck_assert_str_eq(v2.id.config, v3.id.config);

    vdit_dit_config mc = {2, 16, 1, 2, {1, 2, 2}, {2, 4, 4}, 0, VDIT_ATTN_ST, VDIT_OBJ_FLOW};
    vdit_dit m, loaded;
    vdit_err err = {{0}};
    ck_assert_msg(vdit_dit_create(&m, &mc, &err) == 0, "%s", err.msg);
    vdit_dit_init_weights(&m, 1);
    const char *plain = tpath("plain-dit.safetensors"), *onv2 = tpath("dit-on-vae2.safetensors");
    ck_assert_msg(vdit_dit_save(&m, m.params_mem, plain, &err) == 0, "%s", err.msg);
    m.trained_on = v2.id;
    ck_assert_msg(vdit_dit_save(&m, m.params_mem, onv2, &err) == 0, "%s", err.msg);
    vdit_dit_free(&m);

    ck_assert_msg(vdit_dit_load(&loaded, onv2, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(loaded.trained_on.crc32, v2.id.crc32);
    ck_assert_str_eq(loaded.trained_on.file, tpath("vae2.safetensors"));
    ck_assert_int_eq(vdit_pipeline_check_vae(&loaded, onv2, &v2, 0, &err), 0);
    ck_assert_int_eq(vdit_pipeline_check_vae(&loaded, onv2, &v3, 0, &err), -1);
    ck_assert_msg_has(err, onv2);
    ck_assert_msg_has(err, "vae2.safetensors");
    ck_assert_msg_has(err, "vae3.safetensors");
    ck_assert_msg_has(err, "--force");
    ck_assert_int_eq(vdit_pipeline_check_vae(&loaded, onv2, NULL, 0, &err), -1);
    ck_assert_msg_has(err, "give it with --vae");
    ck_assert_int_eq(vdit_pipeline_check_vae(&loaded, onv2, &v3, 1, &err), 0); /* forced */
    vdit_dit_free(&loaded);

    /* no record (pixels, or a checkpoint older than the record): any VAE */
    ck_assert_msg(vdit_dit_load(&loaded, plain, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(loaded.trained_on.crc32, "");
    ck_assert_int_eq(vdit_pipeline_check_vae(&loaded, plain, &v3, 0, &err), 0);
    vdit_dit_free(&loaded);
    vdit_vae_free(&v2), vdit_vae_free(&v3);
}
END_TEST

START_TEST(test_nonfinite_refused_with_index)
{
    vdit_err err = {{0}};
    float z[2 * 3 * 4] = {0};
    int64_t shape[3] = {2, 3, 4};
    const char *path = tpath("latents.npy");
    vdit_array a;
    ck_assert_int_eq(vdit_npy_write_f32(path, z, 3, shape, &err), 0);
    ck_assert_msg(vdit_npy_read_f32(path, &a, &err) == 0, "%s", err.msg);
    vdit_array_free(&a);
    uint32_t nan = 0x7fc00000u, ninf = 0xff800000u;
    memcpy(&z[1 * 12 + 2 * 4 + 3], &nan, 4); /* [1, 2, 3] = element 23 */
    memcpy(&z[1 * 12 + 0 * 4 + 1], &ninf, 4); /* [1, 0, 1] = element 13, the first */
    ck_assert_int_eq(vdit_npy_write_f32(path, z, 3, shape, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &a, &err), -1);
    ck_assert_msg_has(err, path);
    ck_assert_msg_has(err, "non-finite value -inf at index [1, 0, 1] (element 13)");
    ck_assert_ptr_null(a.data);

    /* a float64 beyond float's range turns into inf when read as float32: refused too */
    double d[3] = {1.0, 1e300, 2.0};
    vdit_array big = {VDIT_DTYPE_F64, 1, {3}, d, sizeof d};
    ck_assert_int_eq(vdit_npy_write(path, &big, &err), 0);
    ck_assert_int_eq(vdit_npy_read_f32(path, &a, &err), -1);
    ck_assert_msg_has(err, "non-finite value inf at index [1] (element 1)");

    /* integers pass; a NaN float64 is named as such */
    int32_t ints[2] = {1, 2};
    vdit_array ia = {VDIT_DTYPE_I32, 1, {2}, ints, sizeof ints};
    ck_assert_int_eq(vdit_array_check_finite(&ia, "ints", &err), 0);
    d[2] = NAN;
    d[1] = 0;
    ck_assert_int_eq(vdit_array_check_finite(&big, "d.npy", &err), -1);
    ck_assert_str_eq(err.msg, "d.npy: non-finite value nan at index [2] (element 2)");
}
END_TEST

/* ------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------- */

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc;

    tc = tcase_create("files");
    tcase_add_test(tc, test_atomic_write_and_read);
    tcase_add_test(tc, test_atomic_write_missing_dir);
    tcase_add_test(tc, test_path_clash);
    tcase_add_test(tc, test_out_lock);
    tcase_add_test(tc, test_atomic_write_failure_keeps_old);
    tcase_add_test(tc, test_read_file_errors);
    tcase_add_test(tc, test_temps_remove);
    tcase_add_test(tc, test_signal_removes_temps);
    tcase_add_test(tc, test_dtypes);
    suite_add_tcase(s, tc);

    tc = tcase_create("npy");
    tcase_add_loop_test(tc, test_npy_roundtrip, 0, 5); /* one per dtype */
    tcase_add_test(tc, test_npy_numpy_fixture);
    tcase_add_test(tc, test_npy_header_variants);
    tcase_add_test(tc, test_npy_read_f32_converts);
    tcase_add_test(tc, test_npy_write_rejects);
    tcase_add_loop_test(tc, test_npy_bad, 0, (int)(sizeof npy_bad / sizeof npy_bad[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("safetensors");
    tcase_add_test(tc, test_st_roundtrip);
    tcase_add_test(tc, test_st_validate);
    tcase_add_test(tc, test_st_empty_file_roundtrip);
    tcase_add_test(tc, test_st_foreign_file);
    tcase_add_test(tc, test_st_write_rejects);
    tcase_add_loop_test(tc, test_st_bad, 0, (int)(sizeof st_bad / sizeof st_bad[0]));
    tcase_add_test(tc, test_st_read_not_a_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("integrity");
    tcase_add_test(tc, test_st_checksum);
    tcase_add_test(tc, test_train_resume_corrupt_state);
    tcase_add_test(tc, test_dit_records_its_vae);
    tcase_add_test(tc, test_nonfinite_refused_with_index);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("huge");
    tcase_add_loop_test(tc, test_huge_declared_sizes, 0, (int)(sizeof huge / sizeof huge[0]));
    suite_add_tcase(s, tc);
    return s;
}

/* Removes the files the tests left in tmpdir, then tmpdir. */
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
    snprintf(tmpdir, sizeof tmpdir, "%s/vdit_check_io.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(io_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tmpdir();
    return failed != 0 ? 1 : 0;
}
