/* signals.c - what a stopped command leaves behind: nothing.
 *
 * Every file the toolkit writes goes to a temporary name first and is renamed
 * into place (io.c, npz.c, datasets/dataset.c). An error removes the
 * temporary; this file covers the two ways a command ends without reaching
 * its error path:
 *
 * - SIGINT, SIGTERM, SIGHUP: the writers register the temporary names they
 *   hold (vdit_temp_add) and drop them once renamed (vdit_temp_drop); the
 *   handler installed by vdit_signals_install removes what is registered and
 *   dies of the same signal, so the shell sees 128+signal (130, 143, 129).
 * - SIGXFSZ (`ulimit -f`): ignored, so a write past the limit fails with
 *   EFBIG and the writer reports "file too large" and cleans up as for any
 *   other write error (vdit_strerror words it).
 *
 * Async-signal safety: the handler may interrupt a writer anywhere, even in
 * malloc or inside vdit_temp_add itself. So the registry is a fixed table
 * (no allocation), each slot's state is a lock-free atomic int that says
 * FILE or DIR only after its path is fully written and FREE before the path
 * may change, and the handler calls only unlink, rmdir, write, sigaction,
 * pthread_sigmask and raise, all async-signal-safe in POSIX. (The flag-and-
 * poll alternative would leave a long loop, a simulation or an NPZ member
 * write, running for seconds after Ctrl-C.) A folder is removed
 * with rmdir, never by listing it (opendir is not safe): its writer
 * registers the names it holds inside the folder, and the handler unlinks
 * every file before it removes any folder. A path longer than the slot, or a
 * full table, is simply not registered: the temporary then survives a signal
 * as it did before, and a later run's cleanup (train.c) or the user removes it.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "vdit.h"

#define TEMPS_MAX 32
#define TEMP_PATH_MAX 4096

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_FILE, SLOT_DIR };

static atomic_int slot_state[TEMPS_MAX];
static char slot_path[TEMPS_MAX][TEMP_PATH_MAX];

int vdit_temp_add(const char *path, int is_dir)
{
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= TEMP_PATH_MAX) return -1;
    for (int i = 0; i < TEMPS_MAX; i++) {
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&slot_state[i], &expect, SLOT_CLAIMED)) continue;
        memcpy(slot_path[i], path, n + 1);
        atomic_store(&slot_state[i], is_dir ? SLOT_DIR : SLOT_FILE);
        return i;
    }
    return -1;
}

void vdit_temp_drop(int slot)
{
    if (slot >= 0 && slot < TEMPS_MAX) atomic_store(&slot_state[slot], SLOT_FREE);
}

void vdit_temps_remove(void)
{
    /* files first, so the folders that held them are empty for rmdir */
    for (int i = 0; i < TEMPS_MAX; i++)
        if (atomic_load(&slot_state[i]) == SLOT_FILE) unlink(slot_path[i]);
    for (int i = TEMPS_MAX - 1; i >= 0; i--)
        if (atomic_load(&slot_state[i]) == SLOT_DIR) rmdir(slot_path[i]);
}

static void write_str(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void on_stop(int sig)
{
    int saved = errno;
    vdit_temps_remove();
    write_str(sig == SIGINT ? "vdit: interrupted (SIGINT); temporary files removed\n"
              : sig == SIGTERM ? "vdit: terminated (SIGTERM); temporary files removed\n"
                               : "vdit: hung up (SIGHUP); temporary files removed\n");
    /* die of the same signal, as the caller expects (128+sig in a shell) */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    errno = saved;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOP (int)(sizeof stop_signals / sizeof stop_signals[0])

int vdit_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGXFSZ, &sa, NULL) != 0) return -1;
    sa.sa_handler = on_stop;
    /* one cleanup at a time: the other stop signals wait while it runs */
    for (int k = 0; k < NSTOP; k++) sigaddset(&sa.sa_mask, stop_signals[k]);
    for (int k = 0; k < NSTOP; k++) {
        struct sigaction old;
        /* a signal the caller ignores (nohup, `trap '' INT`) stays ignored */
        if (sigaction(stop_signals[k], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        if (sigaction(stop_signals[k], &sa, NULL) != 0) return -1;
    }
    return 0;
}

static void mask_stop_signals(int how)
{
    sigset_t s;
    sigemptyset(&s);
    for (int k = 0; k < NSTOP; k++) sigaddset(&s, stop_signals[k]);
    pthread_sigmask(how, &s, NULL);
}

void vdit_signals_hold(void)
{
    mask_stop_signals(SIG_BLOCK);
}

void vdit_signals_release(void)
{
    mask_stop_signals(SIG_UNBLOCK);
}

const char *vdit_strerror(int e)
{
    if (e == EFBIG) return "file too large (over the file size limit, `ulimit -f`)";
    return strerror(e);
}
