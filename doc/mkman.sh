#!/bin/sh
# mkman.sh - the man page vdit.1, made by help2man from `vdit --help` with a
# COMMANDS section holding every command's and subcommand's own --help:
#   doc/mkman.sh VDIT HELP2MAN OUT
set -eu
vdit=$1 help2man=$2 out=$3
inc=$out.h2m
# a --help text as roff: verbatim (.nf), backslashes and leading dots escaped
verbatim() { echo '.nf'; sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; echo '.fi'; }
{
    echo '[COMMANDS]'
    for c in $("$vdit" --help | sed -n 's/^  \([a-z][a-z0-9]*\) .*/\1/p'); do
        echo ".SS vdit $c"
        "$vdit" "$c" --help | verbatim
        # its subcommands: the "  NAME  what it does" lines of its help
        for s in $("$vdit" "$c" --help | sed -n 's/^  \([a-z][a-z0-9]*\)  .*/\1/p'); do
            "$vdit" "$c" "$s" --help >"$inc.sub" 2>/dev/null || continue
            echo ".SS vdit $c $s"
            verbatim <"$inc.sub"
        done
    done
    printf '[SEE ALSO]\nThe design pages (design/README.md, model.md, benchmark.md), datasets/FORMAT.md and experiments/RESULTS_FORMAT.md in the source tree.\n'
} >"$inc"
rm -f "$inc.sub"
"$help2man" --no-info --no-discard-stderr --name='a Sora-style video diffusion transformer in C' \
    --include="$inc" --output="$out.tmp" "$vdit"
rm -f "$inc"
mv "$out.tmp" "$out"
