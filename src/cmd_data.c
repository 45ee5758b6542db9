/* cmd_data.c - `vdit data`: physics video datasets (datasets/), and
 * `vdit data show` to look at one video. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "datasets.h"
#include "progress.h"
#include "vdit.h"

static void on_progress(void *ctx, long done, long total)
{
    (void)total;
    progress_update(ctx, done, NULL);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ------------------------------------------------------------------------
 * vdit data show DIR --index I --out FILE
 * ---------------------------------------------------------------------- */

static int data_show(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--index", "I", "which video (default 0)", NULL},
        {"--out", "FILE", "FILE.gif: the video, animated; FILE.png: a contact sheet of its frames", NULL},
        {"--take2", NULL, "show the second take instead (benchmark sets)", NULL},
        {"--scale", "K", "upscale by K, nearest neighbour (default: to at least 128 pixels)", NULL},
        {"--per-row", "N", "PNG: frames per row of the sheet (default 8)", NULL},
    };
    cli_cmd cmd = {"vdit data show", "DIR --out FILE.gif|FILE.png [--index I]",
                   "Writes one video of a dataset as an animated GIF or a PNG contact sheet and prints its "
                   "caption and parameters.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *dir = cmd.positional[0];
    const char *out = cli_required(&cmd, "--out");
    int index, scale, per_row;
    if (!dir) {
        cli_usage_error(&cmd, "missing the dataset directory DIR");
        return 2;
    }
    if (!out || cli_int(&cmd, "--index", 0, 0, 1 << 30, &index) || cli_int(&cmd, "--scale", 0, 0, 64, &scale) ||
        cli_int(&cmd, "--per-row", 8, 1, 1024, &per_row))
        return 2;
    int gif = ends_with(out, ".gif"), png = ends_with(out, ".png");
    if (!gif && !png) {
        cli_usage_error(&cmd, "--out '%s' must end in .gif or .png", out);
        return 2;
    }
    if (cli_out_clash(&out, 1, &dir, 1)) return 1;
    vdit_dataset ds;
    vdit_err err;
    if (vdit_dataset_load(dir, &ds, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    int take2 = cli_get(&cmd, "--take2") != NULL;
    if (index >= ds.count) {
        fprintf(stderr, "vdit data show: --index %d: %s holds %d videos (0..%d)\n", index, dir, ds.count, ds.count - 1);
        vdit_dataset_free(&ds);
        return 1;
    }
    if (take2 && !ds.videos_take2.data) {
        fprintf(stderr, "vdit data show: --take2: %s has no second take\n", dir);
        vdit_dataset_free(&ds);
        return 1;
    }
    if (vdit_dataset_show(&ds, index, take2, png, scale, per_row, out, &err)) {
        cli_fail(err.msg);
        vdit_dataset_free(&ds);
        return 1;
    }
    const int32_t *lab = ds.labels.data, *spl = ds.splits.data, *con = ds.contact.data;
    const float *p = (const float *)ds.params.data + (size_t)index * VDIT_NPARAMS;
    printf("%s: video %d of %s (%s, %s%s): %s\n", out, index, ds.name, vdit_scenario_name(lab[index]),
           vdit_split_name(spl[index]), take2 ? ", second take" : "", ds.captions[index]);
    if (ds.captions_short) printf("  short caption: %s\n", ds.captions_short[index]);
    printf("  params v1 %g r1 %g v2 %g r2 %g e %g wall_x %g wall_w %g g %g; contact frame %d; seed %lld\n", p[0], p[1],
           p[2], p[3], p[4], p[5], p[6], p[7], con[index], (long long)((const int64_t *)ds.seeds.data)[index]);
    vdit_dataset_free(&ds);
    return 0;
}

/* ------------------------------------------------------------------------
 * vdit data --scenario S --split SPLIT ... | --benchmark NAME ...
 * ---------------------------------------------------------------------- */

static const char *const SPLITS[] = {"train", "id", "ood-v", "ood-r", "ood-rv", NULL};

int cmd_data(int argc, char **argv)
{
    if (argc > 0 && !strcmp(argv[0], "show")) return data_show(argc - 1, argv + 1);
    cli_flag flags[] = {
        {"--scenario", "S", "uniform|parabola|collision|bounce|occlusion|box|all (all: phyworld's five in turn, labelled), "
                            "or a list like uniform,parabola,collision (those in turn)", NULL},
        {"--split", "SPLIT", "train|id|ood-v|ood-r|ood-rv (train and id: the ID ranges, other seeds)", NULL},
        {"--count", "N", "number of videos (1..100000000)", NULL},
        {"--frames", "T", "frames per video (default 32; 4..512)", NULL},
        {"--size", "S", "frame size in pixels, square (default 32; 8..512)", NULL},
        {"--seed", "K", "the set's seed (default 0; 0..2^63-1)", NULL},
        {"--take2", NULL, "also write the second take (perturbed re-simulation) of a train set; test splits always "
                          "have it", NULL},
        {"--benchmark", "NAME", "a fixed benchmark set instead: phys-v1", NULL},
        {"--level", "L", "deflate level of data.npz, 0 stored .. 9 (default 1; benchmarks 0)", NULL},
        {"--force", NULL, "replace an existing dataset directory", NULL},
        {"--out", "DIR", "the dataset directory to write (meta.json, data.npz)", NULL},
    };
    cli_cmd cmd = {"vdit data",
                   "--scenario S --split SPLIT --count N --out DIR [options]\n"
                   "       vdit data --benchmark phys-v1 --size S --out DIR\n"
                   "       vdit data show DIR --index I --out FILE.gif|FILE.png",
                   "Simulates physics videos with Chipmunk2D (datasets/FORMAT.md), renders them anti-aliased and "
                   "writes them with their ground truth (states, parameters, captions) as DIR/data.npz and "
                   "DIR/meta.json, complete or not at all.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *out = cli_required(&cmd, "--out");
    if (!out) return 2;
    int size, frames, level, count = 0;
    uint64_t seed;
    if (cli_int(&cmd, "--size", 32, VDIT_MIN_SIZE, VDIT_MAX_SIZE, &size) ||
        cli_int(&cmd, "--frames", 32, VDIT_MIN_FRAMES, VDIT_MAX_FRAMES, &frames) ||
        cli_int(&cmd, "--level", -1, 0, 9, &level) || cli_u64(&cmd, "--seed", 0, &seed))
        return 2;
    if (seed > (uint64_t)INT64_MAX) {
        cli_usage_error(&cmd, "--seed %llu must be at most 2^63-1", (unsigned long long)seed);
        return 2;
    }
    const char *bench = cli_get(&cmd, "--benchmark");
    vdit_data_spec spec;
    vdit_err err;
    if (bench) {
        const char *clash[] = {"--scenario", "--split", "--count", "--frames", "--seed", "--take2"};
        for (int i = 0; i < 6; i++)
            if (cli_get(&cmd, clash[i])) {
                cli_usage_error(&cmd, "%s cannot be given with --benchmark (its videos are fixed)", clash[i]);
                return 2;
            }
        if (vdit_benchmark_spec(bench, size, &spec, &err)) {
            cli_usage_error(&cmd, "--benchmark: %s", err.msg);
            return 2;
        }
    } else {
        int sp, scen[VDIT_NSCENARIOS], nscen = 0;
        const char *s_sc = cli_required(&cmd, "--scenario");
        if (!s_sc) return 2;
        if (!strcmp(s_sc, "all")) {
            for (int k = 0; k < VDIT_NPHYWORLD; k++) scen[nscen++] = k;
        } else { /* one scenario or a comma list of them */
            for (const char *p = s_sc;; p++) {
                size_t len = strcspn(p, ",");
                char name[32];
                snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
                int k = len < sizeof name ? vdit_scenario_parse(name) : -1;
                if (k < 0 || nscen == VDIT_NSCENARIOS) {
                    cli_usage_error(&cmd, "--scenario '%s' must be one of uniform|parabola|collision|bounce|occlusion|box|all "
                                          "(the first five), or a list of them", name);
                    return 2;
                }
                scen[nscen++] = k;
                p += len;
                if (!*p) break;
            }
        }
        const char *s_sp = cli_required(&cmd, "--split");
        if (!s_sp || cli_choice(&cmd, "--split", SPLITS, 0, &sp)) return 2;
        if (!cli_required(&cmd, "--count") || cli_int(&cmd, "--count", 0, 1, 100000000, &count)) return 2;
        int is_train;
        int split = vdit_split_parse(SPLITS[sp], &is_train);
        if (vdit_data_spec_make_list(&spec, scen, nscen, split, is_train, count, frames, size, seed, &err)) {
            cli_fail(err.msg);
            return 1;
        }
        if (cli_get(&cmd, "--take2")) spec.take2 = 1;
    }
    if (level >= 0) spec.level = level;

    vdit_out_lock_t lock;
    if (cli_out_lock(out, &lock)) {
        vdit_data_spec_free(&spec);
        return 1;
    }
    progress pr;
    char label[96];
    snprintf(label, sizeof label, "data %s", spec.name);
    progress_start(&pr, label, (long)spec.count * (spec.take2 ? 2 : 1));
    double t0 = progress_now();
    rc = vdit_data_write(out, &spec, cli_get(&cmd, "--force") != NULL, on_progress, &pr, &err);
    double dt = progress_now() - t0;
    vdit_out_unlock(&lock);
    if (rc) {
        if (pr.tty) fprintf(stderr, "\r\033[K");
        cli_fail(err.msg);
        vdit_data_spec_free(&spec);
        return 1;
    }
    char extra[96];
    snprintf(extra, sizeof extra, "%.1f videos/s", spec.count / (dt > 0 ? dt : 1e-9));
    progress_end(&pr, extra);
    printf("%s: %d videos of %d frames at %dx%d (%s)%s\n", out, spec.count, spec.frames, spec.size, spec.size,
           spec.name, spec.take2 ? " with the second take" : "");
    vdit_data_spec_free(&spec);
    return 0;
}
