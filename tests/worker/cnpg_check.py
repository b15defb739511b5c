#!/usr/bin/env python3
"""Runs every query of monitoring/cnpg-queries.yaml against a real server the way CloudNativePG's
exporter does: as a member of pg_monitor, in a read-only transaction, with search_path pinned to
pg_catalog, public, pg_temp. Checks that each query succeeds, returns every column its `metrics`
declare, and that GAUGE/COUNTER columns are numbers.

Usage: cnpg_check.py PSQL HOST PORT USER DBNAME YAML LABEL
Prints one PASS/FAIL line per query; the exit status is the number of failures.
"""
import csv
import io
import subprocess
import sys

import yaml

VALID_USAGES = {"DISCARD", "LABEL", "COUNTER", "GAUGE", "MAPPEDMETRIC", "DURATION", "HISTOGRAM"}


def main() -> int:
    psql, host, port, user, dbname, path, label = sys.argv[1:8]
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if doc.get("kind") != "ConfigMap":
        print(f"FAIL: {label}: {path} is not a ConfigMap")
        return 1
    queries = yaml.safe_load(doc["data"]["queries"])
    failures = 0
    for name, spec in queries.items():
        problems = []
        metrics = {}
        for m in spec.get("metrics", []):
            (column, attrs), = m.items()
            metrics[column] = attrs
            if attrs.get("usage") not in VALID_USAGES:
                problems.append(f"column {column}: usage {attrs.get('usage')!r} is not a CNPG usage")
            if not attrs.get("description"):
                problems.append(f"column {column}: no description")
        if spec.get("primary") or spec.get("master"):
            problems.append("restricted to the primary; pgext queries must run on standbys too")
        sql = (
            "BEGIN READ ONLY;\n"
            "SET LOCAL search_path = pg_catalog, public, pg_temp;\n"
            f"{spec['query'].rstrip().rstrip(';')};\n"
            "COMMIT;\n"
        )
        run = subprocess.run(
            [psql, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", dbname],
            input=sql,
            capture_output=True,
            text=True,
        )
        rows = []
        if run.returncode != 0:
            problems.append(f"query failed: {run.stderr.strip()}")
        else:
            reader = csv.reader(io.StringIO(run.stdout))
            table = [r for r in reader if r]
            header, rows = (table[0], table[1:]) if table else ([], [])
            for column in metrics:
                if column not in header:
                    problems.append(f"column {column} missing from the result {header}")
            for row in rows:
                record = dict(zip(header, row))
                for column, attrs in metrics.items():
                    if attrs.get("usage") in ("GAUGE", "COUNTER"):
                        try:
                            float(record.get(column, ""))
                        except ValueError:
                            problems.append(f"column {column}: {record.get(column)!r} is not a number")
        if problems:
            failures += 1
            print(f"FAIL: {label}: cnpg query {name}: " + "; ".join(problems))
        else:
            print(f"PASS: {label}: cnpg query {name} ({len(rows)} row(s))")
    return failures


if __name__ == "__main__":
    sys.exit(main())
