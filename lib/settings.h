/* settings.h - an INI file read through a table of keys: each key names its
 * section, its type and where its value goes in a settings struct, so one
 * reader serves the DiT's training settings (train_settings.c) and the
 * VAE's (vae_settings.c), and every error names FILE:LINE, the key and what
 * was expected. Not part of the public API: libvdit's one public header is
 * vdit.h, which declares what is built on this (vdit_ini_resolve, the two
 * settings loaders). */
#ifndef VDIT_SETTINGS_H
#define VDIT_SETTINGS_H

#include <stddef.h>

#include "vdit.h"

typedef enum {
    SET_INT,    /* int in lo..hi */
    SET_INT3,   /* int[3] "a,b,c", each in lo..hi */
    SET_FLOAT,  /* float, finite, in lo..hi (any finite value when lo == hi) */
    SET_U64,    /* uint64_t, no sign */
    SET_BOOL,   /* int 0/1 from true|false|yes|no|1|0 */
    SET_CHOICE, /* int: the index of the value in choices[] */
    SET_CUSTOM, /* parse(): the table's own syntax */
} vdit__setting_kind;

typedef struct {
    const char *section, *name;
    vdit__setting_kind kind;
    size_t offset; /* of the value in the settings struct */
    const char *const *choices; /* SET_CHOICE: NULL-terminated */
    double lo, hi;
    /* SET_CUSTOM: stores `value` into `settings`, or returns -1 with what the
     * value must be in msg ("must be ..."), which follows "[section] name = 'value' " */
    int (*parse)(void *settings, const char *value, char *msg, size_t cap);
    /* SET_CUSTOM: the value as vdit__settings_to_ini writes it; NULL: the
     * setting at `offset` is the value's text, kept by parse() */
    void (*format)(const void *settings, char *out, size_t cap);
} vdit__setting_key;

/* Receives each key of an INI file, in file order (an indented line
 * continuing a key as inih reads it again under that key's name; a key
 * repeated in its section is refused before it gets here) with its line; returns 0, or -1 after writing why the key is
 * refused into msg. */
typedef int (*vdit__ini_key_fn)(void *user, const char *section, const char *name, const char *value, int line,
                                char *msg, size_t cap);

/* Reads the INI file at `path` with inih (comments: whole lines starting
 * with ; or #, and "; ..." after a blank), lines of any length, handing
 * each key to `key`. The first bad or refused line fails with
 * "PATH:LINE: ..." (or "PATH: why"); 0 when all went in. */
int vdit__ini_read(const char *path, vdit__ini_key_fn key, void *user, vdit_err *err);

/* Reads the INI file at `path` into `settings` (already holding the
 * defaults). Unknown sections or keys and bad values are refused with
 * "PATH:LINE: ..." for the first bad line. */
int vdit__settings_read(const char *path, const vdit__setting_key *keys, int nkeys, void *settings, vdit_err *err);

/* Every key with its value, section by section, after `header` (may be
 * ""): the resolved file a run keeps. malloc'ed; NULL when out of memory. */
char *vdit__settings_to_ini(const vdit__setting_key *keys, int nkeys, const void *settings, const char *header);

/* Formats a settings error into err (when not NULL) and returns -1. Unlike
 * vdit_seterr it keeps control bytes: the message quotes the file's line as
 * it is (one line of a file holds no newline), as vdit has always shown it. */
int vdit__settings_err(vdit_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
