#!/usr/bin/env python3
"""Wraps the image a tag names in an OCI layout into an image index that also carries an
attestation manifest for it, laid out as `docker buildx build --attest type=provenance
--attest type=sbom` writes them: an index entry with platform unknown/unknown and the annotations
vnd.docker.reference.type = attestation-manifest and vnd.docker.reference.digest = the image
manifest's digest; one in-toto layer per statement, each annotated with its predicate type.
The tag then names the index.

    attest.py LAYOUT TAG
"""
import hashlib
import json
import os
import sys

layout, tag = sys.argv[1], sys.argv[2]
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
statements = [
    ("https://slsa.dev/provenance/v0.2", {"builder": {"id": "pgext-test"}}),
    ("https://spdx.dev/Document", {"spdxVersion": "SPDX-2.3"}),
]
layers = []
for predicate_type, predicate in statements:
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "image", "digest": {"sha256": entry["digest"].split(":", 1)[1]}}],
        "predicate": predicate,
    }
    d = put(json.dumps(statement).encode())
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
