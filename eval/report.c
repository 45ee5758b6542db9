/* report.c - writes a benchmark report: JSON, CSV, Markdown, gnuplot
 * figures (scripts and data beside them) and a strip of frames. */
#define _POSIX_C_SOURCE 200809L
#include "eval.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

void eval_report_options_default(eval_report_options *o)
{
    memset(o, 0, sizeof *o);
    o->figures = 1;
    o->traj_videos = 4;
    o->strip_videos = 3;
}

/* ------------------------------------------------------------------------
 * a growing string (vdit_strbuf)
 * ---------------------------------------------------------------------- */

static int sb_write(vdit_strbuf *b, const char *dir, const char *name, vdit_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = b->oom ? vdit_seterr(err, "%s: out of memory", path) : vdit_write_file_atomic(path, b->s, b->n, err);
    vdit_strbuf_free(b);
    return rc;
}

/* a number for CSV / gnuplot data: NaN as "NaN" (gnuplot skips it) */
static void sb_num(vdit_strbuf *b, double x)
{
    if (isnan(x))
        vdit_strbuf_printf(b, "NaN");
    else
        vdit_strbuf_printf(b, "%.6g", x);
}

static const eval_stat *stat_at(const eval_result *r, int src, int g, int k)
{
    return r->stats + ((size_t)src * EVAL_NUM_GROUPS + g) * EVAL_NUM_METRICS + k;
}

int eval_mkdir_p(const char *dir, vdit_err *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char save = *c;
            *c = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) return vdit_seterr(err, "%s: cannot create: %s", p, strerror(errno));
            *c = save;
            if (!save) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return vdit_seterr(err, "%s: not a directory", dir);
    return 0;
}

/* ------------------------------------------------------------------------
 * Notes: what the reader must know to trust the numbers
 * ---------------------------------------------------------------------- */

