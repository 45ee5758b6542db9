/* eval.h - the physics benchmark's metrics and runner (libvditeval).
 *
 * Implements shared/design/benchmark.md: object tracking by colour
 * threshold, phyworld's velocity / position / shape metrics, object
 * permanence, the Physics-IQ motion-mask metrics and their Verified-style
 * score, VBench's temporal flicker, and Frechet distances on features; the
 * references (truth, second take, copy-last, linear); per-split and
 * per-scenario means with seeded bootstrap intervals; reports. Also what
 * the command line scores or generates through the models: a checkpoint's
 * continuations of the truth (generate.c) and the VAE's reconstructions
 * (recon.c).
 *
 * Shapes: a video is uint8 [T][S][S][3] (RGB, row 0 = top of the world,
 * y down); ground-truth states are float32 [T][2][5] (x, y, vx, vy, r in
 * world units, y up; NaN for an object a scenario does not have); a track
 * is float [T][2][3] (x, y, r in world units, NaN when the ball is missing).
 * The world is 10 x 10 units; pixel (row i, column j) of an S x S frame
 * covers world x in [j, j+1) * 10/S and y in (S-1-i, S-i] * 10/S, so its
 * centre is x = (j + 0.5) * 10/S, y = 10 - (i + 0.5) * 10/S.
 *
 * Every per-video metric is a pure function of arrays. Functions that can
 * fail on input return 0 / -1 with a vdit_err; nothing here exit()s.
 */
#ifndef VDIT_EVAL_H
#define VDIT_EVAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "datasets.h" /* the world's constants, defined once there */
#include "vdit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVAL_WORLD VDIT_WORLD       /* world units across the frame */
#define EVAL_FRAME_DT VDIT_FRAME_DT /* seconds between frames */
#define EVAL_NOBJ VDIT_NOBJ         /* object slots: 0 red ball, 1 blue ball */
#define EVAL_NPARAMS VDIT_NPARAMS   /* params columns v1 r1 v2 r2 e wall_x wall_w g */

enum { EVAL_P_V1 = VDIT_P_V1, EVAL_P_R1, EVAL_P_V2, EVAL_P_R2, EVAL_P_E, EVAL_P_WALL_X, EVAL_P_WALL_W, EVAL_P_G };
enum {
    EVAL_UNIFORM = VDIT_SC_UNIFORM,
    EVAL_PARABOLA,
    EVAL_COLLISION,
    EVAL_BOUNCE,
    EVAL_OCCLUSION,
    EVAL_BOX,
    EVAL_NUM_SCENARIOS
};
enum { EVAL_ID = VDIT_SPLIT_ID, EVAL_OOD_V, EVAL_OOD_R, EVAL_OOD_RV, EVAL_NUM_SPLITS };
#ifndef __cplusplus
_Static_assert((int)EVAL_P_G == VDIT_P_G && EVAL_NUM_SCENARIOS == VDIT_NSCENARIOS && EVAL_NUM_SPLITS == VDIT_NSPLITS,
               "eval's names for the datasets' columns, scenarios and splits");
#endif
extern const char *const eval_scenario_names[EVAL_NUM_SCENARIOS];
extern const char *const eval_split_names[EVAL_NUM_SPLITS];

/* ------------------------------------------------------------------------
 * Gated object tracking (benchmark.md "Metrics"): the colour masks, red
 * R>127 & G<127 & B<127 and blue R<127 & G<127 & B>127, split into
 * 8-connected components. A ball is found only when its largest component
 * holds at least 80% of its mask and that component's area lies within
 * [0.25, 4] times the expected pi r^2 (r in pixels); then its centre is
 * the component's mean pixel centre and its radius sqrt(area/pi), in world
 * units. Otherwise it is missing (NaN), whatever colour pixels there are:
 * noise, speckle, a ball split in two or a smear is never a ball. Colour
 * pixels outside the found components are debris.
 *
 * expect_r[2]: each ball's radius in world units (from the truth); NaN: no
 * area gate for that ball (the share gate still holds); negative: the ball
 * is not in the scene, never found, its pixels all debris. NULL: NaN for
 * both. scratch: eval_track_scratch(S) ints, from the caller.
 * ---------------------------------------------------------------------- */

#define EVAL_TRACK_SHARE 0.8 /* the largest component's share of the mask */
#define EVAL_TRACK_AREA_LO 0.25
#define EVAL_TRACK_AREA_HI 4.0

size_t eval_track_scratch(int S);
/* frame[S][S][3] -> out[2][3] (x, y, r per ball, NaN when missing);
 * *debris (may be NULL) the fraction of the frame's pixels that are debris */
