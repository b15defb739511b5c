#!/usr/bin/env bash
# Runs the pg_regress suites (tests/pg_regress/{sql,expected}) against a real PostgreSQL 18
# server started here as the unprivileged cluster owner, PGXS installcheck style.
# Usage: scripts/regress.sh [test ...]   (default: every tests/pg_regress/sql/*.sql)
source "$(dirname "$0")/lib.sh"
load_setup

WORK=${PGEXT_REGRESS_DIR:-$(mktemp -d /tmp/pgext-regress.XXXXXX)}
mkdir -p "$WORK"
chmod 0755 "$WORK"
FX=$WORK/fx
DATA=$WORK/data
PORT=${PGEXT_REGRESS_PORT:-55432}
cleanup() {
    cluster_stop "$DATA" immediate
    bash "$REPO/tests/pg_regress/make-registry.sh" "$FX" stop
    ro_unmount_images "$FX"
}
trap cleanup EXIT

say "laying out fixtures in $FX"
mkdir -p "$FX"
bash "$REPO/tests/pg_regress/make-tree.sh" "$FX"
say "building OCI images and starting loopback registries"
bash "$REPO/tests/pg_regress/make-registry.sh" "$FX"
set -a
source "$FX/registry.env"
set +a
RO=$(ro_mount_images "$FX")
say "images mounted read-only: $RO"

say "starting PostgreSQL 18 in $DATA"
# As CloudNativePG does for an extension with ld_library_path: [system], bin_path: [bin] and env
# (PROJ_DATA into the image; GDAL_DATA a list whose second element names the unmounted ghost).
PGEXT_SERVER_LD_LIBRARY_PATH=$FX/extensions/needs_system/system \
PGEXT_SERVER_ENV="PATH=$FX/extensions/needs_system/bin:$PG_BINDIR:/usr/bin:/bin PROJ_DATA=$FX/extensions/needs_system/share/proj GDAL_DATA=/usr/share/gdal:$FX/extensions/ghost/share/gdal" \
    cluster_start "$DATA" "$PORT" "$FX/regress.conf"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$REPO"/tests/pg_regress/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
fi
# setup.sql prepares the database for every other suite: always first, exactly once.
rest=()
for t in "${tests[@]}"; do [ "$t" = setup ] || rest+=("$t"); done
tests=(setup "${rest[@]}")

say "pg_regress: ${tests[*]}"
out=$WORK/out
mkdir -p "$out"
set +e
PGEXT_FIXTURES=$FX PGEXT_READ_ONLY=$RO PGEXT_SHAREDIR=$PG_SHAREDIR PGEXT_PKGLIBDIR=$PG_PKGLIBDIR \
    "$PG_PKGLIBDIR/pgxs/src/test/regress/pg_regress" --bindir="$PG_BINDIR" \
    --host="$DATA" --port="$PORT" --user=postgres \
    --inputdir="$REPO/tests/pg_regress" --outputdir="$out" \
    --dbname=pgext_regress --load-extension=pgext "${tests[@]}"
rc=$?
set -e
if [ $rc -ne 0 ]; then
    [ -f "$out/regression.diffs" ] && cat "$out/regression.diffs"
    echo "pg_regress failed; results kept in $out, server log in $DATA/server.log"
    trap - EXIT
    cleanup
    exit $rc
fi
trap - EXIT
cleanup
rm -rf "$WORK"
