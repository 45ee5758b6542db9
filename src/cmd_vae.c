/* cmd_vae.c - `vdit vae train|encode|decode|recon`: the video VAE from the
 * command line; the training itself is lib/vae_train.c.
 *
 *   train   --data DIR --config FILE.ini --out vae.safetensors [--resume]
 *           writes the checkpoint and, beside it, vae.csv (the losses) and
 *           vae.state.safetensors (the training state --resume continues)
 *   encode  --vae V --data DIR | --input videos.npy --out latents.npy
 *   decode  --vae V --input latents.npy --out videos.npy
 *   recon   --vae V --data DIR --out FILE.gif   (truth above reconstruction,
 *           PSNR and the tracked ball positions of the reconstructions)
 *
 * Pixels: the dataset's uint8 [N][T][S][S][3] become float32
 * [B][T][3][S][S] in [-1, 1] (x = v / 127.5 - 1, channel-major frames);
 * latents are float32 [B][T'][C_lat][H'][W'] scaled by the checkpoint's
 * scale factor, the layout the DiT takes.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "datasets.h"
#include "eval.h"
#include "progress.h"
#include "vae_settings.h"
#include "vdit.h"

/* ------------------------------------------------------------------------
 * Data
 * ---------------------------------------------------------------------- */

/* The first `count` videos of a dataset (all when 0). */
static int load_data(const char *dir, int count, vdit_dataset *ds)
{
    vdit_err err;
    if (vdit_dataset_load(dir, ds, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    if (count > 0 && count < ds->count) { /* vdit_dataset_free frees count captions: drop the others now */
        for (int i = count; i < ds->count; i++) free(ds->captions[i]);
        ds->count = count;
    }
    if (ds->count < 1) {
        fprintf(stderr, "vdit: %s: the dataset holds no videos\n", dir);
        vdit_dataset_free(ds);
        return -1;
    }
    return 0;
}

static const uint8_t *video_at(const vdit_dataset *ds, int i)
{
    return (const uint8_t *)ds->videos.data + (size_t)i * ds->frames * ds->size * ds->size * 3;
}

static int label_of(const vdit_dataset *ds, int i)
{
    int l = ds->labels.data ? ((const int32_t *)ds->labels.data)[i] : 0;
    return l >= 0 && l < EVAL_NUM_SCENARIOS ? l : 0;
}

static int split_of(const vdit_dataset *ds, int i) { return ds->splits.data ? ((const int32_t *)ds->splits.data)[i] : 0; }

/* [T][2][5] ground truth of video i (NULL when the dataset has none) */
static const float *states_of(const vdit_dataset *ds, int i)
{
    return ds->states.data ? (const float *)ds->states.data + (size_t)i * ds->frames * 2 * 5 : NULL;
}

/* ------------------------------------------------------------------------
 * vdit vae train
 * ---------------------------------------------------------------------- */

/* "DIR/vae.safetensors" -> "DIR/vae" + suffix */
static void path_beside(const char *out, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", out);
    char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    strncat(buf, suffix, cap - strlen(buf) - 1);
}

/* The steps of a run (the library's vdit_vae_trainer): progress, the log at
 * each validation, a training state every checkpoint_every steps and at the
 * last. Returns the run's seconds, or -1 with err set. */
static double train_loop(vdit_vae_trainer *tr, const vae_settings *s, const char *csv, const char *state,
                         vdit_err *err)
{
    const vdit_vae_train_config *c = &tr->cfg;
    progress pb;
    double limit = c->minutes > 0 ? c->minutes * 60.0 : 0.0, t0 = progress_now() - tr->seconds;
    char pextra[200] = "";
    progress_start(&pb, "vae train", c->steps ? c->steps : (long)ceil(limit));
    for (;;) {
        double el = progress_now() - t0;
        if (vdit_vae_trainer_done(tr, el)) break;
        if (vdit_vae_trainer_step(tr, el, NULL, err)) return -1;
        int logged = vdit_vae_trainer_log(tr, progress_now() - t0, err);
        if (logged < 0 || (logged && vdit_write_file_atomic(csv, tr->log.s, tr->log.n, err))) return -1;
        if (s->checkpoint_every && (tr->step % s->checkpoint_every == 0 || tr->step == c->steps) &&
            vdit_vae_trainer_save_state(tr, state, err))
            return -1;
        if (tr->step % c->log_interval == 0 || logged) {
            int o = snprintf(pextra, sizeof pextra, "loss %.4f recon %.4f kl %.3g lr %.2g", tr->row_loss,
                             tr->row_recon, tr->row_kl, tr->lr);
            if (!isnan(tr->val_psnr)) snprintf(pextra + o, sizeof pextra - o, " val %.2f dB", tr->val_psnr);
        }
        progress_update(&pb, c->steps ? tr->step : (long)(progress_now() - t0), pextra);
    }
    double seconds = progress_now() - t0;
    char extra[96];
    snprintf(extra, sizeof extra, "%d steps, %.1f s", tr->step, seconds);
    progress_end(&pb, extra);
    return seconds;
}

static int vae_train(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--data", "DIR", "training dataset (vdit data)", NULL},
        {"--config", "FILE.ini", "settings: [model], [loss], [train], [data] (see experiments/vae32.ini)", NULL},
        {"--out", "FILE", "checkpoint to write (.safetensors); the loss log goes beside it as .csv", NULL},
        {"--log", "FILE.csv", "where to write the loss log instead", NULL},
        {"--resume", NULL, "continue from the training state beside --out (FILE.state.safetensors)", NULL},
    };
    cli_cmd cmd = {"vdit vae train", "--data DIR --config FILE.ini --out vae.safetensors [--resume]",
                   "Trains the video VAE on the dataset's frames (reconstruction + kl_weight * KL, AdamW, cosine\n"
                   "learning rate), fits the latent scale factor on training frames and writes the checkpoint\n"
                   "with the config and scale factor in its metadata. Log columns: step,loss,recon,kl,lr,time,\n"
                   "val_mse,val_psnr (validation on held-out videos every val_interval steps). Every\n"
                   "[train] checkpoint_every steps (and at the last) the full training state goes beside the\n"
                   "checkpoint as FILE.state.safetensors; --resume continues from it bit for bit.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *data = cli_required(&cmd, "--data"), *cfgpath = data ? cli_required(&cmd, "--config") : NULL;
    const char *out = cfgpath ? cli_required(&cmd, "--out") : NULL;
    if (!out) return 2;
    vae_settings s;
    if (vae_settings_load(&s, cfgpath)) return 1;
    char csv[4096], state[4096];
    if (cli_get(&cmd, "--log"))
        snprintf(csv, sizeof csv, "%s", cli_get(&cmd, "--log"));
    else
        path_beside(out, ".csv", csv, sizeof csv);
    path_beside(out, ".state.safetensors", state, sizeof state);

    vdit_dataset ds;
    if (load_data(data, s.count, &ds)) return 1;
    vdit_err err;
    vdit_vae_trainer tr;
    rc = 1;
    if (vdit_vae_trainer_create(&tr, &s.model, &s.train, video_at(&ds, 0), ds.count, ds.frames, ds.size, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", data, err.msg);
        vdit_dataset_free(&ds);
        return 1;
    }
    /* resumed before a first state was written: nothing to resume, start afresh */
    if (cli_get(&cmd, "--resume") && access(state, F_OK) == 0 && vdit_vae_trainer_load_state(&tr, state, &err)) {
        fprintf(stderr, "vdit: --resume: %s\n", err.msg);
        goto done;
    }
    fprintf(stderr, "vae: %zu parameters; %d training videos, %d held out; %d clips of %d frames of %dx%d per step%s\n",
            tr.model.num_params, tr.ntr, tr.nval, s.train.batch, s.train.clip_frames, ds.size, ds.size,
            tr.step ? "; resumed" : "");
    double seconds = train_loop(&tr, &s, csv, state, &err), mse;
    if (seconds < 0) {
        fprintf(stderr, "\nvdit: %s: %s\n", cfgpath, err.msg);
        goto done;
    }
    if (vdit_vae_trainer_finish(&tr, seconds, &mse, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    char *tj = vae_settings_json(&s, data, ds.size, tr.step, seconds, tr.nval > 0 ? vdit_psnr_pm1(mse) : 0.0);
    if (vdit_vae_save(&tr.model, tr.model.params_mem, out, tj, &err) ||
        vdit_write_file_atomic(csv, tr.log.s, tr.log.n, &err)) {
        free(tj);
        cli_fail(err.msg);
        goto done;
    }
    free(tj);
    printf("%s: %d steps in %.1f s; validation PSNR %.2f dB on %d held-out videos; scale factor %.6g; log %s\n", out,
           tr.step, seconds, tr.nval > 0 ? vdit_psnr_pm1(mse) : NAN, tr.nval, tr.model.scale_factor, csv);
    rc = 0;
done:
    vdit_vae_trainer_free(&tr);
    vdit_dataset_free(&ds);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae encode / decode
 * ---------------------------------------------------------------------- */

/* Videos from a dataset (uint8 [N][T][S][S][3]) or an NPY of either that
 * layout or float32 [B][T][3][H][W] in [-1, 1]: as float [B][T][3][H][W]. */
typedef struct {
    int B, T, H, W;
    float *x;
} pixel_videos;

static int load_pixels(const char *data, const char *input, int count, pixel_videos *pv)
{
    memset(pv, 0, sizeof *pv);
    vdit_err err;
    if (data) {
        vdit_dataset ds;
        if (load_data(data, count, &ds)) return -1;
        pv->B = ds.count, pv->T = ds.frames, pv->H = pv->W = ds.size;
        size_t per = (size_t)pv->T * 3 * pv->H * pv->W;
        pv->x = malloc((size_t)pv->B * per * sizeof(float));
        if (!pv->x) {
            vdit_dataset_free(&ds);
            cli_fail("out of memory");
            return -1;
        }
        for (int i = 0; i < pv->B; i++) vdit_video_to_float(pv->x + i * per, video_at(&ds, i), pv->T, pv->H, pv->H);
        vdit_dataset_free(&ds);
        return 0;
    }
    vdit_array a;
    if (vdit_npy_read(input, &a, &err)) {
        cli_fail(err.msg);
        return -1;
    }
    if (vdit_array_check_finite(&a, input, &err)) {
        vdit_array_free(&a);
        cli_fail(err.msg);
        return -1;
    }
    char shape[128];
    vdit_shape_string(shape, sizeof shape, a.ndim, a.shape);
    int ok = a.ndim == 5 && a.shape[0] >= 1 && a.shape[1] >= 1 && a.shape[0] * a.shape[1] <= (1 << 24);
    if (ok && a.dtype == VDIT_DTYPE_U8 && a.shape[4] == 3 && a.shape[2] == a.shape[3] && a.shape[2] <= 4096) {
        pv->B = (int)a.shape[0], pv->T = (int)a.shape[1], pv->H = pv->W = (int)a.shape[2];
        if (count > 0 && count < pv->B) pv->B = count;
        size_t per = (size_t)pv->T * 3 * pv->H * pv->W;
        pv->x = malloc((size_t)pv->B * per * sizeof(float));
        if (pv->x)
            for (int i = 0; i < pv->B; i++)
                vdit_video_to_float(pv->x + i * per, (const uint8_t *)a.data + i * per, pv->T, pv->H, pv->H);
    } else if (ok && a.dtype == VDIT_DTYPE_F32 && a.shape[2] == 3 && a.shape[3] <= 4096 && a.shape[4] <= 4096) {
        pv->B = (int)a.shape[0], pv->T = (int)a.shape[1], pv->H = (int)a.shape[3], pv->W = (int)a.shape[4];
        if (count > 0 && count < pv->B) pv->B = count;
        pv->x = a.data; /* keep the array's buffer */
        a.data = NULL;
    } else {
        fprintf(stderr,
                "vdit: %s: %s %s is not a batch of videos: expected uint8 [N][T][S][S][3] (a dataset's videos) "
                "or float32 [B][T][3][H][W]\n",
                input, vdit_dtype_name(a.dtype), shape);
        vdit_array_free(&a);
        return -1;
    }
    vdit_array_free(&a);
    if (!pv->x) {
        cli_fail("out of memory");
        return -1;
    }
    return 0;
}

static int vae_encode(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--data", "DIR", "encode this dataset's videos", NULL},
        {"--input", "FILE.npy", "or these videos: uint8 [N][T][S][S][3] or float32 [B][T][3][H][W] in [-1,1]", NULL},
        {"--count", "N", "only the first N videos (default all)", NULL},
        {"--out", "FILE.npy", "latents float32 [B][T'][C_lat][H'][W'] (encoder mean x scale factor)", NULL},
    };
    cli_cmd cmd = {"vdit vae encode", "--vae V (--data DIR | --input videos.npy) --out latents.npy",
                   "Encodes videos to the DiT's latents: the encoder's mean times the checkpoint's scale factor.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *out = vae ? cli_required(&cmd, "--out") : NULL;
    const char *data = cli_get(&cmd, "--data"), *input = cli_get(&cmd, "--input");
    int count;
    if (!out || cli_int(&cmd, "--count", 0, 0, 1 << 30, &count)) return 2;
    if (!!data == !!input) {
        cli_usage_error(&cmd, "give exactly one of --data and --input");
        return 2;
    }
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    pixel_videos pv;
    float *z = NULL;
    rc = 1;
    if (load_pixels(data, input, count, &pv)) goto done;
    if (vdit_vae_check_shape(&m, 1, pv.T, pv.H, pv.W, &err)) {
        fprintf(stderr, "vdit: %s: videos of %d frames of %dx%d do not fit %s: %s\n", data ? data : input, pv.T, pv.H,
                pv.W, vae, err.msg);
        goto done;
    }
    const vdit_vae_config *c = &m.cfg;
    int Tl = pv.T / c->temporal, Hl = pv.H / c->downsample, Wl = pv.W / c->downsample;
    size_t zper = (size_t)Tl * c->latent_channels * Hl * Wl;
    z = malloc((size_t)pv.B * zper * sizeof(float));
    if (!z) {
        cli_fail("out of memory");
        goto done;
    }
    if (vdit_vae_encode_all(&m, pv.x, pv.B, pv.T, pv.H, pv.W, z, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    int64_t shape[5] = {pv.B, Tl, c->latent_channels, Hl, Wl};
    if (vdit_npy_write_f32(out, z, 5, shape, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    printf("%s: %d videos -> latents [%d,%d,%d,%d,%d] (scale factor %.6g)\n", out, pv.B, pv.B, Tl, c->latent_channels,
           Hl, Wl, m.scale_factor);
    rc = 0;
done:
    free(pv.x);
    free(z);
    vdit_vae_free(&m);
    return rc;
}

static int vae_decode(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--input", "FILE.npy", "latents float32 [B][T'][C_lat][H'][W'] (as vdit vae encode writes them)", NULL},
        {"--out", "FILE.npy", "videos float32 [B][T][3][H][W] in [-1,1]", NULL},
        {"--uint8", NULL, "write uint8 [B][T][H][W][3] instead (the dataset's layout)", NULL},
    };
    cli_cmd cmd = {"vdit vae decode", "--vae V --input latents.npy --out videos.npy",
                   "Decodes latents (divided by the checkpoint's scale factor) to videos, clamped to [-1, 1].", flags,
                   (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *input = vae ? cli_required(&cmd, "--input") : NULL;
    const char *out = input ? cli_required(&cmd, "--out") : NULL;
    if (!out) return 2;
    int u8 = cli_get(&cmd, "--uint8") != NULL;
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    vdit_array a = {0};
    float *x = NULL;
    rc = 1;
    if (vdit_npy_read_f32(input, &a, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    const vdit_vae_config *c = &m.cfg;
    if (a.ndim != 5 || a.shape[2] != c->latent_channels || a.shape[0] < 1 || a.shape[1] < 1 || a.shape[3] < 1 ||
        a.shape[4] < 1 || a.shape[0] * a.shape[1] > (1 << 24) || a.shape[3] * c->downsample > 4096 ||
        a.shape[4] * c->downsample > 4096) {
        char shape[128];
        vdit_shape_string(shape, sizeof shape, a.ndim, a.shape);
        fprintf(stderr, "vdit: %s: shape %s does not fit %s: expected [B][T'][%d][H'][W'] latents\n", input, shape,
                vae, c->latent_channels);
        goto done;
    }
    int B = (int)a.shape[0], Tl = (int)a.shape[1], Hl = (int)a.shape[3], Wl = (int)a.shape[4];
    int T = Tl * c->temporal, H = Hl * c->downsample, W = Wl * c->downsample;
    size_t xper = (size_t)T * 3 * H * W;
    x = malloc((size_t)B * xper * sizeof(float));
    if (!x) {
        cli_fail("out of memory");
        goto done;
    }
    if (vdit_vae_decode_all(&m, a.data, B, Tl, Hl, Wl, x, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    if (u8) {
        uint8_t *v = malloc((size_t)B * xper);
        if (!v) {
            cli_fail("out of memory");
            goto done;
        }
        for (int b = 0; b < B; b++) vdit_video_to_u8(v + b * xper, x + b * xper, T, H, H); /* H == W */
        vdit_array o = {VDIT_DTYPE_U8, 5, {B, T, H, W, 3}, v, (size_t)B * xper};
        int r = H == W ? vdit_npy_write(out, &o, &err) : vdit_seterr(&err, "%s: --uint8 needs square frames", out);
        free(v);
        if (r) {
            cli_fail(err.msg);
            goto done;
        }
    } else {
        for (size_t i = 0; i < (size_t)B * xper; i++) x[i] = x[i] < -1.0f ? -1.0f : x[i] > 1.0f ? 1.0f : x[i];
        int64_t shape[5] = {B, T, 3, H, W};
        if (vdit_npy_write_f32(out, x, 5, shape, &err)) {
            cli_fail(err.msg);
            goto done;
        }
    }
    printf("%s: %d videos of %d frames of %dx%d\n", out, B, T, H, W);
    rc = 0;
done:
    vdit_array_free(&a);
    free(x);
    vdit_vae_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae recon
 * ---------------------------------------------------------------------- */

typedef struct {
    double psnr_sum, mse_sum;            /* per-video PSNR (uint8), pixel MSE (0..255) */
    double pos_sum, posx_sum, posy_sum;  /* recon vs tracked truth, world units */
    double sim_rec, sim_true;            /* recon / truth tracks vs the simulator's state */
    long videos, pos_n, sim_n, missing, present;
} recon_stats;

/* a number, or null where it could not be measured (JSON has no NaN) */
static json_t *json_num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static void stats_json(json_t *o, const char *key, const recon_stats *s)
{
    double nan = NAN;
    json_t *e = json_object();
    json_object_set_new(e, "videos", json_integer(s->videos));
    json_object_set_new(e, "psnr", json_num(s->videos ? s->psnr_sum / s->videos : nan));
    json_object_set_new(e, "psnr_global", json_num(s->videos ? 10.0 * log10(255.0 * 255.0 / (s->mse_sum / s->videos)) : nan));
    json_object_set_new(e, "position_error", json_num(s->pos_n ? s->pos_sum / s->pos_n : nan));
    json_object_set_new(e, "position_error_x", json_num(s->pos_n ? s->posx_sum / s->pos_n : nan));
    json_object_set_new(e, "position_error_y", json_num(s->pos_n ? s->posy_sum / s->pos_n : nan));
    json_object_set_new(e, "recon_vs_state", json_num(s->sim_n ? s->sim_rec / s->sim_n : nan));
    json_object_set_new(e, "truth_vs_state", json_num(s->sim_n ? s->sim_true / s->sim_n : nan));
    json_object_set_new(e, "missing_rate", json_num(s->present ? (double)s->missing / s->present : nan));
    json_object_set_new(o, key, e);
}

static void print_stats(const char *name, const recon_stats *s)
{
    printf("  %-10s %5ld  %7.2f  %7.2f  %9.4f  %9.4f  %9.4f  %7.4f\n", name, s->videos, s->psnr_sum / s->videos,
           10.0 * log10(255.0 * 255.0 / (s->mse_sum / s->videos)), s->pos_n ? s->pos_sum / s->pos_n : NAN,
           s->sim_n ? s->sim_rec / s->sim_n : NAN, s->sim_n ? s->sim_true / s->sim_n : NAN,
           s->present ? (double)s->missing / s->present : NAN);
}

static void add_stats(recon_stats *a, const recon_stats *b)
{
    a->psnr_sum += b->psnr_sum, a->mse_sum += b->mse_sum, a->pos_sum += b->pos_sum, a->posx_sum += b->posx_sum;
    a->posy_sum += b->posy_sum, a->sim_rec += b->sim_rec, a->sim_true += b->sim_true;
    a->videos += b->videos, a->pos_n += b->pos_n, a->sim_n += b->sim_n, a->missing += b->missing;
    a->present += b->present;
}

/* Scores one reconstruction against its truth (both uint8 [T][S][S][3]). */
static void score_video(const uint8_t *truth, const uint8_t *rec, const float *states, int T, int S, float *trk_t,
                        float *trk_r, int32_t *scratch, recon_stats *st)
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
    eval_track_video(truth, T, S, expect_r, trk_t, NULL, scratch);
    eval_track_video(rec, T, S, expect_r, trk_r, NULL, scratch);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < EVAL_NOBJ; o++) {
            const float *a = trk_t + (t * EVAL_NOBJ + o) * 3, *b = trk_r + (t * EVAL_NOBJ + o) * 3;
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

/* The GIF: frame t shows row 0 truth, row 1 reconstruction, one column per
 * video (gifv: [2][columns][T][S][S][3], the first `shown` columns used). */
static int write_recon_gif(const char *out, const uint8_t *gifv, int columns, int shown, int T, int S, vdit_err *err)
{
    size_t fr = (size_t)S * S * 3;
    uint8_t *grid = malloc((size_t)2 * shown * fr), *frames = NULL;
    int sh = 0, sw = 0, scale = S >= 64 ? 2 : 4;
    if (!grid) return vdit_seterr(err, "out of memory");
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < 2; r++)
            for (int v = 0; v < shown; v++)
                memcpy(grid + ((size_t)r * shown + v) * fr, gifv + ((size_t)(r * columns + v) * T + t) * fr, fr);
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
    int r = frames ? vdit_gif_write(out, frames, T, sh, sw, 10, err) : vdit_seterr(err, "out of memory");
    free(frames);
    return r;
}

static int write_recon_json(const char *jpath, const char *data, const char *vae, int S,
                            const recon_stats per[EVAL_NUM_SCENARIOS], const recon_stats *all, vdit_err *err)
{
    json_t *o = json_object(), *sc = json_object();
    json_object_set_new(o, "data", json_string(data));
    json_object_set_new(o, "vae", json_string(vae));
    json_object_set_new(o, "size", json_integer(S));
    stats_json(o, "all", all);
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
        if (per[k].videos) stats_json(sc, eval_scenario_names[k], &per[k]);
    json_object_set_new(o, "scenarios", sc);
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    int r = txt ? vdit_write_file_atomic(jpath, txt, strlen(txt), err) : vdit_seterr(err, "out of memory");
    free(txt);
    return r;
}

static int vae_recon(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--vae", "FILE", "VAE checkpoint (vdit vae train)", NULL},
        {"--data", "DIR", "videos to reconstruct (held out from training); ID videos only are scored", NULL},
        {"--count", "N", "score the first N ID videos (default all)", NULL},
        {"--out", "FILE.gif", "animated GIF: truth above reconstruction, one column per scenario", NULL},
        {"--columns", "K", "videos shown in the GIF (default 5: the first of each scenario)", NULL},
        {"--json", "FILE", "write the scores as JSON", NULL},
    };
    cli_cmd cmd = {"vdit vae recon", "--vae V --data DIR --out FILE.gif",
                   "Encodes (mean) and decodes the dataset's ID videos and scores the reconstructions as uint8\n"
                   "frames: PSNR (mean per video, and from the pooled MSE), the tracked ball position against the\n"
                   "tracked truth (colour threshold of benchmark.md; world units, mean distance), against the\n"
                   "simulator's state where the ball is in view, and how often a ball goes missing.",
                   flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    const char *vae = cli_required(&cmd, "--vae"), *data = vae ? cli_required(&cmd, "--data") : NULL;
    const char *out = data ? cli_required(&cmd, "--out") : NULL, *jpath = cli_get(&cmd, "--json");
    int count, columns;
    if (!out || cli_int(&cmd, "--count", 0, 0, 1 << 30, &count) || cli_int(&cmd, "--columns", 5, 1, 64, &columns))
        return 2;
    vdit_err err;
    vdit_vae m;
    if (vdit_vae_load(&m, vae, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    vdit_dataset ds;
    if (load_data(data, 0, &ds)) {
        vdit_vae_free(&m);
        return 1;
    }
    int S = ds.size, T = ds.frames;
    const vdit_vae_config *c = &m.cfg;
    size_t xper = (size_t)T * 3 * S * S, zper = (size_t)(T / c->temporal) * c->latent_channels *
                                                 (S / c->downsample) * (S / c->downsample);
    int chunk = vdit_vae_chunk_videos(T, S, S);
    float *x = malloc((size_t)chunk * xper * sizeof(float)), *z = malloc((size_t)chunk * zper * sizeof(float));
    float *y = malloc((size_t)chunk * xper * sizeof(float));
    uint8_t *rec = malloc(xper), *gifv = malloc((size_t)2 * columns * xper);
    float *trk_t = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float)), *trk_r = malloc((size_t)T * EVAL_NOBJ * 3 * sizeof(float));
    int32_t *trk_scratch = malloc(eval_track_scratch(S) * sizeof(int32_t));
    int *idx = malloc((size_t)ds.count * sizeof(int)), *gifcol = malloc((size_t)ds.count * sizeof(int));
    recon_stats per[EVAL_NUM_SCENARIOS], all;
    memset(per, 0, sizeof per);
    memset(&all, 0, sizeof all);
    int shown = 0, shown_scen[EVAL_NUM_SCENARIOS] = {0}, nid = 0;
    rc = 1;
    if (!x || !z || !y || !rec || !gifv || !trk_t || !trk_r || !trk_scratch || !idx || !gifcol) {
        cli_fail("out of memory");
        goto done;
    }
    if (vdit_vae_check_shape(&m, 1, T, S, S, &err)) {
        fprintf(stderr, "vdit: %s: videos of %d frames of %dx%d do not fit %s: %s\n", data, T, S, S, vae, err.msg);
        goto done;
    }
    for (int i = 0; i < ds.count && (!count || nid < count); i++)
        if (split_of(&ds, i) == 0) idx[nid++] = i;
    if (!nid) {
        fprintf(stderr, "vdit: %s: no ID videos to reconstruct\n", data);
        goto done;
    }
    /* the GIF's columns: the first video of each scenario, then the next videos in order */
    for (int k = 0; k < nid; k++) gifcol[k] = -1;
    for (int k = 0; k < nid && shown < columns; k++)
        if (!shown_scen[label_of(&ds, idx[k])]) shown_scen[label_of(&ds, idx[k])] = 1, gifcol[k] = shown++;
    for (int k = 0; k < nid && shown < columns; k++)
        if (gifcol[k] < 0) gifcol[k] = shown++;
    progress pb;
    progress_start(&pb, "vae recon", nid);
    for (int k0 = 0; k0 < nid; k0 += chunk) {
        int n = nid - k0 < chunk ? nid - k0 : chunk;
        for (int b = 0; b < n; b++) vdit_video_to_float(x + b * xper, video_at(&ds, idx[k0 + b]), T, S, S);
        if (vdit_vae_encode(&m, x, n, T, S, S, z, &err) ||
            vdit_vae_decode(&m, z, n, T / c->temporal, S / c->downsample, S / c->downsample, y, &err)) {
            cli_fail(err.msg);
            goto done;
        }
        for (int b = 0; b < n; b++) {
            int i = idx[k0 + b], lab = label_of(&ds, i), col = gifcol[k0 + b];
            vdit_video_to_u8(rec, y + b * xper, T, S, S);
            score_video(video_at(&ds, i), rec, states_of(&ds, i), T, S, trk_t, trk_r, trk_scratch, &per[lab]);
            if (col >= 0) {
                memcpy(gifv + (size_t)col * xper, video_at(&ds, i), xper);
                memcpy(gifv + (size_t)(columns + col) * xper, rec, xper);
            }
        }
        progress_update(&pb, k0 + n, NULL);
    }
    progress_end(&pb, NULL);
    if (write_recon_gif(out, gifv, columns, shown, T, S, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++) add_stats(&all, &per[k]);
    printf("%s: %d ID videos of %d frames of %dx%d, VAE %s\n", data, nid, T, S, S, vae);
    printf("  %-10s %5s  %7s  %7s  %9s  %9s  %9s  %7s\n", "scenario", "videos", "PSNR", "PSNR*", "pos err", "rec-sim",
           "true-sim", "missing");
    for (int k = 0; k < EVAL_NUM_SCENARIOS; k++)
        if (per[k].videos) print_stats(eval_scenario_names[k], &per[k]);
    print_stats("all", &all);
    printf("  PSNR: mean over videos of uint8 frames; PSNR*: of the pooled MSE. pos err: mean distance (world\n"
           "  units) of the tracked balls, reconstruction vs truth; rec-sim / true-sim: the tracked reconstruction /\n"
           "  truth vs the simulator's state (ball fully in view). GIF: %s\n",
           out);
    if (jpath && write_recon_json(jpath, data, vae, S, per, &all, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    rc = 0;
done:
    free(x), free(z), free(y), free(rec), free(gifv), free(trk_t), free(trk_r), free(trk_scratch), free(idx), free(gifcol);
    vdit_dataset_free(&ds);
    vdit_vae_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * vdit vae
 * ---------------------------------------------------------------------- */

int cmd_vae(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "train")) return vae_train(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "encode")) return vae_encode(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "decode")) return vae_decode(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "recon")) return vae_recon(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h")) {
        fprintf(stderr, "vdit vae: unknown subcommand '%s' (see 'vdit vae --help')\n", argv[0]);
        return 2;
    }
    printf("usage: vdit vae train|encode|decode|recon [options]   (each takes --help)\n"
           "  train   train the video VAE on a dataset (INI config), write the checkpoint and a loss log\n"
           "  encode  videos -> the DiT's latents (mean x scale factor)\n"
           "  decode  latents -> videos\n"
           "  recon   reconstruct a dataset's ID videos: GIF, PSNR and tracked positions\n");
    return argc >= 1 ? 0 : 2;
}
