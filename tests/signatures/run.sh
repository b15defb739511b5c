#!/usr/bin/env bash
# cosign signatures against a real PostgreSQL 18 with pgext, a real loopback registry, real
# cosign (Debian's package, see get-cosign.sh) and real OCI layouts. Each image gets the
# signature status README documents, from `pgext.verify_image` into `pgext.mounted_images`, and
# `pgext.require = 'signed'` lets CREATE EXTENSION through only from a signed image. Image
# metadata: labels, annotations and buildx-style attestations recorded by a verification and
# judged against the server in `mounted_images.image_metadata` and `problems`. Keyless: a test
# PKI made with openssl (root, intermediate, leaf certificates for code signing with a workflow
# identity in the SAN and Fulcio's issuer extension, one expired, one from a CA nobody trusts), a
# transparency-log key, a trusted_root.json over them; cosign signs with the certificate and
# chain (no log) and attaches signatures with a Rekor entry signed by the test log (and one by
# another log); each keyless status as documented, the identity policy per image prefix. The
# bundle form (cosign 3): Sigstore bundles attached as OCI 1.1 referrers, found through the
# referrers tag schema (docker-registry), the referrers API (tests/signatures/referrers-proxy.py)
# and in an OCI layout; key-based and with a certificate; attestations, copied and moved referrers.
# Usage: tests/signatures/run.sh        (PGEXT_SIGNATURES_PORT, default 56611)
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup

WORK=${PGEXT_SIGNATURES_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pgext-signatures.XXXXXX")}
mkdir -p "$WORK"
chmod 0755 "$WORK"
FX=$WORK/fx
DATA=$WORK/data
PORT=${PGEXT_SIGNATURES_PORT:-56611}
cleanup() {
    [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null
    cluster_stop "$DATA" immediate
    bash "$REPO/tests/registry/stop.sh" "$FX/registry" >/dev/null 2>&1 || true
}
trap cleanup EXIT

pass=0
fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
expect() { # expect WHAT GOT WANT
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}

COSIGN=$(bash "$REPO/tests/signatures/get-cosign.sh") || die "no cosign (tests/signatures/get-cosign.sh)"
say "cosign: $COSIGN ($("$COSIGN" version 2>&1 | awk '/GitVersion/ {print $2}'))"
mkdir -p "$FX"
# With its access log: re-verification is judged by the requests it makes.
REGPORT=$(bash "$REPO/tests/registry/start.sh" "$FX/registry" --access-log) || die "could not start the registry"
REG=127.0.0.1:$REGPORT
say "registry at $REG"
# The same registry with the OCI 1.1 referrers API (and the referrers tag schema hidden).
python3 "$REPO/tests/signatures/referrers-proxy.py" "$REG" >"$FX/proxy.port" 2>"$FX/proxy.log" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$FX/proxy.port" ] && break; sleep 0.1; done
PROXY=127.0.0.1:$(head -n1 "$FX/proxy.port")
say "referrers API proxy at $PROXY"

# Two key pairs, as cosign makes them: k1 is trusted, k2 is not.
export COSIGN_PASSWORD=""
mkdir -p "$FX/keys"
(cd "$FX/keys" && "$COSIGN" generate-key-pair --output-key-prefix k1 >/dev/null 2>&1 \
    && "$COSIGN" generate-key-pair --output-key-prefix k2 >/dev/null 2>&1) || die "cosign generate-key-pair failed"
fingerprint() { echo "key:sha256:$(openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1)"; }
K1=$(fingerprint "$FX/keys/k1.pub")
K2=$(fingerprint "$FX/keys/k2.pub")
mkdir -p "$FX/keys/both"
cp "$FX/keys/k1.pub" "$FX/keys/k2.pub" "$FX/keys/both/"

# One SQL-only extension per image; every image differs, so every digest does.
E=$FX/extensions
L=$FX/oci
mkdir -p "$E" "$L"
IMAGES=(rv signed other tampered foreign unsigned kl_signed kl_tlog kl_badtlog kl_wrongid kl_expired kl_otherca kl_tampered kl_replayed
    b_signed b_other b_attest b_copied b_moved b_kl b_kl_tlog b_kl_replayed cnpg_ok cnpg_branch cnpg_fork cnpg_outside
    at_cosign at_other at_foreign at_v1 at_bundle)
# Repositories other than the image's name: a mirror of CloudNativePG's images (trust profile).
declare -A REPO_OF=([cnpg_ok]=cnpg/cnpg_ok [cnpg_branch]=cnpg/cnpg_branch [cnpg_fork]=cnpg/cnpg_fork)
repo() { echo "${REPO_OF[$1]:-$1}"; }
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
declare -A DIGEST
for img in "${IMAGES[@]}"; do
    d=$E/$img/share/extension
    mkdir -p "$d" "$E/$img/lib"
    printf "default_version = '1.0'\nrelocatable = true\ncomment = 'image %s'\n" "$img" >"$d/sig_$img.control"
    printf -- "-- sig_%s 1.0\n" "$img" >"$d/sig_$img--1.0.sql"
    # The file the attestation tests' SBOMs say libgeos owns.
    case $img in at_*) printf 'a library, as far as an SBOM is concerned\n' >"$E/$img/lib/${img}_geos.so" ;; esac
    umoci init --layout "$L/$img" >/dev/null
    umoci new --image "$L/$img:v1" >/dev/null
    umoci insert "${rootless[@]}" --image "$L/$img:v1" "$E/$img" / >/dev/null
    skopeo copy -q --preserve-digests --dest-tls-verify=false --digestfile "$FX/$img.digest" \
        "oci:$L/$img:v1" "docker://$REG/$(repo "$img"):v1" || die "skopeo copy of $img failed"
    DIGEST[$img]=$(cat "$FX/$img.digest")
done
chmod -R a+rX "$E"

sign() { # sign KEY IMAGE
    "$COSIGN" sign --key "$FX/keys/$1.key" --tlog-upload=false --allow-insecure-registry --allow-http-registry \
        --yes "$REG/$2@${DIGEST[$2]}" >"$FX/sign-$2.log" 2>&1 || { cat "$FX/sign-$2.log"; die "cosign sign $2 failed"; }
}
sig_tag() { local d=${DIGEST[$1]}; echo "${d/:/-}.sig"; }
sign k1 signed
sign k2 other
# foreign: a genuine k1 signature, but of image "signed", copied under foreign's signature tag.
skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/signed:$(sig_tag signed)" "docker://$REG/foreign:$(sig_tag foreign)"
# tampered: k1 signed the payload cosign generates; the payload attached is altered after signing.
"$COSIGN" generate --allow-insecure-registry --allow-http-registry "$REG/tampered@${DIGEST[tampered]}" \
    >"$FX/payload.json" 2>/dev/null
"$COSIGN" sign-blob --key "$FX/keys/k1.key" --tlog-upload=false --yes "$FX/payload.json" \
    >"$FX/payload.sig" 2>/dev/null
sed 's/"optional":null/"optional":{"altered":"yes"}/' "$FX/payload.json" >"$FX/payload-tampered.json"
cmp -s "$FX/payload.json" "$FX/payload-tampered.json" && die "the payload was not altered"
"$COSIGN" attach signature --allow-insecure-registry --allow-http-registry --payload "$FX/payload-tampered.json" \
    --signature "$FX/payload.sig" "$REG/tampered@${DIGEST[tampered]}" >"$FX/attach.log" 2>&1 \
    || { cat "$FX/attach.log"; die "cosign attach signature failed"; }

# Keyless: a PKI of our own, made with openssl.
P=$FX/pki
mkdir -p "$P/newcerts"
: >"$P/index.txt"
echo 01 >"$P/serial"
cat >"$P/ca.cnf" <<CNF
[ ca ]
default_ca = ca_default
[ ca_default ]
database = $P/index.txt
new_certs_dir = $P/newcerts
serial = $P/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
organizationName = optional
commonName = optional
CNF
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# ca NAME SUBJECT [ISSUER]: a CA certificate (self-signed without ISSUER).
ca() {
    ec_key "$P/$1.key"
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$P/$1.ext"
    openssl req -new -key "$P/$1.key" -subj "$2" -out "$P/$1.csr" 2>/dev/null
    if [ -z "${3:-}" ]; then
        openssl ca -batch -config "$P/ca.cnf" -selfsign -keyfile "$P/$1.key" -in "$P/$1.csr" -out "$P/$1.pem" \
            -startdate 20200101000000Z -enddate 20990101000000Z -extfile "$P/$1.ext" -notext >/dev/null 2>&1
    else
        openssl ca -batch -config "$P/ca.cnf" -cert "$P/$3.pem" -keyfile "$P/$3.key" -in "$P/$1.csr" -out "$P/$1.pem" \
            -startdate 20200101000000Z -enddate 20990101000000Z -extfile "$P/$1.ext" -notext >/dev/null 2>&1
    fi || die "openssl ca: $1"
}
# leaf NAME CA SUBJECT START END: a code-signing certificate with a workflow identity, for a key
# openssl makes (signatures attached with `cosign attach signature`).
ISSUER=https://token.actions.githubusercontent.com
SUBJECT=https://github.com/pgext/images/.github/workflows/release.yml@refs/heads/main
leaf_ext() {
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=critical,URI:%s\n1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:%s\n' \
        "$2" "$ISSUER" >"$P/$1.ext"
}
leaf() {
    ec_key "$P/$1.key"
    leaf_ext "$1" "$3"
    openssl req -new -key "$P/$1.key" -subj "/O=pgext test signer" -out "$P/$1.csr" 2>/dev/null
    openssl ca -batch -config "$P/ca.cnf" -cert "$P/$2.pem" -keyfile "$P/$2.key" -in "$P/$1.csr" -out "$P/$1.pem" \
        -startdate "$4" -enddate "$5" -extfile "$P/$1.ext" -notext >/dev/null 2>&1 || die "openssl ca: $1"
}
# leaf_cosign NAME CA SUBJECT: the same for a key cosign generates (for `cosign sign`): the
# certificate is issued for cosign's public key (a throwaway key only signs the request).
serial=100
leaf_cosign() {
    (cd "$P" && "$COSIGN" generate-key-pair --output-key-prefix "$1.cosign" >/dev/null 2>&1) || die "cosign generate-key-pair $1"
    ec_key "$P/$1.csr.key"
    leaf_ext "$1" "$3"
    openssl req -new -key "$P/$1.csr.key" -subj "/O=pgext test signer" -out "$P/$1.csr" 2>/dev/null
    serial=$((serial + 1))
    openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -force_pubkey "$P/$1.cosign.pub" \
        -days 3650 -set_serial "$serial" -extfile "$P/$1.ext" -out "$P/$1.pem" >/dev/null 2>&1 || die "openssl x509: $1"
}
ca root "/O=pgext test/CN=test root"
ca inter "/O=pgext test/CN=test intermediate" root
ca rogue "/O=nobody/CN=untrusted root"
leaf good inter "$SUBJECT" 20200101000000Z 20990101000000Z
leaf expired inter "$SUBJECT" 20200101000000Z 20210101000000Z
leaf_cosign cgood inter "$SUBJECT"
leaf_cosign wrongid inter "https://github.com/someone-else/fork/.github/workflows/release.yml@refs/heads/main"
leaf_cosign otherca rogue "$SUBJECT"
# CloudNativePG's signing workflow (pgext_oci::profiles): its main branch, another branch, a fork.
CNPG_SAN=https://github.com/cloudnative-pg/postgres-extensions-containers/.github/workflows/bake_targets.yml@refs/heads/main
leaf_cosign cnpg inter "$CNPG_SAN"
leaf_cosign cnpg_branch inter "${CNPG_SAN%main}dev"
leaf_cosign cnpg_fork inter "${CNPG_SAN/cloudnative-pg/someone}"
cat "$P/inter.pem" "$P/root.pem" >"$P/chain.pem"
ec_key "$P/tlog.key"
ec_key "$P/tlog-other.key"
openssl pkey -in "$P/tlog.key" -pubout -outform DER -out "$P/tlog.der" 2>/dev/null
LOGID=$(sha256sum <"$P/tlog.der" | cut -d' ' -f1)
python3 - "$P" <<'PY'
import base64, json, subprocess, sys
p = sys.argv[1]
der = lambda f: subprocess.run(["openssl", "x509", "-in", f"{p}/{f}.pem", "-outform", "DER"], capture_output=True, check=True).stdout
b64 = lambda b: base64.b64encode(b).decode()
tlog = open(f"{p}/tlog.der", "rb").read()
import hashlib
root = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": b64(tlog), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00Z"}},
                   "logId": {"keyId": b64(hashlib.sha256(tlog).digest())}}],
        "certificateAuthorities": [{"subject": {"organization": "pgext test", "commonName": "test intermediate"},
                                    "uri": "https://fulcio.test",
                                    "certChain": {"certificates": [{"rawBytes": b64(der("inter"))}, {"rawBytes": b64(der("root"))}]},
                                    "validFor": {"start": "2020-01-01T00:00:00Z"}}],
        "ctlogs": [], "timestampAuthorities": []}
