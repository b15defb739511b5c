#!/usr/bin/env bash
# pgext-check on real servers it does not run in, against what those servers really do.
#
#   tests/preflight/run.sh [WORKDIR]      (default: $TMPDIR/pgext-preflight)
#
# - Another major: Debian bookworm's PostgreSQL 15 (its .deb unpacked, nothing installed) and
#   bookworm's postgresql-15-ip4r as an image. pgext-check's verdict for that image, and for the
#   PostgreSQL 18 ip4r image of the oracle corpus, against the PostgreSQL 15 tree and against
#   this PostgreSQL 18 — then each extension really installed into that PostgreSQL 15 and created.
# - Server images (sysroot mode): this PostgreSQL 18 in a root file system with bookworm's
#   libraries, and the same image with a newer glibc (trixie's libc6): an extension built on
#   unstable is incompatible with the first (GLIBC_2.38 missing) and not with the second.
# - By reference: the same server images as OCI images (two layers: the second brings trixie's
#   glibc) in a layout and in a loopback registry, the corpus's hll as an image; pgext-check and
#   pgext.preflight() fetch and unpack them and give the directories' verdicts; errors, interrupt
#   and statement_timeout, and nothing left behind.
# - The command's contract: --json is an array of objects with name, image and compatible; exit 1
#   when something is incompatible, 0 when not, 2 for an unusable server directory.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$REPO/scripts/debian.sh"
load_setup

W=${1:-${TMPDIR:-/tmp}/pgext-preflight}
PORT=${PGEXT_PREFLIGHT_PORT:-55460}
CACHE=$(pgext_cache_root)/preflight
ARCH=$(dpkg --print-architecture)
mkdir -p "$W" "$CACHE"
W=$(cd "$W" && pwd)
chmod 0755 "$W"
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "  ok: $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "  FAIL: $*"; }

# expect WHAT WANT GOT
expect() { if [ "$2" = "$3" ]; then ok "$1: ${3//$'\n'/ | }"; else bad "$1: want ${2//$'\n'/ | }, got ${3//$'\n'/ | }"; fi; }

