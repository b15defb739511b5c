#!/usr/bin/env bash
# The pgext background worker against real servers (no mocks): a primary with pgext preloaded and
# a one-second interval, real fixture images (tests/pg_regress/make-tree.sh) verified against a
# loopback docker-registry and an OCI layout (tests/pg_regress/make-registry.sh), a streaming
# standby, and a server without preloading.
#
#   tests/worker/run.sh            every case; PASS/FAIL lines, then "N passed, M failed"
#   tests/worker/run.sh cpu [S]    CPU use of the worker at steady state: 10 images, a 60 s
#                                  interval, measured over S seconds (default 300); no verdict
#
# Needs root or the cluster owner (scripts/setup.sh), PostgreSQL 18 and pgext installed
# (scripts/test.sh worker installs it first). Work files: $PGEXT_WORKER_DIR or a fresh
# /tmp/pgext-worker.*; kept on failure.
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
export PG_CONFIG

MODE=${1:-test}
# A prerequisite that is missing fails the suite (scripts/setup.sh installs them all).
python3 -c 'import yaml' 2>/dev/null || die "python3-yaml is missing (tests/worker/cnpg_check.py needs it): run scripts/setup.sh"
for tool in mkfs.ext4 debugfs losetup mount; do
    command -v "$tool" >/dev/null || die "$tool is missing (the full re-hash test needs it)"
done
# cargo pgrx install rewrites pgext.so in place: a server that has it mapped (preloaded) then
# crashes. Another install during the run is reported, since it would explain failures.
so_identity() { stat -c '%i %Y %s' "$PG_PKGLIBDIR/pgext.so" 2>/dev/null || true; }
SO_AT_START=$(so_identity)
WORK=${PGEXT_WORKER_DIR:-$(mktemp -d /tmp/pgext-worker.XXXXXX)}
mkdir -p "$WORK"
chmod 0755 "$WORK"
FX=$WORK/fx
ROOT=$WORK/ext
DATA=$WORK/primary
SBASE=$WORK/sb
SDATA=$SBASE/data
NDATA=$WORK/nopreload
PORT=${PGEXT_WORKER_PORT:-55471}
SPORT=$((PORT + 1))
NPORT=$((PORT + 2))
WORKER="pgext health checker"