json.dump(root, open(f"{p}/trusted_root.json", "w"), indent=1)
PY
# sign_keyless LEAF IMAGE [CHAIN]: cosign signs with the leaf's key, certificate and chain (no log).
sign_keyless() {
    COSIGN_PASSWORD="" "$COSIGN" sign --key "$P/$1.cosign.key" --certificate "$P/$1.pem" --certificate-chain "$P/${3:-chain}.pem" \
        --tlog-upload=false --allow-insecure-registry --allow-http-registry --yes "$REG/$(repo "$2")@${DIGEST[$2]}" \
        >"$FX/sign-$2.log" 2>&1 || { cat "$FX/sign-$2.log"; die "cosign sign (keyless-style) $2 failed"; }
}
# attach_keyless LEAF IMAGE [LOGKEY] [ALTER]: the payload cosign generates, signed with openssl by
# the leaf's key, attached with its certificate and chain — and with a Rekor entry signed by
# LOGKEY when given. ALTER=payload changes the payload after signing; ALTER=entry makes the log
# entry (validly signed) one of another payload — a replayed entry.
attach_keyless() {
    local leafname=$1 img=$2 logkey=${3:-} alter=${4:-} f=$FX/kl-$2
    "$COSIGN" generate --allow-insecure-registry --allow-http-registry "$REG/$img@${DIGEST[$img]}" >"$f.payload" 2>/dev/null
    openssl dgst -sha256 -sign "$P/$leafname.key" -out "$f.sig.der" "$f.payload"
    base64 -w0 "$f.sig.der" >"$f.sig"
    if [ -n "$logkey" ]; then
        python3 - "$f" "$P/$leafname.pem" "$LOGID" "$P/$logkey.key" "$alter" <<'PY'
import base64, hashlib, json, subprocess, sys, time
f, cert, logid, key, alter = sys.argv[1:6]
payload = open(f + ".payload", "rb").read() + (b" " if alter == "entry" else b"")
body = json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
    "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
    "signature": {"content": open(f + ".sig").read().strip(),
                  "publicKey": {"content": base64.b64encode(open(cert, "rb").read()).decode()}}}}, separators=(",", ":"))
entry = {"body": base64.b64encode(body.encode()).decode(), "integratedTime": int(time.time()) - 60,
         "logID": logid, "logIndex": 7}
canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
set_ = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=canonical, capture_output=True, check=True).stdout
entry["verification"] = {"signedEntryTimestamp": base64.b64encode(set_).decode()}
json.dump(entry, open(f + ".rekor.json", "w"))
PY
    fi
    if [ "$alter" = payload ]; then sed -i 's/"optional":null/"optional":{"altered":"yes"}/' "$f.payload"; fi
    "$COSIGN" attach signature --allow-insecure-registry --allow-http-registry --payload "$f.payload" \
        --signature "$f.sig" --certificate "$P/$leafname.pem" --certificate-chain "$P/chain.pem" \
        "$REG/$img@${DIGEST[$img]}" >"$f.attach.log" 2>&1 || { cat "$f.attach.log"; die "cosign attach signature $img failed"; }
    if [ -n "$logkey" ]; then
        # The log entry goes where cosign puts Rekor's answer: the layer's bundle annotation.
        local tag
        tag=$(sig_tag "$img")
        rm -rf "$f.layout"
        skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$REG/$img:$tag" "oci:$f.layout:$tag"
        python3 "$REPO/tests/signatures/add-bundle.py" "$f.layout" "$tag" "$f.rekor.json"
        skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$f.layout:$tag" "docker://$REG/$img:$tag"
    fi
}
sign_keyless cgood kl_signed
attach_keyless good kl_tlog tlog
attach_keyless good kl_badtlog tlog-other
sign_keyless wrongid kl_wrongid
attach_keyless expired kl_expired
cp "$P/rogue.pem" "$P/rogue-chain.pem"
sign_keyless otherca kl_otherca rogue-chain
sign_keyless cnpg cnpg_ok
sign_keyless cnpg_branch cnpg_branch
sign_keyless cnpg_fork cnpg_fork
sign_keyless cnpg cnpg_outside
attach_keyless good kl_tampered "" payload
attach_keyless good kl_replayed tlog entry
chmod -R a+rX "$P"

# The newer storage form, cosign 3's `cosign sign`: a Sigstore bundle whose DSSE envelope signs an
# in-toto statement of predicate type https://sigstore.dev/cosign/sign/v1 about the image,
# attached as an OCI 1.1 referrer. This cosign writes the same with `attest --new-bundle-format`
# and that predicate type. docker-registry has no referrers API: cosign (and pgext) fall back to
# the referrers tag schema (an index tagged sha256-<hex>).
SIGN_PREDICATE=https://sigstore.dev/cosign/sign/v1
echo '{}' >"$FX/empty-predicate.json"
bundle_sign() { # bundle_sign IMAGE PREDICATE_TYPE COSIGN_ARGS...
    local img=$1 type=$2
    shift 2
    "$COSIGN" attest --new-bundle-format --type "$type" --predicate "$FX/empty-predicate.json" --tlog-upload=false \
        --allow-insecure-registry --allow-http-registry --yes "$@" "$REG/$img@${DIGEST[$img]}" >"$FX/bundle-$img.log" 2>&1 \
        || { cat "$FX/bundle-$img.log"; die "cosign attest --new-bundle-format $img failed"; }
}
ref_tag() { local d=${DIGEST[$1]}; echo "${d/:/-}"; }
bundle_sign b_signed "$SIGN_PREDICATE" --key "$FX/keys/k1.key"
bundle_sign b_other "$SIGN_PREDICATE" --key "$FX/keys/k2.key"
bundle_sign b_attest https://spdx.dev/Document --key "$FX/keys/k1.key"
bundle_sign b_kl "$SIGN_PREDICATE" --key "$P/cgood.cosign.key" --certificate "$P/cgood.pem" --certificate-chain "$P/chain.pem"
# With a Rekor entry (dsse kind) signed by the test log, as cosign writes it after Rekor accepted
# the envelope; and one whose entry is of another statement.
for img in b_kl_tlog b_kl_replayed; do
    bundle_sign $img "$SIGN_PREDICATE" --key "$P/cgood.cosign.key" --certificate "$P/cgood.pem" --certificate-chain "$P/chain.pem"
done
python3 "$REPO/tests/signatures/bundle-tlog.py" "$REG" b_kl_tlog "${DIGEST[b_kl_tlog]}" "$LOGID" "$P/tlog.key"
python3 "$REPO/tests/signatures/bundle-tlog.py" "$REG" b_kl_replayed "${DIGEST[b_kl_replayed]}" "$LOGID" "$P/tlog.key" payload
# b_copied lists b_signed's referrer (whose subject stays b_signed); b_moved has b_signed's bundle
# in a referrer whose subject is b_moved.
python3 "$REPO/tests/signatures/referrer.py" "$REG" b_signed "${DIGEST[b_signed]}" b_copied "${DIGEST[b_copied]}" copy
python3 "$REPO/tests/signatures/referrer.py" "$REG" b_signed "${DIGEST[b_signed]}" b_moved "${DIGEST[b_moved]}" move

