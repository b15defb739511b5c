#!/usr/bin/env bash
# The wide oracle: pgext's verdicts against what PostgreSQL 18 really does, on every PostgreSQL 18
# extension package Debian ships, mounted as one image each on one server. See README.md here.
#
#   tests/oracle/run.sh [OUTDIR]        (default: $TMPDIR/pgext-oracle)
#
# For every visible extension, in a new connection each: BEGIN; CREATE EXTENSION "x" CASCADE;
# ROLLBACK; against pgext.mounted_extensions.compatible of its visible row. For every library on
# dynamic_library_path, in a new connection each: LOAD against pgext.library_compat.loadable (the
# libraries no control file names are the ones no CREATE exercises; they are counted apart).
# Two passes: nothing preloaded, then every preload-only library that can load here in
# shared_preload_libraries. Exits non-zero on any miss.
#
# Environment: PGEXT_ORACLE_NO_INSTALL=1 (use the pgext already installed in PG_CONFIG's server),
# PGEXT_ORACLE_REPORT_ONLY=1 (report, exit 0), PGEXT_ORACLE_PORT (default 55440),
# PGEXT_ORACLE_TIMEOUT (seconds per statement, default 60), PGEXT_ORACLE_PASSES (default
# "plain preload"), PGEXT_ORACLE_ONLY (an extended regex: only the extensions and library names
# that match, for iterating), PGEXT_ORACLE_MISSES (also write the miss list to this file), and
# those of build-corpus.sh (PGEXT_CACHE, PGEXT_ORACLE_REFRESH, …).
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
command -v python3 >/dev/null || die "python3 is missing (the report is written by tests/oracle/report.py): apt-get install python3"

OUT=${1:-${TMPDIR:-/tmp}/pgext-oracle}
PORT=${PGEXT_ORACLE_PORT:-55440}
TIMEOUT=${PGEXT_ORACLE_TIMEOUT:-60}
read -ra PASSES <<<"${PGEXT_ORACLE_PASSES:-plain preload}"
ONLY=${PGEXT_ORACLE_ONLY:-}
mkdir -p "$OUT"
chmod 0755 "$OUT"
OUT=$(cd "$OUT" && pwd)
RUN=$OUT/run
DATA=$RUN/data
t_start=$(date +%s)

cleanup() {
    cluster_stop "$DATA" immediate
    ro_unmount_images "$OUT"
}
ro_unmount_images "$OUT" # left by a killed run
trap cleanup EXIT

say "corpus in $OUT"
bash "$REPO/tests/oracle/build-corpus.sh" "$OUT"
if [ -z "${PGEXT_ORACLE_NO_INSTALL:-}" ]; then install_pgext; fi
engine="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
if [ -n "${PGEXT_ORACLE_NO_INSTALL:-}" ]; then engine="the pgext installed in $("$PG_CONFIG" --pkglibdir) (repository at $engine)"; fi

cluster_stop "$DATA" immediate 2>/dev/null # a server a killed run left behind
rm -rf "$RUN"
owner_dir "$RUN"
mkdir -p "$RUN/results"
RO=$(ro_mount_images "$OUT")
say "images mounted read-only: $RO"

