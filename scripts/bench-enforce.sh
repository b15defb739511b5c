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
cleanup() { cluster_stop "$DATA" immediate; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"; }
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
# Only the measured backends exit during a run: their CPU is what the postmaster collects.
autovacuum = off
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
# BENCH_ENFORCE_DDL=0 skips the DDL and LOAD part (the function-load part alone).
if [ "${BENCH_ENFORCE_DDL:-1}" = 1 ]; then
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
fi

# Every load (the function-load hook): a pgbench SELECT of a C function from the pinned and
# verified image, in an existing session and with a new session per transaction (pgbench -C,
# the connection included), off against on, interleaved and repeated (BENCH_REPEAT, default 5;
# the median of each is kept) so that both see the same machine. Two measures of each run:
# - the server's CPU time per transaction: the CPU its backends used, which the postmaster
#   collects as each one exits (cutime + cstime in /proc/<postmaster>/stat), over a fixed number
#   of transactions. It counts only the work done and hardly moves when other processes share
#   the machine; the targets are judged on it;
# - transactions per second (wall clock), which other load on the machine spreads widely.
psql_ -c "CREATE EXTENSION pgext_fixture"
printf 'SELECT pgext_fixture_add(1, 2);\n' >"$WORK/call.sql"
PM=$(head -n1 "$DATA/postmaster.pid")
TICK=$(getconf CLK_TCK)
children_ticks() { awk '{print $16 + $17}' "/proc/$PM/stat"; }
# measure MODE TRANSACTIONS [pgbench options]: prints "CPU-us-per-transaction tps".
measure() {
    local mode=$1 n=$2; shift 2
    local t0 t1 tps
    t0=$(children_ticks)
    tps=$(PGOPTIONS="-c pgext.enforce=$mode" "$PG_BINDIR/pgbench" -n -h "$DATA" -p "$PORT" -U postgres \
        -t "$n" "$@" -f "$WORK/call.sql" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
    sleep 0.2 # the postmaster reaps the backend after pgbench has gone
    t1=$(children_ticks)
    awk -v a="$t0" -v b="$t1" -v t="$TICK" -v n="$n" -v p="$tps" 'BEGIN{printf "%.2f %.0f\n", (b-a)/t/n*1e6, p}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
REPEAT=${BENCH_REPEAT:-5}
EXISTING_TX=${BENCH_EXISTING_TRANSACTIONS:-100000}
NEW_TX=${BENCH_NEW_TRANSACTIONS:-1000}
printf '\n%-34s %-22s %10s %10s %8s %8s\n' "function load (median of $REPEAT)" measure off on "on/off" target
for kind in existing new; do
    opts=(); n=$EXISTING_TX
    [ $kind = new ] && { opts=(-C); n=$NEW_TX; }
    cpu_off=(); cpu_on=(); tps_off=(); tps_on=()
    for i in $(seq "$REPEAT"); do
        # Alternate which goes first, so that neither always runs after the other.
        order=(off on)
        [ $((i % 2)) = 0 ] && order=(on off)
        for mode in "${order[@]}"; do
            read -r c t < <(measure "$mode" "$n" "${opts[@]}")
            if [ "$mode" = off ]; then cpu_off+=("$c"); tps_off+=("$t"); else cpu_on+=("$c"); tps_on+=("$t"); fi
        done
    done
    target=$([ $kind = existing ] && echo 1.05 || echo 1.2)
    label=$([ $kind = existing ] && echo "SELECT, existing session" || echo "SELECT, new session (-C)")
    co=$(median "${cpu_off[@]}"); cn=$(median "${cpu_on[@]}")
    r=$(awk -v a="$co" -v b="$cn" 'BEGIN{printf "%.3f", b/a}')
    met=$(awk -v r="$r" -v t="$target" 'BEGIN{print (r <= t) ? "yes" : "no"}')
    printf '%-34s %-22s %10s %10s %8s %8s %s\n' "$label" "server CPU us/transaction" "$co" "$cn" "$r" "<= $target" "$met"
    to=$(median "${tps_off[@]}"); tn=$(median "${tps_on[@]}")
    printf '%-34s %-22s %10s %10s %8s\n' "" "tps (off/on)" "$to" "$tn" "$(awk -v a="$to" -v b="$tn" 'BEGIN{printf "%.3f", a/b}')"
    echo "  runs, CPU us off: ${cpu_off[*]}; on: ${cpu_on[*]}"
    echo "  runs, tps off: ${tps_off[*]}; on: ${tps_on[*]}"
done
n=$(psql_ -Atc "SELECT count(*) FROM pgext.enforcement_log WHERE action = 'function_load' AND outcome = 'allowed'")
echo "function loads judged and allowed (decision log, newest $((256)) kept): $n"

# Instructions per transaction (BENCH_ENFORCE_CALLGRIND=1, the default when valgrind is
# installed): the same server restarted under callgrind, and the backend of one pgbench session
# counted with BENCH_CG_SHORT and then BENCH_CG_LONG transactions, for off and for on; the
# difference divided by the extra transactions is the cost of one transaction without the
# connection. Instruction counts do not depend on what else the machine runs: this is the figure
# to compare across runs when the machine is busy.
if [ "${BENCH_ENFORCE_CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null; then
    cluster_stop "$DATA" fast
    CG=$WORK/callgrind
    owner_dir "$CG"
    as_owner valgrind --tool=callgrind --callgrind-out-file="$CG/out.%p" "$PG_BINDIR/postgres" -D "$DATA" \
        -c log_disconnections=on -c "log_line_prefix=%p %a " -c log_min_messages=log >"$WORK/valgrind.log" 2>&1 &
    for _ in $(seq 240); do "$PG_BINDIR/pg_isready" -q -h "$DATA" -p "$PORT" && break; sleep 0.5; done
    "$PG_BINDIR/pg_isready" -q -h "$DATA" -p "$PORT" || die "the server did not start under valgrind ($WORK/valgrind.log)"
    SHORT=${BENCH_CG_SHORT:-200}
    LONG=${BENCH_CG_LONG:-1200}
    # instructions MODE N: the instructions of one session's backend running N transactions.
    # The server logs each backend's disconnection with its pid and application name; pgbench
    # also makes a short first connection, so the session is the larger of the two.
    instructions() {
        local app="pgext-cg-$1-$2" pids p n best=0
        PGAPPNAME=$app PGOPTIONS="-c pgext.enforce=$1" "$PG_BINDIR/pgbench" -n -h "$DATA" -p "$PORT" -U postgres \
            -t "$2" -f "$WORK/call.sql" postgres >/dev/null 2>&1 || die "pgbench under valgrind failed"
        for _ in $(seq 240); do
            pids=$(sed -n "s/^\([0-9]*\) $app .*disconnection:.*/\1/p" "$WORK/valgrind.log")
            n=0
            for p in $pids; do grep -q '^summary:' "$CG/out.$p" 2>/dev/null && n=$((n + 1)); done
            [ "$n" -ge 2 ] && break
            sleep 0.5
        done
        [ "$n" -ge 2 ] || die "no callgrind output for the backends of $app"
        for p in $pids; do
            n=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$CG/out.$p")
            [ "${n:-0}" -gt "$best" ] && best=$n
        done
        echo "$best"
    }
    # The worker's first cycle after the restart publishes a status, which makes shared decisions
    # stale: wait until it has run, so that no measured session pays for that.
    for _ in $(seq 600); do
        [ "$(psql_ -Atc "SELECT cycles > 0 AND NOT cycle_running FROM pgext.worker_status" 2>/dev/null)" = t ] && break
        sleep 1
    done
    # Not measured: the first session after a restart (it also builds the relation cache's init
    # file), and the first under on (it judges the library and shares the decision, which every
    # later session takes): both runs of each mode then carry the same one-time costs.
    instructions off 10 >/dev/null
    instructions on 10 >/dev/null
    printf '\n%-44s %12s %12s %8s %8s\n' "instructions per transaction (callgrind)" off on "on/off" target
    declare -A ir
    for mode in off on; do
        s=$(instructions "$mode" "$SHORT"); l=$(instructions "$mode" "$LONG")
        ir[$mode]=$(awk -v s="$s" -v l="$l" -v a="$SHORT" -v b="$LONG" 'BEGIN{printf "%.0f", (l-s)/(b-a)}')
    done
    r=$(awk -v a="${ir[off]}" -v b="${ir[on]}" 'BEGIN{printf "%.3f", b/a}')
    met=$(awk -v r="$r" 'BEGIN{print (r <= 1.05) ? "yes" : "no"}')
    printf '%-44s %12s %12s %8s %8s %s\n' "SELECT, existing session" "${ir[off]}" "${ir[on]}" "$r" "<= 1.05" "$met"
    as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >/dev/null || true
fi
