/* scenes.c - the six scenarios: parameter ranges per split, placement
 * rules, the second take, params rows and captions.
 *
 * The ranges are benchmark.md's (phyworld's). A scene is drawn from its own
 * seed with the counter-based generator, so video i never depends on
 * another video or on the thread that made it. Drawing goes:
 *   1. the parameters from the split's ranges (an out-of-distribution
 *      parameter comes from the low or the high range, each with chance 1/2);
 *   2. a placement built to satisfy the rules below;
 *   3. the simulation, whose states are checked against the rules; a
 *      placement that fails is drawn again (up to 16 times), then the
 *      parameters (up to 500 times) - as phyworld drops infeasible scenes.
 *
 * Rules (T frames, m = T/4 margin frames, view = T - m; 8 and 24 at T = 32):
 *   uniform, parabola, bounce, occlusion: ball 0 fully in view in at least
 *     min(view, N) frames, N the most a ball of its speed and size can
 *     spend in view (vdit_max_frames_in_view; for parabola also the frames
 *     a ball dropped from the top stays above the bottom edge). When N <
 *     view the ball starts touching the left edge (phyworld's relaxation).
 *   collision: first contact in frame c with m <= c <= T - m (at least m
 *     frames before and after); both balls fully in view from frame 0 until
 *     the contact.
 *   bounce: the same contact rule for the first touch of the floor.
 *   occlusion: the ball is clear of the wall in the context frames and
 *     reaches it (overlaps it) by frame T - m.
 *   box: anywhere inside the box, heading in any direction; its walls keep
 *     the ball in view in every frame (checked).
 */
#include "datasets.h"

#include <math.h>
#include <stdio.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <string.h>

/* ------------------------------------------------------------------------
 * Names
 * ---------------------------------------------------------------------- */

static const char *const scenario_names[VDIT_NSCENARIOS] = {"uniform", "parabola", "collision",
                                                            "bounce",  "occlusion", "box"};
static const char *const split_names[VDIT_NSPLITS] = {"id", "ood-v", "ood-r", "ood-rv"};

const char *vdit_scenario_name(int s) { return s >= 0 && s < VDIT_NSCENARIOS ? scenario_names[s] : "?"; }
const char *vdit_split_name(int s) { return s >= 0 && s < VDIT_NSPLITS ? split_names[s] : "?"; }

int vdit_scenario_parse(const char *name)
{
    for (int i = 0; name && i < VDIT_NSCENARIOS; i++)
        if (!strcmp(name, scenario_names[i])) return i;
    return -1;
}

int vdit_split_parse(const char *name, int *is_train)
{
    if (is_train) *is_train = 0;
    if (name && !strcmp(name, "train")) {
        if (is_train) *is_train = 1;
        return VDIT_SPLIT_ID;
    }
    for (int i = 0; name && i < VDIT_NSPLITS; i++)
        if (!strcmp(name, split_names[i])) return i;
    return -1;
}

/* ------------------------------------------------------------------------
 * Ranges
 * ---------------------------------------------------------------------- */

typedef struct {
    double id[2], low[2], high[2];
} range3;

static const range3 SPEED = {{1, 4}, {0, 0.8}, {4.5, 6}};
static const range3 RADIUS_1BALL = {{0.7, 1.4}, {0.3, 0.6}, {1.5, 2}};
static const range3 RADIUS_COLLISION = {{0.5, 1.5}, {0.3, 0.4}, {1.7, 2}};
static const range3 RESTITUTION = {{0.6, 0.9}, {0.3, 0.5}, {0.95, 1}};
static const range3 WALL_WIDTH = {{1, 2}, {0.3, 0.8}, {2.5, 3.5}};

static double urand(vdit_rng *rng) { return (double)(vdit_rng_u64(rng) >> 11) * 0x1.0p-53; }
static double uniform(vdit_rng *rng, double lo, double hi) { return lo + (hi - lo) * urand(rng); }

/* A value from the ID range, or from the low or high range when ood; *span
 * gets the width of the range used. */
static double draw(vdit_rng *rng, const range3 *r, int ood, double *span)
{
    const double *lh = r->id;
    if (ood) lh = urand(rng) < 0.5 ? r->low : r->high;
    if (span) *span = lh[1] - lh[0];
    return uniform(rng, lh[0], lh[1]);
}