passed=0
failed=0
pass() {
    echo "PASS: $*"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

cleanup() {
    local f
    for f in "$WORK"/*.proxy.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    [ -n "${ROT_MNT:-}" ] && mountpoint -q "$ROT_MNT" && umount "$ROT_MNT" 2>/dev/null || true
    [ -n "${ROM_MNT:-}" ] && mountpoint -q "$ROM_MNT" && umount "$ROM_MNT" 2>/dev/null || true
    [ -n "${SEAL_ROOT:-}" ] && mountpoint -q "$SEAL_ROOT/probe" && umount "$SEAL_ROOT/probe" 2>/dev/null || true
    cluster_stop "$SDATA" immediate
    cluster_stop "$DATA" immediate
    cluster_stop "$NDATA" immediate
    bash "$REPO/tests/pg_regress/make-registry.sh" "$FX" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# One value from the primary / the standby (unaligned, tuples only).
q() { cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "$1"; }
sq() { cluster_psql "$SDATA" "$SPORT" -d postgres -Atq -c "$1"; }
# Same, but failures are not fatal (the server may be restarting).
q_try() { cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "$1" 2>/dev/null || true; }

# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds; false on timeout.
wait_for() {
    local limit=$1
    shift
    local deadline=$(($(date +%s%N) + limit * 1000000000))
    while [ "$(date +%s%N)" -lt $deadline ]; do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    return 1
}

# q_is SQL VALUE / sq_is SQL VALUE: the primary's / the standby's answer is VALUE. Passed to
# wait_for unevaluated, so each poll asks again.
q_is() { [ "$(q_try "$1")" = "$2" ]; }
sq_is() { [ "$(sq "$1" 2>/dev/null || true)" = "$2" ]; }
log_is() { [ "$(log_count "$1")" = "$2" ]; }
# denied ROLE SQL: SQL run as ROLE fails with "permission denied".
denied() {
    local out
    out=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SET ROLE $1" -c "$2" 2>&1 || true)
    grep -q "permission denied" <<<"$out"
}
status_of() { q_try "SELECT status FROM pgext.image_status WHERE image = '$1'"; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }
standby_status_is() { [ "$(sq "SELECT status FROM pgext.image_status WHERE image = '$1'" 2>/dev/null)" = "$2" ]; }
cycles() { q_try "SELECT cycles FROM pgext.worker_status"; }
worker_pid() { q_try "SELECT pid FROM pgext.worker_status WHERE up"; }
log_count() { grep -c -- "$1" "$DATA/server.log" || true; }
elapsed_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

reload_with() { # reload_with "SETTING = VALUE" ...: ALTER SYSTEM on the primary, then reload
    local s
    for s in "$@"; do q "ALTER SYSTEM SET $s" >/dev/null; done
    q "SELECT pg_reload_conf()" >/dev/null
}

lay_out() { # lay_out IMAGE...: fixtures, registries, and writable copies of IMAGE under ROOT
    say "laying out fixture images and loopback registries in $FX"
    mkdir -p "$FX"
    bash "$REPO/tests/pg_regress/make-tree.sh" "$FX"
    bash "$REPO/tests/pg_regress/make-registry.sh" "$FX"
    set -a
    # shellcheck disable=SC1091
    source "$FX/registry.env"
    set +a
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
}

base_conf() { # base_conf FILE: preloading and settings shared by every mode
    cat >"$1" <<CONF
shared_preload_libraries = 'pgext'
pgext.extensions_root = '$ROOT'
pgext.insecure_registries = '$PGEXT_REGISTRY,$PGEXT_REGISTRY_AUTH,$PGEXT_SILENT'
pgext.registry_connect_timeout = 2000
CONF
}

# ---------------------------------------------------------------------------------------------
cpu_mode() {
    local secs=${1:-300} i images="" ctl='$system' lib='$libdir'
    lay_out
    for i in $(seq -w 1 10); do
        cp -a "$FX/extensions/vector" "$ROOT/vector$i"
        images+="${images:+, }vector$i=$PGEXT_REGISTRY/vector:0.8.0"
        ctl+=":$ROOT/vector$i/share"
        lib+=":$ROOT/vector$i/lib"
    done
    chmod -R a+rX "$ROOT"
    base_conf "$WORK/cpu.conf"
    cat >>"$WORK/cpu.conf" <<CONF
pgext.check_interval = 60
pgext.verify_interval = 3600
pgext.images = '$images'
extension_control_path = '$ctl'
dynamic_library_path = '$lib'
CONF
    say "starting PostgreSQL 18 with 10 pinned images in $DATA"
    cluster_start "$DATA" "$PORT" "$WORK/cpu.conf"
    q "CREATE EXTENSION pgext" >/dev/null
    q "SELECT pgext.check_now(true)" >/dev/null
    wait_for 120 test "$(q_try "SELECT count(*) FROM pgext.image_status WHERE status = 'verified'")" = 10 \
        || die "the 10 images were not verified: $(q_try "SELECT image, status, last_error FROM pgext.image_status")"
    q "SELECT pgext.check_now(true)" >/dev/null # one cycle after verification: the trees are cached
    local pid hz t0 t1 c0 c1 rss0 rss1 cyc0 cyc1
    pid=$(worker_pid)
    hz=$(getconf CLK_TCK)
    ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
    rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
    c0=$(ticks)
    rss0=$(rss)
    cyc0=$(cycles)
    t0=$(date +%s%N)
    say "measuring worker pid $pid for $secs s (check_interval = 60 s)"
    sleep "$secs"
    c1=$(ticks)
    t1=$(date +%s%N)
    rss1=$(rss)
    cyc1=$(cycles)
    local wall_ms=$(((t1 - t0) / 1000000)) cpu_ms=$(((c1 - c0) * 1000 / hz))
    echo "steady state: $((cyc1 - cyc0)) cycle(s) in $((wall_ms / 1000)) s, worker CPU $cpu_ms ms" \
        "= $(awk -v c="$cpu_ms" -v w="$wall_ms" 'BEGIN {printf "%.4f", 100 * c / w}') % of one core;" \
        "RSS $rss0 kB -> $rss1 kB"
    # The same cycles back to back, to cost one cycle precisely.
    local n=20
    c0=$(ticks)
    t0=$(date +%s%N)
    for _ in $(seq $n); do q "SELECT pgext.check_now(true)" >/dev/null; done
    c1=$(ticks)
    t1=$(date +%s%N)
    cpu_ms=$(((c1 - c0) * 1000 / hz))
    echo "per cycle: $(awk -v c="$cpu_ms" -v n=$n 'BEGIN {printf "%.1f", c / n}') ms CPU" \
        "($n forced cycles in $(((t1 - t0) / 1000000)) ms) -> at a 60 s interval:" \
        "$(awk -v c="$cpu_ms" -v n=$n 'BEGIN {printf "%.4f", 100 * c / n / 60000}') % of one core;" \
        "RSS $(rss) kB"
    cluster_stop "$DATA"
    trap - EXIT
    cleanup
    rm -rf "$WORK"
}

if [ "$MODE" = cpu ]; then
    cpu_mode "${2:-}"
    exit 0
fi
[ "$MODE" = test ] || die "usage: run.sh [test | cpu [SECONDS]]"

# ---------------------------------------------------------------------------------------------
lay_out
for img in vector beta pgext_fixture; do cp -a "$FX/extensions/$img" "$ROOT/$img"; done
chmod -R a+rX "$ROOT"
cp -a "$ROOT/beta/share/extension/pgext_regress_beta.control" "$WORK/beta.control.orig"
PINS="vector=$PGEXT_REGISTRY/vector:0.8.0, beta=$PGEXT_REGISTRY/beta:v1, pgext_fixture=oci:$FX/oci/pgext_fixture:v1"
base_conf "$WORK/worker.conf"
cat >>"$WORK/worker.conf" <<CONF
pgext.check_interval = 1
pgext.verify_interval = 3600
pgext.images = '$PINS'
pgext.layout_directories = '$FX/oci'
extension_control_path = '\$system:$ROOT/vector/share:$ROOT/beta/share:$ROOT/pgext_fixture/share'
dynamic_library_path = '\$libdir:$ROOT/vector/lib:$ROOT/beta/lib:$ROOT/pgext_fixture/lib'
CONF

say "starting the primary (pgext preloaded, check_interval = 1 s) in $DATA"
cluster_start "$DATA" "$PORT" "$WORK/worker.conf"
q "CREATE EXTENSION pgext" >/dev/null
q "CREATE ROLE pgext_test_monitor IN ROLE pg_monitor" >/dev/null
q "CREATE ROLE pgext_test_admin IN ROLE pgext_admin" >/dev/null
q "CREATE ROLE cnpg_metrics_exporter LOGIN IN ROLE pg_monitor" >/dev/null

echo "--- startup"
check "the worker runs and shows in pg_stat_activity" wait_for 10 q_is \
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$WORKER' AND wait_event = 'PgextWorkerMain'" 1
all_verified() { q_is "SELECT count(*) FROM pgext.image_status WHERE pinned AND status = 'verified'" 3; }
if wait_for 60 all_verified; then
    pass "the three pinned images are verified by the worker (registry, OCI layout)"
else
    fail "the three pinned images are verified: $(q_try "SELECT image, status, error_code, last_error FROM pgext.image_status")"
fi
if wait_for 10 q_is "SELECT status FROM pgext.health" ok; then
    pass "health is ok"
else
    fail "health is ok: $(q_try "SELECT status, reasons FROM pgext.health")"
fi
check "check_runs records the cycles on the primary" wait_for 5 q_is "SELECT count(*) > 2 FROM pgext.check_runs" t
check "image_checks is kept current by the worker" \
    q_is "SELECT count(*) FROM pgext.image_checks WHERE checked_at > now() - interval '5 seconds'" 3
check "pgext.check_now() returns true with a worker running" q_is "SELECT pgext.check_now()" t
c0=$(cycles)
q "SELECT pgext.check_now(true)" >/dev/null
check "pgext.check_now(true) returns after a new cycle" test "$(cycles)" -gt "$c0"
warnings=$(log_count 'WARNING:  pgext:')
sleep 3
check "a steady state logs nothing" log_is 'WARNING:  pgext:' "$warnings"
check "report() summarises health, worker and images" q_is "SELECT (r->'health'->>'status') || ',' ||
    jsonb_array_length(r->'images') || ',' || (r->'worker'->>'up') FROM pgext.report() r" "ok,3,true"

echo "--- drift"
tamper() { echo "tampered" >>"$ROOT/beta/share/extension/pgext_regress_beta.control"; }
restore() { cp -a "$WORK/beta.control.orig" "$ROOT/beta/share/extension/pgext_regress_beta.control"; }
t0=$(date +%s%N)
tamper
if wait_for 10 is_status beta drift; then
    ms=$(elapsed_ms "$t0")
    # One interval (1 s) plus the cycle itself; a miss would take 2 s more.
    if [ "$ms" -le 2500 ]; then pass "a tampered file is drift within one interval (${ms} ms)"; else fail "drift found only after ${ms} ms"; fi
else
    fail "a tampered file becomes drift: $(q_try "SELECT status, last_error FROM pgext.image_status WHERE image = 'beta'")"
fi
check "drift counts the modified file" q_is "SELECT modified FROM pgext.image_status WHERE image = 'beta'" 1
check "the drift is a finding in the history" \
    wait_for 5 q_is "SELECT count(*) > 0 FROM pgext.findings WHERE image = 'beta' AND code = 'drift'" t
check "health is failing, the image is the reason" \
    q_is "SELECT status || ':' || (reasons[1] LIKE 'image beta differs%') FROM pgext.health" "failing:true"
# The tampered control file no longer parses: its extension is predicted not to load.
check "the broken extension is incompatible" \
    q_is "SELECT incompatible_extensions FROM pgext.image_status WHERE image = 'beta'" "{pgext_regress_beta}"
check "the incompatibility is in report()" q_is "SELECT r->'incompatible_extensions'->0->>'extension'
    FROM pgext.report() r" pgext_regress_beta
sleep 3
check "the drift is logged once at WARNING" log_is 'WARNING:  pgext: image "beta": drift$' 1
check "the incompatibility is logged once at WARNING" \
    log_is 'WARNING:  pgext: extension "pgext_regress_beta" in image "beta": incompatible$' 1
restore
check "the restored file recovers to verified" wait_for 10 is_status beta verified
sleep 2
check "the recovery is logged once at LOG" log_is 'LOG:  pgext: image "beta": drift resolved' 1
check "and the extension's" log_is 'LOG:  pgext: extension "pgext_regress_beta" in image "beta": incompatible resolved' 1
check "health is ok again" wait_for 5 q_is "SELECT status FROM pgext.health" ok

echo "--- a new session starts from the worker's digests"
sleep 2.5 # what the drift test wrote is past the racy window now
q "SELECT pgext.check_now(true)" >/dev/null
check "the worker shares its digests in pg_stat_tmp" test -s "$DATA/pg_stat_tmp/pgext_digests"
# first_session SQL: the last line a new session prints after listing the libraries.
first_session() {
    cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.libraries" -c "$1" | tail -n1
}
got=$(first_session "SELECT (from_worker > 0)::text || ',' || misses FROM pgext.hash_cache_status()")
if [ "$got" = "true,0" ]; then pass "a new session takes the worker's digests and reads no library"; else
    fail "a new session takes the worker's digests and reads no library (from_worker>0,misses: $got)"; fi
# A library changed after the worker shared its digest (the worker asleep, so the shared file
# still holds the old one): a new session must not serve the old digest.
lib=$(find "$ROOT" -path '*/lib/*.so' -type f | head -n1)
if [ -n "$lib" ]; then
    reload_with "pgext.check_interval = '1h'"
    sleep 1
    cp -a "$lib" "$WORK/lib.orig"
    python3 - "$lib" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 0xFF  # same size; mtime restored below, only ctime tells
open(p, "r+b").write(b)
PY
    touch -r "$WORK/lib.orig" "$lib"
    want=$(sha256sum "$lib" | cut -d' ' -f1)
    got=$(first_session "SELECT sha256 FROM pgext.libraries WHERE path = '$lib'")
    if [ "$got" = "$want" ]; then pass "a library changed since the worker shared its digest is read again"; else
        fail "a changed library is read again: got $got, want $want"; fi
    cp -a "$WORK/lib.orig" "$lib"
    reload_with "pgext.check_interval = 1"
    check "the restored library verifies again" wait_for 10 all_verified
else
    fail "no library in the worker's images to change"
fi

echo "--- a new session starts from shared rows"
# new_session [VIEW]: "<digest of every row>,<source>" of a new session's first query of VIEW
new_session() {
    local v=${1:-mounted_extensions}
    cluster_psql "$DATA" "$PORT" -d postgres -Atq \
        -c "SELECT md5(string_agg(m::text, '|' ORDER BY m::text)) FROM pgext.$v m" \
        -c "SELECT source FROM pgext.row_sources() WHERE view = '$v'" | paste -sd,
}
source_sql() { echo "SELECT source FROM pgext.row_sources() WHERE view = '${1:-mounted_extensions}'"; }
sleep 2.5 # past the racy window of anything written above
q "SELECT pgext.check_now(true)" >/dev/null
shared_rows() { ls "$DATA"/pg_stat_tmp/pgext_extensions.* 2>/dev/null | grep -v '\.tmp\.'; }
check "the worker shares its mounted_extensions rows in pg_stat_tmp" test -n "$(shared_rows)"
first=$(new_session)
check "a new session's first query takes the worker's rows" test "${first#*,}" = shared
# Nothing else may change them behind the worker's back while the cases below run.
reload_with "pgext.check_interval = '1h'"
sleep 1
rm -f "$DATA"/pg_stat_tmp/pgext_extensions.*
computed=$(new_session)
check "without the shared file a session derives the rows itself" test "${computed#*,}" = computed
check "the shared rows equal the rows a session derives itself" test "${first%,*}" = "${computed%,*}"
check "the session that derived them shares them" test -n "$(shared_rows)"
check "and the next new session takes them" test "$(new_session)" = "${computed%,*},shared"
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.mounted_extensions" \
    -c "SELECT count(*) FROM pgext.mounted_extensions" -c "$(source_sql)" | tail -n1)
check "a session's second query reuses its own rows" test "$got" = backend
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.mounted_extensions" \
    -c "SELECT pgext.reset_hash_cache()" -c "SELECT count(*) FROM pgext.mounted_extensions" -c "$(source_sql)" |
    tail -n1)
check "after reset_hash_cache() a session derives the rows itself" test "$got" = computed
# An image gains an extension (a new mount changes every directory in it the same way): a
# new session must see it, never the shared rows of before.
ctl="$ROOT/beta/share/extension/pgext_shared_probe.control"
printf "default_version = '1.0'\ncomment = 'added after the rows were shared'\n" >"$ctl"
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.mounted_extensions
    WHERE name = 'pgext_shared_probe'" -c "$(source_sql)" | paste -sd,)
check "a changed image is never served from the shared rows" test "$got" = "1,computed"
rm -f "$ctl"
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.mounted_extensions
    WHERE name = 'pgext_shared_probe'" -c "$(source_sql)" | paste -sd,)
check "nor once it is gone again" test "$got" = "0,computed"
# A damaged file is ignored, not an error.
for f in $(shared_rows); do printf 'PGEXTSN1 damaged' >"$f"; done
got=$(new_session)
check "a damaged shared file is ignored" test "$got" = "${computed%,*},computed"
# Other settings (another path) are another signature: never served the postgres rows.
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SET extension_control_path = '\$system'" \
    -c "SELECT count(*) FILTER (WHERE image IS NOT NULL) FROM pgext.mounted_extensions" \
    -c "$(source_sql)" | paste -sd,)
check "a session with other paths derives its own rows" test "$got" = "0,computed"
# libraries and library_compat: derived by one session, taken by the next, equal. (Past the
# racy window of the probe's directory change first: rows read from a path changed in the last
# 2 s are never kept.)
sleep 2.5
for v in libraries library_compat; do
    one=$(new_session "$v")
    two=$(new_session "$v")
    check "$v: a new session takes the rows an earlier one derived" test "${two#*,}" = shared
    check "$v: and they are the rows it derived" test "${two%,*}" = "${one%,*}"
done
# A library rewritten in place (same size, mtime restored: only ctime tells) must be hashed and
# analysed again, never served from the shared rows.
lib=$(find "$ROOT" -path '*/lib/*.so' -type f | head -n1)
cp -a "$lib" "$WORK/lib.shared.orig"
python3 - "$lib" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 0xFF
open(p, "r+b").write(b)
PY
touch -r "$WORK/lib.shared.orig" "$lib"
want=$(sha256sum "$lib" | cut -d' ' -f1)
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT sha256 FROM pgext.libraries WHERE path = '$lib'" \
    -c "$(source_sql libraries)" | paste -sd,)
check "a library changed in place is never served from the shared rows" test "$got" = "$want,computed"
got=$(cluster_psql "$DATA" "$PORT" -d postgres -Atq -c "SELECT count(*) FROM pgext.library_compat" \
    -c "$(source_sql library_compat)" | tail -n1)
check "nor is its analysis" test "$got" = computed
cp -a "$WORK/lib.shared.orig" "$lib"
reload_with "pgext.check_interval = 1"
check "the restored library verifies again" wait_for 10 all_verified

echo "--- writable directories: mounted_images keeps their trees while inotify says nothing changed"
# A writable image directory: the session keeps its tree between queries, and every way of
# changing a file makes the next query walk it again and show the new tree — a byte changed in
# place with size and mtime restored, a write through a hard link made outside the tree, a mode.
RW_ROOT=$WORK/rw-root
rw=$RW_ROOT/probe
mkdir -p "$rw"
cp -a "$ROOT/beta/." "$rw/"
chmod -R a+rX "$RW_ROOT"
rw_ctl=$rw/share/extension/pgext_regress_beta.control
rw_alias=$WORK/rw-alias.control
rm -f "$rw_alias"
q="SELECT file_count || ',' || tree_digest || ',' || read_only FROM pgext.mounted_images WHERE name = 'probe'"
src="SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images'"
# flip FILE: changes the file's first byte in place, keeping its size and mtime.
flip="python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, \"rb\").read()); b[0] ^= 1; open(p, \"r+b\").write(b)'"
mapfile -t got < <(cluster_psql "$DATA" "$PORT" -d postgres -Atq <<SQL
SET pgext.extensions_root = '$RW_ROOT';
$q;
$src;
$q;
$src;
\! touch -r "$rw_ctl" "$WORK/rw.stamp" && $flip "$rw_ctl" && touch -r "$WORK/rw.stamp" "$rw_ctl"
$q;
$src;
$q;
$src;
\! ln "$rw_ctl" "$rw_alias"
$q;
$src;
\! $flip "$rw_alias"
$q;
$src;
\! chmod 444 "$rw_ctl"
$q;
$src;
SQL
)
first=${got[0]}
check "the writable directory is seen as one" test "${first##*,}" = false
check "its tree is walked once" test "${got[1]}" = computed
check "then kept: the next query reuses it" test "${got[3]}" = backend
check "with the same count and digest" test "${got[2]}" = "$first"
check "a byte changed in place (size and mtime restored): walked again" test "${got[5]}" = computed
check "  and the digest is another" test "${got[4]}" != "$first"
check "  then kept again" test "${got[7]}" = backend
check "a hard link made outside the tree: walked again" test "${got[9]}" = computed
check "a byte written through that link: walked again" test "${got[11]}" = computed
check "  and the digest follows it" test "${got[10]}" != "${got[8]}"
want=$(bash "$REPO/scripts/tree-digest.sh" "$rw" 2>&1 || true)
check "a changed mode: walked again" test "${got[13]}" = computed
check "  to the tree's digest (scripts/tree-digest.sh)" test "$(echo "${got[12]}" | cut -d, -f2)" = "$want"
rm -f "$rw_alias"

echo "--- read-only mounts: mounted_images keeps their trees, revalidated by their directories"
# An image bind-mounted read-only (as an image volume is), whose source stays writable elsewhere.
ro_src=$WORK/ro-src ROM_MNT=$WORK/ro-root
mkdir -p "$ro_src/probe" "$ROM_MNT"
cp -a "$ROOT/beta/." "$ro_src/probe/"
chmod -R a+rX "$ro_src" "$ROM_MNT"
if mount --bind "$ro_src" "$ROM_MNT" && mount -o remount,bind,ro "$ROM_MNT"; then
    sleep 2.5 # past the racy window of the copy
    ext="$ro_src/probe/share/extension"
    # One session: a query, the same again, then after each change made through the writable
    # source. Each query prints "<file_count>,<tree digest>,<read_only>" then where the trees
    # came from.
    mapfile -t got < <(cluster_psql "$DATA" "$PORT" -d postgres -Atq <<SQL
SET pgext.extensions_root = '$ROM_MNT';
SELECT file_count || ',' || tree_digest || ',' || read_only FROM pgext.mounted_images WHERE name = 'probe';
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
SELECT file_count || ',' || tree_digest || ',' || read_only FROM pgext.mounted_images WHERE name = 'probe';
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
\! mkdir "$ext/sub" && echo added >"$ext/sub/new.sql"
SELECT file_count || ',' || tree_digest FROM pgext.mounted_images WHERE name = 'probe';
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
\! rm -r "$ext/sub"
SELECT file_count || ',' || tree_digest FROM pgext.mounted_images WHERE name = 'probe';
SQL
    )
    first=${got[0]}
    check "the read-only mount is seen as one" test "${first##*,}" = true
    check "its tree is walked once" test "${got[1]}" = computed
    check "then kept: the next query reuses it" test "${got[3]}" = backend
    check "with the same count and digest" test "${got[2]}" = "$first"
    added=${got[4]}
    check "an entry added below it is seen at once (its directory changed)" \
        test "${added%%,*}" = "$((${first%%,*} + 1))"
    check "and the tree is walked again" test "${got[5]}" = computed
    check "removed again, the tree is what it was" test "${got[6]}" = "${first%,*}"
    want=$(bash "$REPO/scripts/tree-digest.sh" "$ROM_MNT/probe" 2>&1 || true)
    check "the kept digest is the tree's (scripts/tree-digest.sh)" test "$want" = "$(echo "$first" | cut -d, -f2)"
    umount "$ROM_MNT"
else
    fail "cannot bind-mount an image read-only here (the suite runs as root)"
fi

echo "--- sealed mounts: an image volume's read-only overlay is revalidated by its mount"
# A multi-layer image volume is an overlay of lower directories only: its superblock is
# read-only, nothing can change it, and mounted_images keeps its tree while the same mount holds
# it. Replacing the image is a remount: the kept tree must not be served for the new one.
seal_a=$WORK/seal-a seal_b=$WORK/seal-b seal_empty=$WORK/seal-empty SEAL_ROOT=$WORK/seal-root
mkdir -p "$seal_a" "$seal_b" "$seal_empty" "$SEAL_ROOT/probe"
cp -a "$ROOT/beta/." "$seal_a/"
cp -a "$ROOT/beta/." "$seal_b/"
echo "-- a file only the second image has" >"$seal_b/share/extension/extra.sql"
chmod -R a+rX "$seal_a" "$seal_b" "$seal_empty" "$SEAL_ROOT"
sleep 2.5 # past the racy window of the copies
seal() { mount -t overlay overlay -o "lowerdir=$1:$seal_empty" "$SEAL_ROOT/probe"; }
if seal "$seal_a"; then
    q="SELECT file_count || ',' || tree_digest || ',' || read_only || ',' || fs_type FROM pgext.mounted_images WHERE name = 'probe'"
    mapfile -t got < <(cluster_psql "$DATA" "$PORT" -d postgres -Atq <<SQL
SET pgext.extensions_root = '$SEAL_ROOT';
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
\! umount "$SEAL_ROOT/probe" && mount -t overlay overlay -o "lowerdir=$seal_b:$seal_empty" "$SEAL_ROOT/probe"
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
\! umount "$SEAL_ROOT/probe" && mount -t overlay overlay -o "lowerdir=$seal_a:$seal_empty" "$SEAL_ROOT/probe"
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
SQL
    )
    first=${got[0]}
    check "the overlay is seen as a read-only mount" test "$(echo "$first" | cut -d, -f3,4)" = "true,overlay"
    check "its tree is walked once" test "${got[1]}" = computed
    check "then kept while the mount stays" test "${got[3]}" = backend
    check "with the same count and digest" test "${got[2]}" = "$first"
    check "another image mounted in its place is walked" test "${got[5]}" = computed
    check "and shows its own content (one file more)" test "${got[4]%%,*}" = "$((${first%%,*} + 1))"
    want=$(bash "$REPO/scripts/tree-digest.sh" "$seal_b" 2>&1 || true)
    check "with its own digest (scripts/tree-digest.sh)" test "$(echo "${got[4]}" | cut -d, -f2)" = "$want"
    check "which is kept in turn" test "${got[7]}" = backend
    # Linux 6.8 gives every mount an ID never reused (statx STATX_MNT_ID_UNIQUE): a remount is
    # known as one. Older kernels reuse IDs; there the tree is revalidated by its directories.
    if printf '%s\n' 6.8 "$(uname -r | cut -d- -f1)" | sort -C -V; then
        check "the first image mounted again is a new mount: walked, not trusted" test "${got[9]}" = computed
    fi
    check "and is what it was" test "${got[8]}" = "$first"
    # The tree is left in pg_stat_tmp: a new session takes it instead of walking.
    mapfile -t got < <(cluster_psql "$DATA" "$PORT" -d postgres -Atq <<SQL
SET pgext.extensions_root = '$SEAL_ROOT';
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
SELECT pgext.reset_hash_cache() >= 0;
$q;
SELECT source FROM pgext.row_sources() WHERE view = 'mounted_images';
SQL
    )
    check "a new session takes the tree another session left" test "${got[1]}" = shared
    check "which is the tree" test "${got[0]}" = "$first"
    check "after reset_hash_cache() the session walks it itself" test "${got[4]}" = computed
    check "to the same tree" test "${got[3]}" = "$first"
    umount "$SEAL_ROOT/probe"
else
    fail "cannot mount an overlay of lower directories here (the suite runs as root)"
fi

echo "--- history retention"
reload_with "pgext.history_retention = 2"
sleep 4
check "check_runs keeps only pgext.history_retention" q_is "SELECT count(*) > 0 AND
    count(*) FILTER (WHERE started_at < now() - interval '3.5 seconds') = 0 FROM pgext.check_runs" t
check "the findings of pruned runs go with them" q_is "SELECT count(*) FROM pgext.findings f
    WHERE NOT EXISTS (SELECT FROM pgext.check_runs r WHERE r.id = f.run_id)" 0
reload_with "pgext.history_retention = '7d'"

echo "--- registry outage"
reload_with "pgext.verify_interval = 1"
check "the worker applies verify_interval on reload" \
    wait_for 5 q_is "SELECT verify_interval FROM pgext.worker_status" "00:00:01"
bash "$REPO/tests/registry/stop.sh" "$FX/registry"
if wait_for 15 is_status beta unreachable && wait_for 5 is_status vector unreachable; then
    pass "a stopped registry makes its images unreachable"
else
    fail "a stopped registry makes its images unreachable: $(q_try "SELECT image, status, last_error FROM pgext.image_status")"
fi
check "the OCI-layout image stays verified" is_status pgext_fixture verified
check "unreachable is logged once at WARNING" wait_for 5 log_is 'WARNING:  pgext: image "beta": unreachable$' 1
c0=$(cycles)
sleep 3
check "the worker keeps cycling during the outage" test "$(cycles)" -ge $((c0 + 2))
check "health is degraded during the outage" q_is "SELECT status FROM pgext.health" degraded
tamper
check "drift is still found during the outage (local re-hash)" wait_for 10 is_status beta drift
restore
check "and clears during the outage" wait_for 10 is_status beta unreachable
bash "$REPO/tests/registry/start.sh" "$FX/registry" --port "${PGEXT_REGISTRY##*:}" >/dev/null
check "the registry back, the images are verified again" wait_for 20 all_verified
check "the recovery from unreachable is logged at LOG" \
    wait_for 5 log_is 'LOG:  pgext: image "beta": unreachable resolved' 1
reload_with "pgext.verify_interval = 3600"

echo "--- SIGHUP changes the interval"
reload_with "pgext.check_interval = '1h'"
check "the worker applies check_interval on reload" \
    wait_for 5 q_is "SELECT check_interval FROM pgext.worker_status" "01:00:00"
c0=$(cycles)
sleep 3
check "no cycle runs within the new interval" test "$(cycles)" -le $((c0 + 1))
c1=$(cycles)
check "pgext.check_now(true) wakes the sleeping worker" q_is "SELECT pgext.check_now(true)" t
check "and runs exactly one cycle" test "$(cycles)" = $((c1 + 1))
reload_with "pgext.check_interval = 1"
wait_for 5 q_is "SELECT check_interval FROM pgext.worker_status" "00:00:01" || true
c0=$(cycles)
sleep 3
check "back to 1 s, cycles run every second" test "$(cycles)" -ge $((c0 + 2))

# ---------------------------------------------------------------------------------------------
# Issue #10: interrupts, bounded verifications, honest re-hashing, scan failures, long names.

# slow_proxy NAME BYTES_PER_SECOND: a throttled proxy in front of the registry; prints host:port.
slow_proxy() {
    local pf=$WORK/$1.proxy.port
    rm -f "$pf"
    setsid python3 "$REPO/tests/worker/slow_proxy.py" "${PGEXT_REGISTRY##*:}" "$2" "$pf" \
        >"$WORK/$1.proxy.log" 2>&1 </dev/null &
    echo $! >"$WORK/$1.proxy.pid"
    wait_for 10 test -s "$pf" || die "the $1 proxy did not start: $(cat "$WORK/$1.proxy.log")"
    echo "127.0.0.1:$(cat "$pf")"
}
# A slow registry: the vector image (manifest, config, layer) takes about 5 s to fetch.
vector_bytes=$(find "$FX/oci/vector/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
SLOW=$(slow_proxy slow $((vector_bytes / 5 + 1)))
# A registry that drips its answers (20 bytes/s): it would hold a verification for hours.
DRIP=$(slow_proxy drip 20)
DEAD=127.0.0.1:1 # nothing listens: unreachable at once
reload_with "pgext.insecure_registries = '$PGEXT_REGISTRY,$PGEXT_REGISTRY_AUTH,$PGEXT_SILENT,$SLOW,$DRIP,$DEAD'"
# worker_busy_with WHAT: the worker's activity starts with WHAT right now.
worker_busy_with() {
    q_is "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$WORKER' AND state = 'active'
            AND query LIKE '$1%'" 1
}
cycles_ge() { [ "$(cycles)" -ge "$1" ]; }
value() { q_try "SELECT $2 FROM pgext.image_status WHERE image = '$1'"; }
unpin() { # unpin IMAGE: table pin and mount gone
    q_try "SELECT pgext.unpin_image('$1')" >/dev/null
    rm -rf "${ROOT:?}/$1"
}

echo "--- harmless interrupts do not abort a verification (worker)"
cp -a "$ROOT/vector" "$ROOT/slowvec"
run_start=$(q "SELECT now()")
q "SELECT pgext.pin_image('slowvec', '$SLOW/vector:0.8.0')" >/dev/null
if wait_for 15 worker_busy_with "verifying image slowvec"; then
    wpid=$(worker_pid)
    sleep 0.5
    q "SELECT pg_log_backend_memory_contexts($wpid)" >/dev/null
    # DROP DATABASE waits until every backend has absorbed a ProcSignal barrier.
    t0=$(date +%s%N)
    q "CREATE DATABASE pgext_barrier" >/dev/null
    q "DROP DATABASE pgext_barrier" >/dev/null
    ms=$(elapsed_ms "$t0")
    q "SELECT pg_log_backend_memory_contexts($wpid)" >/dev/null
    check "the interrupts arrived while the worker was still verifying" worker_busy_with "verifying image slowvec"
    check "DROP DATABASE (a ProcSignal barrier) is not held up by the verification (${ms} ms)" test "$ms" -lt 5000
    if wait_for 30 is_status slowvec verified; then
        pass "the worker's verification through the slow registry succeeds despite them"
    else
        fail "the slow verification succeeds: $(q_try "SELECT status, error_code, last_error FROM pgext.image_status WHERE image = 'slowvec'")"
    fi
    check "no cycle ended in error" q_is "SELECT count(*) FROM pgext.check_runs
        WHERE started_at >= '$run_start' AND outcome = 'error'" 0
    check "the worker logged its memory contexts (the interrupts were served)" \
        test "$(log_count "logging memory contexts of PID $wpid")" -ge 2
else
    fail "the worker verifies slowvec through the slow registry: $(q_try "SELECT status, last_error FROM pgext.image_status WHERE image = 'slowvec'")"
fi

echo "--- harmless interrupts do not abort a verification (backend), cancel still does"
slow_session_up() { [ -n "$(q_try "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgext_slow'")" ]; }
# slow_verify OUT SQL...: in the background, in a session named pgext_slow with the client
# connection check every 100 ms, runs SQL... then verify_image('slowvec'). The worker verified
# slowvec already: without pgext.reuse_recorded_trees = off the session would reuse that tree and
# download no layer, and there would be no slow download to interrupt.
slow_verify() {
    local out=$1
    shift
    PGAPPNAME=pgext_slow cluster_psql "$DATA" "$PORT" -d postgres -Atq \
        -c "SET client_connection_check_interval = '100ms'" -c "SET pgext.reuse_recorded_trees = off" "$@" \
        -c "SELECT status || ',' || coalesce(error_code, '') FROM pgext.verify_image('slowvec')" >"$out" 2>&1 &
    SLOW_JOB=$!
    wait_for 10 slow_session_up || true
    SLOW_PID=$(q_try "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgext_slow'")
}
t0=$(date +%s%N)
slow_verify "$WORK/slow1.out"
sleep 1
q_try "SELECT pg_log_backend_memory_contexts($SLOW_PID)" >/dev/null
sleep 1
q_try "SELECT pg_log_backend_memory_contexts($SLOW_PID)" >/dev/null
wait "$SLOW_JOB" || true
ms=$(elapsed_ms "$t0")
if [ "$(cat "$WORK/slow1.out")" = "verified," ]; then
    pass "verify_image() through the slow registry with client_connection_check_interval = 100ms (${ms} ms)"
else
    fail "verify_image() with client_connection_check_interval = 100ms: $(cat "$WORK/slow1.out")"
fi
check "it took long enough for the timer and two memory-context requests to arrive" test "$ms" -ge 2500
check "the backend served pg_log_backend_memory_contexts() meanwhile" \
    test "$(log_count "logging memory contexts of PID $SLOW_PID")" -ge 2
slow_verify "$WORK/slow2.out"
sleep 1
t0=$(date +%s%N)
q_try "SELECT pg_cancel_backend($SLOW_PID)" >/dev/null
wait "$SLOW_JOB" || true
ms=$(elapsed_ms "$t0")
check "pg_cancel_backend() still cancels it (${ms} ms)" \
    bash -c 'grep -q "canceling statement due to user request" "$1" && [ "$2" -lt 2000 ]' _ "$WORK/slow2.out" "$ms"
t0=$(date +%s%N)
slow_verify "$WORK/slow3.out" -c "SET statement_timeout = '1s'"
wait "$SLOW_JOB" || true
ms=$(elapsed_ms "$t0")
check "statement_timeout still ends it (${ms} ms)" \
    bash -c 'grep -q "canceling statement due to statement timeout" "$1" && [ "$2" -lt 3000 ]' _ "$WORK/slow3.out" "$ms"
unpin slowvec

echo "--- pgext.verify_timeout bounds a verification; pgext.spool_max_size bounds the spool"
cp -a "$ROOT/vector" "$ROOT/dripvec"
q_try "ALTER SYSTEM SET pgext.verify_timeout = 3" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
t0=$(date +%s%N)
q "SELECT pgext.pin_image('dripvec', '$DRIP/vector:0.8.0')" >/dev/null
if wait_for 20 q_is "SELECT registry_status || ',' || error_code FROM pgext.image_status WHERE image = 'dripvec'" \
    "unreachable,timeout"; then
    ms=$(elapsed_ms "$t0")
    # Up to one interval (1 s) to start, the 3 s limit, and the cycle around it.
    check "the worker gives up on a dripping registry after pgext.verify_timeout (${ms} ms)" test "$ms" -lt 8000
else
    fail "a dripping registry ends in unreachable/timeout: $(value dripvec "registry_status, error_code, last_error")"
fi
check "the message says what timed out" \
    bash -c 'grep -q "timed out" <<<"$1"' _ "$(value dripvec last_error)"
t0=$(date +%s%N)
out=$(q_try "SELECT error_code FROM pgext.verify_image('dripvec')")
ms=$(elapsed_ms "$t0")
check "verify_image() is bounded by it too (${ms} ms)" test "$out" = timeout -a "$ms" -lt 6000
unpin dripvec
q_try "ALTER SYSTEM RESET pgext.verify_timeout" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
out=$(q_try "SET pgext.spool_max_size = '1kB'; SELECT status || ',' || error_code || ',' || (error LIKE '%spool%')
    FROM pgext.verify_image('vector')")
check "a spool limit smaller than the layer refuses the image before downloading (too_large)" \
    test "$out" = "error,too_large,true"
check "the default spool limit verifies it" q_is "SELECT status FROM pgext.verify_image('vector')" verified

echo "--- image names longer than 64 bytes"
long=img_$(printf 'x%.0s' $(seq 196))
long_ok=ok_$(printf 'y%.0s' $(seq 197))
cp -a "$ROOT/beta" "$ROOT/$long"
cp -a "$ROOT/beta" "$ROOT/$long_ok"
q "SELECT pgext.pin_image('$long', '$DEAD/beta:v1')" >/dev/null
q "SELECT pgext.pin_image('$long_ok', '$PGEXT_REGISTRY/beta:v1')" >/dev/null
if wait_for 15 is_status "$long" unreachable && wait_for 15 is_status "$long_ok" verified; then
    pass "two 200-character image names are checked (unreachable, verified)"
else
    fail "200-character names: $(q_try "SELECT length(image), status, last_error FROM pgext.image_status WHERE length(image) > 60")"
fi
check "image_status() shows the whole name" q_is "SELECT length(image) FROM pgext.image_status WHERE image = '$long'" 200
attempt=$(value "$long" last_verify_attempt)
since=$(value "$long_ok" status_since)
c0=$(cycles)
sleep 3
check "the worker cycled meanwhile" test "$(cycles)" -ge $((c0 + 2))
# same_value ACTUAL EXPECTED: equal and not empty (an image that is not found has no value).
same_value() { [ -n "$2" ] && [ "$1" = "$2" ]; }
check "the unreachable one is not re-verified every cycle" same_value "$(value "$long" last_verify_attempt)" "$attempt"
check "the verified one keeps its status_since" same_value "$(value "$long_ok" status_since)" "$since"
old=$(worker_pid)
q "SELECT pg_terminate_backend($old)" >/dev/null
new_pid() { local p; p=$(worker_pid); [ -n "$p" ] && [ "$p" != "$old" ]; }
wait_for 25 new_pid || true
c0=$(cycles)
wait_for 10 cycles_ge $((c0 + 2)) || true
remembered() {
    same_value "$(value "$long" last_verify_attempt)" "$attempt" && same_value "$(value "$long_ok" status_since)" "$since"
}
check "a restarted worker remembers them too (no re-verification, same status_since)" remembered
unpin "$long"
unpin "$long_ok"

echo "--- a scan that fails is an error, never drift"
cp -a "$ROOT/beta" "$ROOT/scanfail"
q "SELECT pgext.pin_image('scanfail', '$PGEXT_REGISTRY/beta:v1')" >/dev/null
wait_for 20 is_status scanfail verified || fail "scanfail is verified first: $(value scanfail "status, last_error")"
for what in "an unreadable directory:$ROOT/scanfail/share/extension" "an unreadable root:$ROOT/scanfail"; do
    label=${what%%:*}
    dir=${what#*:}
    chmod 000 "$dir"
    if wait_for 10 is_status scanfail error; then
        pass "$label makes the image's status error"
    else
        fail "$label makes the status error: $(value scanfail "status, missing, error_code, last_error")"
    fi
    check "with error_code scan_failed and no difference counts" \
        q_is "SELECT error_code || ',' || missing || ',' || modified FROM pgext.image_status WHERE image = 'scanfail'" \
        "scan_failed,0,0"
    check "pgext.recheck_image() says the same" \
        q_is "SELECT status || ',' || error_code || ',' || missing FROM pgext.recheck_image('scanfail')" "error,scan_failed,0"
    check "and a finding scan_failed is recorded" wait_for 5 q_is "SELECT count(*) > 0 FROM pgext.findings
        WHERE image = 'scanfail' AND code = 'scan_failed'" t
    chmod 755 "$dir"
    check "readable again, it is verified again" wait_for 10 is_status scanfail verified
done
unpin scanfail

echo "--- full re-hash: bytes changed under the file system"
# An ext4 file system in a file, loop-mounted as an image: a byte changed in the backing file
# changes what the mount serves (once the page cache lets go of it) without touching any inode:
# size, mtime and ctime stay, so only a full re-hash can see it. (Any write through the mount,
# even one followed by `touch -d` to restore mtime, changes ctime, which the digest cache keys on:
# ordinary re-hashes catch those, as the drift section above shows.)
ROT_IMG=$WORK/rot.ext4
ROT_MNT=$ROOT/rot
rm -f "$ROT_IMG"
truncate -s 16M "$ROT_IMG"
mkfs.ext4 -q -b 4096 -O ^has_journal "$ROT_IMG"
mkdir -p "$ROT_MNT"
if mount -o loop "$ROT_IMG" "$ROT_MNT"; then
    cp -a "$ROOT/beta/." "$ROT_MNT/"
    rmdir "$ROT_MNT/lost+found"
    chmod 755 "$ROT_MNT"
    sync -f "$ROT_MNT" # block map and data into the backing file, where debugfs reads them
    q "SELECT pgext.pin_image('rot', '$PGEXT_REGISTRY/beta:v1')" >/dev/null
    wait_for 20 is_status rot verified || fail "rot is verified first: $(value rot "status, last_error")"
    reload_with "pgext.full_rehash_interval = 0"
    victim=share/extension/pgext_regress_twice--9.9.sql
    ident() { stat -c '%i %s %Y.%y %Z.%z' "$ROT_MNT/$victim"; }
    before_id=$(ident)
    before_sum=$(sha256sum <"$ROT_MNT/$victim")
    sleep 2.5 # past the digest cache's 2 s racy window, and a few re-hashes that cache it
    # flip_byte: XOR the 4th byte of the file in the backing file, then drop the file's pages.
    flip_byte() {
        local block
        block=$(debugfs -R "bmap /$victim 0" "$ROT_IMG" 2>/dev/null | tail -n 1)
        python3 - "$ROT_IMG" $((block * 4096 + 3)) "$ROT_MNT/$victim" <<'PY'
import os, sys
img, off, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(img, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY
    }
    flip_byte
    check "the test's premise: the mount now serves other bytes" test "$(sha256sum <"$ROT_MNT/$victim")" != "$before_sum"
    check "the test's premise: inode, size, mtime and ctime are unchanged" test "$(ident)" = "$before_id"
    c0=$(cycles)
    wait_for 10 cycles_ge $((c0 + 3)) || true
    check "without full re-hashes the digest cache does not see it (documented limit)" is_status rot verified
    reload_with "pgext.full_rehash_interval = 1"
    if wait_for 20 is_status rot drift; then
        pass "a full re-hash finds the changed bytes"
    else
        fail "a full re-hash finds the changed bytes: $(value rot "status, modified, last_error")"
    fi
    check "one file modified" q_is "SELECT modified FROM pgext.image_status WHERE image = 'rot'" 1
    check "the finding says the full re-hash found it" wait_for 5 q_is "SELECT count(*) > 0 FROM pgext.findings
        WHERE image = 'rot' AND code = 'drift' AND message LIKE 'full re-hash: %$victim%'" t
    reload_with "pgext.full_rehash_interval = 0"
    c0=$(cycles)
    wait_for 10 cycles_ge $((c0 + 3)) || true
    check "it stays drift under ordinary re-hashes (the cached digest was replaced)" is_status rot drift
    flip_byte
    reload_with "pgext.full_rehash_interval = 1"
    check "the byte restored, a full re-hash finds it verified" wait_for 20 is_status rot verified
    reload_with "pgext.full_rehash_interval = 0"
    c0=$(cycles)
    wait_for 10 cycles_ge $((c0 + 3)) || true
    check "and ordinary re-hashes agree (no flapping back to drift)" is_status rot verified
    q_try "SELECT pgext.unpin_image('rot')" >/dev/null
    umount "$ROT_MNT"
    rmdir "$ROT_MNT"
else
    fail "loop-mounting an ext4 image failed (the full re-hash test needs loop devices)"
fi

echo "--- full re-hash: pgext.full_rehash_rate_limit paces it"
# full_rehash_ms IMAGE: how long the worker's activity says "fully re-hashing IMAGE" (polled).
full_rehash_ms() {
    local first="" last="" now deadline=$(($(date +%s) + 60))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        now=$(date +%s%N)
        if worker_busy_with "fully re-hashing image $1"; then
            [ -n "$first" ] || first=$now
            last=$(date +%s%N)
        elif [ -n "$first" ]; then
            break
        fi
        sleep 0.05
    done
    [ -n "$first" ] && echo $(((last - first) / 1000000)) || echo 0
}
vbytes=$(find "$ROOT/vector" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
rate_kb=$((vbytes / 1024 / 4 + 1)) # about 4 s for the whole image
reload_with "pgext.full_rehash_rate_limit = '${rate_kb}kB'" "pgext.full_rehash_interval = 1"
ms=$(full_rehash_ms vector)
expect_ms=$((vbytes * 1000 / (rate_kb * 1024)))
check "vector ($vbytes bytes) at ${rate_kb} kB/s takes about $expect_ms ms: took $ms ms" \
    test "$ms" -ge $((expect_ms * 6 / 10)) -a "$ms" -le $((expect_ms * 2 + 2000))
check "the paced full re-hash found nothing (vector stays verified)" is_status vector verified
reload_with "pgext.full_rehash_interval = '1d'" "pgext.full_rehash_rate_limit = '32MB'"
for f in "$WORK"/*.proxy.pid; do kill "$(cat "$f")" 2>/dev/null || true; done
check "only the three pinned images are left" wait_for 10 q_is "SELECT count(*) FROM pgext.image_status" 3

echo "--- privileges"
check "pg_monitor reads health, status and history" q_is "SET ROLE pgext_test_monitor;
    SELECT (SELECT count(*) FROM pgext.health) + (SELECT count(*) FROM pgext.worker_status)
      + (SELECT count(*) FROM pgext.image_status) + (SELECT count(*) FROM (SELECT FROM pgext.check_runs LIMIT 1) x)
      + (SELECT count(*) FROM (SELECT pgext.report()) r)" 7
check "pg_monitor may not call check_now" denied pgext_test_monitor "SELECT pgext.check_now()"
check "pgext_admin may call check_now" q_is "SET ROLE pgext_test_admin; SELECT pgext.check_now()" t
q "CREATE ROLE pgext_test_nobody" >/dev/null
check "other roles may not read health" denied pgext_test_nobody "SELECT * FROM pgext.health()"
check "other roles may not read the history" denied pgext_test_nobody "SELECT * FROM pgext.check_runs"

echo "--- streaming standby"
rm -rf "$SBASE"
owner_dir "$SBASE"
# (It copies the primary's server.log too; it warns about the socket, which lives in the data directory.)
as_owner "$PG_BINDIR/pg_basebackup" -D "$SDATA" -h "$DATA" -p "$PORT" -U postgres -R -X stream -c fast \
    2>"$SBASE/basebackup.log" || die "pg_basebackup failed: $(cat "$SBASE/basebackup.log")"
: >"$SDATA/server.log"
cluster_start "$SDATA" "$SPORT" "$WORK/worker.conf"
check "the standby is in recovery" sq_is "SELECT pg_is_in_recovery()" t
check "the standby's worker runs and cycles" \
    wait_for 15 sq_is "SELECT up AND in_recovery AND cycles >= 2 FROM pgext.worker_status" t
check "the standby reports its images through image_status()" wait_for 15 standby_status_is beta verified
check "the standby reports through worker_status() and health()" \
    sq_is "SELECT w.extension_installed || ',' || h.status FROM pgext.worker_status w, pgext.health h" "true,ok"
# Quiet the primary, let the standby catch up, then watch the standby cycle without writing.
reload_with "pgext.check_interval = '1h'"
sleep 1.5
lsn=$(q "SELECT pg_current_wal_lsn()")
wait_for 15 sq_is "SELECT pg_last_wal_replay_lsn() >= '$lsn'" t || true
n0=$(sq "SELECT count(*) FROM pgext.check_runs")
s0=$(sq "SELECT cycles FROM pgext.worker_status")
sleep 3
check "the standby cycles" test "$(sq "SELECT cycles FROM pgext.worker_status")" -ge $((s0 + 2))
check "the standby writes nothing (check_runs unchanged)" sq_is "SELECT count(*) FROM pgext.check_runs" "$n0"
check "the standby's cycles succeed (no write attempted)" \
    sq_is "SELECT last_cycle_outcome FROM pgext.worker_status" ok
tamper
check "the standby finds drift on its own" wait_for 10 standby_status_is beta drift
restore
check "and its recovery" wait_for 10 standby_status_is beta verified
reload_with "pgext.check_interval = 1"

echo "--- CloudNativePG queries (monitoring/cnpg-queries.yaml)"
for target in "primary $DATA $PORT" "standby $SDATA $SPORT"; do
    read -r label dir port <<<"$target"
    out=$(python3 "$REPO/tests/worker/cnpg_check.py" "$PG_BINDIR/psql" "$dir" "$port" cnpg_metrics_exporter \
        postgres "$REPO/monitoring/cnpg-queries.yaml" "$label" 2>&1 || true)
    echo "$out"
    passed=$((passed + $(grep -c '^PASS:' <<<"$out" || true)))
    failed=$((failed + $(grep -c '^FAIL:' <<<"$out" || true)))
    grep -q '^PASS:' <<<"$out" || fail "cnpg_check.py ran no query on the $label"
done
cluster_stop "$SDATA"

echo "--- the worker restarts"
old=$(worker_pid)
q "SELECT pg_terminate_backend($old)" >/dev/null
new_pid() { local p; p=$(worker_pid); [ -n "$p" ] && [ "$p" != "$old" ]; }
check "after SIGTERM (pg_terminate_backend) the worker is restarted (bgw_restart_time 10 s)" wait_for 25 new_pid
old=$(worker_pid)
kill -9 "$old"
# kill -9 of any process attached to shared memory makes the postmaster reinitialise it and
# restart every backend (crash recovery); the worker must come back with it.
check "after kill -9 the postmaster reinitialises and the worker comes back" wait_for 40 new_pid
check "the restarted worker verifies again (state rebuilt from the tables)" wait_for 30 all_verified
check "the log names the killed worker" \
    log_is "background worker \"$WORKER\" (PID $old) was terminated by signal 9" 1

echo "--- pg_ctl stop -m fast during a verification in flight"
reload_with "pgext.images = '$PINS, ghost=$PGEXT_SILENT/never:1'" "pgext.verify_interval = 1"
in_flight() {
    q_is "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$WORKER'
            AND query LIKE 'verifying image ghost%' AND state = 'active'" 1
}
terminated="FATAL:  terminating background worker \"$WORKER\" due to administrator command"
if wait_for 20 in_flight; then
    sleep 1 # well inside the silent listener's read
    before=$(log_count "$terminated")
    t0=$(date +%s%N)
    as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    ms=$(elapsed_ms "$t0")
    if [ "$ms" -lt 5000 ]; then pass "pg_ctl stop -m fast took ${ms} ms"; else fail "pg_ctl stop -m fast took ${ms} ms"; fi
    check "the worker ended through SIGTERM (die)" test "$(log_count "$terminated")" = $((before + 1))
else
    fail "no verification in flight against the silent listener"
    cluster_stop "$DATA"
fi

echo "--- without shared_preload_libraries"
: >"$WORK/nopreload.conf"
cluster_start "$NDATA" "$NPORT" "$WORK/nopreload.conf"
nq() { "$PG_BINDIR/psql" -X -h "$NDATA" -p "$NPORT" -U postgres -d postgres -v VERBOSITY=verbose -Atq "$@" 2>&1; }
check "CREATE EXTENSION works" test "$(nq -c "CREATE EXTENSION pgext" -c "SELECT 1")" = 1
check "on-demand functions work" test "$(nq -c "SELECT count(*) >= 0 FROM pgext.extension_paths")" = t
out=$(nq -c "SELECT * FROM pgext.health()" || true)
check "health() raises SQLSTATE 55000 with the hint" \
    bash -c 'grep -q "ERROR:  55000: pgext'"'"'s shared memory is not available" <<<"$1" &&
             grep -q "HINT:  pgext must be loaded via shared_preload_libraries" <<<"$1"' _ "$out"
for fn in "pgext.worker_status()" "pgext.image_status()" "pgext.check_now()" "pgext.report()"; do
    check "$fn raises SQLSTATE 55000" bash -c 'grep -q "ERROR:  55000" <<<"$1"' _ "$(nq -c "SELECT * FROM $fn" || true)"
done
check "the worker settings are there, pgext.database is not (postmaster-only)" \
    test "$(nq -c "LOAD 'pgext'" -c "SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE name IN
        ('pgext.check_interval', 'pgext.verify_interval', 'pgext.history_retention', 'pgext.database')")" \
    = "pgext.check_interval,pgext.history_retention,pgext.verify_interval"
cluster_stop "$NDATA"

echo "--- pgext.database does not exist"
base_conf "$WORK/nodb.conf"
echo "pgext.database = 'pgext_no_such_db'" >>"$WORK/nodb.conf"
cluster_start "$NDATA" "$NPORT" "$WORK/nodb.conf"
no_db_reason() {
    [ "$(nq -c "SELECT status || ': ' || reasons[1] FROM pgext.health")" = \
        'failing: the pgext worker is not running: the worker could not connect to database "pgext_no_such_db" (pgext.database)' ]
}
check "health() says the worker cannot connect, and why" wait_for 10 no_db_reason
check "the server keeps running (the worker is retried, never the postmaster)" \
    test "$(nq -c "SELECT count(*) FROM pgext.worker_status WHERE NOT up")" = 1
cluster_stop "$NDATA"

echo
[ "$(so_identity)" = "$SO_AT_START" ] \
    || echo "NOTE: $PG_PKGLIBDIR/pgext.so was reinstalled during the run; servers that had it mapped may have crashed"
echo "$passed passed, $failed failed"
trap - EXIT
cleanup
if [ "$failed" -eq 0 ]; then
    rm -rf "$WORK"
else
    echo "work files kept in $WORK (server logs: $DATA/server.log, $SDATA/server.log)"
    exit 1
fi