# Attestations written by cosign itself (`cosign attest`, the sha256-<hex>.att tag, DSSE
# envelopes): an SPDX SBOM and SLSA provenance v0.2 (and v1 where this cosign knows the type, and
# a CycloneDX SBOM: at_v1) signed by the trusted key k1 (at_cosign, at_v1) or by k2 (at_other); at_foreign carries
# at_cosign's attestations under its own .att tag (statements about another digest: ignored).
cat >"$FX/slsa02.json" <<'JSON'
{"builder": {"id": "https://ci.example/pgext/builder"},
 "buildType": "https://ci.example/pgext/build@v1",
 "invocation": {"configSource": {"uri": "git+https://git.example/pgext/images@refs/heads/main",
                                 "digest": {"sha1": "89abcdef89abcdef89abcdef89abcdef89abcdef"},
                                 "entryPoint": ".ci/release.yml"}},
 "metadata": {"buildStartedOn": "2026-02-01T00:00:00Z", "buildFinishedOn": "2026-02-01T00:10:00Z"},
 "materials": []}
JSON
cat >"$FX/slsa1.json" <<'JSON'
{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
   "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://git.example/pgext/images",
                                       "path": ".github/workflows/release.yml"}},
   "resolvedDependencies": [{"uri": "git+https://git.example/pgext/images@refs/heads/main",
                             "digest": {"gitCommit": "fedcba98fedcba98fedcba98fedcba98fedcba98"}}]},
 "runDetails": {"builder": {"id": "https://ci.example/pgext/builder-v1"},
                "metadata": {"invocationId": "run-7", "finishedOn": "2026-02-02T00:00:00Z"}}}
JSON
spdx_for() { # spdx_for IMAGE: an SPDX document saying libgeos 3.13.1 owns lib/IMAGE_geos.so
    cat >"$FX/spdx-$1.json" <<JSON
{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "$1",
 "documentNamespace": "https://example.invalid/$1", "creationInfo": {"created": "2026-02-01T00:00:00Z", "creators": ["Tool: pgext-test"]},
 "packages": [{"SPDXID": "SPDXRef-Package-geos", "name": "libgeos", "versionInfo": "3.13.1", "downloadLocation": "NOASSERTION",
               "supplier": "Organization: OSGeo", "licenseConcluded": "LGPL-2.1-only",
               "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:generic/libgeos@3.13.1"}]},
              {"SPDXID": "SPDXRef-Package-ext", "name": "sig_$1", "versionInfo": "1.0", "downloadLocation": "NOASSERTION",
               "licenseConcluded": "NOASSERTION", "licenseDeclared": "PostgreSQL"}],
 "files": [{"SPDXID": "SPDXRef-File-geos", "fileName": "/lib/$1_geos.so"},
           {"SPDXID": "SPDXRef-File-control", "fileName": "./share/extension/sig_$1.control"}],
 "relationships": [{"spdxElementId": "SPDXRef-Package-geos", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-File-geos"},
                   {"spdxElementId": "SPDXRef-File-control", "relationshipType": "CONTAINED_BY", "relatedSpdxElement": "SPDXRef-Package-ext"}]}
JSON
}
cosign_attest() { # cosign_attest KEY IMAGE TYPE PREDICATE
    "$COSIGN" attest --key "$FX/keys/$1.key" --type "$3" --predicate "$4" --tlog-upload=false \
        --allow-insecure-registry --allow-http-registry --yes "$REG/$2@${DIGEST[$2]}" >"$FX/attest-$2-$3.log" 2>&1
}
for img in at_cosign at_other at_foreign at_v1; do spdx_for $img; done
cosign_attest k1 at_cosign spdxjson "$FX/spdx-at_cosign.json" || { cat "$FX/attest-at_cosign-spdxjson.log"; die "cosign attest spdxjson failed"; }
cosign_attest k1 at_cosign slsaprovenance "$FX/slsa02.json" || { cat "$FX/attest-at_cosign-slsaprovenance.log"; die "cosign attest slsaprovenance failed"; }
cosign_attest k2 at_other slsaprovenance "$FX/slsa02.json" || die "cosign attest (k2) failed"
cosign_attest k2 at_other spdxjson "$FX/spdx-at_other.json" || die "cosign attest (k2) failed"
HAVE_SLSA1=0
if cosign_attest k1 at_v1 slsaprovenance1 "$FX/slsa1.json"; then HAVE_SLSA1=1; else
    say "this cosign has no --type slsaprovenance1 ($(tail -n1 "$FX/attest-at_v1-slsaprovenance1.log")): SLSA v1 is covered by the BuildKit-free unit tests only"
fi
# A CycloneDX SBOM (`cosign attest --type cyclonedx`), as syft writes one: libgeos with its file
# as a nested file component, the extension with its control file as an evidence occurrence.
cat >"$FX/cdx-at_v1.json" <<'JSON'
{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
 "metadata": {"component": {"type": "container", "bom-ref": "image", "name": "at_v1"}},
 "components": [
   {"type": "library", "bom-ref": "pkg:generic/libgeos@3.13.1", "name": "libgeos", "version": "3.13.1",
    "supplier": {"name": "OSGeo"}, "licenses": [{"license": {"id": "LGPL-2.1-only"}}], "purl": "pkg:generic/libgeos@3.13.1",
    "components": [{"type": "file", "name": "/lib/at_v1_geos.so"}]},
   {"type": "application", "name": "sig_at_v1", "version": "1.0", "licenses": [{"expression": "PostgreSQL OR MIT"}],
    "evidence": {"occurrences": [{"location": "./share/extension/sig_at_v1.control"}]}}]}
JSON
cosign_attest k1 at_v1 cyclonedx "$FX/cdx-at_v1.json" || { cat "$FX/attest-at_v1-cyclonedx.log"; die "cosign attest cyclonedx failed"; }
# The bundle form: an SPDX attestation in a Sigstore bundle attached as an OCI 1.1 referrer.
spdx_for at_bundle
"$COSIGN" attest --new-bundle-format --type spdxjson --predicate "$FX/spdx-at_bundle.json" --key "$FX/keys/k1.key" \
    --tlog-upload=false --allow-insecure-registry --allow-http-registry --yes "$REG/at_bundle@${DIGEST[at_bundle]}" \
    >"$FX/attest-at_bundle.log" 2>&1 || { cat "$FX/attest-at_bundle.log"; die "cosign attest --new-bundle-format at_bundle failed"; }
att_tag() { local d=${DIGEST[$1]}; echo "${d/:/-}.att"; }
skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/at_cosign:$(att_tag at_cosign)" "docker://$REG/at_foreign:$(att_tag at_foreign)"
# The same attestations in an OCI layout (air-gapped).
skopeo copy -q --preserve-digests --src-tls-verify=false \
    "docker://$REG/at_cosign@${DIGEST[at_cosign]}" "oci:$L/at_layout:v1"
skopeo copy -q --preserve-digests --src-tls-verify=false \
    "docker://$REG/at_cosign:$(att_tag at_cosign)" "oci:$L/at_layout:$(att_tag at_cosign)"
cp -a "$E/at_cosign" "$E/at_layout"

# Air-gapped: image "signed" and its signature copied into an OCI layout.
skopeo copy -q --preserve-digests --src-tls-verify=false \
    "docker://$REG/signed@${DIGEST[signed]}" "oci:$L/airgap:v1"
skopeo copy -q --preserve-digests --src-tls-verify=false \
    "docker://$REG/signed:$(sig_tag signed)" "oci:$L/airgap:$(sig_tag signed)"
cp -a "$E/signed" "$E/airgap"
# The same for the bundle form: the image and its referrers tag.
skopeo copy -q --preserve-digests --src-tls-verify=false \
    "docker://$REG/b_signed@${DIGEST[b_signed]}" "oci:$L/b_airgap:v1"
skopeo copy -q --all --src-tls-verify=false \
    "docker://$REG/b_signed:$(ref_tag b_signed)" "oci:$L/b_airgap:$(ref_tag b_signed)"
cp -a "$E/b_signed" "$E/b_airgap"
cp -a "$E/b_signed" "$E/b_api"
# An unsigned layout, and an image whose registry is gone.
cp -a "$E/unsigned" "$E/airgap_unsigned"
cp -a "$E/signed" "$E/gone"
chmod -R a+rX "$E" "$L"

# Metadata: "labelled" says it is for this server (PostgreSQL 18 on this OS) and carries provenance
# and SBOM attestations in its index; "oldmajor" says PostgreSQL 17 on another OS.
OS_CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
BK_IMAGES=(bk bk_signed bk_tampered bk_other)
for img in labelled oldmajor "${BK_IMAGES[@]}"; do
    d=$E/$img/share/extension
    mkdir -p "$d" "$E/$img/lib"
    printf "default_version = '1.0'\nrelocatable = true\n" >"$d/sig_$img.control"
    printf -- "-- sig_%s 1.0\n" "$img" >"$d/sig_$img--1.0.sql"
    case $img in bk*) printf 'a library, as far as an SBOM is concerned\n' >"$E/$img/lib/${img}_geos.so" ;; esac
    umoci init --layout "$L/$img" >/dev/null
    umoci new --image "$L/$img:v1" >/dev/null
    umoci insert "${rootless[@]}" --image "$L/$img:v1" "$E/$img" / >/dev/null
done
umoci config --image "$L/labelled:v1" --config.label io.cloudnativepg.image.base.pgmajor=18 \
    --config.label "io.cloudnativepg.image.base.os=$OS_CODENAME" \
    --manifest.annotation org.opencontainers.image.source=https://example.com/pgext/labelled
