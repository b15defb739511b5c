#!/usr/bin/env bash
# Lays out the extension images the pg_regress suites and the demo use, the CloudNativePG way:
# FX/extensions/<image>/{share/extension,lib,system}. Real compiled artefacts come from
# tests/fixtures/build.sh (cached); a few small synthetic images cover shadowing and bad input.
# Writes FX/regress.conf (the server settings pointing at them) and FX/tree-digest.sh.
# Needs PG_CONFIG (PostgreSQL 18) in the environment.
set -Eeuo pipefail
FX=${1:?usage: make-tree.sh FIXTURE_DIR}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${PG_CONFIG:?PG_CONFIG must point at PostgreSQL 18}"
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)

rm -rf "$FX/extensions"
mkdir -p "$FX/extensions"

# Real images: pgvector built from Debian's source, the project's own two-version extension, a
# PG 17 build of pgvector (same control file name: shadowed), and a module that needs its image's
# system/ directory on LD_LIBRARY_PATH.
bash "$REPO/tests/fixtures/build.sh" "$FX/real" >"$FX/fixtures-build.log" 2>&1 \
    || { tail -n 30 "$FX/fixtures-build.log"; echo "make-tree: tests/fixtures/build.sh failed" >&2; exit 1; }
for img in vector pgext_fixture vector_pg17 needs_system libdir_load; do
    cp -a "$FX/real/extensions/$img" "$FX/extensions/$img"
done

ext() { # ext IMAGE NAME VERSION COMMENT
    local d="$FX/extensions/$1/share/extension"
    mkdir -p "$d" "$FX/extensions/$1/lib"
    printf "# %s\ncomment = '%s'\ndefault_version = '%s'\nrelocatable = true\n" "$2" "$4" "$3" >"$d/$2.control"
    printf -- "-- %s %s\nCREATE FUNCTION %s_version() RETURNS text LANGUAGE sql AS \$\$SELECT '%s'\$\$;\n" \
        "$2" "$3" "$2" "$3" >"$d/$2--$3.sql"
}
ext alpha pgext_regress_alpha 1.0 "alpha image, first on the path"
ext beta pgext_regress_beta 2.1 "beta image"
# The same extension in two images: alpha's copy wins.
ext alpha pgext_regress_twice 1.0 "the copy in alpha"
ext beta pgext_regress_twice 9.9 "the copy in beta, shadowed"

# A library basename in both $libdir and an image: $libdir comes first and wins.
mkdir -p "$FX/extensions/shadowlib/lib"
cp "$PKGLIBDIR/pg_stat_statements.so" "$FX/extensions/shadowlib/lib/"

# A hostile image: every kind of broken item. It is put on the path only inside a transaction
# by the hostile suite, since a malformed visible control file breaks pg_available_extensions.
H=$FX/extensions/hostile
mkdir -p "$H/share/extension" "$H/lib" "$H/system"
cd "$H/share/extension"
printf "default_version = '1.0\n" >bad_syntax.control
printf "default_version = '1'\nfrobnicate = true\n" >unknown_param.control
mkdir dir.control
ln -s nowhere.control dangling.control
ln -s loop.control loop.control
printf "default_version = '1'\n" >"$(printf 'caf\xe9')".control
printf "default_version = '1'\n" >unreadable.control
printf "comment = 'no default version'\n" >nover.control
printf "default_version = '9'\n" >noscript.control
printf -- "-- v1\n" >noscript--1.sql
printf "default_version = '1'\nmodule_pathname = '\$libdir/hostile_missing'\n" >missinglib.control
printf "CREATE FUNCTION missinglib_f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;\n" >missinglib--1.sql
printf "default_version = '1'\nrequires = 'no_such_extension'\n" >needs.control
printf -- "-- v1\n" >needs--1.sql
printf "default_version = '1'\n" >badnames.control
printf -- "-- v1\n" >badnames--1.sql
printf -- "-- skipped\n" >badnames--1--2--3.sql
printf -- "-- bad version\n" >badnames---1.sql
# Files that would block or flood a reader: a FIFO as a control file and as its script (opening
# one for reading waits for a writer, beyond cancel and pg_terminate_backend), a FIFO install
# script behind a good control file, devices and /proc where control files and scripts belong,
# and a two-link symlink cycle.
mkfifo x.control x--1.sql fifoscript--1.sql
printf "default_version = '1'\n" >fifoscript.control
ln -s /dev/zero zero.control
ln -s /proc/self/environ environ.control
printf "default_version = '1'\n" >urandom.control
ln -s /dev/urandom urandom--1.sql
ln -s cycle-b.control cycle-a.control
ln -s cycle-a.control cycle-b.control
cd "$H/lib"
mkdir dir.so
ln -s gone.so dangling.so
ln -s loop.so loop.so
printf 'not really a library' >unreadable.so
mkfifo pipe fifo.so
ln -s /dev/zero zero.so
ln -s /proc/self/environ environ.so
printf 'os library' >"$H/system/libhostile.so.1"
cd - >/dev/null

# Everything world-readable (the server runs as its own user), except what must not be.
chmod -R a+rX "$FX/extensions"
if [ "$(id -u)" = 0 ]; then
    chmod 0600 "$H/share/extension/unreadable.control" "$H/lib/unreadable.so"
else
    chmod 000 "$H/share/extension/unreadable.control" "$H/lib/unreadable.so"
fi

