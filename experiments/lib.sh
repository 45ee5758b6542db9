# experiments/lib.sh - what experiments/run, point and collect share; sourced.
#
# Experiment files are INI: `[section]`, `key = value`, whole-line comments
# starting with ; or #, and inline comments after " ;" or " #".

# ini FILE SECTION KEY [DEFAULT]: a value of an INI file (the last one wins)
ini() {
    awk -v s="$2" -v k="$3" -v d="${4-}" '
        /^[ \t]*[;#]/ { next }
        /^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[|\][ \t]*([;#].*)?$/, "", sec); next }
        sec == s {
            i = index($0, "="); if (!i) next
            key = substr($0, 1, i - 1); val = substr($0, i + 1)
            sub(/[ \t]+[;#].*$/, "", val)
            gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", val)
            if (key == k) { v = val; found = 1 }
        }
        END { print found ? v : d }' "$1"
}

# section_text FILE PREFIX: the sections [PREFIX.x] of an INI file as [x],
# comments and blank lines dropped (what is hashed and handed to vdit)
section_text() {
    awk -v p="$2." '
        /^[ \t]*[;#]/ || /^[ \t]*$/ { next }
        /^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[|\][ \t]*([;#].*)?$/, "", s); on = index(s, p) == 1
                      if (on) print "[" substr(s, length(p) + 1) "]"; next }
        on { print }' "$1"
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
