#!/usr/bin/env bash
# pgext.enforce against a real PostgreSQL 18 with pgext preloaded and real images: a pinned and
# verified image, an unpinned one, a drifted one, an incompatible one, requires chains across
# images, an update path that LOADs from an image, C functions, LOAD, preload settings, and a
# non-superuser installing a trusted extension. The psql transcript (statements, messages,
# SQLSTATEs, the decision log) must equal tests/enforce/expected.out.
# Usage: tests/enforce/run.sh            (PGEXT_ENFORCE_PORT, default 56601; PGEXT_BLESS=1 rewrites
#        the expected transcripts)
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup

WORK=${PGEXT_ENFORCE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pgext-enforce.XXXXXX")}
mkdir -p "$WORK"
chmod 0755 "$WORK"
FX=$WORK/fx
DATA=$WORK/data
PORT=${PGEXT_ENFORCE_PORT:-56601}
cleanup() { cluster_stop "$DATA" immediate; }
trap cleanup EXIT

say "building fixture images in $FX"
mkdir -p "$FX"
bash "$REPO/tests/fixtures/build.sh" "$FX/real" >"$FX/fixtures-build.log" 2>&1 \
    || { tail -n 30 "$FX/fixtures-build.log"; die "tests/fixtures/build.sh failed"; }
E=$FX/extensions
rm -rf "$E"
mkdir -p "$E"
R=$FX/real/extensions
# good: pinned and verified; pgext_fixture (C, installed through 1.0 and the 1.0--1.1 update)
# plus SQL-only extensions, one trusted, and a requires chain that stays in the image.
cp -a "$R/pgext_fixture" "$E/good"
ext() { # ext IMAGE NAME CONTROL_EXTRA [SCRIPT_BODY]
    local d=$E/$1/share/extension
    mkdir -p "$d" "$E/$1/lib"
    printf "default_version = '1.0'\nrelocatable = true\n%b" "$3" >"$d/$2.control"
    printf -- "-- %s 1.0\n%b\n" "$2" "${4:-}" >"$d/$2--1.0.sql"
}
ext good enf_base "trusted = true\n" "CREATE FUNCTION enf_base() RETURNS int LANGUAGE sql AS 'SELECT 1';"
ext good enf_chain_ok "requires = 'enf_base'\n"
ext good enf_trusted_ok "trusted = true\n"
ext good enf_chain_out "requires = 'enf_loose'\n"
# loose: never pinned. A trusted SQL-only extension, a library, and an extension whose update
# path LOADs that library from this image.
ext loose enf_loose "trusted = true\n"
cp "$R/pgext_fixture/lib/pgext_fixture.so" "$E/loose/lib/enf_looselib.so"
# upd (pinned, verified): 1.0 -> 1.1 runs LOAD 'enf_looselib', found in image loose.
ext upd enf_upd ""
printf -- "-- enf_upd 1.0 -> 1.1\nLOAD 'enf_looselib';\n" >"$E/upd/share/extension/enf_upd--1.0--1.1.sql"
# drifty: pinned and verified, then changed.
ext drifty enf_drift ""
# broken: pinned and verified, but its module has no magic block.
cp -a "$R/no_magic" "$E/broken"
# Day 2: one library (tests/enforce/day2) with a function of every kind fmgr looks up, copied
# into good (pinned, verified), loose (never pinned) and drifty (verified, then changed).
rm -rf "$FX/day2"
cp -R "$REPO/tests/enforce/day2" "$FX/day2"
make -s -C "$FX/day2" PG_CONFIG="$PG_CONFIG" enable_rpath=no >"$FX/day2-build.log" 2>&1 \
    || { tail -n 30 "$FX/day2-build.log"; die "building tests/enforce/day2 failed"; }
cp "$FX/day2/enf_day2.so" "$E/good/lib/enf_d2_good.so"
cp "$FX/day2/enf_day2.so" "$E/loose/lib/enf_d2_loose.so"
mkdir -p "$E/drifty/lib"
cp "$FX/day2/enf_day2.so" "$E/drifty/lib/enf_d2_drift.so"
chmod -R a+rX "$E"

say "pinning good, upd, drifty and broken to OCI layouts"
L=$FX/oci
rm -rf "$L"
mkdir -p "$L"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
for img in good upd drifty broken loose; do
    umoci init --layout "$L/$img" >/dev/null
    umoci new --image "$L/$img:v1" >/dev/null
    umoci insert "${rootless[@]}" --image "$L/$img:v1" "$E/$img" / >/dev/null
done
chmod -R a+rX "$L"

owner_dir "$WORK/spool"
cat >"$FX/enforce.conf" <<CONF
shared_preload_libraries = 'pgext'
extension_control_path = '\$system:$E/good/share:$E/loose/share:$E/upd/share:$E/drifty/share:$E/broken/share'
dynamic_library_path = '\$libdir:$E/good/lib:$E/loose/lib:$E/upd/lib:$E/drifty/lib:$E/broken/lib'
pgext.extensions_root = '$E'
pgext.images = 'good=oci:$L/good:v1, upd=oci:$L/upd:v1, drifty=oci:$L/drifty:v1, broken=oci:$L/broken:v1'
pgext.layout_directories = '$L'
pgext.database = 'enf'
pgext.check_interval = 3600
pgext.verify_interval = 0
pgext.spool_directory = '$WORK/spool'
CONF
say "starting PostgreSQL 18 in $DATA (port $PORT)"
rm -rf "$DATA"
cluster_start "$DATA" "$PORT" "$FX/enforce.conf"

psql_() { "$PG_BINDIR/psql" -X -h "$DATA" -p "$PORT" "$@"; }
psql_ -U postgres -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE enf" \
    -c "CREATE ROLE enf_user LOGIN" -c "GRANT CREATE ON DATABASE enf TO enf_user"
psql_ -U postgres -q -v ON_ERROR_STOP=1 -d enf -c "CREATE EXTENSION pgext" \
    -c "SELECT name, status, error_code, error FROM pgext.verify_images() ORDER BY name" >"$FX/verify.out"
cat "$FX/verify.out"
grep -c verified "$FX/verify.out" | grep -qx 4 || die "the four pinned images must verify"
# The worker publishes what it finds (database enf2, without pgext, relies on it): all verified.
psql_ -U postgres -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE enf2"
# The worker restarts within 10 s of its first attempt (database enf did not exist yet).
ok=false
for _ in $(seq 60); do
    if [ "$(psql_ -U postgres -d enf -Atc "SELECT pgext.check_now(true)")" = t ]; then ok=true; break; fi
    sleep 0.5
done
$ok || die "the pgext worker did not run a cycle"
# Drift after verification: one script changed, one file added.
printf -- "-- changed after verification\n" >>"$E/drifty/share/extension/enf_drift--1.0.sql"
printf 'x' >"$E/drifty/share/extension/extra.sql"
chmod -R a+rX "$E/drifty"

say "transcript"
out=$WORK/enforce.out
# Paths, digests and timestamps vary from run to run.
psql_ -U postgres -d enf -a -v fx="$FX" -v port="$PORT" -v data="$DATA" \
    -f "$REPO/tests/enforce/enforce.sql" 2>&1 \
    | sed -E -e "s#$FX#@FX@#g" -e "s#$REPO/##g" -e 's/sha256:[0-9a-f]{64}/sha256:<digest>/g' \
          -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.+-]+/<time>/g' -e 's/pid [0-9]+/pid <pid>/g' >"$out"