/* note i of the report into buf; 0 when there is no note i */
static int report_note(const eval_result *r, int i, char *buf, size_t n)
{
    int k = 0;
    if (!r->has_take2 && k++ == i) {
        snprintf(buf, n, "physics_iq is not computed: the truth set has no second takes (made by an older vdit "
                         "data; remake it, benchmark sets now always carry them)");
        return 1;
    }
    if (!isnan(r->context_diff) && r->context_diff > EVAL_CONTEXT_DIFF_NOTE && k++ == i) {
        snprintf(buf, n, "the videos' context frames differ from the truth's by %.1f of 255 on average: they may "
                         "continue another truth set, or have their channels or value range wrong",
                 r->context_diff);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------- */

static json_t *jnum(double x) { return isnan(x) ? json_null() : json_real(x); }

static int write_json(const char *dir, const eval_result *r, const eval_report_options *o, vdit_err *err)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("vdit-eval-report"));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "title", json_string(o->title ? o->title : ""));
    json_object_set_new(root, "truth", json_string(o->truth_name ? o->truth_name : ""));
    json_object_set_new(root, "videos", json_integer(r->N));
    json_object_set_new(root, "frames", json_integer(r->T));
    json_object_set_new(root, "size", json_integer(r->S));
    json_object_set_new(root, "context_frames", json_integer(r->ctx));
    json_object_set_new(root, "bootstrap", json_integer(r->bootstrap));
    json_object_set_new(root, "bootstrap_seed", json_integer((json_int_t)r->seed));
    json_object_set_new(root, "interval", json_string("95% percentile bootstrap of the mean"));
    json_t *ms = json_array();
    for (int k = 0; k < EVAL_NUM_METRICS; k++) {
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(eval_metrics[k].name));
        json_object_set_new(m, "unit", json_string(eval_metrics[k].unit));
        json_object_set_new(m, "higher_is_better", eval_metrics[k].higher_better < 0
                                                       ? json_null()
                                                       : json_boolean(eval_metrics[k].higher_better));
        json_object_set_new(m, "description", json_string(eval_metrics[k].what));
        json_array_append_new(ms, m);
    }
    json_object_set_new(root, "metrics", ms);
    json_object_set_new(root, "failure_rule",
                        json_string("a video fails when a ball in view in the truth is missing in more than 20% of "
                                    "the generated frames; its velocity, speed, position and gravity errors are "
                                    "copy-last's in every mean (videos.csv keeps what was measured)"));
    json_object_set_new(root, "speed_slope",
                        json_string("least-squares slope of ball 0's generated mean v_x against the truth's over "
                                    "the group's videos (1: the rule was learned; near 0: speeds regress to the "
                                    "training range)"));
    json_object_set_new(root, "second_takes", json_boolean(r->has_take2));
    json_t *notes = json_array();
    char note[512];
    for (int i = 0; report_note(r, i, note, sizeof note); i++) json_array_append_new(notes, json_string(note));
    json_object_set_new(root, "notes", notes);
    json_t *srcs = json_array();
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) json_array_append_new(srcs, json_string(eval_source_names[s]));
    json_object_set_new(root, "sources", srcs);
    json_object_set_new(root, "frechet_trajectory",
                        json_string("Frechet distance to the truth on trajectory features (x, y, r, present per "
                                    "generated frame and ball); ours, not comparable to published FVD"));
    if (r->fd_feat)
        json_object_set_new(root, "frechet_features", json_string(r->feat_name ? r->feat_name : "features"));
    json_t *groups = json_array();
    for (int g = 0; g < EVAL_NUM_GROUPS; g++) {
        json_t *gj = json_object();
        json_object_set_new(gj, "name", json_string(eval_group_name(g)));
        json_object_set_new(gj, "count", json_integer(r->group_n[g]));
        json_t *sj = json_object();
        for (int s = 0; s < EVAL_NUM_SOURCES; s++) {
            if (!r->has[s]) continue;
            json_t *one = json_object();
            for (int k = 0; k < EVAL_NUM_METRICS; k++) {
                const eval_stat *st = stat_at(r, s, g, k);
                json_t *v = json_object();
                json_object_set_new(v, "mean", jnum(st->mean));
                json_object_set_new(v, "lo", jnum(st->lo));
                json_object_set_new(v, "hi", jnum(st->hi));
                json_object_set_new(v, "n", json_integer(st->n));
                json_object_set_new(one, eval_metrics[k].name, v);
            }
            const eval_stat *sl = r->slope + (size_t)s * EVAL_NUM_GROUPS + g;
            json_t *v = json_object();
            json_object_set_new(v, "mean", jnum(sl->mean));
            json_object_set_new(v, "lo", jnum(sl->lo));
            json_object_set_new(v, "hi", jnum(sl->hi));
            json_object_set_new(v, "n", json_integer(sl->n));
            json_object_set_new(one, "speed_slope", v);
            json_object_set_new(one, "frechet_trajectory", jnum(r->fd_traj[s * EVAL_NUM_GROUPS + g]));
            if (r->fd_feat) json_object_set_new(one, "frechet_features", jnum(r->fd_feat[s * EVAL_NUM_GROUPS + g]));
            json_object_set_new(sj, eval_source_names[s], one);
        }
        json_object_set_new(gj, "sources", sj);
        json_array_append_new(groups, gj);
    }
    json_object_set_new(root, "groups", groups);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(8));
    json_decref(root);
    if (!text) return vdit_seterr(err, "%s/report.json: out of memory", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", dir);
    size_t len = strlen(text);
    text[len] = '\0';
    int rc = vdit_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------------
 * CSV and Markdown
 * ---------------------------------------------------------------------- */

static int write_csv(const char *dir, const eval_result *r, vdit_err *err)
{
    vdit_strbuf b = {0};
    vdit_strbuf_printf(&b, "source,group,metric,mean,lo,hi,n\n");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++) {
        if (!r->has[s]) continue;
        for (int g = 0; g < EVAL_NUM_GROUPS; g++) {
            for (int k = 0; k < EVAL_NUM_METRICS; k++) {
                const eval_stat *st = stat_at(r, s, g, k);
                vdit_strbuf_printf(&b, "%s,%s,%s,", eval_source_names[s], eval_group_name(g), eval_metrics[k].name);
                sb_num(&b, st->mean), vdit_strbuf_printf(&b, ","), sb_num(&b, st->lo), vdit_strbuf_printf(&b, ",");
                sb_num(&b, st->hi), vdit_strbuf_printf(&b, ",%d\n", st->n);
            }
            const eval_stat *sl = r->slope + (size_t)s * EVAL_NUM_GROUPS + g;
            vdit_strbuf_printf(&b, "%s,%s,speed_slope,", eval_source_names[s], eval_group_name(g));
            sb_num(&b, sl->mean), vdit_strbuf_printf(&b, ","), sb_num(&b, sl->lo), vdit_strbuf_printf(&b, ",");
            sb_num(&b, sl->hi), vdit_strbuf_printf(&b, ",%d\n", sl->n);
            vdit_strbuf_printf(&b, "%s,%s,frechet_trajectory,", eval_source_names[s], eval_group_name(g));
            sb_num(&b, r->fd_traj[s * EVAL_NUM_GROUPS + g]);
            vdit_strbuf_printf(&b, ",,,%d\n", r->group_n[g]);
            if (r->fd_feat) {
                vdit_strbuf_printf(&b, "%s,%s,frechet_features,", eval_source_names[s], eval_group_name(g));
                sb_num(&b, r->fd_feat[s * EVAL_NUM_GROUPS + g]);
                vdit_strbuf_printf(&b, ",,,%d\n", r->group_n[g]);
            }
        }
    }
    if (sb_write(&b, dir, "report.csv", err)) return -1;

    static const char *const param_names[EVAL_NPARAMS] = {"v1", "r1", "v2", "r2", "e", "wall_x", "wall_w", "g"};
    vdit_strbuf_printf(&b, "video,split,band,scenario,source");
    for (int k = 0; k < EVAL_NPARAMS; k++) vdit_strbuf_printf(&b, ",%s", param_names[k]);
    for (int k = 0; k < EVAL_NUM_METRICS; k++) vdit_strbuf_printf(&b, ",%s", eval_metrics[k].name);
    vdit_strbuf_printf(&b, "\n");
    for (int i = 0; i < r->N; i++)
        for (int s = 0; s < EVAL_NUM_SOURCES; s++) {
            if (!r->has[s]) continue;
            vdit_strbuf_printf(&b, "%d,%s,%s,%s,%s", i, eval_split_names[r->splits[i]],
                      r->bands[i] == EVAL_BAND_NONE ? "" : eval_group_name(EVAL_G_BAND(r->bands[i])),
                      eval_scenario_names[r->labels[i]], eval_source_names[s]);
            for (int k = 0; k < EVAL_NPARAMS; k++) vdit_strbuf_printf(&b, ","), sb_num(&b, r->params[(size_t)i * EVAL_NPARAMS + k]);
            for (int k = 0; k < EVAL_NUM_METRICS; k++) {
                vdit_strbuf_printf(&b, ",");
                sb_num(&b, r->m[((size_t)s * r->N + i) * EVAL_NUM_METRICS + k]);
            }
            vdit_strbuf_printf(&b, "\n");
        }
    return sb_write(&b, dir, "videos.csv", err);
}

