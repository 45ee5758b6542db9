/* settings.c - INI files through a table of keys (settings.h), on inih, and
 * vdit_ini_resolve (vdit.h): an INI file as the settings readers read it. */
#define _POSIX_C_SOURCE 200809L
#include "settings.h"
#include "vdit.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line reader handed to inih: it counts lines, so an error names its own
 * line, and reads lines of any length. inih (Debian's build) takes at most
 * `num` - 1 bytes a line; a longer line is given to it cut after a non-blank
 * byte (so inih's trailing-blank strip keeps the value whole) and the rest
 * is kept in `tail`, joined to the value by on_line. A key too long for that
 * (an experiment's [sweep] line of many keys joined by &) reaches inih as
 * LONG_KEY with its value, and on_line gives it its own name back. */
#define LONG_KEY "vdit.long.key"
typedef struct {
    FILE *f;
    int line;          /* lines read so far: the line of the key being handled */
    char *raw;         /* the whole current line (getline's buffer) */
    size_t raw_cap;
    const char *head;  /* inih's copy of the line's head, NULL: the line was whole */
    size_t head_len;
    size_t tail_off;   /* where in raw the text after the head starts */
    char *long_key;    /* the name inih sees as LONG_KEY (this line's or the key it continues) */
    char *value;       /* the joined value of a long line */
    size_t value_cap;
    char *key_value;   /* the value of the last key so far, continuation lines appended */
    size_t key_value_cap;
    char *key_name;    /* the last key's whole name (inih repeats at most 49 bytes of it) */
    char *key_section; /* and its section */
    vdit__ini_key_fn key;
    void *user;
    int err_line;      /* the line of the first refused key (0: none) */
    char msg[1024];
    char **seen;       /* "section\nname" of each key read so far, a repeat is an error */
    int *seen_line;
    int nseen, seen_cap;
} line_reader;

/* A key given twice in one section is refused (issue 17: the last one used to
 * win silently), naming both lines; a continuation line (indented, which inih
 * hands over again under the key above) is not a new key. 0, or -1 with msg. */
static int note_key(line_reader *r, const char *section, const char *name)
{
    if (isspace((unsigned char)r->raw[0])) return 0;
    size_t sl = strlen(section), nl = strlen(name);
    for (int i = 0; i < r->nseen; i++)
        if (!strncmp(r->seen[i], section, sl) && r->seen[i][sl] == '\n' && !strcmp(r->seen[i] + sl + 1, name)) {
            snprintf(r->msg, sizeof r->msg, "duplicate key '%s' in section [%s] (first at line %d)", name, section,
                     r->seen_line[i]);
            return -1;
        }
    if (r->nseen == r->seen_cap) {
        int c = r->seen_cap ? 2 * r->seen_cap : 32;
        char **s = realloc(r->seen, (size_t)c * sizeof *s);
        if (s) r->seen = s;
        int *l = realloc(r->seen_line, (size_t)c * sizeof *l);
        if (l) r->seen_line = l;
        if (!s || !l) goto oom;
        r->seen_cap = c;
    }
    char *k = malloc(sl + nl + 2);
    if (!k) goto oom;
    memcpy(k, section, sl);
    k[sl] = '\n';
    memcpy(k + sl + 1, name, nl + 1);
    r->seen[r->nseen] = k;
    r->seen_line[r->nseen++] = r->line;
    return 0;
oom:
    snprintf(r->msg, sizeof r->msg, "out of memory");
    return -1;
}

static char *read_line(char *str, int num, void *stream)
{
    line_reader *r = stream;
    ssize_t n = getline(&r->raw, &r->raw_cap, r->f);
    if (n < 0) return NULL;
    r->line++;
    r->head = NULL;
    if (n < num) {
        memcpy(str, r->raw, (size_t)n + 1);
        return str;
    }
    size_t cut = (size_t)num - 1;
    /* a key line (not blank-led, a comment or a section) whose '=' (or ':',
     * inih's other delimiter) is past what inih can hold of a name */
    size_t eq = strcspn(r->raw, "=:");
    char c0 = r->raw[0];
    if (!isspace((unsigned char)c0) && c0 != ';' && c0 != '#' && c0 != '[' && r->raw[eq] && eq + 8 > cut &&
        strlen(LONG_KEY) + 16 < cut) {
        size_t k = eq;
        while (k && isspace((unsigned char)r->raw[k - 1])) k--;
        char *name = strndup(r->raw, k);
        if (!name) return NULL;
        free(r->long_key);
        r->long_key = name;
        size_t o = (size_t)snprintf(str, (size_t)num, "%s =", LONG_KEY), from = eq + 1, room = cut - o;
        while (isspace((unsigned char)r->raw[from]) && r->raw[from] != '\n') from++;
        size_t take = strlen(r->raw + from) < room ? strlen(r->raw + from) : room;
        while (take && isspace((unsigned char)r->raw[from + take - 1])) take--;
        str[o++] = ' ';
        memcpy(str + o, r->raw + from, take);
        str[o + take] = 0;
        r->head = str;
        r->head_len = o + take;
        r->tail_off = from + take;
        return str;
    }
    while (cut > 1 && isspace((unsigned char)r->raw[cut - 1])) cut--;
    memcpy(str, r->raw, cut);
    str[cut] = 0;
    r->head = str;
    r->head_len = cut;
    r->tail_off = cut;
    return str;
}

static int on_line(void *user, const char *section, const char *name, const char *value)
{
    line_reader *r = user;
    if (r->err_line) return 0; /* only the first error is reported */
    /* a long line: inih saw its head; the rest joins the value unless inih
     * cut the value short at a comment ("; ..." after a blank) */
    if (r->long_key && !strcmp(name, LONG_KEY)) name = r->long_key;
    if (r->head && value + strlen(value) == r->head + r->head_len) {
        const char *tail = r->raw + r->tail_off;
        size_t n = strlen(tail);
        if (!*value) /* the head ended at '=' */
            while (isspace((unsigned char)*tail)) tail++, n--;
        /* a comment as inih finds one: ';' after a blank (the head ends in a non-blank) */
        for (size_t i = 1; i < n; i++)
            if (tail[i] == ';' && isspace((unsigned char)tail[i - 1])) {
                n = i;
                break;
            }
        while (n && isspace((unsigned char)tail[n - 1])) n--;
        size_t v = strlen(value);
        if (v + n + 1 > r->value_cap) {
            char *p = realloc(r->value, v + n + 1);
            if (!p) {
                snprintf(r->msg, sizeof r->msg, "out of memory");
                r->err_line = r->line;
                return 0;
            }
            r->value = p;
            r->value_cap = v + n + 1;
        }
        memmove(r->value, value, v);
        memcpy(r->value + v, tail, n);
        r->value[v + n] = 0;
        value = r->value;
    }
    if (note_key(r, section, name)) {
        r->err_line = r->line;
        return 0;
    }
    /* a continuation line (indented) appends its text to the key's value
     * after a space, and the key is handed over again with the whole value */
    int continued = isspace((unsigned char)r->raw[0]) && r->key_name && !strcmp(section, r->key_section) &&
                    !strncmp(name, r->key_name, strlen(name));
    if (continued) {
        name = r->key_name;
    } else {
        char *n = strdup(name), *sec = strdup(section);
        if (!n || !sec) {
            free(n), free(sec);
            snprintf(r->msg, sizeof r->msg, "out of memory");
            r->err_line = r->line;
            return 0;
        }
        free(r->key_name), free(r->key_section);
        r->key_name = n, r->key_section = sec;
    }
    size_t have = continued && r->key_value ? strlen(r->key_value) : 0, v = strlen(value);
    if (have + v + 2 > r->key_value_cap) {
        char *p = realloc(r->key_value, have + v + 2);
        if (!p) {
            snprintf(r->msg, sizeof r->msg, "out of memory");
            r->err_line = r->line;
            return 0;
        }
        r->key_value = p;
        r->key_value_cap = have + v + 2;
    }
    if (have && v) r->key_value[have++] = ' ';
    memmove(r->key_value + have, value, v + 1);
    value = r->key_value;
    if (r->key(r->user, section, name, value, r->line, r->msg, sizeof r->msg) == 0) return 1;
    r->err_line = r->line;
    return 0;
}

int vdit__settings_err(vdit_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vdit__ini_read(const char *path, vdit__ini_key_fn key, void *user, vdit_err *err)
{
    line_reader r = {.key = key, .user = user};
    /* not blocking, and only a regular file: a directory or a FIFO given
     * as --config is one line, not the defaults or a hang */
    uint64_t size;
    if (vdit_open_regular(path, &r.f, &size, err) != 0) return -1;
    int line = ini_parse_stream(read_line, &r, on_line, &r);
    int read_error = ferror(r.f);
    fclose(r.f);
    free(r.raw);
    free(r.value);
    free(r.key_value);
    free(r.key_name);
    free(r.key_section);
    free(r.long_key);
    for (int i = 0; i < r.nseen; i++) free(r.seen[i]);
    free(r.seen);
    free(r.seen_line);
    if (read_error) return vdit__settings_err(err, "%s: read error", path);
    if (line) /* inih reports the first bad line: ours, or one it could not parse */
        return vdit__settings_err(err, "%s:%d: %s", path, line,
                                  line == r.err_line ? r.msg : "syntax error (expected [section] or key = value)");
    return 0;
}

/* Parses `value` for key k into dst; 0, or -1 with "must be ..." in msg. */
static int parse_value(const vdit__setting_key *k, char *base, const char *value, char *msg, size_t cap)
{
    void *dst = base + k->offset;
    char *end;
    errno = 0;
    switch (k->kind) {
    case SET_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->lo || v > k->hi) break;
        *(int *)dst = (int)v;
        return 0;
    }
    case SET_INT3: {
        int v3[3], ok = 1;
        const char *p = value;
        for (int j = 0; j < 3 && ok; j++) {
            long v = strtol(p, &end, 10);
            ok = !errno && end != p && v >= k->lo && v <= k->hi && (j < 2 ? *end == ',' : *end == 0);
            v3[j] = (int)v;
            p = end + 1;
        }
        if (!ok) {
            snprintf(msg, cap, "must be three comma-separated integers in %.0f..%.0f", k->lo, k->hi);
            return -1;
        }
        memcpy(dst, v3, sizeof v3);
        return 0;
    }
    case SET_FLOAT: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || (k->lo < k->hi && (v < k->lo || v > k->hi)))
            break;
        *(float *)dst = (float)v;
        return 0;
    }
    case SET_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-') break;
        *(uint64_t *)dst = v;
        return 0;
    }
    case SET_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) *(int *)dst = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) *(int *)dst = 0;
        else break;
        return 0;
    case SET_CHOICE:
        for (int j = 0; k->choices[j]; j++)
            if (!strcmp(value, k->choices[j])) {
                *(int *)dst = j;
                return 0;
            }
        break;
    case SET_CUSTOM:
        return k->parse(base, value, msg, cap);
    }
    /* what the value must be, by kind */
    switch (k->kind) {
    case SET_INT: snprintf(msg, cap, "must be an integer in %.0f..%.0f", k->lo, k->hi); break;
    case SET_FLOAT:
        if (k->lo < k->hi) snprintf(msg, cap, "must be a number in %g..%g", k->lo, k->hi);
        else snprintf(msg, cap, "must be a finite number");
        break;
    case SET_U64: snprintf(msg, cap, "must be a non-negative integer"); break;
    case SET_BOOL: snprintf(msg, cap, "must be true or false"); break;
    case SET_CHOICE: {
        size_t o = (size_t)snprintf(msg, cap, "must be one of ");
        for (int j = 0; k->choices[j] && o < cap; j++)
            o += (size_t)snprintf(msg + o, cap - o, "%s%s", j ? "|" : "", k->choices[j]);
        break;
    }
    default: snprintf(msg, cap, "is not a valid value"); break;
    }
    return -1;
}

