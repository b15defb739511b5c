#!/usr/bin/env python3
"""A multi-arch image index in an OCI layout (scripts/package-image.sh).

    oci_index.py LAYOUT TAG IMAGE_TAG=PLATFORM ...      e.g. 0.3.0-18-bookworm-arm64=linux/arm64

Each IMAGE_TAG names an image manifest already in the layout (umoci wrote it). Its config must
say the platform's os and architecture (a runtime picks by the index, then runs what the config
says); the index lists each manifest with that platform, as `docker buildx` and the
CloudNativePG images do (linux/amd64, linux/arm64, no variant). The index is written as a blob
and tagged TAG in index.json, replacing an older TAG."""
import hashlib
import json
import os
import sys

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF = "org.opencontainers.image.ref.name"


def blob_path(layout, digest):
    algo, _, hexdigest = digest.partition(":")
    return os.path.join(layout, "blobs", algo, hexdigest)


def read_blob(layout, desc):
    with open(blob_path(layout, desc["digest"]), "rb") as f:
        data = f.read()
    if len(data) != desc["size"] or "sha256:" + hashlib.sha256(data).hexdigest() != desc["digest"]:
        sys.exit(f"oci_index: blob {desc['digest']} does not match its descriptor")
    return json.loads(data)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    layout, tag, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(os.path.join(layout, "index.json"), encoding="utf-8") as f:
        top = json.load(f)
    entries = []
    for spec in specs:
        image_tag, _, platform = spec.partition("=")
        os_name, _, arch = platform.partition("/")
        found = [d for d in top["manifests"] if d.get("annotations", {}).get(REF) == image_tag]
        if not found:
            sys.exit(f"oci_index: no image tagged {image_tag} in {layout}")
        desc = found[-1]
        if desc["mediaType"] != MANIFEST:
            sys.exit(f"oci_index: {image_tag} is a {desc['mediaType']}, not an image manifest")
        config = read_blob(layout, read_blob(layout, desc)["config"])
        if (config.get("os"), config.get("architecture")) != (os_name, arch):
            sys.exit(f"oci_index: {image_tag}'s config says {config.get('os')}/{config.get('architecture')}, not {platform}")
        entries.append({"mediaType": MANIFEST, "digest": desc["digest"], "size": desc["size"],
                        "platform": {"architecture": arch, "os": os_name}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries},
                       separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    os.makedirs(os.path.dirname(blob_path(layout, digest)), exist_ok=True)
    with open(blob_path(layout, digest), "wb") as f:
        f.write(index)
    top["manifests"] = [d for d in top["manifests"] if d.get("annotations", {}).get(REF) != tag]
    top["manifests"].append({"mediaType": INDEX, "digest": digest, "size": len(index),
                             "annotations": {REF: tag}})
    tmp = os.path.join(layout, "index.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(top, f, separators=(",", ":"))
    os.replace(tmp, os.path.join(layout, "index.json"))
    print(f"    {tag}: {digest} ({', '.join(s.partition('=')[2] for s in specs)})")


if __name__ == "__main__":
    main()
