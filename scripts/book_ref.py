#!/usr/bin/env python3
"""Renders the book's reference pages that come from the code, between their markers.

    book_ref.py --catalog CATALOG.json --help HELP.txt [--bless]

Each source has exactly one place it is read from:
  - settings, views, tables, functions: CATALOG.json, dumped by scripts/book.sh from a running
    server with pgext installed (pg_settings for every pgext.* setting as gucs.rs registers it;
    COMMENT ON text, types and grants from the catalog, as sql/comments.sql writes them);
  - metrics: monitoring/cnpg-queries.yaml, named as CloudNativePG's exporter names them;
  - pgext-check's flags: HELP.txt, the output of `pgext-check --help`.
Problem codes are rendered by core/src/codes.rs itself (its unit test compares the book).

Without --bless, every page whose generated part differs is listed and the exit status is 1.
"""
import argparse
import json
import os
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOOK = os.path.join(REPO, "docs", "src")
BEGIN = "<!-- generated: begin (scripts/book.sh bless) -->\n"
END = "<!-- generated: end -->"


def text(t):
    """Catalog text as Markdown: one paragraph, HTML's < and > escaped (comments say <name>)."""
    return " ".join((t or "").split()).replace("<", "&lt;").replace(">", "&gt;")


def cell(t):
    """A Markdown table cell: one line, pipes escaped."""
    return text(t).replace("|", "\\|")


def code(text):
    return "`" + text + "`" if text else ""


# --- settings -------------------------------------------------------------------------------

# Who may change a setting, by its pg_settings.context (guc.h's GucContext).
WHO = {
    "internal": "nobody (fixed at build time)",
    "postmaster": "postgresql.conf or ALTER SYSTEM, then a restart",
    "sighup": "postgresql.conf or ALTER SYSTEM, then a reload",
    "superuser-backend": "superusers, at connection start",
    "backend": "anyone, at connection start",
    "superuser": "superusers (and roles granted SET on it), also per session",
    "user": "anyone, also per session",
}


def settings(cat):
    rows = cat["settings"]
    out = ["| setting | type | default | context | who may set it |", "| --- | --- | --- | --- | --- |"]
    for s in rows:
        typ = s["vartype"]
        if s["unit"]:
            typ += f" ({s['unit']})"
        if s["enumvals"]:
            typ += ": " + ", ".join(code(v) for v in s["enumvals"])
        elif s["min_val"] is not None and s["vartype"] in ("integer", "real"):
            typ += f", {s['min_val']} to {s['max_val']}"
        default = code(" ".join(s["default"].split()).replace("|", "\\|")) or "`''`"
        anchor = s["name"].replace(".", "")
        who = WHO.get(s["context"], s["context"])
        out.append(f"| [{code(s['name'])}](#{anchor}) | {cell(typ)} | {default} | {s['context']} | {who} |")
    out.append("")
    for s in rows:
        out.append(f"### {s['name']}")
        out.append("")
        out.append(text(s["short_desc"]))
        if s["extra_desc"]:
            out.append("")
            out.append(text(s["extra_desc"]))
        out.append("")
    return "\n".join(out)


# --- views, tables, functions ---------------------------------------------------------------


def grants(privs):
    return ", ".join(code(p) for p in privs) if privs else "superusers only"


def relations(cat, kinds):
    out = []
    for r in cat["relations"]:
        if r["kind"] not in kinds:
            continue
        out.append(f"## pgext.{r['name']}")
        out.append("")
        out.append(text(r["comment"]))
        out.append("")
        out.append(f"Readable by: {grants(r['readers'])}.")
        out.append("")
        out.append("| column | type | meaning |")
        out.append("| --- | --- | --- |")
        for c in r["columns"]:
            out.append(f"| {code(c['name'])} | {code(c['type'])} | {cell(c['comment'])} |")
        out.append("")
    return "\n".join(out)


def functions(cat):
    out = []
    for f in cat["functions"]:
        out.append(f"## pgext.{f['name']}({f['args']})")
        out.append("")
        out.append(f"Returns `{cell(f['result'])}`.")
        out.append("")
        out.append(text(f["comment"]))
        out.append("")
        out.append(f"Executable by: {grants(f['executors'])}.")
        out.append("")
    return "\n".join(out)


# --- metrics --------------------------------------------------------------------------------


def metric_rows():
    """(metric, type, labels, description, query) exactly as CloudNativePG's exporter names them:
    cnpg_<query>_<column> for each GAUGE/COUNTER column, the LABEL columns as labels
    (pkg/management/postgres/metrics: QueriesCollector namespaces each query as
    "<collector>_<query>", collector "cnpg"; ColumnMapping.ToMetricMap appends the column)."""
    with open(os.path.join(REPO, "monitoring", "cnpg-queries.yaml")) as f:
        cm = yaml.safe_load(f)
    queries = yaml.safe_load(cm["data"]["queries"])
    rows = []
    for qname, q in queries.items():
        cols = [(n, d) for m in q["metrics"] for n, d in m.items()]
        labels = [n for n, d in cols if d["usage"] == "LABEL"]
        for n, d in cols:
            if d["usage"] in ("GAUGE", "COUNTER"):
                rows.append((f"cnpg_{qname}_{n}", d["usage"].lower(), labels, d.get("description", ""), qname))
            elif d["usage"] not in ("LABEL", "DISCARD"):
                sys.exit(f"book_ref: {qname}.{n}: usage {d['usage']} is not rendered (add it here)")
    return rows


def metrics(_cat):
    out = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for name, typ, labels, desc, _q in metric_rows():
        out.append(f"| {code(name)} | {typ} | {', '.join(code(l) for l in labels)} | {cell(desc)} |")
    return "\n".join(out) + "\n"


# --- pgext-check ----------------------------------------------------------------------------


def cli(help_text):
    return "```text\n" + help_text.rstrip("\n") + "\n```\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--help-text", required=True)
    ap.add_argument("--bless", action="store_true")
    a = ap.parse_args()
    with open(a.catalog) as f:
        cat = json.load(f)
    with open(a.help_text) as f:
        help_text = f.read()
    pages = {
        "reference/settings.md": settings(cat),
        "reference/views.md": relations(cat, ("v",)) + "\n# Tables\n\n" + relations(cat, ("r",)),
        "reference/functions.md": functions(cat),
        "reference/metrics.md": metrics(cat),
        "reference/pgext-check.md": cli(help_text),
    }
    stale = []
    for page, body in pages.items():
        path = os.path.join(BOOK, page)
        with open(path) as f:
            text = f.read()
        start = text.find(BEGIN)
        end = text.find(END, start + 1)
        if start < 0 or end < 0:
            sys.exit(f"book_ref: {page} has no generated markers")
        start += len(BEGIN)
        want = body.rstrip("\n") + "\n"
        if text[start:end] == want:
            continue
        if a.bless:
            with open(path, "w") as f:
                f.write(text[:start] + want + text[end:])
            print(f"rewrote {page}")
        else:
            stale.append(page)
    if stale:
        print("the book disagrees with the code in: " + ", ".join(stale), file=sys.stderr)
        print("regenerate with: bash scripts/book.sh bless", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