typedef struct {
    const vdit__setting_key *keys;
    int nkeys;
    char *base;
} settings_target;

static int on_key(void *user, const char *section, const char *name, const char *value, int line, char *msg,
                  size_t cap)
{
    (void)line; /* vdit__ini_read puts it in the message */
    settings_target *t = user;
    for (int i = 0; i < t->nkeys; i++) {
        const vdit__setting_key *k = &t->keys[i];
        if (strcmp(section, k->section) || strcmp(name, k->name)) continue;
        char why[512];
        if (!parse_value(k, t->base, value, why, sizeof why)) return 0;
        snprintf(msg, cap, "[%s] %s = '%s' %s", section, name, value, why);
        return -1;
    }
    snprintf(msg, cap, "unknown key '%s' in section [%s]", name, section);
    return -1;
}

int vdit__settings_read(const char *path, const vdit__setting_key *keys, int nkeys, void *settings, vdit_err *err)
{
    settings_target t = {keys, nkeys, settings};
    return vdit__ini_read(path, on_key, &t, err);
}

char *vdit__settings_to_ini(const vdit__setting_key *keys, int nkeys, const void *settings, const char *header)
{
    char v[200];
    /* the most each line can take: "\n[section]\n", then "name = value\n" */
    size_t cap = strlen(header) + 1, o = 0;
    for (int i = 0; i < nkeys; i++) cap += strlen(keys[i].section) + 4 + strlen(keys[i].name) + 4 + sizeof v;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    const char *section = "";
    o += (size_t)snprintf(buf, cap, "%s", header);
    for (int i = 0; i < nkeys; i++) {
        const vdit__setting_key *k = &keys[i];
        const char *p = (const char *)settings + k->offset;
        if (strcmp(section, k->section)) o += (size_t)snprintf(buf + o, cap - o, "\n[%s]\n", section = k->section);
        switch (k->kind) {
        case SET_INT: snprintf(v, sizeof v, "%d", *(const int *)p); break;
        case SET_INT3: {
            const int *a = (const int *)p;
            snprintf(v, sizeof v, "%d,%d,%d", a[0], a[1], a[2]);
            break;
        }
        case SET_FLOAT: snprintf(v, sizeof v, "%.7g", *(const float *)p); break;
        case SET_U64: snprintf(v, sizeof v, "%llu", (unsigned long long)*(const uint64_t *)p); break;
        case SET_BOOL: snprintf(v, sizeof v, "%s", *(const int *)p ? "true" : "false"); break;
        case SET_CHOICE: snprintf(v, sizeof v, "%s", k->choices[*(const int *)p]); break;
        case SET_CUSTOM:
            if (k->format) k->format(settings, v, sizeof v);
            else snprintf(v, sizeof v, "%s", p);
            break;
        }
        o += (size_t)snprintf(buf + o, cap - o, "%s = %s\n", k->name, v);
    }
    return buf;
}

