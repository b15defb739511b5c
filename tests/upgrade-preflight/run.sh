#!/usr/bin/env bash
# `pgext-check upgrade` against a real `pg_upgrade --check`, then a real `pg_upgrade` and its plan.
#
#   tests/upgrade-preflight/run.sh [WORKDIR]      (default: $TMPDIR/pgext-upgrade-preflight)
#
# The old cluster is bookworm's PostgreSQL 15 (installed by scripts/setup.sh; copied here so its
# share directory can take the old extensions' control files, as a package would install them),
# the new one this PostgreSQL 18. Extension images are directories laid out like CloudNativePG's
# (lib/, share/extension/, system/): old ones under job/extensions/<name>, new ones under
# job/new-extensions/<name>; the new server's extension_control_path / dynamic_library_path name
# the new ones, and pg_upgrade runs under LD_LIBRARY_PATH built as the upgrade Job builds it, in
# both orders (CloudNativePG 1.30.0: old first; PR 11286: new first). Libraries are built here
# with gcc from fixture.c / fgeo.c. Cases, one extension each:
#   okext      rebuilt for 18, update 1.0->1.1 parses                 loads, plan runs
#   geoext     new build needs fgeo_b, which only the new system/'s libfgeo.so.1 has (issue 11285):
#              fails old-first, loads new-first
#   goneext    the new image has no library                            fails
#   magicext   the new image's library still has PostgreSQL 15's magic block   fails
#   preloadext _PG_init refuses to load outside shared_preload_libraries      fails
#   libdirext  the catalog says '$libdir/libdirext'; PostgreSQL 18's LOAD looks only in pkglibdir
#   nopathext  no update script from 1.0 to the new default 2.0       no_update_path
#   badext     the update script 1.0->1.1 does not parse               script_syntax_error
# pgext-check's `loadable` must equal pg_upgrade --check's verdict for every referenced library,
# in each order. Then the unloadable extensions are dropped, pg_upgrade runs for real (new
# first), and the plan's statements run: the compatible ones reach their new versions, the two
# flagged ones fail as predicted.
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup

W=${1:-${TMPDIR:-/tmp}/pgext-upgrade-preflight}
PORT_OLD=${PGEXT_UPGRADE_PORT:-55480}
PORT_NEW=$((PORT_OLD + 1))
OLD_SRC=/usr/lib/postgresql/15
[ -x "$OLD_SRC/bin/postgres" ] || die "PostgreSQL 15 is not installed at $OLD_SRC (scripts/setup.sh installs it)"
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W"
owner_dir "$W"
W=$(cd "$W" && pwd)
failures=0
checks=0
ok() { checks=$((checks + 1)); echo "  ok: $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "  FAIL: $*"; }
expect() { if [ "$2" = "$3" ]; then ok "$1: ${3//$'\n'/ | }"; else bad "$1: want ${2//$'\n'/ | }, got ${3//$'\n'/ | }"; fi; }

OLD=$W/pg15/usr/lib/postgresql/15
OLDSHARE=$W/pg15/usr/share/postgresql/15
J=$W/job
CASES=(okext geoext goneext magicext preloadext libdirext nopathext badext)

cleanup() {
    PG_BINDIR=$OLD/bin cluster_stop "$W/old" immediate 2>/dev/null || true
    cluster_stop "$W/new" immediate 2>/dev/null || true
    cluster_stop "$W/cur" immediate 2>/dev/null || true
}
trap cleanup EXIT

say "pgext-check"
if [ -z "${PGEXT_CHECK:-}" ]; then
    (cd "$REPO" && cargo build --quiet -p pgext-check)
fi
CHECK=${PGEXT_CHECK:-$REPO/target/debug/pgext-check}

say "PostgreSQL 15 (copied from $OLD_SRC) and the images"
mkdir -p "$W/pg15/usr/lib/postgresql" "$W/pg15/usr/share/postgresql"
cp -a "$OLD_SRC" "$W/pg15/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$W/pg15/usr/share/postgresql/"

# lib SET NAME PGVER [CFLAGS...]: builds job/SET/NAME/lib/NAME.so.
lib() {
    local set=$1 name=$2 ver=$3
    shift 3
    mkdir -p "$J/$set/$name/lib"
    gcc -shared -fPIC -O2 -DPGVER="$ver" -o "$J/$set/$name/lib/$name.so" "$here/fixture.c" "$@"
}
# sql SET NAME FILE TEXT: a file of the image's share/extension (old images' go to PG 15's share).
sql() {
    local dir
    if [ "$1" = extensions ]; then dir=$OLDSHARE/extension; else dir=$J/$1/$2/share/extension; fi
    mkdir -p "$dir"
    printf '%s\n' "$4" >"$dir/$3"
}
fn() { echo "CREATE FUNCTION $1() RETURNS int AS 'MODULE_PATHNAME', 'answer' LANGUAGE C;"; }

# libfgeo.so.1 in two versions, in each image's system/.
mkdir -p "$J/extensions/geoext/system" "$J/new-extensions/geoext/system"
gcc -shared -fPIC -O2 -Wl,-soname,libfgeo.so.1 -o "$J/extensions/geoext/system/libfgeo.so.1" "$here/fgeo.c"
gcc -shared -fPIC -O2 -DFGEO_V2 -Wl,-soname,libfgeo.so.1 -o "$J/new-extensions/geoext/system/libfgeo.so.1" "$here/fgeo.c"

for e in "${CASES[@]}"; do
    # The old side: a PostgreSQL 15 build, found through dynamic_library_path (PostgreSQL 15 has
    # no extension_control_path: control files go to its share directory).
    mp=$e
    [ "$e" = libdirext ] && mp='$libdir/libdirext'
    sql extensions "$e" "$e.control" "default_version = '1.0'
module_pathname = '$mp'"
    sql extensions "$e" "$e--1.0.sql" "$(fn "${e}_answer")"
    flags=()
    case $e in
        geoext) flags=(-DFGEO_OLD -L"$J/extensions/geoext/system" -l:libfgeo.so.1) ;;
        preloadext) flags=(-DPRELOAD_ONLY) ;;
    esac
    if [ "$e" = libdirext ]; then
        gcc -shared -fPIC -O2 -DPGVER=1500 -o "$OLD/lib/libdirext.so" "$here/fixture.c"
    else
        lib extensions "$e" 1500 "${flags[@]}"
    fi
    # The new side.
    new=1.1
    [ "$e" = nopathext ] && new=2.0
    sql new-extensions "$e" "$e.control" "default_version = '$new'
