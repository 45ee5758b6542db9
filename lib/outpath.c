/* outpath.c - what keeps an output from destroying an input or another
 * writer's output (issue 17): vdit_path_clash and the output lock. */
#define _DEFAULT_SOURCE /* flock */
#include "vdit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the resolved path `inner` is `outer` itself or lies under it. */
static int path_under(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    if (n == 1 && outer[0] == '/') return 1;
    return !strncmp(inner, outer, n) && inner[n] == '/';
}

int vdit_path_clash(const char *out, const char *in, vdit_err *err)
{
    struct stat so, si;
    /* an output that does not exist yet can be no existing input, nor hold
     * one; an input that does not exist is refused by its own reader */
    if (!out || !in || stat(out, &so) || stat(in, &si)) return 0;
    if (so.st_dev == si.st_dev && so.st_ino == si.st_ino)
        return vdit_seterr(err, "the output %s is the input %s", out, in), VDIT_CLASH_SAME;
    char ro[PATH_MAX], ri[PATH_MAX];
    if (!realpath(out, ro) || !realpath(in, ri)) return 0;
    if (S_ISDIR(so.st_mode) && path_under(ri, ro))
        return vdit_seterr(err, "the output %s holds the input %s", out, in), VDIT_CLASH_HOLDS;
    if (S_ISDIR(si.st_mode) && path_under(ro, ri))
        return vdit_seterr(err, "the output %s is inside the input %s", out, in), VDIT_CLASH_INSIDE;
    return 0;
}

/* `path` without trailing slashes, then ".lock". */
static char *lock_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    char *s = malloc(n + 6);
    if (s) {
        memcpy(s, path, n);
        memcpy(s + n, ".lock", 6);
    }
    return s;
}

int vdit_out_lock(const char *path, vdit_out_lock_t *lock, vdit_err *err)
{
    lock->fd = -1;
    lock->temp = -1;
    lock->path = lock_name(path);
    if (!lock->path) return vdit_seterr(err, "out of memory");
    vdit_seterr(err, "cannot lock %s: %s keeps being replaced", path, lock->path);
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 && errno == ENOENT) { /* no parent folder: nothing can be written, the writer says why */
            free(lock->path);
            lock->path = NULL;
            return 0;
        }
        if (fd < 0) {
            vdit_seterr(err, "cannot lock %s: %s: %s", path, lock->path, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            int e = errno;
            char buf[32] = {0};
            long pid = 0;
            if (e == EWOULDBLOCK && pread(fd, buf, sizeof buf - 1, 0) > 0) pid = strtol(buf, NULL, 10);
            close(fd);
            if (e != EWOULDBLOCK) vdit_seterr(err, "cannot lock %s: %s: %s", path, lock->path, strerror(e));
            else if (pid > 0) vdit_seterr(err, "%s is in use by another writer (pid %ld; lock %s)", path, pid, lock->path);
            else vdit_seterr(err, "%s is in use by another writer (lock %s)", path, lock->path);
            break;
        }
        /* the holder before us may have removed the file between our open
         * and our flock: then we hold a lock nobody else can see; again */
        struct stat sf, sp;
        if (fstat(fd, &sf) || stat(lock->path, &sp) || sf.st_dev != sp.st_dev || sf.st_ino != sp.st_ino) {
            close(fd);
            continue;
        }
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        /* the pid is only for the second writer's message: not an error if unwritten */
        if (!ftruncate(fd, 0)) (void)!pwrite(fd, buf, (size_t)n, 0);
        lock->fd = fd;
        /* a SIGINT/SIGTERM removes it with the other temporaries (the lock
         * itself dies with the process either way) */
        lock->temp = vdit_temp_add(lock->path, 0);
        return 0;
    }
    free(lock->path);
    lock->path = NULL;
    return -1;
}

void vdit_out_unlock(vdit_out_lock_t *lock)
{
    if (lock->fd >= 0) {
        /* removed while held, so a waiting opener finds a new file (see above) */
        unlink(lock->path);
        vdit_temp_drop(lock->temp);
        close(lock->fd);
    }
    free(lock->path);
    lock->temp = -1;
    lock->fd = -1;
    lock->path = NULL;
}

