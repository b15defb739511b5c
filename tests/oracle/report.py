#!/usr/bin/env python3
"""Compares pgext's verdicts with what PostgreSQL did (tests/oracle/run.sh's result files).

    report.py --corpus corpus.tsv --misses misses.txt [--preload LIST] [--seconds N] PASS=results.tsv...

Each results file has one row per statement: kind (create, load), name, pgext's answer (true,
false, null = undecided, missing = no visible row), PostgreSQL's outcome (ok, error, fatal,
crash, timeout, not_listed), its message, pgext's problems and problem_details, and for a load
whether a control file names the library. Prints the agreement table and every miss; writes the
misses grouped by cause to --misses. Exits 1 on any miss or any problems array that repeats a
code (undecided rows are listed, not misses).
"""

import argparse
import csv
import re
import sys
from collections import defaultdict

csv.field_size_limit(sys.maxsize)


def classify(pgext, outcome):
    """agree, false_compatible, false_incompatible, undecided, missing_row or extra_row."""
    if outcome == "not_listed":
        return "extra_row"
    if pgext == "missing":
        return "missing_row"
    if pgext == "null":
        return "undecided"
    ok = outcome == "ok"
    if (pgext == "true") == ok:
        return "agree"
    return "false_compatible" if pgext == "true" else "false_incompatible"


def codes(problems):
    """pgext's problem codes, each once, sorted."""
    return ",".join(sorted({c for c in problems.split(",") if c}))


