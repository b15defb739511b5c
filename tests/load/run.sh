#!/usr/bin/env bash
# Load on record (issue #10): CLIENTS clients for SECONDS seconds on every view and function that
# pg_monitor may call, over the wide oracle corpus (every PostgreSQL 18 extension package Debian
# ships, one image each), with the background worker running short cycles and registry
# verifications in flight the whole time. Passes when no statement failed, the server never
# restarted, and every backend's peak memory stayed under PGEXT_LOAD_MAX_RSS_MB.
#
#   tests/load/run.sh [CLIENTS] [SECONDS]        (default 32 clients, 60 s)
#
# Prints pgbench's summary per script, the verifications that ran, and backend memory; the
# numbers on record are in docs/src/load.md. Uses the installed pgext (run install_pgext first, as
# scripts/test.sh does) and the cached corpus of tests/oracle/build-corpus.sh.
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
CLIENTS=${1:-32}
SECONDS_=${2:-60}
MAX_RSS_MB=${PGEXT_LOAD_MAX_RSS_MB:-512}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgext-load.XXXXXX")
chmod 0755 "$WORK"
DATA=$WORK/data
PORT=${PGEXT_LOAD_PORT:-55495}
CORPUS=$WORK/corpus
REG=$WORK/registry
cleanup() {
    [ -n "${verifier:-}" ] && kill "$verifier" 2>/dev/null
    cluster_stop "$DATA" immediate
    [ -d "$REG" ] && bash "$REPO/tests/registry/stop.sh" "$REG" >/dev/null 2>&1
    ro_unmount_images "$CORPUS"
}
trap cleanup EXIT