static void md_cell(vdit_strbuf *b, const eval_stat *st)
{
    if (isnan(st->mean))
        vdit_strbuf_printf(b, " - |");
    else
        vdit_strbuf_printf(b, " %.4g [%.4g, %.4g] |", st->mean, st->lo, st->hi);
}

static const char *direction(int higher_better)
{
    return higher_better > 0 ? "(up)" : higher_better == 0 ? "(down)" : "(signed)";
}

static void md_table(vdit_strbuf *b, const eval_result *r, int g)
{
    vdit_strbuf_printf(b, "| metric |");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) vdit_strbuf_printf(b, " %s |", eval_source_names[s]);
    vdit_strbuf_printf(b, "\n| --- |");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) vdit_strbuf_printf(b, " --- |");
    vdit_strbuf_printf(b, "\n");
    for (int k = 0; k < EVAL_NUM_METRICS; k++) {
        int any = 0;
        for (int s = 0; s < EVAL_NUM_SOURCES; s++)
            if (r->has[s] && stat_at(r, s, g, k)->n) any = 1;
        if (!any) continue;
        vdit_strbuf_printf(b, "| %s %s |", eval_metrics[k].name, direction(eval_metrics[k].higher_better));
        for (int s = 0; s < EVAL_NUM_SOURCES; s++)
            if (r->has[s]) md_cell(b, stat_at(r, s, g, k));
        vdit_strbuf_printf(b, "\n");
    }
    vdit_strbuf_printf(b, "| speed_slope (1 is right) |");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) md_cell(b, r->slope + (size_t)s * EVAL_NUM_GROUPS + g);
    vdit_strbuf_printf(b, "\n| frechet_trajectory (down) |");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) {
            double v = r->fd_traj[s * EVAL_NUM_GROUPS + g];
            if (isnan(v))
                vdit_strbuf_printf(b, " - |");
            else
                vdit_strbuf_printf(b, " %.4g |", v);
        }
    vdit_strbuf_printf(b, "\n");
    if (r->fd_feat) {
        vdit_strbuf_printf(b, "| frechet_%s (down) |", r->feat_name ? r->feat_name : "features");
        for (int s = 0; s < EVAL_NUM_SOURCES; s++)
            if (r->has[s]) {
                double v = r->fd_feat[s * EVAL_NUM_GROUPS + g];
                if (isnan(v))
                    vdit_strbuf_printf(b, " - |");
                else
                    vdit_strbuf_printf(b, " %.4g |", v);
            }
        vdit_strbuf_printf(b, "\n");
    }
}

/* -1: a is better than b with intervals that do not overlap; 1: worse,
 * likewise; 0: the intervals overlap; 2: either is missing */
int eval_compare(const eval_stat *a, const eval_stat *b, int higher_better)
{
    if (isnan(a->mean) || isnan(b->mean)) return 2;
    int a_below = a->hi < b->lo, a_above = a->lo > b->hi;
    if (!a_below && !a_above) return 0;
    return (a_below != (higher_better > 0)) ? -1 : 1;
}

/* one sentence: the model against ref (linear or copy-last) on metric k of group g */
static void md_verdict(vdit_strbuf *b, const eval_result *r, int g, int k, int ref)
{
    const eval_stat *a = stat_at(r, EVAL_SRC_MODEL, g, k), *c = stat_at(r, ref, g, k);
    int v = eval_compare(a, c, eval_metrics[k].higher_better);
    if (v == 2) return;
    vdit_strbuf_printf(b, "- %s: model %.3g [%.3g, %.3g] against %s %.3g [%.3g, %.3g]: %s\n", eval_metrics[k].name, a->mean,
              a->lo, a->hi, eval_source_names[ref], c->mean, c->lo, c->hi,
              v < 0   ? "**beats** it (intervals do not overlap)"
              : v > 0 ? "**worse** (intervals do not overlap)"
                      : "no clear difference (intervals overlap)");
}

/* The verdict of one group in words: which of linear and copy-last the model beats. */
static void md_verdicts(vdit_strbuf *b, const eval_result *r, int g)
{
    static const int KS[] = {EVAL_M_VEL, EVAL_M_POS_X, EVAL_M_POS_Y, EVAL_M_GRAVITY, EVAL_M_MOMENTUM};
    vdit_strbuf_printf(b, "\n### %s (%d videos): the model against `linear` and `copy-last`\n\n", eval_group_name(g),
              r->group_n[g]);
    const eval_stat *f = stat_at(r, EVAL_SRC_MODEL, g, EVAL_M_FAILED);
    if (!isnan(f->mean))
        vdit_strbuf_printf(b, "Failure rate %.3g [%.3g, %.3g] (failed videos score copy-last's errors).\n\n", f->mean, f->lo,
                  f->hi);
    for (int j = 0; j < (int)(sizeof KS / sizeof KS[0]); j++) md_verdict(b, r, g, KS[j], EVAL_SRC_LINEAR);
    for (int j = 0; j < (int)(sizeof KS / sizeof KS[0]); j++) md_verdict(b, r, g, KS[j], EVAL_SRC_COPY_LAST);
    const eval_stat *sm = r->slope + (size_t)EVAL_SRC_MODEL * EVAL_NUM_GROUPS + g,
                    *sl = r->slope + (size_t)EVAL_SRC_LINEAR * EVAL_NUM_GROUPS + g;
    if (!isnan(sm->mean))
        vdit_strbuf_printf(b, "- speed_slope: model %.3g [%.3g, %.3g], linear %.3g (1 is right)\n", sm->mean, sm->lo, sm->hi,
                  sl->mean);
}

static void md_drift(vdit_strbuf *b, const eval_result *r);