/* vdit_ini_resolve's collector: a new key goes after the last key of its section
 * (so sections stay whole, in order of first appearance); a continuation
 * line (the key again) takes the new value in its first place. */
typedef struct {
    vdit_ini_entry *e;
    int n, cap;
} entry_list;

static int add_entry(void *user, const char *section, const char *name, const char *value, int line, char *msg,
                     size_t cap)
{
    entry_list *l = user;
    if (strchr(section, '\t') || strchr(name, '\t')) { /* vdit config resolve's readers split lines at tabs */
        snprintf(msg, cap, "a tab in a section or key name");
        return -1;
    }
    int at = l->n; /* where a new key of this section goes */
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].section, section)) continue;
        if (!strcmp(l->e[i].name, name)) {
            char *v = strdup(value);
            if (!v) goto oom;
            free(l->e[i].value);
            l->e[i].value = v;
            l->e[i].line = line;
            return 0;
        }
        at = i + 1;
    }
    if (l->n == l->cap) {
        int c = l->cap ? 2 * l->cap : 32;
        vdit_ini_entry *e = realloc(l->e, (size_t)c * sizeof *e);
        if (!e) goto oom;
        l->e = e;
        l->cap = c;
    }
    vdit_ini_entry k = {strdup(section), strdup(name), strdup(value), line};
    if (!k.section || !k.name || !k.value) {
        free(k.section), free(k.name), free(k.value);
        goto oom;
    }
    memmove(l->e + at + 1, l->e + at, (size_t)(l->n - at) * sizeof *l->e);
    l->e[at] = k;
    l->n++;
    return 0;
oom:
    snprintf(msg, cap, "out of memory");
    return -1;
}

int vdit_ini_resolve(const char *path, vdit_ini_entry **entries, int *n, vdit_err *err)
{
    entry_list l = {0};
    if (vdit__ini_read(path, add_entry, &l, err)) {
        vdit_ini_entries_free(l.e, l.n);
        return -1;
    }
    *entries = l.e;
    *n = l.n;
    return 0;
}

void vdit_ini_entries_free(vdit_ini_entry *e, int n)
{
    for (int i = 0; i < n; i++) free(e[i].section), free(e[i].name), free(e[i].value);
    free(e);
}
