#!/usr/bin/env bash
# Sets up everything, starts a throwaway PostgreSQL 18 cluster with pgext and extension images
# laid out the CloudNativePG way — real builds (pgvector from Debian's source, the project's own
# module), broken ones (a PG 17 build, a module with a missing library), one image that is not
# mounted — pins one image to an OCI layout, prints pgext's views, and leaves the cluster running.
# `scripts/demo.sh stop` stops it.
source "$(dirname "$0")/lib.sh"
DEMO=${PGEXT_DEMO_DIR:-/tmp/pgext-demo}
PORT=${PGEXT_DEMO_PORT:-55433}

stop_demo() {
    cluster_stop "$DEMO/data"
    ro_unmount_images "$DEMO/fx"
}

if [ "${1:-}" = stop ]; then
    load_setup
    stop_demo
    say "demo cluster stopped"
    exit 0
fi

bash "$REPO/scripts/setup.sh"
load_setup
install_pgext

[ -d "$DEMO" ] && stop_demo && rm -rf "$DEMO"
mkdir -p "$DEMO" && chmod 0755 "$DEMO"
say "laying out extension images under $DEMO/fx/extensions (real builds; first run downloads and compiles)"
bash "$REPO/tests/pg_regress/make-tree.sh" "$DEMO/fx"
FX=$DEMO/fx
E=$FX/extensions
# Two broken images from the fixture builder join the path: a PG 17 build and a module whose
# shared library needs a library that exists nowhere.
for img in magic_pg17 needs_missing_lib; do cp -a "$FX/real/extensions/$img" "$E/$img"; done

say "building an OCI layout of the vector image with umoci, to pin it"
mkdir -p "$DEMO/oci"
umoci init --layout "$DEMO/oci/vector" >/dev/null
umoci new --image "$DEMO/oci/vector:0.8.0" >/dev/null
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
umoci insert "${rootless[@]}" --image "$DEMO/oci/vector:0.8.0" "$E/vector" / >/dev/null
chmod -R a+rX "$DEMO/oci"

{
    cat "$FX/regress.conf"
    echo "extension_control_path = '\$system:$E/vector/share:$E/pgext_fixture/share:$E/vector_pg17/share:$E/needs_system/share:$E/magic_pg17/share:$E/needs_missing_lib/share:$E/ghost/share'"
    echo "dynamic_library_path = '\$libdir:$E/vector/lib:$E/pgext_fixture/lib:$E/vector_pg17/lib:$E/needs_system/lib:$E/magic_pg17/lib:$E/needs_missing_lib/lib:$E/ghost/lib'"
    echo "pgext.images = 'vector=oci:$DEMO/oci/vector:0.8.0'"
    echo "pgext.layout_directories = '$DEMO/oci'"
} >"$DEMO/demo.conf"

RO=$(ro_mount_images "$FX")
say "images bind-mounted read-only like image volumes: $RO"
say "starting PostgreSQL 18 (data: $DEMO/data)"
PGEXT_SERVER_LD_LIBRARY_PATH=$E/needs_system/system cluster_start "$DEMO/data" "$PORT" "$DEMO/demo.conf"
cluster_psql "$DEMO/data" "$PORT" -q -c "CREATE EXTENSION pgext"

show() {
    printf '\n-- %s\n' "$1"
    cluster_psql "$DEMO/data" "$PORT" -P pager=off -c "$1"
}
show "SELECT kind, position, element, directory, exists, read_only, problem FROM pgext.extension_paths ORDER BY kind, position"
show "SELECT name, mounted, read_only, on_control_path, on_ld_library_path, not_on_path, file_count, left(tree_digest, 23) AS tree_digest, problems FROM pgext.mounted_images WHERE name NOT IN ('alpha', 'beta', 'hostile', 'shadowlib', 'libdir_load') ORDER BY name"
show "SELECT name, image, default_version, installable_versions, visible, compatible, problems FROM pgext.mounted_extensions WHERE NOT is_system ORDER BY position, name"
show "SELECT regexp_replace(path, '^.*/', '') AS file, image, loadable, magic_version, module_name, glibc_needed, missing_libraries, problems FROM pgext.library_compat WHERE image IS NOT NULL ORDER BY image"
show "SELECT d->>'code' AS code, d->>'message' AS message FROM pgext.mounted_extensions, jsonb_array_elements(problem_details) d WHERE name IN ('magic_pg17', 'needs_missing_lib') AND visible"
show "SELECT name, status, missing, modified, unexpected, changed, expected_tree_digest = actual_tree_digest AS same_tree FROM pgext.verify_image('vector')"
show "SELECT name, reference, status, verified_at IS NOT NULL AS verified FROM pgext.mounted_images WHERE reference IS NOT NULL"
show "SELECT name, default_version, comment FROM pg_available_extensions WHERE name IN ('vector', 'pgext_fixture', 'magic_pg17') ORDER BY name"

cat <<MSG

The demo cluster is running. Connect with:
    psql -h $DEMO/data -p $PORT -U postgres
and try, for example:
    SELECT jsonb_pretty(pgext.check_extension('magic_pg17'));
    CREATE EXTENSION magic_pg17;   -- fails exactly as pgext predicted
Stop it with:
    scripts/demo.sh stop
MSG