static int write_md(const char *dir, const eval_result *r, const eval_report_options *o, int figs, vdit_err *err)
{
    vdit_strbuf b = {0};
    vdit_strbuf_printf(&b, "# Physics benchmark report\n\n");
    if (o->title && *o->title) vdit_strbuf_printf(&b, "Scored: `%s`  \n", o->title);
    if (o->truth_name && *o->truth_name) vdit_strbuf_printf(&b, "Truth: `%s`  \n", o->truth_name);
    vdit_strbuf_printf(&b,
              "%d videos of %d frames at %dx%d, the first %d given as context. Each cell: the mean over the videos, "
              "and a 95%% percentile-bootstrap interval (%d resamples, seed %llu). (up): higher is better, (down): "
              "lower is better. `truth` is the ground truth scored as a sample (the floor of the tracker's error), "
              "`take2` the second take (the physical variance), `copy-last` and `linear` the baselines to beat: a "
              "model that does not beat `linear` has not shown that it learned more than inertia. Tracking is "
              "gated (benchmark.md): colour noise, speckle, a split ball or a smear is never a ball. A video whose "
              "ball is missing in more than 20%% of its generated frames fails, and its velocity, speed, position "
              "and gravity errors are copy-last's in every mean (`videos.csv` keeps what was measured). "
              "Frechet distances are ours (trajectory features), not comparable to published FVD.\n\n",
              r->N, r->T, r->S, r->S, r->ctx, r->bootstrap, (unsigned long long)r->seed);
    char note[512];
    for (int i = 0; report_note(r, i, note, sizeof note); i++) vdit_strbuf_printf(&b, "**Note:** %s.\n\n", note);
    vdit_strbuf_printf(&b, "## Counts\n\n| group | videos |\n| --- | --- |\n");
    for (int g = 0; g < EVAL_G_CELL(0, 0); g++)
        if (g <= EVAL_NUM_SPLITS || r->group_n[g]) vdit_strbuf_printf(&b, "| %s | %d |\n", eval_group_name(g), r->group_n[g]);
    if (r->has[EVAL_SRC_MODEL] && r->has[EVAL_SRC_LINEAR] && r->has[EVAL_SRC_COPY_LAST]) {
        vdit_strbuf_printf(&b, "\n## Verdict\n");
        md_verdicts(&b, r, EVAL_G_ALL);
        for (int g = 1; g < EVAL_G_SCENARIO(0); g++)
            if (r->group_n[g] && r->group_n[g] < r->N) md_verdicts(&b, r, g);
    }
    vdit_strbuf_printf(&b, "\n## All videos\n\n");
    md_table(&b, r, EVAL_G_ALL);
    for (int g = 1; g < EVAL_G_CELL(0, 0); g++) {
        if (!r->group_n[g]) continue;
        const char *kind = g < EVAL_G_BAND(EVAL_BAND_LOW) ? "Split" : g < EVAL_G_SCENARIO(0) ? "Speed band" : "Scenario";
        vdit_strbuf_printf(&b, "\n## %s %s (%d videos)\n\n", kind, eval_group_name(g), r->group_n[g]);
        md_table(&b, r, g);
    }
    if (r->nwin >= 2) md_drift(&b, r);
    vdit_strbuf_printf(&b, "\nEvery (split, scenario) cell is in `report.csv` and `report.json`; every video's metrics and "
                  "scenario parameters in `videos.csv`.\n");
    if (figs) {
        vdit_strbuf_printf(&b, "\n## Figures\n\n");
        if (figs & 1) vdit_strbuf_printf(&b, "![errors per split](fig_errors.png)\n\n");
        if (figs & 2) vdit_strbuf_printf(&b, "![trajectories](fig_traj.png)\n\n");
        if (figs & 4) vdit_strbuf_printf(&b, "![truth above sample](strip.png)\n\n");
        if (figs & 8) vdit_strbuf_printf(&b, "![long-rollout measures against time](fig_drift.png)\n\n");
    }
    return sb_write(&b, dir, "report.md", err);
}

/* ------------------------------------------------------------------------
 * Figures
 * ---------------------------------------------------------------------- */

static const char *GP_TERMINAL =
    "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    "    set terminal pngcairo size %d,%d font ',10'\n"
    "} else {\n"
    "    set terminal png size %d,%d\n"
    "}\n"
    "set termoption noenhanced\n";

/* drift.csv: per source, window and metric of the long-rollout measures
 * (benchmark.md metric 8), then each source's horizon (window "all") */
static const eval_stat *drift_at(const eval_result *r, int src, int j, int k)
{
    return r->drift + ((size_t)src * r->nwin + j) * EVAL_NUM_DRIFT + k;
}

static int write_drift_csv(const char *dir, const eval_result *r, vdit_err *err)
{
    vdit_strbuf b = {0};
    vdit_strbuf_printf(&b, "source,window,first_frame,last_frame,metric,mean,lo,hi,n\n");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++) {
        if (!r->has[s]) continue;
        for (int j = 0; j <= r->nwin; j++)
            for (int k = 0; k < (j < r->nwin ? EVAL_NUM_DRIFT : 1); k++) {
                const eval_stat *st = j < r->nwin ? drift_at(r, s, j, k) : r->horizon + s;
                int t0 = j < r->nwin ? j * r->window : r->ctx, t1 = j < r->nwin ? t0 + r->window - 1 : r->T - 1;
                if (t1 > r->T - 1) t1 = r->T - 1;
                if (j < r->nwin)
                    vdit_strbuf_printf(&b, "%s,%d,%d,%d,%s,", eval_source_names[s], j, t0, t1, eval_drift_names[k]);
                else
                    vdit_strbuf_printf(&b, "%s,all,%d,%d,horizon,", eval_source_names[s], t0, t1);
                sb_num(&b, st->mean), vdit_strbuf_printf(&b, ","), sb_num(&b, st->lo), vdit_strbuf_printf(&b, ",");
                sb_num(&b, st->hi), vdit_strbuf_printf(&b, ",%d\n", st->n);
            }
    }
    return sb_write(&b, dir, "drift.csv", err);
}

