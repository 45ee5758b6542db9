# testlib.sh - what the shell suites share; sourced, not run:
#   . "$SRCDIR/tests/testlib.sh"; testlib_init NAME
# gives $tmp (removed on exit unless KEEP is set), ok/bad counters, check, expect, same, and
# testlib_finish, which prints "NAME: N passed, F failed" (the line .ci/run
# counts) and exits non-zero on any failure.

testlib_init() {
    testlib_name=$1
    tmp=$(mktemp -d "/tmp/vdit-$1-XXXXXX")
    trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT # KEEP=1: leave it for a look
    pass=0
    failed=0
}

ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# check CMD...: CMD succeeds
check() { if "$@"; then ok; else bad "$*"; fi; }

# same A B: two files are byte-identical
same() { if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi; }

# expect STATUS PATTERN CMD...: exit status and a one-line stderr matching PATTERN
expect() {
    want=$1 pat=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" != "$want" ]; then bad "$* exited $got, expected $want: $(cat "$tmp/err")"; return; fi
    if [ -n "$pat" ]; then
        if ! grep -q -- "$pat" "$tmp/err"; then bad "$*: stderr '$(cat "$tmp/err")' lacks '$pat'"; return; fi
        if [ "$(wc -l <"$tmp/err")" -ne 1 ]; then bad "$*: error is not one line: $(cat "$tmp/err")"; return; fi
    fi
    ok
}

# tiny_dit_ini FILE: the suites' smallest DiT training config (hidden 8,
# one block, 2 steps of 2 videos, a checkpoint every step, 1 context frame)
tiny_dit_ini() {
    cat >"$1" <<'INI'
[model]
hidden = 8
depth = 1
heads = 2
patch = 2,4,4
[train]
batch = 2
steps = 2
warmup = 1
checkpoint_every = 1
[data]
context_frames = 1
context_probs = 0.5,0.5
INI
}

testlib_finish() {
    echo "$testlib_name: $pass passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
