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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "datasets.h"
#include "eval.h"
#include "progress.h"
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
    if (count > 0) vdit_dataset_keep_first(ds, count);
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
static double train_loop(vdit_vae_trainer *tr, const vdit_vae_settings *s, const char *csv, const char *state,
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
    vdit_vae_settings s;
    vdit_err err;
    if (vdit_vae_settings_load(&s, cfgpath, &err)) {
        cli_fail(err.msg);
        return 1;
    }
    char csv[4096], state[4096];
    if (cli_get(&cmd, "--log"))
        snprintf(csv, sizeof csv, "%s", cli_get(&cmd, "--log"));
    else
        path_beside(out, ".csv", csv, sizeof csv);
    path_beside(out, ".state.safetensors", state, sizeof state);
    const char *outs[] = {out, csv, state}, *ins[] = {data, cfgpath};
    vdit_out_lock_t lock = {-1, NULL, -1};
    /* the log over the checkpoint or its state: by name, or as the same file */
    if (!strcmp(csv, out) || !strcmp(csv, state)) {
        cli_usage_error(&cmd, "--log %s would overwrite the checkpoint or its state", csv);
        return 2;
    }
    if (cli_out_clash(outs, 3, ins, 2) || cli_out_clash(outs + 1, 1, outs, 1) || cli_out_clash(outs + 1, 1, outs + 2, 1) ||
        cli_out_lock(out, &lock))
        return 1;

    vdit_dataset ds;
    if (load_data(data, s.count, &ds)) {
        vdit_out_unlock(&lock);
        return 1;
    }
    vdit_vae_trainer tr;
    rc = 1;
    if (vdit_vae_trainer_create(&tr, &s.model, &s.train, video_at(&ds, 0), ds.count, ds.frames, ds.size, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", data, err.msg);
        vdit_dataset_free(&ds);
        vdit_out_unlock(&lock);
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
    char *tj = vdit_vae_settings_json(&s, data, ds.size, tr.step, seconds, tr.nval > 0 ? vdit_psnr_pm1(mse) : 0.0);
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
    vdit_out_unlock(&lock);
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
    const char *ins[] = {vae, data, input};
    if (cli_out_clash(&out, 1, ins, 3)) return 1;
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
    const char *ins[] = {vae, input};
    if (cli_out_clash(&out, 1, ins, 2)) return 1;
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
    const char *outs[] = {out, jpath}, *ins[] = {vae, data};
    if (cli_out_clash(outs, 2, ins, 2)) return 1;
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
    eval_truth_set set = {.N = ds.count, .T = T, .S = S, .videos = ds.videos.data, .states = ds.states.data,
                          .labels = ds.labels.data, .splits = ds.splits.data};
    eval_recon_result res = {0};
    progress pb = {.label = "vae recon"};
    rc = 1;
    if (vdit_vae_check_shape(&m, 1, T, S, S, &err)) {
        fprintf(stderr, "vdit: %s: videos of %d frames of %dx%d do not fit %s: %s\n", data, T, S, S, vae, err.msg);
        goto done;
    }
    if (eval_recon_run(&m, &set, count, columns, progress_step, &pb, &res, &err)) {
        fprintf(stderr, "vdit: %s: %s\n", data, err.msg);
        goto done;
    }
    progress_end(&pb, NULL);
    if (eval_recon_write_gif(out, &res, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    printf("%s: %d ID videos of %d frames of %dx%d, VAE %s\n", data, res.videos, T, S, S, vae);
    eval_recon_print(stdout, &res);
    printf("  PSNR: mean over videos of uint8 frames; PSNR*: of the pooled MSE. pos err: mean distance (world\n"
           "  units) of the tracked balls, reconstruction vs truth; rec-sim / true-sim: the tracked reconstruction /\n"
           "  truth vs the simulator's state (ball fully in view). GIF: %s\n",
           out);
    if (jpath && eval_recon_write_json(jpath, data, vae, &res, &err)) {
        cli_fail(err.msg);
        goto done;
    }
    rc = 0;
done:
    eval_recon_result_free(&res);
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