python3 "$REPO/tests/signatures/attest.py" "$L/labelled" v1 >/dev/null
# BuildKit's attestation manifests (see attest.py): unsigned (bk), in an index signed by k1 and
# pushed to the registry (bk_signed), a statement altered after the index named it (bk_tampered),
# statements about another digest (bk_other).
python3 "$REPO/tests/signatures/attest.py" "$L/bk" v1 >/dev/null
BK_SIGNED=$(python3 "$REPO/tests/signatures/attest.py" "$L/bk_signed" v1)
python3 "$REPO/tests/signatures/attest.py" "$L/bk_tampered" v1 tamper >/dev/null
python3 "$REPO/tests/signatures/attest.py" "$L/bk_other" v1 other >/dev/null
skopeo copy -q --all --preserve-digests --dest-tls-verify=false "oci:$L/bk_signed:v1" "docker://$REG/bk_signed:v1" \
    || die "skopeo copy of the bk_signed index failed"
"$COSIGN" sign --key "$FX/keys/k1.key" --tlog-upload=false --allow-insecure-registry --allow-http-registry \
    --yes "$REG/bk_signed@$BK_SIGNED" >"$FX/sign-bk_signed.log" 2>&1 || { cat "$FX/sign-bk_signed.log"; die "cosign sign bk_signed failed"; }
umoci config --image "$L/oldmajor:v1" --config.label io.cloudnativepg.image.base.pgmajor=17 \
    --config.label io.cloudnativepg.image.base.os=bullseye
skopeo copy -q --preserve-digests --dest-tls-verify=false --digestfile "$FX/oldmajor.digest" \
    "oci:$L/oldmajor:v1" "docker://$REG/oldmajor:v1" || die "skopeo copy of oldmajor failed"
chmod -R a+rX "$E" "$L"

pins="airgap=oci:$L/airgap:v1@${DIGEST[signed]}, airgap_unsigned=oci:$L/unsigned:v1"
pins+=", labelled=oci:$L/labelled:v1, oldmajor=$REG/oldmajor:v1@$(cat "$FX/oldmajor.digest")"
pins+=", gone=127.0.0.1:1/signed:v1@${DIGEST[signed]}"
pins+=", b_airgap=oci:$L/b_airgap:v1@${DIGEST[b_signed]}"
pins+=", b_api=$PROXY/b_signed:v1@${DIGEST[b_signed]}"
pins+=", at_layout=oci:$L/at_layout:v1@${DIGEST[at_cosign]}, bk=oci:$L/bk:v1, bk_tampered=oci:$L/bk_tampered:v1"
pins+=", bk_other=oci:$L/bk_other:v1, bk_signed=$REG/bk_signed:v1@$BK_SIGNED"
for img in "${IMAGES[@]}"; do pins+=", $img=$REG/$(repo "$img"):v1@${DIGEST[$img]}"; done
cpath='$system'
lpath='$libdir'
for img in "${IMAGES[@]}" airgap airgap_unsigned gone labelled oldmajor b_airgap b_api at_layout "${BK_IMAGES[@]}"; do cpath+=":$E/$img/share"; lpath+=":$E/$img/lib"; done
owner_dir "$WORK/spool"
cat >"$FX/signatures.conf" <<CONF
shared_preload_libraries = 'pgext'
extension_control_path = '$cpath'
dynamic_library_path = '$lpath'
pgext.extensions_root = '$E'
pgext.images = '$pins'
pgext.insecure_registries = '$REG, $PROXY'
pgext.layout_directories = '$L'
pgext.trusted_keys = '$FX/keys/k1.pub'
pgext.registry_connect_timeout = 2000
pgext.check_interval = 3600
pgext.verify_interval = 0
pgext.spool_directory = '$WORK/spool'
CONF
say "starting PostgreSQL 18 in $DATA (port $PORT)"
rm -rf "$DATA"
cluster_start "$DATA" "$PORT" "$FX/signatures.conf"
psql_() { "$PG_BINDIR/psql" -X -h "$DATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -q -c "CREATE EXTENSION pgext"
# reconfigure NAME=VALUE | NAME ...: ALTER SYSTEM SET each (RESET for a bare NAME), reload, settle.
reconfigure() {
    local s args=()
    for s in "$@"; do
        if [[ $s == *=* ]]; then args+=(-c "ALTER SYSTEM SET ${s%%=*} = '${s#*=}'"); else args+=(-c "ALTER SYSTEM RESET $s"); fi
    done
    psql_ -q "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
}
verify() { psql_ -q -c "SELECT * FROM pgext.verify_image('$1')" >/dev/null; }

say "verify_images() with k1 trusted"
psql_ -q -c "SELECT name, status, error_code FROM pgext.verify_images() ORDER BY name"
sig() { psql_ -Atc "SELECT coalesce(signature, '-') || ' ' || coalesce(signed_by, '-') FROM pgext.mounted_images WHERE name = '$1'"; }
expect "signed by the trusted key" "$(sig signed)" "signed $K1"
expect "signed by another key" "$(sig other)" "untrusted -"
expect "payload altered after signing" "$(sig tampered)" "untrusted -"
expect "a genuine signature of another digest" "$(sig foreign)" "invalid -"
expect "no signature" "$(sig unsigned)" "unsigned -"
expect "air-gapped layout holding the signature" "$(sig airgap)" "signed $K1"
expect "layout without a signature" "$(sig airgap_unsigned)" "unsigned -"
expect "registry unreachable" "$(sig gone)" "unreachable -"
expect "bundle form (OCI 1.1 referrer, referrers tag schema): signed by the trusted key" "$(sig b_signed)" "signed $K1"
expect "bundle form: signed by another key" "$(sig b_other)" "untrusted -"
expect "bundle form: an attestation (another predicate type) is no signature" "$(sig b_attest)" "unsigned -"
expect "bundle form: a referrer listed for the image but about another one is not its" "$(sig b_copied)" "unsigned -"
expect "bundle form: a genuine bundle whose statement is about another image" "$(sig b_moved)" "invalid -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%is for ${DIGEST[b_signed]}, not ${DIGEST[b_moved]}%' FROM pgext.image_checks WHERE name = 'b_moved'")" "t"
expect "bundle form, air-gapped: the image and its referrers tag in an OCI layout" "$(sig b_airgap)" "signed $K1"
expect "bundle form through the referrers API (a registry without the tag schema)" "$(sig b_api)" "signed $K1"
expect "  the proxy hides the tag schema indeed" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/b_signed/manifests/$(ref_tag b_signed)")" "404"
detail=$(psql_ -Atc "SELECT signature_detail FROM pgext.image_checks WHERE name = 'foreign'")
case $detail in *"${DIGEST[signed]}"*) ok "invalid says which digest the signature is for" ;;
    *) bad "foreign's detail does not name the signed digest: $detail" ;; esac
expect "verification itself is unaffected" \
    "$(psql_ -Atc "SELECT string_agg(name || '=' || status, ',' ORDER BY name) FROM pgext.mounted_images WHERE name IN ('signed', 'other', 'tampered')")" \
    "other=verified,signed=verified,tampered=verified"

say "image metadata"
meta() { psql_ -Atc "SELECT $2 FROM pgext.mounted_images WHERE name = '$1'"; }
expect "an index with an attestation manifest verifies (the platform's manifest)" "$(meta labelled status)" "verified"
expect "attestations named by their predicate types" "$(meta labelled "image_metadata->'attestations'")" '["provenance", "sbom"]'
expect "labels and the server agree" \
    "$(meta labelled "(SELECT string_agg(j->>'what' || '=' || coalesce(j->>'agrees', 'null'), ',') FROM jsonb_array_elements(image_metadata->'judged') j)")" \
    "pg_major=true,os=true,platform=true"
expect "manifest annotations are shown" \
    "$(meta labelled "image_metadata->'annotations'->>'org.opencontainers.image.source'")" "https://example.com/pgext/labelled"
expect "no image_* problem when everything agrees" "$(meta labelled "array_to_string(problems, ',')")" ""
expect "another major and OS are problems (from a registry)" "$(meta oldmajor "array_to_string(problems, ',')")" \
    "image_pg_major_mismatch,image_os_mismatch"
expect "  the major mismatch is an error that says both" \
    "$(meta oldmajor "(SELECT d->>'severity' || ': ' || (d->>'message') FROM jsonb_array_elements(problem_details) d WHERE d->>'code' = 'image_pg_major_mismatch')")" \
    "error: the image is built for PostgreSQL 17 (io.cloudnativepg.image.base.pgmajor), the server is PostgreSQL 18"
expect "an image without labels is not judged" \
    "$(meta signed "(SELECT j->>'agrees' IS NULL FROM jsonb_array_elements(image_metadata->'judged') j WHERE j->>'what' = 'pg_major')")" "t"
expect "the platform of an image is its config's" "$(meta signed "image_metadata->>'platform'")" "linux/$(dpkg --print-architecture)"
psql_ -q -c "SELECT name, status FROM pgext.recheck_image('labelled')" >/dev/null
expect "a recheck keeps the recorded metadata" "$(meta labelled "image_metadata->'attestations'")" '["provenance", "sbom"]'

say "a recheck (no source read) keeps the recorded signature"
psql_ -q -c "SELECT name, status FROM pgext.recheck_image('signed')" >/dev/null
expect "signature after recheck" "$(sig signed)" "signed $K1"

say "trusted keys from a directory; then none"
reconfigure "pgext.trusted_keys=$FX/keys/both"
verify other
expect "k2 trusted through the directory" "$(sig other)" "signed $K2"
reconfigure "pgext.trusted_keys="
verify signed
expect "no trusted key at all" "$(sig signed)" "untrusted -"
reconfigure "pgext.trusted_keys=$FX/keys/k1.key"
verify signed
expect "a private key file is no trusted key" "$(sig signed)" "error -"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub"
psql_ -q -c "SELECT * FROM pgext.verify_images()" >/dev/null
expect "k1 again" "$(sig signed)" "signed $K1"
expect "k2 no longer trusted" "$(sig other)" "untrusted -"

say "the background worker's verifications record signatures too"
psql_ -q -c "DELETE FROM pgext.image_attestations WHERE image = 'labelled'" -c "DELETE FROM pgext.image_packages WHERE image = 'labelled'" \
    -c "DELETE FROM pgext.image_provenance WHERE image = 'labelled'"