void eval_track_frame(const uint8_t *frame, int S, const float *expect_r, float *out, float *debris,
                      int32_t *scratch);
/* video[T][S][S][3] -> trk[T][2][3], debris[T] (may be NULL) */
void eval_track_video(const uint8_t *video, int T, int S, const float *expect_r, float *trk, float *debris,
                      int32_t *scratch);
/* The radii eval_track_* expect for the balls of a truth video: r from its
 * first frame's state, -1 for a ball the scene does not have.
 * states[T][2][5] -> expect_r[2] */
void eval_expected_radii(const float *states, float *expect_r);

/* ------------------------------------------------------------------------
 * Physics-IQ motion masks (their binary_mask_generator.py, in integers as
 * OpenCV computes them): grey = (4899 R + 9617 G + 1868 B + 8192) >> 14;
 * 5x5 Gaussian blur (sigma 0 -> the binomial [1 4 6 4 1]/16 kernel,
 * reflect-101 border, rounded half up); a running background average
 * avg = 0.3 grey + 0.7 avg in double, initialised with frame 0, made uint8
 * as convertScaleAbs does (through float, to nearest, ties to even);
 * mask = |grey - avg| > 10; then a 5x5 opening and a
 * 5x5 closing (pixels outside the frame never win). Frame 0's mask is
 * empty. Masks hold 0 / 1.
 * ---------------------------------------------------------------------- */

void eval_grey(const uint8_t *rgb, int H, int W, uint8_t *grey);           /* rgb[H][W][3] -> grey[H][W] */
void eval_blur5(const uint8_t *in, int H, int W, uint8_t *out, uint16_t *tmp); /* tmp[H][W] */
/* 5x5 square erosion / dilation of a 0/1 mask (in and out may not alias) */
void eval_erode5(const uint8_t *in, int H, int W, uint8_t *out);
void eval_dilate5(const uint8_t *in, int H, int W, uint8_t *out);
/* video[T][H][W][3] -> masks[T][H][W] */
int eval_motion_masks(const uint8_t *video, int T, int H, int W, uint8_t *masks, vdit_err *err);

/* The four Physics-IQ metrics between two videos over frames t0..T-1
 * (masks[T][H][W], videos[T][H][W][3]):
 *   out[0] spatial IoU (the masks OR-ed over time; empty union -> 1),
 *   out[1] spatiotemporal IoU (per-frame IoU, empty union -> 1, averaged),
 *   out[2] weighted spatial IoU (sum_t mask / frames; sum min / sum max;
 *          empty -> 1),
 *   out[3] MSE of the frames on [0,1] pixels (per frame, averaged). */
enum { EVAL_MASK_SPATIAL = 0, EVAL_MASK_ST, EVAL_MASK_WSPATIAL, EVAL_MASK_MSE };
void eval_mask_metrics(const uint8_t *mask_a, const uint8_t *mask_b, const uint8_t *video_a, const uint8_t *video_b,
                       int T, int H, int W, int t0, double out[4]);
/* The Physics-IQ Verified-style score of one video: the ratios
 * spatial/var_spatial, st/var_st, wspatial/var_wspatial and
 * var_mse/mse (each x / y, x / 1e-8 where y = 0 as Physics-IQ's eps, and
 * 0/0 counting as 1), each clipped to
 * [0, 1], averaged. NaN when var has a NaN (no second take). */
double eval_physics_iq_score(const double metrics[4], const double var[4]);

/* VBench temporal flicker over the transitions (t-1, t), t = t0..T-1:
 * (255 - mean_t MAE(f_t, f_t-1)) / 255, the MAE over the pixels (all three
 * channels) that are 0 in exclude_a and exclude_b at both t-1 and t
 * (either may be NULL: the whole frame). Transitions with no such pixel are
 * skipped; NaN when none is left. video[T][H][W][3], exclude[T][H][W]. */
double eval_flicker(const uint8_t *video, int T, int H, int W, int t0, const uint8_t *exclude_a,
                    const uint8_t *exclude_b);
/* The pixels near a ball (for the flicker's background): the tracker's
 * colour masks of both balls dilated by the 5x5 square, so the
 * anti-aliased rim is covered; with tint (used for the truth, whose
 * background, floor and walls are grey levels R = G = B) also every pixel
 * with any colour in it. video[T][S][S][3] -> out[T][S][S] 0/1. */
void eval_ball_support(const uint8_t *video, int T, int S, int tint, uint8_t *out);