say "corpus (tests/oracle/build-corpus.sh) in $CORPUS"
bash "$REPO/tests/oracle/build-corpus.sh" "$CORPUS" >"$WORK/corpus.log" 2>&1 || { tail -n 20 "$WORK/corpus.log"; die "corpus failed"; }
images=("$CORPUS"/extensions/*/)
ecp='$system' dlp='$libdir'
for d in "${images[@]}"; do ecp+=":${d%/}/share"; dlp+=":${d%/}/lib"; done

say "an image of the corpus pushed to a loopback registry, pinned: verified again and again during the load"
pick=$(basename "${images[0]%/}")
rport=$(bash "$REPO/tests/registry/start.sh" "$REG")
umoci init --layout "$WORK/oci" >/dev/null
umoci new --image "$WORK/oci:v1" >/dev/null
umoci insert --image "$WORK/oci:v1" "$CORPUS/extensions/$pick" / >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$WORK/oci:v1" "docker://127.0.0.1:$rport/$pick:v1"
digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$rport/$pick:v1")
RO=$(ro_mount_images "$CORPUS")
say "images mounted read-only: $RO"

cat >"$WORK/load.conf" <<EOF
extension_control_path = '$ecp'
dynamic_library_path = '$dlp'
pgext.extensions_root = '$CORPUS/extensions'
shared_preload_libraries = 'pgext'
pgext.check_interval = '10s'
pgext.verify_interval = '10s'
pgext.insecure_registries = '127.0.0.1:$rport'
pgext.images = '$pick=127.0.0.1:$rport/$pick:v1@$digest'
max_connections = $((CLIENTS + 20))
EOF
cluster_start "$DATA" "$PORT" "$WORK/load.conf"
psql_() { cluster_psql "$DATA" "$PORT" -d postgres -qAt "$@"; }
psql_ -c "CREATE EXTENSION pgext" -c "CREATE ROLE load_monitor LOGIN IN ROLE pg_monitor"
start_pid=$(head -n1 "$DATA/postmaster.pid")

# Every view and function pg_monitor may call, one pgbench script each (equal weights).
mkdir -p "$WORK/scripts"
mapfile -t objects < <(psql_ <<'SQL'
SELECT format('SELECT * FROM %s', c.oid::regclass)
  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgext') AND c.relkind IN ('v', 'r')
   AND has_table_privilege('pg_monitor', c.oid, 'SELECT')
UNION ALL
SELECT format('SELECT %s(%s)', p.oid::regproc,
              CASE WHEN p.pronargs = 0 THEN '' WHEN p.oid::regprocedure::text LIKE '%(text)' THEN '''vector''' ELSE '' END)
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgext')
   AND has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AND p.pronargs <= 1
   AND (p.pronargs = 0 OR p.oid::regprocedure::text LIKE '%(text)')
ORDER BY 1
SQL
)
args=()
for i in "${!objects[@]}"; do
    printf '%s;\n' "${objects[$i]}" >"$WORK/scripts/$i.sql"
    args+=(-f "$WORK/scripts/$i.sql")
done
say "${#objects[@]} statements: ${objects[*]}"

# Verifications in flight all the time, besides the worker's own.
(
    while true; do
        cluster_psql "$DATA" "$PORT" -d postgres -qAt -c "SELECT status FROM pgext.verify_image('$pick')" >>"$WORK/verify.log" 2>&1 || echo "verify failed" >>"$WORK/verify.log"
    done
) &
verifier=$!

# Peak memory of every backend, sampled each second.
(
    end=$((SECONDS + SECONDS_ + 5))
    while [ $SECONDS -lt $end ]; do
        for p in $(pgrep -P "$start_pid"); do
            awk -v p="$p" '/^VmHWM/ { print p, $2 }' "/proc/$p/status" 2>/dev/null
        done
        sleep 1
    done
) >"$WORK/rss.log" &
sampler=$!

say "pgbench: $CLIENTS clients as a pg_monitor member, ${SECONDS_}s, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
set +e
"$PG_BINDIR/pgbench" -n -c "$CLIENTS" -j 2 -T "$SECONDS_" -h "$DATA" -p "$PORT" -U load_monitor "${args[@]}" postgres >"$WORK/pgbench.out" 2>&1
rc=$?
set -e
wait "$sampler" || true
kill "$verifier" 2>/dev/null; wait "$verifier" 2>/dev/null || true
verifier=""
grep -E "number of (transactions actually processed|failed transactions)|latency average|tps =|^SQL script [0-9]+:| - number of transactions|- latency average" "$WORK/pgbench.out" || true

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
[ "$rc" -eq 0 ] || { tail -n 20 "$WORK/pgbench.out"; fail "pgbench exited $rc"; }
errors=$(grep -c 'ERROR\|FATAL' "$WORK/pgbench.out" || true)
[ "$errors" -eq 0 ] || fail "$errors client errors (see $WORK/pgbench.out)"
[ "$(head -n1 "$DATA/postmaster.pid")" = "$start_pid" ] || fail "the postmaster changed"
grep -q 'terminated by signal\|server process .* was terminated\|all server processes terminated' "$DATA/server.log" \
    && fail "a backend crashed (server log)"
verifications=$(grep -c . "$WORK/verify.log" || true)
verified=$(grep -cx verified "$WORK/verify.log" || true)
echo "verifications during the load: $verifications ($verified verified)"
[ "$verified" -ge 1 ] && [ "$verified" -eq "$verifications" ] || fail "verifications: $(sort "$WORK/verify.log" | uniq -c | tr '\n' ' ')"
cycles=$(psql_ -c "SELECT cycles || ' cycles, last outcome ' || last_cycle_outcome FROM pgext.worker_status")
echo "worker: $cycles"
peak=$(awk '{ if ($2 > m) m = $2 } END { print int(m / 1024) }' "$WORK/rss.log")
echo "peak backend memory (VmHWM): ${peak} MiB over $(awk '{ print $1 }' "$WORK/rss.log" | sort -u | wc -l) processes"
[ "$peak" -le "$MAX_RSS_MB" ] || fail "a backend peaked at ${peak} MiB (limit $MAX_RSS_MB)"
echo "load: $((failures == 0 ? 1 : 0)) passed, $((failures == 0 ? 0 : 1)) failed"
[ "$failures" -eq 0 ]