def cause_of(row, verdict):
    """A grouping key: what PostgreSQL said (without names and paths), or pgext's codes."""
    if verdict == "false_incompatible" or row["outcome"] == "ok":
        return "PostgreSQL succeeds; pgext says " + (codes(row["problems"]) or "no problem code")
    if verdict in ("missing_row", "extra_row"):
        return verdict
    name = row["name"].rsplit("/", 1)[-1]
    name = name[:-3] if name.endswith(".so") else name
    msg = row["message"]
    msg = re.sub(r"\(required by [^)]*\)", "", msg)
    msg = re.sub(r'"[^"]*"', '"…"', msg)
    msg = re.sub(r"(?<![\w.])/[^\s:\"']+", "…", msg)
    if name:
        msg = re.sub(r"\b" + re.escape(name) + r"\b", "<name>", msg)
    msg = re.sub(r"\s+", " ", msg).strip()
    return f"PostgreSQL {row['outcome']}: {msg}; pgext says " + (codes(row["problems"]) or "no problem code")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--misses", required=True)
    ap.add_argument("--preload", default="")
    ap.add_argument("--seconds", default="")
    ap.add_argument("--partial", action="store_true", help="a run limited to some names: skip the coverage check")
    ap.add_argument("passes", nargs="+")
    args = ap.parse_args()

    with open(args.corpus, newline="") as f:
        corpus = list(csv.DictReader(f, delimiter="\t"))
    exts = {e for r in corpus for e in r["extensions"].split(",") if e}
    libs = [x for r in corpus for x in r["libraries"].split(",") if x]
    print()
    print(f"corpus: {len(corpus)} images, {len(exts)} extensions, {len(libs)} libraries (Debian packages)")
    if args.seconds:
        print(f"run time: {args.seconds}s")

    # Coverage: a misconfigured path would make both sides agree on nothing at all.
    uncovered = []
    for spec in ([] if args.partial else args.passes):
        name, path = spec.split("=", 1)
        with open(path, newline="") as f:
            got = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r and r[0] != "kind"]
        created = {r[1] for r in got if r[0] == "create"}
        loaded = {"/".join(r[1].split("/")[-3:]) for r in got if r[0] == "load"}
        for r in corpus:
            uncovered += [f"[{name}] extension {e} ({r['image']})" for e in r["extensions"].split(",") if e and e not in created]
            uncovered += [f"[{name}] library {r['image']}/lib/{x}" for x in r["libraries"].split(",") if x and f"{r['image']}/lib/{x}" not in loaded]
    if uncovered:
        print(f"\nnot tried although in the corpus ({len(uncovered)}): the paths do not reach them")
        for u in uncovered:
            print("  " + u)

    columns = ["agree", "false_compatible", "false_incompatible", "undecided", "missing_row", "extra_row"]
    misses = []
    undecided = []
    repeated = []  # problems must hold codes, each once (the messages belong in problem_details)
    total_miss = 0
    for spec in args.passes:
        name, path = spec.split("=", 1)
        with open(path, newline="") as f:
            rows = []
            for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if r[0] == "kind":
                    continue
                r += [""] * (9 - len(r))
                r = ["" if x == "-" else x for x in r]
                rows.append(dict(zip(["kind", "name", "pgext", "outcome", "message", "problems", "details", "extra", "ms"], r)))
        print()
        preload = f" (shared_preload_libraries = '{args.preload}')" if name == "preload" else " (nothing preloaded)"
        print(f"pass {name}{preload}")
        print(f"  {'':24} {'total':>6} {'agree':>6} {'false-compat':>13} {'false-incompat':>15} {'undecided':>10} {'no-row':>7} {'extra-row':>10} {'pg ok':>6}")
        groups = [
            ("CREATE EXTENSION", lambda r: r["kind"] == "create"),
            ("LOAD, unreferenced lib", lambda r: r["kind"] == "load" and r["extra"] == "unreferenced"),
            ("LOAD, referenced lib", lambda r: r["kind"] == "load" and r["extra"] == "referenced"),
        ]
        for label, pred in groups:
            sel = [r for r in rows if pred(r)]
            counts = defaultdict(int)
            for r in sel:
                counts[classify(r["pgext"], r["outcome"])] += 1
            pg_ok = sum(1 for r in sel if r["outcome"] == "ok")
            pct = f"{100.0 * counts['agree'] / len(sel):.1f}%" if sel else "-"
            print(f"  {label:24} {len(sel):>6} {counts['agree']:>6} {counts['false_compatible']:>13} {counts['false_incompatible']:>15} "
                  f"{counts['undecided']:>10} {counts['missing_row']:>7} {counts['extra_row']:>10} {pg_ok:>6}   agreement {pct}")
        outcomes = defaultdict(int)
        for r in rows:
            outcomes[r["kind"] + " " + r["outcome"]] += 1
        print("  PostgreSQL outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        timed = sorted(rows, key=lambda r: -int(r["ms"] or 0))
        total_ms = sum(int(r["ms"] or 0) for r in rows)
        print(f"  statements: {total_ms / 1000:.1f}s in all; slowest: "
              + ", ".join(f"{r['kind']} {r['name'].rsplit('/', 1)[-1]} {int(r['ms']) / 1000:.1f}s" for r in timed[:4]))
        for r in rows:
            cs = [c for c in r["problems"].split(",") if c]
            if len(cs) != len(set(cs)):
                repeated.append((name, r))
            v = classify(r["pgext"], r["outcome"])
            if v == "agree":
                continue
            if v == "undecided":
                undecided.append((name, r))
                continue
            total_miss += 1
            misses.append((name, v, r))

    by_cause = defaultdict(list)
    for name, v, r in misses:
        by_cause[(r["kind"], v, cause_of(r, v))].append((name, r))

    lines = []
    lines.append(f"{total_miss} misses, {len(repeated)} rows with a repeated problem code ({len(undecided)} undecided rows listed apart)")
    for (kind, v, cause), items in sorted(by_cause.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append("")
        lines.append(f"## {v} on {kind.upper()}, {len(items)}: {cause}")
        for name, r in items:
            lines.append(f"- [{name}] {r['name']}: pgext={r['pgext']} postgres={r['outcome']}" + (f" ({r['extra']})" if r["extra"] else ""))
            if r["message"]:
                lines.append(f"    PostgreSQL: {r['message']}")
            lines.append(f"    pgext problems: {{{r['problems']}}}")
            if r["details"] and r["details"] != "[]":
                d = r["details"]
                lines.append(f"    pgext details: {d[:600]}{'…' if len(d) > 600 else ''}")
    if repeated:
        lines.append("")
        lines.append(f"## problems with a repeated code, {len(repeated)} rows (each code must appear once)")
        for name, r in repeated:
            lines.append(f"- [{name}] {r['kind']} {r['name']}: {{{r['problems']}}}")
    if undecided:
        lines.append("")
        lines.append(f"## undecided (compatible/loadable NULL), {len(undecided)}")
        for name, r in undecided:
            lines.append(f"- [{name}] {r['kind']} {r['name']}: postgres={r['outcome']} {r['message']}; pgext problems {{{r['problems']}}}")
    text = "\n".join(lines) + "\n"
    with open(args.misses, "w") as f:
        f.write(text)
    print()
    print(text, end="")
    fc = sum(1 for _, v, _ in misses if v == "false_compatible")
    print()
    print(f"oracle: {total_miss} misses, {fc} false-compatible, {len(repeated)} rows with a repeated problem code, {len(undecided)} undecided")
    return 1 if total_miss or repeated or uncovered else 0


if __name__ == "__main__":
    sys.exit(main())
