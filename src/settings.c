/* settings.c - INI files through a table of keys (settings.h), on inih. */
#define _POSIX_C_SOURCE 200809L
#include "settings.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const setting_key *keys;
    int nkeys;
    char *base;
    FILE *f;
    int line;     /* lines read so far: the line of the key being handled */
    int err_line; /* the line of the first bad key (0: none) */
    char msg[1024];
} reader;

/* inih's line reader, counting lines so an error names its own line. */
static char *read_line(char *str, int num, void *stream)
{
    reader *r = stream;
    char *s = fgets(str, num, r->f);
    if (s) r->line++;
    return s;
}

/* Parses `value` for key k into dst; 0, or -1 with "must be ..." in msg. */
static int parse_value(const setting_key *k, char *base, const char *value, char *msg, size_t cap)
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

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    reader *r = user;
    if (r->err_line) return 0; /* only the first error is reported */
    for (int i = 0; i < r->nkeys; i++) {
        const setting_key *k = &r->keys[i];
        if (strcmp(section, k->section) || strcmp(name, k->name)) continue;
        char why[512];
        if (!parse_value(k, r->base, value, why, sizeof why)) return 1;
        snprintf(r->msg, sizeof r->msg, "[%s] %s = '%s' %s", section, name, value, why);
        r->err_line = r->line;
        return 0;
    }
    snprintf(r->msg, sizeof r->msg, "unknown key '%s' in section [%s]", name, section);
    r->err_line = r->line;
    return 0;
}

int settings_read(const char *path, const setting_key *keys, int nkeys, void *settings)
{
    reader r = {keys, nkeys, settings, NULL, 0, 0, ""};
    r.f = fopen(path, "r");
    if (!r.f) {
        fprintf(stderr, "vdit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int line = ini_parse_stream(read_line, &r, on_key, &r);
    fclose(r.f);
    if (line) { /* inih reports the first bad line: ours, or one it could not parse */
        fprintf(stderr, "vdit: %s:%d: %s\n", path, line,
                line == r.err_line ? r.msg : "syntax error (expected [section] or key = value)");
        return -1;
    }
    return 0;
}

char *settings_to_ini(const setting_key *keys, int nkeys, const void *settings, const char *header)
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
        const setting_key *k = &keys[i];
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
