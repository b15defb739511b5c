#!/usr/bin/env python3
"""pgext's multi-arch image, read back as a runtime would (tests/arm64/run.sh).

    image.py check LAYOUT TAG PLATFORM...      TAG is an index listing exactly these platforms
    image.py digest LAYOUT TAG PLATFORM        the manifest the index gives PLATFORM
    image.py extract LAYOUT TAG PLATFORM DEST  that manifest's layers, applied into DEST
    image.py tagged LAYOUT TAG                 an image manifest's digest and its config's os/arch

check: TAG is an OCI image index; each entry's platform is one asked for, once; the manifest's
config says the same os and architecture and carries CloudNativePG's labels; its layer holds
lib/pgext.so, an ELF for that architecture, and share/extension/pgext.control. Every blob is
read through its digest."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

INDEX = "application/vnd.oci.image.index.v1+json"
REF = "org.opencontainers.image.ref.name"
ELF_MACHINE = {"amd64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def blob(layout, desc):
    algo, _, hexdigest = desc["digest"].partition(":")
    with open(os.path.join(layout, "blobs", algo, hexdigest), "rb") as f:
        data = f.read()
    if len(data) != desc["size"] or "sha256:" + hashlib.sha256(data).hexdigest() != desc["digest"]:
        sys.exit(f"image.py: blob {desc['digest']} does not match its descriptor")
    return data


def index_of(layout, tag):
    with open(os.path.join(layout, "index.json"), encoding="utf-8") as f:
        top = json.load(f)
    found = [d for d in top["manifests"] if d.get("annotations", {}).get(REF) == tag]
    if not found:
        sys.exit(f"image.py: no {tag} in {layout}")
    if found[-1]["mediaType"] != INDEX:
        sys.exit(f"image.py: {tag} is a {found[-1]['mediaType']}, not an image index")
    return json.loads(blob(layout, found[-1]))


def manifest_for(layout, tag, platform):
    os_name, _, arch = platform.partition("/")
    hits = [m for m in index_of(layout, tag)["manifests"]
            if m.get("platform", {}).get("os") == os_name and m["platform"].get("architecture") == arch]
    if len(hits) != 1:
        sys.exit(f"image.py: the index {tag} lists {len(hits)} manifests for {platform}")
    return hits[0]


def layers(layout, desc):
    manifest = json.loads(blob(layout, desc))
    config = json.loads(blob(layout, manifest["config"]))
    tars = []
    for layer in manifest["layers"]:
        data = blob(layout, layer)
        if layer["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        tars.append(tarfile.open(fileobj=io.BytesIO(data)))
    return config, tars


def check(layout, tag, platforms):
    listed = [f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index_of(layout, tag)["manifests"]]
    if sorted(listed) != sorted(platforms):
        sys.exit(f"image.py: the index {tag} lists {listed}, expected {platforms}")
    same = None
    for platform in platforms:
        desc = manifest_for(layout, tag, platform)
        config, tars = layers(layout, desc)
        arch = platform.partition("/")[2]
        if (config.get("os"), config.get("architecture")) != ("linux", arch):
            sys.exit(f"image.py: {platform}'s config says {config.get('os')}/{config.get('architecture')}")
        labels = config.get("config", {}).get("Labels", {})
        if labels.get("io.cloudnativepg.image.base.pgmajor") != "18" or labels.get("org.opencontainers.image.title") != "pgext":
            sys.exit(f"image.py: {platform}'s config lacks CloudNativePG's labels: {labels}")
        files = {}
        for t in tars:
            for member in t.getmembers():
                if member.isfile():
                    files[norm(member.name)] = t.extractfile(member).read()
        so = files.get("lib/pgext.so", b"")
        machine = int.from_bytes(so[18:20], "little") if so[:4] == b"\x7fELF" else None
        if machine != ELF_MACHINE[arch]:
            sys.exit(f"image.py: {platform}'s lib/pgext.so has ELF machine {machine}, expected {ELF_MACHINE[arch]}")
        if "share/extension/pgext.control" not in files:
            sys.exit(f"image.py: {platform}'s image has no share/extension/pgext.control")
        print(f"    {platform}: {desc['digest']}, lib/pgext.so ELF machine {machine}, {len(files)} files")
        # Everything but the library is the same on every platform; pgrx may order a script's
        # statements differently, so scripts are compared line for line, unordered.
        rest = {n: sorted(d.splitlines()) if n.endswith(".sql") else d for n, d in files.items() if n != "lib/pgext.so"}
        if same is None:
            same = (platform, rest)
        elif rest != same[1]:
            differ = sorted(n for n in set(rest) | set(same[1]) if rest.get(n) != same[1].get(n))
            sys.exit(f"image.py: {platform} and {same[0]} differ beyond lib/pgext.so: {differ}")
    print("    every platform's image holds the same control file, scripts and licenses")


def tagged(layout, tag):
    """The image manifest tagged TAG in a layout and its config's platform."""
    with open(os.path.join(layout, "index.json"), encoding="utf-8") as f:
        found = [d for d in json.load(f)["manifests"] if d.get("annotations", {}).get(REF) == tag]
    if not found:
        sys.exit(f"image.py: no {tag} in {layout}")
    config = json.loads(blob(layout, json.loads(blob(layout, found[-1]))["config"]))
    print(f"{found[-1]['digest']} {config.get('os')}/{config.get('architecture')}")


def extract(layout, tag, platform, dest):
    _, tars = layers(layout, manifest_for(layout, tag, platform))
    os.makedirs(dest, exist_ok=True)
    for t in tars:
        for member in t.getmembers():
            name = norm(member.name)
            if name in ("", "."):
                continue
            if name.startswith("/") or ".." in name.split("/") or os.path.basename(name).startswith(".wh."):
                sys.exit(f"image.py: unexpected layer entry {member.name}")
            if not (member.isfile() or member.isdir()):
                sys.exit(f"image.py: unexpected layer entry type for {member.name}")
            path = os.path.join(dest, name)
            if member.isdir():
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(t.extractfile(member).read())
            os.chmod(path, member.mode & 0o755)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "check":
        check(args[0], args[1], args[2:])
    elif mode == "digest":
        print(manifest_for(*args)["digest"])
    elif mode == "tagged":
        tagged(*args)
    elif mode == "extract":
        extract(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
