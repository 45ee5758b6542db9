#!/bin/sh
# config_cli.sh - `vdit config get|resolve FILE.ini`: the file as inih reads
# it for `vdit train` (comments, a reopened section's keys together, a key
# repeated in its section refused naming FILE:LINE, a continuation line, values
# longer than inih's 200-byte line), --lines, an absent key (exit 1), and
# one-line errors naming FILE:LINE (exit 2); `vdit train --config` reads a
# long line the same way.
set -u
. "${SRCDIR:?set SRCDIR to the source tree}/tests/testlib.sh"
testlib_init config_cli

long=$(printf 'word%.0s ' $(seq 1 80))end # 399 bytes, blanks throughout
cat >"$tmp/a.ini" <<INI
; a comment
# another
top = before any section
[data]
size = 32 ; an inline comment
count = 1
name=a=b
[dit.model]
hidden = 64
size = VDiT-XS/2t2
[data]
other = 2
empty =
[experiment]
description = $long ; its comment
plain = $long
hash = a # not a comment
[dit.model]
heads = 4
  continued
INI
{
    printf '\ttop\tbefore any section\n'
    printf 'data\tsize\t32\ndata\tcount\t1\ndata\tname\ta=b\ndata\tother\t2\ndata\tempty\t\n'
    printf 'dit.model\thidden\t64\ndit.model\tsize\tVDiT-XS/2t2\ndit.model\theads\t4 continued\n'
    printf 'experiment\tdescription\t%s\nexperiment\tplain\t%s\nexperiment\thash\ta # not a comment\n' "$long" "$long"
} >"$tmp/want.tsv"
expect 0 "" "$VDIT" config resolve "$tmp/a.ini"
same "$tmp/want.tsv" "$tmp/out"
expect 0 "" "$VDIT" config resolve --lines "$tmp/a.ini"
check test "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "3 5 6 7 12 13 9 10 20 15 16 17 "
check test "$(cut -f2- "$tmp/out" | cmp - "$tmp/want.tsv" && echo same)" = same

expect 0 "" "$VDIT" config get "$tmp/a.ini" dit.model.hidden
check test "$(cat "$tmp/out")" = 64
expect 0 "" "$VDIT" config get "$tmp/a.ini" data.count
check test "$(cat "$tmp/out")" = 1
expect 0 "" "$VDIT" config get "$tmp/a.ini" experiment.description
check test "$(cat "$tmp/out")" = "$long"
expect 0 "" "$VDIT" config get "$tmp/a.ini" top
check test "$(cat "$tmp/out")" = "before any section"
expect 0 "" "$VDIT" config get "$tmp/a.ini" data.empty
check test "$(wc -c <"$tmp/out")" -eq 1
expect 1 "" "$VDIT" config get "$tmp/a.ini" data.nothing
check test ! -s "$tmp/out"
expect 1 "" "$VDIT" config get "$tmp/a.ini" model.hidden

