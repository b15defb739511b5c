#!/usr/bin/env python3
"""A registry with the OCI 1.1 referrers API, in front of one without it (docker-registry):
UPSTREAM (host:port). Prints the port it listens on, then serves until killed.

GET /v2/<repo>/referrers/<digest> answers the index the upstream holds under the referrers tag
schema (`sha256-<hex>`), or an empty index; and that tag itself is hidden (404), so a client
finds referrers here only through the API. Everything else is passed through.
"""
import http.server
import json
import re
import sys
import urllib.error
import urllib.request

UPSTREAM = sys.argv[1]
INDEX = "application/vnd.oci.image.index.v1+json"
REFERRERS = re.compile(r"^/v2/(.+)/referrers/(sha256):([0-9a-f]{64})(\?.*)?$")
SCHEMA_TAG = re.compile(r"^/v2/.+/manifests/sha256-[0-9a-f]{64}$")
PASSED = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Location", "WWW-Authenticate")


def upstream(method, path, accept=None):
    req = urllib.request.Request(f"http://{UPSTREAM}{path}", method=method)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, headers, body, with_body=True):
        self.send_response(status)
        for k, v in headers.items():
            if k in PASSED and k != "Content-Length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def serve(self, with_body):
        m = REFERRERS.match(self.path)
        if m:
            status, _, body = upstream("GET", f"/v2/{m.group(1)}/manifests/{m.group(2)}-{m.group(3)}", INDEX)
            if status != 200:
                body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}).encode()
            return self.answer(200, {"Content-Type": INDEX}, body, with_body)
        if SCHEMA_TAG.match(self.path):
            body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"hidden by the referrers proxy"}]}'
            return self.answer(404, {"Content-Type": "application/json"}, body, with_body)
        status, headers, body = upstream(self.command, self.path, self.headers.get("Accept"))
        self.answer(status, headers, body, with_body)

    def do_GET(self):
        self.serve(True)

    def do_HEAD(self):
        self.serve(False)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
