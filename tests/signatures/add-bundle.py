#!/usr/bin/env python3
"""Adds a transparency-log bundle to the cosign signature image TAG of an OCI layout, as cosign
writes it when it uploads to Rekor: the `dev.sigstore.cosign/bundle` annotation of the signature
layer, {"SignedEntryTimestamp", "Payload": {"body", "integratedTime", "logIndex", "logID"}}.

    add-bundle.py LAYOUT TAG ENTRY.json

ENTRY.json is a Rekor log entry: {"body", "integratedTime", "logID", "logIndex",
"verification": {"signedEntryTimestamp"}}. (The cosign of the test suite signs without a log:
there is no Rekor here, so the test makes the entry with its own log key and attaches it this way.)
"""
import hashlib, json, os, sys

layout, tag, entry_path = sys.argv[1:4]
entry = json.load(open(entry_path))
bundle = {"SignedEntryTimestamp": entry["verification"]["signedEntryTimestamp"],
          "Payload": {"body": entry["body"], "integratedTime": entry["integratedTime"],
                      "logIndex": entry["logIndex"], "logID": entry["logID"]}}
index_path = os.path.join(layout, "index.json")
index = json.load(open(index_path))
desc = next(m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
blob = lambda d: os.path.join(layout, "blobs", *d.split(":", 1))
manifest = json.load(open(blob(desc["digest"])))
manifest["layers"][0].setdefault("annotations", {})["dev.sigstore.cosign/bundle"] = json.dumps(bundle, separators=(",", ":"))
data = json.dumps(manifest, separators=(",", ":")).encode()
digest = "sha256:" + hashlib.sha256(data).hexdigest()
open(blob(digest), "wb").write(data)
desc["digest"], desc["size"] = digest, len(data)
json.dump(index, open(index_path, "w"))
