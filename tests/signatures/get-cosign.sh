#!/usr/bin/env bash
# Prints the path of a real `cosign` binary, downloading Debian's package once into the cache.
# bookworm has no cosign; a newer suite's package is a static Go binary, so `dpkg -x` of it runs
# here without installing anything (nothing under /etc or /usr is touched).
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../scripts/debian.sh"
if command -v cosign >/dev/null 2>&1; then command -v cosign; exit 0; fi
CACHE=$(pgext_cache_root)/cosign
BIN=$CACHE/root/usr/bin/cosign
if [ ! -x "$BIN" ]; then
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    if [ ! -x "$BIN" ]; then
        ARCH=$(dpkg --print-architecture)
        for suite in trixie unstable; do
            apt_private_init "$CACHE/apt-$suite" "$suite" "$ARCH"
            apt_private_update 2>>"$CACHE/apt-$suite.log" || continue
            tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
            if apt_fetch "$tmp" "cosign/$suite" 2>>"$CACHE/apt-$suite.log"; then
                rm -rf "$CACHE/root.new" && mkdir "$CACHE/root.new"
                dpkg -x "$tmp"/cosign_*.deb "$CACHE/root.new"
                rm -rf "$CACHE/root" && mv "$CACHE/root.new" "$CACHE/root"
                rm -rf "$tmp"
                break
            fi
            rm -rf "$tmp"
        done
        rm -rf "$CACHE"/apt-*/lists
    fi
fi
[ -x "$BIN" ] || { echo "could not download Debian's cosign package from trixie or unstable (logs: $CACHE/apt-*.log, $CACHE/apt-*/fetch.log)" >&2; exit 1; }
"$BIN" version >/dev/null 2>&1 || { echo "$BIN does not run here" >&2; exit 1; }
echo "$BIN"
