/* cli.c - flag parsing for the vdit subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cmd->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", cmd->cmd);
}

void cli_fail(const char *msg) { fprintf(stderr, "vdit: %s\n", msg); }

int cli_out_clash(const char *const *outs, int nout, const char *const *ins, int nin)
{
    vdit_err err;
    for (int o = 0; o < nout; o++)
        for (int i = 0; i < nin; i++)
            if (outs[o] && ins[i] && vdit_path_clash(outs[o], ins[i], &err)) {
                cli_fail(err.msg);
                return 1;
            }
    return 0;
}

int cli_out_lock(const char *out, vdit_out_lock_t *lock)
{
    vdit_err err;
    if (!vdit_out_lock(out, lock, &err)) return 0;
    cli_fail(err.msg);
    return 1;
}

static void print_help(const cli_cmd *cmd)
{
    printf("usage: %s %s\n\n%s\n", cmd->cmd, cmd->usage, cmd->summary);
    if (cmd->nflags) printf("\noptions:\n");
    for (int i = 0; i < cmd->nflags; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", cmd->flags[i].name, cmd->flags[i].metavar ? " " : "",
                 cmd->flags[i].metavar ? cmd->flags[i].metavar : "");
        printf("  %-26s %s\n", left, cmd->flags[i].help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

int cli_parse(cli_cmd *cmd, int argc, char **argv)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(cmd);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (npos >= cmd->npositional) {
                cli_usage_error(cmd, "unexpected argument '%s'", a);
                return -1;
            }
            cmd->positional[npos++] = a;
            continue;
        }
        /* --name value or --name=value */
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        cli_flag *f = NULL;
        for (int j = 0; j < cmd->nflags && !f; j++)
            if (strlen(cmd->flags[j].name) == len && !strncmp(cmd->flags[j].name, a, len)) f = &cmd->flags[j];
        if (!f) {
            cli_usage_error(cmd, "unknown flag '%.*s'", (int)len, a);
            return -1;
        }
        if (f->value) {
            cli_usage_error(cmd, "flag %s given twice", f->name);
            return -1;
        }
        if (!f->metavar) {
            if (eq) {
                cli_usage_error(cmd, "flag %s takes no value", f->name);
                return -1;
            }
            f->value = "1";
        } else if (eq) {
            f->value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                cli_usage_error(cmd, "flag %s needs a value (%s)", f->name, f->metavar);
                return -1;
            }
            f->value = argv[++i];
        }
    }
    for (int i = npos; i < 4; i++) cmd->positional[i] = NULL;
    return 0;
}

const char *cli_get(const cli_cmd *cmd, const char *name)
{
    for (int i = 0; i < cmd->nflags; i++)
        if (!strcmp(cmd->flags[i].name, name)) return cmd->flags[i].value;
    return NULL;
}

const char *cli_required(const cli_cmd *cmd, const char *name)
{
    const char *v = cli_get(cmd, name);
    if (!v) cli_usage_error(cmd, "missing required flag %s", name);
    return v;
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

int cli_int(const cli_cmd *cmd, const char *name, int def, int lo, int hi, int *out)
{
    const char *v = cli_get(cmd, name);
    long long x;
    if (!v) {
        *out = def;
        return 0;
    }
    if (parse_long(v, &x) || x < lo || x > hi) {
        cli_usage_error(cmd, "%s '%s' must be an integer in %d..%d", name, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cli_u64(const cli_cmd *cmd, const char *name, uint64_t def, uint64_t *out)
{
    const char *v = cli_get(cmd, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        cli_usage_error(cmd, "%s '%s' must be a non-negative integer", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_float(const cli_cmd *cmd, const char *name, double def, double *out)
{
    const char *v = cli_get(cmd, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        cli_usage_error(cmd, "%s '%s' must be a finite number", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_int3(const cli_cmd *cmd, const char *name, const int def[3], int out[3])
{
    const char *v = cli_get(cmd, name);
    if (!v) {
        for (int i = 0; i < 3; i++) out[i] = def[i];
        return 0;
    }
    const char *s = v;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (errno || end == s || x < 1 || x > 1000000 || (i < 2 ? *end != ',' : *end != '\0')) {
            cli_usage_error(cmd, "%s '%s' must be three positive integers A,B,C", name, v);
            return -1;
        }
        out[i] = (int)x;
        s = end + 1;
    }
    return 0;
}

int cli_choice(const cli_cmd *cmd, const char *name, const char *const *choices, int def, int *out)
{
    const char *v = cli_get(cmd, name);
    if (!v) {
        *out = def;
        return 0;
    }
    for (int i = 0; choices[i]; i++)
        if (!strcmp(v, choices[i])) {
            *out = i;
            return 0;
        }
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? "|" : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    cli_usage_error(cmd, "%s '%s' must be one of %s", name, v, list);
    return -1;
}

const char *const CLI_SAMPLERS[] = {"ddpm", "ddim", "euler", "heun", NULL};
const char *const CLI_GUIDES[] = {"label", "context", NULL};