/* ------------------------------------------------------------------------
 * Per-video metrics against the truth (benchmark.md "Metrics")
 *
 * Scored frames are the generated ones, t >= ctx; a ball counts only in the
 * frames where it is in view in the truth (eval_in_view), and only where
 * the truth has it. Tracks are gated (above): a missing ball is NaN.
 *   velocity: forward differences v_t = (x_t - x_t-1) / 0.1 s for t >= ctx
 *     (so the first spans the last context frame), both frames in view and
 *     the ball found in both; vel_err = |mean_t v_t - mean_t v_true,t|
 *     over those pairs, v_true from the true positions (= v0 in uniform,
 *     parabola, bounce, occlusion), averaged over the balls. Collision:
 *     pairs wholly before the contact frame (t < contact) and wholly after
 *     it (t-1 >= contact) each, vel_err their mean; momentum and kinetic
 *     energy along x per pair with both balls (m = r^2) against the truth's
 *     initial (conserved) values.
 *   speed: ball 0's (the red ball, whose speed the split draws) mean v_x
 *     over its pairs before any contact (collision: before the contact
 *     frame; others: all pairs), the truth's over the same pairs, and the
 *     signed error between them; per group the slope of generated against
 *     true speed is fitted in eval_run.
 *   position, shape: over the in-view frames where the ball is found (a
 *     missing ball counts in `missing` only); shape drift is the largest
 *     over the balls.
 *   gravity (parabola, bounce): y(t) = y0 + vy0 t + a t^2 / 2 fitted by
 *     least squares to ball 0's found positions in the generated frames
 *     in view before any contact, the found disc (the truth's radius)
 *     inside the frame (at least 6 frames); gravity_fit = a and
 *     gravity_err = |a - g| / |g|, g the scenario's (params[EVAL_P_G]).
 *   missing: in-view ball-frames with the ball missing / in-view ball-frames.
 *   failed: 1 when a ball in view in the truth is missing in more than
 *     EVAL_FAIL_MISSING of its in-view generated frames, else 0; NaN when
 *     no ball is in view in any generated frame. In every
 *     mean eval_run replaces a failed video's velocity, speed, position and
 *     gravity errors by copy-last's on the same video (EVAL_FAIL_REPLACED).
 *   debris: mean over generated frames of the frame's debris fraction.
 *   motion masks: the pipeline runs over the whole video (its background
 *     starts at frame 0), the metrics over t >= ctx; physics_iq needs the
 *     second take's physical variance (NaN without one).
 *   flicker: transitions into frames t >= ctx; the background is what is
 *     in neither the truth's ball support (tinted) nor the video's.
 * ---------------------------------------------------------------------- */

#define EVAL_FAIL_MISSING 0.2 /* a video fails above this missing fraction of a ball */

enum {
    EVAL_M_VEL = 0,      /* |mean_t v_x - v0| (collision: mean of pre and post, over the balls) */
    EVAL_M_VEL_PRE,      /* collision: before the contact frame */
    EVAL_M_VEL_POST,     /* collision: after the contact frame */
    EVAL_M_MOMENTUM,     /* collision: mean_t |sum m v_x - p_true|, m = r^2 */
    EVAL_M_ENERGY,       /* collision: mean_t |sum m v_x^2 / 2 - E_true| */
    EVAL_M_SPEED_ERR,    /* signed: ball 0's mean_t v_x - the truth's, before any contact */
    EVAL_M_SPEED,        /* ball 0's generated mean_t v_x before any contact */
    EVAL_M_SPEED_TRUE,   /* the truth's over the same frame pairs */
    EVAL_M_POS_X,        /* mean |x - x_true| */
    EVAL_M_POS_Y,        /* mean |y - y_true| */
    EVAL_M_GRAVITY,      /* parabola, bounce: |a_fit - g| / |g| */
    EVAL_M_GRAVITY_FIT,  /* parabola, bounce: the fitted vertical acceleration a_fit */
    EVAL_M_SHAPE,        /* max r - min r */
    EVAL_M_MISSING,      /* object permanence: fraction of in-view ball-frames missing */
    EVAL_M_FAILED,       /* 1: a ball missing in more than EVAL_FAIL_MISSING of its frames */
    EVAL_M_DEBRIS,       /* mean debris fraction of the generated frames */
    EVAL_M_SPATIAL_IOU,  /* motion masks */
    EVAL_M_ST_IOU,
    EVAL_M_WSPATIAL_IOU,
    EVAL_M_MSE,
    EVAL_M_PHYSICS_IQ,   /* Verified-style score against the physical variance */
    EVAL_M_FLICKER_BG,   /* temporal flicker on the background */
    EVAL_M_FLICKER_ALL,  /* temporal flicker on the whole frame */
    EVAL_NUM_METRICS
};
/* Whether metric k of a failed video is replaced by copy-last's in the means. */
int eval_fail_replaced(int k);

