#!/usr/bin/env bash
# pgext itself on arm64: the cross-compiled pgext, taken out of its multi-arch image by platform,
# mounted as an image in a real arm64 PostgreSQL 18 (Debian's, emulated on this amd64 machine as
# in the arm64 oracle), preloaded, installed and asked about real arm64 extension images. See
# docs/src/operations/arm64.md.
#
#   tests/arm64/run.sh [OUTDIR]        (default: $TMPDIR/pgext-arm64)
#
# 1. scripts/package-image.sh --platform linux/<this machine>,linux/arm64: pgext built for both
#    (arm64 by scripts/build-arm64.sh), one image each and the multi-arch index. The index must
#    list both platforms and resolve (here and through skopeo) to images whose config says that
#    platform and whose pgext.so is that machine's ELF.
# 2. The arm64 image's layer, chosen from the index for linux/arm64, is mounted at
#    /extensions/pgext in the arm64 root beside a few of Debian's arm64 extension images
#    (PGEXT_ARM64_IMAGES), composed as CloudNativePG does; shared_preload_libraries = 'pgext'.
# 3. In the emulated server: CREATE EXTENSION pgext at the packaged version; the worker runs a
#    check cycle; pgext.mounted_images sees every image mounted, with the tree digest
#    scripts/tree-digest.sh computes here; pgext.library_compat reads arm64 modules (AArch64,
#    magic block 18); every verdict of pgext.mounted_extensions.compatible and
#    pgext.library_compat.loadable agrees with a real CREATE EXTENSION … CASCADE / LOAD in that
#    server and with pgext-check on this machine for the same root; pgext.enforce refuses a
#    CREATE EXTENSION its verdict refuses and lets a compatible one through.
# 4. pgext-check built for arm64 (build-arm64.sh --check), run in the root under emulation, gives
#    the same JSON as pgext-check on this machine.
#
# Environment: PGEXT_ARM64_IMAGES (default: the arm64 oracle's CI subset), PGEXT_ARM64_PORT
# (55451), PGEXT_ARM64_TIMEOUT (seconds per statement, 300), PROFILE (release), and those of
# build-arm64.sh, build-root.sh and build-corpus.sh (PGEXT_CACHE, PGEXT_ORACLE_REFRESH, …).
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
command -v python3 >/dev/null || die "python3 is missing: apt-get install python3"
command -v skopeo >/dev/null || die "skopeo is missing: run scripts/setup.sh"

OUT=${1:-${TMPDIR:-/tmp}/pgext-arm64}
MAJOR=18
EMU_PORT=${PGEXT_ARM64_PORT:-55451}
EMU_TIMEOUT=${PGEXT_ARM64_TIMEOUT:-300}
source "$REPO/tests/oracle-arm64/emulated.sh"
read -ra images <<<"${PGEXT_ARM64_IMAGES:-cron pgaudit pglogical age hll orafce partman ogr-fdw pg-permissions}"
mkdir -p "$OUT"
chmod 0755 "$OUT"
OUT=$(cd "$OUT" && pwd)
t_start=$(date +%s)
declare -a times=()
lap() { times+=("$1	$(($(date +%s) - $2))"); }
emu_binfmt
trap emu_cleanup EXIT
host_arch=$(dpkg --print-architecture)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)

# ---------------------------------------------------------------------------------------------
say "1. pgext's multi-arch image (linux/$host_arch, linux/arm64)"
t0=$(date +%s)
LAYOUT=$OUT/layout
rm -rf "$LAYOUT"
bash "$REPO/scripts/package-image.sh" --platform "linux/$host_arch,linux/arm64" "$LAYOUT" test
python3 "$REPO/tests/arm64/image.py" check "$LAYOUT" test "linux/$host_arch" linux/arm64
# containers/image (skopeo) resolves the index by platform, as a node pulling it does: a copy for
# each architecture holds that platform's manifest, whose config says that architecture.
rm -rf "$OUT/pulled"
for arch in "$host_arch" arm64; do
    want=$(python3 "$REPO/tests/arm64/image.py" digest "$LAYOUT" test "linux/$arch")
    skopeo copy -q --override-os linux --override-arch "$arch" "oci:$LAYOUT:test" "oci:$OUT/pulled:$arch"
    got=$(python3 "$REPO/tests/arm64/image.py" tagged "$OUT/pulled" "$arch")
    [ "$got" = "$want linux/$arch" ] || die "skopeo resolves oci:$LAYOUT:test for linux/$arch to '$got'; the index lists $want"
    echo "    skopeo copy for linux/$arch: $want"