/* report.md's long-rollout section: the first and the last window and the horizon */
static void md_drift(vdit_strbuf *b, const eval_result *r)
{
    int last = r->nwin - 1;
    vdit_strbuf_printf(b, "\n## Long rollout (%d frames, %d windows of %d)\n\n", r->T, r->nwin, r->window);
    vdit_strbuf_printf(b, "Ball 0 per window of generated frames (benchmark.md metric 8): presence (up), speed error "
                          "| \\|v\\| - \\|v_true\\| | in world/s (down), shape drift (down), debris (down); and the "
                          "horizon (up): the first generated frame after which the ball is missing for good or its "
                          "speed error over %d frame pairs passes half the true speed (%d: it never does). Every "
                          "window is in `drift.csv`.\n\n",
                       EVAL_HORIZON_SPAN, r->T);
    vdit_strbuf_printf(b, "| source | presence, first | presence, last | speed error, first | speed error, last | shape "
                          "drift, last | debris, last | horizon (frames) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int s = 0; s < EVAL_NUM_SOURCES; s++) {
        if (!r->has[s]) continue;
        vdit_strbuf_printf(b, "| %s |", eval_source_names[s]);
        md_cell(b, drift_at(r, s, 0, EVAL_D_PRESENCE));
        md_cell(b, drift_at(r, s, last, EVAL_D_PRESENCE));
        md_cell(b, drift_at(r, s, 0, EVAL_D_SPEED_ERR));
        md_cell(b, drift_at(r, s, last, EVAL_D_SPEED_ERR));
        md_cell(b, drift_at(r, s, last, EVAL_D_SHAPE));
        md_cell(b, drift_at(r, s, last, EVAL_D_DEBRIS));
        md_cell(b, r->horizon + s);
        vdit_strbuf_printf(b, "\n");
    }
    if (r->has[EVAL_SRC_MODEL] && r->has[EVAL_SRC_LINEAR]) {
        int v = eval_compare(&r->horizon[EVAL_SRC_MODEL], &r->horizon[EVAL_SRC_LINEAR], 1);
        vdit_strbuf_printf(b, "\nThe model's horizon is %.1f frames against linear's %.1f: %s.\n",
                           r->horizon[EVAL_SRC_MODEL].mean, r->horizon[EVAL_SRC_LINEAR].mean,
                           v < 0 ? "the model holds on longer (the intervals do not overlap)"
                                 : v > 0 ? "linear holds on longer (the intervals do not overlap)"
                                         : "no clear difference (the intervals overlap)");
    }
}

/* fig_drift.gp: each drift measure against time, the model beside the references */
static int write_fig_drift(const char *dir, const eval_result *r, vdit_err *err)
{
    int src[EVAL_NUM_SOURCES], ns = 0;
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) src[ns++] = s;
    vdit_strbuf d = {0};
    vdit_strbuf_printf(&d, "# drift per window: one block per measure; columns: window centre (s)");
    for (int j = 0; j < ns; j++)
        vdit_strbuf_printf(&d, " %s_mean %s_lo %s_hi", eval_source_names[src[j]], eval_source_names[src[j]],
                           eval_source_names[src[j]]);
    vdit_strbuf_printf(&d, "\n");
    for (int k = 0; k < EVAL_NUM_DRIFT; k++) {
        vdit_strbuf_printf(&d, "# %s\n", eval_drift_names[k]);
        for (int w = 0; w < r->nwin; w++) {
            int t0 = w * r->window, t1 = t0 + r->window < r->T ? t0 + r->window : r->T;
            vdit_strbuf_printf(&d, "%.3f", 0.5 * (t0 + t1 - 1) * EVAL_FRAME_DT);
            for (int j = 0; j < ns; j++) {
                const eval_stat *st = drift_at(r, src[j], w, k);
                vdit_strbuf_printf(&d, " "), sb_num(&d, st->mean), vdit_strbuf_printf(&d, " "), sb_num(&d, st->lo);
                vdit_strbuf_printf(&d, " "), sb_num(&d, st->hi);
            }
            vdit_strbuf_printf(&d, "\n");
        }
        vdit_strbuf_printf(&d, "\n\n");
    }
    if (sb_write(&d, dir, "fig_drift.dat", err)) return -1;
    vdit_strbuf g = {0};
    vdit_strbuf_printf(&g, "# fig_drift.gp - long-rollout measures per window against time, mean and 95%% bootstrap "
                           "interval (gnuplot fig_drift.gp)\n");
    vdit_strbuf_printf(&g, GP_TERMINAL, 1400, 900, 1400, 900);
    vdit_strbuf_printf(&g, "set output 'fig_drift.png'\nset datafile missing 'NaN'\nset multiplot layout 2,2\n"
                           "set xlabel 'time (s)'\nset key outside top center horizontal font ',8'\nset grid\nnames = '");
    for (int j = 0; j < ns; j++) vdit_strbuf_printf(&g, "%s%s", j ? " " : "", eval_source_names[src[j]]);
    vdit_strbuf_printf(&g, "'\n");
    for (int k = 0; k < EVAL_NUM_DRIFT; k++)
        vdit_strbuf_printf(&g,
                           "set title '%s'\nplot for [j=0:%d] 'fig_drift.dat' index %d using 1:(column(2+3*j)):"
                           "(column(3+3*j)):(column(4+3*j)) with yerrorlines pt 7 ps 0.5 title word(names, j+1)\n",
                           eval_drift_names[k], ns - 1, k);
    vdit_strbuf_printf(&g, "unset multiplot\n");
    return sb_write(&g, dir, "fig_drift.gp", err);
}

