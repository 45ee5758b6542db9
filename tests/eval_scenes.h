/* eval_scenes.h - synthetic benchmark videos for the eval tests and bench:
 * closed-form trajectories of the six scenarios (benchmark.md), drawn by
 * the dataset's renderer. Exact, controllable truths (and corruptions of
 * them) to check the metrics against; the simulator is not needed here. */
#ifndef VDIT_EVAL_SCENES_H
#define VDIT_EVAL_SCENES_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "eval.h"

typedef struct {
    int scenario, split;
    double x0, y0;      /* ball 1 start */
    double v1, r1;      /* ball 1 speed (signed, +x right), radius */
    double x2, v2, r2;  /* collision: ball 2 start, speed (signed), radius */
    double g;           /* gravity (parabola, bounce), e.g. -2.5 */
    double e;           /* bounce restitution */
    double wall_x, wall_w; /* occlusion wall */
    double heading;     /* box: direction of motion, radians from +x (v1 is the speed) */
} scene_spec;

/* box: a coordinate moving at v from p0 between walls at lo and hi, folded
 * back at each (elastic reflection); *vel gets its velocity */
static inline double scene_fold(double p0, double v, double tau, double lo, double hi, double *vel)
{
    double L = hi - lo, u = fmod(p0 - lo + v * tau, 2 * L);
    if (u < 0) u += 2 * L;
    *vel = u <= L ? v : -v;
    return u <= L ? lo + u : lo + 2 * L - u;
}

#define SCENE_FLOOR VDIT_FLOOR_Y /* bounce: the floor's top, world units */

/* states[T][2][5], params[8], *contact from the closed form (a 1 ms
 * integration for bounce) */
static inline void scene_states(const scene_spec *sp, int T, float *states, float *params, int *contact)
{
    for (int k = 0; k < T * 10; k++) states[k] = NAN;
    for (int k = 0; k < 8; k++) params[k] = NAN;
    params[EVAL_P_V1] = (float)sp->v1;
    params[EVAL_P_R1] = (float)sp->r1;
    *contact = -1;
    double m1 = sp->r1 * sp->r1, m2 = sp->r2 * sp->r2;
    double u1 = sp->v1, u2 = sp->v2;
    double w1 = ((m1 - m2) * u1 + 2 * m2 * u2) / (m1 + m2), w2 = ((m2 - m1) * u2 + 2 * m1 * u1) / (m1 + m2);
    double tc = (sp->x2 - sp->x0 - sp->r1 - sp->r2) / (u1 - u2); /* collision time */
    double by = sp->y0, bvy = 0.0, bt = 0.0;                      /* bounce integrator */
    int bounced = 0;
    for (int t = 0; t < T; t++) {
        double tau = EVAL_FRAME_DT * t;
        float *s = states + (size_t)t * 10;
        s[4] = (float)sp->r1;
        switch (sp->scenario) {
        case EVAL_UNIFORM:
        case EVAL_OCCLUSION:
            s[0] = (float)(sp->x0 + sp->v1 * tau), s[1] = (float)sp->y0, s[2] = (float)sp->v1, s[3] = 0;
            break;
        case EVAL_PARABOLA:
            s[0] = (float)(sp->x0 + sp->v1 * tau), s[1] = (float)(sp->y0 + 0.5 * sp->g * tau * tau);
            s[2] = (float)sp->v1, s[3] = (float)(sp->g * tau);
            break;
        case EVAL_COLLISION: {
            double a = tau <= tc ? sp->x0 + u1 * tau : sp->x0 + u1 * tc + w1 * (tau - tc);
            double b = tau <= tc ? sp->x2 + u2 * tau : sp->x2 + u2 * tc + w2 * (tau - tc);
            s[0] = (float)a, s[1] = (float)sp->y0, s[2] = (float)(tau <= tc ? u1 : w1), s[3] = 0;
            s[5] = (float)b, s[6] = (float)sp->y0, s[7] = (float)(tau <= tc ? u2 : w2), s[8] = 0, s[9] = (float)sp->r2;
            if (*contact < 0 && tau >= tc) *contact = t;
            break;
        }
        case EVAL_BOX: {
            double vx, vy, cx = sp->v1 * cos(sp->heading), cy = sp->v1 * sin(sp->heading);
            s[0] = (float)scene_fold(sp->x0, cx, tau, sp->r1, EVAL_WORLD - sp->r1, &vx);
            s[1] = (float)scene_fold(sp->y0, cy, tau, sp->r1, EVAL_WORLD - sp->r1, &vy);
            s[2] = (float)vx, s[3] = (float)vy;
            break;
        }
        case EVAL_BOUNCE:
            while (bt < tau - 1e-9) {
                bvy += sp->g * 0.001;
                by += bvy * 0.001;
                if (by - sp->r1 < SCENE_FLOOR && bvy < 0) {
                    by = SCENE_FLOOR + sp->r1 + (SCENE_FLOOR + sp->r1 - by);
                    bvy = -sp->e * bvy;
                    bounced = 1;
                }
                bt += 0.001;
            }
            if (bounced && *contact < 0) *contact = t;
            s[0] = (float)(sp->x0 + sp->v1 * tau), s[1] = (float)by, s[2] = (float)sp->v1, s[3] = (float)bvy;
            break;
        }
    }
    if (sp->scenario == EVAL_COLLISION) params[EVAL_P_V2] = (float)sp->v2, params[EVAL_P_R2] = (float)sp->r2;
    if (sp->scenario == EVAL_PARABOLA || sp->scenario == EVAL_BOUNCE) params[EVAL_P_G] = (float)sp->g;
    if (sp->scenario == EVAL_BOUNCE) params[EVAL_P_E] = (float)sp->e;
    if (sp->scenario == EVAL_OCCLUSION) params[EVAL_P_WALL_X] = (float)sp->wall_x, params[EVAL_P_WALL_W] = (float)sp->wall_w;
}

