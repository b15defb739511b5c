#!/usr/bin/env python3
"""Wraps the image a tag names in an OCI layout into an image index that also carries an
attestation manifest for it, laid out as `docker buildx build --attest type=provenance
--attest type=sbom` writes them: an index entry with platform unknown/unknown and the annotations
vnd.docker.reference.type = attestation-manifest and vnd.docker.reference.digest = the image
manifest's digest; one in-toto layer per statement, each annotated with its predicate type.
The tag then names the index.

    attest.py LAYOUT TAG [MODE]

The layout follows moby/buildkit docs/attestations/attestation-storage.md: the attestation
manifest is an image manifest (`application/vnd.oci.image.manifest.v1+json`) whose layers are
`application/vnd.in-toto+json` statements annotated `in-toto.io/predicate-type`, listed in the
index with platform unknown/unknown and the annotations `vnd.docker.reference.type:
attestation-manifest` and `vnd.docker.reference.digest: <the image manifest's digest>`.

The SBOM lists libgeos 3.13.1 owning lib/<image>_geos.so (a CONTAINS relationship, as syft
writes them); the provenance is BuildKit-style SLSA v0.2 by https://ci.example/pgext/builder from
https://git.example/pgext/images. MODE other: the statements are about another digest; MODE
tamper: the SBOM statement's bytes are changed after the manifest names them.
"""
import hashlib
import json
import os
import sys

layout, tag = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else ""
image = os.path.basename(layout.rstrip("/"))
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def put(data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def blob(desc: dict) -> bytes:
    algo, hexd = desc["digest"].split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        return f.read()


with open(os.path.join(layout, "index.json")) as f:
    top = json.load(f)
entry = next(m for m in top["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
image_manifest = json.loads(blob(entry))
config = json.loads(blob(image_manifest["config"]))
provenance = {
    "builder": {"id": "https://ci.example/pgext/builder"},
    "buildType": "https://mobyproject.org/buildkit@v1",
    "invocation": {"configSource": {"uri": "https://git.example/pgext/images.git#refs/heads/main",
                                    "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"},
                                    "entryPoint": "Dockerfile"}},
    "metadata": {"buildStartedOn": "2026-03-01T10:00:00Z", "buildFinishedOn": "2026-03-01T10:05:00Z"},
}
sbom = {
    "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": image,
    "packages": [{"SPDXID": "SPDXRef-Package-geos", "name": "libgeos", "versionInfo": "3.13.1",
                  "supplier": "Organization: OSGeo", "licenseConcluded": "LGPL-2.1-only",
                  "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                    "referenceLocator": "pkg:generic/libgeos@3.13.1"}]}],
    "files": [{"SPDXID": "SPDXRef-File-geos", "fileName": f"/lib/{image}_geos.so"}],
    "relationships": [{"spdxElementId": "SPDXRef-Package-geos", "relationshipType": "CONTAINS",
                       "relatedSpdxElement": "SPDXRef-File-geos"}],
}
statements = [
    ("https://slsa.dev/provenance/v0.2", provenance),
    ("https://spdx.dev/Document", sbom),
]
subject = entry["digest"].split(":", 1)[1]
if mode == "other":
    subject = hashlib.sha256(b"another image").hexdigest()
layers = []
for predicate_type, predicate in statements:
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "image", "digest": {"sha256": subject}}],
        "predicate": predicate,
    }
    d = put(json.dumps(statement).encode())
    if mode == "tamper" and predicate_type == "https://spdx.dev/Document":
        path = os.path.join(layout, "blobs", "sha256", d["digest"].split(":", 1)[1])
        with open(path, "wb") as f:
            f.write(json.dumps(statement).replace("3.13.1", "9.99.9").encode())
    layers.append({"mediaType": "application/vnd.in-toto+json", **d,
                   "annotations": {"in-toto.io/predicate-type": predicate_type}})
att_config = put(json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode())
attestation = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **att_config},
               "layers": layers}
att = put(json.dumps(attestation).encode())
index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
    {"mediaType": OCI_MANIFEST, "digest": entry["digest"], "size": entry["size"],
     "platform": {"architecture": config["architecture"], "os": config["os"]}},
    {"mediaType": OCI_MANIFEST, **att, "platform": {"architecture": "unknown", "os": "unknown"},
     "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                     "vnd.docker.reference.digest": entry["digest"]}},
]}
idx = put(json.dumps(index).encode())
entry.clear()
entry.update({"mediaType": OCI_INDEX, **idx, "annotations": {"org.opencontainers.image.ref.name": tag}})
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(top, f)
print(idx["digest"])
