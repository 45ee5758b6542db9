/* render.c - anti-aliased frames of a scene, at any square size.
 *
 * World (x, y), y up, in [0,10]^2 maps to pixel coordinates (u, w) =
 * (x, 10 - y) * S / 10, so row 0 is the top of the world; pixel (i, j)
 * covers u in [j, j+1], w in [i, i+1]. Each object is painted over what is
 * there with its coverage alpha of the pixel (painter's order: red ball,
 * blue ball, then the grey floor and wall, which stand in front):
 *   dst = round(dst * (1 - alpha) + colour * alpha).
 * A disc's coverage is exact along each of 16 sub-rows of the pixel (the
 * chord's overlap with the pixel's width), so the error is in the vertical
 * direction only and at most 1/32 of a pixel row's share; a rectangle's
 * coverage is exact. Pixels wholly inside an object get exactly its colour.
 *
 * A ball's coverage counts only the part of it not behind the wall or the
 * floor (the chord minus the wall's columns; sub-rows inside the floor
 * skipped). Blending the ball's whole coverage and then the wall's over it
 * would let a ball wholly behind the wall tint the pixels the wall's edge
 * crosses (the "conflation" artifact of coverage compositing), so a hidden
 * ball would still show red pixels.
 */
#include "datasets.h"

#include <math.h>
#include <string.h>

#define SUBROWS 16

static const uint8_t RED[3] = {255, 0, 0}, BLUE[3] = {0, 0, 255}, GREY[3] = {128, 128, 128};

static void blend(uint8_t *px, const uint8_t *col, double a)
{
    if (a >= 1.0) {
        memcpy(px, col, 3);
        return;
    }
    for (int c = 0; c < 3; c++) px[c] = (uint8_t)(px[c] * (1.0 - a) + col[c] * a + 0.5);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* A disc of radius rp pixels centred at (cu, cw) pixels, except where it
 * is behind the columns [hu0, hu1] (a wall; empty when hu1 <= hu0) or the
 * rows below hw (the floor; S or more for none). */
static void draw_disc(uint8_t *img, int S, double cu, double cw, double rp, const uint8_t *col, double hu0,
                      double hu1, double hw)
{
    if (!(rp > 0) || cu + rp <= 0 || cu - rp >= S || cw + rp <= 0 || cw - rp >= S) return;
    int i0 = clampi((int)floor(cw - rp), 0, S - 1), i1 = clampi((int)floor(cw + rp), 0, S - 1);
    int j0 = clampi((int)floor(cu - rp), 0, S - 1), j1 = clampi((int)floor(cu + rp), 0, S - 1);
    double half[SUBROWS];
    for (int i = i0; i <= i1; i++) {
        for (int s = 0; s < SUBROWS; s++) {
            double w = i + (s + 0.5) / SUBROWS, d = w - cw, h2 = rp * rp - d * d;
            half[s] = h2 > 0 && w < hw ? sqrt(h2) : -1.0;
        }
        for (int j = j0; j <= j1; j++) {
            double cov = 0;
            for (int s = 0; s < SUBROWS; s++) {
                if (half[s] < 0) continue;
                double lo = cu - half[s] > j ? cu - half[s] : j;
                double hi = cu + half[s] < j + 1 ? cu + half[s] : j + 1;
                if (hi > lo) {
                    cov += hi - lo;
                    double a = lo > hu0 ? lo : hu0, b = hi < hu1 ? hi : hu1;
                    if (b > a) cov -= b - a; /* behind the wall */
                }
            }
            if (cov > 0) blend(img + ((size_t)i * S + j) * 3, col, cov / SUBROWS);
        }
    }
}

/* The rectangle [u0,u1] x [w0,w1] in pixels. */
static void draw_rect(uint8_t *img, int S, double u0, double u1, double w0, double w1, const uint8_t *col)
{
    if (u1 <= 0 || u0 >= S || w1 <= 0 || w0 >= S || u1 <= u0 || w1 <= w0) return;
    int i0 = clampi((int)floor(w0), 0, S - 1), i1 = clampi((int)ceil(w1) - 1, 0, S - 1);
    int j0 = clampi((int)floor(u0), 0, S - 1), j1 = clampi((int)ceil(u1) - 1, 0, S - 1);
    for (int i = i0; i <= i1; i++) {
        double ch = (w1 < i + 1 ? w1 : i + 1) - (w0 > i ? w0 : i);
        if (ch <= 0) continue;
        for (int j = j0; j <= j1; j++) {
            double cw = (u1 < j + 1 ? u1 : j + 1) - (u0 > j ? u0 : j);
            if (cw > 0) blend(img + ((size_t)i * S + j) * 3, col, ch * cw);
        }
    }
}

void vdit_render_frame(uint8_t *rgb, int S, const vdit_scene *sc, const float *state)
{
    memset(rgb, 255, (size_t)S * S * 3);
    double k = S / VDIT_WORLD; /* pixels per world unit */
    double hu0 = 0, hu1 = 0, hw = 2.0 * S; /* what hides the balls */
    if (sc->wall_w > 0) hu0 = (sc->wall_x - sc->wall_w / 2) * k, hu1 = (sc->wall_x + sc->wall_w / 2) * k;
    if (sc->floor) hw = (VDIT_WORLD - VDIT_FLOOR_Y) * k;
    for (int b = 0; b < sc->nballs && b < 2; b++) {
        const float *s = state + b * VDIT_NSTATE;
        if (!isfinite(s[VDIT_S_X]) || !isfinite(s[VDIT_S_Y])) continue;
        draw_disc(rgb, S, s[VDIT_S_X] * k, (VDIT_WORLD - s[VDIT_S_Y]) * k, s[VDIT_S_R] * k, b == 0 ? RED : BLUE, hu0,
                  hu1, hw);
    }
    if (sc->floor) draw_rect(rgb, S, 0, S, (VDIT_WORLD - VDIT_FLOOR_Y) * k, S, GREY);
    if (sc->wall_w > 0)
        draw_rect(rgb, S, (sc->wall_x - sc->wall_w / 2) * k, (sc->wall_x + sc->wall_w / 2) * k, 0, S, GREY);
}

void vdit_render_video(uint8_t *frames, int T, int S, const vdit_scene *sc, const float *states)
{
    for (int t = 0; t < T; t++)
        vdit_render_frame(frames + (size_t)t * S * S * 3, S, sc, states + (size_t)t * 2 * VDIT_NSTATE);
}