# download SUITE PKG...: the packages' .debs, as SUITE has them, in $CACHE/debs-SUITE (downloaded
# once, through the private apt configuration of scripts/debian.sh: the machine's pins, installed
# versions and foreign architectures play no part).
download() {
    local suite=$1 dir=$CACHE/debs-$1 p missing=()
    shift
    mkdir -p "$dir"
    for p in "$@"; do compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p/$suite"); done
    [ ${#missing[@]} = 0 ] && return 0
    apt_private_init "$CACHE/apt-$suite" "$suite" "$ARCH"
    apt_private_update || die "apt-get update of $suite failed (log: $CACHE/apt-$suite/update.log)"
    apt_fetch "$dir" "${missing[@]}" || die "could not download ${missing[*]} (above)"
    apt_private_drop_lists
}

# check ARGS...: runs pgext-check --json, leaving the array in $OUTJSON and the status in $RC.
check() {
    set +e
    "$CHECK" --json "$@" >"$W/out.json" 2>"$W/out.err"
    RC=$?
    set -e
    OUTJSON=$W/out.json
}
# field NAME KEY: a field of extension NAME in the last check's array.
field() {
    python3 -c 'import json,sys
rows=[r for r in json.load(open(sys.argv[1])) if r["name"]==sys.argv[2]]
v=rows[0][sys.argv[3]] if rows else "no-row"
print(",".join(v) if isinstance(v,list) else json.dumps(v))' "$OUTJSON" "$1" "$2"
}

say "pgext-check"
# The release build scripts/test.sh names (setup.sh builds it), else a debug build of this tree.
CHECK=${PGEXT_CHECK:-}
if [ -z "$CHECK" ]; then
    (cd "$REPO" && cargo build --quiet -p pgext-check)
    CHECK=${CARGO_TARGET_DIR:-$REPO/target}/debug/pgext-check
fi
PG18=$(dirname "$PG_BINDIR")
PSQL=$PG_BINDIR/psql # bookworm's psql is another package; PostgreSQL 18's talks to 15

say "PostgreSQL 15 from bookworm, unpacked (nothing installed)"
download bookworm postgresql-15 postgresql-15-ip4r
rm -rf "$W/pg15" "$W/ip4r-15"
dpkg -x "$CACHE"/debs-bookworm/postgresql-15_*.deb "$W/pg15"
PG15=$W/pg15/usr/lib/postgresql/15
# The bookworm ip4r package as an image: share/extension and lib, as an image builder lays it out.
dpkg -x "$CACHE"/debs-bookworm/postgresql-15-ip4r_*.deb "$W/ip4r-deb"
mkdir -p "$W/ip4r-15/share" "$W/ip4r-15/lib"
cp -a "$W/ip4r-deb/usr/share/postgresql/15/extension" "$W/ip4r-15/share/"
cp -a "$W/ip4r-deb/usr/lib/postgresql/15/lib/." "$W/ip4r-15/lib/"
rm -rf "$W/ip4r-deb"

say "the PostgreSQL 18 ip4r image of the oracle corpus"
CORPUS=$W/corpus # its own copy: the oracle suite may be re-assembling its own beside this one
bash "$REPO/tests/oracle/build-corpus.sh" "$CORPUS" >"$W/corpus.log" 2>&1 || { tail -20 "$W/corpus.log"; die "corpus"; }
IP4R18=$CORPUS/extensions/ip4r
HLL18=$CORPUS/extensions/hll
[ -d "$IP4R18/lib" ] && [ -d "$HLL18/lib" ] || die "the corpus has no ip4r or hll image"

say "verdicts against PostgreSQL 15 and 18"
check --server "$PG15" --image "ip4r=$W/ip4r-15"
expect "15's ip4r on PostgreSQL 15: compatible" true "$(field ip4r compatible)"
expect "15's ip4r on PostgreSQL 15: exit status" 0 "$RC"
check --server "$PG15" --image "ip4r=$IP4R18"
v15_18=$(field ip4r compatible)
expect "18's ip4r on PostgreSQL 15: compatible" false "$v15_18"
expect "18's ip4r on PostgreSQL 15: exit status" 1 "$RC"
why15_18=$(field ip4r problems)
check --server "$PG18" --image "ip4r=$W/ip4r-15"
expect "15's ip4r on PostgreSQL 18: compatible" false "$(field ip4r compatible)"
expect "15's ip4r on PostgreSQL 18: the magic block says why" true \
    "$(grep -q 'version mismatch' "$OUTJSON" && echo true || echo false)"
expect "the image is named as given" '"ip4r"' "$(field ip4r image)"

say "what PostgreSQL 15 really does with each (installed into its own directories)"
# Installs an ip4r image's files into the unpacked PostgreSQL 15 and creates the extension in a
# new database; prints true when CREATE EXTENSION succeeded.
real15() {
    local image=$1 db=$2
    cp -a "$image/share/extension/." "$W/pg15/usr/share/postgresql/15/extension/"
    cp -a "$image/lib/." "$PG15/lib/"
    "$PSQL" -X -h "$W/data15" -p "$PORT" -U postgres -d postgres -qAt -c "CREATE DATABASE $db" >/dev/null
    if "$PSQL" -X -h "$W/data15" -p "$PORT" -U postgres -d "$db" -qAt -c 'CREATE EXTENSION ip4r' >"$W/$db.log" 2>&1; then
        echo true
    else
        echo false
    fi
}
rm -rf "$W/data15"
owner_dir "$W/data15"
as_owner "$PG15/bin/initdb" -D "$W/data15" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$W/initdb15.log" 2>&1 ||
    { cat "$W/initdb15.log"; die "PostgreSQL 15 initdb failed"; }
PG_BINDIR=$PG15/bin cluster_start "$W/data15" "$PORT"
trap 'PG_BINDIR=$PG15/bin cluster_stop "$W/data15" immediate' EXIT
expect "PostgreSQL 15 creates 15's ip4r (pgext-check: true)" true "$(PG_BINDIR=$PG15/bin real15 "$W/ip4r-15" a)"
expect "PostgreSQL 15 refuses 18's ip4r (pgext-check: $v15_18)" "$v15_18" "$(PG_BINDIR=$PG15/bin real15 "$IP4R18" b)"
sed 's/^/    PostgreSQL 15: /' "$W/b.log" | head -3
if [ "$v15_18" = false ]; then
    # The same reason: a glibc version the library needs (unstable's build), or the magic block.
    case $why15_18 in
        *missing_symbol_version*) want='GLIBC_' ;;
        *) want='incompatible library' ;;
    esac
    expect "  for the reason pgext-check gave ($why15_18)" true "$(grep -q "$want" "$W/b.log" && echo true || echo false)"
