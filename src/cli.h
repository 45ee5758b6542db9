/* cli.h - flag parsing for the vdit subcommands.
 *
 * Every subcommand declares a table of flags; cli_parse fills in their
 * values, rejects unknown or repeated flags and missing values with one line
 * naming the flag, and prints the table as --help. */
#ifndef VDIT_CLI_H
#define VDIT_CLI_H

#include <stdint.h>

#include "vdit.h"

typedef struct {
    const char *name;    /* "--hidden" */
    const char *metavar; /* "D", or NULL for a switch without a value */
    const char *help;    /* one line; the default, if any, in it */
    const char *value;   /* set by cli_parse: the argument, "1" for a switch, or NULL */
} cli_flag;

typedef struct {
    const char *cmd;     /* "vdit dit init" */
    const char *usage;   /* what follows the command in the usage line */
    const char *summary; /* one paragraph */
    cli_flag *flags;
    int nflags;
    const char *positional[4]; /* filled by cli_parse */
    int npositional;           /* how many positionals cli_parse accepts */
} cli_cmd;

/* The names --sampler and --guide take (vdit sample, vdit eval), in the
 * order of vdit_sampler and of vdit_sample_config.guide_context. */
extern const char *const CLI_SAMPLERS[];
extern const char *const CLI_GUIDES[];

/* Returns 0 on success, 1 when --help was printed (exit 0), -1 on a usage
 * error (a line was printed to stderr; exit 2). */
int cli_parse(cli_cmd *cmd, int argc, char **argv);
const char *cli_get(const cli_cmd *cmd, const char *name); /* NULL when absent */
/* Parse helpers: print "CMD: FLAG: why" to stderr and return -1 on error. */
int cli_int(const cli_cmd *cmd, const char *name, int def, int lo, int hi, int *out);
int cli_u64(const cli_cmd *cmd, const char *name, uint64_t def, uint64_t *out);
int cli_float(const cli_cmd *cmd, const char *name, double def, double *out);
int cli_int3(const cli_cmd *cmd, const char *name, const int def[3], int out[3]);
int cli_choice(const cli_cmd *cmd, const char *name, const char *const *choices, int def, int *out);
const char *cli_required(const cli_cmd *cmd, const char *name); /* prints an error when absent */
void cli_usage_error(const cli_cmd *cmd, const char *fmt, ...);
/* Prints "vdit: msg" (a library error) to stderr. */
void cli_fail(const char *msg);

/* Refuses outputs that would replace or change an input (vdit_path_clash):
 * prints "vdit: the output OUT is the input IN" and returns 1 at the first
 * clash of any of the nout outputs with any of the nin inputs, else 0. NULL
 * entries (flags not given) are skipped. */
int cli_out_clash(const char *const *outs, int nout, const char *const *ins, int nin);
/* Takes the output lock on `out` (vdit_out_lock); prints the holder and
 * returns 1 when another writer has it, else 0. */
int cli_out_lock(const char *out, vdit_out_lock_t *lock);

/* Subcommands: each returns the process exit status (0 ok, 1 failure, 2 usage). */
int cmd_dit(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_vae(int argc, char **argv);
int cmd_bench_vae(int argc, char **argv); /* vdit bench vae, in cmd_bench_vae.c */
int cmd_bench_sgemm(int argc, char **argv); /* vdit bench sgemm, in cmd_bench_sgemm.c */

#endif