typedef struct {
    const char *name;  /* "vel_err" */
    const char *unit;  /* "world/s" */
    int higher_better; /* 1 when larger is better */
    const char *what;  /* one line */
} eval_metric_info;
extern const eval_metric_info eval_metrics[EVAL_NUM_METRICS];

/* What the truth knows about one video. */
typedef struct {
    int T, S, ctx;      /* frames, size, context frames */
    int scenario;       /* EVAL_UNIFORM ... */
    int split;          /* EVAL_ID ... */
    int contact;        /* first frame at or after a contact, -1 if none */
    const float *params; /* [8] */
    const float *states; /* [T][2][5] */
} eval_info;

/* Which frames are scored: generated frames t >= ctx where ball b of the
 * truth is fully in view (x-r >= 0, x+r <= 10, same in y) and, in
 * occlusion, clear of the wall by a pixel (|x - wall_x| >= r + wall_w/2 +
 * 10/S: a ball touching the wall shares anti-aliased pixels with it). */
int eval_in_view(const eval_info *info, int t, int b);

/* Truth-side data shared by every video scored against one truth video. */
typedef struct {
    eval_info info;
    const uint8_t *truth; /* [T][S][S][3] (not owned) */
    float *trk;           /* [T][2][3] tracked truth */
    float expect_r[2];    /* the balls' radii the tracker expects (eval_expected_radii) */
    uint8_t *mask;        /* [T][S][S] motion masks of the truth */
    uint8_t *support;     /* [T][S][S] ball support of the truth */
    double var[4];        /* physical variance (truth vs second take); NaN without one */
} eval_ref;

/* take2 may be NULL. */
int eval_ref_init(eval_ref *r, const eval_info *info, const uint8_t *truth, const uint8_t *take2, vdit_err *err);
void eval_ref_free(eval_ref *r);

/* Scores video[T][S][S][3] against the truth: m[EVAL_NUM_METRICS] (NaN
 * where a metric does not apply), trk[T][2][3] its track and debris[T] its
 * debris per frame (each may be NULL). */
int eval_score(const eval_ref *r, const uint8_t *video, double *m, float *trk, float *debris, vdit_err *err);

/* The kinematic metrics from tracks alone (used by eval_score): fills
 * m[EVAL_M_VEL .. EVAL_M_DEBRIS]; debris[T] may be NULL (debris NaN). */
void eval_track_metrics(const eval_info *info, const float *trk, const float *debris, double *m);

/* ------------------------------------------------------------------------
 * Long rollouts (drift.c, benchmark.md metric 8)
 * ---------------------------------------------------------------------- */

enum { EVAL_D_PRESENCE = 0, EVAL_D_SPEED_ERR, EVAL_D_SHAPE, EVAL_D_DEBRIS, EVAL_NUM_DRIFT };
extern const char *const eval_drift_names[EVAL_NUM_DRIFT]; /* "presence", "speed_err", ... */
#define EVAL_DRIFT_WINDOW 32 /* frames per window: one training length */
#define EVAL_HORIZON_SPAN 8  /* pairs the horizon's speed error is averaged over */

/* Ball 0 of one video per window of `window` frames (window j: frames
 * j*window .. (j+1)*window-1, generated ones only): w[nwin][EVAL_NUM_DRIFT]
 * with presence (found / in view in the truth), speed error (mean over
 * scored frame pairs of | |v| - |v_true| |, forward differences), shape
 * drift (max r - min r) and debris (mean; NaN when debris is NULL); NaN
 * where a window has nothing to measure. *horizon: the first generated
 * frame t from which the ball is missing in every later in-view frame, or
 * from which its speed error over the next EVAL_HORIZON_SPAN pairs (at
 * least 2 scored) exceeds half the true speed; T when neither happens. */
void eval_drift_video(const eval_info *in, const float *trk, const float *debris, int window, double *w,
                      double *horizon);

/* ------------------------------------------------------------------------
 * References
 * ---------------------------------------------------------------------- */

