#!/usr/bin/env bash
# Every test pgext has, from a fresh machine: set-up, lint, core unit tests, #[pg_test] in a real
# PostgreSQL 18, and the shell suites against servers started as the unprivileged owner.
#
#   scripts/test.sh [SUITE...]        (default: every suite in DEFAULT_SUITES, in that order)
#
# How a run goes (docs/src/contributing/testing.md):
#   - scripts/setup.sh first (it also builds the one release pgext-check the suites use);
#   - a background job warms the download caches (the oracle corpus, cosign, the fixtures) while
#     the first suites compile;
#   - the debug build of pgext is installed once, before the first suite that needs it;
#   - suites run side by side, PGEXT_TEST_JOBS at a time (default: 2, or 1 on one core), each
#     with its own log in $PGEXT_TEST_LOGS (default $TMPDIR/pgext-test-logs/<time>); a failed
#     suite's log is printed. With one suite its output goes to the terminal as it runs;
#   - the end: a table of each suite's wall time, then exactly `suites: N passed, N failed`.
#
# Adding a suite: write a function below and add one line to the `case` in add_suite, e.g.
#     mysuite) run_suite mysuite server mysuite_fn ;;
# The second word is its kind, which decides what may run beside it:
#     cpu      needs no installed pgext (lint, unit, fuzz, apt); runs beside anything
#     server   runs servers with the installed debug build of pgext; runs beside cpu and server
#              suites (each suite has its own ports and directories)
#     install  replaces the installed pgext (cargo pgrx test): runs with no server suite beside
#              it, and the debug build is put back afterwards
# A server suite that calls install_pgext itself is fine: under this runner that is a no-op.
# Add the name to DEFAULT_SUITES if the default run should include it.
source "$(dirname "$0")/lib.sh"
cd "$REPO"

DEFAULT_SUITES=(lint unit apt pgrx regress upgrade worker enforce signatures oracle oracle-arm64 preflight upgrade-preflight book fuzz)

# ---------------------------------------------------------------------------------------------
# Suites

lint() {
    cargo fmt --all --check && cargo clippy --workspace --all-targets --quiet -- -D warnings
}

unit() {
    cargo test --workspace --exclude pgext
}

pgrx_tests() {
    # `cargo pgrx test` starts its own cluster; as root it must run as the unprivileged owner.
    local pgdata=${TMPDIR:-/tmp}/pgext-pgrx-test rc=0
    local runas=()
    if [ "$(id -u)" = 0 ]; then
        rm -rf "$pgdata"
        owner_dir "$pgdata"
        runas=(--runas "$PGEXT_USER" --pgdata "$pgdata")
    fi
    pgrx_test_port_free || return 1
    cargo pgrx test pg18 "${runas[@]}" || rc=$?
    # cargo pgrx test installed its own (pg_test) build: put the debug build back.
    if [ -n "${PGEXT_INSTALLED:-}" ]; then PGEXT_FORCE_INSTALL=1 install_pgext || rc=1; fi
    return $rc
}

regress() { install_pgext && bash "$REPO/scripts/regress.sh"; }
upgrade() { install_pgext && bash "$REPO/tests/upgrade/run.sh"; }
worker() { install_pgext && bash "$REPO/tests/worker/run.sh"; }
enforce() { install_pgext && bash "$REPO/tests/enforce/run.sh"; }
signatures() { install_pgext && bash "$REPO/tests/signatures/run.sh"; }
preflight() { install_pgext && bash "$REPO/tests/preflight/run.sh"; }
oracle() { install_pgext && PGEXT_ORACLE_NO_INSTALL=1 bash "$REPO/tests/oracle/run.sh"; }
apt_suite() { bash "$REPO/tests/apt/run.sh"; }
book() { install_pgext && bash "$REPO/scripts/book.sh" check; }
upgrade_preflight() { install_pgext && bash "$REPO/tests/upgrade-preflight/run.sh"; }
fuzz() { bash "$REPO/scripts/fuzz.sh" "${PGEXT_FUZZ_SECONDS:-20}"; }
# The arm64 oracle (tests/oracle-arm64, emulated): by default a representative subset — preload-only
# (cron, pgaudit, pglogical), a loader and the library it loads (timescaledb), plain (age, hll,
# orafce, partman), one that refuses to be preloaded (pgtt), a client library opened with
# dlopen() (mysql-fdw), an OS library the server lacks (ogr-fdw: libgdal), SQL-only
# (pg-permissions), a script that COPYs a data file from the server's share directory (unit);
# PGEXT_ORACLE_ARM64_ALL=1 (make oracle-arm64): every image. It needs no installed pgext
# (pgext-check judges; the emulated server runs from the arm64 root).
oracle_arm64() {
    local subset="cron pgaudit pglogical timescaledb age hll orafce partman pgtt mysql-fdw ogr-fdw pg-permissions unit"
    [ -z "${PGEXT_ORACLE_ARM64_ALL:-}" ] || subset=""
    PGEXT_ORACLE_ARM64_IMAGES=${PGEXT_ORACLE_ARM64_IMAGES-$subset} bash "$REPO/tests/oracle-arm64/run.sh"
}
# pgext itself on arm64 (tests/arm64): cross-compiled, packaged as a multi-arch image, and run in the
# emulated arm64 server of the arm64 oracle. Not in DEFAULT_SUITES: its cold builds (pgext for
# both architectures) do not fit CI's time (docs/src/contributing/testing.md); `make arm64`.
arm64() { bash "$REPO/tests/arm64/run.sh"; }