reconfigure "pgext.trusted_keys=$FX/keys/both" pgext.verify_interval=1
sleep 1 # a verification is due at once: let the worker's next cycle come
expect "a worker cycle ran" "$(psql_ -Atc "SELECT pgext.check_now(true)")" "t"
expect "worker: the attestations are recorded too (BuildKit's, unsigned)" \
    "$(psql_ -Atc "SELECT string_agg(kind || '/' || trust, ',' ORDER BY attestation) FROM pgext.image_attestations WHERE image = 'labelled'")" \
    "provenance/unsigned,sbom/unsigned"
expect "  with their packages and provenance" \
    "$(psql_ -Atc "SELECT (SELECT count(*) FROM pgext.image_packages WHERE image = 'labelled') || ' ' || (SELECT count(*) FROM pgext.image_provenance WHERE image = 'labelled')")" "1 1"
expect "worker: k2 trusted through the directory" "$(sig other)" "signed $K2"
expect "image_status shows the worker's signature verdicts" \
    "$(psql_ -Atc "SELECT string_agg(image || '=' || coalesce(signature, '-'), ',' ORDER BY image) FROM pgext.image_status WHERE image IN ('other', 'unsigned', 'foreign')")" \
    "foreign=invalid,other=signed,unsigned=unsigned"
expect "health names an unsigned image when keys are trusted" \
    "$(psql_ -Atc "SELECT count(*) FROM pgext.health h, unnest(h.reasons) r WHERE r LIKE 'image unsigned: signature unsigned%'")" "1"
expect "and an invalid signature" \
    "$(psql_ -Atc "SELECT count(*) FROM pgext.health h, unnest(h.reasons) r WHERE r LIKE 'image foreign: a signature is invalid%'")" "1"
expect "the cycle's findings record them" \
    "$(psql_ -Atc "SELECT string_agg(DISTINCT image || ':' || code, ',' ORDER BY image || ':' || code) FROM pgext.findings WHERE code IN ('not_signed', 'signature_invalid') AND image IN ('unsigned', 'foreign', 'signed')")" \
    "foreign:signature_invalid,unsigned:not_signed"
expect "the CNPG metric query reads it" \
    "$(psql_ -Atc "SELECT COALESCE((i.signature = 'signed')::int, 0) FROM pgext.image_status() i WHERE image = 'other'")" "1"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub" pgext.verify_interval
psql_ -q -c "SELECT * FROM pgext.verify_images()" >/dev/null
expect "k2 untrusted again" "$(sig other)" "untrusted -"

say "pgext.require = signed"
enforce() { # enforce EXTENSION: prints the SQLSTATE CREATE EXTENSION ends with (00000 on success)
    local out
    if out=$(psql_ -q -v VERBOSITY=verbose -c "SET pgext.enforce = on" -c "SET pgext.require = 'pinned,signed'" \
        -c "CREATE EXTENSION $1" 2>&1); then
        echo 00000
    else
        sed -nE 's/^ERROR:  ([0-9A-Z]{5}):.*/\1/p' <<<"$out" | head -n1
    fi
}
expect "CREATE EXTENSION from the signed image" "$(enforce sig_signed)" "00000"
expect "CREATE EXTENSION from an image signed by another key" "$(enforce sig_other)" "42501"
expect "CREATE EXTENSION from an unsigned image" "$(enforce sig_unsigned)" "42501"
why=$(psql_ -v ON_ERROR_STOP=0 -c "SET pgext.enforce = on" -c "SET pgext.require = 'signed'" \
    -c "CREATE EXTENSION sig_tampered" 2>&1 || true)
case $why in *signed*untrusted*|*untrusted*signed*) ok "the refusal names the condition and the status" ;;
    *) bad "refusal of sig_tampered does not say signed/untrusted: $why" ;; esac

say "keyless: certificates from the test PKI, the identity policy, transparency-log entries"
reconfigure "pgext.trusted_root=$P/trusted_root.json" \
    "pgext.trusted_identities=issuer=$ISSUER subject~^https://github\.com/pgext/images/ images=$REG/kl_; issuer=$ISSUER subject~^https://github\.com/pgext/images/ images=$REG/b_kl"
psql_ -q -c "SELECT name, status FROM pgext.verify_images() WHERE name LIKE 'kl\_%'" >/dev/null
psql_ -c "SELECT name, signature, signature_detail FROM pgext.image_checks WHERE name LIKE 'kl\_%' ORDER BY name"
WHO="$SUBJECT (issuer $ISSUER)"
expect "a Rekor entry signed by the trusted log: signed, by the workflow identity" "$(sig kl_tlog)" "signed $WHO"
expect "  when: the entry's integrated time" \
    "$(psql_ -Atc "SELECT abs(extract(epoch FROM now() - signed_at)) < 600 FROM pgext.mounted_images WHERE name = 'kl_tlog'")" "t"
expect "no log entry while one is required" "$(sig kl_signed)" "untrusted -"
expect "  and the detail says so" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%without a transparency-log entry%' FROM pgext.image_checks WHERE name = 'kl_signed'")" "t"
expect "an entry signed by a log the root does not list" "$(sig kl_badtlog)" "invalid -"
expect "a payload altered after signing (the certificate's key proves it)" "$(sig kl_tampered)" "invalid -"
expect "a genuine log entry of another payload" "$(sig kl_replayed)" "invalid -"
verify b_kl_tlog
verify b_kl_replayed
verify b_kl
expect "bundle form: a Rekor dsse entry signed by the trusted log in the bundle" "$(sig b_kl_tlog)" "signed $WHO"
expect "  signed at the entry's integrated time" \
    "$(psql_ -Atc "SELECT abs(extract(epoch FROM now() - signed_at)) < 600 FROM pgext.mounted_images WHERE name = 'b_kl_tlog'")" "t"
expect "bundle form: an entry of another statement" "$(sig b_kl_replayed)" "invalid -"
expect "bundle form: no entry while one is required" "$(sig b_kl)" "untrusted -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%entry is for another payload%' FROM pgext.image_checks WHERE name = 'kl_replayed'")" "t"
reconfigure pgext.keyless_require_tlog=off
psql_ -q -c "SELECT name, status FROM pgext.verify_images() WHERE name LIKE 'kl\_%'" >/dev/null
psql_ -c "SELECT name, signature, signature_detail FROM pgext.image_checks WHERE name LIKE 'kl\_%' ORDER BY name"
expect "without a log (a site PKI): cosign's keyless-style signature is signed" "$(sig kl_signed)" "signed $WHO"
expect "  no signing time without a log" "$(psql_ -Atc "SELECT signed_at IS NULL FROM pgext.mounted_images WHERE name = 'kl_signed'")" "t"
expect "another workflow's identity" "$(sig kl_wrongid)" "untrusted -"
expect "  named in the detail" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%someone-else/fork%no pgext.trusted_identities rule%' FROM pgext.image_checks WHERE name = 'kl_wrongid'")" "t"
expect "an expired certificate" "$(sig kl_expired)" "untrusted -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%expired%' FROM pgext.image_checks WHERE name = 'kl_expired'")" "t"
expect "a certificate from a CA the root does not list" "$(sig kl_otherca)" "untrusted -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%does not chain%' FROM pgext.image_checks WHERE name = 'kl_otherca'")" "t"
expect "key-based signatures are still judged alongside" "$(sig signed)" "signed $K1"
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT images=$REG/elsewhere/"
verify kl_signed
expect "a rule for other images does not trust this one" "$(sig kl_signed)" "untrusted -"
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT"
verify kl_signed
expect "an exact subject for every image" "$(sig kl_signed)" "signed $WHO"
verify b_kl
expect "the bundle form with a certificate (keyless-style, no log)" "$(sig b_kl)" "signed $WHO"
expect "CREATE EXTENSION from the keyless-signed image under pgext.require = signed" "$(enforce sig_kl_signed)" "00000"
expect "CREATE EXTENSION from the image signed by another identity" "$(enforce sig_kl_wrongid)" "42501"
say "the cloudnative-pg trust profile (a mirror of ghcr.io/cloudnative-pg/ at $REG/cnpg/)"
CNPG_WHO="$CNPG_SAN (issuer $ISSUER)"
verify cnpg_ok
expect "no profile: CloudNativePG's workflow is nobody the site trusts" "$(sig cnpg_ok)" "untrusted -"
reconfigure "pgext.trust_profile=cloudnative-pg images=$REG/cnpg/"
for img in cnpg_ok cnpg_branch cnpg_fork cnpg_outside kl_signed; do verify $img; done
expect "profile on: signed by the main branch of postgres-extensions-containers' bake_targets.yml" "$(sig cnpg_ok)" "signed $CNPG_WHO"
expect "  another branch of the same workflow is not trusted" "$(sig cnpg_branch)" "untrusted -"
expect "  the same workflow in a fork is not trusted" "$(sig cnpg_fork)" "untrusted -"
expect "  the workflow's signature on an image outside the profile's images is not trusted" "$(sig cnpg_outside)" "untrusted -"
expect "  the site's own rules still count alongside" "$(sig kl_signed)" "signed $WHO"
expect "CREATE EXTENSION under pgext.require = signed, trusted by the profile alone" "$(enforce sig_cnpg_ok)" "00000"
expect "CREATE EXTENSION from the branch-signed image" "$(enforce sig_cnpg_branch)" "42501"
reconfigure "pgext.trust_profile=cloudnative-pg"
verify cnpg_ok
expect "the profile's own scope is ghcr.io/cloudnative-pg/: not this registry" "$(sig cnpg_ok)" "untrusted -"
expect "  the detail names both settings" \
    "$(psql_ -Atc "SELECT signature_detail LIKE '%no pgext.trusted_identities rule (nor pgext.trust_profile)%' FROM pgext.image_checks WHERE name = 'cnpg_ok'")" "t"
