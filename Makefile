# Convenience targets; the scripts are the source of truth (README: scripts/demo.sh, scripts/test.sh).
.PHONY: setup demo demo-stop test lint unit pgrx-test regress oracle bench
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
regress:
	bash scripts/test.sh regress
oracle:
	bash scripts/test.sh oracle
bench: ; bash scripts/bench.sh