# PGEXT_BLESS=1 accepts the transcripts as they are (review the diff before committing).
[ "${PGEXT_BLESS:-0}" = 1 ] && cp "$out" "$REPO/tests/enforce/expected.out"
if ! diff -u "$REPO/tests/enforce/expected.out" "$out"; then
    echo "enforce: transcript differs (kept in $out; server log $DATA/server.log)"
    trap - EXIT
    cleanup
    exit 1
fi

say "preload settings: judged at the first statement of a session"
psql_ -U postgres -q -v ON_ERROR_STOP=1 -d enf \
    -c "ALTER ROLE enf_user SET session_preload_libraries = 'enf_looselib'" \
    -c "ALTER ROLE enf_user SET pgext.enforce = 'on'"
if msg=$(psql_ -U enf_user -d enf -Atc "SELECT 'session ran'" 2>&1); then
    die "under on, a session that preloaded an unpinned image's library must end: $msg"
fi
echo "$msg"
echo "$msg" | grep -q 'FATAL:  pgext.enforce: library ".*/loose/lib/enf_looselib.so" (loaded at session start by session_preload_libraries) comes from image "loose", which is not pinned and not verified' \
    || die "unexpected preload refusal: $msg"
psql_ -U postgres -q -v ON_ERROR_STOP=1 -d enf -c "ALTER ROLE enf_user SET pgext.enforce = 'warn'"
msg=$(psql_ -U enf_user -d enf -Atc "SELECT 'session ran'" 2>&1) || die "warn must let the session run: $msg"
echo "$msg"
echo "$msg" | grep -q 'WARNING:  pgext.enforce: library ".*enf_looselib.so" (loaded at session start by session_preload_libraries) comes from image "loose"' || die "no preload warning: $msg"
echo "$msg" | grep -qx 'session ran' || die "the session did not run: $msg"
n=$(psql_ -U postgres -d enf -Atc "SELECT string_agg(outcome, ',' ORDER BY seq) FROM pgext.enforcement_log WHERE action = 'session_preload'")
[ "$n" = "refused,warned" ] || die "preload decisions not logged: $n"