reconfigure "pgext.trust_profile=cnpg"
verify cnpg_ok
expect "an unknown profile is an error, not a weaker policy" "$(sig cnpg_ok)" "error -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT signature_detail LIKE 'pgext.trust_profile: %unknown trust profile%' FROM pgext.image_checks WHERE name = 'cnpg_ok'")" "t"
reconfigure pgext.trust_profile
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject~("
verify kl_signed
expect "a rule that does not parse is an error, not a weaker policy" "$(sig kl_signed)" "error -"
printf '{"certificateAuthorities": []}' >"$FX/empty_root.json"
chmod a+r "$FX/empty_root.json"
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT" "pgext.trusted_root=$FX/empty_root.json"
verify kl_signed
expect "a trust root without authorities is an error" "$(sig kl_signed)" "error -"
reconfigure pgext.trusted_root pgext.trusted_identities pgext.keyless_require_tlog
verify kl_tlog
expect "no trust root: a keyless signature is untrusted" "$(sig kl_tlog)" "untrusted -"

say "attestations: SBOMs and build provenance, judged like signatures"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub" pgext.trusted_root pgext.trusted_identities pgext.trust_profile
for img in at_cosign at_other at_foreign at_v1 at_bundle at_layout bk bk_signed bk_tampered bk_other b_attest; do verify $img; done
psql_ -c "SELECT image, attestation, source, kind, trust, signed_by, left(detail, 60) AS detail FROM pgext.image_attestations WHERE image LIKE 'at\_%' OR image LIKE 'bk%' ORDER BY 1, 2"
att() { # att IMAGE: kind/source/trust of each attestation, in order
    psql_ -Atc "SELECT coalesce(string_agg(kind || '/' || source || '/' || trust, ',' ORDER BY attestation), '-') FROM pgext.image_attestations WHERE image = '$1'"
}
expect "cosign attest: SBOM and provenance signed by the trusted key" "$(att at_cosign)" "sbom/cosign/signed,provenance/cosign/signed"
expect "  signed_by is the key" \
    "$(psql_ -Atc "SELECT DISTINCT signed_by FROM pgext.image_attestations WHERE image = 'at_cosign'")" "$K1"
expect "cosign attest by another key: untrusted" "$(att at_other)" "provenance/cosign/untrusted,sbom/cosign/untrusted"
expect "another image's attestations under this image's .att tag: ignored" "$(att at_foreign)" "-"
expect "  and said so" \
    "$(psql_ -Atc "SELECT attestations_detail FROM pgext.image_checks WHERE name = 'at_foreign'")" "no attestation; 2 for another digest ignored"
expect "cosign attestations in an OCI layout" "$(att at_layout)" "sbom/cosign/signed,provenance/cosign/signed"
expect "cosign attest --new-bundle-format: an SBOM in a referrer bundle, signed" "$(att at_bundle)" "sbom/referrer/signed"
expect "a referrer bundle whose SPDX statement holds no SPDX document: invalid" "$(att b_attest)" "unreadable/referrer/invalid"
expect "BuildKit attestation manifests: reported, unsigned" "$(att bk)" "provenance/buildkit/unsigned,sbom/buildkit/unsigned"
expect "  with no signer" "$(psql_ -Atc "SELECT count(signed_by) FROM pgext.image_attestations WHERE image = 'bk'")" "0"
expect "BuildKit attestations in an index the trusted key signed" "$(att bk_signed)" "provenance/buildkit/index_signed,sbom/buildkit/index_signed"
expect "a BuildKit statement altered after the index named it: invalid" "$(att bk_tampered)" "provenance/buildkit/unsigned,unreadable/buildkit/invalid"
expect "  said as such" \
    "$(psql_ -Atc "SELECT detail LIKE '%tampered%' FROM pgext.image_attestations WHERE image = 'bk_tampered' AND trust = 'invalid'")" "t"
expect "BuildKit statements about another digest: ignored" "$(att bk_other)" "-"
expect "the verification itself is unaffected" \
    "$(psql_ -Atc "SELECT string_agg(name || '=' || status, ',' ORDER BY name) FROM pgext.image_checks WHERE name IN ('at_cosign', 'bk', 'bk_signed', 'bk_tampered')")" \
    "at_cosign=verified,bk=verified,bk_signed=verified,bk_tampered=verified"
expect "which images ship libgeos 3.13? one query" \
    "$(psql_ -Atc "SELECT string_agg(DISTINCT image, ',' ORDER BY image) FROM pgext.image_packages WHERE name = 'libgeos' AND version LIKE '3.13%'")" \
    "at_bundle,at_cosign,at_layout,at_other,at_v1,bk,bk_signed,labelled"
expect "  the package's purl, license, supplier and files" \
    "$(psql_ -Atc "SELECT purl || ' ' || license || ' ' || supplier || ' ' || array_to_string(files, ',') FROM pgext.image_packages WHERE image = 'at_cosign' AND name = 'libgeos'")" \
    "pkg:generic/libgeos@3.13.1 LGPL-2.1-only Organization: OSGeo lib/at_cosign_geos.so"
expect "  a CONTAINED_BY file and a declared license" \
    "$(psql_ -Atc "SELECT license || ' ' || array_to_string(files, ',') FROM pgext.image_packages WHERE image = 'at_cosign' AND name = 'sig_at_cosign'")" \
    "PostgreSQL share/extension/sig_at_cosign.control"
expect "libraries joined to the package that owns their file" \
    "$(psql_ -Atc "SELECT string_agg(image || ':' || basename || '=' || package || '@' || version || '/' || trust, ',' ORDER BY image) FROM pgext.library_packages WHERE image IN ('at_cosign', 'at_v1', 'bk', 'bk_signed')")" \
    "at_cosign:at_cosign_geos.so=libgeos@3.13.1/signed,at_v1:at_v1_geos.so=libgeos@3.13.1/signed,bk:bk_geos.so=libgeos@3.13.1/unsigned,bk_signed:bk_signed_geos.so=libgeos@3.13.1/index_signed"
want_v1="sbom/cosign/signed"
[ "$HAVE_SLSA1" = 1 ] && want_v1="provenance/cosign/signed,$want_v1"
expect "cosign attest --type cyclonedx: a CycloneDX SBOM, signed" "$(att at_v1)" "$want_v1"
expect "  its components: bom-ref, purl, license, supplier, a nested file component" \
    "$(psql_ -Atc "SELECT concat_ws(' ', package_id, purl, license, supplier, array_to_string(files, ',')) FROM pgext.image_packages WHERE image = 'at_v1' AND name = 'libgeos'")" \
    "pkg:generic/libgeos@3.13.1 pkg:generic/libgeos@3.13.1 LGPL-2.1-only OSGeo lib/at_v1_geos.so"
expect "  a license expression and an evidence occurrence; the image itself is not a package" \
    "$(psql_ -Atc "SELECT string_agg(concat_ws(' ', name, license, array_to_string(files, ',')), ';' ORDER BY name) FROM pgext.image_packages WHERE image = 'at_v1'")" \
    "libgeos LGPL-2.1-only lib/at_v1_geos.so;sig_at_v1 PostgreSQL OR MIT share/extension/sig_at_v1.control"
expect "provenance v0.2 (cosign): builder, source, commit, workflow, build time, signer" \
    "$(psql_ -Atc "SELECT concat_ws(' ', builder_id, source_repository, source_commit, workflow, to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS'), signed_by) FROM pgext.image_provenance WHERE image = 'at_cosign'")" \
    "https://ci.example/pgext/builder https://git.example/pgext/images 89abcdef89abcdef89abcdef89abcdef89abcdef .ci/release.yml 2026-02-01T00:10:00 $K1"
expect "provenance v0.2 (BuildKit, config source)" \
    "$(psql_ -Atc "SELECT concat_ws(' ', builder_id, source_repository, source_commit, workflow, trust, coalesce(signed_by, 'NULL')) FROM pgext.image_provenance WHERE image = 'bk'")" \
    "https://ci.example/pgext/builder https://git.example/pgext/images 0123456789abcdef0123456789abcdef01234567 Dockerfile unsigned NULL"
if [ "$HAVE_SLSA1" = 1 ]; then
    expect "provenance v1 (cosign attest --type slsaprovenance1)" \
        "$(psql_ -Atc "SELECT concat_ws(' ', predicate_type, builder_id, source_repository, source_commit, workflow, trust) FROM pgext.image_provenance WHERE image = 'at_v1'")" \
        "https://slsa.dev/provenance/v1 https://ci.example/pgext/builder-v1 https://git.example/pgext/images fedcba98fedcba98fedcba98fedcba98fedcba98 .github/workflows/release.yml@refs/heads/main signed"
fi
psql_ -q -c "SELECT name, status FROM pgext.recheck_image('at_cosign')" >/dev/null
expect "a recheck keeps the recorded attestations" "$(att at_cosign)" "sbom/cosign/signed,provenance/cosign/signed"

say "pgext.require = provenance, with pgext.trusted_builders"
enforce_prov() { # enforce_prov EXTENSION: the SQLSTATE of CREATE EXTENSION under require = pinned,provenance
    local out
    if out=$(psql_ -q -v VERBOSITY=verbose -c "SET pgext.enforce = on" -c "SET pgext.require = 'pinned,provenance'" \
        -c "CREATE EXTENSION $1" -c "DROP EXTENSION $1" 2>&1); then
        echo 00000
    else
        sed -nE 's/^ERROR:  ([0-9A-Z]{5}):.*/\1/p' <<<"$out" | head -n1
    fi
}
expect "no pgext.trusted_builders: nothing is accepted" "$(enforce_prov sig_at_cosign)" "42501"
reconfigure "pgext.trusted_builders=builder=https://ci.example/pgext/builder source=https://git.example/pgext/images"
expect "signed provenance by a trusted builder from the trusted source: allowed" "$(enforce_prov sig_at_cosign)" "00000"
expect "BuildKit provenance in an index signed by a trusted key: allowed" "$(enforce_prov sig_bk_signed)" "00000"
expect "unsigned BuildKit provenance: refused" "$(enforce_prov sig_bk)" "42501"
expect "provenance signed by an untrusted key: refused" "$(enforce_prov sig_at_other)" "42501"
expect "provenance only for another digest: refused" "$(enforce_prov sig_at_foreign)" "42501"
why=$(psql_ -v ON_ERROR_STOP=0 -c "SET pgext.enforce = on" -c "SET pgext.require = 'provenance'" \
    -c "CREATE EXTENSION sig_bk" 2>&1 || true)
case $why in *"without trusted provenance"*"found no trusted build provenance"*unsigned*) ok "the refusal names the condition and the evidence" ;;
    *) bad "refusal of sig_bk does not name provenance: $why" ;; esac
