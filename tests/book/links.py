#!/usr/bin/env python3
"""Every internal link of the rendered book resolves: its page exists in the book and its anchor is
an id on that page. Links that leave the book (another scheme or host) are not followed. The
README's relative links must reach files of the repository.

    links.py BOOK_HTML_DIR
"""
import html.parser
import os
import re
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p


def main(root):
    root = os.path.realpath(root)
    pages = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".html"):
                pages[os.path.join(d, f)] = parse(os.path.join(d, f))
    broken = []
    for path, page in pages.items():
        # print.html repeats every page with links rewritten; 404.html is mdBook's own.
        if os.path.basename(path) in ("print.html", "404.html", "toc.html"):
            continue
        for href in page.links:
            u = urllib.parse.urlsplit(href)
            if u.scheme or u.netloc:
                continue
            target = os.path.realpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(u.path))) if u.path else path
            rel = os.path.relpath(path, root)
            if not target.startswith(root + os.sep):
                broken.append(f"{rel}: {href} leaves the book")
                continue
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            if not os.path.exists(target):
                broken.append(f"{rel}: {href}: no such page")
                continue
            frag = urllib.parse.unquote(u.fragment)
            if frag and target.endswith(".html") and frag not in pages[target].ids:
                broken.append(f"{rel}: {href}: no anchor #{frag}")
    # The README is the front door: its relative links must reach files of the repository.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as f:
        for href in re.findall(r"\]\(([^)\s]+)\)", f.read()):
            u = urllib.parse.urlsplit(href)
            if not (u.scheme or u.netloc) and u.path and not os.path.exists(os.path.join(repo, u.path)):
                broken.append(f"README.md: {href}: no such file")
    for b in broken:
        print("broken link:", b)
    print(f"{sum(len(p.links) for p in pages.values())} links in {len(pages)} pages, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