/* ------------------------------------------------------------------------
 * Placement
 * ---------------------------------------------------------------------- */

#define TOL 1e-6 /* world units: rounding slack in the rule checks */

/* Starting x of a ball moving right at v so that it is fully in view for
 * frames 0 .. view-1, or at the left edge when that is impossible. */
static double place_x(vdit_rng *rng, double v, double r, int view)
{
    double D = VDIT_FRAME_DT * v * (view - 1);
    if (2 * r + D <= VDIT_WORLD) return uniform(rng, r, VDIT_WORLD - r - D);
    return r;
}

/* How far a ball starting at rest falls in k physics steps under Chipmunk's
 * semi-implicit Euler (the position moves with the previous velocity). */
static double drop_after(int k, double g) { return fabs(g) * VDIT_PHYS_DT * VDIT_PHYS_DT * k * (k - 1) / 2.0; }

/* Frames a ball of radius r dropped from the top stays fully above the
 * bottom edge (at most T). */
static int max_frames_falling(double r, double g, int T)
{
    int n = 0;
    while (n < T && drop_after(VDIT_STEPS_PER_FRAME * n, g) <= VDIT_WORLD - 2 * r) n++;
    return n;
}

/* Contact time window so the contact frame is in [m, T-m]: a contact during
 * the steps after frame c-1 shows in frame c. A little inside, so the
 * discrete contact step cannot fall outside. */
static void contact_window(int T, double *lo, double *hi)
{
    int m = T / 4;
    *lo = (m - 1) * VDIT_FRAME_DT + 0.025;
    *hi = (T - m) * VDIT_FRAME_DT - 0.025;
}

/* Checks the rules of the file comment on a simulated video; NULL if they
 * hold, else what failed. */
static const char *check_rules(const vdit_scene *sc, int T, const float *st, int contact)
{
    int m = T / 4, view = T - m;
#define S(t, b, k) st[((size_t)(t)*2 + (b)) * VDIT_NSTATE + (k)]
    switch (sc->scenario) {
    case VDIT_SC_COLLISION: {
        if (contact < m || contact > T - m) return "contact frame outside [m, T-m]";
        for (int t = 0; t < contact; t++)
            for (int b = 0; b < 2; b++) {
                double x = S(t, b, VDIT_S_X), y = S(t, b, VDIT_S_Y), r = S(t, b, VDIT_S_R);
                if (x - r < -TOL || x + r > VDIT_WORLD + TOL || y - r < -TOL || y + r > VDIT_WORLD + TOL)
                    return "a ball leaves the view before the contact";
            }
        return NULL;
    }
    case VDIT_SC_BOX:
        return vdit_frames_in_view(st, T, 0, TOL) < T ? "the ball leaves the box" : NULL;
    default: break;
    }
    int need = vdit_max_frames_in_view(sc->vx[0], sc->r[0], T);
    if (sc->scenario == VDIT_SC_PARABOLA) {
        int nv = max_frames_falling(sc->r[0], sc->g, T);
        if (nv < need) need = nv;
    }
    if (need > view) need = view;
    if (vdit_frames_in_view(st, T, 0, TOL) < need) return "the ball is in view for too few frames";
    if (sc->scenario == VDIT_SC_BOUNCE && (contact < m || contact > T - m)) return "bounce frame outside [m, T-m]";
    if (sc->scenario == VDIT_SC_OCCLUSION) {
        double left = sc->wall_x - sc->wall_w / 2, right = sc->wall_x + sc->wall_w / 2;
        for (int t = 0; t < VDIT_CONTEXT_FRAMES && t < T; t++)
            if (S(t, 0, VDIT_S_X) + S(t, 0, VDIT_S_R) > left + TOL) return "the wall hides the ball in the context";
        int reached = 0;
        for (int t = 0; t <= T - m && t < T; t++) {
            double x = S(t, 0, VDIT_S_X), r = S(t, 0, VDIT_S_R);
            reached |= x + r > left && x - r < right;
        }
        if (!reached) return "the ball does not reach the wall";
    }
#undef S
    return NULL;
}

