#!/usr/bin/env bash
# Proves that `ALTER EXTENSION pgext UPDATE` from every released version equals a fresh install of
# the current one, and that the state a site has (pins, recorded checks, history) survives it.
#
# Released schemas are kept as sql/released/pgext--<version>.sql. For each one, a database
# installs it, gets state, and is updated; a second database installs the current version fresh;
# tests/upgrade/describe.sql lists every extension-owned object with its columns, constraints,
# definitions, grants and comments in both, and the two lists must be equal. A schema change
# without its update script (or with a wrong one) fails here. The released script of the current
# version, once it exists, must also equal the current build's schema: a released schema is frozen.
#
# The scripts are served from a private extension_control_path directory, so nothing is added to
# the PostgreSQL installation's own share/extension.
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
cd "$REPO"

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgext-upgrade.XXXXXX")
chmod 0755 "$WORK"
DATA=$WORK/data
PORT=${PGEXT_UPGRADE_PORT:-55481}
failures=0
passed=0
cleanup() { cluster_stop "$DATA" immediate; }
trap cleanup EXIT

fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
ok() { printf 'ok: %s\n' "$*"; passed=$((passed + 1)); }

# The directory PostgreSQL reads pgext's control file and scripts from: the installed control
# file and current install script, every update script under sql/, every released schema.
ctl=$WORK/ext/share/extension
mkdir -p "$ctl"
cp "$PG_SHAREDIR/extension/pgext.control" "$PG_SHAREDIR/extension/pgext--$VERSION.sql" "$ctl/" \
    || die "pgext $VERSION is not installed in $PG_SHAREDIR (run install_pgext first)"
