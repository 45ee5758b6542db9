/* recon.c - VAE reconstructions scored against their truth (what `vdit vae
 * recon` reports): PSNR of the uint8 frames, the gated tracker's ball
 * positions of the reconstruction against those of the truth and of both
 * against the simulator's state, and how often a ball goes missing; by
 * scenario, with the GIF of truth above reconstruction. */
#include "eval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * One video
 * ---------------------------------------------------------------------- */

void eval_recon_score(const uint8_t *truth, const uint8_t *rec, const float *states, int T, int S, float *trk_truth,
                      float *trk_rec, int32_t *scratch, eval_recon_stats *st)
{
    size_t n = (size_t)T * S * S * 3;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)truth[i] - rec[i];
        se += d * d;
    }
    double mse = se / n;
    st->mse_sum += mse;
    st->psnr_sum += mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : 99.0;
    st->videos++;
    /* gated tracking, each ball's area expected from the truth's radius */
    float expect_r[2] = {NAN, NAN};
    if (states) eval_expected_radii(states, expect_r);
    eval_track_video(truth, T, S, expect_r, trk_truth, NULL, scratch);
    eval_track_video(rec, T, S, expect_r, trk_rec, NULL, scratch);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < EVAL_NOBJ; o++) {
            const float *a = trk_truth + (t * EVAL_NOBJ + o) * 3, *b = trk_rec + (t * EVAL_NOBJ + o) * 3;
            if (isnan(a[0])) continue;
            st->present++;
            if (isnan(b[0])) {
                st->missing++;
                continue;
            }
            double dx = fabs(a[0] - b[0]), dy = fabs(a[1] - b[1]);
            st->pos_sum += sqrt(dx * dx + dy * dy), st->posx_sum += dx, st->posy_sum += dy;
            st->pos_n++;
            if (states) {
                const float *q = states + (t * 2 + o) * 5; /* x, y, vx, vy, r; in view: the disc inside the frame */
                if (isnan(q[0]) || q[0] - q[4] < 0 || q[0] + q[4] > EVAL_WORLD || q[1] - q[4] < 0 ||
                    q[1] + q[4] > EVAL_WORLD)
                    continue;
                st->sim_rec += hypot(b[0] - q[0], b[1] - q[1]);
                st->sim_true += hypot(a[0] - q[0], a[1] - q[1]);
                st->sim_n++;
            }
        }
}

void eval_recon_add(eval_recon_stats *a, const eval_recon_stats *b)
{
    a->psnr_sum += b->psnr_sum, a->mse_sum += b->mse_sum, a->pos_sum += b->pos_sum, a->posx_sum += b->posx_sum;
    a->posy_sum += b->posy_sum, a->sim_rec += b->sim_rec, a->sim_true += b->sim_true;
    a->videos += b->videos, a->pos_n += b->pos_n, a->sim_n += b->sim_n, a->missing += b->missing;
    a->present += b->present;
}

void eval_recon_means(const eval_recon_stats *s, double m[EVAL_RECON_NUM])
{
    m[EVAL_RECON_PSNR] = s->videos ? s->psnr_sum / s->videos : NAN;
    m[EVAL_RECON_PSNR_GLOBAL] = s->videos ? 10.0 * log10(255.0 * 255.0 / (s->mse_sum / s->videos)) : NAN;
    m[EVAL_RECON_POS] = s->pos_n ? s->pos_sum / s->pos_n : NAN;
    m[EVAL_RECON_POS_X] = s->pos_n ? s->posx_sum / s->pos_n : NAN;
    m[EVAL_RECON_POS_Y] = s->pos_n ? s->posy_sum / s->pos_n : NAN;
    m[EVAL_RECON_REC_VS_STATE] = s->sim_n ? s->sim_rec / s->sim_n : NAN;
    m[EVAL_RECON_TRUE_VS_STATE] = s->sim_n ? s->sim_true / s->sim_n : NAN;
    m[EVAL_RECON_MISSING] = s->present ? (double)s->missing / s->present : NAN;
}

/* ------------------------------------------------------------------------
 * A set of videos through the VAE
 * ---------------------------------------------------------------------- */

