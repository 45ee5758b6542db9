# experiments/lib.sh - what experiments/run, point and collect share; sourced.
#
# Experiment files are INI as vdit reads them (`vdit config`, on inih):
# `[section]`, `key = value`, whole-line comments starting with ; or #,
# inline comments after " ;"; a key repeated in its section is an error; a bad line
# stops the harness with vdit's FILE:LINE message.
vdit_bin=${VDIT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src/vdit}
declare -A ini_text=() ini_value=()

# ini_load FILE: reads FILE once (vdit config resolve) for ini and
# section_text; call it in the main shell so that $(ini ...) finds it loaded
ini_load() {
    local t l s r
    t=$("$vdit_bin" config resolve "$1") || exit 2
    ini_text[$1]=$t
    while IFS= read -r l; do
        [ -n "$l" ] || continue
        s=${l%%$'\t'*} r=${l#*$'\t'}
        ini_value[$1$'\t'$s$'\t'${r%%$'\t'*}]=${r#*$'\t'}
    done <<<"$t"
}

# ini FILE SECTION KEY [DEFAULT]: a value of an INI file
ini() {
    [ -n "${ini_text[$1]+set}" ] || ini_load "$1"
    local k=$1$'\t'$2$'\t'$3
    if [ -n "${ini_value[$k]+set}" ]; then printf '%s\n' "${ini_value[$k]}"; else printf '%s\n' "${4-}"; fi
}

# section_text FILE PREFIX: the sections [PREFIX.x] of an INI file as [x],
# each key as "key = value" (what is hashed and handed to vdit)
section_text() {
    [ -n "${ini_text[$1]+set}" ] || ini_load "$1"
    printf '%s\n' "${ini_text[$1]}" | awk -F'\t' -v p="$2." 'index($1, p) == 1 {
        if ($1 != s) { s = $1; print "[" substr(s, length(p) + 1) "]" }
        v = $0; sub(/^[^\t]*\t[^\t]*\t/, "", v); print $2 " = " v }'
}

# hash: the first 16 hex digits of the SHA-256 of stdin
hash() { sha256sum | cut -c1-16; }

# source_revision TOP: "git DESCRIBE HASH" or "unknown", then the SHA-256 of
# the C sources, headers and build files (the tree that built vdit)
source_revision() {
    local top=$1 rev
    rev=$(git -C "$top" describe --always --dirty --tags 2>/dev/null || true)
    [ -n "$rev" ] && rev="git $rev $(git -C "$top" rev-parse HEAD 2>/dev/null)" || rev=unknown
    echo "revision: $rev"
    echo "source_sha256: $(cd "$top" && find lib src eval datasets experiments -type f \
        \( -name '*.c' -o -name '*.h' -o -name run -o -name point -o -name collect -o -name summary \
        -o -name '*.sh' \) 2>/dev/null | LC_ALL=C sort | xargs cat configure.ac Makefile.am 2>/dev/null | sha256sum | cut -c1-64)"
}