/* copy-last: frames t >= ctx repeat frame ctx-1. video[T][S][S][3] -> out */
void eval_copy_last(const uint8_t *video, int T, int S, int ctx, uint8_t *out);
/* linear: each ball tracked in the context frames of video[T][S][S][3] is
 * moved at constant velocity (the least-squares line through its tracked
 * context positions), with the mean tracked context radius, and drawn by
 * the dataset's renderer (vdit_render_frame) over the scene's static
 * floor and wall (from info: scenario and params). out[T][S][S][3]; frames
 * before ctx are the video's own. */
int eval_linear(const eval_info *info, const uint8_t *video, uint8_t *out, vdit_err *err);

/* ------------------------------------------------------------------------
 * Frechet distance between two Gaussians fitted to feature sets
 * ---------------------------------------------------------------------- */

/* fd = |mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2), covariances
 * with 1/(n-1); eigendecompositions by LAPACK's dsyevd. a[Na][D], b[Nb][D]. */
int eval_frechet(const double *a, int Na, const double *b, int Nb, int D, double *fd, vdit_err *err);
/* The same with one side fixed (the truth), for many others: its mean,
 * trace and Sa^1/2 computed once. */
typedef struct {
    int D;
    double *mu;   /* [D] */
    double *half; /* [D][D] Sa^1/2 */
    double trace; /* tr Sa */
} eval_frechet_ref;
int eval_frechet_ref_init(eval_frechet_ref *r, const double *a, int Na, int D, vdit_err *err);
int eval_frechet_to(const eval_frechet_ref *r, const double *b, int Nb, double *fd, vdit_err *err);
void eval_frechet_ref_free(eval_frechet_ref *r);
/* Trajectory features of a track: for each generated frame and ball
 * (x, y, r, present), zeros when missing. D = eval_traj_dim(T, ctx). */
int eval_traj_dim(int T, int ctx);
void eval_traj_features(const float *trk, int T, int ctx, double *feat);

/* ------------------------------------------------------------------------
 * Statistics: mean with a seeded percentile-bootstrap 95% interval
 * ---------------------------------------------------------------------- */

typedef struct {
    double mean, lo, hi;
    int n; /* finite values used */
} eval_stat;

/* Ignores NaNs. B resamples; the draws depend only on (seed, index). */
void eval_bootstrap(const double *x, int n, int B, uint64_t seed, eval_stat *out);

/* ------------------------------------------------------------------------
 * The benchmark runner
 * ---------------------------------------------------------------------- */

/* A truth set in the dataset format (datasets/FORMAT.md); arrays not owned. */
typedef struct {
    int N, T, S, ctx;
    const uint8_t *videos;   /* [N][T][S][S][3] */
    const uint8_t *take2;    /* [N][T][S][S][3] or NULL */
    const float *states;     /* [N][T][2][5] */
    const float *params;     /* [N][8] */
    const int32_t *labels;   /* [N] */
    const int32_t *splits;   /* [N] */
    const int32_t *contact;  /* [N] */
} eval_truth_set;

/* Sources scored on the same videos. */
enum { EVAL_SRC_MODEL = 0, EVAL_SRC_TRUTH, EVAL_SRC_TAKE2, EVAL_SRC_COPY_LAST, EVAL_SRC_LINEAR, EVAL_NUM_SOURCES };
extern const char *const eval_source_names[EVAL_NUM_SOURCES];

/* A video-to-features map for the second Frechet distance (the VAE
 * encoder's features). video[T][S][S][3] -> feat[dim]. */
typedef struct {
    int dim;
    int (*fn)(void *ctx, const uint8_t *video, int T, int S, double *feat, vdit_err *err);
    void *ctx;
    const char *name;
} eval_feature_fn;

/* The VAE encoder's features: latent means [T'][C][H'][W'] average-pooled
 * to 2x2 per latent frame and channel (dim T' * C * 4). Holds vae (not
 * owned; used from one thread: eval_run calls feature maps serially). */
int eval_vae_features(eval_feature_fn *f, vdit_vae *vae, int T, int S, vdit_err *err);
void eval_vae_features_free(eval_feature_fn *f);

/* Groups a report summarises: all, each split, ood-v's low and high
 * speed bands (ood-v-low: ball 0's speed below the ID range, ood-v-high:
 * above it), each scenario, each (split, scenario). */