/* runs `gnuplot SCRIPT` in dir; 0 when it succeeded, 1 when there is no
 * gnuplot to run, -1 when it failed (its messages are in gnuplot.log) */
#define GNUPLOT_MISSING 1
static int run_gnuplot(const char *dir, const char *script)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        /* gnuplot's messages go to gnuplot.log beside the figures */
        FILE *o1 = freopen("/dev/null", "w", stdout), *o2 = freopen("gnuplot.log", "a", stderr);
        (void)o1, (void)o2;
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(errno == ENOENT ? 126 : 127); /* 126: not installed */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 126) return GNUPLOT_MISSING;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static const int FIG_METRICS[] = {EVAL_M_VEL, EVAL_M_POS_X, EVAL_M_POS_Y, EVAL_M_GRAVITY,
                                  EVAL_M_FAILED, EVAL_M_MISSING, EVAL_M_PHYSICS_IQ, EVAL_M_DEBRIS};
#define NFIG_METRICS (int)(sizeof FIG_METRICS / sizeof FIG_METRICS[0])
/* the x axis: the splits with ood-v's speed bands after it */
static const int FIG_GROUPS[] = {EVAL_G_SPLIT(EVAL_ID), EVAL_G_SPLIT(EVAL_OOD_V), EVAL_G_BAND(EVAL_BAND_LOW),
                                 EVAL_G_BAND(EVAL_BAND_HIGH), EVAL_G_SPLIT(EVAL_OOD_R), EVAL_G_SPLIT(EVAL_OOD_RV)};
#define NFIG_GROUPS (int)(sizeof FIG_GROUPS / sizeof FIG_GROUPS[0])

static int write_fig_errors(const char *dir, const eval_result *r, vdit_err *err)
{
    int src[EVAL_NUM_SOURCES], ns = 0;
    for (int s = 0; s < EVAL_NUM_SOURCES; s++)
        if (r->has[s]) src[ns++] = s;
    /* the metrics with something to draw (gnuplot stops at a panel whose
     * points are all undefined, e.g. physics_iq without second takes) */
    int figm[NFIG_METRICS], nf = 0;
    for (int f = 0; f < NFIG_METRICS; f++) {
        int any = 0;
        for (int j = 0; j < ns; j++)
            for (int x = 0; x < NFIG_GROUPS; x++) any |= !isnan(stat_at(r, src[j], FIG_GROUPS[x], FIG_METRICS[f])->mean);
        if (any) figm[nf++] = FIG_METRICS[f];
    }
    vdit_strbuf d = {0};
    vdit_strbuf_printf(&d, "# error per split (ood-v also by speed band): one block per metric; columns: group");
    for (int j = 0; j < ns; j++) vdit_strbuf_printf(&d, " %s_mean %s_lo %s_hi", eval_source_names[src[j]],
                                           eval_source_names[src[j]], eval_source_names[src[j]]);
    vdit_strbuf_printf(&d, "\n");
    for (int f = 0; f < nf; f++) {
        vdit_strbuf_printf(&d, "# %s\n", eval_metrics[figm[f]].name);
        for (int x = 0; x < NFIG_GROUPS; x++) {
            vdit_strbuf_printf(&d, "%d", x);
            for (int j = 0; j < ns; j++) {
                const eval_stat *st = stat_at(r, src[j], FIG_GROUPS[x], figm[f]);
                vdit_strbuf_printf(&d, " "), sb_num(&d, st->mean), vdit_strbuf_printf(&d, " "), sb_num(&d, st->lo);
                vdit_strbuf_printf(&d, " "), sb_num(&d, st->hi);
            }
            vdit_strbuf_printf(&d, "\n");
        }
        vdit_strbuf_printf(&d, "\n\n");
    }
    if (sb_write(&d, dir, "fig_errors.dat", err)) return -1;
    vdit_strbuf g = {0};
    vdit_strbuf_printf(&g, "# fig_errors.gp - mean and 95%% bootstrap interval per split, the model beside truth, copy-last "
                  "and linear (gnuplot fig_errors.gp)\n");
    vdit_strbuf_printf(&g, GP_TERMINAL, 1600, 800, 1600, 800);
    vdit_strbuf_printf(&g, "set output 'fig_errors.png'\nset datafile missing 'NaN'\nset multiplot layout 2,4\n");
    vdit_strbuf_printf(&g, "set xtics (");
    for (int x = 0; x < NFIG_GROUPS; x++) vdit_strbuf_printf(&g, "%s'%s' %d", x ? ", " : "", eval_group_name(FIG_GROUPS[x]), x);
    vdit_strbuf_printf(&g, ") rotate by 30 right\nset xrange [-0.5:%d.5]\nset key outside top center horizontal font ',8'\nset grid ytics\nnames = '", NFIG_GROUPS - 1);
    for (int j = 0; j < ns; j++) vdit_strbuf_printf(&g, "%s%s", j ? " " : "", eval_source_names[src[j]]);
    vdit_strbuf_printf(&g, "'\n");
    for (int f = 0; f < nf; f++) {
        const eval_metric_info *m = &eval_metrics[figm[f]];
        vdit_strbuf_printf(&g, "set title '%s%s%s%s'\n", m->name, *m->unit ? " (" : "", m->unit, *m->unit ? ")" : "");
        vdit_strbuf_printf(&g,
                  "plot for [j=0:%d] 'fig_errors.dat' index %d using ($1 + (j - %d/2.0)*0.12):(column(2+3*j)):"
                  "(column(3+3*j)):(column(4+3*j)) with yerrorbars pt 7 ps 0.6 title word(names, j+1)\n",
                  ns - 1, f, ns - 1);
    }
    vdit_strbuf_printf(&g, "unset multiplot\n");
    return sb_write(&g, dir, "fig_errors.gp", err);
}