fi
PG_BINDIR=$PG15/bin cluster_stop "$W/data15" fast
trap - EXIT

say "server images: this PostgreSQL 18 in a bookworm root, then with trixie's glibc"
# The packages that provide the postgres executable's libraries here (bookworm's own).
# dpkg records some under /lib, some under /usr/lib: look each file up by name.
mapfile -t pkgs < <(ldd "$PG_BINDIR/postgres" | awk '/=> \//{print $3}' | while read -r lib; do
    dpkg -S "*/$(basename "$(readlink -f "$lib")")" 2>/dev/null | head -1 | cut -d: -f1
done | sort -u)
download bookworm "${pkgs[@]}" libc6
download trixie libc6
root_a=$W/server-bookworm root_b=$W/server-trixie-libc
rm -rf "$root_a" "$root_b"
mkdir -p "$root_a/usr/lib/postgresql/18" "$root_a/etc"
cp -a "$PG18/bin" "$root_a/usr/lib/postgresql/18/"
mkdir -p "$root_a/usr/lib/postgresql/18/lib" "$root_a/usr/lib/postgresql/18/share"
cp -a "$("$PG_CONFIG" --pkglibdir)" "$root_a/usr/lib/postgresql/18/lib/postgresql"
cp -a "$("$PG_CONFIG" --sharedir)" "$root_a/usr/lib/postgresql/18/share/postgresql"
for p in "${pkgs[@]}" libc6; do dpkg -x "$(ls "$CACHE"/debs-bookworm/"${p}"_*.deb | head -1)" "$root_a"; done
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$root_a/etc/os-release"
cp -a "$root_a" "$root_b"
# trixie's libc6 replaces bookworm's where the loader finds it first.
dpkg -x "$(ls "$CACHE"/debs-trixie/libc6_*.deb | head -1)" "$W/libc-trixie"
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
cp -a "$W/libc-trixie/usr/lib/$triplet/." "$root_b/lib/$triplet/"
# The same change as an image layer would bring it.
rm -rf "$W/libc-layer" && mkdir -p "$W/libc-layer/lib/$triplet"
cp -a "$W/libc-trixie/usr/lib/$triplet/." "$W/libc-layer/lib/$triplet/"
rm -rf "$W/libc-trixie"

check --server "$root_a" --image "hll=$HLL18"
cp "$OUTJSON" "$W/dir-a.json"
expect "unstable's hll on the bookworm server image" false "$(field hll compatible)"
expect "  because of glibc" true "$(field hll problems | grep -q missing_symbol_version && echo true || echo false)"
expect "  the image's own postgres finds all its libraries" 0 "$(grep -c "postgres executable's own dependencies" "$OUTJSON" || true)"
check --server "$root_b" --image "hll=$HLL18"
expect "unstable's hll on the server image with trixie's glibc" true "$(field hll compatible)"
check --server "$root_b" --image "ip4r=$W/ip4r-15"
expect "15's ip4r on the 18 server image" false "$(field ip4r compatible)"

