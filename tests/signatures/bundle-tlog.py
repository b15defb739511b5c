#!/usr/bin/env python3
"""Adds a transparency-log entry to the Sigstore bundle cosign attached to an image (cosign
writes one only after a real Rekor accepted it): REGISTRY REPO DIGEST LOGID LOGKEY [ALTER].

The entry is what Rekor returns for a DSSE envelope — a `dsse` body naming the SHA-256 of the
envelope's payload (the statement) and its signature with the signer's certificate — with a
signed entry timestamp by LOGKEY (PEM private key) over its canonical form. ALTER=payload makes
the entry one of another statement (a replayed entry). The bundle, its referrer manifest and the
referrers tag schema's index are replaced in the registry.
"""
import base64
import hashlib
import json
import subprocess
import sys
import time
import os

sys.dont_write_bytecode = True  # nothing left in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from referrer import call  # noqa: E402  (the same registry calls)

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
b64 = lambda b: base64.b64encode(b).decode()


def main():
    reg, repo, digest, logid, logkey = sys.argv[1:6]
    alter = sys.argv[6] if len(sys.argv) > 6 else ""
    base = f"http://{reg}/v2/{repo}"
    tag = digest.replace(":", "-", 1)
    index = json.loads(call("GET", f"{base}/manifests/{tag}", accept=INDEX))
    manifest = json.loads(call("GET", f"{base}/manifests/{index['manifests'][0]['digest']}", accept=MANIFEST))
    layer = manifest["layers"][0]
    bundle = json.loads(call("GET", f"{base}/blobs/{layer['digest']}"))

    env = bundle["dsseEnvelope"]
    statement = base64.b64decode(env["payload"]) + (b" " if alter == "payload" else b"")
    material = bundle["verificationMaterial"]
    leaf = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    cert = base64.b64decode(leaf["rawBytes"])
    cert_pem = "-----BEGIN CERTIFICATE-----\n" + b64(cert) + "\n-----END CERTIFICATE-----\n"
    body = json.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256",
                         "value": hashlib.sha256(json.dumps(env).encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
        "signatures": [{"signature": env["signatures"][0]["sig"], "verifier": b64(cert_pem.encode())}]}},
        separators=(",", ":"))
    body = b64(body.encode())
    at = int(time.time())  # logged now: after the certificate was issued (its notBefore)
    canonical = json.dumps({"body": body, "integratedTime": at, "logID": logid, "logIndex": 9},
                           sort_keys=True, separators=(",", ":")).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", logkey], input=canonical,
                         capture_output=True, check=True).stdout
    bundle["verificationMaterial"]["tlogEntries"] = [{
        "logIndex": "9", "logId": {"keyId": b64(bytes.fromhex(logid))},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"}, "integratedTime": str(at),
        "inclusionPromise": {"signedEntryTimestamp": b64(sig)}, "canonicalizedBody": body}]

    blob = json.dumps(bundle, separators=(",", ":")).encode()
    blob_digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    _, headers = call("POST", f"{base}/blobs/uploads/", with_headers=True)
    location = headers["Location"]
    location = location if location.startswith("http") else f"http://{reg}{location}"
    sep = "&" if "?" in location else "?"
    call("PUT", f"{location}{sep}digest={blob_digest}", blob, "application/octet-stream")
    layer.update({"digest": blob_digest, "size": len(blob)})
    body = json.dumps(manifest, separators=(",", ":")).encode()
    mdigest = "sha256:" + hashlib.sha256(body).hexdigest()
    call("PUT", f"{base}/manifests/{mdigest}", body, MANIFEST)
    listing = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": mdigest, "size": len(body), "artifactType": manifest.get("artifactType")}]}
    call("PUT", f"{base}/manifests/{tag}", json.dumps(listing, separators=(",", ":")).encode(), INDEX)


if __name__ == "__main__":
    main()