# The settings CloudNativePG composes: $system / $libdir first, then every image.
ecp='$system'
dlp='$libdir'
for d in "$OUT"/extensions/*/; do
    ecp+=":${d%/}/share"
    dlp+=":${d%/}/lib"
done
cat >"$RUN/base.conf" <<EOF
extension_control_path = '$ecp'
dynamic_library_path = '$dlp'
pgext.extensions_root = '$OUT/extensions'
# Preloaded libraries may register background workers; give them room.
max_worker_processes = 64
restart_after_crash = on
EOF

# fresh_data: an empty cluster in $DATA, copied from one initdb made once per run.
fresh_data() {
    cluster_stop "$DATA" immediate 2>/dev/null # after a failed start, only a stale pid file is left
    rm -rf "$DATA"
    if [ ! -f "$RUN/template/PG_VERSION" ]; then
        owner_dir "$RUN/template"
        as_owner "$PG_BINDIR/initdb" -D "$RUN/template" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$RUN/initdb.log" 2>&1 ||
            { cat "$RUN/initdb.log"; die "initdb failed"; }
    fi
    cp -a "$RUN/template" "$DATA"
}

# start_pass NAME PRELOAD: a fresh cluster in $DATA with shared_preload_libraries = PRELOAD.
start_pass() {
    fresh_data
    cp "$RUN/base.conf" "$RUN/$1.conf"
    echo "shared_preload_libraries = '$2'" >>"$RUN/$1.conf"
    cluster_start "$DATA" "$PORT" "$RUN/$1.conf"
}

# q DB SQL: one query, unaligned and tab-separated.
q() { cluster_psql "$DATA" "$PORT" -d "$1" -qAt -F $'\t' -c "$2"; }

# wait_server: after a backend died, wait for the crash restart (or restart a dead postmaster).
wait_server() {
    local i
    for i in $(seq 1 120); do
        "$PG_BINDIR/pg_isready" -q -h "$DATA" -p "$PORT" && return 0
        if [ "$i" = 20 ] && ! as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
            echo "    the postmaster is gone; restarting it" >&2
            as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null || true
        fi
        sleep 0.5
    done
    die "the server did not come back (log: $DATA/server.log)"
}

# ms_since T: milliseconds since $EPOCHREALTIME was T (no forks: this runs hundreds of times).
ms_since() {
    local now=${EPOCHREALTIME/[.,]/} then=${1/[.,]/}
    echo $(((now - then) / 1000))
}

# try DB SQL: runs BEGIN; SQL; ROLLBACK in a new connection (psql_try, scripts/lib.sh). Sets
# OUTCOME (ok, error, fatal, crash, timeout), MESSAGE (SQLSTATE: primary message, or what the
# server log says) and MS.
try() {
    local t0=$EPOCHREALTIME log_size
    log_size=$(stat -c %s "$DATA/server.log")
    psql_try "$DATA" "$PORT" "$1" "$TIMEOUT" 30 "$2"
    case $OUTCOME in
        fatal | crash)
            # The connection is gone: a FATAL, or the backend died and took the server with it.
            wait_server
            if [ "$OUTCOME" = crash ]; then
                # What the postmaster logged about the backend since the statement began, e.g.
                # "terminated by signal 11".
                MESSAGE=$(tail -c +$((log_size + 1)) "$DATA/server.log" | grep -m1 -E 'terminated by signal|exited with exit code' |
                    sed -E 's/^.*LOG: +//' | tr '\t' ' ' || true)
                [ -n "$MESSAGE" ] || MESSAGE=${PSQL_OUT%%$'\n'*}
            fi ;;
    esac
    MS=$(ms_since "$t0")
    return 0
}

# loader_error MESSAGE: the loader refused the file before any of its code ran (dlopen, magic
# block, file access) — preloading cannot change that.
loader_error() { [[ $1 =~ could\ not\ load\ library|incompatible\ library|could\ not\ access\ file ]]; }

# run_pass NAME PRELOAD: every CREATE and every LOAD; results in $RUN/results/NAME.tsv.
run_pass() {
    local name=$1 preload=$2 res=$RUN/results/$1.tsv t0 ext verdict problems details lib base shadowed referenced loadable target n=0
    t0=$(date +%s)
    say "pass $name: shared_preload_libraries = '${preload}'"
    start_pass "$name" "$preload"
    q postgres 'CREATE DATABASE oracle' >/dev/null
    q postgres 'CREATE DATABASE oracle_try' >/dev/null
    q oracle 'CREATE EXTENSION pgext' >/dev/null
    # pgext's answers first, from one session of their own (its caches are per backend); nothing
    # is loaded in the trial database.
    local t1=$EPOCHREALTIME
    cluster_psql "$DATA" "$PORT" -d oracle -qAt -F $'\t' \
        -c "\\o $RUN/$name.verdicts" \
        -c "SELECT name, coalesce(compatible::text, 'null'), coalesce(nullif(array_to_string(problems, ','), ''), '-'),
                   regexp_replace(problem_details::text, '[\t\n]', ' ', 'g')
              FROM pgext.mounted_extensions WHERE visible ORDER BY name" \
        -c "\\o $RUN/$name.libraries" \
        -c "SELECT l.path, l.basename, l.shadowed_by IS NOT NULL, coalesce(nullif(array_to_string(l.referenced_by, ','), ''), '-'),
                   coalesce(c.loadable::text, 'null'), coalesce(nullif(array_to_string(c.problems, ','), ''), '-'),
                   coalesce(regexp_replace(c.problem_details::text, '[\t\n]', ' ', 'g'), '-')
              FROM pgext.libraries l LEFT JOIN pgext.library_compat c USING (path)
             WHERE l.source = 'library_path' ORDER BY l.position, l.basename"
    echo "    set-up $(($(date +%s) - t0))s, of which pgext's views $(ms_since "$t1")ms"
    q oracle_try "SELECT name FROM pg_available_extensions WHERE installed_version IS NULL ORDER BY name" >"$RUN/$name.available"
    q oracle_try "SELECT extname FROM pg_extension ORDER BY 1" >"$RUN/$name.installed"

    printf 'kind\tname\tpgext\tpostgres\tmessage\tproblems\tdetails\textra\tms\n' >"$res"
    # Every extension PostgreSQL lists, and every visible row pgext has that PostgreSQL does not.
    local -A seen=() verdict_of=()
    while IFS=$'\t' read -r ext verdict problems details; do
        verdict_of[$ext]="$verdict"$'\t'"$problems"$'\t'"$details"
    done <"$RUN/$name.verdicts"
    while IFS= read -r ext; do
        seen[$ext]=1
        [[ $ext =~ $ONLY ]] || continue
        IFS=$'\t' read -r verdict problems details <<<"${verdict_of[$ext]:-missing}"
        try oracle_try "CREATE EXTENSION \"${ext//\"/\"\"}\" CASCADE"
        printf 'create\t%s\t%s\t%s\t%s\t%s\t%s\t\t%s\n' "$ext" "$verdict" "$OUTCOME" "$MESSAGE" "$problems" "$details" "$MS" >>"$res"
        n=$((n + 1))
    done <"$RUN/$name.available"
    while IFS=$'\t' read -r ext verdict problems details; do
        [ -z "${seen[$ext]:-}" ] || continue
        [[ $ext =~ $ONLY ]] || continue
        grep -qxF "$ext" "$RUN/$name.installed" && continue # installed here: not offered
        printf 'create\t%s\t%s\tnot_listed\t%s\t%s\t%s\t\t0\n' "$ext" "$verdict" "pg_available_extensions does not list it" "$problems" "$details" >>"$res"
    done <"$RUN/$name.verdicts"
    # Every library on the path: by name as users write it, by path when an earlier one shadows it.
    while IFS=$'\t' read -r lib base shadowed referenced loadable problems details; do
        if [ "$referenced" = - ]; then referenced=unreferenced; else referenced=referenced; fi
        [[ ${base%.so} =~ $ONLY ]] || continue
        target=${base%.so}
        [ "$shadowed" = f ] || target=$lib
        try oracle_try "LOAD '${target//\'/\'\'}'"
        printf 'load\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$lib" "$loadable" "$OUTCOME" "$MESSAGE" "$problems" "$details" \
            "$referenced" "$MS" >>"$res"
        n=$((n + 1))
    done <"$RUN/$name.libraries"
    echo "    $n statements in $(($(date +%s) - t0))s"
}

# preload_set: the libraries that might behave differently when preloaded, judged from the plain
# pass: those whose LOAD failed from their own code (an ERROR or FATAL from _PG_init, a crash) and
# those named by an extension whose CREATE failed other than in the loader (a script may insist on
# a preloaded library). A library the loader itself refused (dlopen, magic block, access) is left
# out: preloading cannot change that. Then by trying: all at once; if the server does not start,
# each alone, and those that start alone combined one by one.
preload_set() {
    local candidates=() ok=() lib combo all kind name outcome message path base shadowed refs e
    local -A load_outcome=() load_message=() create_failed=() picked=()
    while IFS=$'\t' read -r kind name _ outcome message _; do
        if [ "$kind" = load ]; then
            load_outcome[$name]=$outcome
            load_message[$name]=$message
        elif [ "$outcome" != ok ] && [ "$outcome" != not_listed ] && ! loader_error "$message"; then
            create_failed[$name]=1
        fi
    done < <(tail -n +2 "$RUN/results/plain.tsv")
    while IFS=$'\t' read -r path base shadowed refs _; do
        [ "$shadowed" = f ] && [ -n "${load_outcome[$path]:-}" ] || continue
        if [ "${load_outcome[$path]}" != ok ]; then
            loader_error "${load_message[$path]}" && continue
        else
            local wanted=""
            IFS=, read -ra names <<<"$refs"
            for e in "${names[@]}"; do [ -z "${create_failed[$e]:-}" ] || wanted=1; done
            [ -n "$wanted" ] || continue
        fi
        lib=${base%.so}
        [ -z "${picked[$lib]:-}" ] || continue
        picked[$lib]=1
        candidates+=("$lib")
    done <"$RUN/plain.libraries"
    [ ${#candidates[@]} -gt 0 ] || return 0
    all=$(IFS=,; echo "${candidates[*]}")
    if preload_starts "$all"; then echo "$all"; return 0; fi # the common case: one start
    for lib in "${candidates[@]}"; do
        if preload_starts "$lib"; then ok+=("$lib"); else echo "    $lib: the server does not start with it preloaded (excluded)" >&2; fi
    done
    all=$(IFS=,; echo "${ok[*]}")
    if [ ${#ok[@]} -gt 0 ] && preload_starts "$all"; then echo "$all"; return 0; fi
    combo=()
    for lib in "${ok[@]}"; do
        if preload_starts "$(IFS=,; echo "${combo[*]}${combo[*]:+,}$lib")"; then combo+=("$lib"); else
            echo "    $lib: starts alone but not with ${combo[*]} (excluded)" >&2; fi
    done
    (IFS=,; echo "${combo[*]}")
}

# preload_starts LIST: a server with shared_preload_libraries = LIST starts and answers a query.
preload_starts() {
    local rc=0
    fresh_data
    cp "$RUN/base.conf" "$RUN/probe.conf"
    echo "shared_preload_libraries = '$1'" >>"$RUN/probe.conf"
    (cluster_start "$DATA" "$PORT" "$RUN/probe.conf") >/dev/null 2>&1 || rc=1
    [ $rc = 0 ] && { sleep 1; q postgres 'SELECT 1' >/dev/null 2>&1 || rc=1; }
    cluster_stop "$DATA" immediate 2>/dev/null
    return $rc
}

# cli_agrees PASS: pgext-check, given this server's installation and the same images, answers as
# mounted_extensions did in PASS (one with nothing preloaded): the pre-flight engine is the same.
cli_agrees() {
    local images=() d
    for d in "$OUT"/extensions/*/; do images+=(--image "${d%/}"); done
    say "pgext-check against $(dirname "$PG_BINDIR") with the same images"
    local check=${PGEXT_CHECK:-}
    if [ -z "$check" ]; then
        (cd "$REPO" && cargo build --quiet -p pgext-check) || return 1
        check=${CARGO_TARGET_DIR:-$REPO/target}/debug/pgext-check
    fi
    "$check" --server "$(dirname "$PG_BINDIR")" --include-system --json "${images[@]}" \
        >"$RUN/$1.cli.json" || [ $? = 1 ] || { cli_failed=1; return 0; }
    python3 "$REPO/tests/oracle/cli_agrees.py" "$RUN/$1.verdicts" "$RUN/$1.cli.json" || cli_failed=1
}

