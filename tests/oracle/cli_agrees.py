#!/usr/bin/env python3
"""pgext-check against the running server's own installation must say what
pgext.mounted_extensions says: same visible extensions, same `compatible`, same problem codes.

    cli_agrees.py VERDICTS CLI_JSON

VERDICTS: the oracle's `name, compatible, problems, details` rows (tab-separated) of a pass with
nothing preloaded; CLI_JSON: `pgext-check --include-system --json` over the same images.
Exits non-zero on any difference, listing each."""
import json
import sys

sql = {}
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        name, compatible, problems, _details = line.rstrip("\n").split("\t", 3)
        sql[name] = (compatible, "" if problems == "-" else problems)

with open(sys.argv[2], encoding="utf-8") as f:
    rows = json.load(f)
cli = {}
for r in rows:
    c = r["compatible"]
    cli[r["name"]] = ("null" if c is None else str(c).lower(), ",".join(r["problems"]))

diffs = []
for name in sorted(set(sql) | set(cli)):
    a, b = sql.get(name), cli.get(name)
    if a != b:
        diffs.append(f"  {name}: mounted_extensions {a}, pgext-check {b}")
print(f"pgext-check and mounted_extensions: {len(sql)} extensions, {len(diffs)} differences")
print("\n".join(diffs))
sys.exit(1 if diffs or not sql else 0)