/* Parameters of a scene: 0 ok. */
static void draw_params(vdit_scene *sc, vdit_rng *rng, int scenario, int split)
{
    int ood_v = split == VDIT_SPLIT_OOD_V || split == VDIT_SPLIT_OOD_RV;
    int ood_r = split == VDIT_SPLIT_OOD_R || split == VDIT_SPLIT_OOD_RV;
    memset(sc, 0, sizeof *sc);
    sc->scenario = scenario;
    sc->split = split;
    sc->nballs = 1;
    sc->e = 1;
    switch (scenario) {
    case VDIT_SC_UNIFORM:
    case VDIT_SC_PARABOLA:
        sc->vx[0] = draw(rng, &SPEED, ood_v, &sc->v_span[0]);
        sc->r[0] = draw(rng, &RADIUS_1BALL, ood_r, NULL);
        sc->g = scenario == VDIT_SC_PARABOLA ? VDIT_GRAVITY : 0;
        break;
    case VDIT_SC_COLLISION:
        /* phyworld's OOD levels for two balls: the red ball's parameter out
         * of range, the blue ball's in range */
        sc->nballs = 2;
        sc->vx[0] = draw(rng, &SPEED, ood_v, &sc->v_span[0]);
        sc->r[0] = draw(rng, &RADIUS_COLLISION, ood_r, NULL);
        sc->vx[1] = -draw(rng, &SPEED, 0, &sc->v_span[1]);
        sc->r[1] = draw(rng, &RADIUS_COLLISION, 0, NULL);
        break;
    case VDIT_SC_BOUNCE:
        sc->vx[0] = draw(rng, &SPEED, ood_v, &sc->v_span[0]);
        sc->e = draw(rng, &RESTITUTION, ood_r, NULL);
        sc->r[0] = draw(rng, &RADIUS_1BALL, 0, NULL);
        sc->g = VDIT_GRAVITY;
        sc->floor = 1;
        break;
    case VDIT_SC_OCCLUSION:
        sc->vx[0] = draw(rng, &SPEED, ood_v, &sc->v_span[0]);
        sc->wall_w = draw(rng, &WALL_WIDTH, ood_r, NULL);
        sc->r[0] = draw(rng, &RADIUS_1BALL, 0, NULL);
        break;
    case VDIT_SC_BOX: {
        /* the speed from uniform's ranges, the heading uniform on the circle */
        double v = draw(rng, &SPEED, ood_v, &sc->v_span[0]), a = uniform(rng, 0, 2 * M_PI);
        sc->vx[0] = v * cos(a);
        sc->vy[0] = v * sin(a);
        sc->r[0] = draw(rng, &RADIUS_1BALL, ood_r, NULL);
        sc->box = 1;
        break;
    }
    }
}

/* A placement for the drawn parameters; -1 when none can exist (redraw
 * the parameters). */
