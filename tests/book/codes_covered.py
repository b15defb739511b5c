#!/usr/bin/env python3
"""Troubleshooting names every problem code (core/src/codes.rs, via the generated table) and every
verification error code (pgext_oci::ErrorCode) with its fix, and the SQLSTATE reference names
every SQLSTATE pgext raises (each ERRCODE_* in src/), so that a new code cannot ship unexplained."""
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOK = os.path.join(REPO, "docs", "src")


def read(*p):
    with open(os.path.join(*p), encoding="utf-8") as f:
        return f.read()


table = read(BOOK, "reference", "problem-codes.md")
table = table[table.index("codes: begin"):table.index("codes: end")]
codes = re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.M)
oci = read(REPO, "oci", "src", "error.rs")
enum = oci[oci.index("pub enum ErrorCode"):]
enum = enum[:enum.index("\n}")]
errors = [re.sub(r"(?<!^)([A-Z])", r"_\1", v).lower() for v in re.findall(r"^\s+([A-Z][A-Za-z]+),", enum, re.M)]
trouble = read(BOOK, "operations", "troubleshooting.md")
missing = [c for c in codes if f"`{c}`" not in trouble]
missing_err = [e for e in errors if f"`{e}`" not in trouble]

states = set()
for d, _, files in os.walk(os.path.join(REPO, "src")):
    for f in files:
        if f.endswith(".rs"):
            states |= set(re.findall(r"ERRCODE_([A-Z_]+)", read(d, f)))
states -= {"WARNING", "SUCCESSFUL_COMPLETION"}  # notices, not errors
sqlstates = read(BOOK, "reference", "sqlstates.md")
missing_state = sorted(s for s in states if f"`{s.lower()}`" not in sqlstates)

for c in missing:
    print(f"troubleshooting.md does not name problem code `{c}`")
for e in missing_err:
    print(f"troubleshooting.md does not name verification error code `{e}`")
for s in missing_state:
    print(f"sqlstates.md does not name `{s.lower()}` (ERRCODE_{s} is raised in src/)")
print(f"{len(codes)} problem codes, {len(errors)} error codes, {len(states)} SQLSTATEs checked")
sys.exit(1 if missing or missing_err or missing_state else 0)
