# An arm64 PostgreSQL 18 on this amd64 machine, emulated: the helpers the arm64 suites share
# (tests/oracle-arm64/run.sh, tests/arm64/run.sh). Source it after scripts/lib.sh and load_setup;
# it defines functions and sets nothing else. See docs/src/operations/arm64.md.
#
#   emu_binfmt                     qemu-aarch64 registered with binfmt_misc (F flag), mounting it if needed
#   emu_cached_root                the cached arm64 root (build-root.sh): sets EMU_CACHED_ROOT
#   emu_root OUT                   this run's root OUT/root, an overlay on the cached one (or hard
#                                  links), with /etc/passwd naming the cluster owner, an empty
#                                  /extensions, /data and /run: sets EMU_ROOT, EMU_UID, EMU_GID
#   emu_initdb                     /data from the cached emulated initdb (made once per cached root)
#   emu_start PRELOAD              the postmaster with shared_preload_libraries = PRELOAD; 1 when it
#                                  does not come up (its log: OUT/server.log)
#   emu_stop / emu_wait            stop it / wait until it accepts connections again (after a crash)
#   emu_in_root CMD...             an arm64 command in the root as the cluster owner
#   emu_psql ARGS...               the host's psql against the emulated server
#   emu_try SQL                    BEGIN; SQL; ROLLBACK in a new connection: sets OUTCOME (ok, error,
#                                  fatal, crash, timeout) and MESSAGE
#   emu_cleanup                    stops the server and unmounts the root (call it from an EXIT trap)
#
# Settings: EMU_PORT (default 55450), EMU_TIMEOUT (seconds per statement, default 120), MAJOR (18).
# The server listens only on a Unix socket in the root's /run.

# shellcheck source=../../scripts/debian.sh
source "$REPO/scripts/debian.sh" # pgext_cache_root
EMU_MAJOR=${MAJOR:-18}
EMU_PORT=${EMU_PORT:-55450}
EMU_TIMEOUT=${EMU_TIMEOUT:-120}
EMU_PID=""
EMU_ROOT=""
EMU_OUT=""