say "day 2: every load judged, the preview before each switch"
out2=$WORK/day2.out
psql_ -U postgres -d enf -a -v fx="$FX" -v loose_ref="oci:$L/loose:v1" \
    -f "$REPO/tests/enforce/day2.sql" 2>&1 \
    | sed -E -e "s#$FX#@FX@#g" -e "s#$REPO/##g" -e 's/sha256:[0-9a-f]{64}/sha256:<digest>/g' \
          -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.+-]+/<time>/g' -e 's/pid [0-9]+/pid <pid>/g' >"$out2"
[ "${PGEXT_BLESS:-0}" = 1 ] && cp "$out2" "$REPO/tests/enforce/day2.expected"
if ! diff -u "$REPO/tests/enforce/day2.expected" "$out2"; then
    echo "enforce: day-2 transcript differs (kept in $out2; server log $DATA/server.log)"
    trap - EXIT
    cleanup
    exit 1
fi
grep -q 'enf_day2: _PG_init ran in @FX@/extensions/good/lib/enf_d2_good.so' "$out2" \
    || die "the allowed library was not opened"
# The preview and the hook agree on every callable function (also held by the transcript).
grep -Eq '^ +21 \| +0$' "$out2" || die "the preview and the hook disagree (see $out2)"
# Under on, between the switch and the next section, no refused library may be opened.
if sed -n '/^-- on: new sessions/,/^-- The preview agrees/p' "$out2" | grep -Eq '_PG_init ran in .*(enf_d2_loose|enf_d2_drift)'; then
    die "a refused library was opened"
fi

say "pgext.enforce_locked: enforcement can only tighten until the next restart"
cluster_stop "$DATA" fast
echo "pgext.enforce_locked = on" >>"$DATA/pgext.conf"
as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null
locked() { psql_ -U postgres -d enf -Atc "$1" 2>&1; }
[ "$(locked "SHOW pgext.enforce")" = on ] || die "locked: pgext.enforce is not on"
[ "$(locked "SELECT mode, locked FROM pgext.enforcement_status")" = "on|t" ] || die "locked: enforcement_status does not say so"
for stmt in "SET pgext.enforce = off" "SET pgext.enforce = warn" "ALTER SYSTEM SET pgext.enforce = off" \
    "ALTER ROLE enf_user SET pgext.enforce = off" "SET pgext.require = 'pinned'" \
    "SET pgext.enforce_exempt = 'image:loose'"; do
    msg=$(locked "$stmt" || true)
    echo "$stmt -> $msg"
    echo "$msg" | grep -q 'ERROR:  invalid value for parameter' || die "locked: '$stmt' was accepted: $msg"
    echo "$msg" | grep -q 'pgext.enforce_locked is on' || die "locked: '$stmt' without the reason: $msg"
done
msg=$(locked "SET pgext.require = 'pinned,verified,compatible,signed'; SHOW pgext.require" | tail -n1 || true)
[ "$msg" = "pinned,verified,compatible,signed" ] || die "locked: tightening pgext.require was refused: $msg"
msg=$(psql_ -U postgres -d enf -Atc "SELECT d2_hello_drift()" 2>&1) && die "locked: a drifted image's function ran: $msg"
echo "$msg" | grep -q 'ERROR:  pgext.enforce: library ".*enf_d2_drift.so" (loaded by function d2_hello_drift())' \
    || die "locked: unexpected refusal: $msg"
# A reload with another value in the file changes nothing.
echo "pgext.enforce = warn" >>"$DATA/pgext.conf"
psql_ -U postgres -d enf -Atc "SELECT pg_reload_conf()" >/dev/null
sleep 1
[ "$(locked "SHOW pgext.enforce")" = on ] || die "locked: a reload relaxed pgext.enforce"
sed -i '/^pgext.enforce_locked = on$/d; /^pgext.enforce = warn$/d' "$DATA/pgext.conf"

say "without preloading nothing is enforced, and pgext says so"
cluster_stop "$DATA" fast
sed -i "s/^shared_preload_libraries = 'pgext'/shared_preload_libraries = ''/" "$DATA/pgext.conf"
echo "pgext.enforce = on" >>"$DATA/pgext.conf"
as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null
msg=$(psql_ -U postgres -d enf -Atc "SELECT hook_installed, problem FROM pgext.enforcement_status" 2>&1)
echo "$msg"
echo "$msg" | grep -q 'WARNING:  pgext.enforce is "on" but pgext is not in shared_preload_libraries: nothing is enforced' \
    || die "no warning without preload: $msg"
echo "$msg" | grep -q '^f|pgext.enforce is set but pgext is not in shared_preload_libraries' || die "status: $msg"
trap - EXIT
cleanup
rm -rf "$WORK"
say "enforce: all checks passed"