static int place(vdit_scene *sc, vdit_rng *rng, int T)
{
    int m = T / 4, view = T - m;
    double r = sc->r[0], v = sc->vx[0];
    switch (sc->scenario) {
    case VDIT_SC_UNIFORM:
        sc->x[0] = place_x(rng, v, r, view);
        sc->y[0] = uniform(rng, r + 0.5, VDIT_WORLD - 0.5 - r); /* phyworld: 5% of the world clear */
        return 0;
    case VDIT_SC_PARABOLA: {
        sc->x[0] = place_x(rng, v, r, view);
        double lo = r + drop_after(VDIT_STEPS_PER_FRAME * (view - 1), sc->g), hi = VDIT_WORLD - r;
        sc->y[0] = lo <= hi ? uniform(rng, lo, hi) : hi;
        return 0;
    }
    case VDIT_SC_BOUNCE: {
        double lo, hi;
        contact_window(T, &lo, &hi);
        /* start at rest vertically, the floor's top at y = 0.5; at most
         * 0.1 below the top edge (e = 1 comes back to the same height) */
        double hmax = VDIT_WORLD - 0.1 - 2 * r - VDIT_FLOOR_Y;
        double tmax = hmax > 0 ? sqrt(2 * hmax / fabs(sc->g)) : 0;
        if (tmax < hi) hi = tmax;
        if (hi < lo) return -1;
        double tc = uniform(rng, lo, hi);
        sc->x[0] = place_x(rng, v, r, view);
        sc->y[0] = VDIT_FLOOR_Y + r + 0.5 * fabs(sc->g) * tc * tc;
        return 0;
    }
    case VDIT_SC_OCCLUSION: {
        sc->x[0] = place_x(rng, v, r, view);
        sc->y[0] = uniform(rng, r + 0.5, VDIT_WORLD - 0.5 - r);
        double w = sc->wall_w;
        double lo = sc->x[0] + v * VDIT_FRAME_DT * (VDIT_CONTEXT_FRAMES - 1) + r; /* clear in the context */
        double hi = sc->x[0] + v * VDIT_FRAME_DT * (T - m) + r - 0.01;         /* reached by frame T-m */
        if (hi > VDIT_WORLD - w) hi = VDIT_WORLD - w;
        if (hi < lo) return -1;
        sc->wall_x = uniform(rng, lo, hi) + w / 2;
        return 0;
    }
    case VDIT_SC_BOX:
        sc->x[0] = uniform(rng, r, VDIT_WORLD - r);
        sc->y[0] = uniform(rng, r, VDIT_WORLD - r);
        return 0;
    case VDIT_SC_COLLISION: {
        double r1 = sc->r[0], r2 = sc->r[1], v1 = sc->vx[0], v2 = -sc->vx[1];
        double lo, hi;
        contact_window(T, &lo, &hi);
        /* both in view at frame 0: 2 r1 + 2 r2 + (v1 + v2) tc <= 10 */
        double room = VDIT_WORLD - 2 * (r1 + r2);
        if (room < 0) return -1;
        if (v1 + v2 > 0 && room / (v1 + v2) < hi) hi = room / (v1 + v2);
        if (hi < lo) return -1;
        double tc = uniform(rng, lo, hi);
        double xc = uniform(rng, 2 * r1 + v1 * tc, VDIT_WORLD - 2 * r2 - v2 * tc); /* where they touch */
        double rmax = r1 > r2 ? r1 : r2;
        double y = rmax + 0.5 <= VDIT_WORLD - 0.5 - rmax ? uniform(rng, rmax + 0.5, VDIT_WORLD - 0.5 - rmax)
                                                         : VDIT_WORLD / 2;
        sc->x[0] = xc - r1 - v1 * tc;
        sc->x[1] = xc + r2 + v2 * tc;
        sc->y[0] = sc->y[1] = y;
        return 0;
    }
    }
    return -1;
}

int vdit_scene_draw(vdit_scene *sc, int scenario, int split, int T, uint64_t seed, float *states, int *contact,
                    vdit_err *err)
{
    if (scenario < 0 || scenario >= VDIT_NSCENARIOS)
        return vdit_seterr(err, "scene: scenario %d outside 0..%d", scenario, VDIT_NSCENARIOS - 1);
    if (split < 0 || split >= VDIT_NSPLITS) return vdit_seterr(err, "scene: split %d outside 0..3", split);
    if (T < VDIT_MIN_FRAMES || T > VDIT_MAX_FRAMES)
        return vdit_seterr(err, "scene: %d frames outside %d..%d", T, VDIT_MIN_FRAMES, VDIT_MAX_FRAMES);
    float buf[VDIT_MAX_FRAMES * 2 * VDIT_NSTATE];
    float *st = states ? states : buf;
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    const char *why = "no placement";
    for (int attempt = 0; attempt < 500; attempt++) {
        draw_params(sc, &rng, scenario, split);
        for (int p = 0; p < 16; p++) {
            if (place(sc, &rng, T) != 0) break;
            int c;
            if (vdit_simulate(sc, T, st, &c, err) != 0) return -1;
            why = check_rules(sc, T, st, c);
            if (!why) {
                if (contact) *contact = c;
                return 0;
            }
        }
    }
    return vdit_seterr(err, "scene: %s/%s seed %llu: no scene obeys the placement rules in 500 draws (%s)",
                       vdit_scenario_name(scenario), vdit_split_name(split), (unsigned long long)seed, why);
}