module_pathname = '\$libdir/$e'"
    sql new-extensions "$e" "$e--$new.sql" "$(fn "${e}_answer")
$(fn "${e}_answer2")"
    # The old version's install script too (for the SQL section's PostgreSQL 18 cluster).
    sql new-extensions "$e" "$e--1.0.sql" "$(fn "${e}_answer")"
    case $e in
        nopathext) ;;
        badext) sql new-extensions "$e" "$e--1.0--1.1.sql" "CREATE FUNCTON ${e}_answer2() RETURNS int AS 'MODULE_PATHNAME', 'answer' LANGUAGE C;" ;;
        *) sql new-extensions "$e" "$e--1.0--1.1.sql" "\\echo Use \"ALTER EXTENSION $e UPDATE\" to load this file. \\quit
$(fn "${e}_answer2")" ;;
    esac
    case $e in
        goneext) mkdir -p "$J/new-extensions/$e/lib" ;;
        magicext) lib new-extensions "$e" 1500 ;;
        geoext) lib new-extensions "$e" 1800 -DFGEO_NEW -L"$J/new-extensions/geoext/system" -l:libfgeo.so.1 ;;
        preloadext) lib new-extensions "$e" 1800 -DPRELOAD_ONLY ;;
        *) lib new-extensions "$e" 1800 ;;
    esac
done
chmod -R a+rX "$W/pg15" "$J"

# The Job's LD_LIBRARY_PATH (the images' system/ directories; only geoext has one).
ld_path() {
    if [ "$1" = old-first ]; then
        echo "$J/extensions/geoext/system:$J/new-extensions/geoext/system"
    else
        echo "$J/new-extensions/geoext/system:$J/extensions/geoext/system"
    fi
}
join_paths() { local IFS=:; echo "$*"; }
lib_path=()
for e in "${CASES[@]}"; do lib_path+=("$J/extensions/$e/lib"); done
new_ctl=('$system')
new_lib=('$libdir')
for e in "${CASES[@]}"; do
    new_ctl+=("$J/new-extensions/$e/share")
    new_lib+=("$J/new-extensions/$e/lib")
done

