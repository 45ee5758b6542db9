/* fuzz.h - what the fuzz targets share: the libFuzzer entry point's
 * declaration and a scratch directory to write an input into (the readers
 * under test take paths, as the commands use them).
 *
 * Each fuzz/fuzz_X.c defines LLVMFuzzerTestOneInput. Built with
 * `./configure CC=clang --enable-fuzz` it links libFuzzer (fuzz/fuzz_X);
 * in every build tests/fuzz_replay.c gives it a main() that feeds it the
 * files of fuzz/regression/X and fuzz/corpus/X (tests/fuzz_replay_X).
 */
#ifndef VDIT_FUZZ_H
#define VDIT_FUZZ_H

#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_tmp[256];
/* reads of the loaded data go here, so they are not optimised away */
static volatile uint8_t fuzz_sink;

static void fuzz_cleanup(void)
{
    if (!fuzz_tmp[0]) return;
    static const char *const names[] = {"in", "meta.json", "data.npz", "in.ini", "in.tmp"};
    char p[300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_tmp, names[i]);
        unlink(p);
    }
    rmdir(fuzz_tmp);
}

/* The scratch directory (made once, removed at exit). */
static const char *fuzz_dir(void)
{
    if (fuzz_tmp[0]) return fuzz_tmp;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/vdit-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_tmp)) {
        perror("fuzz: mkdtemp");
        exit(1); /* the harness, not the library under test */
    }
    atexit(fuzz_cleanup);
    return fuzz_tmp;
}

/* Writes data to fuzz_dir()/name; the path goes to path[cap]. */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
        perror(path);
        exit(1);
    }
    return path;
}

/* FUZZ_VERBOSE=1 prints each reader's verdict (to check that the seeds
 * are read whole, not refused early). */
static void fuzz_note(const char *what, int rc, const char *msg)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "fuzz: %s: %s\n", what, rc ? msg : "ok");
}

#endif
