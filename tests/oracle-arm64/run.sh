#!/usr/bin/env bash
# The arm64 oracle: pgext-check's verdicts on arm64 extension images against a real arm64
# PostgreSQL 18, run on this amd64 machine under emulation (qemu-user through binfmt_misc). See
# docs/src/operations/arm64.md.
#
#   tests/oracle-arm64/run.sh [OUTDIR]      (default: $TMPDIR/pgext-oracle-arm64)
#
# - The server: Debian unstable's arm64 postgresql-18 and its dependency closure, unpacked into a
#   root file system (build-root.sh), run in a chroot as the unprivileged cluster owner.
# - The images: Debian's arm64 postgresql-18-* packages, one image each (tests/oracle/
#   build-corpus.sh with PGEXT_ORACLE_ARCH=arm64), mounted at /extensions/<image> in the root and
#   composed as CloudNativePG does ($system / $libdir first).
# - pgext-check --server ROOT judges every extension of the images (`compatible`) and every library
#   they name (`loadable`), with nothing preloaded and then with the preload-only libraries
#   preloaded (--preload). The emulated server answers the same questions: BEGIN; CREATE
#   EXTENSION "x" CASCADE; ROLLBACK and LOAD, each in a new connection.
# - Exits non-zero on any false-compatible, false-incompatible or undecided answer, or when an
#   image's extension was never tried.
#
# Environment: PGEXT_ORACLE_ARM64_IMAGES (space-separated images to use; default: every image),
# PGEXT_ORACLE_PORT (default 55450), PGEXT_ORACLE_TIMEOUT (seconds per statement, default 120),
# PGEXT_ORACLE_REPORT_ONLY=1 (report, exit 0), and those of build-corpus.sh / build-root.sh
# (PGEXT_CACHE, PGEXT_ORACLE_REFRESH, PGEXT_ORACLE_SUITE).
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
[ "$(id -u)" = 0 ] || die "the arm64 oracle runs as root (chroot, binfmt_misc); the server itself runs as $PGEXT_USER"
command -v python3 >/dev/null || die "python3 is missing: apt-get install python3"
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || command -v qemu-aarch64-static >/dev/null ||
    die "qemu-user-static is missing: run scripts/setup.sh"
source "$REPO/tests/oracle/debian.sh"

OUT=${1:-${TMPDIR:-/tmp}/pgext-oracle-arm64}
PORT=${PGEXT_ORACLE_PORT:-55450}
TIMEOUT=${PGEXT_ORACLE_TIMEOUT:-120}
MAJOR=18
mkdir -p "$OUT"
chmod 0755 "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root
t_start=$(date +%s)
server_pid=""

# binfmt_misc: arm64 executables run through qemu; F (fix binary) keeps it usable in a chroot.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    if command -v update-binfmts >/dev/null && [ -f /usr/share/binfmts/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64 >/dev/null || true
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
            >/proc/sys/fs/binfmt_misc/register || die "cannot register qemu-aarch64 with binfmt_misc"
    fi
fi
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 is registered without the F flag (it would not run in a chroot)"

stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -INT "$server_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 120); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server; unmount_root' EXIT
unmount_root() { :; }

say "arm64 corpus and root"
PGEXT_ORACLE_ARCH=arm64 PGEXT_ORACLE_MIN_EXTENSIONS=${PGEXT_ORACLE_MIN_EXTENSIONS:-80} \
    bash "$REPO/tests/oracle/build-corpus.sh" "$OUT/corpus"
CACHED_ROOT=$(pgext_cache_root)/oracle-arm64/root
bash "$REPO/tests/oracle-arm64/build-root.sh" "$CACHED_ROOT"
# The per-architecture parts of the ELF engine on these real arm64 files (core/src/elf/tests.rs):
# the root's ld.so.cache flags, magic blocks decoded from arm64 code, known preload verdicts.
say "ELF engine on the real arm64 files"
(cd "$REPO" && PGEXT_ARM64_ROOT=$CACHED_ROOT PGEXT_ARM64_CORPUS=$OUT/corpus/extensions \
    cargo test --quiet -p pgext-core --lib arm64_debian_files -- --ignored) || die "the ELF engine misjudges real arm64 files (above)"

# This run's root: an overlay on the cached one (or hard links to it where overlayfs is not
# available; nothing in it is written in place), its own /etc/passwd naming the cluster owner,
# the images under /extensions, a data directory.
t0=$(date +%s)
unmount_root() { if mountpoint -q "$ROOT" 2>/dev/null; then umount "$ROOT" || umount -l "$ROOT"; fi; }
unmount_root
rm -rf "$ROOT" "$OUT/upper" "$OUT/work"
mkdir -p "$ROOT" "$OUT/upper" "$OUT/work"
if ! mount -t overlay overlay -o "lowerdir=$CACHED_ROOT,upperdir=$OUT/upper,workdir=$OUT/work" "$ROOT" 2>/dev/null; then
    rmdir "$ROOT"
    cp -al "$CACHED_ROOT" "$ROOT"
