#!/usr/bin/env bash
# Cost of pgext.enforce: CREATE EXTENSION + DROP EXTENSION of a C extension from a pinned and
# verified image, and LOAD of its library, under pgbench with pgext.enforce = off, warn and on
# (policy pinned,verified,compatible). Prints latency per transaction and the overhead over off.
# A debug build measures debug code: PGEXT_BENCH_INSTALL=1 installs a release build first.
#
#   scripts/bench-enforce.sh        (BENCH_SECONDS: pgbench -T, default 10; PGEXT_BENCH_PORT 55435)
source "$(dirname "$0")/lib.sh"
load_setup
BENCH_SECONDS=${BENCH_SECONDS:-10}
PORT=${PGEXT_BENCH_PORT:-55435}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgext-bench-enforce.XXXXXX")
chmod 0755 "$WORK"
DATA=$WORK/data
cleanup() { cluster_stop "$DATA" immediate; rm -rf "$WORK"; }
trap cleanup EXIT
if [ "${PGEXT_BENCH_INSTALL:-0}" = 1 ]; then PROFILE=release install_pgext; fi

say "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
bash "$REPO/tests/fixtures/build.sh" "$WORK/real" >"$WORK/build.log" 2>&1 || { tail "$WORK/build.log"; die "fixtures"; }
E=$WORK/extensions
mkdir -p "$E"
cp -a "$WORK/real/extensions/pgext_fixture" "$E/fixture"
chmod -R a+rX "$E"
umoci init --layout "$WORK/oci" >/dev/null
umoci new --image "$WORK/oci:v1" >/dev/null
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
umoci insert "${rootless[@]}" --image "$WORK/oci:v1" "$E/fixture" / >/dev/null
chmod -R a+rX "$WORK/oci"
owner_dir "$WORK/spool"
cat >"$WORK/bench.conf" <<CONF
shared_preload_libraries = 'pgext'
extension_control_path = '\$system:$E/fixture/share'
dynamic_library_path = '\$libdir:$E/fixture/lib'
pgext.extensions_root = '$E'
pgext.images = 'fixture=oci:$WORK/oci:v1'
pgext.layout_directories = '$WORK'
pgext.check_interval = 3600
pgext.verify_interval = 0
pgext.spool_directory = '$WORK/spool'
CONF
cluster_start "$DATA" "$PORT" "$WORK/bench.conf"
psql_() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -U postgres -d postgres "$@"; }
psql_ -c "CREATE EXTENSION pgext" -Atc "SELECT status FROM pgext.verify_image('fixture')" | grep -qx verified \
    || die "the image did not verify"
printf 'CREATE EXTENSION pgext_fixture;\nDROP EXTENSION pgext_fixture;\n' >"$WORK/create.sql"
printf "LOAD 'pgext_fixture';\n" >"$WORK/load.sql"

# run SCRIPT MODE [REQUIRE]: average latency in ms per transaction (pgbench, one client).
run() {
    PGOPTIONS="-c pgext.enforce=$2 -c pgext.require=${3:-pinned,verified,compatible}" "$PG_BINDIR/pgbench" -n -h "$DATA" -p "$PORT" -U postgres -T "$BENCH_SECONDS" \
        -f "$1" postgres 2>/dev/null | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
d() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%+.3f", a-b}'; }
printf '\n%-36s %8s %8s %8s %18s %14s\n' "ms per transaction" off warn on "on pinned,verified" "on compatible"
for what in create load; do
    off=$(run "$WORK/$what.sql" off)
    warn=$(run "$WORK/$what.sql" warn)
    on=$(run "$WORK/$what.sql" on)
    pv=$(run "$WORK/$what.sql" on pinned,verified)
    co=$(run "$WORK/$what.sql" on compatible)
    label=$([ $what = create ] && echo "CREATE+DROP EXTENSION pgext_fixture" || echo "LOAD 'pgext_fixture'")
    printf '%-36s %8s %8s %8s %18s %14s\n' "$label" "$off" "$warn" "$on" "$pv" "$co"
    printf '%-36s %8s %8s %8s %18s %14s\n' "  overhead over off" "" "$(d "$warn" "$off")" "$(d "$on" "$off")" \
        "$(d "$pv" "$off")" "$(d "$co" "$off")"
done
n=$(psql_ -Atc "SELECT allowed FROM pgext.enforcement_status")
echo "decisions recorded (allowed): $n"
