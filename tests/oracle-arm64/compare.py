#!/usr/bin/env python3
"""The arm64 oracle's bookkeeping (tests/oracle-arm64/run.sh).

    compare.py --list CLI_JSON             what to try: create<TAB>extension, load<TAB>library path
    compare.py --preload-set RESULTS_TSV   the libraries whose LOAD failed from their own code
    compare.py --report [--seconds N] [--preload PASS=LIBS] PASS=CLI_JSON=RESULTS_TSV ...

The report compares pgext-check's `compatible` with CREATE EXTENSION and `loadable` with LOAD.
Exits 1 on a false-compatible, false-incompatible or undecided answer, or an item never tried;
the undecided items documented in undecided.tsv (next to this file) are listed, not failed."""
import json
import os
import re
import sys

LOADER = re.compile(r"could not load library|incompatible library|could not access file")


def rows(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def libraries(extension):
    return [l for l in extension["libraries"] if "/extensions/" in l["path"]]


def listing(path):
    seen = set()
    out = []
    data = rows(path)
    for e in data:
        out.append(f"create\t{e['name']}")
    for e in data:
        for lib in libraries(e):
            if lib["path"] not in seen:
                seen.add(lib["path"])
                out.append(f"load\t{lib['path']}")
    print("\n".join(out))


def results(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            kind, name, outcome, message = line.rstrip("\n").split("\t", 3)
            out[(kind, name)] = (outcome, message)
    return out


def preload_set(path):
    names = []
    for (kind, name), (outcome, message) in sorted(results(path).items()):
        if kind == "load" and outcome != "ok" and not LOADER.search(message):
            base = name.rsplit("/", 1)[-1].removesuffix(".so")
            if base not in names:
                names.append(base)
    print(",".join(names))


def documented_undecided():
    """(kind, name) -> why, from undecided.tsv; name is an extension, or a library's file name."""
    out = {}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "undecided.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                kind, name, why = line.rstrip("\n").split("\t", 2)
                out[(kind, name)] = why
    return out


def verdict(pgext, outcome):
    if pgext is None:
        return "undecided"
    if pgext == (outcome == "ok"):
        return "agree"
    return "false-compat" if pgext else "false-incompat"


def loadable_now(lib, preloaded):
    """Whether LOAD succeeds, as library_compat.loadable says it: the ELF analysis, then _PG_init
    outside preloading (None when that could not be decided)."""
    if not lib["loadable"]:
        return False
    if lib["path"].rsplit("/", 1)[-1].removesuffix(".so") in preloaded:
        return True
    return {"required": False, "undecided": None}.get(lib.get("preload"), True)


def report(args):
    seconds = None
    preload = {}
    while args and args[0].startswith("--"):
        if args[0] == "--seconds":
            seconds = args[1]
        elif args[0] == "--preload":
            pass_name, _, libs = args[1].partition("=")
            preload[pass_name] = libs
        args = args[2:]
    failed = False
    documented = documented_undecided()
    for spec in args:
        name, cli, tsv = spec.split("=", 2)
        data, tried = rows(cli), results(tsv)
        counts = {"create": {}, "load": {}}
        misses, notes = [], []
        loadable = {}
        preloaded = set(filter(None, preload.get(name, "").split(",")))
        for e in data:
            for lib in libraries(e):
                loadable[lib["path"]] = loadable_now(lib, preloaded)
        items = [("create", e["name"], e["compatible"], ",".join(e["problems"])) for e in data]
        items += [("load", p, v, "") for p, v in loadable.items()]
        for kind, item, pgext, problems in items:
            if (kind, item) not in tried:
                misses.append(f"  never tried: {kind} {item}")
                counts[kind]["never tried"] = counts[kind].get("never tried", 0) + 1
                continue
            outcome, message = tried[(kind, item)]
            v = verdict(pgext, outcome)
            why = documented.get((kind, item.rsplit("/", 1)[-1]))
            if v == "undecided" and why:
                v = "undecided (documented)"
                notes.append(f"  {v}: {kind} {item}: {why}; PostgreSQL {outcome}")
            elif why:
                notes.append(f"  documented as undecided, now {v}: {kind} {item} (update undecided.tsv)")
            counts[kind][v] = counts[kind].get(v, 0) + 1
            if v not in ("agree", "undecided (documented)"):
                misses.append(f"  {v}: {kind} {item}: pgext {pgext} [{problems}], PostgreSQL {outcome}: {message}")
        ok_pg = sum(1 for (k, _), (o, _) in tried.items() if k == "create" and o == "ok")
        print(f"pass {name}: CREATE {counts['create']} (PostgreSQL installs {ok_pg} of "
              f"{sum(1 for k, _ in tried if k == 'create')}), LOAD {counts['load']}")
        if notes:
            print("\n".join(notes))
        if misses:
            failed = True
            print("\n".join(misses))
    if seconds:
        print(f"arm64 oracle: {seconds}s")
    print("arm64 oracle: " + ("MISSES (above)" if failed else
                              "pgext-check agrees with the arm64 server on every item but the documented undecided ones"))
    return 1 if failed else 0


def main():
    if sys.argv[1] == "--list":
        listing(sys.argv[2])
    elif sys.argv[1] == "--preload-set":
        preload_set(sys.argv[2])
    elif sys.argv[1] == "--report":
        sys.exit(report(sys.argv[2:]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
