#!/usr/bin/env bash
# Builds an arm64 Debian root file system holding PostgreSQL 18, for the arm64 oracle: the .debs of
# postgresql-18 and its dependency closure (plus dash, libc-bin and coreutils, which are Essential and so
# never named as dependencies), resolved through a private apt index for arm64 and unpacked with
# dpkg-deb -x. Nothing is installed on this machine. Then, under emulation (binfmt_misc + qemu),
# the root's own /sbin/ldconfig writes its /etc/ld.so.cache, as the postinst trigger would.
#
#   tests/oracle-arm64/build-root.sh ROOT
#
# Cached: the index and .debs in $PGEXT_CACHE/oracle-arm64/root-debs, the unpacked root keyed by
# the package versions (ROOT/.root-key). Unpacking the closure is seconds; debootstrap's second
# stage under qemu takes many minutes for the same result.
#
# Environment: PGEXT_CACHE, PGEXT_ORACLE_SUITE (default unstable), PGEXT_ORACLE_PG_MAJOR (18),
# PGEXT_ORACLE_REFRESH=1 (re-read the index).
set -Eeuo pipefail
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 ROOT" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../oracle/debian.sh"
SUITE=${PGEXT_ORACLE_SUITE:-unstable}
MAJOR=${PGEXT_ORACLE_PG_MAJOR:-18}
ARCH=arm64
die() { printf 'build-root: %s\n' "$*" >&2; exit 1; }

CACHE=$(pgext_cache_root)/oracle-arm64/root-debs
mkdir -p "$CACHE/debs" "$CACHE/logs"
exec 8>"$CACHE/.lock"
flock -n 8 || { echo "waiting for another build-root.sh using $CACHE"; flock 8; }
LIST=$CACHE/closure-$SUITE-$MAJOR.tsv # package, version, .deb file

if [ -n "${PGEXT_ORACLE_REFRESH:-}" ] || [ ! -s "$LIST" ] || ! while IFS=$'\t' read -r _ _ f; do [ -f "$CACHE/debs/$f" ] || exit 1; done <"$LIST"; then
    echo "==> resolving postgresql-$MAJOR's closure in Debian $SUITE ($ARCH)"
    apt_private_init "$CACHE/apt" "$SUITE" "$ARCH"
    # Resolve as on an empty arm64 system: this machine's installed packages (amd64) do not count.
    APT_OPTS+=(-o "Dir::State::status=/dev/null" -o "APT::Architecture=$ARCH")
    apt_private update >"$CACHE/logs/apt-update.log" 2>&1 || { tail -n 20 "$CACHE/logs/apt-update.log" >&2; die "apt-get update failed"; }
    # Real packages of the closure (a virtual name prints as <name>; its provider is listed too).
    mapfile -t names < <(apt_cache_private depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "postgresql-$MAJOR" dash libc-bin coreutils |
        grep -v '^ ' | grep -v '^<' | LC_ALL=C sort -u)
    [ ${#names[@]} -gt 10 ] || die "the closure of postgresql-$MAJOR is implausibly small: ${names[*]}"
    apt_cache_private show --no-all-versions "${names[@]}" 2>/dev/null |
        awk '/^Package:/{p=$2} /^Version:/{v=$2} /^Architecture:/{a=$2} /^$/{if (p != "") print p "\t" v "\t" a; p=""}' |
        LC_ALL=C sort -u >"$CACHE/closure.new"
    missing=()
    : >"$LIST.new"
    while IFS=$'\t' read -r p v a; do
        f=${p}_${v//:/%3a}_$a.deb
        printf '%s\t%s\t%s\n' "$p" "$v" "$f" >>"$LIST.new"
        [ -f "$CACHE/debs/$f" ] || missing+=("$p=$v")
    done <"$CACHE/closure.new"
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> downloading ${#missing[@]} packages"
        tmp=$(mktemp -d "$CACHE/download.XXXXXX")
        apt_download_into "$tmp" "${missing[@]}" >>"$CACHE/logs/apt-download.log" 2>&1 ||
            { tail -n 20 "$CACHE/logs/apt-download.log" >&2; die "download failed"; }
        mv "$tmp"/*.deb "$CACHE/debs/"
        rm -rf "$tmp"
    fi
    mv "$LIST.new" "$LIST"
    rm -f "$CACHE/closure.new"
    rm -rf "$CACHE/apt/lists"
fi

key=$( (cat "$LIST"; declare -f) | sha256sum | cut -c1-64)
if [ "$(cat "$1/.root-key" 2>/dev/null)" = "$key" ]; then
    echo "arm64 root: up to date ($(wc -l <"$LIST") packages, $1)"
    exit 0
fi
echo "==> unpacking $(wc -l <"$LIST") packages into $1"
rm -rf "$1"
mkdir -p "$1"
ROOT=$(cd "$1" && pwd)
# Merged /usr, as Debian's installer and debootstrap make it.
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/sbin" "$ROOT/usr/lib"
for d in bin sbin lib; do ln -s "usr/$d" "$ROOT/$d"; done
while IFS=$'\t' read -r _ _ f; do dpkg-deb -x "$CACHE/debs/$f" "$ROOT"; done <"$LIST"
[ -e "$ROOT/bin/sh" ] || ln -s dash "$ROOT/usr/bin/sh"
mkdir -p "$ROOT/etc" "$ROOT/tmp" "$ROOT/dev" "$ROOT/extensions" "$ROOT/var/run/postgresql"
chmod 1777 "$ROOT/tmp"
[ -e "$ROOT/dev/null" ] || mknod -m 666 "$ROOT/dev/null" c 1 3
[ -e "$ROOT/dev/zero" ] || mknod -m 666 "$ROOT/dev/zero" c 1 5
[ -e "$ROOT/dev/urandom" ] || mknod -m 666 "$ROOT/dev/urandom" c 1 9
[ -e "$ROOT/dev/random" ] || mknod -m 666 "$ROOT/dev/random" c 1 8
printf 'include /etc/ld.so.conf.d/*.conf\n' >"$ROOT/etc/ld.so.conf"
# The root's own ldconfig (arm64, emulated) writes the cache the server's ld.so reads.
chroot "$ROOT" /sbin/ldconfig || die "ldconfig in the arm64 root failed (is binfmt_misc registered for aarch64?)"
[ -s "$ROOT/etc/ld.so.cache" ] || die "no ld.so.cache in the arm64 root"
[ -x "$ROOT/usr/lib/postgresql/$MAJOR/bin/postgres" ] || die "no postgres in the arm64 root"
echo "$key" >"$ROOT/.root-key"
echo "arm64 root: $(du -sh "$ROOT" | cut -f1), $(wc -l <"$LIST") packages"