say "the old cluster (PostgreSQL 15)"
cat >"$W/old.conf" <<EOF
dynamic_library_path = '\$libdir:$(join_paths "${lib_path[@]}")'
shared_preload_libraries = 'preloadext'
EOF
PGEXT_SERVER_LD_LIBRARY_PATH="$J/extensions/geoext/system" PG_BINDIR=$OLD/bin cluster_start "$W/old" "$PORT_OLD" "$W/old.conf"
oldsql() { PG_BINDIR=$OLD/bin cluster_psql "$W/old" "$PORT_OLD" -qAt "$@"; }
oldsql -d postgres -c "CREATE DATABASE app"
for e in "${CASES[@]}"; do oldsql -d app -c "CREATE EXTENSION $e" >/dev/null; done
oldsql -d postgres -c "CREATE EXTENSION okext" >/dev/null
# A C function outside any extension: pg_upgrade loads its library too.
oldsql -d postgres -c "CREATE FUNCTION loose() RETURNS int AS 'okext', 'answer' LANGUAGE C"
expect "old cluster works" "42" "$(oldsql -d app -c "SELECT geoext_answer()")"

say "the new cluster (PostgreSQL 18)"
owner_dir "$W/new"
as_owner "$PG_BINDIR/initdb" -D "$W/new" -U postgres --auth=trust --no-sync --no-data-checksums -E UTF8 --locale=C >"$W/new.initdb.log" 2>&1 ||
    { cat "$W/new.initdb.log"; die "initdb failed"; }
cat >>"$W/new/postgresql.conf" <<EOF
extension_control_path = '$(join_paths "${new_ctl[@]}")'
dynamic_library_path = '$(join_paths "${new_lib[@]}")'
EOF

CONN="host=$W/old port=$PORT_OLD user=postgres dbname=postgres"
images=()
for e in "${CASES[@]}"; do images+=(--image "$e=$J/new-extensions/$e" --old-image "$e=$J/extensions/$e"); done

# check ORDER: pgext-check upgrade --json into $W/check-ORDER.json, status in $RC.
check() {
    set +e
    "$CHECK" upgrade --json --from "$CONN" --server "$(dirname "$PG_BINDIR")" --old-server "$OLD" \
        --ld-library-path-order "$1" "${images[@]}" >"$W/check-$1.json" 2>"$W/check-$1.err"
    RC=$?
    set -e
}
# pgupgrade ORDER [--check]: runs pg_upgrade as the Job would; failing libraries in $W/failed-ORDER.
pgupgrade() {
    local order=$1
    shift
    owner_dir "$W/run-$order"
    set +e
    (cd "$W/run-$order" && PGEXT_SERVER_LD_LIBRARY_PATH=$(ld_path "$order") as_owner "$PG_BINDIR/pg_upgrade" "$@" \
        -b "$OLD/bin" -B "$PG_BINDIR" -d "$W/old" -D "$W/new" -p "$PORT_OLD" -P "$PORT_NEW" -s "$W/run-$order" -U postgres) \
        >"$W/pg_upgrade-$order.log" 2>&1
    UPRC=$?
    set -e
    { find "$W/new/pg_upgrade_output.d" -name loadable_libraries.txt -exec cat {} + 2>/dev/null || true; } |
        perl -ne 'print "$1\n" if /^could not load library "(.*?)": /' | sort -u >"$W/failed-$order"
    rm -rf "$W/new/pg_upgrade_output.d"
}
jq_() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $2" "$W/check-$1.json"; }

for order in old-first new-first; do
    say "LD_LIBRARY_PATH $order"
    check "$order"
    [ -s "$W/check-$order.json" ] || { cat "$W/check-$order.err"; die "pgext-check upgrade printed nothing"; }
    PG_BINDIR=$OLD/bin cluster_stop "$W/old"
    pgupgrade "$order" --check
    grep -q "Checking for presence of required libraries" "$W/pg_upgrade-$order.log" ||
        { tail -20 "$W/pg_upgrade-$order.log"; die "pg_upgrade --check stopped before the library check"; }
    predicted=$(jq_ "$order" 'print("\n".join(sorted(l["library"] for l in d["libraries"] if not l["loadable"] and l["referenced_by"])))')
    expect "$order: pgext-check's unloadable libraries = pg_upgrade --check's" "$(cat "$W/failed-$order")" "$predicted"
    referenced=$(PGEXT_SERVER_LD_LIBRARY_PATH="$J/extensions/geoext/system" PG_BINDIR=$OLD/bin cluster_start "$W/old" "$PORT_OLD" "$W/old.conf";
        for db in app postgres; do oldsql -d "$db" -c "SELECT DISTINCT probin FROM pg_proc WHERE prolang = 13 AND probin IS NOT NULL AND oid >= 16384"; done | sort -u)
    expect "$order: every referenced library is judged" "$referenced" \
        "$(jq_ "$order" 'print("\n".join(sorted(l["library"] for l in d["libraries"] if l["referenced_by"])))')"
    expect "$order: exit status" 1 "$RC"
    expect "$order: pg_upgrade --check failed" yes "$([ "$UPRC" != 0 ] && echo yes || echo no)"
