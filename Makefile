# Convenience targets; the scripts are the source of truth (README: scripts/demo.sh, scripts/test.sh).
.PHONY: setup setup-check apt demo demo-stop test lint unit pgrx-test regress upgrade signatures oracle oracle-arm64 arm64 arm64-image preflight upgrade-preflight bench fuzz fuzz-smoke book book-html book-bless
setup:
	bash scripts/setup.sh
setup-check:
	bash scripts/setup.sh --check
demo:
	bash scripts/demo.sh
demo-stop:
	bash scripts/demo.sh stop
test:
	bash scripts/test.sh
lint:
	bash scripts/test.sh lint
unit:
	bash scripts/test.sh unit
pgrx-test:
	bash scripts/test.sh pgrx
upgrade:
	bash scripts/test.sh upgrade
regress:
	bash scripts/test.sh regress
signatures:
	bash scripts/test.sh signatures
oracle:
	bash scripts/test.sh oracle
# The arm64 oracle on every arm64 image (CI runs a subset through scripts/test.sh oracle-arm64).
oracle-arm64:
	PGEXT_ORACLE_ARM64_ALL=1 bash scripts/test.sh oracle-arm64
# pgext itself on arm64: cross-compiled, a multi-arch image, run in the emulated arm64 server
# (not in CI's default run: docs/src/contributing/testing.md).
arm64:
	bash scripts/test.sh arm64
# pgext's image for linux/amd64 and linux/arm64 and the multi-arch index (target/pgext-image).
arm64-image:
	bash scripts/package-image.sh --platform linux/amd64,linux/arm64
preflight:
	bash scripts/test.sh preflight
upgrade-preflight:
	bash scripts/test.sh upgrade-preflight
apt:
	bash scripts/test.sh apt
# The enforcement bench reuses the release build bench.sh installed.
bench: ; bash scripts/bench.sh && PGEXT_BENCH_INSTALL=0 bash scripts/bench-enforce.sh
# Every fuzz target for FUZZ_SECONDS each (default 600); the test suite's smoke run is 20 s each.
fuzz: ; bash scripts/fuzz.sh $${FUZZ_SECONDS:-600}
fuzz-smoke: ; bash scripts/test.sh fuzz
# The book suite (generated reference, links, alerts, dashboard); the book rendered into target/book;
# the generated reference pages regenerated from the code.
book: ; bash scripts/test.sh book
book-html: ; bash scripts/book.sh build
book-bless: ; bash scripts/book.sh bless