static int label_of(const eval_truth_set *set, int i)
{
    int l = set->labels ? set->labels[i] : 0;
    return l >= 0 && l < EVAL_NUM_SCENARIOS ? l : 0;
}

static const uint8_t *video_at(const eval_truth_set *set, int i)
{
    return set->videos + (size_t)i * set->T * set->S * set->S * 3;
}

void eval_recon_result_free(eval_recon_result *res)
{
    free(res->gif);
    memset(res, 0, sizeof *res);
}

int eval_recon_run(vdit_vae *vae, const eval_truth_set *set, int count, int columns, eval_progress_fn progress,
                   void *progress_ctx, eval_recon_result *res, vdit_err *err)
{
    memset(res, 0, sizeof *res);
    int S = set->S, T = set->T;
    const vdit_vae_config *c = &vae->cfg;
    if (columns < 1) return vdit_seterr(err, "%d GIF columns: must be at least 1", columns);
    if (vdit_vae_check_shape(vae, 1, T, S, S, err)) return -1;
    size_t xper = (size_t)T * 3 * S * S, zper = (size_t)(T / c->temporal) * c->latent_channels *
                                                 (S / c->downsample) * (S / c->downsample);
    int chunk = vdit_vae_chunk_videos(T, S, S);
    float *x = malloc((size_t)chunk * xper * sizeof(float)), *z = malloc((size_t)chunk * zper * sizeof(float));
    float *y = malloc((size_t)chunk * xper * sizeof(float));
    uint8_t *rec = malloc(xper);
    float *trk_t = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float)), *trk_r = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float));
    int32_t *trk_scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    int *idx = malloc((size_t)set->N * sizeof(int)), *gifcol = malloc((size_t)set->N * sizeof(int));
    int shown_scen[EVAL_NUM_SCENARIOS] = {0}, nid = 0, rc = -1;
    res->T = T, res->S = S, res->columns = columns;
    res->gif = malloc((size_t)2 * columns * xper);
    if (!x || !z || !y || !rec || !res->gif || !trk_t || !trk_r || !trk_scratch || !idx || !gifcol) {
        vdit_seterr(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < set->N && (!count || nid < count); i++)
        if (!set->splits || set->splits[i] == 0) idx[nid++] = i;
    if (!nid) {
        vdit_seterr(err, "no ID videos to reconstruct");
        goto done;
    }
    /* the GIF's columns: the first video of each scenario, then the next videos in order */
    for (int k = 0; k < nid; k++) gifcol[k] = -1;
    for (int k = 0; k < nid && res->shown < columns; k++)
        if (!shown_scen[label_of(set, idx[k])]) shown_scen[label_of(set, idx[k])] = 1, gifcol[k] = res->shown++;
    for (int k = 0; k < nid && res->shown < columns; k++)
        if (gifcol[k] < 0) gifcol[k] = res->shown++;
    if (progress) progress(progress_ctx, 0, nid);
    for (int k0 = 0; k0 < nid; k0 += chunk) {
        int n = nid - k0 < chunk ? nid - k0 : chunk;
        for (int b = 0; b < n; b++) vdit_video_to_float(x + b * xper, video_at(set, idx[k0 + b]), T, S, S);
        if (vdit_vae_encode(vae, x, n, T, S, S, z, err) ||
            vdit_vae_decode(vae, z, n, T / c->temporal, S / c->downsample, S / c->downsample, y, err))
            goto done;
        for (int b = 0; b < n; b++) {
            int i = idx[k0 + b], col = gifcol[k0 + b];
            const float *states = set->states ? set->states + (size_t)i * T * 2 * 5 : NULL;
            vdit_video_to_u8(rec, y + b * xper, T, S, S);
            eval_recon_score(video_at(set, i), rec, states, T, S, trk_t, trk_r, trk_scratch, &res->per[label_of(set, i)]);
            if (col >= 0) {
                memcpy(res->gif + (size_t)col * xper, video_at(set, i), xper);
                memcpy(res->gif + (size_t)(columns + col) * xper, rec, xper);
            }
        }
        if (progress) progress(progress_ctx, k0 + n, nid);
    }
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++) eval_recon_add(&res->all, &res->per[k]);
    res->videos = nid;
    rc = 0;