# errors: one line naming the file and line
printf '[data]\nsize = 1\nno equals sign\nx = 2\n' >"$tmp/bad.ini"
expect 2 "bad.ini:3: syntax error" "$VDIT" config resolve "$tmp/bad.ini"
expect 2 "bad.ini:3: syntax error" "$VDIT" config get "$tmp/bad.ini" data.size
check test ! -s "$tmp/out"
printf '[model\nhidden = 8\n' >"$tmp/trunc.ini"
expect 2 "trunc.ini:1: syntax error" "$VDIT" config resolve "$tmp/trunc.ini"
printf '[a\tb]\nx = 1\n' >"$tmp/tab.ini"
expect 2 "tab.ini:2: a tab in a section or key name" "$VDIT" config resolve "$tmp/tab.ini"
# a key given twice in one section (the same section reopened too) is an
# error naming the second line and the first; the same key in two sections is not
printf '[data]\nsize = 1\ncount = 2\nsize = 3\n' >"$tmp/dup.ini"
expect 2 "dup.ini:4: duplicate key 'size' in section \[data\] (first at line 2)" "$VDIT" config resolve "$tmp/dup.ini"
check test ! -s "$tmp/out"
expect 2 "dup.ini:4: duplicate key 'size'" "$VDIT" config get "$tmp/dup.ini" data.count
printf 'size = 0\n[data]\nsize = 1\n[model]\nsize = 2\n[data]\n  ; x\nsize = 3\n' >"$tmp/dup2.ini"
expect 2 "dup2.ini:8: duplicate key 'size' in section \[data\] (first at line 3)" "$VDIT" config resolve "$tmp/dup2.ini"
expect 2 "no-such.ini: cannot open: No such file or directory" "$VDIT" config resolve "$tmp/no-such.ini"
expect 2 "missing the subcommand" "$VDIT" config
expect 2 "unknown subcommand 'set'" "$VDIT" config set "$tmp/a.ini"
expect 2 "missing FILE.ini or SECTION.KEY" "$VDIT" config get "$tmp/a.ini"
expect 2 "unexpected argument" "$VDIT" config resolve "$tmp/a.ini" extra
expect 0 "" "$VDIT" config --help
grep -q "^usage: vdit config" "$tmp/out" || bad "vdit config --help prints no usage"
expect 0 "" "$VDIT" config get --help
grep -q "SECTION<TAB>KEY<TAB>VALUE" "$tmp/out" || bad "vdit config get --help does not give the format"

# vdit train reads through the same reader: a line past inih's 200 bytes
# is one line, so the next error names its own line
{ printf '; %s\n' "$long"; printf '[model]\nbogus = 1\n'; } >"$tmp/t.ini"
expect 1 "t.ini:3: unknown key 'bogus' in section \[model\]" "$VDIT" train --config "$tmp/t.ini" --data "$tmp/none" --out "$tmp/run"
# vdit train and vdit vae train refuse a repeated key the same way
printf '[train]\nsteps = 2\nlr = 0.001\nsteps = 3\n' >"$tmp/dupt.ini"
expect 1 "dupt.ini:4: duplicate key 'steps' in section \[train\] (first at line 2)" "$VDIT" train --config "$tmp/dupt.ini" --data "$tmp/none" --out "$tmp/run"
check test ! -e "$tmp/run"
expect 1 "dupt.ini:4: duplicate key 'steps' in section \[train\] (first at line 2)" "$VDIT" vae train --config "$tmp/dupt.ini" --data "$tmp/none" --out "$tmp/vae.safetensors"
check test ! -e "$tmp/vae.safetensors"
# a continued key longer than inih's 49-byte name buffer stays one key
k=a.very.long.key.name.that.is.longer.than.fifty.characters.in.all
printf '[sweep]\n%s =\n    1 |\n    2\n  [x]\n' "$k" >"$tmp/long.ini"
expect 0 "" "$VDIT" config resolve "$tmp/long.ini"
check test "$(cat "$tmp/out")" = "$(printf 'sweep\t%s\t1 | 2 [x]' "$k")"
# a key longer than inih's whole 200-byte line (a [sweep] line of many keys
# joined by &) is read whole, its value too, and continued like any key;
# the key after it keeps its own name
k=$(printf 'section.key%02d & ' $(seq 1 20))last.key # 339 bytes
printf '[sweep]\n%s = 1 & 2 |\n    3 & 4\nnext = 5\n' "$k" >"$tmp/longkey.ini"
expect 0 "" "$VDIT" config resolve "$tmp/longkey.ini"
check test "$(cat "$tmp/out")" = "$(printf 'sweep\t%s\t1 & 2 | 3 & 4\nsweep\tnext\t5' "$k")"
v=$(printf 'v%03d ' $(seq 1 60))end
printf '[sweep]\n%s = %s\n' "$k" "$v" >"$tmp/longkv.ini"
expect 0 "" "$VDIT" config resolve "$tmp/longkv.ini"
check test "$(cat "$tmp/out")" = "$(printf 'sweep\t%s\t%s' "$k" "$v")"
testlib_finish
