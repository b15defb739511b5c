# Convenience targets; the scripts are the source of truth (README: scripts/demo.sh, scripts/test.sh).
.PHONY: setup demo demo-stop test lint unit pgrx-test regress upgrade signatures oracle preflight upgrade-preflight bench fuzz fuzz-smoke
setup:
	bash scripts/setup.sh
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
preflight:
	bash scripts/test.sh preflight
upgrade-preflight:
	bash scripts/test.sh upgrade-preflight
# The enforcement bench reuses the release build bench.sh installed.
bench: ; bash scripts/bench.sh && PGEXT_BENCH_INSTALL=0 bash scripts/bench-enforce.sh
# Every fuzz target for FUZZ_SECONDS each (default 600); the test suite's smoke run is 20 s each.
fuzz: ; bash scripts/fuzz.sh $${FUZZ_SECONDS:-600}
fuzz-smoke: ; bash scripts/test.sh fuzz