done
expect "old-first: geoext fails and says why" "ld_library_path_shadowed" \
    "$(jq_ old-first 'print(",".join(c for l in d["libraries"] if l["library"]=="geoext" for c in l["problems"] if c=="ld_library_path_shadowed"))')"
jq_ old-first 'print([p["message"] for l in d["libraries"] if l["library"]=="geoext" for p in l["problem_details"] if p["code"]=="ld_library_path_shadowed"][0])' |
    grep -q "libfgeo.so.1 resolves to /extensions/geoext/system/libfgeo.so.1 before /new-extensions/geoext/system/libfgeo.so.1: geoext.so needs fgeo_b" && ok "the fix names libfgeo.so.1 and the old image" || bad "the shadowing message: $(jq_ old-first 'print([p["message"] for l in d["libraries"] if l["library"]=="geoext" for p in l["problem_details"]])')"
expect "extension verdicts (app, new-first)" \
    "badext:script_syntax_error geoext: goneext:library_unloadable,library_not_found libdirext:library_unloadable magicext:library_unloadable nopathext:no_update_path okext: plpgsql: preloadext:library_unloadable" \
    "$(jq_ new-first 'print(" ".join(e["name"]+":"+",".join(e["problems"]) for db in d["databases"] if db["name"]=="app" for e in sorted(db["extensions"], key=lambda e: e["name"])))')"
expect "the syntax error names the script and line" "yes" \
    "$(jq_ new-first 'print("yes" if any("badext--1.0--1.1.sql line 1: syntax error at or near \"FUNCTON\"" in p["message"] for db in d["databases"] for e in db["extensions"] for p in e["problem_details"]) else "no")')"

say "the real upgrade (new first), without the unloadable extensions"
for e in goneext magicext preloadext libdirext; do oldsql -d app -c "DROP EXTENSION $e" >/dev/null; done
sed -i "s/^shared_preload_libraries = .*/shared_preload_libraries = ''/" "$W/old.conf"
PG_BINDIR=$OLD/bin cluster_stop "$W/old"
PGEXT_SERVER_LD_LIBRARY_PATH="$J/extensions/geoext/system" PG_BINDIR=$OLD/bin cluster_start "$W/old" "$PORT_OLD" "$W/old.conf"
check new-first
expect "pgext-check: every library loads" "True" "$(jq_ new-first 'print(all(l["loadable"] for l in d["libraries"]))')"
expect "pgext-check: still not compatible (nopathext, badext)" 1 "$RC"
PG_BINDIR=$OLD/bin cluster_stop "$W/old"
pgupgrade new-first --check
expect "pg_upgrade --check passes" 0 "$UPRC"
pgupgrade new-first
expect "pg_upgrade passes" 0 "$UPRC"
[ "$UPRC" = 0 ] || tail -20 "$W/pg_upgrade-new-first.log"
PGEXT_SERVER_LD_LIBRARY_PATH="$J/new-extensions/geoext/system" cluster_start "$W/new" "$PORT_NEW"
newsql() { cluster_psql "$W/new" "$PORT_NEW" -qAt "$@"; }
# Run each planned statement; the compatible ones must succeed, the flagged ones fail.
jq_ new-first 'print("\n".join(db["name"]+"\t"+e["name"]+"\t"+str(e["compatible"])+"\t"+str(e["target_version"])+"\t"+e["statement"] for db in d["databases"] for e in db["extensions"] if e["statement"]))' >"$W/plan.tsv"
expect "the plan" "app badext False 1.1 | app geoext True 1.1 | app nopathext False 2.0 | app okext True 1.1 | postgres okext True 1.1" \
    "$(cut -f1-4 "$W/plan.tsv" | tr '\t' ' ' | sort | paste -sd'|' | sed 's/|/ | /g')"
while IFS=$'\t' read -r db ext compatible target stmt; do
    if out=$(newsql -d "$db" -c "$stmt" 2>&1); then ran=True; else ran=False; fi
    expect "$db: $stmt runs as predicted" "$compatible" "$ran"
    [ "$ran" = True ] && expect "$db: $ext reached" "$target" "$(newsql -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = '$ext'")"
    [ "$ran" = False ] && echo "    ($out)"
done <"$W/plan.tsv"
expect "the updated extensions work" "42|42|42" "$(newsql -d app -c "SELECT okext_answer2() || '|' || geoext_answer2() || '|' || geoext_answer()")"

cluster_stop "$W/new"

