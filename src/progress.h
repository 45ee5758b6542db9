/* progress.h - a progress bar on stderr for long runs: redrawn in place on
 * a terminal, a line every few seconds otherwise (logs stay readable). */
#ifndef VDIT_PROGRESS_H
#define VDIT_PROGRESS_H

typedef struct {
    const char *label;
    long total;
    double start, last_print;
    int tty;
} progress;

void progress_start(progress *p, const char *label, long total);
/* done of total finished; extra (may be NULL) is appended, e.g. "loss 0.123". */
void progress_update(progress *p, long done, const char *extra);
void progress_end(progress *p, const char *extra);
double progress_now(void); /* seconds, monotonic */
/* A library's progress callback (eval_progress_fn, vdit_pipeline's) on a
 * progress p whose label is set and total 0: (0, total) starts the bar,
 * (done, total) moves it. progress_end when p->total is set. */
void progress_step(void *p, int done, int total);

#endif