/* the dataset's renderer: vdit_render_video with the scene's floor and wall */
static inline void scene_render(const scene_spec *sp, const float *states, int T, int S, uint8_t *video)
{
    vdit_scene sc;
    memset(&sc, 0, sizeof sc);
    sc.scenario = sp->scenario;
    sc.split = sp->split;
    sc.nballs = sp->scenario == EVAL_COLLISION ? 2 : 1;
    sc.e = sp->scenario == EVAL_BOUNCE ? sp->e : 1.0;
    sc.floor = sp->scenario == EVAL_BOUNCE;
    if (sp->scenario == EVAL_OCCLUSION) sc.wall_x = sp->wall_x, sc.wall_w = sp->wall_w;
    vdit_render_video(video, T, S, &sc, states);
}

/* a default spec of each scenario, varied by u in [0,1) */
static inline scene_spec scene_default(int scenario, double u)
{
    scene_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.scenario = scenario;
    sp.x0 = 1.5 + u, sp.y0 = 5.0, sp.v1 = 1.5 + 1.5 * u, sp.r1 = 0.8 + 0.4 * u;
    sp.g = -2.5;
    switch (scenario) {
    case EVAL_PARABOLA: sp.y0 = 8.5; break;
    case EVAL_COLLISION:
        sp.x0 = 1.5, sp.x2 = 8.5, sp.v2 = -(1.0 + 2.0 * u), sp.r2 = 0.6 + 0.6 * u, sp.r1 = 0.9;
        sp.v1 = 1.5 + u;
        break;
    case EVAL_BOUNCE: sp.y0 = 7.0, sp.e = 0.6 + 0.3 * u, sp.v1 = 1.0 + u, sp.g = -9.8; break; /* quick bounces */
    case EVAL_OCCLUSION: sp.x0 = 1.2, sp.wall_x = 5.0, sp.wall_w = 1.0 + u; break;
    case EVAL_BOX: sp.x0 = 2.0 + 3.0 * u, sp.heading = 0.6 + u; break; /* off a wall or two in 32 frames */
    }
    return sp;
}

#endif