enum { EVAL_BAND_NONE = 0, EVAL_BAND_LOW, EVAL_BAND_HIGH };
#define EVAL_NUM_BANDS 2
#define EVAL_G_ALL 0
#define EVAL_G_SPLIT(s) (1 + (s))
#define EVAL_G_BAND(b) (1 + EVAL_NUM_SPLITS + (b) - 1) /* b = EVAL_BAND_LOW or EVAL_BAND_HIGH */
#define EVAL_G_SCENARIO(c) (1 + EVAL_NUM_SPLITS + EVAL_NUM_BANDS + (c))
#define EVAL_G_CELL(s, c) (1 + EVAL_NUM_SPLITS + EVAL_NUM_BANDS + EVAL_NUM_SCENARIOS + (s) * EVAL_NUM_SCENARIOS + (c))
#define EVAL_NUM_GROUPS (1 + EVAL_NUM_SPLITS + EVAL_NUM_BANDS + EVAL_NUM_SCENARIOS + EVAL_NUM_SPLITS * EVAL_NUM_SCENARIOS)

typedef struct {
    int N, T, S, ctx;
    int has[EVAL_NUM_SOURCES];  /* which sources are reported */
    double *m;                  /* [NSRC][N][EVAL_NUM_METRICS] per-video metrics, as measured */
    float *trk;                 /* [NSRC][N][T][2][3] tracks */
    int32_t *labels, *splits;   /* [N] copies */
    int32_t *bands;             /* [N] EVAL_BAND_* of each video */
    float *params;              /* [N][EVAL_NPARAMS] the scenario parameters (NaN where unknown) */
    eval_stat *stats;           /* [NSRC][EVAL_NUM_GROUPS][EVAL_NUM_METRICS] means, failures replaced */
    eval_stat *slope;           /* [NSRC][EVAL_NUM_GROUPS] slope of generated against true speed */
    double *fd_traj;            /* [NSRC][EVAL_NUM_GROUPS] vs the truth; NaN where < 2 videos */
    double *fd_feat;            /* [NSRC][EVAL_NUM_GROUPS] or NULL without a feature map */
    int group_n[EVAL_NUM_GROUPS];
    const char *feat_name;
    int bootstrap;
    uint64_t seed;
    int has_take2;              /* the truth set has second takes (else no physics_iq) */
    double context_diff;        /* mean |model - truth| over the context frames' pixels, 0..255; NaN without a model */
    /* long rollouts (drift.c): windows of EVAL_DRIFT_WINDOW frames */
    int window, nwin;
    float *debris;              /* [NSRC][N][T] debris per frame */
    double *drift_v;            /* [NSRC][N][nwin][EVAL_NUM_DRIFT] per video and window */
    double *horizon_v;          /* [NSRC][N] per video, frames */
    eval_stat *drift;           /* [NSRC][nwin][EVAL_NUM_DRIFT] over all videos */
    eval_stat *horizon;         /* [NSRC] */
} eval_result;

/* A model's context frames that differ from the truth's by more than this
 * mean absolute pixel difference get a note in the report: the videos may
 * belong to another truth set, or have their channels or range wrong. */
#define EVAL_CONTEXT_DIFF_NOTE 40.0

typedef struct {
    int bootstrap;           /* resamples (default 1000) */
    uint64_t seed;           /* bootstrap seed (default 0) */
    int references;          /* also report the references (default 1); copy-last is scored either way,
                                for the failed videos' replacement */
    const eval_feature_fn *features; /* may be NULL */
} eval_options;

void eval_options_default(eval_options *o);
/* What the truth set knows about video i. */
void eval_info_of(const eval_truth_set *t, int i, eval_info *in);
/* Checks a truth set's sizes and labels. */
int eval_truth_check(const eval_truth_set *t, vdit_err *err);
/* Scores model[N][T][S][S][3] (NULL: references only) against the truth. */
int eval_run(const eval_truth_set *truth, const uint8_t *model, const eval_options *opt, eval_result *res,
             vdit_err *err);
void eval_result_free(eval_result *res);
/* Metric k of source src on video i as it enters the means: copy-last's
 * where the video failed and k is replaced (eval_fail_replaced). */
double eval_mean_value(const eval_result *res, int src, int i, int k);
/* Group g's name, e.g. "all", "id", "ood-v-low", "parabola", "ood-v/parabola" (static). */
const char *eval_group_name(int g);
/* Whether a video of (split, band, scenario) belongs to group g. */
int eval_group_has(int g, int split, int band, int scenario);
/* A video's speed band: ood-v videos whose ball 0 is slower than the ID
 * range (|v1| < 1) are EVAL_BAND_LOW, faster (|v1| > 4) EVAL_BAND_HIGH;
 * every other video EVAL_BAND_NONE. params[8] may be NULL. */
int eval_speed_band(int split, const float *params);

/* Least-squares slope of y on x over the pairs where both are finite, with
 * a percentile-bootstrap 95% interval over resampled pairs (draws as
 * eval_bootstrap's); NaN with fewer than 3 pairs or no spread in x. */