# update_paths_agree: for every version of every visible extension, the update path to the default
# version pgext.extension_update_paths() finds equals pg_extension_update_paths()'s (PostgreSQL's
# own search over the same files), and the chains whose scripts do not parse are listed.
update_paths_agree() {
    say "update paths to each default version: pgext.extension_update_paths() against pg_extension_update_paths()"
    cluster_psql "$DATA" "$PORT" -d oracle -qAt -F $'\t' -c "\\o $RUN/update_paths.tsv" -c "
        CREATE TEMP TABLE pg_paths (name name, source text, target text, path text);
        CREATE TEMP TABLE pg_failed (name name, message text);
        DO \$\$
        DECLARE e record;
        BEGIN
            FOR e IN SELECT name, default_version FROM pg_available_extensions WHERE default_version IS NOT NULL LOOP
                BEGIN
                    INSERT INTO pg_paths SELECT e.name, p.source, p.target, p.path
                      FROM pg_extension_update_paths(e.name) p
                     WHERE p.target = e.default_version AND p.source <> p.target;
                EXCEPTION WHEN others THEN
                    INSERT INTO pg_failed VALUES (e.name, SQLERRM);
                END;
            END LOOP;
        END \$\$;
        SELECT 'compared', count(*) FROM pg_paths;
        SELECT 'pg_failed', name, message FROM pg_failed WHERE name IN (SELECT name FROM pgext.extension_update_paths());
        SELECT 'differ', coalesce(g.name, p.name), coalesce(g.source, p.source),
               coalesce(g.path, '(none)'), coalesce(p.source || '--' || array_to_string(p.update_path, '--'), '(none)')
          FROM pg_paths g
          FULL JOIN pgext.extension_update_paths() p ON p.name = g.name AND p.source = g.source AND p.target = g.target
         WHERE g.name IS NULL OR p.name IS NULL
            OR g.path IS DISTINCT FROM p.source || '--' || array_to_string(p.update_path, '--');
        SELECT 'syntax', name, source, target, regexp_replace(problem_details::text, '[\t\n]', ' ', 'g')
          FROM pgext.extension_update_paths() WHERE 'script_syntax_error' = ANY (problems) ORDER BY 2, 3;" || { paths_failed=1; return 0; }
    local compared differ syntax
    compared=$(awk -F'\t' '$1 == "compared" {print $2}' "$RUN/update_paths.tsv")
    differ=$(grep -c '^differ' "$RUN/update_paths.tsv" || true)
    syntax=$(grep '^syntax' "$RUN/update_paths.tsv" | cut -f2 | sort -u | tr '\n' ' ')
    echo "    $compared (version, default) pairs compared, $differ differ; chains with a script that does not parse: ${syntax:-none}"
    { grep -E '^(differ|pg_failed)' "$RUN/update_paths.tsv" || true; } | head -n 20 | sed 's/^/    /'
    if [ "${compared:-0}" -lt 1 ] || [ "$differ" != 0 ] || grep -q '^pg_failed' "$RUN/update_paths.tsv"; then paths_failed=1; fi
}