/* Removes a folder of plain files (what vdit_out_dir_begin accepted). */
static void remove_flat_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        size_t n = strlen(dir);
        while ((e = readdir(dp)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = malloc(n + strlen(e->d_name) + 2);
            if (!p) continue;
            sprintf(p, "%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(dp);
    }
    rmdir(dir);
}

/* DIR without trailing slashes, then `suffix` and XXXXXX, in a new buffer. */
static char *beside_name(const char *dir, const char *suffix)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *s = malloc(n + strlen(suffix) + 7);
    if (s) sprintf(s, "%.*s%sXXXXXX", (int)n, dir, suffix);
    return s;
}

int vdit_out_dir_begin(const char *dir, int (*ours)(const char *dir, const char *name), char **tmp, vdit_err *err)
{
    *tmp = NULL;
    struct stat st;
    if (!stat(dir, &st)) {
        DIR *dp = S_ISDIR(st.st_mode) ? opendir(dir) : NULL;
        if (!dp) return vdit_seterr(err, "%s: exists and is not a folder this command wrote; not replaced", dir);
        struct dirent *e;
        int foreign = 0;
        while (!foreign && (e = readdir(dp)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !ours(dir, e->d_name)) {
                vdit_seterr(err, "%s: exists and holds %s, which this command does not write; not replaced", dir,
                            e->d_name);
                foreign = 1;
            }
        closedir(dp);
        if (foreign) return -1;
    }
    char *t = beside_name(dir, ".tmp-");
    if (!t) return vdit_seterr(err, "out of memory");
    if (!mkdtemp(t)) {
        vdit_seterr(err, "%s: cannot create a temporary folder beside it: %s", dir, strerror(errno));
        free(t);
        return -1;
    }
    chmod(t, 0755);
    *tmp = t;
    return 0;
}

/* Moves the entries of dir that ours() keeps (2) into tmp, unless tmp has one
 * of that name already. */
static int keep_entries(const char *dir, char *tmp, int (*ours)(const char *dir, const char *name), vdit_err *err)
{
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dp)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || ours(dir, e->d_name) != 2) continue;
        size_t n = strlen(e->d_name);
        char *from = malloc(strlen(dir) + n + 2), *to = malloc(strlen(tmp) + n + 2);
        if (!from || !to) rc = vdit_seterr(err, "out of memory");
        else {
            struct stat st;
            sprintf(from, "%s/%s", dir, e->d_name);
            sprintf(to, "%s/%s", tmp, e->d_name);
            if (lstat(to, &st) && rename(from, to))
                rc = vdit_seterr(err, "%s: cannot keep %s: %s", dir, from, strerror(errno));
        }
        free(from);
        free(to);
    }
    closedir(dp);
    return rc;
}

int vdit_out_dir_commit(char *tmp, const char *dir, int (*ours)(const char *dir, const char *name), vdit_err *err)
{
    int rc = 0;
    struct stat st;
    if (!stat(dir, &st) && keep_entries(dir, tmp, ours, err)) rc = -1;
    else if (!stat(dir, &st)) { /* the earlier output: aside, the new one in, then removed */
        char *old = beside_name(dir, ".old-");
        if (!old || !mkdtemp(old) || rmdir(old) || rename(dir, old)) {
            rc = vdit_seterr(err, "%s: cannot move the earlier output aside: %s", dir, old ? strerror(errno) : "out of memory");
        } else if (rename(tmp, dir)) {
            rc = vdit_seterr(err, "%s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
            rename(old, dir);
        } else {
            remove_flat_dir(old);
        }
        free(old);
    } else if (rename(tmp, dir)) {
        rc = vdit_seterr(err, "%s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
    }
    if (rc) remove_flat_dir(tmp);
    free(tmp);
    return rc;
}

void vdit_out_dir_abort(char *tmp)
{
    if (tmp) remove_flat_dir(tmp);
    free(tmp);
}
