/* simulate.c - one scene through Chipmunk2D.
 *
 * One cpSpace per video (so videos can be simulated on any thread in any
 * order): balls are circles of mass r^2 (density 1/pi, as phyworld's Box2D
 * density 1 up to a constant that no motion depends on), no friction,
 * elasticity 1 (perfectly elastic). Chipmunk multiplies the elasticities of
 * the two shapes in contact, so the bounce scenario's restitution e is the
 * ball's elasticity against a floor of elasticity 1. No damping, no
 * sleeping. Chipmunk's step integrates positions with the velocity of the
 * previous step, then velocities (semi-implicit Euler), so under constant
 * gravity the frame-to-frame velocity difference is exactly 10 g dt.
 *
 * The collision slop (overlap Chipmunk tolerates before pushing shapes
 * apart) is cut from its default 0.1 to 1e-3 world units, so a ball resting
 * on or bouncing off the floor never visibly sinks into it. Pushing apart
 * works on Chipmunk's separate bias velocity, so it never changes the
 * velocities we record.
 */
#define _POSIX_C_SOURCE 200809L

#include "datasets.h"

#include <chipmunk/chipmunk.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Debian builds Chipmunk with its debug mode on, and the first cpSpaceNew
 * of a process prints a two-line banner to stdout (which may be a pipe of
 * results). It is printed once, so the first space is made here, once,
 * with stdout pointed at /dev/null for that moment. */
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void quiet_init(void)
{
    fflush(stdout);
    int saved = dup(1), null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) dup2(null, 1);
    cpSpaceFree(cpSpaceNew());
    fflush(stdout);
    if (saved >= 0 && null >= 0) dup2(saved, 1);
    if (saved >= 0) close(saved);
    if (null >= 0) close(null);
}

void vdit_physics_init(void) { pthread_once(&quiet_once, quiet_init); }

static cpBool on_begin(cpArbiter *arb, cpSpace *space, cpDataPointer data)
{
    (void)arb;
    (void)space;
    int *touched = data;
    *touched = 1;
    return cpTrue;
}

static void record(float *row /* [2][5] */, cpBody *const *body, const vdit_scene *sc)
{
    for (int b = 0; b < 2; b++) {
        float *s = row + b * VDIT_NSTATE;
        if (b >= sc->nballs) {
            for (int k = 0; k < VDIT_NSTATE; k++) s[k] = NAN;
            continue;
        }
        cpVect p = cpBodyGetPosition(body[b]), v = cpBodyGetVelocity(body[b]);
        s[VDIT_S_X] = (float)p.x;
        s[VDIT_S_Y] = (float)p.y;
        s[VDIT_S_VX] = (float)v.x;
        s[VDIT_S_VY] = (float)v.y;
        s[VDIT_S_R] = (float)sc->r[b];
    }
}