# grammar_agrees: PostgreSQL's grammar (raw_parser) and pgext's script scanner find the same
# library references in every script of the corpus: src/script_check.rs, run by cargo pgrx test
# with every image on extension_control_path. After the server stops: cargo pgrx test installs
# its own build of pgext.
grammar_agrees() {
    local more="" d pgdata=$RUN/pgrx-script-check runas=()
    for d in "$OUT"/extensions/*/; do more+="${more:+:}${d%/}/share"; done
    rm -rf "$pgdata"
    if [ "$(id -u)" = 0 ]; then owner_dir "$pgdata"; runas=(--runas "$PGEXT_USER"); fi
    say "PostgreSQL's grammar against the script scanner, over every script of the corpus"
    pg_install_exclusive_begin
    if ! (cd "$REPO" && PGEXT_SCRIPT_CHECK_PATH=$more cargo pgrx test pg18 "${runas[@]}" --pgdata "$pgdata" \
        scanner_finds_what_the_parser_finds) >"$RUN/script_check.log" 2>&1; then
        tail -n 60 "$RUN/script_check.log"
        grammar_failed=1
    fi
    pg_install_exclusive_end || grammar_failed=1
    # The test writes its figures there; without them, or with fewer directories than $system and
    # every image holding control files, it did not look at the whole corpus.
    local want=1 seen
    for d in "$OUT"/extensions/*/share/extension; do compgen -G "$d/*.control" >/dev/null && want=$((want + 1)); done
    if [ -f "$pgdata/script_check.txt" ]; then
        sed 's/^/    /' "$pgdata/script_check.txt" | head -n 40
        seen=$(sed -n '1s/.* from \([0-9]*\) directories.*/\1/p' "$pgdata/script_check.txt")
        if [ "${seen:-0}" != "$want" ]; then
            echo "script_check read control files in ${seen:-no} directories, not $want (\$system and every image)"
            grammar_failed=1
        fi
    else
        echo "no script_check.txt in $pgdata (log: $RUN/script_check.log)"
        grammar_failed=1
    fi
}

