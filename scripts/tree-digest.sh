#!/usr/bin/env bash
# tree-digest.sh ROOT [--listing]
#
# Recomputes pgext's canonical tree digest of the directory ROOT with find, sha256sum, sort and
# awk only (GNU find and coreutils; any POSIX awk, mawk included), so a digest shown by pgext can
# be checked without trusting pgext. Prints "sha256:<hex>", or with --listing the canonical
# listing itself. The form is specified in docs/src/reference/tree-digest.md.
#
# Exits non-zero, printing no digest, if anything cannot be read: a partial listing has no digest.
set -euo pipefail
export LC_ALL=C

usage() {
    echo "usage: tree-digest.sh ROOT [--listing]" >&2
    exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
root=$1
mode=digest
if [ $# -eq 2 ]; then
    [ "$2" = --listing ] || usage
    mode=listing
fi
[ -d "$root" ] || { echo "tree-digest.sh: $root is not a directory" >&2; exit 2; }
# cd follows a symlinked ROOT, as pgext does; nothing below it is followed.
cd -- "$root"

tab=$(printf '\t')

build_listing() {
# Per entry, NUL-separated: type, octal mode, size, path relative to ROOT, symlink target.
# Each output record is "<path field> TAB <listing line>", so sort can order by the path field.
# Escaping (see docs): "\" -> "\\", bytes 0x01-0x1f, 0x7f, space and bytes outside valid UTF-8
# -> "\xNN" (lowercase). Every file needs a digest from the sums list; a missing one is fatal.
find . -mindepth 1 -printf '%y\0%m\0%s\0%P\0%l\0' |
awk -v sums=<(find . -type f -exec sha256sum -z -- {} +) '
function hexesc(b) {
    return "\\x" substr(hexdigits, int(b / 16) + 1, 1) substr(hexdigits, b % 16 + 1, 1)
}
function esc(s,    out, i, n, c, b, b2, need, lo, hi, j, ok) {
    out = ""; n = length(s); i = 1
    while (i <= n) {
        c = substr(s, i, 1); b = ord[c]
        if (b < 128) {
            if (c == "\\") out = out "\\\\"
            else if (b < 33 || b == 127) out = out hexesc(b)
            else out = out c
            i++
            continue
        }
        # Keep a complete, valid UTF-8 sequence (no overlongs, surrogates or > U+10FFFF).
        need = 0; lo = 128; hi = 191
        if (b >= 194 && b <= 223) need = 1
        else if (b >= 224 && b <= 239) { need = 2; if (b == 224) lo = 160; if (b == 237) hi = 159 }
        else if (b >= 240 && b <= 244) { need = 3; if (b == 240) lo = 144; if (b == 244) hi = 143 }
        ok = (need > 0 && i + need <= n)
        for (j = 1; ok && j <= need; j++) {
            b2 = ord[substr(s, i + j, 1)]
            if (j == 1) { if (b2 < lo || b2 > hi) ok = 0 }
            else if (b2 < 128 || b2 > 191) ok = 0
        }
        if (ok) { out = out substr(s, i, need + 1); i += need + 1 }
        else { out = out hexesc(b); i++ }
    }
    return out
}
function emit(    type, m, path, line) {
    type = f[0]; m = sprintf("%04d", f[1]); path = esc(f[3])
    if (type == "f") {
        if (!(f[3] in sum)) {
            printf "tree-digest.sh: no digest for %s (unreadable?)\n", f[3] > "/dev/stderr"
            failed = 1
            exit 1
        }
        line = "f " m " " f[2] " " sum[f[3]] " " path
    } else if (type == "d") line = "d " m " " path
    else if (type == "l") line = "l " path " -> " esc(f[4])
    else line = "o " m " " path
    printf "%s\t%s\n", path, line
}
BEGIN {
    RS = "\0"
    hexdigits = "0123456789abcdef"
    for (k = 1; k < 256; k++) ord[sprintf("%c", k)] = k
    # sha256sum -z prints "<64 hex>  ./<path>" with the name unescaped.
    while ((getline rec < sums) > 0) sum[substr(rec, 69)] = substr(rec, 1, 64)
    close(sums)
}
{ f[n % 5] = $0; n++; if (n % 5 == 0) emit() }
END {
    if (failed) exit 1
    if (n % 5 != 0) { print "tree-digest.sh: truncated find output" > "/dev/stderr"; exit 1 }
}
' |
sort -t "$tab" -k1,1 |
awk -F "$tab" '{ print $2 }'
}

# Build the whole listing first: with set -e any failure above stops the script here, before a
# digest of a partial listing could be printed. $(...) drops the final newline; put it back.
listing=$(build_listing)
[ -z "$listing" ] || listing+=$'\n'
if [ "$mode" = listing ]; then
    printf '%s' "$listing"
else
    printf '%s' "$listing" | sha256sum | awk '{ print "sha256:" $1 }'
fi