fi
uid=$(id -u "$PGEXT_USER")
gid=$(id -g "$PGEXT_USER")
rm -f "$ROOT/etc/passwd" "$ROOT/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s::/tmp:/bin/sh\n' "$PGEXT_USER" "$uid" "$gid" >"$ROOT/etc/passwd"
printf 'root:x:0:\n%s:x:%s:\n' "$PGEXT_USER" "$gid" >"$ROOT/etc/group"
rm -rf "$ROOT/extensions" && mkdir -p "$ROOT/extensions"
if [ -n "${PGEXT_ORACLE_ARM64_IMAGES:-}" ]; then read -ra images <<<"$PGEXT_ORACLE_ARM64_IMAGES"; else
    mapfile -t images < <(tail -n +2 "$OUT/corpus/corpus.tsv" | cut -f1)
fi
for i in "${images[@]}"; do
    [ -d "$OUT/corpus/extensions/$i" ] || die "no image $i in the arm64 corpus (see $OUT/corpus/corpus.tsv)"
    cp -a "$OUT/corpus/extensions/$i" "$ROOT/extensions/$i"
done
chmod -R a+rX "$ROOT/extensions"
mkdir -p "$ROOT/data" "$ROOT/run"
chown "$uid:$gid" "$ROOT/data" "$ROOT/run"
echo "    ${#images[@]} images, root ready in $(($(date +%s) - t0))s"

# in_root CMD...: runs an arm64 command in the root as the cluster owner.
in_root() { chroot --userspec="$uid:$gid" "$ROOT" env -i PATH=/usr/lib/postgresql/$MAJOR/bin:/usr/bin:/bin LANG=C "$@"; }

# initdb under emulation takes minutes: its result is kept beside the cached root, for that root.
t0=$(date +%s)
TEMPLATE=$CACHED_ROOT.pgdata
if [ "$(cat "$TEMPLATE/.root-key" 2>/dev/null)" = "$(cat "$CACHED_ROOT/.root-key")" ]; then
    rm -rf "$ROOT/data"
    cp -a "$TEMPLATE/data" "$ROOT/data"
    echo "    cluster copied from the cached initdb"
else
    in_root initdb -D /data -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$OUT/initdb.log" 2>&1 ||
        { tail -n 30 "$OUT/initdb.log"; die "initdb (arm64, emulated) failed"; }
    echo "    initdb (emulated) in $(($(date +%s) - t0))s"
    rm -rf "$TEMPLATE" && mkdir -p "$TEMPLATE"
    cp -a "$ROOT/data" "$TEMPLATE/data"
    cp "$CACHED_ROOT/.root-key" "$TEMPLATE/.root-key"
fi
ecp='$system'
dlp='$libdir'
for i in "${images[@]}"; do ecp+=":/extensions/$i/share"; dlp+=":/extensions/$i/lib"; done
cat >>"$ROOT/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '/run'
port = $PORT
fsync = off
extension_control_path = '$ecp'
dynamic_library_path = '$dlp'
max_worker_processes = 64
restart_after_crash = on
include_if_exists = 'preload.conf'
EOF

# start_server PRELOAD: the emulated postmaster with shared_preload_libraries = PRELOAD; 1 when
# it does not come up.
start_server() {
    stop_server
    echo "shared_preload_libraries = '$1'" >"$ROOT/data/preload.conf"
    chown "$uid:$gid" "$ROOT/data/preload.conf"
    rm -f "$ROOT/data/postmaster.pid"
    # Not through in_root: $! must be the postmaster (chroot and env exec it in the same process).
    chroot --userspec="$uid:$gid" "$ROOT" env -i PATH=/usr/lib/postgresql/$MAJOR/bin:/usr/bin:/bin LANG=C \
        postgres -D /data >>"$OUT/server.log" 2>&1 &
    server_pid=$!
    local i
    for i in $(seq 1 240); do
        "$PG_BINDIR/pg_isready" -q -U postgres -h "$ROOT/run" -p "$PORT" && return 0
        kill -0 "$server_pid" 2>/dev/null || { server_pid=""; return 1; }
        sleep 0.5
    done
    return 1
}

wait_server() {
    local i
    for i in $(seq 1 240); do
        "$PG_BINDIR/pg_isready" -q -U postgres -h "$ROOT/run" -p "$PORT" && return 0
        sleep 0.5
    done
    die "the emulated server did not come back (log: $OUT/server.log)"
}