say "SQL: pgext.upgrade_preflight() = pgext-check upgrade; pgext.extension_updates"
# A PostgreSQL 18 cluster with pgext and the new images mounted, judged as the old cluster of an
# upgrade to this same server with the same images: both answers must be equal.
cat >"$W/cur.conf" <<EOF
extension_control_path = '$(join_paths "${new_ctl[@]}")'
dynamic_library_path = '$(join_paths "${new_lib[@]}")'
EOF
PGEXT_SERVER_LD_LIBRARY_PATH="$J/new-extensions/geoext/system" cluster_start "$W/cur" "$PORT_NEW" "$W/cur.conf"
cursql() { cluster_psql "$W/cur" "$PORT_NEW" -qAt "$@"; }
cursql -d postgres -c "CREATE EXTENSION pgext" -c "CREATE DATABASE app" >/dev/null
cursql -d app -c "CREATE EXTENSION pgext" >/dev/null
for e in okext geoext badext nopathext; do cursql -d app -c "CREATE EXTENSION $e VERSION '1.0'" >/dev/null; done
expect "extension_updates" "badext|1.1|f|script_syntax_error geoext|1.1|t| nopathext|2.0|f|no_update_path okext|1.1|t| pgext|0.3.0|t| plpgsql|1.0|t|" \
    "$(cursql -d app -c "SELECT name, default_version, updatable, array_to_string(problems, ',') FROM pgext.extension_updates ORDER BY name" | paste -sd' ')"
if cursql -d app -c "SELECT problem_details->0->>'message' FROM pgext.extension_updates WHERE name = 'badext'" |
    grep -q 'badext--1.0--1.1.sql line 1: syntax error at or near "FUNCTON"'; then
    ok "extension_updates names the script and line"
else
    bad "extension_updates message: $(cursql -d app -c "SELECT problem_details FROM pgext.extension_updates WHERE name = 'badext'")"
fi
# Every version's path to the default: the same as PostgreSQL's own search, and checked.
paths_q="SELECT e.name, p.source, coalesce(p.path, '-') FROM pg_available_extensions e, pg_extension_update_paths(e.name) p
          WHERE e.name IN ('okext', 'geoext', 'badext', 'nopathext') AND p.target = e.default_version AND p.source <> p.target"
mine_q="SELECT name, source, coalesce(source || '--' || array_to_string(update_path, '--'), '-') FROM pgext.extension_update_paths()
          WHERE name IN ('okext', 'geoext', 'badext', 'nopathext')"
expect "extension_update_paths() = pg_extension_update_paths() to each default version" \
    "$(cursql -d app -c "$paths_q ORDER BY 1, 2" | paste -sd' ')" "$(cursql -d app -c "$mine_q ORDER BY 1, 2" | paste -sd' ')"
expect "extension_update_paths() for badext" "1.0|1|f|script_syntax_error" \
    "$(cursql -d app -c "SELECT source, cardinality(update_path), updatable, array_to_string(problems, ',') FROM pgext.extension_update_paths('badext')" | paste -sd' ')"
arr() { local IFS=,; echo "ARRAY[$*]::text[]"; }
new_arr=()
old_arr=()
for e in "${CASES[@]}"; do new_arr+=("'$e=$J/new-extensions/$e'"); old_arr+=("'$e=$J/extensions/$e'"); done
for order in old-first new-first; do
    cursql -d postgres -c "SELECT pgext.upgrade_preflight('$(dirname "$PG_BINDIR")', $(arr "${new_arr[@]}"), $(arr "${old_arr[@]}"), '$order')" >"$W/sql-$order.json"
    set +e
    "$CHECK" upgrade --json --from "host=$W/cur port=$PORT_NEW user=postgres dbname=postgres" --server "$(dirname "$PG_BINDIR")" \
        --old-server "$(dirname "$PG_BINDIR")" --ld-library-path-order "$order" "${images[@]}" >"$W/cli-$order.json" 2>"$W/cli-$order.err"
    set -e
    expect "$order: pgext.upgrade_preflight() = pgext-check upgrade --json" "equal" \
        "$(python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); print("equal" if a==b else "differ: "+json.dumps(a)[:300]+" vs "+json.dumps(b)[:300])' "$W/sql-$order.json" "$W/cli-$order.json")"
done
expect "the SQL answer has the cluster's databases" "app postgres template1" \
    "$(python3 -c 'import json,sys; print(" ".join(d["name"] for d in json.load(open(sys.argv[1]))["databases"]))' "$W/sql-old-first.json")"
cluster_stop "$W/cur"

echo "upgrade-preflight: $((checks - failures)) passed, $failures failed"

[ "$failures" = 0 ]
