#!/usr/bin/env bash
# Packages pgext as a CloudNativePG extension image: an OCI layout with one layer laid out as
# CNPG mounts it (lib/pgext.so, share/extension/pgext.control and scripts, licenses/), labelled
# the way the postgres-extensions-containers catalog labels images.
#
#   scripts/package-image.sh [OUT_LAYOUT] [TAG]            (default: target/pgext-image, <version>-18-bookworm)
#   then e.g.: skopeo copy oci:target/pgext-image:TAG docker://registry.example.com/pgext:TAG
source "$(dirname "$0")/lib.sh"
bash "$REPO/scripts/setup.sh" >/dev/null
load_setup
cd "$REPO"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
major=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
distro=$(. /etc/os-release && echo "${VERSION_CODENAME:-linux}")
OUT=${1:-$REPO/target/pgext-image}
TAG=${2:-$version-$major-$distro}

say "building pgext $version (release) for PostgreSQL $major"
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
pkg=$REPO/target/release/pgext-pg$major
root=$(mktemp -d "${TMPDIR:-/tmp}/pgext-image.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/lib" "$root/share/extension" "$root/licenses/pgext"
cp "$pkg$("$PG_CONFIG" --pkglibdir)/pgext.so" "$root/lib/"
cp "$pkg$("$PG_CONFIG" --sharedir)"/extension/pgext* "$root/share/extension/"
cp "$REPO/README.md" "$root/licenses/pgext/README.md"
chmod -R u=rwX,go=rX "$root"
chmod 0755 "$root/lib/pgext.so"

say "writing the OCI layout $OUT:$TAG"
[ -d "$OUT" ] || umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
umoci insert "${rootless[@]}" --image "$OUT:$TAG" "$root" / >/dev/null
umoci config --image "$OUT:$TAG" \
    --config.label "io.cloudnativepg.image.base.name=postgresql" \
    --config.label "io.cloudnativepg.image.base.pgmajor=$major" \
    --config.label "io.cloudnativepg.image.base.os=$distro" \
    --config.label "io.cloudnativepg.image.sql.version=$version" \
    --config.label "org.opencontainers.image.title=pgext" \
    --config.label "org.opencontainers.image.version=$version" >/dev/null
digest=$(python3 -c 'import json,sys; m=[x for x in json.load(open(sys.argv[1]))["manifests"] if x.get("annotations",{}).get("org.opencontainers.image.ref.name")==sys.argv[2]]; print(m[-1]["digest"])' "$OUT/index.json" "$TAG")
say "done: oci:$OUT:$TAG ($digest)"
echo "Pin it by digest once pushed, e.g. pgext.images = 'pgext=<registry>/pgext:$TAG@$digest'"