void eval_bootstrap_slope(const double *x, const double *y, int n, int B, uint64_t seed, eval_stat *out);

/* ------------------------------------------------------------------------
 * Loading videos and truth sets
 * ---------------------------------------------------------------------- */

/* A set of videos uint8 [N][T][S][S][3] (owned). */
typedef struct {
    int N, T, S;
    uint8_t *data;
} eval_videos;
void eval_videos_free(eval_videos *v);

/* Reads videos from
 *   FILE.npy  uint8 [N][T][S][S][3], or float32 [N][T][3][S][S] in [-1, 1]
 *   FILE.npz  the same, array "videos" (or the archive's only array)
 *   DIR/      DIR/video_0000/frame_000.png ... (RGB or RGBA PNG, S x S)
 *             or DIR/NAME.gif, one video per GIF, in name order. */
int eval_load_videos(const char *path, eval_videos *out, vdit_err *err);

/* A truth set read from a dataset directory (meta.json + data.npz) with
 * the datasets library's vdit_dataset_load (datasets/datasets.h). */
typedef struct {
    eval_truth_set set; /* points into impl */
    char name[256];     /* meta.json "name" */
    void *impl;         /* the vdit_dataset */
} eval_dataset;
int eval_dataset_load(const char *dir, eval_dataset *d, vdit_err *err);
void eval_dataset_free(eval_dataset *d);

/* ------------------------------------------------------------------------
 * Reports
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *title;             /* e.g. the checkpoint or the videos' path */
    const char *truth_name;        /* the dataset's name */
    int figures;                   /* write the gnuplot figures and the frame strip (default 1) */
    int traj_videos;               /* videos whose trajectories are plotted (default 4) */
    int strip_videos;              /* videos in the frame strip (default 3) */
    const eval_truth_set *truth;   /* states and frames for the figures; may be NULL (no such figures) */
    const uint8_t *model;          /* [N][T][S][S][3] for the strip; NULL: the linear baseline is shown */
} eval_report_options;

void eval_report_options_default(eval_report_options *o);
/* Which of two means is better, on the intervals: -1 a beats b (intervals
 * do not overlap), 1 a is worse (likewise), 0 they overlap, 2 one is NaN.
 * higher_better as eval_metrics[k]'s. */
int eval_compare(const eval_stat *a, const eval_stat *b, int higher_better);
/* mkdir -p */
int eval_mkdir_p(const char *dir, vdit_err *err);
/* Writes into DIR (created if missing): report.json, report.csv (one row
 * per source, group and metric), videos.csv (every video's metrics),
 * report.md (Markdown tables), and with figures: fig_errors.gp,
 * fig_traj.gp and their .dat files, the PNGs gnuplot makes of them when it
 * runs, and strip.png (truth above sample); for videos of two windows or
 * more (EVAL_DRIFT_WINDOW), drift.csv and fig_drift.gp (the long-rollout
 * measures per window and the horizon). *figures_made (may be NULL) is
 * set to the number of gnuplot figures that were drawn, *figures_lost (may
 * be NULL) to the number not drawn because gnuplot is not installed. */
int eval_write_report(const char *dir, const eval_result *res, const eval_report_options *o, int *figures_made,
                      int *figures_lost, vdit_err *err);

/* One line for the command line to out: the count, the failure rate, the
 * velocity error beside linear's and copy-last's with the verdict, the
 * Physics-IQ score and flicker, the figures drawn (or "gnuplot not found: N
 * figures not drawn"); the report's notes to notes (may be NULL). */
void eval_print_summary(FILE *out, FILE *notes, const char *dir, const eval_result *r, int figures, int figures_lost);

/* ------------------------------------------------------------------------
 * VAE reconstructions (eval/recon.c, `vdit vae recon`): each video encoded
 * (the encoder's mean) and decoded, both as uint8 frames. Per video: the
 * PSNR (99 dB for an exact copy) and the MSE in 0..255; the gated tracker
 * (above) on truth and reconstruction, each ball's area expected from the
 * truth's radius (states[T][2][5] given, else no area gate). Where a ball
 * is found in the truth it is present; missing when the reconstruction's
 * is not found; else its distance (and |dx|, |dy|) to the truth's track,
 * world units, and, where the simulator's disc is wholly in the frame,
 * both tracks' distances to the simulated position.
 * ---------------------------------------------------------------------- */