void vdit_scene_take2(vdit_scene *out, const vdit_scene *in, uint64_t seed)
{
    *out = *in;
    vdit_rng rng;
    vdit_rng_init(&rng, seed);
    double dy0 = 0;
    for (int b = 0; b < in->nballs; b++) {
        double sx = urand(&rng) < 0.5 ? -1 : 1, sy = urand(&rng) < 0.5 ? -1 : 1, sv = urand(&rng) < 0.5 ? -1 : 1;
        out->x[b] = in->x[b] + sx * 0.01 * VDIT_WORLD;
        if (b == 0) dy0 = sy * 0.01 * VDIT_WORLD;
        /* collision: both balls move together in y, so they still meet head-on */
        out->y[b] = in->y[b] + (in->scenario == VDIT_SC_COLLISION ? dy0 : sy * 0.01 * VDIT_WORLD);
        if (in->box) { /* the speed moves, the heading stays; the ball stays inside */
            double sp = hypot(in->vx[b], in->vy[b]), to = fmax(sp + sv * 0.01 * in->v_span[b], 0);
            out->vx[b] = sp > 0 ? in->vx[b] * to / sp : 0;
            out->vy[b] = sp > 0 ? in->vy[b] * to / sp : 0;
            out->x[b] = fmin(fmax(out->x[b], in->r[b]), VDIT_WORLD - in->r[b]);
            out->y[b] = fmin(fmax(out->y[b], in->r[b]), VDIT_WORLD - in->r[b]);
            continue;
        }
        double v = in->vx[b] + sv * 0.01 * in->v_span[b];
        /* a ball keeps its direction (a speed of 0 stays at 0 or above) */
        if (in->vx[b] >= 0 && v < 0) v = 0;
        if (in->vx[b] <= 0 && v > 0) v = 0;
        out->vx[b] = v;
    }
}

void vdit_scene_params(const vdit_scene *sc, float *p)
{
    for (int k = 0; k < VDIT_NPARAMS; k++) p[k] = NAN;
    p[VDIT_P_V1] = (float)(sc->box ? hypot(sc->vx[0], sc->vy[0]) : sc->vx[0]); /* box: the (conserved) speed */
    p[VDIT_P_R1] = (float)sc->r[0];
    if (sc->nballs > 1) {
        p[VDIT_P_V2] = (float)sc->vx[1];
        p[VDIT_P_R2] = (float)sc->r[1];
    }
    if (sc->scenario == VDIT_SC_BOUNCE || sc->scenario == VDIT_SC_COLLISION) p[VDIT_P_E] = (float)sc->e;
    if (sc->scenario == VDIT_SC_OCCLUSION) {
        p[VDIT_P_WALL_X] = (float)sc->wall_x;
        p[VDIT_P_WALL_W] = (float)sc->wall_w;
    }
    p[VDIT_P_G] = (float)sc->g;
}

/* "2.5", or "0.35" below 1 so slow balls do not all read 0.x */
static void speed_str(char *buf, size_t cap, double v)
{
    v = fabs(v);
    snprintf(buf, cap, v < 1 ? "%.2f" : "%.1f", v);
}

static const char *where(double x)
{
    return x < VDIT_WORLD / 3 ? "the left" : x < 2 * VDIT_WORLD / 3 ? "the middle" : "the right";
}

int vdit_scene_caption_short(const vdit_scene *sc, char *buf, size_t cap)
{
    static const char *const what[VDIT_NSCENARIOS] = {
        "a red ball glides right",           "a red ball is thrown right and falls",
        "a red ball hits a blue ball head-on", "a red ball falls and bounces on the floor",
        "a red ball passes behind a grey wall", "a red ball bounces around a closed box"};
    if (sc->scenario == VDIT_SC_UNIFORM && fabs(sc->vx[0]) < 0.005) return snprintf(buf, cap, "a red ball rests");
    return snprintf(buf, cap, "%s", sc->scenario >= 0 && sc->scenario < VDIT_NSCENARIOS ? what[sc->scenario] : "?");
}

static int caption_body(const vdit_scene *sc, const float *st, int T, char *buf, size_t cap);

