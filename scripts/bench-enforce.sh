#!/usr/bin/env bash
# Cost of pgext.enforce: CREATE EXTENSION + DROP EXTENSION of a C extension from a pinned and
# verified image, and LOAD of its library, under pgbench with pgext.enforce = off, warn and on
# (policy pinned,verified,compatible). Prints latency per transaction and the overhead over off.
# Then the cost of judging every load: a SELECT of a C function from that image in an existing
# session, and in a new session per transaction, off against on (targets 1.05x and 1.2x).
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

# Every load (the function-load hook): a pgbench SELECT of a C function from the pinned and
# verified image, in an existing session and with a new session per transaction (pgbench -C,
# the connection included), off against on, interleaved and repeated (BENCH_REPEAT, default 3;
# the median of each is kept) so that both see the same machine.
psql_ -c "CREATE EXTENSION pgext_fixture"
printf 'SELECT pgext_fixture_add(1, 2);\n' >"$WORK/call.sql"
tps() { # tps MODE [pgbench options]: transactions per second (new sessions: including connecting)
    local mode=$1; shift
    PGOPTIONS="-c pgext.enforce=$mode" "$PG_BINDIR/pgbench" -n -h "$DATA" -p "$PORT" -U postgres \
        -T "$BENCH_SECONDS" "$@" -f "$WORK/call.sql" postgres 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
REPEAT=${BENCH_REPEAT:-3}
printf '\n%-44s %10s %10s %8s %8s\n' "function load (tps, median of $REPEAT)" off on "off/on" target
for kind in existing new; do
    opts=()
    [ $kind = new ] && opts=(-C)
    offs=(); ons=()
    for _ in $(seq "$REPEAT"); do
        offs+=("$(tps off "${opts[@]}")")
        ons+=("$(tps on "${opts[@]}")")
    done
    off=$(median "${offs[@]}"); on=$(median "${ons[@]}")
    ratio=$(awk -v a="$off" -v b="$on" 'BEGIN{printf "%.3f", a/b}')
    target=$([ $kind = existing ] && echo 1.05 || echo 1.2)
    label=$([ $kind = existing ] && echo "SELECT, existing session" || echo "SELECT, new session (pgbench -C)")
    met=$(awk -v r="$ratio" -v t="$target" 'BEGIN{print (r <= t) ? "yes" : "no"}')
    printf '%-44s %10s %10s %8s %8s %s\n' "$label" "$off" "$on" "$ratio" "<= $target" "$met"
    echo "  runs off: ${offs[*]}; on: ${ons[*]}"
done
n=$(psql_ -Atc "SELECT count(*) FROM pgext.enforcement_log WHERE action = 'function_load' AND outcome = 'allowed'")
echo "function loads judged and allowed (decision log, newest $((256)) kept): $n"