# try SQL: BEGIN; SQL; ROLLBACK in a new connection; sets OUTCOME (ok, error, fatal, crash,
# timeout) and MESSAGE.
try() {
    local out rc line="" l
    set +e
    out=$(PGOPTIONS="-c statement_timeout=${TIMEOUT}s -c client_min_messages=warning" \
        timeout $((TIMEOUT + 60)) "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -v SHOW_CONTEXT=never \
        -h "$ROOT/run" -p "$PORT" -U postgres -d postgres -c 'BEGIN' -c "$1" -c 'ROLLBACK' 2>&1 >/dev/null)
    rc=$?
    set -e
    while IFS= read -r l; do
        if [[ $l =~ ^(ERROR|FATAL|PANIC):\ + ]]; then line=$l; break; fi
    done <<<"$out"
    MESSAGE=${line#*:}
    MESSAGE=${MESSAGE#"${MESSAGE%%[! ]*}"}
    MESSAGE=${MESSAGE//$'\t'/ }
    case $rc in
        0) OUTCOME=ok ;;
        1 | 3) OUTCOME=error; [[ $MESSAGE != 57014:* ]] || OUTCOME=timeout ;;
        124) OUTCOME=timeout; MESSAGE="no answer within $((TIMEOUT + 60))s" ;;
        *)
            if [[ $line == FATAL:* ]]; then OUTCOME=fatal; else OUTCOME=crash; MESSAGE=${out%%$'\n'*}; fi
            wait_server ;;
    esac
}

# judge PASS PRELOAD: pgext-check's answers, with PRELOAD as the server's preload list.
judge() {
    local args=() i
    for i in "${images[@]}"; do args+=(--image "$i=$ROOT/extensions/$i"); done
    "$CHECK" --server "$ROOT" --preload "$2" --json "${args[@]}" >"$OUT/$1.cli.json" || [ $? = 1 ] ||
        die "pgext-check failed (see above)"
}

# run_pass PASS PRELOAD: every extension and library pgext-check judged, tried for real.
run_pass() {
    local name=$1 t0 kind item n=0
    t0=$(date +%s)
    say "pass $name: shared_preload_libraries = '$2'"
    judge "$name" "$2"
    start_server "$2" || die "the emulated server did not start with '$2' preloaded (log: $OUT/server.log)"
    printf 'kind\tname\tpostgres\tmessage\n' >"$OUT/$name.tsv"
    while IFS=$'\t' read -r kind item; do
        if [ "$kind" = create ]; then
            try "CREATE EXTENSION \"${item//\"/\"\"}\" CASCADE"
        else
            try "LOAD '${item/#$ROOT/}'"
        fi
        printf '%s\t%s\t%s\t%s\n' "$kind" "$item" "$OUTCOME" "$MESSAGE" >>"$OUT/$name.tsv"
        n=$((n + 1))
    done < <(python3 "$REPO/tests/oracle-arm64/compare.py" --list "$OUT/$name.cli.json")
    echo "    $n statements in $(($(date +%s) - t0))s"
}

# The release pgext-check scripts/test.sh shares between suites, else a debug build of our own.
CHECK=${PGEXT_CHECK:-}
if [ -z "$CHECK" ] || [ ! -x "$CHECK" ]; then
    (cd "$REPO" && cargo build --quiet -p pgext-check)
    CHECK=${CARGO_TARGET_DIR:-$REPO/target}/debug/pgext-check
fi
run_pass plain ""
# The libraries whose LOAD failed from their own code (not the loader's refusal): preload-only.
preload=$(python3 "$REPO/tests/oracle-arm64/compare.py" --preload-set "$OUT/plain.tsv")
if [ -n "$preload" ] && ! start_server "$preload"; then
    kept=()
    IFS=, read -ra cands <<<"$preload"
    for l in "${cands[@]}"; do
        if start_server "$l"; then kept+=("$l"); else echo "    $l: the server does not start with it preloaded (excluded)"; fi
    done
    preload=$(IFS=,; echo "${kept[*]}")
fi
stop_server
run_pass preload "$preload"
stop_server

set +e
python3 "$REPO/tests/oracle-arm64/compare.py" --report --seconds "$(($(date +%s) - t_start))" --preload "preload=$preload" \
    "plain=$OUT/plain.cli.json=$OUT/plain.tsv" "preload=$OUT/preload.cli.json=$OUT/preload.tsv" | tee "$OUT/report.txt"
rc=${PIPESTATUS[0]}
set -e
echo "results: $OUT/{plain,preload}.tsv, pgext-check: $OUT/*.cli.json, server log: $OUT/server.log"
if [ "$rc" -ne 0 ] && [ -n "${PGEXT_ORACLE_REPORT_ONLY:-}" ]; then echo "PGEXT_ORACLE_REPORT_ONLY is set: not failing"; exit 0; fi
exit "$rc"
