#!/usr/bin/env python3
# Writes the seed corpora of the oci_* fuzz targets (fuzz/corpus/oci_*/seed-*): small, valid
# inputs of each parser (manifests, references, docker config.json, challenges, tar layers with
# PAX, GNU long names, hard links, whiteouts and a GNU sparse file, gzip/zstd, an oci-archive).
import io, json, tarfile, gzip, subprocess, hashlib, os, base64
C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
def put(target, name, data):
    d = os.path.join(C, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f: f.write(data)
D = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
OCI_M="application/vnd.oci.image.manifest.v1+json"; OCI_I="application/vnd.oci.image.index.v1+json"
cfg = json.dumps({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}).encode()
def desc(mt, b, **kw): x={"mediaType":mt,"digest":D(b),"size":len(b)}; x.update(kw); return x
man = json.dumps({"schemaVersion":2,"mediaType":OCI_M,"config":desc("application/vnd.oci.image.config.v1+json",cfg),
  "layers":[desc("application/vnd.oci.image.layer.v1.tar+gzip",b"l1"),desc("application/vnd.oci.image.layer.v1.tar+zstd",b"l2")]}).encode()
idx = json.dumps({"schemaVersion":2,"mediaType":OCI_I,"manifests":[
  desc(OCI_M,man,platform={"os":"linux","architecture":"amd64"}),
  desc(OCI_M,b"arm",platform={"os":"linux","architecture":"arm64","variant":"v8"}),
  desc(OCI_M,b"att",platform={"os":"unknown","architecture":"unknown"},annotations={"vnd.docker.reference.type":"attestation-manifest"})]}).encode()
docker = json.dumps({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
  "config":desc("application/vnd.docker.container.image.v1+json",cfg),
  "layers":[desc("application/vnd.docker.image.rootfs.diff.tar.gzip",b"l",urls=["https://x/y"])]}).encode()
for n,b in [("manifest",man),("index",idx),("docker",docker),("config",cfg)]: put("oci_documents",n,b)
for i,r in enumerate(["ghcr.io/cloudnative-pg/postgresql:18-standard-trixie@sha256:"+"a"*64,"postgres","localhost:5000/a/b:c",
  "oci:/layouts/pgvector:0.8.1","oci-archive:/x/y.tar@sha256:"+"b"*64,"docker.io/library/postgres:18","[::1]:5000/x:y"]):
    put("oci_reference",str(i),r.encode())
a = base64.b64encode(b"alice:s3cr:et").decode()
put("oci_docker_config","auths",json.dumps({"auths":{"registry.example:5000":{"auth":a},"https://index.docker.io/v1/":{"username":"u","password":"p"}},"credsStore":"x"}).encode())
put("oci_docker_config","bad-auth",b'{"auths":{"registry.example:5000":{"auth":"!!notbase64"}}}')
for n,b in [("bearer",b'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/postgres:pull"'),
  ("basic",b'Basic realm="Registry Realm"'),("escaped",b'bearer realm=https://t/x, scope="a,b\\"c"'),
  ("errors",b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}')]:
    put("oci_registry_answers",n,b)
def mktar(fmt, members):
    bio=io.BytesIO()
    with tarfile.open(fileobj=bio,mode="w",format=fmt) as t:
        for m,data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()
def ti(name, type=tarfile.REGTYPE, data=b"", **kw):
    m=tarfile.TarInfo(name); m.type=type; m.size=len(data) if type==tarfile.REGTYPE else 0; m.mode=kw.get("mode",0o644)
    for k,v in kw.items(): setattr(m,k,v)
    return (m, data if type==tarfile.REGTYPE else None)
basic = mktar(tarfile.GNU_FORMAT,[ti("share/",tarfile.DIRTYPE,mode=0o755),ti("share/extension/x.control",data=b"default_version = '1.0'\n"),
  ti("lib/x.so",data=b"\x7fELF"+b"\0"*60),ti("lib/x.so.1",tarfile.SYMTYPE,linkname="x.so"),ti("lib/hard.so",tarfile.LNKTYPE,linkname="lib/x.so"),
  ti("share/.wh.old",data=b""),ti("etc/.wh..wh..opq",data=b"")])
hostile = mktar(tarfile.GNU_FORMAT,[ti("dev/fifo",tarfile.FIFOTYPE),ti("../escape",data=b"x")])
pax = mktar(tarfile.PAX_FORMAT,[ti("share/"+"long-name-"*30+".sql",data=b"select 1;",pax_headers={"path":"share/"+"p"*200,"mtime":"1.5","SCHILY.xattr.user.x":"y"}),
  ti("a/b/c",tarfile.LNKTYPE,linkname="share/"+"p"*200)])
# GNU sparse (old format, type 'S'): a 1 MiB file with 4 KiB of data at offset 8192.
def gnu_sparse():
    h = bytearray(512)
    def f(off, n, val): b=val.encode() if isinstance(val,str) else val; h[off:off+len(b)] = b
    f(0,100,"sparse.bin"); f(100,8,"0000644\0"); f(108,8,"0000000\0"); f(116,8,"0000000\0")
    f(124,12,"00000010000\0"); f(136,12,"00000000000\0"); f(156,1,"S"); f(257,8,"ustar  \0")
    f(386,12,"00000020000\0"); f(398,12,"00000010000\0")  # sparse[0]: offset 8192, numbytes 4096
    f(410,12,"00004000000\0"); f(422,12,"00000000000\0")  # sparse[1]: the end, at realsize
    f(483,12,"00004000000\0")  # realsize 1 MiB
    h[148:156] = b"        "; s=sum(h); f(148,8,"%06o\0 " % s)
    return bytes(h) + b"z"*4096 + b"\0"*1024
put("oci_layer","plain-basic",b"\x00"+basic)
put("oci_layer","gzip-pax",b"\x01"+gzip.compress(pax, mtime=0))
put("oci_layer","zstd-basic",b"\x02"+subprocess.run(["zstd","-q","-c"],input=basic,capture_output=True,check=True).stdout)
put("oci_layer","plain-sparse",b"\x00"+gnu_sparse())
put("oci_layer","plain-hostile",b"\x00"+hostile)
put("oci_layer","tight-basic",b"\x82"+gzip.compress(basic, mtime=0))
# oci_unpack takes oci_layer's input; its own seed adds what only matters on disk: symlinks out of
# the root (absolute, '..' past it), a directory replaced by a file and back, whiteouts of both.
escapes = mktar(tarfile.GNU_FORMAT,[ti("lib64/",tarfile.DIRTYPE,mode=0o755),ti("lib64/ld.so",tarfile.SYMTYPE,linkname="/usr/lib/ld.so"),
  ti("up",tarfile.SYMTYPE,linkname="../../../../etc/passwd"),ti("d/",tarfile.DIRTYPE,mode=0o555),ti("d/f",data=b"f"),
  ti("d",data=b"now a file"),ti("d/",tarfile.DIRTYPE,mode=0o700),ti("d/g",tarfile.LNKTYPE,linkname="lib64/ld.so"),
  ti(".wh.up",data=b""),ti("d/.wh..wh..opq",data=b""),ti("s/",tarfile.DIRTYPE,mode=0o4755),ti("s/x",data=b"\x7fELF",mode=0o6755)])
for t in ["oci_layer","oci_unpack"]:
    put(t,"plain-escapes",b"\x00"+escapes)
for n in ["plain-basic","gzip-pax","plain-sparse","plain-hostile","tight-basic"]:
    src=os.path.join(C,"oci_layer","seed-"+n)
    put("oci_unpack",n,open(src,"rb").read())
put("oci_decompress","gzip-two-members",b"\x00"+gzip.compress(b"a"*1000, mtime=0)+gzip.compress(b"b"*10, mtime=0))
put("oci_decompress","zstd",b"\x01"+subprocess.run(["zstd","-q","-c"],input=basic,capture_output=True,check=True).stdout)
# oci-archive: a tiny layout
blobs = {D(cfg):cfg}
lay = gzip.compress(basic, mtime=0)
m2 = json.dumps({"schemaVersion":2,"mediaType":OCI_M,"config":desc("application/vnd.oci.image.config.v1+json",cfg),"layers":[desc("application/vnd.oci.image.layer.v1.tar+gzip",lay)]}).encode()
blobs[D(lay)]=lay; blobs[D(m2)]=m2
index = json.dumps({"schemaVersion":2,"manifests":[desc(OCI_M,m2,annotations={"org.opencontainers.image.ref.name":"latest"})]}).encode()
members=[ti("oci-layout",data=b'{"imageLayoutVersion":"1.0.0"}'),ti("index.json",data=index)]+[ti("blobs/sha256/"+k[7:],data=v) for k,v in blobs.items()]
put("oci_archive","layout",mktar(tarfile.GNU_FORMAT,members))

# Attestations (pgext_oci::attest): SPDX 2 documents, SLSA provenance v0.2/v1, and whole in-toto
# statements / DSSE envelopes (first byte 0: a statement, else an envelope with its annotation).
import base64
spdx = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "x",
        "packages": [{"SPDXID": "p1", "name": "libgeos", "versionInfo": "3.13.1", "supplier": "Organization: OSGeo",
                      "licenseConcluded": "NOASSERTION", "licenseDeclared": "LGPL-2.1-only", "hasFiles": ["f2"],
                      "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:deb/debian/libgeos@3.13.1"}]}],
        "files": [{"SPDXID": "f1", "fileName": "/system/libgeos.so"}, {"SPDXID": "f2", "fileName": "./lib/../x"}],
        "relationships": [{"spdxElementId": "p1", "relationshipType": "CONTAINS", "relatedSpdxElement": "f1"},
                          {"spdxElementId": "f1", "relationshipType": "CONTAINED_BY", "relatedSpdxElement": "p1"}]}