cli_failed=0
paths_failed=0
preloads=""
grammar_failed=0
for pass in "${PASSES[@]}"; do
    case $pass in
        plain)
            run_pass plain ""
            cli_agrees plain
            update_paths_agree ;;
        preload)
            [ -f "$RUN/results/plain.tsv" ] || die "the preload pass needs the plain pass first"
            say "finding the preload-only libraries that can load here"
            preloads=$(preload_set)
            echo "    preloading: ${preloads:-nothing}"
            run_pass preload "$preloads" ;;
        *) die "unknown pass '$pass' (plain, preload)" ;;
    esac
done
cluster_stop "$DATA" fast
grammar_agrees

args=()
for pass in "${PASSES[@]}"; do args+=("$pass=$RUN/results/$pass.tsv"); done
set +e
[ -z "$ONLY" ] || args+=(--partial)
python3 "$REPO/tests/oracle/report.py" --corpus "$OUT/corpus.tsv" --preload "$preloads" \
    --misses "$OUT/misses.txt" --seconds "$(($(date +%s) - t_start))" "${args[@]}"
rc=$?
set -e
if [ $cli_failed = 1 ]; then echo "pgext-check disagrees with mounted_extensions (above)"; rc=1; fi
if [ $paths_failed = 1 ]; then echo "pgext.extension_update_paths() disagrees with pg_extension_update_paths() (above)"; rc=1; fi
if [ $grammar_failed = 1 ]; then echo "the script scanner and PostgreSQL's grammar disagree, or the check did not run (above)"; rc=1; fi
[ -z "${PGEXT_ORACLE_MISSES:-}" ] || cp "$OUT/misses.txt" "$PGEXT_ORACLE_MISSES"
echo "pgext: $engine"
echo "results: $RUN/results/*.tsv, misses: $OUT/misses.txt, server log: $DATA/server.log"
if [ $rc -ne 0 ] && [ -n "${PGEXT_ORACLE_REPORT_ONLY:-}" ]; then
    echo "PGEXT_ORACLE_REPORT_ONLY is set: not failing"
    exit 0
fi
exit $rc