# Scripts that COPY a server file: looked up in the server image (its root), or in the image
# directory for a path under /extensions/<name> (where CloudNativePG mounts it).
datafile_image() { # datafile_image DIR PATH_READ
    local d=$1/share/extension
    rm -rf "$1" && mkdir -p "$d"
    printf "default_version = '1'\n" >"$d/pgext_datafile.control"
    printf "CREATE TABLE pgext_datafile_t (a text);\nCOPY pgext_datafile_t FROM '%s';\n" "$2" >"$d/pgext_datafile--1.sql"
    printf 'a\n' >"$d/pgext_datafile.data"
}
baked=/usr/lib/postgresql/18/share/postgresql/extension/pgext_datafile.data
datafile_image "$W/datafile-baked" "$baked"
check --server "$root_a" --image "datafile=$W/datafile-baked"
expect "a COPY from the server's share directory, where the file is not" false "$(field pgext_datafile compatible)"
expect "  says missing_data_file" missing_data_file "$(field pgext_datafile problems)"
expect "  and where the image has it" true "$(grep -q "The image's file is at $W/datafile-baked/share/extension/pgext_datafile.data" "$OUTJSON" && echo true || echo false)"
"$CHECK" --server "$root_a" --image "datafile=$W/datafile-baked" >"$W/table.txt" || true
expect "  the table shows it" true "$(grep -q 'INCOMPATIBLE *missing_data_file: pgext_datafile--1.sql:2' "$W/table.txt" && echo true || echo false)"
cp "$W/datafile-baked/share/extension/pgext_datafile.data" "$root_b$baked"
check --server "$root_b" --image "datafile=$W/datafile-baked"
expect "  the same with the file in the server image" true "$(field pgext_datafile compatible)"
rm -f "$root_b$baked"
datafile_image "$W/datafile-mounted" /extensions/datafile/share/extension/pgext_datafile.data
check --server "$root_a" --image "datafile=$W/datafile-mounted"
expect "a COPY from where CloudNativePG mounts the image" true "$(field pgext_datafile compatible)"
datafile_image "$W/datafile-relative" pgext_datafile.data
check --server "$root_a" --image "datafile=$W/datafile-relative"
expect "a relative COPY path: the server's data directory is not known here" null "$(field pgext_datafile compatible)"
expect "  says data_file_unchecked" data_file_unchecked "$(field pgext_datafile problems)"

say "server and extension images by reference"
# rows FILE: name, compatible and problems of each row of a --json array, sorted.
rows() {
    python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    c=r["compatible"]
    print("\t".join([r["name"], "null" if c is None else str(c).lower(), ",".join(r["problems"])]))' "$1" | LC_ALL=C sort
}
L=$W/layout
rm -rf "$L" "$W/work" "$W/registry"
mkdir -p "$W/work"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
umoci init --layout "$L" >/dev/null
umoci new --image "$L:server-a" >/dev/null
umoci insert "${rootless[@]}" --image "$L:server-a" "$root_a" / >/dev/null
umoci tag --image "$L:server-a" server-b >/dev/null
umoci insert "${rootless[@]}" --image "$L:server-b" "$W/libc-layer" / >/dev/null
umoci new --image "$L:hll" >/dev/null
umoci insert "${rootless[@]}" --image "$L:hll" "$HLL18" / >/dev/null
chmod -R a+rX "$L"
check --work-dir "$W/work" --server "oci:$L:server-a" --image "hll=$HLL18"
expect "a server image from an OCI layout: the unpacked directory's verdicts" "$(rows "$W/dir-a.json")" "$(rows "$OUTJSON")"
expect "  exit status" 1 "$RC"
check --work-dir "$W/work" --server "oci:$L:server-b" --image "hll=oci:$L:hll"
expect "two layers, the second with trixie's glibc: hll from a layout is compatible" true "$(field hll compatible)"
expect "  the image's reference is reported" "\"oci:$L:hll\"" "$(field hll image_reference)"
expect "  with the digest judged" true "$(field hll image_digest | grep -q '^"sha256:[0-9a-f]\{64\}"$' && echo true || echo false)"
expect "nothing is left in the work directory" 0 "$(find "$W/work" -mindepth 1 | wc -l)"

