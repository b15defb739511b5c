#!/usr/bin/env python3
"""pgext on arm64: its in-server answers against the arm64 server and pgext-check (tests/arm64/run.sh).

    check.py --list OUT           what to try: create<TAB>extension, load<TAB>library
    check.py --enforce-list OUT   enforce-refuse<TAB>an extension pgext calls incompatible,
                                  enforce-allow<TAB>one it calls compatible
    check.py --report OUT         the verdicts; exits 1 on any disagreement
    check.py --same-cli OUT       pgext-check for arm64 (cli-arm64.json) says what pgext-check here says

OUT holds the views' rows (mounted_images.json, mounted_extensions.json, library_compat.json,
written by the emulated server's pgext), digests.tsv (scripts/tree-digest.sh here), cli.json
(pgext-check here, for the same root and images, with pgext preloaded) and results.tsv (the
statements tried)."""
import json
import os
import sys

PRELOADED = {"pgext"}


def load(out, name):
    with open(os.path.join(out, name), encoding="utf-8") as f:
        text = f.read().strip()
    return json.loads(text) if text else []


def extensions(out):
    """The visible extensions of the images other than pgext's own (installed already)."""
    return [e for e in load(out, "mounted_extensions.json") if e["image"] != "pgext"]


def results(out):
    tried = {}
    with open(os.path.join(out, "results.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            kind, name, outcome, message = line.rstrip("\n").split("\t", 3)
            tried[(kind, name)] = (outcome, message)
    return tried


def listing(out):
    for e in extensions(out):
        print(f"create\t{e['name']}")
    for lib in load(out, "library_compat.json"):
        print(f"load\t{lib['path']}")


def enforce_listing(out):
    exts = extensions(out)
    refuse = [e["name"] for e in exts if e["compatible"] is False]
    allow = [e["name"] for e in exts if e["compatible"] is True]
    if refuse:
        print(f"enforce-refuse\t{refuse[0]}")
    if allow:
        print(f"enforce-allow\t{allow[0]}")


def cli_verdicts(out):
    """pgext-check's compatible per extension and loadable per library (as library_compat.loadable
    says it, with pgext preloaded), keyed as the server names them."""
    root = os.path.join(out, "root")
    exts, libs = {}, {}
    for e in load(out, "cli.json"):
        exts[e["name"]] = e["compatible"]
        for lib in e["libraries"]:
            if "/extensions/" not in lib["path"]:
                continue
            path = lib["path"][len(root):] if lib["path"].startswith(root) else lib["path"]
            v = bool(lib["loadable"])
            if v and os.path.basename(path).removesuffix(".so") not in PRELOADED:
                v = {"required": False, "undecided": None}.get(lib.get("preload"), True)
            libs[path] = v
    return exts, libs


def report(out):
    problems = []
    notes = []
    counted = [0]

    def note(text):
        """A section's summary; it claims agreement only when the section added no problem."""
        notes.append(text if len(problems) == counted[0] else text.split(",")[0] + ": PROBLEMS (below)")
        counted[0] = len(problems)
    # The images, as the server's pgext sees them: mounted, hashed as tree-digest.sh hashes them.
    digests = {}
    with open(os.path.join(out, "digests.tsv"), encoding="utf-8") as f:
        for line in f:
            name, digest = line.rstrip("\n").split("\t")
            digests[name] = digest
    images = {i["name"]: i for i in load(out, "mounted_images.json")}
    for name, digest in digests.items():
        i = images.get(name)
        if i is None:
            problems.append(f"image {name}: not in pgext.mounted_images")
        elif not i["mounted"] or i["tree_digest"] != digest:
            problems.append(f"image {name}: mounted={i['mounted']}, tree_digest {i['tree_digest']}, tree-digest.sh {digest}")
    note(f"images: {len(digests)} mounted, every tree digest equal to tree-digest.sh's")

    # The libraries: arm64 modules, each verdict against LOAD and against pgext-check.
    tried = results(out)
    cli_exts, cli_libs = cli_verdicts(out)
    libs = load(out, "library_compat.json")
    counts = {}
    compared = 0
    for lib in libs:
        if lib["machine"] != "aarch64":
            problems.append(f"library {lib['path']}: machine {lib['machine']}")
        # The magic block's version field (PG_VERSION_NUM / 100), as on x86-64.
        if lib["magic_version"] != 1800 and lib["loadable"]:
            problems.append(f"library {lib['path']}: loadable with magic_version {lib['magic_version']}")
        outcome, message = tried.get(("load", lib["path"]), (None, ""))
        if outcome is None:
            problems.append(f"library {lib['path']}: never tried")
            continue
        v = lib["loadable"]
        if v is None:
            problems.append(f"library {lib['path']}: undecided; LOAD {outcome}")
        elif v != (outcome == "ok"):
            problems.append(f"library {lib['path']}: loadable {v}, LOAD {outcome}: {message}")
        counts[outcome == "ok"] = counts.get(outcome == "ok", 0) + 1
        # pgext-check judges the libraries extensions name; library_compat lists every one.
        if lib["path"] in cli_libs:
            compared += 1
            if cli_libs[lib["path"]] != v:
                problems.append(f"library {lib['path']}: the server's pgext says loadable {v}, pgext-check {cli_libs[lib['path']]}")
    own = [lib for lib in libs if lib["image"] == "pgext"]
    if len(own) != 1 or own[0]["loadable"] is not True or own[0]["magic_version"] != 1800:
        problems.append(f"pgext's own library: {own}")
    note(f"libraries: {len(libs)} ({counts.get(True, 0)} load, {counts.get(False, 0)} do not), "
                 f"machine aarch64, every loadable verdict equal to LOAD; the {compared} that extensions name "
                 f"equal to pgext-check's")

    # The extensions: compatible against CREATE EXTENSION … CASCADE and against pgext-check.
    exts = extensions(out)
    installs = 0
    for e in exts:
        outcome, message = tried.get(("create", e["name"]), (None, ""))
        if outcome is None:
            problems.append(f"extension {e['name']}: never tried")
            continue
        installs += outcome == "ok"
        if e["compatible"] is None:
            problems.append(f"extension {e['name']}: undecided {e['problems']}; CREATE {outcome}")
        elif e["compatible"] != (outcome == "ok"):
            problems.append(f"extension {e['name']}: compatible {e['compatible']} {e['problems']}, CREATE {outcome}: {message}")
        if cli_exts.get(e["name"], "absent") != e["compatible"]:
            problems.append(f"extension {e['name']}: the server's pgext says compatible {e['compatible']}, pgext-check {cli_exts.get(e['name'], 'nothing')}")
    if not exts:
        problems.append("no extension of the images was judged")
    note(f"extensions: {len(exts)} (PostgreSQL installs {installs}), every compatible verdict "
                 f"equal to CREATE EXTENSION … CASCADE and to pgext-check")

    # Enforcement.
    for (kind, name), (outcome, message) in sorted(tried.items()):
        if kind == "enforce-refuse" and not (outcome == "error" and message.startswith("42501")):
            problems.append(f"pgext.enforce = on let {name} through or failed otherwise: {outcome}: {message}")
        if kind == "enforce-allow" and outcome != "ok":
            problems.append(f"pgext.enforce = on refused the compatible {name}: {outcome}: {message}")
    kinds = {k for k, _ in tried}
    if "enforce-refuse" not in kinds or "enforce-allow" not in kinds:
        problems.append("enforcement was not tried both ways (the images have no compatible or no incompatible extension)")
    refused = [n for (k, n) in tried if k == "enforce-refuse"]
    allowed = [n for (k, n) in tried if k == "enforce-allow"]
    note(f"enforcement: {', '.join(refused)} refused (42501), {', '.join(allowed)} allowed")

    for n in notes:
        print("  " + n)
    if problems:
        print("arm64: PROBLEMS")
        for p in problems:
            print("  " + p)
        return 1
    print("arm64: pgext on the arm64 server agrees with PostgreSQL and with pgext-check on every item")
    return 0


def same_cli(out):
    """pgext-check for arm64, run in the root (paths as the root sees them), against pgext-check here."""
    root = os.path.join(out, "root")

    def strip(v):
        if isinstance(v, str):
            return "/" if v == root else v.replace(root + "/", "/")
        if isinstance(v, list):
            return [strip(x) for x in v]
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        return v

    here, there = strip(load(out, "cli.json")), load(out, "cli-arm64.json")
    if here == there:
        print(f"    pgext-check for arm64 (emulated) and here: the same JSON ({len(here)} extensions)")
        return 0
    for a, b in zip(here, there):
        if a != b:
            print(f"  here:  {json.dumps(a, sort_keys=True)[:2000]}")
            print(f"  arm64: {json.dumps(b, sort_keys=True)[:2000]}")
            break
    else:
        print(f"  here {len(here)} extensions, arm64 {len(there)}")
    return 1


def main():
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "--same-cli":
        sys.exit(same_cli(out))
    if mode == "--list":
        listing(out)
    elif mode == "--enforce-list":
        enforce_listing(out)
    elif mode == "--report":
        sys.exit(report(out))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