emu_binfmt() {
    [ "$(id -u)" = 0 ] || die "the emulated arm64 server runs as root (chroot, binfmt_misc); the server itself runs as $PGEXT_USER"
    [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || command -v qemu-aarch64-static >/dev/null ||
        die "qemu-user-static is missing: run scripts/setup.sh"
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
}

emu_cached_root() {
    EMU_CACHED_ROOT=$(pgext_cache_root)/oracle-arm64/root
    bash "$REPO/tests/oracle-arm64/build-root.sh" "$EMU_CACHED_ROOT"
}

emu_unmount() {
    [ -n "$EMU_ROOT" ] || return 0
    if mountpoint -q "$EMU_ROOT" 2>/dev/null; then umount "$EMU_ROOT" || umount -l "$EMU_ROOT"; fi
}

emu_root() {
    EMU_OUT=$1
    EMU_ROOT=$EMU_OUT/root
    emu_unmount
    rm -rf "$EMU_ROOT" "$EMU_OUT/upper" "$EMU_OUT/work"
    mkdir -p "$EMU_ROOT" "$EMU_OUT/upper" "$EMU_OUT/work"
    # Nothing in the cached root is written in place: an overlay, or hard links where overlayfs
    # is not available (every file written below is replaced, not modified).
    if ! mount -t overlay overlay -o "lowerdir=$EMU_CACHED_ROOT,upperdir=$EMU_OUT/upper,workdir=$EMU_OUT/work" "$EMU_ROOT" 2>/dev/null; then
        rmdir "$EMU_ROOT"
        cp -al "$EMU_CACHED_ROOT" "$EMU_ROOT"
    fi
    EMU_UID=$(id -u "$PGEXT_USER")
    EMU_GID=$(id -g "$PGEXT_USER")
    rm -f "$EMU_ROOT/etc/passwd" "$EMU_ROOT/etc/group"
    printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s::/tmp:/bin/sh\n' "$PGEXT_USER" "$EMU_UID" "$EMU_GID" >"$EMU_ROOT/etc/passwd"
    printf 'root:x:0:\n%s:x:%s:\n' "$PGEXT_USER" "$EMU_GID" >"$EMU_ROOT/etc/group"
    rm -rf "$EMU_ROOT/extensions" && mkdir -p "$EMU_ROOT/extensions"
    mkdir -p "$EMU_ROOT/data" "$EMU_ROOT/run"
    chown "$EMU_UID:$EMU_GID" "$EMU_ROOT/data" "$EMU_ROOT/run"
}

emu_in_root() {
    chroot --userspec="$EMU_UID:$EMU_GID" "$EMU_ROOT" env -i PATH=/usr/lib/postgresql/$EMU_MAJOR/bin:/usr/bin:/bin LANG=C "$@"
}

# initdb under emulation takes minutes: its result is kept beside the cached root, for that root.
emu_initdb() {
    local template=$EMU_CACHED_ROOT.pgdata t0
    t0=$(date +%s)
    exec 7>"$EMU_CACHED_ROOT.pgdata.lock"
    flock 7
    if [ "$(cat "$template/.root-key" 2>/dev/null)" = "$(cat "$EMU_CACHED_ROOT/.root-key")" ]; then
        rm -rf "$EMU_ROOT/data"
        cp -a "$template/data" "$EMU_ROOT/data"
        echo "    cluster copied from the cached initdb"
    else
        emu_in_root initdb -D /data -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$EMU_OUT/initdb.log" 2>&1 ||
            { exec 7>&-; tail -n 30 "$EMU_OUT/initdb.log"; die "initdb (arm64, emulated) failed"; }
        echo "    initdb (emulated) in $(($(date +%s) - t0))s"
        rm -rf "$template" && mkdir -p "$template"
        cp -a "$EMU_ROOT/data" "$template/data"
        cp "$EMU_CACHED_ROOT/.root-key" "$template/.root-key"
    fi
    exec 7>&-
    cat >>"$EMU_ROOT/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '/run'
port = $EMU_PORT
fsync = off
include_if_exists = 'preload.conf'
EOF
}

emu_stop() {
    [ -n "$EMU_PID" ] || return 0
    kill -INT "$EMU_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 120); do kill -0 "$EMU_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$EMU_PID" 2>/dev/null || true
    wait "$EMU_PID" 2>/dev/null || true
    EMU_PID=""
}

emu_ready() { "$PG_BINDIR/pg_isready" -q -U postgres -h "$EMU_ROOT/run" -p "$EMU_PORT"; }

emu_start() {
    emu_stop
    echo "shared_preload_libraries = '$1'" >"$EMU_ROOT/data/preload.conf"
    chown "$EMU_UID:$EMU_GID" "$EMU_ROOT/data/preload.conf"
    rm -f "$EMU_ROOT/data/postmaster.pid"
    # Not through emu_in_root: $! must be the postmaster (chroot and env exec it in the same process).
    chroot --userspec="$EMU_UID:$EMU_GID" "$EMU_ROOT" env -i PATH=/usr/lib/postgresql/$EMU_MAJOR/bin:/usr/bin:/bin LANG=C \
        postgres -D /data >>"$EMU_OUT/server.log" 2>&1 &
    EMU_PID=$!
    local i
    for i in $(seq 1 240); do
        emu_ready && return 0
        kill -0 "$EMU_PID" 2>/dev/null || { EMU_PID=""; return 1; }
        sleep 0.5
    done
    return 1
}

emu_wait() {
    local i
    for i in $(seq 1 240); do
        emu_ready && return 0
        sleep 0.5
    done
    die "the emulated server did not come back (log: $EMU_OUT/server.log)"
}

emu_psql() { "$PG_BINDIR/psql" -X -h "$EMU_ROOT/run" -p "$EMU_PORT" -U postgres "$@"; }

emu_try() {
    psql_try "$EMU_ROOT/run" "$EMU_PORT" "${EMU_DB:-postgres}" "$EMU_TIMEOUT" 60 "$1"
    case $OUTCOME in
        fatal) emu_wait ;;
        crash) MESSAGE=${PSQL_OUT%%$'\n'*}; emu_wait ;;
    esac
}

emu_cleanup() {
    emu_stop
    emu_unmount
}