done
lap "image (both builds, index)" "$t0"
# pgext-check for arm64 (pgext itself is built already: this only packages it again).
t0=$(date +%s)
PKG_ARM64=$OUT/pkg-arm64
bash "$REPO/scripts/build-arm64.sh" --check "$PKG_ARM64"
lap "pgext-check for arm64" "$t0"

# ---------------------------------------------------------------------------------------------
say "2. the arm64 root, Debian's arm64 images, and pgext's arm64 image mounted beside them"
t0=$(date +%s)
PGEXT_ORACLE_ARCH=arm64 PGEXT_ORACLE_MIN_EXTENSIONS=${PGEXT_ORACLE_MIN_EXTENSIONS:-80} \
    bash "$REPO/tests/oracle/build-corpus.sh" "$OUT/corpus"
emu_cached_root
emu_root "$OUT"
ROOT=$EMU_ROOT
python3 "$REPO/tests/arm64/image.py" extract "$LAYOUT" test linux/arm64 "$ROOT/extensions/pgext"
for i in "${images[@]}"; do
    [ -d "$OUT/corpus/extensions/$i" ] || die "no image $i in the arm64 corpus (see $OUT/corpus/corpus.tsv)"
    cp -a "$OUT/corpus/extensions/$i" "$ROOT/extensions/$i"
done
chmod -R a+rX "$ROOT/extensions"
all=(pgext "${images[@]}")
emu_initdb
ecp='$system'
dlp='$libdir'
for i in "${all[@]}"; do ecp+=":/extensions/$i/share"; dlp+=":/extensions/$i/lib"; done
cat >>"$ROOT/data/postgresql.conf" <<EOF
extension_control_path = '$ecp'
dynamic_library_path = '$dlp'
pgext.extensions_root = '/extensions'
max_worker_processes = 64
restart_after_crash = on
EOF
lap "root and images" "$t0"

# ---------------------------------------------------------------------------------------------
say "3. the emulated server with pgext preloaded"
t0=$(date +%s)
emu_start pgext || { tail -n 30 "$OUT/server.log"; die "the emulated server did not start with pgext preloaded (log: $OUT/server.log)"; }
lap "server start (pgext preloaded)" "$t0"
q() { emu_psql -d postgres -v ON_ERROR_STOP=1 -qAt -F $'\t' -c "$1"; }
t0=$(date +%s)
q "CREATE EXTENSION pgext" || die "CREATE EXTENSION pgext failed in the arm64 server (log: $OUT/server.log)"
got=$(q "SELECT extversion FROM pg_extension WHERE extname = 'pgext'")
[ "$got" = "$version" ] || die "pgext's version in the arm64 server is '$got', the package's $version"
got=$(q "SELECT probin FROM pg_proc WHERE proname = 'mounted_images' AND pronamespace = 'pgext'::regnamespace")
echo "    CREATE EXTENSION pgext: $version, functions in $got"
lap "CREATE EXTENSION pgext" "$t0"

t0=$(date +%s)
q "SELECT pgext.check_now(true)" >/dev/null || die "pgext.check_now(true) failed (log: $OUT/server.log)"
got=$(q "SELECT up, cycles >= 1, last_cycle_outcome, coalesce(last_error, '') FROM pgext.worker_status")
IFS=$'\t' read -r up cycled outcome err <<<"$got"
[ "$up" = t ] && [ "$cycled" = t ] && [ "$outcome" != error ] ||
    die "the worker on arm64: up=$up, a cycle completed=$cycled, outcome=$outcome, error=$err"
echo "    worker: up, cycle outcome $outcome ($(q "SELECT status FROM pgext.health"))"
lap "worker check cycle" "$t0"

# The views, as JSON.
t0=$(date +%s)
q "SELECT json_agg(json_build_object('name', name, 'mounted', mounted, 'tree_digest', tree_digest,
        'extension_count', extension_count, 'library_count', library_count) ORDER BY name)
   FROM pgext.mounted_images" >"$OUT/mounted_images.json"