done:
    free(x), free(z), free(y), free(rec), free(trk_t), free(trk_r), free(trk_scratch), free(idx), free(gifcol);
    if (rc) eval_recon_result_free(res);
    return rc;
}

/* ------------------------------------------------------------------------
 * What is written and printed
 * ---------------------------------------------------------------------- */

int eval_recon_write_gif(const char *path, const eval_recon_result *res, vdit_err *err)
{
    int T = res->T, S = res->S, shown = res->shown, columns = res->columns;
    size_t fr = (size_t)S * S * 3;
    uint8_t *grid = malloc((size_t)2 * shown * fr), *frames = NULL;
    int sh = 0, sw = 0, scale = S >= 64 ? 2 : 4;
    if (!grid) return vdit_seterr(err, "out of memory");
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < 2; r++)
            for (int v = 0; v < shown; v++)
                memcpy(grid + ((size_t)r * shown + v) * fr, res->gif + ((size_t)(r * columns + v) * T + t) * fr, fr);
        uint8_t *sheet;
        int oh, ow;
        if (vdit_contact_sheet(&sheet, &oh, &ow, grid, 2, shown, S, S, scale, 2)) {
            free(grid), free(frames);
            return vdit_seterr(err, "contact sheet: bad sizes or out of memory");
        }
        if (!frames) {
            sh = oh, sw = ow;
            frames = malloc((size_t)T * sh * sw * 3);
        }
        if (frames) memcpy(frames + (size_t)t * sh * sw * 3, sheet, (size_t)sh * sw * 3);
        free(sheet);
    }
    free(grid);
    int r = frames ? vdit_gif_write(path, frames, T, sh, sw, 10, err) : vdit_seterr(err, "out of memory");
    free(frames);
    return r;
}

/* a number, or null where it could not be measured (JSON has no NaN) */
static json_t *json_num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static void stats_json(json_t *o, const char *key, const eval_recon_stats *s)
{
    static const char *const names[EVAL_RECON_NUM] = {"psnr", "psnr_global", "position_error", "position_error_x",
                                                      "position_error_y", "recon_vs_state", "truth_vs_state",
                                                      "missing_rate"};
    double m[EVAL_RECON_NUM];
    eval_recon_means(s, m);
    json_t *e = json_object();
    json_object_set_new(e, "videos", json_integer(s->videos));
    for (int k = 0; k < EVAL_RECON_NUM; k++) json_object_set_new(e, names[k], json_num(m[k]));
    json_object_set_new(o, key, e);
}

int eval_recon_write_json(const char *path, const char *data, const char *vae, const eval_recon_result *res,
                          vdit_err *err)
{
    json_t *o = json_object(), *sc = json_object();
    json_object_set_new(o, "data", json_string(data));
    json_object_set_new(o, "vae", json_string(vae));
    json_object_set_new(o, "size", json_integer(res->S));
    stats_json(o, "all", &res->all);
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
        if (res->per[k].videos) stats_json(sc, eval_scenario_names[k], &res->per[k]);
    json_object_set_new(o, "scenarios", sc);
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    int r = txt ? vdit_write_file_atomic(path, txt, strlen(txt), err) : vdit_seterr(err, "out of memory");
    free(txt);
    return r;
}

static void print_row(FILE *out, const char *name, const eval_recon_stats *s)
{
    double m[EVAL_RECON_NUM];
    eval_recon_means(s, m);
    fprintf(out, "  %-10s %5ld  %7.2f  %7.2f  %9.4f  %9.4f  %9.4f  %7.4f\n", name, s->videos, m[EVAL_RECON_PSNR],
            m[EVAL_RECON_PSNR_GLOBAL], m[EVAL_RECON_POS], m[EVAL_RECON_REC_VS_STATE], m[EVAL_RECON_TRUE_VS_STATE],
            m[EVAL_RECON_MISSING]);
}

void eval_recon_print(FILE *out, const eval_recon_result *res)
{
    fprintf(out, "  %-10s %5s  %7s  %7s  %9s  %9s  %9s  %7s\n", "scenario", "videos", "PSNR", "PSNR*", "pos err",
            "rec-sim", "true-sim", "missing");
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
        if (res->per[k].videos) print_row(out, eval_scenario_names[k], &res->per[k]);
    print_row(out, "all", &res->all);
}
