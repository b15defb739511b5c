#!/usr/bin/env bash
# Builds the wide oracle's corpus: every PostgreSQL extension package Debian ships for one major
# (postgresql-18-* binary packages of unstable, for this host's architecture), each laid out as one
# CloudNativePG-style image: OUTDIR/extensions/<image>/{lib,share/extension,share/…,bin,licenses}.
# See tests/oracle/README.md.
#
#   tests/oracle/build-corpus.sh OUTDIR
#
# Writes OUTDIR/corpus.tsv (image, packages, version, extensions, libraries) and OUTDIR/skipped.tsv
# (packages that ship neither an extension nor a library, and why).
#
# - A `<package>-scripts` package is merged into the image of `<package>` when that exists.
# - Control names Debian makes with update-alternatives in a postinst (postgis.control from
#   postgis-3.control) are made here too, as relative symlinks: the `update-alternatives` calls of
#   every postinst are evaluated with the script's plain variable assignments (never running the
#   script itself), and every alternative whose link and target fall inside the image is created.
# - Downloads use a private apt configuration in the cache that reuses this machine's mirror;
#   nothing under /etc is changed and nothing is installed. The package index and the .debs are
#   cached in $PGEXT_CACHE/oracle (default: /var/cache/pgext/oracle for root with a private home,
#   else ~/.cache/pgext/oracle): a second run needs no network and takes seconds.
#
# Environment: PGEXT_CACHE; PGEXT_ORACLE_SUITE (default unstable); PGEXT_ORACLE_PG_MAJOR
# (default 18); PGEXT_ORACLE_REFRESH=1 re-reads the archive's index and downloads what changed;
# PGEXT_ORACLE_MIN_EXTENSIONS (default 80): fewer distinct extensions is an error;
# PGEXT_ORACLE_ARCH (default: this machine's): the Debian architecture of the packages.
set -Eeuo pipefail

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../scripts/debian.sh"
SUITE=${PGEXT_ORACLE_SUITE:-unstable}
MAJOR=${PGEXT_ORACLE_PG_MAJOR:-18}
MIN_EXTENSIONS=${PGEXT_ORACLE_MIN_EXTENSIONS:-80}
PREFIX=postgresql-$MAJOR-

