#!/usr/bin/env bash
# Sets up everything, starts a throwaway PostgreSQL 18 cluster with pgext preloaded and extension
# images laid out the CloudNativePG way — real builds (pgvector from Debian's source, the
# project's own module), broken ones (a PG 17 build, a module with a missing library), one image
# that is not mounted — then shows what pgext sees: paths, images, extensions and their verdicts,
# a verification against a real loopback registry, a drift it catches (an image whose file was
# changed after it was built), enforcement refusing to install from the drifted image, and the
# background worker's health. It leaves the cluster and the
# registry running; `scripts/demo.sh stop` stops both.
source "$(dirname "$0")/lib.sh"
DEMO=${PGEXT_DEMO_DIR:-/tmp/pgext-demo}
PORT=${PGEXT_DEMO_PORT:-55433}

stop_demo() {
    cluster_stop "$DEMO/data"
    [ -d "$DEMO/registry" ] && bash "$REPO/tests/registry/stop.sh" "$DEMO/registry" >/dev/null 2>&1 || true
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

say "building OCI images of two images with umoci and pushing them to a loopback registry"
mkdir -p "$DEMO/oci"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
oci_image() { # oci_image IMAGE TAG: a one-layer OCI layout of the image directory, as CNPG builds them
    umoci init --layout "$DEMO/oci/$1" >/dev/null
    umoci new --image "$DEMO/oci/$1:$2" >/dev/null
    umoci insert "${rootless[@]}" --image "$DEMO/oci/$1:$2" "$E/$1" / >/dev/null
}
oci_image vector 0.8.0
oci_image pgext_fixture 1.0
chmod -R a+rX "$DEMO/oci"
rport=$(bash "$REPO/tests/registry/start.sh" "$DEMO/registry")
reg=127.0.0.1:$rport
for img in vector:0.8.0 pgext_fixture:1.0; do
    skopeo copy -q --dest-tls-verify=false "oci:$DEMO/oci/$img" "docker://$reg/$img"
done
vector_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/vector:0.8.0")
fixture_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/pgext_fixture:1.0")
# The drift: after pgext_fixture's image was built and pushed, one of its scripts is changed on
# the mounted copy (as a hand-patched volume or a wrong image would be).
echo "-- changed after the image was built" >>"$(ls "$E"/pgext_fixture/share/extension/*.sql | head -n1)"

{
    cat "$FX/regress.conf"
    echo "extension_control_path = '\$system:$E/vector/share:$E/pgext_fixture/share:$E/vector_pg17/share:$E/needs_system/share:$E/magic_pg17/share:$E/needs_missing_lib/share:$E/ghost/share'"
    echo "dynamic_library_path = '\$libdir:$E/vector/lib:$E/pgext_fixture/lib:$E/vector_pg17/lib:$E/needs_system/lib:$E/magic_pg17/lib:$E/needs_missing_lib/lib:$E/ghost/lib'"
    echo "shared_preload_libraries = 'pgext'"
    echo "pgext.insecure_registries = '$reg'"
    echo "pgext.images = 'vector=$reg/vector:0.8.0@$vector_digest, pgext_fixture=$reg/pgext_fixture:1.0@$fixture_digest'"
    echo "pgext.layout_directories = '$DEMO/oci'"
    echo "pgext.check_interval = '1min'"
    # Governance: code from an image that is not pinned, verified and compatible is refused.
    echo "pgext.enforce = 'on'"
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
show "SELECT name, status, resolved_digest, missing, modified, unexpected, changed FROM pgext.verify_images() ORDER BY name"
show "SELECT * FROM pgext.image_diff('pgext_fixture')"
show "SELECT name, reference, status, verified_at IS NOT NULL AS verified FROM pgext.mounted_images WHERE reference IS NOT NULL ORDER BY name"
show "SELECT name, default_version, comment FROM pg_available_extensions WHERE name IN ('vector', 'pgext_fixture', 'magic_pg17') ORDER BY name"
# pgext.enforce = on: the verified vector image may be installed, the drifted pgext_fixture
# image may not (SQLSTATE 42501, with the evidence and the fix).
printf '\n-- CREATE EXTENSION vector; CREATE EXTENSION pgext_fixture;   (pgext.enforce = on)\n'
cluster_psql "$DEMO/data" "$PORT" -v ON_ERROR_STOP=0 -v VERBOSITY=default -c "CREATE EXTENSION vector" \
    -c "CREATE EXTENSION pgext_fixture" 2>&1 || true
show "SELECT action, object, image, outcome, failed FROM pgext.enforcement_log ORDER BY seq"
cluster_psql "$DEMO/data" "$PORT" -qAt -c "SELECT pgext.check_now(true)" >/dev/null
show "SELECT image, status, modified, incompatible_extensions FROM pgext.image_status WHERE image NOT IN ('alpha', 'beta', 'hostile', 'shadowlib', 'libdir_load') ORDER BY image"
show "SELECT status, worker_up, left(reason, 110) AS reason FROM pgext.health, unnest(reasons) AS reason"

cat <<MSG

The demo cluster is running. Connect with:
    psql -h $DEMO/data -p $PORT -U postgres
and try, for example:
    SELECT jsonb_pretty(pgext.check_extension('magic_pg17'));
    CREATE EXTENSION magic_pg17;   -- refused by pgext.enforce: not pinned, not verified, not compatible
    SET pgext.enforce = off; CREATE EXTENSION magic_pg17;   -- fails exactly as pgext predicted
Stop it with:
    scripts/demo.sh stop
MSG
