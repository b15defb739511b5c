#!/usr/bin/env bash
# Every test pgext has, from a fresh machine: set-up, lint, core unit tests, #[pg_test] in a real
# PostgreSQL 18, and the pg_regress suites against a server started as the unprivileged owner.
# Usage: scripts/test.sh [lint|unit|pgrx|regress|upgrade|worker|enforce|signatures|oracle|preflight|fuzz ...]   (default: all)
source "$(dirname "$0")/lib.sh"
bash "$REPO/scripts/setup.sh"
load_setup
cd "$REPO"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(lint unit pgrx regress upgrade worker enforce signatures oracle preflight fuzz)
passed=0
failed=0
failures=()

run_suite() {
    local name=$1
    shift
    say "suite: $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

lint() {
    cargo fmt --all --check && cargo clippy --workspace --all-targets --quiet -- -D warnings
}

unit() {
    cargo test --workspace --exclude pgext
}

pgrx_tests() {
    # `cargo pgrx test` starts its own cluster; as root it must run as the unprivileged owner.
    local pgdata=${TMPDIR:-/tmp}/pgext-pgrx-test
    local runas=()
    if [ "$(id -u)" = 0 ]; then
        rm -rf "$pgdata"
        owner_dir "$pgdata"
        runas=(--runas "$PGEXT_USER" --pgdata "$pgdata")
    fi
    cargo pgrx test pg18 "${runas[@]}"
}

regress() {
    install_pgext && bash "$REPO/scripts/regress.sh"
}

upgrade() {
    install_pgext && bash "$REPO/tests/upgrade/run.sh"
}

worker() {
    install_pgext && bash "$REPO/tests/worker/run.sh"
}

enforce() {
    install_pgext && bash "$REPO/tests/enforce/run.sh"
}

signatures() {
    install_pgext && bash "$REPO/tests/signatures/run.sh"
}

preflight() {
    install_pgext && bash "$REPO/tests/preflight/run.sh"
}

upgrade_preflight() {
    install_pgext && bash "$REPO/tests/upgrade-preflight/run.sh"
}

oracle() {
    install_pgext && PGEXT_ORACLE_NO_INSTALL=1 bash "$REPO/tests/oracle/run.sh"
}

for s in "${suites[@]}"; do
    case $s in
        lint) run_suite lint lint ;;
        unit) run_suite unit unit ;;
        pgrx) run_suite pgrx pgrx_tests ;;
        regress) run_suite regress regress ;;
        upgrade) run_suite upgrade upgrade ;;
        worker) run_suite worker worker ;;
        enforce) run_suite enforce enforce ;;
        signatures) run_suite signatures signatures ;;
        oracle) run_suite oracle oracle ;;
        preflight) run_suite preflight preflight ;;
        upgrade-preflight) run_suite upgrade-preflight upgrade_preflight ;;
        fuzz) run_suite fuzz bash "$REPO/scripts/fuzz.sh" "${PGEXT_FUZZ_SECONDS:-20}" ;;
        *) die "unknown suite: $s (lint, unit, pgrx, regress, upgrade, worker, enforce, signatures, oracle, preflight, fuzz)" ;;
    esac
done

echo
[ $failed -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
