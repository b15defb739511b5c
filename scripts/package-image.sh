#!/usr/bin/env bash
# Packages pgext as a CloudNativePG extension image: an OCI layout with one layer laid out as
# CNPG mounts it (lib/pgext.so, share/extension/pgext.control and scripts, licenses/), labelled
# the way the postgres-extensions-containers catalog labels images.
#
#   scripts/package-image.sh [--platform P[,P...]] [OUT_LAYOUT] [TAG]
#       (default: this machine's platform, target/pgext-image, <version>-18-bookworm)
#   then e.g.: skopeo copy --all oci:target/pgext-image:TAG docker://registry.example.com/pgext:TAG
#
# Platforms: linux/amd64 (built here, as `cargo pgrx package`) and linux/arm64 (cross-compiled by
# scripts/build-arm64.sh). With one platform, TAG is that platform's image (the default: this
# machine's, exactly as before). With several, each image is tagged TAG-<arch> and TAG is a
# multi-arch image index listing them with their platforms, which a node's runtime resolves to
# its own architecture.
#
# Environment: PROFILE (release, the default; debug for tests), and build-arm64.sh's.
source "$(dirname "$0")/lib.sh"
bash "$REPO/scripts/setup.sh" >/dev/null
load_setup
cd "$REPO"

host_arch=$(dpkg --print-architecture)
platforms=linux/$host_arch
if [ "${1:-}" = --platform ]; then platforms=${2:?--platform needs a list, e.g. linux/amd64,linux/arm64}; shift 2; fi
IFS=, read -ra platforms <<<"$platforms"
for p in "${platforms[@]}"; do
    case $p in
        linux/"$host_arch" | linux/arm64) ;;
        *) die "unsupported platform $p (linux/$host_arch, linux/arm64)" ;;
    esac
done

PROFILE=${PROFILE:-release}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
major=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
# The OS label names this machine's distribution: the amd64 library links against its glibc, and
# the arm64 one against Debian bookworm's cross glibc (2.36), so both run on bookworm and newer.
distro=$(. /etc/os-release && echo "${VERSION_CODENAME:-linux}")
OUT=${1:-$REPO/target/pgext-image}
TAG=${2:-$version-$major-$distro}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgext-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# image PLATFORM TAG: builds pgext for PLATFORM and writes its image as OUT:TAG.
image() {
    local platform=$1 tag=$2 arch=${1#linux/} pkg pkglibdir sharedir root=$work/root-${1#linux/}
    if [ "$arch" = "$host_arch" ]; then
        say "building pgext $version ($PROFILE) for PostgreSQL $major, $platform"
        pkg=$work/pkg-$arch
        local args=(--pg-config "$PG_CONFIG" --out-dir "$pkg")
        [ "$PROFILE" = release ] || args+=(--debug)
        cargo pgrx package "${args[@]}" >/dev/null
        pkglibdir=$("$PG_CONFIG" --pkglibdir)
        sharedir=$("$PG_CONFIG" --sharedir)
    else
        say "building pgext $version ($PROFILE) for PostgreSQL $major, $platform (cross-compiled)"
        pkg=$work/pkg-$arch
        PROFILE=$PROFILE bash "$REPO/scripts/build-arm64.sh" "$pkg"
        pkglibdir=/usr/lib/postgresql/$major/lib
        sharedir=/usr/share/postgresql/$major
    fi
    pgext_image_tree "$pkg$pkglibdir" "$pkg$sharedir" "$root"

    say "writing the OCI image $OUT:$tag ($platform)"
    [ -d "$OUT" ] || umoci init --layout "$OUT"
    umoci new --image "$OUT:$tag"
    # The layer is written by GNU tar and added verbatim: `umoci insert` (0.4.7, Debian bookworm)
    # leaves out the last entry's padding and the end-of-archive blocks (umoci#436, fixed in later
    # releases), a layer GNU tar and Python's tarfile refuse.
    tar --create --file "$work/layer-$arch.tar" --directory "$root" --format=gnu --sort=name \
        --owner=0 --group=0 --numeric-owner .
    umoci raw add-layer --image "$OUT:$tag" --history.created_by "scripts/package-image.sh" "$work/layer-$arch.tar" >/dev/null
    umoci config --image "$OUT:$tag" --os linux --architecture "$arch" \
        --config.label "io.cloudnativepg.image.base.name=postgresql" \
        --config.label "io.cloudnativepg.image.base.pgmajor=$major" \
        --config.label "io.cloudnativepg.image.base.os=$distro" \
        --config.label "io.cloudnativepg.image.sql.version=$version" \
        --config.label "org.opencontainers.image.title=pgext" \
        --config.label "org.opencontainers.image.version=$version" >/dev/null
}

if [ ${#platforms[@]} = 1 ]; then
    image "${platforms[0]}" "$TAG"
else
    tags=()
    for p in "${platforms[@]}"; do
        image "$p" "$TAG-${p#linux/}"
        tags+=("$TAG-${p#linux/}=$p")
    done
    say "writing the multi-arch index $OUT:$TAG (${platforms[*]})"
    python3 "$REPO/scripts/oci_index.py" "$OUT" "$TAG" "${tags[@]}"
fi
digest=$(python3 -c 'import json,sys; m=[x for x in json.load(open(sys.argv[1]))["manifests"] if x.get("annotations",{}).get("org.opencontainers.image.ref.name")==sys.argv[2]]; print(m[-1]["digest"])' "$OUT/index.json" "$TAG")
say "done: oci:$OUT:$TAG ($digest)"
all=""
[ ${#platforms[@]} = 1 ] || all="--all "
echo "Push it with: skopeo copy ${all}oci:$OUT:$TAG docker://<registry>/pgext:$TAG"
echo "Pin it by digest once pushed, e.g. pgext.images = 'pgext=<registry>/pgext:$TAG@$digest'"