cp sql/pgext--*--*.sql "$ctl/" 2>/dev/null || true
released=()
for f in sql/released/pgext--*.sql; do
    [ -e "$f" ] || continue
    v=${f##*/pgext--}
    v=${v%.sql}
    [ "$v" = "$VERSION" ] && continue
    cp "$f" "$ctl/"
    released+=("$v")
done
chmod -R a+rX "$WORK/ext"

cat >"$WORK/upgrade.conf" <<EOF
extension_control_path = '$WORK/ext/share:\$system'
shared_preload_libraries = 'pgext'
pgext.check_interval = '1h'
EOF
cluster_start "$DATA" "$PORT" "$WORK/upgrade.conf"
psql_db() { local db=$1; shift; cluster_psql "$DATA" "$PORT" -d "$db" -q "$@"; }
describe() { psql_db "$1" -f "$REPO/tests/upgrade/describe.sql" >"$WORK/$1.schema"; }

# The role model (the book: docs/src/security.md), on a cluster where pgext was never installed.
psql_db postgres -c "CREATE DATABASE roles"
psql_db roles <<'SQL'
CREATE ROLE maker LOGIN CREATEROLE;
SET ROLE maker;
CREATE ROLE pgext_admin NOLOGIN;  -- maker now holds ADMIN OPTION on it
RESET ROLE;
CREATE ROLE alice LOGIN;
SQL
out=$(psql_db roles -c "CREATE EXTENSION pgext" 2>&1) && fail "CREATE EXTENSION adopted a pgext_admin that maker may grant" \
    || { grep -q 'non-superusers may grant it' <<<"$out" && grep -q 'REVOKE ADMIN OPTION FOR pgext_admin FROM maker' <<<"$out" \
        && ok "a pre-created pgext_admin that a CREATEROLE user may grant is refused" || fail "unexpected refusal: $out"; }
code=$(psql_db roles -v VERBOSITY=verbose -c "CREATE EXTENSION pgext" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' || true)
[ "$code" = 42501 ] && ok "that refusal is SQLSTATE 42501" || fail "that refusal is SQLSTATE '$code', not 42501"
psql_db roles -c "ALTER ROLE pgext_admin LOGIN" -c "REVOKE ADMIN OPTION FOR pgext_admin FROM maker"
psql_db roles -c "CREATE EXTENSION pgext" 2>/dev/null && fail "CREATE EXTENSION adopted a pgext_admin that can log in" \
    || ok "a pre-created pgext_admin with LOGIN is refused"
psql_db roles -c "ALTER ROLE pgext_admin NOLOGIN" -c "CREATE EXTENSION pgext" -c "GRANT pgext_admin TO alice"
[ "$(psql_db roles -Atc "SELECT pg_has_role('pgext_admin', 'pg_monitor', 'MEMBER')")" = f ] \
    && ok "pgext_admin is not a member of pg_monitor" || fail "pgext_admin is a member of pg_monitor"
as_alice() { cluster_psql "$DATA" "$PORT" -d roles -q -U alice "$@"; }
as_alice -Atc "SELECT count(*) >= 0 FROM pgext.mounted_images, pgext.health, pgext.image_pins" >/dev/null \
    && ok "a pgext_admin member reads pgext's views" || fail "a pgext_admin member cannot read pgext's views"
as_alice -Atc "SELECT current_setting('data_directory')" >/dev/null 2>&1 \
    && fail "a pgext_admin member reads data_directory (pg_read_all_settings)" \
    || ok "a pgext_admin member does not get pg_read_all_settings"
for t in "pins (name, reference) VALUES ('../..', 'x/y:1')" \
         "image_checks (name, reference, pin_source, status, checked_at) VALUES ('a/b', 'x/y:1', 'table', 'verified', now())" \
         "image_files (name, path, kind, mode, size) VALUES ('..', 'p', 'file', 420, 0)" \
         "image_differences (name, path, kind) VALUES (E'a\\nb', 'p', 'missing')"; do
    err=$(as_alice -v VERBOSITY=verbose -c "INSERT INTO pgext.$t" 2>&1) && fail "pgext_admin wrote an invalid image name: $t" \
        || { grep -q '23514' <<<"$err" && ok "invalid image name refused (23514): ${t%% *}" || fail "unexpected error for $t: $err"; }
done
as_alice -c "SELECT pgext.pin_image('ok_name', 'registry.example.com/x:1')" >/dev/null \
    && ok "a pgext_admin member pins an image" || fail "a pgext_admin member cannot pin"
psql_db roles -c "DROP EXTENSION pgext"
[ "$(psql_db roles -Atc "SELECT count(*) FROM pg_roles WHERE rolname = 'pgext_admin'")" = 1 ] \
    && ok "pgext_admin outlives DROP EXTENSION (it is cluster-wide)" || fail "DROP EXTENSION dropped pgext_admin"

psql_db postgres -c "CREATE DATABASE fresh"
psql_db fresh -c "CREATE EXTENSION pgext"
describe fresh
[ "$(psql_db fresh -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pgext'")" = "$VERSION" ] \
    && ok "fresh install is $VERSION" || fail "fresh install is not $VERSION"
# \d+ and \df+ explain every object: a table, view, index, domain, function or column pgext
# creates without a COMMENT fails here (the book's reference is generated from these comments).
uncommented=$(psql_db fresh -f "$REPO/tests/upgrade/uncommented.sql")
[ -z "$uncommented" ] && ok "every pgext object and column has a comment" \
    || fail "pgext objects without a COMMENT (add one to sql/comments.sql and the update script):"$'\n'"$uncommented"

if [ -f "sql/released/pgext--$VERSION.sql" ]; then
    # A released schema is frozen: the current build must still produce it.
    frozen=$WORK/frozen/share/extension
    mkdir -p "$frozen"
    cp "$PG_SHAREDIR/extension/pgext.control" "sql/released/pgext--$VERSION.sql" "$frozen/"
    chmod -R a+rX "$WORK/frozen"
    psql_db postgres -c "CREATE DATABASE frozen"
    psql_db frozen -c "SET extension_control_path = '$WORK/frozen/share'" -c "CREATE EXTENSION pgext"
    describe frozen
    if diff -u "$WORK/frozen.schema" "$WORK/fresh.schema" >"$WORK/frozen.diff"; then
        ok "the released schema of $VERSION equals the current build's"
    else
        fail "the current build's schema differs from released $VERSION (bump the version and add an update script):"
        cat "$WORK/frozen.diff"
    fi
fi

[ ${#released[@]} -gt 0 ] || fail "no released schema under sql/released: nothing to update from"
for v in "${released[@]}"; do
    db="from_${v//[^0-9a-z]/_}"
    psql_db postgres -c "CREATE DATABASE $db"
    psql_db "$db" -c "CREATE EXTENSION pgext VERSION '$v'"
    # State a site has: a table pin, a recorded check with its tree and differences, history.
    psql_db "$db" <<'SQL'
SELECT pgext.pin_image('kept', 'registry.example.com/kept:1@sha256:' || repeat('a', 64));
INSERT INTO pgext.image_checks (name, reference, pin_source, status, missing, checked_at)
VALUES ('kept', 'registry.example.com/kept:1@sha256:' || repeat('a', 64), 'table', 'drift', 1, now());
INSERT INTO pgext.image_files (name, path, kind, mode, size, sha256)
VALUES ('kept', 'lib/kept.so', 'file', 420, 3, repeat('b', 64));
INSERT INTO pgext.image_differences (name, path, kind, expected) VALUES ('kept', 'lib/kept.so', 'missing', 'file');
WITH r AS (
  INSERT INTO pgext.check_runs (started_at, duration, outcome, images, verified, drift, unreachable, errors,
                                incompatible, findings)
  VALUES (now(), '1 second', 'problems', 1, 0, 1, 0, 0, 0, 1) RETURNING id)
INSERT INTO pgext.findings (run_id, image, code, severity, message)
SELECT id, 'kept', 'drift', 'error', 'lib/kept.so is missing' FROM r;
SQL
    if ! psql_db "$db" -c "ALTER EXTENSION pgext UPDATE" 2>"$WORK/$db.err"; then
        fail "ALTER EXTENSION pgext UPDATE from $v: $(cat "$WORK/$db.err")"
        continue
    fi
    got=$(psql_db "$db" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pgext'")
    [ "$got" = "$VERSION" ] && ok "$v updates to $VERSION" || fail "$v updated to '$got', not $VERSION"
    describe "$db"
    if diff -u "$WORK/fresh.schema" "$WORK/$db.schema" >"$WORK/$db.diff"; then
        ok "$v + update equals a fresh $VERSION ($(wc -l <"$WORK/fresh.schema") catalog facts)"
    else
        fail "$v + update differs from a fresh $VERSION (- fresh, + updated):"
        cat "$WORK/$db.diff"
    fi
    state=$(psql_db "$db" -Atc "SELECT (SELECT count(*) FROM pgext.pins WHERE name = 'kept')
        || ' ' || (SELECT count(*) FROM pgext.image_checks WHERE name = 'kept' AND status = 'drift')
        || ' ' || (SELECT count(*) FROM pgext.image_files WHERE name = 'kept')
        || ' ' || (SELECT count(*) FROM pgext.image_differences WHERE name = 'kept')
        || ' ' || (SELECT count(*) FROM pgext.check_runs r JOIN pgext.findings f ON f.run_id = r.id)")
    [ "$state" = "1 1 1 1 1" ] && ok "state survives the update from $v" || fail "state after the update from $v: $state (want 1 1 1 1 1)"
    # The updated schema works: the views answer.
    psql_db "$db" -c "SELECT count(*) FROM pgext.mounted_images" -c "SELECT * FROM pgext.health" >/dev/null \
        && ok "views answer after the update from $v" || fail "views fail after the update from $v"
done

echo
echo "upgrade: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