REGPORT=$(bash "$REPO/tests/registry/start.sh" "$W/registry") || die "could not start the registry"
trap 'bash "$REPO/tests/registry/stop.sh" "$W/registry" >/dev/null 2>&1 || true' EXIT
REG=127.0.0.1:$REGPORT
for pair in server-a:pg/server:a server-b:pg/server:b hll:ext/hll:1; do
    skopeo copy -q --dest-tls-verify=false "oci:$L:${pair%%:*}" "docker://$REG/${pair#*:}" >/dev/null
done
hll_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/ext/hll:1")
check --insecure-registry "$REG" --work-dir "$W/work" --server "$REG/pg/server:a" --image "$REG/ext/hll:1"
expect "from the registry: hll (named after its repository) on the bookworm server image" false "$(field hll compatible)"
expect "  the same rows as from the directories" "$(rows "$W/dir-a.json")" "$(rows "$OUTJSON")"
expect "  the digest judged is the registry's" "\"$hll_digest\"" "$(field hll image_digest)"
check --insecure-registry "$REG" --work-dir "$W/work" --server "$REG/pg/server:b" --image "hll=$REG/ext/hll:1@$hll_digest"
expect "pinned hll on the trixie-glibc server image from the registry" true "$(field hll compatible)"
# Provenance of what is fetched: cosign signatures, key-based here (keyless is the signatures suite's).
COSIGN=$(bash "$REPO/tests/signatures/get-cosign.sh") || die "no cosign (tests/signatures/get-cosign.sh)"
rm -rf "$W/keys" && mkdir -p "$W/keys"
(cd "$W/keys" && COSIGN_PASSWORD="" "$COSIGN" generate-key-pair --output-key-prefix k1 >/dev/null 2>&1 &&
    COSIGN_PASSWORD="" "$COSIGN" generate-key-pair --output-key-prefix k2 >/dev/null 2>&1) || die "cosign generate-key-pair"
cosign_sign() {
    COSIGN_PASSWORD="" "$COSIGN" sign --key "$W/keys/k1.key" --tlog-upload=false --allow-insecure-registry --allow-http-registry \
        --yes "$1" >"$W/sign.log" 2>&1 || { cat "$W/sign.log"; die "cosign sign $1"; }
}
cosign_sign "$REG/ext/hll@$hll_digest"
SIGNED=(--insecure-registry "$REG" --work-dir "$W/work" --server "$REG/pg/server:b" --image "hll=$REG/ext/hll:1")
check "${SIGNED[@]}" --trusted-keys "$W/keys/k1.pub" --require-signed
expect "--require-signed: hll is signed by the trusted key" '"signed"' "$(field hll image_signature)"
expect "  the server image is not: exit status" 1 "$RC"
expect "  and says so" true "$(grep -q "server image $REG/pg/server:b is not signed by a trusted signer (unsigned)" "$W/out.err" && echo true || echo false)"
cosign_sign "$REG/pg/server@$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/pg/server:b")"
check "${SIGNED[@]}" --trusted-keys "$W/keys/k1.pub" --require-signed
expect "both signed by the trusted key, hll compatible: exit status" 0 "$RC"
expect "  who signed" "\"key:sha256:$(openssl pkey -pubin -in "$W/keys/k1.pub" -outform DER | sha256sum | cut -d' ' -f1)\"" "$(field hll image_signed_by)"
check "${SIGNED[@]}" --trusted-keys "$W/keys/k2.pub" --require-signed
expect "another trusted key: untrusted" '"untrusted"' "$(field hll image_signature)"
expect "  exit status" 1 "$RC"
check "${SIGNED[@]}" --trusted-keys "$W/keys/k1.key"
expect "a private key as --trusted-keys: exit status" 2 "$RC"
check "${SIGNED[@]}"
expect "no signature flags: signatures not judged" null "$(field hll image_signature)"
check --insecure-registry "$REG" --work-dir "$W/work" --server "$REG/pg/server:a@sha256:$(printf '%064d' 0)" --image "hll=$HLL18"
expect "a pinned digest the registry does not have: exit status" 2 "$RC"
expect "  and says what went wrong" true "$(grep -q '(not_found):.*MANIFEST_UNKNOWN' "$W/out.err" && echo true || echo false)"
check --insecure-registry "$REG" --work-dir "$W/work" --server "$REG/ext/hll:1" --image "hll=$HLL18"
expect "an image without a server as the server: exit status" 2 "$RC"
expect "  named by its reference" true "$(grep -q "server image $REG/ext/hll:1: no PostgreSQL server in \"<image root>\"" "$W/out.err" && echo true || echo false)"
check --work-dir "$W/work" --server "$REG/pg/server:a" --image "hll=$HLL18"
expect "a registry without TLS that is not --insecure-registry: exit status" 2 "$RC"
check --work-dir "$W/work" --server "oci:$L:server-a" --image "hll=oci:$L:nope"
expect "an image tag the layout does not have: exit status" 2 "$RC"
expect "nothing is left in the work directory after failures" 0 "$(find "$W/work" -mindepth 1 | wc -l)"
# A registry that accepts connections and never answers: Ctrl-C ends the fetch at once.
rm -f "$W/silent.port"
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(64)
open(sys.argv[1],"w").write(str(s.getsockname()[1])); held=[]
while True: held.append(s.accept()[0])' "$W/silent.port" &
SILENT_PID=$!
trap 'kill $SILENT_PID 2>/dev/null; bash "$REPO/tests/registry/stop.sh" "$W/registry" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do [ -s "$W/silent.port" ] && break; sleep 0.1; done
SILENT=127.0.0.1:$(cat "$W/silent.port")
start=$(date +%s%N)
set +e
"$CHECK" --insecure-registry "$SILENT" --work-dir "$W/work" --server "$SILENT/pg/server:a" --image "hll=$HLL18" >/dev/null 2>"$W/out.err" &
cpid=$!
sleep 1
kill -INT $cpid
wait $cpid
RC=$?
set -e
ms=$((($(date +%s%N) - start) / 1000000))
expect "Ctrl-C during a fetch from a registry that never answers: exit status" 130 "$RC"
expect "  within a second of the interrupt" true "$([ "$ms" -lt 2000 ] && echo true || echo "false (${ms} ms)")"
expect "  and the work directory is clean" 0 "$(find "$W/work" -mindepth 1 | wc -l)"

