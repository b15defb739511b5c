#!/usr/bin/env python3
"""The alerts and the fleet dashboard speak the metrics monitoring/cnpg-queries.yaml produces.

    monitoring.py BOOK_HTML_DIR

- every metric a dashboard query, a dashboard variable or an alert names is one CloudNativePG
  exports from cnpg-queries.yaml (cnpg_<query>_<column>, see scripts/book_ref.py), and every label
  it selects, groups or matches on is a LABEL column of one of those queries or a target label of
  the PodMonitor scrape (namespace, pod, container, endpoint, instance, job, and cluster);
- every input series of monitoring/alerts-test.yaml is shaped exactly like an exported one: a
  produced metric with exactly its LABEL columns plus every target label;
- every alert has a unit test, a line in the monitoring chapter's table, and a runbook_url that
  points at an anchor of the rendered book.
"""
import json
import os
import re
import sys
import urllib.parse

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from book_ref import metric_rows  # noqa: E402  (the one place that names metrics as CNPG does)

# Labels every scraped series carries: prometheus-operator's PodMonitor target labels, and
# cluster from the relabelling of the pod label cnpg.io/cluster (docs: operations/monitoring.md).
TARGET = {"namespace", "pod", "container", "endpoint", "instance", "job", "cluster"}
# Labels PromQL itself attaches or that rules add.
BOOK_BASE = "https://pgext.example/book/"

METRICS = {name: set(labels) for name, _t, labels, _d, _q in metric_rows()}
problems = []


def check_expr(where, expr):
    names = set(re.findall(r"\bcnpg_[a-z0-9_]+", expr))
    if not names:
        problems.append(f"{where}: names no pgext metric: {expr}")
    allowed = set(TARGET)
    for n in names:
        if n not in METRICS:
            problems.append(f"{where}: {n} is not a metric cnpg-queries.yaml produces")
        else:
            allowed |= METRICS[n]
    used = set()
    for body in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        used |= {l.strip() for l in clause.split(",") if l.strip()}
    for m in re.finditer(r"label_values\(\s*([^,]*?)\s*,\s*([a-zA-Z_]\w*)\s*\)", expr):
        used.add(m.group(2))
    for label in sorted(used - allowed):
        problems.append(f"{where}: label {label!r} is not produced for {sorted(names)}")


def dashboard():
    with open(os.path.join(REPO, "monitoring", "grafana-dashboard.json")) as f:
        d = json.load(f)
    n = 0

    def walk(panels):
        nonlocal n
        for p in panels:
            for t in p.get("targets", []):
                check_expr(f"dashboard panel {p.get('title')!r}", t["expr"])
                n += 1
            walk(p.get("panels", []))

    walk(d["panels"])
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            check_expr(f"dashboard variable {v['name']}", v["definition"])
            n += 1
    if n == 0:
        problems.append("the dashboard has no query")
    return n


def alerts(book):
    with open(os.path.join(REPO, "monitoring", "alerts.yaml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    with open(os.path.join(REPO, "monitoring", "alerts-test.yaml")) as f:
        tests = yaml.safe_load(f)["tests"]
    with open(os.path.join(REPO, "docs", "src", "operations", "monitoring.md"), encoding="utf-8") as f:
        chapter = f.read()
    tested = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    for r in rules:
        name = r["alert"]
        check_expr(f"alert {name}", r["expr"])
        if name not in tested:
            problems.append(f"alert {name}: no test in alerts-test.yaml expects it to fire")
        if f"`{name}`" not in chapter:
            problems.append(f"alert {name}: not in the alerts table of docs/src/operations/monitoring.md")
        url = r.get("annotations", {}).get("runbook_url", "")
        if not url.startswith(BOOK_BASE):
            problems.append(f"alert {name}: runbook_url {url!r} is not a page of the book ({BOOK_BASE}…)")
            continue
        u = urllib.parse.urlsplit(url[len(BOOK_BASE):])
        page = os.path.join(book, u.path)
        if not os.path.exists(page):
            problems.append(f"alert {name}: runbook page {u.path} is not in the book")
        elif f'id="{u.fragment}"' not in open(page, encoding="utf-8").read():
            problems.append(f"alert {name}: runbook anchor #{u.fragment} is not on {u.path}")
    series = 0
    for t in tests:
        for s in t["input_series"]:
            m = re.fullmatch(r"([a-z0-9_]+)\{(.*)\}", s["series"])
            if not m:
                problems.append(f"alerts-test.yaml: series without labels: {s['series']}")
                continue
            name, body = m.groups()
            labels = set(re.findall(r'([a-zA-Z_]\w*)="', body))
            if name not in METRICS:
                problems.append(f"alerts-test.yaml: {name} is not a metric cnpg-queries.yaml produces")
            elif labels != METRICS[name] | TARGET:
                problems.append(
                    f"alerts-test.yaml: {name} has labels {sorted(labels)}, an exported one has "
                    f"{sorted(METRICS[name] | TARGET)}"
                )
            series += 1
    return len(rules), series


def main():
    book = sys.argv[1]
    queries = dashboard()
    nrules, nseries = alerts(book)
    for p in problems:
        print("FAIL:", p)
    print(f"{queries} dashboard queries, {nrules} alerts, {nseries} test series; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
