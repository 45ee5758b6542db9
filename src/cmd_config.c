/* cmd_config.c - `vdit config get|resolve FILE.ini`: an INI file as vdit
 * reads it (vdit_ini_resolve), for the experiment harness and other scripts. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vdit.h"

int cmd_config(int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    int get = !strcmp(sub, "get"), resolve = !strcmp(sub, "resolve");
    cli_flag flags[] = {{"--lines", NULL, "resolve: start each line with the line number of the value", NULL}};
    cli_cmd cmd = {get ? "vdit config get" : resolve ? "vdit config resolve" : "vdit config",
                   get ? "FILE.ini SECTION.KEY" : resolve ? "FILE.ini" : "get FILE.ini SECTION.KEY | resolve FILE.ini",
                   "Reads an INI file as `vdit train --config` does (inih: comments are whole lines starting with ; "
                   "or #, or '; ...' after a blank; an indented line continues the key above (its text appended after a space); a key repeated in its "
                   "section is an error). get prints the value of KEY in [SECTION] (KEY: after the last dot) and exits 1 "
                   "when it is absent. resolve prints every key, one line each, as SECTION<TAB>KEY<TAB>VALUE "
                   "(VALUE: the rest of the line), the keys of a section together, sections and keys in the order "
                   "they first appear; with --lines each line starts with the line of the value and a tab. A bad "
                   "line: one line naming FILE:LINE, exit 2.",
                   flags, resolve, {0}, get ? 2 : 1};
    if (!get && !resolve) {
        if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) return cli_parse(&cmd, argc, argv) > 0 ? 0 : 2;
        if (argc) cli_usage_error(&cmd, "unknown subcommand '%s'", sub);
        else cli_usage_error(&cmd, "missing the subcommand");
        return 2;
    }
    int rc = cli_parse(&cmd, argc - 1, argv + 1);
    if (rc) return rc > 0 ? 0 : 2;
    const char *path = cmd.positional[0], *want = cmd.positional[1];
    if (!path || (get && !want)) {
        cli_usage_error(&cmd, get ? "missing FILE.ini or SECTION.KEY" : "missing FILE.ini");
        return 2;
    }
    vdit_ini_entry *e;
    int n;
    vdit_err err;
    if (vdit_ini_resolve(path, &e, &n, &err)) {
        cli_fail(err.msg);
        return 2;
    }
    rc = 0;
    if (get) {
        const char *dot = strrchr(want, '.'), *key = dot ? dot + 1 : want;
        size_t slen = dot ? (size_t)(dot - want) : 0;
        rc = 1;
        for (int i = 0; i < n && rc; i++)
            if (strlen(e[i].section) == slen && !strncmp(e[i].section, want, slen) && !strcmp(e[i].name, key)) {
                printf("%s\n", e[i].value);
                rc = 0;
            }
    } else {
        int lines = cli_get(&cmd, "--lines") != NULL;
        for (int i = 0; i < n; i++) {
            if (lines) printf("%d\t", e[i].line);
            printf("%s\t%s\t%s\n", e[i].section, e[i].name, e[i].value);
        }
    }
    vdit_ini_entries_free(e, n);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "vdit config: write error\n");
        return 2;
    }
    return rc;
}