q "SELECT json_agg(json_build_object('name', name, 'image', image, 'compatible', compatible,
        'problems', problems) ORDER BY name)
   FROM pgext.mounted_extensions WHERE visible AND image IS NOT NULL" >"$OUT/mounted_extensions.json"
q "SELECT json_agg(json_build_object('path', path, 'image', image, 'loadable', loadable, 'machine', machine,
        'magic_version', magic_version, 'preload', preload, 'problems', problems) ORDER BY path)
   FROM pgext.library_compat WHERE image IS NOT NULL AND source = 'library_path'" >"$OUT/library_compat.json"
lap "views (first read)" "$t0"
for i in "${all[@]}"; do printf '%s\t%s\n' "$i" "$(bash "$REPO/scripts/tree-digest.sh" "$ROOT/extensions/$i")"; done >"$OUT/digests.tsv"

# pgext-check here, for the same root, images and preload; and pgext-check built for arm64, run in
# the root under emulation, must say exactly the same.
CHECK=${PGEXT_CHECK:-}
if [ -z "$CHECK" ] || [ ! -x "$CHECK" ]; then
    (cd "$REPO" && cargo build --quiet -p pgext-check)
    CHECK=${CARGO_TARGET_DIR:-$REPO/target}/debug/pgext-check
fi
args=()
for i in "${all[@]}"; do args+=(--image "$i=$ROOT/extensions/$i"); done
"$CHECK" --server "$ROOT" --preload pgext --json "${args[@]}" >"$OUT/cli.json" || [ $? = 1 ] || die "pgext-check failed (above)"
t0=$(date +%s)
cp "$PKG_ARM64/usr/bin/pgext-check" "$ROOT/usr/bin/pgext-check"
args=()
for i in "${all[@]}"; do args+=(--image "$i=/extensions/$i"); done
emu_in_root pgext-check --server / --preload pgext --json "${args[@]}" >"$OUT/cli-arm64.json" || [ $? = 1 ] ||
    die "pgext-check (arm64, emulated) failed (above)"
python3 "$REPO/tests/arm64/check.py" --same-cli "$OUT" || die "pgext-check for arm64 answers differently from pgext-check here (above)"
lap "pgext-check (arm64, emulated)" "$t0"

# Every verdict, tried for real.
t0=$(date +%s)
printf 'kind\tname\tpostgres\tmessage\n' >"$OUT/results.tsv"
while IFS=$'\t' read -r kind item; do
    if [ "$kind" = create ]; then emu_try "CREATE EXTENSION \"${item//\"/\"\"}\" CASCADE"; else emu_try "LOAD '$item'"; fi
    printf '%s\t%s\t%s\t%s\n' "$kind" "$item" "$OUTCOME" "$MESSAGE" >>"$OUT/results.tsv"
done < <(python3 "$REPO/tests/arm64/check.py" --list "$OUT")
# Enforcement: pgext refuses what its verdict refuses, and lets a compatible extension through.
while IFS=$'\t' read -r kind item; do
    emu_try "SET pgext.enforce = on; SET pgext.require = 'compatible'; CREATE EXTENSION \"$item\" CASCADE"
    printf '%s\t%s\t%s\t%s\n' "$kind" "$item" "$OUTCOME" "$MESSAGE" >>"$OUT/results.tsv"
done < <(python3 "$REPO/tests/arm64/check.py" --enforce-list "$OUT")
lap "statements" "$t0"
emu_stop

set +e
python3 "$REPO/tests/arm64/check.py" --report "$OUT" | tee "$OUT/report.txt"
rc=${PIPESTATUS[0]}
set -e
echo "times (s):"
printf '    %s\n' "${times[@]}" "total	$(($(date +%s) - t_start))"
echo "results: $OUT/results.tsv, views: $OUT/*.json, pgext-check: $OUT/cli.json, server log: $OUT/server.log"
if [ "$rc" = 0 ]; then # the root's writes and the copies are kept only for a failure
    emu_cleanup
    rm -rf "$OUT/upper" "$OUT/work" "$OUT/pulled" "$PKG_ARM64"
fi
exit "$rc"
