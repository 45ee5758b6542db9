/* progress.c - a progress bar with rate and ETA on stderr. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"
#include "vdit.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) { return vdit_seconds(); }

void progress_start(progress *p, const char *label, long total)
{
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->start = p->last_print = progress_now();
    p->tty = isatty(2);
}

static void format_time(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e7) s = 0;
    int h = (int)(s / 3600), m = (int)(s / 60) % 60, sec = (int)s % 60;
    if (h)
        snprintf(buf, cap, "%dh%02dm", h, m);
    else
        snprintf(buf, cap, "%dm%02ds", m, sec);
}

static void draw(progress *p, long done, const char *extra, int final)
{
    double now = progress_now(), el = now - p->start, rate = el > 0 ? done / el : 0;
    char eta[32], elapsed[32], bar[21];
    format_time(eta, sizeof eta, rate > 0 ? (p->total - done) / rate : 0);
    format_time(elapsed, sizeof elapsed, el);
    int fill = (int)(20.0 * done / p->total);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "%s%s [%s] %ld/%ld %.2f/s %s %s%s%s%s", p->tty ? "\r" : "", p->label, bar, done, p->total, rate,
            final ? "in" : "ETA", final ? elapsed : eta, extra ? "  " : "", extra ? extra : "",
            p->tty && !final ? "\033[K" : "\n");
    fflush(stderr);
    p->last_print = now;
}

void progress_update(progress *p, long done, const char *extra)
{
    double now = progress_now();
    if (now - p->last_print < (p->tty ? 0.2 : 10.0) && done < p->total) return;
    draw(p, done, extra, 0);
}

void progress_end(progress *p, const char *extra)
{
    if (p->tty) fprintf(stderr, "\r\033[K");
    draw(p, p->total, extra, 1);
}

void progress_step(void *ctx, int done, int total)
{
    progress *p = ctx;
    if (done == 0)
        progress_start(p, p->label, total);
    else
        progress_update(p, done, NULL);
}