# ---------------------------------------------------------------------------------------------
# The runner

declare -a Q_NAME=() Q_KIND=() Q_CMD=()
# run_suite NAME KIND FUNCTION [ARGS...]: queues a suite (KIND: cpu, server, install). The former
# form, run_suite NAME FUNCTION, queues a server suite.
run_suite() {
    local name=$1 kind=$2
    shift 2
    case $kind in
        cpu | server | install) ;;
        *) set -- "$kind" "$@"; kind=server ;;
    esac
    Q_NAME+=("$name")
    Q_KIND+=("$kind")
    Q_CMD+=("$*")
}

add_suite() {
    case $1 in
        lint) run_suite lint cpu lint ;;
        unit) run_suite unit cpu unit ;;
        apt) run_suite apt cpu apt_suite ;;
        pgrx) run_suite pgrx install pgrx_tests ;;
        regress) run_suite regress server regress ;;
        upgrade) run_suite upgrade server upgrade ;;
        worker) run_suite worker server worker ;;
        enforce) run_suite enforce server enforce ;;
        signatures) run_suite signatures server signatures ;;
        oracle) run_suite oracle server oracle ;;
        oracle-arm64) run_suite oracle-arm64 cpu oracle_arm64 ;;
        arm64) run_suite arm64 cpu arm64 ;;
        preflight) run_suite preflight server preflight ;;
        book) run_suite book server book ;;
        upgrade-preflight) run_suite upgrade-preflight server upgrade_preflight ;;
        fuzz) run_suite fuzz cpu fuzz ;;
        *) die "unknown suite: $1 (${DEFAULT_SUITES[*]}; also arm64)" ;;
    esac
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=("${DEFAULT_SUITES[@]}")
for s in "${suites[@]}"; do add_suite "$s"; done

t_run=$(date +%s)
bash "$REPO/scripts/setup.sh"
load_setup
t_setup=$(( $(date +%s) - t_run ))
# The one release pgext-check setup.sh built: the suites use it instead of building their own.
export PGEXT_CHECK=${CARGO_TARGET_DIR:-$REPO/target}/release/pgext-check

JOBS=${PGEXT_TEST_JOBS:-$(( $(nproc) > 1 ? 2 : 1 ))}
LOGS=${PGEXT_TEST_LOGS:-${TMPDIR:-/tmp}/pgext-test-logs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGS"
LOGS=$(cd "$LOGS" && pwd)
n=${#Q_NAME[@]}
FOREGROUND=""
[ "$n" = 1 ] && FOREGROUND=1
# The installation's lock: server suites hold it shared, install suites (and the one-time install)
# exclusive. tests/oracle/run.sh converts its own for the cargo pgrx test it runs (lib.sh).
LOCK=$PGEXT_STATE/pg-install.lock
: >>"$LOCK"

declare -A started=() ended=() result=() pid_of=()
declare -a extra_rows=()

# Warm the download caches while the first suites compile: the network and the CPU overlap.
prefetch_pid=""
wants() { local s; for s in "${Q_NAME[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
if [ -z "$FOREGROUND" ] && { wants oracle || wants preflight || wants signatures || wants enforce; }; then
    (
        t0=$(date +%s)
        rc=0
        out=$(mktemp -d "${TMPDIR:-/tmp}/pgext-prefetch.XXXXXX")
        if wants oracle || wants preflight; then bash "$REPO/tests/oracle/build-corpus.sh" "$out/corpus" || rc=1; fi
        if wants signatures || wants preflight; then bash "$REPO/tests/signatures/get-cosign.sh" || rc=1; fi
        if wants enforce; then bash "$REPO/tests/fixtures/build.sh" "$out/fixtures" || rc=1; fi
        rm -rf "$out"
        echo "prefetch: rc=$rc in $(( $(date +%s) - t0 )) s"
        exit $rc
    ) >"$LOGS/prefetch.log" 2>&1 &
    prefetch_pid=$!
    t_prefetch=$(date +%s)
fi

# launch I: starts queued suite I in the background with its lock and log.
launch() {
    local i=$1 name=${Q_NAME[$1]} kind=${Q_KIND[$1]} cmd=${Q_CMD[$1]}
    started[$name]=$(date +%s)
    say "suite: $name ($kind) started$([ -n "$FOREGROUND" ] || echo ", log: $LOGS/$name.log")"
    (
        exec 8<"$LOCK"
        case $kind in
            server) flock -s 8; export PGEXT_INSTALL_LOCK_FD=8 ;;
            install) flock -x 8; export PGEXT_INSTALL_LOCK_FD=8 ;;
            *) exec 8<&- ;;
        esac
        # shellcheck disable=SC2086 # a function name and its words
        $cmd
    ) > >(if [ -n "$FOREGROUND" ]; then tee "$LOGS/$name.log"; else cat >"$LOGS/$name.log"; fi) 2>&1 &
    pid_of[$name]=$!
}

