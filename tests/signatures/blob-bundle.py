#!/usr/bin/env python3
"""A Sigstore bundle v0.3 for a file as `cosign sign-blob --bundle` writes it for a keyless
signature (messageSignature, the signing certificate, a Rekor hashedrekord entry with its signed
entry timestamp), made with the test PKI and the test log's key, since this cosign cannot sign a
blob with a certificate of ours.
Usage: blob-bundle.py FILE LEAF_KEY LEAF_CERT LOG_ID_HEX LOG_KEY OUT"""
import base64, hashlib, json, subprocess, sys, time

path, leaf_key, leaf_cert, log_id, log_key, out = sys.argv[1:7]
blob = open(path, "rb").read()
b64 = lambda b: base64.b64encode(b).decode()
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", leaf_key], input=blob, capture_output=True, check=True).stdout
pem = open(leaf_cert, "rb").read()
der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem, capture_output=True, check=True).stdout
body = json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
    "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(blob).hexdigest()}},
    "signature": {"content": b64(sig), "publicKey": {"content": b64(pem)}}}}, separators=(",", ":"))
body_b64 = b64(body.encode())
integrated = int(time.time()) - 60
canonical = json.dumps({"body": body_b64, "integratedTime": integrated, "logID": log_id, "logIndex": 7},
                       sort_keys=True, separators=(",", ":")).encode()
set_ = subprocess.run(["openssl", "dgst", "-sha256", "-sign", log_key], input=canonical, capture_output=True, check=True).stdout
bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
          "verificationMaterial": {"certificate": {"rawBytes": b64(der)}, "tlogEntries": [{
              "logIndex": "7", "logId": {"keyId": b64(bytes.fromhex(log_id))},
              "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"}, "integratedTime": str(integrated),
              "inclusionPromise": {"signedEntryTimestamp": b64(set_)}, "canonicalizedBody": body_b64}]},
          "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(hashlib.sha256(blob).digest())},
                               "signature": b64(sig)}}
json.dump(bundle, open(out, "w"))
