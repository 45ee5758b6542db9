/* fuzz_replay.c - a main() for a fuzz target without libFuzzer: feeds it
 * every file of the directories given, or by default of
 * $SRCDIR/fuzz/regression/NAME (the inputs that once found a bug) and
 * $SRCDIR/fuzz/corpus/NAME (the seeds). A crash, a sanitizer report (in the
 * --enable-sanitizers build) or a target's own abort fails the test; so
 * does finding no input at all. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME='\"target\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Feeds every regular file of dir (in name order); returns the count, or
 * -1 when dir cannot be read. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) exit(1);
            names = nn;
        }
        if (!(names[n++] = strdup(e->d_name))) exit(1);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    int fed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        FILE *f = fopen(path, "rb");
        if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
            if (f) fclose(f);
            free(names[i]);
            continue;
        }
        uint8_t *buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            fprintf(stderr, "%s: cannot read\n", path);
            exit(1);
        }
        fclose(f);
        /* a copy of exactly size bytes, so reading one past the end is caught */
        uint8_t *in = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (!in) exit(1);
        memcpy(in, buf, (size_t)st.st_size);
        LLVMFuzzerTestOneInput(in, (size_t)st.st_size);
        free(in);
        free(buf);
        free(names[i]);
        fed++;
    }
    free(names);
    return fed;
}

int main(int argc, char **argv)
{
    int total = 0, dirs = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            int n = replay_dir(argv[i]);
            if (n < 0) {
                fprintf(stderr, "%s: cannot read the directory\n", argv[i]);
                return 1;
            }
            total += n, dirs++;
        }
    } else {
        const char *src = getenv("SRCDIR") ? getenv("SRCDIR") : ".";
        const char *sub[] = {"regression", "corpus"};
        for (int i = 0; i < 2; i++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", src, sub[i], FUZZ_NAME);
            int n = replay_dir(dir);
            if (n >= 0) total += n, dirs++;
            printf("replay %s: %s: %d inputs\n", FUZZ_NAME, dir, n < 0 ? 0 : n);
        }
    }
    if (total == 0) {
        printf("replay: 0 passed, 1 failed (no inputs found for %s)\n", FUZZ_NAME);
        return 1;
    }
    printf("replay: %d passed, 0 failed (%s, every input read without a crash)\n", total, FUZZ_NAME);
    return 0;
}