# can_start I: whether suite I may start beside the running ones.
running_kinds() { local s; for s in "${!pid_of[@]}"; do echo "${Q_KIND[$(index_of "$s")]}"; done; }
index_of() { local i; for i in "${!Q_NAME[@]}"; do [ "${Q_NAME[$i]}" = "$1" ] && { echo "$i"; return; }; done; }
can_start() {
    local kind=${Q_KIND[$1]} k
    for k in $(running_kinds); do
        [ "$k" = install ] && [ "$kind" != cpu ] && return 1
        [ "$kind" = install ] && [ "$k" != cpu ] && return 1
    done
    return 0
}

finish() { # finish NAME RC
    local name=$1 rc=$2
    ended[$name]=$(date +%s)
    unset "pid_of[$name]"
    if [ "$rc" = 0 ]; then
        result[$name]=passed
        say "suite: $name passed ($(( ended[$name] - started[$name] )) s)"
    else
        result[$name]=failed
        say "suite: $name FAILED ($(( ended[$name] - started[$name] )) s, exit $rc)"
        if [ -z "$FOREGROUND" ]; then
            echo "---- the last 200 lines of $LOGS/$name.log ----"
            tail -n 200 "$LOGS/$name.log"
            echo "---- end of $name's log ----"
        fi
    fi
}

installed=""
pending=()
for ((i = 0; i < n; i++)); do pending+=("$i"); done
while [ ${#pending[@]} -gt 0 ] || [ ${#pid_of[@]} -gt 0 ]; do
    # Start what may start, in queue order, up to JOBS at a time.
    next=()
    for i in "${pending[@]}"; do
        if [ ${#pid_of[@]} -lt "$JOBS" ] && can_start "$i"; then
            if [ "${Q_KIND[$i]}" = server ] && [ -z "$installed" ]; then
                # The one debug build of pgext for every suite that needs it. Installing is
                # exclusive: it waits for nothing else (no server suite has started yet).
                t0=$(date +%s)
                say "installing the debug build of pgext once for every suite"
                if ! install_pgext >"$LOGS/install.log" 2>&1; then
                    cat "$LOGS/install.log"
                    die "installing pgext failed (log: $LOGS/install.log)"
                fi
                export PGEXT_INSTALLED=1
                installed=1
                extra_rows+=("(install pgext, debug)	-	$(( $(date +%s) - t0 ))")
            fi
            launch "$i"
        else
            next+=("$i")
        fi
    done
    pending=("${next[@]}")
    [ ${#pid_of[@]} -gt 0 ] || continue
    # Wait for one suite to end.
    set +e
    wait -n -p done_pid "${pid_of[@]}"
    rc=$?
    set -e
    for s in "${!pid_of[@]}"; do
        if [ "${pid_of[$s]}" = "${done_pid:-}" ]; then finish "$s" "$rc"; fi
    done
done

if [ -n "$prefetch_pid" ]; then
    if wait "$prefetch_pid"; then pf=passed; else pf=failed; echo "warning: warming the caches failed (log: $LOGS/prefetch.log); the suites downloaded for themselves"; fi
    extra_rows+=("(prefetch: downloads)	$pf	$(sed -n 's/^prefetch: rc=[0-9]* in \([0-9]*\) s$/\1/p' "$LOGS/prefetch.log" || echo "?")")
fi

# ---------------------------------------------------------------------------------------------
# The times, and the line CI reads.
passed=0
failed=0
failures=()
echo
printf '%-28s %-8s %8s\n' suite result "wall s"
printf '%-28s %-8s %8s\n' "(setup.sh)" - "$t_setup"
for row in "${extra_rows[@]}"; do IFS=$'\t' read -r a b c <<<"$row"; printf '%-28s %-8s %8s\n' "$a" "$b" "$c"; done
for name in "${Q_NAME[@]}"; do
    printf '%-28s %-8s %8s\n' "$name" "${result[$name]}" "$(( ended[$name] - started[$name] ))"
    if [ "${result[$name]}" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
done
total=$(( $(date +%s) - t_run ))
printf '%-28s %-8s %8s\n' "(whole run, $JOBS at a time)" - "$total"
{
    printf '# %s %s jobs=%s cpu=%s\n' "$(date -u +%FT%TZ)" "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo ?)" "$JOBS" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    for name in "${Q_NAME[@]}"; do printf '%s\t%s\t%s\n' "$name" "${result[$name]}" "$(( ended[$name] - started[$name] ))"; done
    printf 'total\t-\t%s\n' "$total"
} >"$LOGS/times.tsv"
echo "logs and times: $LOGS"
[ $failed -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