int vdit_simulate(const vdit_scene *sc, int T, float *states, int *contact, vdit_err *err)
{
    if (T < 1 || T > VDIT_MAX_FRAMES) return vdit_seterr(err, "simulate: %d frames outside 1..%d", T, VDIT_MAX_FRAMES);
    if (sc->nballs < 1 || sc->nballs > 2) return vdit_seterr(err, "simulate: %d balls (1 or 2)", sc->nballs);
    for (int b = 0; b < sc->nballs; b++) {
        if (!(sc->r[b] > 0) || !isfinite(sc->x[b]) || !isfinite(sc->y[b]) || !isfinite(sc->vx[b]) ||
            !isfinite(sc->vy[b]))
            return vdit_seterr(err, "simulate: ball %d has a bad radius or initial state", b);
    }
    vdit_physics_init();
    cpSpace *space = cpSpaceNew();
    if (!space) return vdit_seterr(err, "simulate: out of memory");
    cpSpaceSetGravity(space, cpv(0, sc->g));
    cpSpaceSetIterations(space, 20);
    cpSpaceSetCollisionSlop(space, 1e-3);
    int touched = 0;
    cpCollisionHandler *h = cpSpaceAddDefaultCollisionHandler(space);
    h->beginFunc = on_begin;
    h->userData = &touched;

    cpBody *body[2] = {NULL, NULL};
    cpShape *shape[7] = {NULL};
    for (int b = 0; b < sc->nballs; b++) {
        cpFloat m = sc->r[b] * sc->r[b];
        body[b] = cpSpaceAddBody(space, cpBodyNew(m, cpMomentForCircle(m, 0, sc->r[b], cpvzero)));
        cpBodySetPosition(body[b], cpv(sc->x[b], sc->y[b]));
        cpBodySetVelocity(body[b], cpv(sc->vx[b], sc->vy[b]));
        shape[b] = cpSpaceAddShape(space, cpCircleShapeNew(body[b], sc->r[b], cpvzero));
        cpShapeSetFriction(shape[b], 0);
        cpShapeSetElasticity(shape[b], b == 0 && sc->floor ? sc->e : 1.0);
    }
    if (sc->floor) {
        /* a slab far wider than the world, so nothing rolls off it */
        shape[2] = cpSpaceAddShape(space, cpBoxShapeNew2(cpSpaceGetStaticBody(space),
                                                         cpBBNew(-1000, -10, 1000, VDIT_FLOOR_Y), 0));
        cpShapeSetFriction(shape[2], 0);
        cpShapeSetElasticity(shape[2], 1.0);
    }
    if (sc->box) {
        /* four slabs just outside the view, so the ball's disc never leaves it */
        static const double slab[4][4] = {{-10, -10, 0, 20}, {VDIT_WORLD, -10, VDIT_WORLD + 10, 20},
                                          {-10, -10, 20, 0}, {-10, VDIT_WORLD, 20, VDIT_WORLD + 10}};
        for (int k = 0; k < 4; k++) {
            shape[3 + k] = cpSpaceAddShape(space, cpBoxShapeNew2(cpSpaceGetStaticBody(space),
                                                                 cpBBNew(slab[k][0], slab[k][1], slab[k][2], slab[k][3]), 0));
            cpShapeSetFriction(shape[3 + k], 0);
            cpShapeSetElasticity(shape[3 + k], 1.0);
        }
    }

    int first = -1;
    record(states, body, sc);
    for (int t = 1; t < T; t++) {
        for (int k = 0; k < VDIT_STEPS_PER_FRAME; k++) {
            cpSpaceStep(space, VDIT_PHYS_DT);
            if (touched && first < 0) first = t; /* contact during the steps leading to frame t */
        }
        record(states + (size_t)t * 2 * VDIT_NSTATE, body, sc);
    }
    if (contact) *contact = first; /* box: the first touch of a wall */

    for (int i = 0; i < 7; i++)
        if (shape[i]) {
            cpSpaceRemoveShape(space, shape[i]);
            cpShapeFree(shape[i]);
        }
    for (int b = 0; b < 2; b++)
        if (body[b]) {
            cpSpaceRemoveBody(space, body[b]);
            cpBodyFree(body[b]);
        }
    cpSpaceFree(space);
    return 0;
}

int vdit_frames_in_view(const float *states, int T, int b, double tol)
{
    int n = 0;
    for (int t = 0; t < T; t++) {
        const float *s = states + ((size_t)t * 2 + b) * VDIT_NSTATE;
        double x = s[VDIT_S_X], y = s[VDIT_S_Y], r = s[VDIT_S_R];
        n += x - r >= -tol && x + r <= VDIT_WORLD + tol && y - r >= -tol && y + r <= VDIT_WORLD + tol;
    }
    return n;
}

int vdit_max_frames_in_view(double v, double r, int T)
{
    v = fabs(v);
    double room = VDIT_WORLD - 2 * r;
    if (room < 0) return 0;
    if (v * VDIT_FRAME_DT * (T - 1) <= room) return T;
    int n = 1 + (int)floor(room / (v * VDIT_FRAME_DT) + 1e-9);
    return n < T ? n : T;
}