typedef struct {
    double psnr_sum, mse_sum;           /* per-video PSNR (uint8), pixel MSE (0..255) */
    double pos_sum, posx_sum, posy_sum; /* reconstruction vs tracked truth, world units */
    double sim_rec, sim_true;           /* reconstruction / truth tracks vs the simulator's state */
    long videos, pos_n, sim_n, missing, present;
} eval_recon_stats;

/* Adds one reconstruction rec[T][S][S][3] of truth[T][S][S][3] to *st;
 * states [T][2][5] may be NULL. trk_truth, trk_rec: [T][2][3] each and
 * scratch eval_track_scratch(S) ints, from the caller. */
void eval_recon_score(const uint8_t *truth, const uint8_t *rec, const float *states, int T, int S, float *trk_truth,
                      float *trk_rec, int32_t *scratch, eval_recon_stats *st);
void eval_recon_add(eval_recon_stats *a, const eval_recon_stats *b); /* a += b */

/* The means of a set (NaN where nothing was measured). */
enum {
    EVAL_RECON_PSNR = 0,       /* mean per-video PSNR */
    EVAL_RECON_PSNR_GLOBAL,    /* PSNR of the pooled MSE */
    EVAL_RECON_POS,            /* mean distance to the tracked truth */
    EVAL_RECON_POS_X,          /* mean |dx| */
    EVAL_RECON_POS_Y,          /* mean |dy| */
    EVAL_RECON_REC_VS_STATE,   /* tracked reconstruction vs the simulator's state */
    EVAL_RECON_TRUE_VS_STATE,  /* tracked truth vs the simulator's state */
    EVAL_RECON_MISSING,        /* missing / present ball-frames */
    EVAL_RECON_NUM
};
void eval_recon_means(const eval_recon_stats *s, double m[EVAL_RECON_NUM]);

typedef struct {
    eval_recon_stats per[EVAL_NUM_SCENARIOS]; /* by scenario */
    eval_recon_stats all;                     /* their sum */
    int videos;                               /* videos reconstructed */
    int T, S, columns, shown;                 /* the GIF: shown of columns filled */
    uint8_t *gif;                             /* [2][columns][T][S][S][3]: truth, reconstruction */
} eval_recon_result;

/* called with (0, total) before the first video and (done, total) after each chunk */
typedef void (*eval_progress_fn)(void *ctx, int done, int total);

/* Reconstructs the ID videos (split 0) of a set, the first `count` of
 * them (all when 0), in chunks of vdit_vae_chunk_videos, and scores them by
 * scenario. The set's labels, splits and states may be NULL (scenario 0,
 * all ID, no state); a label out of range counts as scenario 0. The GIF
 * shows the first video of each scenario, then the next in order, up to
 * `columns`. progress may be NULL. */
int eval_recon_run(vdit_vae *vae, const eval_truth_set *set, int count, int columns, eval_progress_fn progress,
                   void *progress_ctx, eval_recon_result *res, vdit_err *err);
void eval_recon_result_free(eval_recon_result *res);
/* The animated GIF: each frame the truth above the reconstruction, one
 * column per video, scaled 4x (2x from 64 pixels), 0.1 s a frame. */
int eval_recon_write_gif(const char *path, const eval_recon_result *res, vdit_err *err);
/* {"data", "vae", "size", "all": {...}, "scenarios": {name: {...}}}, each
 * {"videos", "psnr", "psnr_global", "position_error", "position_error_x",
 * "position_error_y", "recon_vs_state", "truth_vs_state", "missing_rate"},
 * null where not measured; scenarios without videos left out. */
int eval_recon_write_json(const char *path, const char *data, const char *vae, const eval_recon_result *res,
                          vdit_err *err);
/* The table: a header, a row per scenario with videos, the row "all". */
void eval_recon_print(FILE *out, const eval_recon_result *res);

/* ------------------------------------------------------------------------
 * Generating continuations (the checkpoint path of `vdit eval`)
 * ---------------------------------------------------------------------- */

/* Continues each truth video from its first ctx frames with the pipeline
 * (lib/pipeline.c): the latent frames that hold only context frames (at
 * least one) are known, the rest sampled, conditioned on the video's
 * scenario (the null label where the DiT has no such class). Fills *out
 * (N, T, S of the truth; free with eval_videos_free, also after an error).
 * Calls p->progress with (0, N) first (see eval_progress_fn), then after
 * each chunk. */
int eval_generate(const vdit_pipeline *p, const eval_truth_set *truth, eval_videos *out, vdit_err *err);

#ifdef __cplusplus
}
#endif

#endif /* VDIT_EVAL_H */