/* the first video of each scenario in turn, up to n */
static int pick_videos(const eval_result *r, int n, int *out)
{
    int k = 0;
    for (int c = 0; c < EVAL_NUM_SCENARIOS && k < n; c++)
        for (int i = 0; i < r->N; i++)
            if (r->labels[i] == c) {
                out[k++] = i;
                break;
            }
    for (int i = 0; i < r->N && k < n; i++) { /* fewer scenarios than asked: fill in order */
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= out[j] == i;
        if (!dup) out[k++] = i;
    }
    return k;
}

static int write_fig_traj(const char *dir, const eval_result *r, const eval_report_options *o, vdit_err *err)
{
    int vids[16], nv = pick_videos(r, o->traj_videos < 16 ? o->traj_videos : 16, vids);
    if (!nv || !o->truth) return 0;
    int gen = r->has[EVAL_SRC_MODEL] ? EVAL_SRC_MODEL : EVAL_SRC_LINEAR;
    vdit_strbuf d = {0};
    vdit_strbuf_printf(&d, "# trajectories: one block per video; columns: t true_x0 true_y0 true_x1 true_y1 %s_x0 %s_y0 "
                  "%s_x1 %s_y1 (world units, NaN = missing)\n",
              eval_source_names[gen], eval_source_names[gen], eval_source_names[gen], eval_source_names[gen]);
    for (int v = 0; v < nv; v++) {
        int i = vids[v];
        vdit_strbuf_printf(&d, "# video %d (%s, %s)\n", i, eval_scenario_names[r->labels[i]], eval_split_names[r->splits[i]]);
        for (int t = 0; t < r->T; t++) {
            const float *st = o->truth->states + ((size_t)i * r->T + t) * 10;
            const float *tk = r->trk + (((size_t)gen * r->N + i) * r->T + t) * 6;
            vdit_strbuf_printf(&d, "%d", t);
            for (int b = 0; b < 2; b++) vdit_strbuf_printf(&d, " "), sb_num(&d, st[5 * b]), vdit_strbuf_printf(&d, " "), sb_num(&d, st[5 * b + 1]);
            for (int b = 0; b < 2; b++) vdit_strbuf_printf(&d, " "), sb_num(&d, tk[3 * b]), vdit_strbuf_printf(&d, " "), sb_num(&d, tk[3 * b + 1]);
            vdit_strbuf_printf(&d, "\n");
        }
        vdit_strbuf_printf(&d, "\n\n");
    }
    if (sb_write(&d, dir, "fig_traj.dat", err)) return -1;
    vdit_strbuf g = {0};
    int cols = nv < 2 ? 1 : 2, rows = (nv + cols - 1) / cols;
    vdit_strbuf_printf(&g, "# fig_traj.gp - true (lines) against %s (points) trajectories in the world plane\n",
              eval_source_names[gen]);
    vdit_strbuf_printf(&g, GP_TERMINAL, 520 * cols, 480 * rows, 520 * cols, 480 * rows);
    vdit_strbuf_printf(&g, "set output 'fig_traj.png'\nset datafile missing 'NaN'\nset size ratio -1\n"
                  "set xrange [0:10]\nset yrange [0:10]\nset key bottom right font ',8'\nset grid\n");
    vdit_strbuf_printf(&g, "set multiplot layout %d,%d\n", rows, cols);
    for (int v = 0; v < nv; v++) {
        int i = vids[v];
        vdit_strbuf_printf(&g, "set title 'video %d: %s, %s'\n", i, eval_scenario_names[r->labels[i]],
                  eval_split_names[r->splits[i]]);
        vdit_strbuf_printf(&g,
                  "plot 'fig_traj.dat' index %d using 2:3 with lines lc rgb 'red' title 'true red', \\\n"
                  "     '' index %d using 6:7 with points pt 6 lc rgb 'dark-red' title '%s red'",
                  v, v, eval_source_names[gen]);
        if (!isnan(o->truth->states[(size_t)i * r->T * 10 + 5])) /* a blue ball */
            vdit_strbuf_printf(&g,
                      ", \\\n     '' index %d using 4:5 with lines lc rgb 'blue' title 'true blue', \\\n"
                      "     '' index %d using 8:9 with points pt 6 lc rgb 'dark-blue' title '%s blue'",
                      v, v, eval_source_names[gen]);
        vdit_strbuf_printf(&g, "\n");
    }
    vdit_strbuf_printf(&g, "unset multiplot\n");
    return sb_write(&g, dir, "fig_traj.gp", err);
}

/* strip.png: for each picked video a row of truth frames above a row of the
 * sample's (the model's, else the linear baseline's), from the last context
 * frame on (at most 8 columns); lib/image.c's contact sheet and PNG writer */
