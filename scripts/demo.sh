#!/usr/bin/env bash
# Sets up everything, starts a throwaway PostgreSQL 18 cluster with pgext and extension images
# laid out the CloudNativePG way (one of them missing), prints pgext's views, and leaves the
# cluster running so you can explore. `scripts/demo.sh stop` stops it.
source "$(dirname "$0")/lib.sh"
DEMO=${PGEXT_DEMO_DIR:-/tmp/pgext-demo}
PORT=${PGEXT_DEMO_PORT:-55433}

if [ "${1:-}" = stop ]; then
    load_setup
    cluster_stop "$DEMO/data"
    say "demo cluster stopped"
    exit 0
fi

bash "$REPO/scripts/setup.sh"
load_setup
install_pgext

[ -d "$DEMO/data" ] && cluster_stop "$DEMO/data" && rm -rf "$DEMO"
mkdir -p "$DEMO" && chmod 0755 "$DEMO"
say "laying out extension images under $DEMO/fx/extensions"
bash "$REPO/tests/pg_regress/make-tree.sh" "$DEMO/fx"

say "starting PostgreSQL 18 (data: $DEMO/data)"
cluster_start "$DEMO/data" "$PORT" "$DEMO/fx/regress.conf"
cluster_psql "$DEMO/data" "$PORT" -q -c "CREATE EXTENSION pgext"

show() {
    printf '\n-- %s\n' "$1"
    cluster_psql "$DEMO/data" "$PORT" -P pager=off -c "$1"
}
show "SHOW extension_control_path"
show "SHOW dynamic_library_path"
show "SELECT kind, position, element, directory, exists, read_only, problem FROM pgext.extension_paths ORDER BY kind, position"
show "SELECT name, default_version, comment FROM pg_available_extensions WHERE name LIKE 'pgext%' ORDER BY name"

cat <<MSG

The demo cluster is running. Connect with:
    psql -h $DEMO/data -p $PORT -U postgres
Stop it with:
    scripts/demo.sh stop
MSG