put("oci_spdx", "syft-like", json.dumps(spdx).encode())
v02 = {"builder": {"id": "https://ci.example/b"}, "buildType": "https://mobyproject.org/buildkit@v1",
       "invocation": {"configSource": {"uri": "https://git.example/o/r.git#main", "digest": {"sha1": "ab"}, "entryPoint": "Dockerfile"}},
       "metadata": {"buildFinishedOn": "2026-03-01T10:05:00.5+01:00",
                    "https://mobyproject.org/buildkit@v1#metadata": {"vcs": {"source": "git@h:o/r.git", "revision": "cd"}}},
       "materials": [{"uri": "git+https://git.example/o/r@v1", "digest": {"gitCommit": "ef"}}]}
v1 = {"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
                          "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://git.example/o/r", "path": "w.yml"}},
                          "resolvedDependencies": [{"uri": "git+https://git.example/o/r@refs/heads/main", "digest": {"gitCommit": "ab"}}]},
      "runDetails": {"builder": {"id": "https://ci.example/b"}, "metadata": {"startedOn": "2026-03-02T00:00:00Z",
                                                                           "buildkit_metadata": {"vcs": {"source": "s", "revision": "r"}}}}}
put("oci_provenance", "v0.2", b"\x00" + json.dumps(v02).encode())
put("oci_provenance", "v1", b"\x01" + json.dumps(v1).encode())
def statement(pt, pred):
    return json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": pt,
                       "subject": [{"name": "x", "digest": {"sha256": hashlib.sha256(b"fuzz").hexdigest()}}],
                       "predicate": pred}).encode()
put("oci_attestation", "spdx-statement", b"\x00" + statement("https://spdx.dev/Document", spdx))
put("oci_attestation", "provenance-statement", b"\x00" + statement("https://slsa.dev/provenance/v0.2", v02))
env = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(statement("https://slsa.dev/provenance/v1", v1)).decode(),
       "signatures": [{"keyid": "", "sig": "MEUCIQ=="}]}
put("oci_attestation", "envelope", b"\x01" + json.dumps(env).encode() + b"\x00" + b"https://slsa.dev/provenance/v1")
