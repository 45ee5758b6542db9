/* settings.h - a command's INI file read through a table of keys: each key
 * names its section, its type and where its value goes in the command's
 * settings struct, so one reader serves `vdit train` and `vdit vae train`
 * and every error names FILE:LINE, the key and what was expected. */
#ifndef VDIT_SETTINGS_H
#define VDIT_SETTINGS_H

#include <stddef.h>

typedef enum {
    SET_INT,    /* int in lo..hi */
    SET_INT3,   /* int[3] "a,b,c", each in lo..hi */
    SET_FLOAT,  /* float, finite, in lo..hi (any finite value when lo == hi) */
    SET_U64,    /* uint64_t, no sign */
    SET_BOOL,   /* int 0/1 from true|false|yes|no|1|0 */
    SET_CHOICE, /* int: the index of the value in choices[] */
    SET_CUSTOM, /* parse(): the command's own syntax */
} setting_kind;

typedef struct {
    const char *section, *name;
    setting_kind kind;
    size_t offset; /* of the value in the settings struct */
    const char *const *choices; /* SET_CHOICE: NULL-terminated */
    double lo, hi;
    /* SET_CUSTOM: stores `value` into `settings`, or returns -1 with what the
     * value must be in msg ("must be ..."), which follows "[section] name = 'value' " */
    int (*parse)(void *settings, const char *value, char *msg, size_t cap);
    /* SET_CUSTOM: the value as settings_to_ini writes it; NULL: the setting
     * at `offset` is the value's text, kept by parse() */
    void (*format)(const void *settings, char *out, size_t cap);
} setting_key;

/* Receives each key of an INI file, in file order (a repeated key again, an
 * indented line continuing a key as inih reads it again under that key's
 * name) with its line; returns 0, or -1 after writing why the key is
 * refused into msg. */
typedef int (*ini_key_fn)(void *user, const char *section, const char *name, const char *value, int line,
                          char *msg, size_t cap);

/* Reads the INI file at `path` with inih (comments: whole lines starting
 * with ; or #, and "; ..." after a blank), lines of any length, handing
 * each key to `key`. Prints "vdit: PATH:LINE: ..." for the first bad or
 * refused line (or "vdit: PATH: why") and returns -1; 0 when all went in. */
int ini_read(const char *path, ini_key_fn key, void *user);

/* One key of a resolved INI file. */
typedef struct {
    char *section, *name, *value;
    int line; /* of the value */
} ini_entry;

/* The keys of the INI file at `path` as settings_read reads them (ini_read):
 * a repeated key once, at its first place, with its last value; the keys of
 * a section together, sections in the order they first appear (a section
 * without keys is not listed). *entries is malloc'ed (ini_entries_free);
 * -1 after ini_read's message. */
int ini_resolve(const char *path, ini_entry **entries, int *n);
void ini_entries_free(ini_entry *entries, int n);

/* Reads the INI file at `path` into `settings` (already holding the
 * defaults). Unknown sections or keys and bad values are refused; prints
 * "vdit: PATH:LINE: ..." for the first bad line and returns -1. */
int settings_read(const char *path, const setting_key *keys, int nkeys, void *settings);

/* Every key with its value, section by section, after `header` (may be
 * ""): the resolved file a run keeps. malloc'ed; NULL when out of memory. */
char *settings_to_ini(const setting_key *keys, int nkeys, const void *settings, const char *header);

#endif