int vdit_scene_caption(const vdit_scene *sc, const float *st, int T, char *buf, size_t cap)
{
    /* the detailed caption: what happens, then where the red ball starts */
    int n = caption_body(sc, st, T, buf, cap);
    if (n < 0 || (size_t)n >= cap) return n;
    return n + snprintf(buf + n, cap - (size_t)n, ", starting at x %.1f y %.1f", sc->x[0], sc->y[0]);
}

static int caption_body(const vdit_scene *sc, const float *st, int T, char *buf, size_t cap)
{
    char v1[32], v2[32], after[96] = "";
    speed_str(v1, sizeof v1, sc->vx[0]);
    speed_str(v2, sizeof v2, sc->nballs > 1 ? sc->vx[1] : 0);
    int still = fabs(sc->vx[0]) < 0.005;
#define S(t, b, k) st[((size_t)(t)*2 + (b)) * VDIT_NSTATE + (k)]
    switch (sc->scenario) {
    case VDIT_SC_UNIFORM:
        if (still) return snprintf(buf, cap, "a red ball of radius %.1f rests without gravity", sc->r[0]);
        return snprintf(buf, cap, "a red ball of radius %.1f glides right at %s units/s without gravity", sc->r[0], v1);
    case VDIT_SC_PARABOLA:
        return snprintf(buf, cap, "a red ball of radius %.1f falls from %s, thrown right at %s units/s", sc->r[0],
                        where(sc->x[0]), v1);
    case VDIT_SC_COLLISION:
        if (st && T > 0) {
            double u = S(T - 1, 0, VDIT_S_VX);
            snprintf(after, sizeof after, ", then the red ball %s",
                     u < -0.05 ? "bounces back" : u > 0.05 ? "keeps moving right" : "stops");
        }
        return snprintf(buf, cap,
                        "a red ball of radius %.1f moving right at %s units/s hits a blue ball of radius %.1f "
                        "moving left at %s units/s head-on%s",
                        sc->r[0], v1, sc->r[1], v2, after);
    case VDIT_SC_BOUNCE: {
        const char *times = "";
        if (st && T > 1) {
            int n = 0; /* bounces: the vertical velocity turns from down to up */
            for (int t = 1; t < T; t++) n += S(t - 1, 0, VDIT_S_VY) < 0 && S(t, 0, VDIT_S_VY) > 0;
            times = n <= 1 ? " once" : n == 2 ? " twice" : " again and again";
        }
        return snprintf(buf, cap,
                        "a red ball of radius %.1f thrown right at %s units/s falls and bounces on the floor%s "
                        "with restitution %.2f",
                        sc->r[0], v1, times, sc->e);
    }
    case VDIT_SC_OCCLUSION: {
        const char *verb = "passes behind";
        int narrow = sc->wall_w < 2 * sc->r[0]; /* never hides the whole ball */
        if (st && T > 0) {
            double left = sc->wall_x - sc->wall_w / 2, right = sc->wall_x + sc->wall_w / 2;
            int hidden = 0, out = 0;
            for (int t = 0; t < T; t++) {
                double x = S(t, 0, VDIT_S_X), r = S(t, 0, VDIT_S_R);
                hidden |= x - r >= left && x + r <= right;
                out |= x - r >= right;
            }
            verb = out ? "passes behind" : hidden ? "disappears behind" : "moves partly behind";
        }
        return snprintf(buf, cap, "a red ball of radius %.1f moves right at %s units/s and %s a %sgrey wall %.1f units wide",
                        sc->r[0], v1, verb, narrow ? "narrow " : "", sc->wall_w);
    }
    case VDIT_SC_BOX: {
        static const char *const heading[8] = {"right", "up and right", "up", "up and left",
                                               "left", "down and left", "down", "down and right"};
        double a = atan2(sc->vy[0], sc->vx[0]);
        int k = ((int)lround(a / (M_PI / 4)) % 8 + 8) % 8;
        speed_str(v1, sizeof v1, hypot(sc->vx[0], sc->vy[0]));
        return snprintf(buf, cap, "a red ball of radius %.1f bounces around a closed box at %s units/s, setting off %s",
                        sc->r[0], v1, heading[k]);
    }
    }
#undef S
    return snprintf(buf, cap, "?");
}