reconfigure "pgext.trusted_builders=builder=https://ci.example/pgext/builder source=https://git.example/pgext/images-fork"
expect "a source outside the rule's prefix: refused" "$(enforce_prov sig_at_cosign)" "42501"
why=$(psql_ -v ON_ERROR_STOP=0 -c "SET pgext.enforce = on" -c "SET pgext.require = 'provenance'" \
    -c "CREATE EXTENSION sig_at_cosign" 2>&1 || true)
case $why in *"no pgext.trusted_builders rule accepts"*) ok "  said as such" ;;
    *) bad "refusal of sig_at_cosign does not say no rule accepts it: $why" ;; esac
reconfigure "pgext.trusted_builders=builder~^https://ci\.example/pgext/"
expect "a builder regular expression without a source: allowed" "$(enforce_prov sig_at_cosign)" "00000"
reconfigure "pgext.trusted_builders=builder~("
expect "rules that do not parse accept nothing" "$(enforce_prov sig_at_cosign)" "42501"
reconfigure pgext.trusted_builders

say "re-verification without re-downloading (the registry's access log counts the requests)"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub"
layers_of() { # layers_of IMAGE: its layer digests, as an alternation
    curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/$1/manifests/${DIGEST[$1]}" \
        | python3 -c 'import json, sys; print("|".join(l["digest"] for l in json.load(sys.stdin)["layers"]))'
}
[ -n "$(layers_of rv)" ] || die "no layer digests for rv"
mark() { wc -l <"$FX/registry/registry.log"; }
# since MARK KIND [IMAGE]: requests logged after MARK, of IMAGE's (rv's) layers (layers) or of
# anything (all)
since() {
    local pattern='.'
    [ "$2" = layers ] && pattern="/v2/${3:-rv}/blobs/($(layers_of "${3:-rv}"))"
    tail -n +"$(($1 + 1))" "$FX/registry/registry.log" | grep -cE "\"(GET|HEAD) [^\"]*$pattern" || true
}
rv_status() { psql_ -Atc "SELECT status || ' ' || coalesce(error_code, '-') FROM pgext.image_checks WHERE name = 'rv'"; }
built_at() { psql_ -Atc "SELECT tree_built_at FROM pgext.image_checks WHERE name = 'rv'"; }
m=$(mark)
psql_ -q -c "SET pgext.reuse_recorded_trees = off" -c "SELECT * FROM pgext.verify_image('rv')" >/dev/null
expect "reuse off: the layers are downloaded (the log sees layer requests)" "$(( $(since "$m" layers) > 0 ))" "1"
first_built=$(built_at)
m=$(mark)
verify rv
expect "a second verification of an unchanged pin: verified" "$(rv_status)" "verified -"
expect "  with no layer request" "$(since "$m" layers)" "0"
expect "  but the manifest is read again" "$(( $(since "$m" all) > 0 ))" "1"
expect "  and the expected tree is the recorded one (not rebuilt)" "$(built_at)" "$first_built"
expect "  bound to the platform's manifest" \
    "$(psql_ -Atc "SELECT manifest_digest = '${DIGEST[rv]}' AND tree_format IS NOT NULL FROM pgext.image_checks WHERE name = 'rv'")" "t"
reconfigure "pgext.trusted_keys=$FX/keys/both"
m=$(mark)
verify other
expect "a changed trust setting re-judges the signature" "$(sig other)" "signed $K2"
expect "  with no layer request of an image verified before" \
    "$(since "$m" layers other)" "0"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub"
cp -a "$E/rv/share/extension/sig_rv.control" "$FX/sig_rv.control.orig"
sed -i 's/image rv/image RV/' "$E/rv/share/extension/sig_rv.control"
m=$(mark)
verify rv
expect "a changed byte in the mount: drift" "$(rv_status)" "drift -"
expect "  with no layer request" "$(since "$m" layers)" "0"
expect "  the difference is the file" \
    "$(psql_ -Atc "SELECT string_agg(kind || ' ' || path, ',') FROM pgext.image_differences WHERE name = 'rv'")" \
    "modified share/extension/sig_rv.control"
cp -a "$FX/sig_rv.control.orig" "$E/rv/share/extension/sig_rv.control"
verify rv
expect "restored: verified again" "$(rv_status)" "verified -"
skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/other:v1" "docker://$REG/rv:v1"
m=$(mark)
verify rv
expect "the tag moved: tag_moved" "$(rv_status)" "tag_moved -"
expect "  with no layer request" "$(since "$m" layers)" "0"
expect "  and still judged against the pinned digest's recorded tree" "$(built_at)" "$first_built"

say "re-verification reads manifests only: configs, signatures and attestations are kept by digest"
# blobs_since MARK REPO / manifests_since MARK REPO: requests for REPO's blobs / manifests
# (referrers included) logged after MARK.
blobs_since() { tail -n +"$(($1 + 1))" "$FX/registry/registry.log" | grep -cE "\"(GET|HEAD) /v2/$2/blobs/" || true; }
manifests_since() { tail -n +"$(($1 + 1))" "$FX/registry/registry.log" | grep -cE "\"(GET|HEAD) /v2/$2/(manifests|referrers)/" || true; }
summary() { # summary IMAGE: status, signature and attestations as recorded
    psql_ -Atc "SELECT c.status || ' ' || coalesce(i.signature, '-') || ' ' || coalesce(i.signed_by, '-') FROM pgext.image_checks c JOIN pgext.mounted_images i USING (name) WHERE name = '$1'"
    att "$1"
}
BLOBS=$DATA/pg_stat_tmp/pgext_blobs
rm -rf "$BLOBS"
# A signed image (cosign's .sig), cosign attestations (.att), BuildKit attestations in a signed
# index, a Sigstore bundle found through the referrers API.
for img in signed at_cosign bk_signed b_api; do
    repo_=$img
    [ "$img" = b_api ] && repo_=b_signed
    m=$(mark)
    verify "$img"
    expect "$img: a first verification (nothing kept) downloads its small blobs" "$(( $(blobs_since "$m" "$repo_") > 0 ))" "1"
    first_summary=$(summary "$img")
    m=$(mark)
    verify "$img"
    expect "$img: verified again with no blob request at all" "$(blobs_since "$m" "$repo_")" "0"
    expect "  only manifests" "$(( $(manifests_since "$m" "$repo_") > 0 ))" "1"
    expect "  and the same verdicts, judged again" "$(summary "$img")" "$first_summary"
done
expect "every kept blob is named by its digest" \
    "$(find "$BLOBS" -type f | while read -r f; do [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "sha256:$(basename "$f")" ] || echo "$f"; done)" ""
# A kept blob that no longer hashes to its name is not used: downloaded again, same verdict.
victims=$(find "$BLOBS" -type f | wc -l)
for f in $(find "$BLOBS" -type f); do printf 'x' | dd of="$f" bs=1 seek=0 conv=notrunc status=none; done
m=$(mark)
verify at_cosign
expect "altered kept blobs ($victims) are not served: downloaded again" "$(( $(blobs_since "$m" at_cosign) > 0 ))" "1"
expect "  and the attestations are what they were" "$(att at_cosign)" "sbom/cosign/signed,provenance/cosign/signed"
m=$(mark)
verify at_cosign
expect "  then kept again" "$(blobs_since "$m" at_cosign)" "0"
# A changed trust setting re-judges what is kept, with no download.
reconfigure "pgext.trusted_keys=$FX/keys/k2.pub"
m=$(mark)
verify at_cosign
expect "another trusted key: the kept attestations are judged again (untrusted)" "$(att at_cosign)" "sbom/cosign/untrusted,provenance/cosign/untrusted"
expect "  with no blob request" "$(blobs_since "$m" at_cosign)" "0"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub"
verify at_cosign

say "signed image catalogs: cosign sign-blob --bundle over a CloudNativePG-style catalog"
CAT=$FX/catalog
mkdir -p "$CAT"
ZERO=sha256:$(printf '0%.0s' $(seq 64))
# catalog FILE OS: lists for PostgreSQL 18 the operand image, b_signed and b_other under their
# names and digests, "other" under tampered's digest; for 17, foreign (and fields pgext ignores).
catalog() {
    cat >"$1" <<YAML
apiVersion: postgresql.cnpg.io/v1
kind: ClusterImageCatalog
metadata:
  name: pgext-test
  labels:
    images.cnpg.io/os: '$2'
    images.cnpg.io/date: '20261207'
    images.cnpg.io/type: minimal
spec:
  images:
    - major: 17
      image: $REG/postgresql:17-minimal@$ZERO
      extensions:
        - name: foreign
          image:
            reference: $REG/foreign:v1@${DIGEST[foreign]}
    - major: 18
      image: $REG/postgresql:18-minimal@$ZERO
      extensions:
        - name: b_signed
          image:
            reference: $REG/b_signed:v1@${DIGEST[b_signed]}
        - name: b_other
          image:
            reference: $REG/b_other:v1@${DIGEST[b_other]}
          ld_library_path:
            - system
          env:
            - name: X
              value: \${image_root}/share
        - name: other
          image:
            reference: $REG/other:v1@${DIGEST[tampered]}
YAML
}
catalog "$CAT/catalog.yaml" "$OS_CODENAME"
blob_sign() { # blob_sign KEY FILE BUNDLE [cosign args]: a real cosign sign-blob --bundle
    local key=$1 file=$2 bundle=$3
    shift 3
    "$COSIGN" sign-blob --key "$FX/keys/$key.key" --tlog-upload=false --yes --bundle "$bundle" "$@" "$file" \
        >"$bundle.log" 2>&1 || { cat "$bundle.log"; die "cosign sign-blob $file failed"; }
}
blob_sign k1 "$CAT/catalog.yaml" "$CAT/catalog.yaml.sigstore.json" --new-bundle-format
expect "cosign verify-blob accepts the bundle (the real tool's verdict)" \
    "$("$COSIGN" verify-blob --key "$FX/keys/k1.pub" --bundle "$CAT/catalog.yaml.sigstore.json" --new-bundle-format \
        --insecure-ignore-tlog --trusted-root "$P/trusted_root.json" "$CAT/catalog.yaml" >/dev/null 2>&1 && echo ok)" "ok"