say "the command's contract"
check --server "$PG18" --image "hll=$HLL18" --image "ip4r=$IP4R18"
expect "--json is an array with name, image, compatible per extension" ok "$(python3 -c 'import json,sys
rows=json.load(open(sys.argv[1]))
ok=isinstance(rows,list) and rows and all({"name","image","compatible"} <= set(r) for r in rows)
print("ok" if ok else rows)' "$OUTJSON")"
check --server "$W" --image "hll=$HLL18"
expect "a directory without a server: exit status" 2 "$RC"
expect "  and says where it looked" true "$(grep -q 'no PostgreSQL server' "$W/out.err" && echo true || echo false)"
check --server "$PG18" --image "gone=$W/does-not-exist"
expect "a missing image directory: exit status" 1 "$RC"
"$CHECK" --server "$PG18" --image "ip4r=$W/ip4r-15" >"$W/table.txt" || true
expect "the table names the server and the verdict" true \
    "$(grep -q '^server: PostgreSQL 18' "$W/table.txt" && grep -q 'INCOMPATIBLE' "$W/table.txt" && echo true || echo false)"

say "pgext.preflight() in SQL: the same engine as pgext-check and mounted_extensions"
DATA=$W/data18
cluster_stop "$DATA" immediate 2>/dev/null || true
rm -rf "$DATA" "$W/mounted"
mkdir -p "$W/mounted"
cp -a "$HLL18" "$W/mounted/hll"
cp -a "$W/ip4r-15" "$W/mounted/ip4r"
chmod -R a+rX "$W/mounted"
{
    echo "extension_control_path = '\$system:$W/mounted/hll/share:$W/mounted/ip4r/share'"
    echo "dynamic_library_path = '\$libdir:$W/mounted/hll/lib:$W/mounted/ip4r/lib'"
    echo "pgext.extensions_root = '$W/mounted'"
    echo "pgext.layout_directories = '$L'"
    echo "pgext.insecure_registries = '$REG,$SILENT'"
    echo "pgext.registry_read_timeout = '60s'"
} >"$W/pg18.conf"
cluster_start "$DATA" "$PORT" "$W/pg18.conf"
trap 'cluster_stop "$DATA" immediate; kill $SILENT_PID 2>/dev/null; bash "$REPO/tests/registry/stop.sh" "$W/registry" >/dev/null 2>&1 || true' EXIT
sql() { cluster_psql "$DATA" "$PORT" -d postgres -qAt -F $'\t' "$@"; }
sql -c 'CREATE EXTENSION pgext' >/dev/null
a=$(sql -c "SELECT name, coalesce(compatible::text, 'null'), array_to_string(problems, ',') FROM pgext.mounted_extensions WHERE visible" | LC_ALL=C sort)
b=$(sql -c "SELECT name, coalesce(compatible::text, 'null'), array_to_string(problems, ',') FROM pgext.preflight('$PG18')" | LC_ALL=C sort)
expect "preflight(this installation) = mounted_extensions (rows differing)" 0 "$(diff <(echo "$a") <(echo "$b") | grep -c '^[<>]' || true)"
expect "  over every visible extension" true "$([ "$(echo "$a" | wc -l)" -gt 40 ] && echo true || echo false)"
sql_rows=$(sql -c "SELECT name, coalesce(image, '-'), coalesce(compatible::text, 'null'), array_to_string(problems, ',')
    FROM pgext.preflight('$root_a', ARRAY['hll=$HLL18', 'ip4r=$W/ip4r-15']) WHERE image IS NOT NULL" | LC_ALL=C sort)
check --server "$root_a" --image "hll=$HLL18" --image "ip4r=$W/ip4r-15"
cli_rows=$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    c=r["compatible"]
    print("\t".join([r["name"], r["image"] or "-", "null" if c is None else str(c).lower(), ",".join(r["problems"])]))' "$OUTJSON" | LC_ALL=C sort)
expect "pgext-check and pgext.preflight agree on a server image" "$cli_rows" "$sql_rows"
cli_libs=$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    for l in r["libraries"]:
        print("\t".join([r["name"], l["path"], str(l["loadable"]).lower(), ",".join(l["problems"])]))' "$OUTJSON" | LC_ALL=C sort)
sql_libs=$(sql -c "SELECT p.name, l->>'path', l->>'loadable', coalesce((SELECT string_agg(x, ',') FROM jsonb_array_elements_text(l->'problems') x), '')
    FROM pgext.preflight('$root_a', ARRAY['hll=$HLL18', 'ip4r=$W/ip4r-15']) p, jsonb_array_elements(p.libraries) l
    WHERE p.image IS NOT NULL" | LC_ALL=C sort)
expect "  and on each library (SQL libraries = pgext-check's)" "$cli_libs" "$sql_libs"
expect "  hll.so is judged not loadable there" true "$(grep -q "hll.so	false	.*missing_symbol_version" <<<"$sql_libs" && echo true || echo false)"
expect "  hll on the image with trixie's glibc" t "$(sql -c "SELECT compatible FROM pgext.preflight('$root_b', ARRAY['hll=$HLL18']) WHERE name = 'hll'")"
# sqlstate SQL: the SQLSTATE the statement fails with ("ok" when it does not fail).
sqlstate() {
    local out
    if out=$(cluster_psql "$DATA" "$PORT" -d postgres -qAt -v VERBOSITY=verbose -c "$1" 2>&1); then echo ok; else
        sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1
    fi
}
expect "NULL images: the mounted ones" 2 "$(sql -c "SELECT count(DISTINCT image) FROM pgext.preflight('$PG18')")"
expect "a directory without a server" 22023 "$(sqlstate "SELECT * FROM pgext.preflight('$W')")"
expect "a NULL server" 22023 "$(sqlstate "SELECT * FROM pgext.preflight(NULL)")"
expect "an image directory that does not exist" 22023 "$(sqlstate "SELECT * FROM pgext.preflight('$PG18', ARRAY['x=$W/nope'])")"
expect "a bad image argument" 22023 "$(sqlstate "SELECT * FROM pgext.preflight('$PG18', ARRAY['a/b=/x'])")"
sql -c "CREATE ROLE pf_admin LOGIN IN ROLE pgext_admin; CREATE ROLE pf_files LOGIN IN ROLE pgext_admin, pg_read_server_files; CREATE ROLE pf_nobody LOGIN" >/dev/null
expect "pgext_admin without pg_read_server_files" 42501 "$(sqlstate "SET ROLE pf_admin; SELECT * FROM pgext.preflight('$PG18')")"
expect "pgext_admin with pg_read_server_files" ok "$(sqlstate "SET ROLE pf_files; SELECT * FROM pgext.preflight('$PG18')")"
expect "a role without pgext_admin" 42501 "$(sqlstate "SET ROLE pf_nobody; SELECT * FROM pgext.preflight('$PG18')")"
expect "statement_timeout stops a pre-flight" 57014 "$(sqlstate "SET statement_timeout = '1ms'; SELECT * FROM pgext.preflight('$root_a', ARRAY['hll=$HLL18', 'ip4r=$W/ip4r-15'])")"

say "pgext.preflight() by reference"
# sqlrows QUERY: name, compatible, problems of the rows with an image, as rows() prints them.
sqlrows() { sql -c "SELECT name, coalesce(compatible::text, 'null'), array_to_string(problems, ',') FROM ($1) p WHERE image IS NOT NULL" | sed 's/\tt\t/\ttrue\t/; s/\tf\t/\tfalse\t/' | LC_ALL=C sort; }
check --work-dir "$W/work" --server "oci:$L:server-a" --image "hll=oci:$L:hll"
expect "preflight(layout server, layout image) = pgext-check" "$(rows "$OUTJSON")" \
    "$(sqlrows "SELECT * FROM pgext.preflight('oci:$L:server-a', ARRAY['hll=oci:$L:hll'])")"
expect "  from the registry, the image named after its repository" "$(rows "$OUTJSON")" \
    "$(sqlrows "SELECT * FROM pgext.preflight('$REG/pg/server:a', ARRAY['$REG/ext/hll:1'])")"
expect "  hll on the trixie-glibc server image from the registry" t \
    "$(sql -c "SELECT compatible FROM pgext.preflight('$REG/pg/server:b', ARRAY['hll=$REG/ext/hll:1@$hll_digest']) WHERE name = 'hll'")"
expect "an unknown tag" 42704 "$(sqlstate "SELECT * FROM pgext.preflight('$REG/pg/server:nope')")"
expect "a layout outside pgext.layout_directories" 42501 "$(sqlstate "SELECT * FROM pgext.preflight('oci:$W/elsewhere:x')")"
expect "a reference that does not parse" 22023 "$(sqlstate "SELECT * FROM pgext.preflight('Not A Ref')")"
expect "a registry that is not listening" 08006 "$(sqlstate "SELECT * FROM pgext.preflight('127.0.0.1:9/pg/server:a')")"
start=$(date +%s%N)
expect "statement_timeout stops a fetch from a registry that never answers" 57014 \
    "$(sqlstate "SET statement_timeout = '1s'; SELECT * FROM pgext.preflight('$SILENT/pg/server:a')")"
ms=$((($(date +%s%N) - start) / 1000000))
expect "  within a second of the timeout" true "$([ "$ms" -lt 2500 ] && echo true || echo "false (${ms} ms)")"
expect "nothing is left in pgsql_tmp" 0 "$(find "$DATA/base/pgsql_tmp" -mindepth 1 2>/dev/null | wc -l)"
cluster_stop "$DATA" fast
kill $SILENT_PID 2>/dev/null || true
bash "$REPO/tests/registry/stop.sh" "$W/registry" >/dev/null 2>&1 || true
trap - EXIT

echo "preflight: $checks checks, $failures failed"
[ "$failures" = 0 ]