# Images too big or too deep to read whole, under their own root (pgext.extensions_root is
# pointed at it only inside the hostile suite, so no other suite scans them). Sparse files and
# empty files keep this fast: a 50 MB control file, a 1 GB script, 100 000 files in one
# directory, 100 nested directories, a directory symlink cycle.
HR=$FX/hostile-root
rm -rf "$HR/huge" "$HR/deep"
mkdir -p "$HR/huge/share/extension" "$HR/deep/share/extension"
printf "default_version = '1'\n" >"$HR/huge/share/extension/huge.control"
truncate -s 50M "$HR/huge/share/extension/huge.control"
printf -- "-- v1\n" >"$HR/huge/share/extension/huge--1.sql"
printf "default_version = '1'\n" >"$HR/huge/share/extension/bigscript.control"
truncate -s 1G "$HR/huge/share/extension/bigscript--1.sql"
# Creating 100 000 files takes seconds: kept from an earlier run when complete.
if [ ! -f "$FX/hostile-root.crowd-done" ]; then
    rm -rf "$HR/crowd"
    mkdir -p "$HR/crowd/share/extension"
    printf "default_version = '1'\n" >"$HR/crowd/share/extension/crowd.control"
    (cd "$HR/crowd/share/extension" && seq -f 'crowd--%g.sql' 1 100000 | xargs touch)
    touch "$FX/hostile-root.crowd-done"
fi
printf "default_version = '1'\n" >"$HR/deep/share/extension/deep.control"
printf -- "-- v1\n" >"$HR/deep/share/extension/deep--1.sql"
mkdir -p "$HR/deep/$(printf 'd/%.0s' $(seq 100))"
ln -s . "$HR/deep/share/extension/again"
chmod -R a+rX "$HR"

# A dangling first copy of alpha's extension, to put before alpha on the path: PostgreSQL's
# listing reads it and fails, CREATE EXTENSION skips it and uses alpha's.
rm -rf "$FX/proof"
mkdir -p "$FX/proof/dangling/share/extension"
ln -s nowhere.control "$FX/proof/dangling/share/extension/pgext_regress_alpha.control"
chmod -R a+rX "$FX/proof"

# Extensions whose scripts read a server file with COPY (the datafiles suite; off every path
# until it puts one there). baked reads the server's own share directory, as Debian's
# postgresql-unit does (its data file is only in the image); mounted reads its file where its
# image is; relative reads a path relative to the data directory, where nothing is; called reads
# the baked path in a PL/pgSQL function its script then calls, as unit 7's unit_load() does.
rm -rf "$FX/datafiles"
datafile_ext() { # datafile_ext IMAGE PATH_READ [function]
    local d="$FX/datafiles/$1/share/extension" name=pgext_datafile_$1
    mkdir -p "$d"
    printf "comment = 'reads a server file'\ndefault_version = '2'\nrelocatable = true\n" >"$d/$name.control"
    printf -- "-- %s 1\nCREATE TABLE %s_units (name text, factor float8);\n" "$name" "$name" >"$d/$name--1.sql"
    if [ "${3:-}" = function ]; then
        printf -- "-- %s 1 to 2: the data, as unit--7.sql loads it\n\nCREATE FUNCTION %s_load() RETURNS void LANGUAGE plpgsql AS \$\$BEGIN\nCOPY %s_units FROM '%s';\nEND;\$\$;\n\nSELECT %s_load();\n" \
            "$name" "$name" "$name" "$2" "$name" >"$d/$name--1--2.sql"
    else
        printf -- "-- %s 1 to 2: the data, as unit--2--3.sql loads it\n\nCOPY %s_units FROM '%s';\n" \
            "$name" "$name" "$2" >"$d/$name--1--2.sql"
    fi
    printf 'kilo\t1000\nmega\t1000000\n' >"$d/$name.data"
}
datafile_ext baked "$("$PG_CONFIG" --sharedir)/extension/pgext_datafile_baked.data"
datafile_ext mounted "$FX/datafiles/mounted/share/extension/pgext_datafile_mounted.data"
datafile_ext relative "pgext_datafile_relative.data"
datafile_ext called "$("$PG_CONFIG" --sharedir)/extension/pgext_datafile_called.data" function
chmod -R a+rX "$FX/datafiles"

# Bad path elements for extension_paths: a file where the extension directory should be, and a
# directory the server cannot read (root-owned 0700 when run as root; mode 000 otherwise).
rm -rf "$FX/bad"
mkdir -p "$FX/bad/file/share" "$FX/bad/locked/share/extension"
: >"$FX/bad/file/share/extension"
if [ "$(id -u)" = 0 ]; then chmod 0700 "$FX/bad/locked/share/extension"; else chmod 000 "$FX/bad/locked/share/extension"; fi
chmod a+rx "$FX" "$FX/bad" "$FX/bad/file" "$FX/bad/file/share" "$FX/bad/locked" "$FX/bad/locked/share"

cp "$REPO/scripts/tree-digest.sh" "$FX/tree-digest.sh"
chmod a+rx "$FX/tree-digest.sh"

E=$FX/extensions
cat >"$FX/regress.conf" <<CONF
extension_control_path = '\$system:$E/alpha/share:$E/beta/share:$E/vector/share:$E/pgext_fixture/share:$E/vector_pg17/share:$E/needs_system/share:$E/libdir_load/share:$E/ghost/share'
dynamic_library_path = '\$libdir:$E/alpha/lib:$E/beta/lib:$E/vector/lib:$E/pgext_fixture/lib:$E/vector_pg17/lib:$E/needs_system/lib:$E/libdir_load/lib:$E/shadowlib/lib:$E/ghost/lib'
pgext.extensions_root = '$E'
CONF