step_name=""
step() { step_name=$1; printf '==> %s\n' "$1"; }
die() { printf 'build-corpus: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; trap - ERR; printf "build-corpus: step \"%s\" failed (exit %s)\n" "$step_name" "$rc" >&2; exit $rc' ERR

step "check tools"
for tool in apt-get apt-cache dpkg dpkg-deb sha256sum flock; do
    command -v "$tool" >/dev/null || die "missing command '$tool': apt-get install apt dpkg coreutils util-linux"
done
ARCH=${PGEXT_ORACLE_ARCH:-$(dpkg --print-architecture)}

# Another architecture's corpus (tests/oracle-arm64) keeps its own cache: images share names.
CACHE=$(pgext_cache_root)/oracle
[ "$ARCH" = "$(dpkg --print-architecture)" ] || CACHE+=-$ARCH
mkdir -p "$CACHE"/{debs,images,logs,work}
exec 9>"$CACHE/.lock"
flock -n 9 || { echo "waiting for another build-corpus.sh using $CACHE"; flock 9; }
INDEX=$CACHE/index-$SUITE-$MAJOR-$ARCH.tsv # package, version, architecture, .deb file

# index_complete: the cached index exists and every .deb it names is in the cache.
index_complete() {
    [ -s "$INDEX" ] || return 1
    local p v a f
    while IFS=$'\t' read -r p v a f; do [ -f "$CACHE/debs/$f" ] || return 1; done <"$INDEX"
}

# ---------------------------------------------------------------------------------------------
if [ -z "${PGEXT_ORACLE_REFRESH:-}" ] && index_complete; then
    step "package index: cached ($(wc -l <"$INDEX") packages, $INDEX)"
else
    step "package index: ${PREFIX}* in Debian $SUITE ($ARCH)"
    apt_private_init "$CACHE/apt" "$SUITE" "$ARCH"
    apt_private_update || die "apt-get update of $SUITE failed (log: $CACHE/apt/update.log)"
    mapfile -t names < <(apt_cache_private pkgnames "$PREFIX" | LC_ALL=C sort)
    [ ${#names[@]} -gt 0 ] || die "Debian $SUITE lists no ${PREFIX}* packages"
    # Real packages only (a virtual name has no version), newest version of each.
    apt_cache_private show --no-all-versions "${names[@]}" 2>/dev/null |
        awk '/^Package:/{p=$2} /^Version:/{v=$2} /^Architecture:/{a=$2} /^$/{if (p != "") print p "\t" v "\t" a; p=""}' |
        LC_ALL=C sort -u >"$CACHE/work/index.new"
    missing=()
    while IFS=$'\t' read -r p v a; do
        f=${p}_${v//:/%3a}_$a.deb # apt's file name: the epoch's colon is escaped
        [ -f "$CACHE/debs/$f" ] || missing+=("$p=$v")
    done <"$CACHE/work/index.new"
    failed=()
    if [ ${#missing[@]} -gt 0 ]; then
        step "download ${#missing[@]} packages"
        # Each name=version as the private index lists it; the verified .debs land in the cache.
        if ! apt_fetch "$CACHE/debs" "${missing[@]}" 2>>"$CACHE/logs/apt-download.log"; then
            # One unavailable file can fail the batch: fetch the rest one by one to name the culprits.
            for pv in "${missing[@]}"; do
                p=${pv%%=*} v=${pv#*=}
                [ -f "$CACHE/debs/${p}_${v//:/%3a}_$ARCH.deb" ] || [ -f "$CACHE/debs/${p}_${v//:/%3a}_all.deb" ] && continue
                apt_fetch "$CACHE/debs" "$pv" 2>>"$CACHE/logs/apt-download.log" || failed+=("$pv")
            done
        fi
    fi
    : >"$INDEX.new"
    while IFS=$'\t' read -r p v a; do
        f=${p}_${v//:/%3a}_$a.deb
        if [ -f "$CACHE/debs/$f" ]; then printf '%s\t%s\t%s\t%s\n' "$p" "$v" "$a" "$f" >>"$INDEX.new"; fi
    done <"$CACHE/work/index.new"
    mv "$INDEX.new" "$INDEX"
    rm -f "$CACHE/work/index.new"
    apt_private_drop_lists # every refresh starts with its own apt-get update
    [ ${#failed[@]} -eq 0 ] || printf 'warning: not downloadable from the mirror (left out): %s\n' "${failed[*]}" >&2
    echo "$(wc -l <"$INDEX") packages"
fi

# ---------------------------------------------------------------------------------------------
# Images: one per package; PKG-scripts joins PKG's image when PKG exists.
declare -A version_of deb_of members
images=()
while IFS=$'\t' read -r p v a f; do version_of[$p]=$v; deb_of[$p]=$f; done <"$INDEX"
for p in $(printf '%s\n' "${!version_of[@]}" | LC_ALL=C sort); do
    base=$p
    if [[ $p == *-scripts ]] && [ -n "${version_of[${p%-scripts}]:-}" ]; then base=${p%-scripts}; fi
    image=${base#"$PREFIX"}
    [ -n "${members[$image]:-}" ] || images+=("$image")
    members[$image]="${members[$image]:-} $p"
done

# map_path PATH: where a file of the package's tree lands in the image (empty: not in the image).
map_path() {
    case $1 in
        /usr/lib/postgresql/"$MAJOR"/lib/*) echo "lib/${1#/usr/lib/postgresql/"$MAJOR"/lib/}" ;;
        /usr/lib/postgresql/"$MAJOR"/bin/*) echo "bin/${1#/usr/lib/postgresql/"$MAJOR"/bin/}" ;;
        /usr/share/postgresql/"$MAJOR"/*) echo "share/${1#/usr/share/postgresql/"$MAJOR"/}" ;;
    esac
}

# alternatives POSTINST: prints "link<TAB>target" for every --install and --slave the postinst's
# `update-alternatives` calls make. Only plain assignments and those calls are evaluated, with a
# shell function in place of the command, in an empty environment; a line with command
# substitution, redirection or a command list is never run.
alternatives() {
    local joined assigns calls
    joined=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$1")
    # NAME=value with one word as the value (a following word would be a command to run).
    assigns=$(printf '%s\n' "$joined" | grep -E "^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=(\"[^\"]*\"|'[^']*'|[^[:space:]\"']*)[[:space:]]*\$" |
        grep -vE '\$\(|`|[;&|<>]' || true)
    calls=$(printf '%s\n' "$joined" | grep -E '^[[:space:]]*update-alternatives[[:space:]]' | grep -vE '\$\(|`|[;&|<>]' |
        sed -E 's/^[[:space:]]*update-alternatives/record/' || true)
    [ -n "$calls" ] || return 0
    env -i PATH=/nonexistent /bin/sh -c "record() { for a in \"\$@\"; do printf '%s\n' \"\$a\"; done; echo --end; }
$assigns
$calls" 2>/dev/null | awk '
        $0 == "--install" || $0 == "--slave" { want = 3; n = 0; next }
        want > 0 { arg[++n] = $0; if (n == 3) { print arg[1] "\t" arg[3]; want = 0 }; next }'
}

# build_image IMAGE STAGE PKG...: unpacks the packages and lays them out in STAGE.
build_image() {
    local image=$1 stage=$2 p work=$CACHE/work/$1 link target l t seen
    shift 2
    rm -rf "$work" "$stage"
    mkdir -p "$work" "$stage"
    for p in "$@"; do
        dpkg-deb -x "$CACHE/debs/${deb_of[$p]}" "$work/root" # unpack only: nothing is installed
        dpkg-deb -e "$CACHE/debs/${deb_of[$p]}" "$work/control-$p"
        if [ -f "$work/root/usr/share/doc/$p/copyright" ]; then
            mkdir -p "$stage/licenses/$p"
            cp "$work/root/usr/share/doc/$p/copyright" "$stage/licenses/$p/"
        fi
    done
    local r=$work/root
    if [ -d "$r/usr/lib/postgresql/$MAJOR/lib" ]; then mkdir -p "$stage/lib" && cp -a "$r/usr/lib/postgresql/$MAJOR/lib/." "$stage/lib/"; fi
    if [ -d "$r/usr/lib/postgresql/$MAJOR/bin" ]; then mkdir -p "$stage/bin" && cp -a "$r/usr/lib/postgresql/$MAJOR/bin/." "$stage/bin/"; fi
    if [ -d "$r/usr/share/postgresql/$MAJOR" ]; then mkdir -p "$stage/share" && cp -a "$r/usr/share/postgresql/$MAJOR/." "$stage/share/"; fi
    for p in "$@"; do
        [ -f "$work/control-$p/postinst" ] || continue
        seen=0
        while IFS=$'\t' read -r link target; do
            seen=1
            l=$(map_path "$link")
            t=$(map_path "$target")
            if [ -z "$l" ] || [ -z "$t" ] || [ ! -e "$stage/$t" ]; then
                echo "    $p: alternative $link -> $target is outside the image; not made" >&2
                continue
            fi
            mkdir -p "$(dirname "$stage/$l")"
            ln -sfr "$stage/$t" "$stage/$l"
            echo "    $p: alternative ${l} -> ${t}" >&2
        done < <(alternatives "$work/control-$p/postinst")
        if [ "$seen" = 0 ] && grep -q 'update-alternatives' "$work/control-$p/postinst"; then
            echo "    $p: its postinst calls update-alternatives in a form not evaluated here" >&2
        fi
    done
    rm -rf "$work"
}

# The recipe is the code that lays an image out: changing it rebuilds the images (downloads stay);
# edits elsewhere do not, so worktrees at different commits can share one cache.
recipe=$(declare -f map_path alternatives build_image | sha256sum | cut -c1-64)

step "images (${#images[@]} candidates)"
built=0
cached=0
for image in "${images[@]}"; do
    read -ra pkgs <<<"${members[$image]}"
    debs=()
    for p in "${pkgs[@]}"; do debs+=("${deb_of[$p]}"); done
    key=$(printf '%s\n' "$recipe" "$MAJOR" "${debs[@]}" | sha256sum | cut -c1-64)
    if [ "$(cat "$CACHE/images/$image.key" 2>/dev/null)" = "$key" ]; then cached=$((cached + 1)); continue; fi
    stage=$CACHE/work/$image.stage
    log=$CACHE/logs/$image.log
    build_image "$image" "$stage" "${pkgs[@]}" 2>"$log"
    rm -rf "$CACHE/images/$image" "$CACHE/images/$image".{skip,info,key}
    main=${pkgs[0]}
    if compgen -G "$stage/share/extension/*.control" >/dev/null || compgen -G "$stage/lib/*.so" >/dev/null; then
        mv "$stage" "$CACHE/images/$image"
        for p in "${pkgs[@]}"; do printf '%s=%s ' "$p" "${version_of[$p]}"; done >"$CACHE/images/$image.info"
    else
        rm -rf "$stage"
        printf '%s\t%s\t%s\n' "$main" "${version_of[$main]}" \
            "ships no control file and no library in $MAJOR's lib/ ($(dpkg-deb -c "$CACHE/debs/${deb_of[$main]}" | awk '{print $6}' | grep -c '[^/]$') files)" \
            >"$CACHE/images/$image.skip"
    fi
    [ ! -s "$log" ] || sed 's/^/  /' "$log"
    echo "$key" >"$CACHE/images/$image.key"
    built=$((built + 1))
done
echo "$built laid out, $cached cached"

# ---------------------------------------------------------------------------------------------
step "assemble $1"
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
if grep -qF " $OUT/extensions/" /proc/self/mountinfo; then
    die "images under $OUT/extensions are still mounted (a killed run?): umount them first (tests/oracle/run.sh does on exit)"
fi
corpus_key=$(for image in "${images[@]}"; do cat "$CACHE/images/$image.key"; done | sha256sum | cut -c1-64)
if [ "$(cat "$OUT/.corpus-key" 2>/dev/null)" = "$corpus_key" ] && [ -d "$OUT/extensions" ] && [ -f "$OUT/corpus.tsv" ]; then
    echo "up to date"
else
    rm -f "$OUT/.corpus-key"
    new=$(mktemp -d "$OUT/.extensions.XXXXXX")
    printf 'image\tpackages\tversion\textensions\tlibraries\n' >"$OUT/corpus.tsv.new"
    printf 'package\tversion\treason\n' >"$OUT/skipped.tsv.new"
    for image in "${images[@]}"; do
        if [ -f "$CACHE/images/$image.skip" ]; then cat "$CACHE/images/$image.skip" >>"$OUT/skipped.tsv.new"; continue; fi
        cp -a "$CACHE/images/$image" "$new/$image"
        read -ra pkgs <<<"${members[$image]}"
        exts="" libs=""
        [ ! -d "$new/$image/share/extension" ] || exts=$(find "$new/$image/share/extension" -maxdepth 1 -name '*.control' ! -name '*--*' -printf '%f\n' | sed 's/\.control$//' | LC_ALL=C sort | paste -sd,)
        [ ! -d "$new/$image/lib" ] || libs=$(find "$new/$image/lib" -maxdepth 1 -name '*.so' -printf '%f\n' | LC_ALL=C sort | paste -sd,)
        printf '%s\t%s\t%s\t%s\t%s\n' "$image" "$(printf '%s\n' "${pkgs[@]}" | paste -sd,)" "${version_of[${pkgs[0]}]}" "$exts" "$libs" >>"$OUT/corpus.tsv.new"
    done
    chmod -R u+rwX,go+rX,go-w "$new"
    rm -rf "$OUT/extensions"
    mv "$new" "$OUT/extensions"
    mv "$OUT/corpus.tsv.new" "$OUT/corpus.tsv"
    mv "$OUT/skipped.tsv.new" "$OUT/skipped.tsv"
    echo "$corpus_key" >"$OUT/.corpus-key"
fi
chmod a+rx "$OUT"
chmod a+r "$OUT/corpus.tsv" "$OUT/skipped.tsv"

n_images=$(($(wc -l <"$OUT/corpus.tsv") - 1))
n_ext=$(tail -n +2 "$OUT/corpus.tsv" | cut -f4 | tr , '\n' | grep -c . || true)
n_distinct=$(tail -n +2 "$OUT/corpus.tsv" | cut -f4 | tr , '\n' | grep . | LC_ALL=C sort -u | wc -l)
n_lib=$(tail -n +2 "$OUT/corpus.tsv" | cut -f5 | tr , '\n' | grep -c . || true)
echo "corpus: $n_images images, $n_ext control files ($n_distinct distinct extension names), $n_lib libraries; $(($(wc -l <"$OUT/skipped.tsv") - 1)) packages skipped (see $OUT/skipped.tsv)"
[ "$n_distinct" -ge "$MIN_EXTENSIONS" ] || die "only $n_distinct distinct extensions (want at least $MIN_EXTENSIONS)"