static int write_strip(const char *dir, const eval_result *r, const eval_report_options *o, vdit_err *err)
{
    if (!o->truth || o->strip_videos < 1) return 0;
    int vids[16], nv = pick_videos(r, o->strip_videos < 16 ? o->strip_videos : 16, vids);
    int T = r->T, S = r->S, ctx = r->ctx;
    int ncol = T - ctx + 1 < 8 ? T - ctx + 1 : 8;
    int cols[8];
    for (int c = 0; c < ncol; c++) cols[c] = ctx - 1 + (int)((double)c * (T - ctx) / (ncol > 1 ? ncol - 1 : 1) + 0.5);
    size_t fs = (size_t)S * S * 3, vs = (size_t)T * fs;
    uint8_t *frames = malloc((size_t)2 * nv * ncol * fs), *lin = o->model ? NULL : malloc(vs);
    if (!frames || (!o->model && !lin)) {
        free(frames), free(lin);
        return vdit_seterr(err, "%s/strip.png: out of memory", dir);
    }
    for (int v = 0; v < nv; v++) {
        int i = vids[v];
        const uint8_t *tv = o->truth->videos + (size_t)i * vs, *sv = o->model ? o->model + (size_t)i * vs : lin;
        if (!o->model) {
            eval_info in;
            eval_info_of(o->truth, i, &in);
            if (eval_linear(&in, tv, lin, err)) {
                free(frames), free(lin);
                return -1;
            }
        }
        for (int c = 0; c < ncol; c++) {
            memcpy(frames + ((size_t)(2 * v) * ncol + c) * fs, tv + (size_t)cols[c] * fs, fs);
            memcpy(frames + ((size_t)(2 * v + 1) * ncol + c) * fs, sv + (size_t)cols[c] * fs, fs);
        }
    }
    free(lin);
    uint8_t *sheet = NULL;
    int H, W, scale = S >= 64 ? 1 : (64 + S - 1) / S;
    int rc = vdit_contact_sheet(&sheet, &H, &W, frames, 2 * nv, ncol, S, S, scale, 2);
    free(frames);
    if (rc) return vdit_seterr(err, "%s/strip.png: cannot lay out %d x %d frames", dir, 2 * nv, ncol);
    char path[4096];
    snprintf(path, sizeof path, "%s/strip.png", dir);
    rc = vdit_png_write(path, sheet, H, W, err);
    free(sheet);
    return rc;
}

int eval_write_report(const char *dir, const eval_result *r, const eval_report_options *opt, int *figures_made,
                      int *figures_lost,
                      vdit_err *err)
{
    eval_report_options o;
    if (opt)
        o = *opt;
    else
        eval_report_options_default(&o);
    if (figures_made) *figures_made = 0;
    if (figures_lost) *figures_lost = 0;
    if (eval_mkdir_p(dir, err)) return -1;
    (void)eval_group_name(0); /* builds the name table before anything else runs */
    if (write_json(dir, r, &o, err) || write_csv(dir, r, err)) return -1;
    if (r->nwin >= 2 && write_drift_csv(dir, r, err)) return -1;
    int figs = 0, made = 0, lost = 0, g;
    if (o.figures) {
        if (write_fig_errors(dir, r, err)) return -1;
        if ((g = run_gnuplot(dir, "fig_errors.gp")) == 0) figs |= 1, made++;
        lost += g == GNUPLOT_MISSING;
        if (o.truth && o.traj_videos > 0) {
            if (write_fig_traj(dir, r, &o, err)) return -1;
            if ((g = run_gnuplot(dir, "fig_traj.gp")) == 0) figs |= 2, made++;
            lost += g == GNUPLOT_MISSING;
        }
        if (r->nwin >= 2) {
            if (write_fig_drift(dir, r, err)) return -1;
            if ((g = run_gnuplot(dir, "fig_drift.gp")) == 0) figs |= 8, made++;
            lost += g == GNUPLOT_MISSING;
        }
        if (o.truth && o.strip_videos > 0) {
            if (write_strip(dir, r, &o, err)) return -1;
            figs |= 4;
        }
    }
    if (figures_made) *figures_made = made;
    if (figures_lost) *figures_lost = lost;
    return write_md(dir, r, &o, figs, err);
}

void eval_print_summary(FILE *out, FILE *notes, const char *dir, const eval_result *r, int figures, int figures_lost)
{
    const eval_stat *m = stat_at(r, EVAL_SRC_MODEL, EVAL_G_ALL, 0);
    const eval_stat *lin = stat_at(r, EVAL_SRC_LINEAR, EVAL_G_ALL, 0), *cl = stat_at(r, EVAL_SRC_COPY_LAST, EVAL_G_ALL, 0);
    fprintf(out, "%s: %d videos scored; failed %.3g; vel_err %.4g [%.4g, %.4g]", dir, r->N, m[EVAL_M_FAILED].mean,
            m[EVAL_M_VEL].mean, m[EVAL_M_VEL].lo, m[EVAL_M_VEL].hi);
    if (r->has[EVAL_SRC_LINEAR] && r->has[EVAL_SRC_COPY_LAST]) {
        int v = eval_compare(&m[EVAL_M_VEL], &lin[EVAL_M_VEL], 0);
        fprintf(out, " (linear %.4g, copy-last %.4g: %s linear)", lin[EVAL_M_VEL].mean, cl[EVAL_M_VEL].mean,
                v < 0 ? "beats" : v > 0 ? "worse than" : "no clear difference from");
    }
    fprintf(out, ", physics_iq %.4g, flicker_bg %.4g; ", m[EVAL_M_PHYSICS_IQ].mean, m[EVAL_M_FLICKER_BG].mean);
    if (figures_lost)
        fprintf(out, "gnuplot not found: %d figures not drawn\n", figures_lost);
    else
        fprintf(out, "%d figures\n", figures);
    char note[512];
    for (int i = 0; notes && report_note(r, i, note, sizeof note); i++) fprintf(notes, "vdit eval: note: %s\n", note);
}
