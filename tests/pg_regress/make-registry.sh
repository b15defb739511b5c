#!/usr/bin/env bash
# Prepares real OCI sources for the verify suite, after make-tree.sh laid out FX/extensions:
#   - two Debian docker-registry instances on 127.0.0.1 (one demanding basic auth);
#   - images built with umoci from the fixture images and pushed with skopeo;
#   - a tag moved to another image, a blob corrupted in the registry's storage;
#   - an oci: layout and an oci-archive: tarball (air-gapped pins, set in pgext.images);
#   - docker config.json files (right and wrong password), a TCP listener that never answers;
#   - writable copies of images under FX/scratch, for drift.
# Appends pgext.images to FX/regress.conf and writes FX/registry.env (variables for the suite).
# Stop everything with: make-registry.sh FX stop
set -Eeuo pipefail
FX=${1:?usage: make-registry.sh FIXTURE_DIR [stop]}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
owner=${PGEXT_USER:-postgres}

if [ "${2:-}" = stop ]; then
    for r in "$FX/registry" "$FX/registry-auth"; do [ -d "$r" ] && bash "$REPO/tests/registry/stop.sh" "$r" >/dev/null 2>&1 || true; done
    [ -f "$FX/silent.pid" ] && kill "$(cat "$FX/silent.pid")" 2>/dev/null || true
    rm -f "$FX/silent.pid"
    exit 0
fi

port=$(bash "$REPO/tests/registry/start.sh" "$FX/registry")
aport=$(bash "$REPO/tests/registry/start.sh" "$FX/registry-auth" --auth "pgext:s3cret-pass")
host=127.0.0.1:$port
ahost=127.0.0.1:$aport

L=$FX/oci
rm -rf "$L"
mkdir -p "$L"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)

# layout IMAGE TAG: an OCI layout whose one layer is the image directory's content, as
# CloudNativePG's FROM-scratch images are.
layout() {
    local d=$L/$1
    umoci init --layout "$d"
    umoci new --image "$d:$2"
    umoci insert "${rootless[@]}" --image "$d:$2" "$FX/extensions/$1" / >/dev/null
}
push() { # push LAYOUT TAG DEST [creds]
    local creds=()
    [ -n "${4:-}" ] && creds=(--dest-creds "$4")
    skopeo copy -q --dest-tls-verify=false "${creds[@]}" "oci:$L/$1:$2" "docker://$3"
}
digest() { # digest REF [creds]
    local creds=()
    [ -n "${2:-}" ] && creds=(--creds "$2")
    skopeo inspect --tls-verify=false "${creds[@]}" --format '{{.Digest}}' "docker://$1"
}

for img in vector alpha beta pgext_fixture needs_system; do
    layout "$img" v1
done
push vector v1 "$host/vector:0.8.0"
push alpha v1 "$host/alpha:v1"
alpha_digest=$(digest "$host/alpha:v1")
push beta v1 "$host/alpha:v1" # the tag moves on to beta's content
push beta v1 "$host/beta:v1"
push beta v1 "$ahost/beta:v1" "pgext:s3cret-pass"

# A corrupted layer blob: pgext_fixture's, pushed only to this repository.
push pgext_fixture v1 "$host/corrupt:v1"
layer=$(skopeo inspect --tls-verify=false --format '{{index .Layers 0}}' "docker://$host/corrupt:v1")
hex=${layer#sha256:}
blob=$FX/registry/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none

# Air-gapped sources.
tar -C "$L/needs_system" -cf "$L/needs_system.tar" .

# Registry credentials as a dockerconfigjson secret mounts them.
mkdir -p "$FX/auth"
good=$(printf 'pgext:s3cret-pass' | base64)
bad=$(printf 'pgext:wrong-pass' | base64)
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$ahost" "$good" >"$FX/auth/good.json"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$ahost" "$bad" >"$FX/auth/bad.json"

# A listener that accepts connections and never answers.
python3 - "$FX/silent.port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
deadline = time.time() + 1800  # stops by itself
s.settimeout(1)
while time.time() < deadline:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
echo $! >"$FX/silent.pid"
for _ in $(seq 50); do [ -s "$FX/silent.port" ] && break; sleep 0.1; done
silent=127.0.0.1:$(cat "$FX/silent.port")

# Writable copies for drift: the mounted images are read-only.
rm -rf "$FX/scratch"
mkdir -p "$FX/scratch"
cp -a "$FX/extensions/beta" "$FX/scratch/beta"

chmod -R a+rX "$L" "$FX/auth"
[ "$(id -u)" = 0 ] && chown -R "$owner" "$FX/scratch"

cat >>"$FX/regress.conf" <<CONF
pgext.images = 'pgext_fixture=oci:$L/pgext_fixture:v1, needs_system=oci-archive:$L/needs_system.tar:v1'
pgext.layout_directories = '$L'
pgext.insecure_registries = '$host,$ahost,$silent'
CONF
cat >"$FX/registry.env" <<ENV
PGEXT_REGISTRY=$host
PGEXT_REGISTRY_AUTH=$ahost
PGEXT_SILENT=$silent
PGEXT_ALPHA_DIGEST=$alpha_digest
ENV
