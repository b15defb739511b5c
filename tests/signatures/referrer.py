#!/usr/bin/env python3
"""Lists one repository's cosign bundle referrer under another image's referrers tag, through the
registry API: REGISTRY SRC_REPO SRC_DIGEST DST_REPO DST_DIGEST MODE.

MODE=copy   the referrer manifest as it is (its subject stays SRC_DIGEST): a listing that lies.
MODE=move   a new referrer manifest whose subject is DST_DIGEST, with SRC's bundle in it: a
            genuine signature whose statement is about another image.

The blobs are mounted across repositories; the referrers tag schema's index (tag
`sha256-<hex>` of DST_DIGEST) lists the manifest.
"""
import hashlib
import json
import sys
import urllib.request

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def call(method, url, body=None, content_type=None, accept=None, with_headers=False):
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req) as r:
        return (r.read(), r.headers) if with_headers else r.read()


def main():
    reg, src, src_digest, dst, dst_digest, mode = sys.argv[1:7]
    base = f"http://{reg}/v2"
    tag = lambda d: d.replace(":", "-", 1)
    index = json.loads(call("GET", f"{base}/{src}/manifests/{tag(src_digest)}", accept=INDEX))
    ref = index["manifests"][0]["digest"]
    manifest = json.loads(call("GET", f"{base}/{src}/manifests/{ref}", accept=MANIFEST))
    for blob in [manifest["config"]] + manifest["layers"]:
        call("POST", f"{base}/{dst}/blobs/uploads/?mount={blob['digest']}&from={src}")
    if mode == "move":
        dst_bytes = call("GET", f"{base}/{dst}/manifests/{dst_digest}", accept=MANIFEST)
        manifest["subject"] = {"mediaType": MANIFEST, "digest": dst_digest, "size": len(dst_bytes)}
    body = json.dumps(manifest, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    call("PUT", f"{base}/{dst}/manifests/{digest}", body, MANIFEST)
    listing = {"schemaVersion": 2, "mediaType": INDEX,
               "manifests": [{"mediaType": MANIFEST, "digest": digest, "size": len(body),
                              "artifactType": manifest.get("artifactType")}]}
    call("PUT", f"{base}/{dst}/manifests/{tag(dst_digest)}",
         json.dumps(listing, separators=(",", ":")).encode(), INDEX)


if __name__ == "__main__":
    main()