chmod -R a+rX "$CAT"
reconfigure "pgext.trusted_keys=$FX/keys/k1.pub" "pgext.catalog=$CAT/catalog.yaml"
cstatus() { psql_ -Atc "SELECT status || ' ' || coalesce(signed_by, '-') FROM pgext.catalog_status"; }
incat() { psql_ -Atc "SELECT in_catalog || ' ' || coalesce(catalog_digest, '-') FROM pgext.image_catalog WHERE name = '$1'"; }
expect "a catalog signed by the trusted key (bundle v0.3, at <catalog>.sigstore.json): verified" "$(cstatus)" "verified $K1"
expect "  it lists the operand image and three extension images for PostgreSQL 18" \
    "$(psql_ -Atc "SELECT cardinality(for_this_server) || ' ' || catalog_name || ' ' || os FROM pgext.catalog_status")" \
    "4 pgext-test $OS_CODENAME"
expect "  the file's SHA-256" "$(psql_ -Atc "SELECT sha256 FROM pgext.catalog_status")" "sha256:$(sha256sum <"$CAT/catalog.yaml" | cut -d' ' -f1)"
expect "a mounted image whose pinned digest is listed: in_catalog" "$(incat b_signed)" "true ${DIGEST[b_signed]}"
expect "a mounted image listed under another digest: not in_catalog, catalog_digest says which" "$(incat other)" "false ${DIGEST[tampered]}"
expect "a mounted image the catalog does not list" "$(incat unsigned)" "false -"
expect "an image listed for PostgreSQL 17 only" "$(incat foreign)" "false -"
expect "  said as such" \
    "$(psql_ -Atc "SELECT detail FROM pgext.image_catalog WHERE name = 'foreign'")" "${DIGEST[foreign]} is not listed for PostgreSQL 18"
# catenforce EXTENSION: the SQLSTATE CREATE EXTENSION ends with under pgext.require = catalog
catenforce() {
    local out
    if out=$(psql_ -q -v VERBOSITY=verbose -c "SET pgext.enforce = on" -c "SET pgext.require = 'catalog'" \
        -c "CREATE EXTENSION $1" 2>&1); then
        echo 00000
    else
        sed -nE 's/^ERROR:  ([0-9A-Z]{5}):.*/\1/p' <<<"$out" | head -n1
    fi
}
catwhy() { psql_ -v ON_ERROR_STOP=0 -c "SET pgext.enforce = on" -c "SET pgext.require = 'catalog'" -c "CREATE EXTENSION $1" 2>&1 || true; }
expect "pgext.require = catalog: CREATE EXTENSION from an image the signed catalog lists" "$(catenforce sig_b_signed)" "00000"
expect "pgext.require = catalog: CREATE EXTENSION from an image it does not list" "$(catenforce sig_unsigned)" "42501"
why=$(catwhy sig_other)
case $why in *"not catalog"*"is not in the signed catalog $CAT/catalog.yaml"*"the catalog lists other as $REG/other:v1@${DIGEST[tampered]}"*)
    ok "the refusal names the condition, the catalog and the digest it lists" ;;
    *) bad "refusal of sig_other under catalog: $why" ;; esac

say "a catalog whose bundle does not verify lists nothing"
sed 's/pgext-test/pgext-tesT/' "$CAT/catalog.yaml" >"$CAT/tampered.yaml"
cmp -s "$CAT/catalog.yaml" "$CAT/tampered.yaml" && die "the catalog was not altered"
chmod a+r "$CAT/tampered.yaml"
expect "  cosign verify-blob refuses the altered file too" \
    "$("$COSIGN" verify-blob --key "$FX/keys/k1.pub" --bundle "$CAT/catalog.yaml.sigstore.json" --new-bundle-format \
        --insecure-ignore-tlog --trusted-root "$P/trusted_root.json" "$CAT/tampered.yaml" >/dev/null 2>&1 && echo ok || echo refused)" "refused"
reconfigure "pgext.catalog=$CAT/tampered.yaml" "pgext.catalog_bundle=$CAT/catalog.yaml.sigstore.json"
expect "a byte of the catalog changed after signing: invalid" "$(cstatus)" "invalid -"
expect "  said as such" "$(psql_ -Atc "SELECT detail LIKE '%changed after signing%' FROM pgext.catalog_status")" "t"
expect "  it lists nothing" "$(psql_ -Atc "SELECT count(*) FILTER (WHERE in_catalog) || ' ' || (count(*) FILTER (WHERE detail = 'the catalog is invalid: it lists nothing') = count(*)) FROM pgext.image_catalog")" "0 true"
expect "  CREATE EXTENSION from an image the genuine catalog lists is refused" "$(catenforce sig_b_other)" "42501"
why=$(catwhy sig_b_other)
case $why in *"pgext.catalog) is invalid"*) ok "  the refusal says the catalog is invalid" ;; *) bad "refusal under an invalid catalog: $why" ;; esac
reconfigure "pgext.catalog=$CAT/catalog.yaml" "pgext.catalog_bundle=$CAT/missing.sigstore.json"
expect "a catalog without its bundle: unsigned" "$(cstatus)" "unsigned -"
expect "  CREATE EXTENSION refused" "$(catenforce sig_b_other)" "42501"
blob_sign k2 "$CAT/catalog.yaml" "$CAT/k2.sigstore.json" --new-bundle-format
chmod a+r "$CAT"/*.json
reconfigure "pgext.catalog_bundle=$CAT/k2.sigstore.json"
expect "a catalog signed by a key nobody trusts: untrusted" "$(cstatus)" "untrusted -"
printf 'not json' >"$CAT/broken.sigstore.json"
chmod a+r "$CAT"/*.json
reconfigure "pgext.catalog_bundle=$CAT/broken.sigstore.json"
expect "a bundle that is no bundle: invalid" "$(cstatus)" "invalid -"
reconfigure "pgext.catalog=$CAT/nowhere.yaml" pgext.catalog_bundle
expect "no catalog file: unreadable" "$(cstatus)" "unreadable -"
blob_sign k1 "$CAT/catalog.yaml" "$CAT/legacy.sigstore.json"
chmod a+r "$CAT"/*.json
reconfigure "pgext.catalog=$CAT/catalog.yaml" "pgext.catalog_bundle=$CAT/legacy.sigstore.json"
expect "cosign 2's own bundle form (sign-blob without --new-bundle-format): verified" "$(cstatus)" "verified $K1"
expect "  CREATE EXTENSION from a listed image is allowed again" "$(catenforce sig_b_other)" "00000"
catalog "$CAT/elsewhere.yaml" "not-$OS_CODENAME"
blob_sign k1 "$CAT/elsewhere.yaml" "$CAT/elsewhere.yaml.sigstore.json" --new-bundle-format
chmod a+r "$CAT"/*
reconfigure "pgext.catalog=$CAT/elsewhere.yaml" pgext.catalog_bundle
expect "a verified catalog for another OS lists nothing for this server" "$(incat b_signed)" "false -"
expect "  said as such" "$(psql_ -Atc "SELECT detail LIKE '%the catalog is for not-$OS_CODENAME%' FROM pgext.image_catalog WHERE name = 'b_signed'")" "t"

say "a keyless catalog bundle: test PKI certificate, Rekor hashedrekord entry signed by the test log"
python3 "$REPO/tests/signatures/blob-bundle.py" "$CAT/catalog.yaml" "$P/good.key" "$P/good.pem" "$LOGID" "$P/tlog.key" \
    "$CAT/keyless.sigstore.json"
python3 "$REPO/tests/signatures/blob-bundle.py" "$CAT/catalog.yaml" "$P/good.key" "$P/good.pem" "$LOGID" "$P/tlog-other.key" \
    "$CAT/keyless-badlog.sigstore.json"
chmod a+r "$CAT"/*.json
reconfigure "pgext.trusted_keys=" "pgext.catalog=$CAT/catalog.yaml" "pgext.catalog_bundle=$CAT/keyless.sigstore.json" \
    "pgext.trusted_root=$P/trusted_root.json" "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT images=catalog:/"
expect "keyless, by a workflow identity a rule scoped to catalogs trusts: verified" "$(cstatus)" "verified $WHO"
expect "  signed at the log entry's integrated time" \
    "$(psql_ -Atc "SELECT abs(extract(epoch FROM now() - signed_at)) < 600 FROM pgext.catalog_status")" "t"
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT images=$REG/"
expect "  a rule scoped to images does not trust a catalog" "$(cstatus)" "untrusted -"
reconfigure "pgext.trusted_identities=issuer=$ISSUER subject=$SUBJECT" "pgext.catalog_bundle=$CAT/keyless-badlog.sigstore.json"
expect "  an entry signed by a log the root does not list: invalid" "$(cstatus)" "invalid -"
reconfigure "pgext.catalog_bundle=$CAT/keyless.sigstore.json" "pgext.catalog=$CAT/tampered.yaml"
expect "  the altered file with the keyless bundle: invalid" "$(cstatus)" "invalid -"
reconfigure pgext.catalog pgext.catalog_bundle pgext.trusted_root pgext.trusted_identities "pgext.trusted_keys=$FX/keys/k1.pub"
expect "pgext.catalog unset: off" "$(cstatus)" "off -"

echo
echo "signatures: $pass passed, $fail failed"
[ "$fail" = 0 ] || { echo "server log: $DATA/server.log"; trap - EXIT; cleanup; exit 1; }
